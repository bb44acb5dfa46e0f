//! The `withus.v1.Admin` service: actors, tokens, sign-in identities and a person's one-time
//! sign-in codes. The domain decides who may (admins; for a sign-in code also the person's peer
//! worker).

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::auth::actor;
use super::commands;
use super::convert::{
    call, optional_timestamp, page_size_of, receipts, request_digest, time, timestamp, to_wire,
};
use super::pb;
use super::status::{refuse, status};
use super::Shared;
use crate::domain::Code;
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
        let expires_at = time("expires_at", req.expires_at)?;
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

    async fn issue_sign_in_code(
        &self,
        r: Request<pb::IssueSignInCodeRequest>,
    ) -> Result<Response<pb::IssueSignInCodeResponse>, Status> {
        let svc = self.shared.service()?;
        let a = actor(&svc, &r).await?;
        let digest = request_digest(&svc, "withus.v1.Admin/IssueSignInCode", &r);
        let req = r.into_inner();
        let call = call(req.call, digest)?;
        let (code, expires_at, r) = svc
            .issue_signin_code(&a.id, call, &req.person)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::IssueSignInCodeResponse {
            code,
            expires_at: Some(timestamp(expires_at)),
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

    async fn link_identity(
        &self,
        r: Request<pb::LinkIdentityRequest>,
    ) -> Result<Response<pb::Receipts>, Status> {
        let svc = self.shared.service()?;
        let a = actor(&svc, &r).await?;
        let digest = request_digest(&svc, "withus.v1.Admin/LinkIdentity", &r);
        let mut req = r.into_inner();
        let call = call(req.call.take(), digest)?;
        let r = svc
            .link_identity(&a.id, call, &req.actor, &req.issuer, &req.subject)
            .await
            .map_err(status)?;
        Ok(Response::new(receipts(r)))
    }

    async fn unlink_identity(
        &self,
        r: Request<pb::UnlinkIdentityRequest>,
    ) -> Result<Response<pb::Receipts>, Status> {
        let svc = self.shared.service()?;
        let a = actor(&svc, &r).await?;
        let digest = request_digest(&svc, "withus.v1.Admin/UnlinkIdentity", &r);
        let mut req = r.into_inner();
        let call = call(req.call.take(), digest)?;
        let cmd = commands::admin_unlink_identity(req)?;
        let r = svc.execute(&a.id, call, cmd).await.map_err(status)?;
        Ok(Response::new(receipts(r)))
    }

    async fn list_actors(
        &self,
        r: Request<pb::ListActorsRequest>,
    ) -> Result<Response<pb::ListActorsResponse>, Status> {
        let svc = self.shared.service()?;
        let a = actor(&svc, &r).await?;
        let q = r.into_inner();
        let size = page_size_of(q.page_size)?;
        // The token is the last id of the previous page, hex-encoded (ids are printable ASCII).
        let after = if q.page_token.is_empty() {
            None
        } else {
            let bytes = hex::decode(&q.page_token).ok();
            let id = bytes
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    refuse(
                        Code::InvalidArgument,
                        "page_token",
                        "is not a token this server gave (pass next_page_token back unchanged)",
                    )
                })?;
            Some(id)
        };
        let (list, more) = svc
            .list_actors(&a.id, after.as_deref(), size)
            .map_err(status)?;
        let next_page_token = match (more, list.last()) {
            (true, Some(last)) => hex::encode(last.id.as_bytes()),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListActorsResponse {
            actors: list
                .into_iter()
                .map(|x| pb::ActorSummary {
                    id: x.id,
                    role: to_wire::<pb::Role>(x.role),
                    team: x.team.unwrap_or_default(),
                    active: x.active,
                    registered_at: Some(timestamp(x.registered_at)),
                    deactivated_at: optional_timestamp(x.deactivated_at),
                    usable_tokens: u32::try_from(x.usable_tokens).unwrap_or(u32::MAX),
                    linked_issuers: x.linked_issuers,
                })
                .collect(),
            next_page_token,
        }))
    }

    type BackupStream = super::backup::ChunkStream<pb::BackupChunk>;

    async fn backup(
        &self,
        r: Request<pb::BackupRequest>,
    ) -> Result<Response<Self::BackupStream>, Status> {
        let svc = self.shared.service()?;
        let a = actor(&svc, &r).await?;
        crate::domain::access::decide_audit(&a, crate::domain::access::AuditRead::Backup)
            .map_err(|r| status(r.into()))?;
        tracing::info!(actor = %a.id, "backup requested");
        let stream = super::backup::backup(svc, self.shared.stopping.clone(), r.into_inner())?;
        Ok(Response::new(stream))
    }
}
