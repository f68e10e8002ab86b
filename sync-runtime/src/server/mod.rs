//! `syncfn serve`: the HTTP API over the store, the scheduler and the webhook outbox.
//!
//! One file per resource: [`connections`], [`records`] (and runs), [`syncs`] (control and
//! status), [`actions`], plus [`auth`] (bearer key), [`error`] (JSON errors) and [`openapi`].
//!
//! ```text
//! export SYNCFN_SECRET_KEY=sk-…                            # bearer key for every endpoint but /health
//! export SYNCFN_ENCRYPTION_KEY=$(openssl rand -base64 32)  # seals credentials at rest
//! export SYNCFN_WEBHOOK_SECRET=whsec_$(openssl rand -base64 32)
//! syncfn serve --db syncfn.db --listen 127.0.0.1:3003 --webhook-url https://app.example.com/hooks
//!
//! H="Authorization: Bearer $SYNCFN_SECRET_KEY"
//! curl -H "$H" -X POST localhost:3003/connections -H 'content-type: application/json' -d '{
//!   "connection_id": "acme", "integration": "crm", "base_url": "http://127.0.0.1:8080",
//!   "credentials": {"type": "bearer", "token": "…"}, "auto_start": false,
//!   "frequencies": {"contacts": "every 5 minutes"}}'
//! curl -H "$H" -X POST localhost:3003/syncs/start   -d '{"connection_id": "acme", "syncs": ["contacts"]}' -H 'content-type: application/json'
//! curl -H "$H" -X POST localhost:3003/syncs/trigger -d '{"connection_id": "acme", "syncs": ["contacts"], "reset": true}' -H 'content-type: application/json'
//! curl -H "$H" "localhost:3003/syncs/status?connection_id=acme"
//! curl -H "$H" "localhost:3003/records?connection_id=acme&model=Contact&cursor=<last cursor>&limit=1000"
//! curl -H "$H" -X PATCH localhost:3003/connections/acme/metadata -d '{"region": "eu"}' -H 'content-type: application/json'
//! curl -H "$H" -X POST localhost:3003/actions/crm/create-contact -H 'content-type: application/json' -d '{
//!   "connection_id": "acme", "input": {"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"}}'
//! curl -H "$H" localhost:3003/openapi.json
//! ```
//!
//! Webhooks carry `webhook-id` (stable across retries), `webhook-timestamp` and
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, so the official
//! Standard Webhooks libraries verify them with the `whsec_` secret.

pub mod actions;
pub mod auth;
pub mod connections;
pub mod context;
pub mod credential_sink;
pub mod error;
pub mod openapi;
pub mod records;
pub mod syncs;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use serde_json::json;

pub use auth::SecretKey;
pub use context::Service;

/// The API router (every route but `/health` behind the bearer key).
pub fn router(service: Arc<Service>, key: SecretKey) -> Router {
    Router::new()
        .route(
            "/health",
            get(|| async { axum::Json(json!({"status": "ok"})) }),
        )
        .route("/openapi.json", get(openapi::document))
        .route(
            "/connections",
            post(connections::create).get(connections::list),
        )
        .route(
            "/connections/{id}",
            get(connections::get).delete(connections::delete),
        )
        .route(
            "/connections/{id}/metadata",
            axum::routing::patch(connections::patch_metadata).put(connections::put_metadata),
        )
        .route("/records", get(records::records))
        .route("/runs", get(records::runs))
        .route("/syncs/start", post(syncs::start))
        .route("/syncs/pause", post(syncs::pause))
        .route("/syncs/trigger", post(syncs::trigger))
        .route("/syncs/status", get(syncs::status))
        .route("/actions/{integration}/{action}", post(actions::call))
        .fallback(|| async {
            error::ApiError::not_found("no such endpoint (see GET /openapi.json)")
        })
        .layer(axum::middleware::from_fn_with_state(key, auth::require_key))
        .with_state(service)
}
