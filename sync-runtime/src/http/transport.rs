//! The transport every hook's `HttpClient` sends through: waits for the connection's rate
//! limit, injects credentials, sends with reqwest, reads the provider's rate-limit hints and
//! retries what is worth retrying.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use sync_sdk::{
    ErrorKind, HttpRequest, HttpResponse, Method, RateLimitHeaders, SyncError, Transport,
    status_error,
};
use tracing::{info, warn};

use super::auth::{Authenticator, UsedToken};
use super::counters::RunCounters;
use super::headers::{quota_exhausted, retry_after};
use super::rate_limit::ProviderLimiter;
use super::retry::{RetryPolicy, retryable_status};
use crate::connection::Credentials;

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
    auth: Authenticator,
    limiter: Arc<ProviderLimiter>,
    retry: RetryPolicy,
    declared_headers: Option<RateLimitHeaders>,
    counters: Arc<RunCounters>,
}

impl ReqwestTransport {
    /// A transport with no proactive quota and default retries, authenticating with static
    /// `credentials` (OAuth2 tokens stay in memory): for tools and tests that send requests
    /// outside a [`crate::Driver`] run.
    pub fn standalone(
        client: reqwest::Client,
        credentials: Credentials,
        counters: Arc<RunCounters>,
    ) -> Self {
        let auth = Authenticator::new(
            client.clone(),
            credentials,
            Arc::new(crate::http::MemoryCredentialSink::default()),
            "standalone",
            "standalone",
        );
        let limiter = Arc::new(ProviderLimiter::new(None).expect("no quota is always valid"));
        Self::new(client, auth, limiter, counters)
    }

    /// A transport sending with `client`, authenticating with `auth`, throttled by `limiter`
    /// (shared by the connection's runs), counting into `counters`, with default retries.
    pub fn new(
        client: reqwest::Client,
        auth: Authenticator,
        limiter: Arc<ProviderLimiter>,
        counters: Arc<RunCounters>,
    ) -> Self {
        Self {
            client,
            auth,
            limiter,
            retry: RetryPolicy::default(),
            declared_headers: None,
            counters,
        }
    }

    /// Retry with `policy`.
    pub fn with_retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Also read the provider's own rate-limit headers.
    pub fn with_rate_limit_headers(mut self, headers: Option<RateLimitHeaders>) -> Self {
        self.declared_headers = headers;
        self
    }

    /// One attempt: credentials, send, read the whole body.
    async fn attempt(
        &self,
        request: &HttpRequest,
        described: &str,
    ) -> Result<(HttpResponse, Option<UsedToken>), SyncError> {
        let mut url = reqwest::Url::parse(&request.url)
            .map_err(|e| SyncError::config(format!("{described}: invalid URL: {e}")))?;
        if !request.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in &request.query {
                pairs.append_pair(k, v);
            }
        }
        let (mut builder, used) = self
            .auth
            .apply(&mut url, |url| {
                self.client.request(method(request.method), url)
            })
            .await?;
        for (k, v) in &request.headers {
            builder = builder.header(k, v);
        }
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
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
                "failed (connection reset or protocol error)"
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
        let body = response.bytes().await.map_err(|e| {
            let what = if e.is_timeout() {
                "timed out while reading the body"
            } else {
                "the response body was cut off"
            };
            SyncError::transient(format!("{described}: {what}"))
        })?;
        Ok((
            HttpResponse::new(status, headers, body, described.to_string()),
            used,
        ))
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

/// A success whose `Content-Type` says JSON but whose body cannot be JSON: a proxy's HTML
/// page or a body cut short. Worth another attempt.
fn broken_json(response: &HttpResponse) -> bool {
    let claims_json = response
        .header("content-type")
        .is_some_and(|v| v.to_ascii_lowercase().contains("json"));
    claims_json && !response.body.is_empty() && !may_be_json(&response.body)
}

/// Whether `body` may be one JSON value, judged by its first and last bytes: an object or
/// array must close what it opened, a body cut short does not. Only a body that is a bare
/// scalar is parsed here; anything else is parsed once, by the sync, which reports a body that
/// passed this check and still does not parse as a data error naming where.
fn may_be_json(body: &[u8]) -> bool {
    let body = body.trim_ascii();
    match (body.first(), body.last()) {
        (Some(b'{'), Some(b'}')) | (Some(b'['), Some(b']')) => true,
        (Some(b'{' | b'[' | b'<'), _) | (None, _) => false,
        _ => serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok(),
    }
}

/// Why an attempt is to be retried.
enum Retryable {
    Status(HttpResponse),
    Error(SyncError),
}

impl Retryable {
    fn into_error(self) -> SyncError {
        match self {
            Retryable::Status(response) => status_error(&response),
            Retryable::Error(e) => e,
        }
    }
}

#[async_trait::async_trait]
impl Transport for ReqwestTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, SyncError> {
        let described = request.describe();
        let began = Instant::now();
        let mut delays = self.retry.delays();
        let mut attempt: u32 = 1;
        let mut refreshed = false;
        loop {
            self.limiter.acquire(&self.counters).await;
            let mut hint = None;
            let failure = match self.attempt(&request, &described).await {
                Ok((response, used)) => {
                    let exhausted = quota_exhausted(
                        &response.headers,
                        self.declared_headers.as_ref(),
                        SystemTime::now(),
                    );
                    if let Some(h) = exhausted {
                        self.limiter.pause(h.wait, h.reason);
                    }
                    let status = response.status;
                    if status == 401
                        && !refreshed
                        && let Some(used) = used
                    {
                        // Refresh once and try again at once; a second 401 fails as auth.
                        refreshed = true;
                        self.auth.rejected(&used).await?;
                        self.counters.retry();
                        info!(request = %described, "access token rejected; refreshed it, retrying");
                        continue;
                    }
                    if status == 429 {
                        self.counters.rate_limited();
                    }
                    if retryable_status(status) {
                        hint = retry_after(&response.headers, SystemTime::now()).or(exhausted);
                        Retryable::Status(response)
                    } else if (200..300).contains(&status) && broken_json(&response) {
                        Retryable::Error(SyncError::data(format!(
                            "{described}: HTTP {status} claims a JSON body but it is not valid JSON"
                        )))
                    } else {
                        return Ok(response);
                    }
                }
                Err(e) if e.kind() == ErrorKind::Transient => Retryable::Error(e),
                Err(e) => return Err(e),
            };
            let backoff = delays.next();
            let (wait, reason) = match (hint, backoff) {
                (Some(h), _) => (Some(h.wait), h.reason),
                (None, b) => (b, "backoff"),
            };
            let within_budget = wait.is_some_and(|w| {
                attempt < self.retry.max_attempts && began.elapsed() + w <= self.retry.max_total
            });
            let Some(wait) = wait.filter(|_| within_budget) else {
                let why = match wait {
                    Some(w) if attempt < self.retry.max_attempts => format!(
                        "gave up after {attempt} attempts: waiting {:.1} s ({reason}) would pass the {} s retry budget",
                        w.as_secs_f64(),
                        self.retry.max_total.as_secs()
                    ),
                    _ => format!("gave up after {attempt} attempts"),
                };
                return Err(failure.into_error().context(why));
            };
            let error = match &failure {
                Retryable::Status(r) => format!("{described} answered HTTP {}", r.status),
                Retryable::Error(e) => e.to_string(),
            };
            warn!(
                error = %error,
                attempt,
                wait_ms = wait.as_millis() as u64,
                reason,
                "retrying provider request"
            );
            self.counters.retry();
            attempt += 1;
            if reason == "backoff" {
                info!(
                    wait_ms = wait.as_millis() as u64,
                    reason, "waiting before retrying the provider request"
                );
                let slept = Instant::now();
                tokio::time::sleep(wait).await;
                self.counters.waited(slept.elapsed());
            } else {
                // The provider asked the whole connection to hold off: every request waits.
                self.limiter.pause(wait, reason);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::may_be_json;

    #[test]
    fn bodies_that_cannot_be_json_are_told_by_their_ends() {
        for body in [
            &b"<html>gateway hiccup</html>"[..],
            b"{\"results\": [{\"id\": 1}, {\"id\"",
            b"[1, 2",
            b"   ",
            b"nul",
            b"\"unterminated",
        ] {
            assert!(!may_be_json(body), "{:?}", String::from_utf8_lossy(body));
        }
        for body in [
            &b"{\"results\": []}"[..],
            b" [1, 2]\n",
            b"null",
            b"42",
            b"\"text\"",
        ] {
            assert!(may_be_json(body), "{:?}", String::from_utf8_lossy(body));
        }
    }
}
