//! Shared pieces of the `http_*` tests: a small fan-out sync, a loopback server helper and a
//! driver over a real SQLite file.
#![allow(dead_code)]

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sync_runtime::connection::Credentials;
use sync_runtime::driver::{Driver, RunOptions, RunReport, SyncTarget};
use sync_runtime::http::HttpOptions;
use sync_runtime::store::{SqliteStore, Store, SyncKey};
use sync_sdk::{
    Connection, Model, Page, PageRequest, SyncContext, SyncError, SyncFunction, SyncSpec,
};

/// One item; the provider derives it from (page, part).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Item {
    pub id: u64,
    pub page: u64,
    pub part: u64,
}

impl Model for Item {
    const NAME: &'static str = "Item";
    fn id(&self) -> String {
        self.id.to_string()
    }
}

/// The body the provider answers for (page, part): one item.
pub fn items_body(page: u64, part: u64, fanout: u64) -> serde_json::Value {
    serde_json::json!({ "items": [{ "id": (page - 1) * fanout + part, "page": page, "part": part }] })
}

/// Fetches page p as `fanout` concurrent GETs of `/items?page=p&part=i`, `pages` pages.
#[derive(Debug)]
pub struct Items;

fn param(cx: &SyncContext<()>, name: &str) -> Result<u64, SyncError> {
    cx.connection()
        .param(name)?
        .parse()
        .map_err(|_| SyncError::config(format!("param {name} is not a number")))
}

impl SyncFunction for Items {
    type Record = Item;
    type Checkpoint = ();
    type Metadata = ();

    fn spec(&self) -> SyncSpec {
        SyncSpec::builder("items").build().unwrap()
    }

    async fn fetch_page(
        &self,
        cx: &SyncContext<()>,
        request: PageRequest<'_, ()>,
    ) -> Result<Page<Item>, SyncError> {
        let page: u64 = request.cursor.map_or(Ok(1), |c| {
            c.parse()
                .map_err(|_| SyncError::internal(format!("bad cursor {c:?}")))
        })?;
        let pages = param(cx, "pages")?;
        let fanout = param(cx, "fanout")?;
        let requests = (0..fanout).map(|part| {
            cx.http()
                .get("/items")
                .query("page", page)
                .query("part", part)
                .send()
        });
        let mut records = Vec::new();
        for response in futures::future::join_all(requests).await {
            records.extend(response?.records::<Item>("items")?);
        }
        let next = (page < pages).then(|| (page + 1).to_string());
        Ok(Page::new(records).next_opt(next))
    }
}

/// Serve `router` on 127.0.0.1; returns its base URL.
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    format!("http://{addr}")
}

/// A driver over a fresh SQLite file (kept alive by the returned guard).
pub fn driver() -> (Driver, Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("cache.db")).unwrap());
    let client = sync_runtime::http::build_client().unwrap();
    (Driver::new(store.clone(), client), store, dir)
}

/// The target of the `items` sync for connection `conn`.
pub fn target(
    base_url: &str,
    pages: u64,
    fanout: u64,
    credentials: Credentials,
    http: HttpOptions,
) -> SyncTarget {
    let connection = Connection::new("conn", "fake")
        .with_param("pages", pages.to_string())
        .with_param("fanout", fanout.to_string());
    SyncTarget {
        key: SyncKey::new("conn", "fake", "items"),
        sync: Arc::new(Items),
        connection: Arc::new(connection),
        base_url: base_url.to_string(),
        credentials,
        metadata: serde_json::Value::Null,
        http,
    }
}

/// Run once with default options.
pub async fn run(driver: &Driver, target: &SyncTarget) -> RunReport {
    driver.run(target, RunOptions::default()).await.unwrap()
}

/// The ids of all cached items, sorted.
pub async fn cached_ids(store: &Arc<dyn Store>) -> Vec<u64> {
    let mut query = sync_runtime::store::RecordQuery::new("conn", "Item");
    query.limit = 10_000;
    let page = store.list_records(&query).await.unwrap();
    let mut ids: Vec<u64> = page.records.iter().map(|r| r.id.parse().unwrap()).collect();
    ids.sort_unstable();
    ids
}
