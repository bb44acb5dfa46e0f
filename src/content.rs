//! Content and its commitments (log-format.md §4), and how content is sealed at rest.
//!
//! Owns: segment commitments (`BLAKE3-keyed(salt, text)`), the segment JSON shape, and the
//! authenticated encryption of a segment's text under a key derived from its salt.
//! Must not touch: storage or randomness; salts and nonces are passed in by the store.
//!
//! Why encrypt: sled keeps removed values in its files until a segment is cleaned, so deleting
//! text from sled does not erase it. The text is only ever stored sealed under a key derived from
//! its salt, and the salt lives outside sled in a slot file that erasure overwrites in place
//! (see ARCHITECTURE.md, "Erasure"). Without the salt, neither the text nor the commitment's
//! preimage can be recovered.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde::Serialize;

use crate::format::{to_hex, Hash};

/// Domain-separation context for deriving a segment's encryption key from its salt.
const KEY_CONTEXT: &str = "withus 2026-11 content-at-rest v1 ChaCha20-Poly1305 key";

/// The largest text one segment may hold. Larger notes are split into several segments by the
/// caller; the limit keeps one append's memory and one sled value small.
pub const MAX_SEGMENT_BYTES: usize = 64 * 1024;

/// A segment reference as it appears in an entry's `data`: `{"id", "commit", "chars"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The caller's identifier for this piece of text (unique within its note, e.g. `s3`).
    pub id: String,
    /// `BLAKE3-keyed(key = salt, text)`.
    pub commit: Hash,
    /// Unicode scalar values in the text, so views can show a removed passage's length.
    pub chars: u64,
}

impl Segment {
    /// The segment as the JSON object entries embed, fields in the spec's order.
    pub fn to_json(&self) -> serde_json::Value {
        #[derive(Serialize)]
        struct Out<'a> {
            id: &'a str,
            commit: String,
            chars: u64,
        }
        serde_json::to_value(Out {
            id: &self.id,
            commit: to_hex(&self.commit),
            chars: self.chars,
        })
        .unwrap_or(serde_json::Value::Null)
    }
}

/// Content in its export form `{"commit", "salt", "text"}`: enough to check a commitment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    /// The commitment entries hold.
    pub commit: Hash,
    /// The key of the commitment: with it, anyone can check `text` against `commit`.
    pub salt: [u8; 32],
    /// The words, as agreed with the person.
    pub text: String,
}

impl Content {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "commit": to_hex(&self.commit),
            "salt": hex::encode(self.salt),
            "text": self.text,
        })
    }
}

/// `BLAKE3-keyed(key = salt, message = UTF-8 text)`.
pub fn commit(salt: &[u8; 32], text: &str) -> Hash {
    *blake3::keyed_hash(salt, text.as_bytes()).as_bytes()
}

/// Every segment (§4: an object with exactly `id` string, `commit` hex and `chars` integer) in
/// an entry's `data`, at any depth, in document order. Found by shape alone, so a verifier needs
/// no knowledge of event types to know which commitments an entry holds. `None` when `data` is
/// not JSON.
pub fn segments_in(data: &str) -> Option<Vec<Segment>> {
    fn walk(value: &serde_json::Value, out: &mut Vec<Segment>) {
        match value {
            serde_json::Value::Object(map) => {
                if map.len() == 3 {
                    let id = map.get("id").and_then(|v| v.as_str());
                    let commit = map
                        .get("commit")
                        .and_then(|v| v.as_str())
                        .and_then(crate::format::parse_hex);
                    let chars = map.get("chars").and_then(|v| v.as_u64());
                    if let (Some(id), Some(commit), Some(chars)) = (id, commit, chars) {
                        out.push(Segment {
                            id: id.to_string(),
                            commit,
                            chars,
                        });
                        return;
                    }
                }
                map.values().for_each(|v| walk(v, out));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let value: serde_json::Value = serde_json::from_str(data).ok()?;
    let mut out = Vec::new();
    walk(&value, &mut out);
    Some(out)
}

/// Unicode scalar values in `text`.
pub fn chars(text: &str) -> u64 {
    // usize → u64 never loses bits on the platforms Rust supports.
    text.chars().count() as u64
}

fn cipher(salt: &[u8; 32]) -> ChaCha20Poly1305 {
    let key = blake3::derive_key(KEY_CONTEXT, salt);
    ChaCha20Poly1305::new(Key::from_slice(&key))
}

/// Seals `text` under the key derived from `salt`. The commitment is bound in as associated data,
/// so a sealed record cannot be swapped under another segment's commitment.
pub fn seal(salt: &[u8; 32], nonce: &[u8; 12], commit: &Hash, text: &str) -> Vec<u8> {
    cipher(salt)
        .encrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: text.as_bytes(),
                aad: commit,
            },
        )
        // ChaCha20-Poly1305 encryption fails only for messages over 256 GiB; segments are ≤ 64 KiB.
        .unwrap_or_default()
}

/// Opens a sealed text; `None` if the salt is wrong or the record was altered.
pub fn open(salt: &[u8; 32], nonce: &[u8; 12], commit: &Hash, sealed: &[u8]) -> Option<String> {
    let plain = cipher(salt)
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: sealed,
                aad: commit,
            },
        )
        .ok()?;
    String::from_utf8(plain).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_text_opens_only_with_its_salt_and_commitment() {
        let salt = [7u8; 32];
        let nonce = [1u8; 12];
        let c = commit(&salt, "a passage");
        let sealed = seal(&salt, &nonce, &c, "a passage");
        assert!(!sealed.windows(9).any(|w| w == b"a passage"));
        assert_eq!(
            open(&salt, &nonce, &c, &sealed).as_deref(),
            Some("a passage")
        );
        assert_eq!(open(&[8u8; 32], &nonce, &c, &sealed), None);
        assert_eq!(open(&salt, &nonce, &[0u8; 32], &sealed), None);
    }
}
