//! Access decisions: the one place that decides whether anyone may read anything about a person
//! — their record ([`decide_read`]), their access log ([`decide_access_log`]), a subject access
//! request's status and bundle ([`decide_sar_read`]) — and the audit-side reads that hold no
//! person's content but are still reserved to roles ([`decide_audit`]: metadata, compliance
//! flags, fulfilling a request, the raw log, verification, subscriptions).
//!
//! Owns: given the reader, the person and the state at that moment → allowed with its basis and
//! scope, or refused with the reason; and the after-the-fact proof (rule 8) that a recorded read's
//! basis was valid at the entry that recorded it. Must not touch: I/O, clocks, content. The
//! service and the gRPC layer ask this module and hold no role check of their own (a tidy test
//! fails on a role comparison outside `src/domain/`); the service appends `record.accessed` or
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
//! - a representative reads what the person sees of their own record (nothing withheld from the
//!   person, and of the person's authorities only their own) under an authority in force with
//!   `read_record` (basis `authority:<id>`), and a subject access request's status and bundle
//!   under one with `subject_access`; each such read is logged;
//! - auditors and admins never read content: refused, and the refusal is logged;
//! - anybody else (another service user) is refused.

use std::collections::BTreeSet;

use super::actors::ActorRec;
use super::authority::in_force_for;
use super::checks::{Code, Refusal};
use super::projection::Projections;
use super::sar::SarRec;
use super::stream::Stream;
use super::types::{AuthorityScope, DenialReason, Role, Time};

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
    /// A representative under an authority: what the person sees, with only this
    /// representative's own authorities.
    Representative { representative: String },
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
                        .map(|id| Stream::support(id).name())
                        .collect()
                })
                .unwrap_or_default();
            match ids.iter().next() {
                Some(first) => ReadDecision::Allowed {
                    basis: Stream::support(first).name(),
                    depends: ids.iter().map(|id| Stream::support(id).name()).collect(),
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
            let stream = Stream::consent(subject).name();
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
                    basis: Stream::consent(&c.consent_id).name(),
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
                    basis: Stream::concern(&c.concern_id).name(),
                    scope: Scope::Safeguarding,
                    depends: vec![Stream::concern(&c.concern_id).name()],
                    deadline: None,
                },
                None => ReadDecision::Denied {
                    reason: DenialReason::OutOfScope,
                    depends: Vec::new(),
                },
            }
        }
        Role::Representative => {
            match in_force_for(p, &reader.id, subject, AuthorityScope::ReadRecord, now) {
                Some(a) => ReadDecision::Allowed {
                    basis: Stream::authority(&a.authority_id).name(),
                    scope: Scope::Representative {
                        representative: reader.id.clone(),
                    },
                    depends: vec![Stream::authority(&a.authority_id).name()],
                    deadline: a.expires_at,
                },
                // The same refusal whether the person exists or not.
                None => ReadDecision::Denied {
                    reason: DenialReason::NoBasis,
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

/// A read on the audit side: it shows no person's content, but is reserved to roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditRead {
    /// A person's record without any text (`Records` metadata).
    RecordMetadata,
    /// Rule 8's compliance flags.
    ComplianceFlags,
    /// Fulfilling a subject access request (the bundle goes to the person, never the caller).
    FulfilSar,
    /// Entries of the raw log (metadata: entries hold no content).
    ListEntries,
    /// Verifying the whole store.
    Verify,
    /// Following the log live.
    Subscribe,
    /// The list of actors and their roles.
    ListActors,
    /// The retention plan: who would be erased and when (dates, rules, holds; no content).
    RetentionPlan,
    /// The log's entries up to a tree size, with its checkpoint (`Audit.ExportLog`; no content).
    ExportLog,
    /// A backup of the whole store (`Admin.Backup`): the entries and everyone's sealed content
    /// with the salts that open it — a copy of the data directory, for the one who runs it.
    Backup,
}

impl AuditRead {
    /// The roles allowed, and what the refusal calls the action.
    fn rule(self) -> (&'static [Role], &'static str) {
        const AUDITOR: &[Role] = &[Role::Auditor];
        const AUDITOR_OR_ADMIN: &[Role] = &[Role::Auditor, Role::Admin];
        const ADMIN: &[Role] = &[Role::Admin];
        match self {
            AuditRead::RecordMetadata => (AUDITOR, "read record metadata"),
            AuditRead::ComplianceFlags => (AUDITOR, "read compliance flags"),
            AuditRead::FulfilSar => (AUDITOR, "fulfil a subject access request (the DPO does)"),
            AuditRead::ListEntries => (AUDITOR_OR_ADMIN, "list entries"),
            AuditRead::Verify => (AUDITOR_OR_ADMIN, "verify the store"),
            AuditRead::Subscribe => (AUDITOR_OR_ADMIN, "subscribe to the log"),
            AuditRead::ListActors => (AUDITOR_OR_ADMIN, "list actors"),
            AuditRead::RetentionPlan => (AUDITOR_OR_ADMIN, "read the retention plan"),
            AuditRead::ExportLog => (AUDITOR_OR_ADMIN, "export the log"),
            AuditRead::Backup => (ADMIN, "take a backup of the store"),
        }
    }
}

/// May `reader` make this audit-side read? The refusal names the roles that may.
pub fn decide_audit(reader: &ActorRec, what: AuditRead) -> Result<(), Refusal> {
    let (roles, action) = what.rule();
    if roles.contains(&reader.role) {
        return Ok(());
    }
    Err(Refusal::new(
        Code::PermissionDenied,
        "role",
        "caller",
        format!(
            "a {} may not {action} (allowed: {})",
            reader.role,
            roles
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ))
}

/// Who may read a person's access log: the person (their own) and auditors (it holds no
/// content). Everyone else is refused, and the refusal is logged like any refused read —
/// whether or not the person exists, so the answer tells them nothing.
pub fn decide_access_log(reader: &ActorRec, subject: &str) -> Result<(), DenialReason> {
    if reader.role == Role::ServiceUser && reader.id == subject {
        return Ok(());
    }
    match reader.role {
        Role::Auditor => Ok(()),
        Role::Admin => Err(DenialReason::MetadataOnlyRole),
        // A representative reads the record, not who else read it: the access log names the
        // person's staff and other representatives, and is the person's own to see.
        Role::PeerWorker
        | Role::CareTeam
        | Role::SafeguardingLead
        | Role::ServiceUser
        | Role::Representative => Err(DenialReason::NoBasis),
    }
}

/// What is read of a subject access request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SarRead {
    /// Its state and due date: the person, their peer worker (an accepted relationship), and
    /// auditors.
    Status,
    /// The bundle of the person's record: the person only.
    Bundle,
}

/// May `reader` have a bundle of their own record now ("check my record")? Only a person has a
/// record; anyone else is told so (they named no one, so there is nothing to log or to hide).
pub fn decide_own_bundle(reader: &ActorRec) -> Result<(), Refusal> {
    if reader.role == Role::ServiceUser {
        Ok(())
    } else {
        Err(Refusal::new(
            Code::PermissionDenied,
            "own_record",
            "caller",
            format!(
                "a {} has no record of their own here; records are about service users",
                reader.role
            ),
        ))
    }
}

/// May `reader` read `sar` (a request about `sar.subject`)? A refusal is logged by the caller.
pub fn decide_sar_read(
    p: &Projections,
    reader: &ActorRec,
    sar: &SarRec,
    what: SarRead,
) -> Result<(), DenialReason> {
    if reader.role == Role::ServiceUser && reader.id == sar.subject {
        return Ok(());
    }
    match (what, reader.role) {
        (SarRead::Status, Role::Auditor) => Ok(()),
        (SarRead::Status, Role::PeerWorker) => {
            let supports = p.people.get(&sar.subject).is_some_and(|pr| {
                pr.supports
                    .iter()
                    .filter_map(|id| p.supports.get(id))
                    .any(|s| s.active_with(&reader.id))
            });
            if supports {
                Ok(())
            } else {
                Err(DenialReason::NoSupportRelationship)
            }
        }
        (_, Role::Auditor | Role::Admin) => Err(DenialReason::MetadataOnlyRole),
        _ => Err(DenialReason::NoBasis),
    }
}

/// How a permitted read of a subject access request is made: by one of its parties (the person,
/// their worker, an auditor: not logged), or by a representative, logged as `record.accessed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SarAccess {
    Party,
    Logged {
        basis: String,
        /// Streams whose state this decision relied on: the append is conditional on them.
        depends: Vec<String>,
        /// The read must be recorded before this time (the authority's expiry).
        deadline: Option<Time>,
    },
}

/// May `reader` read `sar` at `now`? As [`decide_sar_read`], and a representative under an
/// authority in force with `subject_access` reads its status and bundle (logged); without one,
/// the same refusal as anyone without a basis.
pub fn decide_sar_access(
    p: &Projections,
    reader: &ActorRec,
    sar: &SarRec,
    what: SarRead,
    now: Time,
) -> Result<SarAccess, DenialReason> {
    if reader.role == Role::Representative {
        return match in_force_for(
            p,
            &reader.id,
            &sar.subject,
            AuthorityScope::SubjectAccess,
            now,
        ) {
            Some(a) => Ok(SarAccess::Logged {
                basis: Stream::authority(&a.authority_id).name(),
                depends: vec![Stream::authority(&a.authority_id).name()],
                deadline: a.expires_at,
            }),
            None => Err(DenialReason::NoBasis),
        };
    }
    decide_sar_read(p, reader, sar, what).map(|()| SarAccess::Party)
}
