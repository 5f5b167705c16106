//! The route table, request limits and the server's start-up.

use std::sync::Arc;

use actix_web::{
    App, HttpResponse, HttpServer,
    dev::{Server, ServiceResponse},
    error::JsonPayloadError,
    middleware::{Compress, Next, from_fn},
    web,
};
use anyhow::Context;
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use taskforce_core::directive::Catalogue;
use taskforce_migrations::{Migrator, MigratorTrait};

use crate::docstore::DocCache;
use crate::{
    api, auth::LoginLimiter, config::Config, error::ApiError, metrics::Metrics, progress_api, seed,
    state::AppState, sync_api,
};

/// Connect and run the migrations. SQLite: WAL, and `synchronous=FULL` on every connection of
/// the pool — a sync the server acknowledged must survive a power cut, since the phone then
/// forgets the operations it sent.
pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
    let mut opts = ConnectOptions::new(url.to_string());
    opts.sqlx_logging(false);
    if url.starts_with("sqlite:") {
        opts.max_connections(8).min_connections(1);
        opts.map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
        });
    } else {
        opts.max_connections(16).min_connections(1);
    }
    let db = Database::connect(opts)
        .await
        .with_context(|| format!("cannot open the database {}", redact(url)))?;
    Migrator::up(&db, None)
        .await
        .context("running the migrations")?;
    Ok(db)
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

pub async fn build_state(config: Config) -> anyhow::Result<AppState> {
    let catalogue = match &config.catalogue {
        None => Catalogue::bundled()?,
        Some(p) => Catalogue::from_toml(
            &std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?,
        )?,
    };
    let db = connect(&config.db).await?;
    let directive = seed::seed(&db, &catalogue).await?;
    crate::progress::record_history(&db, &directive.slug(), chrono::Utc::now().date_naive())
        .await
        .map_err(|e| anyhow::anyhow!("recording the progress history: {e}"))?;
    let mut state = AppState {
        history_recorded: Arc::new(std::sync::atomic::AtomicI64::new(0)),
        docs: Arc::new(DocCache::new(
            config.doc_cache_entries,
            config.doc_cache_mb.saturating_mul(1 << 20),
            config.doc_whole_kb.saturating_mul(1 << 10),
        )),
        db,
        config: Arc::new(config),
        catalogue: Arc::new(catalogue),
        limiter: Arc::new(LoginLimiter::default()),
        auth: Arc::new(crate::auth::AuthCache::default()),
        metrics: Arc::new(Metrics::default()),
        writer: None,
    };
    state.writer = Some(crate::writer::GroupWriter::spawn(state.clone()));
    Ok(state)
}

async fn count_requests(
    req: actix_web::dev::ServiceRequest,
    next: Next<impl actix_web::body::MessageBody>,
) -> Result<ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.metrics.clone());
    let (method, path) = (req.method().clone(), req.path().to_string());
    let started = std::time::Instant::now();
    let res = next.call(req).await?;
    let status = res.status();
    if let Some(m) = metrics {
        Metrics::add(&m.http_requests, 1);
        if status.is_client_error() || status.is_server_error() {
            Metrics::add(&m.http_errors, 1);
        }
    }
    tracing::info!(%method, %path, status = status.as_u16(), ms = started.elapsed().as_millis() as u64, "request");
    Ok(res)
}

/// The API's route table: one line per operation. It registers the routes and lists them in
/// [`API_ROUTES`], which the OpenAPI document must match (a test checks both ways).
macro_rules! api_routes {
    ($($method:ident $path:literal => $handler:path;)*) => {
        /// `(method, path)` of every API operation, as registered.
        pub const API_ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        fn api(cfg: &mut web::ServiceConfig) {
            $(cfg.route($path, web::$method().to($handler));)*
        }
    };
}

api_routes! {
    get "/healthz" => api::healthz;
    get "/metrics" => api::metrics;
    get "/api/v1/openapi.json" => crate::openapi::openapi_json;
    post "/api/v1/auth/login" => api::login;
    post "/api/v1/auth/logout" => api::logout;
    get "/api/v1/me" => api::whoami;
    post "/api/v1/devices" => api::register_device;
    post "/api/v1/sync" => sync_api::sync;
    get "/api/v1/directives" => api::list_directives;
    get "/api/v1/directives/{id}" => api::get_directive;
    get "/api/v1/units" => api::list_units;
    get "/api/v1/units/{id}/document" => api::unit_document;
    get "/api/v1/units/{id}/progress" => api::unit_progress;
    get "/api/v1/progress" => progress_api::progress;
    get "/api/v1/progress/clauses/{id}" => progress_api::clause;
    get "/api/v1/progress/units/{id}" => progress_api::unit;
    get "/api/v1/tasks" => progress_api::list_tasks;
    get "/api/v1/reports" => progress_api::list_reports;
    get "/api/v1/confirmations" => progress_api::list_confirmations;
    post "/api/v1/units/{id}/members" => api::add_member;
    delete "/api/v1/units/{id}/members/{username}" => api::remove_member;
    get "/exports/{name}" => crate::exports::download;
}

/// Every route: the API's table, then the dashboard's pages.
pub fn routes(cfg: &mut web::ServiceConfig, config: &Config) {
    let json = web::JsonConfig::default()
        .limit(config.json_body_limit)
        .error_handler(|e, _| {
            match e {
                JsonPayloadError::OverflowKnownLength { length, limit } => ApiError::TooLarge {
                    size: length,
                    limit,
                },
                JsonPayloadError::Overflow { limit } => ApiError::TooLarge {
                    size: limit + 1,
                    limit,
                },
                other => ApiError::BadRequest(format!("invalid JSON body: {other}")),
            }
            .into()
        });
    let query = web::QueryConfig::default()
        .error_handler(|e, _| ApiError::BadRequest(format!("invalid query: {e}")).into());
    let path = web::PathConfig::default()
        .error_handler(|e, _| ApiError::BadRequest(format!("invalid path: {e}")).into());
    cfg.app_data(json)
        .app_data(query)
        .app_data(path)
        .configure(api)
        .configure(crate::dashboard::routes)
        .default_service(web::to(|| async {
            ApiError::NotFound("this route".into()).into_response()
        }));
}

trait IntoResponse {
    fn into_response(self) -> HttpResponse;
}
impl IntoResponse for ApiError {
    fn into_response(self) -> HttpResponse {
        actix_web::ResponseError::error_response(&self)
    }
}

/// Bind and start the server; returns it with the address it listens on.
pub fn start(state: AppState) -> anyhow::Result<(Server, std::net::SocketAddr)> {
    let config = state.config.clone();
    let data = web::Data::new(state);
    let cfg = config.clone();
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .wrap(from_fn(count_requests))
            .wrap(Compress::default())
            .configure(|c| routes(c, &cfg))
    })
    .bind(&config.bind)
    .with_context(|| format!("cannot listen on {}", config.bind))?;
    if let Some(w) = config.workers {
        server = server.workers(w);
    }
    let addr = server
        .addrs()
        .first()
        .copied()
        .context("no listening address")?;
    Ok((server.run(), addr))
}
