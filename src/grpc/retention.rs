//! `withus.v1.Retention`: the dates a retention period counts from, legal holds, the DPO's plan
//! and running the schedule now. Each handler authenticates, translates, and answers; the domain
//! ([`crate::domain::retention`]) decides.

use tonic::{Request, Response, Status};

use super::care::CareApi;
use super::commands;
use super::convert::{call, receipts, time};
use super::pb;
use super::status::status;

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
        let at = time("at", &r.get_ref().at)?;
        let plan = svc.retention_plan(&a.id, at).map_err(status)?;
        Ok(Response::new(pb::RetentionPlan {
            entries: plan
                .into_iter()
                .map(|e| pb::RetentionPlanEntry {
                    subject: e.subject,
                    state: e.state.as_str().to_string(),
                    rule: e.rule.map(|r| r.as_str().to_string()).unwrap_or_default(),
                    basis: e.basis.unwrap_or_default(),
                    due: e.due.unwrap_or_default(),
                    why: e.why.unwrap_or_default(),
                    holds: e.holds,
                    segments: e.segments as u64,
                    erased_at: e.erased_at.map(|t| t.to_string()).unwrap_or_default(),
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
