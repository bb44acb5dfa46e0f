//! sar-bench: what a subject access bundle costs, for people with many entries in a big store.
//!
//! Writes a store through the command service: filler people (meetings recorded by their
//! workers) until the log holds `--entries`, and, spread evenly through it, the chains of a few
//! target people of `--sizes` entries each (meetings, and every fifth one a drafted note with
//! two passages, so the bundle has openings to give). Then, for each target, times composing
//! and serialising their bundle (`Service::my_bundle`, what `Records.GetMyBundle` sends) and
//! verifying it offline (`sar::verify`, what `withus sar verify` runs). Median of `--repeat`.
//! Leaves the store in `--data`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Parser;
use withus::domain::types::*;
use withus::domain::Command;
use withus::service::{Call, Service};
use withus::store::StoreConfig;

#[derive(Parser)]
#[command(about = "Benchmark subject access bundles: compose + serialise, and verify")]
struct Args {
    /// Directory for the store this run writes (kept afterwards). Must not hold a store yet.
    #[arg(long)]
    data: PathBuf,
    /// Entries the log holds when the bundles are measured (at least).
    #[arg(long, default_value_t = 1_000_000)]
    entries: u64,
    /// Entries in each target person's chain, comma-separated.
    #[arg(long, default_value = "100,1000,5000", value_delimiter = ',')]
    sizes: Vec<u64>,
    /// Filler people (one worker per 8).
    #[arg(long, default_value_t = 2048)]
    people: u64,
    /// Concurrent callers while writing.
    #[arg(long, default_value_t = 64)]
    concurrency: u64,
    /// Measure a store an earlier run left in `--data` (same `--sizes`), without writing.
    #[arg(long)]
    measure_only: bool,
    /// Timings per measurement (the median is printed).
    #[arg(long, default_value_t = 5)]
    repeat: usize,
}

async fn run(svc: &Service, caller: &str, id: &str, cmd: Command) -> anyhow::Result<()> {
    svc.execute(caller, Call::id(id), cmd).await?;
    Ok(())
}

fn meeting(id: String, support: String) -> Command {
    Command::RecordMeeting {
        meeting_id: id,
        support_id: support,
        kind: MeetingKind::OneToOne,
        group_id: None,
        goals: vec![],
        activities: vec![],
        mode: MeetingMode::InPerson,
        place: Place::Community,
        place_detail: None,
        occurred_at: Time(0),
        minutes: 45,
    }
}

/// Registers `person` with an accepted relationship `sp` with `worker`.
async fn person(svc: &Service, person: &str, worker: &str, sp: &str) -> anyhow::Result<()> {
    let display = Passage::new("display", format!("Name of {person}"));
    run(
        svc,
        "admin",
        &format!("reg-{person}"),
        Command::RegisterActor {
            id: person.into(),
            role: Role::ServiceUser,
            team: None,
            display,
        },
    )
    .await?;
    let support_id = sp.to_string();
    run(
        svc,
        worker,
        &format!("ref-{sp}"),
        Command::ReferSupport {
            support_id: support_id.clone(),
            subject: person.into(),
            worker: worker.into(),
            source: ReferralSource::SelfReferral,
        },
    )
    .await?;
    run(
        svc,
        worker,
        &format!("off-{sp}"),
        Command::OfferSupport {
            support_id: support_id.clone(),
        },
    )
    .await?;
    run(
        svc,
        person,
        &format!("acc-{sp}"),
        Command::AcceptSupport { support_id },
    )
    .await
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.measure_only {
        let svc = Service::open(StoreConfig::new(&args.data))?;
        let targets: Vec<String> = args
            .sizes
            .iter()
            .map(|n| format!("su-target-{n}"))
            .collect();
        return measure(&svc, &targets, args.repeat);
    }
    if args.data.join("sled").exists() {
        bail!(
            "{} already holds a store; give an empty directory",
            args.data.display()
        );
    }
    if args.repeat == 0 || args.people == 0 {
        bail!("--repeat and --people must be at least 1");
    }
    let mut cfg = StoreConfig::new(&args.data);
    cfg.origin = Some("withus.bench/sar".into());
    let svc = Arc::new(Service::open(cfg)?);
    svc.bootstrap_admin("admin", "Bench Admin").await?;
    let workers = args.people.div_ceil(8);
    let setup = Instant::now();
    for w in 0..workers {
        let display = Passage::new("display", format!("Name of pw-{w}"));
        run(
            &svc,
            "admin",
            &format!("reg-pw-{w}"),
            Command::RegisterActor {
                id: format!("pw-{w}"),
                role: Role::PeerWorker,
                team: Some("peer-team".into()),
                display,
            },
        )
        .await?;
    }
    for p in 0..args.people {
        person(
            &svc,
            &format!("su-{p}"),
            &format!("pw-{}", p % workers),
            &format!("sp-{p}"),
        )
        .await?;
    }
    let targets: Vec<(String, u64)> = args
        .sizes
        .iter()
        .map(|&n| (format!("su-target-{n}"), n))
        .collect();
    for (t, _) in &targets {
        person(&svc, t, "pw-0", &format!("sp-{t}")).await?;
    }
    println!(
        "setup: {} people, {workers} workers, {} entries in {:.1} s",
        args.people,
        svc.store().size(),
        setup.elapsed().as_secs_f64()
    );

    // Filler and targets, interleaved: each command is a target's when its turn comes (so a
    // target's chain is spread over the whole log, as a real person's is), else a filler's.
    let write = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let done: Arc<Vec<AtomicU64>> = Arc::new(targets.iter().map(|_| AtomicU64::new(4)).collect());
    let total = args.entries.saturating_sub(svc.store().size());
    let strides: Vec<u64> = targets
        .iter()
        .map(|(_, n)| (total / n.saturating_sub(4).max(1)).max(1))
        .collect();
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let (svc, next, done, targets, strides) = (
            svc.clone(),
            next.clone(),
            done.clone(),
            targets.clone(),
            strides.clone(),
        );
        let people = args.people;
        let limit = args.entries;
        tasks.push(tokio::spawn(async move {
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let target = targets.iter().enumerate().find(|(i, (_, n))| {
                    k % strides[*i] == 0 && done[*i].load(Ordering::Relaxed) < *n
                });
                let (who, sp, worker) = match target {
                    Some((i, (t, _))) => {
                        done[i].fetch_add(1, Ordering::Relaxed);
                        (t.clone(), format!("sp-{t}"), "pw-0".to_string())
                    }
                    None => {
                        if svc.store().size() >= limit {
                            let unfinished = targets
                                .iter()
                                .enumerate()
                                .any(|(i, (_, n))| done[i].load(Ordering::Relaxed) < *n);
                            if !unfinished {
                                return anyhow::Ok(());
                            }
                            continue;
                        }
                        let p = k % people;
                        (
                            format!("su-{p}"),
                            format!("sp-{p}"),
                            format!("pw-{}", p % people.div_ceil(8)),
                        )
                    }
                };
                let m = format!("m-{k}");
                run(&svc, &worker, &format!("c-{k}"), meeting(m.clone(), sp)).await?;
                if target.is_some() && k % 5 == 0 {
                    if let Some((i, _)) = target {
                        done[i].fetch_add(1, Ordering::Relaxed);
                    }
                    let segments = vec![
                        Passage::new("s1", format!("We talked about week {k} and what helped.")),
                        Passage::new("s2", "A walk on Saturday, if the weather holds."),
                    ];
                    let cmd = Command::DraftNote {
                        note_id: format!("n-{k}"),
                        meeting_id: m,
                        segments,
                    };
                    run(&svc, &worker, &format!("n-{k}"), cmd).await?;
                }
                let _ = who;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let size = svc.store().size();
    println!(
        "wrote: {size} entries in {:.1} s",
        write.elapsed().as_secs_f64()
    );
    let targets: Vec<String> = targets.into_iter().map(|(t, _)| t).collect();
    measure(&svc, &targets, args.repeat)
}

/// Times composing and verifying each target's bundle; prints one row each.
fn measure(svc: &Service, targets: &[String], repeat: usize) -> anyhow::Result<()> {
    let vkey = svc.store().vkey()?;

    println!(
        "{:<20} {:>8} {:>11} {:>14} {:>16} {:>14}",
        "person", "entries", "bundle", "compose (ms)", "verify (ms)", "verify/s"
    );
    for t in targets {
        let chain = svc.store().subject_seqs(t)?.len();
        let mut compose = Vec::new();
        let mut bytes = Vec::new();
        for _ in 0..repeat {
            let t0 = Instant::now();
            bytes = svc.my_bundle(t)?;
            compose.push(t0.elapsed());
        }
        let mut verify = Vec::new();
        for _ in 0..repeat {
            let t0 = Instant::now();
            let proven = withus::sar::verify::verify(&bytes, &vkey)
                .map_err(|f| anyhow::anyhow!("the bundle of {t} does not verify: {f}"))?;
            verify.push(t0.elapsed());
            if proven.entries as usize != chain {
                bail!(
                    "{t}: the bundle has {} entries, the chain {chain}",
                    proven.entries
                );
            }
        }
        let (c, v) = (median(compose), median(verify));
        println!(
            "{t:<20} {chain:>8} {:>8} KiB {:>14.1} {:>16.1} {:>14.0}",
            bytes.len() / 1024,
            c.as_secs_f64() * 1e3,
            v.as_secs_f64() * 1e3,
            chain as f64 / v.as_secs_f64()
        );
    }
    Ok(())
}
