//! A loopback provider with mutable data, for incremental and delete scenarios: build it with
//! records, sync, then create / update / archive / remove records and sync again.
//!
//! `GET {path}?limit=&cursor=&updated_after=` answers `{"data": [...], "next_cursor": ...}`.
//! Without `updated_after` items come in id order; with it, only items updated at or after it,
//! oldest change first. Every item carries `id` (string), `updated_at` (RFC 3339),
//! `archived` (bool) and the fields the builder's `record` function returns.
//!
//! ```no_run
//! # async fn f() -> std::io::Result<()> {
//! use sync_runtime::testing::FakeProvider;
//! let provider = FakeProvider::builder()
//!     .path("/tickets")
//!     .items(30)
//!     .page_size(10)
//!     .record(|id, revision| serde_json::json!({"subject": format!("ticket {id}"), "revision": revision}))
//!     .start()
//!     .await?;
//! provider.update(&[3, 4]);
//! provider.archive(&[5]);
//! let new_ids = provider.add(2);
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::fake_dataset::{self, Versioned};

type RecordFn = Arc<dyn Fn(u64, u64) -> Value + Send + Sync>;

const BASE_EPOCH: i64 = 1_704_067_200; // 2024-01-01T00:00:00Z

/// Builds a [`FakeProvider`].
#[derive(Clone)]
pub struct FakeProviderBuilder {
    path: String,
    items: u64,
    page_size: usize,
    record: RecordFn,
    echo_credential: Option<String>,
}

impl std::fmt::Debug for FakeProviderBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeProviderBuilder")
            .field("path", &self.path)
            .field("items", &self.items)
            .field("page_size", &self.page_size)
            .finish_non_exhaustive()
    }
}

impl FakeProviderBuilder {
    /// The list endpoint's path (default `/items`).
    pub fn path(mut self, path: &str) -> Self {
        self.path = path.to_string();
        self
    }

    /// Items at start, ids `1..=n` (default 25).
    pub fn items(mut self, n: u64) -> Self {
        self.items = n;
        self
    }

    /// Items per page when the request sets no `limit` (default 10).
    pub fn page_size(mut self, n: usize) -> Self {
        self.page_size = n.max(1);
        self
    }

    /// The provider-specific fields of item `id` at `revision` (default `name`, `revision`).
    pub fn record(mut self, f: impl Fn(u64, u64) -> Value + Send + Sync + 'static) -> Self {
        self.record = Arc::new(f);
        self
    }

    /// Put the request's credential (the `Authorization` header minus its scheme) into field
    /// `field` of every item, like an account object returning its own API key: for testing
    /// that a sync copying it is caught.
    pub fn echo_credential_as(mut self, field: &str) -> Self {
        self.echo_credential = Some(field.to_string());
        self
    }

    /// Start on 127.0.0.1 with an ephemeral port.
    ///
    /// # Errors
    /// The port could not be bound.
    pub async fn start(self) -> std::io::Result<FakeProvider> {
        let mut items = BTreeMap::new();
        for id in 1..=self.items {
            items.insert(
                id,
                Item {
                    revision: 0,
                    updated: id,
                    archived: false,
                },
            );
        }
        let state = Arc::new(Mutex::new(FakeState {
            items,
            clock: self.items,
            next_id: self.items + 1,
            requests: 0,
        }));
        let shared = Arc::new(Shared {
            state,
            record: self.record,
            page_size: self.page_size,
            echo_credential: self.echo_credential,
        });
        let app = Router::new()
            .route(&self.path, get(list))
            .with_state(shared.clone());
        Ok(FakeProvider {
            base_url: serve_router(app).await?,
            shared,
        })
    }
}

/// Serve `router` on 127.0.0.1 with an ephemeral port until the runtime stops; returns its
/// base URL (`http://127.0.0.1:<port>`). For an integration's own loopback fake of its provider.
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// let router = axum::Router::new().route("/ping", axum::routing::get(|| async { "pong" }));
/// let base_url = sync_runtime::testing::serve_router(router).await?;
/// # Ok(()) }
/// ```
///
/// # Errors
/// The port could not be bound.
pub async fn serve_router(router: Router) -> std::io::Result<String> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(format!("http://{addr}"))
}

#[derive(Debug, Clone, Copy)]
struct Item {
    revision: u64,
    /// Logical seconds after 2024-01-01.
    updated: u64,
    archived: bool,
}

impl Versioned for Item {
    fn revise(&mut self, clock: u64) {
        self.revision += 1;
        self.updated = clock;
    }

    fn archive(&mut self, clock: u64) {
        self.archived = true;
        self.updated = clock;
    }
}

#[derive(Debug)]
struct FakeState {
    items: BTreeMap<u64, Item>,
    clock: u64,
    next_id: u64,
    requests: u64,
}

struct Shared {
    state: Arc<Mutex<FakeState>>,
    record: RecordFn,
    page_size: usize,
    echo_credential: Option<String>,
}

/// A running fake provider; see the module docs.
#[derive(Clone)]
pub struct FakeProvider {
    base_url: String,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for FakeProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeProvider")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// RFC 3339 time of logical second `t`.
pub fn timestamp(t: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp(BASE_EPOCH + t as i64)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn parse_timestamp(s: &str) -> Option<u64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some((t.unix_timestamp() - BASE_EPOCH).max(0) as u64)
}

impl FakeProvider {
    /// A builder with the defaults (`/items`, 25 items, 10 per page).
    pub fn builder() -> FakeProviderBuilder {
        FakeProviderBuilder {
            path: "/items".into(),
            items: 25,
            page_size: 10,
            record: Arc::new(
                |id, revision| json!({"name": format!("item {id}"), "revision": revision}),
            ),
            echo_credential: None,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    fn with<T>(&self, f: impl FnOnce(&mut FakeState) -> T) -> T {
        f(&mut self.shared.state.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Change these items (next revision, new `updated_at`).
    pub fn update(&self, ids: &[u64]) {
        self.with(|s| fake_dataset::revise(&mut s.items, &mut s.clock, ids))
    }

    /// Archive these items (served with `"archived": true`).
    pub fn archive(&self, ids: &[u64]) {
        self.with(|s| fake_dataset::archive(&mut s.items, &mut s.clock, ids))
    }

    /// Remove these items entirely (only a full-refresh diff notices).
    pub fn remove(&self, ids: &[u64]) {
        self.with(|s| {
            for id in ids {
                s.items.remove(id);
            }
        })
    }

    /// Create `n` items; returns their ids.
    pub fn add(&self, n: u64) -> Vec<u64> {
        self.with(|s| {
            (0..n)
                .map(|_| {
                    let id = s.next_id;
                    s.next_id += 1;
                    s.clock += 1;
                    let item = Item {
                        revision: 0,
                        updated: s.clock,
                        archived: false,
                    };
                    s.items.insert(id, item);
                    id
                })
                .collect()
        })
    }

    /// The current items as served (id → JSON), archived ones included.
    pub fn snapshot(&self) -> BTreeMap<String, Value> {
        let items: Vec<(u64, Item)> =
            self.with(|s| s.items.iter().map(|(k, v)| (*k, *v)).collect());
        items
            .into_iter()
            .map(|(id, item)| (id.to_string(), render(&self.shared, id, &item, None)))
            .collect()
    }

    /// Requests received.
    pub fn requests(&self) -> u64 {
        self.with(|s| s.requests)
    }
}

fn render(shared: &Shared, id: u64, item: &Item, credential: Option<&str>) -> Value {
    let mut value = (shared.record)(id, item.revision);
    if let Value::Object(map) = &mut value {
        map.insert("id".into(), Value::String(id.to_string()));
        map.insert("updated_at".into(), Value::String(timestamp(item.updated)));
        map.insert("archived".into(), Value::Bool(item.archived));
        if let (Some(field), Some(credential)) = (&shared.echo_credential, credential) {
            map.insert(field.clone(), Value::String(credential.to_string()));
        }
    }
    value
}

#[derive(Debug, Deserialize)]
struct ListParams {
    limit: Option<usize>,
    cursor: Option<String>,
    updated_after: Option<String>,
}

fn bad_request(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": {"message": message}})),
    )
        .into_response()
}

async fn list(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(params): Query<ListParams>,
) -> Response {
    let limit = params.limit.unwrap_or(shared.page_size).clamp(1, 1000);
    let since = match params.updated_after.as_deref().map(parse_timestamp) {
        Some(None) => return bad_request("updated_after must be an RFC 3339 timestamp"),
        Some(Some(t)) => Some(t),
        None => None,
    };
    let position: Option<(u64, u64)> = match params.cursor.as_deref() {
        None => None,
        Some(c) => match c
            .split_once('-')
            .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        {
            Some(p) => Some(p),
            None => return bad_request("invalid cursor"),
        },
    };
    let credential = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split_once(' ').map_or(v, |(_, rest)| rest).to_string());
    let page: Vec<(u64, u64, Item)> = {
        let mut s = shared.state.lock().unwrap_or_else(|p| p.into_inner());
        s.requests += 1;
        let mut keyed: Vec<(u64, u64, Item)> = match since {
            None => s.items.iter().map(|(id, it)| (0, *id, *it)).collect(),
            Some(since) => s
                .items
                .iter()
                .filter(|(_, it)| it.updated >= since)
                .map(|(id, it)| (it.updated, *id, *it))
                .collect(),
        };
        keyed.sort_by_key(|(u, id, _)| (*u, *id));
        keyed
            .into_iter()
            .filter(|(u, id, _)| position.is_none_or(|p| (*u, *id) > p))
            .take(limit + 1)
            .collect()
    };
    let more = page.len() > limit;
    let page = &page[..page.len().min(limit)];
    let next = if more {
        page.last().map(|(u, id, _)| format!("{u}-{id}"))
    } else {
        None
    };
    let data: Vec<Value> = page
        .iter()
        .map(|(_, id, item)| render(&shared, *id, item, credential.as_deref()))
        .collect();
    axum::Json(json!({"data": data, "next_cursor": next})).into_response()
}
