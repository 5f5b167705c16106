//! The Ministry Office's dashboard: server-rendered HTML (maud), Vietnamese by default with
//! an English switch, no JavaScript frameworks or CDNs, small pages for slow connections.
//! Sign-in sets an HttpOnly, SameSite=Strict cookie holding a normal bearer token (Secure
//! over TLS). Every form that changes state carries a CSRF token: the sign-in form a random
//! one it also sets as a cookie (double submit) and refuses posts another site sends; the
//! sign-out form and the Ministry Office's forms (`office`) one derived from the session
//! (`http::session_csrf`).

mod chart;
mod directives;
mod i18n;
mod layout;
pub mod mail;
mod office;
mod pages;

use std::{future::Future, pin::Pin};

use actix_web::{
    FromRequest, HttpRequest, HttpResponse, ResponseError,
    dev::Payload,
    http::{StatusCode, header},
    web,
};
pub use i18n::{Lang, t};
pub use layout::{CONTENT_SECURITY_POLICY, security_headers};
use maud::html;
use sea_orm::EntityTrait;
use serde::Deserialize;

use crate::{
    auth::{Caller, caller_for_token, token_hash},
    db::entity::tokens,
    error::ApiError,
    http::{self, CSRF_COOKIE, TOKEN_COOKIE, cross_site, random_token, session_csrf},
    state::AppState,
};

pub const LANG_COOKIE: &str = "tf_lang";

/// The language of a request: `?lang=` first, then the cookie, then Vietnamese.
pub fn lang_of(req: &HttpRequest) -> Lang {
    let from_query = web::Query::<LangQuery>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.lang.as_deref().and_then(Lang::parse));
    from_query
        .or_else(|| req.cookie(LANG_COOKIE).and_then(|c| Lang::parse(c.value())))
        .unwrap_or(Lang::Vi)
}

#[derive(Debug, Deserialize)]
pub struct LangQuery {
    lang: Option<String>,
}

/// The directive the pages show, once picked (`?directive=`).
pub const DIRECTIVE_COOKIE: &str = "tf_directive";

#[derive(Debug, Deserialize)]
struct DirectiveQuery {
    directive: Option<String>,
}

/// A directive id as `Directive::slug` makes them, short enough for a cookie.
fn plausible_directive(id: &str) -> bool {
    (1..=crate::drafts::MAX_ID).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.'))
}

/// The `?directive=` of a request, when it names one plausibly.
fn picked_directive(req: &HttpRequest) -> Option<String> {
    web::Query::<DirectiveQuery>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.directive.clone())
        .filter(|d| plausible_directive(d))
}

/// The directive of a page: `?directive=` first, then the one picked last (its cookie), then
/// the bundled 05/CT-BTTTT.
pub fn directive_of(req: &HttpRequest) -> String {
    picked_directive(req)
        .or_else(|| {
            req.cookie(DIRECTIVE_COOKIE)
                .map(|c| c.value().to_string())
                .filter(|d| plausible_directive(d))
        })
        .unwrap_or_else(|| crate::progress::DEFAULT_DIRECTIVE.to_string())
}

/// A page's failure: sign in, not allowed, not found, or an internal error.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("sign in")]
    SignIn,
    #[error("{0}")]
    Api(#[from] ApiError),
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::SignIn => StatusCode::SEE_OTHER,
            PageError::Api(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            PageError::SignIn => HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/login"))
                .finish(),
            PageError::Api(e) => {
                if let ApiError::Internal(cause) = e {
                    tracing::error!(error = format!("{cause:#}"), "internal error on a page");
                }
                let key = match e {
                    ApiError::Forbidden(_) => "not_allowed",
                    ApiError::NotFound(_) => "not_found",
                    _ => "no_data",
                };
                let body = html! { main { h1 { (t(Lang::Vi, key)) } p lang="en" { (t(Lang::En, key)) } p { a href="/" { "←" } } } };
                HttpResponse::build(e.status_code())
                    .content_type("text/html; charset=utf-8")
                    .body(layout::bare("taskforce", body).into_string())
            }
        }
    }
}

pub type PageResult = Result<HttpResponse, PageError>;

/// The signed-in user of a page, and the page's language.
#[derive(Debug)]
pub struct Viewer {
    pub caller: Caller,
    pub lang: Lang,
    /// The directive the page shows ([`directive_of`]).
    pub directive: String,
}

impl FromRequest for Viewer {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = req.cookie(TOKEN_COOKIE).map(|c| c.value().to_string());
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let lang = lang_of(req);
        let picked = picked_directive(req).is_some();
        let directive = directive_of(req);
        Box::pin(async move {
            let (Some(token), Some(state)) = (token, state) else {
                return Err(PageError::SignIn);
            };
            // A directive remembered from before that the server no longer has (another
            // database behind the same address) falls back to the bundled one; one asked for
            // in the address is looked for, and a missing one is the page's 404.
            let directive = if picked {
                directive
            } else {
                match crate::db::entity::directives::Entity::find_by_id(directive.clone())
                    .one(&state.db)
                    .await
                {
                    Ok(Some(_)) => directive,
                    Ok(None) => crate::progress::DEFAULT_DIRECTIVE.to_string(),
                    Err(e) => return Err(ApiError::from(e).into()),
                }
            };
            match caller_for_token(&state.db, &token).await {
                Ok(caller) => Ok(Viewer {
                    caller,
                    lang,
                    directive,
                }),
                Err(ApiError::Unauthorized) => Err(PageError::SignIn),
                Err(e) => Err(e.into()),
            }
        })
    }
}

/// A page response, remembering an explicit `?lang=` choice; the sign-out form's CSRF field
/// filled from the session (`layout::CSRF_SLOT`).
pub fn page(req: &HttpRequest, markup: maud::Markup) -> HttpResponse {
    let mut resp = HttpResponse::Ok();
    resp.content_type("text/html; charset=utf-8");
    if let Some(lang) = web::Query::<LangQuery>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.lang.as_deref().and_then(Lang::parse))
    {
        resp.cookie(http::cookie(req, LANG_COOKIE, lang.code().to_string()));
    }
    // A directive picked is the one the next pages show (the page was read: it exists).
    if let Some(d) = picked_directive(req) {
        resp.cookie(http::cookie(req, DIRECTIVE_COOKIE, d));
    }
    // An action's confirmation is shown once (the page read it: `office::take_flash`).
    if req.cookie(office::FLASH_COOKIE).is_some() {
        resp.cookie(http::removal(req, office::FLASH_COOKIE));
    }
    let mut html = markup.into_string();
    if let Some(session) = req.cookie(TOKEN_COOKIE) {
        let field = layout::csrf_input(&session_csrf(session.value())).into_string();
        html = html.replacen(layout::CSRF_SLOT, &field, 1);
    }
    resp.body(html)
}

/// 403 with a page: a form without its CSRF token, or posted from another site.
fn refused_form() -> HttpResponse {
    HttpResponse::Forbidden()
        .content_type("text/html; charset=utf-8")
        .body(layout::forbidden_form().into_string())
}

/// The sign-in form, with the browser's pre-session token if it has one (so that two open
/// sign-in tabs both work), else a new random one.
async fn login_form(req: HttpRequest) -> PageResult {
    let held = req
        .cookie(CSRF_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()));
    let csrf = match held {
        Some(v) => v,
        None => {
            random_token().map_err(|e| ApiError::internal(anyhow::anyhow!("no randomness: {e}")))?
        }
    };
    let mut resp = page(&req, layout::login(lang_of(&req), false, &csrf));
    resp.add_cookie(&http::cookie(&req, CSRF_COOKIE, csrf))
        .map_err(ApiError::internal)?;
    Ok(resp)
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    /// The sign-in form's CSRF token: the `tf_csrf` cookie's value.
    #[serde(default)]
    csrf: String,
}

/// The hidden CSRF field of a form that carries nothing else.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> HttpResponse {
    let lang = lang_of(&req);
    // Login CSRF: another site's page must not sign the browser in (as the attacker).
    let pre_session = req.cookie(CSRF_COOKIE).map(|c| c.value().to_string());
    if cross_site(&req)
        || form.csrf.is_empty()
        || !pre_session
            .as_deref()
            .is_some_and(|c| http::csrf_matches(c, &form.csrf))
    {
        return refused_form();
    }
    // The API's login and its limits (`http::login`); the device token kept in a cookie.
    let device = http::login::device_cookie_value(&req);
    let device = device.as_deref();
    // The form drawn again carries the cookie's token, masked afresh (the field sent is
    // masked already: masking it again would not match).
    let again = pre_session.unwrap_or_default();
    match http::login::login(&state, &req, &form.username, &form.password, device).await {
        Ok(done) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/"))
            .cookie(http::cookie(&req, TOKEN_COOKIE, done.token.clone()))
            .cookie(
                done.device_cookie(&req)
                    .unwrap_or_else(|| http::removal(&req, http::login::DEVICE_COOKIE)),
            )
            .cookie(http::removal(&req, CSRF_COOKIE))
            .finish(),
        Err(ApiError::TooManyRequests { retry_after }) => HttpResponse::TooManyRequests()
            .insert_header((header::RETRY_AFTER, retry_after.to_string()))
            .content_type("text/html; charset=utf-8")
            .body(layout::login(lang, true, &again).into_string()),
        Err(_) => HttpResponse::Unauthorized()
            .content_type("text/html; charset=utf-8")
            .body(layout::login(lang, true, &again).into_string()),
    }
}

/// Sign-out: only with the session's CSRF token (another site cannot sign a user out); the
/// token is deleted and dropped from the cache, so it is refused on the very next request.
async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: Option<web::Form<CsrfForm>>,
) -> HttpResponse {
    if let Some(c) = req.cookie(TOKEN_COOKIE) {
        let sent = form.map(|f| f.into_inner().csrf).unwrap_or_default();
        if cross_site(&req) || !http::csrf_matches(&session_csrf(c.value()), &sent) {
            return refused_form();
        }
        let _ = tokens::Entity::delete_by_id(token_hash(c.value()))
            .exec(&state.db)
            .await;
        // The token stops working for the API at once too, not when its cached caller expires.
        state.auth.evict_token(c.value());
    }
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/login"))
        .cookie(http::removal(&req, TOKEN_COOKIE))
        .finish()
}

/// The dashboard's route table: one line per page or form. It registers the routes and lists
/// them in [`DASHBOARD_ROUTES`], which the authorisation test walks (server/tests/authorisation.rs).
macro_rules! dashboard_routes {
    ($($method:ident $path:literal => $handler:path;)*) => {
        /// `(method, path)` of every dashboard route, as registered.
        pub const DASHBOARD_ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        /// The dashboard's routes.
        pub fn routes(cfg: &mut web::ServiceConfig) {
            $(cfg.route($path, web::$method().to($handler));)*
        }
    };
}

dashboard_routes! {
    get "/login" => login_form;
    post "/login" => login;
    post "/logout" => logout;
    get "/" => pages::overview;
    get "/matrix" => pages::matrix;
    get "/clauses/{id}" => pages::clause;
    get "/units/{id}" => pages::unit;
    get "/hotlines" => pages::hotlines;
    get "/stale" => pages::stale;
    get "/report" => pages::report;
    get "/units/{id}/tasks/{task}/history" => pages::task_history;
    post "/office/actions" => office::act;
    get "/directives" => directives::list;
    post "/directives/drafts" => directives::import;
    get "/directives/drafts/{id}" => directives::review;
    post "/directives/drafts/{id}/corrections" => directives::correct;
    post "/directives/drafts/{id}/publish" => directives::publish;
    post "/directives/drafts/{id}/discard" => directives::discard;
    post "/directives/{id}/bring" => directives::bring;
}
