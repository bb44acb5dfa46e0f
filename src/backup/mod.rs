//! The backup file (format v1): what `withus.v1.Admin/Backup` streams and `withus backup`
//! writes, byte for byte, and what `withus restore` reads. A wire format of its own — never a
//! domain struct's serde — documented in ARCHITECTURE.md ("Backup and restore").
//!
//! Owns: the file's framing and records ([`Record`], [`Encoder`], [`Reader`]), and sealing the
//! store's key material to a passphrase ([`seal_keys`], [`open_keys`]: Argon2id, then
//! ChaCha20-Poly1305). Must not touch: the disk, sled, the clock or randomness (callers pass
//! salts and nonces); what the entries mean. [`restore`] carries a restore out: it reads a file
//! through [`Reader`], asks the domain what was erased and has the store write.
//!
//! Layout: `MAGIC` (8 bytes) ‖ format version (u32 BE), then records, each
//! `kind (u8) ‖ len (u32 BE) ‖ payload (len bytes) ‖ chain (32)`, where
//! `chain_i = BLAKE3(chain_{i-1} ‖ kind ‖ len ‖ payload)` and `chain_{-1} = BLAKE3(MAGIC ‖ version)`.
//! The chain finds accidental damage and truncation and says where; the entries' integrity rests
//! on the signed checkpoint (restore recomputes the root), content on its commitments, and the
//! key material on its AEAD tag.
//!
//! Records, in this order: one `Header`, one `Checkpoint`, at most one `Keys` (so a wrong
//! passphrase is found before anything is written), `Entries` (from seq 0, contiguous, up to the
//! header's tree size), `Contents`, `Requests`, one `End`. Nothing may follow `End`.

pub mod restore;

use std::io::Read;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde::{Deserialize, Serialize};

use crate::format::Hash;

/// The file's first eight bytes.
pub const MAGIC: &[u8; 8] = b"WUBACKUP";
/// The format version this code writes and reads.
pub const FORMAT: u32 = 1;
/// Largest payload of one record (a record is one gRPC message's worth, well under 4 MiB).
pub const MAX_RECORD: usize = 1 << 20;
/// What one `Entries` or `Contents` record is filled up to before a new one starts.
pub const RECORD_TARGET: usize = 512 * 1024;

/// Argon2id cost of sealing key material: 64 MiB, 3 passes, 1 lane (RFC 9106's second
/// recommended option, for memory-constrained machines).
pub const ARGON2_M_KIB: u32 = 64 * 1024;
pub const ARGON2_T: u32 = 3;
pub const ARGON2_P: u32 = 1;
/// Most a file may ask of the machine restoring it: what format 1 writes, so a crafted file
/// cannot make a restore allocate more before its passphrase is even tried.
const ARGON2_LIMITS: (u32, u32, u32) = (ARGON2_M_KIB, ARGON2_T, ARGON2_P);
/// Shortest passphrase accepted for sealing key material.
pub const MIN_PASSPHRASE_CHARS: usize = 12;

const KIND_HEADER: u8 = 1;
const KIND_CHECKPOINT: u8 = 2;
const KIND_ENTRIES: u8 = 3;
const KIND_CONTENTS: u8 = 4;
const KIND_REQUESTS: u8 = 5;
const KIND_KEYS: u8 = 6;
const KIND_END: u8 = 0xFF;

/// The first record: what the backup is of. JSON, exactly these fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// The log's origin (and checkpoint key name).
    pub origin: String,
    /// Entries the backup holds: the tree size fixed when the backup started.
    pub tree_size: u64,
    /// The Merkle root of those entries, hex (also in the signed checkpoint).
    pub root: String,
    /// The verifier key of the log's checkpoints.
    pub vkey: String,
    /// When the backup was taken (the server's clock, `YYYY-MM-DDTHH:MM:SS.mmmZ`).
    pub taken_at: String,
    /// Whether a `Keys` record follows.
    pub with_keys: bool,
}

/// One segment's sealed content and its salt, as the store holds them.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedContent {
    pub commit: Hash,
    pub salt: [u8; 32],
    pub nonce: [u8; 12],
    pub sealed: Vec<u8>,
}

impl std::fmt::Debug for SealedContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the salt: with it a guess of the text could be tested against the commitment.
        f.debug_struct("SealedContent")
            .field("commit", &crate::format::to_hex(&self.commit))
            .finish()
    }
}

/// The store's key material sealed to a passphrase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedKeys {
    /// Argon2id memory (KiB), passes, lanes.
    pub m_kib: u32,
    pub t: u32,
    pub p: u32,
    pub salt: [u8; 16],
    pub nonce: [u8; 12],
    /// ChaCha20-Poly1305 of [`KeyMaterial`]'s bytes, the header's payload as associated data.
    pub sealed: Vec<u8>,
}

/// What the store's secrets are: the checkpoint signing key's seed (the request-digest key is
/// derived from it; content keys from each segment's salt, which `Contents` carries).
#[derive(Clone, PartialEq, Eq)]
pub struct KeyMaterial {
    pub checkpoint_seed: [u8; 32],
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyMaterial(..)")
    }
}

/// One record of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// The header, as its exact JSON bytes (the key material's associated data).
    Header(Vec<u8>),
    /// The signed checkpoint at the header's tree size (a C2SP signed note).
    Checkpoint(String),
    /// Entries' exact bytes from `first` on.
    Entries {
        first: u64,
        entries: Vec<Vec<u8>>,
    },
    /// Sealed content of segments the entries commit to, not erased when it was read.
    Contents(Vec<SealedContent>),
    /// Request digests of commands (`first` seq of the command's append → digest).
    Requests(Vec<(u64, Hash)>),
    Keys(SealedKeys),
    /// Counts of what came before: entries, contents, requests.
    End {
        entries: u64,
        contents: u64,
        requests: u64,
    },
}

impl Header {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The file's first twelve bytes.
pub fn preamble() -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&FORMAT.to_be_bytes());
    out
}

fn chain_start() -> Hash {
    *blake3::hash(&preamble()).as_bytes()
}

fn record_payload(r: &Record) -> (u8, Vec<u8>) {
    let mut p = Vec::new();
    let kind = match r {
        Record::Header(h) => {
            p.extend_from_slice(h);
            KIND_HEADER
        }
        Record::Checkpoint(note) => {
            p.extend_from_slice(note.as_bytes());
            KIND_CHECKPOINT
        }
        Record::Entries { first, entries } => {
            p.extend_from_slice(&first.to_be_bytes());
            p.extend_from_slice(&len32(entries.len()).to_be_bytes());
            for e in entries {
                p.extend_from_slice(&len32(e.len()).to_be_bytes());
                p.extend_from_slice(e);
            }
            KIND_ENTRIES
        }
        Record::Contents(cs) => {
            p.extend_from_slice(&len32(cs.len()).to_be_bytes());
            for c in cs {
                p.extend_from_slice(&c.commit);
                p.extend_from_slice(&c.salt);
                p.extend_from_slice(&c.nonce);
                p.extend_from_slice(&len32(c.sealed.len()).to_be_bytes());
                p.extend_from_slice(&c.sealed);
            }
            KIND_CONTENTS
        }
        Record::Requests(rs) => {
            p.extend_from_slice(&len32(rs.len()).to_be_bytes());
            for (first, d) in rs {
                p.extend_from_slice(&first.to_be_bytes());
                p.extend_from_slice(d);
            }
            KIND_REQUESTS
        }
        Record::Keys(k) => {
            p.extend_from_slice(&k.m_kib.to_be_bytes());
            p.extend_from_slice(&k.t.to_be_bytes());
            p.extend_from_slice(&k.p.to_be_bytes());
            p.extend_from_slice(&k.salt);
            p.extend_from_slice(&k.nonce);
            p.extend_from_slice(&k.sealed);
            KIND_KEYS
        }
        Record::End {
            entries,
            contents,
            requests,
        } => {
            p.extend_from_slice(&entries.to_be_bytes());
            p.extend_from_slice(&contents.to_be_bytes());
            p.extend_from_slice(&requests.to_be_bytes());
            KIND_END
        }
    };
    (kind, p)
}

/// Lengths here are bounded by [`MAX_RECORD`]; saturate rather than wrap if one were not.
fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Writes records one after another, keeping the chain.
#[derive(Debug, Clone)]
pub struct Encoder {
    chain: Hash,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder {
            chain: chain_start(),
        }
    }
}

impl Encoder {
    /// The record's bytes (header, payload, chain).
    pub fn encode(&mut self, r: &Record) -> Vec<u8> {
        let (kind, payload) = record_payload(r);
        let mut out = Vec::with_capacity(payload.len() + 37);
        out.push(kind);
        out.extend_from_slice(&len32(payload.len()).to_be_bytes());
        out.extend_from_slice(&payload);
        let mut h = blake3::Hasher::new();
        h.update(&self.chain);
        h.update(&out);
        self.chain = *h.finalize().as_bytes();
        out.extend_from_slice(&self.chain);
        out
    }
}

/// Why a backup file cannot be used, and where.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("byte {offset}: {what}")]
    Damaged { offset: u64, what: String },
    #[error("the file ends at byte {offset} {what}: it is truncated (take the backup again)")]
    Truncated { offset: u64, what: String },
    #[error("the key material does not open: wrong passphrase, or the file was altered")]
    WrongPassphrase,
    #[error("reading the backup: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads records in order, checking the framing, the chain and the order of kinds.
pub struct Reader<R> {
    inner: R,
    offset: u64,
    chain: Hash,
    /// The kind of the last record read (0 before the first).
    last: u8,
    done: bool,
    next_seq: u64,
    counts: (u64, u64, u64),
}

impl<R: Read> Reader<R> {
    /// Checks the preamble.
    pub fn new(mut inner: R) -> Result<Reader<R>, BackupError> {
        let mut pre = [0u8; 12];
        read_exact(&mut inner, &mut pre, 0, "inside the preamble")?;
        if &pre[..8] != MAGIC {
            return Err(BackupError::Damaged {
                offset: 0,
                what: "not a withus backup file (the first bytes are not WUBACKUP)".into(),
            });
        }
        let version = u32::from_be_bytes([pre[8], pre[9], pre[10], pre[11]]);
        if version != FORMAT {
            return Err(BackupError::Damaged {
                offset: 8,
                what: format!(
                    "backup format {version}; this withus reads format {FORMAT} (use a withus that wrote it)"
                ),
            });
        }
        Ok(Reader {
            inner,
            offset: 12,
            chain: chain_start(),
            last: 0,
            done: false,
            next_seq: 0,
            counts: (0, 0, 0),
        })
    }

    /// Where the reader is in the file.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next record, or `None` after `End` (and nothing after it).
    pub fn next_record(&mut self) -> Result<Option<Record>, BackupError> {
        if self.done {
            return Ok(None);
        }
        let start = self.offset;
        let mut head = [0u8; 5];
        read_exact(&mut self.inner, &mut head, start, "before its End record")?;
        let kind = head[0];
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let damaged = |what: String| BackupError::Damaged {
            offset: start,
            what,
        };
        if len > MAX_RECORD {
            return Err(damaged(format!(
                "a record of {len} bytes is over the {MAX_RECORD} byte limit: damaged"
            )));
        }
        let mut payload = vec![0u8; len];
        read_exact(&mut self.inner, &mut payload, start + 5, "inside a record")?;
        let mut stored = [0u8; 32];
        read_exact(
            &mut self.inner,
            &mut stored,
            start + 5 + len as u64,
            "inside a record",
        )?;
        let mut h = blake3::Hasher::new();
        h.update(&self.chain);
        h.update(&head);
        h.update(&payload);
        let chain = *h.finalize().as_bytes();
        if chain != stored {
            return Err(damaged(
                "the record's chain hash does not match: the file was altered or damaged here"
                    .into(),
            ));
        }
        self.chain = chain;
        self.offset = start + 5 + len as u64 + 32;
        let rec = parse(kind, &payload).map_err(&damaged)?;
        self.check_order(&rec).map_err(damaged)?;
        if let Record::End { .. } = rec {
            self.done = true;
            let mut extra = [0u8; 1];
            if self.inner.read(&mut extra)? != 0 {
                return Err(BackupError::Damaged {
                    offset: self.offset,
                    what: "bytes follow the End record: not a backup file as written".into(),
                });
            }
        }
        Ok(Some(rec))
    }

    fn check_order(&mut self, rec: &Record) -> Result<(), String> {
        let kind = record_payload_kind(rec);
        let allowed: &[u8] = match self.last {
            0 => &[KIND_HEADER],
            KIND_HEADER => &[KIND_CHECKPOINT],
            KIND_CHECKPOINT => &[
                KIND_KEYS,
                KIND_ENTRIES,
                KIND_CONTENTS,
                KIND_REQUESTS,
                KIND_END,
            ],
            KIND_KEYS | KIND_ENTRIES => &[KIND_ENTRIES, KIND_CONTENTS, KIND_REQUESTS, KIND_END],
            KIND_CONTENTS => &[KIND_CONTENTS, KIND_REQUESTS, KIND_END],
            KIND_REQUESTS => &[KIND_REQUESTS, KIND_END],
            _ => &[],
        };
        if !allowed.contains(&kind) {
            return Err(format!(
                "a {} record after a {} record: records are out of order",
                kind_name(kind),
                kind_name(self.last)
            ));
        }
        match rec {
            Record::Entries { first, entries } => {
                if *first != self.next_seq {
                    return Err(format!(
                        "entries start at seq {first}, expected {}",
                        self.next_seq
                    ));
                }
                self.next_seq += entries.len() as u64;
                self.counts.0 += entries.len() as u64;
            }
            Record::Contents(cs) => self.counts.1 += cs.len() as u64,
            Record::Requests(rs) => self.counts.2 += rs.len() as u64,
            Record::End {
                entries,
                contents,
                requests,
            } if (*entries, *contents, *requests) != self.counts => {
                return Err(format!(
                    "the End record counts {entries} entries, {contents} contents and \
                     {requests} requests; the file holds {}, {} and {}",
                    self.counts.0, self.counts.1, self.counts.2
                ));
            }
            _ => {}
        }
        self.last = kind;
        Ok(())
    }
}

fn record_payload_kind(r: &Record) -> u8 {
    match r {
        Record::Header(_) => KIND_HEADER,
        Record::Checkpoint(_) => KIND_CHECKPOINT,
        Record::Entries { .. } => KIND_ENTRIES,
        Record::Contents(_) => KIND_CONTENTS,
        Record::Requests(_) => KIND_REQUESTS,
        Record::Keys(_) => KIND_KEYS,
        Record::End { .. } => KIND_END,
    }
}

fn kind_name(k: u8) -> &'static str {
    match k {
        0 => "(start)",
        KIND_HEADER => "Header",
        KIND_CHECKPOINT => "Checkpoint",
        KIND_ENTRIES => "Entries",
        KIND_CONTENTS => "Contents",
        KIND_REQUESTS => "Requests",
        KIND_KEYS => "Keys",
        KIND_END => "End",
        _ => "unknown",
    }
}

fn read_exact<R: Read>(
    r: &mut R,
    buf: &mut [u8],
    offset: u64,
    what: &str,
) -> Result<(), BackupError> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => {
                return Err(BackupError::Truncated {
                    offset: offset + got as u64,
                    what: what.to_string(),
                })
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// A cursor over a payload whose reads say what is missing.
struct Cur<'a> {
    b: &'a [u8],
    at: usize,
    kind: &'static str,
}

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.b.len());
        match end {
            Some(end) => {
                let s = &self.b[self.at..end];
                self.at = end;
                Ok(s)
            }
            None => Err(format!("the {} record is cut short", self.kind)),
        }
    }
    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, String> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn end(&self) -> Result<(), String> {
        if self.at != self.b.len() {
            return Err(format!(
                "the {} record has {} bytes too many",
                self.kind,
                self.b.len() - self.at
            ));
        }
        Ok(())
    }
}

fn parse(kind: u8, payload: &[u8]) -> Result<Record, String> {
    let mut c = Cur {
        b: payload,
        at: 0,
        kind: kind_name(kind),
    };
    let rec = match kind {
        KIND_HEADER => {
            let _: Header = serde_json::from_slice(payload)
                .map_err(|e| format!("the Header record does not read: {e}"))?;
            c.at = payload.len();
            Record::Header(payload.to_vec())
        }
        KIND_CHECKPOINT => {
            c.at = payload.len();
            Record::Checkpoint(
                String::from_utf8(payload.to_vec())
                    .map_err(|_| "the Checkpoint record is not UTF-8".to_string())?,
            )
        }
        KIND_ENTRIES => {
            let first = c.u64()?;
            let n = c.u32()? as usize;
            let mut entries = Vec::with_capacity(n.min(payload.len()));
            for _ in 0..n {
                let len = c.u32()? as usize;
                entries.push(c.take(len)?.to_vec());
            }
            Record::Entries { first, entries }
        }
        KIND_CONTENTS => {
            let n = c.u32()? as usize;
            let mut cs = Vec::with_capacity(n.min(payload.len() / 80));
            for _ in 0..n {
                let commit = c.arr::<32>()?;
                let salt = c.arr::<32>()?;
                let nonce = c.arr::<12>()?;
                let len = c.u32()? as usize;
                let sealed = c.take(len)?.to_vec();
                cs.push(SealedContent {
                    commit,
                    salt,
                    nonce,
                    sealed,
                });
            }
            Record::Contents(cs)
        }
        KIND_REQUESTS => {
            let n = c.u32()? as usize;
            let mut rs = Vec::with_capacity(n.min(payload.len() / 40));
            for _ in 0..n {
                let first = c.u64()?;
                rs.push((first, c.arr::<32>()?));
            }
            Record::Requests(rs)
        }
        KIND_KEYS => {
            let m_kib = c.u32()?;
            let t = c.u32()?;
            let p = c.u32()?;
            let salt = c.arr::<16>()?;
            let nonce = c.arr::<12>()?;
            let sealed = c.take(payload.len().saturating_sub(c.at))?.to_vec();
            Record::Keys(SealedKeys {
                m_kib,
                t,
                p,
                salt,
                nonce,
                sealed,
            })
        }
        KIND_END => Record::End {
            entries: c.u64()?,
            contents: c.u64()?,
            requests: c.u64()?,
        },
        other => return Err(format!("unknown record kind {other}")),
    };
    c.end()?;
    Ok(rec)
}

fn derive(
    passphrase: &str,
    salt: &[u8; 16],
    m_kib: u32,
    t: u32,
    p: u32,
) -> Result<[u8; 32], String> {
    let (mm, mt, mp) = ARGON2_LIMITS;
    if m_kib > mm || t > mt || p > mp {
        return Err(format!(
            "the key derivation asks for {m_kib} KiB, {t} passes, {p} lanes: over this withus' \
             limits ({mm} KiB, {mt}, {mp})"
        ));
    }
    let params = argon2::Params::new(m_kib, t, p, Some(32))
        .map_err(|e| format!("argon2 parameters: {e}"))?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = [0u8; 32];
    a.hash_password_into(passphrase.as_bytes(), salt, &mut key)
        .map_err(|e| format!("argon2: {e}"))?;
    Ok(key)
}

/// Seals the key material to `passphrase` (Argon2id with the default cost, then
/// ChaCha20-Poly1305 with `header` — the Header record's bytes — as associated data, so the keys
/// open only in the backup they were written for). `salt` and `nonce` must be fresh random bytes.
pub fn seal_keys(
    passphrase: &str,
    keys: &KeyMaterial,
    header: &[u8],
    salt: [u8; 16],
    nonce: [u8; 12],
) -> Result<SealedKeys, String> {
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(format!(
            "a passphrase needs at least {MIN_PASSPHRASE_CHARS} characters"
        ));
    }
    let key = derive(passphrase, &salt, ARGON2_M_KIB, ARGON2_T, ARGON2_P)?;
    let sealed = ChaCha20Poly1305::new(Key::from_slice(&key))
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &keys.checkpoint_seed,
                aad: header,
            },
        )
        .map_err(|_| "sealing the key material failed".to_string())?;
    Ok(SealedKeys {
        m_kib: ARGON2_M_KIB,
        t: ARGON2_T,
        p: ARGON2_P,
        salt,
        nonce,
        sealed,
    })
}

/// Opens sealed key material with `passphrase`; [`BackupError::WrongPassphrase`] if it does not.
pub fn open_keys(
    passphrase: &str,
    sealed: &SealedKeys,
    header: &[u8],
) -> Result<KeyMaterial, BackupError> {
    let key =
        derive(passphrase, &sealed.salt, sealed.m_kib, sealed.t, sealed.p).map_err(|what| {
            BackupError::Damaged {
                offset: 0,
                what: format!("the Keys record: {what}"),
            }
        })?;
    let plain = ChaCha20Poly1305::new(Key::from_slice(&key))
        .decrypt(
            Nonce::from_slice(&sealed.nonce),
            Payload {
                msg: &sealed.sealed,
                aad: header,
            },
        )
        .map_err(|_| BackupError::WrongPassphrase)?;
    let checkpoint_seed: [u8; 32] = plain.try_into().map_err(|_| BackupError::Damaged {
        offset: 0,
        what: "the Keys record opens to key material of the wrong length".into(),
    })?;
    Ok(KeyMaterial { checkpoint_seed })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(records: &[Record]) -> Vec<u8> {
        let mut out = preamble();
        let mut enc = Encoder::default();
        for r in records {
            out.extend(enc.encode(r));
        }
        out
    }

    fn sample() -> Vec<Record> {
        let header = Header {
            origin: "o".into(),
            tree_size: 2,
            root: "00".into(),
            vkey: "v".into(),
            taken_at: "t".into(),
            with_keys: false,
        };
        vec![
            Record::Header(header.to_bytes()),
            Record::Checkpoint("note\n".into()),
            Record::Entries {
                first: 0,
                entries: vec![b"a".to_vec(), b"bc".to_vec()],
            },
            Record::Contents(vec![SealedContent {
                commit: [1; 32],
                salt: [2; 32],
                nonce: [3; 12],
                sealed: vec![4, 5],
            }]),
            Record::Requests(vec![(0, [6; 32])]),
            Record::End {
                entries: 2,
                contents: 1,
                requests: 1,
            },
        ]
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<Record>, BackupError> {
        let mut r = Reader::new(bytes)?;
        let mut out = Vec::new();
        while let Some(rec) = r.next_record()? {
            out.push(rec);
        }
        Ok(out)
    }

    #[test]
    fn records_read_back_as_written() {
        let recs = sample();
        assert_eq!(read_all(&file(&recs)).unwrap(), recs);
    }

    #[test]
    fn every_flipped_byte_and_every_cut_is_found() {
        let bytes = file(&sample());
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x40;
            assert!(read_all(&b).is_err(), "flip at {i} not found");
            assert!(
                matches!(
                    read_all(&bytes[..i]),
                    Err(BackupError::Truncated { .. }) | Err(BackupError::Damaged { .. })
                ),
                "cut at {i} not found"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(read_all(&longer).is_err());
    }

    #[test]
    fn keys_open_with_the_passphrase_only() {
        let keys = KeyMaterial {
            checkpoint_seed: [9; 32],
        };
        let sealed = seal_keys("correct horse battery", &keys, b"h", [1; 16], [2; 12]).unwrap();
        assert_eq!(
            open_keys("correct horse battery", &sealed, b"h").unwrap(),
            keys
        );
        assert!(matches!(
            open_keys("wrong horse battery", &sealed, b"h"),
            Err(BackupError::WrongPassphrase)
        ));
        assert!(matches!(
            open_keys("correct horse battery", &sealed, b"other header"),
            Err(BackupError::WrongPassphrase)
        ));
        assert!(seal_keys("short", &keys, b"h", [1; 16], [2; 12]).is_err());
    }
}
