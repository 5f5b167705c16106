//! `GET /api/v1/events`: live updates as server-sent events (`crate::events`). Each change
//! of a unit document the caller may read is one `change` event; `resync` says notices may
//! have been missed (read again); a comment line every `live_heartbeat_seconds` keeps proxies
//! from closing the stream and re-checks the sign-in, which ends the stream with `signed-out`
//! once the token is revoked or expired. The stream ends when the server stops.

use std::{convert::Infallible, time::Duration};

use actix_web::{
    HttpRequest, HttpResponse,
    http::header::{CacheControl, CacheDirective, ContentEncoding},
    web::{self, Bytes},
};
use tokio::sync::broadcast::error::RecvError;

use crate::{
    auth::Caller,
    error::{ApiError, ApiResult, ErrorBody},
    events::{Change, Event, Refused, Subscription},
    http::bearer_or_cookie,
    state::AppState,
};

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LiveQuery {
    /// End the stream after this many seconds (0: at once, after its opening lines); at most
    /// the server's `live_stream_seconds`, which is also the default.
    #[param(minimum = 0)]
    pub seconds: Option<u64>,
}

/// Live updates of the unit documents the caller may read (server-sent events).
///
/// Events: `change` with `{"directive", "unit", "ops"}`; `resync` (read everything again);
/// `signed-out` (the sign-in ended). The bearer token, or the dashboard's cookie. A stream
/// ends after `live_stream_seconds` (EventSource comes back by itself, to whichever replica
/// the balancer picks then).
#[utoipa::path(get, path = "/api/v1/events", tag = "progress", security(("bearer" = [])),
    params(LiveQuery),
    responses(
        (status = 200, description = "a stream of server-sent events", content_type = "text/event-stream", body = String),
        (status = 401, body = ErrorBody),
        (status = 429, description = "this account has live_streams_per_user streams open", body = ErrorBody),
        (status = 503, description = "too many streams open, or the server is stopping", body = ErrorBody)))]
pub async fn events(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<LiveQuery>,
) -> ApiResult<HttpResponse> {
    let token = bearer_or_cookie(&req).ok_or(ApiError::Unauthorized)?;
    let caller = state.auth.caller(&state.db, &token).await?;
    let subscription = state
        .events
        .subscribe(caller.user_id)
        .map_err(|refused| match refused {
            Refused::UserFull => ApiError::TooManyRequests { retry_after: 30 },
            Refused::Full | Refused::Stopping => ApiError::Overloaded { retry_after: 5 },
        })?;
    let heartbeat = Duration::from_secs(state.config.live_heartbeat_seconds.clamp(1, 3600));
    // At most a day, whatever the configuration says (an `Instant` must not overflow).
    let most = state.config.live_stream_seconds.min(86_400);
    let now = tokio::time::Instant::now();
    let ends = now + Duration::from_secs(q.seconds.map_or(most, |s| s.min(most)));
    // The first beat at a point of its own in the first period: streams opened together (a
    // dashboard's browsers coming back after a restart) do not all check at once after.
    let spread = heartbeat.mul_f64(rand::random::<f64>().max(0.05));
    let mut tick = tokio::time::interval_at(now + spread, heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let live = Live {
        subscription,
        state,
        token,
        caller,
        tick,
        ends,
        opening: true,
        ending: false,
    };
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(CacheControl(vec![
            CacheDirective::NoCache,
            CacheDirective::NoStore,
        ]))
        // Not compressed (a compressor holds small events back), not buffered by nginx.
        .insert_header(ContentEncoding::Identity)
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(futures_util::stream::unfold(live, next)))
}

struct Live {
    subscription: Subscription,
    state: web::Data<AppState>,
    token: String,
    caller: Caller,
    tick: tokio::time::Interval,
    ends: tokio::time::Instant,
    opening: bool,
    ending: bool,
}

fn event(name: &str, data: &str) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

fn change(c: &Change) -> Bytes {
    event("change", &serde_json::to_string(c).unwrap_or_default())
}

async fn next(mut live: Live) -> Option<(Result<Bytes, Infallible>, Live)> {
    if live.ending {
        return None;
    }
    if live.opening {
        if tokio::time::Instant::now() >= live.ends {
            live.ending = true;
        }
        live.opening = false;
        // The browser waits 3 s before coming back after the stream ends.
        return Some((
            Ok(Bytes::from_static(b"retry: 3000\n: taskforce\n\n")),
            live,
        ));
    }
    loop {
        let got = tokio::select! {
            got = live.subscription.events.recv() => got,
            _ = live.subscription.stop.changed() => return None,
            () = tokio::time::sleep_until(live.ends) => return None,
            _ = live.tick.tick() => {
                // Through the token cache (a logout or revocation evicts it at once; anything
                // else is read again within its 5 s).
                return match live.state.auth.caller(&live.state.db, &live.token).await {
                    Ok(caller) => {
                        live.caller = caller;
                        Some((Ok(Bytes::from_static(b": keep-alive\n\n")), live))
                    }
                    Err(ApiError::Unauthorized) => {
                        live.ending = true;
                        Some((Ok(event("signed-out", "{}")), live))
                    }
                    // The database did not answer: keep the stream, check at the next beat.
                    Err(e) => {
                        tracing::warn!(error = %e, "live updates: cannot check a stream's sign-in");
                        Some((Ok(Bytes::from_static(b": keep-alive\n\n")), live))
                    }
                };
            }
        };
        match got {
            Ok(Event::Change(c)) if live.caller.may_read_unit(&c.unit) => {
                let bytes = change(&c);
                return Some((Ok(bytes), live));
            }
            Ok(Event::Change(_)) => continue,
            Ok(Event::Resync) | Err(RecvError::Lagged(_)) => {
                return Some((Ok(event("resync", "{}")), live));
            }
            Err(RecvError::Closed) => return None,
        }
    }
}
