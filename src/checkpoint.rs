//! Checkpoints (log-format.md §3): C2SP `tlog-checkpoint` bodies in C2SP signed notes, signed
//! with Ed25519, and the Go `note` verifier-key string.
//!
//! Owns: the exact bytes of a checkpoint and a vkey, signing and opening them.
//! Must not touch: storage or key files. The store decides where the key lives and passes it in.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::format::Hash;

/// The signature algorithm byte of an Ed25519 key in signed notes.
const ALG_ED25519: u8 = 0x01;

/// The separator the signed-note format puts before each signature: an em dash and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// What is wrong with a checkpoint, a vkey or an origin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("origin {0:?} is not usable as a note key name: it must be non-empty printable ASCII without spaces or '+'")]
    BadOrigin(String),
    #[error("verifier key is malformed: {0}")]
    BadVkey(String),
    #[error("checkpoint is malformed: {0}")]
    Malformed(String),
    #[error("checkpoint has no signature by {0:?} with this key")]
    NoSignature(String),
    #[error("checkpoint signature by {0:?} does not verify: the note was altered or signed by another key")]
    BadSignature(String),
}

/// A checkpoint's content once its signature has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log it is about (also the signing key's name).
    pub origin: String,
    /// Entries the signed tree covers.
    pub size: u64,
    /// `MTH` of those entries: what later proofs are checked against.
    pub root: Hash,
}

fn check_name(name: &str) -> Result<(), CheckpointError> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b'+') {
        return Err(CheckpointError::BadOrigin(name.to_string()));
    }
    Ok(())
}

/// Key ID = first 4 bytes of `SHA-256(name || 0x0A || 0x01 || public key)`.
pub fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0x0A, ALG_ED25519]);
    h.update(public);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// The body a checkpoint signature covers: origin, size and base64 root, each with its newline.
pub fn body(origin: &str, size: u64, root: &Hash) -> String {
    format!("{origin}\n{size}\n{}\n", B64.encode(root))
}

/// A log's signing identity: the origin (also the key name) and its Ed25519 key.
pub struct NoteSigner {
    /// The key name, equal to the log's origin (§3).
    name: String,
    /// Kept only in memory after the store reads it from the data directory.
    key: SigningKey,
}

impl NoteSigner {
    pub fn new(name: &str, seed: &[u8; 32]) -> Result<NoteSigner, CheckpointError> {
        check_name(name)?;
        Ok(NoteSigner {
            name: name.to_string(),
            key: SigningKey::from_bytes(seed),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// `<name>+<hex key ID>+<base64(0x01 || public key)>`.
    pub fn vkey(&self) -> String {
        let public = self.public_key();
        let mut blob = Vec::with_capacity(33);
        blob.push(ALG_ED25519);
        blob.extend_from_slice(&public);
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(key_id(&self.name, &public)),
            B64.encode(blob)
        )
    }

    /// The signed checkpoint note for a tree of `size` leaves with `root`.
    pub fn sign(&self, size: u64, root: &Hash) -> String {
        let body = body(&self.name, size, root);
        let sig = self.key.sign(body.as_bytes());
        let mut blob = Vec::with_capacity(68);
        blob.extend_from_slice(&key_id(&self.name, &self.public_key()));
        blob.extend_from_slice(&sig.to_bytes());
        format!("{body}\n{SIG_PREFIX}{} {}\n", self.name, B64.encode(blob))
    }
}

/// A parsed vkey: what a verifier needs to open checkpoints.
#[derive(Debug, Clone)]
pub struct NoteVerifier {
    /// The key name; a checkpoint's origin must equal it.
    pub name: String,
    /// Selects this key's line among a note's signatures.
    pub key_id: [u8; 4],
    /// Checks the signature.
    key: VerifyingKey,
}

impl NoteVerifier {
    pub fn from_vkey(vkey: &str) -> Result<NoteVerifier, CheckpointError> {
        let bad = |why: &str| CheckpointError::BadVkey(why.to_string());
        let mut parts = vkey.trim().splitn(3, '+');
        let (Some(name), Some(id_hex), Some(blob_b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("expected <name>+<hex key id>+<base64 key>"));
        };
        check_name(name)?;
        let blob = B64
            .decode(blob_b64)
            .map_err(|_| bad("key is not standard base64"))?;
        if blob.len() != 33 || blob[0] != ALG_ED25519 {
            return Err(bad("key is not a 0x01-prefixed 32-byte Ed25519 key"));
        }
        let mut public = [0u8; 32];
        public.copy_from_slice(&blob[1..]);
        let key_id = key_id(name, &public);
        if hex::encode(key_id) != id_hex {
            return Err(bad("key ID does not match the name and key"));
        }
        let key =
            VerifyingKey::from_bytes(&public).map_err(|_| bad("not a valid Ed25519 point"))?;
        Ok(NoteVerifier {
            name: name.to_string(),
            key_id,
            key,
        })
    }

    /// Checks the note's signature and parses its checkpoint body.
    pub fn open(&self, note: &str) -> Result<Checkpoint, CheckpointError> {
        let bad = |why: &str| CheckpointError::Malformed(why.to_string());
        if note.len() > 1 << 16 {
            return Err(bad("note is larger than 64 KiB"));
        }
        let split = note
            .rfind("\n\n")
            .ok_or_else(|| bad("no blank line before signatures"))?;
        let (body, sigs) = (&note[..split + 1], &note[split + 2..]);
        if !sigs.ends_with('\n') {
            return Err(bad("signature block does not end with a newline"));
        }
        let mut found = false;
        for line in sigs.lines() {
            let rest = line
                .strip_prefix(SIG_PREFIX)
                .ok_or_else(|| bad("signature line without '— '"))?;
            let (name, b64) = rest
                .split_once(' ')
                .ok_or_else(|| bad("signature line without a key"))?;
            let blob = B64
                .decode(b64)
                .map_err(|_| bad("signature is not standard base64"))?;
            if name != self.name || blob.len() != 68 || blob[..4] != self.key_id {
                continue;
            }
            found = true;
            let sig = Signature::from_slice(&blob[4..]).map_err(|_| bad("signature length"))?;
            self.key
                .verify(body.as_bytes(), &sig)
                .map_err(|_| CheckpointError::BadSignature(self.name.clone()))?;
        }
        if !found {
            return Err(CheckpointError::NoSignature(self.name.clone()));
        }
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        let size = lines
            .next()
            .and_then(|s| {
                if s.starts_with('0') && s.len() > 1 {
                    None
                } else {
                    s.parse::<u64>().ok()
                }
            })
            .ok_or_else(|| bad("second line is not a decimal tree size"))?;
        let root_bytes = lines
            .next()
            .and_then(|s| B64.decode(s).ok())
            .filter(|b| b.len() == 32)
            .ok_or_else(|| bad("third line is not a base64 32-byte root"))?;
        if origin != self.name {
            return Err(bad("origin line differs from the key name"));
        }
        let mut root = [0u8; 32];
        root.copy_from_slice(&root_bytes);
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
        })
    }
}
