//! spec-verify: an independent verifier of an exported withus log, written from
//! shared/spec/log-format.md alone. It deliberately uses none of withus' own code — only
//! BLAKE3, Ed25519, SHA-256, base64 and a JSON parser — so that it checks the project against
//! the contract rather than against itself.
//!
//! Usage: spec-verify --log export.jsonl --checkpoint checkpoint.txt --vkey '<name>+<id>+<key>'
//! Exit 0 when every check of §6 passes; 1 with the first bad seq otherwise; 2 on bad usage.

use std::collections::HashMap;
use std::process::ExitCode;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use serde_json::Value;
use sha2::{Digest, Sha256};

type H = [u8; 32];

fn leaf(bytes: &[u8]) -> H {
    let mut h = blake3::Hasher::new();
    h.update(&[0]);
    h.update(bytes);
    *h.finalize().as_bytes()
}

fn node(l: &H, r: &H) -> H {
    let mut h = blake3::Hasher::new();
    h.update(&[1]);
    h.update(l);
    h.update(r);
    *h.finalize().as_bytes()
}

/// RFC 9162 §2.1.1 MTH, straight from the definition.
fn mth(leaves: &[H]) -> H {
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

fn hex32(v: &Value) -> Option<H> {
    let s = v.as_str()?;
    if s.len() != 64
        || s.bytes()
            .any(|b| !(b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

fn is_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 24
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'.',
            23 => c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

const FIELDS: [&str; 12] = [
    "seq",
    "prev",
    "at",
    "type",
    "v",
    "stream",
    "version",
    "subject",
    "subject_prev",
    "actor",
    "command",
    "data",
];

/// §6 checks of one line; returns its leaf hash.
fn check_line(
    i: u64,
    line: &[u8],
    prev: &H,
    last_at: &mut String,
    streams: &mut HashMap<String, u64>,
    subjects: &mut HashMap<String, H>,
) -> Result<H, String> {
    let v: Value = serde_json::from_slice(line).map_err(|e| format!("not JSON: {e}"))?;
    let o = v.as_object().ok_or("not a JSON object")?;
    if o.len() != FIELDS.len() || FIELDS.iter().any(|f| !o.contains_key(*f)) {
        return Err(format!("fields are not exactly {FIELDS:?}"));
    }
    if o["seq"].as_u64() != Some(i) {
        return Err(format!("seq is {} not {i}", o["seq"]));
    }
    if hex32(&o["prev"]).as_ref() != Some(prev) {
        return Err("prev is not the leaf hash of the previous line".into());
    }
    let at = o["at"]
        .as_str()
        .filter(|s| is_time(s))
        .ok_or("at is not YYYY-MM-DDTHH:MM:SS.mmmZ")?;
    if at < last_at.as_str() {
        return Err("at decreases".into());
    }
    *last_at = at.to_string();
    if !o["type"].is_string() || o["v"].as_u64().is_none_or(|v| v < 1) || !o["data"].is_object() {
        return Err("type, v or data has the wrong type".into());
    }
    let actor = o["actor"].as_object().ok_or("actor is not an object")?;
    if actor.len() != 2
        || !actor.get("id").is_some_and(Value::is_string)
        || !actor.get("role").is_some_and(Value::is_string)
    {
        return Err("actor is not {id, role}".into());
    }
    if !(o["command"].is_null() || o["command"].is_string()) {
        return Err("command is neither null nor a string".into());
    }
    let stream = o["stream"].as_str().ok_or("stream is not a string")?;
    let want = streams.entry(stream.to_string()).or_insert(0);
    if o["version"].as_u64() != Some(*want) {
        return Err(format!(
            "version of {stream} is {} not {want}",
            o["version"]
        ));
    }
    *want += 1;
    let h = leaf(line);
    match (&o["subject"], &o["subject_prev"]) {
        (Value::Null, Value::Null) => {}
        (Value::String(s), sp) => {
            let expect = subjects.get(s);
            let got = if sp.is_null() {
                None
            } else {
                Some(hex32(sp).ok_or("subject_prev is not hex")?)
            };
            if got.as_ref() != expect {
                return Err(format!(
                    "subject_prev does not match the previous line of {s}"
                ));
            }
            subjects.insert(s.clone(), h);
        }
        _ => return Err("subject/subject_prev have the wrong types".into()),
    }
    Ok(h)
}

fn check_checkpoint(note: &str, vkey: &str, leaves: &[H]) -> Result<u64, String> {
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
    let key_id = idh.finalize()[..4].to_vec();
    if hex::encode(&key_id) != id_hex {
        return Err("vkey key ID does not match".into());
    }
    let pk: [u8; 32] = key[1..].try_into().map_err(|_| "key length")?;
    let pk = VerifyingKey::from_bytes(&pk).map_err(|_| "bad public key")?;
    let split = note
        .rfind("\n\n")
        .ok_or("checkpoint has no signature block")?;
    let body = &note[..split + 1];
    let mut verified = false;
    for line in note[split + 2..].lines() {
        let rest = line
            .strip_prefix("\u{2014} ")
            .ok_or("signature line without em dash")?;
        let (n, sig) = rest.split_once(' ').ok_or("signature line")?;
        let sig = B64.decode(sig).map_err(|_| "signature is not base64")?;
        if n == name && sig.len() == 68 && sig[..4] == key_id[..] {
            let s = Signature::from_slice(&sig[4..]).map_err(|_| "signature")?;
            pk.verify(body.as_bytes(), &s)
                .map_err(|_| "checkpoint signature does not verify")?;
            verified = true;
        }
    }
    if !verified {
        return Err("no signature by the vkey's key".into());
    }
    let lines: Vec<&str> = body.lines().collect();
    if lines.len() < 3 || lines[0] != name {
        return Err("checkpoint origin is not the key name".into());
    }
    let size: u64 = lines[1].parse().map_err(|_| "checkpoint size")?;
    let root = B64.decode(lines[2]).map_err(|_| "checkpoint root")?;
    let n = usize::try_from(size).map_err(|_| "size")?;
    if n > leaves.len() {
        return Err(format!(
            "checkpoint size {size} exceeds the log's {} lines",
            leaves.len()
        ));
    }
    if root != mth(&leaves[..n]) {
        return Err(format!(
            "checkpoint root is not MTH of the first {size} leaves"
        ));
    }
    Ok(size)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let get = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let (Some(log), Some(cp), Some(vkey)) = (get("--log"), get("--checkpoint"), get("--vkey"))
    else {
        eprintln!("usage: spec-verify --log FILE --checkpoint FILE --vkey VKEY");
        return ExitCode::from(2);
    };
    let (Ok(data), Ok(note)) = (std::fs::read(&log), std::fs::read_to_string(&cp)) else {
        eprintln!("spec-verify: cannot read {log} or {cp}");
        return ExitCode::from(2);
    };
    let mut leaves = Vec::new();
    let (mut prev, mut last_at) = ([0u8; 32], String::new());
    let (mut streams, mut subjects) = (HashMap::new(), HashMap::new());
    if !data.is_empty() && !data.ends_with(b"\n") {
        println!("FAIL: the export does not end with a newline");
        return ExitCode::from(1);
    }
    for (i, line) in (0u64..).zip(data.split(|&b| b == b'\n').filter(|l| !l.is_empty())) {
        match check_line(i, line, &prev, &mut last_at, &mut streams, &mut subjects) {
            Ok(h) => {
                prev = h;
                leaves.push(h);
            }
            Err(e) => {
                println!("FAIL seq {i}: {e}");
                return ExitCode::from(1);
            }
        }
    }
    match check_checkpoint(&note, &vkey, &leaves) {
        Ok(size) => {
            println!(
                "ok: {} entries; checkpoint of size {size} verifies",
                leaves.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("FAIL checkpoint: {e}");
            ExitCode::from(1)
        }
    }
}
