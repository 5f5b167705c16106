//! Health and metrics.

use actix_web::{HttpRequest, HttpResponse, web};
use sea_orm::ConnectionTrait;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    error::{ApiError, ApiResult, ErrorBody},
    http::{bearer, constant_time_eq},
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

/// Headers a proxy adds to what it forwards. A request carrying any of them came through one,
/// so its loopback peer address is the proxy's, not the caller's.
const PROXY_HEADERS: [&str; 6] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
    "via",
];

/// Who may read `/metrics`: with `metrics_token` configured, a caller sending it as its bearer
/// token (compared in constant time); without, a caller on the loopback address only, and not
/// through a proxy (the figures tell load, memory and users' activity, not for the Internet;
/// behind a reverse proxy on the host every Internet request is a loopback one, so a request
/// with any [`PROXY_HEADERS`] is refused). A scraper off the host needs the token, and an
/// operator with a reverse proxy on the host should set one all the same (a proxy that adds
/// none of these headers is not recognised).
fn may_read_metrics(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
    match &state.config.metrics_token {
        Some(expected) => match bearer(req) {
            Some(sent) if constant_time_eq(sent.as_bytes(), expected.0.as_bytes()) => Ok(()),
            _ => Err(ApiError::Unauthorized),
        },
        None if PROXY_HEADERS.iter().any(|h| req.headers().contains_key(*h)) => {
            Err(ApiError::Forbidden(
                "/metrics answers no request through a proxy without metrics_token".into(),
            ))
        }
        None if req.peer_addr().is_some_and(|a| a.ip().is_loopback()) => Ok(()),
        None => Err(ApiError::Forbidden(
            "/metrics answers the server's own host only, or a caller with metrics_token".into(),
        )),
    }
}

/// Counters and gauges in the OpenMetrics text format (which Prometheus reads): for the
/// `metrics_token` bearer, or from loopback (not through a proxy) when none is configured.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, body = String,
        content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn metrics(state: web::Data<AppState>, req: HttpRequest) -> ApiResult<HttpResponse> {
    may_read_metrics(&state, &req)?;
    Ok(HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .body(state.metrics.render(state.docs.usage())))
}
