//! Key layout of the two sled trees. One place, so the layout can be read in one sitting.
//!
//! Tree `log` — the source of truth, written in one atomic `apply_batch` per group commit:
//! - `E` seq(8 BE)        → the entry's exact bytes
//! - `C` commit(32)       → sealed content: slot(8 BE) ‖ nonce(12) ‖ ciphertext
//! - `X` commit(32)       → (empty) an erasure acknowledged but maybe not yet finished
//! - `Mformat`            → store format version (u32 BE)
//! - `Morigin`            → the log's origin, which is also its checkpoint key name
//!
//! Tree `derived` — rebuilt from `log` whenever it is behind or missing:
//! - `W`                         → size(8 BE): entries the derived records cover
//! - `N` first(8 BE)             → Merkle block: for each seq from `first`, its leaf hash then
//!   the hashes of the nodes that seq completes (levels 1..=trailing_zeros(seq+1))
//! - `T` stream 0x00 version(8)  → seq(8 BE)
//! - `S` subject 0x00 seq(8)     → (empty)
//! - `K` command                 → first seq(8 BE) ‖ count(8 BE) of the batch it produced
//!
//! Names are printable ASCII (checked on append), so the 0x00 separator keeps one stream's
//! keys from running into another's whose name it prefixes.

use crate::format::Hash;

pub const ENTRY: u8 = b'E';
pub const CONTENT: u8 = b'C';
pub const ERASING: u8 = b'X';
pub const META_FORMAT: &[u8] = b"Mformat";
pub const META_ORIGIN: &[u8] = b"Morigin";

pub const WATERMARK: &[u8] = b"W";
pub const MERKLE: u8 = b'N';
pub const STREAM: u8 = b'T';
pub const SUBJECT: u8 = b'S';
pub const COMMAND: u8 = b'K';

pub fn entry(seq: u64) -> [u8; 9] {
    prefixed_u64(ENTRY, seq)
}

pub fn merkle(first: u64) -> [u8; 9] {
    prefixed_u64(MERKLE, first)
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

/// `tag name 0x00`: the prefix of every key under one stream or subject.
pub fn name_prefix(tag: u8, name: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(name.len() + 10);
    k.push(tag);
    k.extend_from_slice(name.as_bytes());
    k.push(0);
    k
}

/// `tag name 0x00 n(8 BE)`.
pub fn name_u64(tag: u8, name: &str, n: u64) -> Vec<u8> {
    let mut k = name_prefix(tag, name);
    k.extend_from_slice(&n.to_be_bytes());
    k
}

pub fn command(id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(id.len() + 1);
    k.push(COMMAND);
    k.extend_from_slice(id.as_bytes());
    k
}

/// The value of a `K` record: the first seq and the count of the batch a command produced.
pub fn command_value(first: u64, count: u64) -> [u8; 16] {
    let mut v = [0u8; 16];
    v[..8].copy_from_slice(&first.to_be_bytes());
    v[8..].copy_from_slice(&count.to_be_bytes());
    v
}

/// Reads a big-endian u64 from `bytes[at..at + 8]`; `None` if too short.
pub fn be_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let b: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_be_bytes(b))
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
