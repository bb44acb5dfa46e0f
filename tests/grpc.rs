//! The gRPC service end to end over loopback: a real server bound to port 0, real tonic clients.
//! Health, reflection (v1 and v1alpha), authentication, the Admin and Audit services, bad input,
//! retries, subscriptions and graceful shutdown.

mod common;

use std::time::Duration;

use tokio::sync::oneshot;
use tokio_stream::StreamExt as _;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt as _;
use withus::checkpoint::NoteVerifier;
use withus::format::parse_hex;
use withus::grpc::{pb, Ready, ServeConfig};
use withus::merkle;
use withus::store::{LogStore, StoreConfig};

struct Server {
    addr: std::net::SocketAddr,
    ready: Ready,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), withus::grpc::ServeError>>,
    dir: tempfile::TempDir,
}

async fn start_on(dir: tempfile::TempDir) -> (Server, oneshot::Receiver<Ready>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (ready_tx, ready_rx) = oneshot::channel();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let config = ServeConfig::new(StoreConfig::new(dir.path()));
    let task = tokio::spawn(withus::grpc::run(listener, config, ready_tx, async move {
        let _ = stop_rx.await;
    }));
    let placeholder = Ready {
        addr,
        admin_token: None,
        vkey: String::new(),
    };
    (
        Server {
            addr,
            ready: placeholder,
            stop: Some(stop_tx),
            task,
            dir,
        },
        ready_rx,
    )
}

async fn start() -> Server {
    let (mut s, ready) = start_on(tempfile::tempdir().unwrap()).await;
    s.ready = ready.await.expect("server ready");
    s
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
            .expect("first start prints an admin token")
    }

    async fn stop(mut self) -> tempfile::TempDir {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap().expect("clean shutdown");
        self.dir
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

async fn audit(
    s: &Server,
    token: &str,
) -> pb::audit_client::AuditClient<InterceptedService<Channel, Auth>> {
    pb::audit_client::AuditClient::with_interceptor(s.channel().await, bearer(token))
}

async fn admin(
    s: &Server,
    token: &str,
) -> pb::admin_client::AdminClient<InterceptedService<Channel, Auth>> {
    pb::admin_client::AdminClient::with_interceptor(s.channel().await, bearer(token))
}

fn opts(id: &str) -> Option<pb::CallOptions> {
    Some(pb::CallOptions {
        command_id: id.into(),
        expected_version: None,
    })
}

fn register(id: &str, role: pb::Role, team: &str, call: &str) -> pb::RegisterActorRequest {
    pb::RegisterActorRequest {
        call: opts(call),
        id: id.into(),
        role: role as i32,
        team: team.into(),
        display_name: format!("Name of {id}"),
    }
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

/// An actor with a token, registered through the API.
async fn actor_with_token(s: &Server, id: &str, role: pb::Role, team: &str) -> String {
    let mut a = admin(s, &s.admin_token()).await;
    a.register_actor(register(id, role, team, &format!("reg-{id}")))
        .await
        .unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_goes_from_not_serving_to_serving_and_reflection_lists_every_service() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};
    let dir = tempfile::tempdir().unwrap();
    // Hold the store open so the server cannot finish opening it yet.
    let blocker = LogStore::open(StoreConfig::new(dir.path())).unwrap();
    let (mut s, ready) = start_on(dir).await;
    let mut health = HealthClient::new(s.channel().await);
    let status = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(status, ServingStatus::NotServing as i32);
    // Withus calls meanwhile: UNAVAILABLE, saying why.
    let e = audit(&s, "x")
        .await
        .get_checkpoint(pb::GetCheckpointRequest {})
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e}");
    blocker.close().unwrap();
    s.ready = tokio::time::timeout(Duration::from_secs(10), ready)
        .await
        .unwrap()
        .unwrap();
    for service in std::iter::once("").chain(withus::grpc::SERVICES) {
        let st = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(st, ServingStatus::Serving as i32, "{service:?}");
    }

    // Reflection, both versions, lists our services and health.
    use tonic_reflection::pb::v1 as r1;
    use tonic_reflection::pb::v1alpha as r0;
    // The two versions are the same protocol in two generated modules.
    macro_rules! list_services {
        ($r:ident) => {{
            let mut c =
                $r::server_reflection_client::ServerReflectionClient::new(s.channel().await);
            let req = $r::ServerReflectionRequest {
                host: String::new(),
                message_request: Some($r::server_reflection_request::MessageRequest::ListServices(
                    String::new(),
                )),
            };
            let mut stream = c
                .server_reflection_info(tokio_stream::iter(vec![req]))
                .await
                .unwrap()
                .into_inner();
            match stream
                .next()
                .await
                .unwrap()
                .unwrap()
                .message_response
                .unwrap()
            {
                $r::server_reflection_response::MessageResponse::ListServicesResponse(l) => l
                    .service
                    .into_iter()
                    .map(|s| s.name)
                    .collect::<Vec<String>>(),
                other => panic!("{other:?}"),
            }
        }};
    }
    let names = list_services!(r1);
    for want in [
        "withus.v1.Audit",
        "withus.v1.Admin",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(names.contains(&want.to_string()), "v1 lists {names:?}");
    }
    let names = list_services!(r0);
    assert!(
        names.contains(&"withus.v1.Audit".to_string())
            && names.contains(&"grpc.health.v1.Health".to_string()),
        "v1alpha lists {names:?}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_checks_the_log_with_proofs_and_watches_it_live() {
    let s = start().await;
    let auditor = actor_with_token(&s, "au-ida", pb::Role::Auditor, "").await;
    let mut a = audit(&s, &auditor).await;

    let cp = a
        .get_checkpoint(pb::GetCheckpointRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cp.vkey, s.ready.vkey);
    let opened = NoteVerifier::from_vkey(&cp.vkey)
        .unwrap()
        .open(&cp.note)
        .unwrap();
    assert_eq!(opened.size, cp.tree_size);
    assert_eq!(opened.root, parse_hex(&cp.root_hash).unwrap());
    // Every entry is provably in the signed tree.
    for seq in 0..cp.tree_size {
        let p = a
            .get_inclusion_proof(pb::GetInclusionProofRequest {
                seq,
                tree_size: cp.tree_size,
            })
            .await
            .unwrap()
            .into_inner();
        let path: Vec<[u8; 32]> = p.hashes.iter().map(|h| parse_hex(h).unwrap()).collect();
        assert!(merkle::verify_inclusion(
            &parse_hex(&p.leaf_hash).unwrap(),
            seq,
            cp.tree_size,
            &path,
            &opened.root
        ));
    }
    // Entries carry their exact bytes: the leaf hash recomputes from them.
    let page = a
        .list_entries(pb::ListEntriesRequest {
            from_seq: 0,
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.entries.len() as u64, cp.tree_size);
    assert!(page.next_page_token.is_empty(), "one page reached the end");
    // Two at a time (AIP-158): the pages hold every entry once, in order, each with its time.
    let (mut paged, mut token) = (Vec::new(), String::new());
    loop {
        let next = a
            .list_entries(pb::ListEntriesRequest {
                from_seq: 0,
                page_size: 2,
                page_token: token.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(next.entries.len() <= 2);
        paged.extend(next.entries.iter().map(|e| e.seq));
        assert!(next
            .entries
            .iter()
            .all(|e| e.at.is_some_and(|t| t.seconds > 0)));
        token = next.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(paged, (0..cp.tree_size).collect::<Vec<_>>());
    let refused = a
        .list_entries(pb::ListEntriesRequest {
            from_seq: 0,
            page_size: -1,
            page_token: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    for e in &page.entries {
        assert_eq!(
            e.leaf_hash,
            withus::format::to_hex(&withus::format::leaf_hash(e.json.as_bytes()))
        );
    }
    let report = a.verify(pb::VerifyRequest {}).await.unwrap().into_inner();
    assert!(report.ok, "{}", report.failure);
    assert!(a
        .compliance_flags(pb::ComplianceFlagsRequest {})
        .await
        .unwrap()
        .into_inner()
        .flags
        .is_empty());

    // Subscribe: the existing entries, then new ones as they are committed.
    let mut sub = a
        .subscribe(pb::SubscribeRequest { from_seq: 0 })
        .await
        .unwrap()
        .into_inner();
    for seq in 0..cp.tree_size {
        assert_eq!(sub.next().await.unwrap().unwrap().seq, seq);
    }
    let mut adm = admin(&s, &s.admin_token()).await;
    adm.register_actor(register("su-sam", pb::Role::ServiceUser, "", "reg-sam"))
        .await
        .unwrap();
    let live = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        (live.seq, live.r#type.as_str(), live.subject.as_str()),
        (cp.tree_size, "actor.registered", "su-sam")
    );
    assert!(
        !live.json.contains("Name of su-sam"),
        "display names are content, never in the log"
    );

    // Consistency between the old checkpoint and now.
    let now = a
        .get_checkpoint(pb::GetCheckpointRequest {})
        .await
        .unwrap()
        .into_inner();
    let proof = a
        .get_consistency_proof(pb::GetConsistencyProofRequest {
            from_size: cp.tree_size,
            to_size: now.tree_size,
        })
        .await
        .unwrap()
        .into_inner();
    let hashes: Vec<[u8; 32]> = proof.hashes.iter().map(|h| parse_hex(h).unwrap()).collect();
    assert!(merkle::verify_consistency(
        cp.tree_size,
        now.tree_size,
        &opened.root,
        &parse_hex(&now.root_hash).unwrap(),
        &hashes
    ));
    drop(sub);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_authenticated_authorised_and_bad_input_changes_nothing() {
    let s = start().await;
    let admin_token = s.admin_token();
    let person = actor_with_token(&s, "su-sam", pb::Role::ServiceUser, "").await;
    let auditor = actor_with_token(&s, "au-ida", pb::Role::Auditor, "").await;

    // No header, a malformed header, an unknown token.
    let e = pb::audit_client::AuditClient::new(s.channel().await)
        .get_checkpoint(pb::GetCheckpointRequest {})
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    let e = audit(&s, &"0".repeat(64))
        .await
        .get_checkpoint(pb::GetCheckpointRequest {})
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);

    // Roles: a person may check proofs but not list everyone's entries; an auditor may not
    // administer; an admin may not read compliance flags.
    let mut as_person = audit(&s, &person).await;
    as_person
        .get_checkpoint(pb::GetCheckpointRequest {})
        .await
        .unwrap();
    as_person
        .get_inclusion_proof(pb::GetInclusionProofRequest {
            seq: 0,
            tree_size: 0,
        })
        .await
        .unwrap();
    for e in [
        as_person
            .list_entries(pb::ListEntriesRequest {
                from_seq: 0,
                page_size: 10,
                page_token: String::new(),
            })
            .await
            .unwrap_err(),
        as_person.verify(pb::VerifyRequest {}).await.unwrap_err(),
        as_person
            .compliance_flags(pb::ComplianceFlagsRequest {})
            .await
            .unwrap_err(),
        audit(&s, &admin_token)
            .await
            .compliance_flags(pb::ComplianceFlagsRequest {})
            .await
            .unwrap_err(),
    ] {
        assert_eq!(e.code(), Code::PermissionDenied, "{e}");
    }
    assert!(as_person
        .subscribe(pb::SubscribeRequest { from_seq: 0 })
        .await
        .is_err());
    let e = admin(&s, &auditor)
        .await
        .register_actor(register("x", pb::Role::Auditor, "", "c-x"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);

    // A bad-input table: each refused with its code, the tree unchanged.
    let size = tree_size(&s, &auditor).await;
    let mut adm = admin(&s, &admin_token).await;
    let mut no_call = register("pw-a", pb::Role::PeerWorker, "peer", "c-1");
    no_call.call = None;
    let mut bad_id = register("pw-a", pb::Role::PeerWorker, "peer", "c-1");
    bad_id.call = opts("has space");
    let mut bad_role = register("pw-a", pb::Role::PeerWorker, "peer", "c-1");
    bad_role.role = 99;
    let mut big = register("pw-a", pb::Role::PeerWorker, "peer", "c-1");
    big.display_name = "x".repeat(64 * 1024 + 1);
    let mut empty_name = register("pw-a", pb::Role::PeerWorker, "peer", "c-1");
    empty_name.display_name = String::new();
    for (req, code) in [
        (no_call, Code::InvalidArgument),
        (bad_id, Code::InvalidArgument),
        (bad_role, Code::InvalidArgument),
        (big, Code::ResourceExhausted),
        (empty_name, Code::InvalidArgument),
        (
            register("pw-a", pb::Role::PeerWorker, "", "c-1"),
            Code::InvalidArgument,
        ),
        (
            register("su-sam", pb::Role::ServiceUser, "", "c-1"),
            Code::AlreadyExists,
        ),
        (
            register(&"x".repeat(129), pb::Role::Auditor, "", "c-1"),
            Code::InvalidArgument,
        ),
    ] {
        let e = adm.register_actor(req).await.unwrap_err();
        assert_eq!(e.code(), code, "{e}");
        assert!(!e.message().is_empty());
        // AIP-193: every refusal carries an ErrorInfo a program can switch on.
        let info = e.get_details_error_info().expect("an ErrorInfo");
        assert_eq!(info.domain, "withus", "{e}");
        assert!(
            !info.reason.is_empty()
                && info
                    .reason
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
            "{info:?}"
        );
        assert!(info.metadata.contains_key("field"), "{info:?}");
    }
    let e = adm
        .revoke_token(pb::RevokeTokenRequest {
            call: opts("c-2"),
            token_hash: "zz".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = adm
        .deactivate_actor(pb::DeactivateActorRequest {
            call: opts("c-3"),
            id: "su-sam".into(),
            reason: 99,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = adm
        .deactivate_actor(pb::DeactivateActorRequest {
            call: opts("c-3"),
            id: "nobody".into(),
            reason: pb::DeactivationReason::Other as i32,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert_eq!(
        tree_size(&s, &auditor).await,
        size,
        "refusals append nothing"
    );

    // A retried command returns the same receipts and appends nothing; a retried token issue is
    // refused (the token cannot be shown twice).
    let first = adm
        .register_actor(register("pw-a", pb::Role::PeerWorker, "peer", "c-ok"))
        .await
        .unwrap()
        .into_inner();
    let size = tree_size(&s, &auditor).await;
    let again = adm
        .register_actor(register("pw-a", pb::Role::PeerWorker, "peer", "c-ok"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first, again);
    assert_eq!(tree_size(&s, &auditor).await, size);
    let e = adm
        .issue_token(pb::IssueTokenRequest {
            call: opts("tok-su-sam"),
            actor: "su-sam".into(),
            expires_at: None,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists);

    // Revoked and expired tokens stop working.
    let hash = withus::format::to_hex(blake3::hash(person.as_bytes()).as_bytes());
    adm.revoke_token(pb::RevokeTokenRequest {
        call: opts("rev-1"),
        token_hash: hash,
    })
    .await
    .unwrap();
    assert_eq!(
        audit(&s, &person)
            .await
            .get_checkpoint(pb::GetCheckpointRequest {})
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    let e = adm
        .issue_token(pb::IssueTokenRequest {
            call: opts("tok-past"),
            actor: "su-sam".into(),
            expires_at: Some(prost_types::Timestamp {
                seconds: 1_577_836_800,
                nanos: 0,
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = adm
        .issue_token(pb::IssueTokenRequest {
            call: opts("tok-bad"),
            actor: "su-sam".into(),
            expires_at: Some(prost_types::Timestamp {
                seconds: -1,
                nanos: 0,
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    // A deactivated actor's token stops working.
    adm.deactivate_actor(pb::DeactivateActorRequest {
        call: opts("deact"),
        id: "au-ida".into(),
        reason: pb::DeactivationReason::LeftOrganisation as i32,
    })
    .await
    .unwrap();
    assert_eq!(
        audit(&s, &auditor)
            .await
            .get_checkpoint(pb::GetCheckpointRequest {})
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_keeps_every_acknowledged_call_and_a_restart_prints_no_new_token() {
    let s = start().await;
    let token = s.admin_token();
    let mut adm = admin(&s, &token).await;
    let r = adm
        .register_actor(register("su-sam", pb::Role::ServiceUser, "", "c-1"))
        .await
        .unwrap()
        .into_inner();
    let seq = r.receipts[0].seq;
    let dir = s.stop().await;
    let store = LogStore::open_read_only(dir.path()).unwrap();
    assert!(store.entry(seq).unwrap().is_some());
    drop(store);
    let (mut s, ready) = start_on(dir).await;
    s.ready = ready.await.unwrap();
    assert!(
        s.ready.admin_token.is_none(),
        "the admin already has a valid token"
    );
    // The old token still works after the restart.
    audit(&s, &token)
        .await
        .get_checkpoint(pb::GetCheckpointRequest {})
        .await
        .unwrap();
    s.stop().await;
}

/// Subscriptions and health watches never end by themselves, so shutdown must end them: a
/// subscriber, even one that has fallen behind, gets every entry in order up to a point and then
/// UNAVAILABLE naming the seq to resume from; a health watcher sees NOT_SERVING and its stream
/// closes; and the server still exits cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_subscriptions_and_health_watches() {
    let s = start().await;
    let token = s.admin_token();
    let mut sub = audit(&s, &token)
        .await
        .subscribe(pb::SubscribeRequest { from_seq: 0 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(sub.next().await.unwrap().unwrap().seq, 0);
    let mut health = tonic_health::pb::health_client::HealthClient::new(s.channel().await);
    let mut watch = health
        .watch(tonic_health::pb::HealthCheckRequest {
            service: "withus.v1.Audit".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let serving = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
    assert_eq!(watch.next().await.unwrap().unwrap().status, serving);
    // The subscriber stops reading while far more is committed than the server buffers for it.
    let mut adm = admin(&s, &token).await;
    for i in 0..200 {
        let id = format!("su-{i}");
        adm.register_actor(register(&id, pb::Role::ServiceUser, "", &id))
            .await
            .unwrap();
    }
    let stop = tokio::spawn(s.stop());

    // A hang guard, not a speed assertion: without the shutdown handling these never resolve.
    let guard = Duration::from_secs(60);
    let mut expected = 1;
    let e = loop {
        let item = tokio::time::timeout(guard, sub.next())
            .await
            .expect("the subscription ends when the server stops")
            .expect("an error status, not a silent end");
        match item {
            Ok(entry) => {
                assert_eq!(entry.seq, expected, "entries arrive in order, none skipped");
                expected += 1;
            }
            Err(e) => break e,
        }
    };
    assert_eq!(e.code(), Code::Unavailable, "{e}");
    assert!(
        e.message().contains(&format!("from_seq {expected}")),
        "names the first entry not received ({expected}): {e}"
    );
    let not_serving = tonic_health::pb::health_check_response::ServingStatus::NotServing as i32;
    let mut last = serving;
    while let Some(update) = tokio::time::timeout(guard, watch.next())
        .await
        .expect("the health watch ends when the server stops")
    {
        match update {
            Ok(u) => last = u.status,
            Err(_) => break, // the connection closing may end it with a status instead
        }
    }
    assert_eq!(
        last, not_serving,
        "watchers are told before the stream ends"
    );
    tokio::time::timeout(guard, stop)
        .await
        .expect("the server exits with a subscriber and a watcher still connected")
        .unwrap();
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

fn seg(id: &str, text: &str) -> pb::TextSegment {
    pb::TextSegment {
        id: id.into(),
        text: text.into(),
    }
}

macro_rules! client {
    ($s:expr, $token:expr, $module:ident :: $client:ident) => {
        pb::$module::$client::with_interceptor($s.channel().await, bearer($token))
    };
}

/// The seeds' story through every care service: opt-in, a café meeting, a co-produced note with
/// an agreed redaction, consent granted then revoked around a clinician's reads, a safeguarding
/// concern withheld from the person's view, and a subject access request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_story_over_grpc() {
    let s = start().await;
    let sam = actor_with_token(&s, "su-sam", pb::Role::ServiceUser, "").await;
    let amara = actor_with_token(&s, "pw-amara", pb::Role::PeerWorker, "peer-team").await;
    let cho = actor_with_token(&s, "ct-cho", pb::Role::CareTeam, "cmht-north").await;
    let lee = actor_with_token(&s, "sg-lee", pb::Role::SafeguardingLead, "").await;
    let ida = actor_with_token(&s, "au-ida", pb::Role::Auditor, "").await;

    let mut support = client!(s, &amara, support_client::SupportClient);
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
    // Opt-in is the person's choice.
    let e = client!(s, &cho, support_client::SupportClient)
        .accept(pb::SupportRequest {
            call: opts("s3x"),
            support_id: "sp-1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    client!(s, &sam, support_client::SupportClient)
        .accept(pb::SupportRequest {
            call: opts("s3"),
            support_id: "sp-1".into(),
        })
        .await
        .unwrap();

    client!(s, &amara, meetings_client::MeetingsClient)
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
            place_detail: "the café by the park".into(),
            occurred_at: ts(now_ms() - 3_600_000),
            minutes: 50,
        })
        .await
        .unwrap();
    let mut notes = client!(s, &amara, notes_client::NotesClient);
    notes
        .draft(pb::DraftNoteRequest {
            call: opts("n1"),
            note_id: "n-1".into(),
            meeting_id: "m-1".into(),
            segments: vec![
                seg("s1", "We talked about walking and the allotment."),
                seg("s2", "Sam talked about their brother's debts"),
            ],
        })
        .await
        .unwrap();
    let mut sam_notes = client!(s, &sam, notes_client::NotesClient);
    sam_notes
        .propose_redaction(pb::ProposeRedactionRequest {
            call: opts("n2"),
            note_id: "n-1".into(),
            proposal_id: "r-1".into(),
            segments: vec!["s2".into()],
            reason: pb::RedactionReason::NotWanted as i32,
        })
        .await
        .unwrap();
    notes
        .agree_redaction(pb::ProposalRequest {
            call: opts("n3"),
            note_id: "n-1".into(),
            proposal_id: "r-1".into(),
        })
        .await
        .unwrap();
    let e = sam_notes
        .agree(pb::AgreeNoteRequest {
            call: opts("n4x"),
            note_id: "n-1".into(),
            revision: 2,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(
        e.message().contains("note.latest_revision"),
        "{}",
        e.message()
    );
    sam_notes
        .agree(pb::AgreeNoteRequest {
            call: opts("n4"),
            note_id: "n-1".into(),
            revision: 1,
        })
        .await
        .unwrap();
    notes
        .agree(pb::AgreeNoteRequest {
            call: opts("n5"),
            note_id: "n-1".into(),
            revision: 1,
        })
        .await
        .unwrap();

    // The person's own record: the passage removed by agreement, never its text.
    let mut sam_records = client!(s, &sam, records_client::RecordsClient);
    let mine = sam_records
        .get_record(pb::GetRecordRequest {
            subject: "su-sam".into(),
            as_of_seq: None,
            as_of_time: None,
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(mine.receipts.as_ref().unwrap().receipts.is_empty());
    let words = common::words_shown(common::record_of(&mine));
    assert!(words.contains("allotment") && words.contains("the café by the park"));
    assert!(!words.contains("brother"));
    let note = &common::record_of(&mine).notes[0];
    assert_eq!(note.status, pb::NoteStatus::Agreed as i32);
    let removed = note.passages[1]
        .removed
        .as_ref()
        .expect("removed by agreement");
    assert_eq!(removed.agreed_by, "pw-amara");
    assert_eq!(note.passages[1].text, None);

    // Consent to the care team; the clinician's read is allowed and logged; revoked; refused.
    let mut consent = client!(s, &sam, consent_client::ConsentClient);
    consent
        .grant(pb::GrantConsentRequest {
            call: opts("c1"),
            subject: "su-sam".into(),
            consent_id: "c-1".into(),
            scope: pb::ConsentScope::ShareWithCareTeam as i32,
            grantee: "cmht-north".into(),
            expires_at: None,
        })
        .await
        .unwrap();
    let mut cho_records = client!(s, &cho, records_client::RecordsClient);
    let read = cho_records
        .get_record(pb::GetRecordRequest {
            subject: "su-sam".into(),
            as_of_seq: None,
            as_of_time: None,
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.basis, "consent:c-1");
    let logged = read.receipts.unwrap().receipts;
    assert_eq!(logged.len(), 1);
    // Where the read was logged, not how many reads the person's access stream holds.
    assert_eq!(
        (logged[0].stream.as_str(), logged[0].stream_version),
        ("", 0)
    );
    consent
        .revoke(pb::RevokeConsentRequest {
            call: opts("c2"),
            subject: "su-sam".into(),
            consent_id: "c-1".into(),
        })
        .await
        .unwrap();
    let e = cho_records
        .get_record(pb::GetRecordRequest {
            subject: "su-sam".into(),
            as_of_seq: None,
            as_of_time: None,
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let log = sam_records
        .get_access_log(pb::AccessLogRequest {
            subject: "su-sam".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .lines;
    let lines: Vec<(String, String)> = log
        .iter()
        .map(|l| (l.reader.clone(), common::why(l)))
        .collect();
    assert_eq!(
        lines,
        vec![
            ("ct-cho".to_string(), "consent:c-1".to_string()),
            ("ct-cho".to_string(), "no_consent".to_string())
        ]
    );

    // Safeguarding: raised, acknowledged, outcome, withheld from the person's view.
    client!(s, &amara, safeguarding_client::SafeguardingClient)
        .raise(pb::RaiseConcernRequest {
            call: opts("k1"),
            concern_id: "k-1".into(),
            subject: "su-sam".into(),
            category: pb::ConcernCategory::Exploitation as i32,
            urgency: pb::Urgency::SameDay as i32,
            summary: vec![seg("k", "pressured to hand over money")],
        })
        .await
        .unwrap();
    let mut sg = client!(s, &lee, safeguarding_client::SafeguardingClient);
    sg.acknowledge(pb::ConcernRequest {
        call: opts("k2"),
        concern_id: "k-1".into(),
    })
    .await
    .unwrap();
    sg.record_outcome(pb::OutcomeRequest {
        call: opts("k3"),
        concern_id: "k-1".into(),
        outcome: pb::ConcernOutcome::ReferredToLocalAuthority as i32,
        detail: "Referred to the adult safeguarding team".into(),
    })
    .await
    .unwrap();
    sg.withhold(pb::WithholdRequest {
        call: opts("k4"),
        subject: "su-sam".into(),
        target_stream: "concern:k-1".into(),
        exemption: pb::Exemption::SeriousHarm as i32,
        justification: "Risk from the person named".into(),
        review_by: ts(now_ms() + 30 * 86_400_000),
    })
    .await
    .unwrap();
    let mine = sam_records
        .get_record(pb::GetRecordRequest {
            subject: "su-sam".into(),
            as_of_seq: None,
            as_of_time: None,
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let record = common::record_of(&mine);
    assert_eq!(record.withheld_count, 1);
    assert!(record.concerns.is_empty());
    let e = sg
        .withhold(pb::WithholdRequest {
            call: opts("k5"),
            subject: "su-sam".into(),
            target_stream: "concern:k-1".into(),
            exemption: 99,
            justification: "x".into(),
            review_by: ts(now_ms() + 86_400_000),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "unknown vocabulary value");

    // Subject access: requested by the person, fulfilled by the auditor (hash only), bundle to
    // the person.
    client!(s, &sam, subject_access_client::SubjectAccessClient)
        .request(pb::SarRequest {
            call: opts("a1"),
            sar_id: "sar-1".into(),
            subject: "su-sam".into(),
            via: pb::SarVia::App as i32,
        })
        .await
        .unwrap();
    let mut dpo = client!(s, &ida, subject_access_client::SubjectAccessClient);
    let f = dpo
        .fulfil(pb::FulfilSarRequest {
            call: opts("a2"),
            sar_id: "sar-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let st = dpo
        .status(pb::SarStatusRequest {
            sar_id: "sar-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (st.bundle_hash.as_str(), st.withheld),
        (f.bundle_hash.as_str(), 1)
    );
    assert!(
        dpo.get_bundle(pb::SarStatusRequest {
            sar_id: "sar-1".into()
        })
        .await
        .is_err(),
        "the bundle is the person's"
    );
    let (bundle, recorded) = common::collect_bundle(
        client!(s, &sam, subject_access_client::SubjectAccessClient)
            .get_bundle(pb::SarStatusRequest {
                sar_id: "sar-1".into(),
            })
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(recorded, f.bundle_hash);
    assert!(!String::from_utf8_lossy(&bundle).contains("pressured"));

    // Time travel over the wire, and the auditor's flags: none outstanding.
    let first = sam_records
        .get_record(pb::GetRecordRequest {
            subject: "su-sam".into(),
            as_of_seq: Some(12),
            as_of_time: None,
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        !common::words_shown(common::record_of(&first)).contains("allotment"),
        "no note yet at seq 12"
    );
    assert!(audit(&s, &ida)
        .await
        .compliance_flags(pb::ComplianceFlagsRequest {})
        .await
        .unwrap()
        .into_inner()
        .flags
        .is_empty());
    let report = audit(&s, &ida)
        .await
        .verify(pb::VerifyRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(report.ok, "{}", report.failure);
    s.stop().await;
}

fn withus_cli(args: Vec<String>) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_withus"))
        .args(&args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withus_demo_and_withus_admin_work_against_a_running_server() {
    let s = start().await;
    let url = format!("http://{}", s.addr);
    let token = s.admin_token();
    let args = |a: &[&str]| a.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let demo = args(&["demo", "--server", &url, "--token", &token]);
    let (code, out, err) = tokio::task::spawn_blocking(move || withus_cli(demo))
        .await
        .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    for words in [
        "the café by the park",
        "removed by agreement",
        "on the basis of consent:c-1",
        "was refused (no consent)",
        "Safeguarding concern",
        "Discussed (mdt) with cmht-north-",
        "on the basis of consent:c-1; recorded by ct-cho-",
        "Your statement about note:n-",
        "it was talking to Amara",
        "place agreed by both",
        "accompanying (the job centre appointment)",
        "signposting (the Saturday walking group at the park)",
        "held",
        "Recovery goal g-",
        "Get back to the allotment",
        "reviewed ",
        "Went to the job centre with Amara",
        "(representative) read",
        "on the basis of authority:au-1-",
    ] {
        assert!(out.contains(words), "missing {words:?} in:\n{out}");
    }
    assert!(
        !out.contains("brother"),
        "the removed passage is nowhere:\n{out}"
    );
    let reg = args(&[
        "admin",
        "--server",
        &url,
        "--token",
        &token,
        "register",
        "--id",
        "au-cli",
        "--role",
        "auditor",
        "--name",
        "Ida",
        "--command-id",
        "cli-1",
    ]);
    let (code, out, err) = tokio::task::spawn_blocking({
        let reg = reg.clone();
        move || withus_cli(reg)
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("appended seq"));
    // The same command id again: the same receipts; a new id for the same actor: refused (4).
    let (code, again, _) = tokio::task::spawn_blocking(move || withus_cli(reg))
        .await
        .unwrap();
    assert_eq!((code, again), (0, out));
    let dup = args(&[
        "admin", "--server", &url, "--token", &token, "register", "--id", "au-cli", "--role",
        "auditor", "--name", "Ida",
    ]);
    let (code, _, err) = tokio::task::spawn_blocking(move || withus_cli(dup))
        .await
        .unwrap();
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("already exists"), "{err}");
    let bad = args(&[
        "admin",
        "--server",
        &url,
        "--token",
        "nope",
        "issue-token",
        "--actor",
        "au-cli",
    ]);
    let (code, _, err) = tokio::task::spawn_blocking(move || withus_cli(bad))
        .await
        .unwrap();
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("Unauthenticated"), "{err}");
    // `admin list`: every actor with role, team, active and usable tokens; never a token, a
    // token hash or a name.
    let list = args(&["admin", "--server", &url, "--token", &token, "list"]);
    let (code, out, err) = tokio::task::spawn_blocking(move || withus_cli(list))
        .await
        .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    let row = |id: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .unwrap_or_else(|| panic!("{id} not listed:\n{out}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(row("au-cli"), ["au-cli", "auditor", "yes", "0"], "{out}");
    assert_eq!(row("admin"), ["admin", "admin", "yes", "1"], "{out}");
    let worker = out
        .lines()
        .find(|l| l.starts_with("pw-amara-"))
        .unwrap_or_else(|| panic!("the demo's worker is not listed:\n{out}"));
    assert_eq!(
        worker.split_whitespace().skip(1).collect::<Vec<_>>(),
        ["peer_worker", "peer-team", "yes", "1"],
        "{out}"
    );
    assert!(!out.contains(&token), "a token is listed:\n{out}");
    assert!(
        !out.split_whitespace()
            .any(|w| w.len() == 64 && w.chars().all(|c| c.is_ascii_hexdigit())),
        "a token hash is listed:\n{out}"
    );
    assert!(
        !out.contains("Ida") && !out.contains("Amara"),
        "a name is listed:\n{out}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_with_the_given_certificate_and_refuses_plaintext() {
    use std::os::unix::fs::PermissionsExt as _;
    use tonic::transport::{Certificate, ClientTlsConfig};
    let dir = tempfile::tempdir().unwrap();
    let tls = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls");
    // The server refuses a private key others can read; a checkout leaves it 0644.
    let key = dir.path().join("server.key");
    std::fs::copy(tls.join("server.key"), &key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (ready_tx, ready_rx) = oneshot::channel();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let config = ServeConfig {
        tls: Some((tls.join("server.crt"), key)),
        ..ServeConfig::new(StoreConfig::new(dir.path()))
    };
    let task = tokio::spawn(withus::grpc::run(listener, config, ready_tx, async move {
        let _ = stop_rx.await;
    }));
    let ready = ready_rx.await.unwrap();
    let ca = Certificate::from_pem(std::fs::read(tls.join("ca.crt")).unwrap());
    let ch = Channel::from_shared(format!("https://localhost:{}", addr.port()))
        .unwrap()
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(ca)
                .domain_name("localhost"),
        )
        .unwrap()
        .connect()
        .await
        .unwrap();
    let cp =
        pb::audit_client::AuditClient::with_interceptor(ch, bearer(&ready.admin_token.unwrap()))
            .get_checkpoint(pb::GetCheckpointRequest {})
            .await
            .unwrap()
            .into_inner();
    assert!(cp.tree_size >= 2);
    // A plaintext client gets nowhere.
    let plain = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await;
    if let Ok(ch) = plain {
        assert!(pb::audit_client::AuditClient::new(ch)
            .get_checkpoint(pb::GetCheckpointRequest {})
            .await
            .is_err());
    }
    let _ = stop_tx.send(());
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_expected_version_is_aborted_over_grpc_and_changes_nothing() {
    let s = start().await;
    let amara = actor_with_token(&s, "pw-amara", pb::Role::PeerWorker, "peer").await;
    let sam = actor_with_token(&s, "su-sam", pb::Role::ServiceUser, "").await;
    let mut support =
        pb::support_client::SupportClient::with_interceptor(s.channel().await, bearer(&amara));
    let referred = support
        .refer(pb::ReferRequest {
            call: opts("r1"),
            support_id: "sp-1".into(),
            subject: "su-sam".into(),
            worker: "pw-amara".into(),
            source: pb::ReferralSource::CareTeam as i32,
        })
        .await
        .unwrap()
        .into_inner();
    // The receipt says which stream moved and how far, so a client needs nothing else.
    let receipt = &referred.receipts[0];
    assert_eq!(
        (receipt.stream.as_str(), receipt.stream_version),
        ("support:sp-1", 1)
    );
    let size = tree_size(&s, &sam).await;
    // The client saw the stream empty; it now holds one event.
    let stale = Some(pb::CallOptions {
        command_id: "o1".into(),
        expected_version: Some(0),
    });
    let e = support
        .offer(pb::SupportRequest {
            call: stale,
            support_id: "sp-1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Aborted, "{e}");
    let info = e.get_details_error_info().expect("an ErrorInfo");
    assert_eq!(info.reason, "STREAM_VERSION_CONFLICT");
    assert_eq!(info.metadata["field"], "call.expected_version");
    assert_eq!(info.metadata["expected_version"], "0");
    assert_eq!(
        info.metadata["actual_version"], "1",
        "read it again: it is at 1"
    );
    assert_eq!(tree_size(&s, &sam).await, size);
    let fresh = Some(pb::CallOptions {
        command_id: "o2".into(),
        expected_version: Some(receipt.stream_version),
    });
    let offered = support
        .offer(pb::SupportRequest {
            call: fresh,
            support_id: "sp-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(offered.receipts[0].stream_version, 2);
    // Unknown ids: the same answer as an id that is not the caller's (no_basis), so it tells
    // them nothing about who exists.
    let e = support
        .offer(pb::SupportRequest {
            call: opts("o3"),
            support_id: "sp-none".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(e.message().contains("[no_basis]"), "{}", e.message());
    let info = e.get_details_error_info().expect("an ErrorInfo");
    assert_eq!(info.reason, "NO_BASIS", "{info:?}");
    assert_eq!(info.metadata["rule"], "no_basis");
    s.stop().await;
}

/// AIP-193 over the wire: each kind of refusal has its reason and metadata, an INVALID_ARGUMENT
/// names its field in a BadRequest, and a refused read of a person who exists carries exactly
/// the details of one who does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_carry_error_info_a_program_can_switch_on() {
    let s = start().await;
    let mut adm = admin(&s, &s.admin_token()).await;
    let mut bad_role = register("pw-b", pb::Role::PeerWorker, "peer", "c-1");
    bad_role.role = 99;
    let e = adm.register_actor(bad_role).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let info = e.get_details_error_info().expect("an ErrorInfo");
    assert_eq!(
        (info.reason.as_str(), info.domain.as_str()),
        ("INVALID_FIELD", "withus")
    );
    assert_eq!(info.metadata["field"], "role");
    let bad = e.get_details_bad_request().expect("a BadRequest");
    assert_eq!(bad.field_violations.len(), 1);
    assert_eq!(bad.field_violations[0].field, "role");
    assert!(!bad.field_violations[0].description.is_empty());

    let clinician = actor_with_token(&s, "ct-jo", pb::Role::CareTeam, "crisis").await;
    actor_with_token(&s, "su-sam", pb::Role::ServiceUser, "").await;
    let mut records =
        pb::records_client::RecordsClient::with_interceptor(s.channel().await, bearer(&clinician));
    let request = |subject: &str| pb::GetRecordRequest {
        subject: subject.into(),
        as_of_seq: None,
        as_of_time: None,
        page_size: 0,
        page_token: String::new(),
    };
    let known = records.get_record(request("su-sam")).await.unwrap_err();
    let unknown = records.get_record(request("su-nobody")).await.unwrap_err();
    assert_eq!(known.code(), Code::PermissionDenied);
    let (known_info, unknown_info) = (
        known.get_details_error_info().expect("an ErrorInfo"),
        unknown.get_details_error_info().expect("an ErrorInfo"),
    );
    assert_eq!(known_info.reason, "ACCESS_DENIED");
    assert_eq!(known_info.metadata["field"], "subject");
    assert!(known_info.metadata.contains_key("denial_reason"));
    assert_eq!(
        (&known_info.reason, &known_info.domain, &known_info.metadata),
        (
            &unknown_info.reason,
            &unknown_info.domain,
            &unknown_info.metadata
        ),
        "the details tell no more than the message: not whether the person exists"
    );
    assert_eq!(
        known.message().replace("su-sam", "X"),
        unknown.message().replace("su-nobody", "X")
    );

    let mut anonymous = pb::audit_client::AuditClient::new(s.channel().await);
    let e = anonymous
        .get_checkpoint(pb::GetCheckpointRequest {})
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    s.stop().await;
}

/// Issue 14 items 3 and 4 over gRPC: the person sets a recovery goal in their words; a meeting
/// is planned, its place changed by the person and agreed by the worker, held with the goal it
/// worked on, the worker accompanying the person and signposting; the goal is reviewed and
/// achieved; a group session is recorded for two participants, and neither's record names the
/// group or the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goals_meetings_as_they_happen_and_a_group_session_over_grpc() {
    let s = start().await;
    let sam = actor_with_token(&s, "su-sam", pb::Role::ServiceUser, "").await;
    let ola = actor_with_token(&s, "su-ola", pb::Role::ServiceUser, "").await;
    let amara = actor_with_token(&s, "pw-amara", pb::Role::PeerWorker, "peer-team").await;
    let cho = actor_with_token(&s, "ct-cho", pb::Role::CareTeam, "cmht-north").await;
    for (sp, person, token) in [("sp-1", "su-sam", &sam), ("sp-2", "su-ola", &ola)] {
        let mut support = client!(s, &amara, support_client::SupportClient);
        support
            .refer(pb::ReferRequest {
                call: opts(&format!("{sp}-r")),
                support_id: sp.into(),
                subject: person.into(),
                worker: "pw-amara".into(),
                source: pb::ReferralSource::Self_ as i32,
            })
            .await
            .unwrap();
        support
            .offer(pb::SupportRequest {
                call: opts(&format!("{sp}-o")),
                support_id: sp.into(),
            })
            .await
            .unwrap();
        client!(s, token, support_client::SupportClient)
            .accept(pb::SupportRequest {
                call: opts(&format!("{sp}-a")),
                support_id: sp.into(),
            })
            .await
            .unwrap();
    }

    // Sam's goal, in Sam's words.
    let mut sams_goals = client!(s, &sam, goals_client::GoalsClient);
    sams_goals
        .set(pb::SetGoalRequest {
            call: opts("g1"),
            goal_id: "g-1".into(),
            support_id: "sp-1".into(),
            words: vec![seg("w1", "get back to the allotment twice a week")],
            co_produced: true,
        })
        .await
        .unwrap();
    // Amara cannot set a goal for Sam that Sam did not agree.
    let e = client!(s, &amara, goals_client::GoalsClient)
        .set(pb::SetGoalRequest {
            call: opts("g2"),
            goal_id: "g-2".into(),
            support_id: "sp-1".into(),
            words: vec![seg("w1", "take medication")],
            co_produced: false,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    // Ola cannot touch Sam's goal, and learns nothing about it.
    let e = client!(s, &ola, goals_client::GoalsClient)
        .review(pb::ReviewGoalRequest {
            call: opts("g3"),
            goal_id: "g-1".into(),
            words: vec![seg("r1", "x")],
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(!e.message().contains("su-sam"), "{e:?}");

    // A meeting planned at the clinic; Sam would rather meet at the café; Amara agrees.
    let mut meetings = client!(s, &amara, meetings_client::MeetingsClient);
    meetings
        .plan(pb::PlanMeetingRequest {
            call: opts("p1"),
            meeting_id: "pm-1".into(),
            support_id: "sp-1".into(),
            mode: pb::MeetingMode::InPerson as i32,
            place: pb::Place::Clinic as i32,
            place_detail: String::new(),
            planned_for: ts(now_ms() + 86_400_000),
            minutes: 60,
        })
        .await
        .unwrap();
    let mut sams_meetings = client!(s, &sam, meetings_client::MeetingsClient);
    sams_meetings
        .propose_place(pb::ProposePlaceRequest {
            call: opts("p2"),
            meeting_id: "pm-1".into(),
            place: pb::Place::Community as i32,
            place_detail: "the café by the park".into(),
            on_behalf: false,
        })
        .await
        .unwrap();
    let e = sams_meetings
        .agree_place(pb::AgreePlaceRequest {
            call: opts("p3"),
            meeting_id: "pm-1".into(),
            on_behalf: false,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    meetings
        .agree_place(pb::AgreePlaceRequest {
            call: opts("p4"),
            meeting_id: "pm-1".into(),
            on_behalf: false,
        })
        .await
        .unwrap();
    let e = meetings
        .record_held(pb::HoldMeetingRequest {
            call: opts("p5x"),
            meeting_id: "pm-1".into(),
            occurred_at: ts(now_ms() - 1_000),
            minutes: 60,
            goals: vec!["g-1".into()],
            activities: vec![pb::Activity {
                kind: pb::ActivityKind::Signposting as i32,
                detail: String::new(),
            }],
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("signposting"), "{e:?}");
    meetings
        .record_held(pb::HoldMeetingRequest {
            call: opts("p5"),
            meeting_id: "pm-1".into(),
            occurred_at: ts(now_ms() - 1_000),
            minutes: 60,
            goals: vec!["g-1".into()],
            activities: vec![
                pb::Activity {
                    kind: pb::ActivityKind::Accompanying as i32,
                    detail: "the job centre appointment".into(),
                },
                pb::Activity {
                    kind: pb::ActivityKind::Signposting as i32,
                    detail: "the Tuesday walking group".into(),
                },
            ],
        })
        .await
        .unwrap();
    // A second plan, cancelled by Sam.
    meetings
        .plan(pb::PlanMeetingRequest {
            call: opts("p6"),
            meeting_id: "pm-2".into(),
            support_id: "sp-1".into(),
            mode: pb::MeetingMode::Phone as i32,
            place: pb::Place::Online as i32,
            place_detail: String::new(),
            planned_for: ts(now_ms() + 2 * 86_400_000),
            minutes: 30,
        })
        .await
        .unwrap();
    sams_meetings
        .cancel(pb::CancelMeetingRequest {
            call: opts("p7"),
            meeting_id: "pm-2".into(),
            by: pb::Party::Person as i32,
        })
        .await
        .unwrap();

    sams_goals
        .review(pb::ReviewGoalRequest {
            call: opts("g4"),
            goal_id: "g-1".into(),
            words: vec![seg("r1", "went once this week, with Amara")],
        })
        .await
        .unwrap();
    let e = sams_goals
        .close(pb::CloseGoalRequest {
            call: opts("g5x"),
            goal_id: "g-1".into(),
            outcome: pb::GoalOutcome::Unspecified as i32,
            words: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    sams_goals
        .close(pb::CloseGoalRequest {
            call: opts("g5"),
            goal_id: "g-1".into(),
            outcome: pb::GoalOutcome::Achieved as i32,
            words: vec![seg("c1", "I go on my own now")],
        })
        .await
        .unwrap();

    // A group session: one entry for each participant, naming neither the group nor the other.
    client!(s, &s.admin_token(), groups_client::GroupsClient)
        .form(pb::FormGroupRequest {
            call: opts("grp"),
            group_id: "grp-voices".into(),
            name: "Thursday hearing voices group".into(),
            facilitators: vec!["pw-amara".into()],
        })
        .await
        .unwrap();
    for (m, sp) in [("gm-sam", "sp-1"), ("gm-ola", "sp-2")] {
        meetings
            .record(pb::RecordMeetingRequest {
                call: opts(m),
                meeting_id: m.into(),
                support_id: sp.into(),
                kind: pb::MeetingKind::Group as i32,
                group_id: "grp-voices".into(),
                mode: pb::MeetingMode::InPerson as i32,
                place: pb::Place::Community as i32,
                place_detail: String::new(),
                occurred_at: ts(now_ms() - 1_000),
                minutes: 90,
                goals: vec![],
                activities: vec![pb::Activity {
                    kind: pb::ActivityKind::SharedExperience as i32,
                    detail: String::new(),
                }],
            })
            .await
            .unwrap();
    }

    let mine = client!(s, &sam, records_client::RecordsClient)
        .get_record(pb::GetRecordRequest {
            subject: "su-sam".into(),
            as_of_seq: None,
            as_of_time: None,
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let v = common::record_of(&mine);
    let goal = &v.goals[0];
    let text = |p: &pb::Passage| p.text.clone().unwrap_or_default();
    assert_eq!(
        text(&goal.words[0]),
        "get back to the allotment twice a week"
    );
    assert_eq!(
        text(&goal.reviews[0].words[0]),
        "went once this week, with Amara"
    );
    assert_eq!(
        goal.closed.as_ref().map(|c| c.outcome),
        Some(pb::GoalOutcome::Achieved as i32)
    );
    let meeting = |id: &str| {
        v.meetings
            .iter()
            .find(|m| m.meeting_id == id)
            .unwrap_or_else(|| panic!("{id} in {v:?}"))
            .clone()
    };
    let held = meeting("pm-1");
    assert_eq!(held.status, pb::MeetingStatus::Held as i32);
    assert_eq!(
        (held.place, held.place_proposed_by, held.place_agreed),
        (pb::Place::Community as i32, pb::Party::Person as i32, true)
    );
    assert_eq!(
        held.place_detail.as_ref().map(text).as_deref(),
        Some("the café by the park")
    );
    assert_eq!(held.goal_ids, vec!["g-1".to_string()]);
    assert_eq!(
        held.activities[0].detail.as_ref().map(text).as_deref(),
        Some("the job centre appointment")
    );
    assert_eq!(meeting("pm-2").cancelled_by, pb::Party::Person as i32);
    assert_eq!(meeting("gm-sam").kind, pb::MeetingKind::Group as i32);
    assert!(held.version > 0, "a meeting carries its stream's version");
    let shown = format!("{v:?}");
    for other in ["grp-voices", "hearing voices", "su-ola", "gm-ola", "sp-2"] {
        assert!(!shown.contains(other), "{other} in Sam's record");
    }

    // Amara, whose relationship the goal is worked on in, sees it; the read is logged with it.
    let amaras = client!(s, &amara, records_client::RecordsClient)
        .get_record(pb::GetRecordRequest {
            subject: "su-sam".into(),
            as_of_seq: None,
            as_of_time: None,
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(common::words_shown(common::record_of(&amaras)).contains("get back to the allotment"));
    let log = client!(s, &sam, records_client::RecordsClient)
        .get_access_log(pb::AccessLogRequest {
            page_size: 0,
            page_token: String::new(),
            subject: "su-sam".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let read = log.lines.last().expect("Amara's read is logged");
    assert_eq!(read.reader, "pw-amara");
    assert!(read.streams.contains(&"goal:g-1".to_string()), "{read:?}");

    // The care team, even with Sam's consent to share notes, is not shown the goals, nor
    // where they met or what was done in words.
    client!(s, &sam, consent_client::ConsentClient)
        .grant(pb::GrantConsentRequest {
            call: opts("c1"),
            subject: "su-sam".into(),
            consent_id: "c-1".into(),
            scope: pb::ConsentScope::ShareWithCareTeam as i32,
            grantee: "cmht-north".into(),
            expires_at: None,
        })
        .await
        .unwrap();
    let theirs = client!(s, &cho, records_client::RecordsClient)
        .get_record(pb::GetRecordRequest {
            subject: "su-sam".into(),
            as_of_seq: None,
            as_of_time: None,
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let v = common::record_of(&theirs);
    assert!(v.goals.is_empty());
    let shown = format!("{v:?}");
    for words in ["allotment", "job centre", "café"] {
        assert!(!shown.contains(words), "{words} shown to the care team");
    }
}
