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
