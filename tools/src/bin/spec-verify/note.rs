//! log-format §3: the verifier key, C2SP signed notes (c2sp.org/signed-note) and checkpoints
//! (c2sp.org/tlog-checkpoint). The same opening serves sar-bundle.md §2's subject-head statement.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::json::{decimal, H};

/// `<name>+<hex key ID>+<base64(0x01 || 32-byte public key)>`, checked: the key ID is the one
/// the name and key give.
pub struct Vkey {
    pub name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

pub fn parse_vkey(vkey: &str) -> Result<Vkey, String> {
    let mut parts = vkey.trim().splitn(3, '+');
    let (name, id_hex, key_b64) = (
        parts.next().unwrap_or(""),
        parts.next().ok_or("vkey")?,
        parts.next().ok_or("vkey")?,
    );
    let key = B64.decode(key_b64).map_err(|_| "vkey key is not base64")?;
    if key.len() != 33 || key[0] != 1 {
        return Err("vkey is not an Ed25519 key".into());
    }
    let mut idh = Sha256::new();
    idh.update(name.as_bytes());
    idh.update([0x0A, 0x01]);
    idh.update(&key[1..]);
    let digest = idh.finalize();
    let id: [u8; 4] = digest[..4].try_into().map_err(|_| "key ID")?;
    if hex::encode(id) != id_hex {
        return Err("vkey key ID does not match".into());
    }
    let pk: [u8; 32] = key[1..].try_into().map_err(|_| "key length")?;
    let key = VerifyingKey::from_bytes(&pk).map_err(|_| "bad public key")?;
    Ok(Vkey {
        name: name.to_string(),
        id,
        key,
    })
}

/// The body of a signed note (its text, each line with its `\n`) once a signature line by the
/// vkey's name and key ID verifies over it. Signatures by other keys are ignored; a malformed
/// signature line, or a bad signature by this key, refuses the note.
pub fn open<'a>(note: &'a str, vkey: &Vkey) -> Result<&'a str, String> {
    let split = note.rfind("\n\n").ok_or("no signature block")?;
    let body = &note[..split + 1];
    let sigs = note[split + 2..]
        .strip_suffix('\n')
        .ok_or("the signature block does not end with a newline")?;
    let mut verified = false;
    for line in sigs.split('\n') {
        let rest = line
            .strip_prefix("\u{2014} ")
            .ok_or("signature line without em dash")?;
        let (name, sig) = rest.split_once(' ').ok_or("signature line")?;
        let sig = B64.decode(sig).map_err(|_| "signature is not base64")?;
        if name != vkey.name || sig.len() < 4 || sig[..4] != vkey.id {
            continue;
        }
        let s = Signature::from_slice(&sig[4..]).map_err(|_| "signature length")?;
        vkey.key
            .verify(body.as_bytes(), &s)
            .map_err(|_| "signature does not verify")?;
        verified = true;
    }
    if verified {
        Ok(body)
    } else {
        Err(format!("no signature by the vkey's key ({})", vkey.name))
    }
}

/// A body cut into its lines, each of which ended in `\n`.
pub fn lines(body: &str) -> Vec<&str> {
    body.strip_suffix('\n')
        .map(|b| b.split('\n').collect())
        .unwrap_or_default()
}

pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: H,
}

/// A checkpoint body: origin, tree size in plain decimal, base64 root hash.
pub fn checkpoint(body: &str) -> Result<Checkpoint, String> {
    let [origin, size, root] = lines(body)[..] else {
        return Err("the checkpoint body is not three lines".into());
    };
    let size = decimal(size).ok_or("checkpoint size is not plain decimal")?;
    let root = base64_hash(root).ok_or("checkpoint root is not a base64 hash")?;
    Ok(Checkpoint {
        origin: origin.to_string(),
        size,
        root,
    })
}

/// A 32-byte hash in canonical padded base64.
pub fn base64_hash(s: &str) -> Option<H> {
    let bytes = B64.decode(s).ok()?;
    let h: H = bytes.try_into().ok()?;
    (B64.encode(h) == s).then_some(h)
}
