//! Backup and restore end to end, over real gRPC on loopback against real stores in temporary
//! directories, through the `withus` binary as an operator runs it: a backup taken while appends
//! go on restores to exactly its checkpoint; an erasure made after a backup is re-applied from a
//! later export, so the erased words are nowhere in the restored data directory; and every
//! refusal (role, passphrase, damaged or cut file, non-empty directory, a foreign export) says
//! what and where. `log export|verify --server` give what `--data` gives.

use std::path::{Path, PathBuf};
use std::process::Command;

use tokio::sync::oneshot;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request};
use withus::grpc::{pb, ServeConfig};
use withus::store::{LogStore, StoreConfig};

/// Words only in the passage that is kept.
const KEPT: &str = "We walked to the allotment on Brindley Road and planted beans";
/// Words only in the passage removed by agreement.
const SECRET: &str = "Sam spoke about his brother Tobias owing the Quillfeather family money";

struct Server {
    addr: String,
    ch: Channel,
    admin: String,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), withus::grpc::ServeError>>,
}

async fn serve(dir: &Path) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (ready_tx, ready_rx) = oneshot::channel();
    let (stop, stop_rx) = oneshot::channel::<()>();
    let config = ServeConfig::new(StoreConfig::new(dir));
    let task = tokio::spawn(withus::grpc::run(listener, config, ready_tx, async move {
        let _ = stop_rx.await;
    }));
    let ready = ready_rx.await.expect("server ready");
    let addr = format!("http://{}", ready.addr);
    let ch = Channel::from_shared(addr.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    Server {
        addr,
        ch,
        admin: ready.admin_token.unwrap_or_default(),
        stop,
        task,
    }
}

impl Server {
    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
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

struct Cast {
    sam: String,
    amara: String,
    ida: String,
}

/// Registers Sam (a person), Amara (his peer worker) and Ida (an auditor); Sam's support, a
/// meeting, and a note of two passages: KEPT and SECRET.
async fn story(s: &Server) -> Cast {
    let mut a = pb::admin_client::AdminClient::new(s.ch.clone());
    let mut tokens = Vec::new();
    for (id, role, team) in [
        ("su-sam", pb::Role::ServiceUser, ""),
        ("pw-amara", pb::Role::PeerWorker, "peer"),
        ("au-ida", pb::Role::Auditor, ""),
    ] {
        a.register_actor(req(
            pb::RegisterActorRequest {
                call: call(&format!("reg-{id}")),
                id: id.into(),
                role: role as i32,
                team: team.into(),
                display_name: format!("{id} name"),
            },
            &s.admin,
        ))
        .await
        .unwrap();
        tokens.push(
            a.issue_token(req(
                pb::IssueTokenRequest {
                    call: call(&format!("tok-{id}")),
                    actor: id.into(),
                    expires_at: None,
                },
                &s.admin,
            ))
            .await
            .unwrap()
            .into_inner()
            .token,
        );
    }
    let c = Cast {
        sam: tokens[0].clone(),
        amara: tokens[1].clone(),
        ida: tokens[2].clone(),
    };
    let mut support = pb::support_client::SupportClient::new(s.ch.clone());
    support
        .refer(req(
            pb::ReferRequest {
                call: call("ref"),
                support_id: "sp-1".into(),
                subject: "su-sam".into(),
                worker: "pw-amara".into(),
                source: pb::ReferralSource::Self_ as i32,
            },
            &c.sam,
        ))
        .await
        .unwrap();
    for (id, tok) in [("offer", &c.amara), ("accept", &c.sam)] {
        let r = req(
            pb::SupportRequest {
                call: call(id),
                support_id: "sp-1".into(),
            },
            tok,
        );
        if id == "offer" {
            support.offer(r).await.unwrap();
        } else {
            support.accept(r).await.unwrap();
        }
    }
    pb::meetings_client::MeetingsClient::new(s.ch.clone())
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
                occurred_at: Some(withus::grpc::convert::timestamp(
                    withus::domain::types::Time(
                        std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .unwrap()
                            .as_millis() as u64
                            - 3_600_000,
                    ),
                )),
                minutes: 40,
            },
            &c.amara,
        ))
        .await
        .unwrap();
    pb::notes_client::NotesClient::new(s.ch.clone())
        .draft(req(
            pb::DraftNoteRequest {
                call: call("draft"),
                note_id: "n-1".into(),
                meeting_id: "m-1".into(),
                segments: vec![seg("s1", KEPT), seg("s2", SECRET)],
            },
            &c.amara,
        ))
        .await
        .unwrap();
    c
}

/// Sam asks for passage s2 to be removed and Amara agrees: its content is erased.
async fn redact(s: &Server, c: &Cast) {
    let mut notes = pb::notes_client::NotesClient::new(s.ch.clone());
    notes
        .propose_redaction(req(
            pb::ProposeRedactionRequest {
                call: call("rp"),
                note_id: "n-1".into(),
                proposal_id: "r-1".into(),
                segments: vec!["s2".into()],
                reason: pb::RedactionReason::NotWanted as i32,
            },
            &c.sam,
        ))
        .await
        .unwrap();
    notes
        .agree_redaction(req(
            pb::ProposalRequest {
                call: call("ra"),
                note_id: "n-1".into(),
                proposal_id: "r-1".into(),
            },
            &c.amara,
        ))
        .await
        .unwrap();
}

/// Sam's record as Sam reads it, in its Debug form: every field and every word shown.
async fn sams_record(s: &Server, c: &Cast) -> pb::Record {
    pb::records_client::RecordsClient::new(s.ch.clone())
        .get_record(req(
            pb::GetRecordRequest {
                subject: "su-sam".into(),
                as_of_seq: None,
                as_of_time: None,
                page_size: 0,
                page_token: String::new(),
            },
            &c.sam,
        ))
        .await
        .unwrap()
        .into_inner()
        .record
        .expect("a record")
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `withus` (off the async workers: it may wait for the server the test runs).
async fn withus(args: Vec<String>) -> Out {
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_withus"))
            .args(&args)
            .output()
            .expect("withus runs");
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn passphrase_file(dir: &Path, text: &str) -> PathBuf {
    let f = dir.join("passphrase");
    std::fs::write(&f, format!("{text}\n")).unwrap();
    f
}

/// Every file under `dir`, read whole.
fn files(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
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

/// Which files under `dir` hold `needle`.
fn holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut all = Vec::new();
    files(dir, &mut all);
    all.into_iter()
        .filter(|(_, b)| contains(b, needle))
        .map(|(p, _)| p)
        .collect()
}

/// The commitments of note n-1's passages s1 and s2, from its `note.drafted` entry.
fn note_commits(store: &LogStore) -> (withus::format::Hash, withus::format::Hash) {
    let e = store
        .stream_entries("note:n-1")
        .unwrap()
        .into_iter()
        .next()
        .unwrap();
    let v = e.view().unwrap();
    let data: serde_json::Value = serde_json::from_str(v.data).unwrap();
    let commit = |id: &str| {
        let s = data["segments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap();
        let mut h = [0u8; 32];
        hex::decode_to_slice(s["commit"].as_str().unwrap(), &mut h).unwrap();
        h
    };
    (commit("s1"), commit("s2"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_during_appends_restores_to_its_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let live = tmp.path().join("live");
    let s = serve(&live).await;
    let c = story(&s).await;
    let before = sams_record(&s, &c).await;
    let shown = format!("{before:?}");
    assert!(shown.contains(KEPT) && shown.contains(SECRET));

    // Appends go on, from another connection, while the backup streams.
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let appender = {
        let ch = s.ch.clone();
        let admin = s.admin.clone();
        tokio::spawn(async move {
            let mut a = pb::admin_client::AdminClient::new(ch);
            let mut n = 0u64;
            while !*stop_rx.borrow_and_update() {
                a.register_actor(req(
                    pb::RegisterActorRequest {
                        call: call(&format!("busy-{n}")),
                        id: format!("au-busy-{n}"),
                        role: pb::Role::Auditor as i32,
                        team: String::new(),
                        display_name: "Busy".into(),
                    },
                    &admin,
                ))
                .await
                .unwrap();
                n += 1;
            }
            n
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let file = tmp.path().join("live.withus-backup");
    let pass = passphrase_file(tmp.path(), "correct horse battery staple");
    let out = withus(args(&[
        "backup",
        "--server",
        &s.addr,
        "--token",
        &s.admin,
        "--out",
        p(&file),
        "--with-keys",
        "--passphrase-file",
        p(&pass),
    ]))
    .await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    stop_tx.send(true).unwrap();
    let appended = appender.await.unwrap();
    assert!(appended > 0);
    assert!(!tmp.path().join("live.withus-backup.partial").exists());

    // The backup is of one tree size N, and the live log went on past it.
    let live_size = pb::audit_client::AuditClient::new(s.ch.clone())
        .get_checkpoint(req(pb::GetCheckpointRequest {}, &c.ida))
        .await
        .unwrap()
        .into_inner()
        .tree_size;
    let live_entries = {
        let client = withus::grpc::client::Client::connect(&s.addr, &c.ida)
            .await
            .unwrap();
        let mut all = Vec::new();
        client
            .export_log(&mut |_, e| {
                all.push(e.to_vec());
                Ok(())
            })
            .await
            .unwrap();
        all
    };
    s.stop().await;

    let restored = tmp.path().join("restored");
    let out = withus(args(&[
        "restore",
        "--no-later-erasures",
        p(&file),
        "--data",
        p(&restored),
        "--passphrase-file",
        p(&pass),
    ]))
    .await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("(the backup checkpoint's)"),
        "{}",
        out.stdout
    );

    // Everything up to N, byte for byte, and nothing after.
    let n = {
        let store = LogStore::open_read_only(&restored).unwrap();
        let n = store.size();
        assert!(
            n > 0 && n < live_size,
            "backup of {n}, live log {live_size}"
        );
        let mut segments = 0;
        for e in store.entries(0, n) {
            let e = e.unwrap();
            assert_eq!(e.bytes, live_entries[e.seq as usize], "entry {}", e.seq);
            // Every segment an entry commits to is there (nothing was erased).
            for c in withus::store::segment_commits(&e.bytes) {
                assert!(
                    store.content(&c).unwrap().is_some(),
                    "content of seq {}",
                    e.seq
                );
                segments += 1;
            }
        }
        assert!(segments >= 5, "names and both passages: {segments}");
        n
    };
    let out = withus(args(&["log", "verify", "--data", p(&restored)])).await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.starts_with(&format!("ok: verified {n} entries")),
        "{}",
        out.stdout
    );

    // A server on the restored directory: the same tokens, the same record, the words there.
    let r = serve(&restored).await;
    let after = sams_record(&r, &c).await;
    // The same record; only `as_of`, the tree size it was read at, differs.
    let without_as_of = |record: &pb::Record| pb::Record {
        as_of_seq: 0,
        ..record.clone()
    };
    assert_eq!(without_as_of(&after), without_as_of(&before));
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_after_a_backup_is_reapplied_from_a_later_export() {
    let tmp = tempfile::tempdir().unwrap();
    let live = tmp.path().join("live");
    let s = serve(&live).await;
    let c = story(&s).await;

    // Backup 1, before the erasure, without key material.
    let b1 = tmp.path().join("before.withus-backup");
    let out = withus(args(&[
        "backup",
        "--server",
        &s.addr,
        "--token",
        &s.admin,
        "--out",
        p(&b1),
    ]))
    .await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    redact(&s, &c).await;

    // The later, text-free export, from the running server; and backup 2, after the erasure.
    let export = tmp.path().join("later.jsonl");
    let out = withus(args(&[
        "log",
        "export",
        "--server",
        &s.addr,
        "--token",
        &c.ida,
        "--out",
        p(&export),
    ]))
    .await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let pass = passphrase_file(tmp.path(), "a long enough passphrase");
    let b2 = tmp.path().join("after.withus-backup");
    let out = withus(args(&[
        "backup",
        "--server",
        &s.addr,
        "--token",
        &s.admin,
        "--out",
        p(&b2),
        "--with-keys",
        "--passphrase-file",
        p(&pass),
    ]))
    .await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    // `log verify --server` checks the streamed log against the checkpoint and a trusted vkey.
    let vkey = pb::audit_client::AuditClient::new(s.ch.clone())
        .get_checkpoint(req(pb::GetCheckpointRequest {}, &c.ida))
        .await
        .unwrap()
        .into_inner()
        .vkey;
    let out = withus(args(&[
        "log", "verify", "--server", &s.addr, "--token", &c.ida, "--vkey", &vkey,
    ]))
    .await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.starts_with("ok: verified"), "{}", out.stdout);
    // With another log's key it fails.
    let other = "withus.example/other+01020304+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4";
    let out = withus(args(&[
        "log", "verify", "--server", &s.addr, "--token", &c.ida, "--vkey", other,
    ]))
    .await;
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("FAILED"), "{}", out.stdout);
    s.stop().await;

    // The export over gRPC is byte for byte the export of the data directory.
    let from_data = tmp.path().join("from-data.jsonl");
    let out = withus(args(&[
        "log",
        "export",
        "--data",
        p(&live),
        "--out",
        p(&from_data),
    ]))
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        std::fs::read(&export).unwrap(),
        std::fs::read(&from_data).unwrap()
    );

    // What the live store erased: s2's salt and sealed text are gone from it.
    let (s1, s2) = {
        let store = LogStore::open_read_only(&live).unwrap();
        let (s1, s2) = note_commits(&store);
        assert!(store.content(&s2).unwrap().is_none());
        assert_eq!(store.content(&s1).unwrap().unwrap().text, KEPT);
        (s1, s2)
    };

    // Restoring backup 1 without the later export brings the words back — which is why the
    // export is needed. (No key material in it: the key file must be given.)
    let key_copy = tmp.path().join("checkpoint.key.copy");
    std::fs::copy(live.join("checkpoint.key"), &key_copy).unwrap();
    let r0 = tmp.path().join("r0");
    let out = withus(args(&[
        "restore",
        "--no-later-erasures",
        p(&b1),
        "--data",
        p(&r0),
    ]))
    .await;
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("checkpoint.key") && out.stderr.contains("--key-file"),
        "{}",
        out.stderr
    );
    assert!(!r0.exists(), "nothing written without a key");
    let out = withus(args(&[
        "restore",
        "--no-later-erasures",
        p(&b1),
        "--data",
        p(&r0),
        "--key-file",
        p(&key_copy),
    ]))
    .await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let (salt, sealed) = {
        let store = LogStore::open_read_only(&r0).unwrap();
        let back = store.content(&s2).unwrap().expect("the old backup has it");
        assert_eq!(back.text, SECRET);
        let sealed = store.sealed_content(&s2).unwrap().unwrap();
        (back.salt, sealed.sealed)
    };
    assert!(!holding(&r0, &salt).is_empty());

    // With the later export, the erasure is applied: s2 is never written.
    let r1 = tmp.path().join("r1");
    let out = withus(args(&[
        "restore",
        p(&b1),
        "--data",
        p(&r1),
        "--key-file",
        p(&key_copy),
        "--erasures-from",
        p(&export),
    ]))
    .await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("1 segments of the backup not written"),
        "{}",
        out.stdout
    );
    {
        let store = LogStore::open_read_only(&r1).unwrap();
        assert!(store.content(&s2).unwrap().is_none());
        assert_eq!(store.content(&s1).unwrap().unwrap().text, KEPT);
    }
    for needle in [&salt[..], &sealed[..32], SECRET.as_bytes()] {
        assert_eq!(holding(&r1, needle), Vec::<PathBuf>::new());
    }

    // Backup 2, taken after the erasure, restores without it, and without the export.
    let r2 = tmp.path().join("r2");
    let out = withus(args(&[
        "restore",
        "--no-later-erasures",
        p(&b2),
        "--data",
        p(&r2),
        "--passphrase-file",
        p(&pass),
    ]))
    .await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    {
        let store = LogStore::open_read_only(&r2).unwrap();
        assert!(store.content(&s2).unwrap().is_none());
        assert_eq!(store.content(&s1).unwrap().unwrap().text, KEPT);
    }
    for needle in [&salt[..], &sealed[..32], SECRET.as_bytes()] {
        assert_eq!(holding(&r2, needle), Vec::<PathBuf>::new());
    }
    // And the backup file itself no longer holds the salt either.
    assert!(!contains(&std::fs::read(&b2).unwrap(), &salt));

    // The person's record on the restored store: the passage removed by agreement, the rest
    // there.
    let r = serve(&r1).await;
    let record = format!("{:?}", sams_record(&r, &c).await);
    assert!(record.contains(KEPT), "{record}");
    assert!(!record.contains(SECRET), "{record}");
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_say_what_and_where() {
    let tmp = tempfile::tempdir().unwrap();
    let live = tmp.path().join("live");
    let s = serve(&live).await;
    let c = story(&s).await;

    // Only an admin takes a backup; auditors and admins export the log.
    for tok in [&c.ida, &c.amara, &c.sam] {
        let e = pb::admin_client::AdminClient::new(s.ch.clone())
            .backup(req(
                pb::BackupRequest {
                    with_keys: false,
                    passphrase: String::new(),
                },
                tok,
            ))
            .await
            .map(|_| ())
            .unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied, "{}", e.message());
    }
    let file = tmp.path().join("b");
    let out = withus(args(&[
        "backup",
        "--server",
        &s.addr,
        "--token",
        &c.ida,
        "--out",
        p(&file),
    ]))
    .await;
    assert_eq!(out.code, 4, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("PermissionDenied"), "{}", out.stderr);
    assert!(!file.exists() && !tmp.path().join("b.partial").exists());
    let e = pb::audit_client::AuditClient::new(s.ch.clone())
        .export_log(req(pb::ExportLogRequest { tree_size: 0 }, &c.amara))
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let e = pb::audit_client::AuditClient::new(s.ch.clone())
        .export_log(req(pb::ExportLogRequest { tree_size: 1 << 40 }, &c.ida))
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange);
    // A short passphrase is refused before anything streams.
    let e = pb::admin_client::AdminClient::new(s.ch.clone())
        .backup(req(
            pb::BackupRequest {
                with_keys: true,
                passphrase: "short".into(),
            },
            &s.admin,
        ))
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("12 characters"), "{}", e.message());

    let pass = passphrase_file(tmp.path(), "the right passphrase");
    let out = withus(args(&[
        "backup",
        "--server",
        &s.addr,
        "--token",
        &s.admin,
        "--out",
        p(&file),
        "--with-keys",
        "--passphrase-file",
        p(&pass),
    ]))
    .await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    // It does not overwrite unless asked.
    let out = withus(args(&[
        "backup",
        "--server",
        &s.addr,
        "--token",
        &s.admin,
        "--out",
        p(&file),
    ]))
    .await;
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("--force"), "{}", out.stderr);
    s.stop().await;

    let good = std::fs::read(&file).unwrap();
    let restore = |f: &Path, dir: &Path, pass: &Path| {
        args(&[
            "restore",
            "--no-later-erasures",
            p(f),
            "--data",
            p(dir),
            "--passphrase-file",
            p(pass),
        ])
    };

    // The wrong passphrase: nothing written.
    let wrong = tmp.path().join("wrong");
    std::fs::write(&wrong, "the wrong passphrase\n").unwrap();
    let dir = tmp.path().join("r-wrong");
    let out = withus(restore(&file, &dir, &wrong)).await;
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("wrong passphrase"), "{}", out.stderr);
    assert!(!dir.exists());

    // A cut file is refused, saying where it ends.
    let cut = tmp.path().join("cut");
    std::fs::write(&cut, &good[..good.len() / 2]).unwrap();
    let dir = tmp.path().join("r-cut");
    let out = withus(restore(&cut, &dir, &pass)).await;
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("truncated")
            && out.stderr.contains(&format!("byte {}", good.len() / 2)),
        "{}",
        out.stderr
    );
    assert!(!dir.exists(), "a failed restore leaves no store behind");
    assert!(!tmp.path().join("r-cut.restoring").exists());

    // A changed byte is refused, naming the record where it is.
    let tampered = tmp.path().join("tampered");
    let mut bad = good.clone();
    let at = good.len() * 2 / 3;
    bad[at] ^= 0x01;
    std::fs::write(&tampered, &bad).unwrap();
    let dir = tmp.path().join("r-tampered");
    let out = withus(restore(&tampered, &dir, &pass)).await;
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("byte ") && out.stderr.contains("altered"),
        "{}",
        out.stderr
    );

    // Not into a directory that holds anything (here, the live store).
    let out = withus(restore(&file, &live, &pass)).await;
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("not empty"), "{}", out.stderr);

    // An export of another log is not a later export of this one.
    let other = tmp.path().join("other");
    let other_dir = other.clone();
    tokio::task::spawn_blocking(move || {
        let other = other_dir;
        let store = LogStore::open(StoreConfig::new(&other)).unwrap();
        let mut b = withus::store::AppendBatch::default();
        b.events.push(withus::store::NewEvent {
            event_type: "meeting.recorded".into(),
            v: 1,
            stream: "meeting:x".into(),
            expected: withus::store::Expected::Any,
            subject: None,
            actor: withus::format::Actor {
                id: "a".into(),
                role: "peer_worker".into(),
            },
            data: serde_json::json!({}),
        });
        for _ in 0..40 {
            store.append_blocking(b.clone()).unwrap();
        }
        store.close().unwrap();
    })
    .await
    .unwrap();
    let foreign = tmp.path().join("foreign.jsonl");
    let out = withus(args(&[
        "log",
        "export",
        "--data",
        p(&other),
        "--out",
        p(&foreign),
    ]))
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let dir = tmp.path().join("r-foreign");
    let mut a = restore(&file, &dir, &pass);
    a.retain(|arg| arg != "--no-later-erasures");
    a.extend(args(&["--erasures-from", p(&foreign)]));
    let out = withus(a).await;
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("--erasures-from"), "{}", out.stderr);
    assert!(!dir.exists());

    // And the good file restores.
    let dir = tmp.path().join("r-good");
    let out = withus(restore(&file, &dir, &pass)).await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_a_client_stops_reading_does_not_hold_the_shutdown() {
    let tmp = tempfile::tempdir().unwrap();
    let s = serve(&tmp.path().join("live")).await;
    let c = story(&s).await;
    // About 3.5 MiB of content, so the backup is many chunks.
    pb::meetings_client::MeetingsClient::new(s.ch.clone())
        .record(req(
            pb::RecordMeetingRequest {
                call: call("meet-2"),
                meeting_id: "m-2".into(),
                support_id: "sp-1".into(),
                kind: pb::MeetingKind::OneToOne as i32,
                group_id: String::new(),
                goals: vec![],
                activities: vec![],
                mode: pb::MeetingMode::Phone as i32,
                place: pb::Place::Online as i32,
                place_detail: String::new(),
                occurred_at: Some(withus::grpc::convert::timestamp(
                    withus::domain::types::Time(
                        std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .unwrap()
                            .as_millis() as u64
                            - 1_800_000,
                    ),
                )),
                minutes: 20,
            },
            &c.amara,
        ))
        .await
        .unwrap();
    let segments = (0..56)
        .map(|i| {
            seg(
                &format!("big-{i}"),
                &format!("{i} {}", "words ".repeat(10_000)),
            )
        })
        .collect();
    pb::notes_client::NotesClient::new(s.ch.clone())
        .draft(req(
            pb::DraftNoteRequest {
                call: call("draft-2"),
                note_id: "n-2".into(),
                meeting_id: "m-2".into(),
                segments,
            },
            &c.amara,
        ))
        .await
        .unwrap();

    let mut stream = pb::admin_client::AdminClient::new(s.ch.clone())
        .backup(req(
            pb::BackupRequest {
                with_keys: false,
                passphrase: String::new(),
            },
            &s.admin,
        ))
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap();
    assert!(!first.last);
    // The client reads no further; the server is asked to stop.
    let _ = s.stop.send(());
    tokio::time::timeout(std::time::Duration::from_secs(10), s.task)
        .await
        .expect("the shutdown finishes although a backup stream is unread")
        .unwrap()
        .unwrap();
    // What the client then reads never ends with the last chunk.
    let mut last = false;
    loop {
        match stream.message().await {
            Ok(Some(chunk)) => last |= chunk.last,
            Ok(None) => break,
            Err(e) => {
                assert!(
                    matches!(
                        e.code(),
                        Code::Unavailable | Code::Unknown | Code::Cancelled
                    ),
                    "{e:?}"
                );
                break;
            }
        }
    }
    assert!(!last, "an interrupted backup is never complete");
}
