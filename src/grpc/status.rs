//! The one table from service errors to gRPC statuses. Every refusal keeps its rule and field in
//! the message, so a client developer can act on it.

use tonic::{Code as Grpc, Status};

use crate::domain::Code;
use crate::service::ServiceError;
use crate::store::StoreError;

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
    }
}

/// Translates a service error. Storage failures are `UNAVAILABLE` (retry later, nothing was
/// acknowledged) except corruption, which is `DATA_LOSS`, and the store's own argument checks.
pub fn status(e: ServiceError) -> Status {
    match &e {
        ServiceError::Store(StoreError::Corrupt { .. }) => Status::data_loss(e.to_string()),
        ServiceError::Store(StoreError::Invalid { .. }) => Status::invalid_argument(e.to_string()),
        ServiceError::Store(StoreError::Proof(_)) => Status::out_of_range(e.to_string()),
        ServiceError::Store(_) => Status::unavailable(e.to_string()),
        _ => Status::new(code(e.code()), e.to_string()),
    }
}

/// A refusal made in the gRPC layer itself (before the service is asked).
pub fn refuse(c: Code, field: &str, why: &str) -> Status {
    Status::new(code(c), format!("{field}: {why}"))
}
