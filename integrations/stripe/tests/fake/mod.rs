//! A loopback Stripe: customers (list, retrieve) and events, shaped like Stripe's documented
//! list objects and events, over mutable data with a logical clock.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

pub const KEY: &str = "sk_test_51SECRETsecretSECRETsecret0001";
const START: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

#[derive(Debug, Default)]
pub struct Inner {
    pub customers: BTreeMap<String, Value>,
    pub deleted: Vec<String>,
    pub events: Vec<Value>,
    pub clock: i64,
    pub next_customer: u32,
    pub next_event: u32,
    pub page_size: usize,
}

#[derive(Clone)]
pub struct FakeStripe(pub Arc<Mutex<Inner>>);

impl FakeStripe {
    pub fn new(customers: u32, page_size: usize) -> Self {
        let fake = FakeStripe(Arc::new(Mutex::new(Inner {
            clock: START,
            next_customer: 1,
            next_event: 1,
            page_size,
            ..Inner::default()
        })));
        fake.create(customers);
        fake
    }

    fn event(s: &mut Inner, kind: &str, object: Value) {
        let id = format!("evt_1TEST{:06}", s.next_event);
        s.next_event += 1;
        let created = s.clock;
        s.events.push(json!({
            "id": id,
            "object": "event",
            "api_version": "2024-06-20",
            "created": created,
            "data": { "object": object },
            "livemode": false,
            "pending_webhooks": 0,
            "request": { "id": null, "idempotency_key": null },
            "type": kind,
        }));
    }

    pub fn create(&self, n: u32) -> Vec<String> {
        let mut s = self.0.lock().unwrap();
        (0..n)
            .map(|_| {
                s.clock += 1;
                let id = format!("cus_TEST{:06}", s.next_customer);
                s.next_customer += 1;
                let customer = json!({
                    "id": id,
                    "object": "customer",
                    "balance": 0,
                    "created": s.clock,
                    "currency": "usd",
                    "delinquent": false,
                    "description": null,
                    "email": format!("{}@example.com", id.to_lowercase()),
                    "livemode": false,
                    "metadata": {},
                    "name": format!("Customer {id}"),
                    "phone": null,
                });
                s.customers.insert(id.clone(), customer.clone());
                Self::event(&mut s, "customer.created", customer);
                id
            })
            .collect()
    }

    pub fn update(&self, id: &str, name: &str) {
        let mut s = self.0.lock().unwrap();
        s.clock += 1;
        let customer = s.customers.get_mut(id).expect("known customer");
        customer["name"] = json!(name);
        let object = customer.clone();
        Self::event(&mut s, "customer.updated", object);
    }

    /// A customer.* event that does not change the customer record.
    pub fn subscribe(&self, id: &str) {
        let mut s = self.0.lock().unwrap();
        s.clock += 1;
        let object = json!({"id": "sub_TEST000001", "object": "subscription", "customer": id});
        Self::event(&mut s, "customer.subscription.created", object);
    }

    pub fn delete(&self, id: &str) {
        let mut s = self.0.lock().unwrap();
        s.clock += 1;
        let object = s.customers.remove(id).expect("known customer");
        s.deleted.push(id.to_string());
        Self::event(&mut s, "customer.deleted", object);
    }

    pub fn customer(&self, id: &str) -> Value {
        self.0.lock().unwrap().customers[id].clone()
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/v1/customers", get(list_customers))
            .route("/v1/customers/{id}", get(retrieve_customer))
            .route("/v1/events", get(list_events))
            .with_state(self.clone())
    }
}

fn error(status: StatusCode, kind: &str, message: &str, param: Option<&str>) -> Response {
    let mut e = json!({"type": kind, "message": message});
    if let Some(p) = param {
        e["param"] = json!(p);
    }
    (
        status,
        [("request-id", "req_TEST0001")],
        Json(json!({ "error": e })),
    )
        .into_response()
}

fn unauthorized(headers: &HeaderMap) -> Option<Response> {
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if given == KEY {
        return None;
    }
    let last4: String = given
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    Some(error(
        StatusCode::UNAUTHORIZED,
        "invalid_request_error",
        &format!("Invalid API Key provided: sk_test_********{last4}"),
        None,
    ))
}

/// One page of `items` (newest first) after `starting_after`, as a Stripe list object.
fn page(items: Vec<Value>, query: &BTreeMap<String, String>, size: usize, url: &str) -> Response {
    let limit: usize = query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "Invalid integer: limit must be between 1 and 100",
            Some("limit"),
        );
    }
    let start = match query.get("starting_after") {
        None => 0,
        Some(after) => match items.iter().position(|i| i["id"] == json!(after)) {
            Some(p) => p + 1,
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    &format!("No such object: '{after}'"),
                    Some("starting_after"),
                );
            }
        },
    };
    let size = limit.min(size);
    let data: Vec<Value> = items.iter().skip(start).take(size).cloned().collect();
    let has_more = start + size < items.len();
    Json(json!({"object": "list", "data": data, "has_more": has_more, "url": url})).into_response()
}

fn created_gte(query: &BTreeMap<String, String>) -> i64 {
    query
        .get("created[gte]")
        .and_then(|v| v.parse().ok())
        .unwrap_or(i64::MIN)
}

async fn list_customers(
    State(fake): State<FakeStripe>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    if let Some(denied) = unauthorized(&headers) {
        return denied;
    }
    let s = fake.0.lock().unwrap();
    let gte = created_gte(&query);
    let mut items: Vec<Value> = s
        .customers
        .values()
        .filter(|c| c["created"].as_i64().unwrap_or(0) >= gte)
        .cloned()
        .collect();
    items.sort_by_key(|c| {
        std::cmp::Reverse((c["created"].as_i64(), c["id"].as_str().map(str::to_string)))
    });
    page(items, &query, s.page_size, "/v1/customers")
}

async fn retrieve_customer(
    State(fake): State<FakeStripe>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(denied) = unauthorized(&headers) {
        return denied;
    }
    let s = fake.0.lock().unwrap();
    if let Some(c) = s.customers.get(&id) {
        return Json(c.clone()).into_response();
    }
    if s.deleted.contains(&id) {
        return Json(json!({"id": id, "object": "customer", "deleted": true})).into_response();
    }
    error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        &format!("No such customer: '{id}'"),
        Some("id"),
    )
}

async fn list_events(
    State(fake): State<FakeStripe>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    if let Some(denied) = unauthorized(&headers) {
        return denied;
    }
    let s = fake.0.lock().unwrap();
    let gte = created_gte(&query);
    let prefix = query
        .get("type")
        .map(|t| t.trim_end_matches('*').to_string());
    let mut items: Vec<Value> = s
        .events
        .iter()
        .filter(|e| e["created"].as_i64().unwrap_or(0) >= gte)
        .filter(|e| match &prefix {
            Some(p) => e["type"].as_str().unwrap_or("").starts_with(p.as_str()),
            None => true,
        })
        .cloned()
        .collect();
    items.reverse(); // newest first
    page(items, &query, s.page_size, "/v1/events")
}
