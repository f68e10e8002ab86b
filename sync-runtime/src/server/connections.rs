//! `/connections`: create, list, read, delete, and the metadata (merge or replace).
//! Credentials are sealed at rest and never returned.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sync_sdk::{Integration, parse_duration_text};
use utoipa::ToSchema;

use super::context::{Service, parse_credentials};
use super::error::{ApiError, ApiResult, body_error};
use crate::store::{Schedule, StoredConnection, SyncKey, now_unix_ms};
use crate::validate::RecordValidator;

/// `POST /connections`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnection {
    /// Id chosen by the application (`acme-corp`).
    pub connection_id: String,
    /// Integration name (`crm`).
    pub integration: String,
    /// Overrides the integration's base URL.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Non-secret parameters handed to syncs (`owner`, `repo`…).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: Map<String, Value>,
    /// Credentials (`{"type": "bearer", "token": "…"}`); sealed at rest, never returned.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub credentials: Option<Value>,
    /// Customer configuration, validated against each sync's metadata schema.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: Value,
    /// Per-sync frequency overrides (`{"contacts": "every 5 minutes"}`), minimum 30 s.
    #[serde(default)]
    pub frequencies: BTreeMap<String, String>,
    /// Overrides every sync's `auto_start`: `false` creates the schedules paused.
    #[serde(default)]
    pub auto_start: Option<bool>,
    /// Overrides the integration's quota for this connection
    /// (`{"requests": 100, "per_ms": 10000, "burst": 10}`); shared by its syncs and actions.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub rate_limit: Option<Value>,
}

/// A connection as the API returns it (never with credentials).
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionView {
    /// Id.
    pub connection_id: String,
    /// Integration.
    pub integration: String,
    /// Base URL override.
    pub base_url: Option<String>,
    /// Non-secret parameters.
    #[schema(value_type = Object)]
    pub params: Value,
    /// Metadata.
    #[schema(value_type = Object)]
    pub metadata: Value,
    /// Whether credentials are stored.
    pub has_credentials: bool,
}

/// `GET /connections`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionList {
    /// Connections by id.
    pub connections: Vec<ConnectionView>,
}

async fn view(service: &Service, c: StoredConnection) -> ApiResult<ConnectionView> {
    let has_credentials = service
        .store
        .get_credentials(&c.connection_id)
        .await?
        .is_some();
    Ok(ConnectionView {
        base_url: c
            .config
            .get("base_url")
            .and_then(Value::as_str)
            .map(str::to_string),
        params: c
            .config
            .get("params")
            .cloned()
            .unwrap_or(Value::Object(Map::new())),
        connection_id: c.connection_id,
        integration: c.integration,
        metadata: c.metadata,
        has_credentials,
    })
}

/// Validate `metadata` against the metadata schema of every sync of `integration` that has one.
/// An integration none of whose syncs declares metadata accepts only `null` (or `{}`, stored
/// as `null`), since its syncs could not read anything else.
pub(crate) fn validate_metadata(integration: &Integration, metadata: &Value) -> ApiResult<Value> {
    let mut declared = false;
    for sync in integration.syncs() {
        let spec = sync.spec();
        if let Some(schema) = &spec.metadata_schema {
            declared = true;
            let what = format!("{} metadata", spec.name);
            let validator = RecordValidator::new(&what, schema).map_err(ApiError::internal)?;
            validator
                .check(metadata)
                .map_err(|m| ApiError::invalid(format!("metadata {m}")))?;
        }
    }
    let empty = metadata.is_null() || metadata.as_object().is_some_and(Map::is_empty);
    match (declared, empty) {
        (true, _) => Ok(metadata.clone()),
        (false, true) => Ok(Value::Null),
        (false, false) => Err(ApiError::invalid(format!(
            "metadata: no sync of integration {:?} declares metadata; send null or omit it",
            integration.name()
        ))),
    }
}

fn check_id(id: &str) -> ApiResult<()> {
    let ok = !id.is_empty()
        && id.len() <= 255
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | ':'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "connection_id {id:?} must be 1 to 255 characters of letters, digits and - _ . @ :"
        )))
    }
}

/// `POST /connections`
#[utoipa::path(post, path = "/connections", request_body = CreateConnection,
    responses((status = 201, body = ConnectionView), (status = 400), (status = 409)),
    security(("bearer" = [])))]
pub async fn create(
    State(service): State<Arc<Service>>,
    body: Result<Json<CreateConnection>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<ConnectionView>)> {
    let Json(body) = body.map_err(body_error)?;
    check_id(&body.connection_id)?;
    let integration = service
        .integration(&body.integration)
        .map_err(ApiError::invalid)?;
    if service
        .store
        .get_connection(&body.connection_id)
        .await?
        .is_some()
    {
        return Err(ApiError::conflict(format!(
            "connection {:?} already exists: delete it first or update its metadata",
            body.connection_id
        )));
    }
    let metadata = validate_metadata(integration, &body.metadata)?;
    let mut schedules = Vec::new();
    for name in body.frequencies.keys() {
        if integration.find_sync(name).is_none() {
            return Err(ApiError::invalid(format!(
                "frequencies: integration {:?} has no sync {name:?}",
                integration.name()
            )));
        }
    }
    let now = now_unix_ms();
    for sync in integration.syncs() {
        let spec = sync.spec();
        let frequency = match body.frequencies.get(&spec.name) {
            None => spec.frequency.duration(),
            Some(text) => {
                let d = parse_duration_text(text).map_err(|e| {
                    ApiError::invalid(format!("frequencies.{}: {}", spec.name, e.message()))
                })?;
                if d < service.min_frequency {
                    return Err(ApiError::invalid(format!(
                        "frequencies.{}: {text:?} is shorter than the minimum of {} seconds",
                        spec.name,
                        service.min_frequency.as_secs_f64()
                    )));
                }
                d
            }
        };
        let paused = !body.auto_start.unwrap_or(spec.auto_start);
        schedules.push(Schedule {
            key: SyncKey::new(&body.connection_id, integration.name(), &spec.name),
            frequency_ms: frequency.as_millis() as u64,
            paused,
            next_run_at_ms: now,
            pending_trigger: false,
            pending_reset: false,
            pending_empty_cache: false,
        });
    }
    let sealed = match body.credentials {
        None | Some(Value::Null) => None,
        Some(value) => {
            parse_credentials(value.clone()).map_err(ApiError::invalid)?;
            let plain =
                serde_json::to_vec(&value).map_err(|e| ApiError::internal(e.to_string()))?;
            Some(
                service
                    .cipher
                    .seal(&plain)
                    .map_err(|e| ApiError::internal(e.to_string()))?,
            )
        }
    };
    let stored = StoredConnection {
        connection_id: body.connection_id.clone(),
        integration: integration.name().to_string(),
        config: {
            let mut config = serde_json::json!({"base_url": body.base_url, "params": body.params});
            if let Some(limit) = &body.rate_limit {
                crate::server::context::parse_rate_limit(Some(limit)).map_err(ApiError::invalid)?;
                config["rate_limit"] = limit.clone();
            }
            config
        },
        metadata,
    };
    if let Some(sealed) = &sealed {
        service
            .store
            .put_credentials(&stored.connection_id, sealed)
            .await?;
    }
    service.store.put_connection(&stored).await?;
    for schedule in &schedules {
        service.store.put_schedule(schedule).await?;
    }
    service.scheduler.wake();
    tracing::info!(connection = %stored.connection_id, integration = %stored.integration, "connection created");
    Ok((StatusCode::CREATED, Json(view(&service, stored).await?)))
}

/// `GET /connections`
#[utoipa::path(get, path = "/connections", responses((status = 200, body = ConnectionList)),
    security(("bearer" = [])))]
pub async fn list(State(service): State<Arc<Service>>) -> ApiResult<Json<ConnectionList>> {
    let mut connections = Vec::new();
    for c in service.store.list_connections().await? {
        connections.push(view(&service, c).await?);
    }
    Ok(Json(ConnectionList { connections }))
}

async fn load(service: &Service, id: &str) -> ApiResult<StoredConnection> {
    service
        .store
        .get_connection(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("connection {id:?} does not exist")))
}

/// `GET /connections/{id}`
#[utoipa::path(get, path = "/connections/{id}", params(("id" = String, Path, description = "connection id")),
    responses((status = 200, body = ConnectionView), (status = 404)), security(("bearer" = [])))]
pub async fn get(
    State(service): State<Arc<Service>>,
    Path(id): Path<String>,
) -> ApiResult<Json<ConnectionView>> {
    let c = load(&service, &id).await?;
    Ok(Json(view(&service, c).await?))
}

/// `DELETE /connections/{id}`: stops its schedules (runs in flight stop after their page) and
/// removes its records.
#[utoipa::path(delete, path = "/connections/{id}", params(("id" = String, Path, description = "connection id")),
    responses((status = 204), (status = 404)), security(("bearer" = [])))]
pub async fn delete(
    State(service): State<Arc<Service>>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if !service.store.delete_connection(&id).await? {
        return Err(ApiError::not_found(format!(
            "connection {id:?} does not exist"
        )));
    }
    tracing::info!(connection = %id, "connection deleted");
    Ok(StatusCode::NO_CONTENT)
}

fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(&k);
                } else {
                    merge(t.entry(k).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p,
    }
}

async fn save_metadata(
    service: &Service,
    mut c: StoredConnection,
    metadata: Value,
) -> ApiResult<ConnectionView> {
    let integration = service
        .integration(&c.integration)
        .map_err(ApiError::internal)?;
    c.metadata = validate_metadata(integration, &metadata)?;
    service.store.put_connection(&c).await?;
    view(service, c).await
}

/// `PATCH /connections/{id}/metadata`: merge (JSON merge patch; `null` removes a key).
#[utoipa::path(patch, path = "/connections/{id}/metadata", params(("id" = String, Path, description = "connection id")),
    request_body = Object, responses((status = 200, body = ConnectionView), (status = 400), (status = 404)),
    security(("bearer" = [])))]
pub async fn patch_metadata(
    State(service): State<Arc<Service>>,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult<Json<ConnectionView>> {
    let Json(patch) = body.map_err(body_error)?;
    if !patch.is_object() {
        return Err(ApiError::invalid("metadata patch must be a JSON object"));
    }
    let c = load(&service, &id).await?;
    let mut metadata = if c.metadata.is_object() {
        c.metadata.clone()
    } else {
        Value::Object(Map::new())
    };
    merge(&mut metadata, patch);
    Ok(Json(save_metadata(&service, c, metadata).await?))
}

/// `PUT /connections/{id}/metadata`: replace.
#[utoipa::path(put, path = "/connections/{id}/metadata", params(("id" = String, Path, description = "connection id")),
    request_body = Object, responses((status = 200, body = ConnectionView), (status = 400), (status = 404)),
    security(("bearer" = [])))]
pub async fn put_metadata(
    State(service): State<Arc<Service>>,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult<Json<ConnectionView>> {
    let Json(metadata) = body.map_err(body_error)?;
    let c = load(&service, &id).await?;
    Ok(Json(save_metadata(&service, c, metadata).await?))
}

#[cfg(test)]
mod tests {
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};
    use serde_json::json;
    use sync_sdk::{Model, Page, PageRequest, SyncContext, SyncError, SyncFunction, SyncSpec};

    use super::*;

    #[derive(Debug, Serialize, Deserialize, JsonSchema)]
    struct Ticket {
        id: String,
    }
    impl Model for Ticket {
        const NAME: &'static str = "Ticket";
        fn id(&self) -> String {
            self.id.clone()
        }
    }

    #[derive(Debug, Serialize, Deserialize, JsonSchema)]
    struct Options {
        region: String,
        #[serde(default)]
        include_archived: bool,
    }

    struct Tickets;
    impl SyncFunction for Tickets {
        type Record = Ticket;
        type Checkpoint = ();
        type Metadata = Options;
        fn spec(&self) -> SyncSpec {
            SyncSpec::builder("tickets").build().unwrap()
        }
        async fn fetch_page(
            &self,
            _: &SyncContext<Options>,
            _: PageRequest<'_, ()>,
        ) -> Result<Page<Ticket>, SyncError> {
            Ok(Page::last(Vec::new()))
        }
    }

    #[test]
    fn metadata_is_checked_against_the_sync_schema_naming_the_field() {
        let with = Integration::new("desk").sync(Tickets);
        assert!(validate_metadata(&with, &json!({"region": "eu"})).is_ok());
        let err = validate_metadata(&with, &json!({"region": 7})).unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert!(err.message.contains("/region"), "{}", err.message);
        let err = validate_metadata(&with, &json!({})).unwrap_err();
        assert!(err.message.contains("region"), "{}", err.message);
    }

    #[test]
    fn metadata_for_an_integration_without_any_is_refused() {
        let without = Integration::new("plain");
        assert_eq!(
            validate_metadata(&without, &json!({})).unwrap(),
            Value::Null
        );
        let err = validate_metadata(&without, &json!({"x": 1})).unwrap_err();
        assert!(err.message.contains("declares metadata"), "{}", err.message);
    }

    #[test]
    fn merge_patch_adds_replaces_and_removes_keys() {
        let mut m = json!({"a": 1, "b": {"c": 2, "d": 3}});
        merge(&mut m, json!({"a": null, "b": {"c": 5}, "e": true}));
        assert_eq!(m, json!({"b": {"c": 5, "d": 3}, "e": true}));
    }
}
