//! Meetings: one to one or in a group, recorded by the person's worker after they happen.
//!
//! Owns: `meeting.recorded`, its rules and [`MeetingRec`]. Must not touch: I/O, clocks, or
//! other areas' records beyond reading the support relationship a meeting belongs to.

use serde::{Deserialize, Serialize};

use super::actors::ActorRec;
use super::checks::*;
use super::decide::{Commit, Decision};
use super::event::*;
use super::projection::{Key, Projections};
use super::stream::Stream;
use super::support::SupportStatus;
use super::types::*;

/// Longest a meeting may be recorded as, in minutes.
pub const MAX_MEETING_MINUTES: u32 = 24 * 60;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingRec {
    pub meeting_id: String,
    pub subject: String,
    pub support_id: String,
    pub worker: String,
    pub kind: MeetingKind,
    pub group_id: Option<String>,
    pub mode: MeetingMode,
    pub place: Place,
    pub place_detail: Option<SegmentRef>,
    pub occurred_at: Time,
    pub minutes: u32,
    pub recorded_at: Time,
    pub version: u64,
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
    now: Time,
    commit: &mut dyn Commit,
) -> R<Decision> {
    check_id("meeting_id", meeting_id)?;
    let s = party_support(p, caller, support_id)?;
    if caller.id != s.worker {
        return Err(denied(
            "support.worker",
            format!("only the worker of support {support_id} may record its meetings"),
        ));
    }
    if s.status != SupportStatus::Accepted {
        return Err(precondition(
            "support.accepted",
            "support_id",
            format!("support {support_id} is {:?}: meetings are recorded only while the person has accepted peer support", s.status),
        ));
    }
    if p.meetings.contains_key(meeting_id) {
        return Err(exists("meeting_id", format!("meeting {meeting_id}")));
    }
    match (kind, group_id) {
        (MeetingKind::Group, None) => {
            return Err(invalid(
                "meeting.group",
                "group_id",
                "a group meeting needs the group_id its participants share",
            ))
        }
        (MeetingKind::OneToOne, Some(_)) => {
            return Err(invalid(
                "meeting.group",
                "group_id",
                "a one_to_one meeting has no group_id",
            ))
        }
        (_, Some(g)) => check_id("group_id", g)?,
        _ => {}
    }
    if let Some(d) = place_detail {
        check_passage("place_detail", d)?;
    }
    if *occurred_at > now {
        return Err(invalid(
            "meeting.past",
            "occurred_at",
            format!("{occurred_at} is in the future; record meetings after they happen"),
        ));
    }
    if *minutes == 0 || *minutes > MAX_MEETING_MINUTES {
        return Err(invalid(
            "meeting.minutes",
            "minutes",
            format!("must be 1-{MAX_MEETING_MINUTES}"),
        ));
    }
    Ok(Decision::one(
        Stream::meeting(meeting_id),
        Some(s.subject.clone()),
        Event::MeetingRecorded(MeetingRecorded {
            meeting_id: meeting_id.to_string(),
            support_id: support_id.to_string(),
            worker: s.worker.clone(),
            kind: *kind,
            group_id: group_id.clone(),
            mode: *mode,
            place: *place,
            place_detail: place_detail.as_ref().map(|d| commit.commit(d)),
            occurred_at: *occurred_at,
            minutes: *minutes,
        }),
    )
    .depending([Stream::support(support_id)]))
}

/// Folds a meeting event.
/// Returns false when the entry does not fit the state (it is then counted as skipped).
pub(super) fn apply(p: &mut Projections, r: &Recorded, next: u64) -> bool {
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
                    occurred_at: e.occurred_at,
                    minutes: e.minutes,
                    recorded_at: r.at,
                    version: next,
                },
            );
            p.dirty.insert(Key::Meeting(e.meeting_id.clone()));
            p.person_ids(&subject).meetings.insert(e.meeting_id.clone());
        }
        _ => return false,
    }
    true
}
