//! Notifications (SPEC §7): every message is rendered in its recipient's language from the
//! admin's template (or the built-in one), queued in the outbox, and delivered by SMTP when a
//! server is configured (`[mail]`); otherwise it stays in the outbox for admins to read.
//!
//! Delivery never loses a message: a failed attempt records the error and retries later with
//! an exponential backoff; `serve` runs [`delivery_loop`]; [`deliver_due`] is one pass (tests
//! and `outbox deliver` drive it).
//!
//! Other features call [`notify`] with a message kind ([`templates::KINDS`]), the recipients
//! and the placeholder values.

pub mod smtp;
pub mod templates;

use crate::config::Secret;
use crate::error::AppError;
use crate::platform::Platform;
use pf_domain::user::Language;
use pf_store::{NewMail, UserRecord};
use serde::{Deserialize, Serialize};

/// `[mail]`: outgoing mail. With `smtp_url` empty, messages stay in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailSection {
    /// `smtp://HOST[:PORT]` (STARTTLS unless `starttls = false`) or `smtps://HOST[:PORT]` (TLS);
    /// empty: no SMTP server.
    pub smtp_url: String,
    /// Require STARTTLS on `smtp://` (turn off only for a server on loopback).
    pub starttls: bool,
    /// SMTP user name (empty: no authentication).
    pub username: String,
    /// SMTP password.
    pub password: Secret,
    /// The sender address (`Name <address>` or `address`).
    pub from: String,
    /// First retry delay after a failed attempt, in seconds (doubles each attempt, at most 6 h).
    pub retry_seconds: i64,
    /// Connection and command timeout, in seconds.
    pub timeout_seconds: i64,
}

impl Default for MailSection {
    fn default() -> Self {
        MailSection {
            smtp_url: String::new(),
            starttls: true,
            username: String::new(),
            password: Secret::default(),
            from: "publishflow <publishflow@localhost>".into(),
            retry_seconds: 60,
            timeout_seconds: 20,
        }
    }
}

impl MailSection {
    /// Checks the section (called by the configuration's validation).
    pub fn validate(&self) -> Result<(), String> {
        if !self.smtp_url.trim().is_empty() {
            smtp::parse_url(self.smtp_url.trim())?;
        }
        self.from
            .parse::<lettre::message::Mailbox>()
            .map_err(|e| format!("mail.from '{}' is not an address: {e}", self.from))?;
        if self.retry_seconds < 1 || self.timeout_seconds < 1 {
            return Err("mail.retry_seconds and mail.timeout_seconds must be positive".into());
        }
        Ok(())
    }
}

/// What [`notify`] queued.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NotifyReport {
    /// Messages queued.
    pub queued: usize,
    /// Recipients skipped: no usable e-mail address, or a disabled account.
    pub skipped: usize,
}

/// Renders a message of `kind` for each recipient in their language and queues them all (one
/// transaction). `values` fill the placeholders; the caller gives `SITE_NAME`, `DATE`, etc.
pub async fn notify(
    p: &Platform,
    kind: &str,
    recipients: &[UserRecord],
    values: &[(&str, String)],
    context: serde_json::Value,
) -> Result<NotifyReport, AppError> {
    let (mails, report) = render_for(p, kind, recipients, values, context).await?;
    if !mails.is_empty() {
        p.store.queue_mail(mails).await?;
    }
    Ok(report)
}

/// Renders a message of `kind` for each recipient with a usable address, in their language,
/// without queueing them (for callers that queue them in their own transaction).
pub async fn render_for(
    p: &Platform,
    kind: &str,
    recipients: &[UserRecord],
    values: &[(&str, String)],
    context: serde_json::Value,
) -> Result<(Vec<NewMail>, NotifyReport), AppError> {
    let mut report = NotifyReport::default();
    let mut mails = Vec::new();
    let mut seen = Vec::new();
    for user in recipients {
        if seen.contains(&user.id) {
            continue;
        }
        seen.push(user.id);
        let address = user.email.trim();
        if user.disabled || address.parse::<lettre::Address>().is_err() {
            report.skipped += 1;
            continue;
        }
        let lang = Language::from_tag(&user.lang).unwrap_or_default();
        let template = match p.store.mail_template(kind, lang.code()).await? {
            Some(t) => t,
            None => templates::default_template(kind, lang)
                .ok_or_else(|| AppError::internal(format!("no mail template '{kind}'")))?,
        };
        let rendered = templates::render(&template, values);
        let mut headers = context.clone();
        if !headers.is_object() {
            headers = serde_json::json!({});
        }
        headers["lang"] = lang.code().into();
        mails.push(NewMail {
            kind: kind.to_string(),
            recipient: address.to_string(),
            subject: rendered.subject,
            text_body: rendered.text,
            html_body: rendered.html,
            headers,
            created_at: crate::services::now(),
        });
    }
    report.queued = mails.len();
    Ok((mails, report))
}

/// What one delivery pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    /// Messages delivered.
    pub sent: usize,
    /// Messages that failed this time (kept for a later attempt).
    pub failed: usize,
    /// Messages the server refused for good (kept, held until an admin retries them).
    pub refused: usize,
    /// Whether an SMTP server is configured (without one, nothing is sent).
    pub configured: bool,
}

/// The delay before attempt `attempts + 1`: `base`, doubling, at most six hours.
pub fn backoff(base: i64, attempts: i64) -> i64 {
    let exp = attempts.clamp(0, 20) as u32;
    base.max(1).saturating_mul(1_i64 << exp).min(6 * 3600)
}

/// One pass: sends every message due at `now`; a failure keeps the message, with its error and
/// its next attempt pushed back.
pub async fn deliver_due(p: &Platform, now: i64) -> Result<DeliveryReport, AppError> {
    let cfg = &p.config.mail;
    let Some(smtp) = smtp::Smtp::from_config(cfg).map_err(AppError::bad_request)? else {
        return Ok(DeliveryReport::default());
    };
    let mut report = DeliveryReport {
        configured: true,
        ..Default::default()
    };
    // A lease longer than one attempt, so a crashed sender's message comes back later.
    let lease = now + cfg.timeout_seconds.max(1) * 4;
    while let Some(mail) = p.store.claim_mail(now, lease).await? {
        match smtp.send(&mail).await {
            Ok(()) => {
                p.store.mail_sent(mail.id, crate::services::now()).await?;
                report.sent += 1;
            }
            Err(e) if e.permanent => {
                tracing::warn!(mail = mail.id, error = %e.message, "mail refused; held in the outbox");
                p.store
                    .mail_refused(mail.id, &e.message, crate::services::now())
                    .await?;
                report.refused += 1;
            }
            Err(e) => {
                tracing::warn!(mail = mail.id, error = %e.message, "mail not delivered; will retry");
                let retry = now + backoff(cfg.retry_seconds, mail.attempts);
                p.store.mail_failed(mail.id, &e.message, retry).await?;
                report.failed += 1;
            }
        }
    }
    Ok(report)
}

/// Delivers due messages every few seconds until the task is dropped (started by `serve` when
/// an SMTP server is configured).
pub async fn delivery_loop(p: Platform) {
    loop {
        if let Err(e) = deliver_due(&p, crate::services::now()).await {
            tracing::warn!(error = %e, "mail delivery pass failed");
        }
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(60, 0), 60);
        assert_eq!(backoff(60, 1), 120);
        assert_eq!(backoff(60, 3), 480);
        assert_eq!(backoff(60, 99), 6 * 3600);
    }

    #[test]
    fn the_mail_section_comes_from_file_and_environment_and_hides_its_password() {
        let file = "[mail]\nsmtp_url = \"smtps://mail.example.org\"\npassword = \"hunter22\"\n";
        let env = [(
            "PUBLISHFLOW_MAIL_USERNAME".to_string(),
            "publishflow".to_string(),
        )];
        let c = crate::config::Config::from_sources(file, env).unwrap();
        assert_eq!(c.mail.smtp_url, "smtps://mail.example.org");
        assert_eq!(c.mail.username, "publishflow");
        assert_eq!(c.mail.password.expose(), "hunter22");
        assert!(c.mail.starttls, "defaults fill what the file leaves out");
        assert!(!format!("{c:?}").contains("hunter22"));
        assert!(
            crate::config::Config::from_sources("[mail]\nsmtp_url = \"ftp://x\"\n", []).is_err()
        );
        assert!(crate::config::Config::from_sources("[mail]\nnope = 1\n", []).is_err());
    }

    #[test]
    fn the_mail_section_is_validated() {
        assert!(MailSection::default().validate().is_ok());
        let bad = MailSection {
            smtp_url: "http://x".into(),
            ..Default::default()
        };
        assert!(bad.validate().is_err());
        let bad = MailSection {
            from: "not an address".into(),
            ..Default::default()
        };
        assert!(bad.validate().is_err());
    }
}
