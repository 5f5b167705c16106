//! `taskforce serve`: the server.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use taskforce_server::{
    accounts,
    auth::Role,
    config::Config,
    db,
    startup::{build_state, start},
    telemetry::{self, memory},
};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A TOML config file (keys as in `Config`: db, bind, sync_body_limit, …).
    #[arg(long, env = "TASKFORCE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Database URL [default: sqlite://taskforce.db?mode=rwc].
    #[arg(long, env = "TASKFORCE_DB")]
    pub db: Option<String>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "TASKFORCE_BIND")]
    pub bind: Option<String>,
    /// HTTP worker threads [default: one per core].
    #[arg(long, env = "TASKFORCE_WORKERS")]
    pub workers: Option<usize>,
    /// A unit catalogue instead of the bundled one.
    #[arg(long, env = "TASKFORCE_CATALOGUE")]
    pub catalogue: Option<PathBuf>,
    /// The most memory, in MiB, decoded documents may take [default: 512].
    #[arg(long, env = "TASKFORCE_DOC_CACHE_MB")]
    pub doc_cache_mb: Option<usize>,
    /// Syncs that may wait for the writer; past them a sync is answered 503 [default: 1024].
    #[arg(long, env = "TASKFORCE_WRITER_QUEUE")]
    pub writer_queue: Option<usize>,
    /// A bearer token `/metrics` requires [default: none; then loopback callers only].
    #[arg(long, env = "TASKFORCE_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// A PEM certificate chain: serve HTTPS with it (needs --tls-key).
    #[arg(long, env = "TASKFORCE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "TASKFORCE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The audit key file that seals the op log (created, mode 0600, when absent; the same
    /// file on every replica) [default: taskforce-audit.key beside the SQLite file, or in the
    /// working directory].
    #[arg(long, env = "TASKFORCE_AUDIT_KEY")]
    pub audit_key: Option<PathBuf>,
    /// Login attempts per minute from one client address (an IPv6 /64) [default: 10].
    #[arg(long, env = "TASKFORCE_LOGIN_PER_ADDRESS_PER_MINUTE")]
    pub login_per_address_per_minute: Option<u32>,
    /// Login attempts at once from one client address [default: 20].
    #[arg(long, env = "TASKFORCE_LOGIN_PER_ADDRESS_BURST")]
    pub login_per_address_burst: Option<u32>,
    /// Devices (not revoked) one user may hold [default: 10].
    #[arg(long, env = "TASKFORCE_DEVICES_PER_USER")]
    pub devices_per_user: Option<u64>,
    /// Log lines as text or as JSON lines [default: text].
    #[arg(long, env = "TASKFORCE_LOG_FORMAT", value_enum)]
    pub log_format: Option<taskforce_server::config::LogFormat>,
    /// Also create demo accounts (one per role, for a few units) and print their passwords.
    #[arg(long)]
    pub demo: bool,
    #[command(flatten)]
    pub mail: MailArgs,
}

/// Mail settings (the config file's `[mail]` table; each flag overrides its key).
#[derive(Debug, Args)]
pub struct MailArgs {
    /// The SMTP server; unset: no mail is sent.
    #[arg(long, env = "TASKFORCE_SMTP_HOST")]
    pub smtp_host: Option<String>,
    /// [default: 587 for starttls, 465 for tls, 25 for plain].
    #[arg(long, env = "TASKFORCE_SMTP_PORT")]
    pub smtp_port: Option<u16>,
    /// starttls, tls, or plain (to a relay on this machine only) [default: starttls].
    #[arg(long, env = "TASKFORCE_SMTP_TLS")]
    pub smtp_tls: Option<String>,
    #[arg(long, env = "TASKFORCE_SMTP_USERNAME")]
    pub smtp_username: Option<String>,
    #[arg(long, env = "TASKFORCE_SMTP_PASSWORD", hide_env_values = true)]
    pub smtp_password: Option<taskforce_server::config::Secret>,
    /// A PEM file of the CAs the SMTP server's certificate is checked against.
    #[arg(long, env = "TASKFORCE_SMTP_CA")]
    pub smtp_ca: Option<PathBuf>,
    /// How long one step of a delivery may wait for the SMTP server, in seconds (a whole
    /// delivery, five times this) [default: 60].
    #[arg(long, env = "TASKFORCE_SMTP_TIMEOUT_SECONDS")]
    pub smtp_timeout_seconds: Option<u64>,
    /// The sender: `Taskforce <taskforce@mic.gov.vn>`.
    #[arg(long, env = "TASKFORCE_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// The dashboard's address the mails link to [default: http:// and --bind].
    #[arg(long, env = "TASKFORCE_DASHBOARD_URL")]
    pub dashboard_url: Option<String>,
    /// The schedule's time zone [default: Asia/Ho_Chi_Minh].
    #[arg(long, env = "TASKFORCE_TIME_ZONE")]
    pub time_zone: Option<String>,
    /// The Ministry Office's daily digest, HH:MM [default: 07:30].
    #[arg(long, env = "TASKFORCE_OFFICE_DIGEST_AT")]
    pub office_digest_at: Option<String>,
    /// The unit leads' daily reminders, HH:MM [default: 08:00].
    #[arg(long, env = "TASKFORCE_UNIT_REMINDERS_AT")]
    pub unit_reminders_at: Option<String>,
    /// The Minister's weekly summary, DAY HH:MM [default: mon 08:00].
    #[arg(long, env = "TASKFORCE_MINISTER_SUMMARY_AT")]
    pub minister_summary_at: Option<String>,
    /// The first wait after a failed delivery, doubled each time, in seconds [default: 30].
    #[arg(long, env = "TASKFORCE_MAIL_RETRY_FIRST_SECONDS")]
    pub mail_retry_first_seconds: Option<u64>,
    /// The longest wait between deliveries of one mail, in seconds [default: 1800].
    #[arg(long, env = "TASKFORCE_MAIL_RETRY_MAX_SECONDS")]
    pub mail_retry_max_seconds: Option<u64>,
    /// A unit that has not reported for more than this many days is "silent" [default: 7].
    #[arg(long, env = "TASKFORCE_MAIL_SILENT_DAYS")]
    pub mail_silent_days: Option<i64>,
    /// 5xx refusals of one mail before it is given up [default: 3].
    #[arg(long, env = "TASKFORCE_MAIL_PERMANENT_ATTEMPTS")]
    pub mail_permanent_attempts: Option<u32>,
    /// The longest wait between the mail loop's rounds, in seconds [default: 20].
    #[arg(long, env = "TASKFORCE_MAIL_ROUND_SECONDS")]
    pub mail_round_seconds: Option<u64>,
    /// Days a sent mail is kept in the outbox [default: 90].
    #[arg(long, env = "TASKFORCE_MAIL_KEEP_SENT_DAYS")]
    pub mail_keep_sent_days: Option<i64>,
    /// A recipient, ROLE[/UNIT]=ADDRESS[:LANG] (ministry_office, minister, unit_lead/UNIT;
    /// vi or en); repeat it, or list them with `;` in the variable. Given, it replaces the
    /// file's recipients.
    #[arg(
        long = "mail-recipient",
        env = "TASKFORCE_MAIL_RECIPIENTS",
        value_delimiter = ';'
    )]
    pub mail_recipients: Vec<String>,
}

impl MailArgs {
    /// The flags over the file's (and the defaults') mail settings.
    pub fn apply(&self, m: &mut taskforce_server::config::mail::MailConfig) -> anyhow::Result<()> {
        fn set<T: Clone>(to: &mut T, from: Option<&T>) {
            if let Some(v) = from {
                *to = v.clone();
            }
        }
        fn some<T: Clone>(to: &mut Option<T>, from: Option<&T>) {
            if let Some(v) = from {
                *to = Some(v.clone());
            }
        }
        some(&mut m.smtp_host, self.smtp_host.as_ref());
        some(&mut m.smtp_port, self.smtp_port.as_ref());
        set(&mut m.smtp_tls, self.smtp_tls.as_ref());
        some(&mut m.smtp_username, self.smtp_username.as_ref());
        some(&mut m.smtp_password, self.smtp_password.as_ref());
        some(&mut m.smtp_ca, self.smtp_ca.as_ref());
        set(
            &mut m.smtp_timeout_seconds,
            self.smtp_timeout_seconds.as_ref(),
        );
        some(&mut m.from, self.mail_from.as_ref());
        some(&mut m.dashboard_url, self.dashboard_url.as_ref());
        set(&mut m.time_zone, self.time_zone.as_ref());
        set(&mut m.office_digest_at, self.office_digest_at.as_ref());
        set(&mut m.unit_reminders_at, self.unit_reminders_at.as_ref());
        set(
            &mut m.minister_summary_at,
            self.minister_summary_at.as_ref(),
        );
        set(
            &mut m.retry_first_seconds,
            self.mail_retry_first_seconds.as_ref(),
        );
        set(
            &mut m.retry_max_seconds,
            self.mail_retry_max_seconds.as_ref(),
        );
        set(&mut m.silent_days, self.mail_silent_days.as_ref());
        set(
            &mut m.permanent_attempts,
            self.mail_permanent_attempts.as_ref(),
        );
        set(&mut m.round_seconds, self.mail_round_seconds.as_ref());
        set(&mut m.keep_sent_days, self.mail_keep_sent_days.as_ref());
        let given: Vec<&String> = self
            .mail_recipients
            .iter()
            .filter(|r| !r.trim().is_empty())
            .collect();
        if !given.is_empty() {
            m.recipients = given
                .into_iter()
                .map(|r| taskforce_server::config::mail::RecipientConfig::parse_flag(r))
                .collect::<Result<_, _>>()
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        Ok(())
    }
}

fn config(args: &ServeArgs) -> anyhow::Result<Config> {
    let mut c = match &args.config {
        Some(p) => Config::from_file(p)?,
        None => Config::default(),
    };
    if let Some(db) = &args.db {
        c.db.clone_from(db);
    }
    if let Some(bind) = &args.bind {
        c.bind.clone_from(bind);
    }
    if args.workers.is_some() {
        c.workers = args.workers;
    }
    if let Some(mb) = args.doc_cache_mb {
        c.doc_cache_mb = mb;
    }
    if let Some(n) = args.writer_queue {
        c.writer_queue = n;
    }
    if let Some(t) = &args.metrics_token {
        c.metrics_token = Some(taskforce_server::config::Secret(t.clone()));
    }
    if args.catalogue.is_some() {
        c.catalogue.clone_from(&args.catalogue);
    }
    if let Some(n) = args.login_per_address_per_minute {
        c.login_per_address_per_minute = n;
    }
    if let Some(n) = args.login_per_address_burst {
        c.login_per_address_burst = n;
    }
    if let Some(n) = args.devices_per_user {
        c.devices_per_user = n;
    }
    if args.tls_cert.is_some() {
        c.tls_cert.clone_from(&args.tls_cert);
    }
    if args.tls_key.is_some() {
        c.tls_key.clone_from(&args.tls_key);
    }
    if args.audit_key.is_some() {
        c.audit_key.clone_from(&args.audit_key);
    }
    if let Some(f) = args.log_format {
        c.log_format = f;
    }
    args.mail.apply(&mut c.mail)?;
    Ok(c)
}

pub fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // Before any thread starts (decisions 25, 26).
    memory::limit_arenas();
    let config = config(&args)?;
    telemetry::init_tracing(config.log_format);
    memory::trim_periodically().context("starting the memory-trim thread")?;
    memory::purge_in_background();
    actix_web::rt::System::new().block_on(async move {
        let state = build_state(config).await?;
        if args.demo {
            demo_accounts(&state.db).await?;
        }
        let db_url = db::redact(&state.config.db);
        let scheme = if state.config.tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        let stopped = state.clone();
        let events = state.events.clone();
        let (server, addr) = start(state)?;
        taskforce_server::startup::stop_on_signals(&server, events)?;
        tracing::info!(%addr, db = %db_url, scheme, "taskforce is listening");
        println!("taskforce listening on {scheme}://{addr} (database {db_url})");
        let outcome = server.await.context("server stopped");
        // The mail loop's round under way ends (its delivery recorded) before the process does.
        taskforce_server::mail::wait_stopped(&stopped, std::time::Duration::from_secs(30));
        outcome
    })
}

/// One account per role, for a few units; passwords are random and printed once.
async fn demo_accounts(db: &sea_orm::DatabaseConnection) -> anyhow::Result<()> {
    /// Username, display name, role, memberships (unit, lead).
    type Demo = (
        &'static str,
        &'static str,
        Role,
        &'static [(&'static str, bool)],
    );
    let people: [Demo; 7] = [
        ("vanphong", "Văn phòng Bộ", Role::MinistryOffice, &[]),
        ("botruong", "Bộ trưởng", Role::Minister, &[]),
        ("admin", "Quản trị", Role::Admin, &[]),
        (
            "cucvt.lead",
            "Trưởng nhóm Cục Viễn thông",
            Role::Member,
            &[("cuc-vt", true)],
        ),
        (
            "cucvt.a",
            "Cán bộ Cục Viễn thông A",
            Role::Member,
            &[("cuc-vt", false)],
        ),
        (
            "cucvt.b",
            "Cán bộ Cục Viễn thông B",
            Role::Member,
            &[("cuc-vt", false)],
        ),
        (
            "viettel.a",
            "Đầu mối Viettel",
            Role::Member,
            &[("viettel", false)],
        ),
    ];
    println!("Demo accounts (tài khoản thử nghiệm):");
    for (username, name, role, units) in people {
        let mut bytes = [0u8; 9];
        getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let password: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let units: Vec<(String, bool)> =
            units.iter().map(|(u, l)| ((*u).to_string(), *l)).collect();
        match accounts::create_user(db, username, name, &password, role, &units, None).await {
            Ok(_) => println!("  {username:<12} {password}  ({})", role.as_str()),
            Err(taskforce_server::error::ApiError::Conflict(_)) => {
                println!(
                    "  {username:<12} (exists; `taskforce user passwd {username}` sets a new password)"
                );
            }
            Err(e) => return Err(anyhow::anyhow!("demo account {username}: {e}")),
        }
    }
    Ok(())
}
