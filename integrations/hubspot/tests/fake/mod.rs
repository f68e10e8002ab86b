//! A loopback HubSpot: the contacts list (with `archived=true`) and search endpoints, shaped
//! like HubSpot's documented responses, over mutable data with a logical clock.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

pub const TOKEN: &str = "pat-na1-test-SECRET-0001";

#[derive(Debug, Clone)]
pub struct FakeContact {
    pub id: u64,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub created: u64,
    pub modified: u64,
    pub archived_at: Option<u64>,
}

#[derive(Debug, Default)]
pub struct State_ {
    pub contacts: BTreeMap<u64, FakeContact>,
    pub clock: u64,
    pub next_id: u64,
    /// Largest page served whatever `limit` asks (HubSpot may return fewer than asked).
    pub page_size: usize,
    /// Search requests rejected for paging past 10,000 results.
    pub rejected_searches: u64,
}

#[derive(Clone)]
pub struct FakeHubspot(pub Arc<Mutex<State_>>);

/// `2026-01-01T00:00:00.000Z` plus `seconds` (within January).
pub fn timestamp(seconds: u64) -> String {
    let day = 1 + seconds / 86_400;
    let rest = seconds % 86_400;
    format!(
        "2026-01-{day:02}T{:02}:{:02}:{:02}.000Z",
        rest / 3600,
        (rest % 3600) / 60,
        rest % 60
    )
}

impl FakeHubspot {
    pub fn new(contacts: u64, page_size: usize) -> Self {
        let fake = FakeHubspot(Arc::new(Mutex::new(State_ {
            page_size,
            clock: 1000,
            next_id: 101,
            ..State_::default()
        })));
        fake.create(contacts);
        fake
    }

    pub fn create(&self, n: u64) -> Vec<u64> {
        let mut s = self.0.lock().unwrap();
        (0..n)
            .map(|_| {
                s.clock += 1;
                let id = s.next_id;
                s.next_id += 1;
                let c = FakeContact {
                    id,
                    email: format!("person{id}@example.com"),
                    first_name: format!("First{id}"),
                    last_name: format!("Last{id}"),
                    created: s.clock,
                    modified: s.clock,
                    archived_at: None,
                };
                s.contacts.insert(id, c);
                id
            })
            .collect()
    }

    /// Create `n` contacts all modified at the same instant.
    pub fn create_at_one_instant(&self, n: u64) {
        let ids = self.create(n);
        let mut s = self.0.lock().unwrap();
        s.clock += 1;
        let now = s.clock;
        for id in ids {
            s.contacts.get_mut(&id).expect("just created").modified = now;
        }
    }

    pub fn update(&self, id: u64) {
        let mut s = self.0.lock().unwrap();
        s.clock += 1;
        let now = s.clock;
        let c = s.contacts.get_mut(&id).expect("known contact");
        c.last_name = format!("{}-renamed", c.last_name);
        c.modified = now;
    }

    pub fn archive(&self, id: u64) {
        let mut s = self.0.lock().unwrap();
        s.clock += 1;
        let now = s.clock;
        s.contacts.get_mut(&id).expect("known contact").archived_at = Some(now);
    }

    pub fn contact(&self, id: u64) -> FakeContact {
        self.0.lock().unwrap().contacts[&id].clone()
    }

    pub fn rejected_searches(&self) -> u64 {
        self.0.lock().unwrap().rejected_searches
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/crm/v3/objects/contacts", get(list))
            .route("/crm/v3/objects/contacts/search", post(search))
            .with_state(self.clone())
    }
}

fn object(c: &FakeContact) -> Value {
    let mut o = json!({
        "id": c.id.to_string(),
        "properties": {
            "createdate": timestamp(c.created),
            "email": c.email,
            "firstname": c.first_name,
            "lastname": c.last_name,
            "company": null,
            "phone": null,
            "lifecyclestage": "lead",
            "hs_object_id": c.id.to_string(),
            "lastmodifieddate": timestamp(c.modified),
        },
        "createdAt": timestamp(c.created),
        "updatedAt": timestamp(c.modified),
        "archived": c.archived_at.is_some(),
    });
    if let Some(at) = c.archived_at {
        o["archivedAt"] = json!(timestamp(at));
    }
    o
}

fn error(status: StatusCode, category: &str, message: &str) -> Response {
    (
        status,
        Json(json!({
            "status": "error",
            "message": message,
            "correlationId": "00000000-0000-4000-8000-000000000000",
            "category": category,
        })),
    )
        .into_response()
}

fn unauthorized(headers: &HeaderMap) -> Option<Response> {
    let expected = format!("Bearer {TOKEN}");
    match headers.get("authorization").and_then(|v| v.to_str().ok()) {
        Some(v) if v == expected => None,
        _ => Some(error(
            StatusCode::UNAUTHORIZED,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        )),
    }
}

fn rate_headers() -> [(&'static str, &'static str); 2] {
    [
        ("x-hubspot-ratelimit-max", "100"),
        ("x-hubspot-ratelimit-remaining", "99"),
    ]
}

async fn list(
    State(fake): State<FakeHubspot>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    if let Some(denied) = unauthorized(&headers) {
        return denied;
    }
    let s = fake.0.lock().unwrap();
    let archived = query.get("archived").is_some_and(|v| v == "true");
    let limit: usize = query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(10);
    if limit > 100 {
        return error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "limit must be at most 100",
        );
    }
    let size = limit.min(s.page_size);
    let after: u64 = query.get("after").and_then(|a| a.parse().ok()).unwrap_or(0);
    let mut matching = s
        .contacts
        .values()
        .filter(|c| c.archived_at.is_some() == archived && c.id >= after);
    let page: Vec<Value> = matching.by_ref().take(size).map(object).collect();
    let mut body = json!({ "results": page });
    if let Some(next) = matching.next() {
        let host = headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        body["paging"] = json!({"next": {
            "after": next.id.to_string(),
            "link": format!("http://{host}/crm/v3/objects/contacts?after={}", next.id),
        }});
    }
    (rate_headers(), Json(body)).into_response()
}

async fn search(
    State(fake): State<FakeHubspot>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(denied) = unauthorized(&headers) {
        return denied;
    }
    let mut s = fake.0.lock().unwrap();
    let filter = &body["filterGroups"][0]["filters"][0];
    if filter["propertyName"] != "lastmodifieddate" || filter["operator"] != "GTE" {
        return error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "this fake only searches lastmodifieddate GTE",
        );
    }
    if body["sorts"][0] != json!({"propertyName": "lastmodifieddate", "direction": "ASCENDING"}) {
        return error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "this fake only sorts lastmodifieddate ASCENDING",
        );
    }
    let since = filter["value"].as_str().unwrap_or_default().to_string();
    let limit = body["limit"].as_u64().unwrap_or(10) as usize;
    let offset: usize = body["after"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    if offset + limit.min(s.page_size) > 10_000 {
        s.rejected_searches += 1;
        return error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "Search results are limited to 10,000 records; narrow the query to page further",
        );
    }
    let mut matching: Vec<&FakeContact> = s
        .contacts
        .values()
        .filter(|c| c.archived_at.is_none() && timestamp(c.modified) >= since)
        .collect();
    matching.sort_by_key(|c| (c.modified, c.id));
    let size = limit.min(s.page_size);
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(size)
        .map(|c| object(c))
        .collect();
    let mut out = json!({ "total": matching.len(), "results": page });
    if offset + size < matching.len() {
        out["paging"] = json!({"next": {"after": (offset + size).to_string()}});
    }
    (rate_headers(), Json(out)).into_response()
}
