//! `POST /actions/{integration}/{action}`: run a typed write against the provider.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sync_sdk::ErrorKind;
use utoipa::ToSchema;

use super::context::Service;
use super::error::{ApiError, ApiResult, body_error};
use crate::store::SyncKey;
use crate::validate::RecordValidator;

/// Body of an action call.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    /// Connection to act for.
    pub connection_id: String,
    /// The action's input, validated against its JSON Schema.
    #[schema(value_type = Object)]
    pub input: Value,
}

/// An action's result.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionResponse {
    /// The action's typed output.
    #[schema(value_type = Object)]
    pub output: Value,
    /// Syncs triggered because the action succeeded.
    pub triggered_syncs: Vec<String>,
}

/// `POST /actions/{integration}/{action}`
#[utoipa::path(post, path = "/actions/{integration}/{action}",
    params(("integration" = String, Path, description = "integration name"),
           ("action" = String, Path, description = "action name")),
    request_body = ActionRequest,
    responses((status = 200, body = ActionResponse), (status = 400), (status = 404), (status = 502)),
    security(("bearer" = [])))]
pub async fn call(
    State(service): State<Arc<Service>>,
    Path((integration_name, action_name)): Path<(String, String)>,
    body: Result<Json<ActionRequest>, JsonRejection>,
) -> ApiResult<Json<ActionResponse>> {
    let Json(request) = body.map_err(body_error)?;
    let integration = service
        .integration(&integration_name)
        .map_err(ApiError::not_found)?;
    let action = integration.find_action(&action_name).cloned().ok_or_else(|| {
        let names: Vec<String> = integration.actions().iter().map(|a| a.spec().name).collect();
        ApiError::not_found(format!(
            "unknown action {action_name:?} in integration {integration_name:?} (available: {})",
            names.join(", ")
        ))
    })?;
    let spec = action.spec();
    let validator = RecordValidator::new(&format!("{action_name} input"), &spec.input_schema)
        .map_err(ApiError::internal)?;
    validator
        .check(&request.input)
        .map_err(|m| ApiError::invalid(format!("input {m}")))?;
    let resolved = match service.resolve_connection(&request.connection_id).await {
        Ok(r) => r,
        Err(e) if e.kind() == ErrorKind::Config => {
            return Err(ApiError::not_found(e.message().to_string()));
        }
        Err(e) => return Err(ApiError::internal(e.message().to_string())),
    };
    if resolved.stored.integration != integration_name {
        return Err(ApiError::invalid(format!(
            "connection {:?} belongs to integration {:?}, not {integration_name:?}",
            request.connection_id, resolved.stored.integration
        )));
    }
    let parts = service
        .action_parts(&resolved, &action_name)
        .map_err(|e| ApiError::invalid(e.message().to_string()))?;
    let output = action.run_json(parts, request.input).await.map_err(|e| {
        tracing::warn!(action = %action_name, connection = %request.connection_id, error = %e, "action failed");
        let status = match e.kind() {
            ErrorKind::Config if e.status().is_none() => StatusCode::BAD_REQUEST,
            _ => StatusCode::BAD_GATEWAY,
        };
        ApiError::new(status, "action_failed", format!("action {action_name:?}: {e}"))
    })?;
    let mut triggered = Vec::new();
    for sync in &spec.trigger_syncs {
        let key = SyncKey::new(&request.connection_id, &integration_name, sync);
        if service.store.request_trigger(&key, false, false).await? {
            triggered.push(sync.clone());
        }
    }
    service.scheduler.wake();
    Ok(Json(ActionResponse {
        output,
        triggered_syncs: triggered,
    }))
}
