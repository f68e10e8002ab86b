//! Per-connection rate limiting: a governor GCRA for the declared quota and a gate the
//! provider's own hints (`Retry-After`, an exhausted `X-RateLimit-Remaining`) close until a
//! given instant. One [`ProviderLimiter`] per (integration, connection) in the process, shared
//! by every run and action of that connection through [`ProviderLimits`].

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota};
use sync_sdk::{RateLimit, SyncError};
use tracing::{debug, info};

use super::counters::RunCounters;

/// Quota waits shorter than this are logged at debug, not info: at hundreds of requests per
/// second every request waits a few milliseconds, and a log line each would drown the rest.
const QUIET_QUOTA_WAIT: Duration = Duration::from_millis(50);

/// The process's limiters, one per (integration, connection). The [`Driver`](crate::Driver)
/// owns one; clone the `Arc` to share it with anything else that calls the same providers.
#[derive(Debug, Default)]
pub struct ProviderLimits {
    limiters: Mutex<HashMap<(String, String), Arc<ProviderLimiter>>>,
}

impl ProviderLimits {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The limiter of `connection_id` of `integration`, enforcing `quota`. A limiter whose
    /// quota changed (the connection's config was edited) is replaced.
    ///
    /// # Errors
    /// `quota` allows 0 requests or has a zero window.
    pub fn limiter(
        &self,
        integration: &str,
        connection_id: &str,
        quota: Option<RateLimit>,
    ) -> Result<Arc<ProviderLimiter>, SyncError> {
        let mut map = self.limiters.lock().unwrap_or_else(|e| e.into_inner());
        let key = (integration.to_string(), connection_id.to_string());
        if let Some(existing) = map.get(&key)
            && existing.quota == quota
        {
            return Ok(existing.clone());
        }
        let limiter = Arc::new(ProviderLimiter::new(quota).map_err(|e| {
            SyncError::config(format!(
                "rate limit of connection {connection_id:?} ({integration}): {e}"
            ))
        })?);
        map.insert(key, limiter.clone());
        Ok(limiter)
    }
}

/// One connection's rate limit.
pub struct ProviderLimiter {
    quota: Option<RateLimit>,
    gcra: Option<DefaultDirectRateLimiter>,
    clock: DefaultClock,
    /// Closed until this instant by a provider hint, with the header that closed it.
    gate: Mutex<Option<(Instant, &'static str)>>,
    /// Requests take their turn in order, so waiters do not wake together and race.
    turn: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for ProviderLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderLimiter")
            .field("quota", &self.quota)
            .finish_non_exhaustive()
    }
}

impl ProviderLimiter {
    /// A limiter enforcing `quota` (none: only provider hints throttle).
    ///
    /// # Errors
    /// `quota` allows 0 requests or has a zero window.
    pub fn new(quota: Option<RateLimit>) -> Result<Self, String> {
        let gcra = match quota {
            None => None,
            Some(limit) => {
                let requests = NonZeroU32::new(limit.requests)
                    .ok_or("a quota of 0 requests allows nothing")?;
                let period = limit.per / requests.get();
                let burst = NonZeroU32::new(limit.burst.unwrap_or(1).max(1)).unwrap_or(requests);
                let quota = Quota::with_period(period)
                    .ok_or("the quota's window is zero")?
                    .allow_burst(burst);
                Some(DefaultDirectRateLimiter::direct(quota))
            }
        };
        Ok(Self {
            quota,
            gcra,
            clock: DefaultClock::default(),
            gate: Mutex::new(None),
            turn: tokio::sync::Mutex::new(()),
        })
    }

    /// The quota enforced.
    pub fn quota(&self) -> Option<RateLimit> {
        self.quota
    }

    /// Wait until a request may go out: past any provider-imposed pause, then within the
    /// quota. Time spent sleeping is added to `counters`.
    pub async fn acquire(&self, counters: &RunCounters) {
        let _turn = self.turn.lock().await;
        loop {
            let gate = *self.gate.lock().unwrap_or_else(|e| e.into_inner());
            let Some((until, reason)) = gate else { break };
            let now = Instant::now();
            if until <= now {
                break;
            }
            let wait = until - now;
            info!(
                wait_ms = wait.as_millis() as u64,
                reason, "waiting on the provider's rate limit"
            );
            let slept = Instant::now();
            tokio::time::sleep(wait).await;
            counters.waited(slept.elapsed());
        }
        if let Some(gcra) = &self.gcra {
            while let Err(not_until) = gcra.check() {
                let wait = not_until.wait_time_from(self.clock.now());
                if wait >= QUIET_QUOTA_WAIT {
                    info!(
                        wait_ms = wait.as_millis() as u64,
                        reason = "quota",
                        "waiting on the provider's rate limit"
                    );
                } else {
                    debug!(
                        wait_us = wait.as_micros() as u64,
                        reason = "quota",
                        "waiting on the provider's rate limit"
                    );
                }
                let slept = Instant::now();
                tokio::time::sleep(wait).await;
                counters.waited(slept.elapsed());
            }
        }
    }

    /// Hold every request of the connection for `wait` from now (a longer pause already in
    /// place is kept).
    pub fn pause(&self, wait: Duration, reason: &'static str) {
        let until = Instant::now() + wait;
        let mut gate = self.gate.lock().unwrap_or_else(|e| e.into_inner());
        if gate.is_none_or(|(current, _)| current < until) {
            *gate = Some((until, reason));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_limiter_per_connection_replaced_when_the_quota_changes() {
        let limits = ProviderLimits::new();
        let q = Some(RateLimit::per_second(10));
        let a = limits.limiter("crm", "acme", q).unwrap();
        let b = limits.limiter("crm", "acme", q).unwrap();
        assert!(Arc::ptr_eq(&a, &b), "same connection must share a limiter");
        let other = limits.limiter("crm", "globex", q).unwrap();
        assert!(!Arc::ptr_eq(&a, &other));
        let changed = limits
            .limiter("crm", "acme", Some(RateLimit::per_second(5)))
            .unwrap();
        assert!(!Arc::ptr_eq(&a, &changed));
        let err = limits
            .limiter("crm", "acme", Some(RateLimit::per_second(0)))
            .unwrap_err();
        assert!(err.to_string().contains("acme"), "{err}");
    }

    #[tokio::test]
    async fn pause_holds_the_next_request() {
        let limiter = ProviderLimiter::new(None).unwrap();
        let counters = RunCounters::default();
        limiter.pause(Duration::from_millis(300), "retry-after");
        let began = Instant::now();
        limiter.acquire(&counters).await;
        let waited = began.elapsed();
        assert!(
            waited >= Duration::from_millis(290),
            "acquire returned after {waited:?}, before the 300 ms pause ended"
        );
        assert!(counters.snapshot().wait_ms >= 290);
    }
}
