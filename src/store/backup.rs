//! Reading a store for a backup and writing a fresh store from one (`withus restore`).
//!
//! Owns: what of the data directory a backup holds — entries' exact bytes, the sealed content
//! and salts of the segments they commit to, request digests, the signing key's seed — and
//! [`Restore`], which writes those into a new data directory that [`LogStore::open`] then
//! completes (postings and Merkle blocks are derived from the entries, as after any loss of
//! derived records). Must not touch: the backup file's framing (`crate::backup`), what entries
//! mean (which content was erased is the caller's to say, from the domain).

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::slots::SlotFile;
use super::{fsync_dir, keys, read_key, split_content, LogStore, StoreConfig, StoreError};
use crate::backup::SealedContent;
use crate::format::{EntryView, Hash};

/// The commitments of the segments an entry's `data` holds (log-format.md §4: any object
/// `{"id": string, "commit": hex, "chars": integer}`), in order, each once.
pub fn segment_commits(entry: &[u8]) -> Vec<Hash> {
    let Ok(view) = EntryView::parse(entry) else {
        return Vec::new();
    };
    let Ok(data) = serde_json::from_str::<serde_json::Value>(view.data) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut stack = vec![&data];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::Object(m) => {
                if m.len() == 3
                    && m.get("id").is_some_and(|v| v.is_string())
                    && m.get("chars").is_some_and(|v| v.is_u64())
                {
                    if let Some(h) = m
                        .get("commit")
                        .and_then(|c| c.as_str())
                        .and_then(hash_of_hex)
                    {
                        if seen.insert(h) {
                            out.push(h);
                        }
                        continue;
                    }
                }
                stack.extend(m.values().rev());
            }
            serde_json::Value::Array(a) => stack.extend(a.iter().rev()),
            _ => {}
        }
    }
    out
}

/// Reads the signing key's seed from a key file (refusing one others can read), e.g. a copy of
/// a store's `checkpoint.key` for a restore from a backup without key material.
pub fn read_key_file(path: &Path) -> Result<[u8; 32], StoreError> {
    read_key(path)
}

impl LogStore {
    /// The sealed content and salt stored for `commit`, checked against its commitment (it
    /// must open, and its text must commit to it); `None` once erased (or never stored).
    pub fn sealed_content(&self, commit: &Hash) -> Result<Option<SealedContent>, StoreError> {
        let Some(rec) = self.shared.log.get(keys::content(commit))? else {
            return Ok(None);
        };
        if self.shared.log.contains_key(keys::erasing(commit))? {
            return Ok(None);
        }
        // Checks the slot, the seal and the commitment, as a read would.
        let content = self.shared.unseal(commit, &rec)?;
        let Some((_, nonce, sealed)) = split_content(&rec) else {
            return Err(StoreError::corrupt(None, "malformed content record"));
        };
        Ok(Some(SealedContent {
            commit: *commit,
            salt: content.salt,
            nonce,
            sealed: sealed.to_vec(),
        }))
    }

    /// The request digests of commands whose append starts before seq `below`, in seq order.
    pub fn request_digests(&self, below: u64) -> Result<Vec<(u64, Hash)>, StoreError> {
        let mut out = Vec::new();
        for kv in self
            .shared
            .log
            .range(keys::request(0)..keys::request(below))
        {
            let (k, v) = kv?;
            let first = keys::tail_u64(&k)
                .ok_or_else(|| StoreError::corrupt(None, "malformed request digest key"))?;
            let digest: Hash = v
                .as_ref()
                .try_into()
                .map_err(|_| StoreError::corrupt(first, "malformed request digest"))?;
            out.push((first, digest));
        }
        Ok(out)
    }

    /// The checkpoint signing key's seed: the store's one secret key (the request-digest key is
    /// derived from it). Only for a backup that seals it to a passphrase.
    pub fn key_seed(&self) -> Result<[u8; 32], StoreError> {
        read_key(&self.shared.dir.join("checkpoint.key"))
    }
}

/// Writes a fresh store from a backup's parts into `<dir>.restoring`, which [`Restore::finish`]
/// renames to `dir` once everything is on disk, so a restore that stops half-way never leaves
/// `dir` looking like a store.
pub struct Restore {
    dir: PathBuf,
    tmp: PathBuf,
    db: sled::Db,
    log: sled::Tree,
    slots: SlotFile,
    next_slot: u64,
    next_seq: u64,
    batch: sled::Batch,
    pending: usize,
}

impl Restore {
    /// Refuses a `dir` that exists and is not empty (it may hold a store) and a leftover
    /// `<dir>.restoring` (an earlier restore that stopped; remove it first).
    pub fn create(dir: &Path, origin: &str, seed: &[u8; 32]) -> Result<Restore, StoreError> {
        if let Ok(mut it) = fs::read_dir(dir) {
            if it.next().is_some() {
                return Err(StoreError::invalid(
                    "restore directory",
                    format!(
                        "{} is not empty (it may hold a store); restore into a new directory",
                        dir.display()
                    ),
                ));
            }
        }
        let name = dir.file_name().ok_or_else(|| {
            StoreError::invalid("restore directory", "needs a directory name, not a root")
        })?;
        let mut tmp_name = name.to_os_string();
        tmp_name.push(".restoring");
        let tmp = dir.with_file_name(tmp_name);
        if tmp.exists() {
            return Err(StoreError::invalid(
                "restore directory",
                format!(
                    "{} is left from a restore that did not finish; remove it and restore again",
                    tmp.display()
                ),
            ));
        }
        fs::create_dir_all(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o700))
            .map_err(|e| StoreError::io(&tmp, e))?;
        super::write_key(&tmp, &tmp.join("checkpoint.key"), seed)?;
        let db = super::sled_open(&tmp)?;
        let log = db.open_tree("log")?;
        let mut b = sled::Batch::default();
        b.insert(keys::META_FORMAT, &super::FORMAT_VERSION.to_be_bytes());
        b.insert(keys::META_ORIGIN, origin.as_bytes());
        log.apply_batch(b)?;
        let slots_path = tmp.join("salts");
        let slots =
            SlotFile::open(&slots_path, true).map_err(|e| StoreError::io(&slots_path, e))?;
        Ok(Restore {
            dir: dir.to_path_buf(),
            tmp,
            db,
            log,
            slots,
            next_slot: 0,
            next_seq: 0,
            batch: sled::Batch::default(),
            pending: 0,
        })
    }

    fn maybe_apply(&mut self) -> Result<(), StoreError> {
        if self.pending >= 1024 {
            self.apply()?;
        }
        Ok(())
    }

    fn apply(&mut self) -> Result<(), StoreError> {
        let b = std::mem::take(&mut self.batch);
        self.log.apply_batch(b)?;
        self.pending = 0;
        Ok(())
    }

    /// The next entries, from `first` (which must follow the last), as their exact bytes.
    pub fn entries(&mut self, first: u64, entries: &[Vec<u8>]) -> Result<(), StoreError> {
        if first != self.next_seq {
            return Err(StoreError::invalid(
                "entries",
                format!("start at seq {first}, expected {}", self.next_seq),
            ));
        }
        for e in entries {
            let v = EntryView::parse(e).map_err(|w| StoreError::corrupt(self.next_seq, w))?;
            if v.seq != self.next_seq {
                return Err(StoreError::corrupt(
                    self.next_seq,
                    format!("the entry says seq {}", v.seq),
                ));
            }
            self.batch
                .insert(&keys::entry(self.next_seq)[..], e.as_slice());
            self.next_seq += 1;
            self.pending += 1;
            self.maybe_apply()?;
        }
        Ok(())
    }

    /// A segment's sealed content and salt: a new salt slot and its content record.
    pub fn content(&mut self, c: &SealedContent) -> Result<(), StoreError> {
        let slot = self.next_slot;
        self.slots
            .write(slot, &c.commit, &c.salt)
            .map_err(|e| StoreError::io(self.tmp.join("salts"), e))?;
        self.next_slot += 1;
        let mut rec = Vec::with_capacity(20 + c.sealed.len());
        rec.extend_from_slice(&slot.to_be_bytes());
        rec.extend_from_slice(&c.nonce);
        rec.extend_from_slice(&c.sealed);
        self.batch.insert(&keys::content(&c.commit)[..], rec);
        self.pending += 1;
        self.maybe_apply()
    }

    /// A command's request digest.
    pub fn request(&mut self, first: u64, digest: &Hash) -> Result<(), StoreError> {
        self.batch
            .insert(&keys::request(first)[..], digest.as_slice());
        self.pending += 1;
        self.maybe_apply()
    }

    /// Gives up: closes what is open and removes `<dir>.restoring`, leaving nothing behind.
    pub fn abandon(self) {
        let Restore {
            tmp,
            db,
            log,
            slots,
            ..
        } = self;
        drop((log, slots, db));
        if let Err(e) = fs::remove_dir_all(&tmp) {
            tracing::warn!(dir = %tmp.display(), error = %e, "cannot remove an abandoned restore");
        }
    }

    /// Entries written so far.
    pub fn size(&self) -> u64 {
        self.next_seq
    }

    /// Writes what is pending, syncs the files, and opens the result as a store *where it was
    /// written* (`<dir>.restoring`): open derives postings and Merkle blocks from the entries,
    /// checking the chain and stream versions as it goes. Nothing is at `dir` until the caller
    /// has checked the store and calls [`Restored::place`]; a crash before that leaves only
    /// `<dir>.restoring`, which no server opens.
    pub fn finish(mut self, config: StoreConfig) -> Result<Restored, StoreError> {
        self.apply()?;
        self.db.flush()?;
        self.slots
            .sync()
            .map_err(|e| StoreError::io(self.tmp.join("salts"), e))?;
        let db_path = self.tmp.join("sled").join("db");
        fs::File::open(&db_path)
            .and_then(|f| f.sync_all())
            .map_err(|e| StoreError::io(&db_path, e))?;
        let Restore {
            dir,
            tmp,
            db,
            log,
            slots,
            ..
        } = self;
        drop((log, slots));
        drop(db);
        fsync_dir(&tmp)?;
        match LogStore::open(StoreConfig {
            dir: tmp.clone(),
            ..config
        }) {
            Ok(store) => Ok(Restored { store, tmp, dir }),
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp);
                Err(e)
            }
        }
    }
}

/// A restored store, open where it was written, not yet in place.
pub struct Restored {
    store: LogStore,
    tmp: PathBuf,
    dir: PathBuf,
}

impl Restored {
    /// The store, to check before it is placed.
    pub fn store(&self) -> &LogStore {
        &self.store
    }

    /// Closes the checked store and moves it to its directory (an empty `dir` is replaced).
    pub fn place(self) -> Result<(), StoreError> {
        let Restored { store, tmp, dir } = self;
        store.close()?;
        fsync_dir(&tmp)?;
        fs::rename(&tmp, &dir).map_err(|e| StoreError::io(&dir, e))?;
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            fsync_dir(parent)?;
        }
        Ok(())
    }

    /// Closes and removes a store that did not check out: nothing is left at `dir`.
    pub fn discard(self) {
        let Restored { store, tmp, .. } = self;
        let _ = store.close();
        if let Err(e) = fs::remove_dir_all(&tmp) {
            tracing::warn!(dir = %tmp.display(), error = %e, "cannot remove a restore that did not check out");
        }
    }
}

fn hash_of_hex(s: &str) -> Option<Hash> {
    let mut h = [0u8; 32];
    hex::decode_to_slice(s, &mut h).ok()?;
    Some(h)
}
