//! §7.1: the bundle is one object with exactly the fields of §1, and each of its items has
//! exactly the fields of §3, §4 or §5 with their types. Nothing here checks what the values
//! mean; the later checks do.

use serde_json::{Map, Value};

use super::{fail, Failure};
use crate::json::{exact, hex32, is_time, H};
use crate::merkle::leaf;

const FIELDS: [&str; 11] = [
    "format",
    "subject",
    "sar_id",
    "produced_at",
    "tree_size",
    "checkpoint",
    "head",
    "entries",
    "actors",
    "content",
    "about",
];
const FORMAT: &str = "withus-sar-v1";
const SHOWN: [&str; 3] = ["seq", "entry", "proof"];
const WITHHELD: [&str; 4] = ["seq", "leaf", "proof", "withheld"];
const OPENING: [&str; 3] = ["commit", "salt", "text"];
/// No tree of at most 2^64 entries needs a longer inclusion proof.
const MAX_PROOF: usize = 64;

pub struct Bundle {
    pub subject: String,
    /// `tree_size`: the bundle covers the first `n` entries of the log.
    pub n: u64,
    pub checkpoint: String,
    pub head: String,
    pub items: Vec<Item>,
    pub actors: Vec<Item>,
    pub content: Vec<Opening>,
}

/// An item of `entries` (§3) or `actors` (§4).
pub struct Item {
    pub seq: u64,
    /// The entry's exact bytes; `None` when withheld.
    pub entry: Option<String>,
    /// `H(0x00 || bytes)` of a shown entry; as given for a withheld one.
    pub leaf: H,
    pub proof: Vec<H>,
}

/// A content item (§5).
pub struct Opening {
    pub commit: H,
    pub salt: H,
    pub text: String,
}

fn bad<T>(seq: Option<u64>, message: impl Into<String>) -> Result<T, Failure> {
    fail("§7.1", seq, message)
}

pub fn bundle(v: &Value) -> Result<Bundle, Failure> {
    let o = exact(v, &FIELDS).or_else(|e| bad(None, format!("the bundle has {e}")))?;
    if o["format"] != FORMAT {
        return bad(None, format!("format is {}, not {FORMAT:?}", o["format"]));
    }
    let subject = string(o, "subject")?;
    if !(o["sar_id"].is_null() || o["sar_id"].is_string()) {
        return bad(None, "sar_id is neither a string nor null");
    }
    if !o["produced_at"].as_str().is_some_and(is_time) {
        return bad(None, "produced_at is not YYYY-MM-DDTHH:MM:SS.mmmZ");
    }
    let Some(n) = o["tree_size"].as_u64() else {
        return bad(None, "tree_size is not an integer");
    };
    if !o["about"].is_object() {
        return bad(None, "about is not an object");
    }
    Ok(Bundle {
        subject,
        n,
        checkpoint: string(o, "checkpoint")?,
        head: string(o, "head")?,
        items: array(o, "entries")?
            .iter()
            .enumerate()
            .map(|(i, v)| entry_item(i, v))
            .collect::<Result<_, _>>()?,
        actors: array(o, "actors")?
            .iter()
            .enumerate()
            .map(|(i, v)| actor_item(i, v))
            .collect::<Result<_, _>>()?,
        content: array(o, "content")?
            .iter()
            .enumerate()
            .map(|(i, v)| opening(i, v))
            .collect::<Result<_, _>>()?,
    })
}

fn string(o: &Map<String, Value>, field: &str) -> Result<String, Failure> {
    match &o[field] {
        Value::String(s) => Ok(s.clone()),
        _ => bad(None, format!("{field} is not a string")),
    }
}

fn array<'a>(o: &'a Map<String, Value>, field: &str) -> Result<&'a Vec<Value>, Failure> {
    match &o[field] {
        Value::Array(a) => Ok(a),
        _ => bad(None, format!("{field} is not an array")),
    }
}

/// A shown item `{seq, entry, proof}` or a withheld one `{seq, leaf, proof, withheld: true}`.
fn entry_item(i: usize, v: &Value) -> Result<Item, Failure> {
    let seq = v.get("seq").and_then(Value::as_u64);
    let withheld = v.get("withheld").is_some();
    let (fields, kind): (&[&str], &str) = if withheld {
        (&WITHHELD, "withheld")
    } else {
        (&SHOWN, "shown")
    };
    let o = exact(v, fields)
        .or_else(|e| bad(seq, format!("entries[{i}], a {kind} item (§3), has {e}")))?;
    let seq = seq.map_or_else(
        || bad(None, format!("entries[{i}]: seq is not an integer")),
        Ok,
    )?;
    let proof = proof(&o["proof"])
        .map_or_else(|| bad(Some(seq), "proof is not a list of hex hashes"), Ok)?;
    if withheld {
        if o["withheld"] != true {
            return bad(Some(seq), "withheld is not true");
        }
        let leaf =
            hex32(&o["leaf"]).map_or_else(|| bad(Some(seq), "leaf is not a hex hash"), Ok)?;
        return Ok(Item {
            seq,
            entry: None,
            leaf,
            proof,
        });
    }
    shown(seq, &o["entry"], proof)
}

/// An actor item `{seq, entry, proof}` (§4).
fn actor_item(i: usize, v: &Value) -> Result<Item, Failure> {
    let seq = v.get("seq").and_then(Value::as_u64);
    let o = exact(v, &SHOWN).or_else(|e| bad(seq, format!("actors[{i}] (§4) has {e}")))?;
    let seq = seq.map_or_else(
        || bad(None, format!("actors[{i}]: seq is not an integer")),
        Ok,
    )?;
    let proof = proof(&o["proof"])
        .map_or_else(|| bad(Some(seq), "proof is not a list of hex hashes"), Ok)?;
    shown(seq, &o["entry"], proof)
}

fn shown(seq: u64, entry: &Value, proof: Vec<H>) -> Result<Item, Failure> {
    let Value::String(entry) = entry else {
        return bad(Some(seq), "entry is not a string");
    };
    Ok(Item {
        seq,
        leaf: leaf(entry.as_bytes()),
        entry: Some(entry.clone()),
        proof,
    })
}

fn proof(v: &Value) -> Option<Vec<H>> {
    let hashes = v.as_array()?;
    if hashes.len() > MAX_PROOF {
        return None;
    }
    hashes.iter().map(hex32).collect()
}

/// A content item `{commit, salt, text}` (§5).
fn opening(i: usize, v: &Value) -> Result<Opening, Failure> {
    let o = exact(v, &OPENING).or_else(|e| bad(None, format!("content[{i}] (§5) has {e}")))?;
    match (hex32(&o["commit"]), hex32(&o["salt"]), &o["text"]) {
        (Some(commit), Some(salt), Value::String(text)) => Ok(Opening {
            commit,
            salt,
            text: text.clone(),
        }),
        _ => bad(
            None,
            format!("content[{i}]: commit and salt are not hex hashes or text is not a string"),
        ),
    }
}
