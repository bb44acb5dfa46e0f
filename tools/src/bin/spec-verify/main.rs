//! spec-verify: an independent verifier of what withus exports, written from the specs alone:
//! shared/spec/log-format.md for an exported log, and shared/spec/sar-bundle.md for a subject
//! access bundle. It deliberately uses none of withus' own code — only BLAKE3, Ed25519,
//! SHA-256, base64 and a JSON parser — so that it checks the project against the contract
//! rather than against itself.
//!
//! Usage:
//!   spec-verify --log EXPORT.jsonl --checkpoint CHECKPOINT --vkey '<name>+<id>+<key>'
//!     every check of log-format §6 over the export, then its checkpoint;
//!   spec-verify bundle BUNDLE.withus-sar.json --vkey '<name>+<id>+<key>' [--log EXPORT.jsonl]
//!     every check of sar-bundle.md §7.1–§7.8 (and of §4 and §5: no actor or opening left
//!     out), and §7.9 (the signed head is true) against the export when one is given.
//! Exit 0 when every check passes, saying what it proved; 1 naming the failed check and the
//! first bad seq; 2 on bad usage or a file that cannot be read.

mod bundle;
mod entry;
mod json;
mod log;
mod merkle;
mod note;

use std::process::ExitCode;

const USAGE: &str = "usage: spec-verify --log FILE --checkpoint FILE --vkey VKEY
       spec-verify bundle FILE --vkey VKEY [--log EXPORT.jsonl]";

fn usage() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("bundle") => bundle_mode(&args[1..]),
        _ => log_mode(&args),
    }
}

/// `--log FILE --checkpoint FILE --vkey VKEY`, as CI has always called it.
fn log_mode(args: &[String]) -> ExitCode {
    let get = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let (Some(log), Some(cp), Some(vkey)) = (get("--log"), get("--checkpoint"), get("--vkey"))
    else {
        return usage();
    };
    log::run(&log, &cp, &vkey)
}

/// `bundle FILE --vkey VKEY [--log EXPORT.jsonl]`: each flag once, one file, nothing else.
fn bundle_mode(args: &[String]) -> ExitCode {
    let (mut file, mut vkey, mut log) = (None, None, None);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let set = match arg.as_str() {
            "--vkey" => once(&mut vkey, it.next()),
            "--log" => once(&mut log, it.next()),
            a if a.starts_with("--") => false,
            _ => once(&mut file, Some(arg)),
        };
        if !set {
            return usage();
        }
    }
    let (Some(file), Some(vkey)) = (file, vkey) else {
        return usage();
    };
    bundle::run(file, vkey, log.map(String::as_str))
}

/// Sets `slot` to `value` unless it is set already or there is no value.
fn once<'a>(slot: &mut Option<&'a String>, value: Option<&'a String>) -> bool {
    let fresh = slot.is_none() && value.is_some();
    if fresh {
        *slot = value;
    }
    fresh
}
