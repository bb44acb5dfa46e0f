//! What a client can make the server hold, and what the server does when its own store fails,
//! end to end over loopback (issue 11): health follows a failed store; a subscription ends once
//! its token is revoked or its actor deactivated; per-connection streams and connections are
//! bounded; a note at the domain's own size limits fits in one request; echoed bad values are cut
//! short; a TLS key others can read is refused; the salt file is owner-only.

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio_stream::StreamExt as _;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use withus::grpc::{pb, Limits, Ready, ServeConfig, ServeError};
use withus::store::{LogStore, StoreConfig};

struct Server {
    addr: std::net::SocketAddr,
    ready: Ready,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), ServeError>>,
    dir: tempfile::TempDir,
}

async fn start_with(limits: Limits) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (ready_tx, ready_rx) = oneshot::channel();
    let (stop, stop_rx) = oneshot::channel::<()>();
    let config = ServeConfig {
        limits,
        ..ServeConfig::new(StoreConfig::new(dir.path()))
    };
    let task = tokio::spawn(withus::grpc::run(listener, config, ready_tx, async move {
        let _ = stop_rx.await;
    }));
    let ready = ready_rx.await.expect("server ready");
    Server {
        addr,
        ready,
        stop,
        task,
        dir,
    }
}

async fn start() -> Server {
    start_with(Limits::default()).await
}

impl Server {
    async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    fn admin_token(&self) -> String {
        self.ready
            .admin_token
            .clone()
            .expect("a first start prints an admin token")
    }

    async fn stop(self) -> Result<(), ServeError> {
        let _ = self.stop.send(());
        let r = self.task.await.unwrap();
        drop(self.dir);
        r
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

type AuditClient = pb::audit_client::AuditClient<InterceptedService<Channel, Auth>>;
type AdminClient = pb::admin_client::AdminClient<InterceptedService<Channel, Auth>>;

async fn audit(s: &Server, token: &str) -> AuditClient {
    pb::audit_client::AuditClient::with_interceptor(s.channel().await, bearer(token))
}

async fn admin(s: &Server, token: &str) -> AdminClient {
    pb::admin_client::AdminClient::with_interceptor(s.channel().await, bearer(token))
}

fn opts(id: &str) -> Option<pb::CallOptions> {
    Some(pb::CallOptions {
        command_id: id.into(),
        expected_version: None,
    })
}

fn register(id: &str, role: pb::Role, team: &str) -> pb::RegisterActorRequest {
    pb::RegisterActorRequest {
        call: opts(&format!("reg-{id}")),
        id: id.into(),
        role: role as i32,
        team: team.into(),
        display_name: format!("Name of {id}"),
    }
}

/// An actor with a token, registered through the API.
async fn actor_with_token(s: &Server, id: &str, role: pb::Role, team: &str) -> String {
    let mut a = admin(s, &s.admin_token()).await;
    a.register_actor(register(id, role, team)).await.unwrap();
    a.issue_token(pb::IssueTokenRequest {
        call: opts(&format!("tok-{id}")),
        actor: id.into(),
        expires_at: None,
    })
    .await
    .unwrap()
    .into_inner()
    .token
}

async fn tree_size(s: &Server, token: &str) -> u64 {
    audit(s, token)
        .await
        .get_checkpoint(pb::GetCheckpointRequest {})
        .await
        .unwrap()
        .into_inner()
        .tree_size
}

fn ts(ms: u64) -> Option<prost_types::Timestamp> {
    Some(withus::grpc::convert::timestamp(
        withus::domain::types::Time(ms),
    ))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

// ---------------------------------------------------------------------------------------------
// 1. Health follows the store.

/// Once the store has failed (every write refused), health says NOT_SERVING for the server and
/// every `withus.v1` service, so a load balancer stops sending writes to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_turns_not_serving_once_the_store_fails() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};
    let s = start().await;
    let mut health = HealthClient::new(s.channel().await);
    let status = |mut h: HealthClient<Channel>, service: &'static str| async move {
        h.check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status
    };
    assert_eq!(
        status(health.clone(), "").await,
        ServingStatus::Serving as i32
    );
    let mut watch = health
        .watch(HealthCheckRequest {
            service: "withus.v1.Notes".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        watch.next().await.unwrap().unwrap().status,
        ServingStatus::Serving as i32
    );

    // Make the next commit fail: the committer fsyncs whatever is in sled's blob directory after
    // every flush, and a file in its place cannot be listed. (Permission bits would not do: the
    // tests may run as root, which ignores them.)
    let blobs = s.dir.path().join("sled").join("blobs");
    if blobs.exists() {
        std::fs::remove_dir_all(&blobs).unwrap();
    }
    std::fs::write(&blobs, b"not a directory").unwrap();
    let mut adm = admin(&s, &s.admin_token()).await;
    for id in ["pw-one", "pw-two"] {
        let e = adm
            .register_actor(register(id, pb::Role::PeerWorker, "peer"))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unavailable, "{e}");
    }

    // The watcher is told, and every check says so.
    let seen = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(m)) = watch.next().await {
            if m.status == ServingStatus::NotServing as i32 {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(seen, Ok(true), "the health watch saw NOT_SERVING");
    for service in std::iter::once("").chain(withus::grpc::SERVICES) {
        assert_eq!(
            status(health.clone(), service).await,
            ServingStatus::NotServing as i32,
            "{service:?}"
        );
    }
    // Shutdown still finishes (whether closing reports the failure is not the point here).
    let _ = tokio::time::timeout(Duration::from_secs(10), s.stop())
        .await
        .expect("the server stops");
    let _ = &mut health;
}

// ---------------------------------------------------------------------------------------------
// 2. A subscription ends once its caller may no longer authenticate.

enum Cut {
    RevokeToken,
    Deactivate,
}

async fn subscription_ends_after(cut: Cut) {
    let s = start().await;
    let ida = actor_with_token(&s, "au-ida", pb::Role::Auditor, "").await;
    let size = tree_size(&s, &ida).await;
    let mut sub = audit(&s, &ida)
        .await
        .subscribe(pb::SubscribeRequest { from_seq: 0 })
        .await
        .unwrap()
        .into_inner();
    for seq in 0..size {
        assert_eq!(sub.next().await.unwrap().unwrap().seq, seq);
    }
    let mut adm = admin(&s, &s.admin_token()).await;
    let receipts = match cut {
        Cut::RevokeToken => adm
            .revoke_token(pb::RevokeTokenRequest {
                call: opts("rev"),
                token_hash: withus::format::to_hex(blake3::hash(ida.as_bytes()).as_bytes()),
            })
            .await
            .unwrap(),
        Cut::Deactivate => adm
            .deactivate_actor(pb::DeactivateActorRequest {
                call: opts("deact"),
                id: "au-ida".into(),
                reason: pb::DeactivationReason::LeftOrganisation as i32,
            })
            .await
            .unwrap(),
    };
    let cut_at = receipts.into_inner().receipts[0].seq;
    adm.register_actor(register("pw-after", pb::Role::PeerWorker, "peer"))
        .await
        .unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .expect("the stream ends within 5 s")
        {
            Some(Ok(e)) => assert!(
                e.seq < cut_at,
                "entry {} delivered after the cut at {cut_at}",
                e.seq
            ),
            Some(Err(st)) => {
                assert_eq!(st.code(), Code::Unauthenticated, "{st}");
                break;
            }
            None => panic!("the stream ended without saying why"),
        }
    }
    s.stop().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_ends_unauthenticated_once_its_token_is_revoked() {
    subscription_ends_after(Cut::RevokeToken).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_ends_unauthenticated_once_its_actor_is_deactivated() {
    subscription_ends_after(Cut::Deactivate).await;
}

// ---------------------------------------------------------------------------------------------
// 3. Transport limits, message size, echoed values.

/// A client holding `max_concurrent_streams` open streams on one connection gets no more there
/// until one closes; another connection is unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_per_connection_are_limited() {
    let s = start_with(Limits {
        max_concurrent_streams: 4,
        ..Limits::default()
    })
    .await;
    let ida = actor_with_token(&s, "au-ida", pb::Role::Auditor, "").await;
    let ch = s.channel().await;
    let mut subs = Vec::new();
    for _ in 0..4 {
        subs.push(
            pb::audit_client::AuditClient::with_interceptor(ch.clone(), bearer(&ida))
                .subscribe(pb::SubscribeRequest { from_seq: 0 })
                .await
                .unwrap()
                .into_inner(),
        );
    }
    let mut fifth = pb::audit_client::AuditClient::with_interceptor(ch.clone(), bearer(&ida));
    let r = tokio::time::timeout(
        Duration::from_millis(1500),
        fifth.get_checkpoint(pb::GetCheckpointRequest {}),
    )
    .await;
    assert!(r.is_err(), "a fifth concurrent stream was served: {r:?}");
    // Another connection is not affected.
    assert!(tree_size(&s, &ida).await > 0);
    // Ending one stream frees its slot.
    drop(subs.pop());
    tokio::time::timeout(
        Duration::from_secs(5),
        fifth.get_checkpoint(pb::GetCheckpointRequest {}),
    )
    .await
    .expect("served once a stream closed")
    .unwrap();
    drop(subs);
    s.stop().await.expect("clean shutdown");
}

/// Beyond `max_connections` the server stops accepting until one closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_limited() {
    use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};
    let s = start_with(Limits {
        max_connections: 2,
        ..Limits::default()
    })
    .await;
    let check = || HealthCheckRequest {
        service: String::new(),
    };
    let mut one = HealthClient::new(s.channel().await);
    let mut two = HealthClient::new(s.channel().await);
    one.check(check()).await.unwrap();
    two.check(check()).await.unwrap();
    let mut three = HealthClient::new(s.channel().await);
    let r = tokio::time::timeout(Duration::from_millis(1500), three.check(check())).await;
    assert!(r.is_err(), "a third connection was served: {r:?}");
    drop(one);
    tokio::time::timeout(Duration::from_secs(5), three.check(check()))
        .await
        .expect("served once a connection closed")
        .unwrap();
    two.check(check()).await.unwrap();
    drop((two, three));
    s.stop().await.expect("clean shutdown");
}

/// A note at the domain's limits — 64 segments of 64 KiB — fits in one `Notes.Draft` request
/// (it would not under gRPC's default 4 MiB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_note_of_64_segments_of_64_kib_is_accepted() {
    let s = start().await;
    let sam = actor_with_token(&s, "su-sam", pb::Role::ServiceUser, "").await;
    let amara = actor_with_token(&s, "pw-amara", pb::Role::PeerWorker, "peer-team").await;
    let mut support =
        pb::support_client::SupportClient::with_interceptor(s.channel().await, bearer(&amara));
    support
        .refer(pb::ReferRequest {
            call: opts("s1"),
            support_id: "sp-1".into(),
            subject: "su-sam".into(),
            worker: "pw-amara".into(),
            source: pb::ReferralSource::CareTeam as i32,
        })
        .await
        .unwrap();
    support
        .offer(pb::SupportRequest {
            call: opts("s2"),
            support_id: "sp-1".into(),
        })
        .await
        .unwrap();
    pb::support_client::SupportClient::with_interceptor(s.channel().await, bearer(&sam))
        .accept(pb::SupportRequest {
            call: opts("s3"),
            support_id: "sp-1".into(),
        })
        .await
        .unwrap();
    pb::meetings_client::MeetingsClient::with_interceptor(s.channel().await, bearer(&amara))
        .record(pb::RecordMeetingRequest {
            call: opts("m1"),
            meeting_id: "m-1".into(),
            support_id: "sp-1".into(),
            kind: pb::MeetingKind::OneToOne as i32,
            group_id: String::new(),
            goals: vec![],
            activities: vec![],
            mode: pb::MeetingMode::InPerson as i32,
            place: pb::Place::Community as i32,
            place_detail: "the library".into(),
            occurred_at: ts(now_ms() - 3_600_000),
            minutes: 50,
        })
        .await
        .unwrap();
    let segments: Vec<pb::TextSegment> = (0..withus::domain::decide::MAX_SEGMENTS)
        .map(|i| pb::TextSegment {
            id: format!("s{i}"),
            text: char::from(b'a' + (i % 26) as u8)
                .to_string()
                .repeat(withus::content::MAX_SEGMENT_BYTES),
        })
        .collect();
    let r = pb::notes_client::NotesClient::with_interceptor(s.channel().await, bearer(&amara))
        .draft(pb::DraftNoteRequest {
            call: opts("n1"),
            note_id: "n-1".into(),
            meeting_id: "m-1".into(),
            segments,
        })
        .await;
    assert!(r.is_ok(), "{r:?}");
    s.stop().await.expect("clean shutdown");
}

/// A refusal never echoes the client's value: an oversize identifier is refused by the rule it
/// breaks, without a byte of it, and an unknown enum number by the values the field takes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_names_the_rule_and_never_echoes_the_value() {
    let s = start().await;
    let mut adm = admin(&s, &s.admin_token()).await;
    let e = adm
        .deactivate_actor(pb::DeactivateActorRequest {
            call: opts("d1"),
            id: "x".repeat(100_000),
            reason: pb::DeactivationReason::Other as i32,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e}");
    assert!(e.message().len() < 400, "{} bytes", e.message().len());
    assert!(!e.message().contains("xxxx"), "{}", e.message());
    let e = adm
        .deactivate_actor(pb::DeactivateActorRequest {
            call: opts("d2"),
            id: "admin".into(),
            reason: 12_345,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e}");
    assert!(e.message().contains("reason"), "{}", e.message());
    assert!(
        e.message()
            .contains("DEACTIVATION_REASON_LEFT_ORGANISATION"),
        "{}",
        e.message()
    );
    s.stop().await.expect("clean shutdown");
}

// ---------------------------------------------------------------------------------------------
// 4. Files.

/// A TLS key others (or the group) can read is refused at startup, as the checkpoint key is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_key_others_can_read_is_refused_at_startup() {
    let tls = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls");
    for mode in [0o644, 0o640] {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("server.key");
        std::fs::copy(tls.join("server.key"), &key).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (ready_tx, ready_rx) = oneshot::channel();
        let config = ServeConfig {
            tls: Some((tls.join("server.crt"), key.clone())),
            limits: Limits::default(),
            ..ServeConfig::new(StoreConfig::new(dir.path().join("data")))
        };
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(withus::grpc::run(listener, config, ready_tx, async move {
            let _ = stop_rx.await;
        }));
        if tokio::time::timeout(Duration::from_secs(5), ready_rx)
            .await
            .is_ok_and(|r| r.is_ok())
        {
            let _ = stop_tx.send(());
            let _ = task.await;
            panic!("served with a TLS key of mode {mode:o}");
        }
        let e = task.await.unwrap().expect_err("refused");
        let msg = e.to_string();
        assert!(matches!(e, ServeError::Tls(_)), "{msg}");
        assert!(
            msg.contains("chmod 600") && msg.contains("server.key"),
            "{msg}"
        );
        drop(stop_tx);
    }
}

/// The salt file is owner-only: created so even under a permissive umask, and an existing
/// looser one is made so on open.
#[test]
fn the_salt_file_is_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // umask is per process: create the store in a child that sets it to 000.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("umask 000 && exec \"$0\" log checkpoint --data \"$1\"")
        .arg(env!("CARGO_BIN_EXE_withus"))
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let salts = data.join("salts");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&salts), 0o600, "created under umask 000");
    std::fs::set_permissions(&salts, std::fs::Permissions::from_mode(0o644)).unwrap();
    LogStore::open(StoreConfig::new(&data))
        .unwrap()
        .close()
        .unwrap();
    assert_eq!(
        mode(&salts),
        0o600,
        "an existing looser salt file is fixed on open"
    );
}
