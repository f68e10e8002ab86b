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
use std::time::Duration;

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
    /// OAuth2 refresh-token grant: access tokens are obtained from `token_url` with the refresh
    /// token and sent as `Authorization: Bearer`. A refresh token the provider rotates is handed
    /// to the runtime's [`CredentialSink`](crate::http::CredentialSink).
    #[serde(rename = "oauth2_refresh_token")]
    OAuth2RefreshToken {
        /// Token endpoint (`https://provider/oauth/token`).
        token_url: String,
        /// Client id.
        client_id: String,
        /// Client secret.
        client_secret: SecretString,
        /// The refresh token.
        refresh_token: SecretString,
        /// A current access token, if one is known (else one is fetched before the first
        /// request).
        #[serde(default)]
        access_token: Option<SecretString>,
        /// When `access_token` expires, in Unix seconds.
        #[serde(default)]
        expires_at: Option<u64>,
        /// Space-separated scopes to request.
        #[serde(default)]
        scope: Option<String>,
        /// Refresh this many seconds before the access token expires (default 60).
        #[serde(default)]
        refresh_margin_secs: Option<u64>,
    },
    /// OAuth2 client-credentials grant against `token_url`.
    #[serde(rename = "oauth2_client_credentials")]
    OAuth2ClientCredentials {
        /// Token endpoint.
        token_url: String,
        /// Client id.
        client_id: String,
        /// Client secret.
        client_secret: SecretString,
        /// Space-separated scopes to request.
        #[serde(default)]
        scope: Option<String>,
        /// Refresh this many seconds before the access token expires (default 60).
        #[serde(default)]
        refresh_margin_secs: Option<u64>,
    },
}

/// A per-connection override of the integration's quota:
/// `"rate_limit": {"requests": 100, "per_ms": 10000, "burst": 10}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitOverride {
    /// Requests allowed per window.
    pub requests: u32,
    /// The window in milliseconds.
    pub per_ms: u64,
    /// Requests that may go out back to back (default 1).
    #[serde(default)]
    pub burst: Option<u32>,
}

impl RateLimitOverride {
    /// As the SDK's quota type.
    pub fn to_rate_limit(self) -> sync_sdk::RateLimit {
        let limit = sync_sdk::RateLimit::new(self.requests, Duration::from_millis(self.per_ms));
        match self.burst {
            Some(b) => limit.with_burst(b),
            None => limit,
        }
    }
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
    /// Overrides the integration's declared quota for this connection.
    #[serde(default)]
    pub rate_limit: Option<RateLimitOverride>,
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
        let mut public = serde_json::json!({ "base_url": self.base_url, "params": self.params });
        if let Some(limit) = self.rate_limit {
            public["rate_limit"] = serde_json::json!({
                "requests": limit.requests, "per_ms": limit.per_ms, "burst": limit.burst,
            });
        }
        public
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
    fn oauth2_credentials_and_rate_limit_override_parse() {
        let c = ConnectionConfig::from_json(
            r#"{"credentials":{"type":"oauth2_refresh_token","token_url":"http://t/token",
                "client_id":"id","client_secret":"cs-SECRET","refresh_token":"rt-SECRET",
                "expires_at":1700000000},
               "rate_limit":{"requests":100,"per_ms":10000,"burst":5}}"#,
            "c.json",
        )
        .unwrap();
        assert!(matches!(
            c.credentials,
            Credentials::OAuth2RefreshToken {
                expires_at: Some(1_700_000_000),
                ..
            }
        ));
        let limit = c.rate_limit.unwrap().to_rate_limit();
        assert_eq!(
            (limit.requests, limit.per, limit.burst),
            (100, Duration::from_secs(10), Some(5))
        );
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("SECRET"),
            "a secret shows in Debug: {debug}"
        );
        let c = ConnectionConfig::from_json(
            r#"{"credentials":{"type":"oauth2_client_credentials","token_url":"http://t/token",
                "client_id":"id","client_secret":"cs"}}"#,
            "c.json",
        )
        .unwrap();
        assert!(matches!(
            c.credentials,
            Credentials::OAuth2ClientCredentials { .. }
        ));
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
