//! How the client reaches the server: a small trait, with HTTP(S) (ureq, rustls on ring) as
//! the real one.

use std::time::Duration;

use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig, TlsProvider, parse_pem};

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

impl Reply {
    pub fn json(&self) -> serde_json::Value {
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
        Ok(Reply {
            status: 404,
            body: br#"{"error":"not_found","message":"no batch sync here"}"#.to_vec(),
            retry_after: None,
        })
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

    fn with_tls(base: &str, tls: TlsConfig, timeout: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout.min(Duration::from_secs(10))))
            .tls_config(tls)
            .build()
            .into();
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
            .limit(64 * 1024 * 1024)
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
