//! `taskforce loadgen`: N phones — each a real mobile-core `Client` with its own store — spread
//! over K units make M offline edits each, then all come back and sync over HTTP at once
//! (at most C at a time), in rounds. By default against a server of its own (a child
//! `taskforce serve` on a temporary SQLite file, or on `--db`), provisioned here: an admin,
//! one member per unit, one device per phone. At the end: figures, and a convergence check
//! (every phone of a unit, and a fresh phone that downloads the server's copy, hold the same
//! state; the server holds every operation made).

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, SeedableRng, rngs::StdRng, seq::IndexedRandom};
use serde::Serialize;
use taskforce_core::{
    client::{Client, HttpTransport, Reply, Transport, TransportError},
    store::{MemoryStore, SqliteStore, Store},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// Each phone keeps its document in memory.
    Memory,
    /// Each phone has its own SQLite file (as on a phone).
    Disk,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mix {
    /// Status 40%, progress 40%, notes 5%, assignee 4%, comments 4%, reports 4%,
    /// hotline confirmations 3%.
    Realistic,
    /// peers-bench's: status 45%, progress 45%, assignee 5%, due date 5%.
    Fields,
}

#[derive(Debug, Args)]
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
    /// SQLite file.
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
    /// Print one JSON object on stdout at the end.
    #[arg(long)]
    pub json: bool,
}

/// The figures, with peers-bench's keys.
#[derive(Debug, Serialize)]
struct Figures {
    peer: &'static str,
    devices: usize,
    units: usize,
    edits_per_device: usize,
    rounds: usize,
    concurrency: usize,
    storage: &'static str,
    mix: &'static str,
    database: String,
    ops_total: u64,
    ops_per_sec: f64,
    sync_wall_s: f64,
    syncs: u64,
    /// Sync message bodies (the wire format), device to server.
    bytes_up: u64,
    bytes_down: u64,
    /// (up + down) / ops.
    bytes_per_op: f64,
    bytes_up_per_op: f64,
    /// HTTP requests per sync (one round trip; more only on retries).
    requests_per_sync: f64,
    sync_p50_ms: f64,
    sync_p99_ms: f64,
    sync_max_ms: f64,
    errors: u64,
    server_rss_mb: Option<f64>,
    server_rss_by_round_mb: Vec<f64>,
    /// The server's `/metrics` after the last round.
    server_metrics: BTreeMap<String, f64>,
    /// Each round's ops/s and p99: how cost grows with the documents' history.
    ops_per_sec_by_round: Vec<f64>,
    sync_p99_ms_by_round: Vec<f64>,
    server_cpu_s: Option<f64>,
    server_cpu_us_per_op: Option<f64>,
    client_cpu_s: f64,
    converged: bool,
    /// Concurrent values kept as conflicts (shown to the user to resolve), over the units.
    conflicts_kept: u64,
    /// The physical limit as a yardstick: the same database (same settings, same driver)
    /// taking `ops_total` op-sized rows as plain batched inserts, 50 rows per transaction.
    yardstick_rows_per_sec: Option<f64>,
    /// ops_per_sec / yardstick_rows_per_sec.
    fraction_of_yardstick: Option<f64>,
    setup_wall_s: f64,
    wall_s: f64,
}

/// Counts the sync messages' bytes; everything else goes straight through.
#[derive(Debug)]
struct Counting {
    inner: HttpTransport,
    counters: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    up: AtomicU64,
    down: AtomicU64,
    requests: AtomicU64,
}

impl Transport for Counting {
    fn get(&self, path: &str, token: Option<&str>) -> Result<Reply, TransportError> {
        self.inner.get(path, token)
    }
    fn post_json(
        &self,
        path: &str,
        token: Option<&str>,
        body: &serde_json::Value,
    ) -> Result<Reply, TransportError> {
        self.inner.post_json(path, token, body)
    }
    fn post_sync(&self, token: &str, actor: u32, body: Vec<u8>) -> Result<Reply, TransportError> {
        self.counters
            .up
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let reply = self.inner.post_sync(token, actor, body)?;
        self.counters
            .down
            .fetch_add(reply.body.len() as u64, Ordering::Relaxed);
        Ok(reply)
    }
}

/// The server of our own: a child `taskforce serve`.
struct OwnServer {
    child: Child,
    base: String,
    db: String,
    dir: Option<TempDir>,
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory removed on drop.
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> anyhow::Result<Self> {
        let mut n = [0u8; 8];
        getrandom::fill(&mut n).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let dir = std::env::temp_dir().join(format!(
            "taskforce-{what}-{}-{:x}",
            std::process::id(),
            u64::from_le_bytes(n)
        ));
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        Ok(Self(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn proc_status_kb(pid: u32, key: &str) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
}

/// utime + stime of a process, in seconds.
fn proc_cpu_s(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".into(),
    };
    let s = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = s.get(s.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn start_own_server(
    args: &LoadgenArgs,
    admin: &str,
    admin_password: &str,
) -> anyhow::Result<OwnServer> {
    let (db, dir) = match &args.db {
        Some(db) => (db.clone(), None),
        None => {
            let dir = TempDir::new("loadgen")?;
            let db = format!("sqlite://{}?mode=rwc", dir.0.join("taskforce.db").display());
            (db, Some(dir))
        }
    };
    let exe = std::env::current_exe().context("where is the taskforce binary?")?;
    // The admin, before the server starts (migrations first: `user add` runs them).
    let status = Command::new(&exe)
        .args(["user", "add", "--db", &db, admin, "--role", "admin"])
        .env("TASKFORCE_PASSWORD", admin_password)
        .stdout(Stdio::null())
        .status()
        .context("taskforce user add")?;
    if !status.success() {
        bail!("could not create the load generator's admin on {db}");
    }
    let mut cmd = Command::new(&exe);
    cmd.args(["serve", "--db", &db, "--bind", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(w) = args.server_workers {
        cmd.args(["--workers", &w.to_string()]);
    }
    let mut child = cmd.spawn().context("start taskforce serve")?;
    let stdout = child.stdout.take().context("no stdout from the server")?;
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(rest) = line.strip_prefix("taskforce listening on ") {
                    break rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                }
            }
            _ => {
                let _ = child.kill();
                bail!("the server stopped before listening");
            }
        }
    };
    // Keep draining its stdout so it never blocks.
    std::thread::spawn(move || for _ in lines {});
    Ok(OwnServer {
        child,
        base,
        db,
        dir,
    })
}

/// The admin's calls go through the phone's own HTTP transport.
fn api(
    http: &HttpTransport,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> anyhow::Result<(u16, serde_json::Value)> {
    let reply = match body {
        Some(b) => http.post_json(path, token, &b),
        None => http.get(path, token),
    }
    .with_context(|| path.to_string())?;
    Ok((reply.status, reply.json()))
}

/// The server's own counters and gauges (`/metrics`), by name without the `taskforce_`
/// prefix: what it did for the load (snapshots, cache hits, copies, the cache's bytes).
fn server_metrics(http: &HttpTransport) -> anyhow::Result<BTreeMap<String, f64>> {
    let reply = http.get("/metrics", None).context("/metrics")?;
    let text = String::from_utf8_lossy(&reply.body);
    Ok(text
        .lines()
        .filter_map(|l| l.strip_prefix("taskforce_"))
        .filter_map(|l| {
            let (name, value) = l.split_once(' ')?;
            Some((name.to_string(), value.trim().parse().ok()?))
        })
        .collect())
}

/// Operations the server has merged into a unit's document.
fn stored_ops(http: &HttpTransport, admin: &str, unit: &str) -> anyhow::Result<i64> {
    let (_, d) = api(
        http,
        &format!("/api/v1/units/{unit}/document"),
        Some(admin),
        None,
    )?;
    Ok(d["ops"].as_i64().unwrap_or(0))
}

fn login(http: &HttpTransport, user: &str, password: &str) -> anyhow::Result<String> {
    let (status, body) = api(
        http,
        "/api/v1/auth/login",
        None,
        Some(serde_json::json!({ "username": user, "password": password })),
    )?;
    if status != 200 {
        bail!("login {user}: {status} {body}");
    }
    Ok(body["token"].as_str().unwrap_or_default().to_string())
}

fn random_password() -> anyhow::Result<String> {
    let mut b = [0u8; 18];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Run `f(i)` for i in 0..n on `threads` threads; the first error stops nothing but is kept.
fn parallel<T: Send>(n: usize, threads: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<T>>> = Mutex::new((0..n).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads.clamp(1, n.max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let v = f(i);
                    if let Ok(mut o) = out.lock() {
                        o[i] = Some(v);
                    }
                }
            });
        }
    });
    out.into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
}

fn bar(len: u64, what: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new(len);
    b.set_style(
        ProgressStyle::with_template("{prefix:>12} [{bar:40}] {pos}/{len} {per_sec} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    b.set_prefix(what.to_string());
    b
}

/// Plain batched inserts of `rows` rows of `size` bytes into the database at `url`, 50 per
/// transaction, through the server's own connection settings; rows per second.
fn yardstick(url: &str, rows: u64, size: usize) -> anyhow::Result<f64> {
    use sea_orm::{ConnectionTrait, DatabaseBackend, Statement, TransactionTrait, Value};
    actix_web::rt::System::new().block_on(async move {
        let db = taskforce_server::app::connect(url).await?;
        let backend = db.get_database_backend();
        let blob = if backend == DatabaseBackend::Postgres {
            "BYTEA"
        } else {
            "BLOB"
        };
        db.execute_unprepared("DROP TABLE IF EXISTS loadgen_yardstick")
            .await?;
        db.execute_unprepared(&format!(
            "CREATE TABLE loadgen_yardstick (doc TEXT NOT NULL, actor INTEGER NOT NULL, \
             seq BIGINT NOT NULL, body {blob} NOT NULL, PRIMARY KEY (doc, actor, seq))"
        ))
        .await?;
        let placeholders: Vec<String> = (0..50)
            .map(|i| match backend {
                DatabaseBackend::Postgres => format!(
                    "(${}, ${}, ${}, ${})",
                    4 * i + 1,
                    4 * i + 2,
                    4 * i + 3,
                    4 * i + 4
                ),
                _ => "(?, ?, ?, ?)".to_string(),
            })
            .collect();
        let body = vec![0x5au8; size.max(1)];
        let t = Instant::now();
        let mut seq: i64 = 0;
        let mut left = rows;
        while left > 0 {
            let n = left.min(50) as usize;
            let mut values: Vec<Value> = Vec::with_capacity(4 * n);
            for _ in 0..n {
                seq += 1;
                values.push("unit".into());
                values.push(i32::try_from(seq % 1000).unwrap_or(0).into());
                values.push(seq.into());
                values.push(body.clone().into());
            }
            let sql = format!(
                "INSERT INTO loadgen_yardstick (doc, actor, seq, body) VALUES {}",
                placeholders[..n].join(", ")
            );
            let txn = db.begin().await?;
            txn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
                .await?;
            txn.commit().await?;
            left -= n as u64;
        }
        let rate = rows as f64 / t.elapsed().as_secs_f64().max(1e-9);
        db.execute_unprepared("DROP TABLE loadgen_yardstick")
            .await?;
        Ok(rate)
    })
}

/// One phone's offline edits.
fn make_edits(
    client: &Client,
    tasks: &[String],
    n: usize,
    mix: Mix,
    rng: &mut StdRng,
) -> anyhow::Result<()> {
    const STATUSES: [&str; 4] = ["todo", "in_progress", "done", "blocked"];
    const PEOPLE: [&str; 4] = [
        "Nguyễn Văn An",
        "Trần Thị Bình",
        "Lê Văn Cường",
        "Phạm Thị Dung",
    ];
    let now = chrono::Utc::now().timestamp();
    for k in 0..n {
        let task = tasks.choose(rng).context("a unit without tasks")?;
        let roll: u32 = rng.random_range(0..100);
        match (mix, roll) {
            (_, 0..40) | (Mix::Fields, 40..45) => {
                client.set_status(task, STATUSES.choose(rng).copied().unwrap_or("todo"))?
            }
            (_, 40..80) | (Mix::Fields, 80..90) => {
                client.set_progress(task, rng.random_range(0..=100))?
            }
            (Mix::Fields, 90..95) => {
                client.set_assignee(task, PEOPLE.choose(rng).copied().unwrap_or_default())?
            }
            (Mix::Fields, _) => {
                let day = rng.random_range(1..=28);
                client.set_due(task, Some(&format!("2020-02-{day:02}")))?
            }
            (Mix::Realistic, 80..85) => client.set_notes(
                task,
                &format!("Đã làm việc với nhà mạng, lần {k}; chờ số liệu tổng hợp."),
            )?,
            (Mix::Realistic, 85..89) => {
                client.set_assignee(task, PEOPLE.choose(rng).copied().unwrap_or_default())?
            }
            (Mix::Realistic, 89..93) => {
                client.add_comment(task, "Đề nghị đơn vị cập nhật tiến độ trước 17h.", now)?
            }
            (Mix::Realistic, 93..97) => {
                client.submit_report(
                    &format!("2020-02-{:02}", rng.random_range(3..=28)),
                    "Đã gửi tin nhắn khuyến cáo phòng chống dịch tới thuê bao.",
                    &[("sms_sent".to_string(), rng.random_range(1_000..10_000_000))],
                    now,
                )?;
            }
            (Mix::Realistic, _) => {
                client.record_confirmation(
                    "viettel",
                    ["19009095", "19003228"]
                        .choose(rng)
                        .copied()
                        .unwrap_or("19009095"),
                    "2020-02-03",
                    PEOPLE.choose(rng).copied().unwrap_or_default(),
                    now,
                )?;
            }
        }
    }
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

pub fn run(args: LoadgenArgs) -> anyhow::Result<()> {
    if args.devices == 0 || args.units == 0 || args.concurrency == 0 {
        bail!("--devices, --units and --concurrency must be at least 1");
    }
    let started = Instant::now();
    let run_id = random_password()?[..8].to_string();
    let quiet = !std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (own, base, admin_user, admin_password) = match &args.server {
        Some(url) => {
            let user = args
                .admin_user
                .clone()
                .context("--server needs --admin-user")?;
            let pw = args
                .admin_password
                .clone()
                .context("--server needs TASKFORCE_ADMIN_PASSWORD")?;
            (None, url.trim_end_matches('/').to_string(), user, pw)
        }
        None => {
            let pw = random_password()?;
            let admin = format!("lg{run_id}.admin");
            let s = start_own_server(&args, &admin, &pw)?;
            let base = s.base.clone();
            (Some(s), base, admin, pw)
        }
    };
    let server_pid = own.as_ref().map(|s| s.child.id());
    let http = HttpTransport::new(&base);
    let admin = login(&http, &admin_user, &admin_password)?;

    // Units with tasks, one member each.
    let (status, progress) = api(&http, "/api/v1/progress", Some(&admin), None)?;
    if status != 200 {
        bail!("GET /api/v1/progress: {status} {progress}");
    }
    let mut units: Vec<String> = progress["units"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|u| u["counts"]["assigned"].as_u64().unwrap_or(0) > 0)
        .filter_map(|u| u["unit"].as_str().map(str::to_string))
        .collect();
    if units.len() < args.units {
        bail!(
            "the server has {} units with tasks; asked for {}",
            units.len(),
            args.units
        );
    }
    units.truncate(args.units);
    let password = random_password()?;
    let users: Vec<String> = units.iter().map(|u| format!("lg{run_id}.{u}")).collect();
    for (u, user) in units.iter().zip(&users) {
        let (status, body) = api(
            &http,
            &format!("/api/v1/units/{u}/members"),
            Some(&admin),
            Some(
                serde_json::json!({ "username": user, "display_name": "Máy thử tải", "password": password }),
            ),
        )?;
        if status != 201 {
            bail!("add member to {u}: {status} {body}");
        }
    }
    let ops_before: Vec<i64> = units
        .iter()
        .map(|u| stored_ops(&http, &admin, u))
        .collect::<anyhow::Result<_>>()?;

    // The phones: sign in, register, download.
    let counters = Arc::new(Counters::default());
    let store_dir = match args.store {
        StoreKind::Disk => Some(TempDir::new("loadgen-phones")?),
        StoreKind::Memory => None,
    };
    let b = bar(args.devices as u64, "sign in", quiet);
    let clients: Vec<anyhow::Result<Client>> =
        parallel(args.devices, args.concurrency.min(16), |i| {
            let store: Box<dyn Store> = match &store_dir {
                Some(d) => Box::new(SqliteStore::open(d.0.join(format!("phone-{i}.db")))?),
                None => Box::new(MemoryStore::default()),
            };
            let c = counters.clone();
            let client = Client::with_store(
                store,
                Box::new(move |base: &str| {
                    Arc::new(Counting {
                        inner: HttpTransport::new(base),
                        counters: c.clone(),
                    }) as Arc<dyn Transport>
                }),
            )?;
            let u = i % args.units;
            client.login(
                &base,
                &users[u],
                &password,
                &format!("máy thử {i}"),
                Some(&units[u]),
            )?;
            b.inc(1);
            Ok(client)
        });
    b.finish_and_clear();
    let clients: Vec<Client> = clients.into_iter().collect::<anyhow::Result<_>>()?;
    let tasks: Vec<Vec<String>> = clients
        .iter()
        .map(|c| Ok(c.tasks()?.into_iter().map(|t| t.id).collect()))
        .collect::<anyhow::Result<_>>()?;
    let setup_wall_s = started.elapsed().as_secs_f64();

    // Rounds.
    let mut durations: Vec<f64> = Vec::new();
    let mut sync_wall = 0.0f64;
    let mut errors = 0u64;
    let mut rss_by_round = Vec::new();
    let mut ops_by_round = Vec::new();
    let mut p99_by_round = Vec::new();
    let mut server_cpu = 0.0f64;
    let mut client_cpu = 0.0f64;
    let up0 = counters.up.load(Ordering::Relaxed);
    let down0 = counters.down.load(Ordering::Relaxed);
    let req0 = counters.requests.load(Ordering::Relaxed);
    let mut round = 0usize;
    let mut syncs = 0u64;
    loop {
        let more = match args.duration_secs {
            Some(d) => started.elapsed() < Duration::from_secs(d) || round < args.rounds,
            None => round < args.rounds,
        };
        if !more {
            break;
        }
        let b = bar(args.devices as u64, &format!("edit {}", round + 1), quiet);
        let edited: Vec<anyhow::Result<()>> = parallel(args.devices, 2, |i| {
            let mut rng = StdRng::seed_from_u64(args.seed ^ ((round as u64) << 32) ^ i as u64);
            let r = make_edits(&clients[i], &tasks[i], args.edits, args.mix, &mut rng);
            b.inc(1);
            r
        });
        b.finish_and_clear();
        for e in edited {
            e?;
        }
        let b = bar(args.devices as u64, &format!("sync {}", round + 1), quiet);
        let cpu0 = (proc_cpu_s(server_pid), proc_cpu_s(None));
        let t0 = Instant::now();
        let results: Vec<(f64, bool)> = parallel(args.devices, args.concurrency, |i| {
            let t = Instant::now();
            let ok = clients[i].sync().is_ok();
            b.inc(1);
            (t.elapsed().as_secs_f64() * 1000.0, ok)
        });
        let wall = t0.elapsed().as_secs_f64();
        sync_wall += wall;
        ops_by_round.push(round2((args.devices * args.edits) as f64 / wall.max(1e-9)));
        let mut ms: Vec<f64> = results.iter().map(|(m, _)| *m).collect();
        ms.sort_by(f64::total_cmp);
        p99_by_round.push(round2(percentile(&ms, 0.99)));
        let cpu1 = (proc_cpu_s(server_pid), proc_cpu_s(None));
        b.finish_and_clear();
        if let (Some(a), Some(b)) = (cpu0.0, cpu1.0) {
            server_cpu += b - a;
        }
        if let (Some(a), Some(b)) = (cpu0.1, cpu1.1) {
            client_cpu += b - a;
        }
        syncs += results.len() as u64;
        for (ms, ok) in results {
            durations.push(ms);
            if !ok {
                errors += 1;
            }
        }
        if let Some(pid) = server_pid {
            rss_by_round.push(round2(
                proc_status_kb(pid, "VmRSS:").unwrap_or(0.0) / 1024.0,
            ));
        }
        round += 1;
        if !quiet {
            eprintln!(
                "round {round}: {} syncs, {errors} errors so far, {:.1} s of sync",
                args.devices, sync_wall
            );
        }
    }
    let up = counters.up.load(Ordering::Relaxed) - up0;
    let down = counters.down.load(Ordering::Relaxed) - down0;
    let requests = counters.requests.load(Ordering::Relaxed) - req0;
    let server_rss_mb = server_pid
        .and_then(|pid| proc_status_kb(pid, "VmHWM:"))
        .map(|kb| round2(kb / 1024.0));
    let metrics_after = server_metrics(&http)?;

    // Convergence: everyone syncs once more (all operations are on the server by now), then
    // every phone of a unit and a fresh phone downloading the server's copy agree, and the
    // server holds every operation made.
    let b = bar(args.devices as u64, "verify", quiet);
    let catch_up: Vec<bool> = parallel(args.devices, args.concurrency, |i| {
        let ok = clients[i].sync().is_ok() && clients[i].unsynced() == 0;
        b.inc(1);
        ok
    });
    b.finish_and_clear();
    let mut converged = catch_up.iter().all(|ok| *ok) && errors == 0;
    let mut by_unit: BTreeMap<usize, Vec<Vec<u8>>> = BTreeMap::new();
    let mut conflicts_kept = 0u64;
    for (i, c) in clients.iter().enumerate() {
        by_unit
            .entry(i % args.units)
            .or_default()
            .push(c.state_fingerprint()?);
    }
    for (u, prints) in &by_unit {
        let fresh = Client::in_memory()?;
        fresh.login(&base, &users[*u], &password, "kiểm tra", Some(&units[*u]))?;
        fresh.sync()?;
        let server_print = fresh.state_fingerprint()?;
        conflicts_kept += fresh
            .conflicts()?
            .iter()
            .map(|c| c.values.len() as u64 - 1)
            .sum::<u64>();
        if prints.iter().any(|p| *p != server_print) {
            converged = false;
            eprintln!("unit {}: the phones and the server differ", units[*u]);
        }
        let stored = stored_ops(&http, &admin, &units[*u])? - ops_before[*u];
        let made = (prints.len() * args.edits * round) as i64;
        if stored != made {
            converged = false;
            eprintln!(
                "unit {}: {made} operations made, {stored} stored",
                units[*u]
            );
        }
    }

    durations.sort_by(f64::total_cmp);
    let ops_total = (args.devices * args.edits * round) as u64;
    let ops_per_sec = ops_total as f64 / sync_wall.max(1e-9);
    // The yardstick, on the server's database, with the server stopped.
    let mut own = own;
    let db_url = own.as_ref().map(|s| s.db.clone());
    let keep_dir = own.as_mut().and_then(|s| s.dir.take());
    drop(own);
    let yard = match db_url {
        Some(url) => {
            let size = usize::try_from(up / ops_total.max(1)).unwrap_or(8);
            Some(yardstick(&url, ops_total, size)?)
        }
        None => None,
    };
    drop(keep_dir);
    let figures = Figures {
        peer: "taskforce",
        devices: args.devices,
        units: args.units,
        edits_per_device: args.edits,
        rounds: round,
        concurrency: args.concurrency,
        storage: match args.store {
            StoreKind::Memory => "memory",
            StoreKind::Disk => "disk",
        },
        mix: match args.mix {
            Mix::Realistic => "realistic",
            Mix::Fields => "fields",
        },
        database: match (&args.server, &args.db) {
            (Some(s), _) => s.clone(),
            (None, Some(db)) => taskforce_server::app::redact(db),
            (None, None) => "sqlite (temporary)".into(),
        },
        ops_total,
        ops_per_sec: round2(ops_per_sec),
        sync_wall_s: round2(sync_wall),
        syncs,
        bytes_up: up,
        bytes_down: down,
        bytes_per_op: round2((up + down) as f64 / ops_total.max(1) as f64),
        bytes_up_per_op: round2(up as f64 / ops_total.max(1) as f64),
        requests_per_sync: round2(requests as f64 / syncs.max(1) as f64),
        sync_p50_ms: round2(percentile(&durations, 0.50)),
        sync_p99_ms: round2(percentile(&durations, 0.99)),
        sync_max_ms: round2(durations.last().copied().unwrap_or(0.0)),
        errors,
        server_rss_mb,
        server_rss_by_round_mb: rss_by_round,
        server_metrics: metrics_after,
        ops_per_sec_by_round: ops_by_round,
        sync_p99_ms_by_round: p99_by_round,
        server_cpu_s: server_pid.map(|_| round2(server_cpu)),
        server_cpu_us_per_op: server_pid
            .map(|_| round2(server_cpu * 1e6 / ops_total.max(1) as f64)),
        client_cpu_s: round2(client_cpu),
        converged,
        conflicts_kept,
        yardstick_rows_per_sec: yard.map(round2),
        fraction_of_yardstick: yard.map(|y| (ops_per_sec / y * 1000.0).round() / 1000.0),
        setup_wall_s: round2(setup_wall_s),
        wall_s: round2(started.elapsed().as_secs_f64()),
    };
    if args.json {
        println!("{}", serde_json::to_string(&figures)?);
    } else {
        println!("{}", serde_json::to_string_pretty(&figures)?);
    }
    if !figures.converged {
        bail!("the phones and the server did not converge");
    }
    Ok(())
}
