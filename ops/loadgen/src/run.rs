//! One run, phase by phase: the server (its own or a running one), provisioning through the
//! API, the phones signing in, rounds of offline edits and concurrent syncs, the convergence
//! check, the yardstick, the figures.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use rand::{SeedableRng, rngs::StdRng};
use taskforce_core::{
    client::{Client, ClientError, HttpTransport, Transport, WireBytes},
    store::{MemoryStore, SqliteStore, Store},
};

use crate::{
    args::{LoadgenArgs, Mix, Route, StoreKind},
    history::History,
    measure::{bar, parallel, percentile, proc_cpu_s, proc_status_kb, round2},
    phones::{
        Counters, Counting, api, login, make_edits, random_password, server_metrics, stored_ops,
    },
    readers::Readers,
    report::Figures,
    server::{TempDir, start_own_server},
    yardstick::{Written, yardstick},
};

/// The server as provisioned: the admin's session, the units the phones are in with one
/// member account each (all with one password), and the operations each unit held before.
#[derive(Debug)]
struct Fleet {
    base: String,
    http: HttpTransport,
    admin: String,
    units: Vec<String>,
    /// Each unit's directive: the bundled one, or the test units' (`crate::units`).
    directives: Vec<String>,
    users: Vec<String>,
    password: String,
    ops_before: Vec<i64>,
}

/// What the rounds measured.
#[derive(Debug, Default)]
struct Rounds {
    /// Every sync's duration, ms, from its first attempt to its success (retries included).
    durations: Vec<f64>,
    /// The edit rounds' syncing time, s.
    sync_wall: f64,
    /// The catch-up round's: every phone syncing once more to receive what the phones after
    /// it sent.
    catch_up_wall: f64,
    catch_up_durations: Vec<f64>,
    /// Sync attempts that failed (each retried after the phone's back-off).
    errors: u64,
    /// Syncs still failing when `--retry-for-secs` ran out.
    abandoned: u64,
    syncs: u64,
    done: usize,
    rss_by_round: Vec<f64>,
    ops_by_round: Vec<f64>,
    p99_by_round: Vec<f64>,
    server_cpu: f64,
    client_cpu: f64,
}

pub fn run(args: LoadgenArgs) -> anyhow::Result<()> {
    if args.devices == 0 || args.units == 0 || args.concurrency == 0 {
        bail!("--devices, --units and --concurrency must be at least 1");
    }
    if args.edits_per_sync == Some(0) {
        bail!("--edits-per-sync must be at least 1");
    }
    if args.history_ops > 0 && (args.units < 2 || args.devices < 2 || args.history_probes == 0) {
        bail!("--history-ops needs two units and two phones at least, and --history-probes ≥ 1");
    }
    if args.sync_route == Route::Single && args.units > crate::units::bundled_units()? {
        bail!(
            "--sync-route single serves the bundled directive's units only (the fallback syncs \
             the first directive); ask for at most {} units",
            crate::units::bundled_units()?
        );
    }
    if args.readers > 0 && !(args.read_rate > 0.0 && args.read_rate.is_finite()) {
        bail!("--read-rate must be a positive number");
    }
    let started = Instant::now();
    let since = chrono::Utc::now().timestamp();
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
    let fleet = provision(&args, base, &admin_user, &admin_password, &run_id)?;

    let counters = Arc::new(Counters::default());
    let wire = Arc::new(WireBytes::default());
    let store_dir = match args.store {
        StoreKind::Disk => Some(TempDir::new("loadgen-phones")?),
        StoreKind::Memory => None,
    };
    let clients = sign_in(&args, &fleet, &counters, &wire, store_dir.as_ref(), quiet)?;
    let tasks: Vec<Vec<String>> = clients
        .iter()
        .map(|c| Ok(c.tasks()?.into_iter().map(|t| t.id).collect()))
        .collect::<anyhow::Result<_>>()?;
    let setup_wall_s = started.elapsed().as_secs_f64();
    // The long history, before the measured phase and outside its figures.
    let retry_for = Duration::from_secs(args.retry_for_secs);
    let history = (args.history_ops > 0)
        .then(|| {
            crate::history::build_and_probe(
                &args,
                &clients,
                &tasks,
                |c| sync_with_backoff(c, retry_for),
                quiet,
            )
        })
        .transpose()?;
    // The yardstick reads back the rows written from `since` on (whole seconds): with a
    // history, from the next second after it, so that it writes the measured phase's rows.
    let since = match &history {
        Some(_) => next_whole_second(),
        None => since,
    };

    // The measured phase: the edit rounds and the catch-up round, readers alongside.
    let metrics_before = server_metrics(&fleet.http)?;
    let (up0, down0, req0) = counters.read();
    let (wire_up0, wire_down0) = wire.read();
    let overloaded0 = counters.overloaded();
    let readers = (args.readers > 0)
        .then(|| Readers::start(args.readers, args.read_rate, &fleet.base, &fleet.admin));
    let mut r = rounds(&args, &clients, &tasks, server_pid, started, quiet)?;
    let cpu = Cpu::now(server_pid);
    catch_up(&args, &clients, &mut r, quiet);
    r.add_cpu_since(cpu, server_pid);
    let reads = readers.map(Readers::stop);
    let (up1, down1, req1) = counters.read();
    let (wire_up1, wire_down1) = wire.read();
    let overloaded_replies = counters.overloaded() - overloaded0;
    let (up, down, requests) = (up1 - up0, down1 - down0, req1 - req0);
    let (wire_up, wire_down) = (wire_up1 - wire_up0, wire_down1 - wire_down0);
    let server_rss_mb = server_pid
        .and_then(|pid| proc_status_kb(pid, "VmHWM:"))
        .map(|kb| round2(kb / 1024.0));
    let metrics_after = server_metrics(&fleet.http)?;
    if args.inject_divergence {
        // After the catch-up: this phone's edit reaches the server, and no other phone.
        let phone = clients.first().context("no phone")?;
        let task = tasks.first().and_then(|t| t.first()).context("no task")?;
        phone.set_notes(task, "sửa đổi sau lần đồng bộ cuối")?;
        phone.sync()?;
    }

    // The check reads the stored copy: the server of its own restarted with its cache off.
    let mut own = own;
    let restart_s = match own.as_mut() {
        Some(s) => Some(s.restart_without_cache(&args)?),
        None => None,
    };
    let check_base = own
        .as_ref()
        .map_or_else(|| fleet.base.clone(), |s| s.base.clone());
    // Operations made outside the rounds, by unit: the history and the probe's.
    let mut extra = vec![0i64; args.units];
    if let Some(h) = &history {
        extra[0] += (h.ops + h.probe_ops) as i64;
        extra[1] += h.probe_ops as i64;
    }
    let (converged, conflicts_kept, download_ms) =
        verify(&args, &clients, &fleet, &check_base, &r, &extra)?;
    // What the check's server did: with its cache off, every answer came from the database.
    let check_metrics = match &own {
        Some(s) => server_metrics(&HttpTransport::new(&s.base))?,
        None => BTreeMap::new(),
    };

    r.durations.sort_by(f64::total_cmp);
    r.catch_up_durations.sort_by(f64::total_cmp);
    let ops_total = (args.devices * args.edits * r.done) as u64;
    let measured_wall = r.sync_wall + r.catch_up_wall;
    let ops_per_sec = ops_total as f64 / measured_wall.max(1e-9);
    let per_op = |bytes: u64| round2(bytes as f64 / ops_total.max(1) as f64);
    let delta = |name: &str| {
        let get = |m: &BTreeMap<String, f64>| m.get(name).copied().unwrap_or(0.0);
        (get(&metrics_after) - get(&metrics_before)).max(0.0) as u64
    };
    let written = Written {
        transactions: delta("sync_write_transactions_with_changes_total"),
        changes: delta("changes_stored_total"),
        documents: delta("documents_written_total"),
        task_rows: delta("task_rows_written_total"),
        event_rows: delta("event_rows_written_total"),
    };
    // The yardstick, on the server's database, with the server stopped.
    let db_url = own.as_ref().map(|s| s.db.clone());
    let keep_dir = own.as_mut().and_then(|s| s.dir.take());
    drop(own);
    let yard = match db_url {
        Some(url) => yardstick(&url, since, &fleet.units, written, ops_total)?,
        None => None,
    };
    drop(keep_dir);
    let yardstick_share = yard.map(|y| (ops_per_sec / y.ops_per_sec * 1000.0).round() / 1000.0);
    let reads = reads.unwrap_or_default();
    let figures = Figures {
        peer: "taskforce",
        devices: args.devices,
        units: args.units,
        test_units: fleet
            .directives
            .iter()
            .filter(|d| *d == crate::units::DIRECTIVE_ID)
            .count(),
        edits_per_device: args.edits,
        edits_per_sync: args
            .edits_per_sync
            .unwrap_or(args.edits)
            .min(args.edits.max(1)),
        gzip: !args.no_gzip,
        sync_route: match args.sync_route {
            Route::Batch => "batch",
            Route::Single => "single",
        },
        rounds: r.done,
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
            (None, Some(db)) => taskforce_server::db::redact(db),
            (None, None) => "sqlite (temporary)".into(),
        },
        ops_total,
        ops_per_sec: round2(ops_per_sec),
        ops_per_sec_edit_rounds: round2(ops_total as f64 / r.sync_wall.max(1e-9)),
        sync_wall_s: round2(measured_wall),
        catch_up_wall_s: round2(r.catch_up_wall),
        syncs: r.syncs,
        syncs_per_sec: round2(r.syncs as f64 / measured_wall.max(1e-9)),
        bytes_up: up,
        bytes_down: down,
        bytes_per_op: per_op(up + down),
        bytes_up_per_op: per_op(up),
        wire_bytes_up: wire_up,
        wire_bytes_down: wire_down,
        wire_bytes_per_op: per_op(wire_up + wire_down),
        wire_bytes_up_per_op: per_op(wire_up),
        wire_bytes_down_per_op: per_op(wire_down),
        wire_bytes_per_sync: round2((wire_up + wire_down) as f64 / r.syncs.max(1) as f64),
        requests_per_sync: round2(requests as f64 / r.syncs.max(1) as f64),
        sync_p50_ms: round2(percentile(&r.durations, 0.50)),
        sync_p99_ms: round2(percentile(&r.durations, 0.99)),
        sync_max_ms: round2(r.durations.last().copied().unwrap_or(0.0)),
        catch_up_p99_ms: round2(percentile(&r.catch_up_durations, 0.99)),
        errors: r.errors,
        syncs_abandoned: r.abandoned,
        overloaded_replies,
        server_rss_mb,
        server_rss_by_round_mb: r.rss_by_round,
        server_metrics: metrics_after,
        ops_per_sec_by_round: r.ops_by_round,
        sync_p99_ms_by_round: r.p99_by_round,
        server_cpu_s: server_pid.map(|_| round2(r.server_cpu)),
        server_cpu_us_per_op: server_pid
            .map(|_| round2(r.server_cpu * 1e6 / ops_total.max(1) as f64)),
        server_cpu_us_per_sync: server_pid
            .map(|_| round2(r.server_cpu * 1e6 / r.syncs.max(1) as f64)),
        client_cpu_s: round2(r.client_cpu),
        converged,
        conflicts_kept,
        restart_to_listen_s: restart_s.map(round2),
        check_doc_cache_hits: check_metrics.get("doc_cache_hits_total").copied(),
        check_doc_cache_misses: check_metrics.get("doc_cache_misses_total").copied(),
        yardstick_rows: yard.map(|y| y.rows),
        yardstick_s: yard.map(|y| round2(y.seconds)),
        yardstick_rows_per_sec: yard.map(|y| round2(y.rows_per_sec)),
        yardstick_ops_per_sec: yard.map(|y| round2(y.ops_per_sec)),
        yardstick_share,
        fraction_of_yardstick: yardstick_share,
        readers: args.readers,
        reads: reads.reads,
        read_errors: reads.read_errors,
        read_p50_ms: (args.readers > 0).then_some(reads.read_p50_ms),
        read_p99_ms: (args.readers > 0).then_some(reads.read_p99_ms),
        read_p99_ms_by_kind: reads.read_p99_ms_by_kind,
        history_ops: history.as_ref().map(|h| h.ops),
        history_build_s: history.as_ref().map(|h| h.build_s),
        history_sync_p50_ms: history.as_ref().map(|h| History::p(&h.long_ms, 0.50)),
        history_sync_p99_ms: history.as_ref().map(|h| History::p(&h.long_ms, 0.99)),
        fresh_sync_p50_ms: history.as_ref().map(|h| History::p(&h.fresh_ms, 0.50)),
        fresh_sync_p99_ms: history.as_ref().map(|h| History::p(&h.fresh_ms, 0.99)),
        history_p99_ratio: history.as_ref().map(History::ratio),
        history_errors: history.as_ref().map(|h| h.errors),
        // Only after a restart of the server of its own, with its cache off.
        history_download_after_restart_ms: history
            .as_ref()
            .and(restart_s)
            .and_then(|_| download_ms.first().copied()),
        fresh_download_after_restart_ms: history
            .as_ref()
            .and(restart_s)
            .and_then(|_| download_ms.get(1).copied()),
        setup_wall_s: round2(setup_wall_s),
        wall_s: round2(started.elapsed().as_secs_f64()),
    };
    figures.print(args.json)?;
    if !figures.converged {
        bail!("the phones and the server did not converge");
    }
    Ok(())
}

/// The admin signs in; units with tasks get one new member each (through the API).
fn provision(
    args: &LoadgenArgs,
    base: String,
    admin_user: &str,
    admin_password: &str,
    run_id: &str,
) -> anyhow::Result<Fleet> {
    let http = HttpTransport::new(&base);
    let admin = login(&http, admin_user, admin_password)?;
    // The bundled directive's units, then (past them) the test units of the load generator's
    // own directive, when the server holds it.
    let mut units: Vec<(String, String)> = Vec::new();
    for query in [
        String::new(),
        format!("?directive={}", crate::units::DIRECTIVE_ID),
    ] {
        if units.len() >= args.units {
            break;
        }
        let (status, progress) = api(
            &http,
            &format!("/api/v1/progress{query}"),
            Some(&admin),
            None,
        )?;
        if status == 404 && !query.is_empty() {
            break;
        }
        if status != 200 {
            bail!("GET /api/v1/progress{query}: {status} {progress}");
        }
        let directive = progress["directive"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let more: Vec<String> = progress["units"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|u| u["counts"]["assigned"].as_u64().unwrap_or(0) > 0)
            .filter_map(|u| u["unit"].as_str().map(str::to_string))
            .filter(|u| units.iter().all(|(have, _)| have != u))
            .collect();
        units.extend(more.into_iter().map(|u| (u, directive.clone())));
    }
    if units.len() < args.units {
        bail!(
            "the server has {} units with tasks; asked for {}",
            units.len(),
            args.units
        );
    }
    units.truncate(args.units);
    let (units, directives): (Vec<String>, Vec<String>) = units.into_iter().unzip();
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
        .zip(&directives)
        .map(|(u, d)| stored_ops(&http, &admin, u, d))
        .collect::<anyhow::Result<_>>()?;
    Ok(Fleet {
        base,
        http,
        admin,
        units,
        directives,
        users,
        password,
        ops_before,
    })
}

/// The phones: each with its store, signed in as its unit's member, device registered, the
/// unit's document downloaded. Their transports count the sync bodies and every byte on the
/// wire.
fn sign_in(
    args: &LoadgenArgs,
    fleet: &Fleet,
    counters: &Arc<Counters>,
    wire: &Arc<WireBytes>,
    store_dir: Option<&TempDir>,
    quiet: bool,
) -> anyhow::Result<Vec<Client>> {
    let b = bar(args.devices as u64, "sign in", quiet);
    let clients: Vec<anyhow::Result<Client>> =
        parallel(args.devices, args.concurrency.min(16), |i| {
            let store: Box<dyn Store> = match store_dir {
                Some(d) => Box::new(SqliteStore::open(d.0.join(format!("phone-{i}.db")))?),
                None => Box::new(MemoryStore::default()),
            };
            let (c, w, gzip) = (counters.clone(), wire.clone(), !args.no_gzip);
            let single = args.sync_route == Route::Single;
            let client = Client::with_store(
                store,
                Box::new(move |base: &str| {
                    Arc::new(Counting {
                        single,
                        inner: HttpTransport::counting(base, w.clone(), gzip),
                        counters: c.clone(),
                    }) as Arc<dyn Transport>
                }),
            )?;
            let u = i % args.units;
            client.login(
                &fleet.base,
                &fleet.users[u],
                &fleet.password,
                &format!("máy thử {i}"),
                Some(&fleet.units[u]),
            )?;
            b.inc(1);
            Ok(client)
        });
    b.finish_and_clear();
    clients.into_iter().collect()
}

/// Wait for the next whole second of the clock; it.
fn next_whole_second() -> i64 {
    let now = chrono::Utc::now();
    let wait = 1000 - i64::from(now.timestamp_subsec_millis());
    std::thread::sleep(Duration::from_millis(
        u64::try_from(wait).unwrap_or(1000) + 1,
    ));
    now.timestamp() + 1
}

/// One sync as the app makes it: a sync that fails (the server down, restarting, or
/// refusing with 503 past the client's own quick retries) is tried again after a pause
/// from 100 ms doubling to 5 s, for up to `retry_for`. The time from the first attempt to
/// the success (ms), the failed attempts, and whether it got through.
fn sync_with_backoff(client: &Client, retry_for: Duration) -> (f64, u64, bool) {
    let start = Instant::now();
    let mut pause = Duration::from_millis(100);
    let mut failed = 0;
    loop {
        match client.sync() {
            // The client's own quick retries inside the sync count too.
            Ok(report) => {
                failed += u64::from(report.attempts.saturating_sub(1));
                return (start.elapsed().as_secs_f64() * 1000.0, failed, true);
            }
            Err(e) => {
                failed += 1;
                let retry = matches!(e, ClientError::Network(_));
                if !retry || start.elapsed() + pause > retry_for {
                    eprintln!("a sync gave up after {failed} attempts: {e}");
                    return (start.elapsed().as_secs_f64() * 1000.0, failed, false);
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Every phone syncs once (`--concurrency` at a time): each sync's ms, failed attempts and
/// success; and the wall time.
fn sync_all(
    args: &LoadgenArgs,
    clients: &[Client],
    what: &str,
    quiet: bool,
) -> (Vec<(f64, u64, bool)>, f64) {
    let b = bar(clients.len() as u64, what, quiet);
    let retry_for = Duration::from_secs(args.retry_for_secs);
    let t0 = Instant::now();
    let results = parallel(clients.len(), args.concurrency, |i| {
        let r = sync_with_backoff(&clients[i], retry_for);
        b.inc(1);
        r
    });
    b.finish_and_clear();
    (results, t0.elapsed().as_secs_f64())
}

/// CPU seconds so far of the server (when it is ours) and of this process.
#[derive(Debug, Clone, Copy)]
struct Cpu(Option<f64>, Option<f64>);

impl Cpu {
    fn now(server_pid: Option<u32>) -> Self {
        Self(proc_cpu_s(server_pid), proc_cpu_s(None))
    }
}

impl Rounds {
    /// Add the CPU time the server and the phones used since `before`.
    fn add_cpu_since(&mut self, before: Cpu, server_pid: Option<u32>) {
        let after = Cpu::now(server_pid);
        if let (Some(a), Some(b)) = (before.0, after.0) {
            self.server_cpu += b - a;
        }
        if let (Some(a), Some(b)) = (before.1, after.1) {
            self.client_cpu += b - a;
        }
    }

    /// Count one `sync_all`'s results.
    fn count(&mut self, results: &[(f64, u64, bool)]) {
        self.syncs += results.len() as u64;
        for (_, failed, ok) in results {
            self.errors += failed;
            if !ok {
                self.abandoned += 1;
            }
        }
    }
}

/// Rounds of offline edits, then every phone syncing (`--concurrency` at a time), until
/// `--rounds` are done and `--duration-secs` (from the start) has passed. With
/// `--edits-per-sync`, a round's edits go in several edit-then-sync steps.
fn rounds(
    args: &LoadgenArgs,
    clients: &[Client],
    tasks: &[Vec<String>],
    server_pid: Option<u32>,
    started: Instant,
    quiet: bool,
) -> anyhow::Result<Rounds> {
    let mut r = Rounds::default();
    let per_sync = args
        .edits_per_sync
        .unwrap_or(args.edits)
        .clamp(1, args.edits.max(1));
    let steps = args.edits.div_ceil(per_sync).max(1);
    loop {
        let round = r.done;
        let more = match args.duration_secs {
            Some(d) => started.elapsed() < Duration::from_secs(d) || round < args.rounds,
            None => round < args.rounds,
        };
        if !more {
            break;
        }
        let mut round_wall = 0.0;
        let mut round_ms = Vec::new();
        for step in 0..steps {
            let n = per_sync.min(args.edits - (step * per_sync).min(args.edits));
            let b = bar(args.devices as u64, &format!("edit {}", round + 1), quiet);
            let edited: Vec<anyhow::Result<()>> = parallel(args.devices, 2, |i| {
                let seed = args.seed ^ ((round as u64) << 32) ^ ((step as u64) << 48) ^ i as u64;
                let mut rng = StdRng::seed_from_u64(seed);
                let e = make_edits(&clients[i], &tasks[i], n, args.mix, &mut rng);
                b.inc(1);
                e
            });
            b.finish_and_clear();
            for e in edited {
                e?;
            }
            let cpu = Cpu::now(server_pid);
            let (results, wall) = sync_all(args, clients, &format!("sync {}", round + 1), quiet);
            r.add_cpu_since(cpu, server_pid);
            round_wall += wall;
            r.count(&results);
            round_ms.extend(results.iter().map(|(ms, _, _)| *ms));
        }
        r.sync_wall += round_wall;
        r.ops_by_round.push(round2(
            (args.devices * args.edits) as f64 / round_wall.max(1e-9),
        ));
        r.durations.extend_from_slice(&round_ms);
        round_ms.sort_by(f64::total_cmp);
        r.p99_by_round.push(round2(percentile(&round_ms, 0.99)));
        if let Some(pid) = server_pid {
            r.rss_by_round.push(round2(
                proc_status_kb(pid, "VmRSS:").unwrap_or(0.0) / 1024.0,
            ));
        }
        r.done += 1;
        if !quiet {
            eprintln!(
                "round {}: {} syncs, {} failed attempts so far, {:.1} s of sync",
                r.done, r.syncs, r.errors, r.sync_wall
            );
        }
    }
    Ok(r)
}

/// The end of the measured phase: every phone syncs once more, so those that synced early
/// receive what the later ones sent (every operation is on the server by now). Its time,
/// bytes and syncs are in the figures.
fn catch_up(args: &LoadgenArgs, clients: &[Client], r: &mut Rounds, quiet: bool) {
    let (results, wall) = sync_all(args, clients, "catch up", quiet);
    r.catch_up_wall = wall;
    r.count(&results);
    r.catch_up_durations = results.iter().map(|(ms, _, _)| *ms).collect();
    r.durations.extend_from_slice(&r.catch_up_durations);
}

/// Convergence, from what the replicas hold: every phone of a unit holds the same state as
/// a fresh phone downloading the server's stored copy (from `base`: the server of its own
/// restarted with its cache off), and the server holds every operation made. Failed sync
/// attempts do not decide it; a phone that never got through does, by what it lacks. Also:
/// the conflicts kept, over the units.
fn verify(
    args: &LoadgenArgs,
    clients: &[Client],
    fleet: &Fleet,
    base: &str,
    r: &Rounds,
    extra: &[i64],
) -> anyhow::Result<(bool, u64, Vec<f64>)> {
    let http = HttpTransport::new(base);
    let mut converged = true;
    let unsynced: u64 = clients.iter().map(Client::unsynced).sum();
    if unsynced > 0 {
        converged = false;
        eprintln!("{unsynced} operations are still on the phones only");
    }
    if r.abandoned > 0 {
        eprintln!(
            "{} syncs still failed after {} s of retries",
            r.abandoned, args.retry_for_secs
        );
    }
    let mut by_unit: BTreeMap<usize, Vec<Vec<u8>>> = BTreeMap::new();
    let mut conflicts_kept = 0u64;
    let mut download_ms = Vec::new();
    for (i, c) in clients.iter().enumerate() {
        by_unit
            .entry(i % args.units)
            .or_default()
            .push(c.state_fingerprint()?);
    }
    for (u, prints) in &by_unit {
        let (unit, user) = (&fleet.units[*u], &fleet.users[*u]);
        let fresh = Client::in_memory()?;
        fresh.login(base, user, &fleet.password, "kiểm tra", Some(unit))?;
        let t0 = Instant::now();
        fresh.sync()?;
        download_ms.push(round2(t0.elapsed().as_secs_f64() * 1000.0));
        let server_print = fresh.state_fingerprint()?;
        conflicts_kept += fresh
            .conflicts()?
            .iter()
            .map(|c| c.values.len() as u64 - 1)
            .sum::<u64>();
        let differ = prints.iter().filter(|p| **p != server_print).count();
        if differ > 0 {
            converged = false;
            eprintln!("unit {unit}: {differ} phones differ from the server's stored copy");
        }
        let stored =
            stored_ops(&http, &fleet.admin, unit, &fleet.directives[*u])? - fleet.ops_before[*u];
        let made = (prints.len() * args.edits * r.done) as i64 + extra[*u];
        if stored != made {
            converged = false;
            eprintln!("unit {unit}: {made} operations made, {stored} stored");
        }
    }
    Ok((converged, conflicts_kept, download_ms))
}
