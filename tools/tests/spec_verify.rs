//! A store with thousands of entries, exported, checkpointed and published as a vkey, passes the
//! independent verifier written from log-format.md alone (tools/src/bin/spec-verify/); a
//! single changed byte in the export does not.

use std::process::Command;

use serde_json::json;
use withus::format::Actor;
use withus::store::{AppendBatch, Expected, LogStore, NewEvent, StoreConfig};

fn spec_verify(log: &std::path::Path, cp: &std::path::Path, vkey: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_spec-verify"))
        .args([
            "--log",
            log.to_str().unwrap(),
            "--checkpoint",
            cp.to_str().unwrap(),
            "--vkey",
            vkey,
        ])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn an_export_of_thousands_of_entries_passes_the_independent_verifier() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(StoreConfig::new(dir.path())).unwrap();
    for i in 0..300u64 {
        let mut batch = AppendBatch {
            command: Some(format!("c-{i}")),
            ..AppendBatch::default()
        };
        for k in 0..10u64 {
            let (seg, staged) = store
                .stage_content(&format!("s{k}"), &format!("note text {i} {k} — café"))
                .unwrap();
            batch.contents.push(staged);
            batch.events.push(NewEvent {
                event_type: "note.drafted".into(),
                v: 1,
                stream: format!("note:n-{}", (i * 10 + k) % 700),
                expected: Expected::Any,
                subject: (k % 4 != 0).then(|| format!("su-{}", (i + k) % 37)),
                actor: Actor {
                    id: "pw-amara".into(),
                    role: "peer_worker".into(),
                },
                data: json!({"segments": [seg.to_json()], "place": "community"}),
            });
        }
        store.append_blocking(batch).unwrap();
    }
    assert_eq!(store.size(), 3000);
    let mut export = Vec::new();
    for e in store.entries(0, store.size()) {
        export.extend_from_slice(&e.unwrap().bytes);
        export.push(b'\n');
    }
    let log = dir.path().join("export.jsonl");
    let cp = dir.path().join("checkpoint.txt");
    std::fs::write(&log, &export).unwrap();
    std::fs::write(&cp, store.checkpoint().unwrap()).unwrap();
    let vkey = store.vkey().unwrap();
    let (ok, out) = spec_verify(&log, &cp, &vkey);
    assert!(ok, "{out}");
    assert!(out.contains("3000 entries"), "{out}");

    // One byte changed in line 1234: named by seq.
    let text = String::from_utf8(export).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[1234] = lines[1234].replacen("community", "communitx", 1);
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let (ok, out) = spec_verify(&log, &cp, &vkey);
    assert!(!ok);
    assert!(
        out.contains("seq 1235"),
        "the chain breaks at the next line: {out}"
    );
}
