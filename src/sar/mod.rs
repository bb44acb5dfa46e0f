//! The subject access bundle's contract pieces (`../shared/spec/sar-bundle.md`) that the rest of
//! withus records: for now the bundle hash of §7.8, which `sar.fulfilled` carries; and the page
//! that shows a person their bundle and checks it in their browser ([`page`]).
//!
//! Owns: the exact bytes hashed. Must not touch: I/O, the store, domain rules (which entries a
//! bundle covers is decided by the caller).

pub mod bundle;
pub mod compose;
pub mod html;
pub mod page;
pub mod verify;

use crate::format::{to_hex, Hash};

/// `sar-bundle.md` §7.8: `H("withus-sar-v1\n" ‖ subject ‖ "\n" ‖ N ‖ "\n" ‖ for each item: seq ‖
/// " " ‖ leaf hex ‖ "\n")`, numbers in decimal, over every entry with the subject among the first
/// `tree_size` (shown or withheld alike), in ascending seq. It depends on which entries the
/// bundle covers, never on any text.
pub fn bundle_hash(
    subject: &str,
    tree_size: u64,
    items: impl IntoIterator<Item = (u64, Hash)>,
) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(b"withus-sar-v1\n");
    h.update(subject.as_bytes());
    h.update(b"\n");
    h.update(tree_size.to_string().as_bytes());
    h.update(b"\n");
    for (seq, leaf) in items {
        h.update(seq.to_string().as_bytes());
        h.update(b" ");
        h.update(to_hex(&leaf).as_bytes());
        h.update(b"\n");
    }
    *h.finalize().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{leaf_hash, parse_hex};

    /// The published vectors (`tests/vectors/bundle*.json`, copied from the spec) both have the
    /// bundle hash the spec names: the hash is over seqs and leaves, so withholding an entry
    /// (which shows its leaf instead of its bytes) does not change it.
    #[test]
    fn the_bundle_hash_of_the_published_vectors() {
        let want = "6e4407af38f5250aad96fcf7db22f47cf5dec5859cad7d956787f329897abfd3";
        for file in ["bundle.json", "bundle-withheld.json"] {
            let path = format!("{}/tests/vectors/{file}", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).expect("vector file");
            let b: serde_json::Value = serde_json::from_str(&text).expect("vector JSON");
            let items = b["entries"].as_array().expect("entries").iter().map(|it| {
                let seq = it["seq"].as_u64().expect("seq");
                let leaf = match it["entry"].as_str() {
                    Some(bytes) => leaf_hash(bytes.as_bytes()),
                    None => parse_hex(it["leaf"].as_str().expect("leaf")).expect("hex leaf"),
                };
                (seq, leaf)
            });
            let subject = b["subject"].as_str().expect("subject");
            let n = b["tree_size"].as_u64().expect("tree_size");
            assert_eq!(to_hex(&bundle_hash(subject, n, items)), want, "{file}");
        }
    }
}
