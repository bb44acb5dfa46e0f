//! Helpers shared by the integration tests: stores in temporary directories (real sled, real
//! files), and events shaped like the domain's.
#![allow(dead_code)]

pub mod world;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::json;
use withus::format::Actor;
use withus::store::{AppendBatch, Clock, Expected, LogStore, NewEvent, StoreConfig};

/// A clock tests can move, including backwards.
#[derive(Default)]
pub struct TestClock(pub AtomicU64);

impl Clock for TestClock {
    fn now_millis(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl TestClock {
    pub fn set(&self, ms: u64) {
        self.0.store(ms, Ordering::SeqCst)
    }
}

pub fn open(dir: &std::path::Path) -> LogStore {
    LogStore::open(StoreConfig::new(dir)).expect("open store")
}

pub fn open_with_clock(dir: &std::path::Path, clock: Arc<TestClock>) -> LogStore {
    let mut cfg = StoreConfig::new(dir);
    cfg.clock = clock;
    LogStore::open(cfg).expect("open store")
}

pub fn event(stream: &str, subject: Option<&str>, expected: Expected) -> NewEvent {
    NewEvent {
        event_type: "meeting.recorded".into(),
        v: 1,
        stream: stream.into(),
        expected,
        subject: subject.map(str::to_string),
        actor: Actor {
            id: "pw-amara".into(),
            role: "peer_worker".into(),
        },
        data: json!({"kind": "one_to_one", "mode": "in_person", "minutes": 45}),
    }
}

pub fn batch(command: Option<&str>, events: Vec<NewEvent>) -> AppendBatch {
    AppendBatch {
        command: command.map(str::to_string),
        events,
        ..AppendBatch::default()
    }
}

/// Opens the store's sled database directly, to simulate damage and crashes the API cannot make.
/// The segment size must match the store's (sled refuses a change across restarts).
pub fn raw_sled(dir: &std::path::Path) -> sled::Db {
    // sled drops its lock a moment after the last handle; retry briefly, as the store does.
    for _ in 0..200 {
        match sled::Config::new()
            .path(dir.join("sled"))
            .segment_size(withus::store::SLED_SEGMENT_SIZE)
            .open()
        {
            Ok(db) => return db,
            Err(sled::Error::Io(e)) if e.to_string().contains("lock") => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            Err(e) => panic!("open sled directly: {e}"),
        }
    }
    panic!("sled stayed locked for 2 s")
}

/// A bundle streamed by `GetBundle` or `GetMyBundle`, reassembled by the library's client: its
/// bytes, and the bundle hash its request recorded (empty for an on-demand one). Fails the test
/// if the stream breaks or ends short of the length its first chunk announced.
pub async fn collect_bundle(
    response: tonic::Response<tonic::Streaming<withus::grpc::pb::BundleChunk>>,
) -> (Vec<u8>, String) {
    withus::grpc::client::read_bundle(&mut response.into_inner())
        .await
        .expect("the stream holds the whole bundle")
}

/// The record a `GetRecord` response carries (every answered read carries one).
pub fn record_of(response: &withus::grpc::pb::RecordResponse) -> &withus::grpc::pb::Record {
    response
        .record
        .as_ref()
        .expect("a RecordResponse carries its record")
}

/// Every word a record shows, one passage per line, in the order of `Record`'s fields: what the
/// reader was shown of its text, for asserting on content wherever it sits.
pub fn words_shown(record: &withus::grpc::pb::Record) -> String {
    use withus::grpc::pb::Passage;
    let mut passages: Vec<&Passage> = Vec::new();
    for m in &record.meetings {
        passages.extend(m.place_detail.as_ref());
        passages.extend(m.activities.iter().filter_map(|a| a.detail.as_ref()));
    }
    for n in &record.notes {
        passages.extend(&n.passages);
        passages.extend(n.proposals.iter().filter_map(|p| p.decline_reason.as_ref()));
    }
    passages.extend(record.consents.iter().filter_map(|c| c.person.as_ref()));
    for k in &record.concerns {
        passages.extend(&k.summary);
        passages.extend(k.outcome_detail.as_ref());
    }
    passages.extend(
        record
            .withholdings
            .iter()
            .filter_map(|w| w.justification.as_ref()),
    );
    for d in &record.discussions {
        passages.extend(&d.summary);
    }
    for s in &record.statements {
        passages.extend(&s.segments);
    }
    for g in &record.goals {
        passages.extend(&g.words);
        passages.extend(g.reviews.iter().flat_map(|r| &r.words));
        passages.extend(g.closed.iter().flat_map(|c| &c.words));
    }
    passages.extend(
        record
            .authorities
            .iter()
            .filter_map(|a| a.evidence.as_ref()),
    );
    passages
        .iter()
        .filter_map(|p| p.text.as_deref())
        .collect::<Vec<_>>()
        .join("\n")
}

/// What an access-log line gives as its why: a read's basis (`consent:c-1`), or a refusal's
/// reason by its vocabulary name (`no_consent`).
pub fn why(line: &withus::grpc::pb::AccessLine) -> String {
    use withus::grpc::pb::DenialReason;
    match DenialReason::try_from(line.denial_reason) {
        Ok(DenialReason::Unspecified) | Err(_) => line.basis.clone(),
        Ok(reason) => reason
            .as_str_name()
            .trim_start_matches("DENIAL_REASON_")
            .to_ascii_lowercase(),
    }
}

/// The wire number of a vocabulary value named as the log names it (`"carer"`), for requests
/// built from test tables; panics on a name the vocabulary does not have.
pub fn wire<W: withus::grpc::convert::WireVocabulary>(name: &str) -> i32 {
    use withus::domain::types::Vocabulary as _;
    let value = W::Domain::from_name(name).unwrap_or_else(|| panic!("no value {name:?}"));
    withus::grpc::convert::to_wire::<W>(value)
}

/// The event an access-log line stands for, as the log names it.
pub fn event_of(line: &withus::grpc::pb::AccessLine) -> &'static str {
    if line.kind == withus::grpc::pb::AccessKind::Refused as i32 {
        "access.denied"
    } else {
        "record.accessed"
    }
}
