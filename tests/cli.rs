//! The `withus log` and `withus sar` commands as a person runs them: export, verify (exit codes
//! and the first bad seq), checkpoint and vkey; a bundle verified offline, its head checked
//! against the export, its page written.

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

const VECTORS_VKEY: &str =
    "withus.example/vectors+daf1465e+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4";

fn vector_path(name: &str) -> String {
    format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn sar_verify_says_what_it_proved_or_names_the_check_and_seq() {
    for name in ["bundle.json", "bundle-withheld.json"] {
        let (code, out, err) =
            withus(&["sar", "verify", &vector_path(name), "--vkey", VECTORS_VKEY]);
        assert_eq!(code, 0, "{name}: {out}{err}");
        assert!(out.starts_with("Verified: the record of su-sam"), "{out}");
        assert!(out.contains("fingerprint is daf1 465e"), "{out}");
        assert!(
            out.contains("6e4407af38f5250aad96fcf7db22f47cf5dec5859cad7d956787f329897abfd3"),
            "{out}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(vector_path("bundle.json")).unwrap();
    let tampered = dir.path().join("tampered.withus-sar.json");
    std::fs::write(
        &tampered,
        text.replacen("T10:15:00.000Z", "T10:16:00.000Z", 1),
    )
    .unwrap();
    let (code, out, _) = withus(&[
        "sar",
        "verify",
        tampered.to_str().unwrap(),
        "--vkey",
        VECTORS_VKEY,
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with("Not verified: §7.4 entry at seq 3"),
        "{out}"
    );
    // Another key: not verified either.
    let other = withus::checkpoint::NoteSigner::new("withus.example/vectors", &[9; 32])
        .unwrap()
        .vkey();
    let (code, out, _) = withus(&[
        "sar",
        "verify",
        &vector_path("bundle.json"),
        "--vkey",
        &other,
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("§7.2 checkpoint"), "{out}");
    // A file that is not there is an error, not a verdict.
    let (code, _, err) = withus(&["sar", "verify", "/nonexistent.json", "--vkey", VECTORS_VKEY]);
    assert_eq!(code, 3, "{err}");
}

#[test]
fn sar_check_head_holds_against_the_vector_log() {
    let (code, out, err) = withus(&[
        "sar",
        "check-head",
        &vector_path("bundle.json"),
        "--vkey",
        VECTORS_VKEY,
        "--export",
        &vector_path("log.jsonl"),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("The subject head is true"), "{out}");
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short.jsonl");
    let log = std::fs::read_to_string(vector_path("log.jsonl")).unwrap();
    let lines: Vec<&str> = log.lines().take(5).collect();
    std::fs::write(&short, format!("{}\n", lines.join("\n"))).unwrap();
    let (code, out, _) = withus(&[
        "sar",
        "check-head",
        &vector_path("bundle.json"),
        "--vkey",
        VECTORS_VKEY,
        "--export",
        short.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("§7.9 export"), "{out}");
}

#[test]
fn sar_html_writes_one_self_contained_page() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("sam.html");
    let (code, out, err) = withus(&[
        "sar",
        "html",
        &vector_path("bundle.json"),
        "--vkey",
        VECTORS_VKEY,
        "--out",
        page.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") || html.starts_with("<!doctype html>"));
    for external in ["src=\"http", "href=\"http", "<link "] {
        assert!(
            !html.contains(external),
            "the page loads nothing: {external}"
        );
    }
}

/// Retention through the service and the CLI: the plan a DPO reads from a data directory, the
/// schedule's erasure (persisted with the views, so a reopened service knows it), and a policy
/// file that does not read refused with exit 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_plan_lists_what_would_be_erased_and_the_run_erases_it() {
    use withus::domain::types::{EndReason, Time};
    use withus::domain::Command as Cmd;
    let w = common::world::World::new().await;
    w.accepted_support("sp-1", "su-sam", "pw-amara").await;
    w.meeting("m-1", "sp-1", "pw-amara").await;
    let segs = w
        .draft(
            "n-1",
            "m-1",
            "pw-amara",
            &[("s1", "words about the allotment")],
        )
        .await;
    w.ok(
        "su-sam",
        Cmd::EndSupport {
            support_id: "sp-1".into(),
            reason: EndReason::GoalsMet,
        },
    )
    .await;
    // 20 years and a few days later: due. The run erases Sam's name and the passage.
    w.advance(7_320 * Time::DAY);
    assert!(w.svc.run_retention_as("au-ida").await.is_err());
    let run = w.svc.run_retention_as("admin").await.unwrap();
    assert_eq!(run.erased.len(), 1);
    assert_eq!((run.erased[0].0.as_str(), run.erased[0].1), ("su-sam", 2));
    assert!(w.svc.store().content(&segs[0].commit.0).unwrap().is_none());
    assert!(w.svc.run_retention().await.unwrap().erased.is_empty());
    let w = w.reopen();
    let p = w.svc.projections().unwrap();
    assert_eq!(p.retention["su-sam"].erased.len(), 2);
    w.svc.close().unwrap();

    let d = w.dir.path().to_str().unwrap();
    let (code, out, err) = withus(&[
        "retention",
        "plan",
        "--data",
        d,
        "--json",
        "--at",
        "2047-01-01T00:00:00.000Z",
    ]);
    assert_eq!(code, 0, "{err}");
    let sam: serde_json::Value = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["subject"] == "su-sam")
        .unwrap();
    assert_eq!(sam["state"], "erased");
    assert_eq!(sam["rule"], "adult_end_of_care");
    // Before the date, with a shorter period of the organisation's: waiting, then due.
    let policy = w.dir.path().join("policy.toml");
    std::fs::write(&policy, "adult_years_after_end_of_care = 30\n").unwrap();
    let (code, out, _) = withus(&[
        "retention",
        "plan",
        "--data",
        d,
        "--policy",
        policy.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    let line = out.lines().find(|l| l.starts_with("su-sam")).unwrap();
    assert!(line.contains("waiting"), "{out}");
    let (_, out, _) = withus(&["retention", "plan", "--data", d]);
    assert!(
        out.lines()
            .any(|l| l.starts_with("su-ola") && l.contains("not_scheduled")),
        "{out}"
    );
    std::fs::write(&policy, "adult_years = 30\n").unwrap();
    let (code, _, err) = withus(&[
        "retention",
        "plan",
        "--data",
        d,
        "--policy",
        policy.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("line 1"), "{err}");
    let (code, _, err) = withus(&[
        "serve",
        "--data",
        d,
        "--retention",
        policy.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
}
