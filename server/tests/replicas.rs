//! Several `taskforce serve` processes on one PostgreSQL behind a real nginx (the deployment's
//! proxy rules, `ops/deploy/nginx.test.conf.template`), on loopback: phones sync through the
//! balancer while a rolling restart stops each replica (SIGTERM, as systemd does), waits for
//! it to exit and starts it again on its port, one at a time. Nothing is lost or doubled (each
//! unit's op count is the edits the phones made, and the phones converge), no phone's sync
//! fails after its retries, both replicas served syncs, and the scheduled digests, which
//! every replica's start finds due, are decided, queued and mailed once.
//!
//! The digests go to a real SMTP server (aiosmtpd, `common::smtp`). nginx or aiosmtpd missing
//! is a failure under `CI=true` and a visible skip elsewhere (as PostgreSQL).

mod common;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use common::{
    Http, Phone, TestDb,
    process::{Server, free_port},
    smtp::{self, rcpt_tos},
    spawn_app,
};
use taskforce_core::{doc::Status, sync::wire};

const UNITS: [&str; 2] = ["cuc-vt", "viettel"];
const PHONES_PER_UNIT: usize = 3;
const PHONES: usize = UNITS.len() * PHONES_PER_UNIT;
/// Edits a phone makes between two syncs.
const EDITS_PER_ROUND: u32 = 3;
/// Rounds every phone makes after the rolling restart is over.
const ROUNDS_AFTER: u32 = 5;
/// A phone's tries of one sync before it counts as failed (as the app retries).
const TRIES: u32 = 20;
const OFFICE: &str = "vanphong@mic.gov.vn";
const MINISTER: &str = "botruong@mic.gov.vn";

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The nginx binary: on PATH or /usr/sbin/nginx. Missing in CI is a failure; elsewhere the
/// test says it skips.
fn nginx_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .map(|d| d.join("nginx"))
        .chain([PathBuf::from("/usr/sbin/nginx")])
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            !ci(),
            "CI=true and nginx is not installed (apt-get install nginx-light): the replicas \
             test needs a real nginx"
        );
        eprintln!("SKIPPED: nginx not installed (apt-get install nginx-light)");
    }
    found
}

/// A temporary directory, removed when dropped, kept (and named) when the test failed.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "taskforce-{name}-{}-{}",
            std::process::id(),
            common::COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept for a look: {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// nginx in the foreground with the test template's rules in front of `upstreams`.
struct Nginx {
    child: Child,
    port: u16,
    prefix: TempDir,
}

impl Nginx {
    fn start(bin: &Path, upstreams: &[u16]) -> Self {
        let prefix = TempDir::new("nginx");
        // Run as root, nginx's workers are `nobody`: they must reach the *_temp directories.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&prefix.0, std::fs::Permissions::from_mode(0o755))
                .unwrap_or_else(|e| panic!("chmod {}: {e}", prefix.0.display()));
        }
        let port = free_port();
        let servers: Vec<String> = upstreams
            .iter()
            .map(|p| format!("        server 127.0.0.1:{p} max_fails=1 fail_timeout=1s;"))
            .collect();
        let dir = prefix.0.to_string_lossy().to_string();
        let conf = include_str!("../../ops/deploy/nginx.test.conf.template")
            .replace("{{LISTEN}}", &port.to_string())
            .replace("{{UPSTREAMS}}", &servers.join("\n"))
            .replace("{{PREFIX}}", &dir);
        assert!(!conf.contains("{{"), "a placeholder left in:\n{conf}");
        let conf_path = prefix.0.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap_or_else(|e| panic!("write nginx.conf: {e}"));
        let out = std::fs::File::create(prefix.0.join("nginx.out"))
            .unwrap_or_else(|e| panic!("nginx.out: {e}"));
        let err = out.try_clone().unwrap_or_else(|e| panic!("nginx.out: {e}"));
        let child = Command::new(bin)
            .args(["-p", &format!("{dir}/"), "-e", &format!("{dir}/error.log")])
            .args(["-c", &conf_path.to_string_lossy()])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        let mut nginx = Nginx {
            child,
            port,
            prefix,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let up = Http::agent()
                .get(&format!("{}/healthz", nginx.base()))
                .call()
                .is_ok_and(|r| r.status() == 200);
            if up {
                return nginx;
            }
            if let Ok(Some(status)) = nginx.child.try_wait() {
                panic!(
                    "nginx exited ({status}):\n{}\n{}",
                    nginx.file("nginx.out"),
                    nginx.file("error.log")
                );
            }
            assert!(
                Instant::now() < deadline,
                "nginx did not pass /healthz on:\n{}",
                nginx.file("error.log")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.prefix.0.join(name)).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGQUIT: a graceful stop (the master waits for its workers); SIGKILL if it hangs.
        let _ = Command::new("kill")
            .args(["-QUIT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request as nginx's access log has it (`log_format taskforce`).
#[derive(Debug)]
struct Proxied {
    request: String,
    status: u16,
    /// The replicas tried, in order (more than one: nginx passed it on to the next).
    upstreams: Vec<String>,
    upstream_statuses: Vec<String>,
}

fn between<'a>(line: &'a str, from: &str, to: &str) -> &'a str {
    line.split_once(from)
        .and_then(|(_, rest)| rest.split_once(to).map(|(v, _)| v))
        .unwrap_or_default()
}

fn access_log(text: &str) -> Vec<Proxied> {
    let list = |s: &str| -> Vec<String> {
        s.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    text.lines()
        .map(|line| {
            let request = between(line, "\"", "\"").to_string();
            let status = line
                .split_once("\" ")
                .and_then(|(_, rest)| rest.split(' ').next())
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            // `upstream=127.0.0.1:A, 127.0.0.1:B`: the ports, in order.
            let upstreams = list(between(line, " upstream=", " upstream_status="))
                .iter()
                .map(|a| a.rsplit(':').next().unwrap_or_default().to_string())
                .collect();
            let upstream_statuses = list(between(line, " upstream_status=", " urt="));
            Proxied {
                request,
                status,
                upstreams,
                upstream_statuses,
            }
        })
        .collect()
}

/// One sync through `base`: Err for anything a phone would try again (no answer, a status
/// other than 200, an answer cut short).
fn sync_once(agent: &ureq::Agent, p: &mut Phone, base: &str) -> Result<(), String> {
    let body = p.request_bytes();
    let mut resp = agent
        .post(&format!("{base}/api/v1/sync"))
        .header("Authorization", &format!("Bearer {}", p.token))
        .header("X-Taskforce-Device", &p.actor.to_string())
        .header("Content-Type", "application/octet-stream")
        .send(&body[..])
        .map_err(|e| format!("no answer: {e}"))?;
    let status = resp.status().as_u16();
    let bytes = resp
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .map_err(|e| format!("answer cut short: {e}"))?;
    if status != 200 {
        let text = String::from_utf8_lossy(&bytes);
        return Err(format!(
            "{status} {}",
            text.chars().take(120).collect::<String>()
        ));
    }
    let answer = wire::decode_response(&bytes).map_err(|e| format!("undecodable answer: {e}"))?;
    p.replica
        .receive(answer)
        .unwrap_or_else(|e| panic!("actor {}: receive: {e}", p.actor));
    Ok(())
}

/// What the phones saw.
#[derive(Default)]
struct Traffic {
    /// Syncs answered 200 (after however many tries).
    ok: AtomicU64,
    /// Tries that failed and were tried again.
    retried: AtomicU64,
    /// Syncs that failed all their tries.
    failed: AtomicU64,
    /// Why tries failed, and how often.
    reasons: Mutex<BTreeMap<String, u64>>,
}

impl Traffic {
    /// Sync as the app does: up to `TRIES` times, 100–500 ms apart; whether it got through.
    fn sync(&self, agent: &ureq::Agent, p: &mut Phone, base: &str) -> bool {
        for attempt in 0..TRIES {
            match sync_once(agent, p, base) {
                Ok(()) => {
                    self.ok.fetch_add(1, Ordering::SeqCst);
                    return true;
                }
                Err(why) => {
                    self.retried.fetch_add(1, Ordering::SeqCst);
                    let reason: String = why.chars().take(80).collect();
                    *self
                        .reasons
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .entry(reason)
                        .or_default() += 1;
                    std::thread::sleep(Duration::from_millis(100 * u64::from(attempt.min(4) + 1)));
                }
            }
        }
        self.failed.fetch_add(1, Ordering::SeqCst);
        false
    }

    fn reasons(&self) -> BTreeMap<String, u64> {
        self.reasons
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// Wait (at most `within`) until `ok`; panics saying `what` past it.
fn wait_until(what: &str, within: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sets its flag when dropped (on a panic too), so the phones stop.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// The digest decisions a replica's log (JSON lines) tells: for each of its starts that
/// decided `kind`, the period and the outcome (`Mails(1)`, `AlreadyDecided`).
fn decisions(log: &Path, kind: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|l| l["fields"].clone())
        .filter(|f| f["message"] == "digest decided" && f["kind"] == kind)
        .map(|f| {
            let field = |name: &str| f[name].as_str().unwrap_or_default().to_string();
            (field("period"), field("outcome"))
        })
        .collect()
}

#[test]
fn rolling_restart_behind_nginx_loses_nothing() {
    let Some(nginx_bin) = nginx_binary() else {
        return;
    };
    if !smtp::smtp_available() {
        return;
    }
    let Some(db) = TestDb::postgres() else { return };
    let started = Instant::now();
    // Migrate, seed and create the accounts through an in-process server (mail off).
    let setup = spawn_app(db);
    let users = setup.create_fleet(&UNITS, PHONES_PER_UNIT);
    let url = setup.db.url().to_string();

    // Two replicas, the same audit key, every digest due from their start (in UTC: the
    // office's daily one from 00:00, the Minister's weekly one from Monday 00:00), mailed to
    // aiosmtpd.
    let work = TempDir::new("replicas");
    let mut sink = smtp::Sink::new();
    sink.start();
    let audit_key = work.0.join("audit.key").to_string_lossy().to_string();
    let sink_port = sink.port.to_string();
    let office = format!("ministry_office={OFFICE}");
    let minister = format!("minister={MINISTER}");
    let args = [
        "--db",
        url.as_str(),
        "--workers",
        "2",
        "--audit-key",
        audit_key.as_str(),
        "--log-format",
        "json",
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        sink_port.as_str(),
        "--smtp-tls",
        "plain",
        "--smtp-timeout-seconds",
        "5",
        "--mail-from",
        "Taskforce <taskforce@mic.gov.vn>",
        "--time-zone",
        "UTC",
        "--office-digest-at",
        "00:00",
        "--minister-summary-at",
        "mon 00:00",
        "--mail-retry-first-seconds",
        "1",
        "--mail-retry-max-seconds",
        "2",
        "--mail-round-seconds",
        "1",
        "--mail-recipient",
        office.as_str(),
        "--mail-recipient",
        minister.as_str(),
    ];
    let ports = [free_port(), free_port()];
    let logs: Vec<PathBuf> = (1..=2)
        .map(|i| work.0.join(format!("replica-{i}.log")))
        .collect();
    // Both start at once: both find the digests due at the same moment.
    let mut replicas: Vec<Server> = ports
        .iter()
        .zip(&logs)
        .map(|(port, log)| Server::spawn(*port, &args, &work.0, Some(log)))
        .collect();
    for r in &mut replicas {
        r.wait_ready(Duration::from_secs(60));
    }
    let nginx = Nginx::start(&nginx_bin, &ports);
    let proxy = Http { base: nginx.base() };
    eprintln!(
        "replicas on {ports:?}, nginx on {}, set up in {:?}",
        nginx.port,
        started.elapsed()
    );

    // The phones register and log in through nginx too.
    let mut phones: Vec<(Phone, &str)> = users
        .iter()
        .map(|(name, unit)| (proxy.phone(name, unit), *unit))
        .collect();
    let traffic = Traffic::default();
    let done = AtomicBool::new(false);
    let base = nginx.base();
    let mut restarts = Vec::new();
    let edits: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = phones
            .iter_mut()
            .enumerate()
            .map(|(i, (p, _))| {
                let (traffic, done, base) = (&traffic, &done, base.as_str());
                s.spawn(move || {
                    let agent = agent();
                    let tasks = u32::try_from(p.replica.doc().header().tasks.len())
                        .unwrap_or(1)
                        .max(1);
                    let (mut edits, mut round, mut after) = (0u64, 0u32, 0u32);
                    // Until the restarts are over, and some rounds after (bounded).
                    while after < ROUNDS_AFTER && round < 2000 {
                        if done.load(Ordering::SeqCst) {
                            after += 1;
                        }
                        for k in 0..EDITS_PER_ROUND {
                            p.status(
                                (i as u32 * 7 + round * EDITS_PER_ROUND + k) % tasks,
                                Status::ALL[((round + k) % 4) as usize],
                            );
                            edits += 1;
                        }
                        traffic.sync(&agent, p, base);
                        round += 1;
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    edits
                })
            })
            .collect();
        // The rolling restart, while the phones sync.
        let _stop = SetOnDrop(&done);
        wait_until("every phone's first syncs", Duration::from_secs(30), || {
            traffic.ok.load(Ordering::SeqCst) >= 2 * PHONES as u64
        });
        for (i, r) in replicas.iter_mut().enumerate() {
            let before = traffic.ok.load(Ordering::SeqCst);
            let (status, stopped_in) = r.terminate(Duration::from_secs(45));
            let at_stop = traffic.ok.load(Ordering::SeqCst);
            // Phones go on syncing through the other while it is down.
            wait_until(
                "syncs while a replica is down",
                Duration::from_secs(20),
                || traffic.ok.load(Ordering::SeqCst) >= at_stop + PHONES as u64,
            );
            let down = Instant::now();
            r.restart(Duration::from_secs(60));
            let started_in = down.elapsed();
            let while_down = traffic.ok.load(Ordering::SeqCst) - before;
            // Back in nginx's rotation (its failure is forgotten after fail_timeout = 1 s).
            let fresh = r.http();
            wait_until(
                "the restarted replica to serve syncs",
                Duration::from_secs(20),
                || fresh.metric("taskforce_sync_requests_total") >= PHONES as u64,
            );
            eprintln!(
                "replica {} (port {}): SIGTERM → {status} in {stopped_in:?}; started again \
                 in {started_in:?}; {while_down} syncs answered through nginx while it stopped \
                 and started",
                i + 1,
                r.port
            );
            restarts.push((status, stopped_in, while_down));
        }
        done.store(true, Ordering::SeqCst);
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| panic!("a phone panicked")))
            .collect()
    });
    let reasons = traffic.reasons();
    eprintln!(
        "phones: {} syncs answered, {} tries repeated, {} syncs failed after {TRIES} tries; \
         why tries failed: {reasons:#?}",
        traffic.ok.load(Ordering::SeqCst),
        traffic.retried.load(Ordering::SeqCst),
        traffic.failed.load(Ordering::SeqCst),
    );
    assert_eq!(
        traffic.failed.load(Ordering::SeqCst),
        0,
        "a phone's sync failed after its retries: {reasons:#?}"
    );
    for (status, _, while_down) in &restarts {
        assert!(
            status.success(),
            "a replica stopped by SIGTERM exited {status}"
        );
        assert!(*while_down > 0, "no sync overlapped a restart");
    }

    // Everyone syncs twice more (the second brings each phone the others' last edits).
    let a = agent();
    for _ in 0..2 {
        for (p, _) in &mut phones {
            assert!(traffic.sync(&a, p, &base), "a last sync failed");
        }
    }
    let token = proxy.token("vanphong");
    for unit in UNITS {
        let made: u64 = phones
            .iter()
            .zip(&edits)
            .filter(|((_, u), _)| *u == unit)
            .map(|(_, n)| n)
            .sum();
        let ops = proxy.document(&token, unit)["ops"].as_i64();
        assert_eq!(
            ops,
            i64::try_from(made).ok(),
            "{unit}: every edit stored once"
        );
        let of_unit: Vec<&Phone> = phones
            .iter()
            .filter(|(_, u)| *u == unit)
            .map(|(p, _)| p)
            .collect();
        let first = of_unit[0].canonical();
        assert!(
            of_unit.iter().all(|p| p.canonical() == first),
            "{unit}: the phones' replicas differ"
        );
        eprintln!("{unit}: {made} edits, {ops:?} operations on the server");
    }

    // Both replicas served syncs through nginx; what nginx passed on to the next one.
    let log = access_log(&nginx.file("access.log"));
    let syncs: Vec<&Proxied> = log
        .iter()
        .filter(|r| r.request.starts_with("POST /api/v1/sync "))
        .collect();
    let mut served: BTreeMap<String, u64> = BTreeMap::new();
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    for r in &syncs {
        *statuses.entry(r.status).or_default() += 1;
        if r.status == 200
            && let Some(last) = r.upstreams.last()
        {
            *served.entry(last.clone()).or_default() += 1;
        }
    }
    let passed_on: Vec<String> = syncs
        .iter()
        .filter(|r| r.upstreams.len() > 1)
        .map(|r| format!("{:?} {:?} → {}", r.upstreams, r.upstream_statuses, r.status))
        .collect();
    let error_log = nginx.file("error.log");
    let count = |what: &str| error_log.lines().filter(|l| l.contains(what)).count();
    let (refused, closed) = (count("Connection refused"), count("prematurely closed"));
    let other: Vec<&str> = error_log
        .lines()
        .filter(|l| l.contains("[error]") || l.contains("[crit]") || l.contains("[alert]"))
        .filter(|l| !l.contains("Connection refused") && !l.contains("prematurely closed"))
        .collect();
    eprintln!(
        "nginx: {} sync requests, by status {statuses:?}, answered 200 by replica port \
         {served:?}; passed on to the other replica: {} ({passed_on:#?}); error.log: {refused} \
         connection refused, {closed} closed by a stopping replica before its answer, other \
         errors: {other:#?}",
        syncs.len(),
        passed_on.len(),
    );
    // nginx did route around a stopped replica: some sync it first tried on one was answered
    // by the other (a connection refused, or closed by the stopping replica).
    assert!(
        !passed_on.is_empty(),
        "no sync was passed on to the other replica while one was stopped"
    );
    for port in ports {
        let n = served.get(&port.to_string()).copied().unwrap_or(0);
        assert!(n > 0, "replica on {port} served no sync through nginx");
    }
    for r in &replicas {
        // Their counters started again with them: each served syncs after its restart.
        assert!(r.http().metric("taskforce_sync_requests_total") > 0);
    }

    // The digests: four starts (two replicas, twice each) found them due; one decided each,
    // queued it once and mailed it once.
    let kinds = ["office_digest", "minister_summary"];
    wait_until(
        "every start of every replica to decide the digests",
        Duration::from_secs(20),
        || {
            kinds
                .iter()
                .all(|kind| logs.iter().all(|l| decisions(l, kind).len() >= 2))
        },
    );
    for kind in kinds {
        let seen: Vec<Vec<(String, String)>> = logs.iter().map(|l| decisions(l, kind)).collect();
        eprintln!("{kind}: (period, outcome) of each start, per replica: {seen:?}");
        // A period is a day (a week for the summary): a test running over midnight sees two.
        let mut periods: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for (period, outcome) in seen.iter().flatten() {
            let e = periods.entry(period).or_default();
            if outcome.starts_with("Mails(") {
                e.0 += 1;
            } else {
                assert_eq!(outcome, "AlreadyDecided", "{kind} {period}: {seen:?}");
                e.1 += 1;
            }
        }
        for (period, (decided, _)) in &periods {
            assert_eq!(
                *decided, 1,
                "{kind} {period}: one replica's start decides it, the others find it decided: \
                 {seen:?}"
            );
            let one = |table: &str, column: &str| {
                setup.query_i64(&format!(
                    "SELECT COUNT(*) FROM {table} WHERE kind = '{kind}' AND {column}"
                ))
            };
            assert_eq!(
                one("mail_runs", &format!("period = '{period}'")),
                1,
                "{kind} {period}: decided once (mail_runs)"
            );
            assert_eq!(
                one(
                    "mail_outbox",
                    &format!("dedupe_key LIKE '{kind}:{period}:%'")
                ),
                1,
                "{kind} {period}: queued once (mail_outbox)"
            );
        }
        let all = |table: &str| {
            setup.query_i64(&format!(
                "SELECT COUNT(*) FROM {table} WHERE kind = '{kind}'"
            ))
        };
        let n = i64::try_from(periods.len()).unwrap_or(0);
        assert_eq!(all("mail_runs"), n, "{kind}: no other period decided");
        assert_eq!(all("mail_outbox"), n, "{kind}: nothing else queued");
    }
    let office_periods = logs
        .iter()
        .flat_map(|l| decisions(l, "office_digest"))
        .map(|(p, _)| p)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    wait_until("the digests mailed", Duration::from_secs(20), || {
        setup.query_i64("SELECT COUNT(*) FROM mail_outbox WHERE state <> 'sent'") == 0
    });
    // A round or two more: nothing is mailed again.
    std::thread::sleep(Duration::from_secs(2));
    let mails = sink.messages();
    let recipients: Vec<Vec<String>> = mails.iter().map(rcpt_tos).collect();
    let to = |who: &str| {
        recipients
            .iter()
            .filter(|r| r.iter().any(|t| t == who))
            .count()
    };
    eprintln!("aiosmtpd: {} mails, to {recipients:?}", mails.len());
    assert_eq!(to(OFFICE), office_periods, "the office digest mailed once");
    assert_eq!(to(MINISTER), 1, "the Minister's summary mailed once");
    assert!(
        mails.iter().all(|m| m["message_id"]
            .as_str()
            .is_some_and(|id| id.starts_with('<'))),
        "every mail has a Message-ID: {mails:#?}"
    );
    drop(nginx);
    drop(replicas);
    eprintln!("rolling restart test: {:?}", started.elapsed());
}
