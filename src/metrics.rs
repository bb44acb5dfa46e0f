//! The server's metrics, for `GET /metrics` (Prometheus / OpenMetrics text).
//!
//! Owns: the registry of one server (every metric named `withus_*`) and what each counts. The
//! gRPC layer reports each call's method and status code, the store each durable commit's size
//! and its flush and fsync times (through [`crate::store::CommitMeter`]), the service each
//! refused read's reason; gauges are read when scraped.
//! Must not touch: tonic, sled or domain content. Every label value comes from a closed set — a
//! method of the proto, a gRPC status code's name, a denial reason of the domain — never an id,
//! a token or a word anyone wrote, so a scrape tells nothing about any person.

use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

use crate::domain::types::DenialReason;

/// One RPC's labels: which method, which status code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    /// `package.Service/Method`, from the served protos; `unknown` for any other path.
    method: &'static str,
    /// The gRPC status code's canonical name (`OK`, `PERMISSION_DENIED`, …).
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    /// A `DenialReason` of the domain (`no_consent`, …), or `rate_limited_unlogged` for a
    /// refusal beyond the reader's allowance, which is answered but not logged one by one.
    reason: &'static str,
}

/// Call latencies: 100 µs to ~52 s in 20 doubling buckets.
fn call_latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_1, 2.0, 20))
}

/// What the store's gauges read when scraped; the HTTP layer takes it from the service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreSample {
    /// Entries in the log (its tree size).
    pub log_entries: u64,
    /// Bytes the store's files take on disk.
    pub disk_bytes: u64,
    /// Entries durable in the log but not yet applied to the views (normally 0: the views
    /// follow each commit before it is answered).
    pub views_lag_entries: u64,
    /// Entries applied to the views in memory but not yet saved (re-applied from the log on
    /// open if the process dies).
    pub views_unsaved_entries: u64,
    /// Whether a storage failure has stopped every write until a restart.
    pub failed: bool,
}

/// One server's metrics. Cheap to update from any thread; share it behind an `Arc`.
pub struct Metrics {
    registry: Registry,
    calls: Family<CallLabels, Counter>,
    call_seconds: Family<MethodLabels, Histogram, fn() -> Histogram>,
    group_entries: Histogram,
    flush_seconds: Histogram,
    fsync_seconds: Histogram,
    refused_reads: Family<ReasonLabels, Counter>,
    subscriptions: Gauge<i64, AtomicI64>,
    log_entries: Gauge<i64, AtomicI64>,
    disk_bytes: Gauge<i64, AtomicI64>,
    views_lag: Gauge<i64, AtomicI64>,
    views_unsaved: Gauge<i64, AtomicI64>,
    store_failed: Gauge<i64, AtomicI64>,
}

/// `Audit.Subscribe` streams open now: held by each subscription's task, counted down on drop.
pub struct SubscriptionGuard(Gauge<i64, AtomicI64>);

impl Drop for SubscriptionGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn gauge_value(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Metrics {
    /// A fresh registry with every metric at zero (refusal reasons listed, so a dashboard sees
    /// each one from the first scrape).
    pub fn new() -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("withus");
        let calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "rpc_calls",
            "gRPC calls finished, by method and status code",
            calls.clone(),
        );
        let call_seconds =
            Family::<MethodLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                call_latency_histogram,
            );
        registry.register_with_unit(
            "rpc_duration",
            "Time from a call's request headers to its status, by method",
            Unit::Seconds,
            call_seconds.clone(),
        );
        let group_entries = Histogram::new(exponential_buckets(1.0, 2.0, 12));
        registry.register(
            "group_commit_entries",
            "Entries made durable by one commit (one flush and fsync)",
            group_entries.clone(),
        );
        let flush_seconds = Histogram::new(exponential_buckets(0.000_05, 2.0, 18));
        registry.register_with_unit(
            "flush_duration",
            "sled flush (sync_file_range) of one commit",
            Unit::Seconds,
            flush_seconds.clone(),
        );
        let fsync_seconds = Histogram::new(exponential_buckets(0.000_05, 2.0, 18));
        registry.register_with_unit(
            "fsync_duration",
            "fdatasync of the data file (and new blob files) after one commit's flush",
            Unit::Seconds,
            fsync_seconds.clone(),
        );
        let refused_reads = Family::<ReasonLabels, Counter>::default();
        let reasons = DenialReason::ALL.iter().map(|r| r.as_str());
        for reason in reasons.chain([RATE_LIMITED_UNLOGGED]) {
            drop(refused_reads.get_or_create(&ReasonLabels { reason }));
        }
        registry.register(
            "refused_reads",
            "Reads refused, by the reason recorded in access.denied",
            refused_reads.clone(),
        );
        let subscriptions = Gauge::default();
        registry.register(
            "open_subscriptions",
            "Audit.Subscribe streams open now",
            subscriptions.clone(),
        );
        let log_entries = Gauge::default();
        registry.register(
            "log_entries",
            "Entries in the log (its tree size)",
            log_entries.clone(),
        );
        let disk_bytes = Gauge::default();
        registry.register_with_unit(
            "store_disk",
            "Size of the store's files on disk",
            Unit::Bytes,
            disk_bytes.clone(),
        );
        let views_lag = Gauge::default();
        registry.register(
            "views_lag_entries",
            "Entries durable in the log but not yet applied to the views",
            views_lag.clone(),
        );
        let views_unsaved = Gauge::default();
        registry.register(
            "views_unsaved_entries",
            "Entries applied to the views but not yet saved to disk",
            views_unsaved.clone(),
        );
        let store_failed = Gauge::default();
        registry.register(
            "store_failed",
            "1 once a storage failure has stopped every write until a restart, else 0",
            store_failed.clone(),
        );
        Arc::new(Metrics {
            registry,
            calls,
            call_seconds,
            group_entries,
            flush_seconds,
            fsync_seconds,
            refused_reads,
            subscriptions,
            log_entries,
            disk_bytes,
            views_lag,
            views_unsaved,
            store_failed,
        })
    }

    /// A call to `method` ended with status `code` after `elapsed`.
    pub fn call_finished(&self, method: &'static str, code: &'static str, elapsed: Duration) {
        self.calls.get_or_create(&CallLabels { method, code }).inc();
        self.call_seconds
            .get_or_create(&MethodLabels { method })
            .observe(elapsed.as_secs_f64());
    }

    /// A read was refused for `reason` (logged as `access.denied`).
    pub fn read_refused(&self, reason: DenialReason) {
        self.refused_reads
            .get_or_create(&ReasonLabels {
                reason: reason.as_str(),
            })
            .inc();
    }

    /// A read was refused beyond the reader's allowance: answered, not logged one by one.
    pub fn read_refused_unlogged(&self) {
        self.refused_reads
            .get_or_create(&ReasonLabels {
                reason: RATE_LIMITED_UNLOGGED,
            })
            .inc();
    }

    /// A subscription opened; it counts until the guard is dropped.
    pub fn subscription_opened(&self) -> SubscriptionGuard {
        self.subscriptions.inc();
        SubscriptionGuard(self.subscriptions.clone())
    }

    /// The metrics in the OpenMetrics text format, with the store's gauges as `sample` says.
    pub fn render(&self, sample: StoreSample) -> String {
        self.log_entries.set(gauge_value(sample.log_entries));
        self.disk_bytes.set(gauge_value(sample.disk_bytes));
        self.views_lag.set(gauge_value(sample.views_lag_entries));
        self.views_unsaved
            .set(gauge_value(sample.views_unsaved_entries));
        self.store_failed.set(i64::from(sample.failed));
        let mut text = String::new();
        // Writing to a String cannot fail; an encoder error would be a bug in a metric type.
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(error = %e, "encoding the metrics failed");
        }
        text
    }
}

/// The reason label of refusals answered but not logged (beyond the reader's allowance).
const RATE_LIMITED_UNLOGGED: &str = "rate_limited_unlogged";

impl crate::store::CommitMeter for Metrics {
    fn commit_durable(&self, entries: u64, flush: Duration, fsync: Option<Duration>) {
        self.group_entries.observe(entries as f64);
        self.flush_seconds.observe(flush.as_secs_f64());
        if let Some(fsync) = fsync {
            self.fsync_seconds.observe(fsync.as_secs_f64());
        }
    }
}

/// The canonical names of gRPC status codes, by number (grpc/doc/statuscodes.md).
pub const STATUS_CODE_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// The name of status code `code`; `UNKNOWN` for a number outside the standard's.
pub fn status_code_name(code: i32) -> &'static str {
    usize::try_from(code)
        .ok()
        .and_then(|i| STATUS_CODE_NAMES.get(i))
        .copied()
        .unwrap_or("UNKNOWN")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::CommitMeter as _;

    #[test]
    fn a_scrape_shows_calls_commits_refusals_and_gauges() {
        let metrics = Metrics::new();
        metrics.call_finished("withus.v1.Notes/Draft", "OK", Duration::from_millis(3));
        metrics.call_finished(
            "withus.v1.Records/GetRecord",
            "PERMISSION_DENIED",
            Duration::from_micros(250),
        );
        metrics.commit_durable(
            7,
            Duration::from_micros(300),
            Some(Duration::from_millis(2)),
        );
        metrics.read_refused(DenialReason::NoConsent);
        let guard = metrics.subscription_opened();
        let text = metrics.render(StoreSample {
            log_entries: 42,
            disk_bytes: 4096,
            views_lag_entries: 0,
            views_unsaved_entries: 5,
            failed: false,
        });
        for line in [
            "withus_rpc_calls_total{method=\"withus.v1.Notes/Draft\",code=\"OK\"} 1",
            "withus_rpc_calls_total{method=\"withus.v1.Records/GetRecord\",code=\"PERMISSION_DENIED\"} 1",
            "withus_rpc_duration_seconds_count{method=\"withus.v1.Notes/Draft\"} 1",
            "withus_group_commit_entries_sum 7.0",
            "withus_fsync_duration_seconds_count 1",
            "withus_refused_reads_total{reason=\"no_consent\"} 1",
            "withus_refused_reads_total{reason=\"no_basis\"} 0",
            "withus_open_subscriptions 1",
            "withus_log_entries 42",
            "withus_store_disk_bytes 4096",
            "withus_views_unsaved_entries 5",
            "withus_store_failed 0",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
        drop(guard);
        let text = metrics.render(StoreSample::default());
        assert!(text.lines().any(|l| l == "withus_open_subscriptions 0"));
    }

    #[test]
    fn status_codes_have_their_canonical_names() {
        assert_eq!(status_code_name(0), "OK");
        assert_eq!(status_code_name(7), "PERMISSION_DENIED");
        assert_eq!(status_code_name(16), "UNAUTHENTICATED");
        assert_eq!(status_code_name(17), "UNKNOWN");
        assert_eq!(status_code_name(-1), "UNKNOWN");
    }
}
