//! Refusals, and the checks every area shares: identifiers, segments, roles, active actors,
//! service users, times in the future, and who counts as the person or their worker.
//!
//! Owns: [`Code`], [`Refusal`] and the one no-basis answer ([`no_basis`]). Must not touch: I/O,
//! clocks, or any rule particular to one area (those are in the area's file).

use std::collections::BTreeSet;

use super::actors::ActorRec;
use super::decide::MAX_SEGMENTS;
use super::projection::Projections;
use super::stream::Stream;
use super::support::SupportRec;
use super::types::*;
use crate::content::MAX_SEGMENT_BYTES;

/// Which gRPC-style status a refusal (or, through `ServiceError::code`, any service error) maps
/// to. The last three are never a domain refusal's: they classify storage failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    InvalidArgument,
    FailedPrecondition,
    PermissionDenied,
    NotFound,
    AlreadyExists,
    Aborted,
    Unauthenticated,
    ResourceExhausted,
    /// A proof asked for beyond the log.
    OutOfRange,
    /// Storage failed or is not ready; nothing was acknowledged; retry later.
    Unavailable,
    /// Stored data is damaged.
    DataLoss,
}

/// Why a command was refused: the rule broken, the field, and what to do, in words a client
/// developer can act on. A refusal appends nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message} [{rule}]")]
pub struct Refusal {
    pub code: Code,
    /// A stable name of the rule, e.g. `note.latest_revision`.
    pub rule: &'static str,
    /// The command field at fault (`caller` for who is asking).
    pub field: String,
    pub message: String,
}

impl Refusal {
    pub fn new(
        code: Code,
        rule: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Refusal {
        Refusal {
            code,
            rule,
            field: field.into(),
            message: message.into(),
        }
    }

    /// `NOT_FOUND` under rule `exists`: "<what> does not exist".
    pub fn not_found(field: &str, what: impl std::fmt::Display) -> Refusal {
        Refusal::new(
            Code::NotFound,
            "exists",
            field,
            format!("{what} does not exist"),
        )
    }
}

pub(super) type R<T> = Result<T, Refusal>;

pub(super) fn invalid(rule: &'static str, field: &str, msg: impl Into<String>) -> Refusal {
    Refusal::new(Code::InvalidArgument, rule, field, msg)
}
pub(super) fn precondition(rule: &'static str, field: &str, msg: impl Into<String>) -> Refusal {
    Refusal::new(Code::FailedPrecondition, rule, field, msg)
}
pub(super) fn denied(rule: &'static str, msg: impl Into<String>) -> Refusal {
    Refusal::new(Code::PermissionDenied, rule, "caller", msg)
}
/// The one answer to a caller with no basis for what they named: the same whether it exists or
/// not, and naming nothing they did not send, so it tells them nothing about the person.
pub fn no_basis(field: &str, what: impl std::fmt::Display) -> Refusal {
    Refusal::new(
        Code::PermissionDenied,
        "no_basis",
        field,
        format!(
            "you have no recorded basis for {what}: it is not yours, not part of a relationship \
             you are in, or does not exist; nothing about it is disclosed"
        ),
    )
}

pub(super) fn exists(field: &str, what: impl std::fmt::Display) -> Refusal {
    Refusal::new(
        Code::AlreadyExists,
        "unique_id",
        field,
        format!("{what} already exists; choose a new id (or retry with the same command id)"),
    )
}

pub(super) fn check_id(field: &str, v: &str) -> R<()> {
    if is_id(v) {
        Ok(())
    } else {
        Err(invalid("identifier", field, ID_RULE))
    }
}

/// One passage of text: a valid id, some words, within the size limit of a segment.
pub(super) fn check_passage(field: &str, passage: &Passage) -> R<()> {
    check_id(&format!("{field}.id"), &passage.id)?;
    if passage.text.is_empty() {
        return Err(invalid(
            "segments",
            &format!("{field}.text"),
            format!(
                "the text of segment {} is empty; leave the segment out instead",
                passage.id
            ),
        ));
    }
    if passage.text.len() > MAX_SEGMENT_BYTES {
        return Err(Refusal::new(
            Code::ResourceExhausted,
            "segments",
            format!("{field}.text"),
            format!(
                "segment {} is {} bytes, over the {MAX_SEGMENT_BYTES} byte limit per segment; \
                 split the text",
                passage.id,
                passage.text.len()
            ),
        ));
    }
    Ok(())
}

/// The passages of a note revision, addendum or concern summary: at least one (unless
/// `allow_empty`), at most [`MAX_SEGMENTS`], each valid, ids unique within them.
pub(super) fn check_passages(field: &str, passages: &[Passage], allow_empty: bool) -> R<()> {
    if passages.is_empty() && !allow_empty {
        return Err(invalid(
            "segments",
            field,
            "needs at least one segment of text",
        ));
    }
    if passages.len() > MAX_SEGMENTS {
        return Err(Refusal::new(
            Code::ResourceExhausted,
            "segments",
            field,
            format!(
                "{} segments is over the limit of {MAX_SEGMENTS}",
                passages.len()
            ),
        ));
    }
    let mut seen = BTreeSet::new();
    for (i, passage) in passages.iter().enumerate() {
        check_passage(&format!("{field}[{i}]"), passage)?;
        if !seen.insert(&passage.id) {
            return Err(invalid(
                "segments",
                &format!("{field}[{i}].id"),
                format!(
                    "segment id {} appears twice; ids are unique within a note",
                    passage.id
                ),
            ));
        }
    }
    Ok(())
}

pub(super) fn active_actor<'a>(p: &'a Projections, field: &str, id: &str) -> R<&'a ActorRec> {
    let a = p
        .actors
        .get(id)
        .ok_or_else(|| Refusal::not_found(field, format!("actor {id}")))?;
    if !a.active {
        return Err(precondition(
            "actor.active",
            field,
            format!("actor {id} has been deactivated"),
        ));
    }
    Ok(a)
}

pub(super) fn service_user<'a>(p: &'a Projections, field: &str, id: &str) -> R<&'a ActorRec> {
    check_id(field, id)?;
    let a = active_actor(p, field, id)?;
    if a.role != Role::ServiceUser {
        return Err(invalid(
            "subject.role",
            field,
            format!(
                "{id} is a {}, not a service_user; records are about service users",
                a.role
            ),
        ));
    }
    Ok(a)
}

pub(super) fn role(caller: &ActorRec, allowed: &[Role], what: &str) -> R<()> {
    if allowed.contains(&caller.role) {
        Ok(())
    } else {
        Err(denied(
            "role",
            format!(
                "a {} may not {what} (allowed: {})",
                caller.role,
                allowed
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ))
    }
}

pub(super) fn future(field: &str, t: Time, now: Time) -> R<()> {
    if t > now {
        Ok(())
    } else {
        Err(invalid(
            "time.future",
            field,
            format!("{t} is not in the future (now is {now})"),
        ))
    }
}

/// The person themselves, or a peer worker with an accepted support relationship with them
/// (then `on_behalf`). Returns `(on_behalf, streams relied on)`.
pub(super) fn person_or_their_worker(
    p: &Projections,
    caller: &ActorRec,
    subject: &str,
    what: &str,
) -> R<(bool, Vec<Stream>)> {
    if caller.role == Role::ServiceUser {
        if caller.id == subject {
            return Ok((false, Vec::new()));
        }
        return Err(denied(
            "own_record",
            format!("a service user may {what} only for themselves"),
        ));
    }
    if caller.role == Role::PeerWorker {
        if let Some(s) = active_support(p, &caller.id, subject) {
            return Ok((true, vec![Stream::support(&s.support_id)]));
        }
        return Err(denied(
            "support.accepted",
            format!(
                "peer worker {} has no accepted support relationship with {subject}; \
                 only the person, or their peer worker on their behalf, may {what}",
                caller.id
            ),
        ));
    }
    Err(denied(
        "role",
        format!(
            "a {} may not {what}; only the person or their peer worker",
            caller.role
        ),
    ))
}

pub(super) fn active_support<'a>(
    p: &'a Projections,
    worker: &str,
    subject: &str,
) -> Option<&'a SupportRec> {
    p.people.get(subject).and_then(|pr| {
        pr.supports
            .iter()
            .filter_map(|id| p.supports.get(id))
            .find(|s| s.active_with(worker))
    })
}

/// Whether `caller` is the person `subject` themselves.
pub(super) fn is_person(caller: &ActorRec, subject: &str) -> bool {
    caller.role == Role::ServiceUser && caller.id == subject
}

/// The support relationship `id`, if the caller is its person or its worker; otherwise the
/// one no-basis answer, the same as for a relationship that does not exist.
pub(super) fn party_support<'a>(
    p: &'a Projections,
    caller: &ActorRec,
    id: &str,
) -> R<&'a SupportRec> {
    check_id("support_id", id)?;
    match p.supports.get(id) {
        Some(s) if is_person(caller, &s.subject) || caller.id == s.worker => Ok(s),
        _ => Err(no_basis("support_id", format!("support relationship {id}"))),
    }
}
