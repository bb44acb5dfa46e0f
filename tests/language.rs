//! Recovery-focused language prompts end to end: a draft with stigmatising wording is accepted as
//! written and answered with prompts and their alternatives; neither the prompts nor anything of
//! them reaches the log, the stored content or the data directory; `Notes.CheckWording` appends
//! nothing; an organisation's own list (`ServeConfig::language`, `withus serve --language`) is
//! used instead of withus' own, and a list that does not read stops the server from starting.

use std::process::Command;

use proptest::prelude::*;
use tokio::sync::oneshot;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request};
use withus::grpc::{pb, ServeConfig};
use withus::language::{LanguageList, DEFAULT_LIST};
use withus::store::StoreConfig;

struct Server {
    ch: Channel,
    admin: String,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), withus::grpc::ServeError>>,
    dir: tempfile::TempDir,
}

async fn start(language: LanguageList) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (ready_tx, ready_rx) = oneshot::channel();
    let (stop, stop_rx) = oneshot::channel::<()>();
    let config = ServeConfig {
        language,
        ..ServeConfig::new(StoreConfig::new(dir.path()))
    };
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
        stop,
        task,
        dir,
    }
}

impl Server {
    async fn stop(self) -> tempfile::TempDir {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
        self.dir
    }

    fn notes(&self) -> pb::notes_client::NotesClient<Channel> {
        pb::notes_client::NotesClient::new(self.ch.clone())
    }

    async fn tree_size(&self) -> u64 {
        pb::audit_client::AuditClient::new(self.ch.clone())
            .get_checkpoint(req(pb::GetCheckpointRequest {}, &self.admin))
            .await
            .unwrap()
            .into_inner()
            .tree_size
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

    /// A service user and their peer worker in an accepted relationship with a recorded meeting
    /// `m-1`: (person's token, worker's token).
    async fn story(&self) -> (String, String) {
        let p = self.actor("su-sam", pb::Role::ServiceUser, "").await;
        let w = self.actor("pw-ana", pb::Role::PeerWorker, "peer").await;
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
                &p,
            ))
            .await
            .unwrap();
        let sp = || pb::SupportRequest {
            call: None,
            support_id: "sp-1".into(),
        };
        support
            .offer(req(
                pb::SupportRequest {
                    call: call("off"),
                    ..sp()
                },
                &w,
            ))
            .await
            .unwrap();
        support
            .accept(req(
                pb::SupportRequest {
                    call: call("acc"),
                    ..sp()
                },
                &p,
            ))
            .await
            .unwrap();
        pb::meetings_client::MeetingsClient::new(self.ch.clone())
            .record(req(
                pb::RecordMeetingRequest {
                    call: call("met"),
                    meeting_id: "m-1".into(),
                    support_id: "sp-1".into(),
                    kind: pb::MeetingKind::OneToOne as i32,
                    group_id: String::new(),
                    goals: vec![],
                    activities: vec![],
                    mode: pb::MeetingMode::InPerson as i32,
                    place: pb::Place::Community as i32,
                    place_detail: String::new(),
                    occurred_at: Some(withus::grpc::convert::timestamp(
                        withus::domain::types::Time(
                            std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .unwrap()
                                .as_millis() as u64
                                - 60_000,
                        ),
                    )),
                    minutes: 45,
                },
                &w,
            ))
            .await
            .unwrap();
        (p, w)
    }
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

fn seg(id: &str, text: &str) -> pb::TextSegment {
    pb::TextSegment {
        id: id.into(),
        text: text.into(),
    }
}

fn draft(note: &str, command: &str, segments: Vec<pb::TextSegment>) -> pb::DraftNoteRequest {
    pb::DraftNoteRequest {
        call: call(command),
        note_id: note.into(),
        meeting_id: "m-1".into(),
        segments,
    }
}

const WORDING: &str = "She suffers from depression and was non-compliant";

/// Every file under `dir`, read whole.
fn every_file(dir: &std::path::Path, out: &mut Vec<(std::path::PathBuf, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            every_file(&path, out);
        } else {
            out.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_with_stigmatising_wording_is_accepted_as_written_with_prompts_that_are_never_stored(
) {
    let s = start(LanguageList::default()).await;
    let (p, w) = s.story().await;
    let before = s.tree_size().await;
    let r = s
        .notes()
        .draft(req(draft("n-1", "d-1", vec![seg("s1", WORDING)]), &w))
        .await
        .expect("advice is never a refusal")
        .into_inner();
    assert!(!r.receipts.is_empty());
    let wording = r
        .wording
        .clone()
        .expect("a call with text answers with prompts");
    assert_eq!(wording.omitted, 0);
    let got: Vec<(&str, &str, u32, u32, &str)> = wording
        .prompts
        .iter()
        .map(|p| {
            (
                p.segment_id.as_str(),
                p.phrase.as_str(),
                p.start,
                p.end,
                p.entry_id.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("s1", "suffers from", 4, 16, "suffers-from"),
            ("s1", "non-compliant", 36, 49, "non-compliant"),
        ]
    );
    let chars: Vec<char> = WORDING.chars().collect();
    assert_eq!(chars[4..16].iter().collect::<String>(), "suffers from");
    let suffers = &wording.prompts[0];
    assert!(suffers
        .alternatives
        .iter()
        .any(|a| a.starts_with("lives with")));
    assert!(!suffers.why.is_empty() && !suffers.sources.is_empty());
    let compliant = &wording.prompts[1];
    assert!(compliant
        .alternatives
        .iter()
        .any(|a| a.starts_with("has decided not to take")));

    // A retry of the same command gets the first call's receipts and the same prompts.
    let again = s
        .notes()
        .draft(req(draft("n-1", "d-1", vec![seg("s1", WORDING)]), &w))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, r);

    // The text was saved as written: the person reads exactly those words.
    let mine = pb::records_client::RecordsClient::new(s.ch.clone())
        .get_record(req(
            pb::GetRecordRequest {
                subject: "su-sam".into(),
                as_of_seq: None,
                as_of_time: None,
                page_size: 0,
                page_token: String::new(),
            },
            &p,
        ))
        .await
        .unwrap()
        .into_inner();
    let shown = format!("{:?}", mine.record);
    assert!(shown.contains(WORDING), "{shown}");
    for p in &wording.prompts {
        assert!(!shown.contains(&p.why));
        for a in &p.alternatives {
            assert!(!shown.contains(a.as_str()), "{a}");
        }
    }

    // The log holds the draft and nothing of its prompts: no entry names a phrase, a reason, an
    // alternative or a source.
    let entries = pb::audit_client::AuditClient::new(s.ch.clone())
        .list_entries(req(
            pb::ListEntriesRequest {
                from_seq: 0,
                page_size: 1000,
                page_token: String::new(),
            },
            &s.admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .entries;
    let drafted: Vec<_> = entries[before as usize..]
        .iter()
        .map(|e| e.r#type.as_str())
        .collect();
    assert_eq!(drafted, vec!["note.drafted"]);
    let dir = s.stop().await;
    let mut files = Vec::new();
    every_file(dir.path(), &mut files);
    let mut needles = vec![
        "suffers-from".to_string(),
        "non-compliant".to_string(),
        "suffers from".to_string(),
    ];
    for p in &wording.prompts {
        needles.push(p.why.clone());
        needles.extend(p.alternatives.iter().cloned());
        needles.extend(p.sources.iter().cloned());
    }
    for e in &entries {
        let entry = &e.json;
        for n in &needles {
            assert!(!entry.contains(n.as_str()), "seq {} holds {n:?}", e.seq);
        }
    }
    // Nor anything on disk: the text is sealed, the prompts were never written.
    for (path, bytes) in &files {
        for n in &needles {
            assert!(!contains(bytes, n), "{} holds {n:?}", path.display());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompts_come_with_revisions_addenda_and_concerns_and_never_with_a_refusal() {
    let s = start(LanguageList::default()).await;
    let (p, w) = s.story().await;
    let plain = s
        .notes()
        .draft(req(
            draft(
                "n-1",
                "d-1",
                vec![seg("s1", "We talked about the allotment.")],
            ),
            &w,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(plain.wording.map(|w| w.prompts.len()), Some(0));

    // The person revises; their quoted words are not prompted, the rest is.
    let r = s
        .notes()
        .revise(req(
            pb::NoteTextRequest {
                call: call("rev-1"),
                note_id: "n-1".into(),
                segments: vec![
                    seg("s1", "We talked about the allotment."),
                    seg(
                        "s2",
                        "I said \"they think I'm a psycho\"; my last worker wrote that I lack \
                         insight, and her note says she lacks insight into it.",
                    ),
                ],
            },
            &p,
        ))
        .await
        .unwrap()
        .into_inner();
    let prompts = r.wording.unwrap().prompts;
    assert_eq!(prompts.len(), 1, "{prompts:?}");
    assert_eq!(
        (prompts[0].segment_id.as_str(), prompts[0].entry_id.as_str()),
        ("s2", "lacks-insight")
    );

    // A worker declining the person's redaction gives a reason, which the person reads.
    s.notes()
        .propose_redaction(req(
            pb::ProposeRedactionRequest {
                call: call("pr-1"),
                note_id: "n-1".into(),
                proposal_id: "r-1".into(),
                segments: vec!["s2".into()],
                reason: pb::RedactionReason::NotWanted as i32,
            },
            &p,
        ))
        .await
        .unwrap();
    let declined = s
        .notes()
        .decline_redaction(req(
            pb::DeclineRedactionRequest {
                call: call("dr-1"),
                note_id: "n-1".into(),
                proposal_id: "r-1".into(),
                reason: "It shows how you were treated when you were in denial, as they put it."
                    .into(),
            },
            &w,
        ))
        .await
        .unwrap()
        .into_inner();
    let d = declined.wording.unwrap().prompts;
    assert_eq!(
        (d.len(), d[0].segment_id.as_str(), d[0].entry_id.as_str()),
        (1, "reason", "in-denial")
    );

    // Once agreed, an addendum is prompted like a draft.
    for (token, id) in [(&p, "ag-p"), (&w, "ag-w")] {
        s.notes()
            .agree(req(
                pb::AgreeNoteRequest {
                    call: call(id),
                    note_id: "n-1".into(),
                    revision: 2,
                },
                token,
            ))
            .await
            .unwrap();
    }
    let added = s
        .notes()
        .add_addendum(req(
            pb::NoteTextRequest {
                call: call("add-1"),
                note_id: "n-1".into(),
                segments: vec![seg("a1", "She has been wheelchair-bound since March.")],
            },
            &w,
        ))
        .await
        .unwrap()
        .into_inner();
    let a = added.wording.unwrap().prompts;
    assert_eq!(
        (a.len(), a[0].segment_id.as_str(), a[0].entry_id.as_str()),
        (1, "a1", "wheelchair-bound")
    );

    // A refused call (here a note of a meeting that does not exist) answers with its refusal
    // alone.
    let e = s
        .notes()
        .draft(req(
            pb::DraftNoteRequest {
                meeting_id: "m-none".into(),
                ..draft("n-2", "d-2", vec![seg("s1", WORDING)])
            },
            &w,
        ))
        .await
        .unwrap_err();
    assert!(!e.message().contains("lives with"), "{e}");
    // The details hold the refusal's ErrorInfo, never a prompt or the text.
    assert!(!String::from_utf8_lossy(e.details()).contains("lives with"));
    assert!(!String::from_utf8_lossy(e.details()).contains("prompt"));

    // A concern's summary is prompted, an outcome's detail too; a call without text is not.
    let sg = s.actor("sg-lee", pb::Role::SafeguardingLead, "").await;
    let mut safeguarding = pb::safeguarding_client::SafeguardingClient::new(s.ch.clone());
    let raised = safeguarding
        .raise(req(
            pb::RaiseConcernRequest {
                call: call("k-1"),
                concern_id: "k-1".into(),
                subject: "su-sam".into(),
                category: pb::ConcernCategory::SelfNeglect as i32,
                urgency: pb::Urgency::Routine as i32,
                summary: vec![seg("k1", "A frequent flyer at A&E, refused to engage.")],
            },
            &w,
        ))
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<String> = raised
        .wording
        .unwrap()
        .prompts
        .into_iter()
        .map(|p| p.entry_id)
        .collect();
    assert_eq!(ids, ["frequent-flyer", "refused-to-engage"]);
    let ack = safeguarding
        .acknowledge(req(
            pb::ConcernRequest {
                call: call("ack-1"),
                concern_id: "k-1".into(),
            },
            &sg,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ack.wording, None, "a call without text is not checked");
    let outcome = safeguarding
        .record_outcome(req(
            pb::OutcomeRequest {
                call: call("out-1"),
                concern_id: "k-1".into(),
                outcome: pb::ConcernOutcome::AdviceGiven as i32,
                detail: "Not attention-seeking: she was asking for help.".into(),
            },
            &sg,
        ))
        .await
        .unwrap()
        .into_inner();
    let o = outcome.wording.unwrap().prompts;
    assert_eq!(
        (o.len(), o[0].segment_id.as_str(), o[0].phrase.as_str()),
        (1, "detail", "attention-seeking")
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_wording_answers_any_actor_and_appends_nothing() {
    let s = start(LanguageList::default()).await;
    let (p, w) = s.story().await;
    let before = s.tree_size().await;
    for token in [&p, &w, &s.admin] {
        let got = s
            .notes()
            .check_wording(req(
                pb::CheckWordingRequest {
                    segments: vec![
                        seg("a", WORDING),
                        seg("b", ""),
                        seg("c", "committed suicide"),
                    ],
                },
                token,
            ))
            .await
            .unwrap()
            .into_inner();
        let seen: Vec<(&str, &str)> = got
            .prompts
            .iter()
            .map(|p| (p.segment_id.as_str(), p.entry_id.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                ("a", "suffers-from"),
                ("a", "non-compliant"),
                ("c", "committed-suicide")
            ]
        );
        assert!(got.prompts[2]
            .alternatives
            .iter()
            .any(|a| a == "died by suicide"));
    }
    assert_eq!(
        s.tree_size().await,
        before,
        "checking wording appends nothing"
    );

    // Bad input is a precise status; no token is UNAUTHENTICATED.
    let bad = |segments: Vec<pb::TextSegment>| pb::CheckWordingRequest { segments };
    let cases = [
        (bad(vec![]), Code::InvalidArgument, "segments:"),
        (
            bad(vec![seg("a", "x"), seg("a", "y")]),
            Code::InvalidArgument,
            "segments[1].id:",
        ),
        (
            bad(vec![seg("a b", "x")]),
            Code::InvalidArgument,
            "segments[0].id:",
        ),
        (
            bad(vec![seg("a", &"x".repeat(64 * 1024 + 1))]),
            Code::ResourceExhausted,
            "segments[0].text:",
        ),
        (
            bad((0..65).map(|i| seg(&format!("s{i}"), "x")).collect()),
            Code::ResourceExhausted,
            "segments:",
        ),
    ];
    for (q, code, field) in cases {
        let e = s.notes().check_wording(req(q, &w)).await.unwrap_err();
        assert_eq!(e.code(), code, "{e}");
        assert!(e.message().starts_with(field), "{e}");
    }
    let e = s
        .notes()
        .check_wording(pb::CheckWordingRequest {
            segments: vec![seg("a", WORDING)],
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert_eq!(s.tree_size().await, before);
    s.stop().await;
}

const OWN_LIST: &str = r#"
# Our service user panel's list.
[[entry]]
id = "service-user"
phrases = ["service user"]
why = "Our members asked to be called members."
alternatives = ["member"]
sources = ["Members' panel, 2026"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organisations_own_list_is_used_instead_of_withus_own() {
    let s = start(LanguageList::parse(OWN_LIST).unwrap()).await;
    let (_, w) = s.story().await;
    let r = s
        .notes()
        .draft(req(
            draft(
                "n-1",
                "d-1",
                vec![seg("s1", &format!("{WORDING}; a Service User since May."))],
            ),
            &w,
        ))
        .await
        .unwrap()
        .into_inner();
    let prompts = r.wording.unwrap().prompts;
    let got: Vec<(&str, &str, u32)> = prompts
        .iter()
        .map(|p| (p.entry_id.as_str(), p.alternatives[0].as_str(), p.start))
        .collect();
    assert_eq!(got, [("service-user", "member", 53)]);
    s.stop().await;
}

fn withus(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_withus"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn serve_refuses_a_language_file_that_does_not_read_naming_line_and_entry() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("ours.toml");
    let broken = OWN_LIST.replace("alternatives = [\"member\"]", "alternatives = []");
    std::fs::write(&file, broken).unwrap();
    let args = [
        "serve",
        "--data",
        data.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--language",
        file.to_str().unwrap(),
    ];
    let (code, _, err) = withus(&args);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--language")
            && err.contains("entry 1 (line 3, id \"service-user\"): alternatives:"),
        "{err}"
    );
    assert!(!data.exists(), "nothing was opened or created");
    std::fs::write(&file, "[[entry]\nid = 1").unwrap();
    let (code, _, err) = withus(&args);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("line 1, column"), "{err}");
    let missing = dir.path().join("missing.toml");
    let (code, _, err) = withus(&[
        "serve",
        "--data",
        data.to_str().unwrap(),
        "--language",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot read it"), "{err}");
    let (code, help, _) = withus(&["serve", "--help"]);
    assert_eq!(code, 0);
    assert!(help.contains("--language <FILE>"), "{help}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_a_language_file_prompts_from_it() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ours.toml");
    std::fs::write(&file, OWN_LIST).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_withus"))
        .args([
            "serve",
            "--data",
            dir.path().join("data").to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--language",
            file.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    /// Ends the server this test started (by its own child handle) if the test fails early.
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().unwrap();
    let mut child = Reap(child);
    let mut lines = std::io::BufReader::new(stdout).lines();
    let (mut addr, mut token) = (None, None);
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("withus serving on ") {
            addr = rest.split_whitespace().next().map(str::to_string);
        }
        if let Some(t) = line.strip_prefix("admin token (shown once; keep it safe): ") {
            token = Some(t.to_string());
            break;
        }
    }
    let (addr, token) = (addr.expect("serving line"), token.expect("admin token"));
    let ch = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let got = pb::notes_client::NotesClient::new(ch)
        .check_wording(req(
            pb::CheckWordingRequest {
                segments: vec![seg("a", &format!("{WORDING}, a service user"))],
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<&str> = got.prompts.iter().map(|p| p.entry_id.as_str()).collect();
    assert_eq!(
        ids,
        ["service-user"],
        "the organisation's list, not withus' own"
    );
    // SIGTERM: the server shuts down cleanly.
    let pid = i32::try_from(child.0.id()).unwrap();
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = child.0.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

proptest! {
    /// Any text — any scalar values, the list's own phrases cut and joined, quotes, marks —
    /// never panics, and every prompt names a whole-word span of the text that reads as its
    /// phrase (ignoring ASCII case, and spaces and hyphens alike), in order, not overlapping.
    #[test]
    fn any_text_gives_well_formed_prompts(
        parts in proptest::collection::vec(
            prop_oneof![
                any::<String>(),
                proptest::sample::select(vec![
                    "suffers from", "Non-Compliant", "non\ncompliant", "a schizophrenic",
                    "\"", "“", "”", "é", "\u{0301}", "-", " ", "🙂", "mentally handicapped",
                    "victim of", "DNA’d", "psycho", "_", "\t\n",
                ]).prop_map(str::to_string),
            ],
            0..12,
        )
    ) {
        let list = LanguageList::parse(DEFAULT_LIST).unwrap();
        let text: String = parts.concat();
        let chars: Vec<char> = text.chars().collect();
        let norm = |s: &str| -> String {
            let mut out = String::new();
            for c in s.chars() {
                let c = match c {
                    c if c.is_whitespace() || matches!(c, '-' | '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{00ad}') => ' ',
                    '\u{2018}' | '\u{2019}' | '\u{02bc}' => '\'',
                    c => c.to_ascii_lowercase(),
                };
                if !(c == ' ' && out.ends_with(' ')) {
                    out.push(c);
                }
            }
            out
        };
        let mut last_end = 0;
        for f in list.find(&text) {
            prop_assert!(f.start < f.end && f.end <= chars.len());
            prop_assert!(f.start >= last_end);
            last_end = f.end;
            let span: String = chars[f.start..f.end].iter().collect();
            prop_assert_eq!(norm(&span), norm(f.phrase));
            let before = f.start.checked_sub(1).map(|i| chars[i]);
            let after = chars.get(f.end).copied();
            for c in [before, after].into_iter().flatten() {
                prop_assert!(!c.is_alphanumeric() && c != '_', "{:?} next to {:?}", c, span);
            }
        }
    }
}
