//! The indexes: which seqs belong to each stream, each person and each command id.
//!
//! Owns: the in-memory [`Index`] every lookup is answered from, and the bytes of a *postings*
//! record — one per commit group, beside its entries in the `log` tree, listing each entry's
//! stream, version, subject, command and (for an entry with a command) actor — which is the
//! indexes' persisted form: the index is
//! loaded from them on open and verification compares them with the log.
//! Must not touch: sled or any file (callers read and write the records); entry bytes.
//!
//! Why in memory: a sled key per entry per index (three randomly placed keys per event) cost
//! more CPU than the entry itself (~12 µs a key on the development machine). One postings record
//! per group is one sequential key, and the maps cost about 16 bytes of memory per entry plus each
//! distinct name once.

use std::collections::HashMap;

/// One entry's index facts, borrowed from the entry or from a postings record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Posting<'a> {
    pub stream: &'a str,
    pub version: u64,
    pub subject: Option<&'a str>,
    pub command: Option<&'a str>,
    /// The actor whose command it was: idempotency keys are per actor, so two actors' calls
    /// under the same command id are two commands. Present exactly when `command` is.
    pub actor: Option<&'a str>,
}

/// Appends `p` to a postings record: `len(stream) u8 ‖ stream ‖ version u64 BE ‖
/// len(subject) u8 ‖ subject ‖ len(command) u8 ‖ command [‖ len(actor) u8 ‖ actor]`, a length of
/// 0 meaning "none", the actor present exactly when the command is (store format 3).
/// Names are 1..=160 bytes (checked on append), so a length always fits a byte and is never 0.
pub fn encode(out: &mut Vec<u8>, p: &Posting<'_>) {
    let name = |out: &mut Vec<u8>, n: Option<&str>| {
        let n = n.unwrap_or("");
        out.push(u8::try_from(n.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(n.as_bytes());
    };
    name(out, Some(p.stream));
    out.extend_from_slice(&p.version.to_be_bytes());
    name(out, p.subject);
    name(out, p.command);
    if p.command.is_some() {
        name(out, p.actor);
    }
}

/// Reads the postings of a record in order; an `Err` says what is malformed.
pub struct Decoder<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    pub fn new(bytes: &'a [u8]) -> Decoder<'a> {
        Decoder { bytes, pos: 0 }
    }

    /// Whether every posting has been read.
    pub fn is_done(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or("postings record is truncated")?;
        let b = self
            .bytes
            .get(self.pos..end)
            .ok_or("postings record is truncated")?;
        self.pos = end;
        Ok(b)
    }

    fn name(&mut self) -> Result<Option<&'a str>, &'static str> {
        let len = usize::from(self.take(1)?[0]);
        if len == 0 {
            return Ok(None);
        }
        let b = self.take(len)?;
        std::str::from_utf8(b)
            .map(Some)
            .map_err(|_| "postings record holds a name that is not UTF-8")
    }

    fn posting(&mut self) -> Result<Posting<'a>, &'static str> {
        let stream = self.name()?.ok_or("postings record has an empty stream")?;
        let version = u64::from_be_bytes(
            self.take(8)?
                .try_into()
                .map_err(|_| "postings record is truncated")?,
        );
        let subject = self.name()?;
        let command = self.name()?;
        let actor = match command {
            Some(_) => Some(
                self.name()?
                    .ok_or("postings record has a command without its actor")?,
            ),
            None => None,
        };
        Ok(Posting {
            stream,
            version,
            subject,
            command,
            actor,
        })
    }
}

impl<'a> Iterator for Decoder<'a> {
    type Item = Result<Posting<'a>, &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.is_done() {
            return None;
        }
        let r = self.posting();
        if r.is_err() {
            // Nothing after a malformed posting can be trusted to start where it seems to.
            self.pos = self.bytes.len();
        }
        Some(r)
    }
}

/// Every stream's, person's and command's seqs, for the first [`Index::size`] entries. The
/// store's writer is its only mutator and adds each group once the group is in the `log` tree,
/// before it is durable: readers bound what they return by the durable size.
#[derive(Debug, Default)]
pub struct Index {
    /// Seqs of each stream's entries, by version (`seqs[v]` holds version `v`).
    streams: HashMap<String, Vec<u64>>,
    /// Seqs of each person's entries, in order.
    subjects: HashMap<String, Vec<u64>>,
    /// First seq and count of the append each command produced, by `(actor, command id)`: a
    /// command id is the client's key, so it is unique per actor, not across actors. Its
    /// entries are contiguous.
    commands: HashMap<String, HashMap<String, (u64, u64)>>,
    /// Entries indexed: the next posting added must be this seq's.
    size: u64,
}

impl Index {
    /// Entries covered.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Adds the posting of entry `seq`, which must be the next one. An `Err` says how the
    /// posting contradicts what came before (a gap, a version out of order, a command id whose
    /// entries are not contiguous): the records it came from do not match the log.
    pub fn add(&mut self, seq: u64, p: &Posting<'_>) -> Result<(), String> {
        if seq != self.size {
            return Err(format!(
                "postings jump from seq {} to {seq}",
                self.size.saturating_sub(1)
            ));
        }
        let next = self.stream_next(p.stream);
        if p.version != next {
            return Err(format!(
                "postings give stream {} version {} where {next} is next",
                p.stream, p.version
            ));
        }
        if let Some(c) = p.command {
            let actor = p
                .actor
                .ok_or_else(|| format!("postings give command {c} no actor"))?;
            let of_actor = match self.commands.get_mut(actor) {
                Some(m) => m,
                None => self.commands.entry(actor.to_string()).or_default(),
            };
            match of_actor.get_mut(c) {
                Some((first, count)) if *first + *count == seq => *count += 1,
                Some(_) => {
                    return Err(format!(
                        "postings give {actor}'s command {c} to entries that are not contiguous"
                    ))
                }
                None => {
                    of_actor.insert(c.to_string(), (seq, 1));
                }
            }
        }
        push(&mut self.streams, p.stream, seq);
        if let Some(s) = p.subject {
            push(&mut self.subjects, s, seq);
        }
        self.size = seq + 1;
        Ok(())
    }

    /// Adds every posting of one record, for the entries from `first`.
    pub fn add_record(&mut self, first: u64, record: &[u8]) -> Result<(), String> {
        let mut seq = first;
        for p in Decoder::new(record) {
            self.add(seq, &p.map_err(|e| format!("seq {seq}: {e}"))?)?;
            // Not `(first..).zip(..)`: that overflows past u64::MAX (found by fuzzing).
            seq = seq
                .checked_add(1)
                .ok_or("postings run past the last possible seq")?;
        }
        Ok(())
    }

    /// The version the stream's next event gets (how many it holds).
    pub fn stream_next(&self, stream: &str) -> u64 {
        self.streams.get(stream).map_or(0, |s| s.len() as u64)
    }

    /// Seqs of a stream's entries below `size`, in version order.
    pub fn stream_seqs(&self, stream: &str, size: u64) -> Vec<u64> {
        below(self.streams.get(stream), size)
    }

    /// Seqs of a person's entries below `size`, in order.
    pub fn subject_seqs(&self, subject: &str, size: u64) -> Vec<u64> {
        below(self.subjects.get(subject), size)
    }

    /// The seq of a person's latest entry.
    pub fn subject_last(&self, subject: &str) -> Option<u64> {
        self.subjects.get(subject).and_then(|s| s.last().copied())
    }

    /// The last seq before `m` of a stream's entries.
    pub fn stream_last_before(&self, stream: &str, m: u64) -> Option<u64> {
        last_before(self.streams.get(stream), m)
    }

    /// The last seq before `m` of a person's entries.
    pub fn subject_last_before(&self, subject: &str, m: u64) -> Option<u64> {
        last_before(self.subjects.get(subject), m)
    }

    /// First seq and count of the append that carried `actor`'s command id `id`.
    pub fn command(&self, actor: &str, id: &str) -> Option<(u64, u64)> {
        self.commands.get(actor)?.get(id).copied()
    }
}

fn push(map: &mut HashMap<String, Vec<u64>>, name: &str, seq: u64) {
    match map.get_mut(name) {
        Some(v) => v.push(seq),
        None => {
            map.insert(name.to_string(), vec![seq]);
        }
    }
}

fn below(seqs: Option<&Vec<u64>>, size: u64) -> Vec<u64> {
    seqs.map_or_else(Vec::new, |s| s[..s.partition_point(|&q| q < size)].to_vec())
}

fn last_before(seqs: Option<&Vec<u64>>, m: u64) -> Option<u64> {
    let s = seqs?;
    s[..s.partition_point(|&q| q < m)].last().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p<'a>(
        stream: &'a str,
        version: u64,
        subject: Option<&'a str>,
        command: Option<&'a str>,
    ) -> Posting<'a> {
        Posting {
            stream,
            version,
            subject,
            command,
            actor: command.map(|_| "pw-amara"),
        }
    }

    #[test]
    fn a_record_decodes_to_the_postings_it_was_encoded_from() {
        let long = "x".repeat(160);
        let all = [
            p("note:n-1", 0, Some("su-sam"), Some("c-1")),
            p("note:n-1", 1, None, None),
            p(&long, u64::MAX, Some(&long), Some(&long)),
        ];
        let mut rec = Vec::new();
        for q in &all {
            encode(&mut rec, q);
        }
        let back: Vec<_> = Decoder::new(&rec).collect::<Result<_, _>>().unwrap();
        assert_eq!(back, all);
        // A truncated record is an error, unless it was cut between postings: then it reads as
        // their prefix, and the next record's first seq (or the log) no longer lines up.
        for cut in 1..rec.len() {
            if let Ok(prefix) = Decoder::new(&rec[..cut]).collect::<Result<Vec<_>, _>>() {
                assert_eq!(prefix[..], all[..prefix.len()], "cut at {cut}");
            }
        }
    }

    #[test]
    fn the_index_answers_versions_seqs_and_commands_and_refuses_what_does_not_follow() {
        let mut ix = Index::default();
        ix.add(0, &p("note:n-1", 0, Some("su-sam"), Some("c-1")))
            .unwrap();
        ix.add(1, &p("note:n-1", 1, Some("su-sam"), Some("c-1")))
            .unwrap();
        ix.add(2, &p("meeting:m-1", 0, Some("su-ava"), None))
            .unwrap();
        assert_eq!(ix.stream_next("note:n-1"), 2);
        assert_eq!(ix.stream_next("note:n-9"), 0);
        assert_eq!(ix.stream_seqs("note:n-1", 2), vec![0, 1]);
        assert_eq!(ix.stream_seqs("note:n-1", 1), vec![0]);
        assert_eq!(ix.subject_seqs("su-sam", 3), vec![0, 1]);
        assert_eq!(ix.subject_last("su-ava"), Some(2));
        assert_eq!(ix.subject_last_before("su-sam", 1), Some(0));
        assert_eq!(ix.stream_last_before("note:n-1", 0), None);
        assert_eq!(ix.command("pw-amara", "c-1"), Some((0, 2)));
        assert_eq!(
            ix.command("su-sam", "c-1"),
            None,
            "command ids are per actor"
        );
        let other = Posting {
            actor: Some("su-sam"),
            ..p("note:n-2", 0, None, Some("c-1"))
        };
        let mut ix2 = Index::default();
        ix2.add(0, &p("note:n-1", 0, None, Some("c-1"))).unwrap();
        ix2.add(1, &p("note:n-3", 0, None, None)).unwrap();
        ix2.add(2, &other).unwrap();
        assert_eq!(ix2.command("su-sam", "c-1"), Some((2, 1)));
        assert_eq!(ix2.command("pw-amara", "c-1"), Some((0, 1)));
        assert!(ix.add(4, &p("note:n-2", 0, None, None)).is_err(), "a gap");
        assert!(
            ix.add(3, &p("note:n-1", 5, None, None)).is_err(),
            "a version skipped"
        );
        assert!(
            ix.add(3, &p("note:n-2", 0, None, Some("c-1"))).is_err(),
            "a command reused"
        );
        assert_eq!(ix.size(), 3, "refusals change nothing");
    }

    /// Found by fuzzing (`fuzz --target postings`): a record starting at the last seq there is
    /// overflowed the seq counter instead of being refused.
    #[test]
    fn a_record_at_the_last_seq_is_refused_not_an_overflow() {
        let mut rec = Vec::new();
        encode(&mut rec, &p("note:n-1", 0, None, None));
        encode(&mut rec, &p("note:n-1", 1, None, None));
        let mut ix = Index::default();
        assert!(ix.add_record(u64::MAX, &rec).is_err());
        assert!(ix.add_record(u64::MAX - 1, &rec).is_err());
        assert_eq!(ix.size(), 0);
    }
}
