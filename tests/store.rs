//! The log store's promises, on real sled in temporary directories: idempotency, optimistic
//! concurrency, time that never runs backwards, recovery of derived records, refusal of newer or
//! damaged stores, erasure that leaves nothing behind, and proofs for every size.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{batch, event, open, open_with_clock, raw_sled, TestClock};
use withus::format::EntryView;
use withus::merkle;
use withus::store::{AppendBatch, Expected, LogStore, StoreError};

#[test]
fn a_repeated_command_returns_the_first_receipts_and_appends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let b = batch(
        Some("c-1"),
        vec![event("meeting:m-1", Some("su-sam"), Expected::Version(0))],
    );
    let first = store.append_blocking(b.clone()).unwrap();
    let again = store.append_blocking(b.clone()).unwrap();
    assert_eq!(first, again);
    assert_eq!(store.size(), 1);
    store.close().unwrap();
    // Still remembered after a restart, from the command index.
    let store = open(dir.path());
    assert_eq!(store.append_blocking(b).unwrap(), first);
    assert_eq!(store.size(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_repeated_within_one_group_is_appended_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    let b = batch(
        Some("c-same"),
        vec![event("meeting:m-1", Some("su-sam"), Expected::Any)],
    );
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (s, b) = (Arc::clone(&store), b.clone());
            tokio::spawn(async move { s.append(b).await })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap().unwrap());
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(store.size(), 1);
}

#[test]
fn a_stale_expected_version_is_a_conflict_naming_stream_and_versions() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for v in 0..3 {
        store
            .append_blocking(batch(
                None,
                vec![event("note:n-1", Some("su-sam"), Expected::Version(v))],
            ))
            .unwrap();
    }
    let err = store
        .append_blocking(batch(
            None,
            vec![event("note:n-1", Some("su-sam"), Expected::Version(1))],
        ))
        .unwrap_err();
    match err {
        StoreError::Conflict {
            stream,
            expected,
            actual,
        } => {
            assert_eq!((stream.as_str(), expected, actual), ("note:n-1", 1, 3));
        }
        other => panic!("expected a conflict, got {other}"),
    }
    // Nothing of a refused batch is appended, even its valid events.
    let mixed = batch(
        None,
        vec![
            event("note:n-2", Some("su-sam"), Expected::Version(0)),
            event("note:n-1", None, Expected::Version(0)),
        ],
    );
    assert!(matches!(
        store.append_blocking(mixed),
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(store.size(), 3);
    assert_eq!(store.stream_len("note:n-2").unwrap(), 0);
}

#[test]
fn events_of_one_batch_for_one_stream_take_consecutive_versions() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let b = batch(
        None,
        vec![
            event("note:n-1", Some("su-sam"), Expected::Version(0)),
            event("note:n-1", Some("su-sam"), Expected::Version(1)),
            event("note:n-1", Some("su-sam"), Expected::Any),
        ],
    );
    let r = store.append_blocking(b).unwrap();
    assert_eq!(
        r.iter().map(|r| r.tree_size).collect::<Vec<_>>(),
        vec![3, 3, 3]
    );
    let versions: Vec<u64> = store
        .stream_entries("note:n-1")
        .unwrap()
        .iter()
        .map(|e| EntryView::parse(&e.bytes).unwrap().version)
        .collect();
    assert_eq!(versions, vec![0, 1, 2]);
}

#[test]
fn at_never_decreases_when_the_clock_steps_back() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(TestClock::default());
    clock.set(1_795_251_600_000);
    let store = open_with_clock(dir.path(), clock.clone());
    store
        .append_blocking(batch(None, vec![event("meeting:m-1", None, Expected::Any)]))
        .unwrap();
    clock.set(1_795_251_000_000); // ten minutes earlier
    store
        .append_blocking(batch(None, vec![event("meeting:m-2", None, Expected::Any)]))
        .unwrap();
    store.close().unwrap();
    // Also across a restart.
    let store = open_with_clock(dir.path(), clock.clone());
    store
        .append_blocking(batch(None, vec![event("meeting:m-3", None, Expected::Any)]))
        .unwrap();
    let ats: Vec<String> = store
        .entries(0, 3)
        .map(|e| EntryView::parse(&e.unwrap().bytes).unwrap().at.into_owned())
        .collect();
    assert_eq!(ats, vec!["2026-11-21T09:00:00.000Z"; 3]);
    assert!(store.verify(&mut |_, _| {}).unwrap().ok());
}

#[test]
fn bad_input_is_refused_with_the_field_named_and_nothing_appended() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let with = |f: &dyn Fn(&mut withus::store::NewEvent)| {
        let mut e = event("meeting:m-1", None, Expected::Any);
        f(&mut e);
        batch(None, vec![e])
    };
    let cases: Vec<(AppendBatch, &str)> = vec![
        (batch(None, vec![]), "events"),
        (
            batch(
                Some("has space"),
                vec![event("meeting:m-1", None, Expected::Any)],
            ),
            "command",
        ),
        (
            batch(None, vec![event("no-colon", None, Expected::Any)]),
            "events[0].stream",
        ),
        (
            batch(None, vec![event("meeting:m-1", Some(""), Expected::Any)]),
            "events[0].subject",
        ),
        (
            with(&|e| e.data = serde_json::json!([1, 2])),
            "events[0].data",
        ),
        (
            with(&|e| e.data = serde_json::json!({"x": "a".repeat(20_000)})),
            "events[0].data",
        ),
        (with(&|e| e.v = 0), "events[0].v"),
        (
            with(&|e| e.event_type = "note.drafted\n".into()),
            "events[0].type",
        ),
        (
            with(&|e| e.actor.role = "peer worker".into()),
            "events[0].actor.role",
        ),
    ];
    for (b, field) in cases {
        match store.append_blocking(b) {
            Err(StoreError::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: expected Invalid, got {other:?}"),
        }
    }
    assert_eq!(store.size(), 0);
    assert!(matches!(
        store.stage_content("s1", &"x".repeat(70_000)),
        Err(StoreError::Invalid { .. })
    ));
}

#[test]
fn proofs_verify_for_every_pair_of_sizes_up_to_three_hundred() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    // Uneven batch sizes, so Merkle blocks start at awkward seqs.
    let mut n = 0u64;
    for size in [1usize, 2, 3, 5, 7, 11, 13, 64, 100, 94] {
        let events = (0..size)
            .map(|i| {
                event(
                    &format!("meeting:m-{}", n + i as u64),
                    Some("su-sam"),
                    Expected::Any,
                )
            })
            .collect();
        store.append_blocking(batch(None, events)).unwrap();
        n += size as u64;
    }
    assert_eq!(n, 300);
    let leaves: Vec<_> = (0..n)
        .map(|s| store.entry(s).unwrap().unwrap().leaf_hash())
        .collect();
    let roots: Vec<_> = (0..=n).map(|k| store.root(k).unwrap()).collect();
    for size in 1..=n {
        for m in 0..size {
            let path = store.inclusion_proof(m, size).unwrap();
            assert!(
                merkle::verify_inclusion(
                    &leaves[m as usize],
                    m,
                    size,
                    &path,
                    &roots[size as usize]
                ),
                "({m}, {size})"
            );
        }
        for m in 1..=size {
            let proof = store.consistency_proof(m, size).unwrap();
            assert!(
                merkle::verify_consistency(
                    m,
                    size,
                    &roots[m as usize],
                    &roots[size as usize],
                    &proof
                ),
                "consistency ({m}, {size})"
            );
        }
    }
    assert!(store.inclusion_proof(300, 300).is_err());
    assert!(store.consistency_proof(0, 10).is_err());
    assert!(store.root(301).is_err());
}

#[test]
fn derived_records_are_rebuilt_from_the_log_when_missing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    append_note_versions(&store, 50);
    let root = store.root(50).unwrap();
    store.close().unwrap();
    wipe_derived(dir.path());
    let store = open(dir.path());
    assert_eq!(store.root(50).unwrap(), root);
    assert_eq!(store.stream_len("note:n-1").unwrap(), 50);
    assert_eq!(store.subject_seqs("su-sam").unwrap().len(), 50);
    // The command index is rebuilt too: a retry still appends nothing.
    let r = store
        .append_blocking(batch(
            Some("c-7"),
            vec![event("note:n-1", Some("su-sam"), Expected::Any)],
        ))
        .unwrap();
    assert_eq!(r[0].seq, 7);
    assert!(store.verify(&mut |_, _| {}).unwrap().ok());
}

/// The writer answers "which version is this stream at, was this command seen" from the index in
/// memory, which open loads from the postings records — or, when they are gone, rebuilds from
/// the log. Either way a restart changes no answer: versions continue, retries are recognised.
#[test]
fn stream_versions_and_command_ids_survive_a_restart_whether_the_index_is_loaded_or_rebuilt() {
    for wipe in [false, true] {
        let cache = if wipe { "rebuilt" } else { "loaded" };
        let dir = tempfile::tempdir().unwrap();
        let open_cached = || open(dir.path());
        let store = open_cached();
        for i in 0..12u64 {
            let stream = format!("note:n-{}", i % 4);
            store
                .append_blocking(batch(
                    Some(&format!("c-{i}")),
                    vec![event(&stream, Some("su-sam"), Expected::Version(i / 4))],
                ))
                .unwrap();
        }
        store.close().unwrap();
        if wipe {
            wipe_derived(dir.path());
        }
        let store = open_cached();
        // Each stream holds 3 events: version 3 is next, 0 is refused with the truth.
        let r = store
            .append_blocking(batch(
                Some("c-new"),
                vec![event("note:n-1", Some("su-sam"), Expected::Version(3))],
            ))
            .unwrap();
        assert_eq!(r[0].seq, 12, "cache {cache}");
        match store.append_blocking(batch(
            None,
            vec![event("note:n-2", Some("su-sam"), Expected::Version(0))],
        )) {
            Err(StoreError::Conflict {
                stream, actual: 3, ..
            }) => assert_eq!(stream, "note:n-2"),
            other => panic!("cache {cache}: want a conflict at 3, got {other:?}"),
        }
        // A new stream starts at 0; a retried command gets its first receipts back.
        store
            .append_blocking(batch(
                None,
                vec![event("note:n-9", None, Expected::Version(0))],
            ))
            .unwrap();
        let again = store
            .append_blocking(batch(
                Some("c-5"),
                vec![event("note:n-1", Some("su-sam"), Expected::Any)],
            ))
            .unwrap();
        assert_eq!(again[0].seq, 5, "cache {cache}");
        assert_eq!(store.size(), 14, "cache {cache}");
        assert!(store.verify(&mut |_, _| {}).unwrap().ok());
    }
}

/// Deletes every derived record (postings, Merkle blocks, watermark) beside the entries.
/// `n` appends to stream `note:n-1` about su-sam, each its own command (`c-0`, `c-1`, …) and
/// each expecting the version before it.
fn append_note_versions(store: &LogStore, n: u64) {
    for i in 0..n {
        store
            .append_blocking(batch(
                Some(&format!("c-{i}")),
                vec![event("note:n-1", Some("su-sam"), Expected::Version(i))],
            ))
            .unwrap();
    }
}

fn wipe_derived(dir: &Path) {
    let db = common::raw_sled(dir);
    let log = db.open_tree("log").unwrap();
    for tag in [b'N', b'P'] {
        for kv in log.scan_prefix([tag]) {
            log.remove(kv.unwrap().0).unwrap();
        }
    }
    log.remove(b"W").unwrap();
    db.flush().unwrap();
}

fn set_in_sled(dir: &Path, tree: &str, key: &[u8], value: &[u8]) {
    let db = common::raw_sled(dir);
    db.open_tree(tree).unwrap().insert(key, value).unwrap();
    db.flush().unwrap();
}

#[test]
fn a_store_of_a_newer_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    open(dir.path()).close().unwrap();
    let newer = withus::store::FORMAT_VERSION + 1;
    set_in_sled(dir.path(), "log", b"Mformat", &newer.to_be_bytes());
    match LogStore::open(withus::store::StoreConfig::new(dir.path())) {
        Err(StoreError::NewerFormat { found, supported })
            if found == newer && supported == withus::store::FORMAT_VERSION => {}
        other => panic!("expected NewerFormat, got {:?}", other.err()),
    }
}

/// Format 1 kept the derived records in a `derived` tree of their own. Opening such a store
/// drops that tree, derives the records beside the entries, and marks the store format 2;
/// nothing of the log changes.
#[test]
fn a_format_1_store_is_migrated_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    append_note_versions(&store, 20);
    let root = store.root(20).unwrap();
    store.close().unwrap();
    // Rewrite it as format 1 wrote it: derived records moved to their own tree.
    {
        let db = common::raw_sled(dir.path());
        let log = db.open_tree("log").unwrap();
        let old = db.open_tree("derived").unwrap();
        let derived: Vec<_> = [b'N', b'P', b'W']
            .iter()
            .flat_map(|t| log.scan_prefix([*t]).map(|kv| kv.unwrap()))
            .collect();
        assert!(derived.len() >= 3);
        for (k, v) in derived {
            old.insert(&k, v).unwrap();
            log.remove(&k).unwrap();
        }
        log.insert(b"Mformat", &1u32.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let store = open(dir.path());
    assert_eq!(store.root(20).unwrap(), root);
    assert_eq!(store.stream_len("note:n-1").unwrap(), 20);
    assert!(store.verify(&mut |_, _| {}).unwrap().ok());
    store.close().unwrap();
    let db = common::raw_sled(dir.path());
    assert!(!db.tree_names().iter().any(|n| &n[..] == b"derived"));
    let format = db
        .open_tree("log")
        .unwrap()
        .get(b"Mformat")
        .unwrap()
        .unwrap();
    assert_eq!(
        format.as_ref(),
        &withus::store::FORMAT_VERSION.to_be_bytes()
    );
}

/// Format 2's postings named no actor for an entry's command. Opening such a store derives its
/// postings again from the entries (which name the actor), so every command id is found under
/// its actor and a retry is still answered with the first call's receipts.
#[test]
fn a_format_2_store_is_migrated_on_open_and_keeps_its_command_ids() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut first = Vec::new();
    for i in 0..6 {
        let cmd = format!("cmd-{i}");
        first.push(
            store
                .append_blocking(batch(
                    Some(&cmd),
                    vec![event("meeting:m-1", Some("su-sam"), Expected::Any)],
                ))
                .unwrap(),
        );
    }
    let root = store.root(6).unwrap();
    store.close().unwrap();
    // Rewrite the postings as format 2 wrote them: no actor after a command.
    {
        let db = common::raw_sled(dir.path());
        let log = db.open_tree("log").unwrap();
        let records: Vec<_> = log.scan_prefix([b'P']).map(|kv| kv.unwrap()).collect();
        assert!(!records.is_empty());
        for (k, v) in records {
            let mut old = Vec::new();
            for p in withus::store::index::Decoder::new(&v) {
                let p = p.unwrap();
                assert_eq!(p.actor, Some("pw-amara"));
                let name = |old: &mut Vec<u8>, n: Option<&str>| {
                    let n = n.unwrap_or("");
                    old.push(n.len() as u8);
                    old.extend_from_slice(n.as_bytes());
                };
                name(&mut old, Some(p.stream));
                old.extend_from_slice(&p.version.to_be_bytes());
                name(&mut old, p.subject);
                name(&mut old, p.command);
            }
            log.insert(&k, old).unwrap();
        }
        log.insert(b"Mformat", &2u32.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let store = open(dir.path());
    assert_eq!(store.root(6).unwrap(), root);
    assert!(store.verify(&mut |_, _| {}).unwrap().ok());
    for (i, receipts) in first.iter().enumerate() {
        let cmd = format!("cmd-{i}");
        assert_eq!(
            store
                .command_receipts("pw-amara", &cmd, None)
                .unwrap()
                .as_ref(),
            Some(receipts)
        );
        assert_eq!(store.command_receipts("su-sam", &cmd, None).unwrap(), None);
        let again = store
            .append_blocking(batch(
                Some(&cmd),
                vec![event("meeting:m-1", Some("su-sam"), Expected::Any)],
            ))
            .unwrap();
        assert_eq!(&again, receipts, "a retry after the migration");
    }
    assert_eq!(store.size(), 6, "retries appended nothing");
    store.close().unwrap();
    let db = common::raw_sled(dir.path());
    let format = db
        .open_tree("log")
        .unwrap()
        .get(b"Mformat")
        .unwrap()
        .unwrap();
    assert_eq!(format.as_ref(), &3u32.to_be_bytes());
}

#[test]
fn a_damaged_head_is_refused_on_open_but_can_be_verified_and_exported_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for _ in 0..5 {
        store
            .append_blocking(batch(
                None,
                vec![event("meeting:m-1", Some("su-sam"), Expected::Any)],
            ))
            .unwrap();
    }
    let original = store.entry(4).unwrap().unwrap().bytes;
    store.close().unwrap();
    let mut key = vec![b'E'];
    key.extend_from_slice(&4u64.to_be_bytes());
    let altered = String::from_utf8(original)
        .unwrap()
        .replace("\"minutes\":45", "\"minutes\":46");
    set_in_sled(dir.path(), "log", &key, altered.as_bytes());
    match LogStore::open(withus::store::StoreConfig::new(dir.path())) {
        Err(StoreError::Corrupt { seq: Some(4), .. }) => {}
        other => panic!("expected Corrupt at 4, got {:?}", other.err()),
    }
    let ro = LogStore::open_read_only(dir.path()).unwrap();
    let report = ro.verify(&mut |_, _| {}).unwrap();
    assert_eq!(report.failure.unwrap().seq, Some(4));
    let exported: Vec<_> = ro.entries(0, ro.size()).map(|e| e.unwrap().bytes).collect();
    assert_eq!(exported.len(), 5);
    assert_eq!(exported[4], altered.as_bytes());
    assert!(matches!(
        ro.append_blocking(batch(None, vec![event("m:x", None, Expected::Any)])),
        Err(StoreError::ReadOnly)
    ));
}

/// Every file under `dir`, byte for byte.
fn all_bytes(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn erased_content_leaves_neither_text_nor_salt_anywhere_in_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let secret = "Talked about the hard week with my brother, zebra-quartz-4471.";
    let kept = "Sam said the walking group helped.";
    let (seg, staged) = store.stage_content("s3", secret).unwrap();
    let (seg2, staged2) = store.stage_content("s4", kept).unwrap();
    let mut e = event("note:n-1", Some("su-sam"), Expected::Version(0));
    e.event_type = "note.drafted".into();
    e.data = serde_json::json!({"note_id": "n-1", "segments": [seg.to_json(), seg2.to_json()]});
    store
        .append_blocking(AppendBatch {
            command: Some("c-1".into()),
            events: vec![e],
            contents: vec![staged, staged2],
            ..Default::default()
        })
        .unwrap();
    let content = store
        .content(&seg.commit)
        .unwrap()
        .expect("content is readable before erasure");
    assert_eq!(content.text, secret);
    let salt = content.salt;
    store.close().unwrap();
    // At rest the text is sealed: not even a live segment's text is in any file.
    for (p, bytes) in all_bytes(dir.path()) {
        assert!(
            !contains(&bytes, secret.as_bytes()),
            "plain text found in {}",
            p.display()
        );
    }
    assert!(
        all_bytes(dir.path())
            .iter()
            .any(|(_, b)| contains(b, &salt)),
        "the salt is on disk before erasure"
    );

    let store = open(dir.path());
    let mut agreed = event("note:n-1", Some("su-sam"), Expected::Version(1));
    agreed.event_type = "redaction.agreed".into();
    agreed.data = serde_json::json!({"proposal_id": "r-1"});
    store
        .append_blocking(AppendBatch {
            command: Some("c-2".into()),
            events: vec![agreed],
            contents: vec![],
            erase: vec![seg.commit],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(store.content(&seg.commit).unwrap(), None);
    assert_eq!(store.content(&seg2.commit).unwrap().unwrap().text, kept);
    store.close().unwrap();

    for (p, bytes) in all_bytes(dir.path()) {
        assert!(
            !contains(&bytes, secret.as_bytes()),
            "erased text found in {}",
            p.display()
        );
        assert!(
            !contains(&bytes, &salt),
            "erased salt found in {}",
            p.display()
        );
    }
    let store = open(dir.path());
    assert_eq!(store.content(&seg.commit).unwrap(), None);
    let report = store.verify(&mut |_, _| {}).unwrap();
    assert!(report.ok(), "{:?}", report.failure);
    assert_eq!(report.contents, 1);
    let root = store.root(2).unwrap();
    for m in 0..2 {
        let leaf = store.entry(m).unwrap().unwrap().leaf_hash();
        assert!(merkle::verify_inclusion(
            &leaf,
            m,
            2,
            &store.inclusion_proof(m, 2).unwrap(),
            &root
        ));
    }
}

#[test]
fn an_erasure_interrupted_before_its_salt_was_wiped_is_finished_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (seg, staged) = store
        .stage_content("s1", "a passage to remove, quokka-9912")
        .unwrap();
    let mut e = event("note:n-1", Some("su-sam"), Expected::Any);
    e.data = serde_json::json!({"segments": [seg.to_json()]});
    store
        .append_blocking(AppendBatch {
            events: vec![e],
            contents: vec![staged],
            ..AppendBatch::default()
        })
        .unwrap();
    let salt = store.content(&seg.commit).unwrap().unwrap().salt;
    store.close().unwrap();
    // The state a crash leaves between the durable marker and the wipe.
    let mut key = vec![b'X'];
    key.extend_from_slice(&seg.commit);
    set_in_sled(dir.path(), "log", &key, b"");
    let store = open(dir.path());
    assert_eq!(store.content(&seg.commit).unwrap(), None);
    store.close().unwrap();
    for (p, bytes) in all_bytes(dir.path()) {
        assert!(!contains(&bytes, &salt), "salt left in {}", p.display());
    }
}

#[test]
fn verifying_since_a_trusted_checkpoint_checks_only_what_came_after() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for i in 0..40u64 {
        store
            .append_blocking(batch(
                None,
                vec![event(
                    &format!("note:n-{}", i % 3),
                    Some(&format!("su-{}", i % 4)),
                    Expected::Any,
                )],
            ))
            .unwrap();
    }
    let checkpoint = store.checkpoint().unwrap();
    let vkey = store.vkey().unwrap();
    for i in 0..25u64 {
        store
            .append_blocking(batch(
                None,
                vec![event(
                    &format!("note:n-{}", i % 5),
                    Some(&format!("su-{}", i % 6)),
                    Expected::Any,
                )],
            ))
            .unwrap();
    }
    let report = store
        .verify_since(&checkpoint, &vkey, &mut |_, _| {})
        .unwrap();
    assert!(report.ok(), "{:?}", report.failure);
    assert_eq!((report.entries, report.size), (25, 65));
    assert_eq!(report.root, store.root(65).unwrap());
    // A checkpoint signed by another key is refused.
    let other = tempfile::tempdir().unwrap();
    let other_vkey = open(other.path()).vkey().unwrap();
    assert!(store
        .verify_since(&checkpoint, &other_vkey, &mut |_, _| {})
        .is_err());
    store.close().unwrap();
    // An entry after the checkpoint altered: found, by seq.
    let mut key = vec![b'E'];
    key.extend_from_slice(&50u64.to_be_bytes());
    let db = common::raw_sled(dir.path());
    let log = db.open_tree("log").unwrap();
    let bytes = log.get(&key).unwrap().unwrap().to_vec();
    let altered = String::from_utf8(bytes)
        .unwrap()
        .replace("in_person", "in_persom");
    log.insert(&key, altered.as_bytes()).unwrap();
    db.flush().unwrap();
    drop((log, db));
    let ro = LogStore::open_read_only(dir.path()).unwrap();
    let report = ro.verify_since(&checkpoint, &vkey, &mut |_, _| {}).unwrap();
    assert_eq!(report.failure.unwrap().seq, Some(50));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_writers_on_shared_streams_lose_and_duplicate_no_version() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    let streams = 8u64;
    let per_task = 20u64;
    let tasks: Vec<_> = (0..64u64)
        .map(|t| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let stream = format!("note:n-{}", t % streams);
                let (mut ok, mut conflicts) = (Vec::new(), 0u64);
                while (ok.len() as u64) < per_task {
                    let seen = store.stream_len(&stream).unwrap();
                    let b = batch(
                        None,
                        vec![event(&stream, Some("su-sam"), Expected::Version(seen))],
                    );
                    match store.append(b).await {
                        Ok(r) => ok.push((seen, r[0].seq)),
                        Err(StoreError::Conflict {
                            expected, actual, ..
                        }) => {
                            assert_eq!(expected, seen);
                            assert!(
                                actual > seen,
                                "a conflict means someone else got there first"
                            );
                            conflicts += 1;
                        }
                        Err(e) => panic!("unexpected error {e}"),
                    }
                }
                (stream, ok, conflicts)
            })
        })
        .collect();
    let mut by_stream: std::collections::HashMap<String, Vec<(u64, u64)>> = Default::default();
    let mut conflicts = 0;
    for t in tasks {
        let (stream, ok, c) = t.await.unwrap();
        by_stream.entry(stream).or_default().extend(ok);
        conflicts += c;
    }
    assert!(
        conflicts > 0,
        "64 writers on 8 streams must collide sometimes"
    );
    let mut all_seqs = std::collections::HashSet::new();
    for (stream, mut won) in by_stream {
        won.sort_unstable();
        let versions: Vec<u64> = won.iter().map(|w| w.0).collect();
        assert_eq!(
            versions,
            (0..8 * per_task).collect::<Vec<_>>(),
            "{stream}: every version exactly once"
        );
        for (version, seq) in won {
            assert!(all_seqs.insert(seq));
            let e = store.entry(seq).unwrap().unwrap();
            let v = EntryView::parse(&e.bytes).unwrap();
            assert_eq!((v.stream.as_ref(), v.version), (stream.as_str(), version));
        }
    }
    assert_eq!(store.size(), 64 * per_task);
    assert!(store.verify(&mut |_, _| {}).unwrap().ok());
}

#[test]
fn damaged_indexes_and_merkle_nodes_are_found_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for i in 0..30u64 {
        let b = batch(
            Some(&format!("c-{i}")),
            vec![event(
                &format!("note:n-{}", i % 4),
                Some("su-sam"),
                Expected::Any,
            )],
        );
        store.append_blocking(b).unwrap();
    }
    let entry17 = EntryView::parse(&store.entry(17).unwrap().unwrap().bytes)
        .unwrap()
        .stream
        .into_owned();
    let version17 = EntryView::parse(&store.entry(17).unwrap().unwrap().bytes)
        .unwrap()
        .version;
    store.close().unwrap();
    let verify_ro = || {
        let ro = LogStore::open_read_only(dir.path()).unwrap();
        ro.verify(&mut |_, _| {}).unwrap().failure
    };
    let db = common::raw_sled(dir.path());
    let derived = db.open_tree("log").unwrap();

    // Each append was a group of its own, so `P` seq holds that one entry's posting:
    // len(stream) ‖ stream ‖ version(8) ‖ len(subject) ‖ subject ‖ len(command) ‖ command.
    let postings_key = |seq: u64| {
        let mut k = vec![b'P'];
        k.extend_from_slice(&seq.to_be_bytes());
        k
    };
    let saved17 = derived
        .get(postings_key(17))
        .unwrap()
        .expect("seq 17's postings");
    assert_eq!(&saved17[1..1 + entry17.len()], entry17.as_bytes());
    assert_eq!(
        saved17[1 + entry17.len()..9 + entry17.len()],
        version17.to_be_bytes()
    );

    // A posting that names another version of the stream: named by its entry.
    let mut wrong = saved17.to_vec();
    wrong[8 + entry17.len()] ^= 1;
    derived.insert(postings_key(17), wrong).unwrap();
    db.flush().unwrap();
    drop((derived, db));
    let f = verify_ro().expect("a posting with the wrong version is found");
    assert_eq!(f.seq, Some(17), "{}", f.what);

    // A postings record missing: named by the first entry it covered.
    let db = common::raw_sled(dir.path());
    let derived = db.open_tree("log").unwrap();
    derived.insert(postings_key(17), saved17).unwrap();
    let saved9 = derived.remove(postings_key(9)).unwrap().unwrap();
    db.flush().unwrap();
    drop((derived, db));
    let f = verify_ro().expect("a missing postings record is found");
    assert_eq!(f.seq, Some(9), "{}", f.what);
    // Read-only lookups refuse to answer from such postings rather than answer wrongly.
    let ro = LogStore::open_read_only(dir.path()).unwrap();
    assert!(matches!(
        ro.stream_seqs("note:n-1"),
        Err(StoreError::Corrupt { .. })
    ));
    drop(ro);

    // Postings past the log's end: found, with no entry to name.
    let db = common::raw_sled(dir.path());
    let derived = db.open_tree("log").unwrap();
    derived.insert(postings_key(9), saved9).unwrap();
    derived
        .insert(postings_key(30), &b"\x08note:n-9"[..])
        .unwrap();
    db.flush().unwrap();
    drop((derived, db));
    let f = verify_ro().expect("postings past the end are found");
    assert_eq!(f.seq, None, "{}", f.what);
    let db = common::raw_sled(dir.path());
    let derived = db.open_tree("log").unwrap();
    derived.remove(postings_key(30)).unwrap();
    db.flush().unwrap();
    drop(derived);

    // A stored Merkle hash flipped: named by the seq whose record holds it.
    let derived = db.open_tree("log").unwrap();
    let mut block_key = vec![b'N'];
    block_key.extend_from_slice(&12u64.to_be_bytes());
    let mut block = derived
        .get(&block_key)
        .unwrap()
        .expect("seq 12 was a group of its own")
        .to_vec();
    block[5] ^= 1; // inside seq 12's leaf hash
    derived.insert(&block_key, block.clone()).unwrap();
    db.flush().unwrap();
    drop((derived, db));
    let f = verify_ro().expect("a changed Merkle node is found");
    assert_eq!(f.seq, Some(12), "{}", f.what);

    // A read-write open does not build its index from postings that do not add up: it rebuilds
    // the derived records from the log.
    let db = common::raw_sled(dir.path());
    let derived = db.open_tree("log").unwrap();
    block[5] ^= 1;
    derived.insert(&block_key, block).unwrap();
    derived.remove(postings_key(9)).unwrap();
    db.flush().unwrap();
    drop((derived, db));
    let store = open(dir.path());
    assert!(store.verify(&mut |_, _| {}).unwrap().ok());
    assert_eq!(store.stream_len(&entry17).unwrap(), 8);
}

/// The state a crash leaves between a group's durable commit and its derived records: the log is
/// ahead of the postings and Merkle nodes. Read-only verification checks every entry, reports the
/// lag as a note, not a failure; the next read-write open re-derives the rest.
#[test]
fn a_log_ahead_of_its_derived_records_verifies_and_is_caught_up_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let group = |cmd: &str, n: u64, base: u64| {
        let events = (0..n)
            .map(|i| {
                event(
                    &format!("note:n-{}", (base + i) % 3),
                    Some("su-sam"),
                    Expected::Any,
                )
            })
            .collect();
        batch(Some(cmd), events)
    };
    store.append_blocking(group("c-a", 10, 0)).unwrap();
    store.append_blocking(group("c-b", 5, 10)).unwrap();
    let root = store.root(15).unwrap();
    store.close().unwrap();
    {
        let db = common::raw_sled(dir.path());
        let derived = db.open_tree("log").unwrap();
        for tag in [b'N', b'P'] {
            let mut k = vec![tag];
            k.extend_from_slice(&10u64.to_be_bytes());
            assert!(
                derived.remove(&k).unwrap().is_some(),
                "the second group has its own Merkle block and postings"
            );
        }
        derived.insert(b"W", &10u64.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    {
        let ro = LogStore::open_read_only(dir.path()).unwrap();
        let report = ro.verify(&mut |_, _| {}).unwrap();
        assert!(report.ok(), "{:?}", report.failure);
        assert_eq!(
            (report.entries, report.derived_behind, report.root),
            (15, 5, root)
        );
    }
    let store = open(dir.path());
    let report = store.verify(&mut |_, _| {}).unwrap();
    assert!(report.ok(), "{:?}", report.failure);
    assert_eq!(report.derived_behind, 0);
    assert_eq!(store.subject_seqs("su-sam").unwrap().len(), 15);
    // The re-derived index still recognises the retry.
    assert_eq!(
        store.append_blocking(group("c-b", 5, 10)).unwrap()[0].seq,
        10
    );
    assert_eq!(store.size(), 15);
}

/// sled writes any page over a quarter of its segment size to a blob file that it never fsyncs.
/// Content at the size limit, many segments to a leaf, must not produce one: every byte of an
/// acknowledged commit lives in the one data file the store fsyncs.
#[test]
fn content_at_the_size_limit_never_lands_in_a_blob_file_sled_would_not_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for g in 0..12u64 {
        let mut b = AppendBatch::default();
        for k in 0..16u64 {
            let text: String = (0..withus::content::MAX_SEGMENT_BYTES as u64)
                .map(|i| char::from(b'a' + ((i * 7 + g * 13 + k) % 26) as u8))
                .collect();
            let (seg, staged) = store.stage_content(&format!("s{k}"), &text).unwrap();
            b.contents.push(staged);
            let mut e = event(&format!("note:n-{g}-{k}"), Some("su-sam"), Expected::Any);
            e.data = serde_json::json!({"segments": [seg.to_json()]});
            b.events.push(e);
        }
        store.append_blocking(b).unwrap();
    }
    assert!(store.verify(&mut |_, _| {}).unwrap().ok());
    store.close().unwrap();
    let blobs = std::fs::read_dir(dir.path().join("sled/blobs"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(blobs, 0, "sled wrote pages to blob files");
}

#[test]
fn a_store_whose_creation_was_interrupted_opens_read_only_and_verifies_empty() {
    let dir = tempfile::tempdir().unwrap();
    drop(raw_sled(dir.path())); // sled created, killed before the salt file was made
    let ro = LogStore::open_read_only(dir.path()).unwrap();
    let report = ro.verify(&mut |_, _| {}).unwrap();
    assert!(report.ok(), "{:?}", report.failure);
    assert_eq!(report.entries, 0);
}

/// Verify checks every content record against its salt slot, in parallel ranges of
/// commitments: a slot altered anywhere, or wiped, is found whichever range holds its record;
/// a salt no record owns is counted, not failed. `LogStore::space` counts the records.
#[test]
fn verify_finds_an_altered_or_wiped_salt_slot_and_counts_an_orphan_salt() {
    const SEGMENTS: usize = 48;
    const SLOT_LEN: usize = 80;
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut segments = Vec::new();
    let mut contents = Vec::new();
    for i in 0..SEGMENTS {
        let (seg, staged) = store
            .stage_content(&format!("s{i}"), &format!("passage number {i} of the note"))
            .unwrap();
        segments.push(seg.to_json());
        contents.push(staged);
    }
    let mut e = event("note:n-1", Some("su-sam"), Expected::Version(0));
    e.event_type = "note.drafted".into();
    e.data = serde_json::json!({"note_id": "n-1", "segments": segments});
    store
        .append_blocking(AppendBatch {
            command: Some("c-1".into()),
            events: vec![e],
            contents,
            ..Default::default()
        })
        .unwrap();
    let report = store.verify(&mut |_, _| {}).unwrap();
    assert!(report.ok(), "{:?}", report.failure);
    assert_eq!(report.contents, SEGMENTS as u64);
    assert_eq!(report.uncommitted_salts, 0);
    let space = store.space().unwrap();
    let keys_of = |kind: &str| {
        space
            .iter()
            .find(|l| l.kind.contains(kind))
            .map_or(0, |l| l.keys)
    };
    assert_eq!(keys_of("entries"), 1);
    assert_eq!(keys_of("sealed content"), SEGMENTS as u64);
    store.close().unwrap();

    let salts = std::fs::read(dir.path().join("salts")).unwrap();
    assert_eq!(salts.len(), SEGMENTS * SLOT_LEN);
    let damaged = |f: &dyn Fn(&mut Vec<u8>)| {
        let copy = tempfile::tempdir().unwrap();
        copy_tree(dir.path(), copy.path());
        let mut bytes = salts.clone();
        f(&mut bytes);
        std::fs::write(copy.path().join("salts"), bytes).unwrap();
        let store = LogStore::open_read_only(copy.path()).unwrap();
        let report = store.verify(&mut |_, _| {}).unwrap();
        drop(store);
        report
    };
    // A flipped bit in the salt of every slot in turn: each is found (the slot's own check, or
    // the content no longer decrypting).
    for slot in [0, SEGMENTS / 3, SEGMENTS - 1] {
        let report = damaged(&|b: &mut Vec<u8>| b[slot * SLOT_LEN + 50] ^= 0x10);
        let failure = report.failure.expect("an altered salt slot is found");
        assert!(
            failure.what.contains("salt slot"),
            "slot {slot}: {}",
            failure.what
        );
    }
    // A wiped slot (all zeros, as erasure leaves it) under a live record.
    let report = damaged(&|b: &mut Vec<u8>| b[..SLOT_LEN].fill(0));
    assert!(report.failure.is_some(), "a wiped slot under live content");
    // A salt no record uses (an append that never committed): counted, not a failure.
    let report = damaged(&|b: &mut Vec<u8>| {
        let orphan = b[..SLOT_LEN].to_vec();
        b.extend_from_slice(&orphan);
    });
    assert!(report.ok(), "{:?}", report.failure);
    assert_eq!(report.uncommitted_salts, 1);
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
