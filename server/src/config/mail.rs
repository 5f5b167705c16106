//! Mail settings (issue 22): the `[mail]` table of the config file, its environment variables
//! and flags, and the checked form the server runs with. Every setting is checked at start;
//! a wrong one stops the server with a message that names it (`mail.smtp_tls: …`).

use std::{path::PathBuf, time::Duration};

use chrono::{NaiveTime, Weekday};
use chrono_tz::Tz;
use lettre::message::Mailbox;
use serde::Deserialize;
use taskforce_core::directive::Catalogue;

use super::Secret;

/// The `[mail]` table as written: strings, checked by [`MailSettings::check`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// The SMTP server's host name. Unset: no mail is sent (digests can still be printed with
    /// `taskforce digest --now --dry-run`).
    pub smtp_host: Option<String>,
    /// Default: 587 for `starttls`, 465 for `tls`, 25 for `plain`.
    pub smtp_port: Option<u16>,
    /// `starttls` (the default), `tls` (TLS from the first byte), or `plain` (only to a
    /// loopback host: a relay on the same machine).
    pub smtp_tls: String,
    /// SMTP authentication (with `smtp_password`).
    pub smtp_username: Option<String>,
    pub smtp_password: Option<Secret>,
    /// A PEM file of the certificate authorities the SMTP server's certificate is checked
    /// against instead of the bundled Mozilla roots (a ministry's own CA).
    pub smtp_ca: Option<PathBuf>,
    /// The sender, `Taskforce <taskforce@mic.gov.vn>`; needed to send.
    pub from: Option<String>,
    /// The dashboard's address the mails link to. Default: `http://` and `bind`.
    pub dashboard_url: Option<String>,
    /// The time zone of the schedule. Default: `Asia/Ho_Chi_Minh`.
    pub time_zone: String,
    /// When the Ministry Office's daily digest is decided, `HH:MM`. Default: `07:30`.
    pub office_digest_at: String,
    /// When each unit lead's daily reminder is decided. Default: `08:00`.
    pub unit_reminders_at: String,
    /// When the Minister's weekly summary is decided, `DAY HH:MM`. Default: `mon 08:00`.
    pub minister_summary_at: String,
    /// A unit that has not reported for more than this many days is "silent". Default: 7.
    pub silent_days: i64,
    /// The first wait after an SMTP server was down or answered 4xx, doubled each time up to
    /// `retry_max_seconds`. Default: 30.
    pub retry_first_seconds: u64,
    /// Default: 1800.
    pub retry_max_seconds: u64,
    /// How long one step of a delivery may wait for the server (connecting, each answer); a
    /// whole delivery may take five times this. Default: 60.
    pub smtp_timeout_seconds: u64,
    /// A mail refused with 5xx this many times is given up and flagged `failed`. Default: 3.
    pub permanent_attempts: u32,
    /// The longest the mail loop waits between rounds (deciding what is due, delivering what
    /// waits); an urge wakes it at once. Default: 20.
    pub round_seconds: u64,
    /// Sent mails are kept this many days in the outbox, then deleted (at least 8: a sent
    /// urge's row is what says it was sent). Default: 90.
    pub keep_sent_days: i64,
    /// Who receives what.
    pub recipients: Vec<RecipientConfig>,
}

/// One recipient as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipientConfig {
    pub address: String,
    /// `ministry_office`, `minister` or `unit_lead` (with `unit`).
    pub role: String,
    pub unit: Option<String>,
    /// `vi` (the default) or `en`.
    pub language: Option<String>,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            smtp_host: None,
            smtp_port: None,
            smtp_tls: "starttls".into(),
            smtp_username: None,
            smtp_password: None,
            smtp_ca: None,
            from: None,
            dashboard_url: None,
            time_zone: "Asia/Ho_Chi_Minh".into(),
            office_digest_at: "07:30".into(),
            unit_reminders_at: "08:00".into(),
            minister_summary_at: "mon 08:00".into(),
            silent_days: taskforce_core::progress::REPORT_EVERY_DAYS,
            retry_first_seconds: 30,
            retry_max_seconds: 1800,
            smtp_timeout_seconds: 60,
            permanent_attempts: 3,
            round_seconds: 20,
            keep_sent_days: 90,
            recipients: Vec::new(),
        }
    }
}

impl RecipientConfig {
    /// A recipient as a flag or an environment variable gives it:
    /// `ROLE[/UNIT]=ADDRESS[:LANG]`, e.g. `unit_lead/cuc-vt=lead@cucvt.gov.vn:en`.
    pub fn parse_flag(s: &str) -> Result<Self, MailSettingError> {
        let bad = || MailSettingError {
            setting: "mail.recipients",
            message: format!("{s:?} is not ROLE[/UNIT]=ADDRESS[:LANG]"),
        };
        let (who, rest) = s.split_once('=').ok_or_else(bad)?;
        let (role, unit) = match who.split_once('/') {
            Some((r, u)) => (r, Some(u.trim().to_string())),
            None => (who, None),
        };
        let (address, language) = match rest.rsplit_once(':') {
            Some((a, l)) if matches!(l.trim(), "vi" | "en") => (a, Some(l.trim().to_string())),
            _ => (rest, None),
        };
        if address.trim().is_empty() {
            return Err(bad());
        }
        Ok(Self {
            address: address.trim().to_string(),
            role: role.trim().to_string(),
            unit,
            language,
        })
    }
}

/// A setting that cannot be used, named as in the config file.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{setting}: {message}")]
pub struct MailSettingError {
    pub setting: &'static str,
    pub message: String,
}

fn bad(setting: &'static str, message: impl Into<String>) -> MailSettingError {
    MailSettingError {
        setting,
        message: message.into(),
    }
}

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    StartTls,
    Tls,
    Plain,
}

/// The SMTP server to send through.
#[derive(Debug, Clone)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub credentials: Option<(String, Secret)>,
    /// PEM certificates of the CAs to trust instead of the bundled roots.
    pub ca_pem: Option<Vec<u8>>,
}

/// What a recipient receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientRole {
    /// The daily digest (and nothing else).
    MinistryOffice,
    /// The weekly summary.
    Minister,
    /// A unit's daily reminder and the Ministry Office's urges, at once.
    UnitLead(String),
}

/// A recipient's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Vi,
    En,
}

impl Language {
    pub fn code(self) -> &'static str {
        match self {
            Language::Vi => "vi",
            Language::En => "en",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Recipient {
    pub address: Mailbox,
    pub role: RecipientRole,
    pub language: Language,
}

/// The mail settings the server runs with, every one checked.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `None`: mail is not sent (nothing is decided either).
    pub smtp: Option<Smtp>,
    pub from: Mailbox,
    /// Without a trailing `/`.
    pub dashboard_url: String,
    pub time_zone: Tz,
    pub office_digest_at: NaiveTime,
    pub unit_reminders_at: NaiveTime,
    pub minister_summary_day: Weekday,
    pub minister_summary_at: NaiveTime,
    pub silent_days: i64,
    pub retry_first: Duration,
    pub retry_max: Duration,
    pub smtp_timeout: Duration,
    pub permanent_attempts: u32,
    pub round: Duration,
    pub keep_sent_days: i64,
    pub recipients: Vec<Recipient>,
}

fn time_of(setting: &'static str, s: &str) -> Result<NaiveTime, MailSettingError> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M")
        .map_err(|_| bad(setting, format!("{s:?} is not a time of day HH:MM (07:30)")))
}

fn mailbox(setting: &'static str, s: &str) -> Result<Mailbox, MailSettingError> {
    s.trim()
        .parse::<Mailbox>()
        .map_err(|e| bad(setting, format!("{s:?} is not a mail address: {e}")))
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl MailSettings {
    /// The settings of `c`, each checked (units against `catalogue`); `bind` is the server's
    /// address, the dashboard's default.
    pub fn check(
        c: &MailConfig,
        catalogue: &Catalogue,
        bind: &str,
    ) -> Result<Self, MailSettingError> {
        let tls = match c.smtp_tls.trim() {
            "starttls" => TlsMode::StartTls,
            "tls" => TlsMode::Tls,
            "plain" => TlsMode::Plain,
            other => {
                return Err(bad(
                    "mail.smtp_tls",
                    format!("{other:?} is not starttls, tls or plain"),
                ));
            }
        };
        let credentials = match (&c.smtp_username, &c.smtp_password) {
            (Some(u), Some(p)) if !u.is_empty() => Some((u.clone(), p.clone())),
            (None, None) => None,
            (Some(_), None) => {
                return Err(bad(
                    "mail.smtp_password",
                    "smtp_username is set without a password",
                ));
            }
            _ => {
                return Err(bad(
                    "mail.smtp_username",
                    "a password is set without a user name",
                ));
            }
        };
        let ca_pem = match &c.smtp_ca {
            None => None,
            Some(p) => {
                let pem = std::fs::read(p).map_err(|e| {
                    bad("mail.smtp_ca", format!("cannot read {}: {e}", p.display()))
                })?;
                if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                    return Err(bad(
                        "mail.smtp_ca",
                        format!("{} holds no PEM certificate", p.display()),
                    ));
                }
                lettre::transport::smtp::client::Certificate::from_pem(&pem).map_err(|e| {
                    bad(
                        "mail.smtp_ca",
                        format!("{} is not a PEM certificate: {e}", p.display()),
                    )
                })?;
                Some(pem)
            }
        };
        let smtp = match c.smtp_host.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(host) => {
                if host.contains(|ch: char| ch.is_whitespace() || ch == '/') {
                    return Err(bad(
                        "mail.smtp_host",
                        format!("{host:?} is not a host name"),
                    ));
                }
                if tls == TlsMode::Plain && !is_loopback(host) {
                    return Err(bad(
                        "mail.smtp_tls",
                        format!(
                            "plain sends mail and passwords in clear: only to a relay on this \
                             machine (localhost, 127.0.0.1, ::1), not to {host}"
                        ),
                    ));
                }
                let port = c.smtp_port.unwrap_or(match tls {
                    TlsMode::StartTls => 587,
                    TlsMode::Tls => 465,
                    TlsMode::Plain => 25,
                });
                if port == 0 {
                    return Err(bad("mail.smtp_port", "0 is not a port"));
                }
                Some(Smtp {
                    // `[::1]` as written in a URL; lettre takes the address itself.
                    host: host
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_string(),
                    port,
                    tls,
                    credentials,
                    ca_pem,
                })
            }
        };
        let from = match c.from.as_deref() {
            Some(f) => mailbox("mail.from", f)?,
            None if smtp.is_some() => {
                return Err(bad(
                    "mail.from",
                    "the sender's address is needed to send mail (Taskforce <taskforce@mic.gov.vn>)",
                ));
            }
            None => mailbox("mail.from", "Taskforce <taskforce@localhost>")?,
        };
        let dashboard_url = match &c.dashboard_url {
            Some(u) => {
                let u = u.trim().trim_end_matches('/');
                let rest = u
                    .strip_prefix("https://")
                    .or_else(|| u.strip_prefix("http://"));
                if rest.is_none_or(|r| r.is_empty() || r.contains(char::is_whitespace)) {
                    return Err(bad(
                        "mail.dashboard_url",
                        format!("{u:?} is not an http:// or https:// address"),
                    ));
                }
                u.to_string()
            }
            None => format!("http://{bind}"),
        };
        let time_zone = c.time_zone.trim().parse::<Tz>().map_err(|_| {
            bad(
                "mail.time_zone",
                format!("{:?} is not a time zone (Asia/Ho_Chi_Minh)", c.time_zone),
            )
        })?;
        let office_digest_at = time_of("mail.office_digest_at", &c.office_digest_at)?;
        let unit_reminders_at = time_of("mail.unit_reminders_at", &c.unit_reminders_at)?;
        let (day, at) = c
            .minister_summary_at
            .trim()
            .split_once(' ')
            .ok_or_else(|| {
                bad(
                    "mail.minister_summary_at",
                    format!("{:?} is not DAY HH:MM (mon 08:00)", c.minister_summary_at),
                )
            })?;
        let minister_summary_day = day.parse::<Weekday>().map_err(|_| {
            bad(
                "mail.minister_summary_at",
                format!("{day:?} is not a day of the week (mon … sun)"),
            )
        })?;
        let minister_summary_at = time_of("mail.minister_summary_at", at)?;
        if !(1..=365).contains(&c.silent_days) {
            return Err(bad(
                "mail.silent_days",
                format!("{} is not between 1 and 365", c.silent_days),
            ));
        }
        if c.retry_first_seconds == 0 || c.retry_max_seconds < c.retry_first_seconds {
            return Err(bad(
                "mail.retry_first_seconds",
                "must be at least 1 and at most retry_max_seconds",
            ));
        }
        if !(1..=600).contains(&c.smtp_timeout_seconds) {
            return Err(bad(
                "mail.smtp_timeout_seconds",
                format!("{} is not between 1 and 600", c.smtp_timeout_seconds),
            ));
        }
        if !(1..=3600).contains(&c.round_seconds) {
            return Err(bad(
                "mail.round_seconds",
                format!("{} is not between 1 and 3600", c.round_seconds),
            ));
        }
        // A sent urge's row is what says it was sent, for the week urges are looked at.
        if !(8..=3650).contains(&c.keep_sent_days) {
            return Err(bad(
                "mail.keep_sent_days",
                format!(
                    "{} is not between 8 (an urge's week, and a day) and 3650",
                    c.keep_sent_days
                ),
            ));
        }
        if c.permanent_attempts == 0 {
            return Err(bad("mail.permanent_attempts", "must be at least 1"));
        }
        let mut recipients = Vec::new();
        for r in &c.recipients {
            let address = mailbox("mail.recipients", &r.address)?;
            let role = match (r.role.trim(), &r.unit) {
                ("ministry_office", None) => RecipientRole::MinistryOffice,
                ("minister", None) => RecipientRole::Minister,
                ("unit_lead", Some(u)) => {
                    if catalogue.get(u).is_none() {
                        return Err(bad(
                            "mail.recipients",
                            format!("{}: unit {u:?} is not in the catalogue", r.address),
                        ));
                    }
                    RecipientRole::UnitLead(u.clone())
                }
                ("unit_lead", None) => {
                    return Err(bad(
                        "mail.recipients",
                        format!("{}: a unit_lead needs its unit", r.address),
                    ));
                }
                (role @ ("ministry_office" | "minister"), Some(_)) => {
                    return Err(bad(
                        "mail.recipients",
                        format!("{}: {role} takes no unit", r.address),
                    ));
                }
                (other, _) => {
                    return Err(bad(
                        "mail.recipients",
                        format!(
                            "{}: {other:?} is not ministry_office, minister or unit_lead",
                            r.address
                        ),
                    ));
                }
            };
            let language = match r.language.as_deref().map(str::trim) {
                None | Some("vi") => Language::Vi,
                Some("en") => Language::En,
                Some(other) => {
                    return Err(bad(
                        "mail.recipients",
                        format!("{}: language {other:?} is not vi or en", r.address),
                    ));
                }
            };
            recipients.push(Recipient {
                address,
                role,
                language,
            });
        }
        Ok(Self {
            smtp,
            from,
            dashboard_url,
            time_zone,
            office_digest_at,
            unit_reminders_at,
            minister_summary_day,
            minister_summary_at,
            silent_days: c.silent_days,
            retry_first: Duration::from_secs(c.retry_first_seconds),
            retry_max: Duration::from_secs(c.retry_max_seconds),
            smtp_timeout: Duration::from_secs(c.smtp_timeout_seconds),
            permanent_attempts: c.permanent_attempts,
            round: Duration::from_secs(c.round_seconds),
            keep_sent_days: c.keep_sent_days,
            recipients,
        })
    }

    /// Mail off: the defaults, no SMTP server, no recipients (what a state built without
    /// `[mail]` holds).
    pub fn off(bind: &str) -> Self {
        let at = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap_or_default();
        let d = MailConfig::default();
        Self {
            smtp: None,
            from: Mailbox::new(
                Some("Taskforce".into()),
                lettre::Address::new("taskforce", "localhost")
                    .unwrap_or_else(|e| unreachable!("a valid address: {e}")),
            ),
            dashboard_url: format!("http://{bind}"),
            time_zone: chrono_tz::Asia::Ho_Chi_Minh,
            office_digest_at: at(7, 30),
            unit_reminders_at: at(8, 0),
            minister_summary_day: Weekday::Mon,
            minister_summary_at: at(8, 0),
            silent_days: d.silent_days,
            retry_first: Duration::from_secs(d.retry_first_seconds),
            retry_max: Duration::from_secs(d.retry_max_seconds),
            smtp_timeout: Duration::from_secs(d.smtp_timeout_seconds),
            permanent_attempts: d.permanent_attempts,
            round: Duration::from_secs(d.round_seconds),
            keep_sent_days: d.keep_sent_days,
            recipients: Vec::new(),
        }
    }

    /// The recipients of one role.
    pub fn recipients_of<'a>(
        &'a self,
        keep: impl Fn(&RecipientRole) -> bool + 'a,
    ) -> impl Iterator<Item = &'a Recipient> + 'a {
        self.recipients.iter().filter(move |r| keep(&r.role))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalogue() -> Catalogue {
        Catalogue::bundled().unwrap_or_else(|e| panic!("catalogue: {e}"))
    }

    fn check(toml_text: &str) -> Result<MailSettings, MailSettingError> {
        let c: MailConfig = toml::from_str(toml_text).unwrap_or_else(|e| panic!("{e}"));
        MailSettings::check(&c, &catalogue(), "127.0.0.1:8080")
    }

    fn refused(toml_text: &str) -> MailSettingError {
        match check(toml_text) {
            Ok(s) => panic!("{toml_text} was accepted: {s:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn the_defaults_send_nothing_and_keep_vietnam_time() {
        let s = check("").unwrap_or_else(|e| panic!("{e}"));
        let off = MailSettings::off("127.0.0.1:8080");
        assert_eq!(
            (
                off.office_digest_at,
                off.minister_summary_at,
                off.silent_days
            ),
            (s.office_digest_at, s.minister_summary_at, s.silent_days),
            "off() holds the defaults"
        );
        assert!(s.smtp.is_none());
        assert_eq!(s.time_zone, chrono_tz::Asia::Ho_Chi_Minh);
        assert_eq!(
            s.office_digest_at,
            NaiveTime::from_hms_opt(7, 30, 0).unwrap_or_default()
        );
        assert_eq!(s.minister_summary_day, Weekday::Mon);
        assert_eq!(s.dashboard_url, "http://127.0.0.1:8080");
    }

    #[test]
    fn a_full_table_is_read() {
        let s = check(
            r#"smtp_host = "smtp.mic.gov.vn"
               smtp_tls = "tls"
               smtp_username = "taskforce"
               smtp_password = "s3cret-pass"
               from = "Taskforce <taskforce@mic.gov.vn>"
               dashboard_url = "https://taskforce.mic.gov.vn/"
               minister_summary_at = "fri 16:00"
               [[recipients]]
               address = "vanphong@mic.gov.vn"
               role = "ministry_office"
               [[recipients]]
               address = "Trưởng nhóm <lead@cucvt.gov.vn>"
               role = "unit_lead"
               unit = "cuc-vt"
               language = "en""#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let smtp = s.smtp.unwrap_or_else(|| panic!("smtp"));
        assert_eq!((smtp.port, smtp.tls), (465, TlsMode::Tls));
        assert_eq!(s.dashboard_url, "https://taskforce.mic.gov.vn");
        assert_eq!(s.minister_summary_day, Weekday::Fri);
        assert_eq!(s.recipients.len(), 2);
        assert_eq!(
            s.recipients[1].role,
            RecipientRole::UnitLead("cuc-vt".into())
        );
        assert_eq!(s.recipients[1].language, Language::En);
        assert!(!format!("{:?}", smtp.credentials).contains("s3cret"));
    }

    #[test]
    fn every_wrong_setting_is_named() {
        let cases = [
            ("smtp_tls = \"ssl\"", "mail.smtp_tls"),
            (
                "smtp_host = \"smtp.mic.gov.vn\"\nsmtp_tls = \"plain\"\nfrom = \"a@b.vn\"",
                "mail.smtp_tls",
            ),
            ("smtp_host = \"smtp.mic.gov.vn\"", "mail.from"),
            ("smtp_username = \"u\"", "mail.smtp_password"),
            ("from = \"not an address\"", "mail.from"),
            ("time_zone = \"Asia/Saigon City\"", "mail.time_zone"),
            ("office_digest_at = \"7h30\"", "mail.office_digest_at"),
            (
                "minister_summary_at = \"someday 08:00\"",
                "mail.minister_summary_at",
            ),
            (
                "dashboard_url = \"taskforce.mic.gov.vn\"",
                "mail.dashboard_url",
            ),
            ("silent_days = 0", "mail.silent_days"),
            ("retry_first_seconds = 0", "mail.retry_first_seconds"),
            (
                "[[recipients]]\naddress = \"a@b.vn\"\nrole = \"unit_lead\"\nunit = \"cuc-xyz\"",
                "mail.recipients",
            ),
            (
                "[[recipients]]\naddress = \"a@b.vn\"\nrole = \"chairman\"",
                "mail.recipients",
            ),
            (
                "[[recipients]]\naddress = \"a@b.vn\"\nrole = \"minister\"\nlanguage = \"fr\"",
                "mail.recipients",
            ),
        ];
        for (text, setting) in cases {
            let e = refused(text);
            assert_eq!(e.setting, setting, "{text}: {e}");
            assert!(e.to_string().starts_with(setting), "{e}");
        }
    }

    #[test]
    fn plain_is_allowed_to_a_local_relay() {
        for host in ["127.0.0.1", "localhost", "::1"] {
            let s = check(&format!(
                "smtp_host = \"{host}\"\nsmtp_tls = \"plain\"\nfrom = \"a@b.vn\""
            ))
            .unwrap_or_else(|e| panic!("{host}: {e}"));
            assert_eq!(s.smtp.map(|s| s.port), Some(25));
        }
    }

    #[test]
    fn recipients_read_from_flags() {
        let r = RecipientConfig::parse_flag("unit_lead/cuc-vt=lead@cucvt.gov.vn:en")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (r.role.as_str(), r.unit.as_deref(), r.address.as_str()),
            ("unit_lead", Some("cuc-vt"), "lead@cucvt.gov.vn")
        );
        assert_eq!(r.language.as_deref(), Some("en"));
        let r = RecipientConfig::parse_flag("minister=botruong@mic.gov.vn")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((r.role.as_str(), r.language), ("minister", None));
        assert!(RecipientConfig::parse_flag("vanphong@mic.gov.vn").is_err());
    }
}
