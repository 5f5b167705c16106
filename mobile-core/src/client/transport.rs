//! How the client reaches the server: a small trait, with HTTP (ureq) as the real one.

use std::time::Duration;

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
}

/// HTTP(S) to a taskforce server.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    base: String,
    agent: ureq::Agent,
}

impl HttpTransport {
    pub fn new(base: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .timeout_connect(Some(Duration::from_secs(10)))
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
        let req = self
            .agent
            .post(&format!("{}/api/v1/sync", self.base))
            .header("Authorization", &format!("Bearer {token}"))
            .header("X-Taskforce-Device", &actor.to_string())
            .header("Content-Type", "application/octet-stream");
        Self::read(req.send(&body[..]))
    }
}
