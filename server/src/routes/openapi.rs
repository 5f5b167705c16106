//! The OpenAPI document of the JSON API, generated from the handlers' annotations and the
//! types they answer with, served at `/api/v1/openapi.json`. The route table
//! ([`super::API_ROUTES`]) and this document list the same operations: a test holds them
//! equal, and validates live answers against the schemas.

use actix_web::HttpResponse;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use super::{
    devices, directives, events, exports, health, hotlines, members, office, progress, session,
    sync, task_history, units, users,
};

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "taskforce",
        description = "Chỉ thị 05/CT-BTTTT: tiến độ từng điều khoản × đơn vị, đồng bộ điện thoại. \
                       Directive progress by clause × unit, and the phones' sync.",
        license(name = "Apache-2.0")
    ),
    paths(
        health::healthz,
        health::readyz,
        events::events,
        health::metrics,
        openapi_json,
        session::login,
        session::logout,
        session::whoami,
        devices::device_challenge,
        devices::register_device,
        devices::revoke_device,
        sync::sync,
        sync::sync_batch,
        directives::list_directives,
        directives::get_directive,
        directives::import_draft,
        directives::list_drafts,
        directives::get_draft,
        directives::correct_draft,
        directives::publish_draft,
        directives::discard_draft,
        directives::bring_documents,
        units::list_units,
        units::unit_document,
        units::unit_progress,
        task_history::history,
        progress::progress,
        progress::clause,
        progress::unit,
        progress::list_tasks,
        progress::list_reports,
        progress::list_confirmations,
        members::add_member,
        members::remove_member,
        users::list_users,
        users::user_devices,
        users::disable_user,
        users::enable_user,
        office::act,
        hotlines::list_hotlines,
        hotlines::set_hotline,
        hotlines::hotline_table,
        hotlines::remove_hotline,
        hotlines::list_verifications,
        hotlines::get_mapping,
        hotlines::set_mapping,
        hotlines::upload_cdr,
        exports::download,
    ),
    modifiers(&Security),
    tags(
        (name = "ops", description = "health and metrics"),
        (name = "accounts", description = "sign-in, users and unit members"),
        (name = "sync", description = "devices and the phones' sync"),
        (name = "office", description = "the Ministry Office's actions: accept, return, urge, deadlines, comments"),
        (name = "directive", description = "the directives, their drafts (import, review, publish) and the unit catalogue"),
        (name = "progress", description = "progress for the Ministry Office"),
        (name = "exports", description = "CSV and XLSX"),
        (name = "hotlines", description = "hotline-free billing: the hotline register, call-record verification, the carrier × hotline table"),
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
                crate::http::TOKEN_COOKIE,
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
