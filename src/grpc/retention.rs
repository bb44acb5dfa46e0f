//! `withus.v1.Retention`: the dates a retention period counts from, legal holds, the DPO's plan
//! and running the schedule now. Each handler authenticates, translates, and answers; the domain
//! ([`crate::domain::retention`]) decides.

use tonic::{Request, Response, Status};

use super::care::CareApi;
use super::commands;
use super::convert::{
    call, optional_timestamp, optional_to_wire, page_size_of, receipts, time, to_wire,
};
use super::pb;
use super::status::{refuse, status};
use crate::domain::Code;

type Res = Result<Response<pb::Receipts>, Status>;

#[tonic::async_trait]
impl pb::retention_server::Retention for CareApi {
    async fn record_date(&self, r: Request<pb::RecordRetentionDateRequest>) -> Res {
        let (svc, a, digest) = self.who_call(&r, "withus.v1.Retention/RecordDate").await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let cmd = commands::retention_record_date(q)?;
        self.run(&svc, &a, call, cmd).await
    }

    async fn place_hold(&self, r: Request<pb::PlaceLegalHoldRequest>) -> Res {
        let (svc, a, digest) = self.who_call(&r, "withus.v1.Retention/PlaceHold").await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let cmd = commands::retention_place_hold(q)?;
        self.run(&svc, &a, call, cmd).await
    }

    async fn lift_hold(&self, r: Request<pb::LiftLegalHoldRequest>) -> Res {
        let (svc, a, digest) = self.who_call(&r, "withus.v1.Retention/LiftHold").await?;
        let mut q = r.into_inner();
        let call = call(q.call.take(), digest)?;
        let cmd = commands::retention_lift_hold(q)?;
        self.run(&svc, &a, call, cmd).await
    }

    async fn plan(
        &self,
        r: Request<pb::RetentionPlanRequest>,
    ) -> Result<Response<pb::RetentionPlan>, Status> {
        let (svc, a) = self.who(&r).await?;
        let q = r.get_ref();
        let at = time("at", q.at)?;
        let size = page_size_of(q.page_size)?;
        let after = if q.page_token.is_empty() {
            None
        } else {
            Some(subject_of_token(&q.page_token)?)
        };
        let mut plan = svc.retention_plan(&a.id, at).map_err(status)?;
        plan.sort_by(|x, y| x.subject.cmp(&y.subject));
        let mut page: Vec<_> = plan
            .into_iter()
            .filter(|e| {
                after
                    .as_deref()
                    .is_none_or(|after| e.subject.as_str() > after)
            })
            .take(size.saturating_add(1))
            .collect();
        let more = page.len() > size;
        page.truncate(size);
        let next_page_token = match (more, page.last()) {
            (true, Some(last)) => hex::encode(last.subject.as_bytes()),
            _ => String::new(),
        };
        Ok(Response::new(pb::RetentionPlan {
            next_page_token,
            entries: page
                .into_iter()
                .map(|e| pb::RetentionPlanEntry {
                    subject: e.subject,
                    state: to_wire::<pb::PlanState>(e.state),
                    rule: optional_to_wire::<pb::RetentionRule>(e.rule),
                    basis: e.basis.unwrap_or_default(),
                    due: e.due.unwrap_or_default(),
                    why: e.why.unwrap_or_default(),
                    holds: e.holds,
                    segments: e.segments as u64,
                    erased_at: optional_timestamp(e.erased_at),
                })
                .collect(),
        }))
    }

    async fn run(
        &self,
        r: Request<pb::RunRetentionRequest>,
    ) -> Result<Response<pb::RetentionRunResult>, Status> {
        let (svc, a) = self.who(&r).await?;
        let done = svc.run_retention_as(&a.id).await.map_err(status)?;
        Ok(Response::new(pb::RetentionRunResult {
            erased: done
                .erased
                .into_iter()
                .map(|(subject, n, r)| pb::RetentionErasure {
                    subject,
                    segments: n as u64,
                    receipts: receipts(r).receipts,
                })
                .collect(),
        }))
    }
}

/// The subject a plan page token continues after (the hex of its id, as `ListActors` does).
fn subject_of_token(token: &str) -> Result<String, Status> {
    hex::decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| {
            refuse(
                Code::InvalidArgument,
                "page_token",
                "is not a token this server gave; pass next_page_token unchanged",
            )
        })
}
