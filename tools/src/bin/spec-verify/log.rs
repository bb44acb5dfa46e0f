//! Log mode: every check of log-format §6 over an export, then its checkpoint.

use std::collections::HashMap;
use std::process::ExitCode;

use crate::entry;
use crate::json::H;
use crate::merkle::{leaf, mth};
use crate::note;

/// The running state the §6 checks of one line compare against.
#[derive(Default)]
struct Walk {
    prev: H,
    last_at: String,
    streams: HashMap<String, u64>,
    subjects: HashMap<String, H>,
}

/// §6 checks of line `i`; returns its leaf hash.
fn check_line(i: u64, line: &[u8], w: &mut Walk) -> Result<H, String> {
    let e = entry::parse(line)?;
    if e.seq != i {
        return Err(format!("seq is {} not {i}", e.seq));
    }
    if e.prev != w.prev {
        return Err("prev is not the leaf hash of the previous line".into());
    }
    if e.at < w.last_at {
        return Err("at decreases".into());
    }
    w.last_at = e.at;
    let want = w.streams.entry(e.stream.clone()).or_insert(0);
    if e.version != *want {
        return Err(format!(
            "version of {} is {} not {want}",
            e.stream, e.version
        ));
    }
    *want += 1;
    let h = leaf(line);
    if let Some(s) = e.subject {
        if e.subject_prev.as_ref() != w.subjects.get(&s) {
            return Err(format!(
                "subject_prev does not match the previous line of {s}"
            ));
        }
        w.subjects.insert(s, h);
    }
    w.prev = h;
    Ok(h)
}

/// The checkpoint verifies with the vkey, names the key as its origin, and its root is MTH of
/// the first `size` leaves of the export.
fn check_checkpoint(text: &str, vkey: &str, leaves: &[H]) -> Result<u64, String> {
    let vkey = note::parse_vkey(vkey)?;
    let body = note::open(text, &vkey).map_err(|e| format!("checkpoint: {e}"))?;
    let cp = note::checkpoint(body)?;
    if cp.origin != vkey.name {
        return Err("checkpoint origin is not the key name".into());
    }
    let n = usize::try_from(cp.size).map_err(|_| "size")?;
    if n > leaves.len() {
        return Err(format!(
            "checkpoint size {} exceeds the log's {} lines",
            cp.size,
            leaves.len()
        ));
    }
    if cp.root != mth(&leaves[..n]) {
        return Err(format!(
            "checkpoint root is not MTH of the first {} leaves",
            cp.size
        ));
    }
    Ok(cp.size)
}

/// An export's lines (log-format §5): each entry followed by one `\n`, so the data ends in a
/// newline and no line is empty.
pub fn lines(data: &[u8]) -> Result<Vec<&[u8]>, String> {
    if data.is_empty() {
        return Ok(Vec::new());
    }
    let body = data
        .strip_suffix(b"\n")
        .ok_or("the export does not end with a newline")?;
    let lines: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
    match lines.iter().position(|l| l.is_empty()) {
        Some(i) => Err(format!("line {i} of the export is empty")),
        None => Ok(lines),
    }
}

pub fn run(log: &str, cp: &str, vkey: &str) -> ExitCode {
    let (Ok(data), Ok(text)) = (std::fs::read(log), std::fs::read_to_string(cp)) else {
        eprintln!("spec-verify: cannot read {log} or {cp}");
        return ExitCode::from(2);
    };
    let lines = match lines(&data) {
        Ok(lines) => lines,
        Err(e) => {
            println!("FAIL: {e}");
            return ExitCode::from(1);
        }
    };
    let mut walk = Walk::default();
    let mut leaves = Vec::with_capacity(lines.len());
    for (i, line) in (0u64..).zip(lines) {
        match check_line(i, line, &mut walk) {
            Ok(h) => leaves.push(h),
            Err(e) => {
                println!("FAIL seq {i}: {e}");
                return ExitCode::from(1);
            }
        }
    }
    match check_checkpoint(&text, vkey, &leaves) {
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
