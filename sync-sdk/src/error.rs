//! Typed, classified errors returned by sync hooks and the provider client.

use std::fmt;

/// What kind of failure a [`SyncError`] is; the runtime decides from it whether to retry,
/// refresh credentials or stop the run.
///
/// ```
/// use sync_sdk::ErrorKind;
/// assert!(ErrorKind::RateLimit.is_retryable());
/// assert!(!ErrorKind::Config.is_retryable());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// Bad configuration: a malformed connection config, spec or request (a 4xx from the provider).
    Config,
    /// Credentials were rejected or could not be refreshed.
    Auth,
    /// The provider's rate limit was hit and retries were exhausted.
    RateLimit,
    /// A failure that may succeed when retried: connection reset, timeout, 5xx.
    Transient,
    /// The provider answered with something it should not have (an unexpected status).
    Provider,
    /// The provider's data is unusable: not JSON, a record without an id, a schema violation.
    Data,
    /// A bug or a storage failure inside syncfn itself.
    Internal,
}

impl ErrorKind {
    /// Whether an operation that failed this way may succeed if tried again.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorKind::RateLimit | ErrorKind::Transient)
    }

    /// The lowercase name used in messages and stored run history.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Config => "config",
            ErrorKind::Auth => "auth",
            ErrorKind::RateLimit => "rate_limit",
            ErrorKind::Transient => "transient",
            ErrorKind::Provider => "provider",
            ErrorKind::Data => "data",
            ErrorKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error every sync hook and provider request returns.
///
/// It carries a [`ErrorKind`] and a message that names *what* failed and *where*
/// (page, record, URL). Context is prepended as the error travels up:
///
/// ```
/// use sync_sdk::{ErrorKind, SyncError};
/// let err = SyncError::data("record 3 has no id").context("page 2");
/// assert_eq!(err.kind(), ErrorKind::Data);
/// assert_eq!(err.to_string(), "data error: page 2: record 3 has no id");
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{kind} error: {message}")]
pub struct SyncError {
    kind: ErrorKind,
    message: String,
    /// HTTP status of the provider response that caused it, if any.
    status: Option<u16>,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl SyncError {
    /// A new error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            status: None,
            source: None,
        }
    }

    /// A [`ErrorKind::Config`] error.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    /// A [`ErrorKind::Auth`] error.
    pub fn auth(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Auth, message)
    }

    /// A [`ErrorKind::Transient`] error.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Transient, message)
    }

    /// A [`ErrorKind::Provider`] error.
    pub fn provider(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Provider, message)
    }

    /// A [`ErrorKind::Data`] error.
    pub fn data(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Data, message)
    }

    /// A [`ErrorKind::Internal`] error.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// Attach the HTTP status of the provider response that caused this error.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Attach the underlying error.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Prefix the message with where it happened (`"page 3"`, `"GET /issues"`).
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }

    /// The classification.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message without the kind prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The provider's HTTP status, when the error came from a response.
    pub fn status(&self) -> Option<u16> {
        self.status
    }
}

/// Shorthand for `Result<T, SyncError>`.
pub type SyncResult<T> = Result<T, SyncError>;
