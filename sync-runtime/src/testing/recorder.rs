//! A recording [`Transport`]: every exchange with the provider is written to a fixture
//! directory in the [fixture format](super::fixture), credentials scrubbed, so the same sync can
//! replay offline. `syncfn dryrun --save-responses DIR` wraps the runtime transport in it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use sync_sdk::{HttpRequest, HttpResponse, SyncError, Transport};

use super::fixture::{
    self, BASE_URL_PLACEHOLDER, Exchange, FixtureError, REDACTED, RecordedRequest,
    RecordedResponse, body_to_json, is_dropped_header, is_secret_query_name, replace_in_strings,
};
use crate::connection::Credentials;

/// The secret strings a set of credentials holds (to scrub or to search for).
pub fn credential_secrets(credentials: &Credentials) -> Vec<SecretString> {
    #[allow(unreachable_patterns)] // credential kinds added later fall through to "no secret"
    match credentials {
        Credentials::Bearer { token } => vec![token.clone()],
        Credentials::ApiKey { key, .. } => vec![key.clone()],
        Credentials::Basic { password, .. } => vec![password.clone()],
        _ => Vec::new(),
    }
}

/// The query parameter a set of credentials is sent in, if any.
pub fn credential_query_name(credentials: &Credentials) -> Option<String> {
    match credentials {
        Credentials::ApiKey {
            query: Some(name), ..
        } => Some(name.clone()),
        _ => None,
    }
}

/// The identity of a request to `url` (absolute, possibly with its own query string) with
/// `extra_query` appended: query pairs for which `drop_pair(name, value)` holds are left out.
pub fn request_identity(
    method: &str,
    url: &str,
    extra_query: &[(String, String)],
    body: Option<&[u8]>,
    drop_pair: &dyn Fn(&str, &str) -> bool,
) -> RecordedRequest {
    let (path, mut query) = match reqwest::Url::parse(url) {
        Ok(parsed) => (
            parsed.path().to_string(),
            parsed
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect::<Vec<_>>(),
        ),
        Err(_) => (url.split('?').next().unwrap_or(url).to_string(), Vec::new()),
    };
    query.extend(extra_query.iter().cloned());
    query.retain(|(k, v)| !drop_pair(k, v));
    let body = body.map(body_to_json).unwrap_or(Value::Null);
    RecordedRequest::new(method, &path, query, body)
}

/// Wraps a transport and records every exchange it carries.
pub struct RecordingTransport {
    inner: Arc<dyn Transport>,
    dir: PathBuf,
    base_url: String,
    secrets: Vec<SecretString>,
    secret_query: Option<String>,
    first: u32,
    next: Mutex<u32>,
}

impl std::fmt::Debug for RecordingTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingTransport")
            .field("dir", &self.dir)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl RecordingTransport {
    /// Record into `dir` (created if missing; numbering continues after the files already
    /// there) every exchange `inner` carries. Occurrences of `base_url` in responses become
    /// `{{base_url}}`; the secrets of `credentials` are never written.
    ///
    /// # Errors
    /// The directory cannot be created or listed.
    pub fn new(
        inner: Arc<dyn Transport>,
        dir: &Path,
        base_url: &str,
        credentials: &Credentials,
    ) -> Result<Self, FixtureError> {
        std::fs::create_dir_all(dir).map_err(|e| FixtureError::Io {
            path: dir.to_path_buf(),
            message: e.to_string(),
        })?;
        let next = fixture::next_number(dir)?;
        Ok(Self {
            inner,
            dir: dir.to_path_buf(),
            base_url: base_url.trim_end_matches('/').to_string(),
            secrets: credential_secrets(credentials),
            secret_query: credential_query_name(credentials),
            first: next,
            next: Mutex::new(next),
        })
    }

    /// Files written so far by this recorder.
    pub fn recorded(&self) -> u32 {
        *self.next.lock().unwrap_or_else(|p| p.into_inner()) - self.first
    }

    fn scrub(&self, value: &mut Value) {
        for secret in &self.secrets {
            replace_in_strings(value, secret.expose_secret(), REDACTED);
        }
    }

    fn identity(&self, request: &HttpRequest) -> RecordedRequest {
        let secret_query = self.secret_query.as_deref();
        let secrets = &self.secrets;
        let drop_pair = |name: &str, value: &str| {
            is_secret_query_name(name)
                || secret_query.is_some_and(|q| q.eq_ignore_ascii_case(name))
                || secrets
                    .iter()
                    .any(|s| !s.expose_secret().is_empty() && value.contains(s.expose_secret()))
        };
        let mut identity = request_identity(
            request.method.as_str(),
            &request.url,
            &request.query,
            request.body.as_deref(),
            &drop_pair,
        );
        self.scrub(&mut identity.body);
        identity
    }

    fn response(&self, response: &HttpResponse) -> RecordedResponse {
        let mut headers = std::collections::BTreeMap::new();
        for (name, value) in &response.headers {
            let name = name.to_ascii_lowercase();
            if is_dropped_header(&name) {
                continue;
            }
            let mut value = value.replace(&self.base_url, BASE_URL_PLACEHOLDER);
            for secret in &self.secrets {
                if !secret.expose_secret().is_empty() {
                    value = value.replace(secret.expose_secret(), REDACTED);
                }
            }
            headers
                .entry(name)
                .and_modify(|v: &mut String| {
                    v.push_str(", ");
                    v.push_str(&value)
                })
                .or_insert(value);
        }
        let mut body = body_to_json(&response.body);
        replace_in_strings(&mut body, &self.base_url, BASE_URL_PLACEHOLDER);
        self.scrub(&mut body);
        RecordedResponse {
            status: response.status,
            headers,
            body,
        }
    }
}

#[async_trait::async_trait]
impl Transport for RecordingTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, SyncError> {
        let identity = self.identity(&request);
        let response = self.inner.send(request).await?;
        let exchange = Exchange {
            request: identity,
            response: self.response(&response),
        };
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        fixture::write_exchange(&self.dir, *next, &exchange)
            .map_err(|e| SyncError::internal(format!("cannot save the response: {e}")))?;
        *next += 1;
        Ok(response)
    }
}
