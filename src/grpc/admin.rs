//! The `withus.v1.Admin` service: actors and tokens. The domain decides who may (admins).

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::auth::actor;
use super::commands;
use super::convert::{call, receipts, request_digest, time};
use super::pb;
use super::status::status;
use super::Shared;
use crate::format::to_hex;

pub struct AdminApi {
    pub(super) shared: Arc<Shared>,
}

#[tonic::async_trait]
impl pb::admin_server::Admin for AdminApi {
    async fn register_actor(
        &self,
        r: Request<pb::RegisterActorRequest>,
    ) -> Result<Response<pb::Receipts>, Status> {
        let svc = self.shared.service()?;
        let a = actor(&svc, &r).await?;
        let digest = request_digest(&svc, "withus.v1.Admin/RegisterActor", &r);
        let mut req = r.into_inner();
        let call = call(req.call.take(), digest)?;
        let cmd = commands::admin_register_actor(req)?;
        let r = svc.execute(&a.id, call, cmd).await.map_err(status)?;
        Ok(Response::new(receipts(r)))
    }

    async fn deactivate_actor(
        &self,
        r: Request<pb::DeactivateActorRequest>,
    ) -> Result<Response<pb::Receipts>, Status> {
        let svc = self.shared.service()?;
        let a = actor(&svc, &r).await?;
        let digest = request_digest(&svc, "withus.v1.Admin/DeactivateActor", &r);
        let mut req = r.into_inner();
        let call = call(req.call.take(), digest)?;
        let cmd = commands::admin_deactivate_actor(req)?;
        let r = svc.execute(&a.id, call, cmd).await.map_err(status)?;
        Ok(Response::new(receipts(r)))
    }

    async fn issue_token(
        &self,
        r: Request<pb::IssueTokenRequest>,
    ) -> Result<Response<pb::IssueTokenResponse>, Status> {
        let svc = self.shared.service()?;
        let a = actor(&svc, &r).await?;
        let digest = request_digest(&svc, "withus.v1.Admin/IssueToken", &r);
        let req = r.into_inner();
        let call = call(req.call, digest)?;
        let expires_at = time("expires_at", &req.expires_at)?;
        let (token, r) = svc
            .issue_token(&a.id, call, &req.actor, expires_at)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::IssueTokenResponse {
            token_hash: to_hex(&crate::service::token_hash(&token)),
            token,
            receipts: Some(receipts(r)),
        }))
    }

    async fn revoke_token(
        &self,
        r: Request<pb::RevokeTokenRequest>,
    ) -> Result<Response<pb::Receipts>, Status> {
        let svc = self.shared.service()?;
        let a = actor(&svc, &r).await?;
        let digest = request_digest(&svc, "withus.v1.Admin/RevokeToken", &r);
        let mut req = r.into_inner();
        let call = call(req.call.take(), digest)?;
        let cmd = commands::admin_revoke_token(req)?;
        let r = svc.execute(&a.id, call, cmd).await.map_err(status)?;
        Ok(Response::new(receipts(r)))
    }
}
