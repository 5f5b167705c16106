//! The one login of the API (`POST /api/v1/auth/login`) and the dashboard (`POST /login`):
//! the limits (`auth::limiter`) before the password is checked, the outcome counted after,
//! and the device token a successful login hands the client (a JSON field for the API and the
//! phones, the [`DEVICE_COOKIE`] for the dashboard).
//!
//! The client's address is the connection's peer; with `trust_forwarded_for`, the last entry
//! of `X-Forwarded-For` (what the one reverse proxy in front saw). Not the first entry, which
//! the client writes itself.

use std::net::IpAddr;

use actix_web::{HttpRequest, cookie::Cookie};

use crate::{
    accounts,
    auth::Caller,
    error::{ApiError, ApiResult},
    state::AppState,
    telemetry::metrics::Metrics,
};

/// The dashboard's device token cookie (`HttpOnly`, `SameSite=Strict`, `Secure` over TLS).
pub const DEVICE_COOKIE: &str = "tf_device";
/// How long a browser keeps its device cookie, in days.
const DEVICE_COOKIE_DAYS: i64 = 365;

/// A successful login.
#[derive(Debug)]
pub struct LoggedIn {
    /// The bearer token.
    pub token: String,
    /// Unix seconds.
    pub expires_at: i64,
    pub caller: Caller,
    /// What the client presents at its next login to be known as a device that signed in.
    pub device_token: Option<String>,
}

impl LoggedIn {
    /// The dashboard's device cookie, when there is a token to keep.
    pub fn device_cookie(&self, req: &HttpRequest) -> Option<Cookie<'static>> {
        let token = self.device_token.clone()?;
        let mut c = super::cookie(req, DEVICE_COOKIE, token);
        c.set_max_age(actix_web::cookie::time::Duration::days(DEVICE_COOKIE_DAYS));
        Some(c)
    }
}

/// The address the login limits count a request under.
pub fn client_ip(req: &HttpRequest, trust_forwarded_for: bool) -> Option<IpAddr> {
    if trust_forwarded_for {
        let last = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .last()
            .and_then(|ip| ip.trim().parse().ok());
        if last.is_some() {
            return last;
        }
    }
    req.peer_addr().map(|a| a.ip())
}

/// The device token a browser holds.
pub fn device_cookie_value(req: &HttpRequest) -> Option<String> {
    req.cookie(DEVICE_COOKIE).map(|c| c.value().to_string())
}

/// Check the limits, then the password. `TooManyRequests` (429, `Retry-After`) when the
/// client must wait; `BadCredentials` for a wrong password, counted.
pub async fn login(
    state: &AppState,
    req: &HttpRequest,
    username: &str,
    password: &str,
    device_token: Option<&str>,
) -> ApiResult<LoggedIn> {
    let ip = client_ip(req, state.config.trust_forwarded_for);
    let attempt = state.limiter.admit(ip, username, device_token)?;
    // Looked up as counted (trimmed, lowercased); a name no account can have is refused
    // by `accounts::login` before any lookup.
    let name = attempt.username().unwrap_or(username);
    // The check waits its turn for a slot (`auth::argon2_slot`); the back-off is checked
    // again once it has one, so attempts let in together cannot all pass a back-off that the
    // first of them to fail sets (at most a slot's worth are checked past it).
    let slot = crate::auth::argon2_slot().await?;
    state.limiter.recheck(&attempt)?;
    match accounts::login(
        &state.db,
        name,
        password,
        state.config.token_ttl_hours,
        slot,
    )
    .await
    {
        Ok((token, expires_at, caller)) => {
            Metrics::add(&state.metrics.logins, 1);
            Ok(LoggedIn {
                token,
                expires_at,
                caller,
                device_token: state.limiter.succeeded(&attempt),
            })
        }
        Err(e) => {
            if matches!(e, ApiError::BadCredentials) {
                state.limiter.failed(&attempt);
                Metrics::add(&state.metrics.login_failures, 1);
            }
            Err(e)
        }
    }
}
