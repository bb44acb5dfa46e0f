//! The independent verifier written from the specs alone (tools/src/bin/spec-verify/).
//! Log mode: a store with thousands of entries, exported, checkpointed and published as a vkey,
//! passes; a single changed byte in the export does not.
//! Bundle mode: both subject access bundles of sar-bundle.md §8 pass with the same bundle hash;
//! each tampering §8 lists, applied to both, is refused naming its check, and so are a duplicate
//! key, a missing or unknown field, an opening or actor left out; with the export, §7.9 tells a
//! true head from a false one the log's (public, test) key signed.

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

// Bundle mode: the subject access bundles of sar-bundle.md §8 (the project's copies of the
// spec's vectors), as given and after each tampering §8 lists.

const VECTORS_VKEY: &str =
    "withus.example/vectors+daf1465e+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4";
const BUNDLE_HASH: &str = "6e4407af38f5250aad96fcf7db22f47cf5dec5859cad7d956787f329897abfd3";
const BUNDLES: [&str; 2] = ["bundle.json", "bundle-withheld.json"];

fn vector(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/vectors")
        .join(name)
}

/// `spec-verify bundle FILE --vkey VKEY [extra...]`: its exit code and what it printed.
fn verify_bundle(file: &std::path::Path, extra: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_spec-verify"))
        .arg("bundle")
        .arg(file)
        .args(["--vkey", VECTORS_VKEY])
        .args(extra)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

fn load(name: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(vector(name)).unwrap()).unwrap()
}

/// Writes `text` as a bundle file and verifies it.
fn verify_text(text: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b.withus-sar.json");
    std::fs::write(&file, text).unwrap();
    verify_bundle(&file, &[])
}

/// The vector `name` after `tamper`, verified: it must fail with exit 1 naming `check` (and
/// `seq`, where given).
fn assert_refused(
    name: &str,
    what: &str,
    check: &str,
    seq: Option<u64>,
    tamper: impl Fn(&mut serde_json::Value),
) {
    let mut b = load(name);
    tamper(&mut b);
    let (code, out) = verify_text(&serde_json::to_string_pretty(&b).unwrap());
    assert_eq!(code, 1, "{name}, {what}: {out}");
    let named = match seq {
        Some(s) => format!("FAIL {check} seq {s}:"),
        None => format!("FAIL {check}"),
    };
    assert!(
        out.contains(&named),
        "{name}, {what}: expected {named:?}, got {out}"
    );
}

/// An entry's bytes (a JSON string) with `from` replaced by `to`, once.
fn edit_entry(item: &mut serde_json::Value, from: &str, to: &str) {
    let entry = item["entry"].as_str().unwrap();
    assert!(entry.contains(from), "{from} not in {entry}");
    item["entry"] = entry.replacen(from, to, 1).into();
}

#[test]
fn both_bundle_vectors_verify_with_the_same_bundle_hash() {
    for name in BUNDLES {
        let (code, out) = verify_bundle(&vector(name), &[]);
        assert_eq!(code, 0, "{name}: {out}");
        assert!(
            out.contains(&format!("bundle hash {BUNDLE_HASH}")),
            "{name}: {out}"
        );
        assert!(out.contains("su-sam"), "{name}: {out}");
        assert!(out.contains("N = 7"), "{name}: {out}");
    }
    let (_, out) = verify_bundle(&vector("bundle.json"), &[]);
    assert!(
        out.contains("6 shown") && out.contains("0 withheld") && out.contains("openings: 4"),
        "{out}"
    );
    let (_, out) = verify_bundle(&vector("bundle-withheld.json"), &[]);
    assert!(
        out.contains("5 shown") && out.contains("1 withheld") && out.contains("openings: 2"),
        "{out}"
    );
}

#[test]
fn an_item_removed_is_refused() {
    for name in BUNDLES {
        for i in [0, 2, 5] {
            assert_refused(name, &format!("entries[{i}] removed"), "§7.3", None, |b| {
                b["entries"].as_array_mut().unwrap().remove(i);
            });
        }
        assert_refused(
            name,
            "the actor item of pw-amara removed",
            "§7.7",
            None,
            |b| {
                b["actors"].as_array_mut().unwrap().remove(0);
            },
        );
    }
}

#[test]
fn an_entrys_byte_changed_is_refused() {
    for name in BUNDLES {
        assert_refused(name, "a byte of seq 2", "§7.4", Some(2), |b| {
            edit_entry(&mut b["entries"][1], "sp-1", "sp-2")
        });
        assert_refused(name, "a byte of seq 6, the last", "§7.3", Some(6), |b| {
            edit_entry(&mut b["entries"][5], "cn-1", "cn-2")
        });
        assert_refused(
            name,
            "a byte of the actor item at seq 0",
            "§7.6",
            Some(0),
            |b| edit_entry(&mut b["actors"][0], "team-rushcliffe", "team-rushcliffx"),
        );
    }
}

#[test]
fn a_text_changed_is_refused() {
    for name in BUNDLES {
        assert_refused(name, "Sam's display name", "§7.7", None, |b| {
            b["content"][0]["text"] = "Sal".into();
        });
    }
}

#[test]
fn an_opening_no_segment_commits_to_is_refused() {
    for name in BUNDLES {
        assert_refused(name, "an opening added", "§7.7", None, |b| {
            let salt = [9u8; 32];
            let text = "A line the log never committed to.";
            let commit = blake3::keyed_hash(&salt, text.as_bytes());
            b["content"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({
                    "commit": commit.to_hex().to_string(),
                    "salt": hex::encode(salt),
                    "text": text,
                }));
        });
    }
}

#[test]
fn a_changed_tree_size_is_refused() {
    for name in BUNDLES {
        for n in [6, 8] {
            assert_refused(name, &format!("tree_size {n}"), "§7.2", None, |b| {
                b["tree_size"] = n.into();
            });
        }
    }
}

#[test]
fn a_proof_hash_moved_is_refused() {
    for name in BUNDLES {
        for (i, seq) in [(1, 2), (2, 3), (5, 6)] {
            assert_refused(
                name,
                &format!("the proof of seq {seq} swapped"),
                "§7.4",
                Some(seq),
                |b| {
                    b["entries"][i]["proof"].as_array_mut().unwrap().swap(0, 1);
                },
            );
        }
        assert_refused(
            name,
            "a hash moved from seq 2's proof to seq 1's",
            "§7.4",
            Some(1),
            |b| {
                b["entries"][0]["proof"][1] = b["entries"][1]["proof"][1].clone();
            },
        );
        assert_refused(
            name,
            "the proof of the actor item at seq 0 swapped",
            "§7.6",
            Some(0),
            |b| {
                b["actors"][0]["proof"].as_array_mut().unwrap().swap(1, 2);
            },
        );
    }
}

#[test]
fn a_changed_subject_is_refused() {
    for name in BUNDLES {
        assert_refused(name, "subject su-sal", "§7.3", None, |b| {
            b["subject"] = "su-sal".into();
        });
    }
}

#[test]
fn an_actor_repeated_is_refused() {
    for name in BUNDLES {
        assert_refused(
            name,
            "pw-amara's registration twice",
            "§7.6",
            Some(0),
            |b| {
                let again = b["actors"][0].clone();
                b["actors"].as_array_mut().unwrap().push(again);
            },
        );
    }
}

#[test]
fn a_changed_head_count_is_refused() {
    for name in BUNDLES {
        assert_refused(name, "the head counting 5", "§7.3", None, |b| {
            let head = b["head"].as_str().unwrap();
            assert!(head.contains("\nsu-sam\n7\n6\n6\n"));
            b["head"] = head
                .replacen("\nsu-sam\n7\n6\n6\n", "\nsu-sam\n7\n5\n6\n", 1)
                .into();
        });
    }
}

#[test]
fn a_duplicate_key_is_refused() {
    for name in BUNDLES {
        let text = std::fs::read_to_string(vector(name)).unwrap();
        let dup = text.replacen(
            "\"subject\": \"su-sam\",",
            "\"subject\": \"su-sam\", \"subject\": \"su-sam\",",
            1,
        );
        assert_ne!(dup, text);
        let (code, out) = verify_text(&dup);
        assert_eq!(code, 1, "{out}");
        assert!(
            out.contains("FAIL §7.1") && out.contains("duplicate key"),
            "{name}: {out}"
        );
        // Inside an entry's bytes, where serde_json alone would keep the last and not notice.
        assert_refused(name, "a duplicate key in seq 2", "§7.4", Some(2), |b| {
            edit_entry(&mut b["entries"][1], "\"v\":1,", "\"v\":1,\"v\":1,")
        });
    }
}

#[test]
fn a_missing_or_unknown_field_is_refused() {
    for name in BUNDLES {
        assert_refused(name, "no about", "§7.1", None, |b| {
            b.as_object_mut().unwrap().remove("about");
        });
        assert_refused(name, "an unknown field", "§7.1", None, |b| {
            b["extra"] = true.into();
        });
        assert_refused(name, "an item without proof", "§7.1", Some(1), |b| {
            b["entries"][0].as_object_mut().unwrap().remove("proof");
        });
        assert_refused(name, "an opening without salt", "§7.1", None, |b| {
            b["content"][0].as_object_mut().unwrap().remove("salt");
        });
        assert_refused(name, "an entry without command", "§7.4", Some(2), |b| {
            edit_entry(&mut b["entries"][1], "\"command\":\"c-0003\",", "")
        });
        assert_refused(name, "format v2", "§7.1", None, |b| {
            b["format"] = "withus-sar-v2".into();
        });
    }
}

#[test]
fn bad_usage_or_an_unreadable_file_exits_2() {
    let (code, _) = verify_bundle(std::path::Path::new("/nonexistent/b.json"), &[]);
    assert_eq!(code, 2);
    let (code, _) = verify_bundle(&vector("bundle.json"), &["--vkey", VECTORS_VKEY]);
    assert_eq!(code, 2, "--vkey twice");
    let (code, _) = verify_bundle(&vector("bundle.json"), &["--what"]);
    assert_eq!(code, 2, "an unknown flag");
}

// §7.9: with the export, the signed head itself is checked. The head is signed, so a false one
// can only come from the log's key; the vectors' key is a public test key (vectors.json gives
// its seed), so these tests can sign what a lying log would.

const VECTORS_SEED: [u8; 32] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
    26, 27, 28, 29, 30, 31,
];
const VECTORS_KEY_ID: [u8; 4] = [0xda, 0xf1, 0x46, 0x5e];

/// A C2SP signed note of `body` by the vectors' key.
fn sign_note(body: &str) -> String {
    use base64::Engine as _;
    use ed25519_dalek::Signer as _;
    let key = ed25519_dalek::SigningKey::from_bytes(&VECTORS_SEED);
    let mut sig = VECTORS_KEY_ID.to_vec();
    sig.extend_from_slice(&key.sign(body.as_bytes()).to_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(sig);
    format!("{body}\n\u{2014} withus.example/vectors {sig}\n")
}

/// The subject-head note of §2 for su-sam over the vector log (N = 7), signed.
fn signed_head(count: u64, last_seq: u64, last_entry: &str) -> String {
    use base64::Engine as _;
    let mut leaf = blake3::Hasher::new();
    leaf.update(&[0]);
    leaf.update(last_entry.as_bytes());
    let leaf = base64::engine::general_purpose::STANDARD.encode(leaf.finalize().as_bytes());
    sign_note(&format!(
        "withus.example/vectors/subject-head\nsu-sam\n7\n{count}\n{last_seq}\n{leaf}\n"
    ))
}

fn verify_with_log(bundle: &str, export: &[u8]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let (file, log) = (dir.path().join("b.json"), dir.path().join("log.jsonl"));
    std::fs::write(&file, bundle).unwrap();
    std::fs::write(&log, export).unwrap();
    verify_bundle(&file, &["--log", log.to_str().unwrap()])
}

fn vector_log_lines() -> Vec<String> {
    let log = std::fs::read_to_string(vector("log.jsonl")).unwrap();
    log.lines().map(str::to_string).collect()
}

#[test]
fn the_vectors_signed_head_is_reproduced_by_the_test_signer() {
    let b = load("bundle.json");
    let head = signed_head(6, 6, b["entries"][5]["entry"].as_str().unwrap());
    assert_eq!(head, b["head"].as_str().unwrap());
}

#[test]
fn with_the_export_both_vectors_pass_section_7_9() {
    let log = vector("log.jsonl");
    for name in BUNDLES {
        let (code, out) = verify_bundle(&vector(name), &["--log", log.to_str().unwrap()]);
        assert_eq!(code, 0, "{name}: {out}");
        assert!(out.contains(&format!("bundle hash {BUNDLE_HASH}")), "{out}");
        assert!(
            out.contains("ok: §7.9")
                && out.contains("6 of them are about su-sam, the last at seq 6"),
            "{out}"
        );
    }
    // The log has grown since N: lines from N on are not the bundle's business.
    let mut lines = vector_log_lines();
    lines.push(lines[6].replacen("\"seq\":6,", "\"seq\":7,", 1));
    let bundle = std::fs::read_to_string(vector("bundle.json")).unwrap();
    let (code, out) = verify_with_log(&bundle, (lines.join("\n") + "\n").as_bytes());
    assert_eq!(code, 0, "{out}");
}

#[test]
fn an_export_that_is_not_the_signed_log_fails_section_7_9() {
    let exports: [(&str, Vec<String>); 3] = [
        ("an extra line about su-sam before N", {
            let mut l = vector_log_lines();
            l.insert(3, l[2].clone());
            l
        }),
        ("line 0 turned into su-sam's", {
            let mut l = vector_log_lines();
            l[0] = l[0].replacen("\"subject\":null", "\"subject\":\"su-sam\"", 1);
            l
        }),
        ("fewer than N lines", vector_log_lines()[..6].to_vec()),
    ];
    for name in BUNDLES {
        let bundle = std::fs::read_to_string(vector(name)).unwrap();
        for (what, lines) in &exports {
            let (code, out) = verify_with_log(&bundle, (lines.join("\n") + "\n").as_bytes());
            assert_eq!(code, 1, "{name}, {what}: {out}");
            assert!(out.contains("FAIL §7.9"), "{name}, {what}: {out}");
        }
    }
}

#[test]
fn a_false_head_signed_by_the_log_passes_1_to_8_and_fails_section_7_9() {
    // A log hiding su-sam's last entry (seq 6): the bundle without it, and a head, signed by the
    // log's key, saying su-sam has 5 entries, the last at seq 5.
    for name in BUNDLES {
        let mut b = load(name);
        b["entries"].as_array_mut().unwrap().pop();
        let seq5 = b["entries"][4]["entry"].as_str().unwrap().to_string();
        b["head"] = signed_head(5, 5, &seq5).into();
        let text = serde_json::to_string(&b).unwrap();
        let (code, out) = verify_text(&text);
        assert_eq!(
            code, 0,
            "{name}: nothing in the bundle alone can tell: {out}"
        );
        assert!(
            !out.contains(BUNDLE_HASH),
            "the bundle hash covers which entries: {out}"
        );
        let export = std::fs::read(vector("log.jsonl")).unwrap();
        let (code, out) = verify_with_log(&text, &export);
        assert_eq!(code, 1, "{name}: {out}");
        assert!(
            out.contains("FAIL §7.9") && out.contains("the head is false"),
            "{name}: {out}"
        );
    }
}

#[test]
fn a_gap_in_the_persons_chain_is_refused() {
    // Seq 3 left out (shown in one vector, withheld in the other) under a head re-signed to
    // count 5: the chain from seq 4 points at an item the bundle does not have.
    for name in BUNDLES {
        assert_refused(name, "seq 3 left out", "§7.5", Some(4), |b| {
            b["entries"].as_array_mut().unwrap().remove(2);
            let seq6 = b["entries"][4]["entry"].as_str().unwrap().to_string();
            b["head"] = signed_head(5, 6, &seq6).into();
        });
    }
}

// §4 and §5 say what the actors and the openings are; §7 does not list these checks, but without
// them an actor or an opening could be left out unseen.

/// The opening of s3, erased by agreement in the vector log (vectors.json keeps it).
fn erased_s3_opening() -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(vector("vectors.json")).unwrap()).unwrap();
    let s3 = v["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["commit"] == "131ae16da7f5357b7bd1edb98ef3cb588ba836f43267bf1e97eeca5521120b16")
        .unwrap();
    serde_json::json!({"commit": s3["commit"], "salt": s3["salt"], "text": s3["text"]})
}

#[test]
fn an_opening_or_actor_left_out_is_refused() {
    for name in BUNDLES {
        let openings = load(name)["content"].as_array().unwrap().len();
        for i in 0..openings {
            assert_refused(name, &format!("content[{i}] removed"), "§5", None, |b| {
                b["content"].as_array_mut().unwrap().remove(i);
            });
        }
        assert_refused(
            name,
            "su-sam's own registration removed from actors",
            "§4",
            Some(2),
            |b| {
                b["actors"].as_array_mut().unwrap().remove(1);
            },
        );
    }
}

#[test]
fn an_opening_of_erased_text_is_refused() {
    // Shown with its note in one vector (§5: erased by the agreed redaction at seq 5), with no
    // shown segment committing to it in the other (§7.7: its note is withheld).
    for (name, check, seq) in [
        ("bundle.json", "§5", Some(3)),
        ("bundle-withheld.json", "§7.7", None),
    ] {
        assert_refused(name, "s3 opened", check, seq, |b| {
            b["content"]
                .as_array_mut()
                .unwrap()
                .push(erased_s3_opening());
        });
    }
}

#[test]
fn an_actor_item_cannot_show_a_withheld_entry() {
    for name in BUNDLES {
        assert_refused(
            name,
            "seq 1 withheld, still shown as an actor",
            "§4",
            Some(1),
            |b| {
                let entry = b["entries"][0]["entry"].as_str().unwrap().to_string();
                let mut leaf = blake3::Hasher::new();
                leaf.update(&[0]);
                leaf.update(entry.as_bytes());
                b["entries"][0] = serde_json::json!({
                    "seq": 1,
                    "leaf": leaf.finalize().to_hex().to_string(),
                    "proof": b["entries"][0]["proof"],
                    "withheld": true,
                });
            },
        );
    }
}
