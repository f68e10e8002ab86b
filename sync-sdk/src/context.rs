//! What a hook receives: the provider client, the connection, typed metadata and a logger.

use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::{HttpClient, SyncError};

/// A customer's connection to a provider, as the sync sees it: its id and non-secret
/// parameters (`owner`, `repo`, a subdomain…). Credentials never appear here; the
/// [`HttpClient`] injects them.
///
/// ```
/// use sync_sdk::Connection;
/// let c = Connection::new("acme", "github").with_param("owner", "rust-lang");
/// assert_eq!(c.param("owner").unwrap(), "rust-lang");
/// assert!(c.param("repo").unwrap_err().to_string().contains("\"repo\""));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Connection {
    /// The connection id chosen by the application (`"acme-corp"`).
    pub id: String,
    /// The integration it belongs to (`"github"`).
    pub integration: String,
    /// Non-secret parameters from the connection config.
    pub params: Map<String, Value>,
}

impl Connection {
    /// A connection with no parameters.
    pub fn new(id: impl Into<String>, integration: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            integration: integration.into(),
            params: Map::new(),
        }
    }

    /// Add a string parameter.
    pub fn with_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.insert(name.into(), Value::String(value.into()));
        self
    }

    /// A required string parameter.
    ///
    /// # Errors
    /// A config error naming the connection and the missing parameter.
    pub fn param(&self, name: &str) -> Result<&str, SyncError> {
        match self.params.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s),
            Some(_) => Err(SyncError::config(format!(
                "connection {:?}: parameter {name:?} must be a non-empty string",
                self.id
            ))),
            None => Err(SyncError::config(format!(
                "connection {:?}: missing parameter {name:?} in the connection config",
                self.id
            ))),
        }
    }
}

/// A logger whose lines carry the connection and sync, through `tracing`.
///
/// ```
/// let log = sync_sdk::Logger::new("acme", "github", "issues");
/// log.info("skipped 3 pull requests");
/// ```
#[derive(Debug, Clone)]
pub struct Logger {
    connection: Arc<str>,
    integration: Arc<str>,
    sync: Arc<str>,
}

impl Logger {
    /// A logger tagged with `connection`, `integration` and `sync`.
    pub fn new(connection: &str, integration: &str, sync: &str) -> Self {
        Self {
            connection: connection.into(),
            integration: integration.into(),
            sync: sync.into(),
        }
    }

    /// Log at debug level.
    pub fn debug(&self, message: impl fmt::Display) {
        tracing::debug!(connection = %self.connection, integration = %self.integration, sync = %self.sync, "{message}");
    }

    /// Log at info level.
    pub fn info(&self, message: impl fmt::Display) {
        tracing::info!(connection = %self.connection, integration = %self.integration, sync = %self.sync, "{message}");
    }

    /// Log at warn level.
    pub fn warn(&self, message: impl fmt::Display) {
        tracing::warn!(connection = %self.connection, integration = %self.integration, sync = %self.sync, "{message}");
    }

    /// Log at error level.
    pub fn error(&self, message: impl fmt::Display) {
        tracing::error!(connection = %self.connection, integration = %self.integration, sync = %self.sync, "{message}");
    }
}

/// What every hook receives: the provider client (auth, rate limit and retries included),
/// the connection, the connection's typed metadata and a logger. There is no storage handle:
/// hooks return pages and the runtime stores them.
#[derive(Debug)]
pub struct SyncContext<M = ()> {
    http: HttpClient,
    connection: Arc<Connection>,
    metadata: M,
    log: Logger,
}

impl<M> SyncContext<M> {
    /// Assemble a context (the runtime and test harnesses do this).
    pub fn new(http: HttpClient, connection: Arc<Connection>, metadata: M, log: Logger) -> Self {
        Self {
            http,
            connection,
            metadata,
            log,
        }
    }

    /// The provider client.
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// The connection.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// The connection's metadata (customer configuration), typed.
    pub fn metadata(&self) -> &M {
        &self.metadata
    }

    /// The logger.
    pub fn log(&self) -> &Logger {
        &self.log
    }
}
