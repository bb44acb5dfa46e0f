//! Appending: the writer thread sequences requests into groups and applies each group to the
//! `log` tree; the committer thread flushes, fsyncs, finishes erasures, publishes `committed` and
//! answers; the indexer thread applies derived records and publishes `indexed`. Also the
//! catch-up of derived records on open, which shares the derivation code.
//!
//! Owns: the tip of the log (size, last leaf, last `at`, Merkle frontier), the caches of stream
//! versions, per-person chain heads and recent commands, and the three threads.
//! Must not touch: `committed` before the flush that covers it (only the committer moves it), or
//! any answer before then — refusals and retries included, so no answer reveals undurable state.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Mutex;
use std::thread::JoinHandle;

use tokio::sync::mpsc;

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

/// Derived records of a group, collected so that the indexer can apply several groups' as one
/// sled batch: each `apply_batch` takes sled's global write lock (which the writer's batches and
/// the committer's flush also need) and writes out its I/O buffers, so fewer is better.
#[derive(Default)]
pub(super) struct Writes(Vec<(Vec<u8>, Vec<u8>)>);

impl Writes {
    fn insert(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.0.push((key.into(), value.into()));
    }

    fn add_to(self, batch: &mut sled::Batch) {
        for (k, v) in self.0 {
            batch.insert(k, v);
        }
    }
}

/// Derived index keys of one entry: stream position and, for a person's entry, the subject index.
fn derive_keys(batch: &mut Writes, seq: u64, stream: &str, version: u64, subject: Option<&str>) {
    batch.insert(
        keys::name_u64(keys::STREAM, stream, version),
        &seq.to_be_bytes()[..],
    );
    if let Some(s) = subject {
        batch.insert(keys::name_u64(keys::SUBJECT, s, seq), &[][..]);
    }
}

/// Brings the derived tree up to the log: on open, after a crash between the two trees' batches,
/// or when the derived tree is missing. Checks the chain of what it re-derives, and the head
/// entry against its stored leaf, refusing to open a store whose tail is damaged.
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
    let mut watermark = match shared.derived.get(keys::WATERMARK)? {
        Some(w) => keys::be_u64(&w, 0)
            .ok_or_else(|| StoreError::corrupt(None, "malformed derived watermark"))?,
        None => 0,
    };
    let loaded = if watermark > log_size {
        None
    } else {
        Frontier::load(shared, watermark).ok()
    };
    let frontier = match loaded {
        Some(f) => f,
        None => {
            tracing::warn!(
                watermark,
                log_size,
                "derived records do not match the log; rebuilding them from the log"
            );
            shared.derived.clear()?;
            watermark = 0;
            Frontier::default()
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
    // Command runs: consecutive entries with one command id came from one append.
    let mut run: Option<(String, u64, u64)> = None;
    let mut seq = watermark;
    while seq < log_size {
        let end = log_size.min(seq + max_group.max(1) as u64);
        let mut batch = Writes::default();
        let mut block = Vec::new();
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
            derive_keys(
                &mut batch,
                seq,
                &view.stream,
                view.version,
                view.subject.as_deref(),
            );
            match (&mut run, view.command.as_deref()) {
                (Some((c, _, count)), Some(cmd)) if c == cmd => *count += 1,
                (r, cmd) => {
                    if let Some((c, f, n)) = r.take() {
                        batch.insert(keys::command(&c), &keys::command_value(f, n)[..]);
                    }
                    *r = cmd.map(|c| (c.to_string(), seq, 1));
                }
            }
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
        if let Some((c, f, n)) = &run {
            batch.insert(keys::command(c), &keys::command_value(*f, *n)[..]);
        }
        batch.insert(&keys::merkle(first)[..], block);
        batch.insert(keys::WATERMARK, &seq.to_be_bytes()[..]);
        let mut b = sled::Batch::default();
        batch.add_to(&mut b);
        shared.derived.apply_batch(b)?;
    }
    if watermark < log_size {
        shared.db.flush()?;
    }
    Ok(tip)
}

/// Every stream's next version and every command id, from the `derived` tree (complete up to the
/// log's size when this runs, just after [`recover`]). `None` if there are more than `limit`:
/// the stream index holds a key per entry, so the scan stops at `4 × limit` keys.
#[allow(clippy::type_complexity)]
fn load_names(
    shared: &Shared,
    limit: usize,
) -> Result<Option<(HashMap<String, u64>, HashSet<String>)>, StoreError> {
    let max_scan = limit.saturating_mul(4);
    let mut streams = HashMap::new();
    let mut scanned = 0usize;
    for kv in shared.derived.scan_prefix([keys::STREAM]) {
        let (k, _) = kv?;
        scanned += 1;
        if scanned > max_scan {
            return Ok(None);
        }
        // `T name 0x00 version(8)`
        let bad = || StoreError::corrupt(None, "malformed stream index key");
        let name_end = k.len().checked_sub(9).filter(|&e| e >= 1).ok_or_else(bad)?;
        let version = keys::tail_u64(&k).ok_or_else(bad)?;
        let name = std::str::from_utf8(&k[1..name_end]).map_err(|_| bad())?;
        // Keys of one stream are in version order: the last one wins.
        streams.insert(name.to_string(), version + 1);
    }
    let mut commands = HashSet::new();
    for kv in shared.derived.scan_prefix([keys::COMMAND]) {
        let (k, _) = kv?;
        scanned += 1;
        if scanned > max_scan {
            return Ok(None);
        }
        let id = std::str::from_utf8(&k[1..])
            .map_err(|_| StoreError::corrupt(None, "malformed command index key"))?;
        commands.insert(id.to_string());
    }
    if streams.len() + commands.len() > limit {
        return Ok(None);
    }
    Ok(Some((streams, commands)))
}

/// Groups handed to the indexer but not yet applied, at most. Bounds memory if sled's inserts
/// fall behind; the writer then waits.
const INDEX_QUEUE: usize = 8;

/// The writer thread's state.
pub(super) struct Writer {
    shared: Arc<Shared>,
    tip: Tip,
    /// Most events in one group; see `StoreConfig::max_group_events`.
    max_group: usize,
    /// Most names cached; see `StoreConfig::writer_cache`.
    max_cache: usize,
    clock: Arc<dyn Clock>,
    /// Next version of each stream: of every stream while `complete`, else of those written
    /// since the last sync with the indexer (a stream not here has had no entry since then, so
    /// the `derived` tree is authoritative for it).
    streams: HashMap<String, u64>,
    /// Command ids: every one while `complete`, else those since the last sync.
    commands: HashSet<String>,
    /// Whether `streams` and `commands` hold every stream and command of the log, so a miss
    /// means "new" without asking sled. True from open while they fit in memory (the common
    /// case: asking sled was most of the writer's time per group); false after the first sync.
    complete: bool,
    /// Leaf hash of each person's latest entry since the last sync (same rule as `streams`).
    subjects: HashMap<String, Hash>,
    /// Receipts of commands since the last sync (same rule): a retry is answered from here.
    recent: HashMap<String, Vec<Receipt>>,
    /// Sequenced groups, to the committer thread that makes them durable and answers.
    commit_tx: Option<SyncSender<Applied>>,
    /// Joined when the writer stops, so every group is durable and indexed before the final flush.
    committer: Option<JoinHandle<()>>,
    /// Set (by the writer or the committer) after a storage failure; every later append is
    /// refused with it.
    failed: Arc<Mutex<Option<String>>>,
}

/// Sequenced groups waiting for the committer, at most. While the committer flushes, the writer
/// sequences the next group; past this many it waits.
const COMMIT_QUEUE: usize = 4;

/// A group that is sequenced and applied to the `log` tree, on its way to disk.
struct Applied {
    /// Every request's answer, sent only once the group is durable.
    outcomes: Vec<Outcome>,
    /// The group's derived records and the size they bring the index to.
    derived: Option<(Writes, u64)>,
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
/// order; hands derived records to the indexer. Everything waiting is committed together.
struct Committer {
    shared: Arc<Shared>,
    durability: Durability,
    /// Blob files already fsynced, so each is synced once.
    synced_blobs: std::collections::HashSet<std::ffi::OsString>,
    index_tx: Option<SyncSender<(Writes, u64)>>,
    indexer: Option<JoinHandle<()>>,
    failed: Arc<Mutex<Option<String>>>,
}

fn failure_of(failed: &Mutex<Option<String>>) -> Option<String> {
    match failed.lock() {
        Ok(g) => g.clone(),
        Err(_) => Some("a writer thread panicked".into()),
    }
}

fn set_failure(failed: &Mutex<Option<String>>, why: &str) {
    tracing::error!(error = %why, "storage failure; refusing further writes until restart");
    if let Ok(mut g) = failed.lock() {
        g.get_or_insert_with(|| why.to_string());
    }
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
                set_failure(&self.failed, &why);
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
                if let Some(d) = item.derived {
                    let sent = self.index_tx.as_ref().is_some_and(|tx| tx.send(d).is_ok());
                    if !sent {
                        set_failure(&self.failed, "the indexer stopped after a storage failure");
                    }
                }
            }
        }
        self.index_tx = None;
        if let Some(h) = self.indexer.take() {
            let _ = h.join();
        }
    }

    fn make_durable(&mut self, items: &[Applied]) -> Result<(), StoreError> {
        if items.iter().any(|i| i.wrote) {
            self.shared.db.flush()?;
            if self.durability == Durability::Fsync {
                if let Some(f) = &self.shared.db_file {
                    f.sync_data()
                        .map_err(|e| StoreError::io(self.shared.dir.join("sled/db"), e))?;
                }
                self.sync_new_blobs()?;
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

/// Applies derived records in order, off the acknowledgement path, and advances `indexed`. What
/// has queued up meanwhile goes into the same sled batch.
fn run_indexer(shared: Arc<Shared>, rx: Receiver<(Writes, u64)>) {
    while let Ok((first, mut size)) = rx.recv() {
        let mut batch = sled::Batch::default();
        first.add_to(&mut batch);
        while let Ok((more, to)) = rx.try_recv() {
            more.add_to(&mut batch);
            size = size.max(to);
        }
        if let Err(e) = shared.derived.apply_batch(batch) {
            let why = format!("cannot write derived records: {e}");
            tracing::error!(error = %why, "indexer stopped; the store refuses writes until restart");
            shared.indexed.fail(why);
            return;
        }
        shared.indexed.advance(size);
    }
}

impl Writer {
    pub(super) fn new(
        shared: Arc<Shared>,
        tip: Tip,
        durability: Durability,
        max_group: usize,
        max_cache: usize,
        clock: Arc<dyn Clock>,
    ) -> Result<Writer, StoreError> {
        let spawn_err =
            |e: std::io::Error| StoreError::Engine(format!("cannot start a store thread: {e}"));
        let (index_tx, index_rx) = sync_channel(INDEX_QUEUE);
        let for_indexer = Arc::clone(&shared);
        let indexer = std::thread::Builder::new()
            .name("withus-log-indexer".into())
            .spawn(move || run_indexer(for_indexer, index_rx))
            .map_err(spawn_err)?;
        let failed = Arc::new(Mutex::new(None));
        let committer = Committer {
            shared: Arc::clone(&shared),
            durability,
            synced_blobs: std::collections::HashSet::new(),
            index_tx: Some(index_tx),
            indexer: Some(indexer),
            failed: Arc::clone(&failed),
        };
        let (commit_tx, commit_rx) = sync_channel(COMMIT_QUEUE);
        let committer = std::thread::Builder::new()
            .name("withus-log-committer".into())
            .spawn(move || committer.run(commit_rx))
            .map_err(spawn_err)?;
        let (streams, commands, complete) = match load_names(&shared, max_cache)? {
            Some((s, c)) => (s, c, true),
            None => (HashMap::new(), HashSet::new(), false),
        };
        Ok(Writer {
            shared,
            tip,
            max_group: max_group.max(1),
            max_cache,
            clock,
            streams,
            commands,
            complete,
            subjects: HashMap::new(),
            recent: HashMap::new(),
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
                    set_failure(&self.failed, &why);
                    fail_outcomes(outcomes, &why);
                    continue;
                }
            };
            let Some(tx) = &self.commit_tx else { break };
            if let Err(unsent) = tx.send(applied) {
                let why = "the committer stopped after a storage failure";
                set_failure(&self.failed, why);
                fail_outcomes(unsent.0.outcomes, why);
            }
        }
        // Let the committer and indexer finish what they were given, then make it durable.
        self.commit_tx = None;
        if let Some(h) = self.committer.take() {
            let _ = h.join();
        }
        if failure_of(&self.failed).is_none() {
            let _ = self.shared.db.flush();
        }
    }

    fn stream_next(&self, stream: &str) -> Result<u64, StoreError> {
        if let Some(&v) = self.streams.get(stream) {
            return Ok(v);
        }
        if self.complete {
            return Ok(0);
        }
        let next = match self
            .shared
            .derived
            .scan_prefix(keys::name_prefix(keys::STREAM, stream))
            .next_back()
        {
            None => 0,
            Some(kv) => {
                let (k, _) = kv?;
                keys::tail_u64(&k)
                    .ok_or_else(|| StoreError::corrupt(None, "malformed stream index key"))?
                    + 1
            }
        };
        Ok(next)
    }

    fn subject_last(&self, subject: &str) -> Result<Option<Hash>, StoreError> {
        if let Some(h) = self.subjects.get(subject) {
            return Ok(Some(*h));
        }
        match self
            .shared
            .derived
            .scan_prefix(keys::name_prefix(keys::SUBJECT, subject))
            .next_back()
        {
            None => Ok(None),
            Some(kv) => {
                let (k, _) = kv?;
                let seq = keys::tail_u64(&k)
                    .ok_or_else(|| StoreError::corrupt(None, "malformed subject index key"))?;
                Ok(Some(self.shared.node(0, seq)?))
            }
        }
    }

    /// Receipts of an earlier command: from memory if recent, else from the indexes.
    fn command_receipts(&self, cmd: &str) -> Result<Option<Vec<Receipt>>, StoreError> {
        if let Some(r) = self.recent.get(cmd) {
            return Ok(Some(r.clone()));
        }
        if self.complete && !self.commands.contains(cmd) {
            return Ok(None);
        }
        let Some(v) = self.shared.derived.get(keys::command(cmd))? else {
            return Ok(None);
        };
        let (first, count) = keys::be_u64(&v, 0)
            .zip(keys::be_u64(&v, 8))
            .ok_or_else(|| StoreError::corrupt(None, "malformed command index record"))?;
        (first..first + count)
            .map(|seq| {
                Ok(Receipt {
                    seq,
                    leaf_hash: self.shared.node(0, seq)?,
                    tree_size: first + count,
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// Sequences a group and applies it to the `log` tree (not yet durable); fills `outcomes`.
    /// An `Err` means storage failed part-way and nothing in the group may be acknowledged.
    fn sequence(
        &mut self,
        group: Vec<Request>,
        outcomes: &mut Vec<Outcome>,
    ) -> Result<Applied, StoreError> {
        let mut tip = self.tip.clone();
        let now = self.clock.now_millis().max(tip.last_at_ms);
        let at = format::format_millis(now);
        let mut log_batch = sled::Batch::default();
        let mut derived = Writes::default();
        let mut block: Vec<u8> = Vec::new();
        let block_first = tip.size();
        let mut streams: HashMap<String, u64> = HashMap::new();
        let mut subjects: HashMap<String, Hash> = HashMap::new();
        let mut commands: HashMap<String, Vec<Receipt>> = HashMap::new();
        let mut staged_commits = std::collections::HashSet::new();
        let mut slot_writes = Vec::new();
        let mut erasures = Vec::new();
        let observed = self.shared.observer.get().is_some();
        let mut entries = Vec::new();
        // Requests repeating a command of this same group are answered once it is durable.
        let mut repeats: Vec<(usize, String)> = Vec::new();

        for Request { batch, data, reply } in group {
            if let Some(cmd) = &batch.command {
                if commands.contains_key(cmd) {
                    repeats.push((outcomes.len(), cmd.clone()));
                    outcomes.push((reply, Ok(Vec::new())));
                    continue;
                }
                if let Some(receipts) = self.command_receipts(cmd)? {
                    outcomes.push((reply, Ok(receipts)));
                    continue;
                }
            }
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
                let cur = match streams.get(stream) {
                    Some(&v) => v,
                    None => self.stream_next(stream)?,
                };
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
                let cur = match next
                    .get(e.stream.as_str())
                    .or_else(|| streams.get(&e.stream))
                {
                    Some(&v) => v,
                    None => self.stream_next(&e.stream)?,
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
                        || self.shared.log.contains_key(keys::content(&c.commit))?
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
                        None => self.subject_last(s)?,
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
                derive_keys(&mut derived, seq, &e.stream, version, e.subject.as_deref());
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
                });
            }
            let end = tip.size();
            for r in &mut receipts {
                r.tree_size = end;
            }
            if let Some(cmd) = &batch.command {
                if end > first {
                    derived.insert(
                        keys::command(cmd),
                        &keys::command_value(first, end - first)[..],
                    );
                    commands.insert(cmd.clone(), receipts.clone());
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

        for (i, cmd) in &repeats {
            if let (Some(o), Some(r)) = (outcomes.get_mut(*i), commands.get(cmd)) {
                o.1 = Ok(r.clone());
            }
        }
        let appended = tip.size() > block_first;
        let wrote = appended || !slot_writes.is_empty() || !erasures.is_empty();
        let mut derived_out = None;
        if appended {
            tip.last_at_ms = now;
            derived.insert(&keys::merkle(block_first)[..], block);
            derived.insert(keys::WATERMARK, &tip.size().to_be_bytes()[..]);
            derived_out = Some((derived, tip.size()));
        }
        if wrote {
            let salts = || self.shared.dir.join("salts");
            // Salts first, synced: sled may make the log batch durable at any moment after it is
            // applied, and a durable record must never point at a salt that is not on disk.
            if !slot_writes.is_empty() {
                for (slot, commit, salt) in &slot_writes {
                    self.shared
                        .slots
                        .write(*slot, commit, salt)
                        .map_err(|e| StoreError::io(salts(), e))?;
                }
                self.shared
                    .slots
                    .sync()
                    .map_err(|e| StoreError::io(salts(), e))?;
            }
            // The source of truth, atomically. The committer makes it durable.
            self.shared.log.apply_batch(log_batch)?;
        }
        self.tip = tip;
        // Remember what this group wrote; past a bound, sync with the indexer and forget.
        let cached =
            self.streams.len() + self.commands.len() + self.subjects.len() + self.recent.len();
        if cached > self.max_cache {
            self.shared.wait_indexed(block_first)?;
            if self.complete {
                tracing::info!(
                    cached,
                    "writer caches full; unseen names are looked up in the indexes from now on"
                );
            }
            self.streams.clear();
            self.commands.clear();
            self.subjects.clear();
            self.recent.clear();
            self.complete = false;
        }
        self.streams.extend(streams);
        self.subjects.extend(subjects);
        self.commands.extend(commands.keys().cloned());
        self.recent.extend(commands);
        let outcomes = std::mem::take(outcomes);
        Ok(Applied {
            outcomes,
            derived: derived_out,
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
