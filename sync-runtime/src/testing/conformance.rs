//! The conformance suite: one call in an integration's tests checks the guarantees every sync
//! must keep. Each check reports what differed and where.
//!
//! 1. records match their JSON Schema; ids are non-empty and unique within a run;
//! 2. pagination terminates and the loop guard holds;
//! 3. a crash after every page k (a clean stop after k committed pages, and a kill while
//!    request k+1 is in flight) followed by a resume leaves the same cache as a clean run, and
//!    no change is reported twice;
//! 4. a second run from the final checkpoint reports 0 changes; a checkpoint in the future
//!    yields 0 records and completes; with provider changes, an incremental run catches up
//!    with a full resync;
//! 5. full-refresh deletes fail closed (an error mid-pass deletes nothing; the completed pass
//!    does delete);
//! 6. no secret of the connection appears in records, logs or fixtures;
//! 7. the spec is valid (frequency, model schemas, checkpoint and metadata schemas).
//!
//! ```no_run
//! # async fn f() {
//! use sync_runtime::testing::{conformance, Fixtures};
//! let fixtures = Fixtures::dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/contacts"));
//! conformance::check(syncfn_example_contacts::integration(), "contacts", fixtures)
//!     .await
//!     .unwrap_or_else(|failure| panic!("{failure}"));
//! # }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use sync_sdk::{
    Connection, ContextParts, DeletionStrategy, HttpClient, Integration, Logger, SyncKind, SyncSpec,
};

use super::TestingError;
use super::fixture::{self, is_dropped_header, is_secret_query_name};
use super::harness::{CONNECTION_ID, Harness, HarnessRun};
use super::logs;
use super::pages::{WalkEnd, WalkOptions, walk};
use super::recorder::{credential_query_name, credential_secrets};
use super::replay::ReplayProvider;
use crate::canonical::{canonical_bytes, hash};
use crate::connection::Credentials;
use crate::driver::RunOptions;
use crate::http::{ReqwestTransport, RunCounters};
use crate::store::{ChangeCounts, PageEnd, PageWrite, PreparedRecord, RunStatus, StartOptions};
use crate::validate::RecordValidator;

/// A fixture directory to replay.
#[derive(Debug, Clone)]
pub struct Fixtures {
    dir: PathBuf,
}

impl Fixtures {
    /// The fixtures in `dir` (`NNNN.json` files).
    pub fn dir(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
}

/// Where the suite's provider answers come from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Source {
    /// Replayed fixtures.
    Fixtures(PathBuf),
    /// A live loopback provider (a fake), reached through a forwarding proxy that injects
    /// failures.
    Upstream(String),
}

impl From<Fixtures> for Source {
    fn from(f: Fixtures) -> Self {
        Source::Fixtures(f.dir)
    }
}

/// The seven checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Check {
    /// 1. records match their schema; ids non-empty and unique within a run.
    Records,
    /// 2. pagination terminates and the loop guard holds.
    Pagination,
    /// 3. crash after every page and resume: same cache, no change reported twice.
    Resume,
    /// 4. incremental idempotence and future checkpoints.
    Incremental,
    /// 5. full-refresh deletes fail closed.
    DeletesFailClosed,
    /// 6. no secret in records, logs or fixtures.
    Secrets,
    /// 7. the spec is valid.
    Spec,
}

impl Check {
    /// `"1 records"` … `"7 spec"`: what a failure message starts with.
    pub fn title(self) -> &'static str {
        match self {
            Check::Records => "check 1 (records match their schema, ids non-empty and unique)",
            Check::Pagination => "check 2 (pagination terminates, loop guard holds)",
            Check::Resume => "check 3 (crash after every page and resume)",
            Check::Incremental => "check 4 (incremental runs are idempotent)",
            Check::DeletesFailClosed => "check 5 (full-refresh deletes fail closed)",
            Check::Secrets => "check 6 (no secret leaks)",
            Check::Spec => "check 7 (spec is valid)",
        }
    }
}

/// How one check went.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Passed; what was verified.
    Passed(String),
    /// Not applicable to this sync; why.
    Skipped(String),
    /// Failed; every problem found.
    Failed(Vec<String>),
}

/// Every check's outcome.
#[derive(Debug, Clone)]
pub struct ConformanceReport {
    /// `integration/sync`.
    pub sync: String,
    /// Pages of a clean run.
    pub pages: u64,
    /// Records fetched by a clean run.
    pub records: u64,
    /// Outcomes in check order.
    pub results: BTreeMap<Check, Outcome>,
}

impl ConformanceReport {
    /// Panic unless the fixtures behind this report cover what an integration's recorded set
    /// must: a pass of at least `min_pages` pages, and the runs from the final and from a
    /// future checkpoint (check 4 saw the future one yield 0 records).
    ///
    /// # Panics
    /// With the report, naming what the fixtures lack.
    pub fn assert_complete_fixtures(&self, min_pages: u64) {
        assert!(
            self.pages >= min_pages,
            "the fixtures must hold a pass of at least {min_pages} pages:\n{self}"
        );
        assert!(
            matches!(self.outcome(Check::Incremental), Some(Outcome::Passed(w)) if w.contains("yields 0 records")),
            "the fixtures must hold the runs from the final and a future checkpoint:\n{self}"
        );
    }

    /// The outcome of `check`.
    pub fn outcome(&self, check: Check) -> Option<&Outcome> {
        self.results.get(&check)
    }

    /// Whether any check failed.
    pub fn failed(&self) -> bool {
        self.results
            .values()
            .any(|o| matches!(o, Outcome::Failed(_)))
    }
}

impl fmt::Display for ConformanceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "conformance of {} ({} pages, {} records):",
            self.sync, self.pages, self.records
        )?;
        for (check, outcome) in &self.results {
            match outcome {
                Outcome::Passed(what) => writeln!(f, "  ok      {}: {what}", check.title())?,
                Outcome::Skipped(why) => writeln!(f, "  skipped {}: {why}", check.title())?,
                Outcome::Failed(problems) => {
                    writeln!(f, "  FAILED  {}:", check.title())?;
                    for p in problems {
                        writeln!(f, "          - {p}")?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Why the suite did not pass.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConformanceFailure {
    /// One or more checks failed; the report says which and what differed.
    #[error("{0}")]
    Checks(ConformanceReport),
    /// The suite could not be set up (fixtures unreadable, unknown sync…).
    #[error("conformance suite could not run: {0}")]
    Setup(#[from] TestingError),
}

impl ConformanceFailure {
    /// The report, when checks ran.
    pub fn report(&self) -> Option<&ConformanceReport> {
        match self {
            ConformanceFailure::Checks(r) => Some(r),
            ConformanceFailure::Setup(_) => None,
        }
    }
}

type ChangeFn = Arc<dyn Fn() + Send + Sync>;

/// The suite for one sync; [`check`] is the one-call form.
#[derive(Clone)]
pub struct Conformance {
    integration: Integration,
    sync: String,
    source: Source,
    credentials: Option<Credentials>,
    metadata: Value,
    params: Map<String, Value>,
    future_checkpoint: Option<Value>,
    changes: Option<ChangeFn>,
    timeout: Duration,
    max_crash_points: u64,
}

impl fmt::Debug for Conformance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conformance")
            .field("integration", &self.integration.name())
            .field("sync", &self.sync)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Run every check of `integration`'s sync `sync` against `source`.
///
/// # Errors
/// A [`ConformanceFailure`] whose `Display` lists each failed check and what differed.
pub async fn check(
    integration: Integration,
    sync: &str,
    source: impl Into<Source>,
) -> Result<ConformanceReport, ConformanceFailure> {
    Conformance::new(integration, sync, source).run().await
}

/// `conformance_test!(test_name, integration(), "sync", "tests/fixtures/dir")` defines a
/// `#[tokio::test]` running the whole suite over the fixture directory (relative to the
/// crate's manifest directory).
#[macro_export]
macro_rules! conformance_test {
    ($name:ident, $integration:expr, $sync:expr, $fixtures:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let dir = ::std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join($fixtures);
            if let Err(failure) = $crate::testing::conformance::check(
                $integration,
                $sync,
                $crate::testing::Fixtures::dir(dir),
            )
            .await
            {
                panic!("{failure}");
            }
        }
    };
}

fn random_secret() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let seed = format!("{nanos}-{n}-{}", std::process::id());
    format!("sfn-conformance-secret-{:016x}", hash(seed.as_bytes()))
}

/// A checkpoint moved far into the future: RFC 3339 / date strings become year 2999, Unix
/// times (seconds or milliseconds) become year 3000. `None` when nothing looked like a time.
pub fn future_checkpoint(checkpoint: &Value) -> Option<Value> {
    fn visit(v: &mut Value) -> bool {
        match v {
            Value::String(s) => {
                let rfc3339 = &time::format_description::well_known::Rfc3339;
                if time::OffsetDateTime::parse(s, rfc3339).is_ok() {
                    *s = "2999-01-01T00:00:00Z".into();
                    true
                } else if s.len() == 10
                    && time::Date::parse(
                        s,
                        time::macros::format_description!("[year]-[month]-[day]"),
                    )
                    .is_ok()
                {
                    *s = "2999-01-01".into();
                    true
                } else {
                    false
                }
            }
            Value::Number(n) => match n.as_u64() {
                Some(x) if (1_000_000_000..100_000_000_000).contains(&x) => {
                    *v = Value::from(32_503_680_000u64);
                    true
                }
                Some(x) if (1_000_000_000_000..100_000_000_000_000).contains(&x) => {
                    *v = Value::from(32_503_680_000_000u64);
                    true
                }
                _ => false,
            },
            Value::Array(items) => {
                let mut changed = false;
                for item in items {
                    changed |= visit(item);
                }
                changed
            }
            Value::Object(map) => {
                let mut changed = false;
                for item in map.values_mut() {
                    changed |= visit(item);
                }
                changed
            }
            _ => false,
        }
    }
    let mut out = checkpoint.clone();
    visit(&mut out).then_some(out)
}

/// The JSON pointer of the first string in `value` containing `needle`.
fn find_string(value: &Value, needle: &str, at: &str) -> Option<String> {
    match value {
        Value::String(s) if s.contains(needle) => {
            Some(if at.is_empty() { "/".into() } else { at.into() })
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| find_string(v, needle, &format!("{at}/{i}"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains(needle) {
                Some(format!("{at}/{k} (key)"))
            } else {
                find_string(v, needle, &format!("{at}/{k}"))
            }
        }),
        _ => None,
    }
}

/// What differs between two cache states, at most a few examples.
fn cache_diff(got: &HarnessRun, want: &HarnessRun) -> Option<String> {
    let mut problems = Vec::new();
    for (id, value) in &want.live {
        match got.live.get(id) {
            None if got.deleted.contains(id) => {
                problems.push(format!("id {id:?} is deleted, expected live"))
            }
            None => problems.push(format!("id {id:?} is missing")),
            Some(v) if v != value => problems.push(format!(
                "id {id:?} differs: {} instead of {}",
                abbreviate(v),
                abbreviate(value)
            )),
            Some(_) => {}
        }
    }
    for id in got.live.keys().filter(|id| !want.live.contains_key(*id)) {
        problems.push(format!(
            "id {id:?} is live but a clean run does not have it"
        ));
    }
    if got.deleted != want.deleted {
        problems.push(format!(
            "deleted ids {:?} instead of {:?}",
            first(&got.deleted),
            first(&want.deleted)
        ));
    }
    if problems.is_empty() {
        return None;
    }
    let total = problems.len();
    problems.truncate(3);
    Some(format!(
        "{total} difference(s), e.g. {}",
        problems.join("; ")
    ))
}

fn first(set: &BTreeSet<String>) -> Vec<&String> {
    set.iter().take(5).collect()
}

fn abbreviate(v: &Value) -> String {
    let mut s = v.to_string();
    if s.len() > 160 {
        let mut cut = 160;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

fn counts_text(c: &ChangeCounts) -> String {
    format!(
        "added {}, updated {}, deleted {}",
        c.added, c.updated, c.deleted
    )
}

fn misses_text(provider: &ReplayProvider) -> Option<String> {
    let misses = provider.misses();
    if misses.is_empty() {
        return None;
    }
    let shown: Vec<String> = misses.iter().take(3).map(ToString::to_string).collect();
    Some(format!(
        "{} unrecorded request(s) (record them with `syncfn dryrun … --save-responses`): {}",
        misses.len(),
        shown.join("; ")
    ))
}

const GHOST_ID: &str = "syncfn-conformance-ghost";

impl Conformance {
    /// The suite for `integration`'s sync `sync` against `source`.
    pub fn new(integration: Integration, sync: &str, source: impl Into<Source>) -> Self {
        Self {
            integration,
            sync: sync.to_string(),
            source: source.into(),
            credentials: None,
            metadata: Value::Null,
            params: Map::new(),
            future_checkpoint: None,
            changes: None,
            timeout: Duration::from_secs(60),
            max_crash_points: 100,
        }
    }

    /// Authenticate with these credentials (use made-up values: the suite searches records,
    /// logs and fixtures for them). Default: a random bearer token.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Connection metadata (validated against the sync's metadata schema).
    pub fn metadata(mut self, metadata: Value) -> Self {
        self.metadata = metadata;
        self
    }

    /// Connection parameters.
    pub fn params(mut self, params: Map<String, Value>) -> Self {
        self.params = params;
        self
    }

    /// The checkpoint "in the future" for check 4 (default: derived from the final checkpoint
    /// by moving every timestamp to the year 2999).
    pub fn future_checkpoint(mut self, checkpoint: Value) -> Self {
        self.future_checkpoint = Some(checkpoint);
        self
    }

    /// Change the provider's data after the first complete run (for a live
    /// [`Source::Upstream`] provider); check 4 then requires the incremental run to leave the
    /// same records as a full resync.
    pub fn changes(mut self, change: impl Fn() + Send + Sync + 'static) -> Self {
        self.changes = Some(Arc::new(change));
        self
    }

    /// Longest a single run may take (default 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// At most this many crash points per kind in check 3 (default 100).
    pub fn max_crash_points(mut self, n: u64) -> Self {
        self.max_crash_points = n.max(1);
        self
    }

    fn harness(
        &self,
        provider: &ReplayProvider,
        credentials: &Credentials,
    ) -> Result<Harness, TestingError> {
        Ok(
            Harness::new(&self.integration, &self.sync, &provider.base_url())?
                .with_credentials(credentials.clone())
                .with_metadata(self.metadata.clone())
                .with_params(self.params.clone()),
        )
    }

    async fn timed<T>(
        &self,
        what: &str,
        fut: impl Future<Output = Result<T, TestingError>>,
    ) -> Result<Result<T, String>, TestingError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(v)) => Ok(Ok(v)),
            Ok(Err(e)) => Err(e),
            Err(_) => Ok(Err(format!("{what} did not end within {:?}", self.timeout))),
        }
    }

    /// Run every check.
    ///
    /// # Errors
    /// [`ConformanceFailure::Checks`] when a check failed, [`ConformanceFailure::Setup`] when
    /// the suite could not run.
    pub async fn run(self) -> Result<ConformanceReport, ConformanceFailure> {
        let sync = self
            .integration
            .find_sync(&self.sync)
            .cloned()
            .ok_or_else(|| {
                let names: Vec<String> = self
                    .integration
                    .syncs()
                    .iter()
                    .map(|s| s.spec().name)
                    .collect();
                TestingError::Setup(format!(
                    "unknown sync {:?} in integration {:?} (available: {})",
                    self.sync,
                    self.integration.name(),
                    names.join(", ")
                ))
            })?;
        let spec = sync.spec();
        let log_capture = logs::install();
        let log_start = logs::position();
        let credentials = self
            .credentials
            .clone()
            .unwrap_or_else(|| Credentials::Bearer {
                token: SecretString::from(random_secret()),
            });
        let secrets: Vec<String> = credential_secrets(&credentials)
            .iter()
            .map(|s| s.expose_secret().to_string())
            .filter(|s| s.len() >= 4)
            .collect();
        let (provider, fixture_count) = match &self.source {
            Source::Fixtures(dir) => {
                let count = fixture::fixture_files(dir)
                    .map_err(TestingError::from)?
                    .len() as u64;
                (ReplayProvider::serve_dir(dir).await?, Some(count))
            }
            Source::Upstream(url) => (ReplayProvider::forward(url).await?, None),
        };
        if let Some(name) = credential_query_name(&credentials) {
            provider.ignore_query(&name);
        }

        let mut report = ConformanceReport {
            sync: format!("{}/{}", self.integration.name(), spec.name),
            pages: 0,
            records: 0,
            results: BTreeMap::new(),
        };
        report.results.insert(Check::Spec, self.check_spec(&spec));

        // 1 and 2: walk the pages without a store, checking every record and cursor.
        let mut secret_hits: Vec<String> = Vec::new();
        let walk_result = {
            let mut connection = Connection::new(CONNECTION_ID, self.integration.name());
            connection.params = self.params.clone();
            let client =
                crate::http::build_client().map_err(|e| TestingError::Setup(e.to_string()))?;
            let transport = ReqwestTransport::standalone(
                client,
                credentials.clone(),
                Arc::new(RunCounters::default()),
            );
            let parts = ContextParts::new(
                HttpClient::new(Arc::new(transport), provider.base_url()),
                Arc::new(connection),
                self.metadata.clone(),
                Logger::new(CONNECTION_ID, self.integration.name(), &spec.name),
            );
            let max_pages = fixture_count.map_or(10_000, |n| n + 1);
            let secrets = secrets.clone();
            let hits = &mut secret_hits;
            let mut on_page = |p: &super::pages::WalkedPage| {
                for record in &p.page.records {
                    let value = record.to_value().unwrap_or_default();
                    for secret in &secrets {
                        if let Some(at) = find_string(&value, secret, "") {
                            hits.push(format!(
                                "page {}: record id {:?} holds a credential of the connection at {at}",
                                p.number, record.id
                            ));
                        }
                    }
                }
            };
            let options = WalkOptions {
                filter: None,
                max_pages: Some(max_pages),
            };
            self.timed("walking the pages", async {
                walk(sync.clone(), parts, &options, &mut on_page)
                    .await
                    .map_err(|e| TestingError::Setup(format!("the sync cannot start: {e}")))
            })
            .await?
        };
        let mut records_problems = Vec::new();
        let mut pagination_problems = Vec::new();
        match &walk_result {
            Err(timeout) => pagination_problems.push(timeout.clone()),
            Ok(summary) => {
                report.pages = summary.pages;
                report.records = summary.records;
                let total = summary.problems.len();
                records_problems.extend(summary.problems.iter().take(10).cloned());
                if total > 10 {
                    records_problems.push(format!("… and {} more record problems", total - 10));
                }
                match &summary.end {
                    WalkEnd::Completed => {}
                    WalkEnd::MaxPages => pagination_problems.push(format!(
                        "the sync did not reach a last page after {} pages",
                        summary.pages
                    )),
                    WalkEnd::Looped { page, cursor } => pagination_problems.push(format!(
                        "page {page} returned next cursor {cursor:?}, already returned earlier in \
                         the pass: the sync would loop forever"
                    )),
                    WalkEnd::Failed(e) => pagination_problems.push(format!("a page failed: {e}")),
                    #[allow(unreachable_patterns)]
                    _ => pagination_problems.push("the walk ended unexpectedly".into()),
                }
            }
        }
        if let Some(m) = misses_text(&provider) {
            pagination_problems.push(m);
        }

        // A clean run through the driver: the reference for checks 3 to 5.
        provider.reset();
        let clean = self.harness(&provider, &credentials)?;
        let clean_run = self.timed("a clean run", clean.run()).await?;
        let clean_run = match clean_run {
            Ok(run) if run.report.status == RunStatus::Success => Some(run),
            Ok(run) => {
                let error = run
                    .report
                    .error
                    .clone()
                    .unwrap_or_else(|| run.report.status.as_str().into());
                if error.contains("a second time") {
                    pagination_problems.push(format!(
                        "the driver's loop guard stopped a clean run: {error}"
                    ));
                } else if error.contains("violates") || error.contains("has no id") {
                    records_problems.push(format!("a clean run failed: {error}"));
                } else {
                    pagination_problems.push(format!("a clean run did not complete: {error}"));
                }
                None
            }
            Err(timeout) => {
                pagination_problems.push(format!(
                    "{timeout}: the driver's loop guard did not stop it"
                ));
                None
            }
        };
        if let Some(m) = misses_text(&provider)
            && !pagination_problems.contains(&m)
        {
            pagination_problems.push(m);
        }
        let outcome = |problems: Vec<String>, passed: String| {
            if problems.is_empty() {
                Outcome::Passed(passed)
            } else {
                Outcome::Failed(problems)
            }
        };
        report.results.insert(
            Check::Records,
            outcome(
                records_problems,
                format!("{} records valid, ids unique", report.records),
            ),
        );
        report.results.insert(
            Check::Pagination,
            outcome(
                pagination_problems,
                format!("{} pages, ended with no next cursor", report.pages),
            ),
        );

        let Some(clean_run) = clean_run else {
            for check in [Check::Resume, Check::Incremental, Check::DeletesFailClosed] {
                report.results.insert(
                    check,
                    Outcome::Skipped("needs a clean run that completes".into()),
                );
            }
            report.results.insert(
                Check::Secrets,
                self.check_secrets(&secrets, secret_hits, &clean, log_capture, log_start)
                    .await?,
            );
            return Err(ConformanceFailure::Checks(report));
        };
        for secret in &secrets {
            for (id, value) in &clean_run.live {
                if let Some(at) = find_string(value, secret, "") {
                    secret_hits.push(format!(
                        "cached record id {id:?} holds a credential at {at}"
                    ));
                }
            }
        }

        let resume = self
            .check_resume(&provider, &credentials, &clean, &clean_run)
            .await?;
        report.results.insert(Check::Resume, resume);
        let incremental = self
            .check_incremental(&provider, &credentials, &clean, &spec, &sync)
            .await?;
        report.results.insert(Check::Incremental, incremental);
        let deletes = self
            .check_deletes(&provider, &credentials, &spec, &clean_run)
            .await?;
        report.results.insert(Check::DeletesFailClosed, deletes);
        let secrets_outcome = self
            .check_secrets(&secrets, secret_hits, &clean, log_capture, log_start)
            .await?;
        report.results.insert(Check::Secrets, secrets_outcome);

        if report.failed() {
            Err(ConformanceFailure::Checks(report))
        } else {
            Ok(report)
        }
    }

    fn check_spec(&self, spec: &SyncSpec) -> Outcome {
        let mut problems = Vec::new();
        if spec.name.trim().is_empty() {
            problems.push("the sync has an empty name".into());
        }
        if spec.frequency.duration() < Duration::from_secs(30) {
            problems.push(format!(
                "frequency {:?} is shorter than 30 s",
                spec.frequency.as_str()
            ));
        }
        if let Err(e) = spec.frequency.as_str().parse::<sync_sdk::Frequency>() {
            problems.push(format!(
                "frequency {:?} does not parse: {e}",
                spec.frequency.as_str()
            ));
        }
        if spec.models.is_empty() {
            problems.push("the spec declares no model".into());
        }
        for model in &spec.models {
            let accepts_all = matches!(model.schema, Value::Bool(true))
                || model.schema.as_object().is_some_and(|o| {
                    !o.contains_key("type")
                        && !o.contains_key("properties")
                        && !o.contains_key("$ref")
                        && !o.contains_key("oneOf")
                        && !o.contains_key("anyOf")
                        && !o.contains_key("allOf")
                });
            if model.name.trim().is_empty() {
                problems.push("a model has an empty name".into());
            }
            if accepts_all {
                problems.push(format!(
                    "model {:?} has a schema that accepts anything",
                    model.name
                ));
            } else if let Err(e) = RecordValidator::new(&model.name, &model.schema) {
                problems.push(e);
            }
        }
        if spec.kind == SyncKind::Incremental && spec.checkpoint_schema.is_none() {
            problems.push(
                "the sync is incremental but has no checkpoint type (Checkpoint = ())".into(),
            );
        }
        match (&spec.metadata_schema, self.metadata.is_null()) {
            (None, false) => problems.push(
                "the connection has metadata but the sync declares no metadata schema (Metadata = ())".into(),
            ),
            (Some(schema), _) => match RecordValidator::new("metadata", schema) {
                Err(e) => problems.push(e),
                Ok(v) => {
                    if let Err(e) = v.check(&self.metadata) {
                        problems.push(format!("the test's connection metadata {e}"));
                    }
                }
            },
            (None, true) => {}
        }
        if problems.is_empty() {
            Outcome::Passed(format!(
                "frequency {}, {} model(s) with schemas{}",
                spec.frequency.as_str(),
                spec.models.len(),
                if spec.metadata_schema.is_some() {
                    ", metadata schema"
                } else {
                    ""
                }
            ))
        } else {
            Outcome::Failed(problems)
        }
    }

    async fn check_resume(
        &self,
        provider: &ReplayProvider,
        credentials: &Credentials,
        clean: &Harness,
        clean_run: &HarnessRun,
    ) -> Result<Outcome, TestingError> {
        let pages = clean_run.report.pages;
        let clean_counts = sum_counts(clean).await?;
        if pages < 2 {
            // Still kill the only page's fetch: the resume must produce the same cache.
        }
        let mut problems = Vec::new();
        let mut scenarios = 0;
        // A clean stop after k committed pages.
        for k in 1..pages.min(self.max_crash_points + 1) {
            provider.reset();
            let h = self.harness(provider, credentials)?;
            let first = self
                .timed(
                    "a run stopped after k pages",
                    h.run_with(RunOptions {
                        max_pages: Some(k),
                        ..RunOptions::default()
                    }),
                )
                .await?;
            match first {
                Ok(run) if run.report.status == RunStatus::Stopped => {}
                Ok(run) => {
                    problems.push(format!(
                        "stop after page {k}: the run ended {} instead of STOPPED ({})",
                        run.report.status.as_str(),
                        run.report.error.unwrap_or_default()
                    ));
                    continue;
                }
                Err(e) => {
                    problems.push(format!("stop after page {k}: {e}"));
                    continue;
                }
            }
            scenarios += 1;
            self.resume_and_compare(
                &format!("stop after page {k}"),
                &h,
                clean_run,
                clean_counts,
                &mut problems,
            )
            .await?;
        }
        // A kill while request k+1 is in flight.
        for k in 0..pages.min(self.max_crash_points) {
            provider.reset();
            provider.hang_at_request(k + 1);
            let h = self.harness(provider, credentials)?;
            let killed = tokio::select! {
                _ = provider.hung() => true,
                _ = tokio::time::sleep(self.timeout) => false,
                _ = h.run() => false,
            };
            provider.clear_faults();
            if !killed {
                continue;
            }
            scenarios += 1;
            self.resume_and_compare(
                &format!("kill during request {} (after page {k})", k + 1),
                &h,
                clean_run,
                clean_counts,
                &mut problems,
            )
            .await?;
        }
        if let Some(m) = misses_text(provider) {
            problems.push(m);
        }
        Ok(if problems.is_empty() {
            Outcome::Passed(format!(
                "{scenarios} crash points, each resumed to the clean run's cache"
            ))
        } else {
            Outcome::Failed(problems)
        })
    }

    async fn resume_and_compare(
        &self,
        what: &str,
        h: &Harness,
        clean_run: &HarnessRun,
        clean_counts: ChangeCounts,
        problems: &mut Vec<String>,
    ) -> Result<(), TestingError> {
        let resumed = self.timed("the resumed run", h.run()).await?;
        let resumed = match resumed {
            Ok(run) if run.report.status == RunStatus::Success => run,
            Ok(run) => {
                problems.push(format!(
                    "{what}: the resumed run ended {}: {}",
                    run.report.status.as_str(),
                    run.report.error.unwrap_or_default()
                ));
                return Ok(());
            }
            Err(e) => {
                problems.push(format!("{what}: {e}"));
                return Ok(());
            }
        };
        if let Some(diff) = cache_diff(&resumed, clean_run) {
            problems.push(format!(
                "{what}, then resume: the cache differs from a clean run: {diff}"
            ));
        }
        if resumed.checkpoint != clean_run.checkpoint {
            problems.push(format!(
                "{what}, then resume: checkpoint {} instead of the clean run's {}",
                resumed
                    .checkpoint
                    .as_ref()
                    .map_or("null".into(), abbreviate),
                clean_run
                    .checkpoint
                    .as_ref()
                    .map_or("null".into(), abbreviate)
            ));
        }
        let counts = sum_counts(h).await?;
        if (counts.added, counts.updated, counts.deleted)
            != (
                clean_counts.added,
                clean_counts.updated,
                clean_counts.deleted,
            )
        {
            problems.push(format!(
                "{what}, then resume: the runs reported {} where a clean run reports {}: a change was \
                 reported twice or lost",
                counts_text(&counts),
                counts_text(&clean_counts)
            ));
        }
        Ok(())
    }

    async fn check_incremental(
        &self,
        provider: &ReplayProvider,
        credentials: &Credentials,
        clean: &Harness,
        spec: &SyncSpec,
        sync: &Arc<dyn sync_sdk::ErasedSync>,
    ) -> Result<Outcome, TestingError> {
        let mut problems = Vec::new();
        let mut passed = Vec::new();
        provider.reset();
        match self.timed("a second run", clean.run()).await? {
            Ok(run) if run.report.status == RunStatus::Success => {
                if run.report.counts.changes() > 0 {
                    problems.push(format!(
                        "a second run from the final checkpoint reported {} (expected 0 changes)",
                        counts_text(&run.report.counts)
                    ));
                } else {
                    passed.push("a second run reported 0 changes".to_string());
                }
            }
            Ok(run) => problems.push(format!(
                "a second run from the final checkpoint ended {}: {}",
                run.report.status.as_str(),
                run.report.error.unwrap_or_default()
            )),
            Err(e) => problems.push(e),
        }
        if let Some(m) = misses_text(provider) {
            problems.push(format!("second run: {m}"));
        }
        if spec.kind == SyncKind::Incremental {
            let checkpoint = clean.checkpoint().await?;
            let future = match (&self.future_checkpoint, &checkpoint) {
                (Some(f), _) => Some(f.clone()),
                (None, Some(c)) => future_checkpoint(c),
                (None, None) => None,
            };
            match future {
                None => problems.push(format!(
                    "cannot derive a checkpoint in the future from {}: pass one with \
                     Conformance::future_checkpoint",
                    checkpoint.as_ref().map_or("null".into(), abbreviate)
                )),
                Some(future) => {
                    provider.reset();
                    let mut connection = Connection::new(CONNECTION_ID, self.integration.name());
                    connection.params = self.params.clone();
                    let client = crate::http::build_client()
                        .map_err(|e| TestingError::Setup(e.to_string()))?;
                    let transport = ReqwestTransport::standalone(
                        client,
                        credentials.clone(),
                        Arc::new(RunCounters::default()),
                    );
                    let parts = ContextParts::new(
                        HttpClient::new(Arc::new(transport), provider.base_url()),
                        Arc::new(connection),
                        self.metadata.clone(),
                        Logger::new(CONNECTION_ID, self.integration.name(), &spec.name),
                    );
                    let options = WalkOptions {
                        filter: Some(future.clone()),
                        max_pages: Some(1000),
                    };
                    let walked = self
                        .timed("a run from a future checkpoint", async {
                            walk(sync.clone(), parts, &options, &mut |_| {})
                                .await
                                .map_err(|e| TestingError::Setup(e.to_string()))
                        })
                        .await?;
                    match walked {
                        Ok(s) if matches!(s.end, WalkEnd::Completed) && s.records == 0 => {
                            passed.push(format!("checkpoint {} yields 0 records", abbreviate(&future)))
                        }
                        Ok(s) if matches!(s.end, WalkEnd::Completed) => problems.push(format!(
                            "a run from checkpoint {} in the future fetched {} records (expected 0)",
                            abbreviate(&future),
                            s.records
                        )),
                        Ok(s) => problems.push(format!(
                            "a run from checkpoint {} in the future did not complete: {:?}",
                            abbreviate(&future),
                            s.end
                        )),
                        Err(e) => problems.push(e),
                    }
                    if let Some(m) = misses_text(provider) {
                        problems.push(format!("future checkpoint: {m}"));
                    }
                }
            }
        }
        if let Some(change) = &self.changes {
            provider.reset();
            change();
            let after = self
                .timed("an incremental run after provider changes", clean.run())
                .await?;
            let resync = self.harness(provider, credentials)?;
            let full = self.timed("a full resync", resync.run()).await?;
            match (after, full) {
                (Ok(after), Ok(full))
                    if after.report.status == RunStatus::Success
                        && full.report.status == RunStatus::Success =>
                {
                    let mut diffs = Vec::new();
                    for (id, value) in &full.live {
                        match after.live.get(id) {
                            Some(v) if v == value => {}
                            Some(v) => diffs.push(format!(
                                "id {id:?} is {} instead of {}",
                                abbreviate(v),
                                abbreviate(value)
                            )),
                            None => diffs.push(format!("id {id:?} is missing")),
                        }
                    }
                    for id in &full.deleted {
                        if after.live.contains_key(id) {
                            diffs.push(format!("id {id:?} is live but deleted at the provider"));
                        }
                    }
                    // A record a full resync does not see at all (a provider that drops deleted
                    // records from its listing) must not stay live either: a missed delete.
                    for id in after.live.keys() {
                        if !full.live.contains_key(id) && !full.deleted.contains(id) {
                            diffs.push(format!(
                                "id {id:?} is live but a full resync does not have it (a missed delete)"
                            ));
                        }
                    }
                    if diffs.is_empty() {
                        passed.push(format!(
                            "after provider changes the incremental run ({}) matches a full resync",
                            counts_text(&after.report.counts)
                        ));
                    } else {
                        let total = diffs.len();
                        diffs.truncate(3);
                        problems.push(format!(
                            "after provider changes, the incremental run from checkpoint {} missed \
                             changes a full resync sees ({total} record(s), e.g. {}): the checkpoint \
                             skips records",
                            clean_checkpoint_text(&after),
                            diffs.join("; ")
                        ));
                    }
                }
                (Ok(after), Ok(full)) => problems.push(format!(
                    "after provider changes: incremental run {} ({}), full resync {} ({})",
                    after.report.status.as_str(),
                    after.report.error.unwrap_or_default(),
                    full.report.status.as_str(),
                    full.report.error.unwrap_or_default()
                )),
                (Err(e), _) | (_, Err(e)) => problems.push(e),
            }
        }
        Ok(if problems.is_empty() {
            Outcome::Passed(passed.join("; "))
        } else {
            Outcome::Failed(problems)
        })
    }

    async fn check_deletes(
        &self,
        provider: &ReplayProvider,
        credentials: &Credentials,
        spec: &SyncSpec,
        clean_run: &HarnessRun,
    ) -> Result<Outcome, TestingError> {
        if spec.deletion != DeletionStrategy::FullRefresh {
            return Ok(Outcome::Skipped(
                "the sync declares no full-refresh deletion".into(),
            ));
        }
        let mut problems = Vec::new();
        provider.reset();
        let h = self.harness(provider, credentials)?;
        // A record the provider does not have, cached by an earlier completed pass.
        let key = h.target().key.clone();
        let model = spec
            .models
            .first()
            .map(|m| m.name.clone())
            .unwrap_or_default();
        let start = h
            .store()
            .start_run(
                &key,
                StartOptions {
                    kind: spec.kind,
                    reset: false,
                },
            )
            .await?;
        let json = canonical_bytes(&serde_json::json!({"id": GHOST_ID}));
        h.store()
            .commit_page(
                &key,
                PageWrite {
                    run_id: start.run_id,
                    model,
                    records: vec![PreparedRecord {
                        id: GHOST_ID.into(),
                        hash: hash(&json),
                        json,
                        tombstone: false,
                    }],
                    deleted_ids: Vec::new(),
                    next_cursor: None,
                    checkpoint: None,
                    track_seen: false,
                    requests: 0,
                    end: PageEnd::Last {
                        deletion: DeletionStrategy::None,
                    },
                },
            )
            .await?;
        let fail_at = if clean_run.report.pages >= 2 { 2 } else { 1 };
        provider.fail_from_request(fail_at, 400);
        match self.timed("a run failing mid-pass", h.run()).await? {
            Ok(run) => {
                if run.report.status != RunStatus::Failed {
                    problems.push(format!(
                        "a pass whose request {fail_at} failed ended {} instead of FAILED",
                        run.report.status.as_str()
                    ));
                }
                if !run.live.contains_key(GHOST_ID)
                    || !run.deleted.is_empty()
                    || run.report.counts.deleted > 0
                {
                    problems.push(format!(
                        "a pass that failed at request {fail_at} deleted records: {:?}",
                        first(&run.deleted)
                    ));
                }
            }
            Err(e) => problems.push(e),
        }
        provider.clear_faults();
        match self.timed("the resumed full pass", h.run()).await? {
            Ok(run) if run.report.status == RunStatus::Success => {
                if !run.deleted.contains(GHOST_ID) {
                    problems.push(
                        "a completed full-refresh pass did not delete a cached record the provider no \
                         longer has: the full-refresh diff did not run"
                            .into(),
                    );
                }
                let unexpected: BTreeSet<&String> = run
                    .deleted
                    .iter()
                    .filter(|id| *id != GHOST_ID && !clean_run.deleted.contains(*id))
                    .collect();
                if !unexpected.is_empty() {
                    problems.push(format!(
                        "the completed pass deleted records the provider still has: {unexpected:?}"
                    ));
                }
            }
            Ok(run) => problems.push(format!(
                "the full pass resumed after the failure ended {}: {}",
                run.report.status.as_str(),
                run.report.error.unwrap_or_default()
            )),
            Err(e) => problems.push(e),
        }
        Ok(if problems.is_empty() {
            Outcome::Passed(format!(
                "a pass failing at request {fail_at} deleted nothing; the completed pass deleted the stale record"
            ))
        } else {
            Outcome::Failed(problems)
        })
    }

    async fn check_secrets(
        &self,
        secrets: &[String],
        mut hits: Vec<String>,
        clean: &Harness,
        log_capture: Result<(), String>,
        log_start: usize,
    ) -> Result<Outcome, TestingError> {
        if secrets.is_empty() {
            hits.push("the connection's credentials hold no secret to search for".into());
        }
        for (id, record) in clean.records().await? {
            for secret in secrets {
                if let Some(at) = find_string(&record.data, secret, "") {
                    let line = format!("cached record id {id:?} holds a credential at {at}");
                    if !hits.contains(&line) {
                        hits.push(line);
                    }
                }
            }
        }
        match log_capture {
            Err(e) => hits.push(e),
            Ok(()) => {
                for secret in secrets {
                    let lines = logs::lines_containing(log_start, secret);
                    if let Some(line) = lines.first() {
                        hits.push(format!(
                            "{} log line(s) contain a credential, e.g. {:?}",
                            lines.len(),
                            line.replace(secret.as_str(), "<SECRET>")
                        ));
                    }
                }
            }
        }
        if let Source::Fixtures(dir) = &self.source {
            hits.extend(fixture_secret_problems(dir, secrets)?);
        }
        hits.dedup();
        let total = hits.len();
        hits.truncate(10);
        if total > 10 {
            hits.push(format!("… and {} more", total - 10));
        }
        Ok(if hits.is_empty() {
            Outcome::Passed("records, logs and fixtures hold no credential".into())
        } else {
            Outcome::Failed(hits)
        })
    }
}

fn clean_checkpoint_text(run: &HarnessRun) -> String {
    run.checkpoint.as_ref().map_or("null".into(), abbreviate)
}

async fn sum_counts(h: &Harness) -> Result<ChangeCounts, TestingError> {
    let mut total = ChangeCounts::default();
    for run in h.runs().await? {
        total.add(run.counts);
    }
    Ok(total)
}

/// Credentials in fixture files: the connection's secrets anywhere, credential query
/// parameters, auth headers.
fn fixture_secret_problems(dir: &Path, secrets: &[String]) -> Result<Vec<String>, TestingError> {
    let mut problems = Vec::new();
    for path in fixture::fixture_files(dir)? {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(&path).map_err(|e| {
            TestingError::Setup(format!("cannot read fixture {}: {e}", path.display()))
        })?;
        if secrets.iter().any(|s| text.contains(s.as_str())) {
            problems.push(format!(
                "fixture {name} contains a credential of the connection"
            ));
        }
        let Ok(exchange) = serde_json::from_str::<fixture::Exchange>(&text) else {
            continue;
        };
        for (k, _) in &exchange.request.query {
            if is_secret_query_name(k) {
                problems.push(format!(
                    "fixture {name}: request query parameter {k:?} carries a credential"
                ));
            }
        }
        for h in exchange.response.headers.keys() {
            if is_dropped_header(h)
                && !matches!(
                    h.as_str(),
                    "content-length" | "date" | "connection" | "transfer-encoding" | "keep-alive"
                )
            {
                problems.push(format!(
                    "fixture {name}: response header {h:?} may carry a credential"
                ));
            }
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn future_checkpoint_moves_times_and_keeps_the_rest() {
        let moved = future_checkpoint(&json!({
            "updated_at": "2024-05-01T10:00:00Z", "day": "2024-05-01", "created": 1_714_557_600u64,
            "ms": 1_714_557_600_000u64, "cursor": "abc", "count": 3
        }))
        .expect("times found");
        assert_eq!(
            moved,
            json!({"updated_at": "2999-01-01T00:00:00Z", "day": "2999-01-01",
                   "created": 32_503_680_000u64, "ms": 32_503_680_000_000u64, "cursor": "abc", "count": 3})
        );
        assert_eq!(
            future_checkpoint(&json!({"cursor": "abc"})),
            None,
            "nothing looked like a time"
        );
    }

    #[test]
    fn find_string_names_the_json_pointer() {
        let v = json!({"a": [{"b": "x-SECRET-y"}]});
        assert_eq!(find_string(&v, "SECRET", "").as_deref(), Some("/a/0/b"));
        assert_eq!(find_string(&v, "nope", ""), None);
    }
}
