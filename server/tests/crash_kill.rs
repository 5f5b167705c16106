//! The real `taskforce` binary under continuous syncs from 24 phones (mobile-core's `Client`
//! with its SQLite store, three units), killed with SIGKILL at seeded random moments and
//! restarted on the same database and port each time while the phones keep retrying. Only a
//! kill that finds the process alive counts, and each window between a restart and the next
//! kill sees at least one sync answered 200 (it is extended until one is, bounded), so no
//! kill lands on an idle server. Afterwards: every operation a phone saw acknowledged is in
//! the op log, by two oracles — the client's replica state (typed less still queued), and
//! its transport's record of the operations each request answered 200 carried (each in the
//! op log exactly once); the edits typed but not acknowledged get through; the op log holds
//! each operation once; every document's count is the operations typed; the projections are
//! the rules' reading of the document; every phone and a fresh one hold the same bytes. On
//! SQLite and PostgreSQL. `TASKFORCE_CRASH_SEED` fixes the schedule of kills (not the
//! threads' timing); `TASKFORCE_CRASH_KILLS` sets the kills (20).

mod common;

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use common::{
    Http, TestDb,
    fleet::{
        FleetPhone, MANY_LOGINS_TOML, check_acknowledged_stored,
        check_all_stored_once_and_converged, check_transport_acknowledged_stored, open_phone,
        real_http,
    },
    spawn_app,
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use taskforce_core::client::ClientError;

const UNITS: [&str; 3] = ["cuc-vt", "viettel", "cuc-attt"];
const PHONES_PER_UNIT: usize = 8;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// The `taskforce serve` process on a fixed port, SIGKILLed when dropped.
struct Server {
    child: Child,
}

impl Server {
    /// Start it and wait until it answers /healthz.
    fn start(db: &str, port: u16, dir: &Path) -> Self {
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        'spawn: loop {
            let child = Command::new(env!("CARGO_BIN_EXE_taskforce"))
                .arg("serve")
                .args(["--bind", &format!("127.0.0.1:{port}"), "--db", db])
                .args(["--workers", "2", "--config", "taskforce.toml"])
                .current_dir(dir)
                .env_remove("TASKFORCE_DB")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("spawn taskforce: {e}"));
            let mut server = Server { child };
            loop {
                let up = Http::agent()
                    .get(&format!("{base}/healthz"))
                    .call()
                    .is_ok_and(|r| r.status() == 200);
                if up {
                    return server;
                }
                assert!(
                    Instant::now() < deadline,
                    "taskforce serve did not answer /healthz on {base}"
                );
                // Exited (the port not yet free, say): start it again.
                if server.child.try_wait().ok().flatten().is_some() {
                    std::thread::sleep(Duration::from_millis(100));
                    continue 'spawn;
                }
                std::thread::sleep(Duration::from_millis(25));
            }
        }
    }

    /// SIGKILL (`Child::kill` on Unix: no shutdown code runs); whether the process was
    /// still running right before it.
    fn kill(mut self) -> bool {
        let alive = matches!(self.child.try_wait(), Ok(None));
        let _ = self.child.kill();
        let _ = self.child.wait();
        alive
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sets its flag when dropped (on a panic too).
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("taskforce-crash-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    dir
}

fn server_killed_at_random_moments_loses_no_acknowledged_operation(db: TestDb) {
    let seed = env_u64("TASKFORCE_CRASH_SEED").unwrap_or_else(rand::random);
    let kills = env_u64("TASKFORCE_CRASH_KILLS").unwrap_or(20);
    let store = if db.url().starts_with("sqlite:") {
        "sqlite"
    } else {
        "postgresql"
    };
    eprintln!(
        "crash_kill on {store}: seed {seed} (TASKFORCE_CRASH_SEED={seed} fixes the schedule of kills)"
    );
    let started = Instant::now();
    // Migrations, seed and accounts through an in-process server that then stays idle; its
    // database is the binary's, and the checks read it.
    let setup = spawn_app(db);
    let users = setup.create_fleet(&UNITS, PHONES_PER_UNIT);
    let dir = temp_dir(store);
    std::fs::write(dir.join("taskforce.toml"), MANY_LOGINS_TOML).unwrap_or_else(|e| panic!("{e}"));
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let db_url = setup.db.url().to_string();
    let mut server = Some(Server::start(&db_url, port, &dir));
    let phones: Vec<FleetPhone> = users
        .iter()
        .enumerate()
        .map(|(n, (user, unit))| open_phone(&dir, &base, user, unit, n, real_http()))
        .collect();

    let stop = AtomicBool::new(false);
    let syncs_ok = AtomicU64::new(0);
    let syncs_failed = AtomicU64::new(0);
    let refused: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut rng = StdRng::seed_from_u64(seed);
    let mut down_total = Duration::ZERO;
    let (mut live_kills, mut dead_found, mut windows_min) = (0u64, 0u64, u64::MAX);
    std::thread::scope(|s| {
        for (n, p) in phones.iter().enumerate() {
            let (stop, syncs_ok, syncs_failed, refused) =
                (&stop, &syncs_ok, &syncs_failed, &refused);
            let mut rng = StdRng::seed_from_u64(seed ^ (n as u64 + 1).wrapping_mul(0x9e37_79b9));
            s.spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    for _ in 0..rng.random_range(1..=3) {
                        p.random_edit(&mut rng);
                    }
                    match p.sync() {
                        Ok(()) => {
                            syncs_ok.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(ClientError::Network(_)) => {
                            syncs_failed.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(rng.random_range(10..60)));
                        }
                        Err(e) => {
                            let mut r = refused.lock().unwrap_or_else(|e| e.into_inner());
                            r.push(format!("actor {}: {e}", p.actor));
                            return;
                        }
                    }
                    std::thread::sleep(Duration::from_millis(rng.random_range(0..30)));
                }
                // Edits made while the server is down: kept, and sent after the restart.
                for _ in 0..rng.random_range(1..=3) {
                    p.random_edit(&mut rng);
                }
                let _ = p.sync();
            });
        }
        // The phones stop however this thread leaves the scope (a failed assert included), so
        // that the scope's join cannot wait for ever.
        let _stop_phones = StopOnDrop(&stop);
        let answered_200 = || phones.iter().map(|p| p.ledger.syncs_200()).sum::<u64>();
        // Bounded: a kill that finds the server dead does not count, but does not go on for ever.
        for attempt in 0..kills * 2 {
            let window_from = answered_200();
            std::thread::sleep(Duration::from_millis(rng.random_range(150..800)));
            // A window with no sync answered 200 is extended until one is.
            let extend_until = Instant::now() + Duration::from_secs(5);
            while answered_200() == window_from && Instant::now() < extend_until {
                std::thread::sleep(Duration::from_millis(20));
            }
            let in_window = answered_200() - window_from;
            assert!(
                in_window > 0,
                "no sync was answered 200 in the 5 s before kill {} (seed {seed})",
                live_kills + 1
            );
            windows_min = windows_min.min(in_window);
            if server.take().is_some_and(Server::kill) {
                live_kills += 1;
            } else {
                dead_found += 1;
            }
            eprintln!(
                "kill {live_kills}/{kills} (attempt {}): {in_window} syncs answered 200 since the \
                 restart, {} acknowledged so far",
                attempt + 1,
                syncs_ok.load(Ordering::SeqCst)
            );
            if live_kills == kills || attempt + 1 == kills * 2 {
                // The last kill: the phones stop while the server is down, their last edits
                // typed and not acknowledged.
                stop.store(true, Ordering::SeqCst);
                break;
            }
            let down = Instant::now();
            std::thread::sleep(Duration::from_millis(rng.random_range(0..200)));
            server = Some(Server::start(&db_url, port, &dir));
            down_total += down.elapsed();
        }
    });
    assert!(
        live_kills >= kills,
        "{live_kills} kills hit a live server of {kills} asked ({dead_found} found it dead; seed {seed})"
    );
    let refused = refused.into_inner().unwrap_or_default();
    assert!(
        refused.is_empty(),
        "syncs refused other than by the network (seed {seed}): {refused:?}"
    );

    server = Some(Server::start(&db_url, port, &dir));
    // Before anything more is sent: what each phone saw acknowledged is stored, once.
    let acked_checked = check_acknowledged_stored(&setup, &phones, seed);
    assert!(acked_checked > 0, "no sync was acknowledged (seed {seed})");
    let transport_checked = check_transport_acknowledged_stored(&setup, &phones, seed);
    assert!(
        transport_checked > 0,
        "no operation was carried by a sync answered 200 (seed {seed})"
    );
    let answered_200: u64 = phones.iter().map(|p| p.ledger.syncs_200()).sum();
    let typed_total: u64 = phones.iter().map(FleetPhone::typed).sum();
    assert!(
        typed_total > acked_checked,
        "the phones' last edits were made while the server was down (seed {seed})"
    );
    // The rest gets through, once, and all converge.
    let http = Http { base: base.clone() };
    check_all_stored_once_and_converged(&setup, &http, &phones, &UNITS, |u| format!("{u}.0"), seed);
    eprintln!(
        "crash_kill on {store}: seed {seed}; {live_kills} kills hit a live server ({dead_found} \
         found it dead; down {:.1} s in all; at least {windows_min} syncs answered 200 in every \
         window); {} syncs acknowledged, {answered_200} answered 200 at the transport, {} failed \
         and retried; {acked_checked} acknowledged operations checked by the replica state and \
         {transport_checked} by the transport's record before the last syncs, {typed_total} \
         typed ({} unacknowledged at the last restart), all stored once; {} phones converged; \
         {:.1} s",
        down_total.as_secs_f64(),
        syncs_ok.load(Ordering::SeqCst),
        syncs_failed.load(Ordering::SeqCst),
        typed_total - acked_checked,
        phones.len(),
        started.elapsed().as_secs_f64()
    );
    drop(server);
    drop(phones);
    let _ = std::fs::remove_dir_all(&dir);
}

on_every_store!(server_killed_at_random_moments_loses_no_acknowledged_operation);
