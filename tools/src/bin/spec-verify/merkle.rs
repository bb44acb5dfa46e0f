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
