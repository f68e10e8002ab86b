//! `/syncs/start`, `/syncs/pause`, `/syncs/trigger` and `GET /syncs/status`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::context::Service;
use super::error::{ApiError, ApiResult, body_error};
use crate::store::{RunRecord, RunStatus, Schedule, now_unix_ms};

/// Body of start, pause and trigger.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncsRequest {
    /// Connection id.
    pub connection_id: String,
    /// Sync names; empty = every sync of the connection.
    #[serde(default)]
    pub syncs: Vec<String>,
    /// Trigger only: forget the checkpoint and run a full pass.
    #[serde(default)]
    pub reset: bool,
    /// Trigger only: also drop the cached records first (implies reset).
    #[serde(default)]
    pub empty_cache: bool,
}

/// What a control call did.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncsResponse {
    /// Syncs affected.
    pub syncs: Vec<String>,
    /// Trigger only: syncs whose run was already pending or in progress, so this call joined it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub coalesced: Vec<String>,
}

async fn schedules_for(service: &Service, request: &SyncsRequest) -> ApiResult<Vec<Schedule>> {
    let all = service
        .store
        .list_schedules(Some(&request.connection_id))
        .await?;
    if all.is_empty()
        && service
            .store
            .get_connection(&request.connection_id)
            .await?
            .is_none()
    {
        return Err(ApiError::not_found(format!(
            "connection {:?} does not exist",
            request.connection_id
        )));
    }
    if request.syncs.is_empty() {
        return Ok(all);
    }
    request
        .syncs
        .iter()
        .map(|name| {
            all.iter()
                .find(|s| &s.key.sync == name)
                .cloned()
                .ok_or_else(|| {
                    let names: Vec<&str> = all.iter().map(|s| s.key.sync.as_str()).collect();
                    ApiError::invalid(format!(
                        "connection {:?} has no sync {name:?} (available: {})",
                        request.connection_id,
                        names.join(", ")
                    ))
                })
        })
        .collect()
}

fn parse(body: Result<Json<SyncsRequest>, JsonRejection>) -> ApiResult<SyncsRequest> {
    Ok(body.map_err(body_error)?.0)
}

/// `POST /syncs/start`: resume the schedules; each runs at its next tick (at once if overdue).
#[utoipa::path(post, path = "/syncs/start", request_body = SyncsRequest,
    responses((status = 200, body = SyncsResponse), (status = 400), (status = 404)), security(("bearer" = [])))]
pub async fn start(
    State(service): State<Arc<Service>>,
    body: Result<Json<SyncsRequest>, JsonRejection>,
) -> ApiResult<Json<SyncsResponse>> {
    let request = parse(body)?;
    let schedules = schedules_for(&service, &request).await?;
    for s in &schedules {
        let next = if s.paused {
            now_unix_ms()
        } else {
            s.next_run_at_ms
        };
        service.store.set_paused(&s.key, false, next).await?;
    }
    service.scheduler.wake();
    Ok(Json(SyncsResponse {
        syncs: schedules.into_iter().map(|s| s.key.sync).collect(),
        coalesced: Vec::new(),
    }))
}

/// `POST /syncs/pause`: no further scheduled runs (a run in progress finishes).
#[utoipa::path(post, path = "/syncs/pause", request_body = SyncsRequest,
    responses((status = 200, body = SyncsResponse), (status = 400), (status = 404)), security(("bearer" = [])))]
pub async fn pause(
    State(service): State<Arc<Service>>,
    body: Result<Json<SyncsRequest>, JsonRejection>,
) -> ApiResult<Json<SyncsResponse>> {
    let request = parse(body)?;
    let schedules = schedules_for(&service, &request).await?;
    for s in &schedules {
        service
            .store
            .set_paused(&s.key, true, s.next_run_at_ms)
            .await?;
    }
    Ok(Json(SyncsResponse {
        syncs: schedules.into_iter().map(|s| s.key.sync).collect(),
        coalesced: Vec::new(),
    }))
}

/// `POST /syncs/trigger`: run once as soon as possible. A trigger while a run is pending or in
/// progress joins it, unless it asks for `reset` or `empty_cache`.
#[utoipa::path(post, path = "/syncs/trigger", request_body = SyncsRequest,
    responses((status = 200, body = SyncsResponse), (status = 400), (status = 404)), security(("bearer" = [])))]
pub async fn trigger(
    State(service): State<Arc<Service>>,
    body: Result<Json<SyncsRequest>, JsonRejection>,
) -> ApiResult<Json<SyncsResponse>> {
    let request = parse(body)?;
    let schedules = schedules_for(&service, &request).await?;
    let mut syncs = Vec::new();
    let mut coalesced = Vec::new();
    for s in schedules {
        let plain = !request.reset && !request.empty_cache;
        if plain && (s.pending_trigger || service.scheduler.is_running(&s.key)) {
            coalesced.push(s.key.sync);
            continue;
        }
        service
            .store
            .request_trigger(&s.key, request.reset, request.empty_cache)
            .await?;
        syncs.push(s.key.sync);
    }
    service.scheduler.wake();
    Ok(Json(SyncsResponse { syncs, coalesced }))
}

/// One sync's state.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncStatus {
    /// Sync name.
    pub name: String,
    /// RUNNING, PAUSED, SUCCESS, ERROR, STOPPED, or PENDING before the first run.
    pub status: String,
    /// Interval between runs.
    pub frequency_ms: u64,
    /// Next scheduled run (RFC 3339), `null` while paused.
    pub next_run_at: Option<String>,
    /// Whether a triggered run is waiting to start.
    pub pending_trigger: bool,
    /// The newest run with its counts and error.
    #[schema(value_type = Option<Object>)]
    pub last_run: Option<RunRecord>,
    /// Checkpoint of the last completed pass.
    #[schema(value_type = Option<Object>)]
    pub checkpoint: Option<Value>,
    /// Live (not deleted) records per model.
    pub record_count: HashMap<String, u64>,
}

/// `GET /syncs/status`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusResponse {
    /// Connection id.
    pub connection_id: String,
    /// One entry per sync.
    pub syncs: Vec<SyncStatus>,
}

fn ms_to_rfc3339(ms: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .map(crate::store::format_timestamp)
}

/// `GET /syncs/status?connection_id=…`
#[utoipa::path(get, path = "/syncs/status",
    params(("connection_id" = String, Query, description = "connection id")),
    responses((status = 200, body = StatusResponse), (status = 400), (status = 404)), security(("bearer" = [])))]
pub async fn status(
    State(service): State<Arc<Service>>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<StatusResponse>> {
    let connection_id = params
        .get("connection_id")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::invalid("query parameter connection_id is required"))?
        .clone();
    let request = SyncsRequest {
        connection_id: connection_id.clone(),
        syncs: Vec::new(),
        reset: false,
        empty_cache: false,
    };
    let mut syncs = Vec::new();
    for s in schedules_for(&service, &request).await? {
        let last_run = service.store.last_run(&s.key).await?;
        let status = if service.scheduler.is_running(&s.key) {
            "RUNNING"
        } else if s.paused {
            "PAUSED"
        } else {
            match last_run.as_ref().map(|r| r.status) {
                None => "PENDING",
                Some(RunStatus::Success) => "SUCCESS",
                Some(RunStatus::Failed) => "ERROR",
                Some(RunStatus::Running | RunStatus::Interrupted | RunStatus::Stopped) => "STOPPED",
            }
        };
        let mut record_count = HashMap::new();
        if let Ok((_, sync)) = service
            .registry
            .resolve(&format!("{}/{}", s.key.integration, s.key.sync))
        {
            for model in sync.spec().models {
                let n = service
                    .store
                    .count_records(&connection_id, &model.name)
                    .await?;
                record_count.insert(model.name, n);
            }
        }
        syncs.push(SyncStatus {
            name: s.key.sync.clone(),
            status: status.to_string(),
            frequency_ms: s.frequency_ms,
            next_run_at: if s.paused {
                None
            } else {
                ms_to_rfc3339(s.next_run_at_ms)
            },
            pending_trigger: s.pending_trigger,
            checkpoint: service.store.checkpoint(&s.key).await?,
            last_run,
            record_count,
        });
    }
    Ok(Json(StatusResponse {
        connection_id,
        syncs,
    }))
}
