//! scale-bench: a Trust's decade in one store (issue 13).
//!
//! Writes a realistic store of `--events` entries through the command service (in process,
//! real sled with fsync, every entry decided by the service and applied to real projections):
//! `--people` people and `--workers` peer workers, one care-team clinician per 20 workers, each
//! person with an accepted support relationship; then episodes of practice — a meeting, a note
//! drafted (two passages), revised every second time, a passage removed by agreement every fifth,
//! the note agreed by both, the record read by the worker every third, consent to the care team
//! granted and the clinician's read under it, consent revoked, a concern every tenth. Most people
//! get tens of entries; one in `--heavy-every` gets 16 times as many episodes (about a thousand
//! entries at 10 M), and the first `--targets` people 64 times (thousands).
//!
//! Then, in a fresh process (so memory is the open store's, not the writer's), it measures:
//! open until the service is ready, RSS after open, logged-read latency for small and large
//! records, composing the bundle of the largest person, RSS after `--load-seconds` of mixed load
//! (reads, commands, bundles), a bare BLAKE3 chain over the entries' bytes against `verify`,
//! the checked rebuild, and disk per entry with where it goes. Prints one table.
//! Leaves the store in `--data` (`--measure-only` measures it again).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Parser;
use withus::domain::event::Grantee;
use withus::domain::types::*;
use withus::domain::Command;
use withus::service::{Call, Service};
use withus::store::StoreConfig;
use withus_tools::percentile;

#[derive(Parser, Clone)]
#[command(
    about = "Write a store of N events through the command service, then measure how it \
                   opens, reads, verifies and rebuilds, and what it costs in memory and disk"
)]
struct Args {
    /// Directory for the store (kept afterwards). Must not hold a store unless --measure-only.
    #[arg(long)]
    data: PathBuf,
    /// Entries to write (at least; the last episodes in flight finish).
    #[arg(long, default_value_t = 10_000_000)]
    events: u64,
    /// People with an accepted support relationship.
    #[arg(long, default_value_t = 100_000)]
    people: u64,
    /// Peer workers (one care-team clinician per 20 of them).
    #[arg(long, default_value_t = 2_000)]
    workers: u64,
    /// One person in this many gets 16 times the episodes (large records).
    #[arg(long, default_value_t = 100)]
    heavy_every: u64,
    /// The first this many people get 64 times the episodes (the largest records).
    #[arg(long, default_value_t = 10)]
    targets: u64,
    /// Concurrent callers in the timed phases.
    #[arg(long, default_value_t = 64)]
    concurrency: u64,
    /// Concurrent callers while writing the store.
    #[arg(long, default_value_t = 256)]
    writers: u64,
    /// Seconds of each read-latency phase.
    #[arg(long, default_value_t = 20)]
    read_seconds: u64,
    /// Seconds of mixed load before the second RSS reading (the issue asks for 600).
    #[arg(long, default_value_t = 120)]
    load_seconds: u64,
    /// Measure the store an earlier run left in --data, without writing.
    #[arg(long)]
    measure_only: bool,
    /// Internal: this process is the measuring child.
    #[arg(long, hide = true)]
    child: bool,
}

/// The people, workers and clinicians of a run, by index; ids are derived, never stored.
#[derive(Clone, Copy)]
struct World {
    people: u64,
    workers: u64,
    heavy_every: u64,
    targets: u64,
}

impl World {
    fn of(args: &Args) -> World {
        World {
            people: args.people.max(1),
            workers: args.workers.max(1),
            heavy_every: args.heavy_every.max(1),
            targets: args.targets,
        }
    }
    fn teams(&self) -> u64 {
        self.workers.div_ceil(20)
    }
    fn person(p: u64) -> String {
        format!("su-{p}")
    }
    fn worker_of(&self, p: u64) -> String {
        format!("pw-{}", p % self.workers)
    }
    fn team_of(&self, p: u64) -> String {
        format!("cmht-{}", (p % self.workers) / 20)
    }
    fn clinician_of(&self, p: u64) -> String {
        format!("ct-{}", (p % self.workers) / 20)
    }
    /// Episodes per round: how much of the log this person's record is.
    fn weight(&self, p: u64) -> u64 {
        if p < self.targets {
            64
        } else if p % self.heavy_every == self.heavy_every / 2 {
            16
        } else {
            1
        }
    }
    fn is_heavy(&self, p: u64) -> bool {
        self.weight(p) == 16
    }
}

async fn run(svc: &Service, caller: &str, id: &str, cmd: Command) -> anyhow::Result<()> {
    svc.execute(caller, Call::id(id), cmd)
        .await
        .with_context(|| format!("{caller}: command {id}"))?;
    Ok(())
}

fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(read) = std::fs::read_dir(dir) {
        for entry in read.flatten() {
            match entry.metadata() {
                Ok(m) if m.is_dir() => total += dir_bytes(&entry.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if args.child {
        // The open's own timing lines ("log opened", "store opened": which phase grows with
        // the log) and any warning, on stderr beside the table.
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(tracing_subscriber::EnvFilter::new("withus=info"))
            .init();
        return rt.block_on(measure(args));
    }
    if !args.measure_only {
        if args.data.join("sled").exists() {
            bail!(
                "{} already holds a store; give an empty directory or --measure-only",
                args.data.display()
            );
        }
        rt.block_on(write(&args))?;
    }
    drop(rt);
    let status = std::process::Command::new(std::env::current_exe()?)
        .args(std::env::args_os().skip(1))
        .arg("--child")
        .status()?;
    if !status.success() {
        bail!("the measuring process failed: {status}");
    }
    Ok(())
}

async fn write(args: &Args) -> anyhow::Result<()> {
    let world = World::of(args);
    let mut cfg = StoreConfig::new(&args.data);
    cfg.origin = Some("withus.bench/scale".into());
    let svc = Arc::new(Service::open(cfg)?);
    svc.bootstrap_admin("admin", "Bench Admin").await?;
    let start = Instant::now();

    // Actors: workers, clinicians (one per team), then people with accepted support.
    let mut actors: Vec<(String, Role, Option<String>)> = (0..world.workers)
        .map(|w| {
            (
                format!("pw-{w}"),
                Role::PeerWorker,
                Some("peer-team".into()),
            )
        })
        .collect();
    actors.extend(
        (0..world.teams()).map(|t| (format!("ct-{t}"), Role::CareTeam, Some(format!("cmht-{t}")))),
    );
    let actors = Arc::new(actors);
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..args.writers {
        let (svc, actors, next) = (svc.clone(), actors.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some((id, role, team)) = actors.get(i).cloned() else {
                    return anyhow::Ok(());
                };
                let display = Passage::new("display", format!("Name of {id}"));
                let cmd = Command::RegisterActor {
                    id: id.clone(),
                    role,
                    team,
                    display,
                };
                run(&svc, "admin", &format!("reg-{id}"), cmd).await?;
            }
        }));
    }
    for t in tasks.drain(..) {
        t.await??;
    }
    let next = Arc::new(AtomicU64::new(0));
    for _ in 0..args.writers {
        let (svc, next) = (svc.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let p = next.fetch_add(1, Ordering::Relaxed);
                if p >= world.people {
                    return anyhow::Ok(());
                }
                setup_person(&svc, &world, p).await?;
            }
        }));
    }
    for t in tasks.drain(..) {
        t.await??;
    }
    println!(
        "setup: {} people, {} workers, {} clinicians: {} entries in {:.0} s",
        world.people,
        world.workers,
        world.teams(),
        svc.store().size(),
        start.elapsed().as_secs_f64()
    );

    // Practice: rounds over each task's people until the log holds --events.
    let target = args.events;
    let concurrency = args.writers;
    for c in 0..concurrency {
        let svc = svc.clone();
        tasks.push(tokio::spawn(async move {
            let mine: Vec<u64> = (c..world.people).step_by(concurrency as usize).collect();
            let mut episodes = vec![0u64; mine.len()];
            loop {
                for (slot, &p) in mine.iter().enumerate() {
                    for _ in 0..world.weight(p) {
                        if svc.store().size() >= target {
                            return anyhow::Ok(());
                        }
                        episode(&svc, &world, p, episodes[slot]).await?;
                        episodes[slot] += 1;
                    }
                }
            }
        }));
    }
    let progress = {
        let svc = svc.clone();
        tokio::spawn(async move {
            let mut last = (Instant::now(), svc.store().size());
            loop {
                tokio::time::sleep(Duration::from_secs(30)).await;
                let size = svc.store().size();
                let rate = (size - last.1) as f64 / last.0.elapsed().as_secs_f64();
                let (rss, _) = rss_mib();
                println!("  {size:>10} entries  {rate:>7.0}/s  RSS {rss:>6.0} MiB");
                last = (Instant::now(), size);
            }
        })
    };
    for t in tasks.drain(..) {
        t.await??;
    }
    progress.abort();
    let _ = progress.await;
    let size = svc.store().size();
    let (rss, peak) = rss_mib();
    println!(
        "wrote {size} entries in {:.0} s ({:.0}/s overall); writer RSS {rss:.0} MiB (peak {peak:.0})",
        start.elapsed().as_secs_f64(),
        size as f64 / start.elapsed().as_secs_f64()
    );
    match Arc::try_unwrap(svc) {
        Ok(svc) => svc.close()?,
        Err(_) => bail!("service still shared after writing"),
    }
    Ok(())
}

async fn setup_person(svc: &Service, world: &World, p: u64) -> anyhow::Result<()> {
    let (person, worker, sp) = (World::person(p), world.worker_of(p), format!("sp-{p}"));
    let display = Passage::new("display", format!("Name of {person}"));
    let register = Command::RegisterActor {
        id: person.clone(),
        role: Role::ServiceUser,
        team: None,
        display,
    };
    run(svc, "admin", &format!("reg-{person}"), register).await?;
    let refer = Command::ReferSupport {
        support_id: sp.clone(),
        subject: person.clone(),
        worker: worker.clone(),
        source: ReferralSource::CareTeam,
    };
    run(svc, &worker, &format!("ref-{p}"), refer).await?;
    let offer = Command::OfferSupport {
        support_id: sp.clone(),
    };
    run(svc, &worker, &format!("off-{p}"), offer).await?;
    let accept = Command::AcceptSupport { support_id: sp };
    run(svc, &person, &format!("acc-{p}"), accept).await
}

fn meeting(p: u64, k: u64) -> Command {
    Command::RecordMeeting {
        meeting_id: format!("m-{p}-{k}"),
        support_id: format!("sp-{p}"),
        kind: MeetingKind::OneToOne,
        group_id: None,
        goals: vec![],
        activities: vec![],
        mode: if k % 3 == 0 {
            MeetingMode::Phone
        } else {
            MeetingMode::InPerson
        },
        place: Place::Community,
        place_detail: None,
        occurred_at: Time(1_500_000_000_000 + (k % 3_000) * 86_400_000),
        minutes: 30 + (k % 4) as u32 * 15,
    }
}

fn passages(p: u64, k: u64, revision: u64) -> Vec<Passage> {
    vec![
        Passage::new(
            "s1",
            format!(
                "We met and talked about how the week went for {p}; walking helped, and the \
                 plan for next time is to try the library group (episode {k}, revision {revision})."
            ),
        ),
        Passage::new(
            "s2",
            format!("Something said in passing that may be taken out later ({p}/{k}/{revision})."),
        ),
    ]
}

/// One episode of practice for person `p`: about six entries.
async fn episode(svc: &Service, world: &World, p: u64, k: u64) -> anyhow::Result<()> {
    let (person, worker) = (World::person(p), world.worker_of(p));
    let note = format!("n-{p}-{k}");
    let id = |step: &str| format!("{p}-{k}-{step}");
    run(svc, &worker, &id("m"), meeting(p, k)).await?;
    let draft = Command::DraftNote {
        note_id: note.clone(),
        meeting_id: format!("m-{p}-{k}"),
        segments: passages(p, k, 1),
    };
    run(svc, &worker, &id("d"), draft).await?;
    let mut revision = 1;
    if k % 2 == 0 {
        let revise = Command::ReviseNote {
            note_id: note.clone(),
            segments: passages(p, k, 2),
        };
        run(svc, &worker, &id("r"), revise).await?;
        revision = 2;
    }
    if k % 5 == 0 {
        let propose = Command::ProposeRedaction {
            note_id: note.clone(),
            proposal_id: "r-1".into(),
            segments: vec!["s2".into()],
            reason: RedactionReason::NotWanted,
        };
        run(svc, &person, &id("p"), propose).await?;
        let agree = Command::AgreeRedaction {
            note_id: note.clone(),
            proposal_id: "r-1".into(),
        };
        run(svc, &worker, &id("pa"), agree).await?;
    }
    for (who, step) in [(&person, "as"), (&worker, "aw")] {
        let agree = Command::AgreeNote {
            note_id: note.clone(),
            revision,
        };
        run(svc, who, &id(step), agree).await?;
    }
    if k % 3 == 0 {
        svc.read_record(&worker, &person, None)
            .await
            .with_context(|| format!("{worker} reads {person}"))?;
    }
    match k % 4 {
        1 => {
            let grant = Command::GrantConsent {
                subject: person.clone(),
                consent_id: format!("c-{k}"),
                scope: Scope::ShareWithCareTeam,
                grantee: Some(Grantee::Team(world.team_of(p))),
                expires_at: None,
            };
            run(svc, &person, &id("cg"), grant).await?;
            let clinician = world.clinician_of(p);
            svc.read_record(&clinician, &person, None)
                .await
                .with_context(|| format!("{clinician} reads {person}"))?;
        }
        3 => {
            let revoke = Command::RevokeConsent {
                subject: person.clone(),
                consent_id: format!("c-{}", k - 2),
            };
            run(svc, &person, &id("cr"), revoke).await?;
        }
        _ => {}
    }
    if k % 10 == 7 {
        let concern = Command::RaiseConcern {
            concern_id: format!("q-{p}-{k}"),
            subject: person.clone(),
            category: ConcernCategory::SelfNeglect,
            urgency: Urgency::Routine,
            summary: vec![Passage::new(
                "s1",
                "Not eating well this week; agreed to talk to the GP together.",
            )],
        };
        run(svc, &worker, &id("q"), concern).await?;
    }
    Ok(())
}

/// The result table, printed as it is measured (a crash still leaves the rows so far).
struct Table;

impl Table {
    fn row(&mut self, what: impl AsRef<str>, value: impl AsRef<str>) {
        println!("  {:<60} {}", what.as_ref(), value.as_ref());
    }
}

/// Logged reads of `subjects` by their workers from `concurrency` callers for `seconds`.
async fn reads(
    svc: &Arc<Service>,
    world: World,
    subjects: Arc<Vec<u64>>,
    concurrency: u64,
    seconds: u64,
) -> anyhow::Result<(f64, Duration, Duration, usize)> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..concurrency {
        let (svc, subjects) = (svc.clone(), subjects.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut items = 0;
            let mut i = c as usize;
            while Instant::now() < deadline {
                let p = subjects[i % subjects.len()];
                let t0 = Instant::now();
                let read = svc
                    .read_record(&world.worker_of(p), &World::person(p), None)
                    .await?;
                latencies.push(t0.elapsed());
                items = items.max(read.view.items());
                i += concurrency as usize * 7 + 1;
            }
            anyhow::Ok((latencies, items))
        }));
    }
    let (mut all, mut items) = (Vec::new(), 0);
    for t in tasks {
        let (latencies, most) = t.await??;
        all.extend(latencies);
        items = items.max(most);
    }
    all.sort();
    let rate = all.len() as f64 / start.elapsed().as_secs_f64();
    Ok((rate, percentile(&all, 0.5), percentile(&all, 0.99), items))
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

async fn measure(args: Args) -> anyhow::Result<()> {
    let world = World::of(&args);
    let mut table = Table;
    println!("measuring {} (fresh process)", args.data.display());

    let t0 = Instant::now();
    let svc = Arc::new(Service::open(StoreConfig::new(&args.data))?);
    let open = t0.elapsed();
    let size = svc.store().size();
    table.row("entries", format!("{size}"));
    table.row(
        "open until ready (Service::open)",
        format!("{:.2} s", open.as_secs_f64()),
    );
    let (rss, _) = rss_mib();
    table.row(
        "RSS after open",
        format!(
            "{rss:.0} MiB ({:.0} B per entry)",
            rss * 1048576.0 / size.max(1) as f64
        ),
    );

    // Logged reads: small records (everyone but the heavy), large (the heavy).
    let small: Vec<u64> = (world.targets..world.people)
        .filter(|&p| world.weight(p) == 1)
        .collect();
    let large: Vec<u64> = (0..world.people).filter(|&p| world.is_heavy(p)).collect();
    for (name, subjects) in [("small", small), ("large", large)] {
        if subjects.is_empty() {
            continue;
        }
        let subjects = Arc::new(subjects);
        for readers in [1, args.concurrency] {
            let (rate, p50, p99, items) =
                reads(&svc, world, subjects.clone(), readers, args.read_seconds).await?;
            table.row(
                format!("logged reads, {name} records (≤ {items} items), {readers} readers"),
                format!("{rate:.0}/s  p50 {}  p99 {}", ms(p50), ms(p99)),
            );
        }
    }

    // The bundle of the largest person.
    if world.targets > 0 {
        let person = World::person(0);
        let chain = svc.store().subject_seqs(&person)?.len();
        let mut times = Vec::new();
        let mut bytes = 0;
        for _ in 0..3 {
            let t0 = Instant::now();
            bytes = svc.my_bundle(&person)?.len();
            times.push(t0.elapsed());
        }
        times.sort();
        table.row(
            format!("bundle of {person} ({chain} entries, {} KiB)", bytes / 1024),
            format!("median {} of 3", ms(times[1])),
        );
    }

    // Mixed load: reads (70%), commands (25%), bundles (5%).
    let deadline = Instant::now() + Duration::from_secs(args.load_seconds);
    let counts = Arc::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]);
    let mut tasks = Vec::new();
    for c in 0..args.concurrency {
        let (svc, counts) = (svc.clone(), counts.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while Instant::now() < deadline {
                let p = (c * 7919 + i * 104_729) % world.people;
                let (person, worker) = (World::person(p), world.worker_of(p));
                match i % 20 {
                    0 => {
                        svc.my_bundle(&person)?;
                        counts[2].fetch_add(1, Ordering::Relaxed);
                    }
                    1..=5 => {
                        let k = 1_000_000 + c * 1_000_000 + i;
                        run(&svc, &worker, &format!("load-{p}-{k}"), meeting(p, k)).await?;
                        counts[1].fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        svc.read_record(&worker, &person, None).await?;
                        counts[0].fetch_add(1, Ordering::Relaxed);
                    }
                }
                i += 1;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let (rss, peak) = rss_mib();
    let [r, c, b] = &*counts;
    table.row(
        format!("RSS after {} s of mixed load", args.load_seconds),
        format!(
            "{rss:.0} MiB (peak {peak:.0}); {} reads, {} commands, {} bundles",
            r.load(Ordering::Relaxed),
            c.load(Ordering::Relaxed),
            b.load(Ordering::Relaxed)
        ),
    );

    // A bare BLAKE3 chain over the entries' bytes: the least any verification must do. Read
    // from the store in one pass, in chunks, timing the hashing alone too (what log-bench calls
    // the bare chain: bytes already in memory). Then verify itself.
    let size = svc.store().size();
    let t0 = Instant::now();
    let (mut chain, mut bytes, mut hashing) = (blake3::Hash::from([0u8; 32]), 0u64, Duration::ZERO);
    let mut chunk: Vec<Vec<u8>> = Vec::with_capacity(10_000);
    let mut entries = svc.store().entries(0, size).peekable();
    while entries.peek().is_some() {
        chunk.clear();
        for entry in entries.by_ref().take(10_000) {
            chunk.push(entry?.bytes);
        }
        let h0 = Instant::now();
        for entry in &chunk {
            bytes += entry.len() as u64;
            let mut h = blake3::Hasher::new();
            h.update(chain.as_bytes());
            h.update(entry);
            chain = h.finalize();
        }
        hashing += h0.elapsed();
    }
    drop(entries);
    let bare = t0.elapsed();
    let bare_rate = size as f64 / bare.as_secs_f64();
    let hash_rate = size as f64 / hashing.as_secs_f64();
    table.row(
        "bare chain: read + BLAKE3 each entry, one thread",
        format!(
            "{:.1} s = {bare_rate:.0} entries/s ({} MiB, chain {})",
            bare.as_secs_f64(),
            bytes >> 20,
            &chain.to_hex()[..8]
        ),
    );
    table.row(
        "bare chain: BLAKE3 alone, bytes in memory (log-bench's)",
        format!("{:.1} s = {hash_rate:.0} entries/s", hashing.as_secs_f64()),
    );
    let t0 = Instant::now();
    let report = svc.store().verify(&mut |_, _| {})?;
    let verify = t0.elapsed();
    if let Some(failure) = &report.failure {
        bail!("verify failed: {failure:?}");
    }
    let verify_rate = report.entries as f64 / verify.as_secs_f64();
    table.row(
        "verify",
        format!(
            "{:.1} s = {verify_rate:.0} entries/s ({:.0}% of read + hash, {:.0}% of hash alone), \
             {} contents",
            verify.as_secs_f64(),
            100.0 * verify_rate / bare_rate,
            100.0 * verify_rate / hash_rate,
            report.contents
        ),
    );

    let space = svc.store().space()?;
    let svc = match Arc::try_unwrap(svc) {
        Ok(svc) => svc,
        Err(_) => bail!("service still shared after measuring"),
    };
    svc.close()?;
    let disk = dir_bytes(&args.data);
    table.row(
        "disk (the data directory, closed)",
        format!(
            "{} MiB = {:.0} B per entry",
            disk >> 20,
            disk as f64 / size.max(1) as f64
        ),
    );
    for line in space {
        table.row(
            format!("  live {}", line.kind),
            format!(
                "{} keys, {} MiB = {:.0} B per entry",
                line.keys,
                line.bytes >> 20,
                line.bytes as f64 / size.max(1) as f64
            ),
        );
    }

    // Last, with the service closed: a checked rebuild holds two whole projections (the
    // persisted views caught up, and a replay from zero). The peak is reset first (Linux's
    // clear_refs 5), so it is the rebuild's own and not the service's before it.
    let reset_peak = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let store = withus::store::LogStore::open(StoreConfig::new(&args.data))?;
    let t0 = Instant::now();
    let rebuilt = withus::service::rebuild_views_checked(&store)?;
    let rebuild = t0.elapsed();
    let (_, peak) = rss_mib();
    let peak_of = if reset_peak { "rebuild" } else { "process" };
    table.row(
        "rebuild --check (replay + compare + rewrite views)",
        format!(
            "{:.1} s = {:.0} entries/s ({:?}); {peak_of} peak RSS {peak:.0} MiB",
            rebuild.as_secs_f64(),
            rebuilt.applied as f64 / rebuild.as_secs_f64(),
            rebuilt.found
        ),
    );
    store.close()?;
    Ok(())
}
