//! Recorded reads: the fold of `record.accessed` and `access.denied` into each person's access
//! counters, and rule 8's proof that every recorded read had a valid basis at its entry.
//!
//! Owns: [`InvalidRead`] and [`basis_valid_at`]. Checking a recorded read is a fold step, so it
//! lives here and not in [`super::access`], which decides reads before they happen; neither
//! imports the other. Must not touch: I/O or clocks.

use serde::{Deserialize, Serialize};

use super::event::*;
use super::projection::{Key, Projections};
use super::stream::Stream;
use super::support::SupportStatus;
use super::types::*;

/// A `record.accessed` whose basis was not valid at that entry (rule 8; must never happen).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidRead {
    pub seq: u64,
    pub at: Time,
    pub subject: String,
    pub reader: String,
    pub basis: String,
    pub why: String,
}

/// Folds a recorded read or refusal.
/// Returns false when the entry does not fit the state (it is then counted as skipped).
pub(super) fn apply(p: &mut Projections, r: &Recorded, next: u64) -> bool {
    match &r.event {
        Event::RecordAccessed(e) => {
            let Some(subject) = Projections::stream_id(&r.stream, "access") else {
                return false;
            };
            // Rule 8: prove every read's basis was valid at the entry that records it.
            if let Err(why) = basis_valid_at(p, &r.actor_id, &subject, &e.basis, r) {
                p.invalid_reads.insert(
                    r.seq,
                    InvalidRead {
                        seq: r.seq,
                        at: r.at,
                        subject: subject.clone(),
                        reader: r.actor_id.clone(),
                        basis: e.basis.clone(),
                        why,
                    },
                );
                p.dirty.insert(Key::InvalidRead(r.seq));
            }
            let p = p.person(&subject);
            p.access_version = next;
            p.reads += 1;
        }
        Event::AccessDenied(_) => {
            let Some(subject) = Projections::stream_id(&r.stream, "access") else {
                return false;
            };
            let p = p.person(&subject);
            p.access_version = next;
            p.denials += 1;
        }
        _ => return false,
    }
    true
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
    let stream =
        Stream::parse(basis).ok_or_else(|| format!("basis {basis:?} is not <kind>:<id>"))?;
    let (kind, id) = (stream.kind(), stream.id());
    match (&stream, actor.role) {
        (Stream::Support(_), Role::PeerWorker) => {
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
        (Stream::Consent(_), Role::CareTeam) => {
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
        (Stream::Authority(_), Role::Representative) => {
            let a = p
                .authorities
                .get(id)
                .ok_or_else(|| format!("authority {id} does not exist"))?;
            if a.subject != subject {
                return Err(format!("authority {id} is not about {subject}"));
            }
            if a.representative != reader {
                return Err(format!("authority {id} is not {reader}'s"));
            }
            if !a.valid_at(r.seq, r.at) {
                return Err(format!("authority {id} was not in force at seq {}", r.seq));
            }
            // Reading a subject access request (its status, its bundle) is `subject_access`;
            // anything else is reading the record.
            let sar_only = match &r.event {
                Event::RecordAccessed(e) => {
                    !e.streams.is_empty()
                        && e.streams
                            .iter()
                            .all(|s| matches!(Stream::parse(s), Some(Stream::Sar(_))))
                }
                _ => false,
            };
            let needed = if sar_only {
                AuthorityScope::SubjectAccess
            } else {
                AuthorityScope::ReadRecord
            };
            if !a.allows(needed) {
                return Err(format!("authority {id} does not include {needed}"));
            }
            Ok(())
        }
        (Stream::Concern(_), Role::SafeguardingLead) => match p.concerns.get(id) {
            Some(c) if c.subject == subject => Ok(()),
            _ => Err(format!("concern {id} about {subject} does not exist")),
        },
        _ => Err(format!(
            "a {} cannot read on a {kind} basis",
            actor.role.as_str()
        )),
    }
}
