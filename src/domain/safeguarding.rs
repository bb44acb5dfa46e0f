//! Safeguarding: a concern raised under a duty of care, acknowledged by a lead, its outcome,
//! and how the person was told.
//!
//! Owns: `safeguarding.*` and `subject.informed` events, their rules, and [`ConcernRec`]. Must
//! not touch: I/O, clocks, or other areas' records beyond reading support relationships (a
//! worker's basis for raising a concern).

use serde::{Deserialize, Serialize};

use super::actors::ActorRec;
use super::checks::*;
use super::decide::{commit_all, Commit, Decision};
use super::event::*;
use super::projection::{Key, Projections};
use super::stream::Stream;
use super::types::*;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConcernRec {
    pub concern_id: String,
    pub subject: String,
    pub raised_by: String,
    pub category: ConcernCategory,
    pub urgency: Urgency,
    pub summary: Vec<SegmentRef>,
    pub raised_at: Time,
    pub acknowledged_at: Option<Time>,
    pub acknowledged_by: Option<String>,
    pub outcome: Option<ConcernOutcome>,
    pub outcome_detail: Option<SegmentRef>,
    pub outcome_at: Option<Time>,
    pub informed: Option<InformedHow>,
    pub informed_at: Option<Time>,
    pub version: u64,
}

impl ConcernRec {
    /// Open at time `t`: raised by then, and no outcome recorded before it.
    pub fn open_at(&self, t: Time) -> bool {
        self.raised_at <= t && self.outcome_at.is_none_or(|o| t < o)
    }
}

fn concern<'a>(p: &'a Projections, id: &str) -> R<&'a ConcernRec> {
    check_id("concern_id", id)?;
    p.concerns
        .get(id)
        .ok_or_else(|| Refusal::not_found("concern_id", format!("concern {id}")))
}

#[allow(clippy::too_many_arguments)]
pub(super) fn raise_concern(
    p: &Projections,
    caller: &ActorRec,
    concern_id: &str,
    subject: &str,
    category: &ConcernCategory,
    urgency: &Urgency,
    summary: &[Passage],
    commit: &mut dyn Commit,
) -> R<Decision> {
    role(
        caller,
        &[Role::PeerWorker, Role::SafeguardingLead],
        "raise a safeguarding concern",
    )?;
    check_id("subject", subject)?;
    let mut depends = Vec::new();
    if caller.role == Role::PeerWorker {
        // A duty of care outlives the relationship: any support the person accepted
        // with this worker, current or ended, is a basis.
        let s = p.people.get(subject).and_then(|pr| {
            pr.supports
                .iter()
                .filter_map(|id| p.supports.get(id))
                .find(|s| s.worker == caller.id && s.accepted_at.is_some())
        });
        match s {
            Some(s) => depends.push(Stream::support(&s.support_id)),
            None => return Err(denied("support.accepted", format!("peer worker {} has never supported {subject}; tell a safeguarding lead instead", caller.id))),
        }
    }
    // A safeguarding lead's role covers everyone; a worker's basis was checked above.
    service_user(p, "subject", subject)?;
    check_id("concern_id", concern_id)?;
    if p.concerns.contains_key(concern_id) {
        return Err(exists("concern_id", format!("concern {concern_id}")));
    }
    check_passages("summary", summary, false)?;
    Ok(Decision::one(
        Stream::concern(concern_id),
        Some(subject.to_string()),
        Event::SafeguardingRaised(SafeguardingRaised {
            concern_id: concern_id.to_string(),
            category: *category,
            urgency: *urgency,
            summary: commit_all(commit, summary),
        }),
    )
    .depending(depends))
}

pub(super) fn acknowledge_concern(
    p: &Projections,
    caller: &ActorRec,
    concern_id: &str,
) -> R<Decision> {
    role(caller, &[Role::SafeguardingLead], "acknowledge a concern")?;
    let c = concern(p, concern_id)?;
    if c.acknowledged_at.is_some() {
        return Err(precondition(
            "concern.acknowledged_once",
            "concern_id",
            format!("concern {concern_id} is already acknowledged"),
        ));
    }
    Ok(Decision::one(
        Stream::concern(concern_id),
        Some(c.subject.clone()),
        Event::SafeguardingAcknowledged(SafeguardingAcknowledged {}),
    ))
}

pub(super) fn record_outcome(
    p: &Projections,
    caller: &ActorRec,
    concern_id: &str,
    outcome: &ConcernOutcome,
    detail: &Passage,
    commit: &mut dyn Commit,
) -> R<Decision> {
    role(
        caller,
        &[Role::SafeguardingLead],
        "record a concern's outcome",
    )?;
    let c = concern(p, concern_id)?;
    if c.acknowledged_at.is_none() {
        return Err(precondition(
            "concern.acknowledged_first",
            "concern_id",
            format!("acknowledge concern {concern_id} before recording its outcome"),
        ));
    }
    check_passage("detail", detail)?;
    Ok(Decision::one(
        Stream::concern(concern_id),
        Some(c.subject.clone()),
        Event::SafeguardingOutcome(SafeguardingOutcome {
            outcome: *outcome,
            detail: commit.commit(detail),
        }),
    ))
}

pub(super) fn inform_subject(
    p: &Projections,
    caller: &ActorRec,
    concern_id: &str,
    how: &InformedHow,
) -> R<Decision> {
    role(
        caller,
        &[Role::SafeguardingLead],
        "record that the person was informed",
    )?;
    let c = concern(p, concern_id)?;
    // The person is told once a lead has taken the concern on: telling them is part of acting
    // on it, and a record of "informed" before anyone owned the concern would say nobody did.
    if c.acknowledged_at.is_none() {
        return Err(precondition(
            "concern.acknowledged",
            "concern_id",
            format!(
                "concern {concern_id} has not been acknowledged; a safeguarding lead takes it \
                 on before recording that the person was told"
            ),
        ));
    }
    if c.informed.is_some() {
        return Err(precondition(
            "concern.informed_once",
            "concern_id",
            format!("the person was already recorded as told about concern {concern_id}"),
        ));
    }
    Ok(Decision::one(
        Stream::concern(concern_id),
        Some(c.subject.clone()),
        Event::SubjectInformed(SubjectInformed { how: *how }),
    ))
}

/// Folds a safeguarding event.
/// Returns false when the entry does not fit the state (it is then counted as skipped).
pub(super) fn apply(p: &mut Projections, r: &Recorded, next: u64) -> bool {
    match &r.event {
        Event::SafeguardingRaised(e) => {
            let Some(subject) = r.subject.clone() else {
                return false;
            };
            p.concerns.insert(
                e.concern_id.clone(),
                ConcernRec {
                    concern_id: e.concern_id.clone(),
                    subject: subject.clone(),
                    raised_by: r.actor_id.clone(),
                    category: e.category,
                    urgency: e.urgency,
                    summary: e.summary.clone(),
                    raised_at: r.at,
                    acknowledged_at: None,
                    acknowledged_by: None,
                    outcome: None,
                    outcome_detail: None,
                    outcome_at: None,
                    informed: None,
                    informed_at: None,
                    version: next,
                },
            );
            p.dirty.insert(Key::Concern(e.concern_id.clone()));
            p.person_ids(&subject).concerns.insert(e.concern_id.clone());
        }
        Event::SafeguardingAcknowledged(_)
        | Event::SafeguardingOutcome(_)
        | Event::SubjectInformed(_) => {
            let Some(id) = Projections::stream_id(&r.stream, "concern") else {
                return false;
            };
            let Some(c) = p.concerns.get_mut(&id) else {
                return false;
            };
            match &r.event {
                Event::SafeguardingAcknowledged(_) if c.acknowledged_at.is_none() => {
                    c.acknowledged_at = Some(r.at);
                    c.acknowledged_by = Some(r.actor_id.clone());
                }
                Event::SafeguardingOutcome(e) => {
                    c.outcome = Some(e.outcome);
                    c.outcome_detail = Some(e.detail.clone());
                    c.outcome_at = Some(r.at);
                }
                Event::SubjectInformed(e) => {
                    c.informed = Some(e.how);
                    c.informed_at = Some(r.at);
                }
                _ => {}
            }
            c.version = next;
            p.dirty.insert(Key::Concern(id));
        }
        _ => return false,
    }
    true
}
