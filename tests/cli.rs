//! The `withus log` commands as a person runs them: export, verify (exit codes and the first bad
//! seq), checkpoint and vkey.

mod common;

use std::process::Command;

use common::{batch, event, open, raw_sled};
use withus::checkpoint::NoteVerifier;
use withus::store::Expected;

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
fn export_verify_checkpoint_and_vkey_work_and_agree() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let store = open(dir.path());
    for i in 0..40 {
        store
            .append_blocking(batch(
                None,
                vec![event(
                    &format!("meeting:m-{}", i % 7),
                    Some("su-sam"),
                    Expected::Any,
                )],
            ))
            .unwrap();
    }
    let mut want = Vec::new();
    for e in store.entries(0, 40) {
        want.extend_from_slice(&e.unwrap().bytes);
        want.push(b'\n');
    }
    let root = store.root(40).unwrap();
    store.close().unwrap();

    let (code, out, _) = withus(&["log", "export", "--data", d]);
    assert_eq!(code, 0);
    assert_eq!(out.as_bytes(), want.as_slice());
    let file = dir.path().join("out.jsonl");
    let (code, _, err) = withus(&[
        "log",
        "export",
        "--data",
        d,
        "--out",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert!(err.contains("exported 40 entries"));
    assert_eq!(std::fs::read(&file).unwrap(), want);

    let (code, out, _) = withus(&["log", "verify", "--data", d]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("ok: verified 40 entries"), "{out}");

    let (code, vkey, _) = withus(&["log", "vkey", "--data", d]);
    assert_eq!(code, 0);
    let (code, note, _) = withus(&["log", "checkpoint", "--data", d]);
    assert_eq!(code, 0);
    let cp = NoteVerifier::from_vkey(vkey.trim())
        .unwrap()
        .open(&note)
        .unwrap();
    assert_eq!((cp.size, cp.root), (40, root));

    // Incremental verification from that checkpoint.
    let cp_file = dir.path().join("cp.txt");
    std::fs::write(&cp_file, &note).unwrap();
    let (code, out, _) = withus(&[
        "log",
        "verify",
        "--data",
        d,
        "--checkpoint",
        cp_file.to_str().unwrap(),
        "--vkey",
        vkey.trim(),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("ok: verified 0 entries; tree size 40"),
        "{out}"
    );
}

#[test]
fn verify_exits_1_and_names_the_first_bad_seq() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let store = open(dir.path());
    for _ in 0..10 {
        store
            .append_blocking(batch(
                None,
                vec![event("meeting:m-1", Some("su-sam"), Expected::Any)],
            ))
            .unwrap();
    }
    store.close().unwrap();
    {
        let db = raw_sled(dir.path());
        let log = db.open_tree("log").unwrap();
        let mut key = vec![b'E'];
        key.extend_from_slice(&6u64.to_be_bytes());
        let v = String::from_utf8(log.get(&key).unwrap().unwrap().to_vec()).unwrap();
        log.insert(&key, v.replace("pw-amara", "pw-amarb").as_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    let (code, out, _) = withus(&["log", "verify", "--data", d]);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("FAILED: seq 6:"), "{out}");
    // Export still works on the damaged store.
    let (code, out, _) = withus(&["log", "export", "--data", d]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 10);
}

#[test]
fn a_missing_store_is_an_error_with_exit_code_3() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = withus(&[
        "log",
        "verify",
        "--data",
        dir.path().join("nope").to_str().unwrap(),
    ]);
    assert_eq!(code, 3);
    assert!(err.contains("no withus store"), "{err}");
    let (code, _, _) = withus(&["log", "frobnicate"]);
    assert_eq!(code, 2);
}
