//! The log store: a durable, hash-chained, Merkle-proved event log on sled (log format v1).
//!
//! Owns: the data directory — sled (tree `log`, and `views` for the service), the salt slot
//! file and the checkpoint signing key — and every byte written there. This is the only module
//! that imports sled. It assigns `seq`, `prev`, `subject_prev`, `at` and `version`, serialises
//! each entry once and keeps those bytes; it acknowledges an append only once it is on disk.
//! Must not touch: domain rules (what events mean, who may do what). It checks the log format's
//! shape and stream versions, nothing more.
//!
//! Invariants (see ARCHITECTURE.md):
//! - entries are the only source of truth; the derived records beside them (postings, Merkle
//!   blocks, watermark) are rebuilt from them when missing or damaged;
//! - an append resolves only after its group is flushed and (by default) fsynced;
//! - what must be durable together is written in one `apply_batch` on one tree;
//! - a segment's text is stored only sealed under a key derived from its salt, and the salt
//!   only in the slot file, which erasure overwrites in place.

mod backup;
mod error;
pub mod index;
mod keys;
mod slots;
mod verify;
mod views;
mod writer;

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::thread::JoinHandle;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

pub use backup::{read_key_file, segment_commits, Restore, Restored};
pub use error::StoreError;
pub use verify::{EntryChecker, Failure, VerifyReport};
#[doc(hidden)]
pub use views::codec as views_codec;
pub use views::ViewRecords;

use crate::checkpoint::{NoteSigner, NoteVerifier};
use crate::content::{self, Content, Segment};
use crate::format::{self, leaf_hash, Actor, EntryView, Hash};
use crate::merkle::{self, NodeSource, ProofRequestError};
use slots::{Slot, SlotFile};

/// The store format this code writes and reads. Bumped only with a migration.
/// 1: derived records in their own sled tree, written after the entries' batch.
/// 2: derived records in the `log` tree, in each group's batch (format 1 is migrated on open).
/// 3: postings name the actor of an entry with a command (idempotency is per actor), and a
///    command's append keeps its request digest (`Q`); a format-2 store's postings are derived
///    again on open.
pub const FORMAT_VERSION: u32 = 3;

/// Most events one append may carry; keeps one call's memory and latency bounded.
pub const MAX_EVENTS_PER_APPEND: usize = 1024;

/// Largest serialised `data` object of one event. Text belongs in the content store, so real
/// events are a few hundred bytes; the limit stops a client from bloating the log.
pub const MAX_DATA_BYTES: usize = 16 * 1024;

/// sled writes any message above `segment_size / 4` — a value, or a whole leaf page when it
/// consolidates one (leaves split by count, at 17 items) — as a separate blob file, which it
/// never fsyncs. With 8 MiB segments the threshold is 2 MiB, above the largest page our bounded
/// values can make (about 20 × 65.6 KiB of sealed content), so blobs should not occur; the
/// committer still fsyncs any blob it finds after each flush, so durability does not rest on that
/// estimate.
pub const SLED_SEGMENT_SIZE: usize = 8 << 20;

/// The BLAKE3 key-derivation context of the request-digest key.
const REQUEST_KEY_CONTEXT: &str = "withus 2026-12-01 request digest key v1";
/// BLAKE3 `derive_key` context of the key of identity digests (see [`LogStore::identity_digest`]).
const IDENTITY_KEY_CONTEXT: &str = "withus 2026-12-03 identity link key v1";

/// What an identifier must be, as refusals say it (checked by [`format::is_name`]).
const NAME_RULE: &str = "must be 1-160 printable ASCII characters without spaces";

/// Where time comes from. The store never lets `at` go backwards whatever this returns.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_millis(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }
}

/// How far an append goes before it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// sled's flush (`sync_file_range`) then `fdatasync` of its data file: survives power loss.
    Fsync,
    /// sled's flush only: survives a process crash, not necessarily power loss. For benchmarks
    /// that measure what the fsync costs.
    Flush,
}

/// How to open a store. Plain data, passed explicitly.
#[derive(Clone)]
pub struct StoreConfig {
    /// The data directory; created (owner-only) if missing.
    pub dir: PathBuf,
    /// The origin (and checkpoint key name) of a *new* store, e.g. `withus.example/team-log`.
    /// `None` makes one up. An existing store keeps the origin it was created with.
    pub origin: Option<String>,
    /// See [`Durability`]; `Fsync` unless measuring.
    pub durability: Durability,
    /// Most events committed in one group (one sled batch, one flush); a single append larger
    /// than this is its own group. Bounds a Merkle block's size (≤ 64 KiB at 1024, far below
    /// sled's blob threshold) and one flush's latency.
    pub max_group_events: usize,
    /// The clock that stamps `at`.
    pub clock: Arc<dyn Clock>,
    /// Told each commit's size and its flush and fsync times (the server's metrics); `None`
    /// measures nothing.
    pub meter: Option<Arc<dyn CommitMeter>>,
}

impl StoreConfig {
    pub fn new(dir: impl Into<PathBuf>) -> StoreConfig {
        StoreConfig {
            dir: dir.into(),
            origin: None,
            durability: Durability::Fsync,
            max_group_events: 1024,
            clock: Arc::new(SystemClock),
            meter: None,
        }
    }
}

/// What a new event expects of its stream (optimistic concurrency).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// Append whatever the stream's version.
    Any,
    /// The stream must hold exactly this many events now, i.e. the event gets this `version`.
    /// `Version(0)` means "the stream must not exist yet".
    Version(u64),
}

/// One event to append. The store fills in `seq`, `prev`, `at`, `version`, `subject_prev`.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// Past-tense event type, e.g. `note.drafted` (domain.md).
    pub event_type: String,
    /// Schema version of that type, from 1, so readers can tell old shapes from new.
    pub v: u32,
    /// `<kind>:<id>`: the aggregate whose version sequence this event extends.
    pub stream: String,
    /// The optimistic-concurrency check for `stream`.
    pub expected: Expected,
    /// The person the event is about; links it into their chain (`subject_prev`).
    pub subject: Option<String>,
    /// Who caused it, in what role: recorded, not looked up later.
    pub actor: Actor,
    /// The event's own fields; must be a JSON object with no free text (text goes in segments).
    pub data: Value,
}

/// A segment's text sealed and ready to commit together with the entries that reference it.
/// Made by [`LogStore::stage_content`]; its salt never leaves the store except through
/// [`LogStore::content`].
#[derive(Clone)]
pub struct StagedContent {
    commit: Hash,
    salt: [u8; 32],
    nonce: [u8; 12],
    sealed: Vec<u8>,
}

impl StagedContent {
    /// Seals `text` under `salt` and `nonce` (log-format §4): what an accepted command's text is
    /// stored as. The salt must be fresh and secret — [`fresh_seed`] is where the service draws
    /// its salts from.
    pub fn seal(salt: [u8; 32], nonce: [u8; 12], text: &str) -> StagedContent {
        let commit = content::commit(&salt, text);
        let sealed = content::seal(&salt, &nonce, &commit, text);
        StagedContent {
            commit,
            salt,
            nonce,
            sealed,
        }
    }

    /// The commitment this content is stored under.
    pub fn commit(&self) -> &Hash {
        &self.commit
    }
}

impl std::fmt::Debug for StagedContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the salt: with it, a guessed text could be checked against the commitment.
        f.debug_struct("StagedContent")
            .field("commit", &format::to_hex(&self.commit))
            .finish()
    }
}

/// One atomic append: all of it becomes durable, or none of it.
#[derive(Debug, Clone, Default)]
pub struct AppendBatch {
    /// The client's idempotency key, unique per actor (the events' actor): a repeat by the same
    /// actor returns the first call's receipts and appends nothing.
    pub command: Option<String>,
    /// A digest of the request that the command id stands for (kept beside the append, `Q`
    /// record). A repeat whose digest differs is refused with [`StoreError::CommandReused`]; a
    /// repeat, or a first call, without one is not compared.
    pub request_digest: Option<Hash>,
    /// The events, appended in this order with consecutive seqs.
    pub events: Vec<NewEvent>,
    /// Content the events commit to, stored in the same durable step.
    pub contents: Vec<StagedContent>,
    /// Commitments whose content is erased in the same durable step (an agreed redaction).
    /// Erasing content that is not stored (or already erased) does nothing.
    pub erase: Vec<Hash>,
    /// Streams this batch does not extend but whose state its decision relied on: each must
    /// still hold exactly this many events when the batch is sequenced, or the whole batch is
    /// refused with [`StoreError::Conflict`]. This is how a caller makes "checked against the
    /// projection, then appended" exact under concurrency without a global lock.
    pub conditions: Vec<(String, u64)>,
    /// Milliseconds since the epoch: the batch must be stamped with an `at` before this, or it is
    /// refused with [`StoreError::Late`]. A decision that depends on time (a consent that expires)
    /// is then true at the `at` the log records, not only at the moment it was taken.
    pub deadline: Option<u64>,
}

/// Proof that an entry was appended: where, its leaf hash, and the tree size after its batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Where the entry is in the log.
    pub seq: u64,
    /// Its leaf hash: what an inclusion proof proves.
    pub leaf_hash: Hash,
    /// The tree size after the batch: the smallest checkpoint that can include it.
    pub tree_size: u64,
    /// The entry's stream…
    pub stream: String,
    /// …and its `version` there (from 0): the stream holds `version + 1` events after it.
    pub version: u64,
}

/// One kind of record in [`LogStore::space`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpaceLine {
    pub kind: &'static str,
    pub keys: u64,
    /// Key and value bytes of the live records.
    pub bytes: u64,
}

/// An entry as stored: its seq and exact bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    /// Where it is in the log.
    pub seq: u64,
    /// Exactly the bytes written at append: hash, export and verify use these.
    pub bytes: Vec<u8>,
}

impl StoredEntry {
    pub fn view(&self) -> Result<EntryView<'_>, StoreError> {
        EntryView::parse(&self.bytes).map_err(|what| StoreError::corrupt(self.seq, what))
    }

    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.bytes)
    }
}

/// Measures durable commits, for metrics; the store knows no metrics library.
pub trait CommitMeter: Send + Sync {
    /// `entries` became durable in one commit: sled's flush took `flush`, the fsync after it
    /// `fsync` (`None` under [`Durability::Flush`]). Runs on the committer thread: keep it short.
    fn commit_durable(
        &self,
        entries: u64,
        flush: std::time::Duration,
        fsync: Option<std::time::Duration>,
    );
}

/// Told of entries as they become durable, so a reader of every entry (the command service's
/// projections) can follow the log without reading back what was just written.
///
/// Each group's entries are passed once, in log order, after they are durable and *before*
/// [`LogStore::size`] covers them or any append that wrote them is answered. So when an append
/// resolves, the observer has seen its entries. An observer installed while appends are in
/// flight may miss the entries before its first call: it must compare the first seq it is given
/// with what it has seen, and read any gap from the store.
pub trait CommitObserver: Send + Sync {
    /// `entries` (consecutive seqs) are durable. Runs on the store's committer thread, which
    /// answers no append until it returns: keep it short, and never wait on an append in it.
    fn committed(&self, entries: &[StoredEntry]);
}

/// State shared by readers and the writer thread.
struct Shared {
    /// The data directory, for messages.
    dir: PathBuf,
    /// Kept to flush and to name the whole database.
    db: sled::Db,
    /// Entries, sealed content, erasure markers, store metadata — the source of truth — and each
    /// group's derived records (postings, Merkle block, watermark), written in the same batch.
    log: sled::Tree,
    /// Every stream's, person's and command's seqs, loaded from the postings on open; the writer
    /// adds each group as it sequences it. Readers bound what they take by `committed`.
    index: RwLock<index::Index>,
    /// Why the index could not be loaded, in a read-only store whose postings are damaged:
    /// lookups then fail with it, while verify and export still work.
    index_damage: Option<String>,
    /// Salts of live segments.
    slots: SlotFile,
    /// sled's data file, held open to `fdatasync` it after each flush. `None` when read-only.
    db_file: Option<File>,
    /// Signs checkpoints; `None` in a read-only store whose key file is missing.
    signer: Option<NoteSigner>,
    /// Keys request digests (see [`LogStore::request_digest`]): derived from the signing key, so
    /// it is as secret as that key and needs no file of its own. Zero in a read-only store.
    request_key: [u8; 32],
    /// Keys identity digests (see [`LogStore::identity_digest`]), derived from the signing key
    /// like `request_key`. Zero in a read-only store.
    identity_key: [u8; 32],
    /// The log's origin.
    origin: String,
    /// Entries durable and visible to readers. Readers never look past it, so they never see a
    /// half-written group.
    committed: AtomicU64,
    /// `committed`, for async waiters (live subscriptions): sent after every commit.
    commits: tokio::sync::watch::Sender<u64>,
    /// Why the store refuses every write, once a storage failure has poisoned it (set by the
    /// writer or the committer, once); `None` while healthy. A watch, so a server can stop
    /// reporting itself healthy the moment it happens.
    failure: tokio::sync::watch::Sender<Option<String>>,
    /// See [`CommitObserver`]; set at most once.
    observer: OnceLock<Arc<dyn CommitObserver>>,
    /// The persisted views' marker and sizes, as last loaded or written (see `views.rs`).
    views: Mutex<views::ViewsState>,
    /// Slot indexes free for reuse, and the next never-used slot. Only the writer allocates;
    /// reconciliation on open fills it.
    free_slots: Mutex<(Vec<u64>, u64)>,
}

/// A message to the writer thread.
struct Request {
    batch: AppendBatch,
    /// Each event's `data`, serialised once by the caller's thread during validation, so the
    /// writer only copies it into the entry.
    data: Vec<Box<serde_json::value::RawValue>>,
    reply: oneshot::Sender<Result<Vec<Receipt>, StoreError>>,
}

/// The log store. Cheap to share behind an `Arc`; reads run on the caller's thread, appends are
/// sequenced by one writer thread that commits them in groups.
pub struct LogStore {
    shared: Arc<Shared>,
    /// To the writer; `None` when read-only or closed.
    tx: Option<mpsc::Sender<Request>>,
    /// Joined on close so that the last flush happens before the store is reported closed.
    writer: Option<JoinHandle<()>>,
}

/// Opens sled. A lock failure is retried for up to two seconds: sled releases its lock
/// asynchronously after the last handle is dropped (its I/O threads close the file a moment
/// later), so a reopen in the same process can otherwise race it.
fn sled_open(dir: &Path) -> Result<sled::Db, StoreError> {
    let path = dir.join("sled");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        match sled::Config::new()
            .path(&path)
            .segment_size(SLED_SEGMENT_SIZE)
            .open()
        {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(io)) if io.to_string().contains("could not acquire lock") => {
                if std::time::Instant::now() >= deadline {
                    return Err(StoreError::Locked(dir.to_path_buf()));
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(other) => return Err(other.into()),
        }
    }
}

fn fsync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, e))
}

/// 32 bytes from the operating system's randomness: a secret seed to derive salts from.
pub fn fresh_seed() -> Result<[u8; 32], StoreError> {
    random::<32>()
}

fn random<const N: usize>() -> Result<[u8; N], StoreError> {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b).map_err(|e| StoreError::Engine(format!("no randomness: {e}")))?;
    Ok(b)
}

/// Reads the Ed25519 seed, refusing a key file others can read.
fn read_key(path: &Path) -> Result<[u8; 32], StoreError> {
    let key_err = |what: String| StoreError::Key {
        path: path.to_path_buf(),
        what,
    };
    let mut f = File::open(path)
        .map_err(|e| key_err(format!("cannot open ({e}); restore it from backup")))?;
    let mode = f
        .metadata()
        .map_err(|e| StoreError::io(path, e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(key_err(format!(
            "permissions {:o} let others read it; run `chmod 600` on it",
            mode & 0o777
        )));
    }
    let mut text = String::new();
    f.read_to_string(&mut text)
        .map_err(|e| StoreError::io(path, e))?;
    let mut seed = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut seed)
        .map_err(|_| key_err("does not hold 64 hex digits".into()))?;
    Ok(seed)
}

fn write_new_key(dir: &Path, path: &Path) -> Result<(), StoreError> {
    write_key(dir, path, &random::<32>()?)
}

/// Writes a key file (owner-only) holding `seed`; refuses to replace one.
fn write_key(dir: &Path, path: &Path, seed: &[u8; 32]) -> Result<(), StoreError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| StoreError::io(path, e))?;
    f.write_all(format!("{}\n", hex::encode(seed)).as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| StoreError::io(path, e))?;
    fsync_dir(dir)
}

impl LogStore {
    /// Opens (creating if needed) a store for reading and writing. Brings derived records up to
    /// date with the log, finishes erasures a crash interrupted, and clears salt slots that no
    /// committed content uses. Refuses a store of a newer format, or one whose head is damaged.
    pub fn open(config: StoreConfig) -> Result<LogStore, StoreError> {
        let dir = config.dir.clone();
        fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(0o700));
        let started = std::time::Instant::now();
        let db = sled_open(&dir)?;
        let sled_opened = started.elapsed();
        let log = db.open_tree("log")?;

        let (origin, format) = match read_meta(&log)? {
            Some(found) => found,
            None => {
                let origin = match &config.origin {
                    Some(o) => o.clone(),
                    None => format!("withus.local/{}", hex::encode(random::<8>()?)),
                };
                // Validate before writing anything.
                NoteSigner::new(&origin, &[0u8; 32])?;
                let mut b = sled::Batch::default();
                b.insert(keys::META_FORMAT, &FORMAT_VERSION.to_be_bytes());
                b.insert(keys::META_ORIGIN, origin.as_bytes());
                log.apply_batch(b)?;
                db.flush()?;
                (origin, FORMAT_VERSION)
            }
        };

        let key_path = dir.join("checkpoint.key");
        if !key_path.exists() {
            if log.scan_prefix([keys::ENTRY]).next().is_some() {
                return Err(StoreError::Key {
                    path: key_path,
                    what: "missing for a store that already has entries; restore it from backup"
                        .into(),
                });
            }
            write_new_key(&dir, &key_path)?;
        }
        let seed = read_key(&key_path)?;
        let signer = NoteSigner::new(&origin, &seed)?;
        let request_key = blake3::derive_key(REQUEST_KEY_CONTEXT, &seed);
        let identity_key = blake3::derive_key(IDENTITY_KEY_CONTEXT, &seed);

        let slots_path = dir.join("salts");
        let slots =
            SlotFile::open(&slots_path, true).map_err(|e| StoreError::io(&slots_path, e))?;
        let db_path = dir.join("sled").join("db");
        let db_file = File::open(&db_path).map_err(|e| StoreError::io(&db_path, e))?;
        fsync_dir(&dir)?;

        let shared = Arc::new(Shared {
            dir,
            db,
            log,
            slots,
            db_file: Some(db_file),
            signer: Some(signer),
            request_key,
            identity_key,
            origin,
            committed: AtomicU64::new(0),
            commits: tokio::sync::watch::Sender::new(0),
            failure: tokio::sync::watch::Sender::new(None),
            observer: OnceLock::new(),
            free_slots: Mutex::new((Vec::new(), 0)),
            index: RwLock::new(index::Index::default()),
            index_damage: None,
            views: Mutex::new(views::ViewsState::default()),
        });

        if format < 2 {
            // Format 1 kept derived records in a tree of their own; format 2 keeps them beside
            // the entries. Dropping the old tree leaves the log without derived records, which
            // recovery then derives from the entries, as for any store whose records are missing.
            tracing::info!(
                from = format,
                to = FORMAT_VERSION,
                "migrating the store: derived records move into the log tree"
            );
            shared.db.drop_tree("derived")?;
        } else if format < FORMAT_VERSION {
            // Format 2's postings do not name the actor of a command; recovery derives them again
            // (with the Merkle blocks, which it rebuilds in the same pass) from the entries.
            tracing::info!(
                from = format,
                to = FORMAT_VERSION,
                "migrating the store: postings gain the actor of each command"
            );
            writer::clear_derived(&shared)?;
        }
        let recovering = started.elapsed();
        let tip = writer::recover(&shared, config.max_group_events)?;
        let recovered = started.elapsed();
        if format < FORMAT_VERSION {
            shared
                .log
                .insert(keys::META_FORMAT, &FORMAT_VERSION.to_be_bytes())?;
            shared.db.flush()?;
        }
        shared.finish_erasures()?;
        shared.reconcile_slots()?;
        shared.committed.store(tip.size(), Ordering::Release);
        shared.commits.send_replace(tip.size());
        tracing::info!(
            entries = tip.size(),
            sled_open_ms = sled_opened.as_millis() as u64,
            head_and_index_ms = (recovered - recovering).as_millis() as u64,
            erasures_and_salts_ms = (started.elapsed() - recovered).as_millis() as u64,
            "log opened"
        );

        let (tx, rx) = mpsc::channel(4096);
        let w = writer::Writer::new(
            Arc::clone(&shared),
            tip,
            config.durability,
            config.max_group_events,
            config.clock,
            config.meter,
        )?;
        let handle = std::thread::Builder::new()
            .name("withus-log-writer".into())
            .spawn(move || w.run(rx))
            .map_err(|e| StoreError::Engine(format!("cannot start the writer thread: {e}")))?;
        Ok(LogStore {
            shared,
            tx: Some(tx),
            writer: Some(handle),
        })
    }

    /// Opens a store for verification and export only: nothing of withus' is written, nothing is
    /// repaired, derived records are used as found. Works on a damaged store. (sled itself may
    /// still replay its own write-ahead log on open.)
    pub fn open_read_only(dir: impl Into<PathBuf>) -> Result<LogStore, StoreError> {
        let dir = dir.into();
        if !dir.join("sled").exists() {
            return Err(StoreError::NotFound(format!(
                "no withus store in {}",
                dir.display()
            )));
        }
        let db = sled_open(&dir)?;
        let log = db.open_tree("log")?;
        let origin = read_meta(&log)?.map(|(o, _)| o).unwrap_or_default();
        let key_path = dir.join("checkpoint.key");
        let signer = read_key(&key_path)
            .ok()
            .and_then(|seed| NoteSigner::new(&origin, &seed).ok());
        let slots_path = dir.join("salts");
        let slots = match SlotFile::open(&slots_path, false) {
            Ok(s) => s,
            // A store whose creation was interrupted before its salt file was made holds no
            // content; an empty file stands in, and verify reports any content record whose salt
            // is missing.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                SlotFile::open(Path::new("/dev/null"), false)
                    .map_err(|e| StoreError::io(&slots_path, e))?
            }
            Err(e) => return Err(StoreError::io(&slots_path, e)),
        };
        let size = match log.scan_prefix([keys::ENTRY]).next_back() {
            Some(kv) => keys::tail_u64(&kv?.0).map_or(0, |s| s.saturating_add(1)),
            None => 0,
        };
        let mut shared = Shared {
            dir,
            db,
            log,
            slots,
            db_file: None,
            signer,
            request_key: [0; 32],
            identity_key: [0; 32],
            origin,
            committed: AtomicU64::new(size),
            commits: tokio::sync::watch::Sender::new(size),
            failure: tokio::sync::watch::Sender::new(None),
            observer: OnceLock::new(),
            free_slots: Mutex::new((Vec::new(), 0)),
            index: RwLock::new(index::Index::default()),
            index_damage: None,
            views: Mutex::new(views::ViewsState::default()),
        };
        // The index as the postings give it, completed in memory from the log where they trail
        // it (nothing is written). Damaged postings leave lookups failing, not the open.
        let loaded = verify::derived_watermark(&shared)
            .map_err(|e| e.to_string())
            .and_then(|w| writer::load_index(&shared, w.min(size)))
            .and_then(|mut ix| {
                writer::extend_index(&shared, &mut ix).map_err(|e| e.to_string())?;
                Ok(ix)
            });
        match loaded {
            Ok(ix) => shared.index = RwLock::new(ix),
            Err(why) => shared.index_damage = Some(why),
        }
        Ok(LogStore {
            shared: Arc::new(shared),
            tx: None,
            writer: None,
        })
    }

    /// Appends a batch; resolves once it is durable (or refused). All or nothing.
    pub async fn append(&self, batch: AppendBatch) -> Result<Vec<Receipt>, StoreError> {
        let (tx, request, answer) = self.request(batch)?;
        tx.send(request).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// [`append`](Self::append) for callers outside an async runtime (CLI tools, benchmarks).
    /// Must not be called from within a runtime.
    pub fn append_blocking(&self, batch: AppendBatch) -> Result<Vec<Receipt>, StoreError> {
        let (tx, request, answer) = self.request(batch)?;
        tx.blocking_send(request).map_err(|_| StoreError::Closed)?;
        answer.blocking_recv().map_err(|_| StoreError::Closed)?
    }

    /// Validates a batch and makes the writer's request for it, with the channel to send it on
    /// and the receiver of its answer.
    #[allow(clippy::type_complexity)]
    fn request(
        &self,
        batch: AppendBatch,
    ) -> Result<
        (
            &mpsc::Sender<Request>,
            Request,
            oneshot::Receiver<Result<Vec<Receipt>, StoreError>>,
        ),
        StoreError,
    > {
        let data = validate(&batch)?;
        let tx = self.tx.as_ref().ok_or(StoreError::ReadOnly)?;
        let (reply, answer) = oneshot::channel();
        Ok((tx, Request { batch, data, reply }, answer))
    }

    /// Seals a text as a segment to commit with an append: a fresh random salt, the commitment,
    /// the character count. Nothing is stored until the append that carries it is durable.
    pub fn stage_content(
        &self,
        id: &str,
        text: &str,
    ) -> Result<(Segment, StagedContent), StoreError> {
        if !format::is_name(id) {
            return Err(StoreError::invalid("segment id", NAME_RULE));
        }
        if text.len() > content::MAX_SEGMENT_BYTES {
            return Err(StoreError::invalid(
                "segment text",
                format!(
                    "{} bytes is over the {} byte limit; split it",
                    text.len(),
                    content::MAX_SEGMENT_BYTES
                ),
            ));
        }
        let staged = StagedContent::seal(random::<32>()?, random::<12>()?, text);
        let segment = Segment {
            id: id.to_string(),
            commit: staged.commit,
            chars: content::chars(text),
        };
        Ok((segment, staged))
    }

    /// The content committed to by `commit`: `None` if it was erased (or never stored).
    pub fn content(&self, commit: &Hash) -> Result<Option<Content>, StoreError> {
        self.shared.content(commit)
    }

    /// Entries durable so far (the tree size readers see).
    pub fn size(&self) -> u64 {
        self.shared.committed.load(Ordering::Acquire)
    }

    /// Bytes sled's files take on disk (its data file and blob files): cheap, for metrics.
    pub fn disk_bytes(&self) -> Result<u64, StoreError> {
        Ok(self.shared.db.size_on_disk()?)
    }

    /// Where the store's bytes go: live keys and bytes (key plus value) of each kind of record,
    /// by a scan of both trees (seconds on a large store; for `scale-bench`, not for metrics).
    /// sled's files hold more than this: space of removed and rewritten values not yet
    /// reclaimed, and its own page framing.
    pub fn space(&self) -> Result<Vec<SpaceLine>, StoreError> {
        let mut lines: BTreeMap<&'static str, SpaceLine> = BTreeMap::new();
        let mut add = |kind: &'static str, key: &[u8], value: &[u8]| {
            let line = lines.entry(kind).or_insert(SpaceLine {
                kind,
                keys: 0,
                bytes: 0,
            });
            line.keys += 1;
            line.bytes += (key.len() + value.len()) as u64;
        };
        for kv in self.shared.log.iter() {
            let (key, value) = kv?;
            let kind = match key.first() {
                Some(&keys::ENTRY) => "log: entries (E)",
                Some(&keys::CONTENT) => "log: sealed content (C)",
                Some(&keys::ERASING) => "log: erasure markers (X)",
                Some(&keys::REQUEST) => "log: request digests (Q)",
                Some(&keys::MERKLE) => "log: Merkle blocks (N)",
                Some(&keys::POSTINGS) => "log: postings (P)",
                _ => "log: other",
            };
            add(kind, &key, &value);
        }
        for kv in self.views_tree()?.iter() {
            let (key, value) = kv?;
            add(views::space_kind(&key), &key, &value);
        }
        Ok(lines.into_values().collect())
    }

    /// The durable size, as a watch that changes after every commit (for live followers).
    pub fn size_watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.commits.subscribe()
    }

    /// Why the store refuses every write, if a storage failure has poisoned it: every append
    /// then fails with [`StoreError::Failed`] until the store is reopened. Reads still work.
    pub fn failure(&self) -> Option<String> {
        self.shared.failure.borrow().clone()
    }

    /// [`LogStore::failure`] as a watch: changes once, when the store fails.
    pub fn failure_watch(&self) -> tokio::sync::watch::Receiver<Option<String>> {
        self.shared.failure.subscribe()
    }

    /// Installs the one [`CommitObserver`]. Refused if one is already installed.
    pub fn observe(&self, observer: Arc<dyn CommitObserver>) -> Result<(), StoreError> {
        self.shared
            .observer
            .set(observer)
            .map_err(|_| StoreError::Failed("a commit observer is already installed".into()))
    }

    /// The log's origin, also its checkpoint key name.
    pub fn origin(&self) -> &str {
        &self.shared.origin
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    pub fn entry(&self, seq: u64) -> Result<Option<StoredEntry>, StoreError> {
        if seq >= self.size() {
            return Ok(None);
        }
        self.shared.entry(seq).map(Some)
    }

    /// Entries `from..to` (clamped to the durable size), in order, read lazily.
    pub fn entries(
        &self,
        from: u64,
        to: u64,
    ) -> impl Iterator<Item = Result<StoredEntry, StoreError>> + '_ {
        let to = to.min(self.size());
        let from = from.min(to);
        let mut expect = from;
        self.shared
            .log
            .range(keys::entry(from)..keys::entry(to))
            .map(move |kv| {
                let (k, v) = kv?;
                let seq = keys::tail_u64(&k)
                    .ok_or_else(|| StoreError::corrupt(expect, "malformed entry key"))?;
                if seq != expect {
                    return Err(StoreError::corrupt(expect, "entry is missing from the log"));
                }
                expect += 1;
                Ok(StoredEntry {
                    seq,
                    bytes: v.to_vec(),
                })
            })
    }

    /// Seqs of a person's entries, in order.
    pub fn subject_seqs(&self, subject: &str) -> Result<Vec<u64>, StoreError> {
        let size = self.size();
        Ok(self.shared.index()?.subject_seqs(subject, size))
    }

    /// A person's entries, in order.
    pub fn subject_entries(&self, subject: &str) -> Result<Vec<StoredEntry>, StoreError> {
        self.subject_seqs(subject)?
            .into_iter()
            .map(|s| self.shared.entry(s))
            .collect()
    }

    /// Seqs of a stream's entries, in version order.
    pub fn stream_seqs(&self, stream: &str) -> Result<Vec<u64>, StoreError> {
        let size = self.size();
        Ok(self.shared.index()?.stream_seqs(stream, size))
    }

    /// A stream's entries, in version order.
    pub fn stream_entries(&self, stream: &str) -> Result<Vec<StoredEntry>, StoreError> {
        self.stream_seqs(stream)?
            .into_iter()
            .map(|s| self.shared.entry(s))
            .collect()
    }

    /// The stream's current version count (how many events it holds).
    pub fn stream_len(&self, stream: &str) -> Result<u64, StoreError> {
        Ok(self.stream_seqs(stream)?.len() as u64)
    }

    /// The receipts of `actor`'s earlier append with this command id, if one was committed:
    /// what a retry of that command must be answered with. A retry whose `request_digest`
    /// differs from the first call's is [`StoreError::CommandReused`].
    pub fn command_receipts(
        &self,
        actor: &str,
        command: &str,
        request_digest: Option<&Hash>,
    ) -> Result<Option<Vec<Receipt>>, StoreError> {
        let size = self.size();
        let found = self.shared.index()?.command(actor, command);
        match found {
            Some((first, count)) if first.saturating_add(count) <= size => {
                self.shared.check_repeat(first, command, request_digest)?;
                self.shared.receipts(first, count).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// Leaf hash of entry `seq`, from the stored tree.
    pub fn leaf_hash(&self, seq: u64) -> Result<Hash, StoreError> {
        let size = self.size();
        if seq >= size {
            return Err(ProofRequestError::IndexOutOfRange { index: seq, size }.into());
        }
        self.shared.node(0, seq)
    }

    /// Merkle tree hash of the first `n` entries.
    pub fn root(&self, n: u64) -> Result<Hash, StoreError> {
        self.check_size(n)?;
        merkle::root(&*self.shared, n)
    }

    /// Inclusion proof of entry `m` in the tree of size `n`.
    pub fn inclusion_proof(&self, m: u64, n: u64) -> Result<Vec<Hash>, StoreError> {
        self.check_size(n)?;
        if m >= n {
            return Err(ProofRequestError::IndexOutOfRange { index: m, size: n }.into());
        }
        merkle::inclusion_proof(&*self.shared, m, n)
    }

    /// Inclusion proofs of many entries in one tree of size `n` (a bundle's): the same as
    /// [`LogStore::inclusion_proof`] for each, but every Merkle node is read from sled once —
    /// the proofs of one tree share their upper nodes, and neighbouring leaves their blocks.
    pub fn inclusion_proofs(&self, seqs: &[u64], n: u64) -> Result<Vec<Vec<Hash>>, StoreError> {
        self.check_size(n)?;
        let memo = MemoNodes {
            inner: &self.shared,
            blocks: std::cell::RefCell::new(BTreeMap::new()),
        };
        seqs.iter()
            .map(|&m| {
                if m >= n {
                    return Err(ProofRequestError::IndexOutOfRange { index: m, size: n }.into());
                }
                merkle::inclusion_proof(&memo, m, n)
            })
            .collect()
    }

    /// Consistency proof between tree sizes `m` and `n`, `0 < m <= n`.
    pub fn consistency_proof(&self, m: u64, n: u64) -> Result<Vec<Hash>, StoreError> {
        self.check_size(n)?;
        if m == 0 || m > n {
            return Err(ProofRequestError::BadSizes {
                first: m,
                second: n,
            }
            .into());
        }
        merkle::consistency_proof(&*self.shared, m, n)
    }

    /// Refuses sizes beyond the durable tree. (A group's Merkle nodes are written in its batch,
    /// so every durable entry's nodes are there.)
    fn check_size(&self, n: u64) -> Result<(), StoreError> {
        let current = self.size();
        if n > current {
            return Err(ProofRequestError::BeyondTree {
                requested: n,
                current,
            }
            .into());
        }
        Ok(())
    }

    /// A signed checkpoint of the current tree.
    pub fn checkpoint(&self) -> Result<String, StoreError> {
        self.checkpoint_at(self.size())
    }

    /// A signed checkpoint of the first `size` entries (a bundle covers a tree size of its
    /// own, not always the current one).
    pub fn checkpoint_at(&self, size: u64) -> Result<String, StoreError> {
        if size > self.size() {
            return Err(StoreError::invalid(
                "tree size",
                format!("{size} is beyond the log's {} entries", self.size()),
            ));
        }
        let root = self.root(size)?;
        Ok(self.signer()?.sign(size, &root))
    }

    /// The signed subject-head statement (sar-bundle.md §2): as of the first `size` entries,
    /// `count` have `subject`, the last at `last` = (seq, leaf hash). Signed by the checkpoint
    /// key: a false statement is evidence against the log.
    pub fn subject_head(
        &self,
        subject: &str,
        size: u64,
        count: u64,
        last: Option<(u64, Hash)>,
    ) -> Result<String, StoreError> {
        self.signer()?
            .sign_subject_head(subject, size, count, last)
            .map_err(|e| StoreError::invalid("subject head", e.to_string()))
    }

    /// The digest of a request, as an append's `request_digest`: BLAKE3 keyed with a secret of
    /// this store over `len(method) u32 BE ‖ method ‖ request`. Keyed because a request holds
    /// the text it was sent with, and an unkeyed hash of a text later erased would confirm a
    /// guess of it; with the key, only whoever holds the data directory's signing key can test
    /// guesses.
    pub fn request_digest(&self, method: &str, request: &[u8]) -> Hash {
        let mut h = blake3::Hasher::new_keyed(&self.shared.request_key);
        h.update(
            &u32::try_from(method.len())
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        );
        h.update(method.as_bytes());
        h.update(request);
        *h.finalize().as_bytes()
    }

    /// The digest that stands for a person's sign-in identity (`identity.linked`): BLAKE3 keyed
    /// with a secret of this store over `len(issuer) u32 BE ‖ issuer ‖ subject`. Keyed because
    /// a subject may be guessable (an e-mail address, a staff number) and the log keeps what it
    /// holds for ever: only whoever holds the data directory's signing key can tell whom a
    /// digest stands for.
    pub fn identity_digest(&self, issuer: &str, subject: &str) -> Hash {
        let mut h = blake3::Hasher::new_keyed(&self.shared.identity_key);
        h.update(
            &u32::try_from(issuer.len())
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        );
        h.update(issuer.as_bytes());
        h.update(subject.as_bytes());
        *h.finalize().as_bytes()
    }

    /// The verifier key for this log's checkpoints.
    pub fn vkey(&self) -> Result<String, StoreError> {
        Ok(self.signer()?.vkey())
    }

    fn signer(&self) -> Result<&NoteSigner, StoreError> {
        self.shared.signer.as_ref().ok_or_else(|| StoreError::Key {
            path: self.shared.dir.join("checkpoint.key"),
            what: "missing or unreadable".into(),
        })
    }

    /// Checks the whole store: every check of log-format.md §6, the Merkle nodes, the indexes
    /// and the content slots. `progress(done, total)` is called now and then.
    pub fn verify(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<VerifyReport, StoreError> {
        verify::full(&self.shared, self.size(), progress)
    }

    /// Checks only what was appended after a trusted checkpoint: the stored tree must extend the
    /// checkpoint's, and every later entry must pass §6 against proven earlier ones.
    pub fn verify_since(
        &self,
        checkpoint: &str,
        vkey: &str,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<VerifyReport, StoreError> {
        let trusted = NoteVerifier::from_vkey(vkey)?.open(checkpoint)?;
        verify::since(&self.shared, self.size(), &trusted, progress)
    }

    /// Stops the writer after it has committed what it was given, and flushes.
    pub fn close(mut self) -> Result<(), StoreError> {
        self.shutdown();
        self.shared.db.flush()?;
        Ok(())
    }

    fn shutdown(&mut self) {
        self.tx = None;
        if let Some(h) = self.writer.take() {
            let _ = h.join();
        }
    }
}

impl Drop for LogStore {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The store's origin and format version; `None` for a new store.
fn read_meta(log: &sled::Tree) -> Result<Option<(String, u32)>, StoreError> {
    let Some(fmt) = log.get(keys::META_FORMAT)? else {
        if log.scan_prefix([keys::ENTRY]).next().is_some() {
            return Err(StoreError::corrupt(
                None,
                "entries exist but the store format record is missing",
            ));
        }
        return Ok(None);
    };
    let found = <[u8; 4]>::try_from(fmt.as_ref())
        .map(u32::from_be_bytes)
        .map_err(|_| StoreError::corrupt(None, "store format record is malformed"))?;
    if found > FORMAT_VERSION {
        return Err(StoreError::NewerFormat {
            found,
            supported: FORMAT_VERSION,
        });
    }
    let origin = log
        .get(keys::META_ORIGIN)?
        .and_then(|o| String::from_utf8(o.to_vec()).ok())
        .ok_or_else(|| StoreError::corrupt(None, "origin record is missing or not UTF-8"))?;
    Ok(Some((origin, found)))
}

/// Checks an append's shape before it reaches the writer, so a bad call costs the writer nothing.
/// Returns each event's serialised `data`.
fn validate(batch: &AppendBatch) -> Result<Vec<Box<serde_json::value::RawValue>>, StoreError> {
    if batch.events.is_empty() && batch.erase.is_empty() {
        return Err(StoreError::invalid(
            "events",
            "an append needs at least one event or erasure",
        ));
    }
    if batch.events.len() > MAX_EVENTS_PER_APPEND {
        return Err(StoreError::invalid(
            "events",
            format!(
                "{} events is over the limit of {MAX_EVENTS_PER_APPEND} per append",
                batch.events.len()
            ),
        ));
    }
    if let Some(c) = &batch.command {
        if !format::is_name(c) {
            return Err(StoreError::invalid("command", NAME_RULE));
        }
        // A command id is unique per actor: one append under it has one actor.
        if let Some(first) = batch.events.first() {
            if batch.events.iter().any(|e| e.actor.id != first.actor.id) {
                return Err(StoreError::invalid(
                    "events",
                    "an append with a command id has one actor; its events name several",
                ));
            }
        }
    }
    let mut data = Vec::with_capacity(batch.events.len());
    for (i, e) in batch.events.iter().enumerate() {
        let field = |f: &str| format!("events[{i}].{f}");
        if !format::is_name(&e.event_type) {
            return Err(StoreError::invalid(field("type"), NAME_RULE));
        }
        if e.v == 0 {
            return Err(StoreError::invalid(
                field("v"),
                "schema versions start at 1",
            ));
        }
        match e.stream.split_once(':') {
            Some((kind, id))
                if !kind.is_empty() && !id.is_empty() && format::is_name(&e.stream) => {}
            _ => {
                return Err(StoreError::invalid(
                    field("stream"),
                    "must be <kind>:<id>, printable ASCII without spaces",
                ))
            }
        }
        if let Some(s) = &e.subject {
            if !format::is_name(s) {
                return Err(StoreError::invalid(field("subject"), NAME_RULE));
            }
        }
        if !format::is_name(&e.actor.id) {
            return Err(StoreError::invalid(field("actor.id"), NAME_RULE));
        }
        if !format::is_name(&e.actor.role) {
            return Err(StoreError::invalid(field("actor.role"), NAME_RULE));
        }
        if !e.data.is_object() {
            return Err(StoreError::invalid(field("data"), "must be a JSON object"));
        }
        let raw = serde_json::value::to_raw_value(&e.data)
            .map_err(|err| StoreError::invalid(field("data"), err.to_string()))?;
        let len = raw.get().len();
        if len > MAX_DATA_BYTES {
            return Err(StoreError::invalid(
                field("data"),
                format!("{len} bytes is over the {MAX_DATA_BYTES} byte limit; put text in content segments"),
            ));
        }
        data.push(raw);
    }
    let mut seen = std::collections::HashSet::new();
    for c in &batch.contents {
        if !seen.insert(c.commit) {
            return Err(StoreError::invalid(
                "contents",
                "the same segment is staged twice",
            ));
        }
    }
    Ok(data)
}

impl Shared {
    /// Records the first storage failure for [`LogStore::failure`] and tells its watchers.
    fn publish_failure(&self, why: &str) {
        self.failure.send_if_modified(|f| {
            let first = f.is_none();
            if first {
                *f = Some(why.to_string());
            }
            first
        });
    }

    /// The index, for reading.
    fn index(&self) -> Result<std::sync::RwLockReadGuard<'_, index::Index>, StoreError> {
        if let Some(why) = &self.index_damage {
            return Err(StoreError::corrupt(
                None,
                format!("the index cannot be loaded: {why}"),
            ));
        }
        self.index.read().map_err(|_| writer::index_poisoned())
    }

    /// The receipts of the `count` entries from `first` (one append), with leaf hashes from the
    /// entries' own bytes.
    /// Whether a repeat of the command whose append starts at `first` asks for the same thing:
    /// `Err(CommandReused)` when both it and the first call carry a request digest and they
    /// differ.
    fn check_repeat(
        &self,
        first: u64,
        command: &str,
        digest: Option<&Hash>,
    ) -> Result<(), StoreError> {
        let Some(digest) = digest else {
            return Ok(());
        };
        match self.log.get(keys::request(first))? {
            Some(stored) if stored.as_ref() != digest.as_slice() => {
                Err(StoreError::CommandReused {
                    command: command.to_string(),
                })
            }
            _ => Ok(()),
        }
    }

    fn receipts(&self, first: u64, count: u64) -> Result<Vec<Receipt>, StoreError> {
        let end = first.saturating_add(count);
        (first..end)
            .map(|seq| {
                let entry = self.entry(seq)?;
                let view = entry.view()?;
                Ok(Receipt {
                    seq,
                    leaf_hash: entry.leaf_hash(),
                    tree_size: end,
                    stream: view.stream.to_string(),
                    version: view.version,
                })
            })
            .collect()
    }

    fn entry(&self, seq: u64) -> Result<StoredEntry, StoreError> {
        let v = self
            .log
            .get(keys::entry(seq))?
            .ok_or_else(|| StoreError::corrupt(seq, "entry is missing from the log"))?;
        Ok(StoredEntry {
            seq,
            bytes: v.to_vec(),
        })
    }

    fn content(&self, commit: &Hash) -> Result<Option<Content>, StoreError> {
        let Some(rec) = self.log.get(keys::content(commit))? else {
            return Ok(None);
        };
        if self.log.contains_key(keys::erasing(commit))? {
            return Ok(None);
        }
        self.unseal(commit, &rec).map(Some)
    }

    /// Opens a sealed content record: its salt slot must hold its commitment, it must decrypt,
    /// and the text must match the commitment.
    fn unseal(&self, commit: &Hash, rec: &[u8]) -> Result<Content, StoreError> {
        let (slot, nonce, sealed) = split_content(rec).ok_or_else(|| {
            StoreError::corrupt(
                None,
                format!("content record {} is malformed", format::to_hex(commit)),
            )
        })?;
        let salt = match self
            .slots
            .read(slot)
            .map_err(|e| StoreError::io(self.dir.join("salts"), e))?
        {
            Slot::Used { commit: c, salt } if c == *commit => salt,
            _ => {
                return Err(StoreError::corrupt(
                    None,
                    format!(
                        "salt slot {slot} of content {} is damaged or missing",
                        format::to_hex(commit)
                    ),
                ))
            }
        };
        self.open_sealed(commit, &salt, &nonce, sealed)
    }

    /// Opens sealed content with its salt (read from its slot by the caller) and checks the
    /// text against the commitment.
    fn open_sealed(
        &self,
        commit: &Hash,
        salt: &[u8; 32],
        nonce: &[u8; 12],
        sealed: &[u8],
    ) -> Result<Content, StoreError> {
        let salt = *salt;
        let text = content::open(&salt, nonce, commit, sealed).ok_or_else(|| {
            StoreError::corrupt(
                None,
                format!(
                    "content {} does not decrypt: altered",
                    format::to_hex(commit)
                ),
            )
        })?;
        if content::commit(&salt, &text) != *commit {
            return Err(StoreError::corrupt(
                None,
                format!(
                    "content {} does not match its commitment",
                    format::to_hex(commit)
                ),
            ));
        }
        Ok(Content {
            commit: *commit,
            salt,
            text,
        })
    }

    /// Completes erasures that were made durable (marker `X`) but not finished before a crash.
    fn finish_erasures(&self) -> Result<(), StoreError> {
        let mut pending = Vec::new();
        for kv in self.log.scan_prefix([keys::ERASING]) {
            let (k, _) = kv?;
            let commit: Hash = k[1..]
                .try_into()
                .map_err(|_| StoreError::corrupt(None, "malformed erasure marker"))?;
            pending.push(commit);
        }
        if pending.is_empty() {
            return Ok(());
        }
        tracing::info!(
            count = pending.len(),
            "finishing erasures interrupted by a crash"
        );
        self.erase_now(&pending)?;
        self.db.flush()?;
        Ok(())
    }

    /// Overwrites the salts of `commits` (only where the slot still holds that commitment), syncs
    /// the slot file, then drops the sealed records and markers. Returns the freed slots.
    fn erase_now(&self, commits: &[Hash]) -> Result<Vec<u64>, StoreError> {
        let mut freed = Vec::new();
        let mut batch = sled::Batch::default();
        for commit in commits {
            if let Some(rec) = self.log.get(keys::content(commit))? {
                if let Some((slot, _, _)) = split_content(&rec) {
                    let held = self
                        .slots
                        .read(slot)
                        .map_err(|e| StoreError::io(self.dir.join("salts"), e))?;
                    if matches!(held, Slot::Used { commit: c, .. } if c == *commit)
                        || held == Slot::Damaged
                    {
                        self.slots
                            .wipe(slot)
                            .map_err(|e| StoreError::io(self.dir.join("salts"), e))?;
                        freed.push(slot);
                    }
                }
            }
            batch.remove(&keys::content(commit)[..]);
            batch.remove(&keys::erasing(commit)[..]);
        }
        self.slots
            .sync()
            .map_err(|e| StoreError::io(self.dir.join("salts"), e))?;
        self.log.apply_batch(batch)?;
        Ok(freed)
    }

    /// Wipes slots that no content record points to (salts written for an append that never
    /// committed) and builds the free list.
    fn reconcile_slots(&self) -> Result<(), StoreError> {
        let mut owner: HashMap<u64, Hash> = HashMap::new();
        for kv in self.log.scan_prefix([keys::CONTENT]) {
            let (k, v) = kv?;
            let commit: Hash = k[1..]
                .try_into()
                .map_err(|_| StoreError::corrupt(None, "malformed content key"))?;
            let (slot, _, _) = split_content(&v)
                .ok_or_else(|| StoreError::corrupt(None, "malformed content record"))?;
            owner.insert(slot, commit);
        }
        let salts = self.dir.join("salts");
        let all = self
            .slots
            .read_all()
            .map_err(|e| StoreError::io(&salts, e))?;
        let mut free = Vec::new();
        let mut wiped = 0u64;
        for (i, slot) in (0u64..).zip(all.iter()) {
            let owned = owner.get(&i);
            match slot {
                Slot::Used { commit, .. } if owned == Some(commit) => {}
                Slot::Free if owned.is_none() => free.push(i),
                _ if owned.is_some() => {
                    return Err(StoreError::corrupt(
                        None,
                        format!("salt slot {i} does not hold the salt its content record names"),
                    ));
                }
                _ => {
                    self.slots.wipe(i).map_err(|e| StoreError::io(&salts, e))?;
                    wiped += 1;
                    free.push(i);
                }
            }
        }
        if wiped > 0 {
            tracing::info!(wiped, "cleared salt slots of appends that never committed");
            self.slots.sync().map_err(|e| StoreError::io(&salts, e))?;
        }
        let next = all.len() as u64;
        free.reverse();
        if let Ok(mut g) = self.free_slots.lock() {
            *g = (free, next);
        }
        Ok(())
    }
}

/// `slot(8) ‖ nonce(12) ‖ sealed` → parts.
pub(super) fn split_content(rec: &[u8]) -> Option<(u64, [u8; 12], &[u8])> {
    let slot = keys::be_u64(rec, 0)?;
    let nonce: [u8; 12] = rec.get(8..20)?.try_into().ok()?;
    Some((slot, nonce, rec.get(20..)?))
}

/// A [`NodeSource`] for one batch of proofs that keeps every Merkle block it has read: a
/// leaf's lower proof nodes sit in its own block or its neighbours', and the upper ones are
/// shared by every proof of the tree, so most nodes come without a sled lookup.
struct MemoNodes<'a> {
    inner: &'a Shared,
    /// Blocks by their first seq.
    blocks: std::cell::RefCell<BTreeMap<u64, sled::IVec>>,
}

impl NodeSource for MemoNodes<'_> {
    type Error = StoreError;

    fn node(&self, level: u32, index: u64) -> Result<Hash, StoreError> {
        let seq = completing_seq(level, index)?;
        if let Some((first, block)) = self.blocks.borrow().range(..=seq).next_back() {
            if let Some(h) = node_in_block(*first, block, seq, level) {
                return Ok(h);
            }
        }
        let missing =
            || StoreError::corrupt(seq, format!("Merkle node ({level}, {index}) is missing"));
        let (first, block) = self.inner.merkle_block(seq)?.ok_or_else(missing)?;
        let h = node_in_block(first, &block, seq, level).ok_or_else(missing)?;
        self.blocks.borrow_mut().insert(first, block);
        Ok(h)
    }
}

impl Shared {
    /// The Merkle block holding `seq`'s records: (its first seq, its bytes).
    fn merkle_block(&self, seq: u64) -> Result<Option<(u64, sled::IVec)>, StoreError> {
        let Some(found) = self
            .log
            .range(keys::merkle(0)..=keys::merkle(seq))
            .next_back()
        else {
            return Ok(None);
        };
        let (k, block) = found?;
        if k.first() != Some(&keys::MERKLE) {
            return Ok(None);
        }
        Ok(keys::tail_u64(&k).map(|first| (first, block)))
    }
}

/// The seq whose append completed `node(level, index)`: its last leaf.
fn completing_seq(level: u32, index: u64) -> Result<u64, StoreError> {
    index
        .checked_add(1)
        .and_then(|i| i.checked_shl(level))
        .and_then(|i| i.checked_sub(1))
        .ok_or_else(|| {
            StoreError::corrupt(None, format!("node ({level}, {index}) is outside any tree"))
        })
}

/// `node(level, index)`, completed by `seq`, out of the block starting at `first`; `None` when
/// the block does not reach that far.
fn node_in_block(first: u64, block: &[u8], seq: u64, level: u32) -> Option<Hash> {
    if seq < first {
        return None;
    }
    let at = keys::merkle_offset(first, seq) + u64::from(level);
    let start = usize::try_from(at.checked_mul(32)?).ok()?;
    block.get(start..start.checked_add(32)?)?.try_into().ok()
}

impl NodeSource for Shared {
    type Error = StoreError;

    /// Reads `node(level, index)` from the Merkle block holding the seq that completed it.
    fn node(&self, level: u32, index: u64) -> Result<Hash, StoreError> {
        let seq = completing_seq(level, index)?;
        let missing =
            || StoreError::corrupt(seq, format!("Merkle node ({level}, {index}) is missing"));
        let (first, block) = self.merkle_block(seq)?.ok_or_else(missing)?;
        node_in_block(first, &block, seq, level).ok_or_else(missing)
    }
}
