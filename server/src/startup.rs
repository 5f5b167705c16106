//! The server's start-up: its state, the app (every route, request limits, middleware) and
//! the listener.

use actix_web::{
    App, HttpResponse, HttpServer,
    dev::{Server, ServiceResponse},
    error::JsonPayloadError,
    middleware::{Compress, Next, from_fn},
    web,
};
use anyhow::Context;
use taskforce_core::directive::Catalogue;
use tracing_actix_web::TracingLogger;

use crate::{
    config::Config,
    db::{self, connect},
    error::ApiError,
    state::AppState,
    telemetry::metrics::Metrics,
};

pub async fn build_state(config: Config) -> anyhow::Result<AppState> {
    let catalogue = match &config.catalogue {
        None => Catalogue::bundled()?,
        Some(p) => Catalogue::from_toml(
            &std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?,
        )?,
    };
    // Mail settings next: a wrong one stops the start, named, before anything is written.
    let mail = crate::config::mail::MailSettings::check(&config.mail, &catalogue, &config.bind)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    // The audit key first: a malformed or unreadable one stops the start before anything is
    // written (decision 32).
    let key_path = config.audit_key_path();
    let audit_key = crate::audit::AuditKey::load_or_create(&key_path)?;
    let public = crate::audit::hex(audit_key.public().as_bytes());
    tracing::info!(path = %key_path.display(), %public, "the op log is sealed with this audit key");
    // Held for as long as the server runs: `taskforce restore` refuses to swap the file under
    // it, and a restore under way stops this start.
    let db_lock = db::backup::hold_shared(&config.db)?;
    let db = connect(&config.db).await?;
    let directive = db::seed::seed(&db, &catalogue).await?;
    crate::progress::record_history(&db, &directive.slug(), chrono::Utc::now().date_naive())
        .await
        .map_err(|e| anyhow::anyhow!("recording the progress history: {e}"))?;
    // Every replica signs login device tokens with the same key (`auth::device_token`).
    let device_key =
        crate::auth::shared_key(&db, config.login_secret.as_ref().map(|s| s.0.as_str())).await?;
    let mut state = AppState::new(db, config, catalogue, std::sync::Arc::new(audit_key));
    state.mail = std::sync::Arc::new(mail);
    state.db_lock = std::sync::Arc::new(db_lock);
    state.limiter.set_key(device_key);
    Ok(state)
}

/// Counts requests and error responses for `/metrics`. The request's log line and its id are
/// `tracing-actix-web`'s (the span `TracingLogger` opens around this, see [`start`]).
async fn count_requests(
    req: actix_web::dev::ServiceRequest,
    next: Next<impl actix_web::body::MessageBody>,
) -> Result<ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.metrics.clone());
    let sync = matches!(req.path(), "/api/v1/sync" | "/api/v1/sync/batch");
    let started = std::time::Instant::now();
    let res = next.call(req).await?;
    let status = res.status();
    if let Some(m) = metrics {
        if sync {
            m.sync_answered(status.as_u16(), started.elapsed().as_secs_f64());
        }
        Metrics::add(&m.http_requests, 1);
        if status.is_client_error() || status.is_server_error() {
            Metrics::add(&m.http_errors, 1);
        }
    }
    Ok(res)
}

/// Refuses a request whose body comes in a content coding (`Content-Encoding` other than
/// `identity`) with `415 unsupported_encoding`, before anything reads it. actix-web would
/// unpack it as it reads, each chunk at once (64 kB of gzip can hold 64 MB of zeros), before
/// a route's size limit sees the bytes; and no client of ours compresses what it sends. The
/// answers are still compressed for a client that asks (`Compress`).
async fn refuse_coded_bodies(
    req: actix_web::dev::ServiceRequest,
    next: Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<
    ServiceResponse<actix_web::body::EitherBody<impl actix_web::body::MessageBody>>,
    actix_web::Error,
> {
    let coded = req
        .headers()
        .get_all(actix_web::http::header::CONTENT_ENCODING)
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(|c| String::from_utf8_lossy(c).trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty() && c != "identity")
        // Named back in the message, within bounds.
        .map(|c| c.chars().take(32).collect::<String>())
        .take(4)
        .collect::<Vec<_>>();
    if !coded.is_empty() {
        let refusal = ApiError::UnsupportedEncoding(coded.join(", ")).into_response();
        return Ok(req.into_response(refusal).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
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
        .configure(crate::routes::api)
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
    let mail = state.clone();
    let (db, events) = (state.db.clone(), state.events.clone());
    let data = web::Data::new(state);
    let cfg = config.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .wrap(from_fn(refuse_coded_bodies))
            .wrap(from_fn(count_requests))
            .wrap(Compress::default())
            // CSP, framing, sniffing, referrer: on every response (issue 19).
            .wrap(crate::dashboard::security_headers())
            // Outermost: every request's span, with its request id, covers all of the above.
            .wrap(TracingLogger::default())
            .configure(|c| routes(c, &cfg))
    });
    // HTTPS when a certificate and key are configured (`tls`), else plain HTTP.
    let tls = crate::tls::server_config(config.tls_cert.as_deref(), config.tls_key.as_deref())?;
    let mut server = match tls {
        Some(tls) => server.bind_rustls_0_23(&config.bind, tls),
        None => server.bind(&config.bind),
    }
    .with_context(|| format!("cannot listen on {}", config.bind))?;
    if let Some(w) = config.workers {
        server = server.workers(w);
    }
    // `serve` handles the signals (`stop_on_signals`): live-update streams end first, so a
    // graceful stop does not wait out browsers that never hang up.
    server = server.disable_signals();
    let addr = server
        .addrs()
        .first()
        .copied()
        .context("no listening address")?;
    // The mail scheduler and sender, when an SMTP server is configured (issue 22): once the
    // server listens (a start that fails sends nothing).
    crate::mail::spawn(mail)?;
    // PostgreSQL: every replica's writes reach this one's live-update streams.
    actix_web::rt::spawn(crate::events::listen(db, events));
    Ok((server.run(), addr))
}

/// Stop `server` as actix would on a signal — SIGTERM gracefully (requests under way finish),
/// SIGINT and SIGQUIT at once — after ending the live-update streams; a second signal during
/// a graceful stop stops at once. The signals are taken here, before the server serves: a
/// process that could not take them would not stop on `systemctl stop`, so it does not start.
pub fn stop_on_signals(
    server: &Server,
    events: std::sync::Arc<crate::events::Events>,
) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let handle = server.handle();
    let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    let mut quit = signal(SignalKind::quit()).context("listening for SIGQUIT")?;
    actix_web::rt::spawn(async move {
        let mut stopping = false;
        loop {
            let graceful = tokio::select! {
                _ = term.recv() => !stopping,
                _ = int.recv() => false,
                _ = quit.recv() => false,
            };
            tracing::info!(graceful, "stopping");
            events.stop();
            stopping = true;
            let handle = handle.clone();
            // Not awaited here: a second signal must be heard while a graceful stop waits.
            actix_web::rt::spawn(async move { handle.stop(graceful).await });
        }
    });
    Ok(())
}
