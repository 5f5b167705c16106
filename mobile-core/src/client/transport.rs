//! How the client reaches the server: a small trait, with HTTP(S) (ureq, rustls on ring) as
//! the real one.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use ureq::{
    config::AutoHeaderValue,
    tls::{Certificate, PemItem, RootCerts, TlsConfig, TlsProvider, parse_pem},
    unversioned::{
        resolver::DefaultResolver,
        transport::{
            self as wire, Buffers, ConnectionDetails, Connector, NextTimeout, RustlsConnector,
            TcpConnector,
        },
    },
};

/// What can go wrong before the server answers.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct TransportError(pub String);

/// A server's answer: status and body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    /// `Retry-After` in seconds, when the server asks to be left alone for a while (503).
    pub retry_after: Option<u64>,
}

/// The most bytes an answer may unpack to: the largest message either side accepts
/// (`wire::MAX_MESSAGE_BYTES`) and room for its frame. Counted after gzip is undone, so a
/// hostile server's small compressed answer cannot fill the phone's memory.
pub const ANSWER_LIMIT: u64 = crate::sync::wire::MAX_MESSAGE_BYTES as u64 + (1 << 20);

/// The most bytes of an error answer read as JSON (the server's are a few hundred): a larger
/// one reads as no JSON, so a hostile one cannot become a huge tree of values.
pub const ERROR_JSON_LIMIT: usize = 64 * 1024;

impl Reply {
    /// The 404 a server without `POST /api/v1/sync/batch` answers there: the client then syncs
    /// one document at a time.
    pub fn no_batch_route() -> Self {
        Self {
            status: 404,
            body: br#"{"error":"not_found","message":"no batch sync here"}"#.to_vec(),
            retry_after: None,
        }
    }

    /// The body as JSON (`Null` when it is not JSON, or an error answer of more than
    /// [`ERROR_JSON_LIMIT`] bytes).
    pub fn json(&self) -> serde_json::Value {
        if !(200..300).contains(&self.status) && self.body.len() > ERROR_JSON_LIMIT {
            return serde_json::Value::Null;
        }
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

pub trait Transport: Send + Sync + std::fmt::Debug {
    fn get(&self, path: &str, token: Option<&str>) -> Result<Reply, TransportError>;
    fn post_json(
        &self,
        path: &str,
        token: Option<&str>,
        body: &serde_json::Value,
    ) -> Result<Reply, TransportError>;
    /// `POST /api/v1/sync` with the device header.
    fn post_sync(&self, token: &str, actor: u32, body: Vec<u8>) -> Result<Reply, TransportError>;
    /// `POST /api/v1/sync/batch` with the device header: every document in one round trip.
    /// By default 404, as a server without the batch route answers: the client then syncs
    /// one document at a time with [`Transport::post_sync`].
    fn post_sync_batch(
        &self,
        token: &str,
        actor: u32,
        body: Vec<u8>,
    ) -> Result<Reply, TransportError> {
        let _ = (token, actor, body);
        Ok(Reply::no_batch_route())
    }
}

/// How long a request may take in all by default.
const TIMEOUT: Duration = Duration::from_secs(60);

/// HTTP(S) to a taskforce server.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    base: String,
    agent: ureq::Agent,
}

/// The bytes a transport sent and received on its TCP connections: HTTP headers, bodies and
/// (over HTTPS) TLS records, as they crossed the wire (the load generator's figures).
#[derive(Debug, Default)]
pub struct WireBytes {
    sent: AtomicU64,
    received: AtomicU64,
}

impl WireBytes {
    /// (sent, received) so far.
    pub fn read(&self) -> (u64, u64) {
        (
            self.sent.load(Ordering::Relaxed),
            self.received.load(Ordering::Relaxed),
        )
    }
}

/// Puts a [`Counted`] around each TCP connection, below TLS.
#[derive(Debug)]
struct CountingConnector(Arc<WireBytes>);

impl<In: wire::Transport> Connector<In> for CountingConnector {
    type Out = Counted<In>;

    fn connect(
        &self,
        _: &ConnectionDetails<'_>,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        Ok(chained.map(|inner| Counted {
            inner,
            bytes: self.0.clone(),
        }))
    }
}

/// A connection whose bytes are counted: what is handed to the socket, and what the socket
/// appends to the input buffer.
#[derive(Debug)]
struct Counted<T> {
    inner: T,
    bytes: Arc<WireBytes>,
}

impl<T: wire::Transport> wire::Transport for Counted<T> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.bytes.sent.fetch_add(amount as u64, Ordering::Relaxed);
        self.inner.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let before = self.inner.buffers().input().len();
        let result = self.inner.await_input(timeout);
        let after = self.inner.buffers().input().len();
        self.bytes
            .received
            .fetch_add(after.saturating_sub(before) as u64, Ordering::Relaxed);
        result
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

impl HttpTransport {
    /// HTTP, or HTTPS trusting the public roots (Mozilla's, `webpki-roots`).
    pub fn new(base: &str) -> Self {
        Self::with_tls(base, TlsConfig::default(), TIMEOUT)
    }

    /// As [`Self::new`], a request given up after `timeout` instead of a minute (a network
    /// known to stall; tests).
    pub fn with_timeout(base: &str, timeout: Duration) -> Self {
        Self::with_tls(base, TlsConfig::default(), timeout)
    }

    /// HTTPS trusting the public roots and the certificates of `ca_pem` as well (a private
    /// CA, or a test's): refused when `ca_pem` holds no certificate or one that does not parse.
    pub fn with_extra_ca(base: &str, ca_pem: &[u8]) -> Result<Self, TransportError> {
        let bad = |e: ureq::Error| TransportError(format!("the extra CA: {e}"));
        let mut extra = Vec::new();
        for item in parse_pem(ca_pem) {
            if let PemItem::Certificate(c) = item.map_err(bad)? {
                extra.push(c);
            }
        }
        if extra.is_empty() {
            return Err(TransportError(
                "the extra CA holds no PEM certificate".into(),
            ));
        }
        let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|c| Certificate::from_der(c.as_ref()))
            .chain(extra);
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .root_certs(RootCerts::from(roots))
            .build();
        Ok(Self::with_tls(base, tls, TIMEOUT))
    }

    /// As [`Self::new`], every byte on its connections counted in `bytes` (headers and
    /// TLS included). Direct connections only: no `HTTPS_PROXY` (the load generator's).
    /// `gzip`: ask for gzip-compressed answers, as every other transport does; `false`
    /// measures the same work uncompressed.
    pub fn counting(base: &str, bytes: Arc<WireBytes>, gzip: bool) -> Self {
        Self::build(base, TlsConfig::default(), TIMEOUT, Some((bytes, gzip)))
    }

    fn with_tls(base: &str, tls: TlsConfig, timeout: Duration) -> Self {
        Self::build(base, tls, timeout, None)
    }

    fn build(
        base: &str,
        tls: TlsConfig,
        timeout: Duration,
        counted: Option<(Arc<WireBytes>, bool)>,
    ) -> Self {
        // Answers come gzip-compressed when the server offers it (`Accept-Encoding: gzip`,
        // ureq's default with its `gzip` feature); unpacked, they are held to
        // `ANSWER_LIMIT`, which ureq counts after decoding.
        let plain = matches!(counted, Some((_, false)));
        let config = ureq::Agent::config_builder()
            .accept_encoding(if plain {
                AutoHeaderValue::None
            } else {
                AutoHeaderValue::Default
            })
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout.min(Duration::from_secs(10))))
            .tls_config(tls)
            .build();
        let agent = match counted {
            // ureq's own chain (TCP, then TLS when the URL is https), the counter between.
            Some((bytes, _)) => ureq::Agent::with_parts(
                config,
                ().chain(TcpConnector::default())
                    .chain(CountingConnector(bytes))
                    .chain(RustlsConnector::default()),
                DefaultResolver::default(),
            ),
            None => config.into(),
        };
        Self {
            base: base.trim_end_matches('/').to_string(),
            agent,
        }
    }

    fn read(
        resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Reply, TransportError> {
        let mut resp = resp.map_err(|e| TransportError(e.to_string()))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("Retry-After")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let body = resp
            .body_mut()
            .with_config()
            .limit(ANSWER_LIMIT)
            .read_to_vec()
            .map_err(|e| TransportError(e.to_string()))?;
        Ok(Reply {
            status,
            body,
            retry_after,
        })
    }
}

impl Transport for HttpTransport {
    fn get(&self, path: &str, token: Option<&str>) -> Result<Reply, TransportError> {
        let mut req = self.agent.get(&format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        Self::read(req.call())
    }

    fn post_json(
        &self,
        path: &str,
        token: Option<&str>,
        body: &serde_json::Value,
    ) -> Result<Reply, TransportError> {
        let mut req = self.agent.post(&format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        Self::read(req.send_json(body))
    }

    fn post_sync(&self, token: &str, actor: u32, body: Vec<u8>) -> Result<Reply, TransportError> {
        self.post_binary("/api/v1/sync", token, actor, body)
    }

    fn post_sync_batch(
        &self,
        token: &str,
        actor: u32,
        body: Vec<u8>,
    ) -> Result<Reply, TransportError> {
        self.post_binary("/api/v1/sync/batch", token, actor, body)
    }
}

impl HttpTransport {
    fn post_binary(
        &self,
        path: &str,
        token: &str,
        actor: u32,
        body: Vec<u8>,
    ) -> Result<Reply, TransportError> {
        let req = self
            .agent
            .post(&format!("{}{path}", self.base))
            .header("Authorization", &format!("Bearer {token}"))
            .header("X-Taskforce-Device", &actor.to_string())
            .header("Content-Type", "application/octet-stream");
        Self::read(req.send(&body[..]))
    }
}

#[cfg(test)]
mod tests {
    use std::{
        io::{Read, Write},
        net::TcpListener,
    };

    use super::*;

    /// A one-request HTTP server on a real socket: what it read, and the answer it wrote.
    fn serve_once(
        answer: impl AsRef<[u8]> + Send + 'static,
    ) -> (String, std::thread::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e:?}"));
        let base = format!(
            "http://{}",
            listener
                .local_addr()
                .unwrap_or_else(|e| panic!("addr: {e:?}"))
        );
        let handle = std::thread::spawn(move || {
            let (mut s, _) = listener
                .accept()
                .unwrap_or_else(|e| panic!("accept: {e:?}"));
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            // The request: headers, then the 5-byte body the test sends.
            while !got.windows(4).any(|w| w == b"\r\n\r\n") || !got.ends_with(b"hello") {
                let n = s.read(&mut buf).unwrap_or_else(|e| panic!("read: {e:?}"));
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            // The client may hang up early (an answer it refuses): not the test's failure.
            let _ = s.write_all(answer.as_ref());
            got
        });
        (base, handle)
    }

    #[test]
    fn counting_sees_the_bytes_on_the_wire_headers_included() {
        const ANSWER: &[u8] =
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
        let (base, server) = serve_once(ANSWER);
        let bytes = Arc::new(WireBytes::default());
        let t = HttpTransport::counting(&base, bytes.clone(), true);
        let reply = t
            .post_sync("tok", 7, b"hello".to_vec())
            .unwrap_or_else(|e| panic!("reply: {e:?}"));
        assert_eq!((reply.status, &reply.body[..]), (200, &b"ok"[..]));
        let request = server.join().unwrap_or_else(|e| panic!("server: {e:?}"));
        let (sent, received) = bytes.read();
        assert_eq!(sent, request.len() as u64, "every byte the server read");
        assert_eq!(received, ANSWER.len() as u64, "every byte the server wrote");
        // Headers counted, not only the bodies.
        assert!(sent > 100 && received > 2, "{sent} {received}");
    }

    /// The phone's transport asks for gzip-compressed answers; the load generator's plain one
    /// (`counting(.., false)`) does not, and the counting one with `true` does.
    #[test]
    fn transports_ask_for_gzip_unless_told_not_to() {
        const ANSWER: &[u8] =
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
        let asked_by = |t: &dyn Fn(&str) -> HttpTransport, batch: bool| {
            let (base, server) = serve_once(ANSWER);
            let t = t(&base);
            let reply = if batch {
                t.post_sync_batch("tok", 7, b"hello".to_vec())
            } else {
                t.post_sync("tok", 7, b"hello".to_vec())
            };
            reply.unwrap_or_else(|e| panic!("reply: {e:?}"));
            let request = server.join().unwrap_or_else(|e| panic!("server: {e:?}"));
            String::from_utf8_lossy(&request)
                .to_ascii_lowercase()
                .lines()
                .any(|l| l.starts_with("accept-encoding:") && l.contains("gzip"))
        };
        let asked = |t: &dyn Fn(&str) -> HttpTransport| asked_by(t, false) && asked_by(t, true);
        let bytes = Arc::new(WireBytes::default());
        assert!(asked(&|b| HttpTransport::new(b)), "the phone's");
        assert!(asked(&|b| HttpTransport::counting(b, bytes.clone(), true)));
        let plain = |b: &str| HttpTransport::counting(b, bytes.clone(), false);
        assert!(!asked_by(&plain, false) && !asked_by(&plain, true));
    }

    /// A hostile server's gzip answer that unpacks past the limit (17 MiB of zeros in some
    /// 17 kB) is refused, not held; one within it is read whole.
    #[test]
    fn a_compressed_answer_is_held_to_the_limit_unpacked() {
        let answer = |unpacked: usize| {
            let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            z.write_all(&vec![0u8; unpacked])
                .unwrap_or_else(|e| panic!("gzip: {e:?}"));
            let body = z.finish().unwrap_or_else(|e| panic!("gzip: {e:?}"));
            let mut a = format!(
                "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            a.extend_from_slice(&body);
            a
        };
        let over = answer(ANSWER_LIMIT as usize + 1);
        assert!(over.len() < 64 * 1024, "a small answer on the wire");
        let (base, server) = serve_once(over);
        let t = HttpTransport::new(&base);
        let refused = t.post_sync("tok", 7, b"hello".to_vec());
        assert!(refused.is_err(), "{:?}", refused.map(|r| r.body.len()));
        let _ = server.join();
        let (base, server) = serve_once(answer(1 << 20));
        let reply = HttpTransport::new(&base)
            .post_sync("tok", 7, b"hello".to_vec())
            .unwrap_or_else(|e| panic!("reply: {e:?}"));
        assert_eq!(reply.body.len(), 1 << 20);
        let _ = server.join();
    }

    /// An error answer is read as JSON only when it is small.
    #[test]
    fn a_large_error_answer_reads_as_no_json() {
        let small = Reply {
            status: 409,
            body: br#"{"error":"gap"}"#.to_vec(),
            retry_after: None,
        };
        assert_eq!(small.json()["error"], "gap");
        let big = format!("[{}0]", "0,".repeat(ERROR_JSON_LIMIT)).into_bytes();
        let large = Reply {
            status: 500,
            body: big.clone(),
            retry_after: None,
        };
        assert!(large.json().is_null());
        // A success's body is read whatever its size (the limit on it is `ANSWER_LIMIT`).
        let ok = Reply {
            status: 200,
            body: big,
            retry_after: None,
        };
        assert!(ok.json().is_array());
    }
}
