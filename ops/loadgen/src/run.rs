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
    client::{Client, HttpTransport, Transport},
    store::{MemoryStore, SqliteStore, Store},
};

use crate::{
    args::{LoadgenArgs, Mix, StoreKind},
    measure::{bar, parallel, percentile, proc_cpu_s, proc_status_kb, round2},
    phones::{
        Counters, Counting, api, login, make_edits, random_password, server_metrics, stored_ops,
    },
    report::Figures,
    server::{TempDir, start_own_server},
    yardstick::yardstick,
};

/// The server as provisioned: the admin's session, the units the phones are in with one
/// member account each (all with one password), and the operations each unit held before.
#[derive(Debug)]
struct Fleet {
    base: String,
    http: HttpTransport,
    admin: String,
    units: Vec<String>,
    users: Vec<String>,
    password: String,
    ops_before: Vec<i64>,
}

/// What the rounds measured.
#[derive(Debug, Default)]
struct Rounds {
    /// Every sync's duration, ms.
    durations: Vec<f64>,
    sync_wall: f64,
    errors: u64,
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
    let fleet = provision(&args, base, &admin_user, &admin_password, &run_id)?;

    let counters = Arc::new(Counters::default());
    let store_dir = match args.store {
        StoreKind::Disk => Some(TempDir::new("loadgen-phones")?),
        StoreKind::Memory => None,
    };
    let clients = sign_in(&args, &fleet, &counters, store_dir.as_ref(), quiet)?;
    let tasks: Vec<Vec<String>> = clients
        .iter()
        .map(|c| Ok(c.tasks()?.into_iter().map(|t| t.id).collect()))
        .collect::<anyhow::Result<_>>()?;
    let setup_wall_s = started.elapsed().as_secs_f64();

    let (up0, down0, req0) = counters.read();
    let overloaded0 = counters.overloaded();
    let mut r = rounds(&args, &clients, &tasks, server_pid, started, quiet)?;
    let (up1, down1, req1) = counters.read();
    let overloaded_replies = counters.overloaded() - overloaded0;
    let (up, down, requests) = (up1 - up0, down1 - down0, req1 - req0);
    let server_rss_mb = server_pid
        .and_then(|pid| proc_status_kb(pid, "VmHWM:"))
        .map(|kb| round2(kb / 1024.0));
    let metrics_after = server_metrics(&fleet.http)?;
    let (converged, conflicts_kept) = verify(&args, &clients, &fleet, &r, quiet)?;

    r.durations.sort_by(f64::total_cmp);
    let ops_total = (args.devices * args.edits * r.done) as u64;
    let ops_per_sec = ops_total as f64 / r.sync_wall.max(1e-9);
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
        sync_wall_s: round2(r.sync_wall),
        syncs: r.syncs,
        bytes_up: up,
        bytes_down: down,
        bytes_per_op: round2((up + down) as f64 / ops_total.max(1) as f64),
        bytes_up_per_op: round2(up as f64 / ops_total.max(1) as f64),
        requests_per_sync: round2(requests as f64 / r.syncs.max(1) as f64),
        sync_p50_ms: round2(percentile(&r.durations, 0.50)),
        sync_p99_ms: round2(percentile(&r.durations, 0.99)),
        sync_max_ms: round2(r.durations.last().copied().unwrap_or(0.0)),
        errors: r.errors,
        overloaded_replies,
        server_rss_mb,
        server_rss_by_round_mb: r.rss_by_round,
        server_metrics: metrics_after,
        ops_per_sec_by_round: r.ops_by_round,
        sync_p99_ms_by_round: r.p99_by_round,
        server_cpu_s: server_pid.map(|_| round2(r.server_cpu)),
        server_cpu_us_per_op: server_pid
            .map(|_| round2(r.server_cpu * 1e6 / ops_total.max(1) as f64)),
        client_cpu_s: round2(r.client_cpu),
        converged,
        conflicts_kept,
        yardstick_rows_per_sec: yard.map(round2),
        fraction_of_yardstick: yard.map(|y| (ops_per_sec / y * 1000.0).round() / 1000.0),
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
    Ok(Fleet {
        base,
        http,
        admin,
        units,
        users,
        password,
        ops_before,
    })
}

/// The phones: each with its store, signed in as its unit's member, device registered, the
/// unit's document downloaded.
fn sign_in(
    args: &LoadgenArgs,
    fleet: &Fleet,
    counters: &Arc<Counters>,
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

/// Rounds of offline edits, then every phone syncing (`--concurrency` at a time), until
/// `--rounds` are done and `--duration-secs` (from the start) has passed.
fn rounds(
    args: &LoadgenArgs,
    clients: &[Client],
    tasks: &[Vec<String>],
    server_pid: Option<u32>,
    started: Instant,
    quiet: bool,
) -> anyhow::Result<Rounds> {
    let mut r = Rounds::default();
    loop {
        let round = r.done;
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
            let e = make_edits(&clients[i], &tasks[i], args.edits, args.mix, &mut rng);
            b.inc(1);
            e
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
        r.sync_wall += wall;
        r.ops_by_round
            .push(round2((args.devices * args.edits) as f64 / wall.max(1e-9)));
        let mut ms: Vec<f64> = results.iter().map(|(m, _)| *m).collect();
        ms.sort_by(f64::total_cmp);
        r.p99_by_round.push(round2(percentile(&ms, 0.99)));
        let cpu1 = (proc_cpu_s(server_pid), proc_cpu_s(None));
        b.finish_and_clear();
        if let (Some(a), Some(b)) = (cpu0.0, cpu1.0) {
            r.server_cpu += b - a;
        }
        if let (Some(a), Some(b)) = (cpu0.1, cpu1.1) {
            r.client_cpu += b - a;
        }
        r.syncs += results.len() as u64;
        for (ms, ok) in results {
            r.durations.push(ms);
            if !ok {
                r.errors += 1;
            }
        }
        if let Some(pid) = server_pid {
            r.rss_by_round.push(round2(
                proc_status_kb(pid, "VmRSS:").unwrap_or(0.0) / 1024.0,
            ));
        }
        r.done += 1;
        if !quiet {
            eprintln!(
                "round {}: {} syncs, {} errors so far, {:.1} s of sync",
                r.done, args.devices, r.errors, r.sync_wall
            );
        }
    }
    Ok(r)
}

/// Convergence: everyone syncs once more (all operations are on the server by now), then
/// every phone of a unit and a fresh phone downloading the server's copy agree, and the
/// server holds every operation made. Also: the conflicts kept, over the units.
fn verify(
    args: &LoadgenArgs,
    clients: &[Client],
    fleet: &Fleet,
    r: &Rounds,
    quiet: bool,
) -> anyhow::Result<(bool, u64)> {
    let b = bar(args.devices as u64, "verify", quiet);
    let mut catch_up: Vec<bool> = parallel(args.devices, args.concurrency, |i| {
        let ok = clients[i].sync().is_ok() && clients[i].unsynced() == 0;
        b.inc(1);
        ok
    });
    b.finish_and_clear();
    // A catch-up an overloaded server kept refusing (503 until the phone's retries ran out;
    // counted in `overloaded_replies`) is sent again one phone at a time, which the writer's
    // queue always has room for; then every phone pulls once more (the phones before it
    // lacked its operations), so what is compared below is what the phones hold.
    if catch_up.iter().any(|ok| !*ok) {
        for (i, ok) in catch_up.iter_mut().enumerate() {
            if !*ok {
                *ok = clients[i].sync().is_ok() && clients[i].unsynced() == 0;
            }
        }
        for (i, ok) in catch_up.iter_mut().enumerate() {
            *ok = *ok && clients[i].sync().is_ok();
        }
    }
    let mut converged = catch_up.iter().all(|ok| *ok) && r.errors == 0;
    if r.errors > 0 {
        eprintln!(
            "{} syncs failed after the phones' retries (503s among them: overloaded_replies)",
            r.errors
        );
    }
    let mut by_unit: BTreeMap<usize, Vec<Vec<u8>>> = BTreeMap::new();
    let mut conflicts_kept = 0u64;
    for (i, c) in clients.iter().enumerate() {
        by_unit
            .entry(i % args.units)
            .or_default()
            .push(c.state_fingerprint()?);
    }
    for (u, prints) in &by_unit {
        let (unit, user) = (&fleet.units[*u], &fleet.users[*u]);
        let fresh = Client::in_memory()?;
        fresh.login(&fleet.base, user, &fleet.password, "kiểm tra", Some(unit))?;
        fresh.sync()?;
        let server_print = fresh.state_fingerprint()?;
        conflicts_kept += fresh
            .conflicts()?
            .iter()
            .map(|c| c.values.len() as u64 - 1)
            .sum::<u64>();
        if prints.iter().any(|p| *p != server_print) {
            converged = false;
            eprintln!("unit {unit}: the phones and the server differ");
        }
        let stored = stored_ops(&fleet.http, &fleet.admin, unit)? - fleet.ops_before[*u];
        let made = (prints.len() * args.edits * r.done) as i64;
        if stored != made {
            converged = false;
            eprintln!("unit {unit}: {made} operations made, {stored} stored");
        }
    }
    Ok((converged, conflicts_kept))
}
