//! The one table from service errors to gRPC statuses. Every refusal keeps its rule and field in
//! the message, so a client developer can act on it; no message is longer than
//! [`MAX_MESSAGE_BYTES`], whatever a refusal quotes. And every status carries the richer error
//! model's details (AIP-193): a `google.rpc.ErrorInfo` whose `reason` a program can switch on
//! (`NOTE_LATEST_REVISION`, `ACCESS_DENIED`, …; domain [`ERROR_DOMAIN`]) and whose `metadata`
//! names the `rule` and `field`; a `BadRequest` field violation for `INVALID_ARGUMENT`; a
//! `RetryInfo` when the caller should wait.

use std::collections::HashMap;

use tonic::{Code as Grpc, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

use crate::domain::Code;
use crate::service::ServiceError;
use crate::store::StoreError;

/// The `domain` of every `ErrorInfo` withus sends.
pub const ERROR_DOMAIN: &str = "withus";

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

/// `rule` (`note.latest_revision`) as an AIP-193 reason (`NOTE_LATEST_REVISION`).
fn reason_of(rule: &str) -> String {
    rule.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// What a program reads of an error: its reason and metadata (and, for some, when to retry).
struct Details {
    reason: String,
    metadata: Vec<(&'static str, String)>,
    retry_after_ms: Option<u64>,
}

impl Details {
    fn new(reason: impl Into<String>) -> Details {
        Details {
            reason: reason.into(),
            metadata: Vec::new(),
            retry_after_ms: None,
        }
    }

    fn with(mut self, key: &'static str, value: impl Into<String>) -> Details {
        self.metadata.push((key, value.into()));
        self
    }
}

/// The reason and metadata of a service error: decided here, once, beside its code.
fn details(e: &ServiceError) -> Details {
    match e {
        ServiceError::Refused(r) => Details::new(reason_of(r.rule))
            .with("rule", r.rule)
            .with("field", r.field.clone()),
        // The same reason whether or not the person exists: the denial reason is what the
        // message already says, and what the refusal's own entry records.
        ServiceError::AccessDenied { reason, .. } => Details::new("ACCESS_DENIED")
            .with("field", "subject")
            .with("denial_reason", reason.as_str()),
        ServiceError::Conflict {
            stream,
            expected,
            actual,
        } => Details::new("STREAM_VERSION_CONFLICT")
            .with("field", "call.expected_version")
            .with("stream", stream.clone())
            .with("expected_version", expected.to_string())
            .with("actual_version", actual.to_string()),
        ServiceError::Unauthenticated(_) => Details::new("UNAUTHENTICATED"),
        ServiceError::RateLimited { retry_after_ms } => Details {
            retry_after_ms: Some(*retry_after_ms),
            ..Details::new("TOO_MANY_REFUSALS").with("retry_after_ms", retry_after_ms.to_string())
        },
        ServiceError::Store(store) => match store {
            StoreError::Invalid { field, .. } => {
                Details::new("INVALID_FIELD").with("field", field.clone())
            }
            StoreError::CommandReused { .. } => {
                Details::new("COMMAND_ID_REUSED").with("field", "call.command_id")
            }
            StoreError::Corrupt { .. } => Details::new("STORE_CORRUPT"),
            StoreError::Proof(_) => Details::new("PROOF_OUT_OF_RANGE"),
            StoreError::NotFound(_) => Details::new("NOT_FOUND"),
            _ => Details::new("STORE_UNAVAILABLE"),
        },
    }
}

/// A status with its message and the richer error model's details.
fn with_details(grpc: Grpc, message: String, details: Details) -> Status {
    let metadata: HashMap<String, String> = details
        .metadata
        .iter()
        .map(|(k, v)| (k.to_string(), shown_value(v)))
        .collect();
    let mut error = ErrorDetails::with_error_info(details.reason, ERROR_DOMAIN, metadata);
    if grpc == Grpc::InvalidArgument {
        if let Some((_, field)) = details.metadata.iter().find(|(k, _)| *k == "field") {
            error.add_bad_request_violation(shown_value(field), capped(message.clone()));
        }
    }
    if let Some(ms) = details.retry_after_ms {
        error.set_retry_info(Some(std::time::Duration::from_millis(ms)));
    }
    Status::with_error_details(grpc, capped(message), error)
}

/// A metadata value as sent: at most 128 bytes (field names and rules are short; this bounds a
/// stream name a client chose).
fn shown_value(v: &str) -> String {
    cut_to(v.to_string(), 128)
}

/// Translates a service error: its class is decided once, by [`ServiceError::code`], its
/// reason and metadata once, here.
pub fn status(e: ServiceError) -> Status {
    let details = details(&e);
    with_details(code(e.code()), e.to_string(), details)
}

/// A status made in the gRPC layer (not from a service error) with its reason.
pub fn with_reason(c: Code, reason: &str, message: String) -> Status {
    with_details(code(c), message, Details::new(reason))
}

/// Translates a store error met outside the service (proofs, checkpoints, entries).
pub fn store_status(e: crate::store::StoreError) -> Status {
    status(e.into())
}

/// A refusal made in the gRPC layer itself (before the service is asked): a request field that
/// does not translate (reason `INVALID_FIELD`, or the code's name for other classes).
pub fn refuse(c: Code, field: &str, why: &str) -> Status {
    let reason = match c {
        Code::InvalidArgument => "INVALID_FIELD".to_string(),
        other => crate::metrics::status_code_name(code(other) as i32).to_string(),
    };
    with_details(
        code(c),
        format!("{field}: {why}"),
        Details::new(reason).with("field", field.to_string()),
    )
}

/// Longest status message sent. Messages quote identifiers (bounded by the identifier rule)
/// and never other client values (enums are numbers, times are refused by range); this bounds
/// whatever slips through. (A status message travels as a trailer: one too long for the client's header limit
/// fails the whole call.)
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// `m`, cut at a character boundary to at most [`MAX_MESSAGE_BYTES`] (ending "…").
fn capped(m: String) -> String {
    cut_to(m, MAX_MESSAGE_BYTES)
}

/// `m`, cut at a character boundary to at most `max` bytes, ending "…" when cut.
fn cut_to(mut m: String, max: usize) -> String {
    if m.len() > max {
        let mut cut = max - '…'.len_utf8();
        while !m.is_char_boundary(cut) {
            cut -= 1;
        }
        m.truncate(cut);
        m.push('…');
    }
    m
}
