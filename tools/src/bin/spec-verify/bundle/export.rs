//! §7.9, for anyone holding the export: the signed head is true. The head is signed, so what
//! can be false is the log's statement itself; an export that disagrees with the bundle could
//! equally be a different export. So the export is first tied to the checkpoint (its first N
//! lines hash to the signed root), and only then asked about the person.

use super::notes::Head;
use super::shape::Bundle;
use super::{fail, Failure};
use crate::json::{self, H};
use crate::log;
use crate::merkle::{leaf, mth};
use crate::note::Checkpoint;

/// What the export says about the person among its first N lines.
pub struct Truth {
    pub count: u64,
    pub last: Option<u64>,
}

pub fn check_export(
    data: &[u8],
    b: &Bundle,
    cp: &Checkpoint,
    head: &Head,
) -> Result<Truth, Failure> {
    let lines = log::lines(data).or_else(|e| fail("§7.9", None, e))?;
    let Some(first) = usize::try_from(b.n).ok().and_then(|n| lines.get(..n)) else {
        return fail(
            "§7.9",
            None,
            format!(
                "the export has {} lines, fewer than N = {}",
                lines.len(),
                b.n
            ),
        );
    };
    let leaves: Vec<H> = first.iter().map(|l| leaf(l)).collect();
    if mth(&leaves) != cp.root {
        return fail(
            "§7.9",
            None,
            format!(
                "the export's first {} lines are not the log the checkpoint signs (their tree hash is not its root)",
                b.n
            ),
        );
    }
    let theirs = subject_seqs(first, &b.subject)?;
    check_head_is_true(head, &theirs, &leaves, &b.subject)?;
    check_none_left_out(b, &theirs)?;
    Ok(Truth {
        count: theirs.len() as u64,
        last: theirs.last().copied(),
    })
}

/// The seqs of the lines whose `subject` is `subject`.
fn subject_seqs(lines: &[&[u8]], subject: &str) -> Result<Vec<u64>, Failure> {
    let mut seqs = Vec::new();
    for (seq, line) in (0u64..).zip(lines) {
        let v = json::parse(line).or_else(|e| {
            fail(
                "§7.9",
                Some(seq),
                format!("the export's line is not JSON: {e}"),
            )
        })?;
        if v.get("seq").and_then(|s| s.as_u64()) != Some(seq) {
            return fail(
                "§7.9",
                Some(seq),
                "the export's line does not carry its seq",
            );
        }
        match v.get("subject") {
            Some(serde_json::Value::String(s)) if s == subject => seqs.push(seq),
            Some(serde_json::Value::String(_) | serde_json::Value::Null) => {}
            _ => {
                return fail(
                    "§7.9",
                    Some(seq),
                    "the export's line has no subject string or null",
                )
            }
        }
    }
    Ok(seqs)
}

/// The head's count, last seq and leaf are those of the person's lines in the export.
fn check_head_is_true(
    head: &Head,
    theirs: &[u64],
    leaves: &[H],
    subject: &str,
) -> Result<(), Failure> {
    if head.count != theirs.len() as u64 {
        return fail(
            "§7.9",
            None,
            format!(
                "the head is false: it counts {} entries about {subject}, the export has {}",
                head.count,
                theirs.len()
            ),
        );
    }
    let last = theirs.last().map(|&s| (s, leaves[s as usize]));
    if head.last != last {
        return fail(
            "§7.9",
            head.last.map(|(s, _)| s),
            format!(
                "the head is false: the last entry about {subject} is {}",
                last.map_or("none".to_string(), |(s, _)| format!("seq {s}"))
            ),
        );
    }
    Ok(())
}

/// §1 "none left out": the bundle's items are exactly the person's lines. Without the export
/// only their number and the last are checkable; with it, every one.
fn check_none_left_out(b: &Bundle, theirs: &[u64]) -> Result<(), Failure> {
    let ours: Vec<u64> = b.items.iter().map(|i| i.seq).collect();
    if let Some(&seq) = theirs.iter().find(|s| !ours.contains(s)) {
        return fail(
            "§7.9",
            Some(seq),
            format!(
                "the export's entry is about {}, and the bundle leaves it out",
                b.subject
            ),
        );
    }
    if let Some(&seq) = ours.iter().find(|s| !theirs.contains(s)) {
        return fail(
            "§7.9",
            Some(seq),
            format!("the bundle's item is not about {} in the export", b.subject),
        );
    }
    Ok(())
}
