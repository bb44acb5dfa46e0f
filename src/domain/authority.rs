//! Representatives: a carer, a parent or an attorney acting for the person under an authority
//! that is recorded — the person's own consent, a lasting power of attorney for health and
//! welfare, or parental responsibility — with a scope and an expiry.
//!
//! Owns: `authority.granted`, `authority.ended`, their rules, and [`AuthorityRec`] with when it
//! is in force ([`AuthorityRec::in_force`], [`AuthorityRec::valid_at`]). Must not touch: I/O,
//! clocks, or other areas' records. Whether an authority is a basis for a read is decided in
//! [`super::access`] (and proven after the fact in [`super::reads`]) from [`in_force_for`].
//!
//! Rules (DOMAIN.md "Representatives"):
//! - basis `consent`: only the person grants it, and the person may end it;
//! - basis `lasting_power_of_attorney` or `parental_responsibility`: only an admin records it,
//!   having seen the document, whose description is the `evidence` (required); the person cannot
//!   end it (the document decides, not the log) — an admin ends it;
//! - an admin may end any authority; the representative may step down from theirs;
//! - the representative is an active actor of role `representative`; the scope holds at least
//!   one of `read_record`, `subject_access`, each once; an expiry is in the future; ids are new;
//! - expiry is checked at every use: no event marks it.

use serde::{Deserialize, Serialize};

use super::actors::ActorRec;
use super::checks::*;
use super::decide::{Commit, Decision};
use super::event::*;
use super::projection::{Key, Projections};
use super::stream::Stream;
use super::types::*;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorityRec {
    pub authority_id: String,
    pub subject: String,
    pub representative: String,
    pub relation: Relation,
    pub basis: AuthorityBasis,
    pub scope: Vec<AuthorityScope>,
    pub expires_at: Option<Time>,
    pub evidence: Option<SegmentRef>,
    pub granted_by: String,
    pub granted_at: Time,
    pub granted_seq: u64,
    pub ended_at: Option<Time>,
    pub ended_seq: Option<u64>,
    pub ended_by: Option<String>,
    pub end_reason: Option<AuthorityEndReason>,
    pub version: u64,
}

impl AuthorityRec {
    /// In force now (for a decision about the next entry): not ended, not expired.
    pub fn in_force(&self, now: Time) -> bool {
        self.ended_seq.is_none() && self.expires_at.is_none_or(|e| now < e)
    }

    /// In force for a read recorded at entry `seq` stamped `at`: granted by an earlier entry,
    /// not ended by an earlier entry, not expired at `at`.
    pub fn valid_at(&self, seq: u64, at: Time) -> bool {
        self.granted_seq < seq
            && self.ended_seq.is_none_or(|e| e > seq)
            && self.expires_at.is_none_or(|e| at < e)
    }

    pub fn allows(&self, what: AuthorityScope) -> bool {
        self.scope.contains(&what)
    }
}

/// The authority in force at `now` under which `representative` may do `what` for `subject`:
/// the one that lasts longest, when several are.
pub fn in_force_for<'a>(
    p: &'a Projections,
    representative: &str,
    subject: &str,
    what: AuthorityScope,
    now: Time,
) -> Option<&'a AuthorityRec> {
    p.people
        .get(subject)?
        .authorities
        .iter()
        .filter_map(|id| p.authorities.get(id))
        .filter(|a| {
            a.subject == subject
                && a.representative == representative
                && a.allows(what)
                && a.in_force(now)
        })
        .max_by_key(|a| (a.expires_at.is_none(), a.expires_at))
}

#[allow(clippy::too_many_arguments)]
pub(super) fn grant_authority(
    p: &Projections,
    caller: &ActorRec,
    subject: &str,
    authority_id: &str,
    representative: &str,
    relation: &Relation,
    basis: &AuthorityBasis,
    scope: &[AuthorityScope],
    expires_at: &Option<Time>,
    evidence: &Option<Passage>,
    now: Time,
    commit: &mut dyn Commit,
) -> R<Decision> {
    check_id("subject", subject)?;
    match basis {
        AuthorityBasis::Consent => {
            if !is_person(caller, subject) {
                return Err(denied(
                    "authority.granter",
                    format!(
                        "an authority on the person's consent is granted by the person only, \
                         not by a {}",
                        caller.role
                    ),
                ));
            }
        }
        AuthorityBasis::LastingPowerOfAttorney | AuthorityBasis::ParentalResponsibility => {
            if caller.role != Role::Admin {
                return Err(denied(
                    "authority.granter",
                    format!(
                        "an authority under {basis} is recorded by an admin who has seen the \
                         document, not by a {}",
                        caller.role
                    ),
                ));
            }
        }
    }
    service_user(p, "subject", subject)?;
    check_id("authority_id", authority_id)?;
    check_id("representative", representative)?;
    let r = active_actor(p, "representative", representative)?;
    if r.role != Role::Representative {
        return Err(invalid(
            "authority.representative",
            "representative",
            format!(
                "{representative} is a {}, not a representative; register the representative \
                 with role representative",
                r.role
            ),
        ));
    }
    if scope.is_empty() {
        return Err(invalid(
            "authority.scope",
            "scope",
            format!(
                "name at least one thing the representative may do ({})",
                AuthorityScope::expected()
            ),
        ));
    }
    for (i, s) in scope.iter().enumerate() {
        if scope[..i].contains(s) {
            return Err(invalid(
                "authority.scope",
                "scope",
                format!("{s} appears twice"),
            ));
        }
    }
    if let Some(e) = expires_at {
        future("expires_at", *e, now)?;
    }
    match evidence {
        Some(e) => check_passage("evidence", e)?,
        None if *basis != AuthorityBasis::Consent => {
            return Err(invalid(
                "authority.evidence",
                "evidence",
                format!("say which document was seen (an authority under {basis} rests on it)"),
            ))
        }
        None => {}
    }
    if p.authorities.contains_key(authority_id) {
        return Err(exists("authority_id", format!("authority {authority_id}")));
    }
    Ok(Decision::one(
        Stream::authority(authority_id),
        Some(subject.to_string()),
        Event::AuthorityGranted(AuthorityGranted {
            authority_id: authority_id.to_string(),
            representative: representative.to_string(),
            relation: *relation,
            basis: *basis,
            scope: scope.to_vec(),
            expires_at: *expires_at,
            evidence: evidence.as_ref().map(|e| commit.commit(e)),
        }),
    )
    .depending([Stream::actor(representative), Stream::actor(subject)]))
}

pub(super) fn end_authority(
    p: &Projections,
    caller: &ActorRec,
    authority_id: &str,
    reason: &AuthorityEndReason,
) -> R<Decision> {
    check_id("authority_id", authority_id)?;
    // The person, the representative and admins are its parties; anyone else is told nothing.
    let a = match p.authorities.get(authority_id) {
        Some(a)
            if is_person(caller, &a.subject)
                || caller.id == a.representative
                || caller.role == Role::Admin =>
        {
            a
        }
        _ => {
            return Err(no_basis(
                "authority_id",
                format!("authority {authority_id}"),
            ))
        }
    };
    if is_person(caller, &a.subject) && a.basis != AuthorityBasis::Consent {
        return Err(denied(
            "authority.end",
            format!(
                "authority {authority_id} rests on {}, not on your consent: an admin ends it \
                 when the document no longer holds",
                a.basis
            ),
        ));
    }
    if a.ended_seq.is_some() {
        return Err(precondition(
            "authority.state",
            "authority_id",
            format!("authority {authority_id} has already ended"),
        ));
    }
    Ok(Decision::one(
        Stream::authority(authority_id),
        Some(a.subject.clone()),
        Event::AuthorityEnded(AuthorityEnded { reason: *reason }),
    ))
}

/// Folds an authority event.
/// Returns false when the entry does not fit the state (it is then counted as skipped).
pub(super) fn apply(p: &mut Projections, r: &Recorded, next: u64) -> bool {
    match &r.event {
        Event::AuthorityGranted(e) => {
            let Some(subject) = r.subject.clone() else {
                return false;
            };
            p.authorities.insert(
                e.authority_id.clone(),
                AuthorityRec {
                    authority_id: e.authority_id.clone(),
                    subject: subject.clone(),
                    representative: e.representative.clone(),
                    relation: e.relation,
                    basis: e.basis,
                    scope: e.scope.clone(),
                    expires_at: e.expires_at,
                    evidence: e.evidence.clone(),
                    granted_by: r.actor_id.clone(),
                    granted_at: r.at,
                    granted_seq: r.seq,
                    ended_at: None,
                    ended_seq: None,
                    ended_by: None,
                    end_reason: None,
                    version: next,
                },
            );
            p.dirty.insert(Key::Authority(e.authority_id.clone()));
            p.person_ids(&subject)
                .authorities
                .insert(e.authority_id.clone());
        }
        Event::AuthorityEnded(e) => {
            let Some(id) = Projections::stream_id(&r.stream, "authority") else {
                return false;
            };
            let Some(a) = p.authorities.get_mut(&id) else {
                return false;
            };
            a.ended_at = Some(r.at);
            a.ended_seq = Some(r.seq);
            a.ended_by = Some(r.actor_id.clone());
            a.end_reason = Some(e.reason);
            a.version = next;
            p.dirty.insert(Key::Authority(id));
        }
        _ => return false,
    }
    true
}
