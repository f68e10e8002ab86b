//! The declarative description of a sync: name, frequency, kind, deletion strategy, limits.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Frequency, SyncError};

/// Whether each run fetches everything or only what changed since the last checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SyncKind {
    /// Every run fetches the whole dataset; the checkpoint is ignored.
    Full,
    /// Runs fetch what changed since the checkpoint of the last completed run.
    Incremental,
}

/// How records deleted at the provider are detected.
///
/// Tombstones ([`crate::SyncFunction::is_deleted`]) and ids a provider reports deleted
/// ([`crate::Page::deleted_ids`]) always work; this strategy adds what the runtime does itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeletionStrategy {
    /// Only tombstones and provider-reported deletes.
    None,
    /// After a *complete* full pass (one that started without a checkpoint), every cached
    /// record the pass did not see is marked deleted. A pass that fails deletes nothing.
    FullRefresh,
}

/// A provider's request quota: `requests` per `per`, with an optional burst.
///
/// ```
/// use std::time::Duration;
/// use sync_sdk::RateLimit;
/// let github = RateLimit::per_hour(5000);
/// assert_eq!(github.per, Duration::from_secs(3600));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RateLimit {
    /// Requests allowed in each window.
    pub requests: u32,
    /// The window.
    #[serde(with = "duration_ms")]
    pub per: Duration,
    /// Requests that may go out back to back before spacing applies (defaults to 1).
    pub burst: Option<u32>,
}

impl RateLimit {
    /// `requests` per `per`.
    pub fn new(requests: u32, per: Duration) -> Self {
        Self {
            requests,
            per,
            burst: None,
        }
    }

    /// `requests` per second.
    pub fn per_second(requests: u32) -> Self {
        Self::new(requests, Duration::from_secs(1))
    }

    /// `requests` per hour.
    pub fn per_hour(requests: u32) -> Self {
        Self::new(requests, Duration::from_secs(3600))
    }

    /// Allow `burst` requests back to back.
    pub fn with_burst(mut self, burst: u32) -> Self {
        self.burst = Some(burst);
        self
    }
}

/// How a provider's rate-limit reset header counts time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResetFormat {
    /// Unix time in seconds when the window resets (GitHub's `X-RateLimit-Reset`).
    EpochSeconds,
    /// Unix time in milliseconds when the window resets.
    EpochMillis,
    /// Seconds to wait from now (IETF `RateLimit-Reset`).
    SecondsToWait,
}

/// The headers a provider uses to announce how much of its quota is left, when they are not
/// the usual `X-RateLimit-Remaining`/`X-RateLimit-Reset` or IETF `RateLimit-Remaining`/
/// `RateLimit-Reset` (which the runtime always reads). When the remaining count reaches 0 the
/// runtime waits until the reset before sending the connection's next request.
///
/// ```
/// use sync_sdk::{RateLimitHeaders, ResetFormat};
/// let hubspot = RateLimitHeaders::new(
///     "x-hubspot-ratelimit-remaining",
///     "x-hubspot-ratelimit-interval-milliseconds",
///     ResetFormat::SecondsToWait,
/// );
/// assert_eq!(hubspot.remaining, "x-hubspot-ratelimit-remaining");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RateLimitHeaders {
    /// Header carrying the requests left in the current window (case-insensitive).
    pub remaining: String,
    /// Header carrying when the window resets (case-insensitive).
    pub reset: String,
    /// How the reset header counts time.
    pub reset_format: ResetFormat,
}

impl RateLimitHeaders {
    /// Remaining count in `remaining`, reset time in `reset` counted as `reset_format`.
    pub fn new(
        remaining: impl Into<String>,
        reset: impl Into<String>,
        reset_format: ResetFormat,
    ) -> Self {
        Self {
            remaining: remaining.into(),
            reset: reset.into(),
            reset_format,
        }
    }
}

mod duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// A model a sync writes, with its JSON Schema (filled in by the runtime from the Rust type).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModelSpec {
    /// The model name (`Model::NAME`).
    pub name: String,
    /// JSON Schema every record is validated against.
    pub schema: serde_json::Value,
}

impl ModelSpec {
    /// A model named `name` whose records must match `schema`.
    pub fn new(name: impl Into<String>, schema: serde_json::Value) -> Self {
        Self {
            name: name.into(),
            schema,
        }
    }
}

/// Everything the runtime needs to know about a sync besides its code.
///
/// Build one with [`SyncSpec::builder`]; `models`, `checkpoint_schema` and `metadata_schema`
/// are filled in from the sync's associated types, so an author never writes a schema.
///
/// ```
/// use sync_sdk::{DeletionStrategy, SyncKind, SyncSpec};
/// let spec = SyncSpec::builder("issues")
///     .description("Issues of one repository")
///     .frequency("every 30 minutes")
///     .kind(SyncKind::Incremental)
///     .deletion(DeletionStrategy::None)
///     .build()
///     .unwrap();
/// assert_eq!(spec.frequency.duration().as_secs(), 1800);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SyncSpec {
    /// Sync name, unique within its integration (`"issues"`).
    pub name: String,
    /// One line shown by `syncfn list`.
    pub description: String,
    /// Version of the sync's code; bump it when records change shape.
    pub version: String,
    /// The models it writes (filled in by the runtime).
    pub models: Vec<ModelSpec>,
    /// How often it runs.
    pub frequency: Frequency,
    /// Whether a new connection's schedule starts running on its own.
    pub auto_start: bool,
    /// Full or incremental.
    pub kind: SyncKind,
    /// What the runtime does to detect deletes.
    pub deletion: DeletionStrategy,
    /// JSON Schema of the connection metadata (customer configuration), if it takes any.
    pub metadata_schema: Option<serde_json::Value>,
    /// JSON Schema of the checkpoint, for incremental syncs.
    pub checkpoint_schema: Option<serde_json::Value>,
    /// The provider's quota, shared by every sync and action of one connection.
    pub rate_limit: Option<RateLimit>,
}

impl SyncSpec {
    /// Start describing a sync named `name`.
    pub fn builder(name: impl Into<String>) -> SyncSpecBuilder {
        SyncSpecBuilder {
            name: name.into(),
            description: String::new(),
            version: "1.0.0".into(),
            frequency: "every 1 hour".into(),
            auto_start: true,
            kind: SyncKind::Full,
            deletion: DeletionStrategy::None,
            rate_limit: None,
        }
    }
}

/// Builder for [`SyncSpec`]; see there for an example.
#[derive(Debug, Clone)]
pub struct SyncSpecBuilder {
    name: String,
    description: String,
    version: String,
    frequency: String,
    auto_start: bool,
    kind: SyncKind,
    deletion: DeletionStrategy,
    rate_limit: Option<RateLimit>,
}

impl SyncSpecBuilder {
    /// One-line description.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }
    /// Code version (default `"1.0.0"`).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }
    /// Frequency text, e.g. `"every 30 minutes"` (default `"every 1 hour"`, minimum 30 s).
    pub fn frequency(mut self, text: impl Into<String>) -> Self {
        self.frequency = text.into();
        self
    }
    /// Whether schedules start on their own (default `true`).
    pub fn auto_start(mut self, auto_start: bool) -> Self {
        self.auto_start = auto_start;
        self
    }
    /// Full (default) or incremental.
    pub fn kind(mut self, kind: SyncKind) -> Self {
        self.kind = kind;
        self
    }
    /// Shorthand for `.kind(SyncKind::Incremental)`.
    pub fn incremental(self) -> Self {
        self.kind(SyncKind::Incremental)
    }
    /// Deletion strategy (default [`DeletionStrategy::None`]).
    pub fn deletion(mut self, deletion: DeletionStrategy) -> Self {
        self.deletion = deletion;
        self
    }
    /// The provider's quota.
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = Some(limit);
        self
    }

    /// Validate and build.
    ///
    /// # Errors
    /// A config error when the name is empty or not `[a-z0-9_-]`, or the frequency does not
    /// parse or is under 30 seconds.
    pub fn build(self) -> Result<SyncSpec, SyncError> {
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        {
            return Err(SyncError::config(format!(
                "sync name {:?} must be non-empty and use only a-z, 0-9, '_' and '-'",
                self.name
            )));
        }
        let frequency: Frequency = self
            .frequency
            .parse()
            .map_err(|e: SyncError| e.context(format!("sync {:?}", self.name)))?;
        if let Some(limit) = &self.rate_limit
            && (limit.requests == 0 || limit.per.is_zero())
        {
            return Err(SyncError::config(format!(
                "sync {:?}: rate limit must allow at least one request per non-zero window",
                self.name
            )));
        }
        Ok(SyncSpec {
            name: self.name,
            description: self.description,
            version: self.version,
            models: Vec::new(),
            frequency,
            auto_start: self.auto_start,
            kind: self.kind,
            deletion: self.deletion,
            metadata_schema: None,
            checkpoint_schema: None,
            rate_limit: self.rate_limit,
        })
    }
}
