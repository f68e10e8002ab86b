//! When and how long to retry a provider request: which failures are worth another attempt,
//! and exponential backoff with jitter from `backon` (not `backoff`, which is unmaintained:
//! RUSTSEC-2025-0012), bounded in attempts and total time.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// Retry settings for one connection's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (default 8).
    pub max_attempts: u32,
    /// Total time a request may spend in backoff and provider-requested waits before it
    /// fails (default 5 minutes).
    pub max_total: Duration,
    /// First backoff delay (default 500 ms); each next one doubles, plus up to 100% jitter.
    pub min_delay: Duration,
    /// Longest single backoff delay (default 60 s).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            max_total: Duration::from_secs(300),
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The backoff delays for one request: at most `max_attempts - 1` of them, jittered,
    /// each at most twice `max_delay` (jitter adds up to one delay) and summing to at most
    /// `max_total`.
    pub fn delays(&self) -> impl Iterator<Item = Duration> + Send + use<> {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_factor(2.0)
            .with_jitter()
            .with_max_times(self.max_attempts.saturating_sub(1) as usize)
            .with_total_delay(Some(self.max_total))
            .build()
    }
}

/// Whether an HTTP status is worth retrying: 429, 408 and 5xx.
pub fn retryable_status(status: u16) -> bool {
    // 599 is what the replay provider answers to an unrecorded request: retrying cannot help.
    matches!(status, 408 | 429 | 500..=598)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_within_bounds() {
        let policy = RetryPolicy {
            max_attempts: 6,
            max_total: Duration::from_secs(600),
            min_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(800),
        };
        for _ in 0..50 {
            let delays: Vec<Duration> = policy.delays().collect();
            assert_eq!(delays.len(), 5, "6 attempts allow 5 waits: {delays:?}");
            for (i, d) in delays.iter().enumerate() {
                let base = Duration::from_millis(100 * (1 << i)).min(Duration::from_millis(800));
                assert!(
                    *d >= base && *d <= base * 2,
                    "delay {i} is {d:?}, expected within [{base:?}, {:?}]",
                    base * 2
                );
            }
        }
    }

    #[test]
    fn backoff_stops_at_the_total_time_budget() {
        let policy = RetryPolicy {
            max_attempts: 100,
            max_total: Duration::from_secs(5),
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(2),
        };
        for _ in 0..50 {
            let delays: Vec<Duration> = policy.delays().collect();
            let total: Duration = delays.iter().sum();
            assert!(
                total <= Duration::from_secs(5),
                "delays sum to {total:?}, over the 5 s budget"
            );
            assert!(!delays.is_empty() && delays.len() < 99, "{delays:?}");
        }
    }

    #[test]
    fn only_429_408_and_5xx_are_retryable() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(retryable_status(s), "{s} must be retried");
        }
        for s in [400, 401, 403, 404, 409, 422] {
            assert!(!retryable_status(s), "{s} must not be retried");
        }
    }
}
