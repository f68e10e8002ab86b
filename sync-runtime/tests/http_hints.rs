//! Quota headers on successful answers: when `X-RateLimit-Remaining`, IETF
//! `RateLimit-Remaining` or an integration's declared header says 0, the connection's next
//! request waits for the announced reset.

mod http_support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http_support::{cached_ids, driver, items_body, run, serve, target};
use sync_runtime::connection::Credentials;
use sync_runtime::http::HttpOptions;
use sync_runtime::store::RunStatus;
use sync_sdk::{RateLimitHeaders, ResetFormat};

#[derive(serde::Deserialize)]
struct Params {
    page: u64,
    part: u64,
}

type Arrivals = Arc<Mutex<Vec<(u64, Instant)>>>;

fn now_since_epoch() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap()
}

/// Page 1 says the quota is spent until an epoch-seconds reset 2 s ahead (whole seconds, so
/// 1–2 s), page 2 with IETF headers for 1 s, page 3 with the declared epoch-ms headers for
/// 1.2 s.
async fn items(State(arrivals): State<Arrivals>, Query(p): Query<Params>) -> Response {
    arrivals.lock().unwrap().push((p.page, Instant::now()));
    let body = axum::Json(items_body(p.page, p.part, 1));
    let headers: Vec<(String, String)> = match p.page {
        1 => vec![
            ("x-ratelimit-remaining".into(), "0".into()),
            (
                "x-ratelimit-reset".into(),
                (now_since_epoch().as_secs() + 2).to_string(),
            ),
        ],
        2 => vec![
            ("ratelimit-remaining".into(), "0".into()),
            ("ratelimit-reset".into(), "1".into()),
        ],
        3 => vec![
            ("x-acme-calls-left".into(), "0".into()),
            (
                "x-acme-reset-ms".into(),
                (now_since_epoch().as_millis() + 1200).to_string(),
            ),
        ],
        _ => vec![("x-ratelimit-remaining".into(), "57".into())],
    };
    let mut response = body.into_response();
    for (k, v) in headers {
        response.headers_mut().insert(
            axum::http::HeaderName::try_from(k).unwrap(),
            v.parse().unwrap(),
        );
    }
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_quota_headers_hold_the_next_request_until_the_reset() {
    let arrivals: Arrivals = Arc::default();
    let base = serve(
        axum::Router::new()
            .route("/items", get(items))
            .with_state(arrivals.clone()),
    )
    .await;
    let (driver, store, _dir) = driver();
    let http = HttpOptions {
        rate_limit_headers: Some(RateLimitHeaders::new(
            "x-acme-calls-left",
            "x-acme-reset-ms",
            ResetFormat::EpochMillis,
        )),
        ..HttpOptions::default()
    };
    let report = run(&driver, &target(&base, 5, 1, Credentials::None, http)).await;
    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(cached_ids(&store).await, vec![0, 1, 2, 3, 4]);

    let a = arrivals.lock().unwrap();
    assert_eq!(
        a.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    let gap = |i: usize| a[i + 1].1 - a[i].1;
    let within = |d: Duration, lo: u64, hi: u64| {
        d >= Duration::from_millis(lo) && d <= Duration::from_millis(hi)
    };
    assert!(
        within(gap(0), 950, 2300),
        "x-ratelimit-reset (epoch s): next request after {:?}",
        gap(0)
    );
    assert!(
        within(gap(1), 950, 1400),
        "ratelimit-reset: next request after {:?}",
        gap(1)
    );
    assert!(
        within(gap(2), 1150, 1600),
        "declared epoch-ms reset: next request after {:?}",
        gap(2)
    );
    assert!(
        gap(3) < Duration::from_millis(500),
        "quota left: no wait, waited {:?}",
        gap(3)
    );
    assert_eq!(report.stats.retries, 0);
    assert!(
        report.stats.wait_ms >= 3_000,
        "waits counted: {:?}",
        report.stats
    );
}
