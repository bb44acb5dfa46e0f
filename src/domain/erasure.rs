//! What the log says was erased: the commitments whose content an entry erased, read from the
//! entries alone (`withus restore` re-applies them to a restored store).
//!
//! Owns: [`erased_by`] and [`Erasures`], the fold over a log that collects every erased
//! commitment. Must not touch: I/O, clocks; the rules that decide an erasure (those are in
//! `notes` and `retention`: this module only reads back what their events recorded).
//!
//! Two events erase content (DOMAIN.md): `redaction.agreed` (the passages of its proposal, under
//! every commitment their segment ids held in any revision up to that entry, exactly as
//! `notes::respond_redaction` decided) and `retention.erased` (the commitments it lists).

use std::collections::BTreeSet;

use super::event::{Event, Recorded};
use super::projection::Projections;
use super::stream::Stream;
use crate::format::Hash;

/// The commitments entry `r` erased, given the state just before it (`p`, which `r` has not
/// been applied to). Empty for any other entry.
pub fn erased_by(p: &Projections, r: &Recorded) -> Vec<Hash> {
    match &r.event {
        Event::RetentionErased(e) => e.segments.iter().map(|h| h.0).collect(),
        Event::RedactionAgreed(e) => {
            let Some(Stream::Note(note_id)) = Stream::parse(&r.stream) else {
                return Vec::new();
            };
            let Some(n) = p.notes.get(&note_id) else {
                return Vec::new();
            };
            let Some(pr) = n.proposals.get(&e.proposal_id) else {
                return Vec::new();
            };
            n.commits_of(&pr.segments)
                .into_iter()
                .map(|h| h.0)
                .collect()
        }
        _ => Vec::new(),
    }
}

/// A fold over a log, in order, that collects every erased commitment.
#[derive(Default)]
pub struct Erasures {
    p: Projections,
    erased: BTreeSet<Hash>,
}

impl Erasures {
    pub fn new() -> Erasures {
        Erasures {
            p: Projections::new(),
            erased: BTreeSet::new(),
        }
    }

    /// The next entry of the log (an entry that is not a domain event is skipped, as replay
    /// skips it).
    pub fn push(&mut self, seq: u64, r: Option<&Recorded>) {
        match r {
            Some(r) => {
                self.erased.extend(erased_by(&self.p, r));
                self.p.apply(r);
            }
            None => self.p.skip(seq),
        }
    }

    /// Every commitment erased so far.
    pub fn erased(&self) -> &BTreeSet<Hash> {
        &self.erased
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::RetentionErased;
    use crate::domain::types::{HexHash, RetentionRule, Time};

    fn recorded(seq: u64, stream: &str, event: Event) -> Recorded {
        Recorded {
            seq,
            at: Time(1),
            stream: stream.into(),
            version: 0,
            subject: Some("su-sam".into()),
            actor_id: "withus-retention".into(),
            actor_role: "system".into(),
            command: None,
            event,
        }
    }

    #[test]
    fn a_retention_erasure_names_its_commitments_and_other_entries_none() {
        let mut e = Erasures::new();
        e.push(0, None);
        let r = recorded(
            1,
            "retention:su-sam",
            Event::RetentionErased(RetentionErased {
                rule: RetentionRule::AdultEndOfCare,
                basis: "2026-01-01".into(),
                due: "2046-01-01".into(),
                segments: vec![HexHash([1; 32]), HexHash([2; 32])],
            }),
        );
        assert_eq!(erased_by(&e.p, &r), vec![[1; 32], [2; 32]]);
        e.push(1, Some(&r));
        assert_eq!(
            e.erased().iter().copied().collect::<Vec<_>>(),
            vec![[1; 32], [2; 32]]
        );
    }
}
