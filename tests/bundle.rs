//! The subject access bundle contract (`../shared/spec/sar-bundle.md`) against withus' own
//! verifier: both published vectors verify, and each tampering §8 lists — applied to either —
//! is rejected naming the check. The tamperings are data: one function per line of §8.

use serde_json::Value;
use withus::format::to_hex;
use withus::sar::verify::{verify, Check};

const VKEY: &str = "withus.example/vectors+daf1465e+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4";
const HASH: &str = "6e4407af38f5250aad96fcf7db22f47cf5dec5859cad7d956787f329897abfd3";
const VECTORS: [&str; 2] = ["bundle.json", "bundle-withheld.json"];

fn vector(name: &str) -> Value {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn bytes(b: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(b).unwrap()
}

/// The first shown item of `entries`, and its position.
fn first_shown(b: &Value) -> usize {
    b["entries"]
        .as_array()
        .unwrap()
        .iter()
        .position(|e| e.get("entry").is_some())
        .unwrap()
}

type Tamper = (&'static str, fn(&mut Value), &'static [Check]);

/// sar-bundle.md §8, in its order, with the checks that may rightly catch each.
const TAMPERINGS: &[Tamper] = &[
    (
        "an item removed",
        |b| {
            b["entries"].as_array_mut().unwrap().remove(2);
        },
        &[Check::Head, Check::Chain],
    ),
    (
        "an entry's byte changed",
        |b| {
            let i = first_shown(b);
            let e = b["entries"][i]["entry"].as_str().unwrap().to_string();
            let changed = e.replacen("T09:", "T08:", 1);
            assert_ne!(changed, e, "the tampering changes a byte");
            b["entries"][i]["entry"] = Value::from(changed);
        },
        &[Check::Entry, Check::Chain],
    ),
    (
        "a text changed",
        |b| {
            let t = b["content"][0]["text"].as_str().unwrap().to_string();
            b["content"][0]["text"] = Value::from(format!("{t}!"));
        },
        &[Check::Content],
    ),
    (
        "an opening added that no segment commits to",
        |b| {
            let salt = "00".repeat(32);
            let text = "Something never recorded.";
            let commit = to_hex(&withus::content::commit(&[0; 32], text));
            b["content"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({"commit": commit, "salt": salt, "text": text}));
        },
        &[Check::Content],
    ),
    (
        "tree_size changed",
        |b| b["tree_size"] = Value::from(b["tree_size"].as_u64().unwrap() + 1),
        &[Check::Checkpoint],
    ),
    (
        "a proof hash moved",
        |b| {
            let proof = b["entries"][0]["proof"].as_array_mut().unwrap();
            proof.swap(0, 1);
        },
        &[Check::Entry],
    ),
    (
        "the subject changed",
        |b| b["subject"] = Value::from("su-someone-else"),
        &[Check::Entry, Check::Head],
    ),
    (
        "an actor repeated",
        |b| {
            let actors = b["actors"].as_array_mut().unwrap();
            let again = actors[0].clone();
            actors.push(again);
        },
        &[Check::Actor],
    ),
    (
        "the head's count changed",
        |b| {
            let head = b["head"].as_str().unwrap().to_string();
            let mut lines: Vec<String> = head.split('\n').map(str::to_string).collect();
            lines[3] = (lines[3].parse::<u64>().unwrap() + 1).to_string();
            b["head"] = Value::from(lines.join("\n"));
        },
        &[Check::Head],
    ),
];

#[test]
fn both_published_vectors_verify_with_the_published_hash() {
    for name in VECTORS {
        let proven = verify(&bytes(&vector(name)), VKEY).unwrap_or_else(|f| panic!("{name}: {f}"));
        assert_eq!(to_hex(&proven.bundle_hash), HASH, "{name}");
        assert_eq!((proven.entries, proven.tree_size), (6, 7), "{name}");
        assert!(proven
            .describe()
            .starts_with("Verified: the record of su-sam"));
    }
}

#[test]
fn every_tampering_of_section_8_is_rejected_naming_the_check() {
    for name in VECTORS {
        for (what, tamper, checks) in TAMPERINGS {
            let mut b = vector(name);
            tamper(&mut b);
            match verify(&bytes(&b), VKEY) {
                Ok(_) => panic!("{name}: {what}: accepted"),
                Err(f) => assert!(
                    checks.contains(&f.check),
                    "{name}: {what}: failed {f}, expected one of {checks:?}"
                ),
            }
        }
    }
}

#[test]
fn a_failure_names_the_entry_it_is_about() {
    let mut b = vector("bundle.json");
    let e = b["entries"][3]["entry"]
        .as_str()
        .unwrap()
        .replacen("n-1", "n-9", 1);
    b["entries"][3]["entry"] = Value::from(e);
    let f = verify(&bytes(&b), VKEY).unwrap_err();
    assert_eq!((f.check, f.seq), (Check::Entry, Some(4)), "{f}");
    assert!(f.to_string().starts_with("§7.4 entry at seq 4"), "{f}");
}

#[test]
fn another_key_or_a_non_bundle_is_refused() {
    let other = withus::checkpoint::NoteSigner::new("withus.example/vectors", &[7; 32])
        .unwrap()
        .vkey();
    let f = verify(&bytes(&vector("bundle.json")), &other).unwrap_err();
    assert_eq!(f.check, Check::Checkpoint, "{f}");
    for junk in [&b"{}"[..], b"not json", b"[1,2]"] {
        assert_eq!(verify(junk, VKEY).unwrap_err().check, Check::Shape);
    }
}

#[test]
fn the_head_is_true_against_the_vector_log_and_false_against_another() {
    let log = std::fs::read(format!(
        "{}/tests/vectors/log.jsonl",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    for name in VECTORS {
        let b = withus::sar::bundle::Bundle::parse(&bytes(&vector(name))).unwrap();
        withus::sar::verify::check_head_against_export(&b, VKEY, &log)
            .unwrap_or_else(|f| panic!("{name}: {f}"));
        // An export where the person's last entry belongs to someone else: the head is false.
        let text = String::from_utf8(log.clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let changed: Vec<String> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                if i == 6 {
                    l.replace("\"subject\":\"su-sam\"", "\"subject\":\"su-kim\"")
                } else {
                    l.to_string()
                }
            })
            .collect();
        let export = format!("{}\n", changed.join("\n"));
        let f = withus::sar::verify::check_head_against_export(&b, VKEY, export.as_bytes())
            .unwrap_err();
        assert_eq!(f.check, Check::Export, "{name}: {f}");
    }
}
