//! The benchmark provider: `GET /contacts` over page bodies rendered once, so serving a page is
//! a map lookup and a reference-counted `Bytes` clone (well under 10 % of a core).
//!
//! - `GET /contacts?limit=P` — first page; `&cursor=<16 hex>` — a following page;
//!   `&updated_after=<RFC 3339>` on the first page — only contacts with `updated_at` at or after
//!   it (rendered on first use and cached; [`start`] pre-renders the ones a benchmark asks for).
//!   Body `{"results":[...],"next_cursor":"<16 hex>"|null}` plus `Link: <…>; rel="next"`.
//! - `GET /_stats` — `{"requests","records","bytes"}` served by `/contacts` since start.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use serde::Serialize;

use crate::timestamp;
use crate::workload::Workload;

/// What to serve.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// The contacts.
    pub workload: Workload,
    /// Page sizes to pre-render (a request with another `limit` is a 400).
    pub page_sizes: Vec<usize>,
    /// Address to bind (`127.0.0.1:0` picks a free port).
    pub addr: SocketAddr,
}

/// Counters of `/contacts` traffic.
#[derive(Debug, Default, Serialize)]
pub struct Stats {
    /// Requests answered (any status).
    pub requests: AtomicU64,
    /// Records in the pages served.
    pub records: AtomicU64,
    /// Body bytes served.
    pub bytes: AtomicU64,
}

/// A snapshot of [`Stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct StatsSnapshot {
    /// Requests answered.
    pub requests: u64,
    /// Records served.
    pub records: u64,
    /// Body bytes served.
    pub bytes: u64,
}

impl Stats {
    /// The current counts.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            requests: self.requests.load(Ordering::Relaxed),
            records: self.records.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }
}

#[derive(Debug)]
struct RenderedPage {
    body: Bytes,
    link: Option<HeaderValue>,
    records: u64,
}

/// The pages of one (page size, filter) listing.
#[derive(Debug)]
struct View {
    pages: Vec<RenderedPage>,
}

/// `since = None` lists every contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ViewKey {
    limit: usize,
    since: Option<i64>,
}

#[derive(Debug, Default)]
struct Catalog {
    views: HashMap<ViewKey, Arc<View>>,
    /// Cursor token → (view, page index).
    cursors: HashMap<String, (ViewKey, usize)>,
}

#[derive(Debug)]
struct Shared {
    workload: Workload,
    page_sizes: Vec<usize>,
    base_url: String,
    /// `updated_at` of every contact, to select a filter's subset without rendering.
    updated_at: Vec<i64>,
    min_updated_at: i64,
    catalog: RwLock<Catalog>,
    stats: Arc<Stats>,
}

/// A running provider.
#[derive(Debug)]
pub struct RunningProvider {
    addr: SocketAddr,
    stats: Arc<Stats>,
    info: ProviderInfo,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// What a started provider serves, as written to its ready file.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderInfo {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// Contacts.
    pub n: u64,
    /// Seed.
    pub seed: u64,
    /// Revision.
    pub revision: u32,
    /// Contacts changed at this revision.
    pub changed: u64,
    /// Pages of the full listing per page size.
    pub pages: HashMap<usize, usize>,
    /// Body bytes of the full listing per page size.
    pub bytes: HashMap<usize, u64>,
    /// Newest `updated_at` of the previous revision: an incremental run from a checkpoint
    /// taken there asks for `updated_after=<this>`.
    pub previous_max_updated_at: String,
    /// Newest `updated_at` now.
    pub max_updated_at: String,
}

impl RunningProvider {
    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Traffic so far.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// What it serves.
    pub fn info(&self) -> &ProviderInfo {
        &self.info
    }

    /// Serve until the server stops (never, unless it fails).
    ///
    /// # Errors
    /// The server's I/O error.
    pub async fn wait(mut self) -> std::io::Result<()> {
        (&mut self.server)
            .await
            .map_err(|e| std::io::Error::other(format!("provider task failed: {e}")))?
    }
}

impl Drop for RunningProvider {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Bind, render every page of the full listing (and the incremental listings a benchmark asks
/// for) and start serving.
///
/// # Errors
/// A message naming the address that could not be bound, or an empty page size list.
pub async fn start(config: ProviderConfig) -> Result<RunningProvider, String> {
    if config.page_sizes.is_empty() || config.page_sizes.contains(&0) {
        return Err(format!(
            "page sizes {:?} must be a non-empty list of positive numbers",
            config.page_sizes
        ));
    }
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|e| format!("cannot bind {}: {e}", config.addr))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    let workload = config.workload;
    let page_sizes = config.page_sizes.clone();
    let base_url = format!("http://{addr}");
    let stats = Arc::new(Stats::default());
    let shared = {
        let base_url = base_url.clone();
        let stats = stats.clone();
        tokio::task::spawn_blocking(move || prepare(workload, page_sizes, base_url, stats))
            .await
            .map_err(|e| format!("rendering the pages failed: {e}"))?
    };
    let info = shared.info();
    let shared = Arc::new(shared);
    let app = Router::new()
        .route("/contacts", get(contacts))
        .route("/_stats", get(stats_handler))
        .with_state(shared);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(RunningProvider {
        addr,
        stats,
        info,
        server,
    })
}

fn prepare(
    workload: Workload,
    page_sizes: Vec<usize>,
    base_url: String,
    stats: Arc<Stats>,
) -> Shared {
    let updated_at: Vec<i64> = (0..workload.len())
        .map(|i| workload.updated_at(i))
        .collect();
    let min_updated_at = updated_at.iter().copied().min().unwrap_or(0);
    let shared = Shared {
        workload,
        page_sizes,
        base_url,
        updated_at,
        min_updated_at,
        catalog: RwLock::new(Catalog::default()),
        stats,
    };
    let previous = workload.previous();
    let previous_max = (0..workload.len())
        .map(|i| previous.updated_at(i))
        .max()
        .unwrap_or(0);
    let current_max = shared.updated_at.iter().copied().max().unwrap_or(0);
    for &limit in &shared.page_sizes {
        shared.view(limit, None);
        // An incremental run after a full sync of the previous revision, and one with nothing
        // changed since this revision.
        shared.view(limit, Some(previous_max));
        shared.view(limit, Some(current_max));
    }
    shared
}

impl Shared {
    fn info(&self) -> ProviderInfo {
        let catalog = self.catalog.read().expect("catalog lock");
        let full = |limit: usize| catalog.views.get(&ViewKey { limit, since: None });
        let previous = self.workload.previous();
        ProviderInfo {
            url: self.base_url.clone(),
            n: self.workload.len(),
            seed: self.workload.seed(),
            revision: self.workload.revision(),
            changed: if self.workload.revision() >= 2 {
                self.workload.changed_at_this_revision()
            } else {
                0
            },
            pages: self
                .page_sizes
                .iter()
                .map(|&p| (p, full(p).map_or(0, |v| v.pages.len())))
                .collect(),
            bytes: self
                .page_sizes
                .iter()
                .map(|&p| {
                    let bytes = full(p).map_or(0, |v| {
                        v.pages.iter().map(|page| page.body.len() as u64).sum()
                    });
                    (p, bytes)
                })
                .collect(),
            previous_max_updated_at: timestamp::format(
                (0..self.workload.len())
                    .map(|i| previous.updated_at(i))
                    .max()
                    .unwrap_or(0),
            ),
            max_updated_at: timestamp::format(self.updated_at.iter().copied().max().unwrap_or(0)),
        }
    }

    fn cursor_token(&self, key: ViewKey, page: usize) -> String {
        let text = format!(
            "{}:{}:{}:{:?}:{page}",
            self.workload.seed(),
            self.workload.revision(),
            key.limit,
            key.since
        );
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
    }

    /// The view for `limit` and `since`, rendered on first use.
    fn view(&self, limit: usize, since: Option<i64>) -> (ViewKey, Arc<View>) {
        // A filter that keeps every contact is the full listing.
        let since = since.filter(|&s| s > self.min_updated_at);
        let key = ViewKey { limit, since };
        if let Some(view) = self.catalog.read().expect("catalog lock").views.get(&key) {
            return (key, view.clone());
        }
        let ids: Vec<u64> = match since {
            None => (0..self.workload.len()).collect(),
            Some(s) => (0..self.workload.len())
                .filter(|&i| self.updated_at[i as usize] >= s)
                .collect(),
        };
        let chunks: Vec<&[u64]> = if ids.is_empty() {
            vec![&[]]
        } else {
            ids.chunks(limit).collect()
        };
        let tokens: Vec<String> = (0..chunks.len())
            .map(|k| self.cursor_token(key, k))
            .collect();
        let mut pages = Vec::with_capacity(chunks.len());
        for (k, chunk) in chunks.iter().enumerate() {
            let next = tokens.get(k + 1);
            let mut body = Vec::with_capacity(chunk.len() * 800 + 64);
            body.extend_from_slice(b"{\"results\":[");
            for (j, &i) in chunk.iter().enumerate() {
                if j > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(&self.workload.contact_json(i));
            }
            body.extend_from_slice(b"],\"next_cursor\":");
            match next {
                Some(token) => {
                    body.push(b'"');
                    body.extend_from_slice(token.as_bytes());
                    body.push(b'"');
                }
                None => body.extend_from_slice(b"null"),
            }
            body.push(b'}');
            let link = next.and_then(|token| {
                HeaderValue::from_str(&format!(
                    "<{}/contacts?cursor={token}&limit={limit}>; rel=\"next\"",
                    self.base_url
                ))
                .ok()
            });
            pages.push(RenderedPage {
                body: Bytes::from(body),
                link,
                records: chunk.len() as u64,
            });
        }
        let view = Arc::new(View { pages });
        let mut catalog = self.catalog.write().expect("catalog lock");
        for (k, token) in tokens.into_iter().enumerate() {
            catalog.cursors.insert(token, (key, k));
        }
        catalog.views.insert(key, view.clone());
        (key, view)
    }
}

fn error(status: StatusCode, message: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "error": message }).to_string(),
    )
        .into_response()
}

async fn contacts(
    State(shared): State<Arc<Shared>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    shared.stats.requests.fetch_add(1, Ordering::Relaxed);
    let limit = match params.get("limit").map(|l| l.parse::<usize>()) {
        Some(Ok(limit)) if shared.page_sizes.contains(&limit) => limit,
        Some(_) | None => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "limit {:?} is not served: this provider pre-rendered page sizes {:?}",
                    params.get("limit"),
                    shared.page_sizes
                ),
            );
        }
    };
    let (view, index) = match params.get("cursor").filter(|c| !c.is_empty()) {
        Some(cursor) => {
            let found = {
                let catalog = shared.catalog.read().expect("catalog lock");
                catalog
                    .cursors
                    .get(cursor.as_str())
                    .and_then(|(key, k)| Some((catalog.views.get(key)?.clone(), *k, key.limit)))
            };
            match found {
                Some((view, k, view_limit)) if view_limit == limit => (view, k),
                Some((_, _, view_limit)) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        format!("cursor {cursor:?} belongs to limit {view_limit}, not {limit}"),
                    );
                }
                None => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        format!("cursor {cursor:?} is unknown"),
                    );
                }
            }
        }
        None => {
            let since = match params.get("updated_after").map(|s| timestamp::parse(s)) {
                None => None,
                Some(Ok(since)) => Some(since),
                Some(Err(e)) => {
                    return error(StatusCode::BAD_REQUEST, format!("updated_after: {e}"));
                }
            };
            let shared = shared.clone();
            let (_, view) = tokio::task::spawn_blocking(move || shared.view(limit, since))
                .await
                .expect("rendering a view does not panic");
            (view, 0)
        }
    };
    let page = &view.pages[index];
    shared
        .stats
        .records
        .fetch_add(page.records, Ordering::Relaxed);
    shared
        .stats
        .bytes
        .fetch_add(page.body.len() as u64, Ordering::Relaxed);
    let mut response = (
        [(header::CONTENT_TYPE, "application/json")],
        page.body.clone(),
    )
        .into_response();
    if let Some(link) = &page.link {
        response.headers_mut().insert(header::LINK, link.clone());
    }
    response
}

async fn stats_handler(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(shared.stats.snapshot()).into_response()
}
