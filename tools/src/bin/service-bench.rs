//! service-bench: what the command service costs on top of the log store.
//!
//! Sets up people with accepted peer support, then measures, on a real store with fsync:
//! single-event commands (a meeting recorded) from N concurrent callers; logged reads of a
//! person's record by their worker (each read appends `record.accessed` before returning
//! content); a replay of the whole log into fresh projections; and `rebuild` (replay + rewrite
//! of the persisted views). Leaves the store in `--data` for `withus rebuild --check`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Parser;
use withus::domain::types::*;
use withus::domain::Command;
use withus::service::{replay, Call, Service};
use withus::store::StoreConfig;
use withus_tools::percentile;

#[derive(Parser)]
#[command(about = "Benchmark the withus command service (commands, logged reads, replay)")]
struct Args {
    /// Directory for the store this run writes (kept afterwards). Must not hold a store yet.
    #[arg(long)]
    data: PathBuf,
    /// People with an accepted support relationship (one per 8 to a worker).
    #[arg(long, default_value_t = 256)]
    people: u64,
    /// Concurrent callers in the command and read phases.
    #[arg(long, default_value_t = 64)]
    concurrency: u64,
    /// Seconds per timed phase.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
}

fn report(name: &str, n: u64, elapsed: Duration, mut lat: Vec<Duration>) {
    lat.sort();
    println!(
        "{name:<44} {n:>8} in {:>6.2} s = {:>8.0}/s   p50 {:>6.2} ms  p99 {:>6.2} ms",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3
    );
}

async fn call(svc: &Service, caller: &str, id: &str, cmd: Command) -> anyhow::Result<()> {
    svc.execute(caller, Call::id(id), cmd).await?;
    Ok(())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.data.join("sled").exists() {
        bail!(
            "{} already holds a store; give an empty directory",
            args.data.display()
        );
    }
    let mut cfg = StoreConfig::new(&args.data);
    cfg.origin = Some("withus.bench/service".into());
    let svc = Arc::new(Service::open(cfg)?);
    svc.bootstrap_admin("admin", "Bench Admin").await?;
    let workers = args.people.div_ceil(8).max(1);
    let register = |id: String, role: Role, team: Option<&str>| {
        let svc = svc.clone();
        let team = team.map(str::to_string);
        async move {
            let display = Passage::new("display", format!("Name of {id}"));
            call(
                &svc,
                "admin",
                &format!("reg-{id}"),
                Command::RegisterActor {
                    id,
                    role,
                    team,
                    display,
                },
            )
            .await
        }
    };
    let setup = Instant::now();
    for w in 0..workers {
        register(format!("pw-{w}"), Role::PeerWorker, Some("peer-team")).await?;
    }
    for p in 0..args.people {
        let (person, worker, sp) = (
            format!("su-{p}"),
            format!("pw-{}", p % workers),
            format!("sp-{p}"),
        );
        register(person.clone(), Role::ServiceUser, None).await?;
        call(
            &svc,
            &worker,
            &format!("ref-{p}"),
            Command::ReferSupport {
                support_id: sp.clone(),
                subject: person.clone(),
                worker: worker.clone(),
                source: ReferralSource::CareTeam,
            },
        )
        .await?;
        call(
            &svc,
            &worker,
            &format!("off-{p}"),
            Command::OfferSupport {
                support_id: sp.clone(),
            },
        )
        .await?;
        call(
            &svc,
            &person,
            &format!("acc-{p}"),
            Command::AcceptSupport {
                support_id: sp.clone(),
            },
        )
        .await?;
        let segments = vec![Passage::new(
            "s1",
            "We talked about the week and what helped.",
        )];
        call(
            &svc,
            &worker,
            &format!("m0-{p}"),
            Command::RecordMeeting {
                meeting_id: format!("m-{p}-0"),
                support_id: sp.clone(),
                kind: MeetingKind::OneToOne,
                group_id: None,
                goals: vec![],
                activities: vec![],
                mode: MeetingMode::InPerson,
                place: Place::Clinic,
                place_detail: None,
                occurred_at: Time(0),
                minutes: 45,
            },
        )
        .await?;
        call(
            &svc,
            &worker,
            &format!("n0-{p}"),
            Command::DraftNote {
                note_id: format!("n-{p}"),
                meeting_id: format!("m-{p}-0"),
                segments,
            },
        )
        .await?;
    }
    println!(
        "setup: {} people, {workers} workers, {} entries in {:.1} s (sequential commands)",
        args.people,
        svc.store().size(),
        setup.elapsed().as_secs_f64()
    );

    // Phase 1: single-event commands from N concurrent callers.
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..args.concurrency {
        let svc = svc.clone();
        let people = args.people;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = 0u64;
            while Instant::now() < deadline {
                let p = (c + i * 64) % people;
                let worker = format!("pw-{}", p % people.div_ceil(8).max(1));
                let t0 = Instant::now();
                let cmd = Command::RecordMeeting {
                    meeting_id: format!("m-c{c}-{i}"),
                    support_id: format!("sp-{p}"),
                    kind: MeetingKind::OneToOne,
                    group_id: None,
                    goals: vec![],
                    activities: vec![],
                    mode: MeetingMode::Phone,
                    place: Place::Online,
                    place_detail: None,
                    occurred_at: Time(0),
                    minutes: 30,
                };
                svc.execute(&worker, Call::id(&format!("bench-c{c}-{i}")), cmd)
                    .await?;
                lat.push(t0.elapsed());
                i += 1;
            }
            anyhow::Ok(lat)
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    report(
        &format!("commands ({} concurrent, 1 event each)", args.concurrency),
        lat.len() as u64,
        start.elapsed(),
        lat,
    );

    // Phase 2: logged reads by each person's worker.
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..args.concurrency {
        let svc = svc.clone();
        let people = args.people;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = 0u64;
            while Instant::now() < deadline {
                let p = (c * 7 + i * 13) % people;
                let worker = format!("pw-{}", p % people.div_ceil(8).max(1));
                let t0 = Instant::now();
                let r = svc.read_record(&worker, &format!("su-{p}"), None).await?;
                anyhow::ensure!(!r.receipts.is_empty(), "read not logged");
                lat.push(t0.elapsed());
                i += 1;
            }
            anyhow::Ok(lat)
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    report(
        &format!("logged reads ({} concurrent)", args.concurrency),
        lat.len() as u64,
        start.elapsed(),
        lat,
    );

    // Phase 3: replay and rebuild.
    let size = svc.store().size();
    let t0 = Instant::now();
    let p = replay(svc.store(), size)?;
    let el = t0.elapsed();
    println!(
        "{:<44} {size:>8} in {:>6.2} s = {:>8.0} entries/s",
        "replay into fresh projections",
        el.as_secs_f64(),
        size as f64 / el.as_secs_f64()
    );
    anyhow::ensure!(p.invalid_reads.is_empty(), "reads without a valid basis");
    let t0 = Instant::now();
    let r = withus::service::rebuild_views_checked(svc.store())?;
    let el = t0.elapsed();
    println!(
        "{:<44} {size:>8} in {:>6.2} s = {:>8.0} entries/s ({:?})",
        "rebuild (replay + rewrite views, checked)",
        el.as_secs_f64(),
        size as f64 / el.as_secs_f64(),
        r.found
    );
    match Arc::try_unwrap(svc) {
        Ok(svc) => svc.close()?,
        Err(_) => bail!("service still shared at exit"),
    }
    Ok(())
}
