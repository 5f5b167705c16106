//! The Ministry Office's dashboard: server-rendered HTML (maud), Vietnamese by default with
//! an English switch, no JavaScript frameworks or CDNs, small pages for slow connections.
//! Sign-in sets an HttpOnly, SameSite=Strict cookie holding a normal bearer token.

mod chart;
mod i18n;
mod layout;
mod pages;

use std::{future::Future, pin::Pin};

use actix_web::{
    FromRequest, HttpRequest, HttpResponse, ResponseError,
    cookie::{Cookie, SameSite},
    dev::Payload,
    http::{StatusCode, header},
    web,
};
pub use i18n::{Lang, t};
use maud::html;
use sea_orm::EntityTrait;
use serde::Deserialize;

use crate::{
    accounts,
    auth::{Caller, caller_for_token, token_hash},
    db::entity::tokens,
    error::ApiError,
    http::TOKEN_COOKIE,
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
}

impl FromRequest for Viewer {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = req.cookie(TOKEN_COOKIE).map(|c| c.value().to_string());
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let lang = lang_of(req);
        Box::pin(async move {
            let (Some(token), Some(state)) = (token, state) else {
                return Err(PageError::SignIn);
            };
            match caller_for_token(&state.db, &token).await {
                Ok(caller) => Ok(Viewer { caller, lang }),
                Err(ApiError::Unauthorized) => Err(PageError::SignIn),
                Err(e) => Err(e.into()),
            }
        })
    }
}

/// A page response, remembering an explicit `?lang=` choice.
pub fn page(req: &HttpRequest, markup: maud::Markup) -> HttpResponse {
    let mut resp = HttpResponse::Ok();
    resp.content_type("text/html; charset=utf-8");
    if let Some(lang) = web::Query::<LangQuery>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.lang.as_deref().and_then(Lang::parse))
    {
        resp.cookie(
            Cookie::build(LANG_COOKIE, lang.code())
                .path("/")
                .same_site(SameSite::Strict)
                .finish(),
        );
    }
    resp.body(markup.into_string())
}

async fn login_form(req: HttpRequest) -> HttpResponse {
    page(&req, layout::login(lang_of(&req), false))
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
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
    if state.limiter.check(&form.username).is_err() {
        return HttpResponse::TooManyRequests()
            .content_type("text/html; charset=utf-8")
            .body(layout::login(lang, true).into_string());
    }
    match accounts::login(
        &state.db,
        &form.username,
        &form.password,
        state.config.token_ttl_hours,
    )
    .await
    {
        Ok((token, _, _)) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/"))
            .cookie(
                Cookie::build(TOKEN_COOKIE, token)
                    .path("/")
                    .http_only(true)
                    .same_site(SameSite::Strict)
                    .finish(),
            )
            .finish(),
        Err(_) => {
            state.limiter.failed(&form.username);
            HttpResponse::Unauthorized()
                .content_type("text/html; charset=utf-8")
                .body(layout::login(lang, true).into_string())
        }
    }
}

async fn logout(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if let Some(c) = req.cookie(TOKEN_COOKIE) {
        let _ = tokens::Entity::delete_by_id(token_hash(c.value()))
            .exec(&state.db)
            .await;
        // The token stops working for the API at once too, not when its cached caller expires.
        state.auth.forget_callers();
    }
    let mut gone = Cookie::build(TOKEN_COOKIE, "").path("/").finish();
    gone.make_removal();
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/login"))
        .cookie(gone)
        .finish()
}

/// The dashboard's routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(login_form))
        .route("/login", web::post().to(login))
        .route("/logout", web::post().to(logout))
        .route("/", web::get().to(pages::overview))
        .route("/matrix", web::get().to(pages::matrix))
        .route("/clauses/{id}", web::get().to(pages::clause))
        .route("/units/{id}", web::get().to(pages::unit))
        .route("/hotlines", web::get().to(pages::hotlines))
        .route("/stale", web::get().to(pages::stale))
        .route("/report", web::get().to(pages::report));
}
