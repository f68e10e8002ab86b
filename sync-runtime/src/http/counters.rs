//! Per-run request counters: requests sent, retries, 429s received, time spent waiting.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::store::RequestStats;

/// Counters one run's requests update.
#[derive(Debug, Default)]
pub struct RunCounters {
    requests: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
    /// Microseconds, so many short quota waits do not round away.
    wait_us: AtomicU64,
}

impl RunCounters {
    /// A snapshot.
    pub fn snapshot(&self) -> RequestStats {
        RequestStats {
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            wait_ms: self.wait_us.load(Ordering::Relaxed) / 1000,
        }
    }

    /// Count a request sent.
    pub fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Count a retry.
    pub fn retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// Count a 429 received.
    pub fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    /// Add time spent waiting on a rate limit or a backoff.
    pub fn waited(&self, wait: Duration) {
        self.wait_us
            .fetch_add(wait.as_micros() as u64, Ordering::Relaxed);
    }
}
