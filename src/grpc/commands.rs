//! Every mutating request of `withus.v1` translated into a domain command: pure functions of the
//! decoded message, shared by the handlers and by the fuzzer, which feeds arbitrary bytes to
//! [`decode_command`] for each of [`METHODS`] and the command that comes out to the decision.
//!
//! Owns: the wire → command mapping (vocabularies, times, text fields as passages). Must not
//! touch: the service, authentication, or any rule (the domain decides; a bad value is refused
//! here only when it cannot be expressed as a command at all).

use tonic::Status;

use super::convert::{from_wire, hash, required_time, time};
use super::pb;
use super::status::refuse;
use crate::domain::discussions::DiscussionBasis;
use crate::domain::event::{Activity, DiscussedWith, Grantee};
use crate::domain::types::*;
use crate::domain::{Code, Command};

/// An enum field as its domain vocabulary (`vocabulary.proto`): unset or unknown is refused.
macro_rules! v {
    ($wire:ident, $field:expr, $value:expr) => {
        from_wire::<pb::$wire>($field, $value)
    };
}

/// The request's text segments as passages; the domain checks them (ids, sizes, count).
fn passages(segs: Vec<pb::TextSegment>) -> Vec<Passage> {
    segs.into_iter()
        .map(|s| Passage::new(s.id, s.text))
        .collect()
}

/// An optional text field: empty means none.
fn optional_text(id: &str, text: String) -> Option<Passage> {
    (!text.is_empty()).then(|| Passage::new(id, text))
}

/// `withus.v1.Support/Refer`.
pub fn support_refer(q: pb::ReferRequest) -> Result<Command, Status> {
    let cmd = Command::ReferSupport {
        support_id: q.support_id,
        subject: q.subject,
        worker: q.worker,
        source: v!(ReferralSource, "source", q.source)?,
    };
    Ok(cmd)
}

/// `withus.v1.Support/Offer`.
pub fn support_offer(q: pb::SupportRequest) -> Result<Command, Status> {
    let cmd = Command::OfferSupport {
        support_id: q.support_id,
    };
    Ok(cmd)
}

/// `withus.v1.Support/Accept`.
pub fn support_accept(q: pb::SupportRequest) -> Result<Command, Status> {
    let cmd = Command::AcceptSupport {
        support_id: q.support_id,
    };
    Ok(cmd)
}

/// `withus.v1.Support/Decline`.
pub fn support_decline(q: pb::SupportRequest) -> Result<Command, Status> {
    let cmd = Command::DeclineSupport {
        support_id: q.support_id,
    };
    Ok(cmd)
}

/// `withus.v1.Support/End`.
pub fn support_end(q: pb::EndSupportRequest) -> Result<Command, Status> {
    let cmd = Command::EndSupport {
        support_id: q.support_id,
        reason: v!(EndReason, "reason", q.reason)?,
    };
    Ok(cmd)
}

/// `withus.v1.Meetings/Record`.
pub fn meetings_record(q: pb::RecordMeetingRequest) -> Result<Command, Status> {
    let cmd = Command::RecordMeeting {
        meeting_id: q.meeting_id,
        support_id: q.support_id,
        kind: v!(MeetingKind, "kind", q.kind)?,
        group_id: (!q.group_id.is_empty()).then_some(q.group_id),
        mode: v!(MeetingMode, "mode", q.mode)?,
        place: v!(Place, "place", q.place)?,
        place_detail: optional_text("place", q.place_detail),
        occurred_at: required_time("occurred_at", q.occurred_at)?,
        minutes: q.minutes,
        goals: q.goals,
        activities: activities(q.activities)?,
    };
    Ok(cmd)
}

/// What was done in a meeting; each detail becomes a passage `activity-<n>`.
fn activities(list: Vec<pb::Activity>) -> Result<Vec<Activity<Passage>>, Status> {
    list.into_iter()
        .enumerate()
        .map(|(i, a)| {
            Ok(Activity {
                kind: v!(ActivityKind, "activities.kind", a.kind)?,
                detail: optional_text(&format!("activity-{}", i + 1), a.detail),
            })
        })
        .collect()
}

/// `withus.v1.Meetings/Plan`.
pub fn meetings_plan(q: pb::PlanMeetingRequest) -> Result<Command, Status> {
    Ok(Command::PlanMeeting {
        meeting_id: q.meeting_id,
        support_id: q.support_id,
        mode: v!(MeetingMode, "mode", q.mode)?,
        place: v!(Place, "place", q.place)?,
        place_detail: optional_text("place", q.place_detail),
        planned_for: required_time("planned_for", q.planned_for)?,
        minutes: q.minutes,
    })
}

/// `withus.v1.Meetings/ProposePlace`.
pub fn meetings_propose_place(q: pb::ProposePlaceRequest) -> Result<Command, Status> {
    Ok(Command::ProposePlace {
        meeting_id: q.meeting_id,
        place: v!(Place, "place", q.place)?,
        place_detail: optional_text("place", q.place_detail),
        on_behalf: q.on_behalf,
    })
}

/// `withus.v1.Meetings/AgreePlace`.
pub fn meetings_agree_place(q: pb::AgreePlaceRequest) -> Result<Command, Status> {
    Ok(Command::AgreePlace {
        meeting_id: q.meeting_id,
        on_behalf: q.on_behalf,
    })
}

/// `withus.v1.Meetings/Cancel`.
pub fn meetings_cancel(q: pb::CancelMeetingRequest) -> Result<Command, Status> {
    Ok(Command::CancelMeeting {
        meeting_id: q.meeting_id,
        by: v!(Party, "by", q.by)?,
    })
}

/// `withus.v1.Meetings/RecordNotAttended`.
pub fn meetings_record_not_attended(q: pb::MeetingRequest) -> Result<Command, Status> {
    Ok(Command::MarkNotAttended {
        meeting_id: q.meeting_id,
    })
}

/// `withus.v1.Meetings/RecordHeld`.
pub fn meetings_record_held(q: pb::HoldMeetingRequest) -> Result<Command, Status> {
    Ok(Command::HoldMeeting {
        meeting_id: q.meeting_id,
        occurred_at: required_time("occurred_at", q.occurred_at)?,
        minutes: q.minutes,
        goals: q.goals,
        activities: activities(q.activities)?,
    })
}

/// `withus.v1.Groups/Form`.
pub fn groups_form(q: pb::FormGroupRequest) -> Result<Command, Status> {
    Ok(Command::FormGroup {
        group_id: q.group_id,
        name: Passage::new("name", q.name),
        facilitators: q.facilitators,
    })
}

/// `withus.v1.Goals/Set`.
pub fn goals_set(q: pb::SetGoalRequest) -> Result<Command, Status> {
    Ok(Command::SetGoal {
        goal_id: q.goal_id,
        support_id: q.support_id,
        words: passages(q.words),
        co_produced: q.co_produced,
    })
}

/// `withus.v1.Goals/Review`.
pub fn goals_review(q: pb::ReviewGoalRequest) -> Result<Command, Status> {
    Ok(Command::ReviewGoal {
        goal_id: q.goal_id,
        words: passages(q.words),
    })
}

/// `withus.v1.Goals/Close`.
pub fn goals_close(q: pb::CloseGoalRequest) -> Result<Command, Status> {
    Ok(Command::CloseGoal {
        goal_id: q.goal_id,
        outcome: v!(GoalOutcome, "outcome", q.outcome)?,
        words: passages(q.words),
    })
}

/// `withus.v1.Notes/Draft`.
pub fn notes_draft(q: pb::DraftNoteRequest) -> Result<Command, Status> {
    let segments = passages(q.segments);
    let cmd = Command::DraftNote {
        note_id: q.note_id,
        meeting_id: q.meeting_id,
        segments,
    };
    Ok(cmd)
}

/// `withus.v1.Notes/Revise`.
pub fn notes_revise(q: pb::NoteTextRequest) -> Result<Command, Status> {
    let segments = passages(q.segments);
    let cmd = Command::ReviseNote {
        note_id: q.note_id,
        segments,
    };
    Ok(cmd)
}

/// `withus.v1.Notes/ProposeRedaction`.
pub fn notes_propose_redaction(q: pb::ProposeRedactionRequest) -> Result<Command, Status> {
    let cmd = Command::ProposeRedaction {
        note_id: q.note_id,
        proposal_id: q.proposal_id,
        segments: q.segments,
        reason: v!(RedactionReason, "reason", q.reason)?,
    };
    Ok(cmd)
}

/// `withus.v1.Notes/AgreeRedaction`.
pub fn notes_agree_redaction(q: pb::ProposalRequest) -> Result<Command, Status> {
    let cmd = Command::AgreeRedaction {
        note_id: q.note_id,
        proposal_id: q.proposal_id,
    };
    Ok(cmd)
}

/// `withus.v1.Notes/DeclineRedaction`.
pub fn notes_decline_redaction(q: pb::DeclineRedactionRequest) -> Result<Command, Status> {
    let reason = optional_text("reason", q.reason);
    let cmd = Command::DeclineRedaction {
        note_id: q.note_id,
        proposal_id: q.proposal_id,
        reason,
    };
    Ok(cmd)
}

/// `withus.v1.Notes/WithdrawRedaction`.
pub fn notes_withdraw_redaction(q: pb::ProposalRequest) -> Result<Command, Status> {
    let cmd = Command::WithdrawRedaction {
        note_id: q.note_id,
        proposal_id: q.proposal_id,
    };
    Ok(cmd)
}

/// `withus.v1.Notes/Agree`.
pub fn notes_agree(q: pb::AgreeNoteRequest) -> Result<Command, Status> {
    let cmd = Command::AgreeNote {
        note_id: q.note_id,
        revision: q.revision,
    };
    Ok(cmd)
}

/// `withus.v1.Notes/Close`.
pub fn notes_close(q: pb::CloseNoteRequest) -> Result<Command, Status> {
    let cmd = Command::CloseNote {
        note_id: q.note_id,
        reason: v!(CloseReason, "reason", q.reason)?,
    };
    Ok(cmd)
}

/// `withus.v1.Notes/AddAddendum`.
pub fn notes_add_addendum(q: pb::NoteTextRequest) -> Result<Command, Status> {
    let segments = passages(q.segments);
    let cmd = Command::AddAddendum {
        note_id: q.note_id,
        segments,
    };
    Ok(cmd)
}

/// `withus.v1.Consent/Grant`.
pub fn consent_grant(q: pb::GrantConsentRequest) -> Result<Command, Status> {
    let scope = v!(ConsentScope, "scope", q.scope)?;
    let grantee = match scope {
        _ if q.grantee.is_empty() => None,
        Scope::ShareWithPerson => Some(Grantee::Person(Passage::new("grantee", q.grantee))),
        _ => Some(Grantee::Team(q.grantee)),
    };
    let cmd = Command::GrantConsent {
        subject: q.subject,
        consent_id: q.consent_id,
        scope,
        grantee,
        expires_at: time("expires_at", q.expires_at)?,
    };
    Ok(cmd)
}

/// `withus.v1.Consent/Revoke`.
pub fn consent_revoke(q: pb::RevokeConsentRequest) -> Result<Command, Status> {
    let cmd = Command::RevokeConsent {
        subject: q.subject,
        consent_id: q.consent_id,
    };
    Ok(cmd)
}

/// `withus.v1.Safeguarding/Raise`.
pub fn safeguarding_raise(q: pb::RaiseConcernRequest) -> Result<Command, Status> {
    let cmd = Command::RaiseConcern {
        concern_id: q.concern_id,
        subject: q.subject,
        category: v!(ConcernCategory, "category", q.category)?,
        urgency: v!(Urgency, "urgency", q.urgency)?,
        summary: passages(q.summary),
    };
    Ok(cmd)
}

/// `withus.v1.Safeguarding/Acknowledge`.
pub fn safeguarding_acknowledge(q: pb::ConcernRequest) -> Result<Command, Status> {
    let cmd = Command::AcknowledgeConcern {
        concern_id: q.concern_id,
    };
    Ok(cmd)
}

/// `withus.v1.Safeguarding/RecordOutcome`.
pub fn safeguarding_record_outcome(q: pb::OutcomeRequest) -> Result<Command, Status> {
    let cmd = Command::RecordOutcome {
        concern_id: q.concern_id,
        outcome: v!(ConcernOutcome, "outcome", q.outcome)?,
        detail: Passage::new("detail", q.detail),
    };
    Ok(cmd)
}

/// `withus.v1.Safeguarding/InformSubject`.
pub fn safeguarding_inform_subject(q: pb::InformRequest) -> Result<Command, Status> {
    let cmd = Command::InformSubject {
        concern_id: q.concern_id,
        how: v!(InformedHow, "how", q.how)?,
    };
    Ok(cmd)
}

/// `withus.v1.Safeguarding/Withhold`.
pub fn safeguarding_withhold(q: pb::WithholdRequest) -> Result<Command, Status> {
    let cmd = Command::Withhold {
        subject: q.subject,
        target_stream: q.target_stream,
        exemption: v!(Exemption, "exemption", q.exemption)?,
        justification: Passage::new("justification", q.justification),
        review_by: required_time("review_by", q.review_by)?,
    };
    Ok(cmd)
}

/// `withus.v1.Safeguarding/Release`.
pub fn safeguarding_release(q: pb::ReleaseRequest) -> Result<Command, Status> {
    let cmd = Command::Release {
        subject: q.subject,
        target_stream: q.target_stream,
    };
    Ok(cmd)
}

/// `withus.v1.SubjectAccess/Request`.
pub fn subject_access_request(q: pb::SarRequest) -> Result<Command, Status> {
    let cmd = Command::RequestSar {
        sar_id: q.sar_id,
        subject: q.subject,
        via: v!(SarVia, "via", q.via)?,
    };
    Ok(cmd)
}

/// `withus.v1.Admin/RegisterActor`.
pub fn admin_register_actor(q: pb::RegisterActorRequest) -> Result<Command, Status> {
    Ok(Command::RegisterActor {
        id: q.id,
        role: v!(Role, "role", q.role)?,
        team: (!q.team.is_empty()).then_some(q.team),
        display: Passage::new("display", q.display_name),
    })
}

/// `withus.v1.Admin/DeactivateActor`.
pub fn admin_deactivate_actor(q: pb::DeactivateActorRequest) -> Result<Command, Status> {
    let reason = v!(DeactivationReason, "reason", q.reason)?;
    Ok(Command::DeactivateActor { id: q.id, reason })
}

/// `withus.v1.Admin/RevokeToken`.
pub fn admin_revoke_token(q: pb::RevokeTokenRequest) -> Result<Command, Status> {
    Ok(Command::RevokeToken {
        token_hash: hash("token_hash", &q.token_hash)?,
    })
}

/// `withus.v1.Admin/UnlinkIdentity`. (`LinkIdentity` is not here: the command holds the
/// identity's keyed digest, which only the service can compute.)
pub fn admin_unlink_identity(q: pb::UnlinkIdentityRequest) -> Result<Command, Status> {
    Ok(Command::UnlinkIdentity {
        actor: q.actor,
        issuer: q.issuer,
    })
}

/// `withus.v1.Discussions/Record`.
pub fn discussions_record(q: pb::RecordDiscussionRequest) -> Result<Command, Status> {
    let with = match (q.with_team.is_empty(), q.with_role == 0) {
        (false, true) => DiscussedWith::Team(q.with_team),
        (true, false) => DiscussedWith::Role(v!(Role, "with_role", q.with_role)?),
        _ => {
            return Err(refuse(
                Code::InvalidArgument,
                "with_team",
                "name exactly one of with_team (a team id) and with_role (a staff role)",
            ))
        }
    };
    let basis = DiscussionBasis::parse(&q.basis).ok_or_else(|| {
        refuse(
            Code::InvalidArgument,
            "basis",
            "must be `present`, `consent:<consent_id>` or `concern:<concern_id>`",
        )
    })?;
    Ok(Command::RecordDiscussion {
        discussion_id: q.discussion_id,
        subject: q.subject,
        setting: v!(DiscussionSetting, "setting", q.setting)?,
        with,
        held_at: required_time("held_at", q.held_at)?,
        basis,
        summary: passages(q.summary),
    })
}

/// `withus.v1.Statements/Add`.
pub fn statements_add(q: pb::AddStatementRequest) -> Result<Command, Status> {
    Ok(Command::AddStatement {
        statement_id: q.statement_id,
        target_stream: q.target_stream,
        segments: passages(q.segments),
    })
}

/// `withus.v1.Authorities/Grant`.
pub fn authorities_grant(q: pb::GrantAuthorityRequest) -> Result<Command, Status> {
    let scope = q
        .scope
        .iter()
        .map(|s| v!(AuthorityScope, "scope", *s))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Command::GrantAuthority {
        subject: q.subject,
        authority_id: q.authority_id,
        representative: q.representative,
        relation: v!(Relation, "relation", q.relation)?,
        basis: v!(AuthorityBasis, "basis", q.basis)?,
        scope,
        expires_at: time("expires_at", q.expires_at)?,
        evidence: optional_text("evidence", q.evidence),
    })
}

/// `withus.v1.Authorities/End`.
pub fn authorities_end(q: pb::EndAuthorityRequest) -> Result<Command, Status> {
    Ok(Command::EndAuthority {
        authority_id: q.authority_id,
        reason: v!(AuthorityEndReason, "reason", q.reason)?,
    })
}

/// `withus.v1.Support/ProposeTransfer`.
pub fn support_propose_transfer(q: pb::ProposeTransferRequest) -> Result<Command, Status> {
    Ok(Command::ProposeTransfer {
        support_id: q.support_id,
        to_worker: q.to_worker,
    })
}

/// `withus.v1.Support/RespondTransfer`.
pub fn support_respond_transfer(q: pb::RespondTransferRequest) -> Result<Command, Status> {
    Ok(Command::AnswerTransfer {
        support_id: q.support_id,
        accept: q.accept,
    })
}

/// `withus.v1.Retention/RecordDate`.
pub fn retention_record_date(q: pb::RecordRetentionDateRequest) -> Result<Command, Status> {
    Ok(Command::RecordRetentionDate {
        subject: q.subject,
        kind: v!(DateKind, "kind", q.kind)?,
        date: q.date,
    })
}

/// `withus.v1.Retention/PlaceHold`.
pub fn retention_place_hold(q: pb::PlaceLegalHoldRequest) -> Result<Command, Status> {
    Ok(Command::PlaceLegalHold {
        subject: q.subject,
        hold_id: q.hold_id,
        reason: v!(HoldReason, "reason", q.reason)?,
    })
}

/// `withus.v1.Retention/LiftHold`.
pub fn retention_lift_hold(q: pb::LiftLegalHoldRequest) -> Result<Command, Status> {
    Ok(Command::LiftLegalHold {
        subject: q.subject,
        hold_id: q.hold_id,
    })
}

/// The gRPC paths [`decode_command`] translates: every call that executes a command.
pub const METHODS: &[&str] = &[
    "withus.v1.Support/Refer",
    "withus.v1.Support/Offer",
    "withus.v1.Support/Accept",
    "withus.v1.Support/Decline",
    "withus.v1.Support/End",
    "withus.v1.Meetings/Record",
    "withus.v1.Notes/Draft",
    "withus.v1.Notes/Revise",
    "withus.v1.Notes/ProposeRedaction",
    "withus.v1.Notes/AgreeRedaction",
    "withus.v1.Notes/DeclineRedaction",
    "withus.v1.Notes/WithdrawRedaction",
    "withus.v1.Notes/Agree",
    "withus.v1.Notes/Close",
    "withus.v1.Notes/AddAddendum",
    "withus.v1.Consent/Grant",
    "withus.v1.Consent/Revoke",
    "withus.v1.Safeguarding/Raise",
    "withus.v1.Safeguarding/Acknowledge",
    "withus.v1.Safeguarding/RecordOutcome",
    "withus.v1.Safeguarding/InformSubject",
    "withus.v1.Safeguarding/Withhold",
    "withus.v1.Safeguarding/Release",
    "withus.v1.SubjectAccess/Request",
    "withus.v1.Admin/RegisterActor",
    "withus.v1.Admin/DeactivateActor",
    "withus.v1.Admin/RevokeToken",
    "withus.v1.Admin/UnlinkIdentity",
    "withus.v1.Discussions/Record",
    "withus.v1.Statements/Add",
    "withus.v1.Meetings/Plan",
    "withus.v1.Meetings/ProposePlace",
    "withus.v1.Meetings/AgreePlace",
    "withus.v1.Meetings/Cancel",
    "withus.v1.Meetings/RecordNotAttended",
    "withus.v1.Meetings/RecordHeld",
    "withus.v1.Groups/Form",
    "withus.v1.Goals/Set",
    "withus.v1.Goals/Review",
    "withus.v1.Goals/Close",
    "withus.v1.Authorities/Grant",
    "withus.v1.Authorities/End",
    "withus.v1.Support/ProposeTransfer",
    "withus.v1.Support/RespondTransfer",
    "withus.v1.Retention/RecordDate",
    "withus.v1.Retention/PlaceHold",
    "withus.v1.Retention/LiftHold",
];

fn decode<M: prost::Message + Default>(body: &[u8]) -> Result<M, Status> {
    M::decode(body)
        .map_err(|e| Status::invalid_argument(format!("the request is not a valid message: {e}")))
}

/// Decodes `body` as the request of `method` and translates it: `None` for a path that is not
/// one of [`METHODS`].
pub fn decode_command(method: &str, body: &[u8]) -> Option<Result<Command, Status>> {
    Some(match method {
        "withus.v1.Support/Refer" => decode::<pb::ReferRequest>(body).and_then(support_refer),
        "withus.v1.Support/Offer" => decode::<pb::SupportRequest>(body).and_then(support_offer),
        "withus.v1.Support/Accept" => decode::<pb::SupportRequest>(body).and_then(support_accept),
        "withus.v1.Support/Decline" => decode::<pb::SupportRequest>(body).and_then(support_decline),
        "withus.v1.Support/End" => decode::<pb::EndSupportRequest>(body).and_then(support_end),
        "withus.v1.Meetings/Record" => {
            decode::<pb::RecordMeetingRequest>(body).and_then(meetings_record)
        }
        "withus.v1.Notes/Draft" => decode::<pb::DraftNoteRequest>(body).and_then(notes_draft),
        "withus.v1.Notes/Revise" => decode::<pb::NoteTextRequest>(body).and_then(notes_revise),
        "withus.v1.Notes/ProposeRedaction" => {
            decode::<pb::ProposeRedactionRequest>(body).and_then(notes_propose_redaction)
        }
        "withus.v1.Notes/AgreeRedaction" => {
            decode::<pb::ProposalRequest>(body).and_then(notes_agree_redaction)
        }
        "withus.v1.Notes/DeclineRedaction" => {
            decode::<pb::DeclineRedactionRequest>(body).and_then(notes_decline_redaction)
        }
        "withus.v1.Notes/WithdrawRedaction" => {
            decode::<pb::ProposalRequest>(body).and_then(notes_withdraw_redaction)
        }
        "withus.v1.Notes/Agree" => decode::<pb::AgreeNoteRequest>(body).and_then(notes_agree),
        "withus.v1.Notes/Close" => decode::<pb::CloseNoteRequest>(body).and_then(notes_close),
        "withus.v1.Notes/AddAddendum" => {
            decode::<pb::NoteTextRequest>(body).and_then(notes_add_addendum)
        }
        "withus.v1.Consent/Grant" => {
            decode::<pb::GrantConsentRequest>(body).and_then(consent_grant)
        }
        "withus.v1.Consent/Revoke" => {
            decode::<pb::RevokeConsentRequest>(body).and_then(consent_revoke)
        }
        "withus.v1.Safeguarding/Raise" => {
            decode::<pb::RaiseConcernRequest>(body).and_then(safeguarding_raise)
        }
        "withus.v1.Safeguarding/Acknowledge" => {
            decode::<pb::ConcernRequest>(body).and_then(safeguarding_acknowledge)
        }
        "withus.v1.Safeguarding/RecordOutcome" => {
            decode::<pb::OutcomeRequest>(body).and_then(safeguarding_record_outcome)
        }
        "withus.v1.Safeguarding/InformSubject" => {
            decode::<pb::InformRequest>(body).and_then(safeguarding_inform_subject)
        }
        "withus.v1.Safeguarding/Withhold" => {
            decode::<pb::WithholdRequest>(body).and_then(safeguarding_withhold)
        }
        "withus.v1.Safeguarding/Release" => {
            decode::<pb::ReleaseRequest>(body).and_then(safeguarding_release)
        }
        "withus.v1.SubjectAccess/Request" => {
            decode::<pb::SarRequest>(body).and_then(subject_access_request)
        }
        "withus.v1.Admin/RegisterActor" => {
            decode::<pb::RegisterActorRequest>(body).and_then(admin_register_actor)
        }
        "withus.v1.Admin/DeactivateActor" => {
            decode::<pb::DeactivateActorRequest>(body).and_then(admin_deactivate_actor)
        }
        "withus.v1.Admin/RevokeToken" => {
            decode::<pb::RevokeTokenRequest>(body).and_then(admin_revoke_token)
        }
        "withus.v1.Admin/UnlinkIdentity" => {
            decode::<pb::UnlinkIdentityRequest>(body).and_then(admin_unlink_identity)
        }
        "withus.v1.Discussions/Record" => {
            decode::<pb::RecordDiscussionRequest>(body).and_then(discussions_record)
        }
        "withus.v1.Statements/Add" => {
            decode::<pb::AddStatementRequest>(body).and_then(statements_add)
        }
        "withus.v1.Meetings/Plan" => decode::<pb::PlanMeetingRequest>(body).and_then(meetings_plan),
        "withus.v1.Meetings/ProposePlace" => {
            decode::<pb::ProposePlaceRequest>(body).and_then(meetings_propose_place)
        }
        "withus.v1.Meetings/AgreePlace" => {
            decode::<pb::AgreePlaceRequest>(body).and_then(meetings_agree_place)
        }
        "withus.v1.Meetings/Cancel" => {
            decode::<pb::CancelMeetingRequest>(body).and_then(meetings_cancel)
        }
        "withus.v1.Meetings/RecordNotAttended" => {
            decode::<pb::MeetingRequest>(body).and_then(meetings_record_not_attended)
        }
        "withus.v1.Meetings/RecordHeld" => {
            decode::<pb::HoldMeetingRequest>(body).and_then(meetings_record_held)
        }
        "withus.v1.Groups/Form" => decode::<pb::FormGroupRequest>(body).and_then(groups_form),
        "withus.v1.Goals/Set" => decode::<pb::SetGoalRequest>(body).and_then(goals_set),
        "withus.v1.Goals/Review" => decode::<pb::ReviewGoalRequest>(body).and_then(goals_review),
        "withus.v1.Goals/Close" => decode::<pb::CloseGoalRequest>(body).and_then(goals_close),
        "withus.v1.Authorities/Grant" => {
            decode::<pb::GrantAuthorityRequest>(body).and_then(authorities_grant)
        }
        "withus.v1.Authorities/End" => {
            decode::<pb::EndAuthorityRequest>(body).and_then(authorities_end)
        }
        "withus.v1.Support/ProposeTransfer" => {
            decode::<pb::ProposeTransferRequest>(body).and_then(support_propose_transfer)
        }
        "withus.v1.Support/RespondTransfer" => {
            decode::<pb::RespondTransferRequest>(body).and_then(support_respond_transfer)
        }
        "withus.v1.Retention/RecordDate" => {
            decode::<pb::RecordRetentionDateRequest>(body).and_then(retention_record_date)
        }
        "withus.v1.Retention/PlaceHold" => {
            decode::<pb::PlaceLegalHoldRequest>(body).and_then(retention_place_hold)
        }
        "withus.v1.Retention/LiftHold" => {
            decode::<pb::LiftLegalHoldRequest>(body).and_then(retention_lift_hold)
        }
        _ => return None,
    })
}
