//! Authentication: `authorization: Bearer <token>` → the actor, through the service's token
//! projection. Every RPC calls [`actor`] first; what the actor may then do is decided by the
//! domain and the access module, never here.

use tonic::{Request, Status};

use super::status::status;
use crate::domain::projection::ActorRec;
use crate::service::Service;

/// The actor behind the request's bearer token, or `UNAUTHENTICATED` saying what to fix.
pub async fn actor<T>(service: &Service, request: &Request<T>) -> Result<ActorRec, Status> {
    let header = request.metadata().get("authorization").ok_or_else(|| {
        Status::unauthenticated("no authorization header; send `authorization: Bearer <token>`")
    })?;
    let value = header
        .to_str()
        .map_err(|_| Status::unauthenticated("the authorization header is not ASCII"))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(|| {
            Status::unauthenticated("the authorization header must be `Bearer <token>`")
        })?
        .trim();
    if token.is_empty() || token.len() > 256 {
        return Err(Status::unauthenticated(
            "the bearer token is empty or too long",
        ));
    }
    service.authenticate(token).await.map_err(status)
}
