//! The OpenAPI document of the JSON API, generated from the handlers' annotations and the
//! types they answer with, served at `/api/v1/openapi.json`. The route table
//! ([`crate::app::API_ROUTES`]) and this document list the same operations: a test holds them
//! equal, and validates live answers against the schemas.

use actix_web::HttpResponse;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use crate::{api, exports, progress_api, sync_api};

/// Bytes: a sync message of mobile-core's wire format, or a spreadsheet.
#[derive(Debug, utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Binary(pub Vec<u8>);

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "taskforce",
        description = "Chỉ thị 05/CT-BTTTT: tiến độ từng điều khoản × đơn vị, đồng bộ điện thoại. \
                       Directive progress by clause × unit, and the phones' sync.",
        license(name = "Apache-2.0")
    ),
    paths(
        api::healthz,
        api::metrics,
        openapi_json,
        api::login,
        api::logout,
        api::whoami,
        api::register_device,
        sync_api::sync,
        api::list_directives,
        api::get_directive,
        api::list_units,
        api::unit_document,
        api::unit_progress,
        progress_api::progress,
        progress_api::clause,
        progress_api::unit,
        progress_api::list_tasks,
        progress_api::list_reports,
        progress_api::list_confirmations,
        api::add_member,
        api::remove_member,
        exports::download,
    ),
    modifiers(&Security),
    tags(
        (name = "ops", description = "health and metrics"),
        (name = "accounts", description = "sign-in, users and unit members"),
        (name = "sync", description = "devices and the phones' sync"),
        (name = "directive", description = "the directive and the unit catalogue"),
        (name = "progress", description = "progress for the Ministry Office"),
        (name = "exports", description = "CSV and XLSX"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("the token from POST /api/v1/auth/login"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::dashboard::TOKEN_COOKIE,
                "the dashboard's sign-in cookie",
            ))),
        );
    }
}

/// The document, built once.
pub fn document() -> &'static str {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        ApiDoc::openapi()
            .to_pretty_json()
            .unwrap_or_else(|e| format!("{{\"error\":\"internal\",\"message\":\"{e}\"}}"))
    })
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "ops",
    responses((status = 200, description = "OpenAPI 3.1", body = Object)))]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document())
}
