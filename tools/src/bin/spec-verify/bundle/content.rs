//! §7.7: the openings, each the text a segment of a shown entry or an actor item commits to;
//! and §5: no opening missing, none of erased text.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::actors::Registration;
use super::entries::Shown;
use super::shape::Bundle;
use super::{fail, Failure};
use crate::entry::Entry;
use crate::json::{exact, hex32, H};

/// A segment (log-format §4): any object `{"id": string, "commit": hex, "chars": integer}`
/// with exactly those keys, at any depth of an entry's `data`.
pub struct Segment<'a> {
    /// The entry that holds it.
    pub seq: u64,
    pub stream: &'a str,
    pub id: &'a str,
    pub commit: H,
    pub chars: u64,
}

/// The segments of the shown entries and of the actor items.
pub fn segments<'a>(shown: &'a Shown, registrations: &'a [Registration]) -> Vec<Segment<'a>> {
    let mut out = Vec::new();
    let entries = shown.values().chain(registrations.iter().map(|r| &r.entry));
    for e in entries {
        in_object(e, &e.data, &mut out);
    }
    out
}

fn in_object<'a>(e: &'a Entry, o: &'a Map<String, Value>, out: &mut Vec<Segment<'a>>) {
    for v in o.values() {
        in_value(e, v, out);
    }
}

fn in_value<'a>(e: &'a Entry, v: &'a Value, out: &mut Vec<Segment<'a>>) {
    match v {
        Value::Object(o) => match segment(e, v) {
            Some(s) => out.push(s),
            None => in_object(e, o, out),
        },
        Value::Array(a) => a.iter().for_each(|v| in_value(e, v, out)),
        _ => {}
    }
}

fn segment<'a>(e: &'a Entry, v: &'a Value) -> Option<Segment<'a>> {
    let o = exact(v, &["id", "commit", "chars"]).ok()?;
    Some(Segment {
        seq: e.seq,
        stream: &e.stream,
        id: o["id"].as_str()?,
        commit: hex32(&o["commit"])?,
        chars: o["chars"].as_u64()?,
    })
}

/// §7.7: every opening's commit is `BLAKE3-keyed(salt, text)`, is the commit of a segment of a
/// shown entry or an actor item, and each such segment's `chars` is the text's count of
/// Unicode scalar values.
pub fn check_content(b: &Bundle, segments: &[Segment]) -> Result<(), Failure> {
    for o in &b.content {
        let commit = hex::encode(o.commit);
        if *blake3::keyed_hash(&o.salt, o.text.as_bytes()).as_bytes() != o.commit {
            return fail(
                "§7.7",
                None,
                format!("the opening of {commit}: BLAKE3-keyed(salt, text) is not its commit"),
            );
        }
        let mut committed = segments.iter().filter(|s| s.commit == o.commit).peekable();
        if committed.peek().is_none() {
            return fail(
                "§7.7",
                None,
                format!("no segment of a shown entry or an actor item commits to {commit}"),
            );
        }
        let chars = o.text.chars().count() as u64;
        if let Some(s) = committed.find(|s| s.chars != chars) {
            return fail(
                "§7.7",
                Some(s.seq),
                format!(
                    "segment {} counts {} chars, its text {chars}",
                    s.id, s.chars
                ),
            );
        }
    }
    Ok(())
}

/// §5, beyond the list of §7: "A segment without an opening was erased (its
/// `redaction.agreed` is among the shown entries) or belongs to a withheld entry." So every
/// segment of a shown entry or an actor item has an opening unless an agreed redaction among
/// the shown entries named it (domain.md: `redaction.proposed {proposal_id, segments: [ids]}`,
/// `redaction.agreed {proposal_id}`, in the note's stream) or a shown `retention.erased` lists
/// its commitment, and none so erased has one. Returns how many segments were erased.
pub fn check_openings_complete(
    b: &Bundle,
    shown: &Shown,
    segments: &[Segment],
) -> Result<usize, Failure> {
    let erased = erased(shown);
    let retained = retained(shown);
    let opened: HashSet<H> = b.content.iter().map(|o| o.commit).collect();
    let mut gone = HashSet::new();
    for s in segments {
        let was_erased = erased.contains(&(s.stream, s.id)) || retained.contains(&s.commit);
        match (opened.contains(&s.commit), was_erased) {
            (false, false) => {
                return fail(
                    "§5",
                    Some(s.seq),
                    format!(
                        "segment {} has no opening, and neither an agreed redaction nor a retention erasure among the shown entries erased it",
                        s.id
                    ),
                )
            }
            (true, true) => {
                return fail(
                    "§5",
                    Some(s.seq),
                    format!("segment {} was erased, yet the bundle opens it", s.id),
                )
            }
            (false, true) => {
                gone.insert((s.stream, s.id));
            }
            (true, false) => {}
        }
    }
    Ok(gone.len())
}

/// `(stream, segment id)` of every segment an agreed redaction among the shown entries names.
fn erased(shown: &Shown) -> HashSet<(&str, &str)> {
    let agreed: HashSet<(&str, &str)> = shown
        .values()
        .filter(|e| e.kind == "redaction.agreed")
        .filter_map(|e| Some((e.stream.as_str(), proposal(e)?)))
        .collect();
    let mut erased = HashSet::new();
    for e in shown.values().filter(|e| e.kind == "redaction.proposed") {
        if !proposal(e).is_some_and(|p| agreed.contains(&(e.stream.as_str(), p))) {
            continue;
        }
        let ids = e.data.get("segments").and_then(Value::as_array);
        for id in ids.into_iter().flatten().filter_map(Value::as_str) {
            erased.insert((e.stream.as_str(), id));
        }
    }
    erased
}

/// Every commitment a `retention.erased` among the shown entries lists (withus' retention: at
/// the end of the retention period the content is erased as an agreed redaction erases it, and
/// the entry names the erased segments by commitment, `data.segments: [hex, ...]`).
fn retained(shown: &Shown) -> HashSet<H> {
    shown
        .values()
        .filter(|e| e.kind == "retention.erased")
        .filter_map(|e| e.data.get("segments").and_then(Value::as_array))
        .flatten()
        .filter_map(hex32)
        .collect()
}

fn proposal(e: &Entry) -> Option<&str> {
    e.data.get("proposal_id").and_then(Value::as_str)
}
