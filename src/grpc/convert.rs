//! Translation between wire messages and service types, with the field checks the wire adds
//! (required fields, enum values, times, hex). Values quoted back in a refusal are cut short
//! ([`shown`]).

use tonic::Status;

use super::pb;
use super::status::refuse;
use crate::domain::types::{is_id, Role, Time, ID_RULE};
use crate::domain::Code;
use crate::format::{parse_hex, to_hex, Hash};
use crate::service::{Call, Page, Service, MAX_PAGE};
use crate::store::Receipt;

/// The digest of a request as it came in: its gRPC path (`method`) and its message re-encoded
/// (prost encodes fields in order, so the same message gives the same bytes), keyed by the store.
pub fn request_digest<T: prost::Message>(
    svc: &Service,
    method: &str,
    r: &tonic::Request<T>,
) -> Hash {
    svc.store()
        .request_digest(method, &r.get_ref().encode_to_vec())
}

/// The call options every mutating call must carry, with the digest of the request they came in
/// (see [`Call::request_digest`]).
pub fn call(c: Option<pb::CallOptions>, request_digest: Hash) -> Result<Call, Status> {
    let c = c.ok_or_else(|| {
        refuse(
            Code::InvalidArgument,
            "call",
            "is required: give at least a command_id",
        )
    })?;
    if !is_id(&c.command_id) {
        return Err(refuse(Code::InvalidArgument, "call.command_id", ID_RULE));
    }
    Ok(Call {
        command_id: Some(c.command_id),
        expected_version: c.expected_version,
        request_digest: Some(request_digest),
    })
}

/// A list request's `page_size` and `page_token` (AIP-158). The token is opaque to clients; it
/// is `a` and the seq of the last item of the previous page.
pub fn page(page_size: i32, page_token: &str) -> Result<Page, Status> {
    let size = page_size_of(page_size)?;
    let after = if page_token.is_empty() {
        None
    } else {
        let seq = page_token
            .strip_prefix('a')
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| {
                refuse(
                    Code::InvalidArgument,
                    "page_token",
                    "is not a token this server gave; pass next_page_token unchanged",
                )
            })?;
        Some(seq)
    };
    Ok(Page { size, after })
}

/// A list request's `page_size` (AIP-158): 0 is the default, at most [`MAX_PAGE`], never
/// negative.
pub fn page_size_of(page_size: i32) -> Result<usize, Status> {
    match page_size {
        0 => Ok(Page::default().size),
        n if n < 0 => Err(refuse(
            Code::InvalidArgument,
            "page_size",
            "must not be negative",
        )),
        n => Ok(usize::try_from(n).unwrap_or(MAX_PAGE).min(MAX_PAGE)),
    }
}

/// The `next_page_token` that continues after `seq`.
pub fn page_token(seq: u64) -> String {
    format!("a{seq}")
}

pub fn receipts(r: Vec<Receipt>) -> pb::Receipts {
    pb::Receipts {
        receipts: r
            .into_iter()
            .map(|r| pb::Receipt {
                seq: r.seq,
                leaf_hash: to_hex(&r.leaf_hash),
                tree_size: r.tree_size,
                stream_version: r.version.saturating_add(1),
                stream: r.stream,
            })
            .collect(),
        wording: None,
    }
}

/// The receipts of a logged read: where its entries are, not which stream they joined — the
/// access stream's version would tell the reader how often anyone has read the person, which
/// only the person and auditors may know (`GetAccessLog`).
pub fn read_receipts(r: Vec<Receipt>) -> pb::Receipts {
    let mut out = receipts(r);
    for receipt in &mut out.receipts {
        receipt.stream.clear();
        receipt.stream_version = 0;
    }
    out
}

pub fn role(field: &str, v: i32) -> Result<Role, Status> {
    match pb::Role::try_from(v) {
        Ok(pb::Role::ServiceUser) => Ok(Role::ServiceUser),
        Ok(pb::Role::PeerWorker) => Ok(Role::PeerWorker),
        Ok(pb::Role::CareTeam) => Ok(Role::CareTeam),
        Ok(pb::Role::SafeguardingLead) => Ok(Role::SafeguardingLead),
        Ok(pb::Role::Auditor) => Ok(Role::Auditor),
        Ok(pb::Role::Admin) => Ok(Role::Admin),
        Ok(pb::Role::Representative) => Ok(Role::Representative),
        Ok(pb::Role::Unspecified) | Err(_) => Err(refuse(
            Code::InvalidArgument,
            field,
            &format!("{v} is not a role; use one of ROLE_SERVICE_USER … ROLE_REPRESENTATIVE"),
        )),
    }
}

/// The wire role of a domain role.
pub fn role_to_pb(r: Role) -> pb::Role {
    match r {
        Role::ServiceUser => pb::Role::ServiceUser,
        Role::PeerWorker => pb::Role::PeerWorker,
        Role::CareTeam => pb::Role::CareTeam,
        Role::SafeguardingLead => pb::Role::SafeguardingLead,
        Role::Auditor => pb::Role::Auditor,
        Role::Admin => pb::Role::Admin,
        Role::Representative => pb::Role::Representative,
    }
}

/// An optional time: empty means none.
pub fn time(field: &str, s: &str) -> Result<Option<Time>, Status> {
    if s.is_empty() {
        return Ok(None);
    }
    Time::parse(s).map(Some).ok_or_else(|| {
        refuse(
            Code::InvalidArgument,
            field,
            "must be a UTC time of the form YYYY-MM-DDTHH:MM:SS.mmmZ",
        )
    })
}

/// A vocabulary value by its wire name.
pub fn vocab<T>(
    field: &str,
    s: &str,
    parse: fn(&str) -> Option<T>,
    expected: String,
) -> Result<T, Status> {
    parse(s).ok_or_else(|| {
        refuse(
            Code::InvalidArgument,
            field,
            &format!("{} is not one of: {expected}", shown(s)),
        )
    })
}

/// Most characters of a client's value a refusal repeats back.
pub const SHOWN_CHARS: usize = 64;

/// A client's value as a refusal quotes it: in quotes, cut after [`SHOWN_CHARS`] characters
/// ("…"), so a megabyte of bad input is not sent back, nor logged by whoever logs the refusal.
pub fn shown(s: &str) -> String {
    match s.char_indices().nth(SHOWN_CHARS) {
        Some((cut, _)) => format!("{:?}", format!("{}…", &s[..cut])),
        None => format!("{s:?}"),
    }
}

pub fn hash(field: &str, s: &str) -> Result<Hash, Status> {
    parse_hex(s).ok_or_else(|| {
        refuse(
            Code::InvalidArgument,
            field,
            "must be 64 lowercase hex digits",
        )
    })
}
