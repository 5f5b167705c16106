//! What the server tells its operators: logs through `tracing`, counters in the OpenMetrics
//! text format, and the allocators' figures.

pub mod memory;
pub mod metrics;

use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, fmt::format::FmtSpan};

/// Logs to standard error (coloured on a terminal), filtered by `RUST_LOG` (default: info, the
/// database crates quiet).
///
/// Every HTTP request runs in a span of `tracing-actix-web` (`TracingLogger`, in
/// `startup::start`) carrying its `request_id`, method, route, status and the like: events logged
/// while serving it show that span, and its closing is the request's log line (with the time
/// it took, `time.busy` + `time.idle`).
pub fn init_tracing() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_span_events(FmtSpan::CLOSE)
        .try_init();
}
