//! What every handler and the scheduler share: the store, the integrations, the credential
//! cipher, the provider client and the scheduler's handle.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sync_sdk::{Connection, ContextParts, HttpClient, Integration, Logger, SyncError};

use crate::connection::Credentials;
use crate::connection::RateLimitOverride;
use crate::crypto::CredentialCipher;
use crate::driver::SyncTarget;
use crate::http::{
    Authenticator, CredentialSink, HttpOptions, ProviderLimits, ReqwestTransport, RunCounters,
};
use crate::registry::Registry;
use crate::scheduler::SchedulerHandle;
use crate::store::{Store, StoredConnection, SyncKey};

/// Environment variable that lowers the 30 s minimum frequency (tests and local development).
pub const MIN_FREQUENCY_ENV: &str = "SYNCFN_MIN_FREQUENCY_MS";

/// The service's shared state.
pub struct Service {
    /// Records cache, run state, schedules and outbox.
    pub store: Arc<dyn Store>,
    /// The integrations.
    pub registry: Registry,
    /// Seals credentials at rest.
    pub cipher: CredentialCipher,
    /// Provider HTTP client.
    pub client: reqwest::Client,
    /// Shortest schedule frequency accepted.
    pub min_frequency: Duration,
    /// A run longer than this stops after a committed page and continues at once.
    pub max_run_duration: Option<Duration>,
    /// Running syncs, wake-ups and the shutdown flag.
    pub scheduler: SchedulerHandle,
    /// Wakes the webhook delivery loop.
    pub webhooks_wake: Arc<tokio::sync::Notify>,
    /// Credentials from declarative sync files' `[auth]`, by integration: used by connections
    /// that store none of their own.
    pub file_credentials: std::collections::HashMap<String, Credentials>,
    /// Provider quotas, one per (integration, connection), shared with the driver.
    pub limits: Arc<ProviderLimits>,
    /// Where refreshed OAuth2 tokens are persisted, shared with the driver.
    pub sink: Arc<dyn CredentialSink>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("min_frequency", &self.min_frequency)
            .field("max_run_duration", &self.max_run_duration)
            .finish_non_exhaustive()
    }
}

/// The minimum frequency: 30 s, or `SYNCFN_MIN_FREQUENCY_MS` when set.
///
/// # Errors
/// The variable is set but not a number of milliseconds.
pub fn min_frequency_from_env() -> Result<Duration, String> {
    match std::env::var(MIN_FREQUENCY_ENV) {
        Err(_) => Ok(sync_sdk::MIN_FREQUENCY),
        Ok(v) => v
            .trim()
            .parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| {
                format!("{MIN_FREQUENCY_ENV}={v:?} is not a whole number of milliseconds")
            }),
    }
}

/// A connection resolved for running: where to send requests and how to authenticate.
#[derive(Debug, Clone)]
pub struct ResolvedConnection {
    /// As stored.
    pub stored: StoredConnection,
    /// The connection as syncs and actions see it.
    pub connection: Arc<Connection>,
    /// Base URL.
    pub base_url: String,
    /// Decrypted credentials.
    pub credentials: Credentials,
}

impl Service {
    /// The integration named `name`, as a 404-able message.
    ///
    /// # Errors
    /// A message listing the available integrations.
    pub fn integration(&self, name: &str) -> Result<&Integration, String> {
        self.registry.integration(name)
    }

    /// Load a connection with its decrypted credentials.
    ///
    /// # Errors
    /// A config error when it does not exist or its stored config cannot be used.
    pub async fn resolve_connection(
        &self,
        connection_id: &str,
    ) -> Result<ResolvedConnection, SyncError> {
        let stored = self
            .store
            .get_connection(connection_id)
            .await
            .map_err(|e| SyncError::internal(e.to_string()))?
            .ok_or_else(|| {
                SyncError::config(format!("connection {connection_id:?} does not exist"))
            })?;
        let integration = self
            .registry
            .integration(&stored.integration)
            .map_err(SyncError::config)?;
        let credentials = match self
            .store
            .get_credentials(connection_id)
            .await
            .map_err(|e| SyncError::internal(e.to_string()))?
        {
            None => self
                .file_credentials
                .get(integration.name())
                .cloned()
                .unwrap_or_default(),
            Some(sealed) => {
                let plain = self
                    .cipher
                    .open(&sealed)
                    .map_err(|e| SyncError::config(format!("connection {connection_id:?}: {e}")))?;
                let value: Value = serde_json::from_slice(&plain).map_err(|_| {
                    SyncError::internal(format!(
                        "connection {connection_id:?}: stored credentials are not JSON"
                    ))
                })?;
                parse_credentials(value)
                    .map_err(|m| SyncError::config(format!("connection {connection_id:?}: {m}")))?
            }
        };
        let base_url = stored
            .config
            .get("base_url")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| integration.default_base_url().map(str::to_string))
            .ok_or_else(|| {
                SyncError::config(format!(
                    "connection {connection_id:?}: integration {:?} has no default base URL; set base_url",
                    integration.name()
                ))
            })?;
        let mut connection = Connection::new(connection_id, integration.name());
        if let Some(Value::Object(params)) = stored.config.get("params") {
            connection.params = params.clone();
        }
        Ok(ResolvedConnection {
            stored,
            connection: Arc::new(connection),
            base_url,
            credentials,
        })
    }

    /// The run target of a schedule.
    ///
    /// # Errors
    /// The connection or sync cannot be resolved.
    pub async fn target(&self, key: &SyncKey) -> Result<SyncTarget, SyncError> {
        let resolved = self.resolve_connection(&key.connection_id).await?;
        let (_, sync) = self
            .registry
            .resolve(&format!("{}/{}", key.integration, key.sync))
            .map_err(SyncError::config)?;
        let http = self.http_options(&resolved)?;
        Ok(SyncTarget {
            key: key.clone(),
            sync,
            connection: resolved.connection,
            base_url: resolved.base_url,
            credentials: resolved.credentials,
            metadata: resolved.stored.metadata,
            http,
        })
    }

    /// The connection's quota (its own override, else the integration's) and the
    /// integration's declared rate-limit headers.
    fn http_options(&self, resolved: &ResolvedConnection) -> Result<HttpOptions, SyncError> {
        let integration = self
            .registry
            .integration(&resolved.stored.integration)
            .map_err(SyncError::config)?;
        let own = parse_rate_limit(resolved.stored.config.get("rate_limit")).map_err(|m| {
            SyncError::config(format!(
                "connection {:?}: {m}",
                resolved.stored.connection_id
            ))
        })?;
        Ok(HttpOptions {
            rate_limit: own
                .map(RateLimitOverride::to_rate_limit)
                .or(integration.default_rate_limit()),
            rate_limit_headers: integration.declared_rate_limit_headers().cloned(),
            ..HttpOptions::default()
        })
    }

    /// Context parts for an action call on `resolved`, sending through the same transport as
    /// syncs.
    pub fn action_parts(
        &self,
        resolved: &ResolvedConnection,
        action: &str,
    ) -> Result<ContextParts, SyncError> {
        // The same limiter and credential sink as the connection's syncs: one quota per
        // (integration, connection) in the process.
        let options = self.http_options(resolved)?;
        let limiter = self.limits.limiter(
            &resolved.stored.integration,
            &resolved.stored.connection_id,
            options.rate_limit,
        )?;
        let auth = Authenticator::new(
            self.client.clone(),
            resolved.credentials.clone(),
            self.sink.clone(),
            &resolved.stored.integration,
            &resolved.stored.connection_id,
        );
        let transport = ReqwestTransport::new(
            self.client.clone(),
            auth,
            limiter,
            Arc::new(RunCounters::default()),
        )
        .with_rate_limit_headers(options.rate_limit_headers);
        let http = HttpClient::new(Arc::new(transport), resolved.base_url.clone());
        Ok(ContextParts::new(
            http,
            resolved.connection.clone(),
            resolved.stored.metadata.clone(),
            Logger::new(
                &resolved.stored.connection_id,
                &resolved.stored.integration,
                action,
            ),
        ))
    }
}

/// Parse credentials JSON without ever echoing a value in the error.
///
/// # Errors
/// A message naming the problem (the type or a missing/unknown field), never a value.
pub fn parse_credentials(value: Value) -> Result<Credentials, String> {
    serde_json::from_value::<Credentials>(value).map_err(|e| {
        let text = e.to_string();
        let safe = text.starts_with("missing field")
            || text.starts_with("unknown field")
            || text.starts_with("unknown variant");
        if safe {
            // These name fields and variants, not values.
            format!("credentials are invalid: {text}")
        } else {
            "credentials are invalid: expected {\"type\": \"none\" | \"bearer\" | \"api_key\" | \"basic\", …} with string values".into()
        }
    })
}

/// Parse a connection's `rate_limit` override.
///
/// # Errors
/// A message naming the expected shape.
pub fn parse_rate_limit(value: Option<&Value>) -> Result<Option<RateLimitOverride>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let r = serde_json::from_value::<RateLimitOverride>(v.clone()).map_err(|e| {
                format!("rate_limit must be {{\"requests\": N, \"per_ms\": M, \"burst\": B}}: {e}")
            })?;
            if r.requests == 0 || r.per_ms == 0 {
                return Err(
                    "rate_limit must allow at least one request per non-zero window".into(),
                );
            }
            Ok(Some(r))
        }
    }
}
