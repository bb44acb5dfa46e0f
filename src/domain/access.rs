//! Access decisions: the one place that decides whether anyone may read a person's content.
//!
//! Owns: given the reader, the person and the state at that moment → allowed with its basis and
//! scope, or refused with the reason; and the after-the-fact proof (rule 8) that a recorded read's
//! basis was valid at the entry that recorded it. Must not touch: I/O, clocks, content. The
//! service calls [`decide_read`] for every read and appends `record.accessed` or
//! `access.denied` with what it returns; [`super::view`] only composes what the scope allows.
//!
//! Rules (domain.md "Actors and roles", written out in ARCHITECTURE.md "Access"):
//! - the person reads everything about themselves except items withheld under an exemption;
//!   their own reads are not logged (they are not "anyone other than that person");
//! - a peer worker reads what belongs to their *accepted, not ended* support relationships with
//!   the person (basis `support:<id>`), plus concerns they raised;
//! - a care team member reads the person's *agreed* notes and meetings only under a consent
//!   `share_with_care_team` naming their team, in force at the read (basis `consent:<id>`);
//! - a safeguarding lead reads the person's concerns and withholdings (basis `concern:<id>`);
//! - auditors and admins never read content: refused, and the refusal is logged;
//! - anybody else (another service user) is refused.

use std::collections::BTreeSet;

use super::event::Recorded;
use super::projection::{ActorRec, Projections, SupportStatus};
use super::types::{DenialReason, Role, Time};

/// What a permitted reader may see of the person's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The person: everything not withheld.
    Own,
    /// A peer worker: items of these support relationships, and concerns they raised.
    Support {
        worker: String,
        support_ids: BTreeSet<String>,
    },
    /// A care team member under a consent: agreed notes and meetings.
    CareTeam,
    /// A safeguarding lead: concerns and withholdings.
    Safeguarding,
}

/// The outcome of [`decide_read`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadDecision {
    /// The person reading their own record; not logged.
    Own,
    /// Allowed; the read is logged as `record.accessed` with `basis`.
    Allowed {
        basis: String,
        scope: Scope,
        /// Streams whose state this decision relied on: the append is conditional on them.
        depends: Vec<String>,
        /// The read must be recorded before this time (a consent's expiry).
        deadline: Option<Time>,
    },
    /// Refused; logged as `access.denied`.
    Denied {
        reason: DenialReason,
        depends: Vec<String>,
    },
}

/// Decides a read of `subject`'s record by `reader` at `now`, against the state `p`.
pub fn decide_read(p: &Projections, reader: &ActorRec, subject: &str, now: Time) -> ReadDecision {
    if reader.id == subject && reader.role == Role::ServiceUser {
        return ReadDecision::Own;
    }
    let person = p.people.get(subject);
    match reader.role {
        Role::PeerWorker => {
            let ids: BTreeSet<String> = person
                .map(|pr| {
                    pr.supports
                        .iter()
                        .filter(|id| {
                            p.supports
                                .get(*id)
                                .is_some_and(|s| s.active_with(&reader.id))
                        })
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            let all: Vec<String> = person
                .map(|pr| {
                    pr.supports
                        .iter()
                        .map(|id| format!("support:{id}"))
                        .collect()
                })
                .unwrap_or_default();
            match ids.iter().next() {
                Some(first) => ReadDecision::Allowed {
                    basis: format!("support:{first}"),
                    depends: ids.iter().map(|id| format!("support:{id}")).collect(),
                    scope: Scope::Support {
                        worker: reader.id.clone(),
                        support_ids: ids.clone(),
                    },
                    deadline: None,
                },
                None => ReadDecision::Denied {
                    reason: DenialReason::NoSupportRelationship,
                    depends: all,
                },
            }
        }
        Role::CareTeam => {
            let stream = format!("consent:{subject}");
            let team = reader.team.as_deref().unwrap_or("");
            let consent = p.consents.get(subject).and_then(|l| {
                l.consents
                    .values()
                    .filter(|c| c.in_force(now) && c.names_team(team))
                    // The consent that lasts longest decides the deadline.
                    .max_by_key(|c| (c.expires_at.is_none(), c.expires_at))
            });
            match consent {
                Some(c) => ReadDecision::Allowed {
                    basis: format!("consent:{}", c.consent_id),
                    scope: Scope::CareTeam,
                    depends: vec![stream],
                    deadline: c.expires_at,
                },
                None => ReadDecision::Denied {
                    reason: DenialReason::NoConsent,
                    depends: vec![stream],
                },
            }
        }
        Role::SafeguardingLead => {
            let latest = person.and_then(|pr| {
                pr.concerns
                    .iter()
                    .filter_map(|id| p.concerns.get(id))
                    .max_by_key(|c| (c.raised_at, c.concern_id.clone()))
            });
            match latest {
                Some(c) => ReadDecision::Allowed {
                    basis: format!("concern:{}", c.concern_id),
                    scope: Scope::Safeguarding,
                    depends: vec![format!("concern:{}", c.concern_id)],
                    deadline: None,
                },
                None => ReadDecision::Denied {
                    reason: DenialReason::OutOfScope,
                    depends: Vec::new(),
                },
            }
        }
        Role::Auditor | Role::Admin => ReadDecision::Denied {
            reason: DenialReason::MetadataOnlyRole,
            depends: Vec::new(),
        },
        Role::ServiceUser => ReadDecision::Denied {
            reason: DenialReason::NoBasis,
            depends: Vec::new(),
        },
    }
}

/// Rule 8's proof: was `basis` valid for `reader` reading `subject` at entry `r`, given the state
/// `p` just before `r`? `Err` says why not.
pub fn basis_valid_at(
    p: &Projections,
    reader: &str,
    subject: &str,
    basis: &str,
    r: &Recorded,
) -> Result<(), String> {
    let actor = p
        .actors
        .get(reader)
        .ok_or_else(|| format!("reader {reader} is not a registered actor"))?;
    if !actor.active {
        return Err(format!("reader {reader} was deactivated"));
    }
    let (kind, id) = basis
        .split_once(':')
        .ok_or_else(|| format!("basis {basis:?} is not <kind>:<id>"))?;
    match (kind, actor.role) {
        ("support", Role::PeerWorker) => {
            let s = p
                .supports
                .get(id)
                .ok_or_else(|| format!("support {id} does not exist"))?;
            if s.subject != subject {
                return Err(format!("support {id} is not about {subject}"));
            }
            if s.worker != reader || s.status != SupportStatus::Accepted {
                return Err(format!(
                    "support {id} was {:?} with worker {}, not accepted with {reader}",
                    s.status, s.worker
                ));
            }
            Ok(())
        }
        ("consent", Role::CareTeam) => {
            let c = p
                .consents
                .get(subject)
                .and_then(|l| l.consents.get(id))
                .ok_or_else(|| format!("consent {id} of {subject} does not exist"))?;
            if !c.names_team(actor.team.as_deref().unwrap_or("")) {
                return Err(format!("consent {id} does not name {reader}'s team"));
            }
            if !c.valid_at(r.seq, r.at) {
                return Err(format!("consent {id} was not in force at seq {}", r.seq));
            }
            Ok(())
        }
        ("concern", Role::SafeguardingLead) => match p.concerns.get(id) {
            Some(c) if c.subject == subject => Ok(()),
            _ => Err(format!("concern {id} about {subject} does not exist")),
        },
        _ => Err(format!(
            "a {} cannot read on a {kind} basis",
            actor.role.as_str()
        )),
    }
}
