//! The Merkle tree of RFC 9162 §2.1 with withus' hashes (log-format.md §2–3): tree hashes,
//! inclusion and consistency proofs, their verification, and the append frontier.
//!
//! Owns: the algorithms, over any [`NodeSource`] of *perfect* subtree hashes.
//! Must not touch: storage. The store implements [`NodeSource`] over sled; tests over memory.
//!
//! Every range the RFC's recursion visits starts at a multiple of its largest power-of-two split,
//! so any range is a handful of stored perfect subtrees: a root, a proof or a consistency proof
//! costs O(log n) node reads and never rereads the log.

use crate::format::{empty_tree_hash, node_hash, Hash};

/// Where perfect subtree hashes come from: `node(level, index)` is the hash of the leaves
/// `[index << level, (index + 1) << level)`; level 0 is the leaf hash itself.
pub trait NodeSource {
    type Error;
    fn node(&self, level: u32, index: u64) -> Result<Hash, Self::Error>;
}

/// The largest power of two strictly below `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// `MTH(D[start:end])` for a range the RFC recursion produces (non-empty, aligned).
pub fn range_hash<S: NodeSource>(src: &S, start: u64, end: u64) -> Result<Hash, S::Error> {
    let size = end - start;
    if size.is_power_of_two() {
        let level = size.trailing_zeros();
        return src.node(level, start >> level);
    }
    let k = split(size);
    let left = range_hash(src, start, start + k)?;
    let right = range_hash(src, start + k, end)?;
    Ok(node_hash(&left, &right))
}

/// `MTH` of the first `n` leaves; `H("")` for `n == 0`.
pub fn root<S: NodeSource>(src: &S, n: u64) -> Result<Hash, S::Error> {
    if n == 0 {
        return Ok(empty_tree_hash());
    }
    range_hash(src, 0, n)
}

/// Why a proof could not be made: the caller asked for something outside the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofRequestError {
    #[error("leaf index {index} is not in a tree of size {size}: ask for an index below the size")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("consistency needs 0 < first ({first}) <= second ({second})")]
    BadSizes { first: u64, second: u64 },
    #[error("tree size {requested} is beyond the current size {current}")]
    BeyondTree { requested: u64, current: u64 },
}

/// RFC 9162 §2.1.3.1 `PATH(m, D[0:n])`, deepest sibling first.
pub fn inclusion_proof<S: NodeSource>(src: &S, m: u64, n: u64) -> Result<Vec<Hash>, S::Error> {
    debug_assert!(m < n);
    let mut path = Vec::new();
    let (mut start, mut end) = (0u64, n);
    // Walk down from the root, collecting siblings; reversed at the end (RFC order is leaf-up).
    while end - start > 1 {
        let k = split(end - start);
        if m - start < k {
            path.push(range_hash(src, start + k, end)?);
            end = start + k;
        } else {
            path.push(range_hash(src, start, start + k)?);
            start += k;
        }
    }
    path.reverse();
    Ok(path)
}

/// RFC 9162 §2.1.4.1 `PROOF(m, D[0:n])` for `0 < m < n`; empty for `m == n`.
pub fn consistency_proof<S: NodeSource>(src: &S, m: u64, n: u64) -> Result<Vec<Hash>, S::Error> {
    debug_assert!(0 < m && m <= n);
    let mut proof = Vec::new();
    // SUBPROOF(m, D[start:end], b), unrolled; `m` is relative to `start`.
    let (mut m, mut start, end_top) = (m, 0u64, n);
    let mut end = end_top;
    let mut complete = true;
    loop {
        let size = end - start;
        if m == size {
            if !complete {
                proof.push(range_hash(src, start, end)?);
            }
            break;
        }
        let k = split(size);
        if m <= k {
            proof.push(range_hash(src, start + k, end)?);
            end = start + k;
        } else {
            proof.push(range_hash(src, start, start + k)?);
            m -= k;
            start += k;
            complete = false;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// RFC 9162 §2.1.3.2: does `path` prove `leaf` at `index` in a tree of `size` with `root`?
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, path: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fnode, mut snode, mut r) = (index, size - 1, *leaf);
    for p in path {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == *root
}

/// RFC 9162 §2.1.4.2: does `proof` show the tree of size `first` with `first_root` is a prefix of
/// the tree of size `second` with `second_root`?
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> bool {
    if first == second {
        return proof.is_empty() && first_root == second_root;
    }
    if first == 0 {
        // Every tree extends the empty tree; there is nothing to prove.
        return proof.is_empty() && *first_root == empty_tree_hash();
    }
    if first > second || proof.is_empty() {
        return false;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let (mut fnode, mut snode) = (first - 1, second - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    fr == *first_root && sr == *second_root && snode == 0
}

/// The right edge of the tree: one perfect subtree hash per set bit of `size`, largest first.
/// Appending a leaf completes zero or more nodes, which the store persists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    /// Number of leaves so far.
    size: u64,
    /// `(level, hash)` of each perfect subtree on the right edge, levels strictly decreasing.
    peaks: Vec<(u32, Hash)>,
}

impl Frontier {
    /// The frontier of a tree of `size` leaves, read from a node source.
    pub fn load<S: NodeSource>(src: &S, size: u64) -> Result<Frontier, S::Error> {
        let mut peaks = Vec::new();
        let mut start = 0u64;
        for level in (0..64u32).rev() {
            if size & (1 << level) != 0 {
                peaks.push((level, src.node(level, start >> level)?));
                start += 1 << level;
            }
        }
        Ok(Frontier { size, peaks })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf; calls `completed(level, index, hash)` for every node this completes,
    /// the leaf itself (level 0) first.
    pub fn push(&mut self, leaf: Hash, mut completed: impl FnMut(u32, u64, &Hash)) {
        let index = self.size;
        completed(0, index, &leaf);
        let mut level = 0u32;
        let mut hash = leaf;
        while let Some(&(l, left)) = self.peaks.last() {
            if l != level {
                break;
            }
            self.peaks.pop();
            hash = node_hash(&left, &hash);
            level += 1;
            completed(level, index >> level, &hash);
        }
        self.peaks.push((level, hash));
        self.size += 1;
    }

    /// `MTH` of the leaves so far.
    pub fn root(&self) -> Hash {
        let mut iter = self.peaks.iter().rev();
        let Some(&(_, mut acc)) = iter.next() else {
            return empty_tree_hash();
        };
        for (_, left) in iter {
            acc = node_hash(left, &acc);
        }
        acc
    }
}

/// All perfect subtree hashes of a tree held in memory: for tests, verifiers and tools.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    /// `levels[l][i]` is `node(l, i)`.
    levels: Vec<Vec<Hash>>,
    frontier: Frontier,
}

impl MemoryTree {
    pub fn new() -> MemoryTree {
        MemoryTree::default()
    }

    pub fn push(&mut self, leaf: Hash) {
        let levels = &mut self.levels;
        self.frontier.push(leaf, |level, _index, hash| {
            let l = level as usize;
            if levels.len() <= l {
                levels.push(Vec::new());
            }
            levels[l].push(*hash);
        });
    }

    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    pub fn root(&self) -> Hash {
        self.frontier.root()
    }
}

impl NodeSource for MemoryTree {
    type Error = std::convert::Infallible;
    fn node(&self, level: u32, index: u64) -> Result<Hash, Self::Error> {
        // Callers only ask for nodes inside the tree; a miss is a bug in this module, and a
        // zero hash then makes every dependent proof fail to verify rather than panic.
        Ok(usize::try_from(index)
            .ok()
            .and_then(|i| self.levels.get(level as usize)?.get(i).copied())
            .unwrap_or([0u8; 32]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::leaf_hash;

    /// `MTH` straight from the RFC's recursive definition, to check the stored-node path against.
    fn reference_mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_tree_hash(),
            1 => leaves[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&reference_mth(&leaves[..k]), &reference_mth(&leaves[k..]))
            }
        }
    }

    #[test]
    fn roots_and_proofs_agree_with_the_rfc_definition_for_every_size() {
        let mut tree = MemoryTree::new();
        let mut leaves = Vec::new();
        for i in 0..70u32 {
            let leaf = leaf_hash(&i.to_be_bytes());
            leaves.push(leaf);
            tree.push(leaf);
            let n = leaves.len() as u64;
            let want = reference_mth(&leaves);
            assert_eq!(tree.root(), want);
            let Ok(got) = root(&tree, n);
            assert_eq!(got, want);
            for m in 0..n {
                let Ok(path) = inclusion_proof(&tree, m, n);
                assert!(verify_inclusion(&leaves[m as usize], m, n, &path, &want));
                assert!(!verify_inclusion(&leaf_hash(b"other"), m, n, &path, &want));
                let Ok(p) = consistency_proof(&tree, m + 1, n);
                let Ok(old) = root(&tree, m + 1);
                assert!(verify_consistency(m + 1, n, &old, &want, &p), "{m} {n}");
            }
        }
    }
}
