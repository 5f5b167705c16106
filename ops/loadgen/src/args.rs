//! The command line: the flags `taskforce loadgen` had, plus where the `taskforce` binary is.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// Each phone keeps its document in memory.
    Memory,
    /// Each phone has its own SQLite file (as on a phone).
    Disk,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Route {
    /// `POST /api/v1/sync/batch`, as the app's phones sync: one request for all the unit's
    /// documents, the unit's documents listed in the answer.
    Batch,
    /// `POST /api/v1/sync`, one request per document: the phones' fallback against a server
    /// without the batch route (the bundled directive's units only: the fallback syncs the
    /// first directive).
    Single,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mix {
    /// Status 40%, progress 40%, notes 5%, assignee 4%, comments 4%, reports 4%,
    /// hotline confirmations 3%.
    Realistic,
    /// peers-bench's: status 45%, progress 45%, assignee 5%, due date 5%.
    Fields,
}

/// Simulate many phones editing offline and syncing at once; print the figures.
///
/// N phones — each a real mobile-core `Client` with its own store — spread over K units make
/// M offline edits each, then all sync over HTTP at once (at most C at a time), in rounds,
/// with a server of its own (a child `taskforce serve`) or a running one (`--server`).
#[derive(Debug, Parser)]
#[command(name = "taskforce-loadgen", version, about, long_about)]
pub struct LoadgenArgs {
    /// Phones.
    #[arg(long, default_value_t = 1000)]
    pub devices: usize,
    /// Units the phones are spread over (phone i is in unit i mod K).
    #[arg(long, default_value_t = 50)]
    pub units: usize,
    /// Offline edits per phone per round.
    #[arg(long, default_value_t = 50)]
    pub edits: usize,
    /// Edits a phone makes between two syncs: each round's `--edits` go in syncs of this many
    /// (1: a phone that syncs every edit) [default: all of them, one sync per round].
    #[arg(long)]
    pub edits_per_sync: Option<usize>,
    /// The phones ask for uncompressed answers (no `Accept-Encoding: gzip`): the same work
    /// measured without compression, for its bytes and CPU. The readers ask for gzip either
    /// way, as browsers do.
    #[arg(long)]
    pub no_gzip: bool,
    /// The sync route the phones take.
    #[arg(long, value_enum, default_value_t = Route::Batch)]
    pub sync_route: Route,
    /// Rounds of edit-then-sync.
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,
    /// Keep running rounds until this many seconds have passed (memory over time).
    #[arg(long)]
    pub duration_secs: Option<u64>,
    /// Phones syncing at the same moment.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    #[arg(long, value_enum, default_value_t = StoreKind::Memory)]
    pub store: StoreKind,
    #[arg(long, value_enum, default_value_t = Mix::Realistic)]
    pub mix: Mix,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Put the server of its own on this database (e.g. PostgreSQL) instead of a temporary
    /// SQLite file. A database for load tests: the run writes there (an admin, a member per
    /// unit, the phones' edits; past the bundled directive's units, the test units and their
    /// directive, 900/CT-BTTTT).
    #[arg(long, conflicts_with = "server")]
    pub db: Option<String>,
    /// Drive a running server instead (needs --admin-user and TASKFORCE_ADMIN_PASSWORD).
    #[arg(long)]
    pub server: Option<String>,
    #[arg(long, requires = "server")]
    pub admin_user: Option<String>,
    #[arg(long, env = "TASKFORCE_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// HTTP workers of the server of its own [default: one per core].
    #[arg(long)]
    pub server_workers: Option<usize>,
    /// Syncs that may wait for the writer of the server of its own (`--writer-queue`; past
    /// them it answers 503, which the phones retry) [default: the server's, 1024].
    #[arg(long)]
    pub server_writer_queue: Option<usize>,
    /// The `taskforce` binary that runs the server of its own [default: the `taskforce` next
    /// to this program (the same cargo target directory), else `taskforce` on PATH].
    #[arg(long, env = "TASKFORCE_BIN")]
    pub taskforce_bin: Option<PathBuf>,
    /// Ministry Office readers while the phones sync: each asks in turn for
    /// `/api/v1/progress`, the matrix page and the matrix export (CSV), at `--read-rate`
    /// requests per second in all; their latencies are in the figures.
    #[arg(long, default_value_t = 0)]
    pub readers: usize,
    /// Requests per second of all the readers together.
    #[arg(long, default_value_t = 20.0)]
    pub read_rate: f64,
    /// How long a phone keeps retrying a sync that failed (server down or restarting), with
    /// back-off from 100 ms doubling to 5 s, as the app's scheduler does.
    #[arg(long, default_value_t = 120)]
    pub retry_for_secs: u64,
    /// Before the measured phase, write this many operations into the first unit's document
    /// (its phones, 50 a sync, field mix), then probe: that unit's phone and a fresh unit's
    /// sync one edit at a time, in turn, `--history-probes` times each (`history_*`,
    /// `fresh_*` figures).
    #[arg(long, default_value_t = 0)]
    pub history_ops: usize,
    /// One-edit syncs each probed phone makes (the two in turn, which first alternating).
    #[arg(long, default_value_t = 1000)]
    pub history_probes: usize,
    /// A test of the convergence check: one phone makes an edit after the last sync, so
    /// `converged` must come out false.
    #[arg(long, hide = true)]
    pub inject_divergence: bool,
    /// Print one JSON object on stdout at the end.
    #[arg(long)]
    pub json: bool,
}
