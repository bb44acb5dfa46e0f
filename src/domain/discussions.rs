//! Discussions: "if you're not there, or haven't given us permission, we won't discuss you" —
//! made checkable. Every discussion of a person (an MDT, a ward round, a handover, supervision or
//! co-reflection) is recorded with the basis it had when it took place, and the person sees it.
//!
//! Owns: `discussion.recorded`, its rules, and [`DiscussionRec`]. Must not touch: I/O, clocks, or
//! other areas' records beyond reading the consents, concerns and support relationships a basis
//! rests on.
//!
//! Rules (DOMAIN.md "Discussions"):
//! - a peer worker with an accepted relationship with the person, a care team member (for their
//!   own team's discussions) or a safeguarding lead records it, after it happened;
//! - it is refused unless, at `held_at`, the person was present, or a consent in force then
//!   covers it (`share_with_care_team` naming the team it was held with, for care-team settings;
//!   `discuss_in_supervision` for supervision and co-reflection), or a safeguarding concern about
//!   them was open (raised, no outcome yet);
//! - every refusal on the basis says the same thing whether or not the person, the consent or the
//!   concern exists, so the recorder learns nothing about someone they have no basis for;
//! - a basis that held at `held_at` but had lapsed by the time the discussion was recorded is
//!   accepted (it was discussed lawfully) and flagged as recorded late (rule 8).

use serde::{Deserialize, Serialize};

use super::actors::ActorRec;
use super::checks::*;
use super::decide::{commit_all, Commit, Decision};
use super::event::*;
use super::projection::{Key, Projections};
use super::stream::Stream;
use super::types::*;

/// What a recorder says the discussion rested on; the decision checks it held at `held_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscussionBasis {
    /// The person took part.
    Present,
    /// A consent of the person, by id.
    Consent(String),
    /// An open safeguarding concern about the person, by id.
    Concern(String),
}

impl DiscussionBasis {
    /// As the entry records it.
    pub fn name(&self) -> String {
        match self {
            DiscussionBasis::Present => "present".to_string(),
            DiscussionBasis::Consent(id) => format!("consent:{id}"),
            DiscussionBasis::Concern(id) => format!("concern:{id}"),
        }
    }

    /// The entry's spelling back (`present`, `consent:<id>`, `concern:<id>`).
    pub fn parse(s: &str) -> Option<DiscussionBasis> {
        if s == "present" {
            return Some(DiscussionBasis::Present);
        }
        let (kind, id) = s.split_once(':')?;
        if !is_id(id) {
            return None;
        }
        match kind {
            "consent" => Some(DiscussionBasis::Consent(id.to_string())),
            "concern" => Some(DiscussionBasis::Concern(id.to_string())),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscussionRec {
    pub discussion_id: String,
    pub subject: String,
    pub setting: DiscussionSetting,
    pub with: DiscussedWith,
    pub held_at: Time,
    pub basis: String,
    pub summary: Vec<SegmentRef>,
    pub recorded_by: String,
    pub recorded_at: Time,
    /// When the basis stopped holding, if it had by the time the discussion was recorded (the
    /// consent revoked or expired, the concern closed): the discussion was recorded late.
    pub basis_lapsed_at: Option<Time>,
    pub version: u64,
}

/// The one refusal on the basis: the same words whatever is missing — the person, the consent,
/// the concern, or their timing — so it discloses nothing to a recorder without a basis.
fn no_discussion_basis(subject: &str, setting: DiscussionSetting, held_at: Time) -> Refusal {
    Refusal::new(
        Code::PermissionDenied,
        "discussion.basis",
        "basis",
        format!(
            "no recorded basis held at {held_at} for a {setting} discussion of {subject}: \
             discuss a person only with them present, under a consent in force then that \
             covers it (share_with_care_team naming the team, or discuss_in_supervision for \
             supervision and co-reflection), or while a safeguarding concern about them is \
             open; nothing was recorded"
        ),
    )
}

#[allow(clippy::too_many_arguments)]
pub(super) fn record_discussion(
    p: &Projections,
    caller: &ActorRec,
    discussion_id: &str,
    subject: &str,
    setting: &DiscussionSetting,
    with: &DiscussedWith,
    held_at: &Time,
    basis: &DiscussionBasis,
    summary: &[Passage],
    now: Time,
    commit: &mut dyn Commit,
) -> R<Decision> {
    role(
        caller,
        &[Role::PeerWorker, Role::CareTeam, Role::SafeguardingLead],
        "record a discussion of a person",
    )?;
    check_id("discussion_id", discussion_id)?;
    check_id("subject", subject)?;
    match with {
        DiscussedWith::Team(t) => check_id("with.team", t)?,
        DiscussedWith::Role(Role::ServiceUser) => {
            return Err(invalid(
                "discussion.with",
                "with.role",
                "a discussion with service users present is a group meeting, not a discussion \
                 about one person; name the team or the staff role it was held with",
            ))
        }
        DiscussedWith::Role(_) => {}
    }
    if caller.role == Role::CareTeam {
        let own = caller.team.as_deref();
        if !matches!(with, DiscussedWith::Team(t) if Some(t.as_str()) == own) {
            return Err(denied(
                "discussion.own_team",
                format!(
                    "a care team member records their own team's discussions (with.team = {})",
                    own.unwrap_or("their team")
                ),
            ));
        }
    }
    if *held_at > now {
        return Err(invalid(
            "discussion.past",
            "held_at",
            format!("{held_at} is in the future; record a discussion after it took place"),
        ));
    }
    check_passages("summary", summary, false)?;
    if p.discussions.contains_key(discussion_id) {
        return Err(exists(
            "discussion_id",
            format!("discussion {discussion_id}"),
        ));
    }
    let refused = || no_discussion_basis(subject, *setting, *held_at);
    if !p.is_person(subject) || !p.actor(subject).is_some_and(|a| a.active) {
        return Err(refused());
    }
    let mut depends = Vec::new();
    if caller.role == Role::PeerWorker {
        match active_support(p, &caller.id, subject) {
            Some(s) => depends.push(Stream::support(&s.support_id)),
            None => {
                return Err(denied(
                    "support.accepted",
                    format!(
                        "peer worker {} has no accepted support relationship with {subject}; a \
                         worker records discussions only of people they support",
                        caller.id
                    ),
                ))
            }
        }
    }
    match basis {
        DiscussionBasis::Present => {}
        DiscussionBasis::Consent(id) => {
            let c = p
                .consents
                .get(subject)
                .and_then(|l| l.consents.get(id))
                .ok_or_else(refused)?;
            let covers = if setting.is_supervision() {
                c.scope == Scope::DiscussInSupervision
            } else {
                matches!(with, DiscussedWith::Team(t) if c.names_team(t))
            };
            if !covers || !c.held_at(*held_at) {
                return Err(refused());
            }
            depends.push(Stream::consent(subject));
        }
        DiscussionBasis::Concern(id) => {
            let c = p.concerns.get(id).ok_or_else(refused)?;
            if c.subject != subject || !c.open_at(*held_at) {
                return Err(refused());
            }
            depends.push(Stream::concern(id));
        }
    }
    Ok(Decision::one(
        Stream::discussion(discussion_id),
        Some(subject.to_string()),
        Event::DiscussionRecorded(DiscussionRecorded {
            discussion_id: discussion_id.to_string(),
            setting: *setting,
            with: with.clone(),
            held_at: *held_at,
            basis: basis.name(),
            summary: commit_all(commit, summary),
        }),
    )
    .depending(depends))
}

/// When the basis recorded for a discussion held at `held_at` stopped holding, if it had by
/// `recorded_at` (a consent revoked or expired, a concern given its outcome).
fn lapse(p: &Projections, subject: &str, basis: &str, recorded_at: Time) -> Option<Time> {
    let ended = match DiscussionBasis::parse(basis)? {
        DiscussionBasis::Present => None,
        DiscussionBasis::Consent(id) => {
            let c = p.consents.get(subject)?.consents.get(&id)?;
            [c.revoked_at, c.expires_at].into_iter().flatten().min()
        }
        DiscussionBasis::Concern(id) => p.concerns.get(&id)?.outcome_at,
    };
    ended.filter(|t| *t <= recorded_at)
}

/// Folds a discussion event.
/// Returns false when the entry does not fit the state (it is then counted as skipped).
pub(super) fn apply(p: &mut Projections, r: &Recorded, next: u64) -> bool {
    match &r.event {
        Event::DiscussionRecorded(e) => {
            let Some(subject) = r.subject.clone() else {
                return false;
            };
            let basis_lapsed_at = lapse(p, &subject, &e.basis, r.at);
            p.discussions.insert(
                e.discussion_id.clone(),
                DiscussionRec {
                    discussion_id: e.discussion_id.clone(),
                    subject: subject.clone(),
                    setting: e.setting,
                    with: e.with.clone(),
                    held_at: e.held_at,
                    basis: e.basis.clone(),
                    summary: e.summary.clone(),
                    recorded_by: r.actor_id.clone(),
                    recorded_at: r.at,
                    basis_lapsed_at,
                    version: next,
                },
            );
            p.dirty.insert(Key::Discussion(e.discussion_id.clone()));
            p.person_ids(&subject)
                .discussions
                .insert(e.discussion_id.clone());
        }
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_basis_round_trips_and_nothing_else_parses() {
        for b in [
            DiscussionBasis::Present,
            DiscussionBasis::Consent("c-1".into()),
            DiscussionBasis::Concern("k-1".into()),
        ] {
            assert_eq!(DiscussionBasis::parse(&b.name()), Some(b));
        }
        for bad in [
            "",
            "absent",
            "consent:",
            "support:sp-1",
            "consent:a b",
            "present:x",
        ] {
            assert_eq!(DiscussionBasis::parse(bad), None, "{bad}");
        }
    }
}
