//! OAuth2: an access token that expires mid-run is refreshed once, ahead of expiry, even with
//! concurrent requests, and no request carries an expired token; a 401 after a refresh fails
//! as an auth error; a rotated refresh token reaches the credential sink.

mod http_support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_support::{cached_ids, driver, items_body, run, serve, target};
use secrecy::ExposeSecret;
use sync_runtime::connection::ConnectionConfig;
use sync_runtime::http::{CredentialSink, HttpOptions, MemoryCredentialSink};
use sync_runtime::store::RunStatus;
use sync_sdk::{ErrorKind, RateLimit};

#[derive(Default)]
struct Provider {
    /// Access token → when it expires.
    tokens: HashMap<String, SystemTime>,
    token_hits: u32,
    /// Refresh tokens the token endpoint received.
    refresh_tokens_seen: Vec<String>,
    /// Requests by the access token they carried.
    by_token: HashMap<String, u32>,
    expired_or_unknown: u32,
    /// Answer every API request with 401.
    reject_all: bool,
}

type Shared = Arc<Mutex<Provider>>;

#[derive(serde::Deserialize)]
struct Params {
    page: u64,
    part: u64,
}

async fn items(State(p): State<Shared>, headers: HeaderMap, Query(q): Query<Params>) -> Response {
    let mut p = p.lock().unwrap();
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_string();
    *p.by_token.entry(token.clone()).or_default() += 1;
    let valid = p
        .tokens
        .get(&token)
        .is_some_and(|exp| SystemTime::now() < *exp);
    if !valid {
        p.expired_or_unknown += 1;
    }
    if !valid || p.reject_all {
        return (StatusCode::UNAUTHORIZED, r#"{"message":"bad token"}"#).into_response();
    }
    axum::Json(items_body(q.page, q.part, 8)).into_response()
}

async fn token(State(p): State<Shared>, body: String) -> Response {
    // application/x-www-form-urlencoded, decoded as a query string.
    let form: HashMap<String, String> = reqwest::Url::parse(&format!("http://form/?{body}"))
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let mut p = p.lock().unwrap();
    p.token_hits += 1;
    if form.get("grant_type").map(String::as_str) != Some("refresh_token")
        || form.get("client_secret").map(String::as_str) != Some("cs-SECRET")
    {
        return (StatusCode::BAD_REQUEST, r#"{"error":"invalid_request"}"#).into_response();
    }
    let seen = form.get("refresh_token").cloned().unwrap_or_default();
    p.refresh_tokens_seen.push(seen);
    let access = format!("at-SECRET-{}", p.token_hits + 1);
    p.tokens.insert(
        access.clone(),
        SystemTime::now() + Duration::from_secs(3600),
    );
    axum::Json(serde_json::json!({
        "access_token": access,
        "token_type": "bearer",
        "expires_in": 3600,
        "refresh_token": "rt-SECRET-rotated",
    }))
    .into_response()
}

/// A provider whose first access token `at-SECRET-1` expires `valid_for` from now (rounded
/// up to a whole Unix second), and the credentials JSON for it.
async fn provider(valid_for: Duration) -> (Shared, String, ConnectionConfig) {
    let shared: Shared = Arc::default();
    let expires_at = (SystemTime::now() + valid_for)
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    shared.lock().unwrap().tokens.insert(
        "at-SECRET-1".into(),
        UNIX_EPOCH + Duration::from_secs(expires_at),
    );
    let base = serve(
        axum::Router::new()
            .route("/items", get(items))
            .route("/oauth/token", post(token))
            .with_state(shared.clone()),
    )
    .await;
    let config = ConnectionConfig::from_json(
        &serde_json::json!({
            "credentials": {
                "type": "oauth2_refresh_token",
                "token_url": format!("{base}/oauth/token"),
                "client_id": "syncfn",
                "client_secret": "cs-SECRET",
                "refresh_token": "rt-SECRET-1",
                "access_token": "at-SECRET-1",
                "expires_at": expires_at,
                "refresh_margin_secs": 1,
            }
        })
        .to_string(),
        "oauth.json",
    )
    .unwrap();
    (shared, base, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_expiring_mid_run_is_refreshed_once_and_never_sent_expired() {
    let (shared, base, config) = provider(Duration::from_secs(3)).await;
    let (driver, store, _dir) = driver();
    let sink = Arc::new(MemoryCredentialSink::default());
    let driver = driver.with_credential_sink(sink.clone());
    // 10 pages of 8 concurrent requests at 20/s: about 4 s, so the first token (valid 2–3 s,
    // refreshed 1 s ahead) runs out mid-run.
    let http = HttpOptions {
        rate_limit: Some(RateLimit::per_second(20)),
        ..HttpOptions::default()
    };
    let target = target(&base, 10, 8, config.credentials, http);
    let report = run(&driver, &target).await;

    assert_eq!(
        report.status,
        RunStatus::Success,
        "run failed: {:?}",
        report.error
    );
    assert_eq!(cached_ids(&store).await, (0..80).collect::<Vec<u64>>());
    let p = shared.lock().unwrap();
    assert_eq!(
        p.token_hits, 1,
        "the token endpoint must be hit exactly once"
    );
    assert_eq!(p.refresh_tokens_seen, vec!["rt-SECRET-1".to_string()]);
    assert_eq!(
        p.expired_or_unknown, 0,
        "requests carried an expired or unknown token: {:?}",
        p.by_token
    );
    let first = p.by_token.get("at-SECRET-1").copied().unwrap_or(0);
    let second = p.by_token.get("at-SECRET-2").copied().unwrap_or(0);
    assert!(
        first > 0 && second > 0 && first + second == 80,
        "both tokens must serve the run: {:?}",
        p.by_token
    );
    assert_eq!(report.stats.requests, 80);
    let latest = sink
        .latest("fake", "conn")
        .expect("refreshed tokens reach the sink");
    assert_eq!(
        latest
            .refresh_token
            .as_ref()
            .map(|t| t.expose_secret().to_string()),
        Some("rt-SECRET-rotated".to_string()),
        "the rotated refresh token must be handed to the sink"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_after_refresh_fails_as_an_auth_error() {
    let (shared, base, config) = provider(Duration::from_secs(600)).await;
    shared.lock().unwrap().reject_all = true;
    let (driver, _store, _dir) = driver();
    let target = target(&base, 3, 1, config.credentials, HttpOptions::default());
    let report = run(&driver, &target).await;

    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(
        report.error_kind,
        Some(ErrorKind::Auth),
        "{:?}",
        report.error
    );
    let error = report.error.clone().unwrap_or_default();
    assert!(
        error.contains("HTTP 401") && error.contains("bad token"),
        "{error}"
    );
    let p = shared.lock().unwrap();
    assert_eq!(p.token_hits, 1, "one refresh after the first 401");
    assert_eq!(
        p.by_token.values().sum::<u32>(),
        2,
        "one request, one retry with the new token: {:?}",
        p.by_token
    );
    assert_eq!(report.stats.requests, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_token_is_fetched_once_for_concurrent_first_requests() {
    let hits = Arc::new(Mutex::new((0u32, 0u32))); // (token endpoint, api requests)
    let (token_hits, api_hits) = (hits.clone(), hits.clone());
    let router = axum::Router::new()
        .route(
            "/oauth/token",
            post(move |body: String| {
                let hits = token_hits.clone();
                async move {
                    hits.lock().unwrap().0 += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let ok = body.contains("grant_type=client_credentials")
                        && body.contains("scope=read")
                        && body.contains("client_secret=cs-SECRET");
                    if !ok {
                        return (StatusCode::BAD_REQUEST, "bad grant").into_response();
                    }
                    axum::Json(serde_json::json!({"access_token": "at-CC", "expires_in": 3600}))
                        .into_response()
                }
            }),
        )
        .route(
            "/items",
            get(move |headers: HeaderMap, Query(q): Query<Params>| {
                let hits = api_hits.clone();
                async move {
                    hits.lock().unwrap().1 += 1;
                    if headers.get("authorization").and_then(|v| v.to_str().ok())
                        != Some("Bearer at-CC")
                    {
                        return (StatusCode::UNAUTHORIZED, "no").into_response();
                    }
                    axum::Json(items_body(q.page, q.part, 8)).into_response()
                }
            }),
        );
    let base = serve(router).await;
    let config = ConnectionConfig::from_json(
        &serde_json::json!({"credentials": {
            "type": "oauth2_client_credentials", "token_url": format!("{base}/oauth/token"),
            "client_id": "syncfn", "client_secret": "cs-SECRET", "scope": "read",
        }})
        .to_string(),
        "cc.json",
    )
    .unwrap();
    let (driver, store, _dir) = driver();
    let report = run(
        &driver,
        &target(&base, 2, 8, config.credentials, HttpOptions::default()),
    )
    .await;
    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(cached_ids(&store).await, (0..16).collect::<Vec<u64>>());
    assert_eq!(
        *hits.lock().unwrap(),
        (1, 16),
        "(token endpoint hits, API requests): 8 concurrent first requests must share one token fetch"
    );
}
