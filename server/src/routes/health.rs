//! Health and metrics.

use actix_web::{HttpResponse, web};
use sea_orm::ConnectionTrait;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    error::{ApiResult, ErrorBody},
    state::AppState,
    telemetry::metrics::CONTENT_TYPE,
};

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`
    status: &'static str,
    /// `ok` once the database answered.
    database: &'static str,
}

/// Liveness and readiness: answers once the database answers.
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, body = Health), (status = 500, body = ErrorBody)))]
pub async fn healthz(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    state.db.execute_unprepared("SELECT 1").await?;
    Ok(HttpResponse::Ok().json(Health {
        status: "ok",
        database: "ok",
    }))
}

/// Counters and gauges in the OpenMetrics text format (which Prometheus reads).
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, body = String,
        content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8")))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .body(state.metrics.render(state.docs.usage()))
}
