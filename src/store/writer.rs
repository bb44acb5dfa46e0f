//! Appending: the writer thread sequences requests into groups and applies each group — its
//! entries, content and erasure markers, and its derived records (Merkle block, postings,
//! watermark) — to the `log` tree in one batch, then adds it to the in-memory index; the
//! committer thread flushes, fsyncs, finishes erasures, tells the observer, publishes `committed`
//! and answers. Also the catch-up of derived records on open, which loads the index and shares
//! the derivation code.
//!
//! Owns: the tip of the log (size, last leaf, last `at`, Merkle frontier), the people's latest
//! leaf hashes, and the two threads.
//! Must not touch: `committed` before the flush that covers it (only the committer moves it), or
//! any answer before then — refusals and retries included, so no answer reveals undurable state.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Mutex;
use std::thread::JoinHandle;

use tokio::sync::mpsc;

use super::index::{self, Index, Posting};
use super::keys;
use super::{Clock, Durability, Expected, Receipt, Request, Shared, StoreError, StoredEntry};
use crate::format::{self, leaf_hash, to_hex, EntryFields, EntryView, Hash, ZERO_HASH};
use crate::merkle::{Frontier, NodeSource};

/// The end of the log as the writer knows it.
#[derive(Clone)]
pub(super) struct Tip {
    /// Right edge of the Merkle tree; its size is the log's size.
    frontier: Frontier,
    /// Leaf hash of the last entry (`prev` of the next).
    last_leaf: Hash,
    /// `at` of the last entry, in milliseconds: the next `at` is never earlier.
    last_at_ms: u64,
}

impl Tip {
    pub(super) fn size(&self) -> u64 {
        self.frontier.size()
    }
}

/// Adds a group's derived records to its batch: its Merkle block, its postings and the new
/// watermark. In the same batch as the entries, so they are never behind or ahead of them.
fn add_derived(batch: &mut sled::Batch, first: u64, block: Vec<u8>, postings: &[u8], size: u64) {
    batch.insert(&keys::merkle(first)[..], block);
    batch.insert(&keys::postings(first)[..], postings);
    batch.insert(keys::WATERMARK, &size.to_be_bytes()[..]);
}

/// Removes every derived record (postings, Merkle blocks, watermark) from the `log` tree, so
/// that recovery derives them again from the entries.
pub(super) fn clear_derived(shared: &Shared) -> Result<(), StoreError> {
    let mut batch = sled::Batch::default();
    let mut n = 0usize;
    for tag in [keys::MERKLE, keys::POSTINGS] {
        for kv in shared.log.scan_prefix([tag]) {
            batch.remove(kv?.0);
            n += 1;
            if n % 4096 == 0 {
                shared.log.apply_batch(std::mem::take(&mut batch))?;
            }
        }
    }
    batch.remove(keys::WATERMARK);
    shared.log.apply_batch(batch)?;
    Ok(())
}

/// The index as the postings records of the first `watermark` entries give it. An `Err` says
/// why they do not (a gap, a record past the watermark, postings that contradict each other):
/// the caller rebuilds the derived records from the log.
pub(super) fn load_index(shared: &Shared, watermark: u64) -> Result<Index, String> {
    let mut ix = Index::default();
    for kv in shared.log.scan_prefix([keys::POSTINGS]) {
        let (k, v) = kv.map_err(|e| format!("cannot read postings: {e}"))?;
        let first = keys::tail_u64(&k).ok_or("malformed postings key")?;
        if first >= watermark {
            return Err(format!(
                "postings at seq {first}, past the derived watermark {watermark}"
            ));
        }
        if first != ix.size() {
            return Err(format!(
                "postings record starts at seq {first}, expected {}",
                ix.size()
            ));
        }
        ix.add_record(first, &v)?;
    }
    if ix.size() != watermark {
        return Err(format!(
            "postings cover {} entries, the derived watermark says {watermark}",
            ix.size()
        ));
    }
    Ok(ix)
}

/// Adds entries `from..log size`, read from the log, to `ix` (a read-only store whose derived
/// records trail the log: the index is completed in memory, nothing is written).
pub(super) fn extend_index(shared: &Shared, ix: &mut Index) -> Result<(), StoreError> {
    for kv in shared
        .log
        .range(keys::entry(ix.size())..keys::entry(u64::MAX))
    {
        let (k, bytes) = kv?;
        let seq =
            keys::tail_u64(&k).ok_or_else(|| StoreError::corrupt(None, "malformed entry key"))?;
        let view = EntryView::parse(&bytes).map_err(|w| StoreError::corrupt(seq, w))?;
        ix.add(seq, &posting_of(&view))
            .map_err(|w| StoreError::corrupt(seq, w))?;
    }
    Ok(())
}

fn posting_of<'a>(view: &'a EntryView<'_>) -> Posting<'a> {
    Posting {
        stream: &view.stream,
        version: view.version,
        subject: view.subject.as_deref(),
        command: view.command.as_deref(),
        actor: view.command.as_ref().map(|_| &*view.actor_id),
    }
}

/// Brings the derived records up to the entries — on open, when they are missing (a store
/// migrated from format 1, or records deleted) or do not match — and installs the index they
/// imply. Checks the chain (and stream versions) of what it re-derives, and the head entry
/// against its stored leaf, refusing to open a store whose tail is damaged.
pub(super) fn recover(shared: &Shared, max_group: usize) -> Result<Tip, StoreError> {
    let log_size = match shared.log.scan_prefix([keys::ENTRY]).next_back() {
        None => 0,
        Some(kv) => {
            let (k, v) = kv?;
            let seq = keys::tail_u64(&k)
                .ok_or_else(|| StoreError::corrupt(None, "malformed entry key"))?;
            let view = EntryView::parse(&v).map_err(|w| StoreError::corrupt(seq, w))?;
            if view.seq != seq {
                return Err(StoreError::corrupt(
                    seq,
                    format!("entry stored at seq {seq} says seq {}", view.seq),
                ));
            }
            seq + 1
        }
    };
    let mut watermark = match shared.log.get(keys::WATERMARK)? {
        Some(w) => keys::be_u64(&w, 0)
            .ok_or_else(|| StoreError::corrupt(None, "malformed derived watermark"))?,
        None => 0,
    };
    let loaded = if watermark > log_size {
        Err(format!(
            "derived records cover {watermark} entries, the log holds {log_size}"
        ))
    } else {
        Frontier::load(shared, watermark)
            .map_err(|e| e.to_string())
            .and_then(|f| Ok((f, load_index(shared, watermark)?)))
    };
    let (frontier, mut ix) = match loaded {
        Ok(found) => found,
        Err(why) => {
            tracing::warn!(
                why,
                watermark,
                log_size,
                "derived records do not match the log; rebuilding them from the log"
            );
            clear_derived(shared)?;
            watermark = 0;
            (Frontier::default(), Index::default())
        }
    };
    let (last_leaf, last_at_ms) = if watermark == 0 {
        (ZERO_HASH, 0)
    } else {
        let seq = watermark - 1;
        let entry = shared.entry(seq)?;
        let stored = shared.node(0, seq)?;
        if leaf_hash(&entry.bytes) != stored {
            return Err(StoreError::corrupt(
                seq,
                "entry does not match its stored leaf hash (altered?)",
            ));
        }
        let view = entry.view()?;
        let at = format::parse_millis(&view.at)
            .ok_or_else(|| StoreError::corrupt(seq, "`at` is not a valid time"))?;
        (stored, at)
    };
    let mut tip = Tip {
        frontier,
        last_leaf,
        last_at_ms,
    };
    if watermark < log_size {
        tracing::info!(
            from = watermark,
            to = log_size,
            "re-deriving indexes and Merkle nodes from the log"
        );
    }
    let mut seq = watermark;
    while seq < log_size {
        let end = log_size.min(seq + max_group.max(1) as u64);
        let mut block = Vec::new();
        let mut postings = Vec::new();
        let first = seq;
        for kv in shared.log.range(keys::entry(seq)..keys::entry(end)) {
            let (k, bytes) = kv?;
            let key_seq = keys::tail_u64(&k)
                .ok_or_else(|| StoreError::corrupt(seq, "malformed entry key"))?;
            if key_seq != seq {
                return Err(StoreError::corrupt(seq, "entry is missing from the log"));
            }
            let view = EntryView::parse(&bytes).map_err(|w| StoreError::corrupt(seq, w))?;
            if view.seq != seq {
                return Err(StoreError::corrupt(
                    seq,
                    format!("entry says seq {}", view.seq),
                ));
            }
            if view.prev != tip.last_leaf {
                return Err(StoreError::corrupt(
                    seq,
                    "`prev` is not the leaf hash of the previous entry",
                ));
            }
            let at = format::parse_millis(&view.at)
                .ok_or_else(|| StoreError::corrupt(seq, "`at` is not a valid time"))?;
            if at < tip.last_at_ms {
                return Err(StoreError::corrupt(
                    seq,
                    "`at` is earlier than the previous entry's",
                ));
            }
            let posting = posting_of(&view);
            ix.add(seq, &posting)
                .map_err(|w| StoreError::corrupt(seq, w))?;
            index::encode(&mut postings, &posting);
            let leaf = leaf_hash(&bytes);
            tip.frontier
                .push(leaf, |_, _, h| block.extend_from_slice(h));
            tip.last_leaf = leaf;
            tip.last_at_ms = at;
            seq += 1;
        }
        if seq != end {
            return Err(StoreError::corrupt(seq, "entry is missing from the log"));
        }
        let mut b = sled::Batch::default();
        add_derived(&mut b, first, block, &postings, seq);
        shared.log.apply_batch(b)?;
    }
    if watermark < log_size {
        shared.db.flush()?;
    }
    *shared.index.write().map_err(|_| index_poisoned())? = ix;
    Ok(tip)
}

pub(super) fn index_poisoned() -> StoreError {
    StoreError::Failed("the index lock is poisoned (a thread panicked holding it)".into())
}

/// The writer thread's state.
pub(super) struct Writer {
    shared: Arc<Shared>,
    tip: Tip,
    /// Most events in one group; see `StoreConfig::max_group_events`.
    max_group: usize,
    clock: Arc<dyn Clock>,
    /// Leaf hash of each person's latest entry, for the next entry's `subject_prev`: every person
    /// written since open (anyone else is found through the index, then that entry's bytes).
    subject_leaves: HashMap<String, Hash>,
    /// Sequenced groups, to the committer thread that makes them durable and answers.
    commit_tx: Option<SyncSender<Applied>>,
    /// Joined when the writer stops, so every group is durable before the final flush.
    committer: Option<JoinHandle<()>>,
    /// Set (by the writer or the committer) after a storage failure; every later append is
    /// refused with it.
    failed: Arc<Mutex<Option<String>>>,
}

/// Sequenced groups waiting for the committer: none. The hand-over is a rendezvous, so while
/// the committer flushes group *k* the writer sequences group *k+1* and then waits until the
/// committer takes it; the requests arriving meanwhile make up *k+2*. Each flush then carries
/// one group of everything that arrived during the previous flush. With a queue, the writer cut
/// several small groups per flush, each paying `apply_batch`'s fixed cost (sled's global write
/// lock, two buffer seals): measured with grpc-bench, 64 clients, 6 interleaved rounds, a queue
/// of 4 gave a median of 9.0k events/s at 161 µs CPU per call, a rendezvous 9.7k at 151 µs.
const COMMIT_QUEUE: usize = 0;

/// A group that is sequenced and applied to the `log` tree, on its way to disk.
struct Applied {
    /// Every request's answer, sent only once the group is durable.
    outcomes: Vec<Outcome>,
    /// The log's size after this group.
    size: u64,
    /// Commitments to erase once the markers are durable, before answering.
    erasures: Vec<Hash>,
    /// Whether the group wrote to the `log` tree and so needs a flush.
    wrote: bool,
    /// The group's entries, for the commit observer (empty when none is installed).
    entries: Vec<StoredEntry>,
}

/// Makes sequenced groups durable — sled's flush, then an fsync (a flush is not a device-cache
/// flush) — finishes their erasures, tells the observer, publishes `committed` and answers, in
/// order. Everything waiting is committed together.
struct Committer {
    shared: Arc<Shared>,
    durability: Durability,
    /// Told each commit's size and timings (metrics), if anyone measures.
    meter: Option<Arc<dyn super::CommitMeter>>,
    /// Blob files already fsynced, so each is synced once.
    synced_blobs: std::collections::HashSet<std::ffi::OsString>,
    failed: Arc<Mutex<Option<String>>>,
}

fn failure_of(failed: &Mutex<Option<String>>) -> Option<String> {
    match failed.lock() {
        Ok(g) => g.clone(),
        Err(_) => Some("a writer thread panicked".into()),
    }
}

fn set_failure(shared: &Shared, failed: &Mutex<Option<String>>, why: &str) {
    tracing::error!(error = %why, "storage failure; refusing further writes until restart");
    if let Ok(mut g) = failed.lock() {
        g.get_or_insert_with(|| why.to_string());
    }
    shared.publish_failure(why);
}

/// Answers a failed group: refusals decided before the failure stand; acceptances did not happen.
fn fail_outcomes(outcomes: Vec<Outcome>, why: &str) {
    for (reply, result) in outcomes {
        let result = match result {
            Err(
                e @ (StoreError::Conflict { .. }
                | StoreError::Invalid { .. }
                | StoreError::Late { .. }),
            ) => Err(e),
            _ => Err(StoreError::Failed(why.to_string())),
        };
        let _ = reply.send(result);
    }
}

impl Committer {
    /// fsyncs blob files sled wrote since the last commit (sled never does). The directory is
    /// normally empty (see `SLED_SEGMENT_SIZE`), so this is one empty `readdir` per commit.
    fn sync_new_blobs(&mut self) -> Result<(), StoreError> {
        let dir = self.shared.dir.join("sled").join("blobs");
        let entries = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(StoreError::io(&dir, e)),
        };
        let mut present = std::collections::HashSet::new();
        let mut synced_any = false;
        for entry in entries {
            let name = entry.map_err(|e| StoreError::io(&dir, e))?.file_name();
            if !self.synced_blobs.contains(&name) {
                let path = dir.join(&name);
                match std::fs::File::open(&path).and_then(|f| f.sync_all()) {
                    Ok(()) => synced_any = true,
                    // sled removed it meanwhile (its blob GC): nothing left to make durable.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(StoreError::io(path, e)),
                }
                tracing::debug!(blob = ?name, "fsynced a sled blob file");
            }
            present.insert(name);
        }
        if synced_any {
            std::fs::File::open(&dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| StoreError::io(&dir, e))?;
        }
        self.synced_blobs = present;
        Ok(())
    }

    fn run(mut self, rx: Receiver<Applied>) {
        while let Ok(first) = rx.recv() {
            let mut items = vec![first];
            while let Ok(more) = rx.try_recv() {
                items.push(more);
            }
            let result = match failure_of(&self.failed) {
                Some(why) => Err(StoreError::Failed(why)),
                None => self.make_durable(&items),
            };
            if let Err(e) = result {
                let why = e.to_string();
                set_failure(&self.shared, &self.failed, &why);
                for item in items {
                    fail_outcomes(item.outcomes, &why);
                }
                continue;
            }
            // The observer first: once `committed` or an answer covers an entry, it has seen it.
            if let Some(observer) = self.shared.observer.get() {
                for item in &items {
                    if !item.entries.is_empty() {
                        observer.committed(&item.entries);
                    }
                }
            }
            if let Some(size) = items.iter().map(|i| i.size).max() {
                self.shared.committed.fetch_max(size, Ordering::AcqRel);
                self.shared.commits.send_if_modified(|c| {
                    let grew = size > *c;
                    *c = (*c).max(size);
                    grew
                });
            }
            for item in items {
                for (reply, result) in item.outcomes {
                    let _ = reply.send(result);
                }
            }
        }
    }

    fn make_durable(&mut self, items: &[Applied]) -> Result<(), StoreError> {
        if items.iter().any(|i| i.wrote) {
            let started = std::time::Instant::now();
            self.shared.db.flush()?;
            let flushed = std::time::Instant::now();
            let mut fsync = None;
            if self.durability == Durability::Fsync {
                if let Some(f) = &self.shared.db_file {
                    f.sync_data()
                        .map_err(|e| StoreError::io(self.shared.dir.join("sled/db"), e))?;
                }
                self.sync_new_blobs()?;
                fsync = Some(flushed.elapsed());
            }
            if let Some(meter) = &self.meter {
                let before = self.shared.committed.load(Ordering::Acquire);
                let after = items.iter().map(|i| i.size).max().unwrap_or(before);
                meter.commit_durable(after.saturating_sub(before), flushed - started, fsync);
            }
        }
        // Erasures acknowledged in these groups: overwrite the salts before answering.
        let erasures: Vec<Hash> = items
            .iter()
            .flat_map(|i| i.erasures.iter().copied())
            .collect();
        if !erasures.is_empty() {
            let freed = self.shared.erase_now(&erasures)?;
            if let Ok(mut g) = self.shared.free_slots.lock() {
                g.0.extend(freed);
            }
        }
        Ok(())
    }
}

/// The answer to one request, sent only after the group is durable.
type Outcome = (
    tokio::sync::oneshot::Sender<Result<Vec<Receipt>, StoreError>>,
    Result<Vec<Receipt>, StoreError>,
);

impl Writer {
    pub(super) fn new(
        shared: Arc<Shared>,
        tip: Tip,
        durability: Durability,
        max_group: usize,
        clock: Arc<dyn Clock>,
        meter: Option<Arc<dyn super::CommitMeter>>,
    ) -> Result<Writer, StoreError> {
        let spawn_err =
            |e: std::io::Error| StoreError::Engine(format!("cannot start a store thread: {e}"));
        let failed = Arc::new(Mutex::new(None));
        let committer = Committer {
            shared: Arc::clone(&shared),
            durability,
            meter,
            synced_blobs: std::collections::HashSet::new(),
            failed: Arc::clone(&failed),
        };
        let (commit_tx, commit_rx) = sync_channel(COMMIT_QUEUE);
        let committer = std::thread::Builder::new()
            .name("withus-log-committer".into())
            .spawn(move || committer.run(commit_rx))
            .map_err(spawn_err)?;
        Ok(Writer {
            shared,
            tip,
            max_group: max_group.max(1),
            clock,
            subject_leaves: HashMap::new(),
            commit_tx: Some(commit_tx),
            committer: Some(committer),
            failed,
        })
    }

    pub(super) fn run(mut self, mut rx: mpsc::Receiver<Request>) {
        // A request that would have overfilled the previous group starts the next one.
        let mut carried: Option<Request> = None;
        loop {
            let first = match carried.take() {
                Some(r) => r,
                None => match rx.blocking_recv() {
                    Some(r) => r,
                    None => break,
                },
            };
            let mut n = first.batch.events.len();
            let mut group = vec![first];
            while n < self.max_group {
                match rx.try_recv() {
                    Ok(r) if n + r.batch.events.len() > self.max_group => {
                        carried = Some(r);
                        break;
                    }
                    Ok(r) => {
                        n += r.batch.events.len();
                        group.push(r);
                    }
                    Err(_) => break,
                }
            }
            if let Some(why) = failure_of(&self.failed) {
                for r in group {
                    let _ = r.reply.send(Err(StoreError::Failed(why.clone())));
                }
                continue;
            }
            let mut outcomes = Vec::with_capacity(group.len());
            let applied = match self.sequence(group, &mut outcomes) {
                Ok(a) => a,
                Err(e) => {
                    let why = e.to_string();
                    set_failure(&self.shared, &self.failed, &why);
                    fail_outcomes(outcomes, &why);
                    continue;
                }
            };
            let Some(tx) = &self.commit_tx else { break };
            if let Err(unsent) = tx.send(applied) {
                let why = "the committer stopped after a storage failure";
                set_failure(&self.shared, &self.failed, why);
                fail_outcomes(unsent.0.outcomes, why);
            }
        }
        // Let the committer finish what it was given, then make it durable.
        self.commit_tx = None;
        if let Some(h) = self.committer.take() {
            let _ = h.join();
        }
        if failure_of(&self.failed).is_none() {
            let _ = self.shared.db.flush();
        }
    }

    /// Leaf hash of a person's latest entry, if they have one.
    fn subject_last(&self, ix: &Index, subject: &str) -> Result<Option<Hash>, StoreError> {
        if let Some(h) = self.subject_leaves.get(subject) {
            return Ok(Some(*h));
        }
        // Not written since open: the index knows the entry, whose bytes give its leaf.
        match ix.subject_last(subject) {
            None => Ok(None),
            Some(seq) => Ok(Some(self.shared.entry(seq)?.leaf_hash())),
        }
    }

    /// Sequences a group and applies it to the `log` tree (not yet durable); adds it to the
    /// index; fills `outcomes`. An `Err` means storage failed part-way and nothing in the group
    /// may be acknowledged.
    fn sequence(
        &mut self,
        group: Vec<Request>,
        outcomes: &mut Vec<Outcome>,
    ) -> Result<Applied, StoreError> {
        let shared = Arc::clone(&self.shared);
        let ix = shared.index.read().map_err(|_| index_poisoned())?;
        let mut tip = self.tip.clone();
        let now = self.clock.now_millis().max(tip.last_at_ms);
        let at = format::format_millis(now);
        let mut log_batch = sled::Batch::default();
        let mut block: Vec<u8> = Vec::new();
        let mut postings: Vec<u8> = Vec::new();
        let block_first = tip.size();
        // What this group changes, on top of the index: next versions, latest leaves, commands.
        let mut streams: HashMap<String, u64> = HashMap::new();
        let mut subjects: HashMap<String, Hash> = HashMap::new();
        // By (actor, command id): the receipts and request digest of each command in this group.
        let mut commands: HashMap<(String, String), (Vec<Receipt>, Option<Hash>)> = HashMap::new();
        let mut staged_commits = HashSet::new();
        let mut slot_writes = Vec::new();
        let mut erasures = Vec::new();
        let observed = shared.observer.get().is_some();
        let mut entries = Vec::new();
        // Requests repeating a command of this same group are answered once it is durable.
        let mut repeats: Vec<(usize, (String, String), Option<Hash>)> = Vec::new();

        for Request { batch, data, reply } in group {
            let actor = batch.events.first().map(|e| e.actor.id.as_str());
            if let (Some(cmd), Some(actor)) = (&batch.command, actor) {
                let key = (actor.to_string(), cmd.clone());
                if commands.contains_key(&key) {
                    repeats.push((outcomes.len(), key, batch.request_digest));
                    outcomes.push((reply, Ok(Vec::new())));
                    continue;
                }
                if let Some((first, count)) = ix.command(actor, cmd) {
                    let answer =
                        match shared.check_repeat(first, cmd, batch.request_digest.as_ref()) {
                            Ok(()) => Ok(shared.receipts(first, count)?),
                            Err(e @ StoreError::CommandReused { .. }) => Err(e),
                            Err(e) => return Err(e),
                        };
                    outcomes.push((reply, answer));
                    continue;
                }
            }
            let current = |streams: &HashMap<String, u64>, name: &str| {
                streams
                    .get(name)
                    .copied()
                    .unwrap_or_else(|| ix.stream_next(name))
            };
            // Decide every event's version and check every expectation before anything of this
            // request is sequenced.
            let mut next: HashMap<&str, u64> = HashMap::new();
            let mut versions = Vec::with_capacity(batch.events.len());
            let mut refusal = None;
            if let Some(deadline) = batch.deadline {
                if now >= deadline {
                    refusal = Some(StoreError::Late {
                        deadline_ms: deadline,
                        at_ms: now,
                    });
                }
            }
            for (stream, want) in &batch.conditions {
                if refusal.is_some() {
                    break;
                }
                let cur = current(&streams, stream);
                if *want != cur {
                    refusal = Some(StoreError::Conflict {
                        stream: stream.clone(),
                        expected: *want,
                        actual: cur,
                    });
                }
            }
            for e in &batch.events {
                if refusal.is_some() {
                    break;
                }
                let cur = match next.get(e.stream.as_str()) {
                    Some(&v) => v,
                    None => current(&streams, &e.stream),
                };
                if let Expected::Version(want) = e.expected {
                    if want != cur {
                        refusal = Some(StoreError::Conflict {
                            stream: e.stream.clone(),
                            expected: want,
                            actual: cur,
                        });
                        break;
                    }
                }
                versions.push(cur);
                next.insert(&e.stream, cur + 1);
            }
            if refusal.is_none() {
                for c in &batch.contents {
                    if staged_commits.contains(&c.commit)
                        || shared.log.contains_key(keys::content(&c.commit))?
                    {
                        refusal = Some(StoreError::invalid(
                            "contents",
                            format!("segment {} is already stored", to_hex(&c.commit)),
                        ));
                        break;
                    }
                }
            }
            if let Some(r) = refusal {
                outcomes.push((reply, Err(r)));
                continue;
            }
            streams.extend(next.into_iter().map(|(k, v)| (k.to_string(), v)));

            let first = tip.size();
            let mut receipts = Vec::with_capacity(batch.events.len());
            for ((e, data), &version) in batch.events.iter().zip(&data).zip(&versions) {
                let seq = tip.size();
                let subject_prev = match &e.subject {
                    None => None,
                    Some(s) => match subjects.get(s) {
                        Some(h) => Some(*h),
                        None => self.subject_last(&ix, s)?,
                    },
                };
                let prev_hex = to_hex(&tip.last_leaf);
                let subject_prev_hex = subject_prev.map(|h| to_hex(&h));
                let bytes = EntryFields {
                    seq,
                    prev: &prev_hex,
                    at: &at,
                    event_type: &e.event_type,
                    v: e.v,
                    stream: &e.stream,
                    version,
                    subject: e.subject.as_deref(),
                    subject_prev: subject_prev_hex.as_deref(),
                    actor: &e.actor,
                    command: batch.command.as_deref(),
                    data,
                }
                .to_bytes();
                let leaf = leaf_hash(&bytes);
                if observed {
                    entries.push(StoredEntry {
                        seq,
                        bytes: bytes.clone(),
                    });
                }
                log_batch.insert(&keys::entry(seq)[..], bytes);
                index::encode(
                    &mut postings,
                    &Posting {
                        stream: &e.stream,
                        version,
                        subject: e.subject.as_deref(),
                        command: batch.command.as_deref(),
                        actor: batch.command.as_ref().map(|_| e.actor.id.as_str()),
                    },
                );
                tip.frontier
                    .push(leaf, |_, _, h| block.extend_from_slice(h));
                tip.last_leaf = leaf;
                if let Some(s) = &e.subject {
                    subjects.insert(s.clone(), leaf);
                }
                receipts.push(Receipt {
                    seq,
                    leaf_hash: leaf,
                    tree_size: 0,
                    stream: e.stream.clone(),
                    version,
                });
            }
            let end = tip.size();
            for r in &mut receipts {
                r.tree_size = end;
            }
            if let (Some(cmd), Some(actor)) = (&batch.command, actor) {
                if end > first {
                    commands.insert(
                        (actor.to_string(), cmd.clone()),
                        (receipts.clone(), batch.request_digest),
                    );
                    if let Some(digest) = &batch.request_digest {
                        log_batch.insert(&keys::request(first)[..], &digest[..]);
                    }
                }
            }
            for c in batch.contents {
                let slot = self.alloc_slot();
                let mut rec = Vec::with_capacity(20 + c.sealed.len());
                rec.extend_from_slice(&slot.to_be_bytes());
                rec.extend_from_slice(&c.nonce);
                rec.extend_from_slice(&c.sealed);
                log_batch.insert(&keys::content(&c.commit)[..], rec);
                staged_commits.insert(c.commit);
                slot_writes.push((slot, c.commit, c.salt));
            }
            for commit in &batch.erase {
                log_batch.insert(&keys::erasing(commit)[..], &[][..]);
                erasures.push(*commit);
            }
            outcomes.push((reply, Ok(receipts)));
        }
        drop(ix);

        for (i, key, digest) in &repeats {
            if let (Some(o), Some((r, first_digest))) = (outcomes.get_mut(*i), commands.get(key)) {
                o.1 = match (digest, first_digest) {
                    (Some(a), Some(b)) if a != b => Err(StoreError::CommandReused {
                        command: key.1.clone(),
                    }),
                    _ => Ok(r.clone()),
                };
            }
        }
        let appended = tip.size() > block_first;
        let wrote = appended || !slot_writes.is_empty() || !erasures.is_empty();
        if appended {
            tip.last_at_ms = now;
            add_derived(&mut log_batch, block_first, block, &postings, tip.size());
        }
        if wrote {
            let salts = || shared.dir.join("salts");
            // Salts first, synced: sled may make the log batch durable at any moment after it is
            // applied, and a durable record must never point at a salt that is not on disk.
            if !slot_writes.is_empty() {
                for (slot, commit, salt) in &slot_writes {
                    shared
                        .slots
                        .write(*slot, commit, salt)
                        .map_err(|e| StoreError::io(salts(), e))?;
                }
                shared
                    .slots
                    .sync()
                    .map_err(|e| StoreError::io(salts(), e))?;
            }
            // Entries and their derived records, atomically. The committer makes them durable.
            shared.log.apply_batch(log_batch)?;
        }
        if appended {
            // Readers bound what they take from the index by the durable size, so the group can
            // be indexed now, before the committer makes it durable.
            shared
                .index
                .write()
                .map_err(|_| index_poisoned())?
                .add_record(block_first, &postings)
                .map_err(|why| StoreError::Engine(format!("indexing a new group: {why}")))?;
        }
        self.tip = tip;
        self.subject_leaves.extend(subjects);
        let outcomes = std::mem::take(outcomes);
        Ok(Applied {
            outcomes,
            size: self.tip.size(),
            erasures,
            wrote,
            entries,
        })
    }

    fn alloc_slot(&self) -> u64 {
        match self.shared.free_slots.lock() {
            Ok(mut g) => match g.0.pop() {
                Some(s) => s,
                None => {
                    g.1 += 1;
                    g.1 - 1
                }
            },
            // A poisoned lock means a reader panicked holding it; fall back to a fresh slot past
            // the end of the file, which is always free.
            Err(_) => self.shared.slots.len().unwrap_or(u64::MAX / 128),
        }
    }
}
