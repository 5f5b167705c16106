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

/// One check of `/readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyCheck {
    /// `database`, `migrations` or `writer`.
    name: &'static str,
    ok: bool,
    /// What was found, in English: only for the callers `/metrics` answers (errors, step names
    /// and the queue's depth are not for the Internet); logged when not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready`, or `not_ready` (then the status is 503).
    status: &'static str,
    checks: Vec<ReadyCheck>,
}

/// The writer counts as saturated once this share (in percent) of `writer_queue` waits: a
/// balancer sends new phones elsewhere before this replica starts answering 503 `overloaded`.
pub const SATURATED_PERCENT: usize = 90;

/// Readiness for a load balancer or Kubernetes: the database answers (within 2 s), every
/// migration this binary knows has run (steps a newer binary ran are named, not refused: a
/// rolling upgrade keeps the old replicas serving), the sync
/// writer's queue is below [`SATURATED_PERCENT`] of `writer_queue`. 503 with each check's
/// finding otherwise. `/healthz` says the process is alive. (A stopping server stops
/// accepting connections at once, so a balancer sees it gone, not unready.)
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn readyz(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let mut checks = Vec::with_capacity(3);
    let answered = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        crate::db::migrations(&state.db),
    )
    .await;
    let (database, migrations) = match answered {
        Err(_) => (
            (false, "no answer within 2 s".to_string()),
            (false, "not read".to_string()),
        ),
        Ok(Err(e)) => ((false, format!("{e}")), (false, "not read".to_string())),
        Ok(Ok(m)) => (
            (true, "answered".to_string()),
            match (m.pending.is_empty(), m.unknown.is_empty()) {
                (true, true) => (true, "current".to_string()),
                (false, _) => (false, format!("not yet run: {}", m.pending.join(", "))),
                // A newer replica migrated the database during a rolling upgrade: this one
                // keeps serving (docs/operations.md says which steps allow that).
                (true, false) => (
                    true,
                    format!(
                        "current; also run by a newer binary: {}",
                        m.unknown.join(", ")
                    ),
                ),
            },
        ),
    };
    let (waiting, bound) = state.writer.queued();
    let writer = (
        waiting * 100 < bound * SATURATED_PERCENT,
        format!("{waiting} of {bound} syncs waiting"),
    );
    let found = [
        ("database", database),
        ("migrations", migrations),
        ("writer", writer),
    ];
    let ready = found.iter().all(|(_, (ok, _))| *ok);
    if !ready {
        let failed: Vec<String> = found
            .iter()
            .filter(|(_, (ok, _))| !ok)
            .map(|(name, (_, detail))| format!("{name}: {detail}"))
            .collect();
        tracing::warn!(checks = %failed.join("; "), "not ready");
    }
    let detailed = may_read_metrics(&state, &req).is_ok();
    for (name, (ok, detail)) in found {
        checks.push(ReadyCheck {
            name,
            ok,
            detail: detailed.then_some(detail),
        });
    }
    let body = Readiness {
        status: if ready { "ready" } else { "not_ready" },
        checks,
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
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
    state.metrics.set_live_streams(state.events.open_streams());
    Ok(HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .body(state.metrics.render(state.docs.usage())))
}
