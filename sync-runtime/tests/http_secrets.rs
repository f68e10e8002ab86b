//! Secrets (OAuth2 client secret, refresh and access tokens, an API key in a query string)
//! appear nowhere in captured logs, run errors, stored run history or the cache file, through
//! refreshes, retries and failures.

mod http_support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_support::{driver, run, serve, target};
use secrecy::SecretString;
use sync_runtime::connection::{ConnectionConfig, Credentials};
use sync_runtime::http::{HttpOptions, MemoryCredentialSink, RetryPolicy};
use sync_runtime::store::RunStatus;

const SECRETS: [&str; 5] = [
    "cs-SECRET",
    "rt-SECRET-1",
    "at-SECRET-1",
    "at-SECRET-2",
    "ak-SECRET",
];

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Default)]
struct Provider {
    api_hits: u32,
    token_hits: u32,
}

async fn items(State(p): State<Arc<Mutex<Provider>>>, headers: HeaderMap) -> Response {
    let mut p = p.lock().unwrap();
    p.api_hits += 1;
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer at-SECRET-2") {
        return (StatusCode::UNAUTHORIZED, r#"{"message":"bad token"}"#).into_response();
    }
    if p.api_hits == 1 {
        return (StatusCode::SERVICE_UNAVAILABLE, r#"{"message":"down"}"#).into_response();
    }
    axum::Json(serde_json::json!({"items": [{"id": p.api_hits, "page": 1, "part": 0}]}))
        .into_response()
}

async fn token(State(p): State<Arc<Mutex<Provider>>>) -> Response {
    let mut p = p.lock().unwrap();
    p.token_hits += 1;
    if p.token_hits > 1 {
        return (
            StatusCode::BAD_REQUEST,
            r#"{"error":"invalid_grant","error_description":"refresh token revoked"}"#,
        )
            .into_response();
    }
    axum::Json(serde_json::json!({
        "access_token": "at-SECRET-2", "expires_in": 3600, "refresh_token": "rt-SECRET-rotated"
    }))
    .into_response()
}

async fn always_500() -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response()
}

#[tokio::test(flavor = "current_thread")]
async fn secrets_never_reach_logs_errors_or_run_history() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // reqwest and hyper log through `log`: route those records into the capture too.
    tracing_log::LogTracer::init().unwrap();
    // current_thread: the driver's fetch task runs on this thread, under this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);

    let provider = Arc::new(Mutex::new(Provider::default()));
    let base = serve(
        axum::Router::new()
            .route("/items", get(items))
            .route("/oauth/token", post(token))
            .route("/keyed/items", get(always_500))
            .with_state(provider.clone()),
    )
    .await;
    let expired = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 10;
    let config = ConnectionConfig::from_json(
        &serde_json::json!({"credentials": {
            "type": "oauth2_refresh_token", "token_url": format!("{base}/oauth/token"),
            "client_id": "syncfn", "client_secret": "cs-SECRET", "refresh_token": "rt-SECRET-1",
            "access_token": "at-SECRET-1", "expires_at": expired,
        }})
        .to_string(),
        "secret.json",
    )
    .unwrap();
    let fast_retry = RetryPolicy {
        max_attempts: 2,
        max_total: Duration::from_secs(5),
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(20),
    };
    let http = HttpOptions {
        retry: fast_retry,
        ..HttpOptions::default()
    };
    let (driver, store, dir) = driver();

    // 1. refresh (expired token), a 503 retried, success.
    let ok = run(
        &driver,
        &target(&base, 1, 1, config.credentials.clone(), http.clone()),
    )
    .await;
    assert_eq!(ok.status, RunStatus::Success, "{:?}", ok.error);
    // 2. a fresh sink, so the token endpoint is asked again and refuses.
    let refused = run(
        &driver
            .clone()
            .with_credential_sink(Arc::new(MemoryCredentialSink::default())),
        &target(&base, 1, 1, config.credentials.clone(), http.clone()),
    )
    .await;
    assert_eq!(refused.status, RunStatus::Failed);
    let refused_error = refused.error.clone().unwrap_or_default();
    assert!(
        refused_error.contains("refresh token revoked"),
        "{refused_error}"
    );
    // 3. an API key in the query string against a provider that only fails.
    let keyed = target(
        &format!("{base}/keyed"),
        1,
        1,
        Credentials::ApiKey {
            key: SecretString::from("ak-SECRET"),
            header: None,
            query: Some("api_key".into()),
        },
        http,
    );
    let keyed_report = run(&driver, &keyed).await;
    assert_eq!(keyed_report.status, RunStatus::Failed);
    let keyed_error = keyed_report.error.clone().unwrap_or_default();
    assert!(
        keyed_error.contains("after 2 attempts") && keyed_error.contains("HTTP 500"),
        "{keyed_error}"
    );

    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("refreshed the OAuth2 access token")
            && logs.contains("retrying provider request")
            && logs.contains("starting new connection"),
        "the log capture missed the client's lines:\n{logs}"
    );
    let runs = serde_json::to_string(&store.list_runs(None, 100).await.unwrap()).unwrap();
    let errors = format!(
        "{:?} {:?} {:?}",
        ok.error, refused.error, keyed_report.error
    );
    let mut files = String::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        files.push_str(&String::from_utf8_lossy(&bytes));
    }
    for secret in SECRETS {
        assert!(
            !logs.contains(secret),
            "{secret} appears in the logs:\n{logs}"
        );
        assert!(
            !errors.contains(secret),
            "{secret} appears in run errors: {errors}"
        );
        assert!(
            !runs.contains(secret),
            "{secret} appears in stored run history: {runs}"
        );
        assert!(
            !files.contains(secret),
            "{secret} appears in the cache files"
        );
    }
}
