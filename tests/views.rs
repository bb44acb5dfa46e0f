//! Persisted views: they record the seq they have applied, catch up from there on open, are
//! rebuilt when unreadable or of another schema, and `withus rebuild` reproduces them byte for
//! byte.

mod common;

use std::process::Command as Process;

use common::world::{open_service, World};
use withus::domain::projection::VIEW_SCHEMA;
use withus::domain::types::*;
use withus::domain::Command;
use withus::format::Actor;
use withus::service::replay;
use withus::store::{AppendBatch, Expected, LogStore, NewEvent, StoreConfig};

async fn some_history() -> World {
    let w = World::new().await;
    w.accepted_support("sp-1", "su-sam", "pw-amara").await;
    w.meeting("m-1", "sp-1", "pw-amara").await;
    w.draft("n-1", "m-1", "pw-amara", &[("s1", "one"), ("s2", "two")])
        .await;
    w.ok(
        "su-sam",
        Command::ProposeRedaction {
            note_id: "n-1".into(),
            proposal_id: "r-1".into(),
            segments: vec!["s2".into()],
            reason: RedactionReason::NotWanted,
        },
    )
    .await;
    w.ok(
        "pw-amara",
        Command::AgreeRedaction {
            note_id: "n-1".into(),
            proposal_id: "r-1".into(),
        },
    )
    .await;
    w.svc.read_record("pw-amara", "su-sam", None).await.unwrap();
    w
}

fn withus(args: &[&str]) -> (i32, String) {
    let out = Process::new(env!("CARGO_BIN_EXE_withus"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_behind_the_log_catch_up_on_open() {
    let w = some_history().await;
    w.svc.flush_views().unwrap();
    let applied = w.svc.store().views_digest().unwrap().unwrap().0;
    assert_eq!(applied, w.size(), "flushed views cover every entry");
    let World {
        dir, clock, svc, ..
    } = w;
    svc.close().unwrap();
    // Entries appended while no service applied them (as after a crash between append and save).
    let store = LogStore::open(StoreConfig::new(dir.path())).unwrap();
    store
        .append(AppendBatch {
            events: vec![NewEvent {
                event_type: "consent.granted".into(),
                v: 1,
                stream: "consent:su-sam".into(),
                expected: Expected::Version(0),
                subject: Some("su-sam".into()),
                actor: Actor { id: "su-sam".into(), role: "service_user".into() },
                data: serde_json::json!({"consent_id": "c-1", "scope": "share_with_gp", "grantee": null, "expires_at": null, "on_behalf": false}),
            }],
            ..AppendBatch::default()
        })
        .await
        .unwrap();
    let size = store.size();
    assert_eq!(
        store.views_digest().unwrap().unwrap().0,
        applied,
        "views still at the old seq"
    );
    store.close().unwrap();

    let svc = open_service(dir.path(), clock);
    let p = svc.projections().unwrap();
    assert!(p.consents["su-sam"].consents.contains_key("c-1"));
    assert_eq!(p.applied, size);
    assert_eq!(
        p.encode_all(),
        replay(svc.store(), size).unwrap().encode_all()
    );
    svc.flush_views().unwrap();
    assert_eq!(svc.store().views_digest().unwrap().unwrap().0, size);
}

/// Nobody calls `flush_views` on a running server: the background saver must keep the persisted
/// views moving with the log, each save exactly a state the log passed through, and a process
/// that is dropped without `close` (as in a crash) must still reopen to the same projections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_are_saved_in_the_background_and_a_drop_without_close_loses_nothing() {
    let w = some_history().await;
    let size = w.size();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let saved = loop {
        let v = w.svc.store().load_views().unwrap().unwrap();
        if v.applied == size || std::time::Instant::now() > deadline {
            break v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(
        saved.applied, size,
        "the saver never caught up with the log"
    );
    // What was saved is the fold of exactly that prefix.
    let reloaded = withus::domain::Projections::load(saved.applied, saved.records).unwrap();
    let replayed = replay(w.svc.store(), size).unwrap();
    assert_eq!(reloaded.encode_all(), replayed.encode_all());

    let expected = w.svc.projections().unwrap().encode_all();
    let World {
        dir, clock, svc, ..
    } = w;
    drop(svc);
    let svc = open_service(dir.path(), clock);
    assert_eq!(svc.projections().unwrap().encode_all(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_or_outdated_views_are_rebuilt_from_the_log() {
    let w = some_history().await;
    let expected = w.svc.projections().unwrap().encode_all();
    let World {
        dir, clock, svc, ..
    } = w;
    let size = svc.store().size();
    // An old schema: rebuilt.
    let records = svc.store().load_views().unwrap().unwrap().records;
    svc.store()
        .replace_views(size, VIEW_SCHEMA + 1, records)
        .unwrap();
    svc.close().unwrap();
    let svc = open_service(dir.path(), clock.clone());
    assert_eq!(svc.projections().unwrap().encode_all(), expected);
    assert_eq!(
        svc.store().load_views().unwrap().unwrap().schema,
        VIEW_SCHEMA
    );
    // A damaged record: rebuilt.
    let mut records = svc.store().load_views().unwrap().unwrap().records;
    records[0].1 = b"{not json".to_vec();
    svc.store()
        .replace_views(size, VIEW_SCHEMA, records)
        .unwrap();
    svc.close().unwrap();
    let svc = open_service(dir.path(), clock);
    assert_eq!(svc.projections().unwrap().encode_all(), expected);
    svc.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withus_rebuild_yields_byte_identical_views_and_check_catches_a_difference() {
    let w = some_history().await;
    let World { dir, svc, .. } = w;
    svc.flush_views().unwrap();
    let before = svc.store().load_views().unwrap().unwrap();
    svc.close().unwrap();
    let d = dir.path().to_str().unwrap();

    let (code, out) = withus(&["rebuild", "--data", d, "--check"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("unchanged"), "{out}");
    let store = LogStore::open(StoreConfig::new(dir.path())).unwrap();
    assert!(
        store.load_views().unwrap().unwrap() == before,
        "byte-identical records and marker"
    );
    // Views that differ from a replay (here: edited by hand) are reported and replaced.
    let mut records = before.records.clone();
    let i = records
        .iter()
        .position(|(k, _)| k.starts_with(b"note/"))
        .unwrap();
    records[i].1 = String::from_utf8(records[i].1.clone())
        .unwrap()
        .replace("\"revision\":1", "\"revision\":7")
        .into_bytes();
    assert_ne!(records[i].1, before.records[i].1);
    store
        .replace_views(before.applied, before.schema, records)
        .unwrap();
    store.close().unwrap();
    let (code, out) = withus(&["rebuild", "--data", d, "--check"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("CHANGED"), "{out}");
    let store = LogStore::open(StoreConfig::new(dir.path())).unwrap();
    assert!(store.load_views().unwrap().unwrap() == before);
    store.close().unwrap();
    let (code, out) = withus(&["rebuild", "--data", "/nonexistent/withus"]);
    assert_eq!(code, 3, "{out}");
}
