//! Log format v1 (`shared/spec/log-format.md` §1–2): how an entry is written, parsed and hashed.
//!
//! Owns: the entry's JSON shape, the `at` timestamp form, leaf/node hashing and hex.
//! Must not touch: storage, the clock, randomness. Everything here is a pure function of its
//! inputs, so independent verifiers and this code can be compared byte for byte.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

/// A 32-byte BLAKE3 output: leaf hashes, node hashes, tree roots, commitments.
pub type Hash = [u8; 32];

/// `prev` of entry 0: 64 zeros.
pub const ZERO_HASH: Hash = [0u8; 32];

/// The longest identifier, stream or subject the store accepts (domain.md: 1–128 characters for
/// ids; a stream is `<kind>:<id>`, so it may be a little longer).
pub const MAX_NAME_LEN: usize = 160;

/// Leaf hash: `H(0x00 || entry_bytes)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(&[0x00]);
    h.update(entry);
    *h.finalize().as_bytes()
}

/// Node hash: `H(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 65];
    buf[0] = 0x01;
    buf[1..33].copy_from_slice(left);
    buf[33..].copy_from_slice(right);
    *blake3::hash(&buf).as_bytes()
}

/// The Merkle tree hash of zero entries: `H("")`.
pub fn empty_tree_hash() -> Hash {
    *blake3::hash(b"").as_bytes()
}

/// Lowercase hex of a hash.
pub fn to_hex(h: &Hash) -> String {
    hex::encode(h)
}

/// Parses exactly 64 lowercase hex digits. Uppercase is refused: the format says lowercase, and a
/// verifier comparing strings would otherwise disagree with one comparing bytes.
pub fn parse_hex(s: &str) -> Option<Hash> {
    if s.len() != 64
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// Who caused an entry: `{"id": string, "role": string}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    /// The actor's identifier (an admin, a worker, the person themself).
    pub id: String,
    /// Their role at the time (`service_user`, `peer_worker`, …): recorded, not looked up later,
    /// so the entry says in what capacity they acted even if the role changes.
    pub role: String,
}

/// The fields of one entry, in the order the writer emits them (the vectors' order). Borrowed so
/// that serialising an entry copies nothing but the output. Each field means what the table of
/// log-format.md §1 says; `prev` and `subject_prev` are lowercase hex.
#[derive(Serialize)]
pub struct EntryFields<'a> {
    pub seq: u64,
    pub prev: &'a str,
    pub at: &'a str,
    #[serde(rename = "type")]
    pub event_type: &'a str,
    pub v: u32,
    pub stream: &'a str,
    pub version: u64,
    pub subject: Option<&'a str>,
    pub subject_prev: Option<&'a str>,
    pub actor: &'a Actor,
    pub command: Option<&'a str>,
    /// The event's fields, already serialised (compact), copied verbatim.
    pub data: &'a RawValue,
}

impl EntryFields<'_> {
    /// The entry's bytes: compact JSON, no newline anywhere. These bytes are stored once and never
    /// re-serialised.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain strings, integers and a `Value` cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Deserialises a field that must be *present* even though it may be `null`: serde would
/// otherwise treat a missing `Option` field as `null`, and §6 requires exactly the fields of §1.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// An entry parsed for reading and verification; strings borrow from the stored bytes where they
/// contain no escapes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry<'a> {
    seq: u64,
    #[serde(borrow)]
    prev: Cow<'a, str>,
    #[serde(borrow)]
    at: Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    event_type: Cow<'a, str>,
    v: u32,
    #[serde(borrow)]
    stream: Cow<'a, str>,
    version: u64,
    #[serde(default, deserialize_with = "present", borrow)]
    subject: Option<Option<Cow<'a, str>>>,
    #[serde(default, deserialize_with = "present", borrow)]
    subject_prev: Option<Option<Cow<'a, str>>>,
    #[serde(borrow)]
    actor: RawActor<'a>,
    #[serde(default, deserialize_with = "present", borrow)]
    command: Option<Option<Cow<'a, str>>>,
    #[serde(borrow)]
    data: &'a RawValue,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawActor<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    role: Cow<'a, str>,
}

/// A parsed, shape-checked entry (§1). Chain properties (`prev`, `subject_prev`, ordering of
/// `at`, stream versions) need neighbouring entries and are checked by the verifier. Fields mean
/// what log-format.md §1 says; hashes are decoded, strings borrow from the bytes where they can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryView<'a> {
    pub seq: u64,
    pub prev: Hash,
    pub at: Cow<'a, str>,
    pub event_type: Cow<'a, str>,
    pub v: u32,
    pub stream: Cow<'a, str>,
    pub version: u64,
    pub subject: Option<Cow<'a, str>>,
    pub subject_prev: Option<Hash>,
    pub actor_id: Cow<'a, str>,
    pub actor_role: Cow<'a, str>,
    pub command: Option<Cow<'a, str>>,
    /// The `data` object exactly as stored.
    pub data: &'a str,
}

impl<'a> EntryView<'a> {
    /// Parses and shape-checks entry bytes. The error says what is wrong, for a verifier's report.
    pub fn parse(bytes: &'a [u8]) -> Result<EntryView<'a>, String> {
        if bytes.contains(&b'\n') {
            return Err("entry bytes contain a newline".into());
        }
        let raw: RawEntry<'a> =
            serde_json::from_slice(bytes).map_err(|e| format!("not an entry of format v1: {e}"))?;
        let missing = |f: &str| format!("field `{f}` is missing");
        let subject = raw.subject.ok_or_else(|| missing("subject"))?;
        let subject_prev = raw.subject_prev.ok_or_else(|| missing("subject_prev"))?;
        let command = raw.command.ok_or_else(|| missing("command"))?;
        let prev = parse_hex(&raw.prev).ok_or("`prev` is not 64 lowercase hex digits")?;
        let subject_prev = match subject_prev {
            None => None,
            Some(s) => Some(parse_hex(&s).ok_or("`subject_prev` is not 64 lowercase hex digits")?),
        };
        if !is_timestamp(&raw.at) {
            return Err(format!("`at` {:?} is not YYYY-MM-DDTHH:MM:SS.mmmZ", raw.at));
        }
        if raw.v == 0 {
            return Err("`v` must be 1 or more".into());
        }
        if !raw.data.get().starts_with('{') {
            return Err("`data` is not an object".into());
        }
        if subject.is_none() && subject_prev.is_some() {
            return Err("`subject_prev` is set but `subject` is null".into());
        }
        Ok(EntryView {
            seq: raw.seq,
            prev,
            at: raw.at,
            event_type: raw.event_type,
            v: raw.v,
            stream: raw.stream,
            version: raw.version,
            subject,
            subject_prev,
            actor_id: raw.actor.id,
            actor_role: raw.actor.role,
            command,
            data: raw.data.get(),
        })
    }
}

/// Checks a name used as a key (stream, subject, command id, event type, role): 1 to
/// [`MAX_NAME_LEN`] printable ASCII characters without spaces (domain.md's identifier rule).
pub fn is_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_NAME_LEN && s.bytes().all(|b| b.is_ascii_graphic())
}

/// Formats milliseconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC, proleptic
/// Gregorian). Years past 9999 cannot be written in this form and are clamped to its last
/// millisecond; that is 8,000 years away.
pub fn format_millis(ms: u64) -> String {
    const MAX: u64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
    let ms = ms.min(MAX);
    let days = ms / 86_400_000;
    let rem = ms % 86_400_000;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

/// Parses `YYYY-MM-DDTHH:MM:SS.mmmZ` back to milliseconds since the epoch; `None` when the text is
/// not exactly that form or names an impossible date.
pub fn parse_millis(s: &str) -> Option<u64> {
    if !is_timestamp(s) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<u64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec, milli) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..23)?);
    if !(1..=12).contains(&mo)
        || d == 0
        || d > days_in_month(y, mo)
        || h > 23
        || mi > 59
        || sec > 59
    {
        return None;
    }
    let days = days_from_civil(y, mo, d)?;
    Some(((days * 24 + h) * 60 + mi) * 60_000 + sec * 1000 + milli)
}

/// The shape check only: digits and separators in the right places. Lexicographic order of such
/// strings is chronological order, which is what the `at` ordering check relies on.
pub fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 24
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'.',
            23 => c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

fn is_leap(y: u64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: u64, m: u64) -> u64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 → (year, month, day); Howard Hinnant's `civil_from_days`, for
/// non-negative day counts.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// (year, month, day) → days since 1970-01-01; `None` before the epoch.
fn days_from_civil(y: u64, m: u64, d: u64) -> Option<u64> {
    let y = if m <= 2 { y.checked_sub(1)? } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).checked_sub(719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_across_leap_days_and_epoch() {
        for (ms, text) in [
            (0, "1970-01-01T00:00:00.000Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (1_795_251_600_000, "2026-11-21T09:00:00.000Z"),
            (1_795_251_600_500, "2026-11-21T09:00:00.500Z"),
        ] {
            assert_eq!(format_millis(ms), text);
            assert_eq!(parse_millis(text), Some(ms));
        }
        assert_eq!(parse_millis("2026-02-29T00:00:00.000Z"), None);
        assert_eq!(parse_millis("2026-11-21 09:00:00.000Z"), None);
        assert_eq!(parse_millis("2026-11-21T24:00:00.000Z"), None);
    }

    #[test]
    fn hex_is_strictly_lowercase_and_full_length() {
        assert!(parse_hex(&"ab".repeat(32)).is_some());
        assert!(parse_hex(&"AB".repeat(32)).is_none());
        assert!(parse_hex(&"ab".repeat(31)).is_none());
    }

    #[test]
    fn parse_refuses_missing_nullable_fields_and_extra_fields() {
        let good = r#"{"seq":0,"prev":"0000000000000000000000000000000000000000000000000000000000000000","at":"2026-11-21T09:00:00.000Z","type":"t.x","v":1,"stream":"s:1","version":0,"subject":null,"subject_prev":null,"actor":{"id":"a","role":"admin"},"command":null,"data":{}}"#;
        assert!(EntryView::parse(good.as_bytes()).is_ok());
        let missing = good.replace(r#""command":null,"#, "");
        assert!(EntryView::parse(missing.as_bytes())
            .unwrap_err()
            .contains("command"));
        let extra = good.replace(r#""data":{}"#, r#""data":{},"x":1"#);
        assert!(EntryView::parse(extra.as_bytes()).is_err());
        let dup = good.replace(r#""v":1,"#, r#""v":1,"v":1,"#);
        assert!(EntryView::parse(dup.as_bytes()).is_err());
    }
}
