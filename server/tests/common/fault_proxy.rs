//! A fault-injecting HTTP proxy between phones and a server (tokio, its own runtime on a
//! thread of its own): each sync request (`POST /api/v1/sync`) meets, by a seeded schedule,
//! one of the faults of a real network or a failing server — its answer cut mid-body, a
//! stall the phone's timeout ends, a reset connection, a 500 or a 503 answered by the proxy
//! itself before forwarding, or the request forwarded and stored and then its answer dropped
//! — or is passed through. Every other request is passed through. Faults are counted by kind
//! as they happened, not as drawn: a fault that forwards (`CutBody`, `StoredThenDropped`) only
//! when the server answered 200 (it stored the sync), the others once applied to the client's
//! connection.
//!
//! Each client connection carries one request: the proxy forwards it on a fresh upstream
//! connection with `Connection: close` and relays the answer as it came, so a client that
//! keeps connections alive simply opens a new one next time.
#![allow(dead_code)]

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use rand::{Rng, SeedableRng, rngs::StdRng};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// What the proxy does to one sync request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// Forwarded; the answer's head and half its body relayed, then the connection closed.
    CutBody,
    /// Not forwarded; the connection held open until the client gives up (its timeout).
    Stall,
    /// Not forwarded; the connection reset (RST).
    Reset,
    /// Not forwarded; `500 internal` answered by the proxy.
    Answer500,
    /// Not forwarded; `503 overloaded` answered by the proxy (`Retry-After: 1`).
    Answer503,
    /// Forwarded, stored by the server, and the answer dropped: the connection reset.
    StoredThenDropped,
}

impl Fault {
    pub const ALL: [Fault; 6] = [
        Fault::CutBody,
        Fault::Stall,
        Fault::Reset,
        Fault::Answer500,
        Fault::Answer503,
        Fault::StoredThenDropped,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// Which faults the proxy injects, how often, with which seed.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub seed: u64,
    /// The chance of a fault per sync request (0 passes everything through).
    pub rate: f64,
    /// The faults drawn from, with equal chances.
    pub faults: Vec<Fault>,
    /// How long a stalled connection is held (longer than the client's timeout).
    pub stall: Duration,
}

impl Schedule {
    pub fn none() -> Self {
        Schedule {
            seed: 0,
            rate: 0.0,
            faults: Vec::new(),
            stall: Duration::from_secs(5),
        }
    }
}

struct Shared {
    upstream: Mutex<SocketAddr>,
    rng: Mutex<StdRng>,
    schedule: Mutex<Schedule>,
    injected: [AtomicU64; 6],
    forwarded: AtomicU64,
    /// Upstream could not be reached (a server down): the client's connection closed.
    unreachable: AtomicU64,
    stop: AtomicBool,
}

/// A running proxy; stopped when dropped.
pub struct FaultProxy {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl FaultProxy {
    pub fn start(upstream: SocketAddr, schedule: Schedule) -> Self {
        let shared = Arc::new(Shared {
            upstream: Mutex::new(upstream),
            rng: Mutex::new(StdRng::seed_from_u64(schedule.seed)),
            schedule: Mutex::new(schedule),
            injected: Default::default(),
            forwarded: AtomicU64::new(0),
            unreachable: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (shutdown, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let inner = shared.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("proxy runtime: {e}"));
            rt.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0")
                    .await
                    .unwrap_or_else(|e| panic!("proxy bind: {e}"));
                let _ = addr_tx.send(listener.local_addr());
                loop {
                    tokio::select! {
                        _ = &mut stopped => break,
                        accepted = listener.accept() => {
                            let Ok((client, _)) = accepted else { continue };
                            let shared = inner.clone();
                            tokio::spawn(async move { serve_one(shared, client).await });
                        }
                    }
                }
            });
            // Connections still stalled are dropped with the runtime.
            rt.shutdown_timeout(Duration::from_millis(100));
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("proxy did not start: {e}"))
            .unwrap_or_else(|e| panic!("proxy address: {e}"));
        FaultProxy {
            addr,
            shared,
            thread: Some(thread),
            shutdown: Some(shutdown),
        }
    }

    /// The base URL phones use.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Point the proxy at another server (a restarted one on a new port).
    pub fn set_upstream(&self, upstream: SocketAddr) {
        *lock(&self.shared.upstream) = upstream;
    }

    /// Change the schedule (its seed is not re-applied: the draws go on).
    pub fn set_schedule(&self, schedule: Schedule) {
        *lock(&self.shared.schedule) = schedule;
    }

    /// Faults injected so far, by kind, as they happened (see the module's head).
    pub fn injected(&self) -> Vec<(Fault, u64)> {
        Fault::ALL
            .iter()
            .map(|f| (*f, self.shared.injected[f.index()].load(Ordering::SeqCst)))
            .collect()
    }

    pub fn injected_total(&self) -> u64 {
        self.injected().iter().map(|(_, n)| n).sum()
    }

    /// Requests relayed whole (answer included).
    pub fn forwarded(&self) -> u64 {
        self.shared.forwarded.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One request: its head (through the blank line) and its body.
async fn read_request(client: &mut TcpStream) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
        let n = client.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = buf.split_off(head_end);
    while body.len() < length {
        let n = client.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    // The head with `Connection: close` in place of any connection header.
    let mut out = String::new();
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        let is_conn = line
            .split_once(':')
            .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case("connection"));
        if !is_conn {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    Some((out.into_bytes(), body))
}

/// Forward one request on a fresh connection and read the whole answer.
async fn forward(upstream: SocketAddr, head: &[u8], body: &[u8]) -> Option<Vec<u8>> {
    let mut server = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(upstream))
        .await
        .ok()?
        .ok()?;
    server.write_all(head).await.ok()?;
    server.write_all(body).await.ok()?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), server.read_to_end(&mut answer))
        .await
        .ok()?
        .ok()?;
    (!answer.is_empty()).then_some(answer)
}

/// Close with RST: `SO_LINGER` of zero (which does not block: nothing is waited for).
#[allow(deprecated)]
fn reset(stream: TcpStream) {
    let _ = stream.set_linger(Some(Duration::ZERO));
    drop(stream);
}

/// The status code of an HTTP answer (`HTTP/1.1 200 OK…`).
fn status_of(answer: &[u8]) -> Option<u16> {
    let line = answer.split(|b| *b == b'\r').next()?;
    std::str::from_utf8(line)
        .ok()?
        .split(' ')
        .nth(1)?
        .parse()
        .ok()
}

fn own_answer(status: &str, code: &str, extra: &str) -> Vec<u8> {
    let body = format!(
        "{{\"error\":\"{code}\",\"message\":\"proxy: {status} (lỗi do bộ thử chèn vào / injected by the test proxy)\"}}"
    );
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

async fn serve_one(shared: Arc<Shared>, mut client: TcpStream) {
    let Some((head, body)) = read_request(&mut client).await else {
        return;
    };
    let is_sync = head.starts_with(b"POST /api/v1/sync ");
    let (fault, stall) = {
        let schedule = lock(&shared.schedule).clone();
        let mut rng = lock(&shared.rng);
        let fault = (is_sync && !schedule.faults.is_empty() && rng.random_bool(schedule.rate))
            .then(|| schedule.faults[rng.random_range(0..schedule.faults.len())]);
        (fault, schedule.stall)
    };
    let happened = |f: Fault| {
        shared.injected[f.index()].fetch_add(1, Ordering::SeqCst);
    };
    let upstream = *lock(&shared.upstream);
    match fault {
        Some(Fault::Stall) => {
            // Applied: the request read and the connection held.
            happened(Fault::Stall);
            tokio::time::sleep(stall).await;
            reset(client);
        }
        Some(Fault::Reset) => {
            reset(client);
            happened(Fault::Reset);
        }
        Some(Fault::Answer500) => {
            let sent = client
                .write_all(&own_answer("500 Internal Server Error", "internal", ""))
                .await;
            if sent.is_ok() {
                happened(Fault::Answer500);
            }
        }
        Some(Fault::Answer503) => {
            let sent = client
                .write_all(&own_answer(
                    "503 Service Unavailable",
                    "overloaded",
                    "Retry-After: 1\r\n",
                ))
                .await;
            if sent.is_ok() {
                happened(Fault::Answer503);
            }
        }
        Some(Fault::StoredThenDropped) => {
            // Forwarded and answered by the server: the answer never reaches the phone.
            let answer = forward(upstream, &head, &body).await;
            reset(client);
            match answer {
                Some(a) if status_of(&a) == Some(200) => happened(Fault::StoredThenDropped),
                Some(_) => {}
                None => {
                    shared.unreachable.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        Some(Fault::CutBody) => match forward(upstream, &head, &body).await {
            Some(answer) => {
                let body_at = find(&answer, b"\r\n\r\n").map_or(answer.len(), |i| i + 4);
                let cut = body_at + (answer.len() - body_at) / 2;
                let sent = client.write_all(&answer[..cut]).await;
                let _ = client.flush().await;
                reset(client);
                if sent.is_ok() && status_of(&answer) == Some(200) {
                    happened(Fault::CutBody);
                }
            }
            None => {
                shared.unreachable.fetch_add(1, Ordering::SeqCst);
                reset(client);
            }
        },
        None => match forward(upstream, &head, &body).await {
            Some(answer) => {
                let _ = client.write_all(&answer).await;
                let _ = client.shutdown().await;
                shared.forwarded.fetch_add(1, Ordering::SeqCst);
            }
            None => {
                shared.unreachable.fetch_add(1, Ordering::SeqCst);
                reset(client);
            }
        },
    }
}
