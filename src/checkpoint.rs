//! Checkpoints (log-format.md §3): C2SP `tlog-checkpoint` bodies in C2SP signed notes, signed
//! with Ed25519, and the Go `note` verifier-key string; beside them, with the same key, the
//! subject-head statement of a subject access bundle (sar-bundle.md §2).
//!
//! Owns: the exact bytes of a checkpoint, a subject-head statement and a vkey, signing and
//! opening them.
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
    #[error("the note has no signature by {0:?} with this key")]
    NoSignature(String),
    #[error("the note's signature by {0:?} does not verify: the note was altered or signed by another key")]
    BadSignature(String),
    #[error("subject-head statement is malformed: {0}")]
    MalformedHead(String),
    #[error("cannot state a subject head: {0}")]
    BadSubjectHead(String),
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

/// What the first line of a subject-head statement adds to the origin.
const SUBJECT_HEAD_SUFFIX: &str = "/subject-head";

/// A subject-head statement (sar-bundle.md §2) once its signature has been checked: the log
/// states that, as of its first `tree_size` entries, the person's chain ends at `last`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectHead {
    /// The log's origin (the statement's first line without `/subject-head`; the key name).
    pub origin: String,
    /// The person's id, their `subject` in the log.
    pub subject: String,
    /// The statement covers the first `tree_size` entries.
    pub tree_size: u64,
    /// How many of them have this subject.
    pub count: u64,
    /// `(seq, leaf hash)` of the last of them; `None` exactly when `count` is 0.
    pub last: Option<(u64, Hash)>,
}

/// The six lines a subject-head signature covers, each with its newline (sar-bundle.md §2):
/// `<origin>/subject-head`, subject, tree size, count, the last entry's seq and base64 leaf hash
/// (`-` and `-` when `count` is 0). Refused when `count` and `last` disagree (a count of 0 with a
/// last entry, or the reverse), when the last seq is not below `tree_size`, when more entries are
/// counted than the tree holds or than fit at or before the last seq, or when the subject is not
/// one line of printable ASCII without spaces.
pub fn subject_head_body(
    origin: &str,
    subject: &str,
    tree_size: u64,
    count: u64,
    last: Option<(u64, Hash)>,
) -> Result<String, CheckpointError> {
    check_name(origin)?;
    check_subject_head(subject, tree_size, count, last).map_err(CheckpointError::BadSubjectHead)?;
    let (seq, leaf) = match last {
        Some((seq, leaf)) => (seq.to_string(), B64.encode(leaf)),
        None => ("-".to_string(), "-".to_string()),
    };
    Ok(format!(
        "{origin}{SUBJECT_HEAD_SUFFIX}\n{subject}\n{tree_size}\n{count}\n{seq}\n{leaf}\n"
    ))
}

/// The consistency rules of a subject-head statement, shared by signing and opening, so the log
/// never signs what a verifier would refuse as malformed.
fn check_subject_head(
    subject: &str,
    tree_size: u64,
    count: u64,
    last: Option<(u64, Hash)>,
) -> Result<(), String> {
    if subject.is_empty() || !subject.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "subject {subject:?} is not an identifier (printable ASCII without spaces)"
        ));
    }
    if count > tree_size {
        return Err(format!(
            "it counts {count} entries in a tree of only {tree_size}"
        ));
    }
    match last {
        None if count != 0 => Err(format!("it counts {count} entries but names no last one")),
        Some(_) if count == 0 => Err("it counts no entries but names a last one".into()),
        Some((seq, _)) if seq >= tree_size => Err(format!(
            "its last entry, seq {seq}, is not among the first {tree_size}"
        )),
        Some((seq, _)) if count - 1 > seq => Err(format!(
            "{count} entries cannot all be at or before seq {seq}"
        )),
        _ => Ok(()),
    }
}

/// A decimal number as the note formats write it: digits only, no sign, no leading zero.
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.starts_with('0') && s.len() > 1)
    {
        return None;
    }
    s.parse().ok()
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
        self.sign_body(&body(&self.name, size, root))
    }

    /// The signed subject-head statement (sar-bundle.md §2): as of the first `tree_size`
    /// entries, `count` entries have `subject`, the last of them at `last` = (seq, leaf hash).
    /// The origin line is this signer's name followed by `/subject-head`. Refused when the
    /// statement would be self-contradictory or the subject cannot be one line (see
    /// [`subject_head_body`]).
    pub fn sign_subject_head(
        &self,
        subject: &str,
        tree_size: u64,
        count: u64,
        last: Option<(u64, Hash)>,
    ) -> Result<String, CheckpointError> {
        let body = subject_head_body(&self.name, subject, tree_size, count, last)?;
        Ok(self.sign_body(&body))
    }

    /// A signed note: the body, a blank line, one signature line by this key.
    fn sign_body(&self, body: &str) -> String {
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
        let body = self.open_note(note, bad)?;
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        let size = lines
            .next()
            .and_then(parse_decimal)
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

    /// Checks a subject-head statement's signature (the same key as checkpoints) and parses its
    /// six lines (sar-bundle.md §2). The first line must be this key's name followed by
    /// `/subject-head`; numbers are plain decimal; the statement must be self-consistent (see
    /// [`subject_head_body`]). Whether it agrees with a bundle is the bundle verifier's question.
    pub fn open_subject_head(&self, note: &str) -> Result<SubjectHead, CheckpointError> {
        let bad = |why: &str| CheckpointError::MalformedHead(why.to_string());
        let body = self.open_note(note, bad)?;
        let lines: Vec<&str> = body.split('\n').collect();
        // Six lines, each ending in a newline: the split leaves one empty string after the last.
        let [first, subject, size, count, seq, leaf, ""] = lines[..] else {
            return Err(bad("the body is not exactly six lines"));
        };
        let origin = first
            .strip_suffix(SUBJECT_HEAD_SUFFIX)
            .ok_or_else(|| bad("the first line does not end in /subject-head"))?;
        if origin != self.name {
            return Err(bad(
                "the first line is not the key name followed by /subject-head",
            ));
        }
        let tree_size =
            parse_decimal(size).ok_or_else(|| bad("the third line is not a decimal tree size"))?;
        let count =
            parse_decimal(count).ok_or_else(|| bad("the fourth line is not a decimal count"))?;
        let last = match (seq, leaf) {
            ("-", "-") => None,
            (seq, leaf) => {
                let seq = parse_decimal(seq)
                    .ok_or_else(|| bad("the fifth line is neither a decimal seq nor -"))?;
                let leaf: Hash = B64
                    .decode(leaf)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| {
                        bad("the sixth line is neither a base64 32-byte leaf hash nor -")
                    })?;
                Some((seq, leaf))
            }
        };
        check_subject_head(subject, tree_size, count, last)
            .map_err(CheckpointError::MalformedHead)?;
        Ok(SubjectHead {
            origin: origin.to_string(),
            subject: subject.to_string(),
            tree_size,
            count,
            last,
        })
    }

    /// Checks that a signed note carries a good signature by this key and returns its body (the
    /// text before the blank line, with its final newline). `bad` makes the malformed-note error
    /// of the note's kind.
    fn open_note<'n>(
        &self,
        note: &'n str,
        bad: impl Fn(&str) -> CheckpointError,
    ) -> Result<&'n str, CheckpointError> {
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
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectors' public test key (`tests/vectors/vectors.json`, `signing`).
    fn signer() -> NoteSigner {
        let mut seed = [0u8; 32];
        for (i, b) in seed.iter_mut().enumerate() {
            *b = i as u8;
        }
        NoteSigner::new("withus.example/vectors", &seed).expect("origin")
    }

    fn verifier() -> NoteVerifier {
        NoteVerifier::from_vkey(&signer().vkey()).expect("own vkey")
    }

    #[test]
    fn a_subject_head_opens_as_what_was_signed_and_matches_the_published_vector() {
        let leaf = [7u8; 32];
        let note = signer()
            .sign_subject_head("su-sam", 7, 6, Some((6, leaf)))
            .expect("consistent");
        let head = verifier().open_subject_head(&note).expect("opens");
        assert_eq!(
            head,
            SubjectHead {
                origin: "withus.example/vectors".into(),
                subject: "su-sam".into(),
                tree_size: 7,
                count: 6,
                last: Some((6, leaf)),
            }
        );
        // The vector bundle's head statement, signed by the same key, opens too.
        let text = include_str!("../tests/vectors/bundle.json");
        let bundle: serde_json::Value = serde_json::from_str(text).expect("vector");
        let vector = bundle["head"].as_str().expect("head");
        let head = verifier()
            .open_subject_head(vector)
            .expect("vector head opens");
        assert_eq!((head.count, head.last.map(|l| l.0)), (6, Some(6)));
        // Ed25519 is deterministic: signing the same statement gives the vector's bytes.
        let again = signer()
            .sign_subject_head(&head.subject, head.tree_size, head.count, head.last)
            .expect("consistent");
        assert_eq!(again, vector);
        // A statement of nobody's entries uses dashes.
        let empty = signer()
            .sign_subject_head("su-new", 7, 0, None)
            .expect("ok");
        assert!(empty.starts_with("withus.example/vectors/subject-head\nsu-new\n7\n0\n-\n-\n\n"));
        assert_eq!(
            verifier().open_subject_head(&empty).expect("opens").last,
            None
        );
    }

    #[test]
    fn a_subject_head_altered_or_of_the_wrong_kind_does_not_open() {
        let note = signer()
            .sign_subject_head("su-sam", 7, 6, Some((6, [7u8; 32])))
            .expect("consistent");
        let altered = note.replacen("\n6\n6\n", "\n5\n6\n", 1);
        assert_ne!(altered, note);
        assert!(matches!(
            verifier().open_subject_head(&altered),
            Err(CheckpointError::BadSignature(_))
        ));
        // A checkpoint is not a subject head, and a subject head is not a checkpoint.
        let cp = signer().sign(7, &[1u8; 32]);
        assert!(matches!(
            verifier().open_subject_head(&cp),
            Err(CheckpointError::MalformedHead(_))
        ));
        assert!(matches!(
            verifier().open(&note),
            Err(CheckpointError::Malformed(_))
        ));
        // Signed, but not of the shape §2 prescribes.
        let s = signer();
        for body in [
            "withus.example/vectors/subject-head\nsu-sam\n7\n6\n6\n",
            "withus.example/other/subject-head\nsu-sam\n7\n0\n-\n-\n",
            "withus.example/vectors/subject-head\nsu-sam\n07\n0\n-\n-\n",
            "withus.example/vectors/subject-head\nsu-sam\n+7\n0\n-\n-\n",
            "withus.example/vectors/subject-head\nsu-sam\n7\n1\n-\n-\n",
            "withus.example/vectors/subject-head\nsu-sam\n7\n0\n3\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n",
            "withus.example/vectors/subject-head\nsu-sam\n7\n1\n7\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n",
            "withus.example/vectors/subject-head\nsu-sam\n7\n5\n3\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n",
            "withus.example/vectors/subject-head\nsu sam\n7\n0\n-\n-\n",
            "withus.example/vectors/subject-head\nsu-sam\n7\n1\n3\nBwcH\n",
            "withus.example/vectors/subject-head\nsu-sam\n7\n0\n-\n-\nextra\n",
        ] {
            let note = s.sign_body(body);
            assert!(
                matches!(
                    verifier().open_subject_head(&note),
                    Err(CheckpointError::MalformedHead(_))
                ),
                "{body:?}"
            );
        }
    }

    #[test]
    fn the_signer_refuses_a_self_contradictory_subject_head() {
        let s = signer();
        for (subject, n, count, last) in [
            ("su-sam", 7, 1, None),
            ("su-sam", 7, 0, Some((3, [0u8; 32]))),
            ("su-sam", 7, 1, Some((7, [0u8; 32]))),
            ("su-sam", 7, 8, Some((6, [0u8; 32]))),
            ("su-sam", 7, 3, Some((1, [0u8; 32]))),
            ("su\nsam", 7, 0, None),
            ("", 7, 0, None),
        ] {
            assert!(
                matches!(
                    s.sign_subject_head(subject, n, count, last),
                    Err(CheckpointError::BadSubjectHead(_))
                ),
                "{subject:?} {n} {count} {last:?}"
            );
        }
    }
}
