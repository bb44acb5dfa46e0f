//! What a caller can get over gRPC that their role or basis does not allow — each test a hole
//! that was open (issue 11) and the answer that closes it, end to end over loopback: command
//! ids per caller, time travel under present withholdings, a worker after the relationship
//! ends, refused bundle requests logged, the text-free bundle hash, one answer whether a person
//! exists or not, refusals that name nothing the caller did not send, and refused reads limited.

mod common;

use tokio::sync::oneshot;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use withus::grpc::{pb, Ready, ServeConfig};
use withus::store::StoreConfig;

struct Server {
    ch: Channel,
    ready: Ready,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), withus::grpc::ServeError>>,
}

async fn serve(dir: &std::path::Path) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (ready_tx, ready_rx) = oneshot::channel();
    let (stop, stop_rx) = oneshot::channel::<()>();
    let config = ServeConfig::new(StoreConfig::new(dir));
    let task = tokio::spawn(withus::grpc::run(listener, config, ready_tx, async move {
        let _ = stop_rx.await;
    }));
    let ready = ready_rx.await.expect("server ready");
    let ch = Channel::from_shared(format!("http://{}", ready.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    Server {
        ch,
        ready,
        stop,
        task,
    }
}

impl Server {
    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().expect("clean shutdown");
    }
}

fn req<T>(msg: T, token: &str) -> Request<T> {
    let mut r = Request::new(msg);
    let v: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    r.metadata_mut().insert("authorization", v);
    r
}

fn call(id: &str) -> Option<pb::CallOptions> {
    Some(pb::CallOptions {
        command_id: id.into(),
        expected_version: None,
    })
}

fn seg(id: &str, text: &str) -> pb::TextSegment {
    pb::TextSegment {
        id: id.into(),
        text: text.into(),
    }
}

fn now_plus_days(days: u64) -> Option<prost_types::Timestamp> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    Some(withus::grpc::convert::timestamp(
        withus::domain::types::Time(now + days * 86_400_000),
    ))
}

fn now() -> Option<prost_types::Timestamp> {
    now_plus_days(0)
}

/// The cast: su-sam supported by pw-amara (accepted), a note n-1 of meeting m-1, su-ola another
/// person, pw-ben a worker with nobody, ct-cho a clinician, sg-lee a safeguarding lead, au-ida
/// the DPO.
struct Cast {
    s: Server,
    tokens: std::collections::HashMap<&'static str, String>,
}

impl Cast {
    fn t(&self, who: &str) -> String {
        self.tokens[who].clone()
    }

    fn support(&self) -> pb::support_client::SupportClient<Channel> {
        pb::support_client::SupportClient::new(self.s.ch.clone())
    }
    fn notes(&self) -> pb::notes_client::NotesClient<Channel> {
        pb::notes_client::NotesClient::new(self.s.ch.clone())
    }
    fn consent(&self) -> pb::consent_client::ConsentClient<Channel> {
        pb::consent_client::ConsentClient::new(self.s.ch.clone())
    }
    fn records(&self) -> pb::records_client::RecordsClient<Channel> {
        pb::records_client::RecordsClient::new(self.s.ch.clone())
    }
    fn sar(&self) -> pb::subject_access_client::SubjectAccessClient<Channel> {
        pb::subject_access_client::SubjectAccessClient::new(self.s.ch.clone())
    }
    fn safeguarding(&self) -> pb::safeguarding_client::SafeguardingClient<Channel> {
        pb::safeguarding_client::SafeguardingClient::new(self.s.ch.clone())
    }
    fn audit(&self) -> pb::audit_client::AuditClient<Channel> {
        pb::audit_client::AuditClient::new(self.s.ch.clone())
    }

    async fn size(&self) -> u64 {
        self.audit()
            .get_checkpoint(req(pb::GetCheckpointRequest {}, &self.t("au-ida")))
            .await
            .unwrap()
            .into_inner()
            .tree_size
    }

    async fn entries(&self, from: u64) -> Vec<pb::Entry> {
        self.audit()
            .list_entries(req(
                pb::ListEntriesRequest {
                    from_seq: from,
                    page_size: 1000,
                    page_token: String::new(),
                },
                &self.t("au-ida"),
            ))
            .await
            .unwrap()
            .into_inner()
            .entries
    }

    async fn record(&self, who: &str, subject: &str, as_of_seq: Option<u64>) -> pb::Record {
        self.records()
            .get_record(req(
                pb::GetRecordRequest {
                    subject: subject.into(),
                    as_of_seq,
                    as_of_time: None,
                    page_size: 0,
                    page_token: String::new(),
                },
                &self.t(who),
            ))
            .await
            .unwrap()
            .into_inner()
            .record
            .expect("a record")
    }

    async fn grant(
        &self,
        who: &str,
        id: &str,
        consent_id: &str,
        subject: &str,
    ) -> Result<pb::Receipts, Status> {
        self.consent()
            .grant(req(
                pb::GrantConsentRequest {
                    call: call(id),
                    subject: subject.into(),
                    consent_id: consent_id.into(),
                    scope: pb::ConsentScope::DiscussInSupervision as i32,
                    ..Default::default()
                },
                &self.t(who),
            ))
            .await
            .map(|r| r.into_inner())
    }
}

async fn cast(dir: &std::path::Path) -> Cast {
    let s = serve(dir).await;
    let admin = s.ready.admin_token.clone().expect("admin token");
    let mut a = pb::admin_client::AdminClient::new(s.ch.clone());
    let mut tokens = std::collections::HashMap::new();
    for (id, role, team) in [
        ("su-sam", pb::Role::ServiceUser, ""),
        ("su-ola", pb::Role::ServiceUser, ""),
        ("pw-amara", pb::Role::PeerWorker, "peer"),
        ("pw-ben", pb::Role::PeerWorker, "peer"),
        ("ct-cho", pb::Role::CareTeam, "cmht"),
        ("sg-lee", pb::Role::SafeguardingLead, ""),
        ("au-ida", pb::Role::Auditor, ""),
    ] {
        a.register_actor(req(
            pb::RegisterActorRequest {
                call: call(&format!("reg-{id}")),
                id: id.into(),
                role: role as i32,
                team: team.into(),
                display_name: format!("Name of {id}"),
            },
            &admin,
        ))
        .await
        .unwrap();
        let token = a
            .issue_token(req(
                pb::IssueTokenRequest {
                    call: call(&format!("tok-{id}")),
                    actor: id.into(),
                    expires_at: None,
                },
                &admin,
            ))
            .await
            .unwrap()
            .into_inner()
            .token;
        tokens.insert(id, token);
    }
    let c = Cast { s, tokens };
    let mut support = c.support();
    support
        .refer(req(
            pb::ReferRequest {
                call: call("ref"),
                support_id: "sp-1".into(),
                subject: "su-sam".into(),
                worker: "pw-amara".into(),
                source: pb::ReferralSource::Self_ as i32,
            },
            &c.t("su-sam"),
        ))
        .await
        .unwrap();
    support
        .offer(req(
            pb::SupportRequest {
                call: call("off"),
                support_id: "sp-1".into(),
            },
            &c.t("pw-amara"),
        ))
        .await
        .unwrap();
    support
        .accept(req(
            pb::SupportRequest {
                call: call("acc"),
                support_id: "sp-1".into(),
            },
            &c.t("su-sam"),
        ))
        .await
        .unwrap();
    pb::meetings_client::MeetingsClient::new(c.s.ch.clone())
        .record(req(
            pb::RecordMeetingRequest {
                call: call("meet"),
                meeting_id: "m-1".into(),
                support_id: "sp-1".into(),
                kind: pb::MeetingKind::OneToOne as i32,
                group_id: String::new(),
                goals: vec![],
                activities: vec![],
                mode: pb::MeetingMode::InPerson as i32,
                place: pb::Place::Community as i32,
                place_detail: String::new(),
                occurred_at: now(),
                minutes: 30,
            },
            &c.t("pw-amara"),
        ))
        .await
        .unwrap();
    c.notes()
        .draft(req(
            pb::DraftNoteRequest {
                call: call("draft"),
                note_id: "n-1".into(),
                meeting_id: "m-1".into(),
                segments: vec![
                    seg("s1", "We talked about the allotment."),
                    seg("s2", "Sam mentioned the night of the fire."),
                ],
            },
            &c.t("pw-amara"),
        ))
        .await
        .unwrap();
    c
}

fn receipt_seqs(r: &pb::Receipts) -> Vec<u64> {
    r.receipts.iter().map(|r| r.seq).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_ids_are_per_caller_checked_for_permission_first_and_bound_to_one_request() {
    let dir = tempfile::tempdir().unwrap();
    let c = cast(dir.path()).await;
    let first = c.grant("su-sam", "x1", "c-1", "su-sam").await.unwrap();

    // A clinician may not grant the person's consent: a used command id does not change that.
    let e = c.grant("ct-cho", "x1", "c-1", "su-sam").await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e}");

    // A worker's concern under a command id someone else used is recorded, not swallowed.
    let size = c.size().await;
    let raised = c
        .safeguarding()
        .raise(req(
            pb::RaiseConcernRequest {
                call: call("x1"),
                concern_id: "cn-1".into(),
                subject: "su-sam".into(),
                category: pb::ConcernCategory::SelfNeglect as i32,
                urgency: pb::Urgency::Routine as i32,
                summary: vec![seg("s1", "Sam has not been eating.")],
            },
            &c.t("pw-amara"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(receipt_seqs(&raised), receipt_seqs(&first));
    assert_eq!(c.size().await, size + 1, "the concern is in the log");

    // The same caller's retry of the same request: the first call's receipts, nothing appended.
    let size = c.size().await;
    let again = c.grant("su-sam", "x1", "c-1", "su-sam").await.unwrap();
    assert_eq!(receipt_seqs(&again), receipt_seqs(&first));
    // The same caller, the same id, another request: refused, naming the id.
    let e = c.grant("su-sam", "x1", "c-2", "su-sam").await.unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists, "{e}");
    assert!(e.message().contains("x1"), "{}", e.message());
    assert_eq!(c.size().await, size);

    // SubjectAccess.Fulfil answers a used command id only to an auditor.
    c.sar()
        .request(req(
            pb::SarRequest {
                call: call("q1"),
                sar_id: "sar-1".into(),
                subject: "su-sam".into(),
                via: pb::SarVia::InPerson as i32,
            },
            &c.t("su-sam"),
        ))
        .await
        .unwrap();
    let fulfil = |who: &str| {
        req(
            pb::FulfilSarRequest {
                call: call("f1"),
                sar_id: "sar-1".into(),
            },
            &c.t(who),
        )
    };
    let done = c.sar().fulfil(fulfil("au-ida")).await.unwrap().into_inner();
    for who in ["pw-amara", "su-sam", "ct-cho"] {
        let e = c.sar().fulfil(fulfil(who)).await.unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied, "{who}: {e}");
        assert!(!e.message().contains(&done.bundle_hash), "{who}");
    }

    // Across a restart: the retry still gets the original receipts, a different request still
    // does not.
    let Cast { s, tokens, .. } = c;
    s.stop().await;
    let s = serve(dir.path()).await;
    let mut consent = pb::consent_client::ConsentClient::new(s.ch.clone());
    let grant = |consent_id: &str| {
        req(
            pb::GrantConsentRequest {
                call: call("x1"),
                subject: "su-sam".into(),
                consent_id: consent_id.into(),
                scope: pb::ConsentScope::DiscussInSupervision as i32,
                ..Default::default()
            },
            &tokens["su-sam"],
        )
    };
    let again = consent.grant(grant("c-1")).await.unwrap().into_inner();
    assert_eq!(receipt_seqs(&again), receipt_seqs(&first));
    let e = consent.grant(grant("c-3")).await.unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists, "{e}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_travel_and_bundles_hide_what_is_withheld_at_the_moment_of_the_read() {
    let dir = tempfile::tempdir().unwrap();
    let c = cast(dir.path()).await;
    c.sar()
        .request(req(
            pb::SarRequest {
                call: call("q1"),
                sar_id: "sar-1".into(),
                subject: "su-sam".into(),
                via: pb::SarVia::InPerson as i32,
            },
            &c.t("su-sam"),
        ))
        .await
        .unwrap();
    c.sar()
        .fulfil(req(
            pb::FulfilSarRequest {
                call: call("f1"),
                sar_id: "sar-1".into(),
            },
            &c.t("au-ida"),
        ))
        .await
        .unwrap();
    let before = c.size().await;
    assert!(
        common::words_shown(&c.record("su-sam", "su-sam", None).await)
            .contains("night of the fire")
    );
    c.safeguarding()
        .withhold(req(
            pb::WithholdRequest {
                call: call("w1"),
                subject: "su-sam".into(),
                target_stream: "note:n-1".into(),
                exemption: pb::Exemption::SeriousHarm as i32,
                justification: "Disclosure now would put Sam at risk.".into(),
                review_by: now_plus_days(30),
            },
            &c.t("sg-lee"),
        ))
        .await
        .unwrap();
    // As of before the withholding, the note is still withheld: it is withheld now.
    let past = c.record("su-sam", "su-sam", Some(before)).await;
    assert!(
        !format!("{past:?}").contains("night of the fire"),
        "{past:?}"
    );
    assert!(past.notes.iter().all(|n| n.note_id != "n-1"), "{past:?}");
    assert_eq!(past.withheld_count, 1, "{past:?}");
    // The bundle of a request fulfilled before the withholding: the same.
    let (bundle, _) = common::collect_bundle(
        c.sar()
            .get_bundle(req(
                pb::SarStatusRequest {
                    sar_id: "sar-1".into(),
                },
                &c.t("su-sam"),
            ))
            .await
            .unwrap(),
    )
    .await;
    let bundle = String::from_utf8(bundle).unwrap();
    assert!(!bundle.contains("night of the fire"), "{bundle}");
    assert!(!bundle.contains("allotment"), "{bundle}");
    c.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_relationship_ended_no_longer_acts_on_its_notes_but_the_person_does() {
    let dir = tempfile::tempdir().unwrap();
    let c = cast(dir.path()).await;
    c.support()
        .end(req(
            pb::EndSupportRequest {
                call: call("end"),
                support_id: "sp-1".into(),
                reason: pb::EndReason::PersonChose as i32,
            },
            &c.t("su-sam"),
        ))
        .await
        .unwrap();
    let revise = |who: &str, id: &str| {
        req(
            pb::NoteTextRequest {
                call: call(id),
                note_id: "n-1".into(),
                segments: vec![seg("s1", "We talked about the allotment and the bus.")],
            },
            &c.t(who),
        )
    };
    let size = c.size().await;
    let e = c
        .notes()
        .revise(revise("pw-amara", "rv1"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e}");
    let e = c
        .notes()
        .close(req(
            pb::CloseNoteRequest {
                call: call("cl1"),
                note_id: "n-1".into(),
                reason: pb::CloseReason::PersonUnavailable as i32,
            },
            &c.t("pw-amara"),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e}");
    let e = c
        .notes()
        .agree(req(
            pb::AgreeNoteRequest {
                call: call("ag1"),
                note_id: "n-1".into(),
                revision: 1,
            },
            &c.t("pw-amara"),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e}");
    let e = c
        .notes()
        .propose_redaction(req(
            pb::ProposeRedactionRequest {
                call: call("pr1"),
                note_id: "n-1".into(),
                proposal_id: "r-w".into(),
                segments: vec!["s1".into()],
                reason: pb::RedactionReason::Inaccurate as i32,
            },
            &c.t("pw-amara"),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e}");
    assert_eq!(c.size().await, size, "refusals append nothing");

    // The person still revises, and still has something removed: the author may agree to a
    // removal the person asks for even now.
    c.notes().revise(revise("su-sam", "rv2")).await.unwrap();
    c.notes()
        .propose_redaction(req(
            pb::ProposeRedactionRequest {
                call: call("pr2"),
                note_id: "n-1".into(),
                proposal_id: "r-1".into(),
                segments: vec!["s1".into()],
                reason: pb::RedactionReason::NotWanted as i32,
            },
            &c.t("su-sam"),
        ))
        .await
        .unwrap();
    c.notes()
        .agree_redaction(req(
            pb::ProposalRequest {
                call: call("ar"),
                note_id: "n-1".into(),
                proposal_id: "r-1".into(),
            },
            &c.t("pw-amara"),
        ))
        .await
        .unwrap();
    c.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_for_a_bundle_or_its_status_are_logged_and_the_hash_holds_no_text() {
    let dir = tempfile::tempdir().unwrap();
    let c = cast(dir.path()).await;
    c.sar()
        .request(req(
            pb::SarRequest {
                call: call("q1"),
                sar_id: "sar-1".into(),
                subject: "su-sam".into(),
                via: pb::SarVia::InPerson as i32,
            },
            &c.t("su-sam"),
        ))
        .await
        .unwrap();
    let fulfilled = c
        .sar()
        .fulfil(req(
            pb::FulfilSarRequest {
                call: call("f1"),
                sar_id: "sar-1".into(),
            },
            &c.t("au-ida"),
        ))
        .await
        .unwrap()
        .into_inner();
    for (who, status) in [
        ("pw-ben", false),
        ("au-ida", false),
        ("ct-cho", false),
        ("su-ola", false),
        ("pw-ben", true),
        ("su-ola", true),
    ] {
        let size = c.size().await;
        let r = req(
            pb::SarStatusRequest {
                sar_id: "sar-1".into(),
            },
            &c.t(who),
        );
        let e = if status {
            c.sar().status(r).await.unwrap_err()
        } else {
            c.sar().get_bundle(r).await.unwrap_err()
        };
        assert_eq!(e.code(), Code::PermissionDenied, "{who}: {e}");
        let logged = c.entries(size).await;
        assert_eq!(logged.len(), 1, "{who}: one entry logs the refusal");
        assert_eq!(logged[0].r#type, "access.denied");
        assert_eq!(logged[0].stream, "access:su-sam");
        assert_eq!(logged[0].actor_id, who);
    }

    // sar-bundle.md §7.8: over the seqs and leaves of su-sam's entries before N, nothing else.
    let sar = c
        .sar()
        .status(req(
            pb::SarStatusRequest {
                sar_id: "sar-1".into(),
            },
            &c.t("su-sam"),
        ))
        .await
        .unwrap()
        .into_inner();
    let n = fulfilled.receipts.unwrap().receipts[0].seq;
    let items: Vec<(u64, [u8; 32])> = c
        .entries(0)
        .await
        .into_iter()
        .filter(|e| e.seq < n && e.subject == "su-sam")
        .map(|e| (e.seq, withus::format::parse_hex(&e.leaf_hash).unwrap()))
        .collect();
    let want = withus::sar::bundle_hash("su-sam", n, items);
    assert_eq!(fulfilled.bundle_hash, withus::format::to_hex(&want));
    assert_eq!(sar.bundle_hash, fulfilled.bundle_hash);
    c.s.stop().await;
}

/// A call's answer, with the person's id taken out, to compare answers about two people.
fn answer<T: std::fmt::Debug>(r: Result<T, Status>, person: &str) -> String {
    match r {
        Ok(v) => format!("OK {v:?}").replace(person, "P"),
        Err(e) => format!("{:?} {}", e.code(), e.message()).replace(person, "P"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_without_a_basis_gets_one_answer_whether_the_person_exists_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let c = cast(dir.path()).await;
    for who in ["pw-ben", "ct-cho", "su-ola", "au-ida", "sg-lee"] {
        let mut answers = Vec::new();
        for person in ["su-sam", "su-nobody"] {
            let size = c.size().await;
            let read = c
                .records()
                .get_record(req(
                    pb::GetRecordRequest {
                        subject: person.into(),
                        ..Default::default()
                    },
                    &c.t(who),
                ))
                .await;
            let logged = c.size().await - size;
            let log = c
                .records()
                .get_access_log(req(
                    pb::AccessLogRequest {
                        subject: person.into(),
                        ..Default::default()
                    },
                    &c.t(who),
                ))
                .await;
            let grant = c
                .grant(who, &format!("g-{who}-{person}"), "c-9", person)
                .await;
            let sar = c
                .sar()
                .request(req(
                    pb::SarRequest {
                        call: Some(pb::CallOptions {
                            command_id: format!("s-{who}-{person}"),
                            expected_version: None,
                        }),
                        sar_id: format!("sar-{who}-{person}"),
                        subject: person.into(),
                        via: pb::SarVia::InPerson as i32,
                    },
                    &c.t(who),
                ))
                .await;
            let refer = c
                .support()
                .refer(req(
                    pb::ReferRequest {
                        call: Some(pb::CallOptions {
                            command_id: format!("r-{who}-{person}"),
                            expected_version: None,
                        }),
                        support_id: format!("sp-{who}-{person}"),
                        subject: person.into(),
                        worker: "pw-amara".into(),
                        source: pb::ReferralSource::Self_ as i32,
                    },
                    &c.t(who),
                ))
                .await;
            let concern = c
                .safeguarding()
                .raise(req(
                    pb::RaiseConcernRequest {
                        call: Some(pb::CallOptions {
                            command_id: format!("c-{who}-{person}"),
                            expected_version: None,
                        }),
                        concern_id: format!("cn-{who}-{person}"),
                        subject: person.into(),
                        category: pb::ConcernCategory::Other as i32,
                        urgency: pb::Urgency::Routine as i32,
                        summary: vec![seg("s1", "A worry.")],
                    },
                    &c.t(who),
                ))
                .await;
            let mut this = vec![
                format!("logged {logged}"),
                answer(read.map(|_| ()), person),
                answer(grant.map(|_| ()), person),
                answer(sar.map(|_| ()), person),
            ];
            // Staff refer people and a safeguarding lead raises concerns about anyone: their
            // role is their basis. Everyone else must not be able to tell.
            if !["pw-ben", "ct-cho"].contains(&who) {
                this.push(answer(refer.map(|_| ()), person));
            }
            if who != "sg-lee" {
                this.push(answer(concern.map(|_| ()), person));
            }
            if who != "au-ida" {
                this.push(answer(log.map(|_| ()), person));
            }
            answers.push(this);
        }
        assert_eq!(answers[0], answers[1], "{who}");
    }
    c.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_name_nothing_the_caller_did_not_send() {
    let dir = tempfile::tempdir().unwrap();
    let c = cast(dir.path()).await;
    let e = c
        .support()
        .refer(req(
            pb::ReferRequest {
                call: call("r-ola"),
                support_id: "sp-9".into(),
                subject: "su-sam".into(),
                worker: "pw-amara".into(),
                source: pb::ReferralSource::Self_ as i32,
            },
            &c.t("su-ola"),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e}");
    assert!(!e.message().contains("sp-1"), "{}", e.message());
    assert!(!e.message().contains("open"), "{}", e.message());
    for who in ["su-ola", "pw-ben", "ct-cho"] {
        let e = c
            .notes()
            .revise(req(
                pb::NoteTextRequest {
                    call: call(&format!("rv-{who}")),
                    note_id: "n-1".into(),
                    segments: vec![seg("s1", "Something else.")],
                },
                &c.t(who),
            ))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied, "{who}: {e}");
        for named in ["su-sam", "pw-amara", "m-1", "sp-1"] {
            assert!(!e.message().contains(named), "{who}: {}", e.message());
        }
        let e = c
            .support()
            .offer(req(
                pb::SupportRequest {
                    call: call(&format!("of-{who}")),
                    support_id: "sp-1".into(),
                },
                &c.t(who),
            ))
            .await
            .unwrap_err();
        for named in ["su-sam", "pw-amara"] {
            assert!(!e.message().contains(named), "{who}: {}", e.message());
        }
    }
    c.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_reads_are_rate_limited_and_the_access_log_is_paged() {
    let dir = tempfile::tempdir().unwrap();
    let c = cast(dir.path()).await;
    let size = c.size().await;
    let started = std::time::Instant::now();
    let (mut denied, mut limited) = (0u64, 0u64);
    for _ in 0..80 {
        let r = c
            .records()
            .get_record(req(
                pb::GetRecordRequest {
                    subject: "su-sam".into(),
                    ..Default::default()
                },
                &c.t("pw-ben"),
            ))
            .await
            .unwrap_err();
        match r.code() {
            Code::PermissionDenied => denied += 1,
            Code::ResourceExhausted => {
                assert!(r.message().contains("retry after"), "{}", r.message());
                limited += 1
            }
            other => panic!("{other:?}: {}", r.message()),
        }
    }
    let secs = started.elapsed().as_secs() + 1;
    assert!(limited > 0, "80 refusals in {secs} s are limited");
    let logged = c.size().await - size;
    assert!(
        logged <= 30 + secs + 1,
        "{logged} entries for 80 refused reads in {secs} s"
    );
    assert_eq!(
        logged,
        denied + 1,
        "each logged refusal, and one rate_limited entry"
    );

    // The access log, a page at a time: every line once, in order.
    let mut lines = Vec::new();
    let mut token = String::new();
    loop {
        let page = c
            .records()
            .get_access_log(req(
                pb::AccessLogRequest {
                    subject: "su-sam".into(),
                    page_size: 7,
                    page_token: token.clone(),
                },
                &c.t("su-sam"),
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(page.lines.len() <= 7);
        lines.extend(page.lines.iter().map(|l| (l.seq, common::why(l))));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(lines.len() as u64, logged);
    assert!(lines.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(
        lines.iter().filter(|l| l.1 == "rate_limited").count(),
        1,
        "{lines:?}"
    );
    c.s.stop().await;
}

/// A record read a page at a time (AIP-158): each page is a read of its own, logged for the
/// items it shows and no others; later pages are read as of the first page's tree size, so a
/// change in between does not shift them; a token cannot be combined with a time-travel
/// position, and a made-up token is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_read_in_pages_logs_each_page_for_what_it_shows() {
    let dir = tempfile::tempdir().unwrap();
    let c = cast(dir.path()).await;
    let page = |token: String| pb::GetRecordRequest {
        subject: "su-sam".into(),
        page_size: 1,
        page_token: token,
        ..Default::default()
    };
    let first = c
        .records()
        .get_record(req(page(String::new()), &c.t("pw-amara")))
        .await
        .unwrap()
        .into_inner();
    let first_record = first.record.clone().expect("a record");
    assert_eq!(first_record.supports.len(), 1, "{first_record:?}");
    assert!(first_record.meetings.is_empty() && first_record.notes.is_empty());
    assert!(!first.next_page_token.is_empty());

    // Meanwhile Amara drafts another note; the pages still fit together as of the first.
    c.notes()
        .draft(req(
            pb::DraftNoteRequest {
                call: call("n-late"),
                note_id: "n-late".into(),
                meeting_id: "m-1".into(),
                segments: vec![pb::TextSegment {
                    id: "s1".into(),
                    text: "Written after the first page was read.".into(),
                }],
            },
            &c.t("pw-amara"),
        ))
        .await
        .unwrap();

    let mut token = first.next_page_token.clone();
    let mut items = vec![format!("support:{}", first_record.supports[0].support_id)];
    let mut pages = 1;
    while !token.is_empty() {
        let next = c
            .records()
            .get_record(req(page(token.clone()), &c.t("pw-amara")))
            .await
            .unwrap()
            .into_inner();
        let record = next.record.expect("a record");
        assert_eq!(
            record.as_of_seq, first_record.as_of_seq,
            "read as of the first page"
        );
        let shown: Vec<String> = record
            .meetings
            .iter()
            .map(|m| format!("meeting:{}", m.meeting_id))
            .chain(record.notes.iter().map(|n| format!("note:{}", n.note_id)))
            .chain(
                record
                    .supports
                    .iter()
                    .map(|s| format!("support:{}", s.support_id)),
            )
            .collect();
        assert_eq!(shown.len(), 1, "{record:?}");
        items.extend(shown);
        token = next.next_page_token;
        pages += 1;
        assert!(pages < 20, "pagination does not end");
    }
    assert_eq!(items, ["support:sp-1", "meeting:m-1", "note:n-1"]);

    // Sam sees one logged read per page, each naming only what that page showed.
    let log = c
        .records()
        .get_access_log(req(
            pb::AccessLogRequest {
                subject: "su-sam".into(),
                ..Default::default()
            },
            &c.t("su-sam"),
        ))
        .await
        .unwrap()
        .into_inner()
        .lines;
    let reads: Vec<Vec<String>> = log
        .iter()
        .filter(|l| l.reader == "pw-amara" && l.kind == pb::AccessKind::Read as i32)
        .map(|l| l.streams.clone())
        .collect();
    assert_eq!(
        reads,
        [
            vec!["support:sp-1".to_string()],
            vec!["meeting:m-1".to_string()],
            vec!["note:n-1".to_string()]
        ]
    );

    // A token with a time-travel position, or one this server never gave: refused.
    let mut with_as_of = page(first.next_page_token.clone());
    with_as_of.as_of_seq = Some(1);
    let e = c
        .records()
        .get_record(req(with_as_of, &c.t("pw-amara")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().contains("page_token"), "{}", e.message());
    let e = c
        .records()
        .get_record(req(page("made-up".into()), &c.t("pw-amara")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    c.s.stop().await;
}
