//! A loopback Zendesk: the cursor-based incremental ticket export, shaped like Zendesk's
//! documented responses, over mutable data with a logical clock.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

pub const USER: &str = "agent@acme.example/token";
pub const API_TOKEN: &str = "zd-SECRET-token-0001";
const START: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

#[derive(Debug, Clone)]
pub struct FakeTicket {
    pub id: u64,
    pub subject: String,
    pub status: String,
    pub created: i64,
    pub updated: i64,
}

#[derive(Debug, Default)]
pub struct Inner {
    pub tickets: BTreeMap<u64, FakeTicket>,
    pub clock: i64,
    pub next_id: u64,
    pub page_size: usize,
    /// Cursor text → position after (generated_timestamp, id).
    pub cursors: HashMap<String, (i64, u64)>,
    /// The next request's answer instead of a page.
    pub fault: Option<(u16, Value)>,
}

#[derive(Clone)]
pub struct FakeZendesk(pub Arc<Mutex<Inner>>);

fn iso(t: i64) -> String {
    let s = t - START;
    format!(
        "2026-01-{:02}T{:02}:{:02}:{:02}Z",
        1 + s / 86_400,
        (s % 86_400) / 3600,
        (s % 3600) / 60,
        s % 60
    )
}

/// Standard base64 (the fake computes the Basic auth header it expects and opaque cursors).
pub fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl FakeZendesk {
    pub fn new(tickets: u64, page_size: usize) -> Self {
        let fake = FakeZendesk(Arc::new(Mutex::new(Inner {
            clock: START,
            next_id: 1,
            page_size,
            ..Inner::default()
        })));
        fake.create(tickets);
        fake
    }

    pub fn create(&self, n: u64) -> Vec<u64> {
        let mut s = self.0.lock().unwrap();
        (0..n)
            .map(|_| {
                s.clock += 60;
                let id = s.next_id;
                s.next_id += 1;
                let t = FakeTicket {
                    id,
                    subject: format!("Printer {id} is on fire"),
                    status: "new".into(),
                    created: s.clock,
                    updated: s.clock,
                };
                s.tickets.insert(id, t);
                id
            })
            .collect()
    }

    pub fn set_status(&self, id: u64, status: &str) {
        let mut s = self.0.lock().unwrap();
        s.clock += 60;
        let now = s.clock;
        let t = s.tickets.get_mut(&id).expect("known ticket");
        t.status = status.into();
        t.updated = now;
    }

    pub fn fail_next(&self, status: u16, body: Value) {
        self.0.lock().unwrap().fault = Some((status, body));
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/api/v2/incremental/tickets/cursor.json", get(export))
            .with_state(self.clone())
    }
}

fn ticket(t: &FakeTicket, host: &str) -> Value {
    json!({
        "url": format!("http://{host}/api/v2/tickets/{}.json", t.id),
        "id": t.id,
        "external_id": null,
        "type": "incident",
        "subject": t.subject,
        "description": format!("Ticket {} description", t.id),
        "priority": "normal",
        "status": t.status,
        "requester_id": 9000 + t.id,
        "submitter_id": 9000 + t.id,
        "assignee_id": null,
        "organization_id": 77,
        "tags": ["printer"],
        "created_at": iso(t.created),
        "updated_at": iso(t.updated),
        "generated_timestamp": t.updated,
    })
}

fn rate_headers() -> [(&'static str, &'static str); 2] {
    [("x-rate-limit", "700"), ("x-rate-limit-remaining", "699")]
}

async fn export(
    State(fake): State<FakeZendesk>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let expected = format!("Basic {}", base64(format!("{USER}:{API_TOKEN}").as_bytes()));
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "Couldn't authenticate you"})),
        )
            .into_response();
    }
    let mut s = fake.0.lock().unwrap();
    if let Some((status, body)) = s.fault.take() {
        let status = StatusCode::from_u16(status).expect("valid status");
        return (status, rate_headers(), Json(body)).into_response();
    }
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    // Position: strictly after a cursor's (timestamp, id), or at/after start_time.
    let after: (i64, u64) = match (query.get("cursor"), query.get("start_time")) {
        (Some(cursor), _) => match s.cursors.get(cursor) {
            Some(p) => *p,
            None => {
                return (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Json(json!({"error": "InvalidValue", "description": "Invalid cursor"})),
                )
                    .into_response();
            }
        },
        (None, Some(start)) => match start.parse::<i64>() {
            Ok(start) => (start - 1, u64::MAX),
            Err(_) => {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"error": "InvalidValue", "description": "start_time must be an integer"})),
                )
                    .into_response();
            }
        },
        (None, None) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "InvalidPaginationParameter", "description": "Cursor or start_time parameter missing"})),
            )
                .into_response();
        }
    };
    let mut ordered: Vec<&FakeTicket> = s.tickets.values().collect();
    ordered.sort_by_key(|t| (t.updated, t.id));
    let rest: Vec<&FakeTicket> = ordered
        .into_iter()
        .filter(|t| (t.updated, t.id) > after)
        .collect();
    let page: Vec<&FakeTicket> = rest.iter().take(s.page_size).copied().collect();
    let end_of_stream = rest.len() <= s.page_size;
    let position = page.last().map(|t| (t.updated, t.id)).unwrap_or(after);
    let cursor = base64(format!("{}.0||{}|", position.0, position.1).as_bytes());
    let body = json!({
        "tickets": page.iter().map(|t| ticket(t, &host)).collect::<Vec<_>>(),
        "after_url": format!("http://{host}/api/v2/incremental/tickets/cursor.json?cursor={cursor}"),
        "after_cursor": cursor,
        "before_url": null,
        "before_cursor": null,
        "end_of_stream": end_of_stream,
    });
    s.cursors.insert(cursor, position);
    (rate_headers(), Json(body)).into_response()
}
