//! A loopback CRM provider with mutable data, for the demo, tests and benchmarks.
//!
//! `GET /contacts?limit=&cursor=&updated_after=` answers
//! `{"results": [...], "next_cursor": "<token>" | null}` and the same next page as an RFC 8288
//! `Link: <…>; rel="next"` header. Without `updated_after` contacts come in id order; with it,
//! only contacts updated at or after it, oldest change first. Archived contacts are served with
//! `"archived": true`; removed contacts disappear. Faults can be injected to test failure paths.
//!
//! The same contacts are served in other pagination styles (each with `updated_after`, and
//! the same ordering rules), so declarative syncs of every style run against one fake:
//! - `GET /v2/contacts/link-body?limit=&after=` → `{"data": [...], "links": {"next": url | null}}`
//!   (next link in the body);
//! - `GET /v2/contacts/offset?offset=&limit=` → `{"items": [...], "total": n}` (offset by
//!   response size; a dataset that is a multiple of `limit` ends with an empty page);
//! - `GET /v2/contacts/pages?page=&per_page=` → a bare JSON array (page numbers from 1).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::fake_dataset::{self, Versioned};

/// A failure the fake serves instead of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A 200 whose body is not JSON.
    NotJson,
    /// A page whose third record has no `id`.
    MissingId,
    /// A page whose third record has a number where the schema wants a string (`email`).
    SchemaViolation,
    /// HTTP 500.
    ServerError,
    /// HTTP 400 with a JSON error body.
    BadRequest,
    /// A next cursor that points back at the page just served (a looping provider).
    RepeatCursor,
}

#[derive(Debug, Clone, Copy)]
struct ArmedFault {
    fault: Fault,
    /// Pages to serve normally before the fault.
    after_pages: u64,
    /// Keep failing after the first time.
    sticky: bool,
}

#[derive(Debug)]
struct Contact {
    /// Logical time of the last change, in seconds after the base date.
    updated: u64,
    archived: bool,
    revision: u64,
    /// Fields set by `POST /contacts`, served instead of the generated ones.
    fields: serde_json::Map<String, Value>,
}

impl Versioned for Contact {
    fn revise(&mut self, clock: u64) {
        self.revision += 1;
        self.updated = clock;
    }

    fn archive(&mut self, clock: u64) {
        self.archived = true;
        self.updated = clock;
    }
}

#[derive(Debug, Default)]
struct FakeState {
    contacts: BTreeMap<u64, Contact>,
    clock: u64,
    next_id: u64,
    requests: u64,
    pages_served: u64,
    fault: Option<ArmedFault>,
    page_delay: Duration,
}

const BASE_EPOCH: i64 = 1_704_067_200; // 2024-01-01T00:00:00Z

fn timestamp(logical: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(BASE_EPOCH + logical as i64)
        .expect("timestamp in range");
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("formattable")
}

fn parse_timestamp(s: &str) -> Option<u64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some((t.unix_timestamp() - BASE_EPOCH).max(0) as u64)
}

const FIRST: [&str; 12] = [
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Amara", "Kenji", "Lukas", "Sofia",
    "Mateo", "Aisha",
];
const LAST: [&str; 10] = [
    "Smith",
    "Johnson",
    "Garcia",
    "Miller",
    "Okafor",
    "Tanaka",
    "Schneider",
    "Rossi",
    "Novak",
    "Brown",
];
const COMPANY: [&str; 6] = [
    "Acme Corp",
    "Globex Corporation",
    "Initech",
    "Hooli",
    "Stark Industries",
    "Wayne Enterprises",
];
const TITLE: [&str; 5] = [
    "Software Engineer",
    "Account Executive",
    "VP of Sales",
    "Product Manager",
    "CFO",
];
const CITY: [(&str, &str, &str); 4] = [
    ("Berlin", "BE", "DE"),
    ("Austin", "TX", "US"),
    ("Toronto", "ON", "CA"),
    ("Osaka", "27", "JP"),
];
const STAGE: [&str; 4] = ["subscriber", "lead", "opportunity", "customer"];
const WORDS: [&str; 12] = [
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
];

fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ceb9fe1a85ec53);
    x ^ (x >> 33)
}

/// The JSON of contact `id` at `revision` (deterministic).
fn render(id: u64, c: &Contact) -> Value {
    let r = mix(id);
    let pick = |n: u64, len: usize| ((r >> (n * 5)) as usize) % len;
    let (first, last, company) = (FIRST[pick(0, 12)], LAST[pick(1, 10)], COMPANY[pick(2, 6)]);
    let (city, state, country) = CITY[pick(3, 4)];
    let domain = company.split(' ').next().unwrap_or("acme").to_lowercase();
    let notes: Vec<&str> = (0..18)
        .map(|i| WORDS[((mix(id + i) >> 7) as usize) % 12])
        .collect();
    let mut value = json!({
        "id": id.to_string(),
        "email": format!("{}.{}{}@{}.example.com", first.to_lowercase(), last.to_lowercase(), id, domain),
        "first_name": first,
        "last_name": last,
        "company": company,
        "job_title": TITLE[pick(4, 5)],
        "phone": format!("+1-555-{:07}", r % 10_000_000),
        "city": city,
        "state": state,
        "country": country,
        "website": format!("https://www.{domain}.example.com"),
        "lifecycle_stage": STAGE[pick(5, 4)],
        "owner_id": (r % 1000) as i64,
        "score": ((r >> 12) % 100) as i64 + c.revision as i64,
        "annual_revenue": ((r >> 20) % 10_000_000) as f64 / 100.0,
        "subscribed": r.is_multiple_of(2),
        "notes": notes.join(" "),
        "revision": c.revision,
        "archived": c.archived,
        "created_at": timestamp(id * 13 % 1000),
        "updated_at": timestamp(c.updated),
    });
    if let Value::Object(map) = &mut value {
        for (k, v) in &c.fields {
            map.insert(k.clone(), v.clone());
        }
    }
    value
}

/// A running fake CRM; dropping the handle does not stop the server (it lives as long as the
/// runtime that spawned it).
#[derive(Debug, Clone)]
pub struct FakeCrm {
    addr: SocketAddr,
    state: Arc<Mutex<FakeState>>,
}

#[derive(Debug, Deserialize)]
struct ListParams {
    limit: Option<usize>,
    cursor: Option<String>,
    updated_after: Option<String>,
}

impl FakeCrm {
    /// Start on 127.0.0.1 with an ephemeral port and `n` contacts (ids `1..=n`).
    ///
    /// # Errors
    /// The port could not be bound.
    pub async fn start(n: u64) -> std::io::Result<Self> {
        Self::start_on("127.0.0.1:0".parse().expect("valid address"), n).await
    }

    /// Start on `addr` with `n` contacts.
    ///
    /// # Errors
    /// The port could not be bound.
    pub async fn start_on(addr: SocketAddr, n: u64) -> std::io::Result<Self> {
        let mut state = FakeState {
            next_id: 1,
            ..FakeState::default()
        };
        for _ in 0..n {
            let id = state.next_id;
            state.next_id += 1;
            // Initial change times spread over the first n seconds, not in id order.
            let updated = mix(id) % n.max(1);
            state.contacts.insert(
                id,
                Contact {
                    updated,
                    archived: false,
                    revision: 0,
                    fields: serde_json::Map::new(),
                },
            );
        }
        state.clock = n.max(1);
        let state = Arc::new(Mutex::new(state));
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .route("/contacts", get(list_contacts).post(create_contact))
            .route("/v2/contacts/link-body", get(list_link_body))
            .route("/v2/contacts/offset", get(list_offset))
            .route("/v2/contacts/pages", get(list_pages))
            .with_state((state.clone(), addr));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, state })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn with<T>(&self, f: impl FnOnce(&mut FakeState) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Change the content of these contacts (new revision and `updated_at`).
    pub fn update(&self, ids: &[u64]) {
        self.with(|s| fake_dataset::revise(&mut s.contacts, &mut s.clock, ids))
    }

    /// Archive these contacts (served with `"archived": true`, a tombstone).
    pub fn archive(&self, ids: &[u64]) {
        self.with(|s| fake_dataset::archive(&mut s.contacts, &mut s.clock, ids))
    }

    /// Remove these contacts entirely (only a full-refresh diff notices).
    pub fn remove(&self, ids: &[u64]) {
        self.with(|s| {
            for id in ids {
                s.contacts.remove(id);
            }
        })
    }

    /// Add `n` new contacts; returns their ids.
    pub fn add(&self, n: u64) -> Vec<u64> {
        self.with(|s| {
            (0..n)
                .map(|_| {
                    let id = s.next_id;
                    s.next_id += 1;
                    s.clock += 1;
                    s.contacts.insert(
                        id,
                        Contact {
                            updated: s.clock,
                            archived: false,
                            revision: 0,
                            fields: serde_json::Map::new(),
                        },
                    );
                    id
                })
                .collect()
        })
    }

    /// The current data: id → JSON, archived contacts included.
    pub fn snapshot(&self) -> BTreeMap<String, Value> {
        self.with(|s| {
            s.contacts
                .iter()
                .map(|(id, c)| (id.to_string(), render(*id, c)))
                .collect()
        })
    }

    /// Ids of live (not archived) contacts.
    pub fn live_ids(&self) -> Vec<u64> {
        self.with(|s| {
            s.contacts
                .iter()
                .filter(|(_, c)| !c.archived)
                .map(|(id, _)| *id)
                .collect()
        })
    }

    /// Serve `fault` once after `after_pages` more normal pages.
    pub fn fail_after(&self, after_pages: u64, fault: Fault) {
        self.with(|s| {
            s.fault = Some(ArmedFault {
                fault,
                after_pages,
                sticky: false,
            })
        })
    }

    /// Serve `fault` on every page after `after_pages` more normal pages, until cleared.
    pub fn fail_always_after(&self, after_pages: u64, fault: Fault) {
        self.with(|s| {
            s.fault = Some(ArmedFault {
                fault,
                after_pages,
                sticky: true,
            })
        })
    }

    /// Stop injecting faults.
    pub fn clear_fault(&self) {
        self.with(|s| s.fault = None)
    }

    /// Delay every page by `delay`.
    pub fn set_page_delay(&self, delay: Duration) {
        self.with(|s| s.page_delay = delay)
    }

    /// Contacts created through `POST /contacts`, as served (id → JSON).
    pub fn created(&self) -> BTreeMap<String, Value> {
        self.with(|s| {
            s.contacts
                .iter()
                .filter(|(_, c)| !c.fields.is_empty())
                .map(|(id, c)| (id.to_string(), render(*id, c)))
                .collect()
        })
    }

    /// Requests received so far.
    pub fn requests(&self) -> u64 {
        self.with(|s| s.requests)
    }
}

fn encode_position(updated: u64, id: u64) -> String {
    format!("{updated:x}-{id:x}")
}

fn decode_position(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.split_once('-')?;
    Some((
        u64::from_str_radix(a, 16).ok()?,
        u64::from_str_radix(b, 16).ok()?,
    ))
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"error": {"message": message}}))).into_response()
}

async fn list_contacts(
    State((state, addr)): State<(Arc<Mutex<FakeState>>, SocketAddr)>,
    Query(params): Query<ListParams>,
) -> Response {
    let limit = params.limit.unwrap_or(100).clamp(1, 10_000);
    let since = match params.updated_after.as_deref().map(parse_timestamp) {
        Some(None) => {
            return error(
                StatusCode::BAD_REQUEST,
                "updated_after must be an RFC 3339 timestamp",
            );
        }
        Some(Some(t)) => Some(t),
        None => None,
    };
    let position = match params.cursor.as_deref().map(decode_position) {
        Some(None) => return error(StatusCode::BAD_REQUEST, "invalid cursor"),
        Some(Some(p)) => Some(p),
        None => None,
    };
    let (delay, fault, body_records, next) = {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        s.requests += 1;
        let fault = match s.fault {
            Some(mut armed) if armed.after_pages == 0 => {
                if !armed.sticky {
                    s.fault = None;
                } else {
                    armed.after_pages = 0;
                }
                Some(armed.fault)
            }
            Some(ref mut armed) => {
                armed.after_pages -= 1;
                None
            }
            None => None,
        };
        s.pages_served += 1;
        let mut page: Vec<(u64, u64, Value)> = Vec::with_capacity(limit + 1);
        match since {
            None => {
                let start = position.map(|(_, id)| id + 1).unwrap_or(0);
                for (id, c) in s.contacts.range(start..).take(limit + 1) {
                    page.push((c.updated, *id, render(*id, c)));
                }
            }
            Some(since) => {
                // Changes in (updated, id) order from the position; a full scan is fine for a fake.
                let mut matching: Vec<(u64, u64)> = s
                    .contacts
                    .iter()
                    .filter(|(_, c)| c.updated >= since)
                    .map(|(id, c)| (c.updated, *id))
                    .filter(|k| position.is_none_or(|p| *k > p))
                    .collect();
                matching.sort_unstable();
                for (updated, id) in matching.into_iter().take(limit + 1) {
                    page.push((updated, id, render(id, &s.contacts[&id])));
                }
            }
        }
        let more = page.len() > limit;
        page.truncate(limit);
        let next = if more {
            page.last().map(|(u, id, _)| encode_position(*u, *id))
        } else {
            None
        };
        (
            s.page_delay,
            fault,
            page.into_iter().map(|(_, _, v)| v).collect::<Vec<_>>(),
            next,
        )
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut records = body_records;
    let mut next = next;
    match fault {
        Some(Fault::NotJson) => {
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "<html>oops</html>",
            )
                .into_response();
        }
        Some(Fault::ServerError) => {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
        }
        Some(Fault::BadRequest) => {
            return error(
                StatusCode::BAD_REQUEST,
                "limit is not allowed for this account",
            );
        }
        Some(Fault::MissingId) => {
            if let Some(Value::Object(m)) = records.get_mut(2) {
                m.remove("id");
            }
        }
        Some(Fault::SchemaViolation) => {
            if let Some(Value::Object(m)) = records.get_mut(2) {
                m.insert("email".into(), json!(12345));
            }
        }
        Some(Fault::RepeatCursor) => next = params.cursor.clone().or(next),
        None => {}
    }
    let mut headers = HeaderMap::new();
    if let Some(n) = &next {
        let mut link = format!("<http://{addr}/contacts?cursor={n}&limit={limit}");
        if let Some(u) = &params.updated_after {
            link.push_str("&updated_after=");
            link.push_str(&u.replace('+', "%2B").replace(':', "%3A"));
        }
        link.push_str(">; rel=\"next\"");
        if let Ok(v) = HeaderValue::from_str(&link) {
            headers.insert(header::LINK, v);
        }
    }
    let body = json!({"results": records, "next_cursor": next});
    (headers, axum::Json(body)).into_response()
}

/// The (updated, id) keys a listing serves, in its order: id order without `since`, else
/// `(updated, id)` order of contacts updated at or after `since`.
fn listing_keys(s: &FakeState, since: Option<u64>) -> Vec<(u64, u64)> {
    match since {
        None => s.contacts.iter().map(|(id, c)| (c.updated, *id)).collect(),
        Some(since) => {
            let mut keys: Vec<(u64, u64)> = s
                .contacts
                .iter()
                .filter(|(_, c)| c.updated >= since)
                .map(|(id, c)| (c.updated, *id))
                .collect();
            keys.sort_unstable();
            keys
        }
    }
}

/// Parse `updated_after`, count the request and read the page delay; the error is a
/// bad-request message.
fn begin_listing(
    state: &Mutex<FakeState>,
    updated_after: Option<&str>,
) -> Result<(Option<u64>, Duration), &'static str> {
    let since = match updated_after.map(parse_timestamp) {
        Some(None) => return Err("updated_after must be an RFC 3339 timestamp"),
        Some(Some(t)) => Some(t),
        None => None,
    };
    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
    s.requests += 1;
    s.pages_served += 1;
    Ok((since, s.page_delay))
}

fn render_keys(state: &Mutex<FakeState>, keys: &[(u64, u64)]) -> Vec<Value> {
    let s = state.lock().unwrap_or_else(|p| p.into_inner());
    keys.iter()
        .filter_map(|(_, id)| s.contacts.get(id).map(|c| render(*id, c)))
        .collect()
}

fn encode_query(value: &str) -> String {
    value.replace('+', "%2B").replace(':', "%3A")
}

#[derive(Debug, Deserialize)]
struct LinkBodyParams {
    limit: Option<usize>,
    after: Option<String>,
    updated_after: Option<String>,
}

async fn list_link_body(
    State((state, addr)): State<(Arc<Mutex<FakeState>>, SocketAddr)>,
    Query(params): Query<LinkBodyParams>,
) -> Response {
    let limit = params.limit.unwrap_or(100).clamp(1, 10_000);
    let position = match params.after.as_deref().map(decode_position) {
        Some(None) => return error(StatusCode::BAD_REQUEST, "invalid after"),
        Some(Some(p)) => Some(p),
        None => None,
    };
    let (since, delay) = match begin_listing(&state, params.updated_after.as_deref()) {
        Ok(x) => x,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let keys: Vec<(u64, u64)> = {
        let s = state.lock().unwrap_or_else(|p| p.into_inner());
        listing_keys(&s, since)
            .into_iter()
            .filter(|k| match (position, since) {
                (None, _) => true,
                (Some((_, id)), None) => k.1 > id,
                (Some(p), Some(_)) => *k > p,
            })
            .take(limit + 1)
            .collect()
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let more = keys.len() > limit;
    let keys = &keys[..keys.len().min(limit)];
    let next = match (more, keys.last()) {
        (true, Some((u, id))) => {
            let mut url = format!(
                "http://{addr}/v2/contacts/link-body?after={}&limit={limit}",
                encode_position(*u, *id)
            );
            if let Some(u) = &params.updated_after {
                url.push_str("&updated_after=");
                url.push_str(&encode_query(u));
            }
            Value::String(url)
        }
        _ => Value::Null,
    };
    let data = render_keys(&state, keys);
    axum::Json(json!({"data": data, "links": {"next": next}})).into_response()
}

#[derive(Debug, Deserialize)]
struct OffsetParams {
    offset: Option<usize>,
    limit: Option<usize>,
    updated_after: Option<String>,
}

async fn list_offset(
    State((state, _)): State<(Arc<Mutex<FakeState>>, SocketAddr)>,
    Query(params): Query<OffsetParams>,
) -> Response {
    let limit = params.limit.unwrap_or(100).clamp(1, 10_000);
    let offset = params.offset.unwrap_or(0);
    let (since, delay) = match begin_listing(&state, params.updated_after.as_deref()) {
        Ok(x) => x,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let (keys, total) = {
        let s = state.lock().unwrap_or_else(|p| p.into_inner());
        let all = listing_keys(&s, since);
        let total = all.len();
        let page: Vec<(u64, u64)> = all.into_iter().skip(offset).take(limit).collect();
        (page, total)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let items = render_keys(&state, &keys);
    axum::Json(json!({"items": items, "total": total})).into_response()
}

#[derive(Debug, Deserialize)]
struct PagesParams {
    page: Option<usize>,
    per_page: Option<usize>,
    updated_after: Option<String>,
}

async fn list_pages(
    State((state, _)): State<(Arc<Mutex<FakeState>>, SocketAddr)>,
    Query(params): Query<PagesParams>,
) -> Response {
    let per_page = params.per_page.unwrap_or(30).clamp(1, 10_000);
    let page = params.page.unwrap_or(1);
    if page == 0 {
        return error(StatusCode::BAD_REQUEST, "page numbers start at 1");
    }
    let (since, delay) = match begin_listing(&state, params.updated_after.as_deref()) {
        Ok(x) => x,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let keys: Vec<(u64, u64)> = {
        let s = state.lock().unwrap_or_else(|p| p.into_inner());
        listing_keys(&s, since)
            .into_iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .collect()
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    axum::Json(Value::Array(render_keys(&state, &keys))).into_response()
}

/// Fields `POST /contacts` accepts; `email`, `first_name` and `last_name` are required.
const CREATE_FIELDS: [&str; 5] = ["email", "first_name", "last_name", "company", "job_title"];

/// `POST /contacts {email, first_name, last_name, company?, job_title?}` → 201 with the contact.
async fn create_contact(
    State((state, _)): State<(Arc<Mutex<FakeState>>, SocketAddr)>,
    Json(body): Json<Value>,
) -> Response {
    let Value::Object(body) = body else {
        return error(StatusCode::BAD_REQUEST, "the body must be a JSON object");
    };
    for required in ["email", "first_name", "last_name"] {
        if body
            .get(required)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("{required} is required and must be a non-empty string"),
            );
        }
    }
    let fields: serde_json::Map<String, Value> = body
        .into_iter()
        .filter(|(k, v)| CREATE_FIELDS.contains(&k.as_str()) && v.is_string())
        .collect();
    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
    s.requests += 1;
    let id = s.next_id;
    s.next_id += 1;
    s.clock += 1;
    let contact = Contact {
        updated: s.clock,
        archived: false,
        revision: 0,
        fields,
    };
    let rendered = render(id, &contact);
    s.contacts.insert(id, contact);
    (StatusCode::CREATED, Json(rendered)).into_response()
}
