//! JSON as the specs read it. serde_json's `Value` keeps the last of two equal keys without a
//! word, so a document could say one thing to this verifier and another to a different parser;
//! `parse` refuses duplicate keys at any depth instead. The rest are the small shapes the specs
//! name: exact field sets, lowercase hex hashes, times, plain decimal numbers.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

pub type H = [u8; 32];

/// One JSON document, refused if any object in it repeats a key.
pub fn parse(bytes: &[u8]) -> Result<Value, String> {
    serde_json::from_slice::<Strict>(bytes)
        .map(|s| s.0)
        .map_err(|e| e.to_string())
}

struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(n.into())
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(n.into())
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(n)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if fields.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate key {key:?}")));
            }
            let Strict(v) = map.next_value()?;
            fields.insert(key, v);
        }
        Ok(Value::Object(fields))
    }
}

/// `v` as an object with exactly `fields`, or which are missing and which are unknown.
pub fn exact<'a>(v: &'a Value, fields: &[&str]) -> Result<&'a Map<String, Value>, String> {
    let o = v.as_object().ok_or("not a JSON object")?;
    let missing: Vec<&str> = fields
        .iter()
        .copied()
        .filter(|f| !o.contains_key(*f))
        .collect();
    let unknown: Vec<&str> = o
        .keys()
        .map(String::as_str)
        .filter(|k| !fields.contains(k))
        .collect();
    match (missing.is_empty(), unknown.is_empty()) {
        (true, true) => Ok(o),
        (false, true) => Err(format!("missing field(s) {missing:?}")),
        (true, false) => Err(format!("unknown field(s) {unknown:?}")),
        (false, false) => Err(format!(
            "missing field(s) {missing:?} and unknown field(s) {unknown:?}"
        )),
    }
}

/// A 32-byte hash as 64 lowercase hex digits.
pub fn hex32(v: &Value) -> Option<H> {
    let s = v.as_str()?;
    if s.len() != 64
        || s.bytes()
            .any(|b| !(b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, exactly.
pub fn is_time(s: &str) -> bool {
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

/// A number written in plain decimal: digits only, no sign, no leading zero (but `0` itself).
pub fn decimal(s: &str) -> Option<u64> {
    let plain =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if plain {
        s.parse().ok()
    } else {
        None
    }
}
