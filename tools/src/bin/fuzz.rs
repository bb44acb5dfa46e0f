//! The long fuzz runner (issue 11): runs the targets of `withus_tools::fuzz` on random inputs,
//! on the stable toolchain. The bounded pass of the same targets is `tools/tests/fuzz.rs`.
//!
//! `fuzz --target NAME|all [--execs N] [--seed S]` runs N executions of each target (default
//! 1,000,000), prints executions per second, and stops. Each execution's input comes from its
//! own seed; a panic is caught, reported with that seed and the input in hex, and makes the
//! exit status 1. `fuzz --target NAME --replay SEED` runs one execution from a reported seed
//! (with the panic's backtrace when `RUST_BACKTRACE=1`). An execution running for more than
//! `--hang-secs` is reported as a hang with its seed, and the runner exits with status 2.
//!
//! Build it optimised with overflow checks on: `cargo build --profile fuzz -p withus-tools
//! --bin fuzz`, then `nice -n 19 target/fuzz/fuzz --target all`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Parser;
use withus_tools::fuzz::{self, Rng, Target};

#[derive(Parser)]
#[command(about = "Fuzz withus's parsers, decoders and decisions on random inputs")]
struct Args {
    /// A target's name, or `all`; `--list` names them.
    #[arg(long, default_value = "all")]
    target: String,
    /// Executions per target.
    #[arg(long, default_value_t = 1_000_000)]
    execs: u64,
    /// The run's seed (default: from the clock); each execution's seed is derived from it.
    #[arg(long)]
    seed: Option<u64>,
    /// Run one execution from this execution seed (as a failure reports it) and stop.
    #[arg(long)]
    replay: Option<String>,
    /// Report an execution running longer than this as a hang.
    #[arg(long, default_value_t = 10)]
    hang_secs: u64,
    /// List the targets and stop.
    #[arg(long)]
    list: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.list {
        for t in fuzz::TARGETS {
            println!("{:<12} {}", t.name, t.about);
        }
        return Ok(());
    }
    let targets: Vec<&Target> = if args.target == "all" {
        fuzz::TARGETS.iter().collect()
    } else {
        match fuzz::target(&args.target) {
            Some(t) => vec![t],
            None => bail!("no target {:?}; `fuzz --list` names them", args.target),
        }
    };
    if let Some(s) = &args.replay {
        let seed = parse_seed(s)?;
        for t in &targets {
            let input = Rng::new(seed).input(t.max_len);
            println!(
                "{}: replaying seed {seed:#018x} ({} bytes)",
                t.name,
                input.len()
            );
            (t.run)(&input);
            println!("{}: no panic", t.name);
        }
        return Ok(());
    }
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    println!("seed {seed}");
    let mut failed = false;
    for t in targets {
        failed |= !run(t, seed, args.execs, Duration::from_secs(args.hang_secs));
    }
    if failed {
        std::process::exit(1);
    }
    Ok(())
}

fn parse_seed(s: &str) -> Result<u64> {
    let r = match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    r.map_err(|e| anyhow::anyhow!("seed {s:?}: {e}"))
}

/// Runs `execs` executions of `t`; false if one panicked.
fn run(t: &Target, seed: u64, execs: u64, hang: Duration) -> bool {
    // Each target's executions get their own seeds, so a target's run does not depend on the
    // others'.
    let mut seeds = Rng::new(seed ^ fnv1a(t.name));
    // The watchdog: the execution in progress (its seed) and when it started.
    let current = Arc::new(AtomicU64::new(0));
    let started = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let epoch = Instant::now();
    let watchdog = {
        let (current, started, done) = (current.clone(), started.clone(), done.clone());
        let name = t.name;
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                let since = started.load(Ordering::Relaxed);
                let now = epoch.elapsed().as_millis() as u64;
                if since > 0 && now.saturating_sub(since) > hang.as_millis() as u64 {
                    eprintln!(
                        "{name}: HANG: an execution has run for over {}s; reproduce with \
                         `fuzz --target {name} --replay {:#018x}`",
                        hang.as_secs(),
                        current.load(Ordering::Relaxed)
                    );
                    std::process::exit(2);
                }
            }
        })
    };
    let start = Instant::now();
    let mut last_report = start;
    let mut bytes = 0u64;
    let mut ok = true;
    for i in 0..execs {
        let s = seeds.next_u64();
        let input = Rng::new(s).input(t.max_len);
        bytes += input.len() as u64;
        current.store(s, Ordering::Relaxed);
        started.store(epoch.elapsed().as_millis().max(1) as u64, Ordering::Relaxed);
        let r = catch_unwind(AssertUnwindSafe(|| (t.run)(&input)));
        started.store(0, Ordering::Relaxed);
        if r.is_err() {
            eprintln!(
                "{}: PANIC at execution {i}; reproduce with `fuzz --target {} --replay {s:#018x}`",
                t.name, t.name
            );
            eprintln!(
                "{}: input ({} bytes): {}",
                t.name,
                input.len(),
                hex::encode(&input)
            );
            ok = false;
            break;
        }
        if last_report.elapsed() >= Duration::from_secs(30) {
            last_report = Instant::now();
            let secs = start.elapsed().as_secs_f64();
            println!(
                "{}: {} executions, {:.0}/s",
                t.name,
                i + 1,
                (i + 1) as f64 / secs
            );
        }
    }
    done.store(true, Ordering::Relaxed);
    let _ = watchdog.join();
    let secs = start.elapsed().as_secs_f64();
    if ok {
        println!(
            "{}: {execs} executions in {secs:.1}s, {:.0}/s, mean input {} bytes, no failure",
            t.name,
            execs as f64 / secs,
            bytes / execs.max(1)
        );
    }
    ok
}

/// A stable hash of a target's name (FNV-1a).
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
