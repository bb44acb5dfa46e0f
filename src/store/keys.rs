//! Key layout of the `log` tree (the `views` tree's is in `views.rs`). One place, so the layout
//! can be read in one sitting. Each commit group is written in one atomic `apply_batch`.
//!
//! The source of truth:
//! - `E` seq(8 BE)        → the entry's exact bytes
//! - `C` commit(32)       → sealed content: slot(8 BE) ‖ nonce(12) ‖ ciphertext
//! - `X` commit(32)       → (empty) an erasure acknowledged but maybe not yet finished
//! - `Q` first(8 BE)      → the request digest (32) of the command whose append starts at `first`
//!   (a keyed hash: see `AppendBatch::request_digest`); only for appends with a command and a digest
//! - `Mformat`            → store format version (u32 BE)
//! - `Morigin`            → the log's origin, which is also its checkpoint key name
//!
//! Derived from the entries, written in the same batch as the group they describe, and derived
//! again on open whenever missing or damaged:
//! - `W`                  → size(8 BE): entries the derived records cover
//! - `N` first(8 BE)      → Merkle block: for each seq from `first`, its leaf hash then the hashes
//!   of the nodes that seq completes (levels 1..=trailing_zeros(seq+1))
//! - `P` first(8 BE)      → postings: for each seq from `first`, its stream, version, subject and
//!   command (format in `index.rs`); the persisted form of the in-memory index

use crate::format::Hash;

pub const ENTRY: u8 = b'E';
pub const CONTENT: u8 = b'C';
pub const ERASING: u8 = b'X';
pub const REQUEST: u8 = b'Q';
pub const META_FORMAT: &[u8] = b"Mformat";
pub const META_ORIGIN: &[u8] = b"Morigin";

pub const WATERMARK: &[u8] = b"W";
pub const MERKLE: u8 = b'N';
pub const POSTINGS: u8 = b'P';

pub fn entry(seq: u64) -> [u8; 9] {
    prefixed_u64(ENTRY, seq)
}

pub fn request(first: u64) -> [u8; 9] {
    prefixed_u64(REQUEST, first)
}

pub fn merkle(first: u64) -> [u8; 9] {
    prefixed_u64(MERKLE, first)
}

pub fn postings(first: u64) -> [u8; 9] {
    prefixed_u64(POSTINGS, first)
}

fn prefixed_u64(tag: u8, n: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = tag;
    k[1..].copy_from_slice(&n.to_be_bytes());
    k
}

pub fn content(commit: &Hash) -> [u8; 33] {
    prefixed_hash(CONTENT, commit)
}

pub fn erasing(commit: &Hash) -> [u8; 33] {
    prefixed_hash(ERASING, commit)
}

fn prefixed_hash(tag: u8, h: &Hash) -> [u8; 33] {
    let mut k = [0u8; 33];
    k[0] = tag;
    k[1..].copy_from_slice(h);
    k
}

/// Reads a big-endian u64 from `bytes[at..at + 8]`; `None` if too short.
pub fn be_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let b: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_be_bytes(b))
}

/// Reads a big-endian u32 from `bytes[at..at + 4]`; `None` if too short.
pub fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

/// The trailing 8 bytes of a key as a big-endian u64.
pub fn tail_u64(key: &[u8]) -> Option<u64> {
    be_u64(key, key.len().checked_sub(8)?)
}

/// Number of hashes a Merkle block holds before `seq`'s record, for a block starting at `first`:
/// each seq `x` contributes `1 + trailing_zeros(x + 1)` hashes, and
/// `Σ_{y=1..a} trailing_zeros(y) = a - popcount(a)`.
pub fn merkle_offset(first: u64, seq: u64) -> u64 {
    let t = |a: u64| a - u64::from(a.count_ones());
    (seq - first) + t(seq) - t(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merkle_offsets_count_leaf_and_completed_nodes() {
        for first in 0..40u64 {
            let mut off = 0;
            for seq in first..first + 40 {
                assert_eq!(merkle_offset(first, seq), off, "first {first} seq {seq}");
                off += 1 + u64::from((seq + 1).trailing_zeros());
            }
        }
    }
}
