//! Support relationships: peer support is opt-in — referred, offered, accepted or declined by
//! the person, ended by either party.
//!
//! Owns: `support.*` events, their rules, and [`SupportRec`] with each worker's caseload. Must
//! not touch: I/O, clocks, or other areas' records (it reads actors through the shared checks).

use serde::{Deserialize, Serialize};

use super::actors::ActorRec;
use super::checks::*;
use super::decide::Decision;
use super::event::*;
use super::projection::{Key, Projections};
use super::stream::Stream;
use super::types::*;

crate::domain::types::vocabulary!(
    /// Where a support relationship is: referred, offered, then accepted or declined; ended.
    SupportStatus {
        Referred = "referred",
        Offered = "offered",
        Accepted = "accepted",
        Declined = "declined",
        Ended = "ended",
    }
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupportRec {
    pub support_id: String,
    pub subject: String,
    pub worker: String,
    pub source: ReferralSource,
    pub status: SupportStatus,
    pub referred_at: Time,
    pub referred_by: String,
    pub offered_at: Option<Time>,
    pub accepted_at: Option<Time>,
    /// Whether the acceptance or refusal was recorded by the worker on the person's word.
    pub on_behalf: bool,
    pub declined_at: Option<Time>,
    pub ended_at: Option<Time>,
    pub ended_by: Option<String>,
    pub end_reason: Option<EndReason>,
    pub version: u64,
    /// Worker cover: the worker a transfer was proposed to, until the person answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_to: Option<String>,
    /// Who proposed the pending transfer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_proposed_by: Option<String>,
    /// The workers the relationship moved from, oldest first, with when it moved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_workers: Vec<(String, Time)>,
}

impl SupportRec {
    /// Is this an accepted, not ended, relationship with this worker?
    pub fn active_with(&self, worker: &str) -> bool {
        self.status == SupportStatus::Accepted && self.worker == worker
    }
}

/// An open referral or relationship of `subject` with `worker`, if there is one.
fn open_with<'a>(p: &'a Projections, subject: &str, worker: &str) -> Option<&'a SupportRec> {
    p.people.get(subject).and_then(|pr| {
        pr.supports
            .iter()
            .filter_map(|id| p.supports.get(id))
            .find(|s| {
                s.worker == *worker
                    && matches!(
                        s.status,
                        SupportStatus::Referred | SupportStatus::Offered | SupportStatus::Accepted
                    )
            })
    })
}

pub(super) fn refer_support(
    p: &Projections,
    caller: &ActorRec,
    support_id: &str,
    subject: &str,
    worker: &str,
    source: &ReferralSource,
) -> R<Decision> {
    role(
        caller,
        &[Role::ServiceUser, Role::PeerWorker, Role::CareTeam],
        "refer someone to peer support",
    )?;
    check_id("support_id", support_id)?;
    check_id("subject", subject)?;
    if caller.role == Role::ServiceUser {
        if caller.id != *subject {
            return Err(denied(
                "own_record",
                "a service user may refer only themselves",
            ));
        }
        if *source != ReferralSource::SelfReferral {
            return Err(invalid(
                "support.self_referral",
                "source",
                "a person referring themselves uses source \"self\"",
            ));
        }
    }
    // Staff make referrals as part of their role, which is their basis for learning
    // whether the person is registered.
    service_user(p, "subject", subject)?;
    check_id("worker", worker)?;
    let w = active_actor(p, "worker", worker)?;
    if w.role != Role::PeerWorker {
        return Err(invalid(
            "support.worker",
            "worker",
            format!("{worker} is a {}, not a peer_worker", w.role),
        ));
    }
    if p.supports.contains_key(support_id) {
        return Err(exists(
            "support_id",
            format!("support relationship {support_id}"),
        ));
    }
    if let Some(s) = open_with(p, subject, worker) {
        return Err(precondition(
            "support.one_open",
            "worker",
            format!(
                "{subject} already has an open referral or support relationship with \
                 {worker} ({:?}); a second one cannot be opened",
                s.status
            ),
        ));
    }
    Ok(Decision::one(
        Stream::support(support_id),
        Some(subject.to_string()),
        Event::SupportReferred(SupportReferred {
            support_id: support_id.to_string(),
            worker: worker.to_string(),
            source: *source,
        }),
    )
    .depending([Stream::actor(worker), Stream::actor(subject)]))
}

pub(super) fn offer_support(p: &Projections, caller: &ActorRec, support_id: &str) -> R<Decision> {
    let s = party_support(p, caller, support_id)?;
    if caller.id != s.worker {
        return Err(denied(
            "support.worker",
            format!(
                "only the named worker {} may offer support {support_id}",
                s.worker
            ),
        ));
    }
    if s.status != SupportStatus::Referred {
        return Err(precondition(
            "support.state",
            "support_id",
            format!("support {support_id} is {:?}, not referred", s.status),
        ));
    }
    Ok(Decision::one(
        Stream::support(support_id),
        Some(s.subject.clone()),
        Event::SupportOffered(SupportOffered {}),
    ))
}

/// Accepts (`accept`) or declines support. Peer support is the person's choice: only they, or
/// the named worker recording what they said in person (`on_behalf`), may answer; anyone else
/// gets [`party_support`]'s no-basis answer.
pub(super) fn answer_support(
    p: &Projections,
    caller: &ActorRec,
    support_id: &str,
    accept: bool,
) -> R<Decision> {
    let s = party_support(p, caller, support_id)?;
    let on_behalf = !is_person(caller, &s.subject);
    let ok = if accept {
        s.status == SupportStatus::Offered
    } else {
        matches!(s.status, SupportStatus::Referred | SupportStatus::Offered)
    };
    if !ok {
        return Err(precondition(
            "support.state",
            "support_id",
            format!(
                "support {support_id} is {:?}; it can be {} only when {}",
                s.status,
                if accept { "accepted" } else { "declined" },
                if accept {
                    "offered"
                } else {
                    "referred or offered"
                }
            ),
        ));
    }
    let event = if accept {
        Event::SupportAccepted(SupportAccepted { on_behalf })
    } else {
        Event::SupportDeclined(SupportDeclined { on_behalf })
    };
    Ok(Decision::one(
        Stream::support(support_id),
        Some(s.subject.clone()),
        event,
    ))
}

pub(super) fn end_support(
    p: &Projections,
    caller: &ActorRec,
    support_id: &str,
    reason: &EndReason,
) -> R<Decision> {
    // Either party may end it; anyone else gets `party_support`'s no-basis answer.
    let s = party_support(p, caller, support_id)?;
    if s.status != SupportStatus::Accepted {
        return Err(precondition(
            "support.state",
            "support_id",
            format!("support {support_id} is {:?}, not accepted", s.status),
        ));
    }
    Ok(Decision::one(
        Stream::support(support_id),
        Some(s.subject.clone()),
        Event::SupportEnded(SupportEnded { reason: *reason }),
    ))
}

/// Worker cover: the current worker or an admin proposes that the relationship move to another
/// peer worker. Nothing changes until the person accepts ([`answer_transfer`]). A new proposal
/// replaces a pending one (cover arrangements change); the person answers the latest.
pub(super) fn propose_transfer(
    p: &Projections,
    caller: &ActorRec,
    support_id: &str,
    to_worker: &str,
) -> R<Decision> {
    let s = if caller.role == Role::Admin {
        check_id("support_id", support_id)?;
        p.supports.get(support_id).ok_or_else(|| {
            Refusal::not_found("support_id", format!("support relationship {support_id}"))
        })?
    } else {
        let s = party_support(p, caller, support_id)?;
        if caller.id != s.worker {
            return Err(denied(
                "support.transfer_by",
                format!(
                    "only the relationship's worker {} or an admin may propose a new worker;                      the person chooses by accepting or declining",
                    s.worker
                ),
            ));
        }
        s
    };
    if s.status != SupportStatus::Accepted {
        return Err(precondition(
            "support.state",
            "support_id",
            format!("support {support_id} is {:?}, not accepted", s.status),
        ));
    }
    check_id("to_worker", to_worker)?;
    let w = active_actor(p, "to_worker", to_worker)?;
    if w.role != Role::PeerWorker {
        return Err(invalid(
            "support.worker",
            "to_worker",
            format!("{to_worker} is a {}, not a peer_worker", w.role),
        ));
    }
    if to_worker == s.worker {
        return Err(invalid(
            "support.transfer_to",
            "to_worker",
            format!("{to_worker} is already the worker of support {support_id}"),
        ));
    }
    if let Some(o) = open_with(p, &s.subject, to_worker) {
        return Err(precondition(
            "support.one_open",
            "to_worker",
            format!(
                "{to_worker} already has an open referral or relationship with the person ({})",
                o.support_id
            ),
        ));
    }
    Ok(Decision::one(
        Stream::support(support_id),
        Some(s.subject.clone()),
        Event::SupportTransferProposed(SupportTransferProposed {
            to_worker: to_worker.to_string(),
        }),
    )
    .depending([Stream::actor(to_worker)]))
}

/// The person accepts or declines a proposed transfer — or the current worker records what
/// they said in person (`on_behalf`), as for `support.accepted`. Anyone else (the proposed
/// worker included: they have no basis yet) gets [`party_support`]'s no-basis answer.
pub(super) fn answer_transfer(
    p: &Projections,
    caller: &ActorRec,
    support_id: &str,
    accept: bool,
) -> R<Decision> {
    let s = party_support(p, caller, support_id)?;
    let on_behalf = !is_person(caller, &s.subject);
    if s.status != SupportStatus::Accepted {
        return Err(precondition(
            "support.state",
            "support_id",
            format!("support {support_id} is {:?}, not accepted", s.status),
        ));
    }
    let Some(to) = &s.transfer_to else {
        return Err(precondition(
            "support.transfer_pending",
            "support_id",
            format!("no transfer of support {support_id} is waiting for an answer"),
        ));
    };
    let event = if accept {
        if let Some(o) = open_with(p, &s.subject, to) {
            return Err(precondition(
                "support.one_open",
                "support_id",
                format!(
                    "{to} has since opened another relationship with the person ({})",
                    o.support_id
                ),
            ));
        }
        Event::SupportTransferAccepted(SupportTransferAccepted { on_behalf })
    } else {
        Event::SupportTransferDeclined(SupportTransferDeclined { on_behalf })
    };
    Ok(
        Decision::one(Stream::support(support_id), Some(s.subject.clone()), event)
            .depending([Stream::actor(to)]),
    )
}

/// Folds a support relationship event.
/// Returns false when the entry does not fit the state (it is then counted as skipped).
pub(super) fn apply(p: &mut Projections, r: &Recorded, next: u64) -> bool {
    match &r.event {
        Event::SupportReferred(e) => {
            let Some(subject) = r.subject.clone() else {
                return false;
            };
            p.supports.insert(
                e.support_id.clone(),
                SupportRec {
                    support_id: e.support_id.clone(),
                    subject: subject.clone(),
                    worker: e.worker.clone(),
                    source: e.source,
                    status: SupportStatus::Referred,
                    referred_at: r.at,
                    referred_by: r.actor_id.clone(),
                    offered_at: None,
                    accepted_at: None,
                    on_behalf: false,
                    declined_at: None,
                    ended_at: None,
                    ended_by: None,
                    end_reason: None,
                    version: next,
                    transfer_to: None,
                    transfer_proposed_by: None,
                    previous_workers: Vec::new(),
                },
            );
            p.dirty.insert(Key::Support(e.support_id.clone()));
            p.person_ids(&subject).supports.insert(e.support_id.clone());
            p.caseloads
                .entry(e.worker.clone())
                .or_default()
                .insert(e.support_id.clone());
            p.dirty.insert(Key::Caseload(e.worker.clone()));
        }
        Event::SupportOffered(_)
        | Event::SupportAccepted(_)
        | Event::SupportDeclined(_)
        | Event::SupportEnded(_)
        | Event::SupportTransferProposed(_)
        | Event::SupportTransferAccepted(_)
        | Event::SupportTransferDeclined(_) => {
            let Some(id) = Projections::stream_id(&r.stream, "support") else {
                return false;
            };
            let Some(s) = p.supports.get_mut(&id) else {
                return false;
            };
            match &r.event {
                Event::SupportOffered(_) => {
                    s.status = SupportStatus::Offered;
                    s.offered_at = Some(r.at);
                }
                Event::SupportAccepted(e) => {
                    s.status = SupportStatus::Accepted;
                    s.accepted_at = Some(r.at);
                    s.on_behalf = e.on_behalf;
                }
                Event::SupportDeclined(e) => {
                    s.status = SupportStatus::Declined;
                    s.declined_at = Some(r.at);
                    s.on_behalf = e.on_behalf;
                }
                Event::SupportEnded(e) => {
                    s.status = SupportStatus::Ended;
                    s.ended_at = Some(r.at);
                    s.ended_by = Some(r.actor_id.clone());
                    s.end_reason = Some(e.reason);
                    s.transfer_to = None;
                    s.transfer_proposed_by = None;
                }
                Event::SupportTransferProposed(e) => {
                    s.transfer_to = Some(e.to_worker.clone());
                    s.transfer_proposed_by = Some(r.actor_id.clone());
                }
                Event::SupportTransferAccepted(_) => {
                    let Some(to) = s.transfer_to.take() else {
                        return false;
                    };
                    s.transfer_proposed_by = None;
                    let from = std::mem::replace(&mut s.worker, to.clone());
                    s.previous_workers.push((from, r.at));
                    p.caseloads
                        .entry(to.clone())
                        .or_default()
                        .insert(id.clone());
                    p.dirty.insert(Key::Caseload(to));
                }
                Event::SupportTransferDeclined(_) => {
                    s.transfer_to = None;
                    s.transfer_proposed_by = None;
                }
                _ => {}
            }
            s.version = next;
            p.dirty.insert(Key::Support(id));
        }
        _ => return false,
    }
    true
}
