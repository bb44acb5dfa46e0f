//! domain-crash-child: runs the command service under load — notes drafted, passages removed by
//! agreement, notes agreed, records read — until it is killed. Prints what was acknowledged:
//! `seq <seq> <leaf>` for every receipt and `erased <commit>` for every agreed redaction. The
//! crash tester (tools/tests/crash.rs) SIGKILLs it and checks all of it after reopening.
//! Not for production data.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use clap::Parser;
use withus::domain::types::*;
use withus::domain::Command;
use withus::format::to_hex;
use withus::service::{Call, Service, ServiceError};
use withus::store::{Receipt, StoreConfig};

#[derive(Parser)]
#[command(about = "Run the command service under load until killed; print what was acknowledged")]
struct Args {
    /// The store's data directory (created if missing).
    #[arg(long)]
    data: PathBuf,
    /// Concurrent people, each with their own worker.
    #[arg(long, default_value_t = 6)]
    tasks: u64,
}

type Out = Arc<Mutex<std::io::Stdout>>;

fn print(out: &Out, receipts: &[Receipt], erased: &[String]) -> anyhow::Result<()> {
    let mut o = out.lock().map_err(|_| anyhow::anyhow!("stdout lock"))?;
    for r in receipts {
        writeln!(o, "seq {} {}", r.seq, to_hex(&r.leaf_hash))?;
    }
    for c in erased {
        writeln!(o, "erased {c}")?;
    }
    o.flush()?;
    Ok(())
}

/// A setup step that may already have been done by an earlier run: the same command id returns
/// the original receipts.
async fn once(svc: &Service, caller: &str, id: &str, cmd: Command) -> anyhow::Result<()> {
    match svc.execute(caller, Call::id(id), cmd).await {
        Ok(_) => Ok(()),
        Err(e) => Err(anyhow::anyhow!("setup {id}: {e}")),
    }
}

/// The commitment the service made of segment `id` in the entry of the first receipt (the
/// service draws the salt, so only the recorded entry says what it is).
fn segment_commit(svc: &Service, receipts: &[Receipt], id: &str) -> anyhow::Result<String> {
    let seq = receipts
        .first()
        .map(|r| r.seq)
        .ok_or_else(|| anyhow::anyhow!("no receipt"))?;
    let entry = svc
        .store()
        .entry(seq)?
        .ok_or_else(|| anyhow::anyhow!("entry {seq} is missing"))?;
    let v: serde_json::Value = serde_json::from_slice(&entry.bytes)?;
    v["data"]["segments"]
        .as_array()
        .and_then(|segs| segs.iter().find(|s| s["id"] == id))
        .and_then(|s| s["commit"].as_str())
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("entry {seq} has no segment {id}"))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let svc = Arc::new(Service::open(StoreConfig::new(&args.data))?);
    let out: Out = Arc::new(Mutex::new(std::io::stdout()));
    let run = format!("{:x}", std::process::id());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        svc.bootstrap_admin("admin", "Crash Admin").await?;
        for t in 0..args.tasks {
            for (id, role, team) in [
                (format!("su-{t}"), Role::ServiceUser, None),
                (
                    format!("pw-{t}"),
                    Role::PeerWorker,
                    Some("peer-team".to_string()),
                ),
            ] {
                let display = Passage::new("display", format!("Name of {id}"));
                once(
                    &svc,
                    "admin",
                    &format!("setup-reg-{id}"),
                    Command::RegisterActor {
                        id: id.clone(),
                        role,
                        team,
                        display,
                    },
                )
                .await?;
            }
            let (su, pw, sp) = (format!("su-{t}"), format!("pw-{t}"), format!("sp-{t}"));
            once(
                &svc,
                &pw,
                &format!("setup-ref-{t}"),
                Command::ReferSupport {
                    support_id: sp.clone(),
                    subject: su.clone(),
                    worker: pw.clone(),
                    source: ReferralSource::CareTeam,
                },
            )
            .await?;
            once(
                &svc,
                &pw,
                &format!("setup-off-{t}"),
                Command::OfferSupport {
                    support_id: sp.clone(),
                },
            )
            .await?;
            once(
                &svc,
                &su,
                &format!("setup-acc-{t}"),
                Command::AcceptSupport {
                    support_id: sp.clone(),
                },
            )
            .await?;
        }
        let mut handles = Vec::new();
        for t in 0..args.tasks {
            let (svc, out, run) = (svc.clone(), out.clone(), run.clone());
            handles.push(tokio::spawn(async move {
                let (su, pw, sp) = (format!("su-{t}"), format!("pw-{t}"), format!("sp-{t}"));
                for i in 0u64.. {
                    let (m, n) = (format!("m-{run}-{t}-{i}"), format!("n-{run}-{t}-{i}"));
                    let step = |k: &str| Call::id(&format!("c-{run}-{t}-{i}-{k}"));
                    let r = svc
                        .execute(
                            &pw,
                            step("m"),
                            Command::RecordMeeting {
                                meeting_id: m.clone(),
                                support_id: sp.clone(),
                                kind: MeetingKind::OneToOne,
                                group_id: None,
                                goals: vec![],
                                activities: vec![],
                                mode: MeetingMode::InPerson,
                                place: Place::Clinic,
                                place_detail: None,
                                occurred_at: Time(0),
                                minutes: 40,
                            },
                        )
                        .await?;
                    print(&out, &r, &[])?;
                    let s1 = Passage::new("s1", format!("kept words {run} {t} {i}"));
                    let s2 = Passage::new("s2", format!("words to remove {run} {t} {i}"));
                    let r = svc
                        .execute(
                            &pw,
                            step("d"),
                            Command::DraftNote {
                                note_id: n.clone(),
                                meeting_id: m,
                                segments: vec![s1, s2],
                            },
                        )
                        .await?;
                    print(&out, &r, &[])?;
                    let s2_commit = segment_commit(&svc, &r, "s2")?;
                    let r = svc
                        .execute(
                            &su,
                            step("p"),
                            Command::ProposeRedaction {
                                note_id: n.clone(),
                                proposal_id: "r-1".into(),
                                segments: vec!["s2".into()],
                                reason: RedactionReason::NotWanted,
                            },
                        )
                        .await?;
                    print(&out, &r, &[])?;
                    let r = svc
                        .execute(
                            &pw,
                            step("a"),
                            Command::AgreeRedaction {
                                note_id: n.clone(),
                                proposal_id: "r-1".into(),
                            },
                        )
                        .await?;
                    print(&out, &r, &[s2_commit])?;
                    for (who, k) in [(&su, "as"), (&pw, "aw")] {
                        let r = svc
                            .execute(
                                who,
                                step(k),
                                Command::AgreeNote {
                                    note_id: n.clone(),
                                    revision: 1,
                                },
                            )
                            .await?;
                        print(&out, &r, &[])?;
                    }
                    match svc.read_record(&pw, &su, None).await {
                        Ok(read) => print(&out, &read.receipts, &[])?,
                        Err(ServiceError::AccessDenied { .. }) => anyhow::bail!("worker refused"),
                        Err(e) => return Err(e.into()),
                    }
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
