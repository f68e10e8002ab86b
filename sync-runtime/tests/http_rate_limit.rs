//! The proactive quota: a provider that allows R requests/s and answers 429 above it sees no
//! 429 from a sync configured at R, and the sync keeps close to R.

mod http_support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http_support::{cached_ids, driver, items_body, run, serve, target};
use sync_runtime::connection::Credentials;
use sync_runtime::http::HttpOptions;
use sync_runtime::store::RunStatus;
use sync_sdk::RateLimit;

const RATE: u32 = 200;
/// The provider tolerates bursts of this many requests (a token bucket of this capacity,
/// refilled at RATE/s), as real providers do.
const PROVIDER_BURST: f64 = 20.0;

#[derive(Default)]
struct Bucket {
    tokens: f64,
    last: Option<Instant>,
    served: u64,
    rejected: u64,
    first: Option<Instant>,
    latest: Option<Instant>,
}

type Shared = Arc<Mutex<Bucket>>;

#[derive(serde::Deserialize)]
struct Params {
    page: u64,
    part: u64,
}

async fn items(State(bucket): State<Shared>, Query(p): Query<Params>) -> Response {
    let now = Instant::now();
    let mut b = bucket.lock().unwrap();
    let elapsed = b.last.map_or(0.0, |l| (now - l).as_secs_f64());
    b.tokens = if b.last.is_none() {
        PROVIDER_BURST
    } else {
        (b.tokens + elapsed * f64::from(RATE)).min(PROVIDER_BURST)
    };
    b.last = Some(now);
    if b.tokens < 1.0 {
        b.rejected += 1;
        return (StatusCode::TOO_MANY_REQUESTS, "slow down").into_response();
    }
    b.tokens -= 1.0;
    b.served += 1;
    b.first.get_or_insert(now);
    b.latest = Some(now);
    axum::Json(items_body(p.page, p.part, 20)).into_response()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_at_the_providers_rate_gets_no_429_and_sustains_ninety_percent() {
    let bucket: Shared = Arc::default();
    let base = serve(
        axum::Router::new()
            .route("/items", get(items))
            .with_state(bucket.clone()),
    )
    .await;

    // The provider really limits: 100 requests at once get 429s.
    let client = reqwest::Client::new();
    let burst = (0..100).map(|i| {
        client
            .get(format!("{base}/items?page=1&part={}", i % 20))
            .send()
    });
    let statuses: Vec<u16> = futures::future::join_all(burst)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    let rejected = statuses.iter().filter(|s| **s == 429).count();
    assert!(
        rejected > 0,
        "the fake provider let 100 simultaneous requests through; it must enforce its rate"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    *bucket.lock().unwrap() = Bucket::default();

    let (driver, store, _dir) = driver();
    let http = HttpOptions {
        rate_limit: Some(RateLimit::per_second(RATE).with_burst(10)),
        ..HttpOptions::default()
    };
    // 100 pages of 20 concurrent requests: 2,000 requests.
    let target = target(&base, 100, 20, Credentials::None, http);
    let report = run(&driver, &target).await;

    assert_eq!(
        report.status,
        RunStatus::Success,
        "run failed: {:?}",
        report.error
    );
    let (rejected, served, first, latest) = {
        let b = bucket.lock().unwrap();
        (b.rejected, b.served, b.first.unwrap(), b.latest.unwrap())
    };
    assert_eq!(
        rejected, 0,
        "the provider answered {rejected} requests with 429"
    );
    assert_eq!(report.stats.rate_limited, 0, "the run counted 429s");
    assert_eq!(report.stats.requests, 2000, "requests sent");
    assert_eq!(served, 2000, "requests the provider served");
    let span = (latest - first).as_secs_f64();
    let rate = (served - 1) as f64 / span;
    eprintln!(
        "2000 requests in {span:.2}s at the provider: {rate:.1} req/s (quota {RATE}/s); run {:.2}s, waited {} ms on the quota",
        report.elapsed.as_secs_f64(),
        report.stats.wait_ms
    );
    assert!(
        rate >= 0.9 * f64::from(RATE),
        "sustained {rate:.1} req/s, below 90% of the {RATE}/s quota"
    );
    assert!(
        rate <= f64::from(RATE) * 1.05,
        "sustained {rate:.1} req/s, above the {RATE}/s quota"
    );
    assert!(
        report.stats.wait_ms > 5_000,
        "waits on the quota were not counted: {:?}",
        report.stats
    );
    assert_eq!(
        cached_ids(&store).await,
        (0..2000).collect::<Vec<u64>>(),
        "cached items"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runs_of_one_connection_share_its_quota() {
    let arrivals: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let seen = arrivals.clone();
    let base = serve(axum::Router::new().route(
        "/items",
        get(move |Query(p): Query<Params>| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(Instant::now());
                axum::Json(items_body(p.page, p.part, 10))
            }
        }),
    ))
    .await;
    let (driver, _store, _dir) = driver();
    let http = HttpOptions {
        rate_limit: Some(RateLimit::per_second(50)),
        ..HttpOptions::default()
    };
    // Two syncs of the same connection, 50 requests each, at once.
    let mut a = target(&base, 5, 10, Credentials::None, http.clone());
    a.key.sync = "items-a".into();
    let mut b = target(&base, 5, 10, Credentials::None, http);
    b.key.sync = "items-b".into();
    let began = Instant::now();
    let (ra, rb) = tokio::join!(run(&driver, &a), run(&driver, &b));
    let elapsed = began.elapsed();
    assert_eq!(
        (ra.status, rb.status),
        (RunStatus::Success, RunStatus::Success)
    );

    let mut times = arrivals.lock().unwrap().clone();
    times.sort();
    assert_eq!(times.len(), 100);
    let busiest = times
        .iter()
        .map(|t| {
            times
                .iter()
                .filter(|u| **u >= *t && **u - *t < Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap();
    assert!(
        busiest <= 52,
        "{busiest} requests in one second: the two runs did not share the 50/s quota"
    );
    assert!(
        elapsed >= Duration::from_millis(1900),
        "100 requests at 50/s took only {elapsed:?}"
    );
}
