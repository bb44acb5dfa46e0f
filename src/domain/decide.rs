//! Commands and decisions: `(state, caller, command, now) → events | refusal`.
//!
//! Owns: the [`Command`] vocabulary, what a [`Decision`] holds, and the one dispatch from a
//! command to the area that handles it. The rules themselves are in the area slices —
//! [`super::actors`], [`super::support`], [`super::meetings`], [`super::notes`],
//! [`super::consent`], [`super::safeguarding`], [`super::sar`], [`super::discussions`],
//! [`super::statements`], [`super::goals`], [`super::retention`] — with the checks they share in
//! [`super::checks`]. Must not touch: I/O, clocks, randomness — `now` and every id are passed in.
//! Reads are decided in [`super::access`], not here.
//!
//! Where domain.md is silent the rule chosen is written next to its check and in DOMAIN.md.

use std::collections::BTreeSet;

use super::actors::{self, ActorRec};
use super::checks::{Code, Refusal, R};
use super::discussions::DiscussionBasis;
use super::event::*;
use super::stream::Stream;
use super::types::*;
use super::{
    authority, consent, discussions, goals, meetings, notes, retention, safeguarding, sar,
    statements, support, Projections,
};
use crate::format::Hash;

pub use super::meetings::MAX_MEETING_MINUTES;
pub use super::sar::MAX_REVIEW_MS;

/// Most segments in one note revision, addendum or concern summary.
pub const MAX_SEGMENTS: usize = 64;

/// A command, with its text as plain [`Passage`]s: committed only if it is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    RegisterActor {
        id: String,
        role: Role,
        team: Option<String>,
        display: Passage,
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
    /// A one-time sign-in code for the person `actor`, by its keyed digest (the service makes
    /// the code and its digest; the domain never sees the code).
    IssueSignInCode {
        actor: String,
        code_digest: Hash,
        expires_at: Time,
    },
    /// Links the identity whose keyed digest is `identity` (the service computes it from the
    /// subject, which the domain never sees) at `issuer` to `actor`.
    LinkIdentity {
        actor: String,
        issuer: String,
        identity: Hash,
    },
    /// Cuts `actor`'s link at `issuer`.
    UnlinkIdentity {
        actor: String,
        issuer: String,
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
        place_detail: Option<Passage>,
        occurred_at: Time,
        minutes: u32,
        /// Open goals of the person the meeting worked on.
        goals: Vec<String>,
        activities: Vec<Activity<Passage>>,
    },
    PlanMeeting {
        meeting_id: String,
        support_id: String,
        mode: MeetingMode,
        place: Place,
        place_detail: Option<Passage>,
        planned_for: Time,
        minutes: u32,
    },
    ProposePlace {
        meeting_id: String,
        place: Place,
        place_detail: Option<Passage>,
        on_behalf: bool,
    },
    AgreePlace {
        meeting_id: String,
        on_behalf: bool,
    },
    CancelMeeting {
        meeting_id: String,
        by: Party,
    },
    MarkNotAttended {
        meeting_id: String,
    },
    HoldMeeting {
        meeting_id: String,
        occurred_at: Time,
        minutes: u32,
        goals: Vec<String>,
        activities: Vec<Activity<Passage>>,
    },
    FormGroup {
        group_id: String,
        name: Passage,
        facilitators: Vec<String>,
    },
    SetGoal {
        goal_id: String,
        support_id: String,
        words: Vec<Passage>,
        co_produced: bool,
    },
    ReviewGoal {
        goal_id: String,
        words: Vec<Passage>,
    },
    CloseGoal {
        goal_id: String,
        outcome: GoalOutcome,
        words: Vec<Passage>,
    },
    DraftNote {
        note_id: String,
        meeting_id: String,
        segments: Vec<Passage>,
    },
    ReviseNote {
        note_id: String,
        segments: Vec<Passage>,
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
        reason: Option<Passage>,
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
        segments: Vec<Passage>,
    },
    GrantConsent {
        subject: String,
        consent_id: String,
        scope: Scope,
        grantee: Option<Grantee<Passage>>,
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
        summary: Vec<Passage>,
    },
    AcknowledgeConcern {
        concern_id: String,
    },
    RecordOutcome {
        concern_id: String,
        outcome: ConcernOutcome,
        detail: Passage,
    },
    InformSubject {
        concern_id: String,
        how: InformedHow,
    },
    Withhold {
        subject: String,
        target_stream: String,
        exemption: Exemption,
        justification: Passage,
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
    RecordDiscussion {
        discussion_id: String,
        subject: String,
        setting: DiscussionSetting,
        with: DiscussedWith,
        held_at: Time,
        basis: DiscussionBasis,
        summary: Vec<Passage>,
    },
    AddStatement {
        statement_id: String,
        target_stream: String,
        segments: Vec<Passage>,
    },
    GrantAuthority {
        subject: String,
        authority_id: String,
        representative: String,
        relation: Relation,
        basis: AuthorityBasis,
        scope: Vec<AuthorityScope>,
        expires_at: Option<Time>,
        evidence: Option<Passage>,
    },
    EndAuthority {
        authority_id: String,
        reason: AuthorityEndReason,
    },
    ProposeTransfer {
        support_id: String,
        to_worker: String,
    },
    AnswerTransfer {
        support_id: String,
        accept: bool,
    },
    RecordRetentionDate {
        subject: String,
        kind: DateKind,
        /// `YYYY-MM-DD`.
        date: String,
    },
    PlaceLegalHold {
        subject: String,
        hold_id: String,
        reason: HoldReason,
    },
    LiftLegalHold {
        subject: String,
        hold_id: String,
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
    pub(super) fn one(stream: Stream, subject: Option<String>, event: Event) -> Decision {
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

    pub(super) fn depending(mut self, streams: impl IntoIterator<Item = Stream>) -> Decision {
        self.depends.extend(streams.into_iter().map(String::from));
        self
    }
}

/// Turns an accepted command's passages into the segment references its events hold: the only
/// way text becomes part of a decision. The areas call it only once every check has passed, so a
/// refused command commits (and the service seals) nothing — `a_refused_command_commits_no_text`
/// in tests/core.rs holds that for every refusal there.
pub trait Commit {
    fn commit(&mut self, passage: &Passage) -> SegmentRef;
}

/// Commits each passage, in order.
pub(super) fn commit_all(commit: &mut dyn Commit, passages: &[Passage]) -> Vec<SegmentRef> {
    passages.iter().map(|p| commit.commit(p)).collect()
}

/// Decides `cmd` by `caller` against `p` at `now`; `commit` commits the text of an accepted one.
pub fn decide(
    p: &Projections,
    caller: &ActorRec,
    cmd: &Command,
    now: Time,
    commit: &mut dyn Commit,
) -> R<Decision> {
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
        } => actors::register_actor(p, caller, id, r, team, display, commit),
        Command::DeactivateActor { id, reason } => actors::deactivate_actor(p, caller, id, reason),
        Command::IssueToken {
            actor,
            token_hash,
            expires_at,
        } => actors::issue_token(p, caller, actor, token_hash, expires_at, now),
        Command::RevokeToken { token_hash } => actors::revoke_token(p, caller, token_hash),
        Command::IssueSignInCode {
            actor,
            code_digest,
            expires_at,
        } => actors::issue_signin_code(p, caller, actor, code_digest, *expires_at, now),
        Command::LinkIdentity {
            actor,
            issuer,
            identity,
        } => actors::link_identity(p, caller, actor, issuer, identity),
        Command::UnlinkIdentity { actor, issuer } => {
            actors::unlink_identity(p, caller, actor, issuer)
        }
        Command::ReferSupport {
            support_id,
            subject,
            worker,
            source,
        } => support::refer_support(p, caller, support_id, subject, worker, source),
        Command::OfferSupport { support_id } => support::offer_support(p, caller, support_id),
        Command::AcceptSupport { support_id } => {
            support::answer_support(p, caller, support_id, true)
        }
        Command::DeclineSupport { support_id } => {
            support::answer_support(p, caller, support_id, false)
        }
        Command::EndSupport { support_id, reason } => {
            support::end_support(p, caller, support_id, reason)
        }
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
            goals,
            activities,
        } => meetings::record_meeting(
            p,
            caller,
            meeting_id,
            support_id,
            kind,
            group_id,
            mode,
            place,
            place_detail,
            occurred_at,
            minutes,
            &meetings::WorkDone { goals, activities },
            now,
            commit,
        ),
        Command::PlanMeeting {
            meeting_id,
            support_id,
            mode,
            place,
            place_detail,
            planned_for,
            minutes,
        } => meetings::plan_meeting(
            p,
            caller,
            meeting_id,
            support_id,
            mode,
            place,
            place_detail,
            planned_for,
            minutes,
            now,
            commit,
        ),
        Command::ProposePlace {
            meeting_id,
            place,
            place_detail,
            on_behalf,
        } => meetings::propose_place(
            p,
            caller,
            meeting_id,
            place,
            place_detail,
            *on_behalf,
            commit,
        ),
        Command::AgreePlace {
            meeting_id,
            on_behalf,
        } => meetings::agree_place(p, caller, meeting_id, *on_behalf),
        Command::CancelMeeting { meeting_id, by } => {
            meetings::cancel_meeting(p, caller, meeting_id, by)
        }
        Command::MarkNotAttended { meeting_id } => {
            meetings::mark_not_attended(p, caller, meeting_id, now)
        }
        Command::HoldMeeting {
            meeting_id,
            occurred_at,
            minutes,
            goals,
            activities,
        } => meetings::hold_meeting(
            p,
            caller,
            meeting_id,
            occurred_at,
            minutes,
            &meetings::WorkDone { goals, activities },
            now,
            commit,
        ),
        Command::FormGroup {
            group_id,
            name,
            facilitators,
        } => meetings::form_group(p, caller, group_id, name, facilitators, commit),
        Command::SetGoal {
            goal_id,
            support_id,
            words,
            co_produced,
        } => goals::set_goal(p, caller, goal_id, support_id, words, *co_produced, commit),
        Command::ReviewGoal { goal_id, words } => {
            goals::review_goal(p, caller, goal_id, words, commit)
        }
        Command::CloseGoal {
            goal_id,
            outcome,
            words,
        } => goals::close_goal(p, caller, goal_id, outcome, words, commit),
        Command::DraftNote {
            note_id,
            meeting_id,
            segments,
        } => notes::draft_note(p, caller, note_id, meeting_id, segments, commit),
        Command::ReviseNote { note_id, segments } => {
            notes::revise_note(p, caller, note_id, segments, commit)
        }
        Command::AddAddendum { note_id, segments } => {
            notes::add_addendum(p, caller, note_id, segments, commit)
        }
        Command::ProposeRedaction {
            note_id,
            proposal_id,
            segments,
            reason,
        } => notes::propose_redaction(p, caller, note_id, proposal_id, segments, reason),
        Command::AgreeRedaction {
            note_id,
            proposal_id,
        } => notes::answer_redaction(p, caller, note_id, proposal_id, None, commit),
        Command::DeclineRedaction {
            note_id,
            proposal_id,
            reason,
        } => notes::answer_redaction(p, caller, note_id, proposal_id, Some(reason), commit),
        Command::WithdrawRedaction {
            note_id,
            proposal_id,
        } => notes::withdraw_redaction(p, caller, note_id, proposal_id),
        Command::AgreeNote { note_id, revision } => notes::agree_note(p, caller, note_id, revision),
        Command::CloseNote { note_id, reason } => notes::close_note(p, caller, note_id, reason),
        Command::GrantConsent {
            subject,
            consent_id,
            scope,
            grantee,
            expires_at,
        } => consent::grant_consent(
            p, caller, subject, consent_id, scope, grantee, expires_at, now, commit,
        ),
        Command::RevokeConsent {
            subject,
            consent_id,
        } => consent::revoke_consent(p, caller, subject, consent_id),
        Command::RaiseConcern {
            concern_id,
            subject,
            category,
            urgency,
            summary,
        } => safeguarding::raise_concern(
            p, caller, concern_id, subject, category, urgency, summary, commit,
        ),
        Command::AcknowledgeConcern { concern_id } => {
            safeguarding::acknowledge_concern(p, caller, concern_id)
        }
        Command::RecordOutcome {
            concern_id,
            outcome,
            detail,
        } => safeguarding::record_outcome(p, caller, concern_id, outcome, detail, commit),
        Command::InformSubject { concern_id, how } => {
            safeguarding::inform_subject(p, caller, concern_id, how)
        }
        Command::Withhold {
            subject,
            target_stream,
            exemption,
            justification,
            review_by,
        } => sar::withhold(
            p,
            caller,
            subject,
            target_stream,
            exemption,
            justification,
            review_by,
            now,
            commit,
        ),
        Command::Release {
            subject,
            target_stream,
        } => sar::release(p, caller, subject, target_stream),
        Command::RequestSar {
            sar_id,
            subject,
            via,
        } => sar::request_sar(p, caller, sar_id, subject, via, now),
        Command::FulfilSar {
            sar_id,
            bundle_hash,
            tree_size,
            withheld,
        } => sar::fulfil_sar(p, caller, sar_id, bundle_hash, tree_size, withheld),
        Command::RecordDiscussion {
            discussion_id,
            subject,
            setting,
            with,
            held_at,
            basis,
            summary,
        } => discussions::record_discussion(
            p,
            caller,
            discussion_id,
            subject,
            setting,
            with,
            held_at,
            basis,
            summary,
            now,
            commit,
        ),
        Command::AddStatement {
            statement_id,
            target_stream,
            segments,
        } => statements::add_statement(p, caller, statement_id, target_stream, segments, commit),
        Command::GrantAuthority {
            subject,
            authority_id,
            representative,
            relation,
            basis,
            scope,
            expires_at,
            evidence,
        } => authority::grant_authority(
            p,
            caller,
            subject,
            authority_id,
            representative,
            relation,
            basis,
            scope,
            expires_at,
            evidence,
            now,
            commit,
        ),
        Command::EndAuthority {
            authority_id,
            reason,
        } => authority::end_authority(p, caller, authority_id, reason),
        Command::ProposeTransfer {
            support_id,
            to_worker,
        } => support::propose_transfer(p, caller, support_id, to_worker),
        Command::AnswerTransfer { support_id, accept } => {
            support::answer_transfer(p, caller, support_id, *accept)
        }
        Command::RecordRetentionDate {
            subject,
            kind,
            date,
        } => retention::record_date(p, caller, subject, kind, date, now),
        Command::PlaceLegalHold {
            subject,
            hold_id,
            reason,
        } => retention::place_hold(p, caller, subject, hold_id, reason),
        Command::LiftLegalHold { subject, hold_id } => {
            retention::lift_hold(p, caller, subject, hold_id)
        }
    }
}
