//! The replay provider: serves a fixture directory on 127.0.0.1 so a sync runs offline against
//! what the provider once answered. An unrecorded request gets HTTP 599 and is kept in
//! [`ReplayProvider::misses`], so a test fails loudly instead of passing on a partial replay.
//!
//! It can also forward to a live loopback provider ([`ReplayProvider::forward`]); in both modes
//! it injects the failures the conformance suite needs (an error from the n-th request on, a
//! request that hangs so the run can be killed mid-fetch).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::Notify;

use super::TestingError;
use super::fixture::{
    self, BASE_URL_PLACEHOLDER, Exchange, RecordedRequest, RecordedResponse, is_secret_query_name,
};
use super::recorder::request_identity;

/// Largest request body the provider reads.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// How long a hung request waits for [`ReplayProvider::release`] before answering anyway.
const HANG_LIMIT: Duration = Duration::from_secs(60);

enum Backend {
    Fixtures(HashMap<RecordedRequest, Vec<RecordedResponse>>),
    Upstream {
        client: reqwest::Client,
        base_url: String,
    },
}

#[derive(Default)]
struct Faults {
    /// From this request number on (1-based), answer this status.
    fail_from: Option<(u64, u16)>,
    /// This request number hangs until released.
    hang_at: Option<u64>,
}

#[derive(Default)]
struct ReplayState {
    served: HashMap<RecordedRequest, usize>,
    misses: Vec<RecordedRequest>,
    received: Vec<RecordedRequest>,
    requests: u64,
    ignored_query: Vec<String>,
    faults: Faults,
}

struct Shared {
    backend: Backend,
    state: Mutex<ReplayState>,
    hung: Notify,
    release: Notify,
    base_url: String,
}

/// A replaying (or forwarding) provider on 127.0.0.1; see the module docs.
#[derive(Clone)]
pub struct ReplayProvider {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ReplayProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayProvider")
            .field("base_url", &self.shared.base_url)
            .finish_non_exhaustive()
    }
}

impl ReplayProvider {
    /// Serve the fixtures of `dir` (`NNNN.json` files).
    ///
    /// # Errors
    /// The directory is missing, empty or holds a malformed file; the port cannot be bound.
    pub async fn serve_dir(dir: &Path) -> Result<Self, TestingError> {
        let exchanges = fixture::read_dir(dir)?;
        if exchanges.is_empty() {
            return Err(TestingError::Setup(format!(
                "fixture directory {} holds no NNNN.json exchange",
                dir.display()
            )));
        }
        Self::serve(exchanges).await
    }

    /// Serve these exchanges; one identity recorded several times is served in order, then
    /// the last one again.
    ///
    /// # Errors
    /// The port cannot be bound.
    pub async fn serve(exchanges: Vec<Exchange>) -> Result<Self, TestingError> {
        let mut map: HashMap<RecordedRequest, Vec<RecordedResponse>> = HashMap::new();
        for exchange in exchanges {
            map.entry(exchange.request)
                .or_default()
                .push(exchange.response);
        }
        Self::start(Backend::Fixtures(map)).await
    }

    /// Forward every request to the loopback provider at `upstream` (rewriting its URLs in
    /// responses to this provider's), with the same fault injection as a replay.
    ///
    /// # Errors
    /// The port cannot be bound.
    pub async fn forward(upstream: &str) -> Result<Self, TestingError> {
        let client = crate::http::build_client().map_err(|e| TestingError::Setup(e.to_string()))?;
        Self::start(Backend::Upstream {
            client,
            base_url: upstream.trim_end_matches('/').to_string(),
        })
        .await
    }

    /// Serve `router` (a crate's loopback fake of its provider) on 127.0.0.1 behind a
    /// forwarding replay provider, so a test can read every request the sync sent from
    /// [`received`](Self::received).
    ///
    /// # Errors
    /// A port cannot be bound.
    pub async fn logging(router: axum::Router) -> Result<Self, TestingError> {
        let upstream = super::serve_router(router)
            .await
            .map_err(|e| TestingError::Setup(format!("cannot bind the fake provider: {e}")))?;
        Self::forward(&upstream).await
    }

    async fn start(backend: Backend) -> Result<Self, TestingError> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| TestingError::Setup(format!("cannot bind the replay provider: {e}")))?;
        let addr: SocketAddr = listener
            .local_addr()
            .map_err(|e| TestingError::Setup(format!("replay provider address: {e}")))?;
        let shared = Arc::new(Shared {
            backend,
            state: Mutex::new(ReplayState::default()),
            hung: Notify::new(),
            release: Notify::new(),
            base_url: format!("http://{addr}"),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { shared })
    }

    fn with<T>(&self, f: impl FnOnce(&mut ReplayState) -> T) -> T {
        f(&mut self.shared.state.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// `http://127.0.0.1:<port>`: point the connection's base URL here.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// Also leave query parameter `name` out of request identities (an API key sent in the
    /// query; conventional secret names such as `api_key` are always left out).
    pub fn ignore_query(&self, name: &str) {
        self.with(|s| s.ignored_query.push(name.to_string()));
    }

    /// Requests that matched no recorded exchange, in arrival order.
    pub fn misses(&self) -> Vec<RecordedRequest> {
        self.with(|s| s.misses.clone())
    }

    /// Requests received since the start or the last [`reset`](Self::reset).
    pub fn requests(&self) -> u64 {
        self.with(|s| s.requests)
    }

    /// The identity of every request received since the start or the last
    /// [`reset`](Self::reset), in arrival order (served, missed or forwarded alike): what a
    /// scenario test asserts the sync asked for.
    pub fn received(&self) -> Vec<RecordedRequest> {
        self.with(|s| s.received.clone())
    }

    /// Forget what was served, the misses and the faults: the next request is served as if
    /// the provider had just started.
    pub fn reset(&self) {
        self.with(|s| {
            s.served.clear();
            s.misses.clear();
            s.received.clear();
            s.requests = 0;
            s.faults = Faults::default();
        });
        self.release();
    }

    /// From the `n`-th request on (1-based, counted since the last reset), answer `status`
    /// with a JSON error body, until [`clear_faults`](Self::clear_faults).
    pub fn fail_from_request(&self, n: u64, status: u16) {
        self.with(|s| s.faults.fail_from = Some((n, status)));
    }

    /// Hold the `n`-th request (1-based) unanswered until [`release`](Self::release); await
    /// [`hung`](Self::hung) to know it arrived.
    pub fn hang_at_request(&self, n: u64) {
        self.with(|s| s.faults.hang_at = Some(n));
    }

    /// Resolves once the request armed by [`hang_at_request`](Self::hang_at_request) arrived.
    pub async fn hung(&self) {
        self.shared.hung.notified().await;
    }

    /// Let hung requests answer.
    pub fn release(&self) {
        self.shared.release.notify_waiters();
    }

    /// Stop injecting failures and release hung requests.
    pub fn clear_faults(&self) {
        self.with(|s| s.faults = Faults::default());
        self.release();
    }
}

fn error_response(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                json!({"error": format!("cannot read the request body: {e}")}),
            );
        }
    };
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let ignored = shared
        .state
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .ignored_query
        .clone();
    let drop_pair = |name: &str, _: &str| {
        is_secret_query_name(name) || ignored.iter().any(|i| i.eq_ignore_ascii_case(name))
    };
    let identity = request_identity(
        parts.method.as_str(),
        &format!("{}{}", shared.base_url, path_and_query),
        &[],
        (!body.is_empty()).then_some(&body[..]),
        &drop_pair,
    );
    let (number, fail, hang) = {
        let mut s = shared.state.lock().unwrap_or_else(|p| p.into_inner());
        s.requests += 1;
        s.received.push(identity.clone());
        let n = s.requests;
        let fail = s
            .faults
            .fail_from
            .filter(|(from, _)| n >= *from)
            .map(|(_, status)| status);
        (n, fail, s.faults.hang_at == Some(n))
    };
    if hang {
        let released = shared.release.notified();
        shared.hung.notify_one();
        let _ = tokio::time::timeout(HANG_LIMIT, released).await;
    }
    if let Some(status) = fail {
        return error_response(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            json!({"error": {"message": format!("failure injected by the test at request {number}")}}),
        );
    }
    match &shared.backend {
        Backend::Fixtures(map) => {
            let found = map.get(&identity).map(|responses| {
                let mut s = shared.state.lock().unwrap_or_else(|p| p.into_inner());
                let served = s.served.entry(identity.clone()).or_insert(0);
                let response = responses[(*served).min(responses.len() - 1)].clone();
                *served += 1;
                response
            });
            match found {
                Some(response) => replay_response(&response, &shared.base_url),
                None => {
                    tracing::warn!(request = %identity, "replay provider: unrecorded request");
                    shared
                        .state
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .misses
                        .push(identity.clone());
                    error_response(
                        StatusCode::from_u16(599).unwrap_or(StatusCode::NOT_IMPLEMENTED),
                        json!({"error": "unrecorded request", "request": identity.to_json()}),
                    )
                }
            }
        }
        Backend::Upstream { client, base_url } => {
            forward(
                client,
                base_url,
                &shared.base_url,
                parts,
                path_and_query,
                body,
            )
            .await
        }
    }
}

fn replay_response(recorded: &RecordedResponse, base_url: &str) -> Response {
    let body = fixture::json_to_body(&recorded.body);
    let body = String::from_utf8_lossy(&body).replace(BASE_URL_PLACEHOLDER, base_url);
    let mut response = Response::new(Body::from(body));
    *response.status_mut() =
        StatusCode::from_u16(recorded.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in &recorded.headers {
        let value = value.replace(BASE_URL_PLACEHOLDER, base_url);
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            response.headers_mut().append(n, v);
        }
    }
    response
}

async fn forward(
    client: &reqwest::Client,
    upstream: &str,
    own: &str,
    parts: axum::http::request::Parts,
    path_and_query: String,
    body: bytes::Bytes,
) -> Response {
    let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes())
        .unwrap_or(reqwest::Method::GET);
    let mut builder = client.request(method, format!("{upstream}{path_and_query}"));
    for (name, value) in &parts.headers {
        if name == "host" || name == "content-length" {
            continue;
        }
        builder = builder.header(name.as_str(), value.as_bytes());
    }
    if !body.is_empty() {
        builder = builder.body(body);
    }
    let response = match builder.send().await {
        Ok(r) => r,
        Err(_) => {
            return error_response(
                StatusCode::BAD_GATEWAY,
                json!({"error": format!("the upstream provider at {upstream} did not answer")}),
            );
        }
    };
    let status = response.status().as_u16();
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter(|(n, _)| {
            !matches!(
                n.as_str(),
                "content-length" | "transfer-encoding" | "connection"
            )
        })
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).replace(upstream, own),
            )
        })
        .collect();
    let body = response.bytes().await.unwrap_or_default();
    let body = String::from_utf8_lossy(&body).replace(upstream, own);
    let mut out = Response::new(Body::from(body));
    *out.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            out.headers_mut().append(n, v);
        }
    }
    out
}
