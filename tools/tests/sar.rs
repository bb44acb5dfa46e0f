//! Subject access end to end, over real gRPC on loopback against a real store: the seeds' story
//! with a second person, a group meeting with both, agreed redactions before and after the
//! request, a withholding made after the request, and a clinician's reads allowed and refused.
//! The person's bundles are fetched as a client would, then checked by withus' own verifier and
//! by `spec-verify`, which is written from the spec alone and shares no code with withus.

use std::collections::HashMap;
use std::process::Command;

use tokio::sync::oneshot;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request};
use withus::grpc::pb;
use withus::sar::bundle::{Bundle, BundleEntry};

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

fn now() -> Option<prost_types::Timestamp> {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    Some(withus::grpc::convert::timestamp(
        withus::domain::types::Time(ms),
    ))
}

fn in_days(days: u64) -> Option<prost_types::Timestamp> {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    Some(withus::grpc::convert::timestamp(
        withus::domain::types::Time(ms + days * 86_400_000),
    ))
}

struct Story {
    ch: Channel,
    url: String,
    vkey: String,
    tokens: HashMap<&'static str, String>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), withus::grpc::ServeError>>,
}

impl Story {
    fn t(&self, who: &str) -> String {
        self.tokens[who].clone()
    }
    fn notes(&self) -> pb::notes_client::NotesClient<Channel> {
        pb::notes_client::NotesClient::new(self.ch.clone())
    }
    fn sar(&self) -> pb::subject_access_client::SubjectAccessClient<Channel> {
        pb::subject_access_client::SubjectAccessClient::new(self.ch.clone())
    }
    fn records(&self) -> pb::records_client::RecordsClient<Channel> {
        pb::records_client::RecordsClient::new(self.ch.clone())
    }

    async fn size(&self) -> u64 {
        pb::audit_client::AuditClient::new(self.ch.clone())
            .get_checkpoint(req(pb::GetCheckpointRequest {}, &self.t("au-ida")))
            .await
            .unwrap()
            .into_inner()
            .tree_size
    }

    async fn entries(&self, from: u64) -> Vec<pb::Entry> {
        pb::audit_client::AuditClient::new(self.ch.clone())
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

    async fn read(&self, who: &str, subject: &str) -> Result<(), Code> {
        self.records()
            .get_record(req(
                pb::GetRecordRequest {
                    subject: subject.into(),
                    as_of_seq: None,
                    as_of_time: None,
                    page_size: 0,
                    page_token: String::new(),
                },
                &self.t(who),
            ))
            .await
            .map(|_| ())
            .map_err(|s| s.code())
    }

    async fn redact(&self, note: &str, proposal: &str, segment: &str, person: &str) {
        self.notes()
            .propose_redaction(req(
                pb::ProposeRedactionRequest {
                    call: call(&format!("prop-{proposal}")),
                    note_id: note.into(),
                    proposal_id: proposal.into(),
                    segments: vec![segment.into()],
                    reason: pb::RedactionReason::NotWanted as i32,
                },
                &self.t(person),
            ))
            .await
            .unwrap();
        self.notes()
            .agree_redaction(req(
                pb::ProposalRequest {
                    call: call(&format!("agree-{proposal}")),
                    note_id: note.into(),
                    proposal_id: proposal.into(),
                },
                &self.t("pw-amara"),
            ))
            .await
            .unwrap();
    }

    async fn meeting(&self, id: &str, support: &str, kind: pb::MeetingKind, group: &str) {
        pb::meetings_client::MeetingsClient::new(self.ch.clone())
            .record(req(
                pb::RecordMeetingRequest {
                    call: call(&format!("meet-{id}")),
                    meeting_id: id.into(),
                    support_id: support.into(),
                    kind: kind as i32,
                    group_id: group.into(),
                    mode: pb::MeetingMode::InPerson as i32,
                    place: pb::Place::Community as i32,
                    place_detail: String::new(),
                    occurred_at: now(),
                    minutes: 45,
                    goals: vec![],
                    activities: vec![],
                },
                &self.t("pw-amara"),
            ))
            .await
            .unwrap();
    }

    async fn draft(&self, note: &str, meeting: &str, segments: Vec<pb::TextSegment>) {
        self.notes()
            .draft(req(
                pb::DraftNoteRequest {
                    call: call(&format!("draft-{note}")),
                    note_id: note.into(),
                    meeting_id: meeting.into(),
                    segments,
                },
                &self.t("pw-amara"),
            ))
            .await
            .unwrap();
    }

    /// A bundle as a client gets it: the chunks of the stream, concatenated.
    async fn bundle(&self, who: &str, sar_id: Option<&str>) -> Result<(Vec<u8>, String), Code> {
        let mut stream = match sar_id {
            Some(id) => self
                .sar()
                .get_bundle(req(
                    pb::SarStatusRequest { sar_id: id.into() },
                    &self.t(who),
                ))
                .await
                .map_err(|s| s.code())?
                .into_inner(),
            None => self
                .records()
                .get_my_bundle(req(pb::GetMyBundleRequest {}, &self.t(who)))
                .await
                .map_err(|s| s.code())?
                .into_inner(),
        };
        let (mut bytes, mut recorded, mut total) = (Vec::new(), String::new(), None);
        while let Some(chunk) = stream.message().await.unwrap() {
            if total.is_none() {
                total = Some(chunk.total_bytes);
                recorded = chunk.recorded_bundle_hash;
            }
            assert!(chunk.data.len() <= 1 << 20, "chunks stay within 1 MiB");
            bytes.extend_from_slice(&chunk.data);
        }
        assert_eq!(total, Some(bytes.len() as u64));
        Ok((bytes, recorded))
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().expect("clean shutdown");
    }
}

/// Everything up to the request: two people supported by one worker, a one-to-one meeting and
/// a group meeting with both, notes (one with a passage removed by agreement), a consent under
/// which a clinician reads, then revoked, and a refused read.
async fn story(dir: &std::path::Path) -> Story {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (ready_tx, ready_rx) = oneshot::channel();
    let (stop, stop_rx) = oneshot::channel::<()>();
    let config = withus::grpc::ServeConfig::new(withus::store::StoreConfig::new(dir));
    let task = tokio::spawn(withus::grpc::run(listener, config, ready_tx, async move {
        let _ = stop_rx.await;
    }));
    let ready = ready_rx.await.expect("server ready");
    let ch = Channel::from_shared(format!("http://{}", ready.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let admin = ready.admin_token.clone().expect("admin token");
    let mut a = pb::admin_client::AdminClient::new(ch.clone());
    let mut tokens = HashMap::new();
    for (id, role, team, name) in [
        ("su-sam", pb::Role::ServiceUser, "", "Sam"),
        ("su-ola", pb::Role::ServiceUser, "", "Ola Okafor"),
        ("pw-amara", pb::Role::PeerWorker, "peer", "Amara"),
        ("ct-cho", pb::Role::CareTeam, "cmht", "Dr Cho"),
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
        tokens.insert(id, token);
    }
    let s = Story {
        ch,
        url: format!("http://{}", ready.addr),
        vkey: ready.vkey.clone(),
        tokens,
        stop,
        task,
    };
    let mut support = pb::support_client::SupportClient::new(s.ch.clone());
    for (sp, person) in [("sp-1", "su-sam"), ("sp-2", "su-ola")] {
        support
            .refer(req(
                pb::ReferRequest {
                    call: call(&format!("ref-{sp}")),
                    support_id: sp.into(),
                    subject: person.into(),
                    worker: "pw-amara".into(),
                    source: pb::ReferralSource::Self_ as i32,
                },
                &s.t(person),
            ))
            .await
            .unwrap();
        support
            .offer(req(
                pb::SupportRequest {
                    call: call(&format!("off-{sp}")),
                    support_id: sp.into(),
                },
                &s.t("pw-amara"),
            ))
            .await
            .unwrap();
        support
            .accept(req(
                pb::SupportRequest {
                    call: call(&format!("acc-{sp}")),
                    support_id: sp.into(),
                },
                &s.t(person),
            ))
            .await
            .unwrap();
    }
    s.meeting("m-1", "sp-1", pb::MeetingKind::OneToOne, "")
        .await;
    pb::groups_client::GroupsClient::new(s.ch.clone())
        .form(req(
            pb::FormGroupRequest {
                call: call("group-walk"),
                group_id: "g-walk".into(),
                name: "The river walking group".into(),
                facilitators: vec!["pw-amara".into()],
            },
            &s.t("pw-amara"),
        ))
        .await
        .unwrap();
    s.meeting("m-2", "sp-1", pb::MeetingKind::Group, "g-walk")
        .await;
    s.meeting("m-3", "sp-2", pb::MeetingKind::Group, "g-walk")
        .await;
    s.draft(
        "n-1",
        "m-1",
        vec![
            seg("s1", "We talked about the allotment and what helps."),
            seg("s2", "Sam's brother owes money to people."),
        ],
    )
    .await;
    s.redact("n-1", "r-1", "s2", "su-sam").await;
    s.draft(
        "n-2",
        "m-2",
        vec![
            seg("s1", "Sam enjoyed the group walk by the river."),
            seg("s2", "Sam said the group felt too big at first."),
        ],
    )
    .await;
    s.draft(
        "n-3",
        "m-3",
        vec![seg(
            "s1",
            "Ola spoke about starting her new job at the library.",
        )],
    )
    .await;
    s.draft(
        "n-4",
        "m-1",
        vec![seg("s1", "Sam spoke about the night of the fire.")],
    )
    .await;
    // A consent to the care team; the clinician reads; consent taken back; the next read is
    // refused.
    let mut consent = pb::consent_client::ConsentClient::new(s.ch.clone());
    consent
        .grant(req(
            pb::GrantConsentRequest {
                call: call("grant"),
                subject: "su-sam".into(),
                consent_id: "c-1".into(),
                scope: pb::ConsentScope::ShareWithCareTeam as i32,
                grantee: "cmht".into(),
                expires_at: None,
            },
            &s.t("su-sam"),
        ))
        .await
        .unwrap();
    for who in ["su-sam", "pw-amara"] {
        s.notes()
            .agree(req(
                pb::AgreeNoteRequest {
                    call: call(&format!("agree-n-1-{who}")),
                    note_id: "n-1".into(),
                    revision: 1,
                },
                &s.t(who),
            ))
            .await
            .unwrap();
    }
    assert_eq!(s.read("ct-cho", "su-sam").await, Ok(()));
    consent
        .revoke(req(
            pb::RevokeConsentRequest {
                call: call("revoke"),
                subject: "su-sam".into(),
                consent_id: "c-1".into(),
            },
            &s.t("su-sam"),
        ))
        .await
        .unwrap();
    assert_eq!(
        s.read("ct-cho", "su-sam").await,
        Err(Code::PermissionDenied)
    );
    s
}

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

fn withheld_seqs(b: &Bundle) -> Vec<u64> {
    b.entries
        .iter()
        .filter_map(|e| match e {
            BundleEntry::Withheld { seq, .. } => Some(*seq),
            BundleEntry::Shown { .. } => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_persons_bundle_is_evidence_for_them_alone() {
    let dir = tempfile::tempdir().unwrap();
    let s = story(dir.path()).await;
    s.sar()
        .request(req(
            pb::SarRequest {
                call: call("q1"),
                sar_id: "sar-1".into(),
                subject: "su-sam".into(),
                via: pb::SarVia::App as i32,
            },
            &s.t("su-sam"),
        ))
        .await
        .unwrap();
    // A withholding made after the request still applies to the bundle.
    pb::safeguarding_client::SafeguardingClient::new(s.ch.clone())
        .withhold(req(
            pb::WithholdRequest {
                call: call("w1"),
                subject: "su-sam".into(),
                target_stream: "note:n-4".into(),
                exemption: pb::Exemption::SeriousHarm as i32,
                justification: "Disclosure now would put Sam at risk.".into(),
                review_by: in_days(30),
            },
            &s.t("sg-lee"),
        ))
        .await
        .unwrap();
    let fulfilled = s
        .sar()
        .fulfil(req(
            pb::FulfilSarRequest {
                call: call("f1"),
                sar_id: "sar-1".into(),
            },
            &s.t("au-ida"),
        ))
        .await
        .unwrap()
        .into_inner();

    let (bytes, recorded) = s.bundle("su-sam", Some("sar-1")).await.unwrap();
    assert_eq!(recorded, fulfilled.bundle_hash);
    let proven = withus::sar::verify::verify(&bytes, &s.vkey).expect("the bundle verifies");
    assert_eq!(
        withus::format::to_hex(&proven.bundle_hash),
        fulfilled.bundle_hash,
        "the bundle's own hash is the one the log recorded"
    );
    let files = tempfile::tempdir().unwrap();
    let path = files.path().join("sam.withus-sar.json");
    std::fs::write(&path, &bytes).unwrap();
    let (ok, said) = spec_verify(&path, &s.vkey);
    assert!(ok, "spec-verify accepts the server's bundle: {said}");
    assert!(said.contains(&fulfilled.bundle_hash), "{said}");

    let text = String::from_utf8(bytes.clone()).unwrap();
    let bundle = Bundle::parse(&bytes).unwrap();
    // Nothing of the second person: none of her entries, her text, her name.
    // A group session in both records links neither to the other: no group id, no group name.
    for other in [
        "su-ola",
        "Ola",
        "library",
        "sp-2",
        "m-3",
        "n-3",
        "g-walk",
        "river walking",
    ] {
        assert!(!text.contains(other), "{other} is in Sam's bundle");
    }
    // The withheld note is counted, not shown: its entries are by leaf, and its text is absent.
    assert!(!text.contains("night of the fire"));
    assert!(!withheld_seqs(&bundle).is_empty());
    assert_eq!(proven.withheld, withheld_seqs(&bundle).len() as u64);
    // The passage removed by agreement has no opening; the rest does.
    assert!(!text.contains("owes money"));
    assert!(text.contains("what helps"));
    assert!(text.contains("felt too big"));
    // The clinician's read and the refused one are in it, as are the names that acted.
    assert!(text.contains("record.accessed") && text.contains("access.denied"));
    assert!(
        proven.actors.contains(&"ct-cho".to_string()),
        "{:?}",
        proven.actors
    );

    // A later erasure removes an opening but never changes the hash.
    s.redact("n-2", "r-2", "s2", "su-sam").await;
    let (after, _) = s.bundle("su-sam", Some("sar-1")).await.unwrap();
    assert!(!String::from_utf8_lossy(&after).contains("felt too big"));
    let again = withus::sar::verify::verify(&after, &s.vkey).expect("still verifies");
    assert_eq!(again.bundle_hash, proven.bundle_hash);
    assert_eq!(again.openings + 1, proven.openings);

    // The fulfilment entry is the person's too, with its proof: it records this bundle. Fetched
    // as `withus sar fetch` does, through the library's client.
    let client = withus::grpc::client::Client::connect(&s.url, &s.t("su-sam"))
        .await
        .unwrap();
    let (fetched, fetched_hash) = client.bundle(Some("sar-1")).await.unwrap();
    assert_eq!(fetched_hash, fulfilled.bundle_hash);
    let fetched = Bundle::parse(&fetched).unwrap();
    let file = client.fulfilment("sar-1").await.unwrap();
    withus::sar::verify::check_fulfilment(&fetched, &proven, &file, &s.vkey)
        .expect("the sar.fulfilled entry proves the bundle hash");
    // A fulfilment file of another request, or one whose entry was altered, proves nothing.
    let mut altered = file.clone();
    altered.entry = altered.entry.replacen("\"withheld\":", "\"withheld\": ", 1);
    assert!(withus::sar::verify::check_fulfilment(&fetched, &proven, &altered, &s.vkey).is_err());
    // And the on-demand bundle holds that entry itself.
    let (mine, none) = s.bundle("su-sam", None).await.unwrap();
    assert!(none.is_empty());
    let now = withus::sar::verify::verify(&mine, &s.vkey).expect("the on-demand bundle verifies");
    assert_eq!(now.sar_id, None);
    assert!(String::from_utf8_lossy(&mine).contains("sar.fulfilled"));
    let path = files.path().join("sam-now.withus-sar.json");
    std::fs::write(&path, &mine).unwrap();
    let (ok, said) = spec_verify(&path, &s.vkey);
    assert!(ok, "spec-verify accepts the on-demand bundle: {said}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everyone_else_is_refused_a_bundle_and_the_refusal_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let s = story(dir.path()).await;
    s.sar()
        .request(req(
            pb::SarRequest {
                call: call("q1"),
                sar_id: "sar-1".into(),
                subject: "su-sam".into(),
                via: pb::SarVia::App as i32,
            },
            &s.t("su-sam"),
        ))
        .await
        .unwrap();
    s.sar()
        .fulfil(req(
            pb::FulfilSarRequest {
                call: call("f1"),
                sar_id: "sar-1".into(),
            },
            &s.t("au-ida"),
        ))
        .await
        .unwrap();
    for who in ["su-ola", "pw-amara", "ct-cho", "sg-lee", "au-ida"] {
        let size = s.size().await;
        let refused = s.bundle(who, Some("sar-1")).await.unwrap_err();
        assert!(
            matches!(refused, Code::PermissionDenied | Code::NotFound),
            "{who}: {refused:?}"
        );
        let fulfilment = s
            .sar()
            .get_fulfilment(req(
                pb::SarStatusRequest {
                    sar_id: "sar-1".into(),
                },
                &s.t(who),
            ))
            .await
            .unwrap_err();
        assert_eq!(fulfilment.code(), refused, "{who}");
        let logged = s.entries(size).await;
        assert_eq!(logged.len(), 2, "{who}: each refusal is one entry");
        for e in logged {
            assert_eq!(
                (e.r#type.as_str(), e.actor_id.as_str()),
                ("access.denied", who)
            );
        }
    }
    // Only a person has a record of their own.
    for who in ["pw-amara", "ct-cho", "au-ida"] {
        assert_eq!(
            s.bundle(who, None).await.unwrap_err(),
            Code::PermissionDenied,
            "{who}"
        );
    }
    // Another person's on-demand bundle is their own, and holds nothing of Sam's.
    let (ola, _) = s.bundle("su-ola", None).await.unwrap();
    let proven = withus::sar::verify::verify(&ola, &s.vkey).expect("Ola's bundle verifies");
    assert_eq!(proven.subject, "su-ola");
    let text = String::from_utf8_lossy(&ola);
    for sams in ["su-sam", "allotment", "sp-1", "n-1"] {
        assert!(!text.contains(sams), "{sams} is in Ola's bundle");
    }
    s.stop().await;
}
