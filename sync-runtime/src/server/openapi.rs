//! `GET /openapi.json`: the API description, generated from the handlers and types.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{actions, connections, records, syncs};

struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("SYNCFN_SECRET_KEY"))
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "syncfn", description = "Service mode of syncfn: connections, schedules, records, webhooks and actions"),
    paths(
        connections::create, connections::list, connections::get, connections::delete,
        connections::patch_metadata, connections::put_metadata,
        records::records, records::runs,
        syncs::start, syncs::pause, syncs::trigger, syncs::status,
        actions::call,
    ),
    components(schemas(
        connections::CreateConnection, connections::ConnectionView, connections::ConnectionList,
        records::RecordsResponse, records::RunsResponse,
        syncs::SyncsRequest, syncs::SyncsResponse, syncs::SyncStatus, syncs::StatusResponse,
        actions::ActionRequest, actions::ActionResponse,
    )),
    modifiers(&BearerKey),
)]
#[derive(Debug)]
pub struct ApiDoc;

/// `GET /openapi.json`
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
