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
    let edited = String::from_utf8_lossy(&records[i].0).into_owned();
    store
        .replace_views(before.applied, before.schema, records)
        .unwrap();
    store.close().unwrap();
    let (code, out) = withus(&["rebuild", "--data", d, "--check"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("CHANGED"), "{out}");
    assert!(
        out.contains(&format!("first at record {edited}")),
        "the report names the record that drifted: {out}"
    );
    let store = LogStore::open(StoreConfig::new(dir.path())).unwrap();
    assert!(store.load_views().unwrap().unwrap() == before);
    store.close().unwrap();
    let (code, out) = withus(&["rebuild", "--data", "/nonexistent/withus"]);
    assert_eq!(code, 3, "{out}");
}

/// The views tree's own layout, below the service: a snapshot, then one delta per save. What
/// loads is the snapshot overlaid with every delta up to the marker; compaction folds the deltas
/// into a new snapshot without changing what loads; writes a crash would leave half done are
/// ignored (and cleared by the next save), and a delta the marker vouches for that is altered
/// or missing a chunk is refused (the service then rebuilds).
#[test]
fn deltas_compaction_and_interrupted_writes_load_the_right_views() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    for i in 0..40u64 {
        store
            .append_blocking(common::batch(
                None,
                vec![common::event("note:n-1", None, Expected::Version(i))],
            ))
            .unwrap();
    }
    let rec = |k: &str, v: &str| (k.as_bytes().to_vec(), v.as_bytes().to_vec());
    store
        .replace_views(1, 9, vec![rec("a/1", "one"), rec("a/2", "two")])
        .unwrap();
    // 30 saves of ~40 KiB each.
    let filler = "x".repeat(40 * 1024);
    for i in 2..32u64 {
        let mut changed = vec![rec(&format!("m/{i:03}"), &filler)];
        if i % 5 == 0 {
            changed.push(rec("a/1", &format!("one at {i}")));
        }
        store.save_views(i, 9, changed).unwrap();
    }
    let before = store.load_views().unwrap().unwrap();
    assert_eq!(before.applied, 31);
    assert_eq!(before.records.len(), 2 + 30);
    let a1 = before.records.iter().find(|(k, _)| k == b"a/1").unwrap();
    assert_eq!(a1.1, b"one at 30", "later deltas win");
    let digest = store.views_digest().unwrap().unwrap();
    store.compact_views().unwrap();
    assert_eq!(store.load_views().unwrap().unwrap(), before);
    assert_eq!(store.views_digest().unwrap().unwrap(), digest);
    // A delta of several chunks, on top of the new snapshot.
    let big: Vec<_> = (0..4)
        .map(|j| rec(&format!("n/{j}"), &"y".repeat(50 * 1024)))
        .collect();
    store.save_views(35, 9, big).unwrap();
    let with_big = store.load_views().unwrap().unwrap();
    store.close().unwrap();

    let keys = |tag: u8| {
        let db = common::raw_sled(dir.path());
        let t = db.open_tree("views").unwrap();
        t.scan_prefix([tag]).count()
    };
    // Two 64 KiB chunks of two records each; the deltas before the snapshot are gone.
    assert_eq!(keys(b'D'), 2, "only the newest delta's chunks are left");
    assert!(keys(b'S') >= 1);
    {
        // What a crash could leave: a snapshot never pointed at, a delta chunk from a save that
        // never landed, a stray extra chunk of a save at the marker's seq.
        let db = common::raw_sled(dir.path());
        let t = db.open_tree("views").unwrap();
        let key = |tag: u8, seq: u64, chunk: u32| {
            let mut k = vec![tag];
            k.extend_from_slice(&seq.to_be_bytes());
            k.extend_from_slice(&chunk.to_be_bytes());
            k
        };
        let mut junk = 1u32.to_be_bytes().to_vec();
        junk.extend_from_slice(&[0, 0, 0, 3, b'a', b'/', b'1', 0, 0, 0, 3, b'b', b'a', b'd']);
        t.insert(key(b'S', 38, 0), &junk[4..]).unwrap();
        t.insert(key(b'D', 36, 0), &junk[..]).unwrap();
        t.insert(key(b'D', 35, 9), &junk[..]).unwrap();
        db.flush().unwrap();
    }
    let store = common::open(dir.path());
    assert_eq!(store.load_views().unwrap().unwrap(), with_big);
    // The next save passes the stray delta's seq: it is cleared, not counted.
    store.save_views(37, 9, vec![rec("a/3", "three")]).unwrap();
    let with_three = store.load_views().unwrap().unwrap();
    assert_eq!(with_three.records.len(), with_big.records.len() + 1);
    store.close().unwrap();
    let delta_key = |seq: u64, chunk: u32| {
        let mut k = vec![b'D'];
        k.extend_from_slice(&seq.to_be_bytes());
        k.extend_from_slice(&chunk.to_be_bytes());
        k
    };
    // A delta the marker vouches for, altered (same length, so only the chain can tell).
    let original = {
        let db = common::raw_sled(dir.path());
        let t = db.open_tree("views").unwrap();
        let v = t.get(delta_key(35, 1)).unwrap().unwrap();
        let mut altered = v.to_vec();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        t.insert(delta_key(35, 1), altered).unwrap();
        db.flush().unwrap();
        v
    };
    let store = common::open(dir.path());
    assert!(matches!(
        store.load_views(),
        Err(withus::store::StoreError::Corrupt { .. })
    ));
    store.close().unwrap();
    // A delta the marker vouches for, missing a chunk.
    {
        let db = common::raw_sled(dir.path());
        let t = db.open_tree("views").unwrap();
        t.insert(delta_key(35, 1), original).unwrap();
        db.flush().unwrap();
    }
    let store = common::open(dir.path());
    assert_eq!(store.load_views().unwrap().unwrap(), with_three);
    store.close().unwrap();
    {
        let db = common::raw_sled(dir.path());
        let t = db.open_tree("views").unwrap();
        assert!(t.remove(delta_key(35, 1)).unwrap().is_some());
        db.flush().unwrap();
    }
    let store = common::open(dir.path());
    assert!(matches!(
        store.load_views(),
        Err(withus::store::StoreError::Corrupt { .. })
    ));
}
