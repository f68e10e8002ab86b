//! The fixture format shared by the recorder (`syncfn dryrun --save-responses`) and the replay
//! provider: one `NNNN.json` file per recorded exchange in a fixture directory.
//!
//! ```json
//! {
//!   "request":  { "method": "GET", "path": "/contacts", "query": [["limit", "100"]], "body": null },
//!   "response": { "status": 200, "headers": {"content-type": "application/json"}, "body": {"results": []} }
//! }
//! ```
//! Request identity is method + path + query pairs sorted by (name, value) + body. Absolute
//! URLs to the provider inside responses are written as `{{base_url}}`. A non-JSON body is
//! stored as `{"$text": "<raw text>"}`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The placeholder for the provider's base URL inside recorded responses.
pub const BASE_URL_PLACEHOLDER: &str = "{{base_url}}";

/// What replaces a secret value that appeared inside a recorded exchange.
pub const REDACTED: &str = "[redacted]";

/// Query parameter names that carry credentials by convention; never recorded, ignored when
/// matching a replayed request.
pub const SECRET_QUERY_NAMES: &[&str] = &[
    "access_token",
    "api_key",
    "apikey",
    "api-key",
    "auth_token",
    "client_secret",
    "password",
    "secret",
    "token",
];

/// Header names never recorded: credentials, cookies, and hop-by-hop or length headers that
/// stop being true once the body is re-serialized.
const DROPPED_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "date",
];

/// Whether a query parameter named `name` conventionally carries a secret.
pub fn is_secret_query_name(name: &str) -> bool {
    SECRET_QUERY_NAMES
        .iter()
        .any(|s| s.eq_ignore_ascii_case(name))
}

/// Whether a response or request header named `name` is never recorded.
pub fn is_dropped_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    DROPPED_HEADERS.contains(&lower.as_str())
        || lower.contains("token")
        || lower.contains("secret")
        || lower.contains("api-key")
}

/// The identity of a request: what the replay provider matches on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// `GET`, `POST`…
    pub method: String,
    /// Path without query string (`/crm/v3/objects/contacts`).
    pub path: String,
    /// Query pairs sorted by (name, value), secrets removed.
    pub query: Vec<(String, String)>,
    /// The JSON body, `{"$text": …}` for a non-JSON body, or `null`.
    pub body: Value,
}

impl RecordedRequest {
    /// A request identity; `query` is sorted here, whatever order it comes in.
    pub fn new(method: &str, path: &str, mut query: Vec<(String, String)>, body: Value) -> Self {
        query.sort();
        Self {
            method: method.to_ascii_uppercase(),
            path: if path.is_empty() {
                "/".into()
            } else {
                path.into()
            },
            query,
            body,
        }
    }

    /// The identity as JSON (for the replay provider's "unrecorded request" answers).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

impl std::fmt::Display for RecordedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)?;
        for (i, (k, v)) in self.query.iter().enumerate() {
            write!(f, "{}{k}={v}", if i == 0 { '?' } else { '&' })?;
        }
        if !self.body.is_null() {
            write!(f, " body {}", self.body)?;
        }
        Ok(())
    }
}

/// A recorded response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers with lowercase names (credentials and length headers removed).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The JSON body, or `{"$text": "<raw text>"}`.
    pub body: Value,
}

/// One recorded request and the provider's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exchange {
    /// The request identity.
    pub request: RecordedRequest,
    /// The response.
    pub response: RecordedResponse,
}

/// A body as stored: JSON when it parses, else `{"$text": …}`, `null` when empty.
pub fn body_to_json(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => v,
        Err(_) => json!({ "$text": String::from_utf8_lossy(bytes) }),
    }
}

/// The raw bytes a stored body stands for.
pub fn json_to_body(value: &Value) -> Vec<u8> {
    match value {
        Value::Null => Vec::new(),
        Value::Object(map) if map.len() == 1 && map.get("$text").is_some_and(Value::is_string) => {
            map["$text"]
                .as_str()
                .unwrap_or_default()
                .as_bytes()
                .to_vec()
        }
        other => serde_json::to_vec(other).unwrap_or_default(),
    }
}

/// Errors reading or writing fixtures; each names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FixtureError {
    /// A file or directory could not be read or written.
    #[error("fixtures {path}: {message}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A fixture file is not in the fixture format.
    #[error("fixture {path} is not a recorded exchange: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> FixtureError {
    FixtureError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// The `NNNN.json` files of `dir` in name order.
///
/// # Errors
/// The directory cannot be listed.
pub fn fixture_files(dir: &Path) -> Result<Vec<PathBuf>, FixtureError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| io_error(dir, e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json")
                && p.file_stem()
                    .and_then(|s| s.to_str())
                    .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Read every exchange of a fixture directory, in recording order.
///
/// # Errors
/// The directory cannot be read, or a file is not a recorded exchange (the error names it).
pub fn read_dir(dir: &Path) -> Result<Vec<Exchange>, FixtureError> {
    let mut exchanges = Vec::new();
    for path in fixture_files(dir)? {
        let text = std::fs::read_to_string(&path).map_err(|e| io_error(&path, e))?;
        let mut exchange: Exchange =
            serde_json::from_str(&text).map_err(|e| FixtureError::Format {
                path: path.clone(),
                message: e.to_string(),
            })?;
        exchange.request.query.sort();
        exchanges.push(exchange);
    }
    Ok(exchanges)
}

/// The number the next fixture file in `dir` gets (one past the highest present).
///
/// # Errors
/// The directory cannot be listed.
pub fn next_number(dir: &Path) -> Result<u32, FixtureError> {
    Ok(fixture_files(dir)?
        .iter()
        .filter_map(|p| p.file_stem()?.to_str()?.parse::<u32>().ok())
        .max()
        .map_or(1, |n| n + 1))
}

/// Write `exchange` as `dir/NNNN.json`.
///
/// # Errors
/// The file cannot be written.
pub fn write_exchange(
    dir: &Path,
    number: u32,
    exchange: &Exchange,
) -> Result<PathBuf, FixtureError> {
    let path = dir.join(format!("{number:04}.json"));
    let mut text = serde_json::to_string_pretty(exchange).map_err(|e| io_error(&path, e))?;
    text.push('\n');
    std::fs::write(&path, text).map_err(|e| io_error(&path, e))?;
    Ok(path)
}

/// Replace every occurrence of `from` inside the strings of `value` (keys included).
pub fn replace_in_strings(value: &mut Value, from: &str, to: &str) {
    if from.is_empty() {
        return;
    }
    match value {
        Value::String(s) if s.contains(from) => *s = s.replace(from, to),
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| replace_in_strings(v, from, to)),
        Value::Object(map) => {
            let renamed: Vec<String> = map.keys().filter(|k| k.contains(from)).cloned().collect();
            for key in renamed {
                if let Some(v) = map.remove(&key) {
                    map.insert(key.replace(from, to), v);
                }
            }
            map.values_mut()
                .for_each(|v| replace_in_strings(v, from, to));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_sorts_query_pairs() {
        let a = RecordedRequest::new(
            "get",
            "/x",
            vec![("b".into(), "1".into()), ("a".into(), "2".into())],
            Value::Null,
        );
        assert_eq!(a.query[0].0, "a", "query pairs were not sorted: {a}");
        assert_eq!(a.method, "GET");
    }

    #[test]
    fn text_bodies_round_trip() {
        let v = body_to_json(b"<html>oops</html>");
        assert_eq!(v, json!({"$text": "<html>oops</html>"}));
        assert_eq!(json_to_body(&v), b"<html>oops</html>");
        assert_eq!(body_to_json(b"{\"a\":1}"), json!({"a": 1}));
        assert_eq!(body_to_json(b""), Value::Null);
    }
}
