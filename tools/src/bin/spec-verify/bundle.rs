//! Bundle mode: the checks of sar-bundle.md §7 on a subject access bundle, each in its own
//! function, in the order the page lists them. A failure names its check and, where there is
//! one, the item's seq.

mod actors;
mod content;
mod entries;
mod export;
mod notes;
mod shape;

use std::fmt;
use std::process::ExitCode;

use crate::json::{self, H};
use crate::note::{self, Vkey};

/// A failed check: which one (`§7.4`), the item's seq where there is one, and what was wrong.
pub struct Failure {
    pub check: &'static str,
    pub seq: Option<u64>,
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.seq {
            Some(seq) => write!(f, "{} seq {seq}: {}", self.check, self.message),
            None => write!(f, "{}: {}", self.check, self.message),
        }
    }
}

/// `Err` of a failed check.
pub fn fail<T>(
    check: &'static str,
    seq: Option<u64>,
    message: impl Into<String>,
) -> Result<T, Failure> {
    Err(Failure {
        check,
        seq,
        message: message.into(),
    })
}

/// What a bundle that passes has proved, for the person to read.
struct Proved {
    subject: String,
    origin: String,
    n: u64,
    shown: usize,
    withheld: usize,
    first_last: Option<(u64, u64)>,
    actors: Vec<(String, u64)>,
    openings: usize,
    erased: usize,
    hash: H,
    export: Option<export::Truth>,
}

/// Checks 1–8 (with §4 and §5 where §7 leaves them out), and 9 when given the export; what
/// they proved.
fn verify(data: &[u8], vkey: &Vkey, log: Option<&[u8]>) -> Result<Proved, Failure> {
    let value =
        json::parse(data).or_else(|e| fail("§7.1", None, format!("not one JSON object: {e}")))?;
    let b = shape::bundle(&value)?;
    let cp = notes::check_checkpoint(&b, vkey)?;
    let head = notes::check_head(&b, vkey, &cp)?;
    let shown = entries::check_entries(&b, &cp)?;
    entries::check_chain(&b, &shown)?;
    let registrations = actors::check_actors(&b, &cp, &shown)?;
    actors::check_registrations(&b, &shown, &registrations)?;
    let segments = content::segments(&shown, &registrations);
    content::check_content(&b, &segments)?;
    let erased = content::check_openings_complete(&b, &shown, &segments)?;
    let export = match log {
        Some(data) => Some(export::check_export(data, &b, &cp, &head)?),
        None => None,
    };
    Ok(Proved {
        subject: b.subject.clone(),
        origin: cp.origin,
        n: b.n,
        shown: shown.len(),
        withheld: b.items.len() - shown.len(),
        first_last: b
            .items
            .first()
            .zip(b.items.last())
            .map(|(f, l)| (f.seq, l.seq)),
        actors: registrations
            .iter()
            .map(|r| (r.registers.clone(), r.seq))
            .collect(),
        openings: b.content.len(),
        erased,
        hash: bundle_hash(&b),
        export,
    })
}

/// §7.8: `H("withus-sar-v1\n" || subject || "\n" || N || "\n" || for each item: seq || " " ||
/// leaf hex || "\n")`. It depends on which entries the bundle covers, never on any text.
fn bundle_hash(b: &shape::Bundle) -> H {
    let mut h = blake3::Hasher::new();
    h.update(format!("withus-sar-v1\n{}\n{}\n", b.subject, b.n).as_bytes());
    for item in &b.items {
        h.update(format!("{} {}\n", item.seq, hex::encode(item.leaf)).as_bytes());
    }
    *h.finalize().as_bytes()
}

fn report(p: &Proved) {
    println!(
        "ok: the subject access bundle of {} verifies with the key of {} (sar-bundle.md §7.1-§7.8, with §4 and §5)",
        p.subject, p.origin
    );
    println!(
        "  the log's signed checkpoint covers its first N = {} entries, and the log signed that {} of them are about {}",
        p.n,
        p.shown + p.withheld,
        p.subject
    );
    println!(
        "  entries: {} shown, each byte for byte as recorded and proven in the log; {} withheld, counted and proven but not shown",
        p.shown, p.withheld
    );
    match p.first_last {
        Some((first, last)) => println!(
            "  {}'s chain runs unbroken from their first entry (seq {first}) to the last one the log signed for (seq {last})",
            p.subject
        ),
        None => println!("  the log signed that {} has no entries", p.subject),
    }
    let actors: Vec<String> = p
        .actors
        .iter()
        .map(|(id, seq)| format!("{id} (seq {seq})"))
        .collect();
    println!(
        "  actors: {} named in the shown entries, each proven by their registration: {}",
        p.actors.len(),
        if actors.is_empty() {
            "none".to_string()
        } else {
            actors.join(", ")
        }
    );
    println!(
        "  openings: {}, each exactly the text committed and its length; {} segment(s) shown without one, erased by an agreed redaction or at the end of the retention period",
        p.openings, p.erased
    );
    println!("  bundle hash {}", hex::encode(p.hash));
    if let Some(t) = &p.export {
        println!(
            "ok: §7.9 the export's first {} lines are the log the checkpoint signs; {} of them are about {}, the last at {}, as the head says; the bundle holds each of them",
            p.n,
            t.count,
            p.subject,
            t.last.map_or("none".to_string(), |s| format!("seq {s}"))
        );
    }
}

pub fn run(path: &str, vkey: &str, log: Option<&str>) -> ExitCode {
    let vkey = match note::parse_vkey(vkey) {
        Ok(vkey) => vkey,
        Err(e) => {
            eprintln!("spec-verify: --vkey is not a verifier key: {e}");
            return ExitCode::from(2);
        }
    };
    let Ok(data) = std::fs::read(path) else {
        eprintln!("spec-verify: cannot read {path}");
        return ExitCode::from(2);
    };
    let export = match log.map(|p| (p, std::fs::read(p))) {
        None => None,
        Some((_, Ok(export))) => Some(export),
        Some((p, Err(_))) => {
            eprintln!("spec-verify: cannot read {p}");
            return ExitCode::from(2);
        }
    };
    match verify(&data, &vkey, export.as_deref()) {
        Ok(proved) => {
            report(&proved);
            ExitCode::SUCCESS
        }
        Err(f) => {
            println!("FAIL {f}");
            ExitCode::from(1)
        }
    }
}
