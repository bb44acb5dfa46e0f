//! Persistence of projections: the `views` tree.
//!
//! Owns: the bytes of persisted views and the marker that says which log prefix they reflect.
//! Must not touch: what the records mean (the domain encodes and decodes them) or the `log`
//! tree. Views are a cache of a fold over the log: they are never flushed on the
//! acknowledgement path, and whatever is lost in a crash is re-applied from the log on open.
//!
//! Layout: `A` → applied(8 BE) ‖ schema(4 BE); `R` key → record bytes. Each save is one
//! `apply_batch` carrying the marker, so the records on disk always match the marker's prefix.
//! A rebuild clears the marker first and writes it last: a missing marker with records present
//! means an interrupted rebuild, and the caller starts again from zero.

use super::{LogStore, StoreError};

const MARKER: &[u8] = b"A";
const RECORD: u8 = b'R';
/// Records written per batch during a rebuild: bounds one batch's memory.
const REBUILD_CHUNK: usize = 4096;

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

fn record_key(key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 1);
    k.push(RECORD);
    k.extend_from_slice(key);
    k
}

fn marker(applied: u64, schema: u32) -> [u8; 12] {
    let mut m = [0u8; 12];
    m[..8].copy_from_slice(&applied.to_be_bytes());
    m[8..].copy_from_slice(&schema.to_be_bytes());
    m
}

impl LogStore {
    fn views_tree(&self) -> Result<sled::Tree, StoreError> {
        Ok(self.shared.db.open_tree("views")?)
    }

    /// The persisted views, or `None` when there are none or a rebuild was interrupted.
    pub fn load_views(&self) -> Result<Option<ViewRecords>, StoreError> {
        let tree = self.views_tree()?;
        let Some(m) = tree.get(MARKER)? else {
            return Ok(None);
        };
        let (applied, schema) = match (m.get(..8), m.get(8..12)) {
            (Some(a), Some(s)) if m.len() == 12 => (
                u64::from_be_bytes(a.try_into().map_err(|_| bad_marker())?),
                u32::from_be_bytes(s.try_into().map_err(|_| bad_marker())?),
            ),
            _ => return Err(bad_marker()),
        };
        if applied > self.size() {
            return Err(StoreError::corrupt(
                None,
                format!(
                    "views claim {applied} applied entries but the log holds {}; run `withus rebuild`",
                    self.size()
                ),
            ));
        }
        let mut records = Vec::new();
        for kv in tree.scan_prefix([RECORD]) {
            let (k, v) = kv?;
            records.push((k[1..].to_vec(), v.to_vec()));
        }
        Ok(Some(ViewRecords {
            applied,
            schema,
            records,
        }))
    }

    /// Writes changed records and the new marker in one atomic batch.
    pub fn save_views(
        &self,
        applied: u64,
        schema: u32,
        records: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>,
    ) -> Result<(), StoreError> {
        if self.tx.is_none() {
            return Err(StoreError::ReadOnly);
        }
        let tree = self.views_tree()?;
        let mut b = sled::Batch::default();
        for (k, v) in records {
            b.insert(record_key(&k), v);
        }
        b.insert(MARKER, &marker(applied, schema)[..]);
        tree.apply_batch(b)?;
        Ok(())
    }

    /// Replaces every persisted view (a rebuild): clears the marker, removes all records, writes
    /// the new ones in chunks, and writes the marker last.
    pub fn replace_views(
        &self,
        applied: u64,
        schema: u32,
        records: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>,
    ) -> Result<(), StoreError> {
        if self.tx.is_none() {
            return Err(StoreError::ReadOnly);
        }
        let tree = self.views_tree()?;
        tree.remove(MARKER)?;
        let mut b = sled::Batch::default();
        let mut n = 0usize;
        for kv in tree.scan_prefix([RECORD]) {
            b.remove(kv?.0);
            n += 1;
            if n % REBUILD_CHUNK == 0 {
                tree.apply_batch(std::mem::take(&mut b))?;
            }
        }
        tree.apply_batch(b)?;
        let mut b = sled::Batch::default();
        for (i, (k, v)) in records.into_iter().enumerate() {
            b.insert(record_key(&k), v);
            if (i + 1) % REBUILD_CHUNK == 0 {
                tree.apply_batch(std::mem::take(&mut b))?;
            }
        }
        b.insert(MARKER, &marker(applied, schema)[..]);
        tree.apply_batch(b)?;
        self.shared.db.flush()?;
        Ok(())
    }

    /// BLAKE3 over every persisted record (key and value, length-prefixed, in key order) with the
    /// marker: two stores with the same digest hold byte-identical views.
    pub fn views_digest(&self) -> Result<Option<(u64, [u8; 32])>, StoreError> {
        let Some(v) = self.load_views()? else {
            return Ok(None);
        };
        let mut h = blake3::Hasher::new();
        h.update(&marker(v.applied, v.schema));
        for (k, val) in &v.records {
            h.update(&(k.len() as u64).to_be_bytes());
            h.update(k);
            h.update(&(val.len() as u64).to_be_bytes());
            h.update(val);
        }
        Ok(Some((v.applied, *h.finalize().as_bytes())))
    }
}

fn bad_marker() -> StoreError {
    StoreError::corrupt(None, "malformed views marker; run `withus rebuild`")
}
