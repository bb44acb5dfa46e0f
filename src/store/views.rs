//! Persistence of projections: the `views` tree.
//!
//! Owns: the bytes of persisted views and the marker that says which log prefix they reflect.
//! Must not touch: what the records mean (the domain encodes and decodes them) or the `log`
//! tree. Views are a cache of a fold over the log: they are never flushed on the
//! acknowledgement path, and whatever is lost in a crash is re-applied from the log on open.
//!
//! Layout — a snapshot plus the deltas saved since, each cut into chunks of whole records:
//! - `A` → applied(8 BE) ‖ schema(4 BE) ‖ base(8 BE) ‖ base chunks(4 BE) ‖ chain(32): the
//!   marker. The views are the snapshot taken at `base`, overlaid in order with every delta up to
//!   `applied`; `chain` is the hash chain over those deltas (below), which vouches for them.
//! - `S` base(8 BE) chunk(4 BE) → records of the snapshot at `base`.
//! - `D` seq(8 BE) chunk(4 BE) → count(4 BE) ‖ records: the records a save at `seq` changed;
//!   `count` is how many chunks that save wrote.
//!
//! A record in a chunk is `len(key) u32 BE ‖ key ‖ len(value) u32 BE ‖ value`.
//!
//! Why chunks: a save used to write each changed record as its own key, in one `apply_batch`
//! — a few hundred randomly placed keys every 100 ms — which cost ~15% of the CPU per command.
//! A delta is one or a few sequential keys. When the deltas have grown to several times the
//! snapshot, [`LogStore::compact_views`] writes a new snapshot, so loading stays proportional to
//! the state, not to its history.
//!
//! Crash safety, without sled's global write lock: nothing here uses `apply_batch`, whose lock
//! also waits for (and then blocks) the log's flushes — a save's batch was measured to stall the
//! commit path for 2–5 ms. A save inserts its delta chunks, then the marker (one key, so moving
//! it is atomic). The marker carries `chain = BLAKE3(previous chain ‖ seq ‖ the delta's chunks)`
//! over every delta since the snapshot, and loading recomputes it: a delta the marker counts
//! but a crash did not leave whole is found (and the service rebuilds from the log) rather than
//! trusted, whatever order sled made the inserts durable in. A snapshot is written with plain
//! inserts and flushed *before* the marker points at it, and older chunks are removed only
//! after that. Chunks no marker accounts for (an interrupted save or snapshot) are ignored and
//! removed by the next snapshot.

use std::collections::BTreeMap;

use super::keys::{be_u32, be_u64};
use super::{LogStore, StoreError};

const MARKER: &[u8] = b"A";
const SNAPSHOT: u8 = b'S';
const DELTA: u8 = b'D';
/// Records of the layout before chunks (`R` key → value, 12-byte marker): read as "no views",
/// so the service rebuilds them once; removed by that rebuild.
const OLD_RECORD: u8 = b'R';
/// A chunk is closed once it holds this many bytes (a single larger record gets a chunk of its
/// own). Sixteen chunks to a sled leaf stay well below sled's blob threshold (2 MiB).
const CHUNK_BYTES: usize = 64 * 1024;
/// Deltas are folded into a new snapshot once they hold four times the snapshot's bytes, and at
/// least this many. Compaction rewrites the whole state, and most of what deltas hold is new
/// records (a meeting, a note), not replaced ones: folding at 1× rewrote the state over and over
/// as it grew (measured: a fifth of the saver's CPU, and p99 up from 17 to 24 ms in grpc-bench).
/// At 4× a growing state is rewritten about a third more often than it is written, and loading
/// reads at most 64 MiB of deltas on top of the snapshot.
const COMPACT_AFTER: u64 = 64 << 20;
/// See [`COMPACT_AFTER`].
const COMPACT_RATIO: u64 = 4;

/// Whether deltas of `deltas` bytes on a snapshot of `snapshot` bytes are due for folding.
fn compaction_due(snapshot: u64, deltas: u64) -> bool {
    deltas >= snapshot.saturating_mul(COMPACT_RATIO).max(COMPACT_AFTER)
}

/// Persisted views as loaded: the log prefix they reflect and their records in key order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewRecords {
    /// Entries `0..applied` are folded into these records.
    pub applied: u64,
    /// The view schema that wrote them; a different schema means "rebuild".
    pub schema: u32,
    /// `(key, value)` in key order.
    pub records: Vec<(Vec<u8>, Vec<u8>)>,
}

/// What the views tree holds beside the records: the marker's fields, and the bytes of the
/// snapshot and of the deltas since (which decide when to compact).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct ViewsState {
    marker: Option<Marker>,
    snapshot_bytes: u64,
    delta_bytes: u64,
}

/// The marker's fields (the layout above).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    pub applied: u64,
    pub schema: u32,
    pub base: u64,
    pub base_chunks: u32,
    /// Hash chain over the deltas after `base` (all zeros: none yet).
    pub chain: [u8; 32],
}

/// The next link of a marker's chain: the delta at `seq`, whose chunk values are `parts`.
fn link<'a>(chain: &[u8; 32], seq: u64, parts: impl IntoIterator<Item = &'a [u8]>) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(chain);
    h.update(&seq.to_be_bytes());
    for p in parts {
        h.update(&(p.len() as u64).to_be_bytes());
        h.update(p);
    }
    *h.finalize().as_bytes()
}

impl Marker {
    fn encode(&self) -> [u8; 56] {
        let mut m = [0u8; 56];
        m[..8].copy_from_slice(&self.applied.to_be_bytes());
        m[8..12].copy_from_slice(&self.schema.to_be_bytes());
        m[12..20].copy_from_slice(&self.base.to_be_bytes());
        m[20..24].copy_from_slice(&self.base_chunks.to_be_bytes());
        m[24..].copy_from_slice(&self.chain);
        m
    }

    /// `None` for the markers of older layouts (12 and 24 bytes); an error for anything else
    /// malformed.
    fn decode(m: &[u8]) -> Result<Option<Marker>, StoreError> {
        match m.len() {
            12 | 24 => Ok(None),
            56 => Ok(Some(Marker {
                applied: be_u64(m, 0).ok_or_else(bad_marker)?,
                schema: be_u32(m, 8).ok_or_else(bad_marker)?,
                base: be_u64(m, 12).ok_or_else(bad_marker)?,
                base_chunks: be_u32(m, 20).ok_or_else(bad_marker)?,
                chain: m[24..].try_into().map_err(|_| bad_marker())?,
            })),
            _ => Err(bad_marker()),
        }
    }
}

fn chunk_key(tag: u8, seq: u64, chunk: u32) -> [u8; 13] {
    let mut k = [0u8; 13];
    k[0] = tag;
    k[1..9].copy_from_slice(&seq.to_be_bytes());
    k[9..].copy_from_slice(&chunk.to_be_bytes());
    k
}

/// Which part of the views a key of the views tree belongs to (for [`LogStore::space`]): the
/// snapshot, the deltas since it, or the rest (the marker, records of the old layout).
pub(super) fn space_kind(key: &[u8]) -> &'static str {
    match key.first() {
        Some(&SNAPSHOT) => "views: snapshot (S)",
        Some(&DELTA) => "views: deltas since the snapshot (D)",
        _ => "views: marker and other",
    }
}

/// Cuts records into chunks of whole records.
fn chunks<'a>(records: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for (k, v) in records {
        for part in [k, v] {
            cur.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
            cur.extend_from_slice(part);
        }
        if cur.len() >= CHUNK_BYTES {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Adds a chunk's records to `into` (later chunks overwrite earlier records with the same key).
fn read_chunk(bytes: &[u8], into: &mut BTreeMap<Vec<u8>, Vec<u8>>) -> Result<(), StoreError> {
    let mut pos = 0usize;
    let part = |pos: &mut usize| -> Option<Vec<u8>> {
        let len = usize::try_from(u32::from_be_bytes(
            bytes.get(*pos..*pos + 4)?.try_into().ok()?,
        ))
        .ok()?;
        let start = *pos + 4;
        let b = bytes.get(start..start.checked_add(len)?)?.to_vec();
        *pos = start + len;
        Some(b)
    };
    while pos < bytes.len() {
        let k = part(&mut pos).ok_or_else(bad_chunk)?;
        let v = part(&mut pos).ok_or_else(bad_chunk)?;
        into.insert(k, v);
    }
    Ok(())
}

/// The keys of every delta after the snapshot at `base`, up to the marker at `applied`.
pub(super) fn delta_range(base: u64, applied: u64) -> ([u8; 13], [u8; 13]) {
    (
        chunk_key(DELTA, base.saturating_add(1), 0),
        chunk_key(DELTA, applied, u32::MAX),
    )
}

/// Reads the deltas `range` yields (the [`delta_range`] of a marker, in key order) into
/// `records`, checking that each delta's chunks are all there, and returns the hash chain over
/// them and their bytes. Pure, so it can be fuzzed without sled.
pub(super) fn read_deltas<K, V>(
    range: impl IntoIterator<Item = Result<(K, V), impl Into<StoreError>>>,
    records: &mut BTreeMap<Vec<u8>, Vec<u8>>,
) -> Result<([u8; 32], u64), StoreError>
where
    K: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let mut delta_bytes = 0u64;
    let mut want: Option<(u64, u32, u32)> = None; // (seq, next chunk, count)
    let mut chain = [0u8; 32];
    let mut delta: Vec<V> = Vec::new(); // chunks of the delta being read
    for kv in range {
        let (k, v) = kv.map_err(Into::into)?;
        let (k, vb) = (k.as_ref(), v.as_ref());
        let seq = be_u64(k, 1).ok_or_else(bad_chunk)?;
        let chunk = be_u32(k, 9).ok_or_else(bad_chunk)?;
        let count = be_u32(vb, 0).ok_or_else(bad_chunk)?;
        match want {
            Some((s, next, n)) if s == seq => {
                if chunk >= n {
                    continue; // left over from an interrupted save at this seq
                }
                if chunk != next {
                    return Err(missing_chunk("delta", seq, next));
                }
                want = Some((s, next + 1, n));
            }
            _ => {
                if let Some((s, next, n)) = want {
                    if next != n {
                        return Err(missing_chunk("delta", s, next));
                    }
                    chain = link(&chain, s, delta.iter().map(|c| c.as_ref()));
                    delta.clear();
                }
                if chunk != 0 {
                    return Err(missing_chunk("delta", seq, 0));
                }
                want = Some((seq, 1, count));
            }
        }
        delta_bytes += vb.len() as u64;
        read_chunk(&vb[4..], records)?;
        delta.push(v);
    }
    if let Some((s, next, n)) = want {
        if next != n {
            return Err(missing_chunk("delta", s, next));
        }
        chain = link(&chain, s, delta.iter().map(|c| c.as_ref()));
    }
    Ok((chain, delta_bytes))
}

impl LogStore {
    pub(super) fn views_tree(&self) -> Result<sled::Tree, StoreError> {
        Ok(self.shared.db.open_tree("views")?)
    }

    fn views_state(&self) -> Result<std::sync::MutexGuard<'_, ViewsState>, StoreError> {
        self.shared
            .views
            .lock()
            .map_err(|_| StoreError::Failed("the views lock is poisoned".into()))
    }

    /// The persisted views, or `None` when there are none (or only in the old layout).
    pub fn load_views(&self) -> Result<Option<ViewRecords>, StoreError> {
        let tree = self.views_tree()?;
        let Some(raw) = tree.get(MARKER)? else {
            return Ok(None);
        };
        let Some(m) = Marker::decode(&raw)? else {
            return Ok(None);
        };
        if m.applied > self.size() {
            return Err(StoreError::corrupt(
                None,
                format!(
                    "views claim {} applied entries but the log holds {}; run `withus rebuild`",
                    m.applied,
                    self.size()
                ),
            ));
        }
        let mut records = BTreeMap::new();
        let mut snapshot_bytes = 0u64;
        for chunk in 0..m.base_chunks {
            let bytes = tree
                .get(chunk_key(SNAPSHOT, m.base, chunk))?
                .ok_or_else(|| missing_chunk("snapshot", m.base, chunk))?;
            snapshot_bytes += bytes.len() as u64;
            read_chunk(&bytes, &mut records)?;
        }
        let (from, to) = delta_range(m.base, m.applied);
        let (chain, delta_bytes) = read_deltas(tree.range(from..=to), &mut records)?;
        if chain != m.chain {
            return Err(StoreError::corrupt(
                None,
                "the views' deltas are not the ones their marker vouches for (a save a crash \
                 cut short?); run `withus rebuild`",
            ));
        }
        *self.views_state()? = ViewsState {
            marker: Some(m),
            snapshot_bytes,
            delta_bytes,
        };
        Ok(Some(ViewRecords {
            applied: m.applied,
            schema: m.schema,
            records: records.into_iter().collect(),
        }))
    }

    /// Saves the records changed since the last save as one delta: its chunks, then the marker,
    /// which takes it into its chain. Needs views loaded or written by this store first (the
    /// marker it extends).
    pub fn save_views(
        &self,
        applied: u64,
        schema: u32,
        records: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>,
    ) -> Result<(), StoreError> {
        if self.tx.is_none() {
            return Err(StoreError::ReadOnly);
        }
        let mut state = self.views_state()?;
        let Some(old) = state.marker else {
            return Err(StoreError::Failed(
                "no persisted views to extend; load or rebuild them first".into(),
            ));
        };
        let records: Vec<(Vec<u8>, Vec<u8>)> = records.into_iter().collect();
        let parts = chunks(records.iter().map(|(k, v)| (&k[..], &v[..])));
        let count = u32::try_from(parts.len()).unwrap_or(u32::MAX);
        let tree = self.views_tree()?;
        let mut bytes = 0u64;
        let mut chain = old.chain;
        if applied > old.applied {
            // A save a crash cut short left chunks past the marker: they are in no chain, and
            // once the marker passes their seq loading would count them. Remove them first.
            for kv in tree
                .range(chunk_key(DELTA, old.applied + 1, 0)..=chunk_key(DELTA, u64::MAX, u32::MAX))
            {
                tree.remove(kv?.0)?;
            }
            let values: Vec<Vec<u8>> = parts
                .into_iter()
                .map(|part| {
                    let mut v = Vec::with_capacity(4 + part.len());
                    v.extend_from_slice(&count.to_be_bytes());
                    v.extend_from_slice(&part);
                    v
                })
                .collect();
            if !values.is_empty() {
                chain = link(&chain, applied, values.iter().map(|v| &v[..]));
            }
            for (i, v) in (0u32..).zip(values) {
                bytes += v.len() as u64;
                tree.insert(&chunk_key(DELTA, applied, i)[..], v)?;
            }
        } else if count > 0 {
            // Records changed while the log did not move past the marker: only when the views
            // were replaced under a running service. A delta at the marker's own seq could not
            // be ordered after what is there, so fold everything into a snapshot instead.
            drop(state);
            let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = self
                .load_views()?
                .map(|v| v.records.into_iter().collect())
                .unwrap_or_default();
            merged.extend(records);
            return self.write_snapshot(applied, schema, merged.into_iter().collect());
        }
        let m = Marker {
            applied,
            schema,
            chain,
            ..old
        };
        tree.insert(MARKER, &m.encode()[..])?;
        state.marker = Some(m);
        state.delta_bytes += bytes;
        Ok(())
    }

    /// Whether the deltas have grown enough that [`LogStore::compact_views`] should run.
    pub fn views_compaction_due(&self) -> Result<bool, StoreError> {
        let s = *self.views_state()?;
        Ok(s.marker.is_some() && compaction_due(s.snapshot_bytes, s.delta_bytes))
    }

    /// Folds the deltas into a new snapshot at the marker's seq (from the persisted bytes alone;
    /// nothing else is read), then removes what it replaces.
    pub fn compact_views(&self) -> Result<(), StoreError> {
        let Some(v) = self.load_views()? else {
            return Ok(());
        };
        self.write_snapshot(v.applied, v.schema, v.records)
    }

    /// Replaces every persisted view (a rebuild) with these records at `applied`.
    pub fn replace_views(
        &self,
        applied: u64,
        schema: u32,
        records: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>,
    ) -> Result<(), StoreError> {
        self.write_snapshot(applied, schema, records.into_iter().collect())
    }

    /// Writes `records` as the snapshot at `applied`, flushes it, points the marker at it, and
    /// removes every other chunk (and the old layout's records).
    fn write_snapshot(
        &self,
        applied: u64,
        schema: u32,
        mut records: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<(), StoreError> {
        if self.tx.is_none() {
            return Err(StoreError::ReadOnly);
        }
        records.sort();
        let mut state = self.views_state()?;
        let tree = self.views_tree()?;
        // Leftovers of an interrupted snapshot at this same seq must not mix with this one.
        for kv in tree.scan_prefix(&chunk_key(SNAPSHOT, applied, 0)[..9]) {
            tree.remove(kv?.0)?;
        }
        let parts = chunks(records.iter().map(|(k, v)| (&k[..], &v[..])));
        let mut bytes = 0u64;
        for (i, part) in (0u32..).zip(&parts) {
            bytes += part.len() as u64;
            tree.insert(&chunk_key(SNAPSHOT, applied, i)[..], &part[..])?;
        }
        // The snapshot is on disk before anything points at it.
        self.shared.db.flush()?;
        let m = Marker {
            applied,
            schema,
            base: applied,
            base_chunks: u32::try_from(parts.len()).unwrap_or(u32::MAX),
            chain: [0u8; 32],
        };
        tree.insert(MARKER, &m.encode()[..])?;
        *state = ViewsState {
            marker: Some(m),
            snapshot_bytes: bytes,
            delta_bytes: 0,
        };
        for kv in tree.iter() {
            let (k, _) = kv?;
            let stale = match k.first() {
                Some(&SNAPSHOT) => be_u64(&k, 1) != Some(applied),
                Some(&DELTA) | Some(&OLD_RECORD) => true,
                _ => false,
            };
            if stale {
                tree.remove(k)?;
            }
        }
        self.shared.db.flush()?;
        Ok(())
    }

    /// BLAKE3 over every persisted record (key and value, length-prefixed, in key order) with
    /// the applied seq and schema: two stores with the same digest hold the same views, however
    /// they are split into snapshot and deltas.
    pub fn views_digest(&self) -> Result<Option<(u64, [u8; 32])>, StoreError> {
        let Some(v) = self.load_views()? else {
            return Ok(None);
        };
        let mut h = blake3::Hasher::new();
        h.update(&v.applied.to_be_bytes());
        h.update(&v.schema.to_be_bytes());
        for (k, val) in &v.records {
            h.update(&(k.len() as u64).to_be_bytes());
            h.update(k);
            h.update(&(val.len() as u64).to_be_bytes());
            h.update(val);
        }
        Ok(Some((v.applied, *h.finalize().as_bytes())))
    }
}

/// The views tree's formats as pure functions over bytes, for the fuzz targets of
/// `withus-tools` (`fuzz --target views`). Not an API: the layout is the store's own.
#[doc(hidden)]
pub mod codec {
    use std::collections::BTreeMap;

    pub use super::Marker;
    use super::StoreError;

    /// The marker's bytes.
    pub fn encode_marker(m: &Marker) -> [u8; 56] {
        m.encode()
    }

    /// A marker read back: `None` for an older layout's, an error for anything else malformed.
    pub fn decode_marker(bytes: &[u8]) -> Result<Option<Marker>, StoreError> {
        Marker::decode(bytes)
    }

    /// The key of chunk `chunk` of the delta saved at `seq`.
    pub fn delta_key(seq: u64, chunk: u32) -> [u8; 13] {
        super::chunk_key(super::DELTA, seq, chunk)
    }

    /// Records cut into chunks of whole records.
    pub fn chunks(records: &[(Vec<u8>, Vec<u8>)]) -> Vec<Vec<u8>> {
        super::chunks(records.iter().map(|(k, v)| (&k[..], &v[..])))
    }

    /// Adds a chunk's records to `into`.
    pub fn read_chunk(
        bytes: &[u8],
        into: &mut BTreeMap<Vec<u8>, Vec<u8>>,
    ) -> Result<(), StoreError> {
        super::read_chunk(bytes, into)
    }

    /// The next link of a marker's chain: the delta at `seq` with these chunk values.
    pub fn link(chain: &[u8; 32], seq: u64, parts: &[Vec<u8>]) -> [u8; 32] {
        super::link(chain, seq, parts.iter().map(|p| &p[..]))
    }

    /// The key range loading reads the deltas of a marker from.
    pub fn delta_range(base: u64, applied: u64) -> ([u8; 13], [u8; 13]) {
        super::delta_range(base, applied)
    }

    /// Reads deltas (key, value) in key order, as loading does: the chain over them and their
    /// bytes, or what is malformed or missing.
    pub fn read_deltas<'a>(
        items: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
        records: &mut BTreeMap<Vec<u8>, Vec<u8>>,
    ) -> Result<([u8; 32], u64), StoreError> {
        super::read_deltas(items.into_iter().map(Ok::<_, StoreError>), records)
    }
}

fn bad_marker() -> StoreError {
    StoreError::corrupt(None, "malformed views marker; run `withus rebuild`")
}

fn bad_chunk() -> StoreError {
    StoreError::corrupt(None, "malformed views chunk; run `withus rebuild`")
}

fn missing_chunk(what: &str, seq: u64, chunk: u32) -> StoreError {
    StoreError::corrupt(
        None,
        format!("views {what} at {seq} is missing chunk {chunk}; run `withus rebuild`"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_being_cut_into_chunks_and_read_back() {
        let big = vec![7u8; CHUNK_BYTES * 2];
        let records: Vec<(Vec<u8>, Vec<u8>)> = (0..3000u32)
            .map(|i| {
                (
                    format!("meeting/m-{i:05}").into_bytes(),
                    vec![b'x'; (i % 97) as usize],
                )
            })
            .chain([
                (b"person/big".to_vec(), big),
                (b"stats/".to_vec(), Vec::new()),
            ])
            .collect();
        let parts = chunks(records.iter().map(|(k, v)| (&k[..], &v[..])));
        assert!(parts.len() > 3);
        let mut back = BTreeMap::new();
        for p in &parts {
            read_chunk(p, &mut back).unwrap();
        }
        let mut want = records.clone();
        want.sort();
        assert_eq!(back.into_iter().collect::<Vec<_>>(), want);
        // A chunk cut short is an error, never fewer records.
        let p = &parts[0];
        assert!(read_chunk(&p[..p.len() - 1], &mut BTreeMap::new()).is_err());
    }

    #[test]
    fn compaction_waits_for_deltas_of_four_snapshots_and_at_least_64_mib() {
        assert!(!compaction_due(0, COMPACT_AFTER - 1));
        assert!(compaction_due(0, COMPACT_AFTER));
        assert!(!compaction_due(100 << 20, 399 << 20));
        assert!(compaction_due(100 << 20, 400 << 20));
    }

    #[test]
    fn the_marker_round_trips_and_the_old_one_reads_as_no_views() {
        let m = Marker {
            applied: 9,
            schema: 3,
            base: 4,
            base_chunks: 2,
            chain: [7u8; 32],
        };
        assert_eq!(Marker::decode(&m.encode()).unwrap(), Some(m));
        assert_eq!(Marker::decode(&[0u8; 12]).unwrap(), None);
        assert_eq!(Marker::decode(&[0u8; 24]).unwrap(), None);
        assert!(Marker::decode(&[0u8; 13]).is_err());
    }
}
