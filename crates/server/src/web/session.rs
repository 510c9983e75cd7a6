//! Browser sessions: the session cookie, CSRF tokens, language choice and login throttling.
//!
//! The session cookie holds 256 random bits; the database keeps only their SHA-256, with the
//! session's CSRF token. Before login, a `pf_csrf` cookie plays the same role (double submit), so
//! the login form is protected too. Cookies are HttpOnly and SameSite=Lax, and Secure when the
//! public URL is https.

use super::AppState;
use crate::error::AppError;
use crate::services::tokens::{digest, random_secret};
use crate::services::{now, Actor, Via};
use axum::extract::FromRequestParts;
use axum::http::header::{ACCEPT_LANGUAGE, COOKIE};
use axum::http::request::Parts;
use pf_domain::user::Language;
use pf_store::SessionRecord;
use subtle::ConstantTimeEq;

/// Session cookie name.
pub const SESSION_COOKIE: &str = "pf_session";
/// Pre-login CSRF cookie name.
pub const CSRF_COOKIE: &str = "pf_csrf";
/// Language choice cookie name.
pub const LANG_COOKIE: &str = "pf_lang";

/// Who is browsing, with what they need to render a page and submit a form.
#[derive(Debug, Clone)]
pub struct Visitor {
    /// The actor (a guest when not logged in).
    pub actor: Actor,
    /// The session, when logged in.
    pub session: Option<SessionRecord>,
    /// The CSRF token forms must carry.
    pub csrf: String,
    /// Whether the pre-login CSRF cookie must be set on the response.
    pub new_csrf_cookie: bool,
    /// The interface language.
    pub lang: Language,
    /// The client address used for login throttling, when known.
    pub client: String,
}

/// The value of one cookie from the request, if present.
pub fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value with the platform's attributes.
pub fn set_cookie(state: &AppState, name: &str, value: &str, max_age: Option<i64>) -> String {
    let secure = if state.platform.config.is_https() {
        "; Secure"
    } else {
        ""
    };
    let age = max_age
        .map(|a| format!("; Max-Age={a}"))
        .unwrap_or_default();
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax{secure}{age}")
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let p = &state.platform;
        let session = match cookie(parts, SESSION_COOKIE) {
            Some(secret) if !secret.is_empty() => p.store.session(&digest(secret)).await?,
            _ => None,
        };
        let user = match &session {
            Some(s) => {
                let u = p.store.user(s.user).await?;
                (!u.disabled).then_some(u)
            }
            None => None,
        };
        let session = session.filter(|_| user.is_some());
        let (csrf, new_csrf_cookie) = match (&session, cookie(parts, CSRF_COOKIE)) {
            (Some(s), _) => (s.csrf_token.clone(), false),
            (None, Some(c)) if c.len() >= 32 => (c.to_string(), false),
            (None, _) => (random_secret(), true),
        };
        let lang = cookie(parts, LANG_COOKIE)
            .and_then(Language::from_tag)
            .or_else(|| user.as_ref().and_then(|u| Language::from_tag(&u.lang)))
            .or_else(|| {
                parts
                    .headers
                    .get(ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(Language::negotiate)
            })
            .unwrap_or_default();
        let client = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_default();
        let actor = match user {
            Some(u) => Actor::user(u, Via::Web),
            None => Actor::guest(Via::Web),
        };
        Ok(Visitor {
            actor,
            session,
            csrf,
            new_csrf_cookie,
            lang,
            client,
        })
    }
}

impl Visitor {
    /// Fails with `bad_csrf` unless the submitted token is this visitor's (constant time).
    pub fn check_csrf(&self, submitted: &str) -> Result<(), AppError> {
        if !self.new_csrf_cookie && bool::from(submitted.as_bytes().ct_eq(self.csrf.as_bytes())) {
            Ok(())
        } else {
            Err(AppError::new(
                pf_api::ErrorCode::BadCsrf,
                "the form expired or did not come from this site; reload the page and try again",
            ))
        }
    }

    /// Fails with `unauthenticated` for visitors who are not logged in.
    pub fn require_login(&self) -> Result<&pf_store::UserRecord, AppError> {
        self.actor
            .user
            .as_ref()
            .ok_or_else(|| AppError::new(pf_api::ErrorCode::Unauthenticated, "please log in first"))
    }
}

/// Starts a session for a user; returns the cookie secret.
pub async fn start_session(
    state: &AppState,
    user: &pf_store::UserRecord,
    lang: Option<String>,
) -> Result<String, AppError> {
    let secret = random_secret();
    let created = now();
    state
        .platform
        .store
        .create_session(pf_store::NewSession {
            id_hash: digest(&secret),
            user: user.id,
            csrf_token: random_secret(),
            created_at: created,
            expires_at: created + state.platform.config.security.session_hours * 3600,
            lang,
        })
        .await?;
    Ok(secret)
}

/// Throttle keys for a login attempt: one per account name, one per client address.
pub fn throttle_keys(username: &str, client: &str) -> Vec<String> {
    let mut keys = vec![format!("user:{}", username.to_lowercase())];
    if !client.is_empty() {
        keys.push(format!("addr:{client}"));
    }
    keys
}
