//! log-bench: what the log store costs, against the limits of the machine it runs on.
//!
//! In one run, on the same entry bytes: durable appends in batches of 1, 16 and 256 events and
//! from 64 concurrent single-event appenders; the same with sled's flush but no fsync (what power
//! safety costs); raw sled `apply_batch` + `flush` of the entry bytes (the limit); a full verify
//! against a bare single-threaded blake3 hash chain over the same bytes. Leaves the store it wrote
//! in `--data`, so it can be exported and checked.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Parser;
use serde_json::json;
use withus::format::Actor;
use withus::store::{AppendBatch, Durability, Expected, LogStore, NewEvent, StoreConfig};

#[derive(Parser)]
#[command(about = "Benchmark the withus log store (durable appends, raw sled, verify)")]
struct Args {
    /// Directory for the store this run writes (kept afterwards). Must not hold a store yet.
    #[arg(long)]
    data: PathBuf,
    /// Events per phase (the batch-of-1 phase runs at most a tenth of them).
    #[arg(long, default_value_t = 100_000)]
    events: u64,
    /// Concurrent single-event appenders in the concurrency phase.
    #[arg(long, default_value_t = 64)]
    concurrency: u64,
}

/// A realistic event: a note revision about one of 1,000 people, with three segment references.
fn event(i: u64) -> NewEvent {
    let seg = |k: u64| json!({"id": format!("s{k}"), "commit": blake3::hash(&(i * 3 + k).to_le_bytes()).to_hex().to_string(), "chars": 40 + k});
    NewEvent {
        event_type: "note.revised".into(),
        v: 1,
        stream: format!("note:n-{}", i % 5000),
        expected: Expected::Any,
        subject: Some(format!("su-{}", i % 1000)),
        actor: Actor {
            id: format!("pw-{}", i % 40),
            role: "peer_worker".into(),
        },
        data: json!({"segments": [seg(1), seg(2), seg(3)]}),
    }
}

fn open(dir: &Path, durability: Durability) -> anyhow::Result<LogStore> {
    let mut cfg = StoreConfig::new(dir);
    cfg.durability = durability;
    cfg.origin = Some("withus.bench/log".into());
    Ok(LogStore::open(cfg)?)
}

/// Appends in batches of `size` from one caller until `n` events or 20 s. The batches are
/// built before the clock starts: this measures the store, not the event generator.
fn sequential(
    store: &LogStore,
    next: &mut u64,
    n: u64,
    size: u64,
) -> anyhow::Result<(u64, Duration)> {
    let mut batches = Vec::new();
    let mut i = *next;
    while i < *next + n {
        let k = size.min(*next + n - i);
        // One caller's command: a command id belongs to one actor, so its events share it.
        let mut events: Vec<NewEvent> = (i..i + k).map(event).collect();
        if let Some(actor) = events.first().map(|e| e.actor.clone()) {
            events.iter_mut().for_each(|e| e.actor = actor.clone());
        }
        batches.push(AppendBatch {
            command: Some(format!("c-{i}")),
            events,
            ..AppendBatch::default()
        });
        i += k;
    }
    let start = Instant::now();
    let mut done = 0;
    for b in batches {
        if start.elapsed() > Duration::from_secs(20) {
            break;
        }
        done += b.events.len() as u64;
        store.append_blocking(b)?;
    }
    *next += done;
    Ok((done, start.elapsed()))
}

/// `tasks` concurrent single-event appenders until `n` events in all.
fn concurrent(
    store: Arc<LogStore>,
    next: &mut u64,
    n: u64,
    tasks: u64,
) -> anyhow::Result<(u64, Duration, Vec<Duration>)> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let base = *next;
    let per = n / tasks;
    let work: Vec<Vec<AppendBatch>> = (0..tasks)
        .map(|t| {
            (0..per)
                .map(|j| {
                    let i = base + t * per + j;
                    AppendBatch {
                        command: Some(format!("c-{i}")),
                        events: vec![event(i)],
                        ..AppendBatch::default()
                    }
                })
                .collect()
        })
        .collect();
    let start = Instant::now();
    let lat = rt.block_on(async {
        let mut handles = Vec::new();
        for batches in work {
            let store = Arc::clone(&store);
            handles.push(tokio::spawn(async move {
                let mut lat = Vec::with_capacity(batches.len());
                for b in batches {
                    let s = Instant::now();
                    store.append(b).await?;
                    lat.push(s.elapsed());
                }
                Ok::<_, withus::store::StoreError>(lat)
            }));
        }
        let mut all = Vec::new();
        for h in handles {
            all.extend(h.await??);
        }
        Ok::<_, anyhow::Error>(all)
    })?;
    *next += per * tasks;
    Ok((per * tasks, start.elapsed(), lat))
}

fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn dir_bytes(p: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => total += dir_bytes(&e.path()),
                // Allocated blocks, not apparent length: sled preallocates sparse segments.
                Ok(m) => total += std::os::unix::fs::MetadataExt::blocks(&m) * 512,
                Err(_) => {}
            }
        }
    }
    total
}

fn pct(lat: &mut [Duration], p: f64) -> Duration {
    lat.sort_unstable();
    lat.get(((lat.len() as f64 - 1.0) * p) as usize)
        .copied()
        .unwrap_or_default()
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.data.join("sled").exists() {
        bail!(
            "{} already holds a store; give an empty directory",
            args.data.display()
        );
    }
    let n = args.events.max(args.concurrency);
    println!(
        "log-bench: {n} events per phase, {} concurrent appenders, data in {}",
        args.concurrency,
        args.data.display()
    );

    let mut results: Vec<(String, f64)> = Vec::new();
    let mut next = 0u64;
    let store = Arc::new(open(&args.data, Durability::Fsync)?);
    for size in [1u64, 16, 256] {
        let want = if size == 1 { (n / 10).max(1) } else { n };
        let (k, d) = sequential(&store, &mut next, want, size)?;
        println!(
            "durable append, batch {size:>3}:        {:>10.0} events/s  ({k} events in {:.2}s)",
            rate(k, d),
            d.as_secs_f64()
        );
        results.push((format!("batch{size}"), rate(k, d)));
    }
    let (k, d, mut lat) = concurrent(Arc::clone(&store), &mut next, n, args.concurrency)?;
    let p50 = pct(&mut lat, 0.5);
    let p99 = pct(&mut lat, 0.99);
    println!(
        "durable append, {} concurrent x1:   {:>10.0} events/s  (p50 {:.2} ms, p99 {:.2} ms)",
        args.concurrency,
        rate(k, d),
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
    results.push(("concurrent".into(), rate(k, d)));
    let total = store.size();
    // Verify the live store (sled's cache warm, as in a running server)...
    let start = Instant::now();
    let report = store.verify(&mut |_, _| {})?;
    let verify_warm = rate(total, start.elapsed());
    if let Some(f) = &report.failure {
        bail!("the benchmark's own store failed verification: {f}");
    }
    drop(store);
    let store = LogStore::open_read_only(&args.data)?;
    let sled_bytes = dir_bytes(&args.data.join("sled"));
    println!(
        "bytes on disk per entry:           {:>10.0}  (sled {} MiB for {total} entries)",
        sled_bytes as f64 / total as f64,
        sled_bytes >> 20
    );

    // The same entry bytes, for the baselines.
    let bytes: Vec<Vec<u8>> = store
        .entries(0, total)
        .map(|e| e.map(|e| e.bytes))
        .collect::<Result<_, _>>()?;
    let avg = bytes.iter().map(Vec::len).sum::<usize>() as f64 / bytes.len() as f64;
    println!("entry size:                        {avg:>10.0} bytes on average");

    // Without fsync: what power safety costs.
    let tmp = args.data.join("bench-scratch");
    let _ = std::fs::remove_dir_all(&tmp);
    {
        let flush_store = Arc::new(open(&tmp.join("flush-only"), Durability::Flush)?);
        let mut nx = 0;
        let (k, d) = sequential(&flush_store, &mut nx, n, 256)?;
        let r256 = rate(k, d);
        let (k, d, _) = concurrent(Arc::clone(&flush_store), &mut nx, n, args.concurrency)?;
        println!("flush only (no fsync), batch 256:  {r256:>10.0} events/s; {} concurrent: {:.0} events/s", args.concurrency, rate(k, d));
        results.push(("flush256".into(), r256));
    }

    // Raw sled: one tree, apply_batch of 256 entry values, flush. The limit for batch 256.
    let raw = {
        let db = sled::Config::new()
            .path(tmp.join("raw-sled"))
            .segment_size(withus::store::SLED_SEGMENT_SIZE)
            .open()?;
        let tree = db.open_tree("raw")?;
        let start = Instant::now();
        for (c, chunk) in bytes.chunks(256).enumerate() {
            let mut b = sled::Batch::default();
            for (j, e) in chunk.iter().enumerate() {
                b.insert(&((c * 256 + j) as u64).to_be_bytes()[..], e.as_slice());
            }
            tree.apply_batch(b)?;
            db.flush()?;
        }
        rate(bytes.len() as u64, start.elapsed())
    };
    println!("raw sled apply_batch(256)+flush:   {raw:>10.0} records/s");

    // ...and freshly opened (cold: sled pages in every node), as `withus log verify` does.
    let start = Instant::now();
    let report = store.verify(&mut |_, _| {})?;
    let verify = rate(total, start.elapsed());
    if let Some(f) = &report.failure {
        bail!("the benchmark's own store failed verification: {f}");
    }
    let start = Instant::now();
    let mut h = [0u8; 32];
    for e in &bytes {
        let mut hasher = blake3::Hasher::new();
        hasher.update(&h);
        hasher.update(e);
        h = *hasher.finalize().as_bytes();
    }
    let chain = rate(bytes.len() as u64, start.elapsed());
    println!("full verify, live store (warm):    {verify_warm:>10.0} entries/s");
    println!("full verify, fresh open (cold):    {verify:>10.0} entries/s");
    println!(
        "bare blake3 hash chain (1 thread): {chain:>10.0} entries/s  (chain head {})",
        &blake3::Hash::from(h).to_hex()[..16]
    );
    let _ = std::fs::remove_dir_all(&tmp);

    let get = |k: &str| results.iter().find(|(n, _)| n == k).map_or(0.0, |r| r.1);
    println!("ratios:");
    println!(
        "  batch 256 / raw sled:            {:>6.1}%  (target >= 50%)",
        100.0 * get("batch256") / raw
    );
    println!(
        "  {} concurrent singles:           {:>8.0} events/s (target >= 25000)",
        args.concurrency,
        get("concurrent")
    );
    println!(
        "  verify / bare chain:             {:>6.1}% warm, {:.1}% cold  (target >= 50%)",
        100.0 * verify_warm / chain,
        100.0 * verify / chain
    );
    println!(
        "  fsync cost at batch 256:         {:>6.1}%  slower than flush only",
        100.0 * (1.0 - get("batch256") / get("flush256"))
    );
    println!(
        "store left in {} ({total} entries); check it with `withus log verify --data {}`",
        args.data.display(),
        args.data.display()
    );
    std::fs::create_dir_all(&args.data).context("data dir")?;
    Ok(())
}
