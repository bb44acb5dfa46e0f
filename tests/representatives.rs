//! Representatives and worker cover end to end over real gRPC on 127.0.0.1:0: a carer under the
//! person's consent reads the record (logged; the person sees who read and under which
//! authority), the person ends the authority and the next read is refused and logged; an
//! attorney under a lasting power of attorney recorded by an admin requests subject access and
//! the bundle verifies; an expired authority is refused; and cover: a transfer proposed, the new
//! worker cannot read until the person accepts, then can, and the old worker cannot.

mod common;

use tokio::sync::oneshot;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request};
use withus::grpc::{pb, ServeConfig};
use withus::store::StoreConfig;

struct Server {
    ch: Channel,
    admin: String,
    vkey: String,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), withus::grpc::ServeError>>,
    _dir: tempfile::TempDir,
}

fn call(id: &str) -> Option<pb::CallOptions> {
    Some(pb::CallOptions {
        command_id: id.into(),
        expected_version: None,
    })
}

fn req<T>(msg: T, token: &str) -> Request<T> {
    let mut r = Request::new(msg);
    let v: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    r.metadata_mut().insert("authorization", v);
    r
}

fn in_ms(ms: u64) -> Option<prost_types::Timestamp> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    Some(withus::grpc::convert::timestamp(
        withus::domain::types::Time(now + ms),
    ))
}

async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (ready_tx, ready_rx) = oneshot::channel();
    let (stop, stop_rx) = oneshot::channel::<()>();
    let config = ServeConfig::new(StoreConfig::new(dir.path()));
    let task = tokio::spawn(withus::grpc::run(listener, config, ready_tx, async move {
        let _ = stop_rx.await;
    }));
    let ready = ready_rx.await.unwrap();
    let ch = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    Server {
        ch,
        admin: ready.admin_token.unwrap(),
        vkey: ready.vkey,
        stop,
        task,
        _dir: dir,
    }
}

impl Server {
    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }

    async fn actor(&self, id: &str, role: pb::Role, team: &str) -> String {
        let mut a = pb::admin_client::AdminClient::new(self.ch.clone());
        a.register_actor(req(
            pb::RegisterActorRequest {
                call: call(&format!("reg-{id}")),
                id: id.into(),
                role: role as i32,
                team: team.into(),
                display_name: id.into(),
            },
            &self.admin,
        ))
        .await
        .unwrap();
        a.issue_token(req(
            pb::IssueTokenRequest {
                call: call(&format!("tok-{id}")),
                actor: id.into(),
                expires_at: None,
            },
            &self.admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .token
    }

    /// Sam, in an accepted relationship `sp-1` with Ana: (Sam's token, Ana's token).
    async fn sam_with_ana(&self) -> (String, String) {
        let sam = self.actor("su-sam", pb::Role::ServiceUser, "").await;
        let ana = self.actor("pw-ana", pb::Role::PeerWorker, "peer").await;
        let mut support = pb::support_client::SupportClient::new(self.ch.clone());
        support
            .refer(req(
                pb::ReferRequest {
                    call: call("ref"),
                    support_id: "sp-1".into(),
                    subject: "su-sam".into(),
                    worker: "pw-ana".into(),
                    source: pb::ReferralSource::Self_ as i32,
                },
                &sam,
            ))
            .await
            .unwrap();
        for (id, token, accept) in [("off", &ana, false), ("acc", &sam, true)] {
            let r = pb::SupportRequest {
                call: call(id),
                support_id: "sp-1".into(),
            };
            if accept {
                support.accept(req(r, token)).await.unwrap();
            } else {
                support.offer(req(r, token)).await.unwrap();
            }
        }
        (sam, ana)
    }

    fn authorities(&self) -> pb::authorities_client::AuthoritiesClient<Channel> {
        pb::authorities_client::AuthoritiesClient::new(self.ch.clone())
    }

    fn records(&self) -> pb::records_client::RecordsClient<Channel> {
        pb::records_client::RecordsClient::new(self.ch.clone())
    }

    async fn read(&self, token: &str) -> Result<pb::RecordResponse, tonic::Status> {
        self.records()
            .get_record(req(
                pb::GetRecordRequest {
                    subject: "su-sam".into(),
                    as_of_seq: None,
                    as_of_time: None,
                    page_size: 0,
                    page_token: String::new(),
                },
                token,
            ))
            .await
            .map(|r| r.into_inner())
    }

    async fn access_log(&self, token: &str) -> Vec<pb::AccessLine> {
        self.records()
            .get_access_log(req(
                pb::AccessLogRequest {
                    subject: "su-sam".into(),
                    page_size: 1000,
                    page_token: String::new(),
                },
                token,
            ))
            .await
            .unwrap()
            .into_inner()
            .lines
    }
}

#[allow(clippy::too_many_arguments)]
fn grant(
    id: &str,
    rep: &str,
    relation: &str,
    basis: &str,
    scope: &[&str],
    expires_at: Option<prost_types::Timestamp>,
    evidence: &str,
) -> pb::GrantAuthorityRequest {
    pb::GrantAuthorityRequest {
        call: call(&format!("grant-{id}")),
        authority_id: id.into(),
        subject: "su-sam".into(),
        representative: rep.into(),
        relation: common::wire::<pb::Relation>(relation),
        basis: common::wire::<pb::AuthorityBasis>(basis),
        scope: scope
            .iter()
            .map(|s| common::wire::<pb::AuthorityScope>(s))
            .collect(),
        expires_at,
        evidence: evidence.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carer_reads_under_the_persons_consent_logged_until_the_person_ends_it() {
    let s = start().await;
    let (sam, _ana) = s.sam_with_ana().await;
    let kim = s.actor("rp-kim", pb::Role::Representative, "").await;

    // No authority yet: refused, and the refusal logged.
    let e = s.read(&kim).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);

    s.authorities()
        .grant(req(
            grant(
                "au-1",
                "rp-kim",
                "carer",
                "consent",
                &["read_record"],
                None,
                "",
            ),
            &sam,
        ))
        .await
        .unwrap();
    let read = s.read(&kim).await.unwrap();
    assert_eq!(read.basis, "authority:au-1");
    assert!(
        !read.receipts.as_ref().unwrap().receipts.is_empty(),
        "logged"
    );
    let record = common::record_of(&read);
    assert_eq!(record.supports[0].support_id, "sp-1");
    assert_eq!(record.authorities[0].authority_id, "au-1");

    // The person sees who read, under which authority, and the authority itself.
    let log = s.access_log(&sam).await;
    let reads: Vec<(String, String, String)> = log
        .iter()
        .map(|l| {
            (
                common::event_of(l).to_string(),
                l.reader.clone(),
                common::why(l),
            )
        })
        .collect();
    let reads: Vec<(&str, &str, &str)> = reads
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    assert_eq!(
        reads,
        [
            ("access.denied", "rp-kim", "no_basis"),
            ("record.accessed", "rp-kim", "authority:au-1")
        ]
    );
    let own = s.read(&sam).await.unwrap().record.expect("a record");
    let a = &own.authorities[0];
    assert_eq!(a.representative, "rp-kim");
    assert_eq!(a.basis, pb::AuthorityBasis::Consent as i32);
    assert_eq!(a.granted_by, "su-sam");
    assert_eq!(a.scope, vec![pb::AuthorityScope::ReadRecord as i32]);
    assert!(a.ended_at.is_none());

    // The representative may not see who else looked.
    let e = s
        .records()
        .get_access_log(req(
            pb::AccessLogRequest {
                subject: "su-sam".into(),
                page_size: 10,
                page_token: String::new(),
            },
            &kim,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);

    // The person ends it; the next read is refused and logged.
    s.authorities()
        .end(req(
            pb::EndAuthorityRequest {
                call: call("end-au-1"),
                authority_id: "au-1".into(),
                reason: pb::AuthorityEndReason::PersonWithdrew as i32,
            },
            &sam,
        ))
        .await
        .unwrap();
    let e = s.read(&kim).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let log = s.access_log(&sam).await;
    let last = log.last().unwrap();
    assert_eq!(
        (common::event_of(last), last.reader.as_str()),
        ("access.denied", "rp-kim")
    );
    let own = s.read(&sam).await.unwrap().record.expect("a record");
    assert_eq!(own.authorities[0].ended_by, "su-sam");
    assert_eq!(
        own.authorities[0].end_reason,
        pb::AuthorityEndReason::PersonWithdrew as i32
    );
    // The subject access page says who may act for the person, who looked under the authority,
    // and that it ended.
    let (bundle, _) = common::collect_bundle(
        s.records()
            .get_my_bundle(req(pb::GetMyBundleRequest {}, &sam))
            .await
            .unwrap(),
    )
    .await;
    let parsed = withus::sar::bundle::Bundle::parse(&bundle).unwrap();
    let html = withus::sar::html::record_sections(&parsed);
    for words in [
        "Who may act for you",
        "may act for you as your carer",
        "because you agreed to it",
        "you took your agreement back",
        "acting for you as your carer",
    ] {
        assert!(html.contains(words), "{words:?} not in {html}");
    }

    // Nothing about someone else: the same refusal for a person who does not exist.
    let e = s
        .records()
        .get_record(req(
            pb::GetRecordRequest {
                subject: "su-nobody".into(),
                as_of_seq: None,
                as_of_time: None,
                page_size: 0,
                page_token: String::new(),
            },
            &kim,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attorney_under_an_lpa_requests_subject_access_and_the_bundle_verifies() {
    let s = start().await;
    let (sam, _ana) = s.sam_with_ana().await;
    let lou = s.actor("rp-lou", pb::Role::Representative, "").await;
    let auditor = s.actor("au-dpo", pb::Role::Auditor, "").await;
    // Only an admin records a lasting power of attorney, and says which document was seen.
    let lpa = |evidence: &str| {
        grant(
            "au-2",
            "rp-lou",
            "attorney",
            "lasting_power_of_attorney",
            &["subject_access"],
            None,
            evidence,
        )
    };
    let e = s
        .authorities()
        .grant(req(lpa("LPA seen"), &sam))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let e = s
        .authorities()
        .grant(req(lpa(""), &s.admin))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    s.authorities()
        .grant(req(
            lpa("Health and welfare LPA, registered 3 March 2025, seen by the admin"),
            &s.admin,
        ))
        .await
        .unwrap();

    let mut sar = pb::subject_access_client::SubjectAccessClient::new(s.ch.clone());
    let mut as_lou = pb::subject_access_client::SubjectAccessClient::new(s.ch.clone());
    as_lou
        .request(req(
            pb::SarRequest {
                call: call("sar"),
                sar_id: "sar-1".into(),
                subject: "su-sam".into(),
                via: pb::SarVia::Letter as i32,
            },
            &lou,
        ))
        .await
        .unwrap();
    // subject_access only: no reading the record.
    assert_eq!(
        s.read(&lou).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    sar.fulfil(req(
        pb::FulfilSarRequest {
            call: call("ful"),
            sar_id: "sar-1".into(),
        },
        &auditor,
    ))
    .await
    .unwrap();
    let status = as_lou
        .status(req(
            pb::SarStatusRequest {
                sar_id: "sar-1".into(),
            },
            &lou,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.subject, "su-sam");
    let (bundle, recorded) = common::collect_bundle(
        as_lou
            .get_bundle(req(
                pb::SarStatusRequest {
                    sar_id: "sar-1".into(),
                },
                &lou,
            ))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(recorded, status.bundle_hash);
    withus::sar::verify::verify(&bundle, &s.vkey).unwrap_or_else(|f| panic!("{f}"));
    // The person sees that the bundle was read, by whom, under which authority.
    let log = s.access_log(&sam).await;
    let read: Vec<_> = log
        .iter()
        .filter(|l| common::event_of(l) == "record.accessed")
        .map(|l| (l.reader.as_str(), l.basis.as_str(), l.streams.clone()))
        .collect();
    assert_eq!(read.len(), 2, "status and bundle: {read:?}");
    assert!(read
        .iter()
        .all(|(r, b, st)| *r == "rp-lou" && *b == "authority:au-2" && st == &["sar:sar-1"]));
    // The bundle's page tells the person who may act for them.
    let parsed = withus::sar::bundle::Bundle::parse(&bundle).unwrap();
    let html = withus::sar::html::record_sections(&parsed);
    assert!(html.contains("Who may act for you"), "{html}");
    assert!(html.contains("lasting power of attorney"), "{html}");
    // No flag: every read had a valid basis.
    let flags = pb::audit_client::AuditClient::new(s.ch.clone())
        .compliance_flags(req(pb::ComplianceFlagsRequest {}, &auditor))
        .await
        .unwrap()
        .into_inner();
    assert!(
        !format!("{flags:?}").contains("read_without_valid_basis"),
        "{flags:?}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_authority_is_refused() {
    let s = start().await;
    let (sam, _ana) = s.sam_with_ana().await;
    let kim = s.actor("rp-kim", pb::Role::Representative, "").await;
    s.authorities()
        .grant(req(
            grant(
                "au-1",
                "rp-kim",
                "carer",
                "consent",
                &["read_record", "subject_access"],
                in_ms(1_500),
                "",
            ),
            &sam,
        ))
        .await
        .unwrap();
    assert_eq!(s.read(&kim).await.unwrap().basis, "authority:au-1");
    tokio::time::sleep(std::time::Duration::from_millis(1_700)).await;
    assert_eq!(
        s.read(&kim).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let e = pb::subject_access_client::SubjectAccessClient::new(s.ch.clone())
        .request(req(
            pb::SarRequest {
                call: call("sar"),
                sar_id: "sar-1".into(),
                subject: "su-sam".into(),
                via: pb::SarVia::App as i32,
            },
            &kim,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let last = s.access_log(&sam).await.pop().unwrap();
    assert_eq!(
        (common::event_of(&last), last.reader.as_str()),
        ("access.denied", "rp-kim")
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cover_moves_to_the_new_worker_only_when_the_person_accepts() {
    let s = start().await;
    let (sam, ana) = s.sam_with_ana().await;
    let ben = s.actor("pw-ben", pb::Role::PeerWorker, "peer").await;
    let mut support = pb::support_client::SupportClient::new(s.ch.clone());
    support
        .propose_transfer(req(
            pb::ProposeTransferRequest {
                call: call("tr"),
                support_id: "sp-1".into(),
                to_worker: "pw-ben".into(),
            },
            &ana,
        ))
        .await
        .unwrap();
    // Proposed only: Ben cannot read, nor answer for Sam; Ana still reads.
    assert_eq!(
        s.read(&ben).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let e = support
        .respond_transfer(req(
            pb::RespondTransferRequest {
                call: call("ans-ben"),
                support_id: "sp-1".into(),
                accept: true,
            },
            &ben,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert_eq!(s.read(&ana).await.unwrap().basis, "support:sp-1");
    let own = s.read(&sam).await.unwrap().record.expect("a record");
    assert_eq!(own.supports[0].transfer_to, "pw-ben");

    support
        .respond_transfer(req(
            pb::RespondTransferRequest {
                call: call("ans"),
                support_id: "sp-1".into(),
                accept: true,
            },
            &sam,
        ))
        .await
        .unwrap();
    assert_eq!(s.read(&ben).await.unwrap().basis, "support:sp-1");
    assert_eq!(
        s.read(&ana).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let own = s.read(&sam).await.unwrap().record.expect("a record");
    assert_eq!(own.supports[0].worker, "pw-ben");
    assert_eq!(own.supports[0].previous_workers[0].worker, "pw-ana");
    s.stop().await;
}
