//! Shared helpers for the end-to-end tests: a loopback CRM, a temp database and connection
//! config, the `syncfn` binary as a child process, and readers for what it left in the cache.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sync_runtime::fake_crm::FakeCrm;
use sync_runtime::store::{LastAction, RecordQuery, RunRecord, SqliteStore, Store, StoredRecord};
use tempfile::TempDir;
use tokio::process::{Child, Command};

/// The model both crm syncs write.
pub const MODEL: &str = "Contact";

/// One test's world: a fake CRM, a database file and a connection config pointing at the CRM.
pub struct Env {
    pub crm: FakeCrm,
    pub db: PathBuf,
    pub config: PathBuf,
    _dir: TempDir,
}

/// What `syncfn run` printed as its summary line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub status: String,
    pub resumed: bool,
    pub pages: u64,
    pub added: u64,
    pub updated: u64,
    pub deleted: u64,
    pub unchanged: u64,
    pub requests: u64,
}

/// A finished `syncfn run`.
#[derive(Debug)]
pub struct RunOutput {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub summary: Summary,
}

impl RunOutput {
    /// Stdout and stderr together, for error-message assertions.
    pub fn text(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Panic unless the run exited 0 with status SUCCESS.
    pub fn assert_success(&self) -> &Self {
        assert_eq!(
            (self.code, self.summary.status.as_str()),
            (Some(0), "SUCCESS"),
            "expected a successful run; output:\n{}",
            self.text()
        );
        self
    }
}

impl Env {
    /// A fake CRM with `n` contacts on 127.0.0.1 and a fresh database; must be called inside
    /// the test's tokio runtime (the CRM lives there).
    pub async fn new(n: u64) -> Env {
        let crm = FakeCrm::start(n).await.expect("start the fake CRM");
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("cache.db");
        let config = dir.path().join("connection.json");
        std::fs::write(
            &config,
            serde_json::json!({ "base_url": crm.base_url() }).to_string(),
        )
        .expect("write the connection config");
        Env {
            crm,
            db,
            config,
            _dir: dir,
        }
    }

    /// `syncfn run <sync> --connection <connection> --db … --config … --quiet`.
    pub fn run_command(&self, sync: &str, connection: &str) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_syncfn"));
        cmd.arg("run")
            .arg(sync)
            .arg("--connection")
            .arg(connection)
            .arg("--db")
            .arg(&self.db)
            .arg("--config")
            .arg(&self.config)
            .arg("--quiet")
            .env_remove("SYNCFN_DB")
            .env_remove("SYNCFN_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Run `sync` to its end and parse its summary line.
    pub async fn run(&self, sync: &str, connection: &str) -> RunOutput {
        let output = self
            .run_command(sync, connection)
            .output()
            .await
            .expect("spawn syncfn");
        to_run_output(output)
    }

    /// Spawn `sync` as a child to be killed mid-run.
    pub fn spawn(&self, sync: &str, connection: &str) -> Child {
        let mut cmd = self.run_command(sync, connection);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        cmd.spawn().expect("spawn syncfn")
    }

    /// Every cached record of `connection`, listed from the start by following `next_cursor`.
    pub async fn cache(&self, connection: &str) -> Vec<StoredRecord> {
        list_all(&self.db, connection, None).await
    }

    /// Run history of `connection`, oldest first.
    pub async fn runs(&self, connection: &str) -> Vec<RunRecord> {
        let store = SqliteStore::open(&self.db).expect("open the cache");
        let mut runs = store
            .list_runs(Some(connection), 10_000)
            .await
            .expect("list runs");
        runs.reverse();
        runs
    }

    /// Pages committed so far by the pass in progress of `sync` (0 when none or no database).
    pub fn pass_pages(&self, connection: &str, sync: &str) -> i64 {
        let Ok(conn) = rusqlite::Connection::open_with_flags(
            &self.db,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        ) else {
            return 0;
        };
        let _ = conn.busy_timeout(Duration::from_secs(5));
        conn.query_row(
            "SELECT pass_pages FROM sync_state WHERE connection_id = ?1 AND sync = ?2",
            rusqlite::params![connection, sync],
            |r| r.get(0),
        )
        .unwrap_or(0)
    }

    /// Spawn `sync`, wait until its pass has committed `more_pages` pages beyond where it started
    /// and then `offset` more (so kills land at different instants of a page: fetching,
    /// validating, committing), then SIGKILL it. Returns the pass's committed page count after
    /// the kill.
    pub async fn kill_after_pages(
        &self,
        sync: &str,
        connection: &str,
        more_pages: i64,
        offset: Duration,
    ) -> i64 {
        let short = sync.split('/').nth(1).expect("<integration>/<sync>");
        let before = self.pass_pages(connection, short);
        let mut child = self.spawn(sync, connection);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().expect("poll child") {
                panic!(
                    "{sync} exited ({status}) before the kill point: {before} + {more_pages} pages"
                );
            }
            if self.pass_pages(connection, short) >= before + more_pages {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{sync} did not commit {more_pages} pages within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(offset).await;
        // `Child::kill` sends SIGKILL: no destructor, no graceful shutdown.
        child.kill().await.expect("SIGKILL syncfn");
        let after = self.pass_pages(connection, short);
        assert!(
            after >= before + more_pages,
            "{sync}: pass went backwards after the kill ({after} < {before} + {more_pages})"
        );
        after
    }
}

fn to_run_output(output: Output) -> RunOutput {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let summary = parse_summary(&stdout).unwrap_or_default();
    RunOutput {
        code: output.status.code(),
        stdout,
        stderr,
        summary,
    }
}

/// Parse `crm/contacts connection=c1 run=3 status=SUCCESS (resumed) pages=… added=…`.
pub fn parse_summary(stdout: &str) -> Option<Summary> {
    let line = stdout.lines().find(|l| l.contains(" status="))?;
    let mut s = Summary {
        resumed: line.contains("(resumed)"),
        ..Summary::default()
    };
    let number = |v: &str| v.parse::<u64>().ok();
    for token in line.split_whitespace() {
        let Some((k, v)) = token.split_once('=') else {
            continue;
        };
        match k {
            "status" => s.status = v.to_string(),
            "pages" => s.pages = number(v)?,
            "added" => s.added = number(v)?,
            "updated" => s.updated = number(v)?,
            "deleted" => s.deleted = number(v)?,
            "unchanged" => s.unchanged = number(v)?,
            "requests" => s.requests = number(v)?,
            _ => {}
        }
    }
    Some(s)
}

/// All records of `connection` after `cursor`, following `next_cursor` 1,000 at a time.
pub async fn list_all(db: &Path, connection: &str, cursor: Option<String>) -> Vec<StoredRecord> {
    let store = SqliteStore::open(db).expect("open the cache");
    let mut query = RecordQuery::new(connection, MODEL);
    query.limit = 1_000;
    query.cursor = cursor;
    let mut all = Vec::new();
    loop {
        let page = store.list_records(&query).await.expect("list records");
        all.extend(page.records);
        match page.next_cursor {
            Some(next) => query.cursor = Some(next),
            None => return all,
        }
    }
}

/// The cursor of the newest change of `connection` (None when the cache is empty).
pub async fn last_cursor(db: &Path, connection: &str) -> Option<String> {
    list_all(db, connection, None)
        .await
        .last()
        .map(|r| r.metadata.cursor.clone())
}

/// Assert a listing from the start is well formed: every id exactly once, cursors strictly
/// increasing.
pub fn assert_listing_well_formed(records: &[StoredRecord]) {
    let mut ids = HashSet::new();
    for r in records {
        assert!(
            ids.insert(r.id.as_str()),
            "id {:?} listed twice by cursor",
            r.id
        );
    }
    for pair in records.windows(2) {
        assert!(
            pair[0].metadata.cursor < pair[1].metadata.cursor,
            "cursors not strictly increasing: {:?} (id {}) then {:?} (id {})",
            pair[0].metadata.cursor,
            pair[0].id,
            pair[1].metadata.cursor,
            pair[1].id
        );
    }
}

/// Assert the cache equals the provider: the live (not DELETED) records are exactly the
/// provider's non-archived contacts with equal JSON, and every DELETED record is archived or
/// gone at the provider.
pub fn assert_cache_equals_provider(records: &[StoredRecord], provider: &BTreeMap<String, Value>) {
    assert_listing_well_formed(records);
    let live: BTreeMap<&str, &Value> = records
        .iter()
        .filter(|r| r.metadata.last_action != LastAction::Deleted)
        .map(|r| (r.id.as_str(), &r.data))
        .collect();
    let expected: BTreeMap<&str, &Value> = provider
        .iter()
        .filter(|(_, v)| v["archived"] != Value::Bool(true))
        .map(|(id, v)| (id.as_str(), v))
        .collect();
    let live_ids: BTreeSet<&str> = live.keys().copied().collect();
    let expected_ids: BTreeSet<&str> = expected.keys().copied().collect();
    let missing: Vec<_> = expected_ids.difference(&live_ids).take(10).collect();
    let extra: Vec<_> = live_ids.difference(&expected_ids).take(10).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "live ids differ from the provider's: {} live vs {} expected; missing from cache (first 10): {missing:?}; \
         in cache but not live at provider (first 10): {extra:?}",
        live_ids.len(),
        expected_ids.len()
    );
    for (id, want) in &expected {
        let got = live[id];
        assert_eq!(
            got, *want,
            "record {id}: cached JSON differs from the provider's"
        );
    }
    for r in records
        .iter()
        .filter(|r| r.metadata.last_action == LastAction::Deleted)
    {
        let at_provider = provider.get(&r.id);
        assert!(
            at_provider.is_none_or(|v| v["archived"] == Value::Bool(true)),
            "record {} is DELETED in the cache but live at the provider",
            r.id
        );
        assert!(
            r.metadata.deleted_at.is_some(),
            "record {} is DELETED without deleted_at",
            r.id
        );
    }
}

/// Ids as the cache spells them.
pub fn id_strings(ids: &[u64]) -> BTreeSet<String> {
    ids.iter().map(u64::to_string).collect()
}
