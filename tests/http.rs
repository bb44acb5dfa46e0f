//! The HTTP port of `withus serve --http` as an operator's tools use it: Prometheus scraping
//! `/metrics` after a story told over real gRPC on loopback, and an orchestrator probing
//! `/healthz` and `/readyz`. And the per-call logs: a span per RPC in `--log-format json`,
//! never a token.

use std::collections::BTreeMap;
use std::io::{BufRead as _, Read as _, Write as _};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use withus::grpc::{pb, Ready, ServeConfig};
use withus::store::StoreConfig;

struct Server {
    addr: std::net::SocketAddr,
    http: std::net::SocketAddr,
    ready: Ready,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), withus::grpc::ServeError>>,
    _dir: tempfile::TempDir,
}

async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (addr, http_addr) = (listener.local_addr().unwrap(), http.local_addr().unwrap());
    let (ready_tx, ready_rx) = oneshot::channel();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let config = ServeConfig {
        http: Some(http),
        ..ServeConfig::new(StoreConfig::new(dir.path()))
    };
    let task = tokio::spawn(withus::grpc::run(listener, config, ready_tx, async move {
        let _ = stop_rx.await;
    }));
    let ready = ready_rx.await.expect("server ready");
    Server {
        addr,
        http: http_addr,
        ready,
        stop: Some(stop_tx),
        task,
        _dir: dir,
    }
}

/// One HTTP/1.1 GET: the status code, the headers (lower-cased names) and the body.
async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, BTreeMap<String, String>, String) {
    let mut stream = TcpStream::connect(addr)
        .await
        .expect("connect to the HTTP port");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).expect("an HTTP answer in UTF-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("headers end");
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect::<BTreeMap<_, _>>();
    let body = if headers
        .get("transfer-encoding")
        .is_some_and(|v| v == "chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, headers, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").expect("chunk size line");
        let size = usize::from_str_radix(size.trim(), 16).expect("hex chunk size");
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
}

type Auth = Box<dyn FnMut(Request<()>) -> Result<Request<()>, Status> + Send + Sync>;

fn bearer(token: &str) -> Auth {
    let value: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    Box::new(move |mut r: Request<()>| {
        r.metadata_mut().insert("authorization", value.clone());
        Ok(r)
    })
}

async fn channel(s: &Server) -> Channel {
    Channel::from_shared(format!("http://{}", s.addr))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn opts(id: &str) -> Option<pb::CallOptions> {
    Some(pb::CallOptions {
        command_id: id.into(),
        expected_version: None,
    })
}

/// A scrape, parsed as strictly as Prometheus would: every line a `# HELP`, `# TYPE` or
/// `# UNIT` of a declared family, a sample of one, or the final `# EOF`. Returns each sample
/// (`name{labels}` as written) with its value.
fn parse_scrape(text: &str) -> BTreeMap<String, f64> {
    let mut families: Vec<String> = Vec::new();
    let mut samples = BTreeMap::new();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "a scrape ends with # EOF");
    for line in &lines[..lines.len() - 1] {
        if let Some(meta) = line.strip_prefix("# ") {
            let mut words = meta.splitn(3, ' ');
            let (kind, name) = (words.next().unwrap(), words.next().expect("a family name"));
            assert!(matches!(kind, "HELP" | "TYPE" | "UNIT"), "{line}");
            assert!(name.starts_with("withus_"), "{line}");
            if kind == "TYPE" {
                let ty = words.next().expect("a type");
                assert!(matches!(ty, "counter" | "gauge" | "histogram"), "{line}");
                families.push(name.to_string());
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("a number: {line}"));
        let name = series.split('{').next().unwrap();
        assert!(
            families.iter().any(|f| name == f
                || [
                    &*format!("{f}_total"),
                    &*format!("{f}_bucket"),
                    &*format!("{f}_sum"),
                    &*format!("{f}_count")
                ]
                .contains(&name)),
            "a sample of an undeclared family: {line}"
        );
        if let Some(labels) = series.strip_prefix(name).filter(|l| !l.is_empty()) {
            let labels = labels
                .strip_prefix('{')
                .and_then(|l| l.strip_suffix('}'))
                .expect("labels in braces");
            for pair in labels.split(',') {
                let (key, quoted) = pair.split_once('=').expect("label=value");
                assert!(
                    matches!(key, "method" | "code" | "reason" | "le"),
                    "an unexpected label {key}: {line}"
                );
                assert!(quoted.starts_with('"') && quoted.ends_with('"'), "{line}");
            }
        }
        assert!(
            samples.insert(series.to_string(), value).is_none(),
            "twice: {line}"
        );
    }
    samples
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_after_a_story_counts_calls_commits_refusals_and_nothing_about_anyone() {
    let s = start().await;
    let admin_token = s
        .ready
        .admin_token
        .clone()
        .expect("first start prints a token");
    let (code, _, body) = get(s.http, "/healthz").await;
    assert_eq!((code, body.as_str()), (200, "ok\n"));
    let (code, _, body) = get(s.http, "/readyz").await;
    assert_eq!((code, body.as_str()), (200, "serving\n"));
    let (code, _, body) = get(s.http, "/anything-else").await;
    assert_eq!(code, 404, "{body}");

    // The story: an admin registers a person and a clinician; the clinician, with no consent
    // from the person, tries to read their record and is refused; someone asks for a person
    // who does not exist and is refused the same way.
    let mut admin =
        pb::admin_client::AdminClient::with_interceptor(channel(&s).await, bearer(&admin_token));
    for (id, role, team) in [
        ("su-sam-4821", pb::Role::ServiceUser, ""),
        ("ct-dr-jones-77", pb::Role::CareTeam, "team-north"),
    ] {
        admin
            .register_actor(pb::RegisterActorRequest {
                call: opts(&format!("reg-{id}")),
                id: id.into(),
                role: role as i32,
                team: team.into(),
                display_name: format!("Name of {id}"),
            })
            .await
            .unwrap();
    }
    let clinician_token = admin
        .issue_token(pb::IssueTokenRequest {
            call: opts("tok-ct"),
            actor: "ct-dr-jones-77".into(),
            expires_at: None,
        })
        .await
        .unwrap()
        .into_inner()
        .token;
    let mut records = pb::records_client::RecordsClient::with_interceptor(
        channel(&s).await,
        bearer(&clinician_token),
    );
    for subject in ["su-sam-4821", "su-nobody-0000"] {
        let refused = records
            .get_record(pb::GetRecordRequest {
                subject: subject.into(),
                as_of_seq: None,
                as_of_time: None,
                page_size: 0,
                page_token: String::new(),
            })
            .await
            .expect_err("no basis to read");
        assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    }
    // An unauthenticated call, and a subscription left open while scraping.
    let mut anonymous = pb::audit_client::AuditClient::new(channel(&s).await);
    let unauthenticated = anonymous
        .get_checkpoint(pb::GetCheckpointRequest {})
        .await
        .expect_err("no token");
    assert_eq!(unauthenticated.code(), Code::Unauthenticated);
    let mut audit =
        pb::audit_client::AuditClient::with_interceptor(channel(&s).await, bearer(&admin_token));
    let tree_size = audit
        .get_checkpoint(pb::GetCheckpointRequest {})
        .await
        .unwrap()
        .into_inner()
        .tree_size;
    let mut subscription = audit
        .subscribe(pb::SubscribeRequest { from_seq: 0 })
        .await
        .unwrap()
        .into_inner();
    subscription
        .message()
        .await
        .unwrap()
        .expect("the first entry");

    let (code, headers, text) = get(s.http, "/metrics").await;
    assert_eq!(code, 200);
    assert!(
        headers["content-type"].starts_with("application/openmetrics-text"),
        "{headers:?}"
    );
    let samples = parse_scrape(&text);
    let value = |series: &str| -> f64 {
        *samples
            .get(series)
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    };
    assert_eq!(
        value("withus_rpc_calls_total{method=\"withus.v1.Admin/RegisterActor\",code=\"OK\"}"),
        2.0
    );
    assert_eq!(
        value("withus_rpc_calls_total{method=\"withus.v1.Records/GetRecord\",code=\"PERMISSION_DENIED\"}"),
        2.0
    );
    assert_eq!(
        value("withus_rpc_calls_total{method=\"withus.v1.Audit/GetCheckpoint\",code=\"UNAUTHENTICATED\"}"),
        1.0
    );
    assert_eq!(
        value("withus_rpc_duration_seconds_count{method=\"withus.v1.Records/GetRecord\"}"),
        2.0
    );
    assert_eq!(
        value("withus_rpc_duration_seconds_bucket{le=\"+Inf\",method=\"withus.v1.Records/GetRecord\"}"),
        2.0
    );
    // Both refusals were logged (access.denied), each by its reason.
    let refused: f64 = samples
        .iter()
        .filter(|(k, _)| k.starts_with("withus_refused_reads_total{"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(refused, 2.0, "{text}");
    assert_eq!(
        value("withus_refused_reads_total{reason=\"no_consent\"}")
            + value("withus_refused_reads_total{reason=\"no_support_relationship\"}")
            + value("withus_refused_reads_total{reason=\"no_basis\"}"),
        2.0
    );
    // The log: every entry, made durable by commits whose sizes add up to it.
    let log_entries = value("withus_log_entries");
    assert!(
        log_entries >= tree_size as f64,
        "{log_entries} < {tree_size}"
    );
    assert!(value("withus_group_commit_entries_count") >= 1.0);
    assert!(value("withus_group_commit_entries_sum") >= tree_size as f64 - 2.0);
    assert!(value("withus_fsync_duration_seconds_count") >= 1.0);
    assert!(value("withus_flush_duration_seconds_count") >= 1.0);
    assert!(value("withus_store_disk_bytes") > 0.0);
    assert_eq!(value("withus_views_lag_entries"), 0.0);
    assert_eq!(value("withus_store_failed"), 0.0);
    assert_eq!(value("withus_open_subscriptions"), 1.0);
    // Nothing about anyone: no id, no token, no name anywhere in the scrape.
    for secret in [
        "su-sam",
        "su-nobody",
        "ct-dr-jones",
        "Name of",
        "team-north",
        admin_token.as_str(),
        clinician_token.as_str(),
    ] {
        assert!(!text.contains(secret), "{secret:?} in a scrape:\n{text}");
    }

    // The subscription closed: the gauge follows once the server notices.
    drop(subscription);
    let mut open = 1.0;
    for _ in 0..100 {
        let (_, _, text) = get(s.http, "/metrics").await;
        open = parse_scrape(&text)["withus_open_subscriptions"];
        if open == 0.0 {
            break;
        }
        // A commit wakes the subscription's task, which then sees its client gone.
        let _ = audit.get_checkpoint(pb::GetCheckpointRequest {}).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(open, 0.0);

    // Shutdown stops the HTTP port with the server.
    let mut s = s;
    let _ = s.stop.take().unwrap().send(());
    s.task.await.unwrap().expect("clean shutdown");
    assert!(
        TcpStream::connect(s.http).await.is_err(),
        "the HTTP port closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_until_the_store_is_open_and_healthz_is_alive_meanwhile() {
    // A store another process holds cannot open: the server binds, answers NOT_SERVING, retries
    // sled's lock and gives up. Until it gives up, /readyz is 503 and /healthz 200.
    let dir = tempfile::tempdir().unwrap();
    let held = withus::store::LogStore::open(StoreConfig::new(dir.path())).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_addr = http.local_addr().unwrap();
    let (ready_tx, _ready_rx) = oneshot::channel();
    let config = ServeConfig {
        http: Some(http),
        ..ServeConfig::new(StoreConfig::new(dir.path()))
    };
    let task = tokio::spawn(withus::grpc::run(
        listener,
        config,
        ready_tx,
        std::future::pending(),
    ));
    let (code, _, body) = get(http_addr, "/readyz").await;
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("opening"), "{body}");
    let (code, _, _) = get(http_addr, "/healthz").await;
    assert_eq!(code, 200);
    let ended = tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("the server gives up on a locked store")
        .unwrap();
    assert!(
        ended.is_err(),
        "it cannot open a store another process holds"
    );
    assert!(
        TcpStream::connect(http_addr).await.is_err(),
        "the HTTP port closed with it"
    );
    drop(held);
}

/// The binary's JSON logs: one object per line, each call in a span with its method, the
/// caller's role and the status code — and no token anywhere.
#[test]
fn json_logs_have_a_span_per_call_and_never_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_withus"))
        .args([
            "--log-format",
            "json",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--data",
        ])
        .arg(dir.path().join("data"))
        .env("RUST_LOG", "info,withus::grpc=debug")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start withus serve");
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let (mut addr, mut token, mut http) = (None, None, None);
    let mut line = String::new();
    while token.is_none() || http.is_none() {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "serve ended early"
        );
        if let Some(rest) = line.strip_prefix("withus serving on ") {
            addr = rest.split_whitespace().next().map(str::to_string);
        }
        if let Some(rest) = line.strip_prefix("HTTP on http://") {
            http = rest.split_whitespace().next().map(str::to_string);
        }
        if let Some(t) = line
            .trim()
            .strip_prefix("admin token (shown once; keep it safe): ")
        {
            token = Some(t.to_string());
        }
    }
    let (addr, token) = (addr.expect("the address"), token.unwrap());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let ch = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut audit = pb::audit_client::AuditClient::with_interceptor(ch.clone(), bearer(&token));
        audit
            .get_checkpoint(pb::GetCheckpointRequest {})
            .await
            .unwrap();
        let mut wrong =
            pb::audit_client::AuditClient::with_interceptor(ch, bearer(&"0".repeat(64)));
        wrong
            .get_checkpoint(pb::GetCheckpointRequest {})
            .await
            .expect_err("not a token");
        let (code, _, _) = get(http.unwrap().parse().unwrap(), "/readyz").await;
        assert_eq!(code, 200);
    });
    // SIGTERM: a clean stop, then the logs are complete.
    // SAFETY: kill(2) on the child's own pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!stderr.contains(&token), "the admin token is in the logs");
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let call = |code: &str| {
        lines.iter().find(|l| {
            l["span"]["name"] == "rpc"
                && l["span"]["method"] == "withus.v1.Audit/GetCheckpoint"
                && l["span"]["code"] == code
        })
    };
    let ok = call("OK").unwrap_or_else(|| panic!("no span of the call in\n{stderr}"));
    assert_eq!(ok["span"]["role"], "admin", "{ok}");
    assert!(ok["span"]["latency_ms"].as_f64().is_some(), "{ok}");
    let refused = call("UNAUTHENTICATED").unwrap_or_else(|| panic!("no refused call in\n{stderr}"));
    assert!(
        refused["span"].get("role").is_none(),
        "no role without a valid token: {refused}"
    );
    assert!(
        lines.iter().any(|l| l["fields"]["message"] == "serving"),
        "the lifecycle is logged too:\n{stderr}"
    );
    let _ = std::io::stdout().flush();
}
