//! Page rendering: auto-escaping minijinja templates embedded in the binary and loaded once, the
//! English/French message catalogs, and the security headers every page carries.

use super::session::{set_cookie, Visitor, CSRF_COOKIE};
use super::AppState;
use crate::error::AppError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::{Environment, State, Value};
use pf_domain::user::Language;
use std::collections::HashMap;
use std::sync::Arc;

/// Embeds templates by file name (one per line, so additions merge cleanly).
macro_rules! embedded_templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../templates/", $name)))),*]
    };
}

/// The templates, compiled at start.
const TEMPLATES: &[(&str, &str)] = embedded_templates![
    "layout.html",
    "macros.html",
    "error.html",
    "login.html",
    "index.html",
    "course.html",
    "course_form.html",
    "activity.html",
    "activity_form.html",
    "category_form.html",
    "admin_settings.html",
    "admin_users.html",
    "admin_roles.html",
    "admin_audit.html",
    "admin_trash.html",
    "admin_profile.html",
    "profile.html",
    "jobs.html",
    "job.html",
    "admin_outbox.html",
    "admin_mail.html",
    "archives.html",
    "import_done.html",
    "network.html",
    "admin_rules.html",
    "account.html",
    "publishing_panel.html",
    "jump.html",
    "catalog_panel.html",
    "catalog_meta.html",
    "publication_status.html",
    "course_copies.html",
];

/// Message catalogs: `key = "text"` per language.
const CATALOGS: &[(Language, &str)] = &[
    (Language::En, include_str!("../../locales/en.toml")),
    (Language::Fr, include_str!("../../locales/fr.toml")),
];

/// A message catalog per language.
pub type Catalogs = HashMap<&'static str, HashMap<String, String>>;

/// Parses the embedded catalogs (a malformed catalog is a build mistake, caught by tests).
pub fn catalogs() -> Catalogs {
    CATALOGS
        .iter()
        .map(|(lang, text)| {
            let table: HashMap<String, String> =
                toml::from_str(text).expect("message catalog is valid TOML");
            (lang.code(), table)
        })
        .collect()
}

/// Builds the template environment with the `t` (translate) function.
pub fn environment(catalogs: Arc<Catalogs>) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    for (name, source) in TEMPLATES {
        env.add_template(name, source).expect("template compiles");
    }
    env.add_function("t", move |state: &State, key: &str| -> String {
        let lang = state
            .lookup("lang")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "en".into());
        translate(&catalogs, &lang, key)
    });
    env.add_filter("datetime", |unix: i64| {
        crate::services::rfc3339(unix)
            .replace('T', " ")
            .replace('Z', " UTC")
    });
    env
}

/// A message in `lang`, falling back to English, then to the key itself.
pub fn translate(catalogs: &Catalogs, lang: &str, key: &str) -> String {
    catalogs
        .get(lang)
        .and_then(|c| c.get(key))
        .or_else(|| catalogs.get("en").and_then(|c| c.get(key)))
        .cloned()
        .unwrap_or_else(|| match key.strip_prefix("module.") {
            // Activity modules we have no name for are shown by their Moodle name.
            Some(module) => module.to_string(),
            None => key.to_string(),
        })
}

/// Renders a page for a visitor, with the common context (site name, user, CSRF token, language).
pub async fn page(
    state: &AppState,
    visitor: &Visitor,
    template: &str,
    ctx: Value,
) -> Result<Response, AppError> {
    page_with_status(state, visitor, StatusCode::OK, template, ctx).await
}

/// Like [`page`] with an explicit status (error pages).
pub async fn page_with_status(
    state: &AppState,
    visitor: &Visitor,
    status: StatusCode,
    template: &str,
    ctx: Value,
) -> Result<Response, AppError> {
    let p = &state.platform;
    let is_admin = p.is_admin(&visitor.actor).await?;
    let common = minijinja::context! {
        lang => visitor.lang.code(),
        site_name => p.name().await?,
        role => p.role().await?.as_str(),
        user => visitor.actor.user.as_ref().map(|u| minijinja::context! { id => u.id.0, username => u.username.as_str(), fullname => u.fullname.as_str() }),
        is_admin => is_admin,
        csrf => visitor.csrf.as_str(),
    };
    let html = state
        .templates
        .get_template(template)
        .and_then(|t| t.render(minijinja::context! { ..ctx, ..common }))
        .map_err(AppError::internal)?;
    let mut response = (status, axum::response::Html(html)).into_response();
    if visitor.new_csrf_cookie {
        let cookie = set_cookie(state, CSRF_COOKIE, &visitor.csrf, None);
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    Ok(response)
}

/// Adds the headers every HTML page carries: no sniffing, no framing, a strict CSP.
pub fn page_security_headers(headers: &mut axum::http::HeaderMap) {
    let set = |h: &mut axum::http::HeaderMap, k: &'static str, v: &'static str| {
        h.entry(k).or_insert(HeaderValue::from_static(v));
    };
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "x-frame-options", "DENY");
    set(headers, "referrer-policy", "same-origin");
    set(
        headers,
        "content-security-policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every message a template names exists in both languages, and both catalogs agree.
    #[test]
    fn catalogs_cover_every_template_key_in_both_languages() {
        let cats = catalogs();
        let en = &cats["en"];
        let fr = &cats["fr"];
        let mut en_keys: Vec<_> = en.keys().collect();
        let mut fr_keys: Vec<_> = fr.keys().collect();
        en_keys.sort();
        fr_keys.sort();
        assert_eq!(en_keys, fr_keys, "en and fr catalogs differ");
        for (name, source) in TEMPLATES {
            for piece in source.split("t(").skip(1) {
                let quote = piece.chars().next().unwrap();
                if quote != '"' && quote != '\'' {
                    continue;
                }
                let key: String = piece[1..].chars().take_while(|c| *c != quote).collect();
                if key.is_empty() || key.ends_with('.') {
                    continue; // dynamic keys like "role." ~ role
                }
                assert!(
                    en.contains_key(&key),
                    "{name} uses '{key}', missing from the catalogs"
                );
            }
        }
    }

    #[test]
    fn templates_escape_what_they_print() {
        let env = environment(Arc::new(catalogs()));
        let html = env
            .render_str(
                "{{ name }}",
                minijinja::context! { name => "<script>alert(1)</script>" },
            )
            .unwrap();
        assert_eq!(html, "&lt;script&gt;alert(1)&lt;&#x2f;script&gt;");
    }
}
