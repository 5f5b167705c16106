//! The JSON API and the exports over HTTP: the route table, one file per resource. Handlers
//! check the caller, call the services below them and shape the answer; they hold no rules of
//! their own.

pub mod devices;
pub mod directives;
pub mod events;
pub mod exports;
pub mod health;
pub mod hotlines;
pub mod members;
pub mod office;
pub mod openapi;
pub mod progress;
pub mod session;
pub mod sync;
pub mod task_history;
pub mod units;
pub mod users;

use actix_web::web;

/// The API's route table: one line per operation. It registers the routes and lists them in
/// [`API_ROUTES`], which the OpenAPI document must match (a test checks both ways).
macro_rules! api_routes {
    ($($method:ident $path:literal => $handler:path;)*) => {
        /// `(method, path)` of every API operation, as registered.
        pub const API_ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        pub fn api(cfg: &mut web::ServiceConfig) {
            $(cfg.route($path, web::$method().to($handler));)*
        }
    };
}

api_routes! {
    get "/healthz" => health::healthz;
    get "/readyz" => health::readyz;
    get "/metrics" => health::metrics;
    get "/api/v1/openapi.json" => openapi::openapi_json;
    post "/api/v1/auth/login" => session::login;
    post "/api/v1/auth/logout" => session::logout;
    get "/api/v1/me" => session::whoami;
    post "/api/v1/devices/challenge" => devices::device_challenge;
    post "/api/v1/devices" => devices::register_device;
    post "/api/v1/devices/{actor}/revoke" => devices::revoke_device;
    post "/api/v1/sync" => sync::sync;
    post "/api/v1/sync/batch" => sync::sync_batch;
    get "/api/v1/directives" => directives::list_directives;
    // Before `/api/v1/directives/{id}`, which would take `drafts` for an id.
    post "/api/v1/directives/drafts" => directives::import_draft;
    get "/api/v1/directives/drafts" => directives::list_drafts;
    get "/api/v1/directives/drafts/{id}" => directives::get_draft;
    post "/api/v1/directives/drafts/{id}/corrections" => directives::correct_draft;
    post "/api/v1/directives/drafts/{id}/publish" => directives::publish_draft;
    delete "/api/v1/directives/drafts/{id}" => directives::discard_draft;
    get "/api/v1/directives/{id}" => directives::get_directive;
    post "/api/v1/directives/{id}/bring" => directives::bring_documents;
    get "/api/v1/units" => units::list_units;
    get "/api/v1/units/{id}/document" => units::unit_document;
    get "/api/v1/units/{id}/progress" => units::unit_progress;
    get "/api/v1/units/{id}/tasks/{task}/history" => task_history::history;
    get "/api/v1/progress" => progress::progress;
    get "/api/v1/events" => events::events;
    get "/api/v1/progress/clauses/{id}" => progress::clause;
    get "/api/v1/progress/units/{id}" => progress::unit;
    get "/api/v1/tasks" => progress::list_tasks;
    get "/api/v1/reports" => progress::list_reports;
    get "/api/v1/confirmations" => progress::list_confirmations;
    post "/api/v1/units/{id}/members" => members::add_member;
    delete "/api/v1/units/{id}/members/{username}" => members::remove_member;
    get "/api/v1/users" => users::list_users;
    get "/api/v1/users/{username}/devices" => users::user_devices;
    post "/api/v1/users/{username}/disable" => users::disable_user;
    post "/api/v1/users/{username}/enable" => users::enable_user;
    post "/api/v1/office/actions" => office::act;
    get "/api/v1/hotlines" => hotlines::list_hotlines;
    put "/api/v1/hotlines" => hotlines::set_hotline;
    // Before `/api/v1/hotlines/{number}`.
    get "/api/v1/hotlines/table" => hotlines::hotline_table;
    delete "/api/v1/hotlines/{number}" => hotlines::remove_hotline;
    get "/api/v1/verifications" => hotlines::list_verifications;
    get "/api/v1/carriers/{id}/cdr-mapping" => hotlines::get_mapping;
    put "/api/v1/carriers/{id}/cdr-mapping" => hotlines::set_mapping;
    post "/api/v1/carriers/{id}/cdr" => hotlines::upload_cdr;
    get "/exports/{name}" => exports::download;
}

/// Bytes: a sync message of mobile-core's wire format, or a spreadsheet.
#[derive(Debug, utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Binary(pub Vec<u8>);
