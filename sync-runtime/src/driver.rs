//! The page loop. For each page: fetch and parse → serialize, validate and hash → commit
//! records, page cursor and checkpoint in one transaction. Three stages run at once, each on
//! its own task: the fetch stage sends the next request as soon as a page is parsed, the
//! prepare stage turns the page before into canonical bytes, and the commit stage writes the
//! pages before that (at most `PAGES_AHEAD` wait for it, and `RECORDS_WAITING` records in
//! all). Pages already waiting commit together in one transaction, each with its own cursor and
//! checkpoint, in order.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use sync_sdk::{
    Connection, ContextParts, DeletionStrategy, ErasedPage, ErasedRequest, ErasedSync, ErrorKind,
    FetchedPage, HttpClient, Logger, RecordJson, SyncError, SyncSpec,
};
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use crate::canonical::{canonical_bytes, hash};
use crate::connection::Credentials;
use crate::http::{
    Authenticator, CredentialSink, HttpOptions, MemoryCredentialSink, ProviderLimits,
    ReqwestTransport, RunCounters,
};
use crate::store::{
    ChangeCounts, PageEnd, PageWrite, PreparedRecord, RequestStats, RunEnd, RunStatus,
    StartOptions, Store, StoreError, SyncKey,
};
use crate::validate::RecordValidator;

/// Prepared pages that may wait for the commit stage (bounds memory: at most this many pages
/// plus the one being fetched and the group committing).
const PAGES_AHEAD: usize = 3;
/// Fetched pages that may wait for the prepare stage.
const FETCHED_AHEAD: usize = 1;
/// Records that may wait for the commit stage before the next page is fetched (bounds memory
/// when pages are big: at page size 1,000 one page waits while another commits).
const RECORDS_WAITING: usize = 1_000;
/// Most pages one group commit takes.
const MAX_GROUP_PAGES: u64 = 4;
/// A group commit stops adding pages past this many records.
const MAX_GROUP_RECORDS: usize = 1_000;

/// Everything needed to run one sync for one connection.
#[derive(Debug, Clone)]
pub struct SyncTarget {
    /// Connection, integration and sync names.
    pub key: SyncKey,
    /// The sync.
    pub sync: Arc<dyn ErasedSync>,
    /// The connection as the sync sees it.
    pub connection: Arc<Connection>,
    /// Base URL requests are resolved against.
    pub base_url: String,
    /// Credentials the transport injects.
    pub credentials: Credentials,
    /// Connection metadata.
    pub metadata: Value,
    /// Rate limit, provider headers and retry policy for the connection's requests.
    pub http: HttpOptions,
}

impl SyncTarget {
    /// `sync` of `connection` against `base_url`, with no credentials, no metadata and default
    /// HTTP options; adjust with the `with_*` methods.
    pub fn new(
        sync: Arc<dyn ErasedSync>,
        connection: Connection,
        base_url: impl Into<String>,
    ) -> Self {
        Self {
            key: SyncKey::new(&connection.id, &connection.integration, &sync.spec().name),
            sync,
            connection: Arc::new(connection),
            base_url: base_url.into(),
            credentials: Credentials::None,
            metadata: Value::Null,
            http: HttpOptions::default(),
        }
    }

    /// Authenticate with `credentials`.
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = credentials;
        self
    }

    /// The connection's metadata.
    pub fn with_metadata(mut self, metadata: Value) -> Self {
        self.metadata = metadata;
        self
    }

    /// Rate limit, provider headers and retry policy.
    pub fn with_http(mut self, http: HttpOptions) -> Self {
        self.http = http;
        self
    }
}

/// Progress after each committed page.
#[derive(Debug, Clone, Copy)]
pub struct PageProgress {
    /// 1-based page number within the pass.
    pub page: u64,
    /// Records on the page.
    pub records: u64,
    /// Changes so far in this run.
    pub total: ChangeCounts,
}

/// Receives progress (the CLI's progress bar).
pub trait Progress: Send + Sync {
    /// Called after each page commits.
    fn on_page(&self, progress: &PageProgress);
}

/// Options for one run.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Forget the checkpoint and any interrupted pass; run a full pass.
    pub reset: bool,
    /// Stop cleanly after the first page that commits past this budget (status STOPPED; the
    /// pass continues on the next run).
    pub max_duration: Option<Duration>,
    /// Stop after this many pages in this run (status STOPPED).
    pub max_pages: Option<u64>,
    /// Set to stop after the page in flight commits (graceful shutdown).
    pub stop: Option<Arc<AtomicBool>>,
    /// Progress sink.
    pub progress: Option<Arc<dyn Progress>>,
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("reset", &self.reset)
            .field("max_duration", &self.max_duration)
            .field("max_pages", &self.max_pages)
            .finish_non_exhaustive()
    }
}

/// The outcome of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// Run id.
    pub run_id: i64,
    /// How it ended.
    pub status: RunStatus,
    /// Whether it resumed an interrupted pass.
    pub resumed: bool,
    /// Pages committed by this run.
    pub pages: u64,
    /// Changes this run committed.
    pub counts: ChangeCounts,
    /// Provider requests.
    pub stats: RequestStats,
    /// The error, for a failed run.
    pub error: Option<String>,
    /// Its classification.
    pub error_kind: Option<ErrorKind>,
    /// Wall time.
    pub elapsed: Duration,
}

/// Runs syncs against a store.
#[derive(Clone)]
pub struct Driver {
    store: Arc<dyn Store>,
    client: reqwest::Client,
    limits: Arc<ProviderLimits>,
    sink: Arc<dyn CredentialSink>,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver").finish_non_exhaustive()
    }
}

struct PreparedPage {
    /// Its share of the records-in-flight budget, returned when the commit stage takes it.
    budget: Option<OwnedSemaphorePermit>,
    number: u64,
    records: Vec<PreparedRecord>,
    deleted_ids: Vec<String>,
    next_cursor: Option<String>,
    checkpoint: Option<Value>,
}

/// Validate, canonicalize and hash a fetched page; errors name the page and the record.
fn prepare(
    page: ErasedPage,
    validator: &RecordValidator,
    number: u64,
) -> Result<PreparedPage, SyncError> {
    let mut records = Vec::with_capacity(page.records.len());
    for (i, record) in page.records.into_iter().enumerate() {
        if record.id.is_empty() {
            return Err(SyncError::data(format!(
                "page {number}: record {i} has no id"
            )));
        }
        let invalid = |message: String| {
            SyncError::data(format!(
                "page {number}: record {i} (id {:?}) {message}",
                record.id
            ))
        };
        let json = match record.json {
            // A typed record whose schema only restates its Rust type is valid by construction
            // and its serialization is already deterministic: store it as it is.
            RecordJson::Serialized(bytes) if validator.enforced_by_type() => bytes,
            RecordJson::Serialized(ref bytes) => {
                let value: Value = serde_json::from_slice(bytes)
                    .map_err(|e| invalid(format!("serialized to invalid JSON: {e}")))?;
                validator.check(&value).map_err(invalid)?;
                canonical_bytes(&value)
            }
            RecordJson::Value(ref value) => {
                validator.check(value).map_err(invalid)?;
                canonical_bytes(value)
            }
        };
        records.push(PreparedRecord {
            hash: hash(&json),
            id: record.id,
            json,
            tombstone: record.deleted,
        });
    }
    Ok(PreparedPage {
        budget: None,
        number,
        records,
        deleted_ids: page.deleted_ids,
        next_cursor: page.next_cursor,
        checkpoint: page.checkpoint,
    })
}

impl Driver {
    /// A driver writing to `store`, sending requests with `client`, with its own rate-limit
    /// registry and an in-memory credential sink.
    pub fn new(store: Arc<dyn Store>, client: reqwest::Client) -> Self {
        Self {
            store,
            client,
            limits: Arc::new(ProviderLimits::new()),
            sink: Arc::new(MemoryCredentialSink::default()),
        }
    }

    /// Share `limits` (one limiter per connection in the process) with other drivers.
    pub fn with_limits(mut self, limits: Arc<ProviderLimits>) -> Self {
        self.limits = limits;
        self
    }

    /// Hand refreshed OAuth2 tokens to `sink`.
    pub fn with_credential_sink(mut self, sink: Arc<dyn CredentialSink>) -> Self {
        self.sink = sink;
        self
    }

    /// The rate-limit registry.
    pub fn limits(&self) -> &Arc<ProviderLimits> {
        &self.limits
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Run `target` once: resume its interrupted pass or start a new one, and go until the
    /// pass completes, a page fails, or a stop condition in `options` holds.
    ///
    /// A failure of the sync (provider, data, auth…) is reported in the [`RunReport`] with
    /// everything committed before it kept; only a storage failure is an `Err`.
    ///
    /// # Errors
    /// The store failed.
    pub async fn run(
        &self,
        target: &SyncTarget,
        options: RunOptions,
    ) -> Result<RunReport, StoreError> {
        let began = Instant::now();
        let spec: SyncSpec = target.sync.spec();
        let key = &target.key;
        let start = self
            .store
            .start_run(
                key,
                StartOptions {
                    kind: spec.kind,
                    reset: options.reset,
                },
            )
            .await?;
        let counters = Arc::new(RunCounters::default());
        let mut report = RunReport {
            run_id: start.run_id,
            status: RunStatus::Running,
            resumed: start.resumed,
            pages: 0,
            counts: ChangeCounts::default(),
            stats: RequestStats::default(),
            error: None,
            error_kind: None,
            elapsed: Duration::ZERO,
        };
        let fail = |report: &mut RunReport, error: SyncError| {
            report.status = RunStatus::Failed;
            report.error_kind = Some(error.kind());
            report.error = Some(error.to_string());
        };

        let setup = (|| {
            let model = spec.models.first().ok_or_else(|| {
                SyncError::config(format!("sync {:?} declares no model", spec.name))
            })?;
            let validator =
                RecordValidator::new(&model.name, &model.schema).map_err(SyncError::config)?;
            let limiter = self.limits.limiter(
                &key.integration,
                &key.connection_id,
                if target.http.unlimited {
                    None
                } else {
                    target.http.rate_limit.or(spec.rate_limit)
                },
            )?;
            let auth = Authenticator::new(
                self.client.clone(),
                target.credentials.clone(),
                self.sink.clone(),
                &key.integration,
                &key.connection_id,
            );
            let transport =
                ReqwestTransport::new(self.client.clone(), auth, limiter, counters.clone())
                    .with_retry(target.http.retry)
                    .with_rate_limit_headers(target.http.rate_limit_headers.clone());
            let http = HttpClient::new(Arc::new(transport), target.base_url.clone());
            let log = Logger::new(&key.connection_id, &key.integration, &key.sync);
            let parts = ContextParts::new(
                http,
                target.connection.clone(),
                target.metadata.clone(),
                log,
            );
            let runner = target.sync.clone().start(parts)?;
            Ok::<_, SyncError>((model.name.clone(), validator, runner))
        })();
        let (model, validator, runner) = match setup {
            Ok(parts) => parts,
            Err(error) => {
                fail(&mut report, error);
                self.store
                    .end_run(
                        key,
                        start.run_id,
                        RunEnd::Failed(report.error.clone().unwrap_or_default()),
                        counters.snapshot(),
                    )
                    .await?;
                report.elapsed = began.elapsed();
                return Ok(report);
            }
        };

        // Fetch stage: fetch and advance the checkpoint, then hand the page on so the next
        // request goes out while it is serialized, validated and hashed (prepare stage) and
        // earlier pages commit. Every stage keeps page order; an error travels behind the
        // pages before it.
        let (tx, mut rx) = mpsc::channel::<Result<PreparedPage, SyncError>>(PAGES_AHEAD);
        let (fetched_tx, mut fetched_rx) = mpsc::channel::<
            Result<(u64, FetchedPage, OwnedSemaphorePermit), SyncError>,
        >(FETCHED_AHEAD);
        let filter = start.filter.clone();
        let mut cursor = start.cursor.clone();
        let mut checkpoint = start.checkpoint.clone();
        let first_page = start.pages_done + 1;
        let budget = Arc::new(tokio::sync::Semaphore::new(RECORDS_WAITING));
        let fetcher = tokio::spawn(async move {
            let mut seen_cursors: HashSet<u64> = HashSet::new();
            // The next page is fetched only once the records waiting for the commit stage
            // leave room for a page like the last one: with big pages one waits, not three.
            let mut last_len: usize = 1;
            if let Some(c) = &cursor {
                seen_cursors.insert(hash(c.as_bytes()));
            }
            let mut number = first_page;
            loop {
                let Ok(permit) = budget
                    .clone()
                    .acquire_many_owned(last_len.clamp(1, RECORDS_WAITING) as u32)
                    .await
                else {
                    return;
                };
                let request = ErasedRequest::new(
                    filter.as_ref(),
                    cursor.as_deref(),
                    checkpoint.as_ref(),
                    number - 1,
                );
                let page = match runner.fetch(request).await {
                    Ok(page) => page,
                    Err(e) => {
                        let _ = fetched_tx
                            .send(Err(e.context(format!("page {number}"))))
                            .await;
                        return;
                    }
                };
                last_len = page.len();
                let next = page.next_cursor().map(str::to_owned);
                checkpoint = page.checkpoint().cloned();
                if let Some(next) = &next
                    && !seen_cursors.insert(hash(next.as_bytes()))
                {
                    let _ = fetched_tx
                        .send(Err(SyncError::provider(format!(
                            "page {number}: the provider returned cursor {next:?} a second time in this pass; \
                             stopping instead of looping"
                        ))))
                        .await;
                    return;
                }
                if fetched_tx.send(Ok((number, page, permit))).await.is_err() {
                    return;
                }
                match next {
                    Some(next) => cursor = Some(next),
                    None => return,
                }
                number += 1;
            }
        });
        let preparer = tokio::spawn(async move {
            while let Some(message) = fetched_rx.recv().await {
                let result = message.and_then(|(number, page, permit)| {
                    let page = page
                        .into_page()
                        .map_err(|e| e.context(format!("page {number}")))?;
                    let mut prepared = prepare(page, &validator, number)?;
                    prepared.budget = Some(permit);
                    Ok(prepared)
                });
                let failed = result.is_err();
                if tx.send(result).await.is_err() || failed {
                    return;
                }
            }
        });

        let deletion = spec.deletion;
        // Where the run's time goes: waiting for the fetch stage vs committing.
        let (mut waited_for_pages, mut committing) = (Duration::ZERO, Duration::ZERO);
        let mut waiting_since = Instant::now();
        let track_seen = deletion == DeletionStrategy::FullRefresh && start.filter.is_none();
        let to_write = |page: PreparedPage| {
            let end = if page.next_cursor.is_none() {
                PageEnd::Last { deletion }
            } else {
                PageEnd::More
            };
            (
                page.number,
                page.records.len() as u64,
                PageWrite {
                    run_id: start.run_id,
                    model: model.clone(),
                    records: page.records,
                    deleted_ids: page.deleted_ids,
                    next_cursor: page.next_cursor,
                    checkpoint: page.checkpoint,
                    track_seen,
                    requests: counters.snapshot().requests,
                    end,
                },
            )
        };
        // An error the fetch stage reported behind pages still to commit.
        let mut pending_error: Option<SyncError> = None;
        'pages: while let Some(message) = rx.recv().await {
            waited_for_pages += waiting_since.elapsed();
            let first = match message {
                Ok(page) => page,
                Err(error) => {
                    fail(&mut report, error);
                    break;
                }
            };
            // Group commit: when the fetch stage is ahead, the pages already waiting commit in
            // the same transaction (each with its own records, cursor and checkpoint, in
            // order), saving a transaction per page. Never past a stop condition.
            let room = options.max_pages.map_or(MAX_GROUP_PAGES, |n| {
                n.saturating_sub(report.pages).clamp(1, MAX_GROUP_PAGES)
            });
            let mut batch = vec![to_write(first)];
            let mut batch_records: usize = batch[0].2.records.len();
            while (batch.len() as u64) < room
                && batch_records < MAX_GROUP_RECORDS
                && matches!(batch.last().map(|b| b.2.end), Some(PageEnd::More))
            {
                match rx.try_recv() {
                    Ok(Ok(page)) => {
                        batch_records += page.records.len();
                        batch.push(to_write(page));
                    }
                    Ok(Err(error)) => {
                        pending_error = Some(error);
                        break;
                    }
                    Err(_) => break,
                }
            }
            let summaries: Vec<(u64, u64, PageEnd)> =
                batch.iter().map(|(n, r, w)| (*n, *r, w.end)).collect();
            let writes: Vec<PageWrite> = batch.into_iter().map(|(_, _, w)| w).collect();
            let commit_started = Instant::now();
            let committed = self.store.commit_pages(key, writes).await;
            committing += commit_started.elapsed();
            waiting_since = Instant::now();
            let counts = match committed {
                Ok(counts) => counts,
                Err(e) => {
                    let first = summaries.first().map_or(0, |s| s.0);
                    fail(
                        &mut report,
                        SyncError::internal(format!("page {first}: commit failed: {e}")),
                    );
                    break;
                }
            };
            for ((number, records, end), counts) in summaries.into_iter().zip(counts) {
                report.pages += 1;
                report.counts.add(counts);
                if let Some(progress) = &options.progress {
                    progress.on_page(&PageProgress {
                        page: number,
                        records,
                        total: report.counts,
                    });
                }
                if matches!(end, PageEnd::Last { .. }) {
                    report.status = RunStatus::Success;
                    break 'pages;
                }
            }
            if let Some(error) = pending_error.take() {
                fail(&mut report, error);
                break;
            }
            let out_of_time = options.max_duration.is_some_and(|d| began.elapsed() >= d);
            let out_of_pages = options.max_pages.is_some_and(|n| report.pages >= n);
            let stopping = options
                .stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::Relaxed));
            if out_of_time || out_of_pages || stopping {
                report.status = RunStatus::Stopped;
                break;
            }
        }
        drop(rx);
        fetcher.abort();
        preparer.abort();
        let _ = fetcher.await;
        let _ = preparer.await;
        if report.status == RunStatus::Running {
            // The fetch stage ended without a last page or an error: it panicked.
            fail(
                &mut report,
                SyncError::internal("the fetch task ended unexpectedly"),
            );
        }
        report.stats = counters.snapshot();
        match report.status {
            RunStatus::Success => self.store.record_stats(start.run_id, report.stats).await?,
            RunStatus::Stopped => {
                self.store
                    .end_run(key, start.run_id, RunEnd::Stopped, report.stats)
                    .await?
            }
            _ => {
                let message = report.error.clone().unwrap_or_default();
                tracing::warn!(sync = %key, error = %message, "run failed");
                self.store
                    .end_run(key, start.run_id, RunEnd::Failed(message), report.stats)
                    .await?
            }
        }
        tracing::debug!(
            sync = %key,
            pages = report.pages,
            waited_for_pages_ms = waited_for_pages.as_millis() as u64,
            committing_ms = committing.as_millis() as u64,
            "run stages"
        );
        report.elapsed = began.elapsed();
        Ok(report)
    }
}
