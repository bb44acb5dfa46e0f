//! log-format §2 and §3: leaf and node hashes, RFC 9162 tree hashes and inclusion proofs.

use crate::json::H;

/// `H(0x00 || entry_bytes)`.
pub fn leaf(bytes: &[u8]) -> H {
    let mut h = blake3::Hasher::new();
    h.update(&[0]);
    h.update(bytes);
    *h.finalize().as_bytes()
}

/// `H(0x01 || left || right)`.
pub fn node(l: &H, r: &H) -> H {
    let mut h = blake3::Hasher::new();
    h.update(&[1]);
    h.update(l);
    h.update(r);
    *h.finalize().as_bytes()
}

/// RFC 9162 §2.1.1 MTH, straight from the definition.
pub fn mth(leaves: &[H]) -> H {
    match leaves.len() {
        0 => *blake3::hash(b"").as_bytes(),
        1 => leaves[0],
        n => {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            node(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// RFC 9162 §2.1.3.2: does `proof` show `leaf` at `index` in the tree of `size` with `root`?
pub fn included(index: u64, size: u64, leaf: &H, proof: &[H], root: &H) -> bool {
    if index >= size {
        return false;
    }
    let (mut fnode, mut snode, mut r) = (index, size - 1, *leaf);
    for p in proof {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == *root
}
