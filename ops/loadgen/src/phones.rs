//! The phones' side: the HTTP transport that counts the sync bodies, the admin's API calls
//! (through the phone's own transport), and one phone's offline edits.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use anyhow::{Context, bail};
use rand::{Rng, rngs::StdRng, seq::IndexedRandom};
use taskforce_core::client::{Client, HttpTransport, Reply, Transport, TransportError};

use crate::args::Mix;

/// Counts the sync messages' bytes; everything else goes straight through.
#[derive(Debug)]
pub struct Counting {
    pub inner: HttpTransport,
    pub counters: Arc<Counters>,
    /// `--sync-route single`: the batch route answers 404 here, as a server without it.
    pub single: bool,
}

#[derive(Debug, Default)]
pub struct Counters {
    pub up: AtomicU64,
    pub down: AtomicU64,
    pub requests: AtomicU64,
    /// Sync answers 503 `overloaded` (the server's writer queue was full); the phone's
    /// `sync()` retries them as network errors.
    pub overloaded: AtomicU64,
}

impl Counters {
    /// (up, down, requests) so far.
    pub fn read(&self) -> (u64, u64, u64) {
        (
            self.up.load(Ordering::Relaxed),
            self.down.load(Ordering::Relaxed),
            self.requests.load(Ordering::Relaxed),
        )
    }

    /// Sync answers 503 so far.
    pub fn overloaded(&self) -> u64 {
        self.overloaded.load(Ordering::Relaxed)
    }
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
        self.counted(body, |body| self.inner.post_sync(token, actor, body))
    }
    /// The route the app's phones sync through (one request carrying all the unit's documents,
    /// the unit's documents listed in the answer); without it here they would fall back to
    /// `post_sync`, one document at a time, as against a server without the route.
    fn post_sync_batch(
        &self,
        token: &str,
        actor: u32,
        body: Vec<u8>,
    ) -> Result<Reply, TransportError> {
        if self.single {
            return Ok(Reply::no_batch_route());
        }
        self.counted(body, |body| self.inner.post_sync_batch(token, actor, body))
    }
}

impl Counting {
    /// A sync message sent through `send`, its bytes counted both ways.
    fn counted(
        &self,
        body: Vec<u8>,
        send: impl FnOnce(Vec<u8>) -> Result<Reply, TransportError>,
    ) -> Result<Reply, TransportError> {
        self.counters
            .up
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let reply = send(body)?;
        if reply.status == 503 {
            self.counters.overloaded.fetch_add(1, Ordering::Relaxed);
        }
        self.counters
            .down
            .fetch_add(reply.body.len() as u64, Ordering::Relaxed);
        Ok(reply)
    }
}

/// The admin's calls go through the phone's own HTTP transport.
pub fn api(
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
/// prefix: what it did for the load (snapshots, cache hits, copies, the cache's bytes). With
/// `TASKFORCE_METRICS_TOKEN` set, as the server's `/metrics` token (needed off the server's host).
pub fn server_metrics(http: &HttpTransport) -> anyhow::Result<BTreeMap<String, f64>> {
    let token = std::env::var("TASKFORCE_METRICS_TOKEN").ok();
    let reply = http.get("/metrics", token.as_deref()).context("/metrics")?;
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

/// Operations the server has merged into a unit's document of `directive`.
pub fn stored_ops(
    http: &HttpTransport,
    admin: &str,
    unit: &str,
    directive: &str,
) -> anyhow::Result<i64> {
    let (_, d) = api(
        http,
        &format!("/api/v1/units/{unit}/document?directive={directive}"),
        Some(admin),
        None,
    )?;
    Ok(d["ops"].as_i64().unwrap_or(0))
}

pub fn login(http: &HttpTransport, user: &str, password: &str) -> anyhow::Result<String> {
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

pub fn random_password() -> anyhow::Result<String> {
    let mut b = [0u8; 18];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// One phone's offline edits.
pub fn make_edits(
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
