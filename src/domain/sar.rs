//! Subject access: requests, their fulfilment within a calendar month, and the items withheld
//! from the person's own view under a recorded exemption.
//!
//! Owns: `sar.requested`, `sar.fulfilled`, `disclosure.withheld`, `disclosure.released`, their
//! rules, [`SarRec`] and [`DisclosureLedger`]. Must not touch: I/O, clocks, or bundles (composed
//! by the service from the log; only their hash is recorded here).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::actors::ActorRec;
use super::calendar;
use super::checks::*;
use super::decide::{Commit, Decision};
use super::event::*;
use super::projection::{Key, Projections};
use super::stream::Stream;
use super::types::*;
use crate::format::Hash;

/// Furthest ahead a withholding's review date may be: a withholding must be looked at again.
pub const MAX_REVIEW_MS: u64 = 366 * Time::DAY;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithholdingRec {
    pub target_stream: String,
    pub exemption: Exemption,
    pub justification: SegmentRef,
    pub review_by: Time,
    pub withheld_at: Time,
    pub withheld_by: String,
    pub released_at: Option<Time>,
    pub released_by: Option<String>,
}

/// Withholdings of one person (stream `disclosure:<subject>`), in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisclosureLedger {
    pub items: Vec<WithholdingRec>,
    pub version: u64,
}

impl DisclosureLedger {
    pub fn active(&self) -> impl Iterator<Item = &WithholdingRec> {
        self.items.iter().filter(|w| w.released_at.is_none())
    }

    /// How many items are withheld now (rule 7's count; an item withheld twice counts once).
    pub fn withheld_count(&self) -> u64 {
        self.active()
            .map(|w| w.target_stream.as_str())
            .collect::<BTreeSet<_>>()
            .len() as u64
    }

    pub fn is_withheld(&self, stream: &str) -> bool {
        self.active().any(|w| w.target_stream == stream)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SarRec {
    pub sar_id: String,
    pub subject: String,
    pub via: SarVia,
    pub requested_by: String,
    pub requested_at: Time,
    /// One calendar month after the request's date (UTC), `YYYY-MM-DD`.
    pub due_date: String,
    /// The end of the due date: fulfilled at or after this is late.
    pub due_at: Time,
    pub fulfilled_at: Option<Time>,
    pub fulfilled_by: Option<String>,
    pub bundle_hash: Option<HexHash>,
    pub tree_size: Option<u64>,
    pub withheld: Option<u64>,
    pub version: u64,
}

#[allow(clippy::too_many_arguments)]
pub(super) fn withhold(
    p: &Projections,
    caller: &ActorRec,
    subject: &str,
    target_stream: &str,
    exemption: &Exemption,
    justification: &Passage,
    review_by: &Time,
    now: Time,
    commit: &mut dyn Commit,
) -> R<Decision> {
    role(
        caller,
        &[Role::SafeguardingLead],
        "withhold an item from a person's view",
    )?;
    service_user(p, "subject", subject)?;
    let about = match Stream::parse(target_stream) {
        Some(Stream::Note(id)) => p.notes.get(&id).map(|n| n.subject.as_str()),
        Some(Stream::Concern(id)) => p.concerns.get(&id).map(|c| c.subject.as_str()),
        Some(Stream::Discussion(id)) => p.discussions.get(&id).map(|d| d.subject.as_str()),
        _ => {
            return Err(invalid(
                "disclosure.target",
                "target_stream",
                "only a note:<id>, concern:<id> or discussion:<id> can be withheld",
            ))
        }
    };
    match about {
        None => return Err(Refusal::not_found("target_stream", target_stream)),
        Some(s) if s != subject => {
            return Err(invalid(
                "disclosure.target",
                "target_stream",
                format!("{target_stream} is not about {subject}"),
            ))
        }
        _ => {}
    }
    if p.is_withheld(subject, target_stream) {
        return Err(precondition(
            "disclosure.once",
            "target_stream",
            format!("{target_stream} is already withheld"),
        ));
    }
    check_passage("justification", justification)?;
    future("review_by", *review_by, now)?;
    if review_by.0 > now.0.saturating_add(MAX_REVIEW_MS) {
        return Err(invalid(
            "disclosure.review",
            "review_by",
            "a withholding must be reviewed within 366 days",
        ));
    }
    Ok(Decision::one(
        Stream::disclosure(subject),
        Some(subject.to_string()),
        Event::DisclosureWithheld(DisclosureWithheld {
            target_stream: target_stream.to_string(),
            exemption: *exemption,
            justification: commit.commit(justification),
            review_by: *review_by,
        }),
    ))
}

pub(super) fn release(
    p: &Projections,
    caller: &ActorRec,
    subject: &str,
    target_stream: &str,
) -> R<Decision> {
    role(caller, &[Role::SafeguardingLead], "release a withheld item")?;
    check_id("subject", subject)?;
    if !p.is_withheld(subject, target_stream) {
        return Err(precondition(
            "disclosure.withheld",
            "target_stream",
            format!("{target_stream} is not withheld from {subject}"),
        ));
    }
    Ok(Decision::one(
        Stream::disclosure(subject),
        Some(subject.to_string()),
        Event::DisclosureReleased(DisclosureReleased {
            target_stream: target_stream.to_string(),
        }),
    ))
}

pub(super) fn request_sar(
    p: &Projections,
    caller: &ActorRec,
    sar_id: &str,
    subject: &str,
    via: &SarVia,
    now: Time,
) -> R<Decision> {
    check_id("subject", subject)?;
    let (_, depends) = if caller.role == Role::Representative {
        // A representative under an authority in force with `subject_access`; without one,
        // the one no-basis answer, whether or not the person exists.
        let a = super::authority::in_force_for(
            p,
            &caller.id,
            subject,
            AuthorityScope::SubjectAccess,
            now,
        )
        .ok_or_else(|| no_basis("subject", format!("a subject access request for {subject}")))?;
        (true, vec![Stream::authority(&a.authority_id)])
    } else {
        person_or_their_worker(p, caller, subject, "request their data")?
    };
    service_user(p, "subject", subject)?;
    check_id("sar_id", sar_id)?;
    if p.sars.contains_key(sar_id) {
        return Err(exists("sar_id", format!("subject access request {sar_id}")));
    }
    Ok(Decision::one(
        Stream::sar(sar_id),
        Some(subject.to_string()),
        Event::SarRequested(SarRequested {
            sar_id: sar_id.to_string(),
            via: *via,
        }),
    )
    .depending(depends))
}

pub(super) fn fulfil_sar(
    p: &Projections,
    caller: &ActorRec,
    sar_id: &str,
    bundle_hash: &Hash,
    tree_size: &u64,
    withheld: &u64,
) -> R<Decision> {
    role(caller, &[Role::Auditor], "fulfil a subject access request")?;
    check_id("sar_id", sar_id)?;
    let s = p
        .sars
        .get(sar_id)
        .ok_or_else(|| Refusal::not_found("sar_id", format!("subject access request {sar_id}")))?;
    if s.fulfilled_at.is_some() {
        return Err(precondition(
            "sar.once",
            "sar_id",
            format!("{sar_id} is already fulfilled"),
        ));
    }
    Ok(Decision::one(
        Stream::sar(sar_id),
        Some(s.subject.clone()),
        Event::SarFulfilled(SarFulfilled {
            sar_id: sar_id.to_string(),
            bundle_hash: HexHash(*bundle_hash),
            tree_size: *tree_size,
            withheld: *withheld,
        }),
    )
    .depending([Stream::disclosure(&s.subject)]))
}

/// Folds a subject access or withholding event.
/// Returns false when the entry does not fit the state (it is then counted as skipped).
pub(super) fn apply(p: &mut Projections, r: &Recorded, next: u64) -> bool {
    match &r.event {
        Event::DisclosureWithheld(e) => {
            let Some(subject) = Projections::stream_id(&r.stream, "disclosure") else {
                return false;
            };
            let l = p.disclosures.entry(subject.clone()).or_default();
            l.items.push(WithholdingRec {
                target_stream: e.target_stream.clone(),
                exemption: e.exemption,
                justification: e.justification.clone(),
                review_by: e.review_by,
                withheld_at: r.at,
                withheld_by: r.actor_id.clone(),
                released_at: None,
                released_by: None,
            });
            l.version = next;
            p.dirty.insert(Key::Disclosures(subject));
        }
        Event::DisclosureReleased(e) => {
            let Some(subject) = Projections::stream_id(&r.stream, "disclosure") else {
                return false;
            };
            let Some(l) = p.disclosures.get_mut(&subject) else {
                return false;
            };
            for w in l.items.iter_mut() {
                if w.target_stream == e.target_stream && w.released_at.is_none() {
                    w.released_at = Some(r.at);
                    w.released_by = Some(r.actor_id.clone());
                }
            }
            l.version = next;
            p.dirty.insert(Key::Disclosures(subject));
        }
        Event::SarRequested(e) => {
            let Some(subject) = r.subject.clone() else {
                return false;
            };
            let (due_date, due_at) = calendar::one_month_after(r.at);
            p.sars.insert(
                e.sar_id.clone(),
                SarRec {
                    sar_id: e.sar_id.clone(),
                    subject: subject.clone(),
                    via: e.via,
                    requested_by: r.actor_id.clone(),
                    requested_at: r.at,
                    due_date,
                    due_at,
                    fulfilled_at: None,
                    fulfilled_by: None,
                    bundle_hash: None,
                    tree_size: None,
                    withheld: None,
                    version: next,
                },
            );
            p.dirty.insert(Key::Sar(e.sar_id.clone()));
            p.person_ids(&subject).sars.insert(e.sar_id.clone());
        }
        Event::SarFulfilled(e) => {
            let Some(s) = p.sars.get_mut(&e.sar_id) else {
                return false;
            };
            s.fulfilled_at = Some(r.at);
            s.fulfilled_by = Some(r.actor_id.clone());
            s.bundle_hash = Some(e.bundle_hash);
            s.tree_size = Some(e.tree_size);
            s.withheld = Some(e.withheld);
            s.version = next;
            p.dirty.insert(Key::Sar(e.sar_id.clone()));
        }
        _ => return false,
    }
    true
}
