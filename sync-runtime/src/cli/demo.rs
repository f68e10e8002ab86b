//! `syncfn demo`: a loopback CRM, a full sync, provider changes, an incremental sync, and the
//! changes read back by cursor.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use sync_sdk::Connection;

use super::{CliError, output};
use crate::connection::Credentials;
use crate::driver::{Driver, Progress, RunOptions, SyncTarget};
use crate::fake_crm::FakeCrm;
use crate::registry::Registry;
use crate::store::{RecordQuery, RunStatus, SqliteStore, Store, SyncKey};

pub(crate) async fn run(
    registry: &Registry,
    records: u64,
    db: Option<PathBuf>,
) -> Result<ExitCode, CliError> {
    let (integration, sync) = registry
        .resolve("crm/contacts")
        .map_err(|e| CliError::Usage(format!("the demo needs the bundled crm integration: {e}")))?;
    // Declared before the store so it is dropped after it: the directory goes once the
    // database is closed, whether the demo succeeds or fails.
    let tempdir;
    let path = match db {
        Some(p) => p,
        None => {
            tempdir = TempDir::create()?;
            tempdir.0.join("demo.db")
        }
    };
    let crm = FakeCrm::start(records)
        .await
        .map_err(|e| CliError::Failed(format!("cannot start the loopback CRM: {e}")))?;
    println!("loopback CRM with {records} contacts at {}", crm.base_url());
    println!("records cache: {}", path.display());

    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&path).map_err(|e| CliError::Failed(e.to_string()))?);
    let client = crate::http::build_client().map_err(|e| CliError::Failed(e.to_string()))?;
    let driver = Driver::new(store.clone(), client);
    let connection_id = "demo";
    let target = SyncTarget {
        key: SyncKey::new(connection_id, integration.name(), "contacts"),
        sync,
        connection: Arc::new(Connection::new(connection_id, integration.name())),
        base_url: crm.base_url(),
        credentials: Credentials::None,
        metadata: serde_json::Value::Null,
        http: crate::http::HttpOptions {
            rate_limit: integration.default_rate_limit(),
            rate_limit_headers: integration.declared_rate_limit_headers().cloned(),
            ..Default::default()
        },
    };

    println!("\n1. first sync (full pass)");
    let first = run_once(&driver, &target).await?;
    let after_first = last_cursor(&store, connection_id).await?;

    let updated: Vec<u64> = (1..=records).step_by(200).take(25).collect();
    let archived: Vec<u64> = (3..=records).step_by(997).take(5).collect();
    crm.update(&updated);
    crm.archive(&archived);
    let added = crm.add(10);
    println!(
        "\n2. the provider changes: {} contacts updated, {} archived, {} created",
        updated.len(),
        archived.len(),
        added.len()
    );

    println!("\n3. incremental sync (only what changed since the checkpoint)");
    let second = run_once(&driver, &target).await?;

    println!("\n4. changes after the first run's last cursor {after_first:?}:");
    let mut query = RecordQuery::new(connection_id, "Contact");
    query.cursor = after_first;
    query.limit = 1000;
    let page = store.list_records(&query).await?;
    for record in &page.records {
        println!(
            "   {:<8} id={:<6} {:<40} cursor={}",
            record.metadata.last_action.as_str(),
            record.id,
            record.data["email"].as_str().unwrap_or(""),
            record.metadata.cursor
        );
    }
    println!(
        "\nfirst run: {} added; second run: {} added, {} updated, {} deleted, {} requests; {} changes listed by cursor",
        first.counts.added,
        second.counts.added,
        second.counts.updated,
        second.counts.deleted,
        second.stats.requests,
        page.records.len()
    );
    let expected = (updated.len() + archived.len() + added.len()) as u64;
    if second.counts.changes() != expected || page.records.len() as u64 != expected {
        return Err(CliError::Failed(format!(
            "the demo expected {expected} changes, the incremental run reported {} and the listing returned {}",
            second.counts.changes(),
            page.records.len()
        )));
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_once(
    driver: &Driver,
    target: &SyncTarget,
) -> Result<crate::driver::RunReport, CliError> {
    let bar = output::ProgressBar::new();
    let options = RunOptions {
        progress: Some(Arc::new(bar.clone()) as Arc<dyn Progress>),
        ..RunOptions::default()
    };
    let report = driver.run(target, options).await?;
    bar.finish();
    println!("   {}", output::report_line(&target.key, &report));
    if report.status != RunStatus::Success {
        return Err(CliError::Failed("the demo sync did not complete".into()));
    }
    Ok(report)
}

async fn last_cursor(
    store: &Arc<dyn Store>,
    connection_id: &str,
) -> Result<Option<String>, CliError> {
    let mut query = RecordQuery::new(connection_id, "Contact");
    query.limit = 10_000;
    let mut last = None;
    loop {
        let page = store.list_records(&query).await?;
        if let Some(r) = page.records.last() {
            last = Some(r.metadata.cursor.clone());
        }
        match page.next_cursor {
            Some(next) => query.cursor = Some(next),
            None => return Ok(last),
        }
    }
}

/// A fresh directory for the demo database, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn create() -> Result<Self, CliError> {
        let dir = std::env::temp_dir().join(format!("syncfn-demo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| CliError::Failed(format!("cannot create {}: {e}", dir.display())))?;
        Ok(Self(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
