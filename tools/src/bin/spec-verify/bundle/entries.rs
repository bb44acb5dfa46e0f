//! §7.4 and §7.5: the items of `entries`, each in the log, and the person's chain through them.

use std::collections::BTreeMap;

use super::shape::{Bundle, Item};
use super::{fail, Failure};
use crate::entry::{self, Entry};
use crate::merkle::included;
use crate::note::Checkpoint;

/// The shown entries, parsed, by seq.
pub type Shown = BTreeMap<u64, Entry>;

/// §7.4: every item's seq is below N and above the one before; every shown entry parses under
/// log-format §1 with exactly its fields, carries the item's seq and the bundle's subject; every
/// item's inclusion proof verifies against the checkpoint's root.
pub fn check_entries(b: &Bundle, cp: &Checkpoint) -> Result<Shown, Failure> {
    let mut shown = Shown::new();
    let mut before: Option<u64> = None;
    for item in &b.items {
        let seq = Some(item.seq);
        if item.seq >= b.n {
            return fail(
                "§7.4",
                seq,
                format!("the item is not among the first N = {} entries", b.n),
            );
        }
        if before.is_some_and(|s| item.seq <= s) {
            return fail("§7.4", seq, "seqs do not strictly increase");
        }
        before = Some(item.seq);
        if let Some(bytes) = &item.entry {
            shown.insert(item.seq, shown_entry(b, item, bytes)?);
        }
        if !included(item.seq, b.n, &item.leaf, &item.proof, &cp.root) {
            return fail(
                "§7.4",
                seq,
                "the inclusion proof does not verify against the checkpoint's root",
            );
        }
    }
    Ok(shown)
}

fn shown_entry(b: &Bundle, item: &Item, bytes: &str) -> Result<Entry, Failure> {
    let seq = Some(item.seq);
    let e = entry::parse(bytes.as_bytes()).or_else(|m| fail("§7.4", seq, m))?;
    if e.seq != item.seq {
        return fail("§7.4", seq, format!("the entry's seq is {}", e.seq));
    }
    if e.subject.as_deref() != Some(b.subject.as_str()) {
        return fail(
            "§7.4",
            seq,
            format!(
                "the entry's subject is {:?}, not {:?}",
                e.subject, b.subject
            ),
        );
    }
    Ok(e)
}

/// §7.5: the first item, if shown, starts the person's chain (`subject_prev` null); every later
/// shown item's `subject_prev` is the leaf hash of the item before it, shown or withheld.
pub fn check_chain(b: &Bundle, shown: &Shown) -> Result<(), Failure> {
    let mut before = None;
    for item in &b.items {
        if let Some(e) = shown.get(&item.seq) {
            if e.subject_prev != before {
                return fail("§7.5", Some(item.seq), chain_break(before.is_some()));
            }
        }
        before = Some(item.leaf);
    }
    Ok(())
}

fn chain_break(has_before: bool) -> &'static str {
    if has_before {
        "subject_prev is not the leaf hash of the item before it"
    } else {
        "the first item's subject_prev is not null"
    }
}
