//! Authentication: `authorization: Bearer <token>` → the actor, through the service's token
//! projection — a withus token, or an OpenID Connect JWT the service verifies and maps through
//! a linked identity. Every RPC calls [`actor`] first (a subscription again before each chunk it
//! sends); what the actor may then do is decided by the domain and the access module, never here.

use tonic::{Request, Status};

use super::status::status;
use crate::domain::projection::ActorRec;
use crate::service::Service;

/// Longest bearer credential accepted: room for an ID token with a 4096-bit RSA signature and
/// generous claims, below the 8 KiB header-list limit of `Limits` with gRPC's own headers.
pub const MAX_TOKEN_BYTES: usize = 7 * 1024;

/// The actor behind the request's bearer token, or `UNAUTHENTICATED` saying what to fix.
/// The actor's role (never their id) goes on the call's span (see `observe`).
pub async fn actor<T>(service: &Service, request: &Request<T>) -> Result<ActorRec, Status> {
    let actor = service
        .authenticate(token(request)?)
        .await
        .map_err(status)?;
    tracing::Span::current().record("role", actor.role.as_str());
    Ok(actor)
}

/// The request's bearer token, or `UNAUTHENTICATED` saying what to fix. A long-lived call (a
/// subscription) keeps it to authenticate again as it goes.
pub fn token<T>(request: &Request<T>) -> Result<&str, Status> {
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
    if token.is_empty() {
        return Err(Status::unauthenticated("the bearer token is empty"));
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Status::unauthenticated(format!(
            "the bearer token is longer than {MAX_TOKEN_BYTES} bytes; an ID token that large carries claims it should not"
        )));
    }
    Ok(token)
}
