//! crash-child: appends to a store under load until it is killed, printing every receipt the
//! store acknowledged. A crash tester (tools/tests/crash.rs) SIGKILLs it at random moments and
//! checks that every printed receipt survived. Not for production data.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use clap::Parser;
use serde_json::json;
use withus::format::{to_hex, Actor};
use withus::store::{AppendBatch, Expected, LogStore, NewEvent, StoreConfig};

#[derive(Parser)]
#[command(
    about = "Append under load until killed; print `seq leaf_hash` for every acknowledged entry"
)]
struct Args {
    /// The store's data directory (created if missing).
    #[arg(long)]
    data: PathBuf,
    /// Concurrent appenders.
    #[arg(long, default_value_t = 16)]
    tasks: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let store = Arc::new(LogStore::open(StoreConfig::new(&args.data))?);
    let out = Arc::new(Mutex::new(std::io::stdout()));
    // Distinct per run, so commands of an earlier run are not treated as retries.
    let run = format!("{:x}", std::process::id());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let mut handles = Vec::new();
        for t in 0..args.tasks {
            let (store, out, run) = (Arc::clone(&store), Arc::clone(&out), run.clone());
            handles.push(tokio::spawn(async move {
                for i in 0u64.. {
                    let mut batch = AppendBatch {
                        command: Some(format!("c-{run}-{t}-{i}")),
                        ..AppendBatch::default()
                    };
                    let n = 1 + (i % 3);
                    for k in 0..n {
                        let mut data = json!({"minutes": 30 + k});
                        if i % 4 == 0 && k == 0 {
                            let (seg, staged) =
                                store.stage_content("s1", &format!("text {run} {t} {i}"))?;
                            data = json!({"segments": [seg.to_json()]});
                            batch.contents.push(staged);
                        }
                        batch.events.push(NewEvent {
                            event_type: "meeting.recorded".into(),
                            v: 1,
                            stream: format!("meeting:m-{}", (t * 7 + i) % 50),
                            expected: Expected::Any,
                            subject: Some(format!("su-{}", (t + i) % 9)),
                            actor: Actor {
                                id: format!("pw-{t}"),
                                role: "peer_worker".into(),
                            },
                            data,
                        });
                    }
                    let receipts = store.append(batch).await?;
                    let mut o = out.lock().map_err(|_| anyhow::anyhow!("stdout lock"))?;
                    for r in receipts {
                        writeln!(o, "{} {}", r.seq, to_hex(&r.leaf_hash))?;
                    }
                    o.flush()?;
                }
                Ok::<_, anyhow::Error>(())
            }));
        }
        for h in handles {
            h.await??;
        }
        Ok(())
    })
}
