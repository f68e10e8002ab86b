//! Test support shared by this crate's tests: a loopback server that records every exchange
//! in the replay-fixture format, a fixture checker, and a harness running a sync through the
//! real `Driver` into a SQLite file in a temporary directory.
//!
//! (Kept in each integration crate until `sync_runtime::testing` lands; then the harness part
//! is replaced by the conformance suite, and the fixtures written here feed its replay provider.)
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Value, json};
use sync_runtime::connection::Credentials;
use sync_runtime::driver::{Driver, RunOptions, RunReport, SyncTarget};
use sync_runtime::store::{
    LastAction, RecordQuery, RunStatus, SqliteStore, Store, StoredRecord, SyncKey,
};
use sync_sdk::{Connection, Integration};

/// The exchanges a loopback fake served, each in the fixture format.
#[derive(Clone, Default)]
pub struct Exchanges(Arc<Mutex<Vec<Value>>>);

impl Exchanges {
    /// Everything recorded so far.
    pub fn all(&self) -> Vec<Value> {
        self.0.lock().unwrap().clone()
    }

    /// Number of requests served so far.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    fn push(&self, exchange: Value) {
        self.0.lock().unwrap().push(exchange);
    }
}

/// Serve `router` on 127.0.0.1, recording every exchange; returns the base URL.
pub async fn serve(router: Router, exchanges: Exchanges) -> String {
    let router = router.layer(axum::middleware::from_fn(
        move |request: Request, next: Next| {
            let exchanges = exchanges.clone();
            async move { record(exchanges, request, next).await }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let address = listener.local_addr().expect("loopback address");
    tokio::spawn(async move {
        axum::serve(listener, router)
            .await
            .expect("loopback fake stopped")
    });
    format!("http://{address}")
}

fn body_value(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| json!({ "$text": String::from_utf8_lossy(bytes) }))
}

async fn record(exchanges: Exchanges, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let mut query: Vec<(String, String)> = Query::try_from_uri(&parts.uri)
        .map(|Query(q)| q)
        .unwrap_or_default();
    query.sort();
    // Credentials travel in headers, which are never recorded.
    let recorded_request = json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": query,
        "body": body_value(&bytes),
    });
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let headers: BTreeMap<String, String> = parts
        .headers
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "content-length" | "date"))
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    exchanges.push(json!({
        "request": recorded_request,
        "response": {
            "status": parts.status.as_u16(),
            "headers": headers,
            "body": body_value(&bytes),
        }
    }));
    Response::from_parts(parts, Body::from(bytes))
}

/// Compare the recorded exchanges with the fixture set in `dir` (`NNNN.json`, absolute URLs
/// as `{{base_url}}`); with `SYNCFN_UPDATE_FIXTURES=1` rewrite the set instead.
pub fn check_fixtures(dir: &Path, exchanges: &[Value], base_url: &str) {
    let rendered: Vec<String> = exchanges
        .iter()
        .map(|e| {
            let text = serde_json::to_string_pretty(e).expect("exchange serializes");
            format!("{}\n", text.replace(base_url, "{{base_url}}"))
        })
        .collect();
    let existing = |dir: &Path| -> Vec<std::path::PathBuf> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "json"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    };
    if std::env::var_os("SYNCFN_UPDATE_FIXTURES").is_some() {
        std::fs::create_dir_all(dir).expect("create the fixture directory");
        for old in existing(dir) {
            std::fs::remove_file(old).expect("remove an old fixture");
        }
        for (i, text) in rendered.iter().enumerate() {
            std::fs::write(dir.join(format!("{:04}.json", i + 1)), text).expect("write a fixture");
        }
        return;
    }
    let files = existing(dir);
    assert_eq!(
        files.len(),
        rendered.len(),
        "{} holds {} fixtures but the fake served {} exchanges; rerun with SYNCFN_UPDATE_FIXTURES=1 \
         if the change is intended",
        dir.display(),
        files.len(),
        rendered.len()
    );
    for (path, text) in files.iter().zip(&rendered) {
        let stored = std::fs::read_to_string(path).expect("read a fixture");
        assert_eq!(
            &stored,
            text,
            "fixture {} differs from the exchange the fake served; rerun with SYNCFN_UPDATE_FIXTURES=1 \
             if the change is intended",
            path.display()
        );
    }
}

/// A minimal replay provider following the fixture contract (identity = method + path +
/// sorted query + body; several responses for one identity are served in order, then the
/// last repeats; `{{base_url}}` becomes this server's URL; anything unrecorded gets 599 and
/// counts as a miss). It proves the fixture sets replay until `sync_runtime::testing` lands.
#[derive(Clone, Default)]
pub struct Replay {
    responses: Arc<Mutex<Recorded>>,
    misses: Arc<Mutex<Vec<Value>>>,
}

impl Replay {
    /// Requests that matched no fixture.
    pub fn misses(&self) -> Vec<Value> {
        self.misses.lock().unwrap().clone()
    }
}

/// Responses recorded per request identity, and how many of them were served.
type Recorded = BTreeMap<String, (Vec<Value>, usize)>;

fn identity(request: &Value) -> String {
    serde_json::to_string(&json!([
        request["method"],
        request["path"],
        request["query"],
        request["body"]
    ]))
    .expect("identity serializes")
}

/// Serve the fixture set in `dir` on 127.0.0.1; returns the base URL and the replay state.
pub async fn replay(dir: &Path) -> (String, Replay) {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let replay = Replay::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let base = format!(
        "http://{}",
        listener.local_addr().expect("loopback address")
    );
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read a fixture");
        let exchange: Value = serde_json::from_str(&text.replace("{{base_url}}", &base))
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", file.display()));
        let mut responses = replay.responses.lock().unwrap();
        let entry = responses
            .entry(identity(&exchange["request"]))
            .or_insert_with(|| (Vec::new(), 0));
        entry.0.push(exchange["response"].clone());
    }
    let state = replay.clone();
    let router = Router::new().fallback(move |request: Request| {
        let state = state.clone();
        async move {
            let (parts, body) = request.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let mut query: Vec<(String, String)> = Query::try_from_uri(&parts.uri)
                .map(|Query(q)| q)
                .unwrap_or_default();
            query.sort();
            let request = json!({
                "method": parts.method.as_str(),
                "path": parts.uri.path(),
                "query": query,
                "body": body_value(&bytes),
            });
            let found = {
                let mut responses = state.responses.lock().unwrap();
                responses.get_mut(&identity(&request)).map(|(list, next)| {
                    let response = list[(*next).min(list.len() - 1)].clone();
                    *next += 1;
                    response
                })
            };
            let Some(response) = found else {
                state.misses.lock().unwrap().push(request.clone());
                let body = json!({"error": "unrecorded request", "request": request});
                return Response::builder()
                    .status(599)
                    .header("content-type", "application/json")
                    .body(Body::from(body.to_string()))
                    .expect("a response");
            };
            let mut builder =
                Response::builder().status(response["status"].as_u64().unwrap_or(500) as u16);
            if let Some(headers) = response["headers"].as_object() {
                for (name, value) in headers {
                    builder = builder.header(name, value.as_str().unwrap_or_default());
                }
            }
            let body = match &response["body"] {
                Value::Null => Vec::new(),
                Value::Object(o) if o.len() == 1 && o.contains_key("$text") => {
                    o["$text"].as_str().unwrap_or_default().as_bytes().to_vec()
                }
                other => other.to_string().into_bytes(),
            };
            builder.body(Body::from(body)).expect("a response")
        }
    });
    tokio::spawn(async move {
        axum::serve(listener, router)
            .await
            .expect("replay provider stopped")
    });
    (base, replay)
}

/// Credentials from their connection-config JSON form.
pub fn credentials(config: Value) -> Credentials {
    serde_json::from_value(config).expect("valid credentials")
}

/// One sync of one connection, run by the real driver into a temporary SQLite file.
pub struct Harness {
    _dir: tempfile::TempDir,
    pub store: Arc<dyn Store>,
    driver: Driver,
    pub target: SyncTarget,
}

impl Harness {
    pub fn new(
        integration: &Integration,
        sync: &str,
        base_url: &str,
        credentials: Credentials,
    ) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(dir.path().join("cache.db")).expect("open the SQLite store"),
        );
        let client = sync_runtime::http::build_client().expect("HTTP client");
        let driver = Driver::new(store.clone(), client);
        let erased = integration
            .find_sync(sync)
            .unwrap_or_else(|| panic!("{} has no sync {sync:?}", integration.name()))
            .clone();
        let target = SyncTarget {
            key: SyncKey::new("test-connection", integration.name(), sync),
            sync: erased,
            connection: Arc::new(Connection::new("test-connection", integration.name())),
            base_url: base_url.to_string(),
            credentials,
            metadata: Value::Null,
            http: sync_runtime::http::HttpOptions {
                unlimited: true,
                ..Default::default()
            },
        };
        Self {
            _dir: dir,
            store,
            driver,
            target,
        }
    }

    /// Run once, whatever the outcome.
    pub async fn run(&self) -> RunReport {
        self.driver
            .run(&self.target, RunOptions::default())
            .await
            .expect("the store works")
    }

    /// Run once and require success.
    pub async fn run_ok(&self) -> RunReport {
        let report = self.run().await;
        assert_eq!(
            report.status,
            RunStatus::Success,
            "the run did not complete: {:?}",
            report.error
        );
        report
    }

    /// The checkpoint of the last completed pass.
    pub async fn checkpoint(&self) -> Option<Value> {
        self.store
            .checkpoint(&self.target.key)
            .await
            .expect("read the checkpoint")
    }

    /// Every cached record of `model` (deleted ones too) after `cursor`, in cursor order.
    pub async fn changes_after(&self, model: &str, cursor: Option<String>) -> Vec<StoredRecord> {
        let mut query = RecordQuery::new("test-connection", model);
        query.limit = 10_000;
        query.cursor = cursor;
        let mut all = Vec::new();
        loop {
            let page = self.store.list_records(&query).await.expect("list records");
            all.extend(page.records);
            match page.next_cursor {
                Some(next) => query.cursor = Some(next),
                None => return all,
            }
        }
    }

    /// Every cached record of `model`, keyed by id.
    pub async fn records(&self, model: &str) -> BTreeMap<String, StoredRecord> {
        self.changes_after(model, None)
            .await
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect()
    }

    /// Ids of `model` records currently not deleted.
    pub async fn live_ids(&self, model: &str) -> Vec<String> {
        self.records(model)
            .await
            .into_values()
            .filter(|r| r.metadata.last_action != LastAction::Deleted)
            .map(|r| r.id)
            .collect()
    }

    /// The cursor of the newest change of `model`.
    pub async fn last_cursor(&self, model: &str) -> Option<String> {
        self.changes_after(model, None)
            .await
            .last()
            .map(|r| r.metadata.cursor.clone())
    }
}

/// `(action, id)` of each change, sorted, for exact comparisons.
pub fn actions(changes: &[StoredRecord]) -> Vec<(String, String)> {
    let mut out: Vec<_> = changes
        .iter()
        .map(|r| (r.metadata.last_action.as_str().to_string(), r.id.clone()))
        .collect();
    out.sort();
    out
}
