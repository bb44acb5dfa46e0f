//! The care services of `withus.v1`: Support, Meetings, Groups, Goals, Notes, Consent,
//! Safeguarding, Records, SubjectAccess, Discussions, Statements and Authorities. Each handler authenticates, translates the request into a domain command
//! (its text as plain passages, which the service commits only if the command is accepted), and translates the answer; the domain decides.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::auth::actor;
use super::commands;
use super::convert::{
    call, optional_timestamp, optional_to_wire, page, page_size_or, page_token, read_receipts,
    receipts, request_digest, required_time, timestamp,
};
use super::pb;
use super::status::{refuse, status};
use super::wording;
use super::Shared;
use crate::domain::projection::ActorRec;
use crate::domain::view::RecordWindow;
use crate::domain::{Code, Command};
use crate::format::to_hex;
use crate::service::{AsOf, Call, Service};

/// Shared by every care service: the service handle.
#[derive(Clone)]
pub struct CareApi {
    pub(super) shared: Arc<Shared>,
}

impl CareApi {
    pub(super) async fn who<T>(&self, r: &Request<T>) -> Result<(Arc<Service>, ActorRec), Status> {
        let svc = self.shared.service()?;
        let a = actor(&svc, r).await?;
        Ok((svc, a))
    }

    /// As [`CareApi::who`], for a mutating call: also the digest of the request (`method` is its
    /// gRPC path), which a repeat of its command id must match.
    pub(super) async fn who_call<T: prost::Message>(
        &self,
        r: &Request<T>,
        method: &str,
    ) -> Result<(Arc<Service>, ActorRec, crate::format::Hash), Status> {
        let (svc, a) = self.who(r).await?;
        let digest = request_digest(&svc, method, r);
        Ok((svc, a, digest))
    }

    pub(super) async fn run(
        &self,
        svc: &Service,
        a: &ActorRec,
        call: Call,
        cmd: Command,
    ) -> Result<Response<pb::Receipts>, Status> {
        let r = svc.execute(&a.id, call, cmd).await.map_err(status)?;
        Ok(Response::new(receipts(r)))
    }

    /// As [`CareApi::run`], for a command that carries text: once it is accepted, its receipts
    /// carry the language prompts computed from the request's text (`wording`). A refusal is
    /// answered with the refusal alone.
    async fn run_worded(
        &self,
        svc: &Service,
        a: &ActorRec,
        call: Call,
        cmd: Command,
        wording: pb::WordingPrompts,
    ) -> Result<Response<pb::Receipts>, Status> {
        let mut answer = self.run(svc, a, call, cmd).await?;
        answer.get_mut().wording = Some(wording);
        Ok(answer)
    }

    /// The prompts for `texts`, from the server's language list.
    fn wording<'t>(
        &self,
        texts: impl IntoIterator<Item = (&'t str, &'t str)>,
    ) -> pb::WordingPrompts {
        wording::prompts(&self.shared.language, texts)
    }
}

type Res = Result<Response<pb::Receipts>, Status>;

#[tonic::async_trait]
impl pb::support_server::Support for CareApi {
    async fn refer(&self, r: Request<pb::ReferRequest>) -> Res {
        let (svc, a, digest) = self.who_call(&r, "withus.v1.Support/Refer").await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let cmd = commands::support_refer(q)?;
        self.run(&svc, &a, call, cmd).await
    }

    async fn offer(&self, r: Request<pb::SupportRequest>) -> Res {
        let (svc, a, digest) = self.who_call(&r, "withus.v1.Support/Offer").await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let cmd = commands::support_offer(q)?;
        self.run(&svc, &a, call, cmd).await
    }

    async fn accept(&self, r: Request<pb::SupportRequest>) -> Res {
        let (svc, a, digest) = self.who_call(&r, "withus.v1.Support/Accept").await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let cmd = commands::support_accept(q)?;
        self.run(&svc, &a, call, cmd).await
    }

    async fn decline(&self, r: Request<pb::SupportRequest>) -> Res {
        let (svc, a, digest) = self.who_call(&r, "withus.v1.Support/Decline").await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let cmd = commands::support_decline(q)?;
        self.run(&svc, &a, call, cmd).await
    }

    async fn end(&self, r: Request<pb::EndSupportRequest>) -> Res {
        let (svc, a, digest) = self.who_call(&r, "withus.v1.Support/End").await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let cmd = commands::support_end(q)?;
        self.run(&svc, &a, call, cmd).await
    }

    async fn propose_transfer(&self, r: Request<pb::ProposeTransferRequest>) -> Res {
        let (svc, a, digest) = self
            .who_call(&r, "withus.v1.Support/ProposeTransfer")
            .await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let cmd = commands::support_propose_transfer(q)?;
        self.run(&svc, &a, call, cmd).await
    }

    async fn respond_transfer(&self, r: Request<pb::RespondTransferRequest>) -> Res {
        let (svc, a, digest) = self
            .who_call(&r, "withus.v1.Support/RespondTransfer")
            .await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let cmd = commands::support_respond_transfer(q)?;
        self.run(&svc, &a, call, cmd).await
    }
}

#[tonic::async_trait]
impl pb::meetings_server::Meetings for CareApi {
    async fn record(&self, r: Request<pb::RecordMeetingRequest>) -> Res {
        let (svc, a, digest) = self.who_call(&r, "withus.v1.Meetings/Record").await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let cmd = commands::meetings_record(q)?;
        self.run(&svc, &a, call, cmd).await
    }

    async fn plan(&self, r: Request<pb::PlanMeetingRequest>) -> Res {
        let (svc, a, digest) = self.who_call(&r, "withus.v1.Meetings/Plan").await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let cmd = commands::meetings_plan(q)?;
        self.run(&svc, &a, call, cmd).await
    }

    async fn propose_place(&self, r: Request<pb::ProposePlaceRequest>) -> Res {
        let (svc, a, digest) = self.who_call(&r, "withus.v1.Meetings/ProposePlace").await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let cmd = commands::meetings_propose_place(q)?;
        self.run(&svc, &a, call, cmd).await
    }

    async fn agree_place(&self, r: Request<pb::AgreePlaceRequest>) -> Res {
        let (svc, a, digest) = self.who_call(&r, "withus.v1.Meetings/AgreePlace").await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let cmd = commands::meetings_agree_place(q)?;
        self.run(&svc, &a, call, cmd).await
    }

    async fn cancel(&self, r: Request<pb::CancelMeetingRequest>) -> Res {
        let (svc, a, digest) = self.who_call(&r, "withus.v1.Meetings/Cancel").await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let cmd = commands::meetings_cancel(q)?;
        self.run(&svc, &a, call, cmd).await
    }

    async fn record_not_attended(&self, r: Request<pb::MeetingRequest>) -> Res {
        let (svc, a, digest) = self
            .who_call(&r, "withus.v1.Meetings/RecordNotAttended")
            .await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let cmd = commands::meetings_record_not_attended(q)?;
        self.run(&svc, &a, call, cmd).await
    }

    async fn record_held(&self, r: Request<pb::HoldMeetingRequest>) -> Res {
        let (svc, a, digest) = self.who_call(&r, "withus.v1.Meetings/RecordHeld").await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let cmd = commands::meetings_record_held(q)?;
        self.run(&svc, &a, call, cmd).await
    }
}

#[tonic::async_trait]
impl pb::groups_server::Groups for CareApi {
    async fn form(&self, r: Request<pb::FormGroupRequest>) -> Res {
        let (svc, a, digest) = self.who_call(&r, "withus.v1.Groups/Form").await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let cmd = commands::groups_form(q)?;
        self.run(&svc, &a, call, cmd).await
    }
}

/// No wording prompts on goals: a goal is in the person's own words.
#[tonic::async_trait]
impl pb::goals_server::Goals for CareApi {
    async fn set(&self, r: Request<pb::SetGoalRequest>) -> Res {
        let (svc, a, digest) = self.who_call(&r, "withus.v1.Goals/Set").await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let cmd = commands::goals_set(q)?;
        self.run(&svc, &a, call, cmd).await
    }

    async fn review(&self, r: Request<pb::ReviewGoalRequest>) -> Res {
        let (svc, a, digest) = self.who_call(&r, "withus.v1.Goals/Review").await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let cmd = commands::goals_review(q)?;
        self.run(&svc, &a, call, cmd).await
    }

    async fn close(&self, r: Request<pb::CloseGoalRequest>) -> Res {
        let (svc, a, digest) = self.who_call(&r, "withus.v1.Goals/Close").await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let cmd = commands::goals_close(q)?;
        self.run(&svc, &a, call, cmd).await
    }
}

#[tonic::async_trait]
impl pb::notes_server::Notes for CareApi {
    async fn draft(&self, r: Request<pb::DraftNoteRequest>) -> Res {
        let (svc, a, digest) = self.who_call(&r, "withus.v1.Notes/Draft").await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let worded = self.wording(wording::segments(&q.segments));
        let cmd = commands::notes_draft(q)?;
        self.run_worded(&svc, &a, call, cmd, worded).await
    }

    async fn revise(&self, r: Request<pb::NoteTextRequest>) -> Res {
        let (svc, a, digest) = self.who_call(&r, "withus.v1.Notes/Revise").await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let worded = self.wording(wording::segments(&q.segments));
        let cmd = commands::notes_revise(q)?;
        self.run_worded(&svc, &a, call, cmd, worded).await
    }

    async fn propose_redaction(&self, r: Request<pb::ProposeRedactionRequest>) -> Res {
        let (svc, a, digest) = self
            .who_call(&r, "withus.v1.Notes/ProposeRedaction")
            .await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let cmd = commands::notes_propose_redaction(q)?;
        self.run(&svc, &a, call, cmd).await
    }

    async fn agree_redaction(&self, r: Request<pb::ProposalRequest>) -> Res {
        let (svc, a, digest) = self.who_call(&r, "withus.v1.Notes/AgreeRedaction").await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let cmd = commands::notes_agree_redaction(q)?;
        self.run(&svc, &a, call, cmd).await
    }

    async fn decline_redaction(&self, r: Request<pb::DeclineRedactionRequest>) -> Res {
        let (svc, a, digest) = self
            .who_call(&r, "withus.v1.Notes/DeclineRedaction")
            .await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let worded = self.wording(wording::field("reason", &q.reason));
        let cmd = commands::notes_decline_redaction(q)?;
        self.run_worded(&svc, &a, call, cmd, worded).await
    }

    async fn withdraw_redaction(&self, r: Request<pb::ProposalRequest>) -> Res {
        let (svc, a, digest) = self
            .who_call(&r, "withus.v1.Notes/WithdrawRedaction")
            .await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let cmd = commands::notes_withdraw_redaction(q)?;
        self.run(&svc, &a, call, cmd).await
    }

    async fn agree(&self, r: Request<pb::AgreeNoteRequest>) -> Res {
        let (svc, a, digest) = self.who_call(&r, "withus.v1.Notes/Agree").await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let cmd = commands::notes_agree(q)?;
        self.run(&svc, &a, call, cmd).await
    }

    async fn close(&self, r: Request<pb::CloseNoteRequest>) -> Res {
        let (svc, a, digest) = self.who_call(&r, "withus.v1.Notes/Close").await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let cmd = commands::notes_close(q)?;
        self.run(&svc, &a, call, cmd).await
    }

    async fn add_addendum(&self, r: Request<pb::NoteTextRequest>) -> Res {
        let (svc, a, digest) = self.who_call(&r, "withus.v1.Notes/AddAddendum").await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let worded = self.wording(wording::segments(&q.segments));
        let cmd = commands::notes_add_addendum(q)?;
        self.run_worded(&svc, &a, call, cmd, worded).await
    }

    async fn check_wording(
        &self,
        r: Request<pb::CheckWordingRequest>,
    ) -> Result<Response<pb::WordingPrompts>, Status> {
        // Authenticated like every call; nothing is read about anyone and nothing appended.
        let _ = self.who(&r).await?;
        wording::check_wording(&self.shared.language, r.get_ref()).map(Response::new)
    }
}

#[tonic::async_trait]
impl pb::discussions_server::Discussions for CareApi {
    async fn record(&self, r: Request<pb::RecordDiscussionRequest>) -> Res {
        let (svc, a, digest) = self.who_call(&r, "withus.v1.Discussions/Record").await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let worded = self.wording(wording::segments(&q.summary));
        let cmd = commands::discussions_record(q)?;
        self.run_worded(&svc, &a, call, cmd, worded).await
    }
}

#[tonic::async_trait]
impl pb::statements_server::Statements for CareApi {
    async fn add(&self, r: Request<pb::AddStatementRequest>) -> Res {
        let (svc, a, digest) = self.who_call(&r, "withus.v1.Statements/Add").await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        // No wording prompts: a statement is the person's own words about their record.
        let cmd = commands::statements_add(q)?;
        self.run(&svc, &a, call, cmd).await
    }
}

#[tonic::async_trait]
impl pb::authorities_server::Authorities for CareApi {
    async fn grant(&self, r: Request<pb::GrantAuthorityRequest>) -> Res {
        let (svc, a, digest) = self.who_call(&r, "withus.v1.Authorities/Grant").await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let cmd = commands::authorities_grant(q)?;
        self.run(&svc, &a, call, cmd).await
    }

    async fn end(&self, r: Request<pb::EndAuthorityRequest>) -> Res {
        let (svc, a, digest) = self.who_call(&r, "withus.v1.Authorities/End").await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let cmd = commands::authorities_end(q)?;
        self.run(&svc, &a, call, cmd).await
    }
}

#[tonic::async_trait]
impl pb::consent_server::Consent for CareApi {
    async fn grant(&self, r: Request<pb::GrantConsentRequest>) -> Res {
        let (svc, a, digest) = self.who_call(&r, "withus.v1.Consent/Grant").await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let cmd = commands::consent_grant(q)?;
        self.run(&svc, &a, call, cmd).await
    }

    async fn revoke(&self, r: Request<pb::RevokeConsentRequest>) -> Res {
        let (svc, a, digest) = self.who_call(&r, "withus.v1.Consent/Revoke").await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let cmd = commands::consent_revoke(q)?;
        self.run(&svc, &a, call, cmd).await
    }
}

#[tonic::async_trait]
impl pb::safeguarding_server::Safeguarding for CareApi {
    async fn raise(&self, r: Request<pb::RaiseConcernRequest>) -> Res {
        let (svc, a, digest) = self.who_call(&r, "withus.v1.Safeguarding/Raise").await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let worded = self.wording(wording::segments(&q.summary));
        let cmd = commands::safeguarding_raise(q)?;
        self.run_worded(&svc, &a, call, cmd, worded).await
    }

    async fn acknowledge(&self, r: Request<pb::ConcernRequest>) -> Res {
        let (svc, a, digest) = self
            .who_call(&r, "withus.v1.Safeguarding/Acknowledge")
            .await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let cmd = commands::safeguarding_acknowledge(q)?;
        self.run(&svc, &a, call, cmd).await
    }

    async fn record_outcome(&self, r: Request<pb::OutcomeRequest>) -> Res {
        let (svc, a, digest) = self
            .who_call(&r, "withus.v1.Safeguarding/RecordOutcome")
            .await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let worded = self.wording(wording::field("detail", &q.detail));
        let cmd = commands::safeguarding_record_outcome(q)?;
        self.run_worded(&svc, &a, call, cmd, worded).await
    }

    async fn inform_subject(&self, r: Request<pb::InformRequest>) -> Res {
        let (svc, a, digest) = self
            .who_call(&r, "withus.v1.Safeguarding/InformSubject")
            .await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let cmd = commands::safeguarding_inform_subject(q)?;
        self.run(&svc, &a, call, cmd).await
    }

    async fn withhold(&self, r: Request<pb::WithholdRequest>) -> Res {
        let (svc, a, digest) = self.who_call(&r, "withus.v1.Safeguarding/Withhold").await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let worded = self.wording(wording::field("justification", &q.justification));
        let cmd = commands::safeguarding_withhold(q)?;
        self.run_worded(&svc, &a, call, cmd, worded).await
    }

    async fn release(&self, r: Request<pb::ReleaseRequest>) -> Res {
        let (svc, a, digest) = self.who_call(&r, "withus.v1.Safeguarding/Release").await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let cmd = commands::safeguarding_release(q)?;
        self.run(&svc, &a, call, cmd).await
    }
}

#[tonic::async_trait]
impl pb::records_server::Records for CareApi {
    type GetMyBundleStream = BundleStream;

    async fn get_my_bundle(
        &self,
        r: Request<pb::GetMyBundleRequest>,
    ) -> Result<Response<BundleStream>, Status> {
        let (svc, a) = self.who(&r).await?;
        let bytes = svc.my_bundle(&a.id).map_err(status)?;
        Ok(Response::new(bundle_stream(bytes, String::new())))
    }

    async fn get_record(
        &self,
        r: Request<pb::GetRecordRequest>,
    ) -> Result<Response<pb::RecordResponse>, Status> {
        let (svc, a) = self.who(&r).await?;
        let q = r.into_inner();
        let size = page_size_or(q.page_size, RECORD_PAGE_MAX)?;
        let (as_of, from) = if q.page_token.is_empty() {
            let as_of = match (q.as_of_seq, q.as_of_time) {
                (Some(_), Some(_)) => {
                    return Err(refuse(
                        Code::InvalidArgument,
                        "as_of_seq",
                        "give as_of_seq or as_of_time, not both",
                    ))
                }
                (Some(n), None) => Some(AsOf::Seq(n)),
                (None, Some(t)) => Some(AsOf::Time(required_time("as_of_time", Some(t))?)),
                (None, None) => None,
            };
            (as_of, 0)
        } else {
            if q.as_of_seq.is_some() || q.as_of_time.is_some() {
                return Err(refuse(
                    Code::InvalidArgument,
                    "page_token",
                    "a later page is read as of the first page's as_of_seq: leave as_of_seq \
                     and as_of_time unset",
                ));
            }
            let (as_of, from) = record_page_token_of(&q.page_token)?;
            (Some(AsOf::Seq(as_of)), from)
        };
        let window = RecordWindow { from, size };
        let read = svc
            .read_record_window(&a.id, &q.subject, as_of, window)
            .await
            .map_err(status)?;
        let next_page_token = if read.more {
            record_page_token(read.view.as_of, from.saturating_add(size))
        } else {
            String::new()
        };
        Ok(Response::new(pb::RecordResponse {
            record: Some(super::record::record(read.view)),
            basis: read.basis.unwrap_or_default(),
            receipts: Some(read_receipts(read.receipts)),
            next_page_token,
        }))
    }

    async fn get_access_log(
        &self,
        r: Request<pb::AccessLogRequest>,
    ) -> Result<Response<pb::AccessLogResponse>, Status> {
        let (svc, a) = self.who(&r).await?;
        let q = r.into_inner();
        let page = page(q.page_size, &q.page_token)?;
        let found = svc
            .access_log(&a.id, &q.subject, page)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::AccessLogResponse {
            lines: found.lines.into_iter().map(access_line).collect(),
            next_page_token: found.next.map(page_token).unwrap_or_default(),
        }))
    }
}

#[tonic::async_trait]
impl pb::subject_access_server::SubjectAccess for CareApi {
    async fn request(&self, r: Request<pb::SarRequest>) -> Res {
        let (svc, a, digest) = self.who_call(&r, "withus.v1.SubjectAccess/Request").await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let cmd = commands::subject_access_request(q)?;
        self.run(&svc, &a, call, cmd).await
    }

    async fn fulfil(
        &self,
        r: Request<pb::FulfilSarRequest>,
    ) -> Result<Response<pb::FulfilSarResponse>, Status> {
        let (svc, a, digest) = self.who_call(&r, "withus.v1.SubjectAccess/Fulfil").await?;
        let q = r.into_inner();
        let (hash, r) = svc
            .fulfil_sar(&a.id, call(q.call, digest)?, &q.sar_id)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::FulfilSarResponse {
            bundle_hash: to_hex(&hash),
            receipts: Some(receipts(r)),
        }))
    }

    async fn status(
        &self,
        r: Request<pb::SarStatusRequest>,
    ) -> Result<Response<pb::SarStatus>, Status> {
        let (svc, a) = self.who(&r).await?;
        let s = svc
            .sar_status(&a.id, &r.into_inner().sar_id)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::SarStatus {
            sar_id: s.sar_id,
            subject: s.subject,
            requested_at: Some(timestamp(s.requested_at)),
            due_date: s.due_date,
            fulfilled_at: optional_timestamp(s.fulfilled_at),
            bundle_hash: s.bundle_hash.map(|h| to_hex(&h.0)).unwrap_or_default(),
            withheld: s.withheld.unwrap_or(0),
        }))
    }

    type GetBundleStream = BundleStream;

    async fn get_bundle(
        &self,
        r: Request<pb::SarStatusRequest>,
    ) -> Result<Response<BundleStream>, Status> {
        let (svc, a) = self.who(&r).await?;
        let sar_id = r.into_inner().sar_id;
        let (bytes, sar) = svc.sar_bundle(&a.id, &sar_id).await.map_err(status)?;
        let recorded = sar.bundle_hash.map(|h| to_hex(&h.0)).unwrap_or_default();
        Ok(Response::new(bundle_stream(bytes, recorded)))
    }

    async fn get_fulfilment(
        &self,
        r: Request<pb::SarStatusRequest>,
    ) -> Result<Response<pb::Fulfilment>, Status> {
        let (svc, a) = self.who(&r).await?;
        let f = svc
            .sar_fulfilment(&a.id, &r.into_inner().sar_id)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::Fulfilment {
            seq: f.seq,
            entry: f.entry,
            proof: f.proof.iter().map(|h| h.to_vec()).collect(),
            checkpoint: f.checkpoint,
        }))
    }
}

/// The most bytes of a bundle one message carries: well under tonic's 4 MiB default, so a
/// client with default limits reads a bundle of any size.
pub const BUNDLE_CHUNK_BYTES: usize = 1024 * 1024;

/// A bundle file as a stream of [`pb::BundleChunk`]s.
pub type BundleStream =
    std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::BundleChunk, Status>> + Send>>;

/// Splits a composed bundle into chunks; the first names the total length and, for a fulfilled
/// request, the recorded bundle hash.
fn bundle_stream(bytes: Vec<u8>, recorded_bundle_hash: String) -> BundleStream {
    let total = bytes.len() as u64;
    let mut chunks: Vec<pb::BundleChunk> = bytes
        .chunks(BUNDLE_CHUNK_BYTES)
        .map(|data| pb::BundleChunk {
            data: data.to_vec(),
            ..Default::default()
        })
        .collect();
    if chunks.is_empty() {
        chunks.push(pb::BundleChunk::default());
    }
    chunks[0].total_bytes = total;
    chunks[0].recorded_bundle_hash = recorded_bundle_hash;
    Box::pin(tokio_stream::iter(chunks.into_iter().map(Ok)))
}

/// The default number of items on one page of a record (also the most, as for every list).
const RECORD_PAGE_MAX: usize = 1000;

/// The token of a record's next page: the tree size the pages are read as of, and the first
/// item of the next page. Opaque to clients.
fn record_page_token(as_of: u64, from: usize) -> String {
    format!("r{as_of}.{from}")
}

fn record_page_token_of(token: &str) -> Result<(u64, usize), Status> {
    token
        .strip_prefix('r')
        .and_then(|rest| rest.split_once('.'))
        .and_then(|(as_of, from)| Some((as_of.parse().ok()?, from.parse().ok()?)))
        .ok_or_else(|| {
            refuse(
                Code::InvalidArgument,
                "page_token",
                "is not a token this server gave; pass next_page_token unchanged",
            )
        })
}

/// A line of the access log on the wire.
fn access_line(l: crate::service::AccessLine) -> pb::AccessLine {
    let refused = l.event_type == "access.denied";
    let (basis, denial_reason) = if refused {
        let reason = crate::domain::types::DenialReason::parse(&l.basis_or_reason);
        (String::new(), optional_to_wire::<pb::DenialReason>(reason))
    } else {
        (l.basis_or_reason, 0)
    };
    let reader_role = crate::domain::types::Role::parse(&l.reader_role);
    pb::AccessLine {
        seq: l.seq,
        at: Some(timestamp(l.at)),
        reader: l.reader,
        reader_role: optional_to_wire::<pb::Role>(reader_role),
        kind: if refused {
            pb::AccessKind::Refused as i32
        } else {
            pb::AccessKind::Read as i32
        },
        basis,
        denial_reason,
        streams: l.streams,
        suppressed: l.suppressed,
    }
}
