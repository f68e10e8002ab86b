//! The records cache and run state, behind one [`Store`] trait so SQLite (embedded default)
//! and PostgreSQL (shared by several workers) are interchangeable.
//!
//! Every write a run makes goes through [`Store::commit_page`]: records, deletes, the page
//! cursor, the checkpoint and the run's counters commit in ONE transaction, and the last page
//! of a pass also completes the run (full-refresh diff, checkpoint promotion) in that same
//! transaction. A crash therefore loses at most the page in flight.

mod checkpointer;
mod record_json;
mod service;
mod sqlite;
mod sqlite_service;
mod time_fmt;

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sync_sdk::{DeletionStrategy, SyncKind};

pub use service::{ClaimedTrigger, OutboxMessage, Schedule, now_unix_ms};
pub use sqlite::SqliteStore;
pub use time_fmt::{format_timestamp, now_timestamp, parse_timestamp};

/// Identifies one sync of one connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SyncKey {
    /// Connection id.
    pub connection_id: String,
    /// Integration name.
    pub integration: String,
    /// Sync name.
    pub sync: String,
}

impl SyncKey {
    /// A key.
    pub fn new(connection_id: &str, integration: &str, sync: &str) -> Self {
        Self {
            connection_id: connection_id.into(),
            integration: integration.into(),
            sync: sync.into(),
        }
    }
}

impl fmt::Display for SyncKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} for connection {:?}",
            self.integration, self.sync, self.connection_id
        )
    }
}

/// Storage failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be opened or migrated.
    #[error("cannot open the records store at {path}: {message}")]
    Open {
        /// Path or URL.
        path: String,
        /// Why.
        message: String,
    },
    /// A query failed.
    #[error("records store: {0}")]
    Database(String),
    /// A caller passed something invalid (a malformed cursor, an unknown run).
    #[error("{0}")]
    Invalid(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

/// Where a run starts: a fresh pass or the resume point of an interrupted one.
#[derive(Debug, Clone, PartialEq)]
pub struct RunStart {
    /// The new run's id.
    pub run_id: i64,
    /// The pass this run belongs to (the id of the run that started it).
    pub pass_id: i64,
    /// The incremental filter: the checkpoint of the last completed pass (`None` for a full pass).
    pub filter: Option<Value>,
    /// The checkpoint committed so far in this pass (equals `filter` on a fresh pass).
    pub checkpoint: Option<Value>,
    /// The page cursor to resume at (`None` = first page).
    pub cursor: Option<String>,
    /// Pages already committed in this pass.
    pub pages_done: u64,
    /// Whether this run resumes an interrupted or failed pass.
    pub resumed: bool,
}

/// How a run should start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartOptions {
    /// Full or incremental (a full sync never gets a filter).
    pub kind: SyncKind,
    /// Forget the checkpoint and any interrupted pass: run a full pass from the first page.
    pub reset: bool,
}

/// A record ready to store: id, canonical JSON and its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedRecord {
    /// Record id (non-empty).
    pub id: String,
    /// Canonical JSON bytes.
    pub json: Vec<u8>,
    /// Hash of `json`.
    pub hash: u64,
    /// A tombstone: mark the record deleted.
    pub tombstone: bool,
}

/// What happens to the pass when this page commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageEnd {
    /// More pages follow.
    More,
    /// This was the last page: complete the run and pass in the same transaction.
    Last {
        /// The deletion strategy; a full-refresh diff runs if the pass started without a filter.
        deletion: DeletionStrategy,
    },
}

/// One page's worth of writes.
#[derive(Debug, Clone)]
pub struct PageWrite {
    /// The run writing it.
    pub run_id: i64,
    /// Model the records belong to.
    pub model: String,
    /// Records.
    pub records: Vec<PreparedRecord>,
    /// Ids the provider reported deleted.
    pub deleted_ids: Vec<String>,
    /// Cursor of the next page (stored as the resume point).
    pub next_cursor: Option<String>,
    /// The checkpoint after this page.
    pub checkpoint: Option<Value>,
    /// Record ids this pass saw, for a full-refresh diff.
    pub track_seen: bool,
    /// Provider requests made by the run so far.
    pub requests: u64,
    /// Whether the pass ends here.
    pub end: PageEnd,
}

/// Changes a page (or a run) made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeCounts {
    /// Records new to the cache (or reappearing after a delete).
    pub added: u64,
    /// Records whose content changed.
    pub updated: u64,
    /// Records marked deleted.
    pub deleted: u64,
    /// Records fetched but unchanged (not written).
    pub unchanged: u64,
}

impl ChangeCounts {
    /// Add `other` into `self`.
    pub fn add(&mut self, other: ChangeCounts) {
        self.added += other.added;
        self.updated += other.updated;
        self.deleted += other.deleted;
        self.unchanged += other.unchanged;
    }

    /// Added + updated + deleted.
    pub fn changes(&self) -> u64 {
        self.added + self.updated + self.deleted
    }
}

/// The change a record last went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LastAction {
    /// First seen (or seen again after a delete).
    Added,
    /// Content changed.
    Updated,
    /// Deleted at the provider.
    Deleted,
}

impl LastAction {
    /// `"ADDED"` / `"UPDATED"` / `"DELETED"`.
    pub fn as_str(self) -> &'static str {
        match self {
            LastAction::Added => "ADDED",
            LastAction::Updated => "UPDATED",
            LastAction::Deleted => "DELETED",
        }
    }

    /// Parse, case-insensitively.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "ADDED" => Some(LastAction::Added),
            "UPDATED" => Some(LastAction::Updated),
            "DELETED" => Some(LastAction::Deleted),
            _ => None,
        }
    }
}

/// A record's `_metadata`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordMetadata {
    /// When the cache first saw it.
    pub first_seen_at: String,
    /// When it last changed in the cache.
    pub last_modified_at: String,
    /// Its last change.
    pub last_action: LastAction,
    /// When it was deleted, if it is.
    pub deleted_at: Option<String>,
    /// Opaque cursor of its last change; strictly increasing per (connection, model).
    pub cursor: String,
}

/// A stored record with its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    /// Id.
    pub id: String,
    /// The record's JSON.
    pub data: Value,
    /// `_metadata`.
    pub metadata: RecordMetadata,
}

impl StoredRecord {
    /// The record as the records API returns it: its fields plus `_metadata`.
    pub fn to_json(&self) -> Value {
        let mut value = self.data.clone();
        if let Value::Object(map) = &mut value {
            map.insert(
                "_metadata".into(),
                serde_json::to_value(&self.metadata).unwrap_or(Value::Null),
            );
            value
        } else {
            serde_json::json!({"_value": value, "_metadata": self.metadata})
        }
    }
}

/// A records listing request.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordQuery {
    /// Connection id.
    pub connection_id: String,
    /// Model name.
    pub model: String,
    /// Return changes after this cursor (exclusive); `None` = from the start.
    pub cursor: Option<String>,
    /// At most this many (1..=10,000).
    pub limit: usize,
    /// Only these last actions (empty = all).
    pub actions: Vec<LastAction>,
    /// Only records modified at or after this timestamp (any RFC 3339 form; anything else is
    /// [`StoreError::Invalid`]).
    pub modified_after: Option<String>,
    /// Only these ids (empty = all).
    pub ids: Vec<String>,
}

impl RecordQuery {
    /// All records of `model` for `connection_id`, 100 at a time.
    pub fn new(connection_id: &str, model: &str) -> Self {
        Self {
            connection_id: connection_id.into(),
            model: model.into(),
            cursor: None,
            limit: 100,
            actions: Vec::new(),
            modified_after: None,
            ids: Vec::new(),
        }
    }
}

/// Largest `limit` a listing accepts.
pub const MAX_LIST_LIMIT: usize = 10_000;

/// A page of records in cursor order.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordPage {
    /// Records.
    pub records: Vec<StoredRecord>,
    /// Pass this back to continue; `None` when nothing more was there.
    pub next_cursor: Option<String>,
}

/// A page of records already written as the records API's JSON, in one buffer.
///
/// Each record is its fields plus `_metadata`, byte for byte
/// `serde_json::to_vec(&record.to_json())` of the matching [`StoredRecord`]; records are joined
/// by the separator the caller chose (no separator after the last one) and appended to the
/// buffer the caller passed in, after whatever it already held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordsJson {
    /// The caller's buffer with the records' JSON appended, joined by the separator.
    pub json: Vec<u8>,
    /// How many records `json` holds.
    pub count: usize,
    /// Pass this back to continue; `None` when nothing more was there.
    pub next_cursor: Option<String>,
}

/// A run's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RunStatus {
    /// In progress.
    Running,
    /// Completed its pass.
    Success,
    /// Stopped on an error; the next run resumes the pass.
    Failed,
    /// The process died or was stopped mid-run; the next run resumes the pass.
    Interrupted,
    /// Stopped cleanly after a committed page (time budget or shutdown); resumes next run.
    Stopped,
}

impl RunStatus {
    /// Upper-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "RUNNING",
            RunStatus::Success => "SUCCESS",
            RunStatus::Failed => "FAILED",
            RunStatus::Interrupted => "INTERRUPTED",
            RunStatus::Stopped => "STOPPED",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "RUNNING" => RunStatus::Running,
            "SUCCESS" => RunStatus::Success,
            "FAILED" => RunStatus::Failed,
            "STOPPED" => RunStatus::Stopped,
            _ => RunStatus::Interrupted,
        }
    }
}

/// Request statistics a run reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestStats {
    /// Provider requests sent (retries included).
    pub requests: u64,
    /// Retries.
    pub retries: u64,
    /// 429 answers received.
    pub rate_limited: u64,
    /// Milliseconds spent waiting on rate limits and backoff.
    pub wait_ms: u64,
}

/// A row of run history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Run id.
    pub run_id: i64,
    /// Pass id.
    pub pass_id: i64,
    /// Connection.
    pub connection_id: String,
    /// Integration.
    pub integration: String,
    /// Sync.
    pub sync: String,
    /// Status.
    pub status: RunStatus,
    /// Whether it resumed an earlier pass.
    pub resumed: bool,
    /// Start time.
    pub started_at: String,
    /// End time.
    pub ended_at: Option<String>,
    /// Pages committed.
    pub pages: u64,
    /// Changes.
    pub counts: ChangeCounts,
    /// Requests.
    pub stats: RequestStats,
    /// Error message when it failed.
    pub error: Option<String>,
}

/// How a run that did not complete ends.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEnd {
    /// Failed with this message (classified kind first, e.g. `"data error: page 3: …"`).
    Failed(String),
    /// Stopped cleanly after its last committed page.
    Stopped,
}

/// A connection as stored: its integration, non-secret config and metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredConnection {
    /// Id.
    pub connection_id: String,
    /// Integration.
    pub integration: String,
    /// Non-secret config (base URL, params).
    pub config: Value,
    /// Metadata.
    pub metadata: Value,
}

/// The records cache and run state.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Start a run of `key`: mark runs the process lost as INTERRUPTED, then resume the
    /// interrupted pass or begin a new one.
    async fn start_run(&self, key: &SyncKey, options: StartOptions)
    -> Result<RunStart, StoreError>;

    /// Commit one page in one transaction; see [`PageWrite`].
    async fn commit_page(&self, key: &SyncKey, page: PageWrite)
    -> Result<ChangeCounts, StoreError>;

    /// Commit several consecutive pages of one run, in order. Stores that can put them in one
    /// transaction do (the default commits them one by one); either way each page's records,
    /// cursor and checkpoint commit together, and a failure leaves the earlier pages of the
    /// group committed or not as a whole transaction would.
    async fn commit_pages(
        &self,
        key: &SyncKey,
        pages: Vec<PageWrite>,
    ) -> Result<Vec<ChangeCounts>, StoreError> {
        let mut counts = Vec::with_capacity(pages.len());
        for page in pages {
            counts.push(self.commit_page(key, page).await?);
        }
        Ok(counts)
    }

    /// End a run that did not complete its pass. Nothing committed is undone and nothing is
    /// deleted; the pass resumes on the next run.
    async fn end_run(
        &self,
        key: &SyncKey,
        run_id: i64,
        end: RunEnd,
        stats: RequestStats,
    ) -> Result<(), StoreError>;

    /// Record a run's final request statistics (after it completed).
    async fn record_stats(&self, run_id: i64, stats: RequestStats) -> Result<(), StoreError>;

    /// List records after a cursor.
    async fn list_records(&self, query: &RecordQuery) -> Result<RecordPage, StoreError>;

    /// The same listing as [`list_records`](Self::list_records), written as JSON: each
    /// record's records-API form, joined by `separator` (`b','` for a JSON array, `b'\n'` for
    /// JSON lines; canonical JSON never holds a raw newline), appended to `buffer` so a caller
    /// can write its own prefix first and send the whole body without another copy.
    ///
    /// The default serialises [`StoredRecord::to_json`]; a store that keeps canonical JSON
    /// overrides it to splice `_metadata` into the stored bytes without parsing them.
    async fn list_records_json(
        &self,
        query: &RecordQuery,
        separator: u8,
        buffer: Vec<u8>,
    ) -> Result<RecordsJson, StoreError> {
        let page = self.list_records(query).await?;
        let mut json = buffer;
        for (i, record) in page.records.iter().enumerate() {
            if i > 0 {
                json.push(separator);
            }
            serde_json::to_writer(&mut json, &record.to_json()).map_err(|e| {
                StoreError::Database(format!("cannot write record {}: {e}", record.id))
            })?;
        }
        Ok(RecordsJson {
            json,
            count: page.records.len(),
            next_cursor: page.next_cursor,
        })
    }

    /// Run history, newest first; filtered by connection when given.
    async fn list_runs(
        &self,
        connection_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RunRecord>, StoreError>;

    /// One run.
    async fn get_run(&self, run_id: i64) -> Result<Option<RunRecord>, StoreError>;

    /// The checkpoint of the last completed pass.
    async fn checkpoint(&self, key: &SyncKey) -> Result<Option<Value>, StoreError>;

    /// Number of non-deleted records of a model.
    async fn count_records(&self, connection_id: &str, model: &str) -> Result<u64, StoreError>;

    /// Save a connection.
    async fn put_connection(&self, connection: &StoredConnection) -> Result<(), StoreError>;

    /// A saved connection.
    async fn get_connection(
        &self,
        connection_id: &str,
    ) -> Result<Option<StoredConnection>, StoreError>;

    // ----- service mode: connections, credentials, schedules, outbox -----

    /// Queue a webhook in the outbox in the same transaction that ends each run (the last
    /// page's commit, or [`end_run`](Self::end_run)). Off by default.
    fn set_webhooks_enabled(&self, enabled: bool);

    /// Every saved connection, by id.
    async fn list_connections(&self) -> Result<Vec<StoredConnection>, StoreError>;

    /// Remove a connection with its records, sync state, schedules and credentials. Run
    /// history stays. Returns whether it existed.
    async fn delete_connection(&self, connection_id: &str) -> Result<bool, StoreError>;

    /// Save a connection's sealed (encrypted) credentials.
    async fn put_credentials(&self, connection_id: &str, sealed: &[u8]) -> Result<(), StoreError>;

    /// A connection's sealed credentials.
    async fn get_credentials(&self, connection_id: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Create or replace a schedule.
    async fn put_schedule(&self, schedule: &Schedule) -> Result<(), StoreError>;

    /// Schedules, of one connection or all.
    async fn list_schedules(
        &self,
        connection_id: Option<&str>,
    ) -> Result<Vec<Schedule>, StoreError>;

    /// Schedules that should run at `now_ms`: a pending request, or unpaused and due.
    async fn due_schedules(&self, now_ms: i64) -> Result<Vec<Schedule>, StoreError>;

    /// Pause or resume a schedule; returns whether it exists.
    async fn set_paused(
        &self,
        key: &SyncKey,
        paused: bool,
        next_run_at_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Set when a schedule next ticks.
    async fn set_next_run(&self, key: &SyncKey, next_run_at_ms: i64) -> Result<(), StoreError>;

    /// Ask for one run as soon as possible (flags OR into a pending request, so two quick
    /// requests make one run); returns whether the schedule exists.
    async fn request_trigger(
        &self,
        key: &SyncKey,
        reset: bool,
        empty_cache: bool,
    ) -> Result<bool, StoreError>;

    /// Take the pending run request, if any, clearing it atomically.
    async fn claim_trigger(&self, key: &SyncKey) -> Result<Option<ClaimedTrigger>, StoreError>;

    /// Drop the cached records of a model (its cursor counter keeps increasing afterwards).
    async fn empty_cache(&self, connection_id: &str, model: &str) -> Result<u64, StoreError>;

    /// The newest run of a sync.
    async fn last_run(&self, key: &SyncKey) -> Result<Option<RunRecord>, StoreError>;

    /// Undelivered webhooks due at `now_ms`, oldest first.
    async fn due_webhooks(
        &self,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<OutboxMessage>, StoreError>;

    /// Record a delivery attempt: delivered, or retry at `next_attempt_at_ms`.
    async fn webhook_attempted(
        &self,
        id: i64,
        delivered: bool,
        next_attempt_at_ms: i64,
        error: Option<String>,
    ) -> Result<(), StoreError>;
}
