//! Translation between wire messages and service types, with the field checks the wire adds
//! (required fields, enum values, times, hex): every vocabulary enum ([`WireVocabulary`]) and
//! every `google.protobuf.Timestamp` goes through here. Refusals never quote a client's value
//! back (enum numbers and field names only).
//!
//! Owns: the wire ↔ domain value mapping. Must not touch: the service, the store, any rule.

use tonic::Status;

use super::pb;
use super::status::refuse;
use crate::domain::types::*;
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
    page_size_or(page_size, Page::default().size)
}

/// A list request's `page_size` with its own default for 0: never negative, at most
/// [`MAX_PAGE`].
pub fn page_size_or(page_size: i32, default: usize) -> Result<usize, Status> {
    match page_size {
        0 => Ok(default),
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

/// A proto enum of `vocabulary.proto` (or `Role`) and the domain vocabulary it carries. The
/// wire name of each value is the enum's prefix and the value's own name in capitals
/// (`MEETING_MODE_IN_PERSON` is `in_person`), so the mapping is derived, never written out twice;
/// `every_vocabulary_maps_one_to_one` checks both ways for every pair below.
pub trait WireVocabulary {
    /// The domain vocabulary.
    type Domain: Vocabulary;
    /// The enum's value prefix, e.g. `MEETING_MODE_`.
    fn prefix() -> &'static str;
    /// The wire name of a number, if the enum has it.
    fn name_of(value: i32) -> Option<&'static str>;
    /// The number of a wire name, if the enum has it.
    fn value_of(name: &str) -> Option<i32>;
}

/// A domain vocabulary's wire number, for code that holds the value rather than the wire type
/// (the fuzzer's request encoder).
pub trait ToWire: Vocabulary {
    fn to_wire(self) -> i32;
}

macro_rules! wire_vocabulary {
    ($($wire:ident => $domain:ty),+ $(,)?) => {
        $(
            impl WireVocabulary for pb::$wire {
                type Domain = $domain;
                fn prefix() -> &'static str {
                    pb::$wire::Unspecified
                        .as_str_name()
                        .trim_end_matches("UNSPECIFIED")
                }
                fn name_of(value: i32) -> Option<&'static str> {
                    pb::$wire::try_from(value).ok().map(|w| w.as_str_name())
                }
                fn value_of(name: &str) -> Option<i32> {
                    pb::$wire::from_str_name(name).map(|w| w as i32)
                }
            }
            impl ToWire for $domain {
                fn to_wire(self) -> i32 {
                    to_wire::<pb::$wire>(self)
                }
            }
        )+
        /// Checks one pair both ways (for the test): every domain value has a wire number, and
        /// every wire number but UNSPECIFIED is a domain value.
        #[cfg(test)]
        pub(crate) fn check_every_vocabulary() -> Vec<String> {
            let mut problems = Vec::new();
            $( problems.extend(check_pair::<pb::$wire>(stringify!($wire))); )+
            problems
        }
    };
}

wire_vocabulary!(
    Role => Role,
    DeactivationReason => DeactivationReason,
    ReferralSource => ReferralSource,
    EndReason => EndReason,
    MeetingKind => MeetingKind,
    MeetingStatus => MeetingStatus,
    Party => Party,
    ActivityKind => ActivityKind,
    GoalOutcome => GoalOutcome,
    MeetingMode => MeetingMode,
    Place => Place,
    RedactionReason => RedactionReason,
    CloseReason => CloseReason,
    ConsentScope => crate::domain::types::Scope,
    ConcernCategory => ConcernCategory,
    Urgency => Urgency,
    ConcernOutcome => ConcernOutcome,
    InformedHow => InformedHow,
    Exemption => Exemption,
    SarVia => SarVia,
    DenialReason => DenialReason,
    DiscussionSetting => DiscussionSetting,
    Relation => Relation,
    DateKind => DateKind,
    HoldReason => HoldReason,
    AuthorityBasis => AuthorityBasis,
    AuthorityScope => AuthorityScope,
    AuthorityEndReason => AuthorityEndReason,
    RetentionRule => RetentionRule,
    NoteStatus => crate::domain::notes::NoteStatus,
    ProposalStatus => crate::domain::notes::ProposalStatus,
    FlagKind => crate::domain::view::FlagKind,
    PlanState => crate::domain::retention::PlanState,
    SupportStatus => crate::domain::support::SupportStatus,
);

#[cfg(test)]
fn check_pair<W: WireVocabulary>(name: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for value in W::Domain::all() {
        let wire = to_wire::<W>(*value);
        if wire == 0 || from_wire::<W>("f", wire).ok() != Some(*value) {
            problems.push(format!("{name}: {value:?} has no wire value"));
        }
    }
    for number in 1..=256 {
        if let Some(wire_name) = W::name_of(number) {
            if from_wire::<W>("f", number).is_err() {
                problems.push(format!("{name}: {wire_name} is no domain value"));
            }
        }
    }
    problems
}

/// The wire names a field accepts, for refusals.
fn wire_names<W: WireVocabulary>() -> String {
    W::Domain::all()
        .iter()
        .map(|d| format!("{}{}", W::prefix(), d.name().to_ascii_uppercase()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The domain value of an enum field. Unset (`*_UNSPECIFIED`, 0) or a number the enum does not
/// have is INVALID_ARGUMENT naming the field and the values it takes.
pub fn from_wire<W: WireVocabulary>(field: &str, value: i32) -> Result<W::Domain, Status> {
    let found = W::name_of(value)
        .and_then(|name| name.strip_prefix(W::prefix()))
        .and_then(|rest| {
            W::Domain::all()
                .iter()
                .copied()
                .find(|d| d.name().eq_ignore_ascii_case(rest))
        });
    found.ok_or_else(|| {
        let what = if value == 0 {
            "is required".to_string()
        } else {
            format!("{value} is not a value this server knows")
        };
        refuse(
            Code::InvalidArgument,
            field,
            &format!("{what}: use one of {}", wire_names::<W>()),
        )
    })
}

/// An optional enum field: unset (0) is `None`; an unknown number is refused.
pub fn optional_from_wire<W: WireVocabulary>(
    field: &str,
    value: i32,
) -> Result<Option<W::Domain>, Status> {
    if value == 0 {
        return Ok(None);
    }
    from_wire::<W>(field, value).map(Some)
}

/// The wire number of a domain value (0 only if the pair were broken, which the test rules out).
pub fn to_wire<W: WireVocabulary>(value: W::Domain) -> i32 {
    let name = format!("{}{}", W::prefix(), value.name().to_ascii_uppercase());
    W::value_of(&name).unwrap_or(0)
}

/// An optional domain value on the wire: `None` is 0 (`*_UNSPECIFIED`).
pub fn optional_to_wire<W: WireVocabulary>(value: Option<W::Domain>) -> i32 {
    value.map_or(0, to_wire::<W>)
}

/// The last second `Time` can show (9999-12-31T23:59:59Z): the log's time form has four-digit
/// years.
const LAST_SECOND: i64 = 253_402_300_799;

/// A time on the wire.
pub fn timestamp(t: Time) -> prost_types::Timestamp {
    let seconds = i64::try_from(t.0 / 1000).unwrap_or(LAST_SECOND);
    let nanos = i32::try_from((t.0 % 1000) * 1_000_000).unwrap_or(0);
    prost_types::Timestamp { seconds, nanos }
}

/// An optional time on the wire: `None` is unset.
pub fn optional_timestamp(t: Option<Time>) -> Option<prost_types::Timestamp> {
    t.map(timestamp)
}

/// An optional time field: unset is `None`. Kept to the millisecond (finer digits are dropped);
/// before 1970, after 9999 or with nanos outside 0-999,999,999 it is refused.
pub fn time(field: &str, t: Option<prost_types::Timestamp>) -> Result<Option<Time>, Status> {
    let Some(t) = t else {
        return Ok(None);
    };
    if !(0..=LAST_SECOND).contains(&t.seconds) || !(0..1_000_000_000).contains(&t.nanos) {
        return Err(refuse(
            Code::InvalidArgument,
            field,
            "must be a time from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z, with nanos \
             0-999999999",
        ));
    }
    let seconds = u64::try_from(t.seconds).unwrap_or(0);
    let millis = u64::try_from(t.nanos / 1_000_000).unwrap_or(0);
    Ok(Some(Time(seconds * 1000 + millis)))
}

/// A required time field.
pub fn required_time(field: &str, t: Option<prost_types::Timestamp>) -> Result<Time, Status> {
    time(field, t)?.ok_or_else(|| refuse(Code::InvalidArgument, field, "is required"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vocabulary_maps_one_to_one() {
        let problems = check_every_vocabulary();
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn an_unset_enum_is_refused_naming_the_field_and_the_values() {
        let refused = from_wire::<pb::MeetingMode>("mode", 0).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
        assert!(refused.message().contains("mode"), "{}", refused.message());
        assert!(
            refused.message().contains("MEETING_MODE_IN_PERSON"),
            "{}",
            refused.message()
        );
        assert!(from_wire::<pb::MeetingMode>("mode", 99).is_err());
        assert_eq!(
            optional_from_wire::<pb::EndReason>("reason", 0).ok(),
            Some(None)
        );
    }

    #[test]
    fn times_round_trip_to_the_millisecond_and_refuse_what_the_log_cannot_hold() {
        let t = Time(1_764_000_000_123);
        assert_eq!(time("at", Some(timestamp(t))).ok(), Some(Some(t)));
        let finer = prost_types::Timestamp {
            seconds: 1_764_000_000,
            nanos: 123_456_789,
        };
        assert_eq!(time("at", Some(finer)).ok(), Some(Some(t)));
        for bad in [(-1, 0), (LAST_SECOND + 1, 0), (0, -1), (0, 1_000_000_000)] {
            let ts = prost_types::Timestamp {
                seconds: bad.0,
                nanos: bad.1,
            };
            assert!(time("at", Some(ts)).is_err(), "{bad:?}");
        }
        assert!(required_time("at", None).is_err());
    }
}
