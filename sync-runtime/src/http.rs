//! The runtime's provider transport: reqwest underneath, credentials injected, requests
//! counted per run. Rate limiting and retries plug in here (see the HTTP client issue).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use secrecy::ExposeSecret;
use sync_sdk::{HttpRequest, HttpResponse, Method, SyncError, Transport};

use crate::connection::Credentials;
use crate::store::RequestStats;

/// Counters one run's requests update.
#[derive(Debug, Default)]
pub struct RunCounters {
    requests: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
    wait_ms: AtomicU64,
}

impl RunCounters {
    /// A snapshot.
    pub fn snapshot(&self) -> RequestStats {
        RequestStats {
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            wait_ms: self.wait_ms.load(Ordering::Relaxed),
        }
    }

    /// Count a request sent.
    pub fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }
}

/// Build the shared reqwest client.
///
/// # Errors
/// TLS backend initialisation failed.
pub fn build_client() -> Result<reqwest::Client, SyncError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(8)
        .user_agent(concat!("syncfn/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| SyncError::internal(format!("cannot build the HTTP client: {e}")))
}

/// A transport for one connection and run.
#[derive(Debug)]
pub struct ReqwestTransport {
    client: reqwest::Client,
    credentials: Credentials,
    counters: Arc<RunCounters>,
}

impl ReqwestTransport {
    /// A transport sending with `client`, authenticating with `credentials`, counting into
    /// `counters`.
    pub fn new(
        client: reqwest::Client,
        credentials: Credentials,
        counters: Arc<RunCounters>,
    ) -> Self {
        Self {
            client,
            credentials,
            counters,
        }
    }
}

fn method(m: Method) -> reqwest::Method {
    match m {
        Method::Post => reqwest::Method::POST,
        Method::Put => reqwest::Method::PUT,
        Method::Patch => reqwest::Method::PATCH,
        Method::Delete => reqwest::Method::DELETE,
        _ => reqwest::Method::GET,
    }
}

#[async_trait::async_trait]
impl Transport for ReqwestTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, SyncError> {
        let described = request.describe();
        let mut url = reqwest::Url::parse(&request.url)
            .map_err(|e| SyncError::config(format!("{described}: invalid URL: {e}")))?;
        if !request.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in &request.query {
                pairs.append_pair(k, v);
            }
        }
        if let Credentials::ApiKey {
            key,
            query: Some(name),
            ..
        } = &self.credentials
        {
            url.query_pairs_mut().append_pair(name, key.expose_secret());
        }
        let mut builder = self.client.request(method(request.method), url);
        for (k, v) in &request.headers {
            builder = builder.header(k, v);
        }
        builder = match &self.credentials {
            Credentials::Bearer { token } => builder.bearer_auth(token.expose_secret()),
            Credentials::Basic { username, password } => {
                builder.basic_auth(username, Some(password.expose_secret()))
            }
            Credentials::ApiKey { key, header, query } => match (header, query) {
                (Some(h), _) => builder.header(h, key.expose_secret()),
                (None, None) => builder.header("x-api-key", key.expose_secret()),
                (None, Some(_)) => builder,
            },
            _ => builder,
        };
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        self.counters.request();
        let response = builder.send().await.map_err(|e| {
            // reqwest's Display can include the URL, and a query may carry an API key: name
            // only the method and path.
            let what = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "could not connect"
            } else {
                "failed"
            };
            SyncError::transient(format!("{described}: request {what}"))
        })?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = response.bytes().await.map_err(|_| {
            SyncError::transient(format!("{described}: the response body was cut off"))
        })?;
        Ok(HttpResponse::new(status, headers, body, described))
    }
}
