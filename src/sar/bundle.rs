//! The subject access bundle v1 on the wire (`../shared/spec/sar-bundle.md` §1, §3–§5): its own
//! types, never a domain struct's serde. The composer (`sar::compose`) only writes them and the
//! verifier (`sar::verify`) only reads them, so the two meet in the format and nowhere else.
//!
//! Owns: the bundle's JSON shape, field for field, and the strict reading of it (exactly the
//! fields of §1 and §3–§5, no key twice, `sar_id` present even when null). Must not touch: what a
//! bundle holds (compose decides) or whether it is true (verify decides); I/O.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

/// The value of `format`.
pub const FORMAT: &str = "withus-sar-v1";

/// A whole bundle (§1). Fields in the order the spec's table lists them, which is the order they
/// are written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// Exactly [`FORMAT`].
    pub format: String,
    /// The person's id, their `subject` in the log.
    pub subject: String,
    /// The request it answers; `None` (written `null`, never left out) for an on-demand copy.
    #[serde(deserialize_with = "present")]
    pub sar_id: Option<String>,
    /// Server time when it was composed. Not signed: a verifier proves nothing from it.
    pub produced_at: String,
    /// `N`: the bundle covers the first `N` entries of the log.
    pub tree_size: u64,
    /// The signed checkpoint of size `N`, verbatim.
    pub checkpoint: String,
    /// The signed subject-head statement (§2), verbatim.
    pub head: String,
    /// One item per entry with the person as subject among the first `N`, ascending seq.
    pub entries: Vec<BundleEntry>,
    /// The `actor.registered` entries of the actors the shown entries name (§4).
    pub actors: Vec<ActorItem>,
    /// The openings of live segments (§5).
    pub content: Vec<Opening>,
    /// Plain-language facts (§6), not signed. No key twice.
    #[serde(deserialize_with = "unique_map")]
    pub about: BTreeMap<String, String>,
}

/// One item of `entries` (§3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleEntry {
    /// `{"seq", "entry", "proof"}`: the entry's exact bytes (a JSON string) and its inclusion
    /// proof at `N`, hex.
    Shown {
        seq: u64,
        entry: String,
        proof: Vec<String>,
    },
    /// `{"seq", "leaf", "proof", "withheld": true}`: withheld from the person under rule 7, so
    /// only its leaf hash (hex) is given, which the chain and the count still account for.
    Withheld {
        seq: u64,
        leaf: String,
        proof: Vec<String>,
    },
}

impl BundleEntry {
    pub fn seq(&self) -> u64 {
        match self {
            BundleEntry::Shown { seq, .. } | BundleEntry::Withheld { seq, .. } => *seq,
        }
    }

    pub fn proof(&self) -> &[String] {
        match self {
            BundleEntry::Shown { proof, .. } | BundleEntry::Withheld { proof, .. } => proof,
        }
    }
}

impl Serialize for BundleEntry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            BundleEntry::Shown { seq, entry, proof } => {
                let mut map = serializer.serialize_map(Some(3))?;
                map.serialize_entry("seq", seq)?;
                map.serialize_entry("entry", entry)?;
                map.serialize_entry("proof", proof)?;
                map.end()
            }
            BundleEntry::Withheld { seq, leaf, proof } => {
                let mut map = serializer.serialize_map(Some(4))?;
                map.serialize_entry("seq", seq)?;
                map.serialize_entry("leaf", leaf)?;
                map.serialize_entry("proof", proof)?;
                map.serialize_entry("withheld", &true)?;
                map.end()
            }
        }
    }
}

/// Both shapes of an `entries` item read as one, then told apart strictly.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntryItem {
    seq: u64,
    entry: Option<String>,
    leaf: Option<String>,
    proof: Vec<String>,
    withheld: Option<bool>,
}

impl<'de> Deserialize<'de> for BundleEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<BundleEntry, D::Error> {
        let raw = RawEntryItem::deserialize(deserializer)?;
        match (raw.entry, raw.leaf, raw.withheld) {
            (Some(entry), None, None) => Ok(BundleEntry::Shown {
                seq: raw.seq,
                entry,
                proof: raw.proof,
            }),
            (None, Some(leaf), Some(true)) => Ok(BundleEntry::Withheld {
                seq: raw.seq,
                leaf,
                proof: raw.proof,
            }),
            _ => Err(de::Error::custom(format!(
                "entries item seq {} is neither shown {{seq, entry, proof}} nor withheld \
                 {{seq, leaf, proof, withheld: true}}",
                raw.seq
            ))),
        }
    }
}

/// One item of `actors` (§4): an `actor.registered` entry's exact bytes and its proof at `N`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorItem {
    pub seq: u64,
    pub entry: String,
    pub proof: Vec<String>,
}

/// One item of `content` (§5, log-format §4's export form): enough to check a commitment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Opening {
    /// Hex `BLAKE3-keyed(salt, text)`.
    pub commit: String,
    /// Hex, 32 bytes.
    pub salt: String,
    pub text: String,
}

/// The companion file of a fulfilled request's bundle (`<bundle>.fulfilment.json`, withus's own,
/// not part of sar-bundle.md): the `sar.fulfilled` entry that records the bundle's hash, with its
/// inclusion proof in a checkpoint signed after it. The bundle covers the log *before* its
/// fulfilment, so it cannot hold this entry itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FulfilmentFile {
    pub seq: u64,
    /// The entry's exact bytes.
    pub entry: String,
    /// Its RFC 9162 inclusion proof in the tree of `checkpoint`, hex.
    pub proof: Vec<String>,
    /// A signed checkpoint (log-format §3) of a tree that holds the entry.
    pub checkpoint: String,
}

impl FulfilmentFile {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    pub fn parse(bytes: &[u8]) -> Result<FulfilmentFile, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("not a fulfilment file: {e}"))
    }
}

impl Bundle {
    /// The bundle's file bytes: UTF-8 JSON, two-space indented like the spec's vectors, one
    /// trailing newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Strings, integers, vectors and maps with string keys always serialise.
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Reads a bundle strictly: exactly the fields of §1 and §3–§5, no key twice anywhere
    /// (serde's derived structs refuse a repeated field; `about` refuses one too).
    pub fn parse(bytes: &[u8]) -> Result<Bundle, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("not a withus-sar-v1 bundle: {e}"))
    }
}

/// A field that must be present even when it is `null` (serde would take a missing `Option`
/// as `None`; §1 requires exactly the fields).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d)
}

/// A string map that refuses a key given twice (a JSON reader that kept the last would let two
/// readers of one file see different facts).
fn unique_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    struct Unique;
    impl<'de> Visitor<'de> for Unique {
        type Value = BTreeMap<String, String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object of strings")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((key, value)) = access.next_entry::<String, String>()? {
                if out.contains_key(&key) {
                    return Err(de::Error::custom(format!("duplicate key `{key}`")));
                }
                out.insert(key, value);
            }
            Ok(out)
        }
    }
    d.deserialize_map(Unique)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(path).expect("vector file")
    }

    /// Reading the published vectors and writing them again gives the same JSON value: every
    /// field of the spec has a place in the types, and nothing is added.
    #[test]
    fn the_vectors_read_and_write_back_unchanged() {
        for name in ["bundle.json", "bundle-withheld.json"] {
            let bytes = vector(name);
            let bundle = Bundle::parse(&bytes).expect(name);
            let again: serde_json::Value = serde_json::from_slice(&bundle.to_bytes()).unwrap();
            let first: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(again, first, "{name}");
        }
    }

    #[test]
    fn a_bundle_without_sar_id_or_with_an_extra_field_or_a_repeated_key_is_refused() {
        let bytes = vector("bundle.json");
        let text = String::from_utf8(bytes).unwrap();
        let without = text.replace("\"sar_id\": \"sar-1\",", "");
        assert!(Bundle::parse(without.as_bytes()).is_err());
        let extra = text.replacen("\"sar_id\"", "\"extra\": 1, \"sar_id\"", 1);
        assert!(Bundle::parse(extra.as_bytes()).is_err());
        let twice = text.replacen("\"sar_id\"", "\"subject\": \"su-other\", \"sar_id\"", 1);
        assert!(Bundle::parse(twice.as_bytes()).is_err());
        let about_twice = text.replacen("\"about\": {", "\"about\": {\"rights\": \"none\",", 1);
        assert!(Bundle::parse(about_twice.as_bytes()).is_err());
        let null = text.replace("\"sar_id\": \"sar-1\"", "\"sar_id\": null");
        assert_eq!(Bundle::parse(null.as_bytes()).unwrap().sar_id, None);
    }
}
