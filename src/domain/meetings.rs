//! Meetings as they happen: planned (the place proposed by one party and agreed by the other),
//! held, cancelled (by whom), or not attended — or recorded after they happened — with the
//! person's goals they worked on and what was done; and peer support groups with their
//! facilitators.
//!
//! Owns: `meeting.recorded`, `meeting.planned`, `meeting.place_proposed`,
//! `meeting.place_agreed`, `meeting.cancelled`, `meeting.not_attended`, `meeting.held`,
//! `group.formed`, their rules, [`MeetingRec`] and [`GroupRec`]. Must not touch: I/O, clocks,
//! or other areas' records beyond reading the support relationship a meeting belongs to and the
//! goals it names.
//!
//! Rules (DOMAIN.md "Meetings"):
//! - only the worker of an accepted support relationship plans, holds or records its meetings;
//! - a place is agreed by both: whoever did not propose it agrees it (the person may also
//!   propose another, which the worker then agrees);
//! - a group session is one `meeting.recorded` per participant, about them alone: the entry
//!   names neither the group nor anyone else, so no participant's record or bundle links them to
//!   another; the caller must facilitate the group.

use serde::{Deserialize, Serialize};

use super::actors::ActorRec;
use super::checks::*;
use super::decide::{Commit, Decision};
use super::event::*;
use super::projection::{Key, Projections};
use super::stream::Stream;
use super::support::{SupportRec, SupportStatus};
use super::types::*;

/// Longest a meeting may be recorded as, in minutes.
pub const MAX_MEETING_MINUTES: u32 = 24 * 60;

/// Most goals or activities one meeting names.
pub const MAX_MEETING_ITEMS: usize = 16;

/// Most facilitators of one group.
pub const MAX_FACILITATORS: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingRec {
    pub meeting_id: String,
    pub subject: String,
    pub support_id: String,
    pub worker: String,
    pub kind: MeetingKind,
    /// Only in entries written before groups were their own streams; never shown.
    pub group_id: Option<String>,
    pub mode: MeetingMode,
    pub place: Place,
    pub place_detail: Option<SegmentRef>,
    /// Words of places proposed before the one standing: still text about the person, erased
    /// with the rest of the record when its retention period ends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_place_details: Vec<SegmentRef>,
    /// When it happened (held) or is planned for.
    pub occurred_at: Time,
    pub minutes: u32,
    pub recorded_at: Time,
    pub status: MeetingStatus,
    /// Set when the meeting was planned before it happened.
    pub planned_for: Option<Time>,
    /// Who proposed the place now standing (a meeting recorded after the fact: the worker).
    pub place_proposed_by: Party,
    /// The other party agreed that place.
    pub place_agreed: bool,
    pub cancelled_by: Option<Party>,
    /// When it was cancelled, marked not attended, or recorded as held.
    pub status_at: Time,
    pub goals: Vec<String>,
    pub activities: Vec<Activity>,
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRec {
    pub group_id: String,
    pub name: SegmentRef,
    pub facilitators: Vec<String>,
    pub formed_by: String,
    pub formed_at: Time,
    pub version: u64,
}

/// What a meeting command says it worked on and did.
pub struct WorkDone<'a> {
    pub goals: &'a [String],
    pub activities: &'a [Activity<Passage>],
}

fn accepted_support<'a>(
    p: &'a Projections,
    caller: &ActorRec,
    support_id: &str,
) -> R<&'a SupportRec> {
    let s = party_support(p, caller, support_id)?;
    if caller.id != s.worker {
        return Err(denied(
            "support.worker",
            format!("only the worker of support {support_id} may plan or record its meetings"),
        ));
    }
    accepted(s)?;
    Ok(s)
}

fn accepted(s: &SupportRec) -> R<()> {
    if s.status != SupportStatus::Accepted {
        return Err(precondition(
            "support.accepted",
            "support_id",
            format!(
                "support {} is {:?}: meetings are planned and recorded only while the person has \
                 accepted peer support",
                s.support_id, s.status
            ),
        ));
    }
    Ok(())
}

fn check_minutes(minutes: u32) -> R<()> {
    if minutes == 0 || minutes > MAX_MEETING_MINUTES {
        return Err(invalid(
            "meeting.minutes",
            "minutes",
            format!("must be 1-{MAX_MEETING_MINUTES}"),
        ));
    }
    Ok(())
}

fn check_past(field: &str, at: Time, now: Time) -> R<()> {
    if at > now {
        return Err(invalid(
            "meeting.past",
            field,
            format!("{at} is in the future; record meetings after they happen"),
        ));
    }
    Ok(())
}

/// The goals must be open goals of this relationship's person, worked on in it; activities
/// carry their words where they say more, and signposting must say to what.
fn check_work(p: &Projections, s: &SupportRec, work: &WorkDone) -> R<()> {
    if work.goals.len() > MAX_MEETING_ITEMS || work.activities.len() > MAX_MEETING_ITEMS {
        return Err(invalid(
            "meeting.items",
            "goals",
            format!("a meeting names at most {MAX_MEETING_ITEMS} goals and {MAX_MEETING_ITEMS} activities"),
        ));
    }
    for (i, g) in work.goals.iter().enumerate() {
        check_id("goals", g)?;
        if work.goals[..i].contains(g) {
            return Err(invalid(
                "meeting.goals",
                "goals",
                format!("goal {g} is named twice"),
            ));
        }
        match p.goals.get(g) {
            Some(goal) if goal.subject == s.subject && goal.support_id == s.support_id => {
                if goal.closed.is_some() {
                    return Err(precondition(
                        "goal.open",
                        "goals",
                        format!("goal {g} is closed; a meeting works on open goals"),
                    ));
                }
            }
            // Another person's goal, or one of another relationship: as if it did not exist.
            _ => return Err(no_basis("goals", format!("goal {g}"))),
        }
    }
    for a in work.activities {
        if let Some(d) = &a.detail {
            check_passage("activities.detail", d)?;
        } else if a.kind == ActivityKind::Signposting {
            return Err(invalid(
                "meeting.signposting",
                "activities.detail",
                "signposting says to what, in words (the group, service or resource)",
            ));
        }
    }
    Ok(())
}

fn commit_activities(commit: &mut dyn Commit, activities: &[Activity<Passage>]) -> Vec<Activity> {
    activities
        .iter()
        .map(|a| Activity {
            kind: a.kind,
            detail: a.detail.as_ref().map(|d| commit.commit(d)),
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
pub(super) fn record_meeting(
    p: &Projections,
    caller: &ActorRec,
    meeting_id: &str,
    support_id: &str,
    kind: &MeetingKind,
    group_id: &Option<String>,
    mode: &MeetingMode,
    place: &Place,
    place_detail: &Option<Passage>,
    occurred_at: &Time,
    minutes: &u32,
    work: &WorkDone,
    now: Time,
    commit: &mut dyn Commit,
) -> R<Decision> {
    check_id("meeting_id", meeting_id)?;
    let s = accepted_support(p, caller, support_id)?;
    if p.meetings.contains_key(meeting_id) {
        return Err(exists("meeting_id", format!("meeting {meeting_id}")));
    }
    let mut depends = vec![Stream::support(support_id)];
    match (kind, group_id) {
        (MeetingKind::Group, None) => {
            return Err(invalid(
                "meeting.group",
                "group_id",
                "a group meeting names the group whose session it was (it is not written into \
                 the participant's entry)",
            ))
        }
        (MeetingKind::OneToOne, Some(_)) => {
            return Err(invalid(
                "meeting.group",
                "group_id",
                "a one_to_one meeting has no group_id",
            ))
        }
        (MeetingKind::Group, Some(g)) => {
            check_id("group_id", g)?;
            match p.groups.get(g) {
                Some(group) if group.facilitators.contains(&caller.id) => {}
                Some(_) => {
                    return Err(denied(
                        "group.facilitator",
                        format!(
                            "only a facilitator of group {g} records attendance at its sessions"
                        ),
                    ))
                }
                None => return Err(Refusal::not_found("group_id", format!("group {g}"))),
            }
            depends.push(Stream::group(g));
        }
        (MeetingKind::OneToOne, None) => {}
    }
    if let Some(d) = place_detail {
        check_passage("place_detail", d)?;
    }
    check_past("occurred_at", *occurred_at, now)?;
    check_minutes(*minutes)?;
    check_work(p, s, work)?;
    depends.extend(work.goals.iter().map(|g| Stream::goal(g)));
    Ok(Decision::one(
        Stream::meeting(meeting_id),
        Some(s.subject.clone()),
        Event::MeetingRecorded(MeetingRecorded {
            meeting_id: meeting_id.to_string(),
            support_id: support_id.to_string(),
            worker: s.worker.clone(),
            kind: *kind,
            // Never the group: the entry is about this participant alone.
            group_id: None,
            mode: *mode,
            place: *place,
            place_detail: place_detail.as_ref().map(|d| commit.commit(d)),
            occurred_at: *occurred_at,
            minutes: *minutes,
            goals: work.goals.to_vec(),
            activities: commit_activities(commit, work.activities),
        }),
    )
    .depending(depends))
}

#[allow(clippy::too_many_arguments)]
pub(super) fn plan_meeting(
    p: &Projections,
    caller: &ActorRec,
    meeting_id: &str,
    support_id: &str,
    mode: &MeetingMode,
    place: &Place,
    place_detail: &Option<Passage>,
    planned_for: &Time,
    minutes: &u32,
    now: Time,
    commit: &mut dyn Commit,
) -> R<Decision> {
    check_id("meeting_id", meeting_id)?;
    let s = accepted_support(p, caller, support_id)?;
    if p.meetings.contains_key(meeting_id) {
        return Err(exists("meeting_id", format!("meeting {meeting_id}")));
    }
    if let Some(d) = place_detail {
        check_passage("place_detail", d)?;
    }
    future("planned_for", *planned_for, now)?;
    check_minutes(*minutes)?;
    Ok(Decision::one(
        Stream::meeting(meeting_id),
        Some(s.subject.clone()),
        Event::MeetingPlanned(MeetingPlanned {
            meeting_id: meeting_id.to_string(),
            support_id: support_id.to_string(),
            worker: s.worker.clone(),
            mode: *mode,
            place: *place,
            place_detail: place_detail.as_ref().map(|d| commit.commit(d)),
            planned_for: *planned_for,
            minutes: *minutes,
        }),
    )
    .depending([Stream::support(support_id)]))
}

/// A planned meeting the caller is a party to (the person or its worker), with its
/// relationship; anything else is the one no-basis answer.
fn planned<'a>(
    p: &'a Projections,
    caller: &ActorRec,
    meeting_id: &str,
) -> R<(&'a MeetingRec, &'a SupportRec)> {
    check_id("meeting_id", meeting_id)?;
    let m = match p.meetings.get(meeting_id) {
        Some(m) if caller.id == m.worker || is_person(caller, &m.subject) => m,
        _ => return Err(no_basis("meeting_id", format!("meeting {meeting_id}"))),
    };
    let s = p
        .supports
        .get(&m.support_id)
        .ok_or_else(|| no_basis("meeting_id", format!("meeting {meeting_id}")))?;
    if m.status != MeetingStatus::Planned {
        return Err(precondition(
            "meeting.planned",
            "meeting_id",
            format!("meeting {meeting_id} is {}, no longer planned", m.status),
        ));
    }
    Ok((m, s))
}

/// Which party the caller speaks for: the person themselves, or their worker — for the person
/// when `on_behalf` (the person said so in person).
fn party(caller: &ActorRec, m: &MeetingRec, on_behalf: bool) -> R<Party> {
    if is_person(caller, &m.subject) {
        if on_behalf {
            return Err(invalid(
                "on_behalf",
                "on_behalf",
                "on_behalf is for the worker recording what the person said in person",
            ));
        }
        return Ok(Party::Person);
    }
    Ok(if on_behalf {
        Party::Person
    } else {
        Party::Worker
    })
}

pub(super) fn propose_place(
    p: &Projections,
    caller: &ActorRec,
    meeting_id: &str,
    place: &Place,
    place_detail: &Option<Passage>,
    on_behalf: bool,
    commit: &mut dyn Commit,
) -> R<Decision> {
    let (m, s) = planned(p, caller, meeting_id)?;
    accepted(s)?;
    let _ = party(caller, m, on_behalf)?;
    if let Some(d) = place_detail {
        check_passage("place_detail", d)?;
    }
    Ok(Decision::one(
        Stream::meeting(meeting_id),
        Some(m.subject.clone()),
        Event::MeetingPlaceProposed(MeetingPlaceProposed {
            place: *place,
            place_detail: place_detail.as_ref().map(|d| commit.commit(d)),
            on_behalf,
        }),
    )
    .depending([Stream::support(&m.support_id)]))
}

pub(super) fn agree_place(
    p: &Projections,
    caller: &ActorRec,
    meeting_id: &str,
    on_behalf: bool,
) -> R<Decision> {
    let (m, s) = planned(p, caller, meeting_id)?;
    accepted(s)?;
    let by = party(caller, m, on_behalf)?;
    if m.place_agreed {
        return Err(precondition(
            "meeting.place_agreed",
            "meeting_id",
            format!("the place of meeting {meeting_id} is already agreed"),
        ));
    }
    if by == m.place_proposed_by {
        return Err(precondition(
            "meeting.place_other_party",
            "meeting_id",
            format!(
                "the {by} proposed this place; the other party agrees it (or proposes another)"
            ),
        ));
    }
    Ok(Decision::one(
        Stream::meeting(meeting_id),
        Some(m.subject.clone()),
        Event::MeetingPlaceAgreed(MeetingPlaceAgreed { on_behalf }),
    )
    .depending([Stream::support(&m.support_id)]))
}

pub(super) fn cancel_meeting(
    p: &Projections,
    caller: &ActorRec,
    meeting_id: &str,
    by: &Party,
) -> R<Decision> {
    let (m, _) = planned(p, caller, meeting_id)?;
    if is_person(caller, &m.subject) && *by != Party::Person {
        return Err(denied(
            "meeting.cancel",
            "the person cancels for themselves: `by` is person",
        ));
    }
    // Cancelling stays possible after the relationship ended: the plan must not stand.
    Ok(Decision::one(
        Stream::meeting(meeting_id),
        Some(m.subject.clone()),
        Event::MeetingCancelled(MeetingCancelled { by: *by }),
    ))
}

pub(super) fn mark_not_attended(
    p: &Projections,
    caller: &ActorRec,
    meeting_id: &str,
    now: Time,
) -> R<Decision> {
    let (m, _) = planned(p, caller, meeting_id)?;
    if caller.id != m.worker {
        return Err(denied(
            "meeting.worker",
            format!("only the worker of meeting {meeting_id} records that it was not attended"),
        ));
    }
    if m.occurred_at > now {
        return Err(precondition(
            "meeting.time_passed",
            "meeting_id",
            format!(
                "meeting {meeting_id} is planned for {}; it can be missed only once that time has come",
                m.occurred_at
            ),
        ));
    }
    Ok(Decision::one(
        Stream::meeting(meeting_id),
        Some(m.subject.clone()),
        Event::MeetingNotAttended(MeetingNotAttended {}),
    ))
}

#[allow(clippy::too_many_arguments)]
pub(super) fn hold_meeting(
    p: &Projections,
    caller: &ActorRec,
    meeting_id: &str,
    occurred_at: &Time,
    minutes: &u32,
    work: &WorkDone,
    now: Time,
    commit: &mut dyn Commit,
) -> R<Decision> {
    let (m, s) = planned(p, caller, meeting_id)?;
    if caller.id != m.worker {
        return Err(denied(
            "meeting.worker",
            format!("only the worker of meeting {meeting_id} records that it was held"),
        ));
    }
    accepted(s)?;
    check_past("occurred_at", *occurred_at, now)?;
    check_minutes(*minutes)?;
    check_work(p, s, work)?;
    let mut depends = vec![Stream::support(&m.support_id)];
    depends.extend(work.goals.iter().map(|g| Stream::goal(g)));
    Ok(Decision::one(
        Stream::meeting(meeting_id),
        Some(m.subject.clone()),
        Event::MeetingHeld(MeetingHeld {
            occurred_at: *occurred_at,
            minutes: *minutes,
            goals: work.goals.to_vec(),
            activities: commit_activities(commit, work.activities),
        }),
    )
    .depending(depends))
}

pub(super) fn form_group(
    p: &Projections,
    caller: &ActorRec,
    group_id: &str,
    name: &Passage,
    facilitators: &[String],
    commit: &mut dyn Commit,
) -> R<Decision> {
    role(caller, &[Role::Admin, Role::PeerWorker], "form a group")?;
    check_id("group_id", group_id)?;
    check_passage("name", name)?;
    if facilitators.is_empty() || facilitators.len() > MAX_FACILITATORS {
        return Err(invalid(
            "group.facilitators",
            "facilitators",
            format!("a group has 1-{MAX_FACILITATORS} facilitators"),
        ));
    }
    for (i, f) in facilitators.iter().enumerate() {
        if facilitators[..i].contains(f) {
            return Err(invalid(
                "group.facilitators",
                "facilitators",
                format!("{f} is named twice"),
            ));
        }
        let a = active_actor(p, "facilitators", f)?;
        if a.role != Role::PeerWorker {
            return Err(invalid(
                "group.facilitators",
                "facilitators",
                format!(
                    "{f} is a {}; groups are facilitated by peer workers",
                    a.role
                ),
            ));
        }
    }
    if caller.role == Role::PeerWorker && !facilitators.contains(&caller.id) {
        return Err(denied(
            "group.facilitator",
            "a peer worker forms only a group they facilitate (name yourself in facilitators)",
        ));
    }
    if p.groups.contains_key(group_id) {
        return Err(exists("group_id", format!("group {group_id}")));
    }
    Ok(Decision::one(
        Stream::group(group_id),
        None,
        Event::GroupFormed(GroupFormed {
            group_id: group_id.to_string(),
            name: commit.commit(name),
            facilitators: facilitators.to_vec(),
        }),
    ))
}

/// Folds a meeting or group event.
/// Returns false when the entry does not fit the state (it is then counted as skipped).
pub(super) fn apply(p: &mut Projections, r: &Recorded, next: u64) -> bool {
    let meeting_id = || Projections::stream_id(&r.stream, "meeting");
    match &r.event {
        Event::MeetingRecorded(e) => {
            let Some(subject) = r.subject.clone() else {
                return false;
            };
            p.meetings.insert(
                e.meeting_id.clone(),
                MeetingRec {
                    meeting_id: e.meeting_id.clone(),
                    subject: subject.clone(),
                    support_id: e.support_id.clone(),
                    worker: e.worker.clone(),
                    kind: e.kind,
                    group_id: e.group_id.clone(),
                    mode: e.mode,
                    place: e.place,
                    place_detail: e.place_detail.clone(),
                    earlier_place_details: Vec::new(),
                    occurred_at: e.occurred_at,
                    minutes: e.minutes,
                    recorded_at: r.at,
                    status: MeetingStatus::Held,
                    planned_for: None,
                    place_proposed_by: Party::Worker,
                    place_agreed: false,
                    cancelled_by: None,
                    status_at: r.at,
                    goals: e.goals.clone(),
                    activities: e.activities.clone(),
                    version: next,
                },
            );
            p.dirty.insert(Key::Meeting(e.meeting_id.clone()));
            p.person_ids(&subject).meetings.insert(e.meeting_id.clone());
        }
        Event::MeetingPlanned(e) => {
            let Some(subject) = r.subject.clone() else {
                return false;
            };
            p.meetings.insert(
                e.meeting_id.clone(),
                MeetingRec {
                    meeting_id: e.meeting_id.clone(),
                    subject: subject.clone(),
                    support_id: e.support_id.clone(),
                    worker: e.worker.clone(),
                    kind: MeetingKind::OneToOne,
                    group_id: None,
                    mode: e.mode,
                    place: e.place,
                    place_detail: e.place_detail.clone(),
                    earlier_place_details: Vec::new(),
                    occurred_at: e.planned_for,
                    minutes: e.minutes,
                    recorded_at: r.at,
                    status: MeetingStatus::Planned,
                    planned_for: Some(e.planned_for),
                    place_proposed_by: Party::Worker,
                    place_agreed: false,
                    cancelled_by: None,
                    status_at: r.at,
                    goals: Vec::new(),
                    activities: Vec::new(),
                    version: next,
                },
            );
            p.dirty.insert(Key::Meeting(e.meeting_id.clone()));
            p.person_ids(&subject).meetings.insert(e.meeting_id.clone());
        }
        Event::MeetingPlaceProposed(_)
        | Event::MeetingPlaceAgreed(_)
        | Event::MeetingCancelled(_)
        | Event::MeetingNotAttended(_)
        | Event::MeetingHeld(_) => {
            let Some(id) = meeting_id() else {
                return false;
            };
            let Some(m) = p.meetings.get_mut(&id) else {
                return false;
            };
            let person_spoke =
                |on_behalf: bool| on_behalf || r.actor_role == Role::ServiceUser.as_str();
            match &r.event {
                Event::MeetingPlaceProposed(e) => {
                    m.place = e.place;
                    let earlier = std::mem::replace(&mut m.place_detail, e.place_detail.clone());
                    m.earlier_place_details.extend(earlier);
                    m.place_proposed_by = if person_spoke(e.on_behalf) {
                        Party::Person
                    } else {
                        Party::Worker
                    };
                    m.place_agreed = false;
                }
                Event::MeetingPlaceAgreed(_) => m.place_agreed = true,
                Event::MeetingCancelled(e) => {
                    m.status = MeetingStatus::Cancelled;
                    m.cancelled_by = Some(e.by);
                    m.status_at = r.at;
                }
                Event::MeetingNotAttended(_) => {
                    m.status = MeetingStatus::NotAttended;
                    m.status_at = r.at;
                }
                Event::MeetingHeld(e) => {
                    m.status = MeetingStatus::Held;
                    m.occurred_at = e.occurred_at;
                    m.minutes = e.minutes;
                    m.goals = e.goals.clone();
                    m.activities = e.activities.clone();
                    m.status_at = r.at;
                }
                _ => return false,
            }
            m.version = next;
            p.dirty.insert(Key::Meeting(id));
        }
        Event::GroupFormed(e) => {
            p.groups.insert(
                e.group_id.clone(),
                GroupRec {
                    group_id: e.group_id.clone(),
                    name: e.name.clone(),
                    facilitators: e.facilitators.clone(),
                    formed_by: r.actor_id.clone(),
                    formed_at: r.at,
                    version: next,
                },
            );
            p.dirty.insert(Key::Group(e.group_id.clone()));
        }
        _ => return false,
    }
    true
}
