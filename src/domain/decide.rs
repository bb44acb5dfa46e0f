//! Commands and decisions: `(state, caller, command, now) → events | refusal`.
//!
//! Owns: every rule of domain.md that can refuse a command, and the events an accepted command
//! emits (with their streams and subjects, and the content to erase). Must not touch: I/O,
//! clocks, randomness — `now` and every id are passed in; text arrives already committed as
//! [`SegmentRef`]s. Reads are decided in [`super::access`], not here.
//!
//! Where domain.md is silent the rule chosen is written next to its check and in
//! ARCHITECTURE.md ("Domain rules").

use std::collections::BTreeSet;

use super::event::*;
use super::projection::*;
use super::stream::Stream;
use super::types::*;
use crate::format::Hash;

/// Most segments in one note revision, addendum or concern summary.
pub const MAX_SEGMENTS: usize = 64;
/// Longest a meeting may be recorded as, in minutes.
pub const MAX_MEETING_MINUTES: u32 = 24 * 60;
/// Furthest ahead a withholding's review date may be: a withholding must be looked at again.
pub const MAX_REVIEW_MS: u64 = 366 * Time::DAY;

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

/// A command, with its text already committed to segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    RegisterActor {
        id: String,
        role: Role,
        team: Option<String>,
        display: SegmentRef,
    },
    DeactivateActor {
        id: String,
        reason: DeactivationReason,
    },
    IssueToken {
        actor: String,
        token_hash: Hash,
        expires_at: Option<Time>,
    },
    RevokeToken {
        token_hash: Hash,
    },
    ReferSupport {
        support_id: String,
        subject: String,
        worker: String,
        source: ReferralSource,
    },
    OfferSupport {
        support_id: String,
    },
    AcceptSupport {
        support_id: String,
    },
    DeclineSupport {
        support_id: String,
    },
    EndSupport {
        support_id: String,
        reason: EndReason,
    },
    RecordMeeting {
        meeting_id: String,
        support_id: String,
        kind: MeetingKind,
        group_id: Option<String>,
        mode: MeetingMode,
        place: Place,
        place_detail: Option<SegmentRef>,
        occurred_at: Time,
        minutes: u32,
    },
    DraftNote {
        note_id: String,
        meeting_id: String,
        segments: Vec<SegmentRef>,
    },
    ReviseNote {
        note_id: String,
        segments: Vec<SegmentRef>,
    },
    ProposeRedaction {
        note_id: String,
        proposal_id: String,
        segments: Vec<String>,
        reason: RedactionReason,
    },
    AgreeRedaction {
        note_id: String,
        proposal_id: String,
    },
    DeclineRedaction {
        note_id: String,
        proposal_id: String,
        reason: Option<SegmentRef>,
    },
    WithdrawRedaction {
        note_id: String,
        proposal_id: String,
    },
    AgreeNote {
        note_id: String,
        revision: u64,
    },
    CloseNote {
        note_id: String,
        reason: CloseReason,
    },
    AddAddendum {
        note_id: String,
        segments: Vec<SegmentRef>,
    },
    GrantConsent {
        subject: String,
        consent_id: String,
        scope: Scope,
        grantee: Option<Grantee>,
        expires_at: Option<Time>,
    },
    RevokeConsent {
        subject: String,
        consent_id: String,
    },
    RaiseConcern {
        concern_id: String,
        subject: String,
        category: ConcernCategory,
        urgency: Urgency,
        summary: Vec<SegmentRef>,
    },
    AcknowledgeConcern {
        concern_id: String,
    },
    RecordOutcome {
        concern_id: String,
        outcome: ConcernOutcome,
        detail: SegmentRef,
    },
    InformSubject {
        concern_id: String,
        how: InformedHow,
    },
    Withhold {
        subject: String,
        target_stream: String,
        exemption: Exemption,
        justification: SegmentRef,
        review_by: Time,
    },
    Release {
        subject: String,
        target_stream: String,
    },
    RequestSar {
        sar_id: String,
        subject: String,
        via: SarVia,
    },
    FulfilSar {
        sar_id: String,
        bundle_hash: Hash,
        tree_size: u64,
        withheld: u64,
    },
}

/// One event to append, with where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emit {
    pub stream: String,
    pub subject: Option<String>,
    pub event: Event,
}

/// What an accepted command appends.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    pub events: Vec<Emit>,
    /// Commitments whose content is erased in the same durable step (rule 4).
    pub erase: Vec<Hash>,
    /// Streams not appended to whose state the decision relied on.
    pub depends: Vec<String>,
}

impl Decision {
    fn one(stream: Stream, subject: Option<String>, event: Event) -> Decision {
        Decision {
            events: vec![Emit {
                stream: stream.name(),
                subject,
                event,
            }],
            ..Decision::default()
        }
    }

    /// The commitments of every segment of text the decided events hold: what the service
    /// stores with them (nothing else that was staged is kept).
    pub fn segments(&self) -> BTreeSet<HexHash> {
        self.events
            .iter()
            .flat_map(|e| e.event.segments())
            .map(|s| s.commit)
            .collect()
    }

    fn depending(mut self, streams: impl IntoIterator<Item = Stream>) -> Decision {
        self.depends.extend(streams.into_iter().map(String::from));
        self
    }
}

type R<T> = Result<T, Refusal>;

fn invalid(rule: &'static str, field: &str, msg: impl Into<String>) -> Refusal {
    Refusal::new(Code::InvalidArgument, rule, field, msg)
}
fn precondition(rule: &'static str, field: &str, msg: impl Into<String>) -> Refusal {
    Refusal::new(Code::FailedPrecondition, rule, field, msg)
}
fn denied(rule: &'static str, msg: impl Into<String>) -> Refusal {
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

fn exists(field: &str, what: impl std::fmt::Display) -> Refusal {
    Refusal::new(
        Code::AlreadyExists,
        "unique_id",
        field,
        format!("{what} already exists; choose a new id (or retry with the same command id)"),
    )
}

fn check_id(field: &str, v: &str) -> R<()> {
    if is_id(v) {
        Ok(())
    } else {
        Err(invalid("identifier", field, ID_RULE))
    }
}

fn check_segments(field: &str, segs: &[SegmentRef], allow_empty: bool) -> R<()> {
    if segs.is_empty() && !allow_empty {
        return Err(invalid(
            "segments",
            field,
            "needs at least one segment of text",
        ));
    }
    if segs.len() > MAX_SEGMENTS {
        return Err(Refusal::new(
            Code::ResourceExhausted,
            "segments",
            field,
            format!(
                "{} segments is over the limit of {MAX_SEGMENTS}",
                segs.len()
            ),
        ));
    }
    let mut seen = BTreeSet::new();
    for (i, s) in segs.iter().enumerate() {
        check_id(&format!("{field}[{i}].id"), &s.id)?;
        if !seen.insert(&s.id) {
            return Err(invalid(
                "segments",
                &format!("{field}[{i}].id"),
                format!(
                    "segment id {} appears twice; ids are unique within a note",
                    s.id
                ),
            ));
        }
    }
    Ok(())
}

fn active_actor<'a>(p: &'a Projections, field: &str, id: &str) -> R<&'a ActorRec> {
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

fn service_user<'a>(p: &'a Projections, field: &str, id: &str) -> R<&'a ActorRec> {
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

fn role(caller: &ActorRec, allowed: &[Role], what: &str) -> R<()> {
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

fn future(field: &str, t: Time, now: Time) -> R<()> {
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
fn person_or_their_worker(
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

fn active_support<'a>(p: &'a Projections, worker: &str, subject: &str) -> Option<&'a SupportRec> {
    p.people.get(subject).and_then(|pr| {
        pr.supports
            .iter()
            .filter_map(|id| p.supports.get(id))
            .find(|s| s.active_with(worker))
    })
}

/// The note `id`, if the caller is one of its parties (the person, or its author); otherwise
/// the one no-basis answer, the same as for a note that does not exist.
fn party_note<'a>(p: &'a Projections, caller: &ActorRec, id: &str) -> R<&'a NoteRec> {
    check_id("note_id", id)?;
    match p.notes.get(id) {
        Some(n) if is_person(caller, &n.subject) || caller.id == n.author => Ok(n),
        _ => Err(no_basis("note_id", format!("note {id}"))),
    }
}

fn is_person(caller: &ActorRec, subject: &str) -> bool {
    caller.role == Role::ServiceUser && caller.id == subject
}

/// How a party acts on a note: the person always may; the author only while the support
/// relationship the note was made under is accepted (domain.md: a peer worker acts for people
/// with an accepted relationship). Returns `(by_person, streams relied on)`.
fn note_party(
    p: &Projections,
    n: &NoteRec,
    caller: &ActorRec,
    what: &str,
) -> R<(bool, Vec<Stream>)> {
    if is_person(caller, &n.subject) {
        return Ok((true, Vec::new()));
    }
    let support_id = p.meetings.get(&n.meeting_id).map(|m| m.support_id.clone());
    match support_id.as_deref().and_then(|id| p.supports.get(id)) {
        Some(s) if s.worker == caller.id && s.status == SupportStatus::Accepted => {
            Ok((false, vec![Stream::support(&s.support_id)]))
        }
        _ => Err(denied(
            "support.accepted",
            format!(
                "the support relationship note {} was written under is no longer accepted: \
                 its author may no longer {what} it (the person still can)",
                n.note_id
            ),
        )),
    }
}

fn note_emit(n: &NoteRec, event: Event) -> Decision {
    Decision::one(Stream::note(&n.note_id), Some(n.subject.clone()), event)
}

/// The support relationship `id`, if the caller is its person or its worker; otherwise the
/// one no-basis answer, the same as for a relationship that does not exist.
fn party_support<'a>(p: &'a Projections, caller: &ActorRec, id: &str) -> R<&'a SupportRec> {
    check_id("support_id", id)?;
    match p.supports.get(id) {
        Some(s) if is_person(caller, &s.subject) || caller.id == s.worker => Ok(s),
        _ => Err(no_basis("support_id", format!("support relationship {id}"))),
    }
}

fn concern<'a>(p: &'a Projections, id: &str) -> R<&'a ConcernRec> {
    check_id("concern_id", id)?;
    p.concerns
        .get(id)
        .ok_or_else(|| Refusal::not_found("concern_id", format!("concern {id}")))
}

/// The first admin: allowed only while no actor is registered. `caller_id` registers itself.
pub fn decide_bootstrap(p: &Projections, id: &str, display: SegmentRef) -> R<Decision> {
    check_id("id", id)?;
    if !p.actors.is_empty() {
        return Err(precondition(
            "bootstrap.once",
            "id",
            "actors are already registered; an admin registers further actors",
        ));
    }
    Ok(Decision::one(
        Stream::actor(id),
        None,
        Event::ActorRegistered(ActorRegistered {
            id: id.to_string(),
            role: Role::Admin,
            team: None,
            display,
        }),
    ))
}

/// Decides `cmd` by `caller` against `p` at `now`.
pub fn decide(p: &Projections, caller: &ActorRec, cmd: &Command, now: Time) -> R<Decision> {
    if !caller.active {
        return Err(Refusal::new(
            Code::Unauthenticated,
            "actor.active",
            "caller",
            format!("actor {} has been deactivated", caller.id),
        ));
    }
    match cmd {
        Command::RegisterActor {
            id,
            role: r,
            team,
            display,
        } => {
            role(caller, &[Role::Admin], "register actors")?;
            check_id("id", id)?;
            if p.actors.contains_key(id) {
                return Err(exists("id", format!("actor {id}")));
            }
            check_id("display.id", &display.id)?;
            match (r, team) {
                (Role::PeerWorker | Role::CareTeam, None) => {
                    return Err(invalid(
                        "actor.team",
                        "team",
                        format!("a {r} belongs to a team (consents name teams); give its id"),
                    ))
                }
                (_, Some(t)) => check_id("team", t)?,
                _ => {}
            }
            let subject = (*r == Role::ServiceUser).then(|| id.clone());
            Ok(Decision::one(
                Stream::actor(id),
                subject,
                Event::ActorRegistered(ActorRegistered {
                    id: id.clone(),
                    role: *r,
                    team: team.clone(),
                    display: display.clone(),
                }),
            ))
        }
        Command::DeactivateActor { id, reason } => {
            role(caller, &[Role::Admin], "deactivate actors")?;
            check_id("id", id)?;
            let a = active_actor(p, "id", id)?;
            if a.id == caller.id {
                return Err(precondition(
                    "actor.self",
                    "id",
                    "an admin cannot deactivate themselves; another admin must",
                ));
            }
            let subject = (a.role == Role::ServiceUser).then(|| id.clone());
            Ok(Decision::one(
                Stream::actor(id),
                subject,
                Event::ActorDeactivated(ActorDeactivated {
                    id: id.clone(),
                    reason: *reason,
                }),
            ))
        }
        Command::IssueToken {
            actor,
            token_hash,
            expires_at,
        } => {
            role(caller, &[Role::Admin], "issue tokens")?;
            check_id("actor", actor)?;
            let a = active_actor(p, "actor", actor)?;
            if p.tokens.contains_key(&crate::format::to_hex(token_hash)) {
                return Err(exists("token_hash", "this token"));
            }
            if let Some(e) = expires_at {
                future("expires_at", *e, now)?;
            }
            let subject = (a.role == Role::ServiceUser).then(|| actor.clone());
            Ok(Decision::one(
                Stream::actor(actor),
                subject,
                Event::TokenIssued(TokenIssued {
                    actor: actor.clone(),
                    token_hash: HexHash(*token_hash),
                    expires_at: *expires_at,
                }),
            ))
        }
        Command::RevokeToken { token_hash } => {
            role(caller, &[Role::Admin], "revoke tokens")?;
            let h = crate::format::to_hex(token_hash);
            let t = p
                .tokens
                .get(&h)
                .ok_or_else(|| Refusal::not_found("token_hash", "this token"))?;
            if t.revoked_at.is_some() {
                return Err(precondition(
                    "token.revoked",
                    "token_hash",
                    "the token is already revoked",
                ));
            }
            let subject = p
                .actors
                .get(&t.actor)
                .filter(|a| a.role == Role::ServiceUser)
                .map(|a| a.id.clone());
            Ok(Decision::one(
                Stream::actor(&t.actor),
                subject,
                Event::TokenRevoked(TokenRevoked {
                    token_hash: HexHash(*token_hash),
                }),
            ))
        }

        // ---- support relationship: opt-in --------------------------------------------------
        Command::ReferSupport {
            support_id,
            subject,
            worker,
            source,
        } => {
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
            let open = p.people.get(subject).and_then(|pr| {
                pr.supports
                    .iter()
                    .filter_map(|id| p.supports.get(id))
                    .find(|s| {
                        s.worker == *worker
                            && matches!(
                                s.status,
                                SupportStatus::Referred
                                    | SupportStatus::Offered
                                    | SupportStatus::Accepted
                            )
                    })
            });
            if let Some(s) = open {
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
                Some(subject.clone()),
                Event::SupportReferred(SupportReferred {
                    support_id: support_id.clone(),
                    worker: worker.clone(),
                    source: *source,
                }),
            )
            .depending([Stream::actor(worker), Stream::actor(subject)]))
        }
        Command::OfferSupport { support_id } => {
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
        Command::AcceptSupport { support_id } | Command::DeclineSupport { support_id } => {
            let accept = matches!(cmd, Command::AcceptSupport { .. });
            let s = party_support(p, caller, support_id)?;
            let on_behalf = if caller.role == Role::ServiceUser && caller.id == s.subject {
                false
            } else if caller.id == s.worker {
                true
            } else {
                return Err(denied(
                    "support.choice",
                    "peer support is the person's choice: only they, or the named worker \
                     recording what they said in person, may accept or decline it",
                ));
            };
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
        Command::EndSupport { support_id, reason } => {
            let s = party_support(p, caller, support_id)?;
            if !((caller.role == Role::ServiceUser && caller.id == s.subject)
                || caller.id == s.worker)
            {
                return Err(denied(
                    "support.parties",
                    "only the person or the worker may end a support relationship",
                ));
            }
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

        // ---- meetings ----------------------------------------------------------------------
        Command::RecordMeeting {
            meeting_id,
            support_id,
            kind,
            group_id,
            mode,
            place,
            place_detail,
            occurred_at,
            minutes,
        } => {
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
                check_id("place_detail.id", &d.id)?;
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
                    meeting_id: meeting_id.clone(),
                    support_id: support_id.clone(),
                    worker: s.worker.clone(),
                    kind: *kind,
                    group_id: group_id.clone(),
                    mode: *mode,
                    place: *place,
                    place_detail: place_detail.clone(),
                    occurred_at: *occurred_at,
                    minutes: *minutes,
                }),
            )
            .depending([Stream::support(support_id)]))
        }

        // ---- notes: co-production ----------------------------------------------------------
        Command::DraftNote {
            note_id,
            meeting_id,
            segments,
        } => {
            check_id("note_id", note_id)?;
            check_id("meeting_id", meeting_id)?;
            let m = match p.meetings.get(meeting_id) {
                Some(m) if caller.id == m.worker || is_person(caller, &m.subject) => m,
                _ => return Err(no_basis("meeting_id", format!("meeting {meeting_id}"))),
            };
            if caller.id != m.worker {
                return Err(denied("note.author", format!("only the worker who met the person ({}) drafts the note of meeting {meeting_id}", m.worker)));
            }
            let s = p.supports.get(&m.support_id).ok_or_else(|| {
                Refusal::not_found("meeting_id", format!("support of meeting {meeting_id}"))
            })?;
            if s.status != SupportStatus::Accepted {
                return Err(precondition(
                    "support.accepted",
                    "meeting_id",
                    format!(
                        "support {} is {:?}; notes are drafted only while support is accepted",
                        s.support_id, s.status
                    ),
                ));
            }
            if p.notes.contains_key(note_id) {
                return Err(exists("note_id", format!("note {note_id}")));
            }
            check_segments("segments", segments, false)?;
            Ok(Decision::one(
                Stream::note(note_id),
                Some(m.subject.clone()),
                Event::NoteDrafted(NoteDrafted {
                    note_id: note_id.clone(),
                    meeting_id: meeting_id.clone(),
                    segments: segments.clone(),
                }),
            )
            .depending([Stream::support(&m.support_id), Stream::meeting(meeting_id)]))
        }
        Command::ReviseNote { note_id, segments } => {
            let n = party_note(p, caller, note_id)?;
            let (_, depends) = note_party(p, n, caller, "revise")?;
            if n.status != NoteStatus::Open || n.agreed_revision.is_some() {
                return Err(precondition("note.open", "note_id", format!("note {note_id} is {:?}; an agreed note changes only by addendum, a closed one not at all", n.status)));
            }
            check_segments("segments", segments, false)?;
            no_removed(n, segments)?;
            Ok(note_emit(
                n,
                Event::NoteRevised(NoteRevised {
                    segments: segments.clone(),
                }),
            )
            .depending(depends))
        }
        Command::AddAddendum { note_id, segments } => {
            let n = party_note(p, caller, note_id)?;
            let (_, depends) = note_party(p, n, caller, "add an addendum to")?;
            if n.status != NoteStatus::Agreed {
                return Err(precondition("note.addendum_after_agreement", "note_id", format!("note {note_id} is {:?}; addenda are added to agreed notes (revise a draft instead)", n.status)));
            }
            check_segments("segments", segments, false)?;
            let existing: BTreeSet<&String> = n
                .revisions
                .iter()
                .flat_map(|r| r.segments.iter().map(|s| &s.id))
                .collect();
            for (i, s) in segments.iter().enumerate() {
                if existing.contains(&s.id) {
                    return Err(Refusal::new(
                        Code::AlreadyExists,
                        "segments",
                        format!("segments[{i}].id"),
                        format!(
                            "segment id {} is already used in note {note_id}; addenda use new ids",
                            s.id
                        ),
                    ));
                }
            }
            Ok(note_emit(
                n,
                Event::NoteAddendum(NoteAddendum {
                    segments: segments.clone(),
                }),
            )
            .depending(depends))
        }
        Command::ProposeRedaction {
            note_id,
            proposal_id,
            segments,
            reason,
        } => {
            let n = party_note(p, caller, note_id)?;
            let (_, depends) = note_party(p, n, caller, "propose a redaction in")?;
            check_id("proposal_id", proposal_id)?;
            if n.proposals.contains_key(proposal_id) {
                return Err(exists("proposal_id", format!("proposal {proposal_id}")));
            }
            if segments.is_empty() {
                return Err(invalid(
                    "redaction.segments",
                    "segments",
                    "name at least one segment id to remove",
                ));
            }
            let current: BTreeSet<&String> =
                n.current_segments().into_iter().map(|s| &s.id).collect();
            let pending: BTreeSet<&String> = n
                .proposals
                .values()
                .filter(|p| p.status == ProposalStatus::Pending)
                .flat_map(|p| p.segments.iter())
                .collect();
            let mut seen = BTreeSet::new();
            for (i, id) in segments.iter().enumerate() {
                let f = format!("segments[{i}]");
                check_id(&f, id)?;
                if !seen.insert(id) {
                    return Err(invalid(
                        "redaction.segments",
                        &f,
                        format!("segment {id} is named twice"),
                    ));
                }
                if n.removed.contains_key(id) {
                    return Err(precondition(
                        "redaction.once",
                        &f,
                        format!("segment {id} was already removed by agreement"),
                    ));
                }
                if !current.contains(id) {
                    return Err(Refusal::not_found(
                        &f,
                        format!("segment {id} in the current text of note {note_id}"),
                    ));
                }
                if pending.contains(id) {
                    return Err(precondition("redaction.one_pending", &f, format!("segment {id} is already in a pending proposal; agree, decline or withdraw that first")));
                }
            }
            Ok(note_emit(
                n,
                Event::RedactionProposed(RedactionProposed {
                    proposal_id: proposal_id.clone(),
                    segments: segments.clone(),
                    reason: *reason,
                }),
            )
            .depending(depends))
        }
        Command::AgreeRedaction {
            note_id,
            proposal_id,
        }
        | Command::DeclineRedaction {
            note_id,
            proposal_id,
            ..
        } => {
            let n = party_note(p, caller, note_id)?;
            let by_person = is_person(caller, &n.subject);
            let pr = pending_proposal(n, proposal_id)?;
            // The person's wish not to have something recorded does not lapse with the
            // relationship: the author may still agree to a removal the person proposed. Anything
            // else the author decides needs the relationship to be accepted.
            let agreeing_to_person = matches!(cmd, Command::AgreeRedaction { .. }) && pr.by_person;
            let depends = if by_person || agreeing_to_person {
                Vec::new()
            } else {
                note_party(p, n, caller, "decline a redaction in")?.1
            };
            if pr.by_person == by_person {
                return Err(denied("redaction.other_party", "a redaction proposal needs the other party's agreement: the proposer cannot agree or decline it (withdraw it instead)"));
            }
            if let Command::DeclineRedaction { reason, .. } = cmd {
                match reason {
                    None if !by_person => {
                        return Err(invalid("redaction.decline_reason", "reason", "a worker may decline a person's proposal only with a written reason, which the person sees"))
                    }
                    Some(r) => check_id("reason.id", &r.id)?,
                    None => {}
                }
                return Ok(note_emit(
                    n,
                    Event::RedactionDeclined(RedactionDeclined {
                        proposal_id: proposal_id.clone(),
                        reason: reason.clone(),
                    }),
                )
                .depending(depends));
            }
            let mut d = note_emit(
                n,
                Event::RedactionAgreed(RedactionAgreed {
                    proposal_id: proposal_id.clone(),
                }),
            )
            .depending(depends);
            d.erase = n
                .commits_of(&pr.segments)
                .into_iter()
                .map(|h| h.0)
                .collect();
            Ok(d)
        }
        Command::WithdrawRedaction {
            note_id,
            proposal_id,
        } => {
            let n = party_note(p, caller, note_id)?;
            let (by_person, depends) = note_party(p, n, caller, "withdraw a redaction in")?;
            let pr = pending_proposal(n, proposal_id)?;
            if pr.by_person != by_person {
                return Err(denied("redaction.proposer", "only the proposer may withdraw a proposal; the other party agrees or declines it"));
            }
            Ok(note_emit(
                n,
                Event::RedactionWithdrawn(RedactionWithdrawn {
                    proposal_id: proposal_id.clone(),
                }),
            )
            .depending(depends))
        }
        Command::AgreeNote { note_id, revision } => {
            let n = party_note(p, caller, note_id)?;
            let (by_person, depends) = note_party(p, n, caller, "agree")?;
            if n.status != NoteStatus::Open {
                return Err(precondition(
                    "note.open",
                    "note_id",
                    format!("note {note_id} is {:?}", n.status),
                ));
            }
            if *revision != n.revision {
                return Err(precondition("note.latest_revision", "revision", format!("note {note_id} is at revision {}; agreement is on the latest revision (read it again, then agree {})", n.revision, n.revision)));
            }
            let mine = if by_person {
                n.person_agreed
            } else {
                n.author_agreed
            };
            if mine == Some(*revision) {
                return Err(precondition(
                    "note.agreed_once",
                    "revision",
                    format!("you have already agreed revision {revision}"),
                ));
            }
            if n.has_pending_proposal() {
                return Err(precondition(
                    "note.no_pending_redaction",
                    "note_id",
                    "a redaction proposal is pending; decide it before agreeing the note",
                ));
            }
            Ok(note_emit(
                n,
                Event::NoteAgreed(NoteAgreed {
                    revision: *revision,
                }),
            )
            .depending(depends))
        }
        Command::CloseNote { note_id, reason } => {
            let n = party_note(p, caller, note_id)?;
            if caller.id != n.author {
                return Err(denied("note.author", format!("only the author ({}) closes a note without agreement; the person can propose redactions or decline to agree", n.author)));
            }
            let (_, depends) = note_party(p, n, caller, "close")?;
            if n.status != NoteStatus::Open || n.agreed_revision.is_some() {
                return Err(precondition("note.open", "note_id", format!("note {note_id} is {:?}; only a note never agreed can be closed without agreement", n.status)));
            }
            Ok(note_emit(n, Event::NoteClosed(NoteClosed { reason: *reason })).depending(depends))
        }

        // ---- consent -----------------------------------------------------------------------
        Command::GrantConsent {
            subject,
            consent_id,
            scope,
            grantee,
            expires_at,
        } => {
            check_id("subject", subject)?;
            let (on_behalf, depends) = person_or_their_worker(p, caller, subject, "grant consent")?;
            service_user(p, "subject", subject)?;
            check_id("consent_id", consent_id)?;
            if p.consents
                .get(subject)
                .is_some_and(|l| l.consents.contains_key(consent_id))
            {
                return Err(exists("consent_id", format!("consent {consent_id}")));
            }
            match (scope, grantee) {
                (Scope::ShareWithCareTeam, Some(Grantee::Team(t))) => check_id("grantee", t)?,
                (Scope::ShareWithCareTeam, _) => {
                    return Err(invalid(
                        "consent.grantee",
                        "grantee",
                        "share_with_care_team names a team id",
                    ))
                }
                (Scope::ShareWithPerson, Some(Grantee::Person(s))) => {
                    check_id("grantee.id", &s.id)?
                }
                (Scope::ShareWithPerson, _) => {
                    return Err(invalid(
                        "consent.grantee",
                        "grantee",
                        "share_with_person names the person (as text)",
                    ))
                }
                (_, Some(_)) => {
                    return Err(invalid(
                        "consent.grantee",
                        "grantee",
                        format!("{scope} takes no grantee"),
                    ))
                }
                (_, None) => {}
            }
            if let Some(e) = expires_at {
                future("expires_at", *e, now)?;
            }
            Ok(Decision::one(
                Stream::consent(subject),
                Some(subject.clone()),
                Event::ConsentGranted(ConsentGranted {
                    consent_id: consent_id.clone(),
                    scope: *scope,
                    grantee: grantee.clone(),
                    expires_at: *expires_at,
                    on_behalf,
                }),
            )
            .depending(depends))
        }
        Command::RevokeConsent {
            subject,
            consent_id,
        } => {
            check_id("subject", subject)?;
            let (on_behalf, depends) =
                person_or_their_worker(p, caller, subject, "revoke consent")?;
            check_id("consent_id", consent_id)?;
            let c = p
                .consents
                .get(subject)
                .and_then(|l| l.consents.get(consent_id))
                .ok_or_else(|| {
                    Refusal::not_found("consent_id", format!("consent {consent_id} of {subject}"))
                })?;
            if c.revoked_seq.is_some() {
                return Err(precondition(
                    "consent.revoked",
                    "consent_id",
                    format!("consent {consent_id} is already revoked"),
                ));
            }
            Ok(Decision::one(
                Stream::consent(subject),
                Some(subject.clone()),
                Event::ConsentRevoked(ConsentRevoked {
                    consent_id: consent_id.clone(),
                    on_behalf,
                }),
            )
            .depending(depends))
        }

        // ---- safeguarding ------------------------------------------------------------------
        Command::RaiseConcern {
            concern_id,
            subject,
            category,
            urgency,
            summary,
        } => {
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
            check_segments("summary", summary, false)?;
            Ok(Decision::one(
                Stream::concern(concern_id),
                Some(subject.clone()),
                Event::SafeguardingRaised(SafeguardingRaised {
                    concern_id: concern_id.clone(),
                    category: *category,
                    urgency: *urgency,
                    summary: summary.clone(),
                }),
            )
            .depending(depends))
        }
        Command::AcknowledgeConcern { concern_id } => {
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
        Command::RecordOutcome {
            concern_id,
            outcome,
            detail,
        } => {
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
            check_id("detail.id", &detail.id)?;
            Ok(Decision::one(
                Stream::concern(concern_id),
                Some(c.subject.clone()),
                Event::SafeguardingOutcome(SafeguardingOutcome {
                    outcome: *outcome,
                    detail: detail.clone(),
                }),
            ))
        }
        Command::InformSubject { concern_id, how } => {
            role(
                caller,
                &[Role::SafeguardingLead],
                "record that the person was informed",
            )?;
            let c = concern(p, concern_id)?;
            Ok(Decision::one(
                Stream::concern(concern_id),
                Some(c.subject.clone()),
                Event::SubjectInformed(SubjectInformed { how: *how }),
            ))
        }
        Command::Withhold {
            subject,
            target_stream,
            exemption,
            justification,
            review_by,
        } => {
            role(
                caller,
                &[Role::SafeguardingLead],
                "withhold an item from a person's view",
            )?;
            service_user(p, "subject", subject)?;
            let about = match Stream::parse(target_stream) {
                Some(Stream::Note(id)) => p.notes.get(&id).map(|n| n.subject.as_str()),
                Some(Stream::Concern(id)) => p.concerns.get(&id).map(|c| c.subject.as_str()),
                _ => {
                    return Err(invalid(
                        "disclosure.target",
                        "target_stream",
                        "only a note:<id> or concern:<id> can be withheld",
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
            check_id("justification.id", &justification.id)?;
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
                Some(subject.clone()),
                Event::DisclosureWithheld(DisclosureWithheld {
                    target_stream: target_stream.clone(),
                    exemption: *exemption,
                    justification: justification.clone(),
                    review_by: *review_by,
                }),
            ))
        }
        Command::Release {
            subject,
            target_stream,
        } => {
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
                Some(subject.clone()),
                Event::DisclosureReleased(DisclosureReleased {
                    target_stream: target_stream.clone(),
                }),
            ))
        }

        // ---- subject access ----------------------------------------------------------------
        Command::RequestSar {
            sar_id,
            subject,
            via,
        } => {
            check_id("subject", subject)?;
            let (_, depends) = person_or_their_worker(p, caller, subject, "request their data")?;
            service_user(p, "subject", subject)?;
            check_id("sar_id", sar_id)?;
            if p.sars.contains_key(sar_id) {
                return Err(exists("sar_id", format!("subject access request {sar_id}")));
            }
            Ok(Decision::one(
                Stream::sar(sar_id),
                Some(subject.clone()),
                Event::SarRequested(SarRequested {
                    sar_id: sar_id.clone(),
                    via: *via,
                }),
            )
            .depending(depends))
        }
        Command::FulfilSar {
            sar_id,
            bundle_hash,
            tree_size,
            withheld,
        } => {
            role(caller, &[Role::Auditor], "fulfil a subject access request")?;
            check_id("sar_id", sar_id)?;
            let s = p.sars.get(sar_id).ok_or_else(|| {
                Refusal::not_found("sar_id", format!("subject access request {sar_id}"))
            })?;
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
                    sar_id: sar_id.clone(),
                    bundle_hash: HexHash(*bundle_hash),
                    tree_size: *tree_size,
                    withheld: *withheld,
                }),
            )
            .depending([Stream::disclosure(&s.subject)]))
        }
    }
}

fn pending_proposal<'a>(n: &'a NoteRec, id: &str) -> R<&'a ProposalRec> {
    check_id("proposal_id", id)?;
    let pr = n.proposals.get(id).ok_or_else(|| {
        Refusal::not_found(
            "proposal_id",
            format!("proposal {id} in note {}", n.note_id),
        )
    })?;
    if pr.status != ProposalStatus::Pending {
        return Err(precondition(
            "redaction.pending",
            "proposal_id",
            format!("proposal {id} is {:?}, no longer pending", pr.status),
        ));
    }
    Ok(pr)
}

/// Rule 4: what was removed by agreement does not come back in a later revision.
fn no_removed(n: &NoteRec, segments: &[SegmentRef]) -> R<()> {
    let removed_commits: BTreeSet<HexHash> = n
        .commits_of(&n.removed.keys().cloned().collect::<Vec<_>>())
        .into_iter()
        .collect();
    for (i, s) in segments.iter().enumerate() {
        if n.removed.contains_key(&s.id) || removed_commits.contains(&s.commit) {
            return Err(precondition(
                "redaction.stays_removed",
                &format!("segments[{i}]"),
                format!(
                    "segment {} was removed by agreement and cannot be put back",
                    s.id
                ),
            ));
        }
    }
    Ok(())
}

/// Given / when / then on the pure core: a state folded from events, a command, the events (or
/// the refusal) it decides. No store, no clock — the service's tests cover the same rules end to
/// end; these show the core alone decides them.
#[cfg(test)]
mod tests {
    use super::*;

    fn seg(id: &str, n: u8) -> SegmentRef {
        SegmentRef {
            id: id.into(),
            commit: HexHash([n; 32]),
            chars: 10,
        }
    }

    /// One entry to fold: stream, subject, actor, event.
    type Given = (String, Option<String>, String, Event);

    fn ev(stream: &str, subject: Option<&str>, actor: &str, event: Event) -> Given {
        (stream.into(), subject.map(Into::into), actor.into(), event)
    }

    /// Folds the entries into projections, in order.
    fn given(events: Vec<Given>) -> Projections {
        let mut p = Projections::new();
        let mut versions = std::collections::BTreeMap::new();
        for (seq, (stream, subject, actor, event)) in events.into_iter().enumerate() {
            let v = versions.entry(stream.clone()).or_insert(0u64);
            p.apply(&Recorded {
                seq: seq as u64,
                at: Time(1_000 + seq as u64),
                stream,
                version: *v,
                subject,
                actor_id: actor,
                actor_role: String::new(),
                command: None,
                event,
            });
            *v += 1;
        }
        p
    }

    fn registered(id: &str, role: Role, team: Option<&str>) -> Given {
        ev(
            &Stream::actor(id).name(),
            (role == Role::ServiceUser).then_some(id),
            "admin",
            Event::ActorRegistered(ActorRegistered {
                id: id.into(),
                role,
                team: team.map(Into::into),
                display: seg("display", 0),
            }),
        )
    }

    /// Sam and Amara with an accepted relationship, a meeting and a drafted note (s1, s2).
    fn with_draft() -> Vec<Given> {
        vec![
            registered("admin", Role::Admin, None),
            registered("su-sam", Role::ServiceUser, None),
            registered("pw-amara", Role::PeerWorker, Some("peer")),
            ev(
                "support:sp",
                Some("su-sam"),
                "pw-amara",
                Event::SupportReferred(SupportReferred {
                    support_id: "sp".into(),
                    worker: "pw-amara".into(),
                    source: ReferralSource::CareTeam,
                }),
            ),
            ev(
                "support:sp",
                Some("su-sam"),
                "pw-amara",
                Event::SupportOffered(SupportOffered {}),
            ),
            ev(
                "support:sp",
                Some("su-sam"),
                "su-sam",
                Event::SupportAccepted(SupportAccepted { on_behalf: false }),
            ),
            ev(
                "meeting:m",
                Some("su-sam"),
                "pw-amara",
                Event::MeetingRecorded(MeetingRecorded {
                    meeting_id: "m".into(),
                    support_id: "sp".into(),
                    worker: "pw-amara".into(),
                    kind: MeetingKind::OneToOne,
                    group_id: None,
                    mode: MeetingMode::InPerson,
                    place: Place::Clinic,
                    place_detail: None,
                    occurred_at: Time(0),
                    minutes: 30,
                }),
            ),
            ev(
                "note:n",
                Some("su-sam"),
                "pw-amara",
                Event::NoteDrafted(NoteDrafted {
                    note_id: "n".into(),
                    meeting_id: "m".into(),
                    segments: vec![seg("s1", 1), seg("s2", 2)],
                }),
            ),
        ]
    }

    #[test]
    fn given_a_pending_proposal_when_the_author_agrees_then_the_passage_is_erased_in_every_revision(
    ) {
        let mut events = with_draft();
        events.push(ev(
            "note:n",
            Some("su-sam"),
            "su-sam",
            Event::NoteRevised(NoteRevised {
                segments: vec![seg("s1", 1), seg("s2", 3)],
            }),
        ));
        events.push(ev(
            "note:n",
            Some("su-sam"),
            "su-sam",
            Event::RedactionProposed(RedactionProposed {
                proposal_id: "r".into(),
                segments: vec!["s2".into()],
                reason: RedactionReason::NotWanted,
            }),
        ));
        let p = given(events);
        let amara = p.actors["pw-amara"].clone();
        let d = decide(
            &p,
            &amara,
            &Command::AgreeRedaction {
                note_id: "n".into(),
                proposal_id: "r".into(),
            },
            Time(5_000),
        )
        .unwrap();
        assert_eq!(
            d.events,
            vec![Emit {
                stream: "note:n".into(),
                subject: Some("su-sam".into()),
                event: Event::RedactionAgreed(RedactionAgreed {
                    proposal_id: "r".into()
                })
            }]
        );
        assert_eq!(d.erase, vec![[2; 32], [3; 32]]);
    }

    #[test]
    fn given_a_draft_when_the_person_agrees_an_old_revision_then_it_is_refused_naming_the_rule() {
        let mut events = with_draft();
        events.push(ev(
            "note:n",
            Some("su-sam"),
            "pw-amara",
            Event::NoteRevised(NoteRevised {
                segments: vec![seg("s1", 4)],
            }),
        ));
        let p = given(events);
        let sam = p.actors["su-sam"].clone();
        let r = decide(
            &p,
            &sam,
            &Command::AgreeNote {
                note_id: "n".into(),
                revision: 1,
            },
            Time(5_000),
        )
        .unwrap_err();
        assert_eq!(
            (r.code, r.rule, r.field.as_str()),
            (Code::FailedPrecondition, "note.latest_revision", "revision")
        );
        assert!(r.message.contains("revision 2"), "{}", r.message);
    }

    #[test]
    fn given_consent_to_one_team_then_only_that_teams_reader_is_allowed_and_not_after_expiry() {
        use crate::domain::access::{decide_read, ReadDecision};
        let mut events = with_draft();
        events.push(registered("ct-a", Role::CareTeam, Some("north")));
        events.push(registered("ct-b", Role::CareTeam, Some("south")));
        events.push(ev(
            "consent:su-sam",
            Some("su-sam"),
            "su-sam",
            Event::ConsentGranted(ConsentGranted {
                consent_id: "c".into(),
                scope: Scope::ShareWithCareTeam,
                grantee: Some(Grantee::Team("north".into())),
                expires_at: Some(Time(9_000)),
                on_behalf: false,
            }),
        ));
        let p = given(events);
        let allowed = decide_read(&p, &p.actors["ct-a"], "su-sam", Time(8_999));
        assert!(
            matches!(allowed, ReadDecision::Allowed { ref basis, deadline: Some(Time(9_000)), .. } if basis == "consent:c"),
            "{allowed:?}"
        );
        assert!(matches!(
            decide_read(&p, &p.actors["ct-b"], "su-sam", Time(5_000)),
            ReadDecision::Denied {
                reason: DenialReason::NoConsent,
                ..
            }
        ));
        assert!(matches!(
            decide_read(&p, &p.actors["ct-a"], "su-sam", Time(9_000)),
            ReadDecision::Denied {
                reason: DenialReason::NoConsent,
                ..
            }
        ));
    }
}
