//! What the benchmark, crash-test and fuzz binaries share.

pub mod fuzz;

use std::time::Duration;

/// The `p` quantile (0..=1) of sorted latencies, by nearest rank; zero when there are none.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}
