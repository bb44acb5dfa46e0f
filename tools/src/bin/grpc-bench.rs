//! grpc-bench: a load generator for `withus serve`. N concurrent clients issue single-event
//! commands (a meeting recorded, `Meetings.Record`) over gRPC on loopback for a fixed time and
//! it prints events/s and p50/p99 latency. By default it starts the server in-process on
//! 127.0.0.1:0 (the same `withus::grpc::run` as `withus serve`, fsync on); with --server and
//! --token it drives a running server instead. It also prints the process's CPU time per call
//! (client and in-process server together), and with --baseline it calls `grpc.health.v1`
//! `Check` instead: the same clients and connections with no store behind them, i.e. what the
//! transport alone costs on this machine.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Parser;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::Request;
use withus::grpc::pb;
use withus_tools::percentile;

#[derive(Parser)]
#[command(about = "Load-test withus serve with concurrent single-event commands over gRPC")]
struct Args {
    /// Data directory for an in-process server (must not hold a store yet).
    #[arg(long, required_unless_present = "server")]
    data: Option<PathBuf>,
    /// Drive this running server instead (e.g. http://127.0.0.1:50051), with --token.
    #[arg(long, requires = "token")]
    server: Option<String>,
    /// An admin token of --server.
    #[arg(long)]
    token: Option<String>,
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// HTTP/2 connections the clients share.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Call the health service's Check instead of Meetings.Record: the transport's cost alone.
    #[arg(long)]
    baseline: bool,
}

/// CPU time (user + system) this process has used so far.
fn cpu_time() -> Duration {
    // SAFETY: getrusage writes into the struct we pass and reads nothing else.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn call(id: String) -> Option<pb::CallOptions> {
    Some(pb::CallOptions {
        command_id: id,
        expected_version: None,
    })
}

fn authed<T>(msg: T, token: &str) -> anyhow::Result<Request<T>> {
    let mut r = Request::new(msg);
    let v: MetadataValue<_> = format!("Bearer {token}").parse()?;
    r.metadata_mut().insert("authorization", v);
    Ok(r)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut stop = None;
    let mut task = None;
    let (url, admin_token) = match (&args.server, &args.data) {
        (Some(url), _) => (
            url.clone(),
            args.token
                .clone()
                .context("--token is required with --server")?,
        ),
        (None, Some(data)) => {
            if data.join("sled").exists() {
                bail!(
                    "{} already holds a store; give an empty directory",
                    data.display()
                );
            }
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
            let mut store = withus::store::StoreConfig::new(data);
            store.origin = Some("withus.bench/grpc".into());
            let config = withus::grpc::ServeConfig::new(store);
            task = Some(tokio::spawn(withus::grpc::run(
                listener,
                config,
                ready_tx,
                async move {
                    let _ = stop_rx.await;
                },
            )));
            stop = Some(stop_tx);
            let ready = ready_rx.await.context("server did not start")?;
            (
                format!("http://{}", ready.addr),
                ready
                    .admin_token
                    .context("a new store prints an admin token")?,
            )
        }
        (None, None) => bail!("give --data (in-process server) or --server and --token"),
    };

    let mut channels = Vec::new();
    for _ in 0..args.connections.max(1) {
        channels.push(Channel::from_shared(url.clone())?.connect().await?);
    }
    // Setup: per client a worker with a token, a person, and an accepted relationship.
    let run = format!("{:x}", std::process::id());
    let setup = Instant::now();
    let mut admin = pb::admin_client::AdminClient::new(channels[0].clone());
    let mut clients = Vec::new();
    // The baseline needs no actors: health checks are not authenticated.
    let actors = if args.baseline { 0 } else { args.clients };
    for c in 0..actors {
        let (w, p, sp) = (
            format!("pw-{run}-{c}"),
            format!("su-{run}-{c}"),
            format!("sp-{run}-{c}"),
        );
        for (id, role, team) in [
            (&w, pb::Role::PeerWorker, "peer"),
            (&p, pb::Role::ServiceUser, ""),
        ] {
            admin
                .register_actor(authed(
                    pb::RegisterActorRequest {
                        call: call(format!("reg-{id}")),
                        id: id.clone(),
                        role: role as i32,
                        team: team.into(),
                        display_name: format!("Name {id}"),
                    },
                    &admin_token,
                )?)
                .await?;
        }
        let token = |actor: String| {
            let mut admin = admin.clone();
            let admin_token = admin_token.clone();
            async move {
                anyhow::Ok(
                    admin
                        .issue_token(authed(
                            pb::IssueTokenRequest {
                                call: call(format!("tok-{actor}")),
                                actor,
                                expires_at: None,
                            },
                            &admin_token,
                        )?)
                        .await?
                        .into_inner()
                        .token,
                )
            }
        };
        let wt = token(w.clone()).await?;
        let pt = token(p.clone()).await?;
        let mut support =
            pb::support_client::SupportClient::new(channels[c % channels.len()].clone());
        support
            .refer(authed(
                pb::ReferRequest {
                    call: call(format!("ref-{sp}")),
                    support_id: sp.clone(),
                    subject: p.clone(),
                    worker: w.clone(),
                    source: pb::ReferralSource::CareTeam as i32,
                },
                &wt,
            )?)
            .await?;
        support
            .offer(authed(
                pb::SupportRequest {
                    call: call(format!("off-{sp}")),
                    support_id: sp.clone(),
                },
                &wt,
            )?)
            .await?;
        support
            .accept(authed(
                pb::SupportRequest {
                    call: call(format!("acc-{sp}")),
                    support_id: sp.clone(),
                },
                &pt,
            )?)
            .await?;
        clients.push((wt, sp));
    }
    println!(
        "setup: {} clients over {} connections in {:.1} s",
        args.clients,
        channels.len(),
        setup.elapsed().as_secs_f64()
    );

    let occurred = Some(withus::grpc::convert::timestamp(
        withus::domain::types::Time(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_millis() as u64
                - 60_000,
        ),
    ));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let start = Instant::now();
    let cpu_start = cpu_time();
    let mut tasks = Vec::new();
    if args.baseline {
        for c in 0..args.clients {
            let mut health = tonic_health::pb::health_client::HealthClient::new(
                channels[c % channels.len()].clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                while Instant::now() < deadline {
                    let req = tonic_health::pb::HealthCheckRequest {
                        service: String::new(),
                    };
                    let t0 = Instant::now();
                    health.check(req).await?;
                    lat.push(t0.elapsed());
                }
                anyhow::Ok(lat)
            }));
        }
    }
    for (c, (token, sp)) in clients.into_iter().enumerate() {
        let mut meetings =
            pb::meetings_client::MeetingsClient::new(channels[c % channels.len()].clone());
        let (run, occurred) = (run.clone(), occurred);
        // Parsed once, as a client app's interceptor would, not once per call.
        let auth: MetadataValue<_> = format!("Bearer {token}").parse()?;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = 0u64;
            while Instant::now() < deadline {
                let id = format!("m-{run}-{c}-{i}");
                let req = pb::RecordMeetingRequest {
                    call: call(id.clone()),
                    meeting_id: id,
                    support_id: sp.clone(),
                    kind: pb::MeetingKind::OneToOne as i32,
                    group_id: String::new(),
                    goals: vec![],
                    activities: vec![],
                    mode: pb::MeetingMode::Phone as i32,
                    place: pb::Place::Online as i32,
                    place_detail: String::new(),
                    occurred_at: occurred,
                    minutes: 30,
                };
                let mut req = Request::new(req);
                req.metadata_mut().insert("authorization", auth.clone());
                let t0 = Instant::now();
                meetings.record(req).await?;
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
    let el = start.elapsed();
    let cpu = cpu_time().saturating_sub(cpu_start);
    lat.sort();
    println!(
        "{} clients, {}: {} in {:.2} s = {:.0} events/s   p50 {:.2} ms  p99 {:.2} ms",
        args.clients,
        if args.baseline {
            "health checks (transport baseline)"
        } else {
            "single-event commands"
        },
        lat.len(),
        el.as_secs_f64(),
        lat.len() as f64 / el.as_secs_f64(),
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3
    );
    println!(
        "cpu: {:.1} s over {:.1} s of load = {:.0} us per call ({})",
        cpu.as_secs_f64(),
        el.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / lat.len().max(1) as f64,
        if args.server.is_some() {
            "this client only"
        } else {
            "client and in-process server together"
        }
    );
    if let (Some(stop), Some(task)) = (stop, task) {
        let _ = stop.send(());
        task.await??;
    }
    Ok(())
}
