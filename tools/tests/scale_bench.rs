//! `scale-bench` end to end at a small size, so the bench cannot rot between the runs that
//! matter: the store it writes through the command service (every kind of entry it makes:
//! meetings, notes revised, agreed and redacted, consents granted and revoked, logged reads,
//! concerns) verifies, its views rebuild identical to a replay, and every row of its table is
//! printed. No number is asserted: benchmarks are not timed tests.

use std::process::Command;

fn scale_bench(data: &std::path::Path, extra: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_scale-bench"))
        .arg("--data")
        .arg(data)
        .args([
            "--events",
            "20000",
            "--people",
            "300",
            "--workers",
            "40",
            "--heavy-every",
            "10",
            "--targets",
            "2",
            "--concurrency",
            "4",
            "--writers",
            "16",
            "--read-seconds",
            "1",
            "--load-seconds",
            "1",
        ])
        .args(extra)
        .output()
        .expect("scale-bench runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn scale_bench_writes_a_store_that_verifies_and_rebuilds_identically_and_prints_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let (ok, stdout, stderr) = scale_bench(&data, &[]);
    assert!(ok, "{stdout}\n{stderr}");
    for row in [
        "open until ready",
        "RSS after open",
        "logged reads, small records",
        "logged reads, large records",
        "bundle of su-0",
        "RSS after 1 s of mixed load",
        "bare chain: read + BLAKE3",
        "verify ",
        "disk (the data directory, closed)",
        "live log: entries (E)",
        "live log: sealed content (C)",
        "live views: marker and other",
        "rebuild --check",
    ] {
        assert!(stdout.contains(row), "no row {row:?} in:\n{stdout}");
    }
    // The views the service kept while writing (and after the mixed load) equal a replay.
    assert!(
        stdout.contains("first_difference: None"),
        "the checked rebuild found drifted views:\n{stdout}"
    );
    // The open's own phases are in the store's log lines beside the table.
    assert!(stderr.contains("log opened"), "{stderr}");
    assert!(stderr.contains("store opened"), "{stderr}");

    // A store already there is never written over; --measure-only measures it again.
    let (ok, stdout, stderr) = scale_bench(&data, &[]);
    assert!(!ok, "{stdout}");
    assert!(stderr.contains("already holds a store"), "{stderr}");
    let (ok, stdout, stderr) = scale_bench(&data, &["--measure-only"]);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("first_difference: None"), "{stdout}");
}
