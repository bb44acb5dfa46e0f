//! The `withus.v1.Admin` service: actors and tokens. The domain decides who may (admins).

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::auth::actor;
use super::convert::{call, hash, receipts, request_digest, role, time, vocab};
use super::pb;
use super::status::status;
use super::Shared;
use crate::domain::types::{DeactivationReason, Passage};
use crate::domain::Command;
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
        let req = r.into_inner();
        let call = call(req.call, digest)?;
        let role = role("role", req.role)?;
        let display = Passage::new("display", req.display_name);
        let cmd = Command::RegisterActor {
            id: req.id,
            role,
            team: (!req.team.is_empty()).then_some(req.team),
            display,
        };
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
        let req = r.into_inner();
        let call = call(req.call, digest)?;
        let reason = vocab(
            "reason",
            &req.reason,
            DeactivationReason::parse,
            DeactivationReason::expected(),
        )?;
        let cmd = Command::DeactivateActor { id: req.id, reason };
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
        let req = r.into_inner();
        let call = call(req.call, digest)?;
        let token_hash = hash("token_hash", &req.token_hash)?;
        let r = svc
            .execute(&a.id, call, Command::RevokeToken { token_hash })
            .await
            .map_err(status)?;
        Ok(Response::new(receipts(r)))
    }
}
