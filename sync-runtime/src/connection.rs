//! Connection config files: base URL, non-secret params, credentials and metadata.
//!
//! ```json
//! {
//!   "base_url": "http://127.0.0.1:8080",
//!   "params": { "owner": "acme", "repo": "app" },
//!   "credentials": { "type": "bearer", "token": "${env:GITHUB_TOKEN}" },
//!   "metadata": {}
//! }
//! ```
//! Any string may be `${env:NAME}`, read from the environment when the file is loaded, so
//! secrets need not sit in the file. Credentials are [`SecretString`]s: never logged, never
//! printed by `Debug`, never stored in the records cache.

use std::path::Path;

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Map, Value};

/// How requests to the provider authenticate.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Credentials {
    /// No authentication.
    #[default]
    None,
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// The token.
        token: SecretString,
    },
    /// An API key in a header or a query parameter.
    ApiKey {
        /// The key.
        key: SecretString,
        /// Header name (default `X-API-Key` when `query` is not set).
        #[serde(default)]
        header: Option<String>,
        /// Query parameter name.
        #[serde(default)]
        query: Option<String>,
    },
    /// HTTP basic auth.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: SecretString,
    },
}

/// A connection's config as read from a file or the API.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionConfig {
    /// Overrides the integration's base URL (a loopback fake, a self-hosted provider).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Non-secret parameters handed to the sync (`owner`, `repo`…).
    #[serde(default)]
    pub params: Map<String, Value>,
    /// Credentials.
    #[serde(default)]
    pub credentials: Credentials,
    /// Customer configuration, validated against the sync's metadata schema.
    #[serde(default)]
    pub metadata: Value,
}

impl ConnectionConfig {
    /// Parse a config from JSON text, expanding `${env:NAME}`.
    ///
    /// # Errors
    /// A message naming `origin`, the problem and, for JSON errors, the line and column.
    pub fn from_json(text: &str, origin: &str) -> Result<Self, String> {
        let mut value: Value =
            serde_json::from_str(text).map_err(|e| format!("{origin}: not valid JSON: {e}"))?;
        expand_env(&mut value, origin, "")?;
        serde_json::from_value(value).map_err(|e| format!("{origin}: {e}"))
    }

    /// Read a config file.
    ///
    /// # Errors
    /// The file cannot be read, or [`from_json`](Self::from_json) fails.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read connection config {}: {e}", path.display()))?;
        Self::from_json(&text, &path.display().to_string())
    }

    /// The non-secret part, as stored with the connection.
    pub fn public_json(&self) -> Value {
        serde_json::json!({ "base_url": self.base_url, "params": self.params })
    }
}

/// Replace every string of the form `${env:NAME}` with the variable's value.
fn expand_env(value: &mut Value, origin: &str, at: &str) -> Result<(), String> {
    match value {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix("${env:").and_then(|r| r.strip_suffix('}')) {
                *s = std::env::var(name).map_err(|_| {
                    format!(
                        "{origin}: {at} refers to environment variable {name}, which is not set"
                    )
                })?;
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                expand_env(item, origin, &format!("{at}[{i}]"))?;
            }
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                let path = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                expand_env(v, origin, &path)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug() {
        let c = ConnectionConfig::from_json(
            r#"{"credentials":{"type":"bearer","token":"tok-SECRET-123"}}"#,
            "t.json",
        )
        .unwrap();
        let debug = format!("{c:?}");
        assert!(!debug.contains("tok-SECRET-123"), "{debug}");
    }

    #[test]
    fn unknown_keys_and_missing_env_are_named() {
        let err = ConnectionConfig::from_json(r#"{"base":"x"}"#, "c.json").unwrap_err();
        assert!(err.contains("c.json") && err.contains("base"), "{err}");
        let err = ConnectionConfig::from_json(
            r#"{"credentials":{"type":"bearer","token":"${env:SYNCFN_TEST_UNSET_VAR}"}}"#,
            "c.json",
        )
        .unwrap_err();
        assert!(
            err.contains("credentials.token") && err.contains("SYNCFN_TEST_UNSET_VAR"),
            "{err}"
        );
    }
}
