//! What the server tells its operators: logs through `tracing`, counters in the OpenMetrics
//! text format, and the allocators' figures.

pub mod memory;
pub mod metrics;

use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, fmt::format::FmtSpan};

use crate::config::LogFormat;

/// Logs to standard error, filtered by `RUST_LOG` (default: info, the database crates quiet),
/// as text (coloured on a terminal) or as JSON lines.
///
/// Every HTTP request runs in a span of `tracing-actix-web` (`TracingLogger`, in
/// `startup::start`) carrying its `request_id`, method, route, status and the like: events logged
/// while serving it show that span, and its closing is the request's log line (with the time
/// it took, `time.busy` + `time.idle`).
pub fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_span_events(FmtSpan::CLOSE);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
    };
}
