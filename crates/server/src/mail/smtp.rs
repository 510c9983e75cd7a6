//! SMTP delivery with `lettre` (rustls, ring, webpki roots): `smtps://` is TLS from the first
//! byte, `smtp://` upgrades with STARTTLS unless `starttls = false` (loopback test servers).

use super::MailSection;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use pf_store::MailRecord;
use std::time::Duration;

/// A configured SMTP relay.
#[derive(Clone)]
pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

/// Host and port of an `smtp://HOST[:PORT]` or `smtps://HOST[:PORT]` URL, and whether it is TLS
/// from the start.
pub fn parse_url(url: &str) -> Result<(String, u16, bool), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("mail.smtp_url '{url}' must start with smtp:// or smtps://"))?;
    let tls = match scheme {
        "smtp" => false,
        "smtps" => true,
        _ => {
            return Err(format!(
                "mail.smtp_url '{url}' must start with smtp:// or smtps://"
            ))
        }
    };
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains(['/', '@', '?', '#']) {
        return Err(format!(
            "mail.smtp_url '{url}' must be smtp://HOST[:PORT] (credentials go in mail.username and mail.password)"
        ));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
            let port: u16 = p
                .parse()
                .map_err(|_| format!("mail.smtp_url '{url}' has a bad port"))?;
            (h.trim_matches(['[', ']']).to_string(), port)
        }
        _ => (authority.to_string(), if tls { 465 } else { 587 }),
    };
    if host.is_empty() {
        return Err(format!("mail.smtp_url '{url}' has no host"));
    }
    Ok((host, port, tls))
}

impl Smtp {
    /// Builds the relay from a validated `[mail]` section; None when no server is configured.
    pub fn from_config(cfg: &MailSection) -> Result<Option<Smtp>, String> {
        if cfg.smtp_url.trim().is_empty() {
            return Ok(None);
        }
        let (host, port, tls) = parse_url(cfg.smtp_url.trim())?;
        let builder = if tls {
            AsyncSmtpTransport::<Tokio1Executor>::relay(&host).map_err(|e| e.to_string())?
        } else if cfg.starttls {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&host)
                .map_err(|e| e.to_string())?
        } else {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host)
        };
        let mut builder = builder
            .port(port)
            .timeout(Some(Duration::from_secs(cfg.timeout_seconds.max(1) as u64)));
        if !cfg.username.is_empty() {
            builder = builder.credentials(Credentials::new(
                cfg.username.clone(),
                cfg.password.expose().to_string(),
            ));
        }
        let from: Mailbox = cfg
            .from
            .parse()
            .map_err(|e| format!("mail.from '{}': {e}", cfg.from))?;
        Ok(Some(Smtp {
            transport: builder.build(),
            from,
        }))
    }

    /// Sends one queued message (text and HTML alternatives).
    pub async fn send(&self, mail: &MailRecord) -> Result<(), SendFailure> {
        let to: Mailbox = mail.recipient.parse().map_err(|e| SendFailure {
            permanent: true,
            message: format!("recipient '{}': {e}", mail.recipient),
        })?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(super::templates::header_safe(&mail.subject));
        if let Some(lang) = mail.headers.get("lang").and_then(|v| v.as_str()) {
            builder = builder.header(ContentLanguage(super::templates::header_safe(lang)));
        }
        let message = builder
            .multipart(MultiPart::alternative_plain_html(
                mail.text_body.clone(),
                mail.html_body.clone(),
            ))
            .map_err(|e| SendFailure {
                permanent: true,
                message: e.to_string(),
            })?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| SendFailure {
                // A 5xx answer will not change by itself; anything else (connection, timeout,
                // 4xx) is worth another attempt later.
                permanent: e.is_permanent(),
                message: e.to_string(),
            })
    }
}

/// Why a message was not delivered.
#[derive(Debug)]
pub struct SendFailure {
    /// The server refused it for good (5xx), or the message cannot be built: retrying as is
    /// would fail again.
    pub permanent: bool,
    /// What went wrong, kept with the message.
    pub message: String,
}

/// The `Content-Language` header: the recipient's language.
#[derive(Clone)]
struct ContentLanguage(String);

impl lettre::message::header::Header for ContentLanguage {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str("Content-Language")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ContentLanguage(s.to_string()))
    }

    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(Self::name(), self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_url, MailSection, Smtp};

    #[test]
    fn tls_and_starttls_relays_build_with_the_bundled_roots() {
        for url in ["smtps://mail.example.org", "smtp://mail.example.org:587"] {
            let cfg = MailSection {
                smtp_url: url.into(),
                username: "u".into(),
                password: crate::config::Secret("p".into()),
                ..Default::default()
            };
            assert!(Smtp::from_config(&cfg).unwrap().is_some(), "{url}");
        }
        assert!(Smtp::from_config(&MailSection::default())
            .unwrap()
            .is_none());
    }

    #[test]
    fn smtp_urls_name_host_port_and_tls() {
        assert_eq!(
            parse_url("smtp://127.0.0.1:2525").unwrap(),
            ("127.0.0.1".into(), 2525, false)
        );
        assert_eq!(
            parse_url("smtps://mail.example.org").unwrap(),
            ("mail.example.org".into(), 465, true)
        );
        assert_eq!(
            parse_url("smtp://mail.example.org").unwrap().1,
            587,
            "submission port by default"
        );
        for bad in [
            "http://x",
            "smtp://",
            "smtp://u:p@host",
            "smtp://h:99999",
            "host:25",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
