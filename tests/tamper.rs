//! Tampering: any byte of any stored entry changed makes verification name that entry's seq (or
//! the next, where only the chain link shows it). Property-tested over random entries, offsets
//! and replacement bytes, on copies of one real store.

mod common;

use std::path::Path;

use common::{batch, event, open, raw_sled};
use proptest::prelude::*;
use withus::store::{Expected, LogStore};

const ENTRIES: u64 = 60;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

fn base_store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for i in 0..ENTRIES {
        let subject = (i % 3 != 0).then(|| format!("su-{}", i % 4));
        let b = batch(
            Some(&format!("c-{}", i / 2)),
            vec![event(
                &format!("note:n-{}", i % 5),
                subject.as_deref(),
                Expected::Any,
            )],
        );
        let _ = store.append_blocking(b);
    }
    // Batches of two share a command; the second append of each pair is a retry.
    store.close().unwrap();
    dir
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn flipping_any_byte_of_any_entry_is_found_at_that_seq(
        seq in 0..ENTRIES / 2,
        at in 0.0f64..1.0,
        xor in 1u8..=255,
    ) {
        let base = BASE.with(|b| b.path().to_path_buf());
        let work = tempfile::tempdir().unwrap();
        copy_dir(&base, work.path());
        {
            let db = raw_sled(work.path());
            let log = db.open_tree("log").unwrap();
            let mut key = vec![b'E'];
            key.extend_from_slice(&seq.to_be_bytes());
            let mut bytes = log.get(&key).unwrap().unwrap().to_vec();
            let i = ((bytes.len() as f64) * at) as usize % bytes.len();
            bytes[i] ^= xor;
            log.insert(&key, bytes).unwrap();
            db.flush().unwrap();
        }
        let store = LogStore::open_read_only(work.path()).unwrap();
        let report = store.verify(&mut |_, _| {}).unwrap();
        let failure = report.failure.expect("a changed entry must not verify");
        let found = failure.seq.expect("the failure names a seq");
        prop_assert!(found == seq || found == seq + 1, "changed {seq}, verify named {found}: {}", failure.what);
    }
}

thread_local! {
    static BASE: tempfile::TempDir = base_store();
}

#[test]
fn the_untouched_base_store_verifies() {
    let base = base_store();
    let store = LogStore::open_read_only(base.path()).unwrap();
    assert_eq!(store.size(), ENTRIES / 2);
    assert!(store.verify(&mut |_, _| {}).unwrap().ok());
}
