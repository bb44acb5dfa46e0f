//! The command service: checks a command against the current projections, appends what it
//! decides through the log store, applies it, and answers with receipts. Every read of a
//! person's content goes through here and through [`crate::domain::access`] — there is no other
//! path from the content store to a caller.
//!
//! Owns: the in-memory projections, their persistence in the store's `views` tree, retries of
//! decisions that lost a race, and logging of reads (`record.accessed`, `access.denied`).
//! Must not touch: sled (the store does), gRPC types (the next layer translates), domain rules
//! (the domain decides; this module only carries out).
//!
//! Concurrency: decisions are taken under a read lock on the projections, then appended with
//! the stream versions they relied on as conditions (and a deadline when time matters), so two
//! racing commands cannot both pass a check that only one of them should. The loser is decided
//! again against the newer state. Appends from many callers still share group commits.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use crate::domain::access::{self, AuditRead, ReadDecision, SarAccess, SarRead, Scope};
use crate::domain::event::{AccessDenied, RecordAccessed};
use crate::domain::projection::{ActorRec, VIEW_SCHEMA};
use crate::domain::retention;
use crate::domain::stream::Stream;
use crate::domain::types::{
    is_id, DenialReason, HexHash, Passage, Role, SegmentRef, Time, ID_RULE,
};
use crate::domain::view::{self, Flag, RecordView, RecordWindow};
use crate::domain::{self, Code, Command, Decision, Event, Projections, Recorded, Refusal};
use crate::format::{self, Actor, Hash};
use crate::store::{
    AppendBatch, Clock, CommitObserver, Expected, LogStore, NewEvent, Receipt, StagedContent,
    StoreConfig, StoreError, StoredEntry,
};

/// Most streams one `record.accessed` entry names: a stream name is at most 139 bytes, so 100
/// of them stay well within the store's 16 KiB limit on an entry's data.
const STREAMS_PER_ACCESS: usize = 100;

/// How often a decision that lost a race is taken again before the caller is told to retry.
const MAX_ATTEMPTS: usize = 16;

/// Errors of the service. Each maps to one gRPC status (see [`ServiceError::code`]).
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The domain refused the command: the rule and the field are named.
    #[error(transparent)]
    Refused(#[from] Refusal),

    /// A read was refused; the refusal itself was logged as `access.denied` (these receipts).
    #[error("access to {subject}'s record refused: {reason}")]
    AccessDenied {
        subject: String,
        reason: DenialReason,
        receipts: Vec<Receipt>,
    },

    /// The client's expected version of a stream did not match (or the stream kept changing).
    #[error("stream {stream}: expected version {expected} but it is at {actual}; read it again and retry")]
    Conflict {
        stream: String,
        expected: u64,
        actual: u64,
    },

    /// The caller is not a registered, active actor (or their token is not valid).
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),

    /// The caller made too many refused attempts in a short time; nothing was decided.
    #[error("too many refused attempts; retry after {retry_after_ms} ms")]
    RateLimited { retry_after_ms: u64 },

    /// The store failed; nothing was acknowledged.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ServiceError {
    /// The status class a client sees: the one table from errors to statuses (the gRPC layer
    /// only renames the classes). Storage failures are `Unavailable` (nothing was acknowledged;
    /// retry later) except corruption (`DataLoss`), the store's own argument checks, proofs
    /// beyond the log, and a reused command id.
    pub fn code(&self) -> Code {
        match self {
            ServiceError::Refused(r) => r.code,
            ServiceError::AccessDenied { .. } => Code::PermissionDenied,
            ServiceError::Conflict { .. } => Code::Aborted,
            ServiceError::Unauthenticated(_) => Code::Unauthenticated,
            ServiceError::RateLimited { .. } => Code::ResourceExhausted,
            ServiceError::Store(e) => match e {
                StoreError::Invalid { .. } => Code::InvalidArgument,
                StoreError::CommandReused { .. } => Code::AlreadyExists,
                StoreError::Corrupt { .. } => Code::DataLoss,
                StoreError::Proof(_) => Code::OutOfRange,
                StoreError::NotFound(_) => Code::NotFound,
                StoreError::Io { .. }
                | StoreError::Engine(_)
                | StoreError::Locked(_)
                | StoreError::NewerFormat { .. }
                | StoreError::Key { .. }
                | StoreError::Conflict { .. }
                | StoreError::Late { .. }
                | StoreError::Checkpoint(_)
                | StoreError::Failed(_)
                | StoreError::ReadOnly
                | StoreError::Closed => Code::Unavailable,
            },
        }
    }

    /// Whether this refuses the caller the call itself (who they are, what they may do), as
    /// opposed to the state: such a refusal is given before any repeat of a command is answered.
    fn refuses_caller(&self) -> bool {
        match self {
            ServiceError::Refused(r) => {
                matches!(r.code, Code::PermissionDenied | Code::Unauthenticated)
            }
            ServiceError::Unauthenticated(_) | ServiceError::AccessDenied { .. } => true,
            _ => false,
        }
    }
}

type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// Per-call options every mutating call takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Call {
    /// The client's idempotency key, unique per caller: a repeat of the same request by the same
    /// caller returns the first call's receipts and appends nothing.
    pub command_id: Option<String>,
    /// A digest of the request as the client sent it ([`LogStore::request_digest`]), kept with
    /// the first call: a repeat whose digest differs is refused (`ALREADY_EXISTS`). `None` skips
    /// the comparison (library callers that build commands themselves).
    pub request_digest: Option<Hash>,
    /// The version (event count) the client last saw of the command's own stream; a mismatch is
    /// refused with [`ServiceError::Conflict`] (`ABORTED`).
    pub expected_version: Option<u64>,
}

impl Call {
    pub fn id(command_id: &str) -> Call {
        Call {
            command_id: Some(command_id.to_string()),
            expected_version: None,
            request_digest: None,
        }
    }
}

/// The domain's [`domain::Commit`] for one decision: commits each passage under a fresh salt
/// and, once the decision is accepted, seals the texts its events hold — nothing else is kept,
/// so a refused command's text is never sealed or stored. Salts and nonces come from one random
/// seed per decision through BLAKE3's keyed XOF (a PRF), so committing cannot fail inside the
/// pure decision; the seed is dropped with the sealer.
struct Sealer {
    /// Secret, fresh per decision: every salt is derived from it and nothing else.
    seed: [u8; 32],
    /// How many salts have been derived (the PRF's input).
    next: u64,
    /// Commitment → (salt, nonce, text), for sealing what the decision keeps.
    made: BTreeMap<Hash, ([u8; 32], [u8; 12], String)>,
}

impl Sealer {
    fn new() -> Result<Sealer> {
        Ok(Sealer {
            seed: crate::store::fresh_seed()?,
            next: 0,
            made: BTreeMap::new(),
        })
    }

    /// Seals the texts `decision` holds (its segments), and only those.
    fn seal(self, decision: &Decision) -> Vec<StagedContent> {
        let referenced = decision.segments();
        self.made
            .into_iter()
            .filter(|(commit, _)| referenced.contains(&HexHash(*commit)))
            .map(|(_, (salt, nonce, text))| StagedContent::seal(salt, nonce, &text))
            .collect()
    }
}

impl domain::Commit for Sealer {
    fn commit(&mut self, passage: &Passage) -> SegmentRef {
        let mut derived = [0u8; 44];
        let mut prf = blake3::Hasher::new_keyed(&self.seed);
        prf.update(&self.next.to_le_bytes());
        prf.finalize_xof().fill(&mut derived);
        self.next += 1;
        let mut salt = [0u8; 32];
        let mut nonce = [0u8; 12];
        salt.copy_from_slice(&derived[..32]);
        nonce.copy_from_slice(&derived[32..]);
        let commit = crate::content::commit(&salt, &passage.text);
        self.made
            .insert(commit, (salt, nonce, passage.text.clone()));
        SegmentRef {
            id: passage.id.clone(),
            commit: HexHash(commit),
            chars: crate::content::chars(&passage.text),
        }
    }
}

/// The BLAKE3 hash of a bearer token: all that is ever recorded of it (`token.issued`).
pub fn token_hash(token: &str) -> Hash {
    *blake3::hash(token.as_bytes()).as_bytes()
}

/// What a person signs in to their own page with.
#[derive(Debug, Clone, Copy)]
pub enum PageCredential<'a> {
    /// A one-time code an admin or their peer worker issued ([`Service::issue_signin_code`]).
    Code(&'a str),
    /// An OpenID Connect ID token of the configured issuer, for a linked identity.
    IdToken(&'a str),
}

/// Which prefix of the log a time-travel read shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    /// Entries before this seq (a tree size).
    Seq(u64),
    /// Entries recorded at or before this time.
    Time(Time),
}

/// A record read: the view, and the receipts of the `record.accessed` entry that logged it
/// (empty when the person read their own record).
#[derive(Debug, Clone)]
pub struct RecordRead {
    pub view: RecordView,
    pub receipts: Vec<Receipt>,
    /// The basis the read was allowed on (`None` for the person's own read).
    pub basis: Option<String>,
    /// Whether the record has items after the window read.
    pub more: bool,
}

/// One line of a person's access log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AccessLine {
    pub seq: u64,
    pub at: Time,
    pub reader: String,
    pub reader_role: String,
    /// `record.accessed` or `access.denied`.
    pub event_type: String,
    /// For a read: its basis; for a refusal: the reason.
    pub basis_or_reason: String,
    /// For a read: the streams read; for a refusal: what was asked for.
    pub streams: Vec<String>,
    /// For a refusal: the reader's refused attempts before it that went unlogged (rate limit).
    pub suppressed: u64,
}

/// Most lines one page of a list returns.
pub const MAX_PAGE: usize = 1000;

/// Which page of a list: at most `size` items (1..=[`MAX_PAGE`]), after the item `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub size: usize,
    /// The seq of the last item of the previous page.
    pub after: Option<u64>,
}

impl Default for Page {
    fn default() -> Page {
        Page {
            size: 100,
            after: None,
        }
    }
}

/// One page of a person's access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPage {
    pub lines: Vec<AccessLine>,
    /// Where the next page starts (`Page::after`); `None` on the last page.
    pub next: Option<u64>,
}

/// How many refused attempts at people's data an actor gets logged: a burst, then one per
/// `refill_ms`. A person's access log then grows by at most ~1 entry a second per reader
/// however hard a reader probes (it grew ~1,800 a second before), and a client that hits the
/// limit is told when to retry. Legitimate readers are refused rarely, so they never meet it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefusalLimit {
    pub burst: u32,
    pub refill_ms: u64,
}

impl Default for RefusalLimit {
    fn default() -> RefusalLimit {
        RefusalLimit {
            burst: 30,
            refill_ms: 1_000,
        }
    }
}
/// People tracked per limited actor for their suppressed counts; past it, attempts about further
/// people are still refused and limited, only not counted one by one.
const SUPPRESSED_PEOPLE: usize = 1024;

/// A token bucket per actor over refused attempts at a person's data, so no caller can flood a
/// person's access log (and the log) with refusals.
#[derive(Default)]
struct RefusalLimiter {
    /// The limit, and each refusing actor's bucket.
    buckets: Mutex<(RefusalLimit, std::collections::HashMap<String, Bucket>)>,
}

struct Bucket {
    /// Attempts left, in thousandths (refilled continuously).
    milli_tokens: u64,
    /// When `milli_tokens` was last refilled.
    at_ms: u64,
    /// Whether the current limited spell has logged its one `rate_limited` entry, per person,
    /// and how many refusals about them were not logged since.
    suppressed: BTreeMap<String, u64>,
}

/// What the limiter lets a refusal do.
enum Allowance {
    /// Log it; `suppressed` refusals about the same person went unlogged before it.
    Log { suppressed: u64 },
    /// Over the limit, the first time for this person in this spell: log one `rate_limited`
    /// entry, then refuse with a retry delay.
    LogLimited { retry_after_ms: u64 },
    /// Over the limit again: log nothing, refuse with a retry delay.
    Limited { retry_after_ms: u64 },
}

impl RefusalLimiter {
    fn take(&self, actor: &str, subject: &str, now_ms: u64) -> Allowance {
        let Ok(mut guard) = self.buckets.lock() else {
            return Allowance::Limited {
                retry_after_ms: 1_000,
            };
        };
        let (limit, buckets) = &mut *guard;
        let full = u64::from(limit.burst) * 1000;
        let refill_ms = limit.refill_ms.max(1);
        // Forget actors whose allowance is full again, so the map holds only recent refusers.
        if buckets.len() > 4096 {
            buckets.retain(|_, b| {
                b.milli_tokens + now_ms.saturating_sub(b.at_ms) * 1000 / refill_ms < full
                    || !b.suppressed.is_empty()
            });
        }
        let b = buckets.entry(actor.to_string()).or_insert(Bucket {
            milli_tokens: full,
            at_ms: now_ms,
            suppressed: BTreeMap::new(),
        });
        let refill = now_ms.saturating_sub(b.at_ms).saturating_mul(1000) / refill_ms;
        b.milli_tokens = (b.milli_tokens + refill).min(full);
        b.at_ms = b.at_ms.max(now_ms);
        if b.milli_tokens >= 1000 {
            b.milli_tokens -= 1000;
            let suppressed = b.suppressed.remove(subject).unwrap_or(0);
            return Allowance::Log { suppressed };
        }
        let retry_after_ms = (1000 - b.milli_tokens) * refill_ms / 1000 + 1;
        let tracked = b.suppressed.len();
        match b.suppressed.get_mut(subject) {
            Some(n) => {
                *n += 1;
                Allowance::Limited { retry_after_ms }
            }
            None if tracked < SUPPRESSED_PEOPLE => {
                // The `rate_limited` entry itself is logged; the ones after it are counted.
                b.suppressed.insert(subject.to_string(), 0);
                Allowance::LogLimited { retry_after_ms }
            }
            None => Allowance::Limited { retry_after_ms },
        }
    }
}

/// The projections, as decisions and reads see them.
struct State {
    p: Projections,
}

/// Views are saved once this many entries have been applied since the last save…
/// The records are copied out under the projections' write lock, which holds up applying new
/// entries, so a save should stay small: measured with grpc-bench when saves were one sled batch
/// of a key per record, 1024 gave a p99 of 16–20 ms and 256 gave 14–15 ms at the same throughput.
/// (Saves are now one chunked delta; 256 was kept.)
const SAVE_EVERY_ENTRIES: u64 = 256;
/// …or this long has passed, and always on close. They are a cache of the log: what a crash
/// loses is re-applied from the log on open, so saving per command would only multiply writes.
/// A background thread saves them: it copies the changed records under the lock (cheap) and
/// encodes and writes them outside it, so neither commands nor the applying of new entries
/// wait for a save.
const SAVE_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// Saving state, held by whoever is saving (the saver thread, `flush_views`).
struct Saves {
    /// Records changed before a save that failed, retried with the next one.
    unsaved: BTreeMap<Vec<u8>, Vec<u8>>,
    /// What the last save covered; shared with the service, which reads it (for metrics)
    /// without waiting for a save in progress. Written only under `saves`.
    saved_applied: Arc<std::sync::atomic::AtomicU64>,
}

/// The background saver: a wake-up channel and the thread, stopped on close or drop.
struct Saver {
    wake: std::sync::mpsc::SyncSender<Wake>,
    thread: std::thread::JoinHandle<()>,
}

/// Messages to the saver thread.
enum Wake {
    /// Many entries are unsaved: save now rather than at the next tick.
    Due,
    /// Save nothing more; the owner saves the rest itself.
    Stop,
}

/// The command service. Share it behind an `Arc`.
pub struct Service {
    /// Shared with the saver thread, which writes views through it.
    store: Arc<LogStore>,
    /// Shared with the store's committer (through [`Follower`]), which applies new entries.
    state: Arc<RwLock<State>>,
    /// Serialises `catch_up`, which reads entries from the store (on open, and as a check).
    applier: Mutex<()>,
    /// Entries applied so far, for callers waiting to see their own appends.
    applied: Arc<tokio::sync::watch::Sender<u64>>,
    /// Serialises saves of the views.
    saves: Arc<Mutex<Saves>>,
    /// What the last save of the views covered (`Saves::saved_applied`).
    saved_applied: Arc<std::sync::atomic::AtomicU64>,
    /// `None` once stopped (close, drop).
    saver: Option<Saver>,
    /// Decides "now" for rules that depend on time (expiries, review dates, flags).
    clock: Arc<dyn Clock>,
    /// Limits how many refused attempts each actor gets logged (see [`RefusalLimit`]).
    refusals: RefusalLimiter,
    /// The facts every subject access bundle states (`about`), from the server's configuration.
    about: RwLock<crate::sar::compose::About>,
    /// The retention periods (`withus serve --retention FILE`, or the NHS 2021 code's).
    retention: RwLock<retention::Policy>,
    /// The server's metrics, told of every refused read; unset outside a server.
    metrics: OnceLock<Arc<crate::metrics::Metrics>>,
    /// Verifies OpenID Connect tokens (`withus serve --oidc FILE`); `None`: bearer tokens only.
    oidc: RwLock<Option<Arc<crate::oidc::Verifier>>>,
    /// One-time sign-in codes not yet used, by their keyed digest: kept in memory only, so a
    /// restart voids every code not yet used (each is short-lived; its issue stays logged).
    signin_codes: Mutex<BTreeMap<Hash, PendingCode>>,
}

/// A sign-in code waiting to be used.
#[derive(Debug, Clone)]
struct PendingCode {
    person: String,
    expires_at: Time,
}

/// How long a one-time sign-in code is usable.
pub const SIGNIN_CODE_MS: u64 = 15 * 60 * 1000;

/// Most unused sign-in codes held at once; past it, the oldest-expiring are dropped first.
const MAX_PENDING_CODES: usize = 10_000;

/// The characters of a sign-in code: 32 of them (no 0/O, 1/I), 5 bits each.
const CODE_ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// Characters in a sign-in code (60 bits from the operating system's CSPRNG).
const CODE_CHARS: usize = 12;

/// A sign-in code as typed, in its one form: letters upper-cased, spaces and dashes dropped.
/// `None` if anything else is in it or its length is wrong.
fn normal_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == CODE_CHARS && code.bytes().all(|b| CODE_ALPHABET.contains(&b))).then_some(code)
}

/// What one run of the retention schedule erased: per person, the receipts of their
/// `retention.erased` entries and how many segments went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionRun {
    pub erased: Vec<(String, usize, Vec<Receipt>)>,
}

/// A request's `sar.fulfilled` entry and the proof that a checkpoint signed now holds it.
#[derive(Debug, Clone)]
pub struct Fulfilment {
    pub seq: u64,
    /// The entry's exact bytes.
    pub entry: Vec<u8>,
    /// Its inclusion proof in the tree of `checkpoint`.
    pub proof: Vec<Hash>,
    /// A signed checkpoint of the log when it was asked for.
    pub checkpoint: String,
}

fn not_fulfilled(sar_id: &str) -> ServiceError {
    Refusal::new(
        Code::FailedPrecondition,
        "sar.fulfilled",
        "sar_id",
        format!("{sar_id} is not fulfilled yet"),
    )
    .into()
}

/// Applies entries to the projections in log order: skips those already applied, stops at a
/// gap (`Service::catch_up` fills it from the store). Returns the new `applied`.
fn apply_in_order(p: &mut Projections, parsed: &[(u64, Option<Recorded>)]) -> u64 {
    for (seq, r) in parsed {
        if *seq < p.applied {
            continue;
        }
        if *seq > p.applied {
            break;
        }
        match r {
            Some(r) => p.apply(r),
            None => p.skip(*seq),
        }
    }
    p.applied
}

/// The store's [`CommitObserver`]: applies each durable group to the projections before the
/// store answers its appends, so a command's own entries are applied when its append returns
/// and nothing is read back from sled.
struct Follower {
    state: Arc<RwLock<State>>,
    applied: Arc<tokio::sync::watch::Sender<u64>>,
    /// `applied` when the saver was last woken early.
    woke_at: std::sync::atomic::AtomicU64,
    wake: std::sync::mpsc::SyncSender<Wake>,
}

impl CommitObserver for Follower {
    fn committed(&self, entries: &[StoredEntry]) {
        // Parse outside the lock; an entry that is not a domain event is skipped, as on replay.
        let parsed: Vec<(u64, Option<Recorded>)> = entries
            .iter()
            .map(|e| {
                let r = e.view().ok().and_then(|v| Recorded::from_entry(&v).ok());
                (e.seq, r)
            })
            .collect();
        let applied = match self.state.write() {
            Ok(mut st) => apply_in_order(&mut st.p, &parsed),
            Err(_) => return, // poisoned: every later call fails with `poisoned()` anyway
        };
        self.applied.send_if_modified(|a| {
            let grew = applied > *a;
            *a = (*a).max(applied);
            grew
        });
        let woke = self.woke_at.load(std::sync::atomic::Ordering::Relaxed);
        if applied.saturating_sub(woke) >= SAVE_EVERY_ENTRIES {
            self.woke_at
                .store(applied, std::sync::atomic::Ordering::Relaxed);
            // Full means a wake-up is already pending.
            let _ = self.wake.try_send(Wake::Due);
        }
    }
}

/// Saves the records changed since the last save, with their `applied` as the marker. The
/// records are copied under the write lock (so they are exactly as of the marker) and encoded
/// and written outside it.
fn save_views(state: &RwLock<State>, store: &LogStore, saves: &Mutex<Saves>) -> Result<()> {
    let mut sv = saves.lock().map_err(|_| poisoned())?;
    let mut part = state.write().map_err(|_| poisoned())?.p.split_dirty();
    let saved = sv.saved_applied.load(std::sync::atomic::Ordering::Relaxed);
    if part.applied == saved && part.dirty_len() == 0 && sv.unsaved.is_empty() {
        return Ok(());
    }
    let applied = part.applied;
    sv.unsaved.extend(part.take_dirty());
    let records: Vec<(Vec<u8>, Vec<u8>)> = std::mem::take(&mut sv.unsaved).into_iter().collect();
    match store.save_views(applied, VIEW_SCHEMA, records.iter().cloned()) {
        Ok(()) => {
            sv.saved_applied
                .store(applied, std::sync::atomic::Ordering::Relaxed);
            // Deltas grown well past the snapshot: fold them into a new one. Still under `saves`,
            // so no save runs meanwhile; a failure leaves the deltas, which load as well.
            if store.views_compaction_due().unwrap_or(false) {
                if let Err(e) = store.compact_views() {
                    tracing::warn!(error = %e, "compacting the views failed; will retry");
                }
            }
            Ok(())
        }
        Err(e) => {
            // The log is the truth and the projection in memory is current; keep the records
            // for the next save. A restart replays from the last saved marker.
            sv.unsaved.extend(records);
            Err(e.into())
        }
    }
}

/// The saver thread: saves at every tick of [`SAVE_EVERY`] and when woken early.
fn run_saver(
    state: Arc<RwLock<State>>,
    store: Arc<LogStore>,
    saves: Arc<Mutex<Saves>>,
    wake: std::sync::mpsc::Receiver<Wake>,
) {
    use std::sync::mpsc::RecvTimeoutError;
    loop {
        match wake.recv_timeout(SAVE_EVERY) {
            Ok(Wake::Due) | Err(RecvTimeoutError::Timeout) => {}
            Ok(Wake::Stop) | Err(RecvTimeoutError::Disconnected) => return,
        }
        if let Err(e) = save_views(&state, &store, &saves) {
            tracing::warn!(error = %e, "saving views failed; will retry");
        }
    }
}

fn poisoned() -> ServiceError {
    ServiceError::Store(StoreError::Failed("projection lock poisoned".into()))
}

/// Folds every entry of `store` from zero into fresh projections.
pub fn replay(store: &LogStore, upto: u64) -> Result<Projections> {
    let mut p = Projections::new();
    fold(store, &mut p, upto)?;
    Ok(p)
}

fn fold(store: &LogStore, p: &mut Projections, upto: u64) -> Result<()> {
    for e in store.entries(p.applied, upto) {
        let e = e?;
        let v = e.view()?;
        match Recorded::from_entry(&v) {
            Ok(r) => p.apply(&r),
            Err(_) => p.skip(e.seq),
        }
    }
    Ok(())
}

/// `withus rebuild`: replays the whole log into fresh projections and replaces the persisted
/// views with them. Returns what was applied and the digest of the views written.
pub fn rebuild_views(store: &LogStore) -> Result<(u64, [u8; 32])> {
    let replayed = replay(store, store.size())?;
    replace_views_with(store, replayed)
}

/// What `withus rebuild` found before replacing the views.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViewsFound {
    /// No views were persisted (or a rebuild was interrupted).
    Missing,
    /// Views of another schema (an older or newer withus).
    OtherSchema(u32),
    /// Persisted records that could not be read back.
    Unreadable(String),
    /// Views loaded and brought up to the end of the log incrementally; `first_difference` is
    /// the key of the first record (in key order) where they and the replay from zero are not
    /// byte for byte alike, `None` when every record is.
    Loaded {
        saved_applied: u64,
        first_difference: Option<String>,
    },
}

/// The outcome of [`rebuild_views_checked`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    /// Entries replayed.
    pub applied: u64,
    /// Digest of the views written (see [`LogStore::views_digest`]).
    pub digest: [u8; 32],
    pub found: ViewsFound,
}

/// Rebuilds the views from zero, first comparing them with the persisted views caught up
/// incrementally — the check that rule 1 holds for the projections as they were maintained.
pub fn rebuild_views_checked(store: &LogStore) -> Result<RebuildReport> {
    let size = store.size();
    let full = replay(store, size)?;
    // At most two projections are alive at once (the replay and the persisted views caught
    // up), and never their whole encodings beside them: the caught-up views are dropped at the
    // end of this match, and the replay is encoded only once they are gone.
    let found = match store.load_views()? {
        None => ViewsFound::Missing,
        Some(v) if v.schema != VIEW_SCHEMA => ViewsFound::OtherSchema(v.schema),
        Some(v) => match Projections::load(v.applied, v.records) {
            Err(e) => ViewsFound::Unreadable(e.to_string()),
            Ok(mut caught_up) => {
                fold(store, &mut caught_up, size)?;
                ViewsFound::Loaded {
                    saved_applied: v.applied,
                    first_difference: caught_up
                        .first_difference(&full)
                        .map(|key| String::from_utf8_lossy(&key).into_owned()),
                }
            }
        },
    };
    let (applied, digest) = replace_views_with(store, full)?;
    Ok(RebuildReport {
        applied,
        digest,
        found,
    })
}

/// Replaces the persisted views with `replayed`, encoded and then dropped before the write, so
/// the write holds the records' bytes and not the projections beside them.
fn replace_views_with(store: &LogStore, replayed: Projections) -> Result<(u64, [u8; 32])> {
    let applied = replayed.applied;
    let records = replayed.encode_all();
    drop(replayed);
    store.replace_views(applied, VIEW_SCHEMA, records)?;
    Ok(store
        .views_digest()?
        .ok_or_else(|| StoreError::Failed("views vanished after a rebuild".into()))?)
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop_saver();
    }
}

impl Service {
    /// Opens the store and brings the projections up to date: loads the persisted views and
    /// applies what the log holds beyond them, or rebuilds them from zero if they are missing,
    /// of another schema or unreadable. Then follows the log as it commits (see [`Follower`])
    /// and starts the thread that saves views.
    pub fn open(config: StoreConfig) -> Result<Service> {
        let clock = config.clock.clone();
        // Each phase of an open is timed into one log line, so an operator (and scale-bench)
        // sees which part grows with the log.
        let started = std::time::Instant::now();
        let store = Arc::new(LogStore::open(config)?);
        let store_opened = started.elapsed();
        let persisted = store.load_views()?;
        let views_read = started.elapsed();
        let loaded = match persisted {
            Some(v) if v.schema == VIEW_SCHEMA => match Projections::load(v.applied, v.records) {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::warn!(error = %e, "persisted views unreadable; rebuilding from the log");
                    None
                }
            },
            Some(v) => {
                tracing::info!(
                    found = v.schema,
                    want = VIEW_SCHEMA,
                    "view schema changed; rebuilding from the log"
                );
                None
            }
            None => None,
        };
        let p = match loaded {
            Some(p) => p,
            None => {
                let (applied, _) = rebuild_views(&store)?;
                tracing::info!(applied, "views rebuilt from the log");
                let v = store
                    .load_views()?
                    .ok_or_else(|| StoreError::Failed("views vanished after a rebuild".into()))?;
                Projections::load(v.applied, v.records)
                    .map_err(|e| StoreError::Failed(e.to_string()))?
            }
        };
        let views_decoded = started.elapsed();
        let loaded_applied = p.applied;
        let state = Arc::new(RwLock::new(State { p }));
        let applied = Arc::new(tokio::sync::watch::Sender::new(loaded_applied));
        let saved_applied = Arc::new(std::sync::atomic::AtomicU64::new(loaded_applied));
        let saves = Arc::new(Mutex::new(Saves {
            unsaved: BTreeMap::new(),
            saved_applied: Arc::clone(&saved_applied),
        }));
        let (wake, woken) = std::sync::mpsc::sync_channel(1);
        store.observe(Arc::new(Follower {
            state: Arc::clone(&state),
            applied: Arc::clone(&applied),
            woke_at: std::sync::atomic::AtomicU64::new(loaded_applied),
            wake: wake.clone(),
        }))?;
        let thread = {
            let (state, store, saves) =
                (Arc::clone(&state), Arc::clone(&store), Arc::clone(&saves));
            std::thread::Builder::new()
                .name("withus-views-saver".into())
                .spawn(move || run_saver(state, store, saves, woken))
                .map_err(|e| StoreError::Engine(format!("cannot start the views saver: {e}")))?
        };
        let service = Service {
            store,
            state,
            applier: Mutex::new(()),
            applied,
            saves,
            saved_applied,
            saver: Some(Saver { wake, thread }),
            clock,
            refusals: RefusalLimiter::default(),
            about: RwLock::new(crate::sar::compose::About::default()),
            retention: RwLock::new(retention::Policy::default()),
            metrics: OnceLock::new(),
            oidc: RwLock::new(None),
            signin_codes: Mutex::new(BTreeMap::new()),
        };
        service.catch_up()?;
        tracing::info!(
            entries = service.store.size(),
            caught_up = service.store.size().saturating_sub(loaded_applied),
            store_open_ms = store_opened.as_millis() as u64,
            views_read_ms = (views_read - store_opened).as_millis() as u64,
            views_decoded_ms = (views_decoded - views_read).as_millis() as u64,
            catch_up_ms = (started.elapsed() - views_decoded).as_millis() as u64,
            "store opened"
        );
        Ok(service)
    }

    /// Sets the facts bundles state about the controller, purposes, retention, source, rights.
    pub fn set_about(&self, about: crate::sar::compose::About) {
        if let Ok(mut g) = self.about.write() {
            *g = about;
        }
    }

    /// Counts refused reads in `metrics` from now on (set once; later calls are ignored).
    pub fn set_metrics(&self, metrics: Arc<crate::metrics::Metrics>) {
        let _ = self.metrics.set(metrics);
    }

    /// The store's gauges for a metrics scrape: log size, disk use, how far the views are
    /// behind the log and how much of them is unsaved.
    pub fn store_sample(&self) -> crate::metrics::StoreSample {
        let log_entries = self.store.size();
        let applied = *self.applied.borrow();
        let saved = self
            .saved_applied
            .load(std::sync::atomic::Ordering::Relaxed);
        crate::metrics::StoreSample {
            log_entries,
            disk_bytes: self.store.disk_bytes().unwrap_or(0),
            views_lag_entries: log_entries.saturating_sub(applied),
            views_unsaved_entries: applied.saturating_sub(saved),
            failed: self.store.failure().is_some(),
        }
    }

    /// Accepts OpenID Connect tokens verified by `verifier` beside bearer tokens (`None`: only
    /// bearer tokens).
    pub fn set_oidc(&self, verifier: Option<crate::oidc::Verifier>) {
        if let Ok(mut g) = self.oidc.write() {
            *g = verifier.map(Arc::new);
        }
    }

    /// Sets the retention periods the schedule and the plan use.
    pub fn set_retention(&self, policy: retention::Policy) {
        if let Ok(mut g) = self.retention.write() {
            *g = policy;
        }
    }

    /// The retention periods in use.
    pub fn retention_policy(&self) -> Result<retention::Policy> {
        Ok(*self.retention.read().map_err(|_| poisoned())?)
    }

    /// The DPO's retention plan as of `at` (default now): per person, what would be erased and
    /// when, or why not. For auditors and admins; it names no content.
    pub fn retention_plan(
        &self,
        caller: &str,
        at: Option<Time>,
    ) -> Result<Vec<retention::PlanEntry>> {
        let policy = self.retention_policy()?;
        let st = self.state.read().map_err(|_| poisoned())?;
        let reader = caller_of(&st.p, caller)?;
        access::decide_audit(&reader, AuditRead::RetentionPlan)?;
        Ok(retention::plan(
            &st.p,
            &policy,
            at.unwrap_or_else(|| self.now()),
        ))
    }

    /// Runs the retention schedule now, on an admin's request (the server also runs it daily).
    pub async fn run_retention_as(&self, caller: &str) -> Result<RetentionRun> {
        {
            let st = self.state.read().map_err(|_| poisoned())?;
            retention::may_run(&caller_of(&st.p, caller)?)?;
        }
        self.run_retention().await
    }

    /// Erases, as the system actor `withus-retention`, the content of every record whose
    /// retention period has ended by now and that no legal hold keeps: one append per person,
    /// erasing in the same durable step as its `retention.erased` entries.
    pub async fn run_retention(&self) -> Result<RetentionRun> {
        let policy = self.retention_policy()?;
        let due: Vec<String> = {
            let st = self.state.read().map_err(|_| poisoned())?;
            retention::run(&st.p, &policy, self.now())
                .into_iter()
                .map(|(s, _)| s)
                .collect()
        };
        let mut out = RetentionRun { erased: Vec::new() };
        for subject in due {
            if let Some((n, r)) = self.erase_under_retention(&policy, &subject).await? {
                tracing::info!(subject = %subject, segments = n, "erased under the retention period");
                out.erased.push((subject, n, r));
            }
        }
        Ok(out)
    }

    /// One person's erasure, decided again on a conflict; `None` if it is no longer due.
    async fn erase_under_retention(
        &self,
        policy: &retention::Policy,
        subject: &str,
    ) -> Result<Option<(usize, Vec<Receipt>)>> {
        let actor = Actor {
            id: retention::RETENTION_ACTOR.to_string(),
            role: retention::RETENTION_ROLE.to_string(),
        };
        for _ in 0..MAX_ATTEMPTS {
            let (batch, n) = {
                let st = self.state.read().map_err(|_| poisoned())?;
                let Ok(d) = retention::erase_due(&st.p, policy, subject, self.now()) else {
                    return Ok(None);
                };
                let n = d.erase.len();
                (
                    build(&st.p, &actor, &Call::default(), d, Vec::new(), None),
                    n,
                )
            };
            match self.store.append(batch).await {
                Ok(r) => return Ok(Some((n, r))),
                Err(StoreError::Conflict { stream, actual, .. }) => {
                    self.await_stream(&stream, actual).await?;
                }
                Err(StoreError::Late { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(contended(&format!("{subject}'s record")))
    }

    /// Sets how many refused attempts each actor gets logged (default [`RefusalLimit::default`]).
    pub fn set_refusal_limit(&self, limit: RefusalLimit) {
        if let Ok(mut g) = self.refusals.buckets.lock() {
            g.0 = limit;
        }
    }

    /// The log store underneath (proofs, checkpoints, export).
    pub fn store(&self) -> &LogStore {
        &self.store
    }

    /// Closes the store after the last append is durable and the views are saved.
    pub fn close(mut self) -> Result<()> {
        self.stop_saver();
        self.flush_views()?;
        let store = Arc::clone(&self.store);
        drop(self);
        match Arc::try_unwrap(store) {
            Ok(store) => store.close()?,
            // Unreachable: only the saver thread shared it, and it has stopped.
            Err(_) => return Err(StoreError::Failed("the store is still in use".into()).into()),
        }
        Ok(())
    }

    fn stop_saver(&mut self) {
        if let Some(s) = self.saver.take() {
            let _ = s.wake.send(Wake::Stop);
            let _ = s.thread.join();
        }
    }

    /// Now, by the service's clock (the one that stamps entries).
    pub fn now(&self) -> Time {
        Time(self.clock.now_millis())
    }

    /// Applies every committed entry not yet applied, reading them from the store: on open,
    /// before the follower has seen anything. After open the follower applies each group before
    /// the store counts or answers it (invariant 14), so calls and reads need not wait for
    /// anything; tests and tools call this (through `projections`, `flush_views`) as a check.
    pub fn catch_up(&self) -> Result<()> {
        let size = self.store.size();
        if self.state.read().map_err(|_| poisoned())?.p.applied >= size {
            return Ok(());
        }
        let _a = self.applier.lock().map_err(|_| poisoned())?;
        self.apply_from_store()
    }

    /// Applies what is left and saves the views now (close, tests, tools).
    pub fn flush_views(&self) -> Result<()> {
        self.catch_up()?;
        save_views(&self.state, &self.store, &self.saves)?;
        let sv = self.saves.lock().map_err(|_| poisoned())?;
        if !sv.unsaved.is_empty() {
            return Err(StoreError::Failed("views could not be saved".into()).into());
        }
        Ok(())
    }

    /// After an append lost a race on `stream` (the writer had it at `version`), waits until the
    /// entries that won are applied, so the next decision sees them instead of losing to them
    /// again. They may still be on their way to disk when the loser hears of them. Bounded: an
    /// entry that does not advance the projection's version (skipped) ends the wait by timeout.
    async fn await_stream(&self, stream: &str, version: u64) -> Result<()> {
        let mut rx = self.applied.subscribe();
        let caught_up = async {
            loop {
                let seen = self
                    .state
                    .read()
                    .map_err(|_| poisoned())?
                    .p
                    .stream_version(stream);
                if seen >= version {
                    return Ok(());
                }
                if rx.changed().await.is_err() {
                    return Ok(());
                }
            }
        };
        match tokio::time::timeout(std::time::Duration::from_millis(250), caught_up).await {
            Ok(r) => r,
            Err(_) => Ok(()),
        }
    }

    /// `catch_up`'s work (the caller holds `applier`): reads and parses committed entries not yet
    /// applied without holding the state lock, then applies them in order under it.
    fn apply_from_store(&self) -> Result<()> {
        let from = self.state.read().map_err(|_| poisoned())?.p.applied;
        let size = self.store.size();
        if from >= size {
            return Ok(());
        }
        let mut parsed = Vec::new();
        for e in self.store.entries(from, size) {
            let e = e?;
            let v = e.view()?;
            parsed.push((e.seq, Recorded::from_entry(&v).ok()));
        }
        let applied = {
            let mut st = self.state.write().map_err(|_| poisoned())?;
            apply_in_order(&mut st.p, &parsed)
        };
        self.applied.send_if_modified(|a| {
            let grew = applied > *a;
            *a = (*a).max(applied);
            grew
        });
        Ok(())
    }

    /// A consistent snapshot of the projections (for tests, tools and metadata reads).
    pub fn projections(&self) -> Result<Projections> {
        self.catch_up()?;
        Ok(self.state.read().map_err(|_| poisoned())?.p.clone())
    }

    /// Registers the first admin of an empty system. `Ok(None)` if actors already exist.
    pub async fn bootstrap_admin(&self, id: &str, display: &str) -> Result<Option<Vec<Receipt>>> {
        if !self
            .state
            .read()
            .map_err(|_| poisoned())?
            .p
            .actors
            .is_empty()
        {
            return Ok(None);
        }
        let mut sealer = Sealer::new()?;
        let d = {
            let st = self.state.read().map_err(|_| poisoned())?;
            domain::decide_bootstrap(&st.p, id, &Passage::new("display", display), &mut sealer)?
        };
        let contents = sealer.seal(&d);
        let actor = Actor {
            id: id.to_string(),
            role: Role::Admin.as_str().to_string(),
        };
        let batch = {
            let st = self.state.read().map_err(|_| poisoned())?;
            build(&st.p, &actor, &Call::default(), d, contents, None)
        };
        let r = self.store.append(batch).await?;
        Ok(Some(r))
    }

    /// Resolves a bearer token to its actor: refused if unknown, revoked, expired or the actor
    /// was deactivated.
    ///
    /// No catch-up first: every acknowledged call (an issued or revoked token, a deactivation)
    /// is applied before it answers, so the projections already know about it.
    ///
    /// A credential with dots is an OpenID Connect JWT: verified by the configured issuer's keys
    /// at the service's clock, then mapped to an actor only through a linked identity.
    pub async fn authenticate(&self, token: &str) -> Result<ActorRec> {
        if crate::oidc::looks_like_jwt(token) {
            return self.authenticate_jwt(token);
        }
        let hash = format::to_hex(&token_hash(token));
        let st = self.state.read().map_err(|_| poisoned())?;
        let bad = |why: &str| ServiceError::Unauthenticated(why.to_string());
        let t = st.p.tokens.get(&hash).ok_or_else(|| bad("unknown token"))?;
        if t.revoked_at.is_some() {
            return Err(bad("the token was revoked; ask an admin for a new one"));
        }
        if t.expires_at.is_some_and(|e| self.now() >= e) {
            return Err(bad("the token has expired; ask an admin for a new one"));
        }
        let a =
            st.p.actors
                .get(&t.actor)
                .ok_or_else(|| bad("the token's actor is unknown"))?;
        if !a.active {
            return Err(bad("the token's actor has been deactivated"));
        }
        Ok(a.clone())
    }

    fn authenticate_jwt(&self, token: &str) -> Result<ActorRec> {
        let bad = |why: &str| ServiceError::Unauthenticated(why.to_string());
        let verifier = self.oidc.read().map_err(|_| poisoned())?.clone().ok_or_else(|| {
            bad("this server accepts no OpenID Connect tokens (it was started without --oidc); send a withus bearer token")
        })?;
        let identity = verifier
            .verify(token, self.now().0 / 1000)
            .map_err(|r| ServiceError::Unauthenticated(r.to_string()))?;
        let digest = format::to_hex(
            &self
                .store
                .identity_digest(&identity.issuer, &identity.subject),
        );
        let st = self.state.read().map_err(|_| poisoned())?;
        let unlinked = "no actor is linked to this identity; ask an admin to link it";
        let link =
            st.p.identities
                .get(&digest)
                .filter(|l| l.linked())
                .ok_or_else(|| bad(unlinked))?;
        let a = st.p.actors.get(&link.actor).ok_or_else(|| bad(unlinked))?;
        if !a.active {
            return Err(bad("the identity's actor has been deactivated"));
        }
        Ok(a.clone())
    }

    /// Links the sign-in identity `subject` at `issuer` to `actor` (`identity.linked`): the log
    /// holds only the store's keyed digest of the two ([`LogStore::identity_digest`]).
    pub async fn link_identity(
        &self,
        caller: &str,
        call: Call,
        actor: &str,
        issuer: &str,
        subject: &str,
    ) -> Result<Vec<Receipt>> {
        // Permission first: a caller who may not link learns nothing of the subject's form.
        let probe = Command::LinkIdentity {
            actor: actor.to_string(),
            issuer: issuer.to_string(),
            identity: [0; 32],
        };
        if let Err(e) = self.decide_batch(caller, &Call::default(), &probe) {
            if e.refuses_caller() {
                return Err(e);
            }
        }
        crate::oidc::check_subject(subject)
            .map_err(|m| Refusal::new(Code::InvalidArgument, "identity.subject", "subject", m))?;
        let identity = self.store.identity_digest(issuer, subject);
        self.execute(
            caller,
            call,
            Command::LinkIdentity {
                actor: actor.to_string(),
                issuer: issuer.to_string(),
                identity,
            },
        )
        .await
    }

    /// Issues a new bearer token for `actor`: 256 random bits, returned once; only its BLAKE3
    /// hash is recorded. A retried command id cannot return the token again (it is not stored):
    /// it is refused, and the caller should revoke that token and issue another.
    pub async fn issue_token(
        &self,
        caller: &str,
        call: Call,
        actor: &str,
        expires_at: Option<Time>,
    ) -> Result<(String, Vec<Receipt>)> {
        // Permission first: a caller who may not issue this token learns nothing of command ids.
        let probe = Command::IssueToken {
            actor: actor.to_string(),
            token_hash: [0; 32],
            expires_at,
        };
        if let Err(e) = self.decide_batch(caller, &Call::default(), &probe) {
            if e.refuses_caller() {
                return Err(e);
            }
        }
        if let Some(id) = &call.command_id {
            if self.store.command_receipts(caller, id, None)?.is_some() {
                return Err(Refusal::new(
                    Code::AlreadyExists,
                    "token.shown_once",
                    "command_id",
                    "a token was already issued under this command id and is shown only once; revoke it and issue a new one with a new command id",
                )
                .into());
            }
        }
        let mut raw = [0u8; 32];
        getrandom::getrandom(&mut raw)
            .map_err(|e| StoreError::Engine(format!("no randomness for a token: {e}")))?;
        let token = hex::encode(raw);
        let token_hash = token_hash(&token);
        let receipts = self
            .execute(
                caller,
                call,
                Command::IssueToken {
                    actor: actor.to_string(),
                    token_hash,
                    expires_at,
                },
            )
            .await?;
        Ok((token, receipts))
    }

    /// The store's keyed digest of a sign-in code (in its normal form): all the log keeps of it.
    fn code_digest(&self, code: &str) -> Hash {
        self.store.identity_digest("withus:signin-code", code)
    }

    /// Issues a one-time code with which the person `person` signs in to their own page
    /// (`withus serve --http`), usable once within [`SIGNIN_CODE_MS`]: an admin, or the person's
    /// peer worker, may (the domain decides, `signin.code_issued` records who). Returned once, as
    /// `XXXX-XXXX-XXXX`, with its expiry; only a keyed digest is logged. Like a token, a retried
    /// command id is refused: the code cannot be shown again.
    pub async fn issue_signin_code(
        &self,
        caller: &str,
        call: Call,
        person: &str,
    ) -> Result<(String, Time, Vec<Receipt>)> {
        let expires_at = self.now().plus(SIGNIN_CODE_MS);
        let probe = Command::IssueSignInCode {
            actor: person.to_string(),
            code_digest: [0; 32],
            expires_at,
        };
        if let Err(e) = self.decide_batch(caller, &Call::default(), &probe) {
            if e.refuses_caller() {
                return Err(e);
            }
        }
        if let Some(id) = &call.command_id {
            if self.store.command_receipts(caller, id, None)?.is_some() {
                return Err(Refusal::new(
                    Code::AlreadyExists,
                    "signin_code.shown_once",
                    "command_id",
                    "a sign-in code was already issued under this command id and is shown only once; issue a new one with a new command id",
                )
                .into());
            }
        }
        let mut raw = [0u8; CODE_CHARS];
        getrandom::getrandom(&mut raw)
            .map_err(|e| StoreError::Engine(format!("no randomness for a sign-in code: {e}")))?;
        let code: String = raw
            .iter()
            .map(|b| char::from(CODE_ALPHABET[usize::from(b & 31)]))
            .collect();
        let digest = self.code_digest(&code);
        let receipts = self
            .execute(
                caller,
                call,
                Command::IssueSignInCode {
                    actor: person.to_string(),
                    code_digest: digest,
                    expires_at,
                },
            )
            .await?;
        {
            let now = self.now();
            let mut codes = self.signin_codes.lock().map_err(|_| poisoned())?;
            codes.retain(|_, c| c.expires_at > now);
            while codes.len() >= MAX_PENDING_CODES {
                let first = codes
                    .iter()
                    .min_by_key(|(_, c)| c.expires_at)
                    .map(|(d, _)| *d);
                match first {
                    Some(d) => codes.remove(&d),
                    None => break,
                };
            }
            codes.insert(
                digest,
                PendingCode {
                    person: person.to_string(),
                    expires_at,
                },
            );
        }
        let shown = format!("{}-{}-{}", &code[..4], &code[4..8], &code[8..]);
        Ok((shown, expires_at, receipts))
    }

    /// Signs a person in to their own page with a one-time code or an OpenID Connect ID token,
    /// answering the person it speaks for. A code is used up by the attempt that finds it,
    /// whatever follows; an unknown, used or expired code gets one answer. Only a person has a
    /// page of their own ([`access::decide_own_bundle`]).
    pub fn sign_in_person(&self, credential: PageCredential<'_>) -> Result<ActorRec> {
        let bad = |why: &str| ServiceError::Unauthenticated(why.to_string());
        let actor = match credential {
            PageCredential::Code(typed) => {
                let refused = "this code does not work: it may be mistyped, used already or \
                               more than 15 minutes old; ask for a new one";
                let code = normal_code(typed).ok_or_else(|| bad(refused))?;
                let digest = self.code_digest(&code);
                let pending = self
                    .signin_codes
                    .lock()
                    .map_err(|_| poisoned())?
                    .remove(&digest)
                    .ok_or_else(|| bad(refused))?;
                if self.now() >= pending.expires_at {
                    return Err(bad(refused));
                }
                let st = self.state.read().map_err(|_| poisoned())?;
                caller_of(&st.p, &pending.person)?
            }
            PageCredential::IdToken(token) => {
                if !crate::oidc::looks_like_jwt(token.trim()) {
                    return Err(bad(
                        "this is not an ID token (three parts separated by dots)",
                    ));
                }
                self.authenticate_jwt(token.trim())?
            }
        };
        access::decide_own_bundle(&actor)?;
        Ok(actor)
    }

    /// Decides `cmd` against the current projections and builds its append, with the stream it
    /// is primarily about (what `expected_version` refers to).
    fn decide_batch(
        &self,
        caller: &str,
        call: &Call,
        cmd: &Command,
    ) -> Result<(AppendBatch, String)> {
        let now = self.now();
        let mut sealer = Sealer::new()?;
        let st = self.state.read().map_err(|_| poisoned())?;
        let actor = caller_of(&st.p, caller)?;
        let d = domain::decide(&st.p, &actor, cmd, now, &mut sealer)?;
        let contents = sealer.seal(&d);
        let primary = d
            .events
            .first()
            .map(|e| e.stream.clone())
            .unwrap_or_default();
        if let Some(want) = call.expected_version {
            let actual = st.p.stream_version(&primary);
            if want != actual {
                return Err(ServiceError::Conflict {
                    stream: primary,
                    expected: want,
                    actual,
                });
            }
        }
        let who = Actor {
            id: actor.id.clone(),
            role: actor.role.as_str().to_string(),
        };
        Ok((build(&st.p, &who, call, d, contents, None), primary))
    }

    /// Checks `cmd` by `caller` against the projections, appends what it decides, applies it.
    ///
    /// Idempotency: a repeated `command_id` returns the first call's receipts. The store's
    /// writer answers repeats of commands it has sequenced, so the lookup here is needed only
    /// when the repeat is refused by the state the first call created (e.g. "already exists"):
    /// it is made on that path, off the common one.
    pub async fn execute(&self, caller: &str, call: Call, cmd: Command) -> Result<Vec<Receipt>> {
        if let Some(id) = &call.command_id {
            if !is_id(id) {
                return Err(Refusal::new(
                    Code::InvalidArgument,
                    "identifier",
                    "command_id",
                    ID_RULE,
                )
                .into());
            }
        }
        let mut last: Option<ServiceError> = None;
        for _ in 0..MAX_ATTEMPTS {
            let decided = self.decide_batch(caller, &call, &cmd);
            let (batch, primary) = match decided {
                Ok(b) => b,
                Err(e) => {
                    // A repeat refused by the state its first run created ("already exists") is
                    // answered with the first run's receipts — but never to a caller the call
                    // itself is refused to, and only for the same request.
                    if let (Some(id), false) = (&call.command_id, e.refuses_caller()) {
                        if let Some(r) =
                            self.store
                                .command_receipts(caller, id, call.request_digest.as_ref())?
                        {
                            return Ok(r);
                        }
                    }
                    return Err(e);
                }
            };
            match self.store.append(batch).await {
                Ok(r) => {
                    return Ok(r);
                }
                Err(StoreError::Conflict {
                    stream,
                    expected,
                    actual,
                }) => {
                    if call.expected_version.is_some() && stream == primary {
                        return Err(ServiceError::Conflict {
                            stream,
                            expected,
                            actual,
                        });
                    }
                    // Lost a race: decide again once the entries that won it are applied.
                    self.await_stream(&stream, actual).await?;
                    last = Some(ServiceError::Conflict {
                        stream,
                        expected,
                        actual,
                    });
                }
                Err(StoreError::Late { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(match last {
            Some(ServiceError::Conflict { stream, .. }) => {
                contended(&format!("stream {stream} this command depends on"))
            }
            _ => contended("the streams this command depends on"),
        })
    }

    /// Reads `subject`'s record as `caller` may see it, now or as of an earlier point. Anyone but
    /// the person is logged (`record.accessed`) before any content is returned; a refusal is
    /// logged (`access.denied`) and returned as [`ServiceError::AccessDenied`].
    pub async fn read_record(
        &self,
        caller: &str,
        subject: &str,
        as_of: Option<AsOf>,
    ) -> Result<RecordRead> {
        self.read_record_window(caller, subject, as_of, RecordWindow::ALL)
            .await
    }

    /// One window of a person's record ([`Service::read_record`] for some of its items): only
    /// the window's items are logged as read and have their text resolved.
    pub async fn read_record_window(
        &self,
        caller: &str,
        subject: &str,
        as_of: Option<AsOf>,
        window: RecordWindow,
    ) -> Result<RecordRead> {
        if !is_id(subject) {
            return Err(
                Refusal::new(Code::InvalidArgument, "identifier", "subject", ID_RULE).into(),
            );
        }
        let upto = match as_of {
            None => None,
            Some(a) => Some(self.resolve_as_of(a)?),
        };
        for _ in 0..MAX_ATTEMPTS {
            let now = self.now();
            let (decision, reader, versions) = {
                let st = self.state.read().map_err(|_| poisoned())?;
                let reader = caller_of(&st.p, caller)?;
                // Whether the person exists is not asked here: a reader without a basis gets the
                // same logged refusal either way, and nobody has a basis for someone unknown.
                let d = access::decide_read(&st.p, &reader, subject, now);
                let depends = match &d {
                    ReadDecision::Allowed { depends, .. }
                    | ReadDecision::Denied { depends, .. } => depends.clone(),
                    ReadDecision::Own => Vec::new(),
                };
                let mut versions: Vec<(String, u64)> = depends
                    .into_iter()
                    .map(|s| {
                        let v = st.p.stream_version(&s);
                        (s, v)
                    })
                    .collect();
                let actor_stream = Stream::actor(&reader.id).name();
                versions.push((actor_stream.clone(), st.p.stream_version(&actor_stream)));
                (d, reader, versions)
            };
            let who = Actor {
                id: reader.id.clone(),
                role: reader.role.as_str().to_string(),
            };
            match decision {
                ReadDecision::Own => {
                    let composed = self.compose(subject, Some(&Scope::Own), upto)?;
                    let (mut view, more) = composed.window(window);
                    self.resolve_text(&mut view)?;
                    return Ok(RecordRead {
                        view,
                        receipts: Vec::new(),
                        basis: None,
                        more,
                    });
                }
                ReadDecision::Denied { reason, .. } => {
                    let what = match upto {
                        None => "record".to_string(),
                        Some(n) => format!("record@{n}"),
                    };
                    return Err(self.refuse_read(&reader, subject, what, reason).await);
                }
                ReadDecision::Allowed {
                    basis,
                    scope,
                    deadline,
                    ..
                } => {
                    let composed = self.compose(subject, Some(&scope), upto)?;
                    let (mut view, more) = composed.window(window);
                    // One entry per STREAMS_PER_ACCESS streams read, all in one atomic append, so a
                    // long record stays within an entry's size limit and every stream is named.
                    let streams = view.streams();
                    let events = if streams.is_empty() {
                        vec![Event::RecordAccessed(RecordAccessed {
                            streams,
                            basis: basis.clone(),
                        })]
                    } else {
                        streams
                            .chunks(STREAMS_PER_ACCESS)
                            .map(|c| {
                                Event::RecordAccessed(RecordAccessed {
                                    streams: c.to_vec(),
                                    basis: basis.clone(),
                                })
                            })
                            .collect()
                    };
                    let batch =
                        access_batch(subject, true, &who, versions, deadline.map(|t| t.0), events);
                    match self.store.append(batch).await {
                        Ok(receipts) => {
                            // Logged and durable: only now does content leave the store.
                            self.resolve_text(&mut view)?;
                            return Ok(RecordRead {
                                view,
                                receipts,
                                basis: Some(basis),
                                more,
                            });
                        }
                        Err(StoreError::Conflict { stream, actual, .. }) => {
                            self.await_stream(&stream, actual).await?;
                            continue;
                        }
                        Err(StoreError::Late { .. }) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        Err(contended(&format!(
            "the consent, support or concern streams {subject}'s record access depends on"
        )))
    }

    /// The metadata of a person's record (no text, ever): for auditors.
    pub fn record_metadata(&self, caller: &str, subject: &str) -> Result<RecordView> {
        let st = self.state.read().map_err(|_| poisoned())?;
        let reader = caller_of(&st.p, caller)?;
        access::decide_audit(&reader, AuditRead::RecordMetadata)?;
        Ok(view::record(&st.p, subject, None))
    }

    /// A page of a person's access log: who read their content, on what basis, and who was
    /// refused, oldest first, from after `page.after` (a seq). For the person and for auditors (it
    /// holds no content); anyone else is refused, and the refusal logged, whether or not the
    /// person exists.
    pub async fn access_log(&self, caller: &str, subject: &str, page: Page) -> Result<AccessPage> {
        if !is_id(subject) {
            return Err(
                Refusal::new(Code::InvalidArgument, "identifier", "subject", ID_RULE).into(),
            );
        }
        let reader = {
            let st = self.state.read().map_err(|_| poisoned())?;
            caller_of(&st.p, caller)?
        };
        if let Err(reason) = access::decide_access_log(&reader, subject) {
            return Err(self
                .refuse_read(&reader, subject, "access_log".to_string(), reason)
                .await);
        }
        let seqs = self.store.stream_seqs(&Stream::access(subject).name())?;
        let from = page
            .after
            .map_or(0, |after| seqs.partition_point(|&q| q <= after));
        let size = page.size.clamp(1, MAX_PAGE);
        let mut lines = Vec::new();
        for &seq in seqs.iter().skip(from).take(size) {
            let e = self
                .store
                .entry(seq)?
                .ok_or_else(|| StoreError::corrupt(seq, "indexed entry missing from the log"))?;
            let v = e.view()?;
            let Ok(r) = Recorded::from_entry(&v) else {
                continue;
            };
            let (basis_or_reason, streams) = match &r.event {
                Event::RecordAccessed(a) => (a.basis.clone(), a.streams.clone()),
                Event::AccessDenied(d) => (d.reason.as_str().to_string(), vec![d.what.clone()]),
                _ => continue,
            };
            lines.push(AccessLine {
                seq: r.seq,
                at: r.at,
                reader: r.actor_id,
                reader_role: r.actor_role,
                event_type: r.event.event_type().to_string(),
                basis_or_reason,
                streams,
                suppressed: match &r.event {
                    Event::AccessDenied(d) => d.suppressed.unwrap_or(0),
                    _ => 0,
                },
            });
        }
        let next = (from + size < seqs.len())
            .then(|| seqs.get(from + size - 1).copied())
            .flatten();
        Ok(AccessPage { lines, next })
    }

    /// A page of the registered actors in id order after `after` (admins and auditors), and
    /// whether more follow.
    pub fn list_actors(
        &self,
        caller: &str,
        after: Option<&str>,
        size: usize,
    ) -> Result<(Vec<view::ActorSummary>, bool)> {
        let st = self.state.read().map_err(|_| poisoned())?;
        let reader = caller_of(&st.p, caller)?;
        access::decide_audit(&reader, AuditRead::ListActors)?;
        Ok(view::actors(&st.p, after, size, self.now()))
    }

    /// Rule 8's compliance flags now: for auditors.
    pub fn compliance_flags(&self, caller: &str) -> Result<Vec<Flag>> {
        let st = self.state.read().map_err(|_| poisoned())?;
        let reader = caller_of(&st.p, caller)?;
        access::decide_audit(&reader, AuditRead::ComplianceFlags)?;
        Ok(view::compliance_flags(&st.p, self.now()))
    }

    /// Fulfils a subject access request (auditor): records `sar.fulfilled` with the tree size it
    /// covers, how many items are withheld, and the bundle hash of `sar-bundle.md` §7.8 — over
    /// which of the person's entries it covers, never over any text, so it confirms no guess
    /// about content erased later. The auditor gets the receipts and the hash, never the
    /// content; the person fetches the bundle with [`Service::sar_bundle`].
    pub async fn fulfil_sar(
        &self,
        caller: &str,
        call: Call,
        sar_id: &str,
    ) -> Result<(Hash, Vec<Receipt>)> {
        {
            // Permission before anything else, a repeat included.
            let st = self.state.read().map_err(|_| poisoned())?;
            let reader = caller_of(&st.p, caller)?;
            access::decide_audit(&reader, AuditRead::FulfilSar)?;
        }
        if let Some(id) = &call.command_id {
            if let Some(r) =
                self.store
                    .command_receipts(caller, id, call.request_digest.as_ref())?
            {
                let hash = self
                    .projections()?
                    .sars
                    .get(sar_id)
                    .and_then(|s| s.bundle_hash)
                    .map(|h| h.0)
                    .unwrap_or_default();
                return Ok((hash, r));
            }
        }
        // What is withheld is decided now (a bundle applies today's withholdings to any past
        // state), so the count comes from the current projections, with no replay.
        let (subject, tree_size, withheld) = {
            let st = self.state.read().map_err(|_| poisoned())?;
            let s = sar_of(&st.p, sar_id)?;
            let withheld =
                st.p.disclosures
                    .get(&s.subject)
                    .map_or(0, |d| d.withheld_count());
            (s.subject.clone(), self.readable_size(&st.p), withheld)
        };
        let hash = self.bundle_hash(&subject, tree_size)?;
        let receipts = self
            .execute(
                caller,
                call,
                Command::FulfilSar {
                    sar_id: sar_id.to_string(),
                    bundle_hash: hash,
                    tree_size,
                    withheld,
                },
            )
            .await?;
        Ok((hash, receipts))
    }

    /// A subject access request's state and due date: for the person, their peer worker (an
    /// accepted relationship) and auditors. A refusal is logged.
    pub async fn sar_status(
        &self,
        caller: &str,
        sar_id: &str,
    ) -> Result<crate::domain::projection::SarRec> {
        self.sar_read(caller, sar_id, SarRead::Status).await
    }

    /// The bundle of a fulfilled request, for the person: their own view as of the request's
    /// tree size, as JSON bytes, with what is withheld decided now. Anyone else is refused and
    /// the refusal logged.
    /// Returns the request with it (its recorded bundle hash), so the caller needs no second read.
    pub async fn sar_bundle(
        &self,
        caller: &str,
        sar_id: &str,
    ) -> Result<(Vec<u8>, crate::domain::projection::SarRec)> {
        let s = self.sar_read(caller, sar_id, SarRead::Bundle).await?;
        let size = s.tree_size.ok_or_else(|| not_fulfilled(sar_id))?;
        Ok((self.bundle(&s.subject, Some(sar_id), size)?, s))
    }

    /// The person's own bundle of their record now (`sar_id` null): "check my record" at any
    /// time, no request needed. Only a person has one; reading it is not logged (it is their
    /// own record, as `read_record` of their own).
    pub fn my_bundle(&self, caller: &str) -> Result<Vec<u8>> {
        let (subject, tree_size) = {
            let st = self.state.read().map_err(|_| poisoned())?;
            let reader = caller_of(&st.p, caller)?;
            access::decide_own_bundle(&reader)?;
            (reader.id, self.readable_size(&st.p))
        };
        self.bundle(&subject, None, tree_size)
    }

    /// A fulfilled request's `sar.fulfilled` entry with its inclusion proof in a checkpoint
    /// signed now, for the person (as the bundle: anyone else is refused and the refusal
    /// logged). The bundle covers the log before its fulfilment, so this is how the person
    /// proves the log recorded the bundle's hash.
    pub async fn sar_fulfilment(&self, caller: &str, sar_id: &str) -> Result<Fulfilment> {
        let s = self.sar_read(caller, sar_id, SarRead::Bundle).await?;
        if s.tree_size.is_none() {
            return Err(not_fulfilled(sar_id));
        }
        // Fulfilment ends a request's stream: its last entry is the one.
        let last = self
            .store
            .stream_seqs(&Stream::sar(sar_id).name())?
            .last()
            .copied();
        let stored = match last {
            Some(seq) => self.store.entry(seq)?,
            None => None,
        };
        let stored = stored.filter(|e| e.view().is_ok_and(|v| v.event_type == "sar.fulfilled"));
        let stored = stored.ok_or_else(|| {
            StoreError::corrupt(
                0,
                format!("{sar_id} is fulfilled but has no sar.fulfilled entry"),
            )
        })?;
        let tree_size = self.store.size();
        Ok(Fulfilment {
            seq: stored.seq,
            proof: self.store.inclusion_proof(stored.seq, tree_size)?,
            checkpoint: self.store.checkpoint_at(tree_size)?,
            entry: stored.bytes,
        })
    }

    /// A request, if `access` lets `caller` read it; otherwise its refusal, logged.
    async fn sar_read(
        &self,
        caller: &str,
        sar_id: &str,
        what: SarRead,
    ) -> Result<crate::domain::projection::SarRec> {
        for _ in 0..MAX_ATTEMPTS {
            let now = self.now();
            let (reader, sar, decided, versions) = {
                let st = self.state.read().map_err(|_| poisoned())?;
                let reader = caller_of(&st.p, caller)?;
                let sar = sar_of(&st.p, sar_id)?.clone();
                let decided = access::decide_sar_access(&st.p, &reader, &sar, what, now);
                let mut versions: Vec<(String, u64)> = match &decided {
                    Ok(SarAccess::Logged { depends, .. }) => depends
                        .iter()
                        .map(|s| (s.clone(), st.p.stream_version(s)))
                        .collect(),
                    _ => Vec::new(),
                };
                let actor_stream = Stream::actor(&reader.id).name();
                versions.push((actor_stream.clone(), st.p.stream_version(&actor_stream)));
                (reader, sar, decided, versions)
            };
            match decided {
                Ok(SarAccess::Party) => return Ok(sar),
                Err(reason) => {
                    return Err(self
                        .refuse_read(&reader, &sar.subject, Stream::sar(sar_id).name(), reason)
                        .await)
                }
                // A representative: the read is logged, like any read of the person's data by
                // someone else, before anything of it is returned.
                Ok(SarAccess::Logged {
                    basis, deadline, ..
                }) => {
                    let who = Actor {
                        id: reader.id.clone(),
                        role: reader.role.as_str().to_string(),
                    };
                    let batch = access_batch(
                        &sar.subject,
                        true,
                        &who,
                        versions,
                        deadline.map(|t| t.0),
                        vec![Event::RecordAccessed(RecordAccessed {
                            streams: vec![Stream::sar(sar_id).name()],
                            basis,
                        })],
                    );
                    match self.store.append(batch).await {
                        Ok(_) => return Ok(sar),
                        Err(StoreError::Conflict { stream, actual, .. }) => {
                            self.await_stream(&stream, actual).await?;
                        }
                        Err(StoreError::Late { .. }) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        Err(contended(&format!(
            "the authority stream reading {sar_id} depends on"
        )))
    }

    /// Logs a refused attempt at `subject`'s data (`what`) by `reader` as `access.denied` —
    /// within the reader's allowance of refusals ([`RefusalLimit`]) — and returns the error
    /// the caller gets. An unknown person is logged the same way, with no subject (so no one's
    /// chain), and the caller cannot tell the two apart.
    async fn refuse_read(
        &self,
        reader: &ActorRec,
        subject: &str,
        what: String,
        reason: DenialReason,
    ) -> ServiceError {
        let known = match self.state.read() {
            Ok(st) => st.p.is_person(subject),
            Err(_) => return poisoned(),
        };
        let metrics = self.metrics.get();
        let (logged, suppressed, limited) =
            match self.refusals.take(&reader.id, subject, self.now().0) {
                Allowance::Log { suppressed } => (reason, suppressed, None),
                Allowance::LogLimited { retry_after_ms } => {
                    (DenialReason::RateLimited, 0, Some(retry_after_ms))
                }
                Allowance::Limited { retry_after_ms } => {
                    if let Some(m) = metrics {
                        m.read_refused_unlogged();
                    }
                    return ServiceError::RateLimited { retry_after_ms };
                }
            };
        if let Some(m) = metrics {
            m.read_refused(logged);
        }
        let who = Actor {
            id: reader.id.clone(),
            role: reader.role.as_str().to_string(),
        };
        // Logged as decided, without conditions: refusing is always safe, so a consent granted
        // meanwhile does not make it wrong, only stale. Conditioning it made readers of a person
        // whose consents change quickly lose every race to the next change and starve.
        let batch = access_batch(
            subject,
            known,
            &who,
            Vec::new(),
            None,
            vec![Event::AccessDenied(AccessDenied {
                what,
                reason: logged,
                suppressed: (suppressed > 0).then_some(suppressed),
            })],
        );
        match (self.store.append(batch).await, limited) {
            (Ok(_), Some(retry_after_ms)) => ServiceError::RateLimited { retry_after_ms },
            (Ok(receipts), None) => ServiceError::AccessDenied {
                subject: subject.to_string(),
                reason,
                receipts,
            },
            (Err(e), _) => e.into(),
        }
    }

    /// `sar-bundle.md` §7.8: the hash of which of `subject`'s entries the first `tree_size`
    /// cover — `H("withus-sar-v1\n" ‖ subject ‖ "\n" ‖ N ‖ "\n" ‖ per entry: seq " " leaf "\n")`.
    fn bundle_hash(&self, subject: &str, tree_size: u64) -> Result<Hash> {
        let items = self
            .store
            .subject_entries(subject)?
            .into_iter()
            .take_while(|e| e.seq < tree_size)
            .map(|e| (e.seq, e.leaf_hash()));
        Ok(crate::sar::bundle_hash(subject, tree_size, items))
    }

    /// Composes `subject`'s bundle v1 over the first `tree_size` entries, with what is withheld
    /// decided now, and serialises it (sar-bundle.md).
    /// The tree size a read may compose at: what the projections reflect, bounded by what the
    /// store lets readers see. The commit observer applies a group before the store moves
    /// `committed` (invariant 14), so for a moment `applied` is ahead of `size()`, and a bundle
    /// at `applied` would be refused as beyond the log (found by `scale-bench`'s mixed load).
    fn readable_size(&self, p: &Projections) -> u64 {
        p.applied.min(self.store.size())
    }

    fn bundle(&self, subject: &str, sar_id: Option<&str>, tree_size: u64) -> Result<Vec<u8>> {
        // Composing reads every entry of the person's chain from the store: let the runtime
        // move its other tasks off this thread meanwhile (a current-thread runtime, as in some
        // tests, has no other thread to move them to).
        match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => {
                tokio::task::block_in_place(|| self.compose_bundle(subject, sar_id, tree_size))
            }
            _ => self.compose_bundle(subject, sar_id, tree_size),
        }
    }

    fn compose_bundle(
        &self,
        subject: &str,
        sar_id: Option<&str>,
        tree_size: u64,
    ) -> Result<Vec<u8>> {
        let withheld: BTreeSet<String> = {
            let st = self.state.read().map_err(|_| poisoned())?;
            st.p.disclosures
                .get(subject)
                .map(|d| d.active().map(|w| w.target_stream.clone()).collect())
                .unwrap_or_default()
        };
        let about = self.about.read().map_err(|_| poisoned())?.clone();
        let bundle = crate::sar::compose::compose(
            &self.store,
            &crate::sar::compose::Request {
                subject,
                sar_id,
                tree_size,
                produced_at: self.now().to_string(),
                withheld: &withheld,
                about: &about,
            },
        )?;
        Ok(bundle.to_bytes())
    }

    /// The first seq *not* shown by `as_of` (a tree size).
    fn resolve_as_of(&self, a: AsOf) -> Result<u64> {
        let size = self.store.size();
        match a {
            AsOf::Seq(n) if n <= size => Ok(n),
            AsOf::Seq(n) => Err(Refusal::new(
                Code::InvalidArgument,
                "as_of",
                "as_of.seq",
                format!("{n} is beyond the log's {size} entries"),
            )
            .into()),
            AsOf::Time(t) => {
                // `at` never decreases along the log: binary search for the first entry after t.
                let (mut lo, mut hi) = (0u64, size);
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    let e = self
                        .store
                        .entry(mid)?
                        .ok_or_else(|| StoreError::corrupt(mid, "entry missing from the log"))?;
                    let at = Time::parse(&e.view()?.at).unwrap_or(Time(0));
                    if at <= t {
                        lo = mid + 1
                    } else {
                        hi = mid
                    }
                }
                Ok(lo)
            }
        }
    }

    /// A record composed now, or — time travel — as of `upto` by replaying only the person's
    /// own entries (every item of a record is an entry with that subject).
    fn compose(
        &self,
        subject: &str,
        scope: Option<&Scope>,
        upto: Option<u64>,
    ) -> Result<RecordView> {
        match upto {
            None => {
                let st = self.state.read().map_err(|_| poisoned())?;
                Ok(view::record(&st.p, subject, scope))
            }
            Some(n) => {
                let mut p = Projections::new();
                for e in self.store.subject_entries(subject)? {
                    if e.seq >= n {
                        break;
                    }
                    let v = e.view()?;
                    if let Ok(r) = Recorded::from_entry(&v) {
                        p.apply(&r);
                    }
                }
                p.applied = n;
                // Present rules over the past state: what is withheld from the person, and what
                // was removed by agreement, are decided now, never as of the time travelled to.
                let st = self.state.read().map_err(|_| poisoned())?;
                match st.p.disclosures.get(subject) {
                    Some(now) => {
                        p.disclosures.insert(subject.to_string(), now.clone());
                    }
                    None => {
                        p.disclosures.remove(subject);
                    }
                }
                for (id, note) in p.notes.iter_mut() {
                    if let Some(now) = st.p.notes.get(id) {
                        note.removed = now.removed.clone();
                    }
                }
                // Likewise what was erased at the end of the retention period since.
                if let Some(now) = st.p.retention.get(subject) {
                    p.retention.insert(subject.to_string(), now.clone());
                }
                Ok(view::record(&p, subject, scope))
            }
        }
    }

    /// Fills in the text of every passage still in the content store. Called only after the
    /// read was allowed and (for anyone but the person) logged.
    fn resolve_text(&self, view: &mut RecordView) -> Result<()> {
        for passage in view.passages_mut() {
            if passage.removed.is_some() || passage.erased_at.is_some() {
                continue;
            }
            passage.text = self.store.content(&passage.commit.0)?.map(|c| c.text);
        }
        Ok(())
    }
}

/// Retries ran out: the streams a decision depends on kept changing under it.
fn contended(what: &str) -> ServiceError {
    ServiceError::Refused(Refusal::new(
        Code::Aborted,
        "contention",
        "command",
        format!("{what} kept changing while the decision was retried {MAX_ATTEMPTS} times; retry the call"),
    ))
}

/// The subject access request `sar_id`, or `NOT_FOUND`.
fn sar_of<'a>(p: &'a Projections, sar_id: &str) -> Result<&'a crate::domain::projection::SarRec> {
    p.sars.get(sar_id).ok_or_else(|| {
        Refusal::not_found("sar_id", format!("subject access request {sar_id}")).into()
    })
}

fn caller_of(p: &Projections, caller: &str) -> Result<ActorRec> {
    match p.actors.get(caller) {
        Some(a) if a.active => Ok(a.clone()),
        Some(_) => Err(ServiceError::Unauthenticated(format!(
            "actor {caller} has been deactivated"
        ))),
        None => Err(ServiceError::Unauthenticated(format!(
            "actor {caller} is not registered"
        ))),
    }
}

/// The append for a decision: each event expects its stream at the version the projection
/// knows; the streams it relied on become conditions; `contents` (the sealed texts it holds) are
/// stored with it.
fn build(
    p: &Projections,
    actor: &Actor,
    call: &Call,
    d: Decision,
    contents: Vec<StagedContent>,
    deadline: Option<u64>,
) -> AppendBatch {
    let mut next: BTreeMap<String, u64> = BTreeMap::new();
    let events = d
        .events
        .into_iter()
        .map(|e| {
            let v = next
                .entry(e.stream.clone())
                .or_insert_with(|| p.stream_version(&e.stream));
            let expected = Expected::Version(*v);
            *v += 1;
            new_event(&e.event, e.stream, expected, e.subject, actor)
        })
        .collect();
    let mut conditions: Vec<(String, u64)> = d
        .depends
        .into_iter()
        .filter(|s| !next.contains_key(s))
        .map(|s| {
            let v = p.stream_version(&s);
            (s, v)
        })
        .collect();
    let actor_stream = Stream::actor(&actor.id).name();
    if !next.contains_key(&actor_stream) {
        conditions.push((actor_stream.clone(), p.stream_version(&actor_stream)));
    }
    conditions.sort();
    conditions.dedup();
    AppendBatch {
        command: call.command_id.clone(),
        request_digest: call.request_digest,
        events,
        contents,
        erase: d.erase,
        conditions,
        deadline,
    }
}

/// The store's form of a domain event.
fn new_event(
    event: &Event,
    stream: String,
    expected: Expected,
    subject: Option<String>,
    actor: &Actor,
) -> NewEvent {
    NewEvent {
        event_type: event.event_type().to_string(),
        v: Event::V,
        stream,
        expected,
        subject,
        actor: actor.clone(),
        data: event.data(),
    }
}

/// The append logging a read (or a refusal) of `subject`'s data: on their `access:` stream, with
/// them as subject when they are a known person (`known`), with none otherwise.
fn access_batch(
    subject: &str,
    known: bool,
    reader: &Actor,
    conditions: Vec<(String, u64)>,
    deadline: Option<u64>,
    events: Vec<Event>,
) -> AppendBatch {
    AppendBatch {
        command: None,
        request_digest: None,
        events: events
            .into_iter()
            // Reads do not depend on one another: their order in the access stream decides
            // nothing, so they do not conflict with each other. What they rely on (the basis
            // streams, the reader's actor stream) is in `conditions`.
            .map(|event| {
                new_event(
                    &event,
                    Stream::access(subject).name(),
                    Expected::Any,
                    known.then(|| subject.to_string()),
                    reader,
                )
            })
            .collect(),
        contents: Vec::new(),
        erase: Vec::new(),
        conditions,
        deadline,
    }
}
