//! Delivering the outbox through lettre over SMTP: STARTTLS or TLS with rustls (the bundled
//! Mozilla roots, or the configured CA), or plain to a relay on this machine; authentication
//! when configured. A server that is down or answers 4xx is tried again with back-off, for as
//! long as it takes; a 5xx answer counts as a refusal, and a mail refused
//! `permanent_attempts` times is given up and flagged `failed`.

use std::time::{Duration, UNIX_EPOCH};

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{
        Mailbox, MultiPart,
        header::{HeaderName, HeaderValue},
    },
    transport::smtp::{
        authentication::Credentials,
        client::{Certificate, CertificateStore, Tls, TlsParameters},
    },
};
use sea_orm::DatabaseConnection;

use super::outbox;
use crate::{
    config::mail::{MailSettings, Smtp, TlsMode},
    db::entity::mail_outbox,
};

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// A 4xx answer about this mail (a greylisting recipient, a full mailbox): this one is
    /// tried again later, the others go on.
    Later(String),
    /// The server is down, unreachable, closing (421), refusing our login, or not answering:
    /// nothing can be sent now, every mail waits.
    Down(String),
    /// A 5xx answer, or a mail that cannot be built: counts towards giving up.
    Refused(String),
}

/// The SMTP client of one process.
#[derive(Clone)]
pub struct Sender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The most one delivery may take, start to end (lettre's timeout bounds each step).
    deadline: Duration,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").field("from", &self.from).finish()
    }
}

fn tls_parameters(smtp: &Smtp) -> Result<TlsParameters, lettre::transport::smtp::Error> {
    let mut b = TlsParameters::builder(smtp.host.clone());
    match &smtp.ca_pem {
        Some(pem) => {
            b = b
                .certificate_store(CertificateStore::None)
                .add_root_certificate(Certificate::from_pem(pem)?);
        }
        None => b = b.certificate_store(CertificateStore::WebpkiRoots),
    }
    b.build_rustls()
}

impl Sender {
    /// The client for `settings`' SMTP server (`None` when mail is off).
    pub fn new(settings: &MailSettings) -> anyhow::Result<Option<Self>> {
        let Some(smtp) = &settings.smtp else {
            return Ok(None);
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.clone())
            .port(smtp.port)
            .timeout(Some(settings.smtp_timeout));
        b = match smtp.tls {
            TlsMode::StartTls => b.tls(Tls::Required(
                tls_parameters(smtp).map_err(|e| anyhow::anyhow!("mail.smtp_ca: {e}"))?,
            )),
            TlsMode::Tls => b.tls(Tls::Wrapper(
                tls_parameters(smtp).map_err(|e| anyhow::anyhow!("mail.smtp_ca: {e}"))?,
            )),
            TlsMode::Plain => b.tls(Tls::None),
        };
        if let Some((user, password)) = &smtp.credentials {
            b = b.credentials(Credentials::new(user.clone(), password.0.clone()));
        }
        Ok(Some(Self {
            transport: b.build(),
            from: settings.from.clone(),
            deadline: attempt_deadline(settings),
        }))
    }

    /// The outbox row as a message: its own Message-ID and the time it was decided.
    pub fn message(&self, row: &mail_outbox::Model) -> Result<Message, String> {
        let to: Mailbox = row
            .recipient
            .parse()
            .map_err(|e| format!("recipient {:?}: {e}", row.recipient))?;
        let at = UNIX_EPOCH + Duration::from_secs(u64::try_from(row.created_at).unwrap_or(0));
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(row.subject.clone())
            .message_id(Some(row.message_id.clone()))
            .date(at)
            // Sent by a program (RFC 3834): no out-of-office answer back to it.
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Auto-Submitted"),
                "auto-generated".into(),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Content-Language"),
                if row.language == "en" { "en" } else { "vi" }.into(),
            ))
            .multipart(MultiPart::alternative_plain_html(
                row.body_text.clone(),
                row.body_html.clone(),
            ))
            .map_err(|e| format!("building the message: {e}"))
    }

    /// One attempt at delivering `row`.
    pub async fn send(&self, row: &mail_outbox::Model) -> Outcome {
        let message = match self.message(row) {
            Ok(m) => m,
            Err(e) => return Outcome::Refused(e),
        };
        // A server that stops answering (or never closes) must not hold the outbox: the
        // attempt ends, and the mail is tried again later.
        let Ok(sent) = tokio::time::timeout(self.deadline, self.transport.send(message)).await
        else {
            return Outcome::Down(format!(
                "no answer from the SMTP server within {} s",
                self.deadline.as_secs()
            ));
        };
        match sent {
            Ok(_) => Outcome::Sent,
            Err(e) => match e.status().map(|c| c.to_string()) {
                // 530, 534, 535, 538: our credentials (or TLS) are what the server refuses,
                // not the mail: an operator's setting to fix, so the mail waits instead of
                // being given up.
                Some(code) if is_auth_refusal(&code) => {
                    tracing::error!(error = %e, "the SMTP server refuses our login: check mail.smtp_username and mail.smtp_password");
                    Outcome::Down(e.to_string())
                }
                Some(code) if code == "421" => Outcome::Down(e.to_string()),
                Some(_) if e.is_permanent() => Outcome::Refused(e.to_string()),
                Some(_) => Outcome::Later(e.to_string()),
                // No answer to read: connecting, TLS, a broken connection.
                None => Outcome::Down(e.to_string()),
            },
        }
    }
}

/// The most one delivery may take, start to end: five steps' timeouts (RFC 5321 lets a
/// server take minutes over its answer to the message's data).
pub fn attempt_deadline(settings: &MailSettings) -> Duration {
    settings.smtp_timeout.saturating_mul(5)
}

/// How long a sender holds a mail it took: past the longest attempt by two minutes (for a
/// slow database and replicas' clocks a little apart), so only a sender that died leaves one.
pub fn lease(settings: &MailSettings) -> i64 {
    i64::try_from(attempt_deadline(settings).as_secs())
        .unwrap_or(3600)
        .saturating_add(120)
}

/// SMTP's answers refusing the client's authentication (RFC 4954), not the mail.
fn is_auth_refusal(code: &str) -> bool {
    matches!(code, "530" | "534" | "535" | "538")
}

/// The wait before attempt `attempts + 1`: the first wait doubled per attempt, at most the
/// longest.
pub fn back_off(settings: &MailSettings, attempts: i32) -> Duration {
    let doublings = u32::try_from(attempts.max(1) - 1).unwrap_or(0).min(20);
    settings
        .retry_first
        .saturating_mul(1 << doublings)
        .min(settings.retry_max)
}

/// What [`deliver_due`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivered {
    pub sent: u32,
    pub later: u32,
    pub failed: u32,
    /// The round stopped because the server is down (see [`Outcome::Down`]).
    pub down: bool,
}

/// Deliver every mail due now, one at a time, each attempt's outcome recorded before the
/// next is taken.
pub async fn deliver_due(
    db: &DatabaseConnection,
    sender: &Sender,
    settings: &MailSettings,
) -> Result<Delivered, sea_orm::DbErr> {
    let mut done = Delivered::default();
    let lease = lease(settings);
    loop {
        let now = crate::clock::now();
        let Some(row) = outbox::take(db, now, now + lease).await? else {
            return Ok(done);
        };
        let outcome = sender.send(&row).await;
        match outcome {
            Outcome::Sent => {
                // The SMTP server has the mail: recording it must not fail quietly, or it is
                // sent again when the lease runs out. A few tries, then the error (the round
                // ends; the next takes up where this one stopped).
                let mut tries = 0;
                let recorded = loop {
                    match outbox::delivered(db, &row, crate::clock::now()).await {
                        Ok(r) => break r,
                        Err(e) if tries < 4 => {
                            tries += 1;
                            tracing::warn!(id = row.id, error = %e, "recording a delivered mail failed; trying again");
                            tokio::time::sleep(Duration::from_millis(500 << tries)).await;
                        }
                        Err(e) => return Err(e),
                    }
                };
                if recorded {
                    tracing::info!(id = row.id, kind = %row.kind, to = %row.recipient, "mail delivered");
                } else {
                    tracing::warn!(id = row.id, to = %row.recipient, "mail delivered after its lease ran out (another sender took it): it may arrive twice, with one Message-ID");
                }
                done.sent += 1;
            }
            Outcome::Later(ref e) | Outcome::Down(ref e) => {
                let down = matches!(outcome, Outcome::Down(_));
                let e = e.clone();
                let now = crate::clock::now();
                let wait = back_off(settings, row.attempts + 1);
                let next = now + i64::try_from(wait.as_secs()).unwrap_or(i64::MAX / 4);
                outbox::not_delivered(db, &row, false, false, next, &e).await?;
                tracing::warn!(id = row.id, to = %row.recipient, error = %e, retry_in_s = wait.as_secs(), down, "mail not delivered; tried again later");
                done.later += 1;
                if down {
                    // The server is down: the other mails wait too (`mail::round` backs off
                    // for the whole server).
                    done.down = true;
                    return Ok(done);
                }
            }
            Outcome::Refused(e) => {
                let now = crate::clock::now();
                let refusals = u32::try_from(row.refusals + 1).unwrap_or(u32::MAX);
                let give_up = refusals >= settings.permanent_attempts;
                let wait = back_off(settings, row.attempts + 1);
                let next = now + i64::try_from(wait.as_secs()).unwrap_or(i64::MAX / 4);
                outbox::not_delivered(db, &row, true, give_up, next, &e).await?;
                if give_up {
                    tracing::error!(id = row.id, to = %row.recipient, error = %e, refusals, "mail refused; given up and flagged failed (taskforce digest --outbox; --retry-failed once fixed)");
                    done.failed += 1;
                } else {
                    tracing::warn!(id = row.id, to = %row.recipient, error = %e, refusals, "mail refused; tried again later");
                    done.later += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_back_off_doubles_up_to_the_longest_wait() {
        let mut s = MailSettings::off("127.0.0.1:8080");
        s.retry_first = Duration::from_secs(30);
        s.retry_max = Duration::from_secs(300);
        let waits: Vec<u64> = (1..=6).map(|a| back_off(&s, a).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 300, 300]);
        assert_eq!(back_off(&s, i32::MAX).as_secs(), 300);
    }
}
