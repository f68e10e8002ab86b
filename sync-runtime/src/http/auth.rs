//! Credentials on requests: API key (header or query), bearer, basic, and OAuth2 access
//! tokens from a refresh token or client credentials, refreshed ahead of expiry behind an
//! async lock so concurrent requests refresh once. Secrets stay [`SecretString`]s until the
//! moment they are written into a request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sync_sdk::{HttpRequest, Method, SyncError, provider_message};
use tracing::info;

use crate::connection::Credentials;

/// Default time before expiry at which an access token is refreshed.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// OAuth2 tokens as last obtained for a connection.
#[derive(Debug, Clone)]
pub struct OAuthTokens {
    /// The access token.
    pub access_token: SecretString,
    /// When it expires, if the token endpoint said.
    pub expires_at: Option<SystemTime>,
    /// The refresh token to use next (rotated by some providers on every refresh).
    pub refresh_token: Option<SecretString>,
}

/// Where refreshed OAuth2 tokens go, so a rotated refresh token is not lost. The default
/// ([`MemoryCredentialSink`]) keeps them for the life of the process; a service persists them.
pub trait CredentialSink: Send + Sync + std::fmt::Debug {
    /// New tokens were obtained for `connection_id` of `integration`.
    fn tokens_refreshed(&self, integration: &str, connection_id: &str, tokens: &OAuthTokens);

    /// The newest tokens stored for the connection, preferred over the config's.
    fn latest(&self, integration: &str, connection_id: &str) -> Option<OAuthTokens>;
}

/// Keeps refreshed tokens in memory.
#[derive(Debug, Default)]
pub struct MemoryCredentialSink {
    tokens: Mutex<HashMap<(String, String), OAuthTokens>>,
}

impl CredentialSink for MemoryCredentialSink {
    fn tokens_refreshed(&self, integration: &str, connection_id: &str, tokens: &OAuthTokens) {
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((integration.into(), connection_id.into()), tokens.clone());
    }

    fn latest(&self, integration: &str, connection_id: &str) -> Option<OAuthTokens> {
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(integration.to_string(), connection_id.to_string()))
            .cloned()
    }
}

/// Adds a connection's credentials to requests.
#[derive(Debug)]
pub struct Authenticator {
    credentials: Credentials,
    oauth: Option<OAuthSession>,
}

/// The access token a request was sent with, to tell whether a 401 is already handled.
#[derive(Debug, Clone)]
pub struct UsedToken {
    generation: u64,
}

impl Authenticator {
    /// Authenticate with `credentials`; OAuth2 tokens are fetched with `client` and reported to
    /// `sink` under (`integration`, `connection_id`).
    pub fn new(
        client: reqwest::Client,
        credentials: Credentials,
        sink: Arc<dyn CredentialSink>,
        integration: &str,
        connection_id: &str,
    ) -> Self {
        let oauth =
            OAuthSession::from_credentials(client, &credentials, sink, integration, connection_id);
        Self { credentials, oauth }
    }

    /// Whether a rejected token can be refreshed (OAuth2).
    pub fn can_refresh(&self) -> bool {
        self.oauth.is_some()
    }

    /// Add credentials to `builder` (and an API key query parameter to `url`, which must not
    /// be logged). Returns the OAuth2 token generation used, if any.
    ///
    /// # Errors
    /// The OAuth2 token endpoint failed.
    pub async fn apply(
        &self,
        url: &mut reqwest::Url,
        builder: impl FnOnce(reqwest::Url) -> reqwest::RequestBuilder,
    ) -> Result<(reqwest::RequestBuilder, Option<UsedToken>), SyncError> {
        if let Credentials::ApiKey {
            key,
            query: Some(name),
            ..
        } = &self.credentials
        {
            url.query_pairs_mut().append_pair(name, key.expose_secret());
        }
        let mut b = builder(url.clone());
        let mut used = None;
        match &self.credentials {
            Credentials::Bearer { token } => b = b.bearer_auth(token.expose_secret()),
            Credentials::Basic { username, password } => {
                b = b.basic_auth(username, Some(password.expose_secret()))
            }
            Credentials::ApiKey { key, header, query } => match (header, query) {
                (Some(h), _) => b = b.header(h, key.expose_secret()),
                (None, None) => b = b.header("x-api-key", key.expose_secret()),
                (None, Some(_)) => {}
            },
            _ => {}
        }
        if let Some(oauth) = &self.oauth {
            let (token, generation) = oauth.current().await?;
            b = b.bearer_auth(token.expose_secret());
            used = Some(UsedToken { generation });
        }
        Ok((b, used))
    }

    /// The provider rejected the token of `used` with a 401: refresh it, unless a concurrent
    /// request already did.
    ///
    /// # Errors
    /// The token endpoint failed.
    pub async fn rejected(&self, used: &UsedToken) -> Result<(), SyncError> {
        match &self.oauth {
            Some(oauth) => oauth.refresh_if_current(used.generation).await,
            None => Ok(()),
        }
    }
}

#[derive(Debug)]
enum Grant {
    RefreshToken,
    ClientCredentials,
}

#[derive(Debug)]
struct OAuthSession {
    client: reqwest::Client,
    grant: Grant,
    token_url: String,
    client_id: String,
    client_secret: SecretString,
    scope: Option<String>,
    margin: Duration,
    sink: Arc<dyn CredentialSink>,
    integration: String,
    connection_id: String,
    state: tokio::sync::Mutex<TokenState>,
}

#[derive(Debug)]
struct TokenState {
    access: Option<SecretString>,
    /// When to refresh (ahead of expiry); `None` = never by time.
    refresh_at: Option<SystemTime>,
    refresh_token: Option<SecretString>,
    /// Bumped on every refresh.
    generation: u64,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: SecretString,
    #[serde(default)]
    expires_in: Option<f64>,
    #[serde(default)]
    refresh_token: Option<SecretString>,
}

impl OAuthSession {
    fn from_credentials(
        client: reqwest::Client,
        credentials: &Credentials,
        sink: Arc<dyn CredentialSink>,
        integration: &str,
        connection_id: &str,
    ) -> Option<Self> {
        let (grant, token_url, client_id, client_secret, scope, margin, mut state) =
            match credentials {
                Credentials::OAuth2RefreshToken {
                    token_url,
                    client_id,
                    client_secret,
                    refresh_token,
                    access_token,
                    expires_at,
                    scope,
                    refresh_margin_secs,
                } => {
                    let margin =
                        refresh_margin_secs.map_or(DEFAULT_REFRESH_MARGIN, Duration::from_secs);
                    let expires = expires_at.map(|s| UNIX_EPOCH + Duration::from_secs(s));
                    (
                        Grant::RefreshToken,
                        token_url,
                        client_id,
                        client_secret,
                        scope,
                        margin,
                        TokenState {
                            access: access_token.clone(),
                            refresh_at: expires
                                .map(|e| e.checked_sub(margin).unwrap_or(UNIX_EPOCH)),
                            refresh_token: Some(refresh_token.clone()),
                            generation: 0,
                        },
                    )
                }
                Credentials::OAuth2ClientCredentials {
                    token_url,
                    client_id,
                    client_secret,
                    scope,
                    refresh_margin_secs,
                } => (
                    Grant::ClientCredentials,
                    token_url,
                    client_id,
                    client_secret,
                    scope,
                    refresh_margin_secs.map_or(DEFAULT_REFRESH_MARGIN, Duration::from_secs),
                    TokenState {
                        access: None,
                        refresh_at: None,
                        refresh_token: None,
                        generation: 0,
                    },
                ),
                _ => return None,
            };
        if let Some(latest) = sink.latest(integration, connection_id) {
            state.access = Some(latest.access_token);
            state.refresh_at = latest
                .expires_at
                .map(|e| e.checked_sub(margin).unwrap_or(UNIX_EPOCH));
            if latest.refresh_token.is_some() {
                state.refresh_token = latest.refresh_token;
            }
        }
        Some(Self {
            client,
            grant,
            token_url: token_url.clone(),
            client_id: client_id.clone(),
            client_secret: client_secret.clone(),
            scope: scope.clone(),
            margin,
            sink,
            integration: integration.into(),
            connection_id: connection_id.into(),
            state: tokio::sync::Mutex::new(state),
        })
    }

    /// A token valid beyond the refresh margin, refreshing first if needed.
    async fn current(&self) -> Result<(SecretString, u64), SyncError> {
        let mut state = self.state.lock().await;
        let fresh =
            state.access.is_some() && state.refresh_at.is_none_or(|at| SystemTime::now() < at);
        if !fresh {
            self.refresh(&mut state).await?;
        }
        let token = state
            .access
            .clone()
            .ok_or_else(|| SyncError::internal("no access token after a refresh"))?;
        Ok((token, state.generation))
    }

    async fn refresh_if_current(&self, generation: u64) -> Result<(), SyncError> {
        let mut state = self.state.lock().await;
        if state.generation == generation {
            self.refresh(&mut state).await?;
        }
        Ok(())
    }

    async fn refresh(&self, state: &mut TokenState) -> Result<(), SyncError> {
        let described = HttpRequest::new(Method::Post, self.token_url.clone()).describe();
        let mut form: Vec<(&str, &str)> = vec![
            ("client_id", &self.client_id),
            ("client_secret", self.client_secret.expose_secret()),
        ];
        match self.grant {
            Grant::RefreshToken => {
                let token = state.refresh_token.as_ref().ok_or_else(|| {
                    SyncError::auth(format!(
                        "connection {:?} has no refresh token",
                        self.connection_id
                    ))
                })?;
                form.push(("grant_type", "refresh_token"));
                form.push(("refresh_token", token.expose_secret()));
            }
            Grant::ClientCredentials => form.push(("grant_type", "client_credentials")),
        }
        if let Some(scope) = &self.scope {
            form.push(("scope", scope));
        }
        let response = self
            .client
            .post(&self.token_url)
            .header("accept", "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| {
                let what = if e.is_timeout() {
                    "timed out"
                } else {
                    "failed"
                };
                SyncError::transient(format!("token endpoint {described}: request {what}"))
            })?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|_| {
            SyncError::transient(format!(
                "token endpoint {described}: the response body was cut off"
            ))
        })?;
        if !(200..300).contains(&status) {
            let message = provider_message(&body);
            let text = format!("token endpoint {described} answered HTTP {status}: {message}");
            return Err(if status >= 500 || status == 429 || status == 408 {
                SyncError::transient(text)
            } else {
                SyncError::auth(text)
            }
            .with_status(status));
        }
        let token: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
            SyncError::auth(format!(
                "token endpoint {described} answered without a usable access_token: {e}"
            ))
        })?;
        let now = SystemTime::now();
        let lifetime = token
            .expires_in
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(|s| Duration::from_secs_f64(s.min(1e9)));
        // Refresh `margin` ahead of expiry, but never sooner than half-way through a token's
        // life, so a short-lived token is not refreshed on every request.
        state.refresh_at = lifetime.map(|l| now + l - self.margin.min(l / 2));
        state.access = Some(token.access_token.clone());
        let rotated = token.refresh_token.is_some();
        if let Some(new) = token.refresh_token {
            state.refresh_token = Some(new);
        }
        state.generation += 1;
        info!(
            connection = %self.connection_id,
            integration = %self.integration,
            expires_in_s = lifetime.map(|l| l.as_secs()),
            refresh_token_rotated = rotated,
            "refreshed the OAuth2 access token"
        );
        self.sink.tokens_refreshed(
            &self.integration,
            &self.connection_id,
            &OAuthTokens {
                access_token: token.access_token,
                expires_at: lifetime.map(|l| now + l),
                refresh_token: state.refresh_token.clone(),
            },
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_every_oauth_secret() {
        let credentials = Credentials::OAuth2RefreshToken {
            token_url: "http://127.0.0.1:1/token".into(),
            client_id: "id".into(),
            client_secret: SecretString::from("cs-SECRET"),
            refresh_token: SecretString::from("rt-SECRET"),
            access_token: Some(SecretString::from("at-SECRET")),
            expires_at: Some(1),
            scope: None,
            refresh_margin_secs: None,
        };
        let sink = Arc::new(MemoryCredentialSink::default());
        sink.tokens_refreshed(
            "x",
            "c",
            &OAuthTokens {
                access_token: SecretString::from("at2-SECRET"),
                expires_at: None,
                refresh_token: Some(SecretString::from("rt2-SECRET")),
            },
        );
        let auth = Authenticator::new(reqwest::Client::new(), credentials, sink.clone(), "x", "c");
        let debug = format!("{auth:?} {sink:?}");
        assert!(
            !debug.contains("SECRET"),
            "a secret shows in Debug: {debug}"
        );
    }
}
