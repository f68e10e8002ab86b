//! `syncfn serve`: the HTTP API over the store, the scheduler and the webhook outbox.
//!
//! One file per resource: [`connections`], [`records`] (and runs), [`syncs`] (control and
//! status), [`actions`], plus [`auth`] (bearer key), [`error`] (JSON errors) and [`openapi`].

pub mod actions;
pub mod auth;
pub mod connections;
pub mod context;
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
