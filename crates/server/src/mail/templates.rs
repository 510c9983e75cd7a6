//! Mail templates: the built-in English and French texts, admin overrides (store), and filling
//! placeholders — `{SITE_NAME}`, `{MENTOR}`, `{DATE}`, `{COURSE}`, `{URL}` and any other a
//! message kind defines. Values are HTML-escaped in the HTML part; CR and LF are removed from
//! everything that ends up in a header.

use pf_domain::user::Language;
use pf_store::MailTemplate;

/// A session was opened with notification (SPEC §5.6, §7).
pub const SESSION_OPEN: &str = "session_open";
/// A job finished (for the publishing issue's jobs).
pub const JOB_DONE: &str = "job_done";
/// A job failed.
pub const JOB_FAILED: &str = "job_failed";
/// A course was retrofitted to a factory (its authors are told).
pub const RETROFIT: &str = "retrofit";

/// Every kind of message, in the admin page's order.
pub const KINDS: &[&str] = &[SESSION_OPEN, JOB_DONE, JOB_FAILED, RETROFIT];

/// A message ready to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Subject, one line.
    pub subject: String,
    /// Plain-text part.
    pub text: String,
    /// HTML part.
    pub html: String,
}

fn t(kind: &str, lang: Language, subject: &str, text: &str, html: &str) -> MailTemplate {
    MailTemplate {
        kind: kind.to_string(),
        lang: lang.code().to_string(),
        subject: subject.to_string(),
        text_body: text.to_string(),
        html_body: html.to_string(),
    }
}

/// The built-in template of a kind in a language (None for an unknown kind).
pub fn default_template(kind: &str, lang: Language) -> Option<MailTemplate> {
    use Language::{En, Fr};
    Some(match (kind, lang) {
        (SESSION_OPEN, En) => t(kind, lang,
            "[{SITE_NAME}] {COURSE} is open",
            "Hello,\n\n{MENTOR} has opened the course \"{COURSE}\" on {SITE_NAME} on {DATE}.\n\nJoin it here: {URL}\n",
            "<p>Hello,</p>\n<p>{MENTOR} has opened the course <strong>{COURSE}</strong> on {SITE_NAME} on {DATE}.</p>\n<p><a href=\"{URL}\">Join the course</a></p>\n"),
        (SESSION_OPEN, Fr) => t(kind, lang,
            "[{SITE_NAME}] Ouverture de {COURSE}",
            "Bonjour,\n\n{MENTOR} a ouvert le cours « {COURSE} » sur {SITE_NAME} le {DATE}.\n\nPour y accéder : {URL}\n",
            "<p>Bonjour,</p>\n<p>{MENTOR} a ouvert le cours <strong>{COURSE}</strong> sur {SITE_NAME} le {DATE}.</p>\n<p><a href=\"{URL}\">Accéder au cours</a></p>\n"),
        (JOB_DONE, En) => t(kind, lang,
            "[{SITE_NAME}] Done: {JOB}",
            "Hello,\n\nThe operation \"{JOB}\" on {COURSE} finished on {DATE}.\n\n{URL}\n",
            "<p>Hello,</p>\n<p>The operation <strong>{JOB}</strong> on {COURSE} finished on {DATE}.</p>\n<p><a href=\"{URL}\">{URL}</a></p>\n"),
        (JOB_DONE, Fr) => t(kind, lang,
            "[{SITE_NAME}] Terminé : {JOB}",
            "Bonjour,\n\nL'opération « {JOB} » sur {COURSE} s'est terminée le {DATE}.\n\n{URL}\n",
            "<p>Bonjour,</p>\n<p>L'opération <strong>{JOB}</strong> sur {COURSE} s'est terminée le {DATE}.</p>\n<p><a href=\"{URL}\">{URL}</a></p>\n"),
        (JOB_FAILED, En) => t(kind, lang,
            "[{SITE_NAME}] Failed: {JOB}",
            "Hello,\n\nThe operation \"{JOB}\" on {COURSE} failed on {DATE}: {ERROR}\n\n{URL}\n",
            "<p>Hello,</p>\n<p>The operation <strong>{JOB}</strong> on {COURSE} failed on {DATE}: {ERROR}</p>\n<p><a href=\"{URL}\">{URL}</a></p>\n"),
        (JOB_FAILED, Fr) => t(kind, lang,
            "[{SITE_NAME}] Échec : {JOB}",
            "Bonjour,\n\nL'opération « {JOB} » sur {COURSE} a échoué le {DATE} : {ERROR}\n\n{URL}\n",
            "<p>Bonjour,</p>\n<p>L'opération <strong>{JOB}</strong> sur {COURSE} a échoué le {DATE} : {ERROR}</p>\n<p><a href=\"{URL}\">{URL}</a></p>\n"),
        (RETROFIT, En) => t(kind, lang,
            "[{SITE_NAME}] {COURSE} came back from a training platform",
            "Hello,\n\n{MENTOR} retrofitted \"{COURSE}\" to {SITE_NAME} on {DATE}.\n\n{URL}\n",
            "<p>Hello,</p>\n<p>{MENTOR} retrofitted <strong>{COURSE}</strong> to {SITE_NAME} on {DATE}.</p>\n<p><a href=\"{URL}\">{URL}</a></p>\n"),
        (RETROFIT, Fr) => t(kind, lang,
            "[{SITE_NAME}] {COURSE} revient d'une plateforme de formation",
            "Bonjour,\n\n{MENTOR} a rapatrié « {COURSE} » vers {SITE_NAME} le {DATE}.\n\n{URL}\n",
            "<p>Bonjour,</p>\n<p>{MENTOR} a rapatrié <strong>{COURSE}</strong> vers {SITE_NAME} le {DATE}.</p>\n<p><a href=\"{URL}\">{URL}</a></p>\n"),
        _ => return None,
    })
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Removes CR and LF (and other control characters) from a header value: no header injection.
pub fn header_safe(value: &str) -> String {
    value
        .chars()
        .map(|c| if c == '\t' { ' ' } else { c })
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .to_string()
}

fn fill(template: &str, values: &[(&str, String)], transform: impl Fn(&str) -> String) -> String {
    // One pass, so a value containing `{COURSE}` is never expanded again.
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let found = after.find('}').and_then(|close| {
            let name = &after[..close];
            values
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (close, transform(v)))
        });
        match found {
            Some((close, value)) => {
                out.push_str(&value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Fills a template's placeholders: raw in the text part, escaped in the HTML part, and the
/// subject made a single safe header line.
pub fn render(template: &MailTemplate, values: &[(&str, String)]) -> Rendered {
    Rendered {
        subject: header_safe(&fill(&template.subject, values, |v| v.to_string())),
        text: fill(&template.text_body, values, |v| v.to_string()),
        html: fill(&template.html_body, values, escape_html),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Vec<(&'static str, String)> {
        vec![
            ("SITE_NAME", "Training <north>".into()),
            ("MENTOR", "Ann \"the\" Teacher".into()),
            ("DATE", "2026-11-22".into()),
            ("COURSE", "Physics\r\nBcc: evil@example.org & {URL}".into()),
            ("URL", "http://t.example/course/3".into()),
        ]
    }

    #[test]
    fn every_kind_has_both_languages_and_known_placeholders() {
        for kind in KINDS {
            for lang in [Language::En, Language::Fr] {
                let t = default_template(kind, lang).unwrap();
                assert_eq!(t.lang, lang.code());
                assert!(t.html_body.contains("{URL}") && t.text_body.contains("{URL}"));
            }
        }
        assert!(default_template("nope", Language::En).is_none());
    }

    #[test]
    fn placeholders_are_filled_escaped_in_html_and_stripped_in_headers() {
        let t = default_template(SESSION_OPEN, Language::Fr).unwrap();
        let r = render(&t, &values());
        assert!(
            !r.subject.contains('\r') && !r.subject.contains('\n'),
            "{r:?}"
        );
        assert!(r
            .subject
            .starts_with("[Training <north>] Ouverture de Physics"));
        assert!(
            r.text.contains("Ann \"the\" Teacher a ouvert"),
            "{}",
            r.text
        );
        assert!(r.text.contains("le 2026-11-22"));
        assert!(r.html.contains("Ann &quot;the&quot; Teacher"), "{}", r.html);
        assert!(r.html.contains("Training &lt;north&gt;"));
        assert!(
            r.html.contains("&amp; {URL}"),
            "values are not expanded twice"
        );
        assert!(r.html.contains("href=\"http://t.example/course/3\""));
        assert!(!r.html.contains("<north>"));
    }

    #[test]
    fn unknown_and_unclosed_braces_stay_as_written() {
        let t = MailTemplate {
            kind: "x".into(),
            lang: "en".into(),
            subject: "{NOPE} {DATE".into(),
            text_body: "{} {{DATE}}".into(),
            html_body: String::new(),
        };
        let r = render(&t, &values());
        assert_eq!(r.subject, "{NOPE} {DATE");
        assert_eq!(r.text, "{} {2026-11-22}");
    }
}
