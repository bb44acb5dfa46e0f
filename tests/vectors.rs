//! The published vectors (shared/spec/vectors, copied into tests/vectors) reproduced exactly:
//! entry bytes, leaf and tree hashes, proofs, commitments, the checkpoint and vkey — and the
//! whole vector log appended through the real store.

mod common;

use std::os::unix::fs::OpenOptionsExt;
use std::sync::Arc;

use serde_json::Value;
use withus::checkpoint::{NoteSigner, NoteVerifier};
use withus::format::{leaf_hash, parse_hex, parse_millis, to_hex, Actor, EntryFields, EntryView};
use withus::merkle::{self, MemoryTree};
use withus::store::{AppendBatch, Expected, NewEvent, StoreConfig};

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors/vectors.json")).expect("vectors.json parses")
}

fn hexes(v: &Value) -> Vec<[u8; 32]> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| parse_hex(h.as_str().unwrap()).unwrap())
        .collect()
}

fn entries(v: &Value) -> Vec<String> {
    v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn entries_recreated_from_their_fields_give_the_same_bytes_and_leaf_hashes() {
    let v = vectors();
    let leaves = hexes(&v["leaf_hashes"]);
    let jsonl = include_str!("vectors/log.jsonl");
    for (i, (text, line)) in entries(&v).iter().zip(jsonl.lines()).enumerate() {
        assert_eq!(
            text, line,
            "log.jsonl line {i} equals vectors.json entry {i}"
        );
        let view = EntryView::parse(text.as_bytes()).expect("vector entry parses");
        let data: Value = serde_json::from_str(view.data).unwrap();
        let data = serde_json::value::to_raw_value(&data).unwrap();
        let actor = Actor {
            id: view.actor_id.to_string(),
            role: view.actor_role.to_string(),
        };
        let prev = to_hex(&view.prev);
        let sp = view.subject_prev.map(|h| to_hex(&h));
        let bytes = EntryFields {
            seq: view.seq,
            prev: &prev,
            at: &view.at,
            event_type: &view.event_type,
            v: view.v,
            stream: &view.stream,
            version: view.version,
            subject: view.subject.as_deref(),
            subject_prev: sp.as_deref(),
            actor: &actor,
            command: view.command.as_deref(),
            data: &data,
        }
        .to_bytes();
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            *text,
            "entry {i} bytes"
        );
        assert_eq!(leaf_hash(&bytes), leaves[i], "entry {i} leaf hash");
    }
}

#[test]
fn tree_hashes_and_proofs_match() {
    let v = vectors();
    let leaves = hexes(&v["leaf_hashes"]);
    let mut tree = MemoryTree::new();
    assert_eq!(to_hex(&tree.root()), v["empty_tree_hash"].as_str().unwrap());
    let roots = v["tree_hashes"].as_object().unwrap();
    let root_at = |n: u64| parse_hex(roots[&n.to_string()].as_str().unwrap()).unwrap();
    assert_eq!(tree.root(), root_at(0));
    for leaf in &leaves {
        tree.push(*leaf);
        assert_eq!(
            tree.root(),
            root_at(tree.size()),
            "root of size {}",
            tree.size()
        );
    }
    for case in v["inclusion"].as_array().unwrap() {
        let (m, n) = (
            case["index"].as_u64().unwrap(),
            case["size"].as_u64().unwrap(),
        );
        let want = hexes(&case["path"]);
        let Ok(got) = merkle::inclusion_proof(&tree, m, n);
        assert_eq!(got, want, "inclusion ({m}, {n})");
        assert!(merkle::verify_inclusion(
            &leaves[m as usize],
            m,
            n,
            &want,
            &root_at(n)
        ));
    }
    for case in v["consistency"].as_array().unwrap() {
        let (m, n) = (
            case["first"].as_u64().unwrap(),
            case["second"].as_u64().unwrap(),
        );
        let want = hexes(&case["proof"]);
        let Ok(got) = merkle::consistency_proof(&tree, m, n);
        assert_eq!(got, want, "consistency ({m}, {n})");
        assert!(merkle::verify_consistency(
            m,
            n,
            &root_at(m),
            &root_at(n),
            &want
        ));
        if let Some((first, rest)) = want.split_first() {
            let mut bad = rest.to_vec();
            bad.insert(0, leaf_hash(first));
            assert!(!merkle::verify_consistency(
                m,
                n,
                &root_at(m),
                &root_at(n),
                &bad
            ));
        }
    }
}

#[test]
fn content_commitments_match() {
    let v = vectors();
    for c in v["content"].as_array().unwrap() {
        let salt = parse_hex(c["salt"].as_str().unwrap()).unwrap();
        let text = c["text"].as_str().unwrap();
        assert_eq!(
            to_hex(&withus::content::commit(&salt, text)),
            c["commit"].as_str().unwrap()
        );
        assert_eq!(withus::content::chars(text), c["chars"].as_u64().unwrap());
    }
}

#[test]
fn checkpoint_and_vkey_from_the_seed_match_byte_for_byte() {
    let v = vectors();
    let s = &v["signing"];
    let seed = parse_hex(s["ed25519_seed_hex"].as_str().unwrap()).unwrap();
    let signer = NoteSigner::new(s["origin"].as_str().unwrap(), &seed).unwrap();
    assert_eq!(
        hex::encode(signer.public_key()),
        s["public_key_hex"].as_str().unwrap()
    );
    assert_eq!(signer.vkey(), s["vkey"].as_str().unwrap());
    let root7 = parse_hex(v["tree_hashes"]["7"].as_str().unwrap()).unwrap();
    let note = signer.sign(7, &root7);
    assert_eq!(note, s["checkpoint"].as_str().unwrap());
    assert_eq!(note, include_str!("vectors/checkpoint.txt"));
    let opened = NoteVerifier::from_vkey(&signer.vkey())
        .unwrap()
        .open(&note)
        .unwrap();
    assert_eq!((opened.size, opened.root), (7, root7));
    let tampered = note.replacen("\n7\n", "\n8\n", 1);
    assert!(NoteVerifier::from_vkey(&signer.vkey())
        .unwrap()
        .open(&tampered)
        .is_err());
}

/// Appends the vector log's events, one call each at the vector's times, through a real store
/// keyed with the vector seed: the store must write exactly the vector bytes and checkpoint.
#[test]
fn the_store_writes_the_vector_log_exactly() {
    let v = vectors();
    let dir = tempfile::tempdir().unwrap();
    let seed = v["signing"]["ed25519_seed_hex"].as_str().unwrap();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dir.path().join("checkpoint.key"))
        .unwrap();
    std::io::Write::write_all(&mut f, seed.as_bytes()).unwrap();
    let clock = Arc::new(common::TestClock::default());
    let mut cfg = StoreConfig::new(dir.path());
    cfg.origin = Some(v["signing"]["origin"].as_str().unwrap().to_string());
    cfg.clock = clock.clone();
    let store = withus::store::LogStore::open(cfg).unwrap();
    let leaves = hexes(&v["leaf_hashes"]);
    for (i, text) in entries(&v).iter().enumerate() {
        let e = EntryView::parse(text.as_bytes()).unwrap();
        clock.set(parse_millis(&e.at).unwrap());
        let event = NewEvent {
            event_type: e.event_type.to_string(),
            v: e.v,
            stream: e.stream.to_string(),
            expected: Expected::Version(e.version),
            subject: e.subject.as_deref().map(str::to_string),
            actor: Actor {
                id: e.actor_id.to_string(),
                role: e.actor_role.to_string(),
            },
            data: serde_json::from_str(e.data).unwrap(),
        };
        let receipts = store
            .append_blocking(AppendBatch {
                command: e.command.as_deref().map(str::to_string),
                events: vec![event],
                ..AppendBatch::default()
            })
            .unwrap();
        assert_eq!(receipts.len(), 1);
        assert_eq!(receipts[0].seq, i as u64);
        assert_eq!(receipts[0].leaf_hash, leaves[i]);
        assert_eq!(receipts[0].tree_size, i as u64 + 1);
        assert_eq!(
            store.entry(i as u64).unwrap().unwrap().bytes,
            text.as_bytes()
        );
    }
    assert_eq!(
        store.checkpoint().unwrap(),
        include_str!("vectors/checkpoint.txt")
    );
    assert_eq!(
        store.vkey().unwrap(),
        v["signing"]["vkey"].as_str().unwrap()
    );
    for case in v["inclusion"].as_array().unwrap() {
        let (m, n) = (
            case["index"].as_u64().unwrap(),
            case["size"].as_u64().unwrap(),
        );
        assert_eq!(store.inclusion_proof(m, n).unwrap(), hexes(&case["path"]));
    }
    for case in v["consistency"].as_array().unwrap() {
        let (m, n) = (
            case["first"].as_u64().unwrap(),
            case["second"].as_u64().unwrap(),
        );
        assert_eq!(
            store.consistency_proof(m, n).unwrap(),
            hexes(&case["proof"])
        );
    }
    assert!(store.verify(&mut |_, _| {}).unwrap().ok());
    assert_eq!(
        store.subject_seqs("su-sam").unwrap(),
        vec![1, 2, 3, 4, 5, 6]
    );
    assert_eq!(store.stream_seqs("note:n-1").unwrap(), vec![3, 4, 5]);
}
