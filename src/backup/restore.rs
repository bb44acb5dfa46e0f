//! `withus restore`: a fresh store from a backup file, with every erasure the log records
//! re-applied — those in the backup's own entries and, given a later text-free export of the live
//! log (`--erasures-from`), those recorded after the backup was taken.
//!
//! Owns: the order of a restore and its checks (the key material matches the backup's vkey and
//! signs its checkpoint; a later export extends the backup's log — its first `N` leaves have the
//! checkpoint's root; the restored store's root is the checkpoint's and it verifies). Must not
//! touch: sled (the store writes: [`Restore`]), the file's framing ([`super::Reader`]), what
//! erases (the domain's [`Erasures`]).
//!
//! Erased content is never written: a segment whose commitment an entry erased is skipped, so
//! neither its salt nor its sealed text reaches the new data directory.

use std::collections::BTreeSet;
use std::io::{BufRead, Read};
use std::path::PathBuf;

use super::{open_keys, BackupError, Header, Reader, Record};
use crate::checkpoint::{NoteSigner, NoteVerifier};
use crate::domain::erasure::Erasures;
use crate::domain::Recorded;
use crate::format::{to_hex, EntryView, Hash};
use crate::store::{EntryChecker, LogStore, Restore, StoreConfig, StoreError, VerifyReport};

/// Where the restore's secrets come from.
pub enum Keys {
    /// The backup's `Keys` record, opened with this passphrase.
    Passphrase(String),
    /// A copy of the live store's `checkpoint.key` (for a backup taken without key material).
    KeyFile(PathBuf),
    /// Neither was given.
    None,
}

/// Why a restore did not happen (or, for [`RestoreError::Check`], did not check out).
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("the backup file, {0}")]
    Backup(#[from] BackupError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Keys(String),
    #[error("--erasures-from, {0}")]
    Export(String),
    #[error("the restored store does not check out: {0}")]
    Check(String),
}

/// What a restore did.
#[derive(Debug)]
pub struct RestoreReport {
    pub origin: String,
    /// When the backup was taken (its header's `taken_at`).
    pub taken_at: String,
    /// Entries restored (the backup's tree size).
    pub entries: u64,
    /// The restored root, equal to the backup checkpoint's.
    pub root: Hash,
    pub vkey: String,
    /// Content segments written.
    pub contents: u64,
    /// Segments of the backup not written because the log records their erasure.
    pub erased_skipped: u64,
    /// Commitments the log (and the later export) record as erased.
    pub erasures: u64,
    /// Entries of the later export, if one was given.
    pub export_entries: Option<u64>,
    /// The full verification of the restored store.
    pub verify: VerifyReport,
}

fn header_of(bytes: &[u8]) -> Result<Header, RestoreError> {
    serde_json::from_slice(bytes).map_err(|e| {
        RestoreError::Backup(BackupError::Damaged {
            offset: 12,
            what: format!("the Header record does not read: {e}"),
        })
    })
}

fn recorded(bytes: &[u8]) -> Option<Recorded> {
    EntryView::parse(bytes)
        .ok()
        .and_then(|v| Recorded::from_entry(&v).ok())
}

/// Reads a later export and returns the commitments it records as erased, after checking that
/// it extends the backup: its entries pass §6's checks and its first `n` leaves have `root`.
fn erasures_in_export(
    export: &mut dyn BufRead,
    n: u64,
    root: &Hash,
) -> Result<(BTreeSet<Hash>, u64), RestoreError> {
    let mut checker = EntryChecker::default();
    let mut fold = Erasures::new();
    let mut root_at_n = (n == 0).then_some(checker.root());
    let mut line = Vec::new();
    loop {
        line.clear();
        let got = export
            .read_until(b'\n', &mut line)
            .map_err(|e| RestoreError::Export(format!("cannot be read: {e}")))?;
        if got == 0 {
            break;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        let seq = checker.size();
        checker.push(&line).map_err(|f| {
            RestoreError::Export(format!(
                "line {}: {f}: not an export of a withus log as written",
                seq + 1
            ))
        })?;
        fold.push(seq, recorded(&line).as_ref());
        if checker.size() == n {
            root_at_n = Some(checker.root());
        }
    }
    match root_at_n {
        None => Err(RestoreError::Export(format!(
            "holds {} entries, fewer than the backup's {n}: export the live log again, after the backup",
            checker.size()
        ))),
        Some(r) if r != *root => Err(RestoreError::Export(format!(
            "its first {n} entries have root {}, the backup's checkpoint {}: it is not a later \
             export of the same log",
            to_hex(&r),
            to_hex(root)
        ))),
        Some(_) => Ok((fold.erased().clone(), checker.size())),
    }
}

/// Restores the backup read from `backup` into `config.dir` (which must not hold anything).
pub fn restore(
    backup: impl Read,
    keys: Keys,
    mut erasures_from: Option<&mut dyn BufRead>,
    config: StoreConfig,
) -> Result<RestoreReport, RestoreError> {
    let mut r = Reader::new(backup)?;
    let Some(Record::Header(header_bytes)) = r.next_record()? else {
        return Err(BackupError::Damaged {
            offset: 12,
            what: "no Header record".into(),
        }
        .into());
    };
    let header = header_of(&header_bytes)?;
    let cp_offset = r.offset();
    let Some(Record::Checkpoint(note)) = r.next_record()? else {
        return Err(BackupError::Damaged {
            offset: cp_offset,
            what: "no Checkpoint record".into(),
        }
        .into());
    };
    let checkpoint = NoteVerifier::from_vkey(&header.vkey)
        .and_then(|v| v.open(&note))
        .map_err(|e| BackupError::Damaged {
            offset: cp_offset,
            what: format!("the checkpoint does not verify with the backup's vkey: {e}"),
        })?;
    if checkpoint.size != header.tree_size
        || to_hex(&checkpoint.root) != header.root
        || checkpoint.origin != header.origin
    {
        return Err(BackupError::Damaged {
            offset: cp_offset,
            what: "the checkpoint's origin, size or root is not the header's".into(),
        }
        .into());
    }

    // The later export first: whatever it says is erased is never written.
    let mut erased = BTreeSet::new();
    let mut export_entries = None;
    if let Some(export) = erasures_from.as_mut() {
        let (found, n) = erasures_in_export(*export, header.tree_size, &checkpoint.root)?;
        erased = found;
        export_entries = Some(n);
    }

    // The key material, before anything is written.
    let mut next = r.next_record()?;
    let seed =
        match (&next, keys) {
            (Some(Record::Keys(sealed)), Keys::Passphrase(p)) => {
                let k = open_keys(&p, sealed, &header_bytes)?;
                next = r.next_record()?;
                k.checkpoint_seed
            }
            (Some(Record::Keys(_)), Keys::KeyFile(path)) => {
                next = r.next_record()?;
                crate::store::read_key_file(&path)?
            }
            (Some(Record::Keys(_)), Keys::None) => {
                return Err(RestoreError::Keys(
                    "the backup's key material is sealed to a passphrase: give it with \
                 --passphrase-file FILE (or a copy of the live store's checkpoint.key with \
                 --key-file FILE)"
                        .into(),
                ))
            }
            (_, Keys::KeyFile(path)) => crate::store::read_key_file(&path)?,
            (_, Keys::Passphrase(_) | Keys::None) => return Err(RestoreError::Keys(
                "this backup holds no key material (it was taken without --with-keys): copy the \
                 live store's checkpoint.key (mode 0600) and give it with --key-file FILE; without \
                 that key no checkpoint of the restored log can be signed with the same vkey"
                    .into(),
            )),
        };
    let signer = NoteSigner::new(&header.origin, &seed)
        .map_err(|e| RestoreError::Keys(format!("the key material: {e}")))?;
    if signer.vkey() != header.vkey {
        return Err(RestoreError::Keys(format!(
            "the key (vkey {}) is not the one that signed this backup's checkpoint ({}); use the \
             checkpoint.key of the store the backup was taken from",
            signer.vkey(),
            header.vkey
        )));
    }

    let mut out = Restore::create(&config.dir, &header.origin, &seed)?;
    let filled = fill(
        &mut r,
        next,
        &mut out,
        &header,
        &mut erased,
        export_entries.is_none(),
    );
    let (contents, skipped) = match filled {
        Ok(counts) => counts,
        Err(e) => {
            out.abandon();
            return Err(e);
        }
    };

    // Checked where it was written; only a store that checks out is moved to `--data`.
    let restored = out.finish(config)?;
    let checked = check_restored(restored.store(), &header, &checkpoint.root);
    let verify = match checked {
        Ok(v) => v,
        Err(e) => {
            restored.discard();
            return Err(e);
        }
    };
    let store = restored.store();
    let report = RestoreReport {
        origin: header.origin,
        taken_at: header.taken_at,
        entries: store.size(),
        root: checkpoint.root,
        vkey: header.vkey,
        contents,
        erased_skipped: skipped,
        erasures: erased.len() as u64,
        export_entries,
        verify,
    };
    restored.place()?;
    Ok(report)
}

fn check_restored(
    store: &LogStore,
    header: &Header,
    root: &Hash,
) -> Result<VerifyReport, RestoreError> {
    if store.size() != header.tree_size {
        return Err(RestoreError::Check(format!(
            "{} entries, the backup's checkpoint covers {}",
            store.size(),
            header.tree_size
        )));
    }
    let got = store.root(header.tree_size)?;
    if got != *root {
        return Err(RestoreError::Check(format!(
            "root {} is not the backup checkpoint's {}",
            to_hex(&got),
            to_hex(root)
        )));
    }
    if store.vkey()? != header.vkey {
        return Err(RestoreError::Check("its vkey is not the backup's".into()));
    }
    let report = store.verify(&mut |_, _| {})?;
    if let Some(f) = &report.failure {
        return Err(RestoreError::Check(format!("withus log verify: {f}")));
    }
    Ok(report)
}

/// Writes the backup's entries, content (less what `erased` and the entries' own erasures name)
/// and request digests, from the record `next` on, to its End record.
fn fill<R: Read>(
    r: &mut Reader<R>,
    mut next: Option<Record>,
    out: &mut Restore,
    header: &Header,
    erased: &mut BTreeSet<Hash>,
    fold_backup: bool,
) -> Result<(u64, u64), RestoreError> {
    let mut fold = Erasures::new();
    let mut contents = 0u64;
    let mut skipped = 0u64;
    let mut folded = false;
    loop {
        let at = r.offset();
        let Some(rec) = next.take() else {
            return Err(BackupError::Truncated {
                offset: at,
                what: "before its End record".into(),
            }
            .into());
        };
        match rec {
            Record::Entries { first, entries } => {
                if first + entries.len() as u64 > header.tree_size {
                    return Err(BackupError::Damaged {
                        offset: at,
                        what: format!("entries beyond the header's tree size {}", header.tree_size),
                    }
                    .into());
                }
                if fold_backup {
                    for (i, e) in entries.iter().enumerate() {
                        fold.push(first + i as u64, recorded(e).as_ref());
                    }
                }
                out.entries(first, &entries)?;
            }
            Record::Contents(cs) => {
                if !folded {
                    if out.size() != header.tree_size {
                        return Err(BackupError::Damaged {
                            offset: at,
                            what: format!(
                                "{} entries before the content, the header says {}",
                                out.size(),
                                header.tree_size
                            ),
                        }
                        .into());
                    }
                    erased.extend(fold.erased().iter().copied());
                    folded = true;
                }
                for c in &cs {
                    if erased.contains(&c.commit) {
                        skipped += 1;
                        continue;
                    }
                    let opens = crate::content::open(&c.salt, &c.nonce, &c.commit, &c.sealed)
                        .is_some_and(|t| crate::content::commit(&c.salt, &t) == c.commit);
                    if !opens {
                        return Err(BackupError::Damaged {
                            offset: at,
                            what: format!(
                                "content {} does not open to its commitment: altered",
                                to_hex(&c.commit)
                            ),
                        }
                        .into());
                    }
                    out.content(c)?;
                    contents += 1;
                }
            }
            Record::Requests(rs) => {
                for (first, d) in &rs {
                    out.request(*first, d)?;
                }
            }
            Record::End { .. } => break,
            Record::Header(_) | Record::Checkpoint(_) | Record::Keys(_) => {
                return Err(BackupError::Damaged {
                    offset: at,
                    what: "a second Header, Checkpoint or Keys record".into(),
                }
                .into())
            }
        }
        next = r.next_record()?;
    }
    if out.size() != header.tree_size {
        return Err(BackupError::Damaged {
            offset: r.offset(),
            what: format!(
                "holds {} entries, the header says {}",
                out.size(),
                header.tree_size
            ),
        }
        .into());
    }
    if !folded {
        erased.extend(fold.erased().iter().copied());
    }
    Ok((contents, skipped))
}
