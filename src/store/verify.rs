//! Verification of a store: every check of log-format.md §6 over the stored entries, plus the
//! stored Merkle nodes, the postings (the indexes' records) and the content slots against the
//! log.
//!
//! Owns: the verification pipeline and its report.
//! Must not touch: anything on disk — verification only reads; it never repairs.
//!
//! Pipeline: one thread reads entries from sled in chunks, workers parse and hash chunks in
//! parallel (per-entry work), and the calling thread runs the order-dependent checks (chains,
//! `at`, stream versions, Merkle nodes, postings) on the results, in seq order.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;

use super::index::{Decoder, Posting};
use super::keys;
use super::slots::Slot;
use super::{Shared, StoreError};
use crate::checkpoint::Checkpoint;
use crate::format::{leaf_hash, EntryView, Hash, ZERO_HASH};
use crate::merkle::{self, Frontier};

/// Entries per chunk handed between pipeline stages.
const CHUNK: usize = 2048;

/// The first problem found: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The first bad entry, when the problem is in or found through an entry.
    pub seq: Option<u64>,
    /// What is wrong, in words.
    pub what: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.seq {
            Some(s) => write!(f, "seq {s}: {}", self.what),
            None => f.write_str(&self.what),
        }
    }
}

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries checked (all of them, or those after the trusted checkpoint).
    pub entries: u64,
    /// Tree size the checks arrived at.
    pub size: u64,
    /// Root recomputed from the entries: compare it with a published checkpoint.
    pub root: Hash,
    /// Content segments checked against their commitments.
    pub contents: u64,
    /// The first failure; `None` means the store verified.
    pub failure: Option<Failure>,
    /// Entries at the end of the log that the derived records (postings, Merkle nodes) do not
    /// cover. A group's derived records are written in its batch, so this is 0 unless they were
    /// deleted or the store was written by format 1: the entries themselves were fully checked,
    /// and the next read-write open re-derives the rest.
    pub derived_behind: u64,
    /// Salt slots of appends that never committed (a crash between writing the salt and the
    /// batch): no sealed text exists for them, and the next read-write open wipes them.
    pub uncommitted_salts: u64,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.failure.is_none()
    }
}

/// Per-entry facts, computed in parallel.
struct Item {
    seq: u64,
    /// Key seq as stored, to catch entries filed under the wrong key.
    key_seq: u64,
    leaf: Hash,
    /// Parse error, if the bytes are not a v1 entry.
    error: Option<String>,
    prev: Hash,
    /// `at`, shape-checked by the parser and checked to be a real time here.
    at: [u8; 24],
    stream: String,
    version: u64,
    subject: Option<String>,
    subject_prev: Option<Hash>,
    command: Option<String>,
    /// The actor, for an entry with a command (what its posting records).
    actor: Option<String>,
}

fn examine(key_seq: u64, bytes: &[u8]) -> Item {
    let leaf = leaf_hash(bytes);
    let parsed = EntryView::parse(bytes).and_then(|v| match crate::format::parse_millis(&v.at) {
        Some(_) => Ok(v),
        None => Err(format!("`at` {} is not a real time", v.at)),
    });
    match parsed {
        Ok(v) => Item {
            seq: v.seq,
            key_seq,
            leaf,
            error: None,
            prev: v.prev,
            at: v.at.as_bytes().try_into().unwrap_or([0; 24]),
            stream: v.stream.into_owned(),
            version: v.version,
            subject: v.subject.map(|s| s.into_owned()),
            subject_prev: v.subject_prev,
            actor: v.command.as_ref().map(|_| v.actor_id.clone().into_owned()),
            command: v.command.map(|c| c.into_owned()),
        },
        Err(e) => Item {
            seq: key_seq,
            key_seq,
            leaf,
            error: Some(e),
            prev: ZERO_HASH,
            at: [0; 24],
            stream: String::new(),
            version: 0,
            subject: None,
            subject_prev: None,
            command: None,
            actor: None,
        },
    }
}

/// Streams examined chunks of `[from, to)` in order. Worker threads each claim the next chunk of
/// seqs, read it from sled themselves (so sled's page-in, the parsing and the hashing all run in
/// parallel), and a reorder thread hands the chunks on in seq order.
fn pipeline<'s>(
    scope: &'s std::thread::Scope<'s, '_>,
    shared: &'s Shared,
    from: u64,
    to: u64,
) -> Receiver<Result<Vec<Item>, StoreError>> {
    let chunks = (to - from).div_ceil(CHUNK as u64);
    let next_chunk = Arc::new(AtomicU64::new(0));
    // Chunks handed on so far; workers stay within WINDOW chunks of it, bounding memory.
    let delivered = Arc::new(AtomicU64::new(0));
    const WINDOW: u64 = 16;
    let (done_tx, done_rx) = sync_channel::<(u64, Result<Vec<Item>, StoreError>)>(8);
    // More workers than cores: part of a cold read is waiting on the page cache.
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 4)
        + 1;
    for _ in 0..workers {
        let (next_chunk, done_tx, delivered) = (
            Arc::clone(&next_chunk),
            done_tx.clone(),
            Arc::clone(&delivered),
        );
        scope.spawn(move || loop {
            let n = next_chunk.fetch_add(1, AtomicOrdering::Relaxed);
            if n >= chunks {
                return;
            }
            while n >= delivered.load(AtomicOrdering::Acquire) + WINDOW {
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
            let start = from + n * CHUNK as u64;
            let end = to.min(start + CHUNK as u64);
            let mut items = Vec::with_capacity(CHUNK);
            let mut result = Ok(());
            for kv in shared.log.range(keys::entry(start)..keys::entry(end)) {
                match kv {
                    Ok((k, v)) => match keys::tail_u64(&k) {
                        Some(seq) => items.push(examine(seq, &v)),
                        None => {
                            result = Err(StoreError::corrupt(None, "malformed entry key"));
                            break;
                        }
                    },
                    Err(e) => {
                        result = Err(e.into());
                        break;
                    }
                }
            }
            if done_tx.send((n, result.map(|()| items))).is_err() {
                return;
            }
        });
    }
    drop(done_tx);
    // Reorder: workers finish chunks out of order.
    let (out_tx, out_rx) = sync_channel(4);
    let delivered_by_reorder = Arc::clone(&delivered);
    scope.spawn(move || {
        let mut pending = BTreeMap::new();
        let mut want = 0u64;
        for (n, items) in done_rx {
            pending.insert(n, items);
            while let Some(items) = pending.remove(&want) {
                if out_tx.send(items).is_err() {
                    // The checker stopped (a failure); let waiting workers run out.
                    delivered_by_reorder.store(u64::MAX / 2, AtomicOrdering::Release);
                    return;
                }
                want += 1;
                delivered_by_reorder.store(want, AtomicOrdering::Release);
            }
        }
    });
    out_rx
}

/// Order-dependent state of the checks.
struct Chain {
    next_seq: u64,
    prev: Hash,
    last_at: [u8; 24],
    /// Next version of each stream.
    streams: HashMap<String, u64>,
    /// Leaf hash of each person's latest entry.
    subjects: HashMap<String, Hash>,
    frontier: Frontier,
    /// Entries below this seq have derived records to compare with (the derived watermark).
    derived_until: u64,
}

impl Chain {
    /// The §6 checks of one entry, given everything before it.
    fn check(&mut self, it: &Item) -> Result<(), String> {
        if it.key_seq != self.next_seq {
            return Err(format!(
                "entry {} is missing (next stored key is {})",
                self.next_seq, it.key_seq
            ));
        }
        if let Some(e) = &it.error {
            return Err(e.clone());
        }
        if it.seq != it.key_seq {
            return Err(format!(
                "`seq` is {} but the entry is stored at {}",
                it.seq, it.key_seq
            ));
        }
        if it.prev != self.prev {
            return Err("`prev` is not the leaf hash of the previous entry".into());
        }
        if it.at < self.last_at {
            return Err(format!(
                "`at` {} is earlier than the previous entry's {}",
                String::from_utf8_lossy(&it.at),
                String::from_utf8_lossy(&self.last_at)
            ));
        }
        let next_version = self.streams.get(it.stream.as_str()).copied().unwrap_or(0);
        if it.version != next_version {
            return Err(format!(
                "`version` {} of stream {} should be {next_version}",
                it.version, it.stream
            ));
        }
        match (&it.subject, &it.subject_prev) {
            (None, _) => {}
            (Some(s), sp) => {
                let want = self.subjects.get(s.as_str());
                if sp.as_ref() != want {
                    return Err(format!(
                        "`subject_prev` does not match the previous entry of {s}"
                    ));
                }
            }
        }
        // Accepted: advance.
        match self.streams.get_mut(it.stream.as_str()) {
            Some(v) => *v += 1,
            None => {
                self.streams.insert(it.stream.clone(), 1);
            }
        }
        if let Some(s) = &it.subject {
            match self.subjects.get_mut(s.as_str()) {
                Some(h) => *h = it.leaf,
                None => {
                    self.subjects.insert(s.clone(), it.leaf);
                }
            }
        }
        self.prev = it.leaf;
        self.last_at = it.at;
        self.next_seq += 1;
        Ok(())
    }
}

/// The next stored record of a derived family (`family`, e.g. "postings"), which must be the one
/// whose first seq is `seq` (a `record`, e.g. "postings record", that starts anywhere else means
/// the records and the log disagree).
fn next_record<I: Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>>(
    iter: &mut I,
    seq: u64,
    family: &str,
    record: &str,
) -> Result<sled::IVec, String> {
    let (k, v) = match iter.next() {
        Some(Ok(kv)) => kv,
        Some(Err(e)) => return Err(format!("cannot read {family}: {e}")),
        None => return Err(format!("stored {family} end before the log does")),
    };
    let first = keys::tail_u64(&k).unwrap_or(u64::MAX);
    if first != seq {
        return Err(format!("stored {record} starts at {first}, expected {seq}"));
    }
    Ok(v)
}

/// Reads stored postings records in order, to compare each posting with its entry. `check` is
/// called for every seq in order, so the posting at the read position is always `it.seq`'s.
struct Postings<I> {
    iter: I,
    /// Current record: its bytes and the read position.
    cur: Option<(sled::IVec, usize)>,
}

impl<I: Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> Postings<I> {
    /// Checks that the next stored posting is `seq`'s and says what the entry says.
    fn check(&mut self, it: &Item) -> Result<(), String> {
        let exhausted = matches!(&self.cur, Some((b, pos)) if *pos >= b.len());
        if self.cur.is_none() || exhausted {
            let v = next_record(&mut self.iter, it.seq, "postings", "postings record")?;
            self.cur = Some((v, 0));
        }
        let Some((record, pos)) = &mut self.cur else {
            return Err("stored postings missing".into());
        };
        let mut d = Decoder::new(record.get(*pos..).unwrap_or_default());
        let stored = match d.next() {
            Some(Ok(p)) => p,
            Some(Err(e)) => {
                return Err(format!("the index record for this entry is malformed: {e}"))
            }
            None => return Err("stored postings end before the log does".into()),
        };
        let want = Posting {
            stream: &it.stream,
            version: it.version,
            subject: it.subject.as_deref(),
            command: it.command.as_deref(),
            actor: it.actor.as_deref(),
        };
        if stored != want {
            return Err(format!(
                "the index does not match the entry: it lists stream {} version {}, subject {:?}, command {:?} by {:?}",
                stored.stream, stored.version, stored.subject, stored.command, stored.actor
            ));
        }
        *pos = record.len() - d.remaining();
        Ok(())
    }

    /// Whether records remain past the ones read (postings past the watermark).
    fn has_more(&mut self) -> bool {
        matches!(&self.cur, Some((b, pos)) if *pos < b.len()) || self.iter.next().is_some()
    }
}

/// Reads stored Merkle blocks in order, to compare with the nodes recomputed from the entries.
struct Blocks<I> {
    iter: I,
    /// Current block: its bytes and the read position in hashes.
    cur: Option<(sled::IVec, usize)>,
}

impl<I: Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> Blocks<I> {
    /// The stored hashes for `seq` (its leaf, then the nodes it completes), `n` of them.
    fn take(&mut self, seq: u64, n: usize, out: &mut Vec<Hash>) -> Result<(), String> {
        out.clear();
        let exhausted = matches!(&self.cur, Some((b, pos)) if *pos * 32 >= b.len());
        if self.cur.is_none() || exhausted {
            let v = next_record(&mut self.iter, seq, "Merkle nodes", "Merkle block")?;
            self.cur = Some((v, 0));
        }
        let Some((block, pos)) = &mut self.cur else {
            return Err("stored Merkle nodes missing".into());
        };
        for _ in 0..n {
            let Some(b) = block.get(*pos * 32..*pos * 32 + 32) else {
                return Err("stored Merkle block is shorter than the entries it covers".into());
            };
            let mut h = [0u8; 32];
            h.copy_from_slice(b);
            out.push(h);
            *pos += 1;
        }
        Ok(())
    }
}

/// Full verification of entries `[0, size)` and everything derived from them.
pub(super) fn full(
    shared: &Shared,
    size: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<VerifyReport, StoreError> {
    let chain = Chain {
        next_seq: 0,
        prev: ZERO_HASH,
        last_at: [0; 24],
        streams: HashMap::new(),
        subjects: HashMap::new(),
        frontier: Frontier::default(),
        derived_until: derived_watermark(shared)?,
    };
    if chain.derived_until > size {
        return Ok(VerifyReport {
            entries: 0,
            size,
            root: ZERO_HASH,
            contents: 0,
            failure: Some(Failure {
                seq: None,
                what: format!(
                    "derived records claim {} entries, the log has {size}",
                    chain.derived_until
                ),
            }),
            derived_behind: 0,
            uncommitted_salts: 0,
        });
    }
    let blocks = Blocks {
        iter: shared.log.scan_prefix([keys::MERKLE]),
        cur: None,
    };
    let postings = Postings {
        iter: shared.log.scan_prefix([keys::POSTINGS]),
        cur: None,
    };
    // The content check needs nothing from the chain: it runs beside it, on its own threads,
    // so the chain's one order-dependent thread is not followed by a second serial pass.
    let (chained, contents) = std::thread::scope(|scope| {
        let contents = scope.spawn(|| check_contents(shared));
        let chained = run_chain(shared, chain, blocks, postings, size, progress);
        let contents = contents
            .join()
            .unwrap_or_else(|_| Err(StoreError::Failed("the content check panicked".into())));
        (chained, contents)
    });
    let (_, mut report) = chained?;
    let c = contents?;
    if report.failure.is_none() {
        report.contents = c.contents;
        report.uncommitted_salts = c.uncommitted;
        report.failure = c.failure;
    }
    Ok(report)
}

/// Runs the entry checks from `chain.next_seq` to `size`, comparing recomputed Merkle nodes
/// with `blocks` and each entry with its posting in `postings`.
fn run_chain<I, J>(
    shared: &Shared,
    mut chain: Chain,
    mut blocks: Blocks<I>,
    mut postings: Postings<J>,
    size: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(Chain, VerifyReport), StoreError>
where
    I: Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>,
    J: Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>,
{
    let from = chain.next_seq;
    let mut failure: Option<Failure> = None;
    let mut completed: Vec<Hash> = Vec::with_capacity(8);
    let mut stored: Vec<Hash> = Vec::with_capacity(8);
    std::thread::scope(|scope| -> Result<(), StoreError> {
        let rx = pipeline(scope, shared, from, size);
        'outer: for chunk in rx.iter() {
            for it in chunk? {
                if let Err(what) = chain.check(&it) {
                    failure = Some(Failure {
                        seq: Some(chain.next_seq),
                        what,
                    });
                    break 'outer;
                }
                completed.clear();
                chain.frontier.push(it.leaf, |_, _, h| completed.push(*h));
                if it.seq >= chain.derived_until {
                    continue;
                }
                if let Err(what) = blocks.take(it.seq, completed.len(), &mut stored) {
                    failure = Some(Failure {
                        seq: Some(it.seq),
                        what,
                    });
                    break 'outer;
                }
                if let Some(level) = completed.iter().zip(&stored).position(|(a, b)| a != b) {
                    let what = if level == 0 {
                        "entry bytes do not match the stored leaf hash (entry or tree altered)"
                            .to_string()
                    } else {
                        format!("stored Merkle node at level {level} does not match the entries")
                    };
                    failure = Some(Failure {
                        seq: Some(it.seq),
                        what,
                    });
                    break 'outer;
                }
                if let Err(what) = postings.check(&it) {
                    failure = Some(Failure {
                        seq: Some(it.seq),
                        what,
                    });
                    break 'outer;
                }
            }
            progress(chain.next_seq, size);
        }
        // Dropping `rx` here stops the pipeline threads early after a failure.
        Ok(())
    })?;
    if failure.is_none() && chain.next_seq != size {
        failure = Some(Failure {
            seq: Some(chain.next_seq),
            what: "entry is missing from the log".into(),
        });
    }
    if failure.is_none() {
        if let Some((b, pos)) = &blocks.cur {
            if pos * 32 != b.len() {
                failure = Some(Failure {
                    seq: None,
                    what: "stored Merkle block has hashes past the log's end".into(),
                });
            }
        }
        if failure.is_none() && blocks.iter.next().is_some() {
            failure = Some(Failure {
                seq: None,
                what: "stored Merkle nodes go past the log's end".into(),
            });
        }
        if failure.is_none() && postings.has_more() {
            failure = Some(Failure {
                seq: None,
                what: "stored postings go past the derived records' watermark".into(),
            });
        }
    }
    let report = VerifyReport {
        entries: chain.next_seq - from,
        size: chain.frontier.size(),
        root: chain.frontier.root(),
        contents: 0,
        failure,
        derived_behind: size - chain.derived_until.min(size),
        uncommitted_salts: 0,
    };
    Ok((chain, report))
}

/// The derived watermark: how many entries the derived records say they cover.
pub(super) fn derived_watermark(shared: &Shared) -> Result<u64, StoreError> {
    let w = shared
        .log
        .get(keys::WATERMARK)?
        .and_then(|w| keys::be_u64(&w, 0));
    Ok(w.unwrap_or(0))
}

/// What the content check found.
struct ContentCheck {
    /// Content records that check out (erasures in progress included).
    contents: u64,
    /// Slots holding a salt (or a torn write) that no content record uses.
    uncommitted: u64,
    failure: Option<Failure>,
}

/// Every content record: its salt slot holds its commitment, it decrypts, and the text matches.
/// Slots no record uses are salts of appends that never committed (the batch that would have
/// used them was never applied, so no sealed text exists for them): counted, not failed; the
/// next read-write open wipes them.
///
/// The salts are read in one pass first, and the records are checked by one thread per core,
/// each over a range of commitments (their keys are uniformly spread). A record whose slot in
/// that first read does not hold its commitment (content appended or a slot reused while a live
/// store is verified) is checked against the slot as it is now, so the answer is the same as
/// reading every slot one by one.
fn check_contents(shared: &Shared) -> Result<ContentCheck, StoreError> {
    let salts = shared
        .slots
        .read_all()
        .map_err(|e| StoreError::io(shared.dir.join("salts"), e))?;
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 4);
    let parts: Vec<Result<ContentPart, StoreError>> = std::thread::scope(|scope| {
        let salts = &salts;
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let low = 256 * t / threads;
                let high = 256 * (t + 1) / threads;
                scope.spawn(move || check_content_range(shared, salts, low, high))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(StoreError::Failed("a content check thread panicked".into()))
                })
            })
            .collect()
    });
    let mut check = ContentCheck {
        contents: 0,
        uncommitted: 0,
        failure: None,
    };
    let mut owned = vec![false; salts.len()];
    for part in parts {
        let part = part?;
        check.contents += part.contents;
        if check.failure.is_none() {
            check.failure = part.failure;
        }
        for slot in part.owned {
            if let Some(o) = usize::try_from(slot).ok().and_then(|i| owned.get_mut(i)) {
                *o = true;
            }
        }
    }
    if check.failure.is_some() {
        return Ok(check);
    }
    drop(salts);
    // Read again: content appended during the check owns slots past the first read.
    let all = shared
        .slots
        .read_all()
        .map_err(|e| StoreError::io(shared.dir.join("salts"), e))?;
    for (i, slot) in all.iter().enumerate() {
        if *slot != Slot::Free && !owned.get(i).copied().unwrap_or(false) {
            check.uncommitted += 1;
        }
    }
    Ok(check)
}

/// What one thread of the content check found.
struct ContentPart {
    contents: u64,
    /// Slots the records checked use.
    owned: Vec<u64>,
    failure: Option<Failure>,
}

/// Checks the content records whose commitment's first byte is in `low..high` (0..=256).
fn check_content_range(
    shared: &Shared,
    salts: &[Slot],
    low: usize,
    high: usize,
) -> Result<ContentPart, StoreError> {
    let mut part = ContentPart {
        contents: 0,
        owned: Vec::new(),
        failure: None,
    };
    let start = vec![keys::CONTENT, u8::try_from(low).unwrap_or(u8::MAX)];
    let end = match u8::try_from(high) {
        Ok(high) => vec![keys::CONTENT, high],
        Err(_) => vec![keys::CONTENT + 1],
    };
    for kv in shared.log.range(start..end) {
        let (k, v) = kv?;
        let (Ok(commit), Some((slot, nonce, sealed))) =
            (<Hash>::try_from(&k[1..]), super::split_content(&v))
        else {
            part.failure = Some(Failure {
                seq: None,
                what: "malformed content record".into(),
            });
            return Ok(part);
        };
        part.owned.push(slot);
        // A record with an erasure marker is mid-erasure: its salt may already be gone.
        if shared.log.contains_key(keys::erasing(&commit))? {
            part.contents += 1;
            continue;
        }
        let read = usize::try_from(slot).ok().and_then(|i| salts.get(i));
        let opened = match read {
            Some(Slot::Used { commit: c, salt }) if *c == commit => {
                shared.open_sealed(&commit, salt, &nonce, sealed)
            }
            _ => shared.unseal(&commit, &v),
        };
        if let Err(e) = opened {
            part.failure = Some(Failure {
                seq: None,
                what: e.to_string(),
            });
            return Ok(part);
        }
        part.contents += 1;
    }
    Ok(part)
}

/// Incremental verification from a trusted checkpoint `(m, root)`: proves the stored tree at `m`
/// is the checkpoint's, proves the facts the new entries depend on (the last entry before `m`,
/// and each stream's and person's previous entry) by inclusion against the trusted root, then
/// runs the §6 checks and the Merkle comparison on entries `m..size` only.
pub(super) fn since(
    shared: &Shared,
    size: u64,
    trusted: &Checkpoint,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<VerifyReport, StoreError> {
    let m = trusted.size;
    let fail = |seq: Option<u64>, what: String| VerifyReport {
        entries: 0,
        size,
        root: [0u8; 32],
        contents: 0,
        failure: Some(Failure { seq, what }),
        derived_behind: 0,
        uncommitted_salts: 0,
    };
    if trusted.origin != shared.origin {
        return Ok(fail(
            None,
            format!(
                "checkpoint is for log {:?}, this log is {:?}",
                trusted.origin, shared.origin
            ),
        ));
    }
    if m > size {
        return Ok(fail(
            None,
            format!(
                "checkpoint is of size {m} but the log has only {size} entries: entries were lost"
            ),
        ));
    }
    let frontier = match Frontier::load(shared, m) {
        Ok(f) if f.root() == trusted.root => f,
        Ok(_) => {
            return Ok(fail(
                m.checked_sub(1),
                "stored tree at the checkpoint's size differs from the checkpoint's root".into(),
            ))
        }
        Err(e) => return Ok(fail(m.checked_sub(1), e.to_string())),
    };
    // Proves an entry before `m` against the trusted root and returns its parsed view's facts.
    let proven = |seq: u64| -> Result<Option<(Hash, String, String, u64)>, StoreError> {
        let e = shared.entry(seq)?;
        let leaf = leaf_hash(&e.bytes);
        let path = merkle::inclusion_proof(shared, seq, m)?;
        if !merkle::verify_inclusion(&leaf, seq, m, &path, &trusted.root) {
            return Ok(None);
        }
        let v = e.view()?;
        Ok(Some((
            leaf,
            v.at.into_owned(),
            v.stream.into_owned(),
            v.version,
        )))
    };
    let (prev, last_at) = if m == 0 {
        (ZERO_HASH, [0u8; 24])
    } else {
        match proven(m - 1)? {
            Some((leaf, at, _, _)) => (leaf, at.as_bytes().try_into().unwrap_or([0u8; 24])),
            None => {
                return Ok(fail(
                    Some(m - 1),
                    "entry differs from the one the checkpoint committed to".into(),
                ))
            }
        }
    };
    // Seed the per-stream and per-person state from the proven last entries before `m`.
    let mut streams = HashMap::new();
    let mut subjects = HashMap::new();
    let mut names = (
        std::collections::HashSet::new(),
        std::collections::HashSet::new(),
    );
    for it in shared.log.range(keys::entry(m)..keys::entry(size)) {
        let (_, v) = it?;
        if let Ok(view) = EntryView::parse(&v) {
            names.0.insert(view.stream.into_owned());
            if let Some(s) = view.subject {
                names.1.insert(s.into_owned());
            }
        }
    }
    // The index says where each stream's and person's previous entry is; each one it names is
    // proven against the trusted root before it is relied on. (Looked up first, so the index is
    // not held while entries are read and proven.)
    let (stream_before, subject_before) = {
        let ix = shared.index()?;
        let before = |names: std::collections::HashSet<String>,
                      last: &dyn Fn(&str) -> Option<u64>| {
            names
                .into_iter()
                .map(|n| {
                    let seq = last(&n);
                    (n, seq)
                })
                .collect::<Vec<_>>()
        };
        (
            before(names.0, &|s| ix.stream_last_before(s, m)),
            before(names.1, &|s| ix.subject_last_before(s, m)),
        )
    };
    for (stream, before) in stream_before {
        if let Some(seq) = before {
            match proven(seq)? {
                Some((_, _, s, version)) if s == stream => {
                    streams.insert(stream, version + 1);
                }
                _ => {
                    return Ok(fail(
                        Some(seq),
                        "stream index points at an entry the checkpoint does not prove".into(),
                    ))
                }
            }
        }
    }
    for (subject, before) in subject_before {
        if let Some(seq) = before {
            match proven(seq)? {
                Some((leaf, ..)) => {
                    subjects.insert(subject, leaf);
                }
                None => {
                    return Ok(fail(
                        Some(seq),
                        "subject index points at an entry the checkpoint does not prove".into(),
                    ))
                }
            }
        }
    }
    let chain = Chain {
        next_seq: m,
        prev,
        last_at,
        streams,
        subjects,
        frontier,
        derived_until: derived_watermark(shared)?,
    };
    let start_block = shared
        .log
        .range(keys::merkle(0)..=keys::merkle(m))
        .next_back()
        .transpose()?;
    let mut blocks = Blocks {
        iter: shared.log.range(keys::merkle(m)..keys::merkle(u64::MAX)),
        cur: None,
    };
    if let Some((k, v)) = start_block {
        if let (Some(&keys::MERKLE), Some(first)) = (k.first(), keys::tail_u64(&k)) {
            if first < m {
                let pos = usize::try_from(keys::merkle_offset(first, m)).unwrap_or(usize::MAX);
                blocks = Blocks {
                    iter: shared
                        .log
                        .range(keys::merkle(first + 1)..keys::merkle(u64::MAX)),
                    cur: Some((v, pos)),
                };
            }
        }
    }
    let postings = postings_from(shared, m)?;
    let (_, report) = run_chain(shared, chain, blocks, postings, size, progress)?;
    Ok(report)
}

/// The stored postings from seq `m` on: the record that holds `m`'s posting, positioned there,
/// then every later record.
#[allow(clippy::type_complexity)]
fn postings_from(
    shared: &Shared,
    m: u64,
) -> Result<Postings<impl Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>>, StoreError> {
    let holding = shared
        .log
        .range(keys::postings(0)..=keys::postings(m))
        .next_back()
        .transpose()?;
    if let Some((k, v)) = holding {
        if let Some(first) = keys::tail_u64(&k).filter(|&f| f < m) {
            let mut d = Decoder::new(&v);
            let skip = usize::try_from(m - first).unwrap_or(usize::MAX);
            let whole = d.by_ref().take(skip).filter(|p| p.is_ok()).count() == skip;
            let pos = if whole {
                v.len() - d.remaining()
            } else {
                v.len()
            };
            return Ok(Postings {
                iter: shared
                    .log
                    .range(keys::postings(first + 1)..keys::postings(u64::MAX)),
                cur: Some((v, pos)),
            });
        }
    }
    Ok(Postings {
        iter: shared
            .log
            .range(keys::postings(m)..keys::postings(u64::MAX)),
        cur: None,
    })
}

/// The checks of log-format.md §6 over entries given one by one (an export, a server's stream,
/// a backup), with nothing stored to compare with: each entry against the ones before it, and
/// the root they add up to. Pure: it reads nothing.
pub struct EntryChecker {
    chain: Chain,
}

impl Default for EntryChecker {
    fn default() -> Self {
        EntryChecker {
            chain: Chain {
                next_seq: 0,
                prev: ZERO_HASH,
                last_at: [0; 24],
                streams: HashMap::new(),
                subjects: HashMap::new(),
                frontier: Frontier::default(),
                derived_until: 0,
            },
        }
    }
}

impl EntryChecker {
    /// Checks the next entry (line `size()` of an export); the failure names its seq.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        let seq = self.chain.next_seq;
        let it = examine(seq, bytes);
        self.chain.check(&it).map_err(|what| Failure {
            seq: Some(seq),
            what,
        })?;
        self.chain.frontier.push(it.leaf, |_, _, _| {});
        Ok(())
    }

    /// Entries checked so far.
    pub fn size(&self) -> u64 {
        self.chain.frontier.size()
    }

    /// The Merkle root of the entries checked so far.
    pub fn root(&self) -> Hash {
        self.chain.frontier.root()
    }

    /// Compares with a checkpoint signed by `vkey`: the signature must verify, and its size and
    /// root must be those of the entries checked.
    pub fn check_checkpoint(&self, note: &str, vkey: &str) -> Result<Checkpoint, Failure> {
        let fail = |what: String| Failure { seq: None, what };
        let cp = crate::checkpoint::NoteVerifier::from_vkey(vkey)
            .and_then(|v| v.open(note))
            .map_err(|e| fail(format!("the checkpoint does not verify with the vkey: {e}")))?;
        if cp.size != self.size() {
            return Err(fail(format!(
                "the checkpoint covers {} entries, {} were checked",
                cp.size,
                self.size()
            )));
        }
        if cp.root != self.root() {
            return Err(fail(format!(
                "the entries' Merkle root {} is not the checkpoint's {}",
                crate::format::to_hex(&self.root()),
                crate::format::to_hex(&cp.root)
            )));
        }
        Ok(cp)
    }
}
