//! The provider HTTP client handed to every hook.
//!
//! Authors build requests with [`HttpClient`]; the runtime supplies the [`Transport`] that
//! injects credentials, enforces the provider's rate limit and retries transient failures.
//! No HTTP library's types appear in this API, so an integration crate never pins one.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{SyncError, json};

/// HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[non_exhaustive]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// PATCH
    Patch,
    /// DELETE
    Delete,
}

impl Method {
    /// The method's name (`"GET"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request to the provider, before credentials are added.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct HttpRequest {
    /// Method.
    pub method: Method,
    /// Absolute URL (the client joins relative paths onto the connection's base URL).
    pub url: String,
    /// Query parameters appended to the URL, in order.
    pub query: Vec<(String, String)>,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Body bytes (JSON when set through [`RequestBuilder::json`]).
    pub body: Option<Bytes>,
}

impl HttpRequest {
    /// A request with no query, headers or body.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// `"GET /path"` for messages (no query string, so no secret in a query ever shows).
    pub fn describe(&self) -> String {
        let path = match self.url.find("://") {
            Some(i) => match self.url[i + 3..].find('/') {
                Some(j) => &self.url[i + 3 + j..],
                None => "/",
            },
            None => &self.url,
        };
        let path = path.split('?').next().unwrap_or(path);
        format!("{} {}", self.method, path)
    }
}

/// A provider response: status, headers (names lowercased) and the whole body.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// Headers with lowercase names, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
    /// `"GET /path"` of the request, for error messages.
    pub request: String,
}

impl fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("request", &self.request)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl HttpResponse {
    /// A response, for transports and tests.
    pub fn new(status: u16, headers: Vec<(String, String)>, body: Bytes, request: String) -> Self {
        Self {
            status,
            headers,
            body,
            request,
        }
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Parse the whole body as JSON.
    ///
    /// # Errors
    /// A data error naming the request and the position of the problem.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, SyncError> {
        // One SIMD pass (sonic-rs, a serde deserializer) on the happy path: parsing is most of
        // the fetch stage. What it refuses goes to serde_json, which also takes types only it
        // knows (`RawValue`), and only a body neither takes pays for the pass that locates the
        // problem.
        if let Ok(value) = sonic_rs::from_slice(&self.body) {
            return Ok(value);
        }
        match serde_json::from_slice(&self.body) {
            Ok(value) => Ok(value),
            Err(_) => Err(self.json_error::<T>()),
        }
    }

    /// Re-parse a body that failed to deserialize as `T`, tracking the path, and say where it
    /// went wrong: `results[2].email`, with the id of that record when it has one.
    fn json_error<T: DeserializeOwned>(&self) -> SyncError {
        let mut de = serde_json::Deserializer::from_slice(&self.body);
        let error = match serde_path_to_error::deserialize::<_, T>(&mut de) {
            Ok(_) => match de.end() {
                Ok(()) => {
                    return SyncError::data("response body could not be read")
                        .context(&self.request);
                }
                Err(e) => {
                    return SyncError::data(format!("response body is not valid JSON: {e}"))
                        .context(&self.request);
                }
            },
            Err(e) => e,
        };
        let inner = error.inner();
        if inner.is_syntax() || inner.is_eof() {
            return SyncError::data(format!("response body is not valid JSON: {inner}"))
                .context(&self.request);
        }
        let path = error.path().to_string();
        let record = record_of_path(&self.body, &path).unwrap_or_default();
        SyncError::data(format!(
            "response body does not match the expected shape at {path:?}{record}: {inner}"
        ))
        .context(&self.request)
    }

    /// Parse the records at dotted `path` (`""` = the body is the array) one by one, so an
    /// error names the record's index and id. See [`json::records_at`].
    ///
    /// # Errors
    /// A data error naming the request, the path, and the failing record.
    pub fn records<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>, SyncError> {
        let body: serde_json::Value = self.json()?;
        json::records_at(&body, path).map_err(|e| e.context(&self.request))
    }

    /// The URL of the RFC 8288 `Link` header entry with `rel` (e.g. `"next"`).
    ///
    /// ```
    /// use sync_sdk::HttpResponse;
    /// let r = HttpResponse::new(200, vec![("link".into(),
    ///     r#"<https://api.x/i?page=2>; rel="next", <https://api.x/i?page=9>; rel="last""#.into())],
    ///     Default::default(), "GET /i".into());
    /// assert_eq!(r.link("next").as_deref(), Some("https://api.x/i?page=2"));
    /// assert_eq!(r.link("prev"), None);
    /// ```
    pub fn link(&self, rel: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("link"))
            .find_map(|(_, v)| parse_link_header(v, rel))
    }
}

/// `" (record 2, id \"403\")"` for an error path such as `results[2].email`: the last array
/// index on the path and the `id` of the object there.
fn record_of_path(body: &[u8], path: &str) -> Option<String> {
    let open = path.rfind('[')?;
    let close = open + path[open..].find(']')?;
    let index: usize = path[open + 1..close].parse().ok()?;
    let array_path = path[..open].replace('[', ".").replace(']', "");
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let array_path = array_path.trim_start_matches('.');
    let item = json::get_path(&value, array_path)?.get(index)?;
    let id = json::id_at(item, "id")
        .map(|id| format!(", id {id:?}"))
        .unwrap_or_default();
    Some(format!(" (record {index}{id})"))
}

/// Find the target of relation `rel` in an RFC 8288 Link header value.
pub fn parse_link_header(value: &str, rel: &str) -> Option<String> {
    for part in value.split(',') {
        let part = part.trim();
        let Some(end) = part.find('>') else { continue };
        let target = part.strip_prefix('<')?.get(..end - 1)?;
        let params = &part[end + 1..];
        let matches = params.split(';').any(|p| {
            let p = p.trim();
            p.strip_prefix("rel=")
                .map(|v| {
                    v.trim_matches('"')
                        .split_whitespace()
                        .any(|r| r.eq_ignore_ascii_case(rel))
                })
                .unwrap_or(false)
        });
        if matches {
            return Some(target.to_string());
        }
    }
    None
}

/// What carries a request to the provider. The runtime implements it (credentials, rate
/// limit, retries); tests can implement it to fake a provider without a socket.
#[async_trait::async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Send `request` and return the provider's response, whatever its status.
    ///
    /// # Errors
    /// Transport failures classified by [`crate::ErrorKind`] (transient for resets and
    /// timeouts, rate limit when retries ran out on 429s).
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, SyncError>;
}

/// The provider client: joins paths onto the connection's base URL and sends requests
/// through the runtime's [`Transport`]. Non-2xx answers become classified errors carrying the
/// provider's message; use [`RequestBuilder::send_raw`] to inspect them yourself.
///
/// ```no_run
/// # async fn f(http: &sync_sdk::HttpClient) -> Result<(), sync_sdk::SyncError> {
/// let response = http.get("/repos/acme/app/issues").query("state", "all").send().await?;
/// let next = response.link("next");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct HttpClient {
    transport: Arc<dyn Transport>,
    base_url: Arc<str>,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client sending through `transport`, resolving relative paths against `base_url`.
    pub fn new(transport: Arc<dyn Transport>, base_url: impl Into<String>) -> Self {
        let base: String = base_url.into();
        Self {
            transport,
            base_url: base.trim_end_matches('/').into(),
        }
    }

    /// The base URL relative paths are joined onto.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `path` joined onto the base URL; an absolute `http(s)://` URL is returned unchanged.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else if path.starts_with('/') {
            format!("{}{}", self.base_url, path)
        } else {
            format!("{}/{}", self.base_url, path)
        }
    }

    /// Start a request.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder<'_> {
        RequestBuilder {
            client: self,
            request: HttpRequest::new(method, self.url(path)),
            error: None,
        }
    }

    /// Start a GET.
    pub fn get(&self, path: &str) -> RequestBuilder<'_> {
        self.request(Method::Get, path)
    }

    /// Start a POST.
    pub fn post(&self, path: &str) -> RequestBuilder<'_> {
        self.request(Method::Post, path)
    }

    /// Start a PATCH.
    pub fn patch(&self, path: &str) -> RequestBuilder<'_> {
        self.request(Method::Patch, path)
    }

    /// Send a prepared request through the transport (no status check).
    ///
    /// # Errors
    /// Whatever the transport returns.
    pub async fn execute(&self, request: HttpRequest) -> Result<HttpResponse, SyncError> {
        self.transport.send(request).await
    }
}

/// A request being built; finish with [`send`](Self::send).
#[derive(Debug)]
pub struct RequestBuilder<'a> {
    client: &'a HttpClient,
    request: HttpRequest,
    error: Option<SyncError>,
}

impl<'a> RequestBuilder<'a> {
    /// The client this request will be sent with.
    pub fn client(&self) -> &'a HttpClient {
        self.client
    }

    /// Add a query parameter.
    pub fn query(mut self, name: impl Into<String>, value: impl ToString) -> Self {
        self.request.query.push((name.into(), value.to_string()));
        self
    }

    /// Add a query parameter when `value` is `Some`.
    pub fn query_opt(self, name: impl Into<String>, value: Option<impl ToString>) -> Self {
        match value {
            Some(v) => self.query(name, v),
            None => self,
        }
    }

    /// Add a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.request.headers.push((name.into(), value.into()));
        self
    }

    /// Send `body` as JSON.
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        match serde_json::to_vec(body) {
            Ok(bytes) => {
                self.request.body = Some(bytes.into());
                self.request
                    .headers
                    .push(("content-type".into(), "application/json".into()));
            }
            Err(e) => {
                self.error = Some(SyncError::config(format!(
                    "request body is not serializable: {e}"
                )))
            }
        }
        self
    }

    /// The request as built so far.
    pub fn build(self) -> Result<HttpRequest, SyncError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.request),
        }
    }

    /// Send and return the response whatever its status.
    ///
    /// # Errors
    /// Transport failures only.
    pub async fn send_raw(self) -> Result<HttpResponse, SyncError> {
        let client = self.client;
        let request = self.build()?;
        client.execute(request).await
    }

    /// Send and require a 2xx status.
    ///
    /// # Errors
    /// Transport failures, or a non-2xx answer classified by [`status_error`] with the
    /// provider's own message.
    pub async fn send(self) -> Result<HttpResponse, SyncError> {
        let response = self.send_raw().await?;
        if (200..300).contains(&response.status) {
            Ok(response)
        } else {
            Err(status_error(&response))
        }
    }
}

/// The classified error for a non-2xx response, carrying the provider's message: 401/403 are
/// auth, 429 rate limit, 408 and 5xx transient, other 4xx config.
pub fn status_error(response: &HttpResponse) -> SyncError {
    let message = provider_message(&response.body);
    let text = format!(
        "{} answered HTTP {}{}",
        response.request,
        response.status,
        if message.is_empty() {
            String::new()
        } else {
            format!(": {message}")
        }
    );
    let err = match response.status {
        401 | 403 => SyncError::auth(text),
        429 => SyncError::new(crate::ErrorKind::RateLimit, text),
        408 | 500..=599 => SyncError::transient(text),
        400..=499 => SyncError::config(text),
        _ => SyncError::provider(text),
    };
    err.with_status(response.status)
}

/// Best-effort extraction of a provider's error message from a body: `message`, `error`,
/// `error.message`, `error_description`, `detail`, or the first 300 bytes of text.
pub fn provider_message(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        for path in [
            "message",
            "error.message",
            "error_description",
            "error",
            "detail",
            "errors.0.message",
        ] {
            if let Some(found) = json::get_path(&v, path) {
                match found {
                    serde_json::Value::String(s) => return s.clone(),
                    serde_json::Value::Null => {}
                    other if !other.is_object() => return other.to_string(),
                    _ => {}
                }
            }
        }
        let mut s = v.to_string();
        s.truncate(300);
        return s;
    }
    let text = String::from_utf8_lossy(body);
    let mut s: String = text.trim().chars().take(300).collect();
    if s.len() < text.trim().len() {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(body: &[u8]) -> HttpResponse {
        HttpResponse::new(
            200,
            Vec::new(),
            Bytes::copy_from_slice(body),
            "GET http://x/items".into(),
        )
    }

    #[test]
    fn json_reads_what_serde_json_reads() {
        #[derive(Debug, PartialEq, serde::Deserialize)]
        struct Item {
            id: u64,
            name: String,
            score: f64,
            tags: Vec<String>,
            extra: serde_json::Value,
            missing: Option<String>,
        }
        let body = r#"{"items": [
            {"id": 18446744073709551615, "name": "caf\u00e9 \ud83d\ude00 \"q\" \\ \n",
             "score": 0.1, "tags": ["a", ""], "extra": {"n": -1.5e300, "z": null, "b": [true]},
             "missing": null},
            {"id": 0, "name": "ünïcödé", "score": 2.5e-300, "tags": [], "extra": 12345678901234567890,
             "ignored": {"deep": [1, {"x": "y"}]}}
        ]}"#
        .as_bytes();
        #[derive(Debug, PartialEq, serde::Deserialize)]
        struct Body {
            items: Vec<Item>,
        }
        let expected: Body = serde_json::from_slice(body).unwrap();
        assert_eq!(response(body).json::<Body>().unwrap(), expected);
        assert_eq!(
            response(body).json::<serde_json::Value>().unwrap(),
            serde_json::from_slice::<serde_json::Value>(body).unwrap()
        );
        // Floats are correctly rounded, as `str::parse` does (serde_json without its
        // `float_roundtrip` feature reads this one as 2.5000000000000003e-308).
        let tiny: f64 = response(b"2.5e-308").json().unwrap();
        assert_eq!(tiny, "2.5e-308".parse::<f64>().unwrap());
    }

    #[test]
    fn json_takes_types_only_serde_json_knows() {
        #[derive(Debug, serde::Deserialize)]
        struct Raw {
            raw: Box<serde_json::value::RawValue>,
        }
        let parsed: Raw = response(br#"{"raw": {"a": [1, 2]}}"#).json().unwrap();
        assert_eq!(parsed.raw.get(), r#"{"a": [1, 2]}"#);
    }

    #[test]
    fn json_refuses_invalid_utf8_and_trailing_bytes() {
        assert!(response(b"\"\xff\"").json::<String>().is_err());
        assert!(response(b"{} x").json::<serde_json::Value>().is_err());
    }

    #[test]
    fn link_header_parsing_handles_several_rels() {
        let v = r#"<http://x/a?page=2>; rel="next", <http://x/a?page=1>; rel="first""#;
        assert_eq!(
            parse_link_header(v, "next").as_deref(),
            Some("http://x/a?page=2")
        );
        assert_eq!(
            parse_link_header(v, "first").as_deref(),
            Some("http://x/a?page=1")
        );
        assert_eq!(parse_link_header(v, "last"), None);
        assert_eq!(
            parse_link_header("<http://x>; rel=next", "next").as_deref(),
            Some("http://x")
        );
    }

    #[test]
    fn provider_message_prefers_structured_fields() {
        assert_eq!(
            provider_message(br#"{"message":"Validation Failed"}"#),
            "Validation Failed"
        );
        assert_eq!(
            provider_message(br#"{"error":{"message":"bad cursor"}}"#),
            "bad cursor"
        );
        assert_eq!(provider_message(b"oops"), "oops");
    }

    #[test]
    fn shape_errors_name_the_path_and_the_record() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Contact {
            id: String,
            email: String,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Envelope {
            results: Vec<Contact>,
        }
        let body = br#"{"results":[{"id":"1","email":"a"},{"id":"2","email":"b"},{"id":"403","email":5}]}"#;
        let r = HttpResponse::new(
            200,
            vec![],
            Bytes::from_static(body),
            "GET /contacts".into(),
        );
        let err = r.json::<Envelope>().unwrap_err().to_string();
        assert!(
            err.contains("results[2].email") && err.contains("record 2, id \"403\""),
            "{err}"
        );
        let r = HttpResponse::new(
            200,
            vec![],
            Bytes::from_static(b"<html>"),
            "GET /contacts".into(),
        );
        assert!(
            r.json::<Envelope>()
                .unwrap_err()
                .to_string()
                .contains("not valid JSON")
        );
    }

    #[test]
    fn describe_hides_query() {
        let r = HttpRequest::new(Method::Get, "http://h:1/a/b?token=secret");
        assert_eq!(r.describe(), "GET /a/b");
    }
}
