//! spec-verify: an independent verifier of an exported withus log, written from
//! shared/spec/log-format.md alone. It deliberately uses none of withus' own code — only
//! BLAKE3, Ed25519, SHA-256, base64 and a JSON parser — so that it checks the project against
//! the contract rather than against itself.
//!
//! Usage: spec-verify --log export.jsonl --checkpoint checkpoint.txt --vkey '<name>+<id>+<key>'
//! Exit 0 when every check of §6 passes; 1 with the first bad seq otherwise; 2 on bad usage.

mod entry;
mod json;
mod log;
mod merkle;
mod note;

use std::process::ExitCode;

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
    log::run(&log, &cp, &vkey)
}
