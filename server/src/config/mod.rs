//! Server configuration: a typed struct with documented defaults, read from an optional TOML
//! file, then `TASKFORCE_*` environment variables, then command-line flags (each overriding
//! the one before).

pub mod mail;

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

/// Everything `taskforce serve` can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `sqlite://PATH?mode=rwc` or `postgres://…`. Default: `sqlite://taskforce.db?mode=rwc`.
    pub db: String,
    /// Address to listen on. Default: `127.0.0.1:8080`.
    pub bind: String,
    /// Largest sync body accepted, in bytes. Default: 8 MiB.
    pub sync_body_limit: usize,
    /// Largest JSON body accepted, in bytes. Default: 64 KiB.
    pub json_body_limit: usize,
    /// Largest call-record upload accepted, in bytes (streamed, never held: issue 23); a
    /// longer body is refused with 413 and nothing is recorded. Default: 4 GiB.
    pub cdr_upload_limit: u64,
    /// How long a login token lives, in hours. Default: 720 (30 days).
    pub token_ttl_hours: i64,
    /// HTTP worker threads. Default: the number of cores.
    pub workers: Option<usize>,
    /// A unit catalogue instead of the bundled one.
    pub catalogue: Option<PathBuf>,
    /// Decoded unit documents kept in memory between syncs (0 turns the cache off). Default:
    /// 1024, more than the directive's units.
    pub doc_cache_entries: usize,
    /// The most memory, in MiB, the decoded documents (and their recent changes) may take;
    /// the least recently used are dropped beyond it. Default: 512.
    pub doc_cache_mb: usize,
    /// A decoded document is kept whole (comments, reports and confirmations' details in
    /// memory) up to this estimate, in KiB; past it the server keeps only what it needs to
    /// write (decision 25). Default: 4096.
    pub doc_whole_kb: usize,
    /// Syncs that may wait for the sync writer (at least 1). A sync that finds this many
    /// already waiting is refused at once with 503 `overloaded` and `Retry-After`, which the
    /// phones retry, instead of queueing without bound. Default: 1024.
    pub writer_queue: usize,
    /// Devices one user may have registered and not revoked; registering another is refused
    /// (409 `quota_exceeded`) until one is revoked. Default: 10.
    pub devices_per_user: u64,
    /// Members one unit may have; adding another is refused (409 `quota_exceeded`). Default: 200.
    pub members_per_unit: u64,
    /// The shortest username a new account may have, in characters (at least 2). Default: 3.
    pub username_min_chars: usize,
    /// The longest username a new account may have, in characters (at most 64). Default: 64.
    pub username_max_chars: usize,
    /// The longest display name, in characters (control characters are always refused).
    /// Default: 128.
    pub display_name_max_chars: usize,
    /// Login attempts per minute from one client address (an IPv6 /64), sustained; a failed
    /// one costs four (`auth::limiter`). Default: 10.
    pub login_per_address_per_minute: u32,
    /// Login attempts from one client address at once. Default: 20.
    pub login_per_address_burst: u32,
    /// Take the client's address for the login limits from the last `X-Forwarded-For` entry
    /// (what the one reverse proxy in front of the server saw) instead of the peer's. Only
    /// behind a proxy that sets it: otherwise a client names any address it likes. Default: false.
    pub trust_forwarded_for: bool,
    /// The secret (at least 16 bytes) that signs login device tokens; every replica must have
    /// the same. Default: a random one kept in the database's `settings` table.
    pub login_secret: Option<Secret>,
    /// A PEM certificate chain: serve HTTPS (with `tls_key`) instead of plain HTTP.
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// A bearer token `/metrics` requires (`Authorization: Bearer …`). Unset: `/metrics`
    /// answers loopback callers only (an operator on the host, or a scraper beside it).
    pub metrics_token: Option<Secret>,
    /// The server's ed25519 audit key file, kept outside the database: it seals the op log
    /// (decision 32). Created (mode 0600) when absent; a file that cannot be read or is not a
    /// key stops the start. Every replica on one database must be given the same file.
    /// Default: [`default_audit_key`] of `db`.
    pub audit_key: Option<PathBuf>,
    /// Live-update streams (`GET /api/v1/events`: the dashboard's pages, anyone following
    /// along) one server process keeps open at once; one more is answered 503 `overloaded`
    /// with `Retry-After`. Default: 1000.
    pub live_streams: usize,
    /// Live-update streams one account may keep open at once on one server process (its
    /// tabs, its phones); one more is answered 429. Default: 8.
    pub live_streams_per_user: usize,
    /// The longest a live-update stream stays open, in seconds; the browser then opens a new
    /// one, to whichever replica the balancer picks (streams spread again after a restart).
    /// Default: 600.
    pub live_stream_seconds: u64,
    /// Seconds between a live-update stream's keep-alive lines; each also checks again that
    /// its sign-in is still valid and which units it may read, and ends the stream when not.
    /// Default: 15.
    pub live_heartbeat_seconds: u64,
    /// Log lines as `text` (readable) or `json` (one object per line, with each request's
    /// `request_id`, for a log collector). Default: `text`.
    pub log_format: LogFormat,
    /// Mail: the SMTP server, the schedule of digests and reminders, the recipients
    /// (`[mail]`, issue 22); checked at start by [`mail::MailSettings::check`].
    pub mail: mail::MailConfig,
}

/// How log lines are written (`log_format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event (coloured on a terminal).
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `fields`, the current `span` and every
    /// open `spans` with their fields: a request's `request_id`, method, route, status), for a
    /// log collector.
    Json,
}

/// The audit key file's name when none is configured.
pub const AUDIT_KEY_FILE: &str = "taskforce-audit.key";

/// The file of an SQLite database URL (`sqlite://PATH?…` or `sqlite:PATH`), `None` for
/// PostgreSQL, an in-memory database or no file at all.
pub fn sqlite_file(url: &str) -> Option<&Path> {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .and_then(|rest| rest.split('?').next())
        .filter(|f| !f.is_empty() && *f != ":memory:")
        .map(Path::new)
}

/// Where the audit key is kept by default: `taskforce-audit.key` next to the SQLite file of
/// `db`, or in the working directory for PostgreSQL (and an in-memory SQLite).
pub fn default_audit_key(db: &str) -> PathBuf {
    match sqlite_file(db).and_then(Path::parent) {
        Some(dir) => dir.join(AUDIT_KEY_FILE),
        None => PathBuf::from(AUDIT_KEY_FILE),
    }
}

impl Config {
    /// The audit key file: the configured one, else [`default_audit_key`].
    pub fn audit_key_path(&self) -> PathBuf {
        self.audit_key
            .clone()
            .unwrap_or_else(|| default_audit_key(&self.db))
    }
}

/// A configured secret: read like a string, never printed (not even in the message saying
/// it was not a string).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Secret;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a secret, as a string in quotes")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Secret, E> {
                Err(E::custom("a secret must be a string in quotes"))
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Secret, E> {
                Err(E::custom("a secret must be a string in quotes"))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Secret, E> {
                Err(E::custom("a secret must be a string in quotes"))
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Secret, E> {
                Err(E::custom("a secret must be a string in quotes"))
            }
        }
        d.deserialize_str(Visitor)
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            db: "sqlite://taskforce.db?mode=rwc".into(),
            bind: "127.0.0.1:8080".into(),
            sync_body_limit: 8 * 1024 * 1024,
            json_body_limit: 64 * 1024,
            cdr_upload_limit: 4 * 1024 * 1024 * 1024,
            token_ttl_hours: 720,
            workers: None,
            catalogue: None,
            doc_cache_entries: 1024,
            doc_cache_mb: 512,
            doc_whole_kb: 4096,
            writer_queue: 1024,
            devices_per_user: 10,
            members_per_unit: 200,
            username_min_chars: 3,
            username_max_chars: 64,
            display_name_max_chars: 128,
            login_per_address_per_minute: 10,
            login_per_address_burst: 20,
            trust_forwarded_for: false,
            login_secret: None,
            tls_cert: None,
            tls_key: None,
            metrics_token: None,
            audit_key: None,
            live_streams: 1000,
            live_streams_per_user: 8,
            live_stream_seconds: 600,
            live_heartbeat_seconds: 15,
            log_format: LogFormat::Text,
            mail: mail::MailConfig::default(),
        }
    }
}

impl Config {
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        // toml's own message quotes the line it stopped at, which may hold a password
        // (`smtp_pasword = "…"`, an unknown key): say where instead.
        toml::from_str(&text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            anyhow::anyhow!(
                "config {}{}: {}",
                path.display(),
                line.map(|l| format!(", line {l}")).unwrap_or_default(),
                e.message()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_does_not_read_is_named_by_line_without_quoting_it() {
        let dir = std::env::temp_dir().join(format!("taskforce-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let file = dir.join("taskforce.toml");
        std::fs::write(
            &file,
            "bind = \"0.0.0.0:8080\"\n[mail]\nsmtp_pasword = \"hunter2-secret\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let e = match Config::from_file(&file) {
            Ok(_) => panic!("a misspelt key was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains("line 3") && e.contains("smtp_pasword"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        std::fs::write(&file, "[mail]\nsmtp_password = 20240101\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let e = match Config::from_file(&file) {
            Ok(_) => panic!("a number as a password was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains("a secret must be a string in quotes"), "{e}");
        assert!(!e.contains("20240101"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The example configuration operators start from (`ops/deploy/taskforce.example.toml`)
    /// reads with this loader: every key it sets exists, with a value of the right type.
    #[test]
    fn the_example_configuration_reads() {
        let example =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../ops/deploy/taskforce.example.toml");
        let c = Config::from_file(&example).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.db, "sqlite:///var/lib/taskforce/taskforce.db?mode=rwc");
        let text = std::fs::read_to_string(&example).unwrap_or_else(|e| panic!("{e}"));
        let commented = text
            .lines()
            .filter(|l| l.trim_start().starts_with('#'))
            .count();
        assert!(
            commented > 100,
            "every setting explained: {commented} comment lines"
        );
    }

    #[test]
    fn the_writer_queue_defaults_to_1024_and_is_read_from_the_file() {
        assert_eq!(Config::default().writer_queue, 1024);
        let c: Config =
            toml::from_str("writer_queue = 8").unwrap_or_else(|e| panic!("writer_queue: {e}"));
        assert_eq!(c.writer_queue, 8);
        assert_eq!(c.doc_cache_entries, 1024, "the others keep their defaults");
    }

    #[test]
    fn tls_and_login_settings_are_read_from_the_file_and_the_secret_never_printed() {
        let c: Config = toml::from_str(
            "tls_cert = \"c.pem\"\ntls_key = \"k.pem\"\nlogin_secret = \"s3cret-s3cret-s3cret\"\n\
             login_per_address_burst = 50\ntrust_forwarded_for = true",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.tls_cert.as_deref(), Some(Path::new("c.pem")));
        assert_eq!(c.tls_key.as_deref(), Some(Path::new("k.pem")));
        assert_eq!(c.login_per_address_burst, 50);
        assert_eq!(c.login_per_address_per_minute, 10);
        assert!(c.trust_forwarded_for);
        assert_eq!(
            c.login_secret.as_ref().map(|s| s.0.as_str()),
            Some("s3cret-s3cret-s3cret")
        );
        assert!(!format!("{c:?}").contains("s3cret"), "{c:?}");
    }

    #[test]
    fn the_audit_key_defaults_to_beside_the_sqlite_file_else_the_working_directory() {
        assert_eq!(
            default_audit_key("sqlite:///var/lib/tf/taskforce.db?mode=rwc"),
            Path::new("/var/lib/tf/taskforce-audit.key")
        );
        assert_eq!(
            default_audit_key("sqlite://taskforce.db?mode=rwc"),
            Path::new("taskforce-audit.key")
        );
        assert_eq!(
            default_audit_key("postgres://tf@db/taskforce"),
            Path::new("taskforce-audit.key")
        );
        assert_eq!(
            default_audit_key("sqlite::memory:"),
            Path::new("taskforce-audit.key")
        );
        let c: Config =
            toml::from_str("audit_key = \"/etc/tf/audit.key\"").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.audit_key_path(), Path::new("/etc/tf/audit.key"));
    }
}
