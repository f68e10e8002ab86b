//! Test support: the fake GitHub and a harness running the sync into a real SQLite file.

pub mod fake_github;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;
use sync_runtime::connection::Credentials;
use sync_runtime::driver::{Driver, RunOptions, RunReport, SyncTarget};
use sync_runtime::store::{RecordQuery, SqliteStore, Store, StoredRecord, SyncKey};
use sync_sdk::Connection;

pub use fake_github::FakeGithub;

pub const CONNECTION: &str = "acme";

/// The `github/issues` sync of one connection, run by the real driver into a SQLite file.
pub struct Harness {
    pub driver: Driver,
    pub store: Arc<dyn Store>,
    pub target: SyncTarget,
}

impl Harness {
    /// A harness for `connection` against `base_url`, storing in `db`.
    pub fn new(db: &Path, base_url: String, connection: Connection) -> Self {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(db).expect("open sqlite store"));
        let client = sync_runtime::http::build_client().expect("http client");
        let github = syncfn_github::integration();
        let sync = github.find_sync("issues").expect("issues sync").clone();
        let target = SyncTarget {
            key: SyncKey::new(&connection.id, github.name(), "issues"),
            sync,
            connection: Arc::new(connection),
            base_url,
            credentials: Credentials::None,
            metadata: Value::Null,
            http: Default::default(),
        };
        Self {
            driver: Driver::new(store.clone(), client),
            store,
            target,
        }
    }

    /// `owner/repo` on the fake.
    pub fn for_repo(db: &Path, fake: &FakeGithub, owner: &str, repo: &str) -> Self {
        let connection = Connection::new(CONNECTION, "github")
            .with_param("owner", owner)
            .with_param("repo", repo);
        Self::new(db, fake.base_url(), connection)
    }

    pub async fn run(&self) -> RunReport {
        self.driver
            .run(&self.target, RunOptions::default())
            .await
            .expect("the store works")
    }

    /// The connection's checkpoint's `updated_at`.
    pub async fn checkpoint(&self) -> Option<String> {
        self.store
            .checkpoint(&self.target.key)
            .await
            .expect("read checkpoint")
            .map(|c| {
                c["updated_at"]
                    .as_str()
                    .expect("updated_at string")
                    .to_string()
            })
    }

    /// Every stored Issue after `cursor`, in cursor order.
    pub async fn changes_after(&self, cursor: Option<String>) -> Vec<StoredRecord> {
        let mut query = RecordQuery::new(&self.target.connection.id, "Issue");
        query.cursor = cursor;
        query.limit = 1000;
        let mut out = Vec::new();
        loop {
            let page = self.store.list_records(&query).await.expect("list records");
            out.extend(page.records);
            match page.next_cursor {
                Some(next) => query.cursor = Some(next),
                None => return out,
            }
        }
    }

    /// Every stored Issue's data, keyed by id.
    pub async fn stored(&self) -> HashMap<String, Value> {
        let records = self.changes_after(None).await;
        let count = records.len();
        let map: HashMap<String, Value> = records.into_iter().map(|r| (r.id, r.data)).collect();
        assert_eq!(map.len(), count, "duplicate ids in the cache");
        map
    }

    /// The cursor of the last change stored so far.
    pub async fn last_cursor(&self) -> Option<String> {
        self.changes_after(None)
            .await
            .last()
            .map(|r| r.metadata.cursor.clone())
    }
}
