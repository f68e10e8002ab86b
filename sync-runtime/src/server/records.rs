//! `GET /records` (changes after a cursor) and `GET /runs` (run history).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::context::Service;
use super::error::{ApiError, ApiResult};
use crate::store::{
    LastAction, MAX_LIST_LIMIT, RecordQuery, RecordsJson, RunRecord, parse_timestamp,
};

/// A page of records in cursor order.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordsResponse {
    /// Records, each with `_metadata {first_seen_at, last_modified_at, last_action, deleted_at, cursor}`.
    #[schema(value_type = Vec<Object>)]
    pub records: Vec<Value>,
    /// Pass back as `cursor` to continue; `null` when there was nothing more.
    pub next_cursor: Option<String>,
}

/// Run history, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunsResponse {
    /// Runs.
    #[schema(value_type = Vec<Object>)]
    pub runs: Vec<RunRecord>,
}

fn required<'a>(params: &'a HashMap<String, String>, name: &str) -> ApiResult<&'a str> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::invalid(format!("query parameter {name} is required")))
}

fn parse_limit(params: &HashMap<String, String>, default: usize, max: usize) -> ApiResult<usize> {
    match params.get("limit") {
        None => Ok(default),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid(format!(
                "limit {text:?} is out of range: use a whole number from 1 to {max}"
            ))),
        },
    }
}

fn list(params: &HashMap<String, String>, name: &str) -> Vec<String> {
    params
        .get(name)
        .map(|s| {
            s.split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

const RECORD_PARAMS: [&str; 7] = [
    "connection_id",
    "model",
    "cursor",
    "limit",
    "modified_after",
    "filter",
    "ids",
];

/// `GET /records?connection_id&model&cursor&limit&modified_after&filter&ids`
#[utoipa::path(get, path = "/records",
    params(
        ("connection_id" = String, Query, description = "connection id"),
        ("model" = String, Query, description = "model name, e.g. Contact"),
        ("cursor" = Option<String>, Query, description = "changes after this cursor (a record's _metadata.cursor or a next_cursor)"),
        ("limit" = Option<usize>, Query, description = "1 to 10000, default 100"),
        ("modified_after" = Option<String>, Query, description = "RFC 3339 time"),
        ("filter" = Option<String>, Query, description = "comma-separated added, updated, deleted"),
        ("ids" = Option<String>, Query, description = "comma-separated record ids"),
    ),
    responses((status = 200, body = RecordsResponse), (status = 400), (status = 404)),
    security(("bearer" = [])))]
pub async fn records(
    State(service): State<Arc<Service>>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    if let Some(unknown) = params.keys().find(|k| !RECORD_PARAMS.contains(&k.as_str())) {
        return Err(ApiError::invalid(format!(
            "unknown query parameter {unknown:?} (available: {})",
            RECORD_PARAMS.join(", ")
        )));
    }
    let connection_id = required(&params, "connection_id")?;
    let model = required(&params, "model")?;
    let connection = service
        .store
        .get_connection(connection_id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!("connection {connection_id:?} does not exist"))
        })?;
    if let Ok(integration) = service.integration(&connection.integration) {
        let models: Vec<String> = integration
            .syncs()
            .iter()
            .flat_map(|s| s.spec().models.into_iter().map(|m| m.name))
            .collect();
        if !models.iter().any(|m| m == model) {
            return Err(ApiError::invalid(format!(
                "model {model:?} is not synced by integration {:?} (available: {})",
                connection.integration,
                models.join(", ")
            )));
        }
    }
    let mut query = RecordQuery::new(connection_id, model);
    query.cursor = params.get("cursor").filter(|c| !c.is_empty()).cloned();
    query.limit = parse_limit(&params, 100, MAX_LIST_LIMIT)?;
    query.modified_after = params
        .get("modified_after")
        .map(|t| parse_timestamp(t).map_err(|m| ApiError::invalid(format!("modified_after: {m}"))))
        .transpose()?;
    query.actions = list(&params, "filter")
        .iter()
        .map(|a| {
            LastAction::parse(a).ok_or_else(|| {
                ApiError::invalid(format!(
                    "filter {a:?} is not one of added, updated, deleted"
                ))
            })
        })
        .collect::<ApiResult<_>>()?;
    query.ids = list(&params, "ids");
    // The body is built in one buffer: the store appends the records after the prefix.
    let mut body = Vec::with_capacity(query.limit.min(1000) * 1024 + 64);
    body.extend_from_slice(b"{\"records\":[");
    let page = service.store.list_records_json(&query, b',', body).await?;
    Ok(records_body(page))
}

/// Finish the [`RecordsResponse`] JSON `{"records":[…],"next_cursor":…}` (the bytes
/// `Json(RecordsResponse)` would send) around the records the store appended.
fn records_body(page: RecordsJson) -> Response {
    let mut body = page.json;
    body.extend_from_slice(b"],\"next_cursor\":");
    match &page.next_cursor {
        Some(cursor) => {
            serde_json::to_writer(&mut body, cursor).expect("writing to a Vec cannot fail")
        }
        None => body.extend_from_slice(b"null"),
    }
    body.push(b'}');
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// `GET /runs?connection_id&limit`
#[utoipa::path(get, path = "/runs",
    params(
        ("connection_id" = Option<String>, Query, description = "only this connection"),
        ("limit" = Option<usize>, Query, description = "1 to 1000, default 50"),
    ),
    responses((status = 200, body = RunsResponse), (status = 400)),
    security(("bearer" = [])))]
pub async fn runs(
    State(service): State<Arc<Service>>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<RunsResponse>> {
    if let Some(unknown) = params
        .keys()
        .find(|k| !["connection_id", "limit"].contains(&k.as_str()))
    {
        return Err(ApiError::invalid(format!(
            "unknown query parameter {unknown:?} (available: connection_id, limit)"
        )));
    }
    let limit = parse_limit(&params, 50, 1000)?;
    let runs = service
        .store
        .list_runs(params.get("connection_id").map(String::as_str), limit)
        .await?;
    Ok(Json(RunsResponse { runs }))
}
