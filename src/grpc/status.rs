//! The one table from service errors to gRPC statuses. Every refusal keeps its rule and field in
//! the message, so a client developer can act on it.

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
    Status::new(code(e.code()), e.to_string())
}

/// A refusal made in the gRPC layer itself (before the service is asked).
pub fn refuse(c: Code, field: &str, why: &str) -> Status {
    Status::new(code(c), format!("{field}: {why}"))
}
