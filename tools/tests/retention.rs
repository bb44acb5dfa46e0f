//! Retention end to end, over real gRPC on loopback against a real store with a clock the test
//! controls: Sam's care ends, the plan says when his record is due, a legal hold keeps it past
//! that, and once the hold is lifted `Retention/Run` erases its content as the system actor
//! `withus-retention`. Afterwards: the text is gone from the record, the content store and the
//! data directory; `verify` and every proof still pass; and Sam's bundle verifies with withus'
//! own verifier and with `spec-verify`, which is written from the spec alone.

use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::oneshot;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request};
use withus::grpc::pb;

/// A clock the test moves.
#[derive(Default)]
struct TestClock(AtomicU64);

impl withus::store::Clock for TestClock {
    fn now_millis(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

fn day(s: &str) -> u64 {
    withus::format::parse_millis(&format!("{s}T09:00:00.000Z")).unwrap()
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

/// Words that appear nowhere but in Sam's record.
const NOTE_WORDS: &str = "Sam talked about the allotment on Brindley Road and his sister Maud";
const PLACE_WORDS: &str = "the bench behind Quillfeather library";

fn spec_verify(bundle: &std::path::Path, vkey: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_spec-verify"))
        .arg("bundle")
        .arg(bundle)
        .args(["--vkey", vkey])
        .output()
        .expect("spec-verify runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Every file under `dir`, read whole.
fn files(dir: &std::path::Path, out: &mut Vec<(std::path::PathBuf, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

async fn plan_of(ch: &Channel, token: &str, who: &str) -> pb::RetentionPlanEntry {
    pb::retention_client::RetentionClient::new(ch.clone())
        .plan(req(pb::RetentionPlanRequest::default(), token))
        .await
        .unwrap()
        .into_inner()
        .entries
        .into_iter()
        .find(|e| e.subject == who)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_is_erased_when_the_retention_period_ends_and_everything_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(TestClock(AtomicU64::new(day("2026-01-05"))));
    let mut store = withus::store::StoreConfig::new(dir.path());
    store.clock = clock.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (ready_tx, ready_rx) = oneshot::channel();
    let (stop, stop_rx) = oneshot::channel::<()>();
    let config = withus::grpc::ServeConfig::new(store);
    let task = tokio::spawn(withus::grpc::run(listener, config, ready_tx, async move {
        let _ = stop_rx.await;
    }));
    let ready = ready_rx.await.expect("server ready");
    let vkey = ready.vkey.clone();
    let ch = Channel::from_shared(format!("http://{}", ready.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let admin = ready.admin_token.clone().unwrap();
    let mut a = pb::admin_client::AdminClient::new(ch.clone());
    let mut t: HashMap<&str, String> = HashMap::new();
    for (id, role, team, name) in [
        ("su-sam", pb::Role::ServiceUser, "", "Sam Quillfeather"),
        ("su-kit", pb::Role::ServiceUser, "", "Kit"),
        ("su-ola", pb::Role::ServiceUser, "", "Ola"),
        ("pw-amara", pb::Role::PeerWorker, "peer", "Amara"),
        ("sg-lee", pb::Role::SafeguardingLead, "", "Lee"),
        ("au-ida", pb::Role::Auditor, "", "Ida"),
    ] {
        a.register_actor(req(
            pb::RegisterActorRequest {
                call: call(&format!("reg-{id}")),
                id: id.into(),
                role: role as i32,
                team: team.into(),
                display_name: name.into(),
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
        t.insert(id, token);
    }
    // Sam's care: referred, accepted, a meeting at a place in his words, a co-produced note,
    // then ended.
    let mut support = pb::support_client::SupportClient::new(ch.clone());
    support
        .refer(req(
            pb::ReferRequest {
                call: call("ref"),
                support_id: "sp-1".into(),
                subject: "su-sam".into(),
                worker: "pw-amara".into(),
                source: pb::ReferralSource::Self_ as i32,
            },
            &t["su-sam"],
        ))
        .await
        .unwrap();
    support
        .offer(req(
            pb::SupportRequest {
                call: call("offer"),
                support_id: "sp-1".into(),
            },
            &t["pw-amara"],
        ))
        .await
        .unwrap();
    support
        .accept(req(
            pb::SupportRequest {
                call: call("accept"),
                support_id: "sp-1".into(),
            },
            &t["su-sam"],
        ))
        .await
        .unwrap();
    pb::meetings_client::MeetingsClient::new(ch.clone())
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
                place_detail: PLACE_WORDS.into(),
                occurred_at: Some(withus::grpc::convert::timestamp(
                    withus::domain::types::Time(day("2026-01-04")),
                )),
                minutes: 40,
            },
            &t["pw-amara"],
        ))
        .await
        .unwrap();
    let mut notes = pb::notes_client::NotesClient::new(ch.clone());
    notes
        .draft(req(
            pb::DraftNoteRequest {
                call: call("draft"),
                note_id: "n-1".into(),
                meeting_id: "m-1".into(),
                segments: vec![seg("s1", NOTE_WORDS), seg("s2", "We agreed to meet again.")],
            },
            &t["pw-amara"],
        ))
        .await
        .unwrap();
    clock.0.store(day("2026-02-10"), Ordering::SeqCst);
    support
        .end(req(
            pb::EndSupportRequest {
                call: call("end"),
                support_id: "sp-1".into(),
                reason: pb::EndReason::GoalsMet as i32,
            },
            &t["su-sam"],
        ))
        .await
        .unwrap();

    // The DPO's plan: kept until 20 years after the end of care.
    // The plan comes in pages (AIP-158), one person each here, in the order of their ids.
    let (mut planned, mut token) = (Vec::new(), String::new());
    loop {
        let page = pb::retention_client::RetentionClient::new(ch.clone())
            .plan(req(
                pb::RetentionPlanRequest {
                    page_size: 1,
                    page_token: token.clone(),
                    ..Default::default()
                },
                &t["au-ida"],
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(page.entries.len() <= 1);
        planned.extend(page.entries.into_iter().map(|e| e.subject));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(planned, ["su-kit", "su-ola", "su-sam"]);
    let p = plan_of(&ch, &t["au-ida"], "su-sam").await;
    assert_eq!(
        (p.state, p.rule, p.basis.as_str(), p.due.as_str()),
        (
            pb::PlanState::Waiting as i32,
            pb::RetentionRule::AdultEndOfCare as i32,
            "2026-02-10",
            "2046-02-10"
        )
    );
    assert_eq!(p.segments, 4, "name, place, two passages");

    // A legal hold, placed before the date, keeps it past it.
    let mut retention = pb::retention_client::RetentionClient::new(ch.clone());
    retention
        .place_hold(req(
            pb::PlaceLegalHoldRequest {
                call: call("hold"),
                subject: "su-sam".into(),
                hold_id: "claim-1".into(),
                reason: pb::HoldReason::Litigation as i32,
            },
            &t["sg-lee"],
        ))
        .await
        .unwrap();
    clock.0.store(day("2046-02-10"), Ordering::SeqCst);
    let p = plan_of(&ch, &admin, "su-sam").await;
    assert_eq!(
        (p.state, p.holds.clone()),
        (pb::PlanState::Held as i32, vec!["claim-1".to_string()])
    );
    let run = retention
        .run(req(pb::RunRetentionRequest {}, &admin))
        .await
        .unwrap()
        .into_inner();
    assert!(run.erased.is_empty(), "held: nothing erased");
    // Only an admin runs it on demand.
    let refused = retention
        .run(req(pb::RunRetentionRequest {}, &t["au-ida"]))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);

    retention
        .lift_hold(req(
            pb::LiftLegalHoldRequest {
                call: call("lift"),
                subject: "su-sam".into(),
                hold_id: "claim-1".into(),
            },
            &admin,
        ))
        .await
        .unwrap();
    let run = retention
        .run(req(pb::RunRetentionRequest {}, &admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(run.erased.len(), 1);
    assert_eq!(
        (run.erased[0].subject.as_str(), run.erased[0].segments),
        ("su-sam", 4)
    );
    let erased_seq = run.erased[0].receipts[0].seq;
    // A second run erases nothing more and appends nothing.
    let size = |ch: Channel, tok: String| async move {
        pb::audit_client::AuditClient::new(ch)
            .get_checkpoint(req(pb::GetCheckpointRequest {}, &tok))
            .await
            .unwrap()
            .into_inner()
            .tree_size
    };
    let before = size(ch.clone(), t["au-ida"].clone()).await;
    let again = retention
        .run(req(pb::RunRetentionRequest {}, &admin))
        .await
        .unwrap()
        .into_inner();
    assert!(again.erased.is_empty());
    assert_eq!(size(ch.clone(), t["au-ida"].clone()).await, before);
    let p = plan_of(&ch, &admin, "su-sam").await;
    assert_eq!((p.state, p.segments), (pb::PlanState::Erased as i32, 0));

    // The entry is the system actor's, on Sam's retention stream.
    let log = pb::audit_client::AuditClient::new(ch.clone())
        .list_entries(req(
            pb::ListEntriesRequest {
                from_seq: erased_seq,
                page_size: 1,
                page_token: String::new(),
            },
            &t["au-ida"],
        ))
        .await
        .unwrap()
        .into_inner();
    let e = &log.entries[0];
    assert_eq!(e.r#type, "retention.erased");
    assert_eq!(e.stream, "retention:su-sam");
    assert_eq!(
        (e.actor_id.as_str(), e.actor_role.as_str()),
        ("withus-retention", "system")
    );
    let erased: serde_json::Value = serde_json::from_str(&e.json).unwrap();
    let commits: Vec<String> = erased["data"]["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(commits.len(), 4);

    // Sam's own record: the passages are there, their words are not, and say why.
    let record = pb::records_client::RecordsClient::new(ch.clone())
        .get_record(req(
            pb::GetRecordRequest {
                subject: "su-sam".into(),
                ..Default::default()
            },
            &t["su-sam"],
        ))
        .await
        .unwrap()
        .into_inner();
    let view = record.record.expect("a record");
    let passages = &view.notes[0].passages;
    assert_eq!(passages.len(), 2);
    let erased_day =
        withus::grpc::convert::timestamp(withus::domain::types::Time(day("2046-02-10")));
    for p in passages {
        assert_eq!(p.text, None, "{p:?}");
        let erased_at = p.erased_at.expect("erased_at");
        assert!(
            (erased_day.seconds..erased_day.seconds + 86_400).contains(&erased_at.seconds),
            "{p:?}"
        );
    }
    let place = view.meetings[0]
        .place_detail
        .as_ref()
        .expect("the place's passage");
    assert_eq!(place.text, None);
    assert!(!format!("{view:?}").contains("allotment"));

    // Sam's bundle: withus' verifier and spec-verify both accept it; its page says what was
    // erased and when.
    let mut stream = pb::records_client::RecordsClient::new(ch.clone())
        .get_my_bundle(req(pb::GetMyBundleRequest {}, &t["su-sam"]))
        .await
        .unwrap()
        .into_inner();
    let mut bundle = Vec::new();
    while let Some(chunk) = stream.message().await.unwrap() {
        bundle.extend_from_slice(&chunk.data);
    }
    let proven = withus::sar::verify::verify(&bundle, &vkey).expect("the bundle verifies");
    assert!(proven.entries > 0);
    assert!(!contains(&bundle, b"allotment") && !contains(&bundle, b"Quillfeather"));
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("sam.withus-sar.json");
    std::fs::write(&path, &bundle).unwrap();
    let (ok, said) = spec_verify(&path, &vkey);
    assert!(ok, "spec-verify accepts the bundle after retention: {said}");
    let parsed = withus::sar::bundle::Bundle::parse(&bundle).unwrap();
    let page = withus::sar::html::page(&parsed, &String::from_utf8_lossy(&bundle), &vkey);
    assert!(
        page.contains("erased at the end of the period your record is kept"),
        "the page says the words were erased under retention"
    );
    assert!(
        page.contains("he period your record is kept for ended on"),
        "the timeline says when"
    );

    let _ = stop.send(());
    task.await.unwrap().expect("clean shutdown");

    // The log verifies, the proofs still hold, and the content store has nothing of it.
    let store = withus::store::LogStore::open_read_only(dir.path()).unwrap();
    let report = store.verify(&mut |_, _| {}).unwrap();
    assert!(report.ok(), "{report:?}");
    let size = store.size();
    let root = store.root(size).unwrap();
    for seq in 0..size {
        let proof = store.inclusion_proof(seq, size).unwrap();
        let leaf = store.leaf_hash(seq).unwrap();
        assert!(withus::merkle::verify_inclusion(
            &leaf, seq, size, &proof, &root
        ));
    }
    // Each salt wiped, each sealed text gone: as an agreed redaction erases.
    for c in &commits {
        let commit = withus::format::parse_hex(c).unwrap();
        assert!(store.content(&commit).unwrap().is_none(), "{c}");
    }
    drop(store);
    let mut all = Vec::new();
    files(dir.path(), &mut all);
    for (path, bytes) in &all {
        for words in [NOTE_WORDS, PLACE_WORDS, "Sam Quillfeather"] {
            assert!(
                !contains(bytes, words.as_bytes()),
                "{} holds {words:?}",
                path.display()
            );
        }
    }
}
