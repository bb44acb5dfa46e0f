//! §7.2 and §7.3: the two signed notes of a bundle, the checkpoint and the subject-head
//! statement (§2), both by the vkey's key.

use super::shape::Bundle;
use super::{fail, Failure};
use crate::json::{decimal, H};
use crate::note::{self, base64_hash, Checkpoint, Vkey};

/// What the log signed about the person: how many of the first N entries are theirs, and the
/// seq and leaf hash of the last of them.
pub struct Head {
    pub count: u64,
    pub last: Option<(u64, H)>,
}

/// §7.2: the checkpoint verifies with the vkey, its origin is the key name, and its size is
/// `tree_size`.
pub fn check_checkpoint(b: &Bundle, vkey: &Vkey) -> Result<Checkpoint, Failure> {
    let body = note::open(&b.checkpoint, vkey)
        .or_else(|e| fail("§7.2", None, format!("the checkpoint: {e}")))?;
    let cp = note::checkpoint(body).or_else(|e| fail("§7.2", None, e))?;
    if cp.origin != vkey.name {
        return fail(
            "§7.2",
            None,
            format!(
                "the checkpoint's origin {:?} is not the key name {:?}",
                cp.origin, vkey.name
            ),
        );
    }
    if cp.size != b.n {
        return fail(
            "§7.2",
            None,
            format!(
                "the checkpoint is of size {}, but tree_size is {}",
                cp.size, b.n
            ),
        );
    }
    Ok(cp)
}

/// §7.3: the head verifies with the same vkey (so its key name is the origin), and its six
/// lines say what the bundle holds: its subject, N, the number of items and the last of them.
pub fn check_head(b: &Bundle, vkey: &Vkey, cp: &Checkpoint) -> Result<Head, Failure> {
    let body =
        note::open(&b.head, vkey).or_else(|e| fail("§7.3", None, format!("the head: {e}")))?;
    let head = parse_head(body, b, cp).or_else(|e| fail("§7.3", None, e))?;
    if head.count != b.items.len() as u64 {
        return fail(
            "§7.3",
            None,
            format!(
                "the head counts {} entries about {}, but the bundle has {} items",
                head.count,
                b.subject,
                b.items.len()
            ),
        );
    }
    let last = b.items.last().map(|i| (i.seq, i.leaf));
    if head.last != last {
        let seq = last.map(|(s, _)| s);
        return fail(
            "§7.3",
            seq,
            format!(
                "the head's last entry is {}, not the bundle's last item",
                describe(head.last)
            ),
        );
    }
    Ok(head)
}

/// The six lines of §2, each compared with what it must say; count and last as written.
fn parse_head(body: &str, b: &Bundle, cp: &Checkpoint) -> Result<Head, String> {
    let [kind, subject, n, count, last_seq, last_leaf] = note::lines(body)[..] else {
        return Err("the head's body is not six lines".into());
    };
    if kind != format!("{}/subject-head", cp.origin) {
        return Err(format!(
            "the head's first line is {kind:?}, not \"{}/subject-head\"",
            cp.origin
        ));
    }
    if subject != b.subject {
        return Err(format!(
            "the head is about {subject:?}, the bundle about {:?}",
            b.subject
        ));
    }
    if decimal(n) != Some(b.n) {
        return Err(format!("the head's tree size is {n:?}, not {}", b.n));
    }
    let count = decimal(count).ok_or("the head's count is not plain decimal")?;
    let last = match (last_seq, last_leaf) {
        ("-", "-") => None,
        (seq, leaf) => Some((
            decimal(seq).ok_or("the head's last seq is neither plain decimal nor -")?,
            base64_hash(leaf).ok_or("the head's last leaf is neither a base64 hash nor -")?,
        )),
    };
    if (count == 0) != last.is_none() {
        return Err(
            "the head's count and its last entry disagree (- goes with a count of 0)".into(),
        );
    }
    Ok(Head { count, last })
}

fn describe(last: Option<(u64, H)>) -> String {
    match last {
        Some((seq, leaf)) => format!("seq {seq} with leaf {}", hex::encode(leaf)),
        None => "none".into(),
    }
}
