//! Retries: 429s with `Retry-After: 0`, `2` and an HTTP-date, 503s, a cut-off body and a
//! success that is not the JSON it claims are all retried until the sync has exactly the
//! provider's data, waiting as told; a 400 fails at once with the provider's message.

mod http_support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http_support::{cached_ids, driver, items_body, run, serve, target};
use sync_runtime::connection::Credentials;
use sync_runtime::http::{HttpOptions, RetryPolicy};
use sync_runtime::store::RunStatus;
use sync_sdk::ErrorKind;

#[derive(Default)]
struct Log {
    /// When each request for a page arrived.
    arrivals: HashMap<u64, Vec<Instant>>,
}

type Shared = Arc<Mutex<Log>>;

#[derive(serde::Deserialize)]
struct Params {
    page: u64,
    part: u64,
}

fn json(status: StatusCode, body: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Page n's first attempts fail in the way named below; then it answers its item.
async fn faulty(State(log): State<Shared>, Query(p): Query<Params>) -> Response {
    let attempt = {
        let mut log = log.lock().unwrap();
        let arrivals = log.arrivals.entry(p.page).or_default();
        arrivals.push(Instant::now());
        arrivals.len()
    };
    let too_many = |retry_after: String| {
        (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after)],
            "rate limited",
        )
            .into_response()
    };
    match (p.page, attempt) {
        (1, 1..=2) => too_many("0".into()),
        (2, 1) => too_many("2".into()),
        (3, 1) => too_many(httpdate::fmt_http_date(
            SystemTime::now() + Duration::from_secs(3),
        )),
        (4, 1..=2) => json(StatusCode::SERVICE_UNAVAILABLE, r#"{"message":"down"}"#),
        (5, 1) => {
            // Headers and half a body, then the connection drops.
            let chunks: Vec<Result<&'static str, std::io::Error>> = vec![
                Ok(r#"{"items":[{"id":4,"#),
                Err(std::io::Error::other("connection lost")),
            ];
            Response::builder()
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from_stream(futures::stream::iter(chunks)))
                .unwrap()
        }
        (6, 1) => json(StatusCode::OK, "<html>gateway hiccup</html>"),
        _ => axum::Json(items_body(p.page, p.part, 1)).into_response(),
    }
}

fn gap(arrivals: &[Instant], i: usize) -> Duration {
    arrivals[i + 1] - arrivals[i]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_as_told_and_ends_with_exactly_the_providers_data() {
    let log: Shared = Arc::default();
    let base = serve(
        axum::Router::new()
            .route("/items", get(faulty))
            .with_state(log.clone()),
    )
    .await;
    let (driver, store, _dir) = driver();
    let http = HttpOptions {
        retry: RetryPolicy {
            max_attempts: 5,
            max_total: Duration::from_secs(30),
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(1),
        },
        ..HttpOptions::default()
    };
    let target = target(&base, 6, 1, Credentials::None, http);
    let began = Instant::now();
    let report = run(&driver, &target).await;
    let elapsed = began.elapsed();

    assert_eq!(
        report.status,
        RunStatus::Success,
        "run failed: {:?}",
        report.error
    );
    assert_eq!(
        cached_ids(&store).await,
        vec![0, 1, 2, 3, 4, 5],
        "cached items"
    );
    let arrivals = log.lock().unwrap().arrivals.clone();
    let count = |page: u64| arrivals[&page].len();
    assert_eq!(
        (1..=6).map(count).collect::<Vec<_>>(),
        vec![3, 2, 2, 3, 2, 2],
        "requests per page"
    );

    // Retry-After: 0 is no hint: the client backs off (>= 200 ms) instead of hammering.
    let p1 = &arrivals[&1];
    for i in 0..2 {
        assert!(
            gap(p1, i) >= Duration::from_millis(190),
            "retry {i} after Retry-After: 0 came {:?} later: a busy loop",
            gap(p1, i)
        );
    }
    // Retry-After: 2 waits two seconds.
    let waited = gap(&arrivals[&2], 0);
    assert!(
        waited >= Duration::from_millis(1990) && waited <= Duration::from_millis(2600),
        "Retry-After: 2 was followed {waited:?} later"
    );
    // An HTTP-date 3 s ahead (whole seconds, so 2–3 s from the moment it was sent).
    let waited = gap(&arrivals[&3], 0);
    assert!(
        waited >= Duration::from_millis(1990) && waited <= Duration::from_millis(3600),
        "Retry-After: <date 3 s ahead> was followed {waited:?} later"
    );
    // 503s back off exponentially: 200–400 ms, then 400–800 ms.
    let p4 = &arrivals[&4];
    assert!(
        gap(p4, 0) >= Duration::from_millis(190) && gap(p4, 1) >= Duration::from_millis(390),
        "503 retries came after {:?} and {:?}",
        gap(p4, 0),
        gap(p4, 1)
    );

    let stats = report.stats;
    assert_eq!(stats.requests, 14, "requests sent: {stats:?}");
    assert_eq!(stats.retries, 8, "retries: {stats:?}");
    assert_eq!(stats.rate_limited, 4, "429s received: {stats:?}");
    assert!(
        stats.wait_ms >= 4_000,
        "at least 4 s waited on Retry-After, counted {} ms",
        stats.wait_ms
    );
    assert!(elapsed < Duration::from_secs(10), "run took {elapsed:?}");
    let stored = store.get_run(report.run_id).await.unwrap().unwrap();
    assert_eq!(
        stored.stats, stats,
        "run history must hold the run's request stats"
    );
}

#[tokio::test]
async fn a_400_fails_at_once_with_the_providers_message() {
    let hits = Arc::new(Mutex::new(0u32));
    let counted = hits.clone();
    let base = serve(axum::Router::new().route(
        "/items",
        get(move || {
            let counted = counted.clone();
            async move {
                *counted.lock().unwrap() += 1;
                json(
                    StatusCode::BAD_REQUEST,
                    r#"{"error":{"message":"unknown filter 'colour'"}}"#,
                )
            }
        }),
    ))
    .await;
    let (driver, _store, _dir) = driver();
    let report = run(
        &driver,
        &target(&base, 3, 1, Credentials::None, HttpOptions::default()),
    )
    .await;

    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(
        report.error_kind,
        Some(ErrorKind::Config),
        "{:?}",
        report.error
    );
    let error = report.error.unwrap_or_default();
    assert!(
        error.contains("HTTP 400") && error.contains("unknown filter 'colour'"),
        "the error must carry the status and the provider's message: {error}"
    );
    assert_eq!(*hits.lock().unwrap(), 1, "a 400 must not be retried");
    assert_eq!(report.stats.requests, 1);
    assert_eq!(report.stats.retries, 0);
}

#[tokio::test]
async fn retries_stop_at_the_attempt_budget_with_the_last_status() {
    let hits = Arc::new(Mutex::new(0u32));
    let counted = hits.clone();
    let base = serve(axum::Router::new().route(
        "/items",
        get(move || {
            let counted = counted.clone();
            async move {
                *counted.lock().unwrap() += 1;
                json(StatusCode::BAD_GATEWAY, r#"{"message":"upstream gone"}"#)
            }
        }),
    ))
    .await;
    let (driver, _store, _dir) = driver();
    let http = HttpOptions {
        retry: RetryPolicy {
            max_attempts: 3,
            max_total: Duration::from_secs(10),
            min_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(50),
        },
        ..HttpOptions::default()
    };
    let report = run(&driver, &target(&base, 1, 1, Credentials::None, http)).await;
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(report.error_kind, Some(ErrorKind::Transient));
    let error = report.error.unwrap_or_default();
    assert!(
        error.contains("after 3 attempts") && error.contains("upstream gone"),
        "{error}"
    );
    assert_eq!(*hits.lock().unwrap(), 3, "attempts made");
}

#[tokio::test]
async fn a_retry_after_beyond_the_budget_fails_at_once_saying_so() {
    let base = serve(axum::Router::new().route(
        "/items",
        get(|| async {
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, "120")],
                r#"{"message":"come back in two minutes"}"#,
            )
        }),
    ))
    .await;
    let (driver, _store, _dir) = driver();
    let http = HttpOptions {
        retry: RetryPolicy {
            max_total: Duration::from_secs(30),
            ..RetryPolicy::default()
        },
        ..HttpOptions::default()
    };
    let began = Instant::now();
    let report = run(&driver, &target(&base, 1, 1, Credentials::None, http)).await;
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "it waited {:?}",
        began.elapsed()
    );
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(
        report.error_kind,
        Some(ErrorKind::RateLimit),
        "{:?}",
        report.error
    );
    let error = report.error.unwrap_or_default();
    assert!(
        error.contains("120.0 s (retry-after)")
            && error.contains("30 s retry budget")
            && error.contains("come back in two minutes"),
        "{error}"
    );
    assert_eq!(report.stats.requests, 1);
    assert_eq!(report.stats.rate_limited, 1);
}
