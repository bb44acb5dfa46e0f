//! §7.6: the actor items, each the proven registration of an actor a shown entry names; and
//! §4: the person's own among them.

use std::collections::HashSet;

use super::entries::Shown;
use super::shape::{Bundle, Item};
use super::{fail, Failure};
use crate::entry::{self, Entry};
use crate::merkle::included;
use crate::note::Checkpoint;

/// An actor item that passed: the actor it registers (`data.id`) and its entry.
pub struct Registration {
    pub seq: u64,
    pub registers: String,
    pub entry: Entry,
}

/// §7.6: every actor item is an `actor.registered` entry with seq below N whose subject is null
/// or the bundle's; its proof verifies; its `data.id` is the `actor.id` of a shown entry; no two
/// name the same actor.
pub fn check_actors(
    b: &Bundle,
    cp: &Checkpoint,
    shown: &Shown,
) -> Result<Vec<Registration>, Failure> {
    let named: HashSet<&str> = shown.values().map(|e| e.actor_id.as_str()).collect();
    let mut registrations: Vec<Registration> = Vec::new();
    for item in &b.actors {
        let r = registration(b, cp, item)?;
        if !named.contains(r.registers.as_str()) {
            return fail(
                "§7.6",
                Some(item.seq),
                format!("{} is not the actor of any shown entry", r.registers),
            );
        }
        if registrations.iter().any(|o| o.registers == r.registers) {
            return fail(
                "§7.6",
                Some(item.seq),
                format!("a second registration of {}", r.registers),
            );
        }
        registrations.push(r);
    }
    Ok(registrations)
}

/// One actor item on its own: what it is, where it is, and that it is in the log.
fn registration(b: &Bundle, cp: &Checkpoint, item: &Item) -> Result<Registration, Failure> {
    let seq = Some(item.seq);
    let bytes = item.entry.as_deref().unwrap_or_default();
    let e = entry::parse(bytes.as_bytes()).or_else(|m| fail("§7.6", seq, m))?;
    if e.seq != item.seq {
        return fail("§7.6", seq, format!("the entry's seq is {}", e.seq));
    }
    if e.kind != "actor.registered" {
        return fail(
            "§7.6",
            seq,
            format!("the entry is {}, not actor.registered", e.kind),
        );
    }
    if item.seq >= b.n {
        return fail(
            "§7.6",
            seq,
            format!("the entry is not among the first N = {} entries", b.n),
        );
    }
    if e.subject.as_ref().is_some_and(|s| *s != b.subject) {
        return fail("§7.6", seq, "the registration of another person");
    }
    if !included(item.seq, b.n, &item.leaf, &item.proof, &cp.root) {
        return fail(
            "§7.6",
            seq,
            "the inclusion proof does not verify against the checkpoint's root",
        );
    }
    let Some(registers) = e.data.get("id").and_then(|v| v.as_str()) else {
        return fail("§7.6", seq, "data.id is not a string");
    };
    Ok(Registration {
        seq: item.seq,
        registers: registers.to_string(),
        entry: e,
    })
}

/// §4, beyond the list of §7. The actors are "the actors named in the shown entries", staff and
/// the person themselves; whether a named id is staff or another service user only their
/// registration tells, but the person is known: when they are the actor of a shown entry, their
/// registration is among the actors. And an actor item about the person is one of their
/// entries, so it is shown in `entries` too: it can neither stand for an entry that `entries`
/// leaves out nor show one that it withholds.
pub fn check_registrations(
    b: &Bundle,
    shown: &Shown,
    registrations: &[Registration],
) -> Result<(), Failure> {
    for r in registrations.iter().filter(|r| r.entry.subject.is_some()) {
        if !shown.contains_key(&r.seq) {
            let why = if b.items.iter().any(|i| i.seq == r.seq) {
                "the actor item shows an entry that entries withholds"
            } else {
                "the actor item is an entry about the person that entries leaves out"
            };
            return fail("§4", Some(r.seq), why);
        }
    }
    let acts = shown.values().find(|e| e.actor_id == b.subject);
    if let Some(e) = acts {
        if !registrations.iter().any(|r| r.registers == b.subject) {
            return fail(
                "§4",
                Some(e.seq),
                format!(
                    "{} is the actor of this entry, but their registration is not among the actors",
                    b.subject
                ),
            );
        }
    }
    Ok(())
}
