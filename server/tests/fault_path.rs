//! Faults on the path between phones and the server: a proxy (`common/fault_proxy.rs`) that,
//! by a seeded schedule, cuts answers mid-body, stalls until the phone's timeout, resets
//! connections, answers 500 or 503 itself, or forwards a sync and drops its answer after
//! the server stored it. Twelve phones (mobile-core's `Client`, retrying with back-off) edit
//! and sync through it; afterwards nothing is lost or stored twice and all converge with the
//! server's document. Each kind of fault must have happened (a forwarding one only counts
//! when the server answered 200). `TASKFORCE_FAULT_SEED` fixes the schedule of faults (not
//! the threads' timing).

mod common;

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use common::{
    TestDb,
    fault_proxy::{Fault, FaultProxy, Schedule},
    fleet::{
        FleetPhone, ShortTimeoutHttp, check_acknowledged_stored,
        check_all_stored_once_and_converged, check_transport_acknowledged_stored, many_logins,
        open_phone,
    },
    spawn_app_with,
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use taskforce_core::client::ClientError;
use taskforce_server::auth::Role;

const UNITS: [&str; 2] = ["cuc-vt", "viettel"];
const PHONES_PER_UNIT: usize = 6;
const ROUNDS: usize = 12;

fn faults_on_the_path_lose_and_duplicate_nothing(db: TestDb) {
    let seed = std::env::var("TASKFORCE_FAULT_SEED")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("fault_path: seed {seed} (TASKFORCE_FAULT_SEED={seed} fixes the schedule of faults)");
    let started = Instant::now();
    let app = spawn_app_with(db, many_logins);
    let mut users = Vec::new();
    for unit in UNITS {
        for i in 0..PHONES_PER_UNIT {
            let name = format!("{unit}.{i}");
            app.create_user(&name, Role::Member, &[(unit, false)]);
            users.push((name, unit));
        }
    }
    app.create_user("vanphong", Role::MinistryOffice, &[]);
    let upstream = app
        .base
        .trim_start_matches("http://")
        .parse()
        .unwrap_or_else(|e| panic!("server address {}: {e}", app.base));
    let proxy = FaultProxy::start(
        upstream,
        Schedule {
            seed,
            rate: 0.4,
            faults: Fault::ALL.to_vec(),
            stall: Duration::from_secs(4),
        },
    );
    let dir = std::env::temp_dir().join(format!("taskforce-faults-{}-{seed}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let phones: Vec<FleetPhone> = users
        .iter()
        .enumerate()
        .map(|(n, (user, unit))| {
            open_phone(
                &dir,
                &proxy.base(),
                user,
                unit,
                n,
                ShortTimeoutHttp::factory(Duration::from_millis(1500)),
            )
        })
        .collect();

    let failed = AtomicU64::new(0);
    let ok = AtomicU64::new(0);
    std::thread::scope(|s| {
        for (n, p) in phones.iter().enumerate() {
            let (failed, ok) = (&failed, &ok);
            let mut rng = StdRng::seed_from_u64(seed ^ (n as u64 + 1).wrapping_mul(0x9e37_79b9));
            s.spawn(move || {
                for _ in 0..ROUNDS {
                    for _ in 0..rng.random_range(1..=4) {
                        p.random_edit(&mut rng);
                    }
                    match p.sync() {
                        Ok(()) => ok.fetch_add(1, Ordering::SeqCst),
                        Err(ClientError::Network(_)) => failed.fetch_add(1, Ordering::SeqCst),
                        Err(e) => panic!("actor {}: a sync refused: {e} (seed {seed})", p.actor),
                    };
                }
            });
        }
    });
    let acked = check_acknowledged_stored(&app, &phones, seed);
    let transport_acked = check_transport_acknowledged_stored(&app, &phones, seed);
    assert!(
        transport_acked > 0,
        "no operation was carried by a sync answered 200 (seed {seed})"
    );
    let injected = proxy.injected();
    for (fault, n) in &injected {
        assert!(*n > 0, "no {fault:?} happened (seed {seed}): {injected:?}");
    }
    // The path heals; everything gets through once and all converge.
    proxy.set_schedule(Schedule::none());
    check_all_stored_once_and_converged(
        &app,
        &app.http,
        &phones,
        &UNITS,
        |u| format!("{u}.0"),
        seed,
    );
    let typed: u64 = phones.iter().map(FleetPhone::typed).sum();
    eprintln!(
        "fault_path: seed {seed}; faults as happened {} ({injected:?}); {} syncs acknowledged, {} \
         gave up after their retries; {acked} acknowledged operations checked by the replica \
         state, {transport_acked} by the transport's record, {typed} typed, \
         all stored once; {} phones converged; {:.1} s",
        proxy.injected_total(),
        ok.load(Ordering::SeqCst),
        failed.load(Ordering::SeqCst),
        phones.len(),
        started.elapsed().as_secs_f64()
    );
    drop(phones);
    let _ = std::fs::remove_dir_all(&dir);
}

on_every_store!(faults_on_the_path_lose_and_duplicate_nothing);
