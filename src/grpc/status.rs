//! The one table from service errors to gRPC statuses. Every refusal keeps its rule and field in
//! the message, so a client developer can act on it; no message is longer than
//! [`MAX_MESSAGE_BYTES`], whatever a refusal quotes.

use tonic::{Code as Grpc, Status};

use crate::domain::Code;
use crate::service::ServiceError;

/// The gRPC code of a domain refusal class.
pub fn code(c: Code) -> Grpc {
    match c {
        Code::InvalidArgument => Grpc::InvalidArgument,
        Code::FailedPrecondition => Grpc::FailedPrecondition,
        Code::PermissionDenied => Grpc::PermissionDenied,
        Code::NotFound => Grpc::NotFound,
        Code::AlreadyExists => Grpc::AlreadyExists,
        Code::Aborted => Grpc::Aborted,
        Code::Unauthenticated => Grpc::Unauthenticated,
        Code::ResourceExhausted => Grpc::ResourceExhausted,
        Code::OutOfRange => Grpc::OutOfRange,
        Code::Unavailable => Grpc::Unavailable,
        Code::DataLoss => Grpc::DataLoss,
    }
}

/// Translates a service error: its class is decided once, by [`ServiceError::code`].
pub fn status(e: ServiceError) -> Status {
    Status::new(code(e.code()), capped(e.to_string()))
}

/// Translates a store error met outside the service (proofs, checkpoints, entries).
pub fn store_status(e: crate::store::StoreError) -> Status {
    status(e.into())
}

/// A refusal made in the gRPC layer itself (before the service is asked).
pub fn refuse(c: Code, field: &str, why: &str) -> Status {
    Status::new(code(c), capped(format!("{field}: {why}")))
}

/// Longest status message sent. Messages quote identifiers (bounded by the identifier rule)
/// and cut the client's other values short (`convert::shown`); this bounds whatever slips
/// through. (A status message travels as a trailer: one too long for the client's header limit
/// fails the whole call.)
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// `m`, cut at a character boundary to at most [`MAX_MESSAGE_BYTES`] (ending "…").
fn capped(mut m: String) -> String {
    if m.len() > MAX_MESSAGE_BYTES {
        let mut cut = MAX_MESSAGE_BYTES - '…'.len_utf8();
        while !m.is_char_boundary(cut) {
            cut -= 1;
        }
        m.truncate(cut);
        m.push('…');
    }
    m
}
