//! Run one sync to the end against a replay or any loopback provider, into a temporary SQLite
//! store, and read back what it left: records, deletes, checkpoint, run history.
//!
//! ```no_run
//! # async fn f() -> Result<(), sync_runtime::testing::TestingError> {
//! use sync_runtime::testing::{Harness, ReplayProvider};
//! let provider = ReplayProvider::serve_dir("tests/fixtures/contacts".as_ref()).await?;
//! let integration = syncfn_example_contacts::integration();
//! let harness = Harness::new(&integration, "contacts", &provider.base_url())?;
//! let run = harness.run().await?;
//! assert_eq!(run.report.counts.added as usize, run.live.len());
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{Map, Value};
use sync_sdk::{Connection, ErasedSync, Integration};

use super::TestingError;
use crate::connection::Credentials;
use crate::driver::{Driver, RunOptions, RunReport, SyncTarget};
use crate::store::{
    LastAction, MAX_LIST_LIMIT, RecordQuery, RunRecord, RunStatus, SqliteStore, Store,
    StoredRecord, SyncKey,
};

/// The connection id the harness runs under.
pub const CONNECTION_ID: &str = "test-connection";

/// A sync, a provider and a temporary records store.
pub struct Harness {
    driver: Driver,
    store: Arc<dyn Store>,
    target: SyncTarget,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("sync", &self.target.key)
            .field("base_url", &self.target.base_url)
            .finish_non_exhaustive()
    }
}

/// What one run did and what the cache holds after it.
#[derive(Debug, Clone)]
pub struct HarnessRun {
    /// The driver's report: status, pages, changes, request stats, error.
    pub report: RunReport,
    /// The connection's checkpoint after the run (promoted only by a completed pass).
    pub checkpoint: Option<Value>,
    /// Live records in the cache: id → record.
    pub live: BTreeMap<String, Value>,
    /// Ids marked deleted in the cache.
    pub deleted: BTreeSet<String>,
}

impl Harness {
    /// A harness for `integration`'s sync named `sync` against the provider at `base_url`.
    ///
    /// # Errors
    /// The sync does not exist (the message lists the valid ones) or the store cannot open.
    pub fn new(
        integration: &Integration,
        sync: &str,
        base_url: &str,
    ) -> Result<Self, TestingError> {
        let found = integration.find_sync(sync).cloned().ok_or_else(|| {
            let names: Vec<String> = integration.syncs().iter().map(|s| s.spec().name).collect();
            TestingError::Setup(format!(
                "unknown sync {sync:?} in integration {:?} (available: {})",
                integration.name(),
                names.join(", ")
            ))
        })?;
        Self::for_sync(integration.name(), found, base_url)
    }

    /// A harness for an erased sync of integration `integration`.
    ///
    /// # Errors
    /// The temporary store cannot be created.
    pub fn for_sync(
        integration: &str,
        sync: Arc<dyn ErasedSync>,
        base_url: &str,
    ) -> Result<Self, TestingError> {
        let dir = tempfile::tempdir()
            .map_err(|e| TestingError::Setup(format!("cannot create a temporary dir: {e}")))?;
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("cache.db"))?);
        let client = crate::http::build_client().map_err(|e| TestingError::Setup(e.to_string()))?;
        let name = sync.spec().name;
        let target = SyncTarget {
            key: SyncKey::new(CONNECTION_ID, integration, &name),
            sync,
            connection: Arc::new(Connection::new(CONNECTION_ID, integration)),
            base_url: base_url.to_string(),
            credentials: Credentials::None,
            metadata: Value::Null,
            http: crate::http::HttpOptions {
                unlimited: true,
                ..Default::default()
            },
        };
        Ok(Self {
            driver: Driver::new(store.clone(), client),
            store,
            target,
            _dir: dir,
        })
    }

    /// Authenticate with `credentials`.
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.target.credentials = credentials;
        self
    }

    /// Use this connection metadata.
    pub fn with_metadata(mut self, metadata: Value) -> Self {
        self.target.metadata = metadata;
        self
    }

    /// Use these connection parameters.
    pub fn with_params(mut self, params: Map<String, Value>) -> Self {
        let mut connection = (*self.target.connection).clone();
        connection.params = params;
        self.target.connection = Arc::new(connection);
        self
    }

    /// The run target (key, connection, base URL).
    pub fn target(&self) -> &SyncTarget {
        &self.target
    }

    /// The temporary store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The driver writing to the store.
    pub fn driver(&self) -> &Driver {
        &self.driver
    }

    /// One run with default options (resumes an interrupted pass, goes to the end).
    ///
    /// # Errors
    /// The store failed (a failing sync is reported in [`HarnessRun::report`]).
    pub async fn run(&self) -> Result<HarnessRun, TestingError> {
        self.run_with(RunOptions::default()).await
    }

    /// One run that must complete: a run ending in any other status is an error naming the
    /// status and the run's error.
    ///
    /// # Errors
    /// The run did not end `SUCCESS`, or the store failed.
    pub async fn run_ok(&self) -> Result<HarnessRun, TestingError> {
        let run = self.run().await?;
        if run.report.status == RunStatus::Success {
            return Ok(run);
        }
        Err(TestingError::Setup(format!(
            "the run of {} ended {} instead of SUCCESS: {}",
            self.target.key.sync,
            run.report.status.as_str(),
            run.report.error.as_deref().unwrap_or("no error reported")
        )))
    }

    /// One run with `options`.
    ///
    /// # Errors
    /// The store failed.
    pub async fn run_with(&self, options: RunOptions) -> Result<HarnessRun, TestingError> {
        let report = self.driver.run(&self.target, options).await?;
        self.outcome(report).await
    }

    /// What the cache holds, with `report` attached.
    ///
    /// # Errors
    /// The store failed.
    pub async fn outcome(&self, report: RunReport) -> Result<HarnessRun, TestingError> {
        let records = self.records().await?;
        let mut live = BTreeMap::new();
        let mut deleted = BTreeSet::new();
        for (id, record) in records {
            if record.metadata.last_action == LastAction::Deleted {
                deleted.insert(id);
            } else {
                live.insert(id, record.data);
            }
        }
        Ok(HarnessRun {
            report,
            checkpoint: self.checkpoint().await?,
            live,
            deleted,
        })
    }

    /// Every cached record of the sync's model (deleted ones included), by id.
    ///
    /// # Errors
    /// The store failed.
    pub async fn records(&self) -> Result<BTreeMap<String, StoredRecord>, TestingError> {
        Ok(self
            .changes_after(None)
            .await?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect())
    }

    /// The cached records of the sync's model changed after the records-API `cursor`
    /// (`None`: all), in cursor order: what a consumer that stored `cursor` would list next.
    ///
    /// # Errors
    /// The store failed.
    pub async fn changes_after(
        &self,
        cursor: Option<&str>,
    ) -> Result<Vec<StoredRecord>, TestingError> {
        let model = self
            .target
            .sync
            .spec()
            .models
            .first()
            .map(|m| m.name.clone())
            .unwrap_or_default();
        let mut query = RecordQuery::new(CONNECTION_ID, &model);
        query.limit = MAX_LIST_LIMIT;
        query.cursor = cursor.map(str::to_string);
        let mut out = Vec::new();
        loop {
            let page = self.store.list_records(&query).await?;
            out.extend(page.records);
            match page.next_cursor {
                Some(next) => query.cursor = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// The records-API cursor of the newest change cached so far (`None`: nothing cached).
    ///
    /// # Errors
    /// The store failed.
    pub async fn last_cursor(&self) -> Result<Option<String>, TestingError> {
        Ok(self
            .changes_after(None)
            .await?
            .last()
            .map(|r| r.metadata.cursor.clone()))
    }

    /// The connection's checkpoint (of the last completed pass).
    ///
    /// # Errors
    /// The store failed.
    pub async fn checkpoint(&self) -> Result<Option<Value>, TestingError> {
        Ok(self.store.checkpoint(&self.target.key).await?)
    }

    /// Run history, oldest first.
    ///
    /// # Errors
    /// The store failed.
    pub async fn runs(&self) -> Result<Vec<RunRecord>, TestingError> {
        let mut runs = self.store.list_runs(Some(CONNECTION_ID), 100_000).await?;
        runs.reverse();
        Ok(runs)
    }
}

/// `(last action, id)` of each change, sorted (`("ADDED", "7")`…): compare the changes a run
/// reported with exactly the provider's, whatever order they were committed in.
pub fn change_actions(changes: &[StoredRecord]) -> Vec<(String, String)> {
    let mut out: Vec<_> = changes
        .iter()
        .map(|r| (r.metadata.last_action.as_str().to_string(), r.id.clone()))
        .collect();
    out.sort();
    out
}
