//! What the HTTP edge shares between the API's routes and the dashboard's pages: reading a
//! request's caller from its bearer token or the dashboard's cookie; the cookies' attributes;
//! the checks against cross-site forms (CSRF tokens, `Origin` and `Sec-Fetch-Site`).

pub mod login;

use std::{future::Future, pin::Pin};

use actix_web::{
    FromRequest, HttpRequest,
    cookie::{Cookie, SameSite},
    dev::Payload,
    web,
};
use sha2::{Digest, Sha256};

use crate::{auth::Caller, error::ApiError, state::AppState};

/// The policy of the sync answers, binary and never rendered: nothing may load, submit or
/// frame. The pages' policy (`dashboard::CONTENT_SECURITY_POLICY`, on every other answer)
/// would add its hashes, 337 bytes, to every sync (issue 25).
pub const SYNC_CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The dashboard's sign-in cookie: it holds a normal bearer token.
pub const TOKEN_COOKIE: &str = "tf_token";

pub fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get("Authorization")?.to_str().ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?;
    Some(token.trim().to_string())
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let token = token.ok_or(ApiError::Unauthorized)?;
            let state = state.ok_or_else(|| ApiError::internal(anyhow::anyhow!("no app state")))?;
            state.auth.caller(&state.db, &token).await
        })
    }
}

/// The token of a request: its bearer token, else the dashboard's cookie.
pub fn bearer_or_cookie(req: &HttpRequest) -> Option<String> {
    bearer(req).or_else(|| req.cookie(TOKEN_COOKIE).map(|c| c.value().to_string()))
}

/// Whether the request came over TLS (the listener's own, or a proxy's `Forwarded` /
/// `X-Forwarded-Proto` saying so).
pub fn is_tls(req: &HttpRequest) -> bool {
    req.connection_info().scheme().eq_ignore_ascii_case("https")
}

/// A cookie of the dashboard: `HttpOnly`, `SameSite=Strict`, `Path=/`, and `Secure` whenever
/// the request came over TLS (a cookie marked `Secure` over plain HTTP would never come back).
pub fn cookie(req: &HttpRequest, name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(is_tls(req))
        .finish()
}

/// The same cookie, expired: the browser drops it.
pub fn removal(req: &HttpRequest, name: &'static str) -> Cookie<'static> {
    let mut gone = cookie(req, name, String::new());
    gone.make_removal();
    gone
}

/// Equal bytes, in a time that does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The pre-session CSRF cookie of the sign-in form (double submit: the form carries the same
/// random value).
pub const CSRF_COOKIE: &str = "tf_csrf";
/// The hidden field every state-changing form carries.
pub const CSRF_FIELD: &str = "csrf";

/// 32 random bytes from the operating system, as hex.
pub fn random_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The CSRF token of a signed-in session: derived from its (secret, `HttpOnly`) session token,
/// so a page of another site can neither read nor compute it, and it ends with the session.
pub fn session_csrf(session_token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"taskforce dashboard csrf\0");
    h.update(session_token.as_bytes());
    format!("{:x}", h.finalize())
}

/// A CSRF token as a page carries it: masked with a fresh random pad, `hex(pad ‖ token ⊕ pad)`,
/// so that no two answers hold the same bytes for it. With answers gzip-compressed beside text
/// an attacker can put on the page (a comment a member typed), a fixed token could be read off
/// the compressed lengths byte by byte (BREACH); a masked one cannot. [`csrf_matches`] takes it
/// back. Without randomness (never seen) the pad is zeros: the token as plain as before.
pub fn mask_csrf(token: &str) -> String {
    let token = token.as_bytes();
    let mut pad = vec![0u8; token.len()];
    if getrandom::fill(&mut pad).is_err() {
        pad.fill(0);
    }
    let mut out = String::with_capacity(token.len() * 4);
    for b in &pad {
        out.push_str(&format!("{b:02x}"));
    }
    for (t, p) in token.iter().zip(&pad) {
        out.push_str(&format!("{:02x}", t ^ p));
    }
    out
}

/// Whether a form's CSRF field is `expected`: masked by [`mask_csrf`] (as every page writes it
/// now), or the token itself (a page from before masking, still open in a browser across an
/// upgrade: it was never written masked, so BREACH could not have read it from a masked page).
/// In a time that does not depend on where they differ.
pub fn csrf_matches(expected: &str, sent: &str) -> bool {
    if expected.is_empty() {
        return false;
    }
    let want = expected.as_bytes();
    if sent.len() != want.len() * 4 {
        return constant_time_eq(want, sent.as_bytes());
    }
    let Some(bytes) = (0..sent.len())
        .step_by(2)
        .map(|i| {
            sent.get(i..i + 2)
                .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    let (pad, masked) = bytes.split_at(want.len());
    let token: Vec<u8> = masked.iter().zip(pad).map(|(m, p)| m ^ p).collect();
    constant_time_eq(want, &token)
}

/// Whether a browser says the request comes from another site: `Sec-Fetch-Site` other than
/// `same-origin` or `none` (typed or bookmarked), or an `Origin` that is not this server's
/// host (`null` included). A request with neither (not a browser, or an old one)
/// is not cross-site by this test; the CSRF token still has to match.
pub fn cross_site(req: &HttpRequest) -> bool {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .map(|v| v.to_str().unwrap_or("\u{fffd}").trim().to_ascii_lowercase())
    };
    if header("sec-fetch-site").is_some_and(|site| site != "same-origin" && site != "none") {
        return true;
    }
    if let Some(origin) = header("origin") {
        // The host only: behind a proxy that ends TLS without saying so, the scheme this
        // server sees is not the browser's.
        let host = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        return host != Some(req.connection_info().host().to_ascii_lowercase().as_str());
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked token differs at every answer, never holds the token's bytes, and reads back;
    /// a token of another session, a tampered one, an empty one or one not in hex do not.
    #[test]
    fn a_masked_csrf_token_differs_each_time_and_reads_back() {
        let token = session_csrf("a session");
        let (a, b) = (mask_csrf(&token), mask_csrf(&token));
        assert_ne!(a, b, "a fresh pad each time");
        assert!(!a.contains(&token) && !a.contains(&token[..16]), "{a}");
        assert!(csrf_matches(&token, &a) && csrf_matches(&token, &b));
        assert!(csrf_matches(&token, &token), "a page from before masking");
        let other = mask_csrf(&session_csrf("another session"));
        assert!(!csrf_matches(&token, &other));
        let mut tampered = a.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(tampered).unwrap_or_default();
        assert!(!csrf_matches(&token, &tampered));
        assert!(!csrf_matches(&token, ""));
        assert!(!csrf_matches("", &mask_csrf("")));
        assert!(!csrf_matches(&token, &"zz".repeat(token.len() * 2)));
        assert!(!csrf_matches(&token, &"é".repeat(token.len() * 2)));
        // Only hex digits: `+f` would read as 0x0f.
        assert!(!csrf_matches(&token, &"+f".repeat(token.len() * 2)));
    }
}
