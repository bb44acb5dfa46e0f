//! log-format §1: one entry's bytes, parsed with exactly its fields and their types. What an
//! entry must be relative to others (seq, prev, chains, versions) is for the callers.

use serde_json::{Map, Value};

use crate::json::{self, hex32, is_time, H};

const FIELDS: [&str; 12] = [
    "seq",
    "prev",
    "at",
    "type",
    "v",
    "stream",
    "version",
    "subject",
    "subject_prev",
    "actor",
    "command",
    "data",
];

pub struct Entry {
    pub seq: u64,
    pub prev: H,
    pub at: String,
    pub kind: String,
    pub stream: String,
    pub version: u64,
    pub subject: Option<String>,
    pub subject_prev: Option<H>,
    pub actor_id: String,
    pub data: Map<String, Value>,
}

pub fn parse(bytes: &[u8]) -> Result<Entry, String> {
    if bytes.contains(&b'\n') {
        return Err("the entry holds a newline byte".into());
    }
    let v = json::parse(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let o = json::exact(&v, &FIELDS).map_err(|e| format!("not an entry: {e}"))?;
    let seq = o["seq"].as_u64().ok_or("seq is not an integer")?;
    let prev = hex32(&o["prev"]).ok_or("prev is not a hex hash")?;
    let at = o["at"]
        .as_str()
        .filter(|s| is_time(s))
        .ok_or("at is not YYYY-MM-DDTHH:MM:SS.mmmZ")?;
    let kind = o["type"].as_str().ok_or("type is not a string")?;
    if o["v"].as_u64().is_none_or(|v| v < 1) {
        return Err("v is not an integer from 1".into());
    }
    let stream = o["stream"].as_str().ok_or("stream is not a string")?;
    let version = o["version"].as_u64().ok_or("version is not an integer")?;
    let (subject, subject_prev) = subject_and_prev(&o["subject"], &o["subject_prev"])?;
    let actor_id = actor(&o["actor"])?;
    if !(o["command"].is_null() || o["command"].is_string()) {
        return Err("command is neither null nor a string".into());
    }
    let data = o["data"].as_object().ok_or("data is not an object")?;
    Ok(Entry {
        seq,
        prev,
        at: at.to_string(),
        kind: kind.to_string(),
        stream: stream.to_string(),
        version,
        subject,
        subject_prev,
        actor_id,
        data: data.clone(),
    })
}

/// `subject` string or null; `subject_prev` hex or null, and null when `subject` is.
fn subject_and_prev(subject: &Value, prev: &Value) -> Result<(Option<String>, Option<H>), String> {
    match (subject, prev) {
        (Value::Null, Value::Null) => Ok((None, None)),
        (Value::String(s), Value::Null) => Ok((Some(s.clone()), None)),
        (Value::String(s), p) => {
            let p = hex32(p).ok_or("subject_prev is not hex")?;
            Ok((Some(s.clone()), Some(p)))
        }
        _ => Err("subject/subject_prev have the wrong types".into()),
    }
}

/// `{"id": string, "role": string}`; its id.
fn actor(v: &Value) -> Result<String, String> {
    let a = json::exact(v, &["id", "role"]).map_err(|_| "actor is not {id, role}")?;
    match (&a["id"], &a["role"]) {
        (Value::String(id), Value::String(_)) => Ok(id.clone()),
        _ => Err("actor is not {id, role}".into()),
    }
}
