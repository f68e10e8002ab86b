//! Reading a provider's rate-limit hints: `Retry-After` (delta-seconds or HTTP-date),
//! `X-RateLimit-Remaining`/`X-RateLimit-Reset`, IETF `RateLimit-Remaining`/`RateLimit-Reset`
//! and headers an integration declares ([`RateLimitHeaders`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sync_sdk::{RateLimitHeaders, ResetFormat};

/// The longest wait any header can ask for; a larger value is taken as this (a provider bug
/// must not park a connection for days).
pub const MAX_HINT: Duration = Duration::from_secs(3600);

/// A wait the provider asked for, and which header asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hint {
    /// How long to wait from now.
    pub wait: Duration,
    /// The header it came from (`"retry-after"`, `"x-ratelimit-reset"`…), for logs.
    pub reason: &'static str,
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// `Retry-After` as a wait from `now`. A value ≤ 0 (or a date not in the future) is no hint:
/// `None`, so the caller backs off instead of retrying at once.
pub fn retry_after(headers: &[(String, String)], now: SystemTime) -> Option<Hint> {
    let value = header(headers, "retry-after")?;
    let wait = if let Ok(secs) = value.parse::<f64>() {
        (secs.is_finite() && secs > 0.0).then(|| Duration::from_secs_f64(secs.min(1e7)))?
    } else {
        let at = httpdate::parse_http_date(value).ok()?;
        at.duration_since(now).ok().filter(|d| !d.is_zero())?
    };
    Some(Hint {
        wait: wait.min(MAX_HINT),
        reason: "retry-after",
    })
}

/// When the provider says the quota is used up (remaining = 0), how long until it resets.
/// Declared headers are read first, then `X-RateLimit-*`, then IETF `RateLimit-*`.
pub fn quota_exhausted(
    headers: &[(String, String)],
    declared: Option<&RateLimitHeaders>,
    now: SystemTime,
) -> Option<Hint> {
    let candidates: [(&str, &str, Option<ResetFormat>, &'static str); 3] = [
        match declared {
            Some(d) => (
                &d.remaining,
                &d.reset,
                Some(d.reset_format),
                "provider-reset",
            ),
            None => ("", "", None, ""),
        },
        (
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
            None,
            "x-ratelimit-reset",
        ),
        (
            "ratelimit-remaining",
            "ratelimit-reset",
            Some(ResetFormat::SecondsToWait),
            "ratelimit-reset",
        ),
    ];
    for (remaining, reset, format, reason) in candidates {
        if remaining.is_empty() {
            continue;
        }
        let Some(left) = header(headers, remaining).and_then(parse_number) else {
            continue;
        };
        if left > 0.0 {
            return None;
        }
        let wait = header(headers, reset).and_then(|v| reset_wait(v, format, now));
        return wait.map(|wait| Hint {
            wait: wait.min(MAX_HINT),
            reason,
        });
    }
    None
}

fn parse_number(value: &str) -> Option<f64> {
    // IETF drafts allow parameters after the number (`0;w=60`): read the leading number.
    let number = value.split([';', ',']).next()?.trim();
    number.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// A reset header value as a wait from `now`. Without a declared format the size decides:
/// ≥ 10^12 is epoch milliseconds, ≥ 10^9 epoch seconds, anything smaller seconds to wait.
pub fn reset_wait(value: &str, format: Option<ResetFormat>, now: SystemTime) -> Option<Duration> {
    let n = parse_number(value)?;
    if n <= 0.0 {
        return None;
    }
    let format = format.unwrap_or(if n >= 1e12 {
        ResetFormat::EpochMillis
    } else if n >= 1e9 {
        ResetFormat::EpochSeconds
    } else {
        ResetFormat::SecondsToWait
    });
    let since_epoch = now.duration_since(UNIX_EPOCH).ok()?;
    let wait = match format {
        ResetFormat::SecondsToWait => Duration::from_secs_f64(n.min(1e7)),
        ResetFormat::EpochSeconds => Duration::from_secs_f64(n).checked_sub(since_epoch)?,
        ResetFormat::EpochMillis => Duration::from_secs_f64(n / 1000.0).checked_sub(since_epoch)?,
        _ => return None,
    };
    (!wait.is_zero()).then_some(wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn retry_after_reads_delta_seconds_and_ignores_zero_or_negative() {
        let now = at(1_700_000_000);
        assert_eq!(
            retry_after(&h(&[("Retry-After", "2")]), now).map(|x| x.wait),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            retry_after(&h(&[("retry-after", "1.5")]), now).map(|x| x.wait),
            Some(Duration::from_millis(1500))
        );
        for none in ["0", "-3", "soon", ""] {
            assert_eq!(
                retry_after(&h(&[("retry-after", none)]), now),
                None,
                "Retry-After: {none:?} must be no hint"
            );
        }
        assert_eq!(retry_after(&h(&[]), now), None);
        assert_eq!(
            retry_after(&h(&[("retry-after", "999999999")]), now).map(|x| x.wait),
            Some(MAX_HINT),
            "an absurd wait must be capped"
        );
    }

    #[test]
    fn retry_after_reads_http_dates_in_the_future_only() {
        let now = at(1_700_000_000);
        let future = httpdate::fmt_http_date(at(1_700_000_003));
        assert_eq!(
            retry_after(&h(&[("retry-after", &future)]), now).map(|x| x.wait),
            Some(Duration::from_secs(3))
        );
        let past = httpdate::fmt_http_date(at(1_699_999_990));
        assert_eq!(retry_after(&h(&[("retry-after", &past)]), now), None);
        let same = httpdate::fmt_http_date(now);
        assert_eq!(retry_after(&h(&[("retry-after", &same)]), now), None);
    }

    #[test]
    fn x_ratelimit_reset_is_read_as_epoch_seconds_millis_or_delta() {
        let now = at(1_700_000_000);
        let wait = |reset: &str| {
            quota_exhausted(
                &h(&[("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", reset)]),
                None,
                now,
            )
        };
        assert_eq!(
            wait("1700000010"),
            Some(Hint {
                wait: Duration::from_secs(10),
                reason: "x-ratelimit-reset"
            })
        );
        assert_eq!(
            wait("1700000002500").map(|x| x.wait),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(wait("30").map(|x| x.wait), Some(Duration::from_secs(30)));
        assert_eq!(wait("1699999990"), None, "a reset in the past is no wait");
        assert_eq!(
            quota_exhausted(
                &h(&[("x-ratelimit-remaining", "4"), ("x-ratelimit-reset", "30")]),
                None,
                now
            ),
            None,
            "quota left means no wait"
        );
    }

    #[test]
    fn ietf_ratelimit_headers_count_seconds_to_wait() {
        let now = at(1_700_000_000);
        assert_eq!(
            quota_exhausted(
                &h(&[("RateLimit-Remaining", "0"), ("RateLimit-Reset", "7")]),
                None,
                now
            ),
            Some(Hint {
                wait: Duration::from_secs(7),
                reason: "ratelimit-reset"
            })
        );
        assert_eq!(
            quota_exhausted(
                &h(&[("ratelimit-remaining", "0;w=60"), ("ratelimit-reset", "7")]),
                None,
                now
            )
            .map(|x| x.wait),
            Some(Duration::from_secs(7))
        );
    }

    #[test]
    fn declared_headers_use_their_declared_format() {
        let now = at(1_700_000_000);
        let declared =
            RateLimitHeaders::new("x-calls-left", "x-calls-reset", ResetFormat::EpochMillis);
        // 1_700_000_004 would be read as epoch seconds by the heuristic; declared as ms it is
        // in the past, so no wait.
        let headers = h(&[("x-calls-left", "0"), ("x-calls-reset", "1700000004")]);
        assert_eq!(quota_exhausted(&headers, Some(&declared), now), None);
        let headers = h(&[("x-calls-left", "0"), ("x-calls-reset", "1700000004000")]);
        assert_eq!(
            quota_exhausted(&headers, Some(&declared), now),
            Some(Hint {
                wait: Duration::from_secs(4),
                reason: "provider-reset"
            })
        );
        let seconds = RateLimitHeaders::new("x-left", "x-wait", ResetFormat::SecondsToWait);
        let headers = h(&[("x-left", "0"), ("x-wait", "1700000004")]);
        assert_eq!(
            quota_exhausted(&headers, Some(&seconds), now).map(|x| x.wait),
            Some(MAX_HINT)
        );
    }
}
