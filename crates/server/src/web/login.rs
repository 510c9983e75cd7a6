//! Log in, log out, and the language switch.

use super::forms::WebForm;
use super::session::{
    set_cookie, start_session, throttle_keys, Visitor, LANG_COOKIE, SESSION_COOKIE,
};
use super::{local_path, render, AppState};
use crate::error::AppError;
use crate::password;
use crate::services::now;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use pf_domain::user::{Language, Username};
use serde::Deserialize;

/// `?next=` on the login page.
#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// The login form.
pub async fn form(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(q): Query<NextQuery>,
) -> Result<Response, AppError> {
    let ctx = minijinja::context! { next => local_path(q.next.as_deref()), error => Option::<String>::None, username => "" };
    render::page(&state, &visitor, "login.html", ctx).await
}

/// The login form's fields.
#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    csrf: String,
    next: Option<String>,
}

/// Checks a login. Unknown users, roaming accounts, disabled accounts and wrong passwords all get
/// the same answer after the same work; repeated failures are throttled per account and address.
pub async fn submit(
    State(state): State<AppState>,
    visitor: Visitor,
    WebForm(form): WebForm<LoginForm>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&form.csrf)?;
    let p = &state.platform;
    let sec = &p.config.security;
    let since = now() - sec.login_window_minutes * 60;
    let keys = throttle_keys(&form.username, &visitor.client);
    for (i, key) in keys.iter().enumerate() {
        // An address may fail for several accounts (a shared school network) before it is held back.
        let limit = if i == 0 {
            sec.login_max_failures
        } else {
            sec.login_max_failures * 4
        };
        if p.store.failed_logins_since(key, since).await? >= limit {
            let message = state.tr(visitor.lang, "login.throttled");
            return login_failed(
                &state,
                &visitor,
                &form,
                StatusCode::TOO_MANY_REQUESTS,
                message,
            )
            .await;
        }
    }
    let user = match Username::parse(form.username.trim()) {
        Ok(name) => p.store.local_user(&name).await.ok(),
        Err(_) => None,
    };
    let hash = user.as_ref().and_then(|u| u.password_hash.clone());
    let valid = password::verify(
        &form.password,
        hash.as_deref().unwrap_or(password::decoy_hash()),
    );
    let user = match user {
        Some(u) if valid && !u.disabled && hash.is_some() => u,
        _ => {
            for key in &keys {
                p.store.record_failed_login(key, now()).await?;
            }
            let message = state.tr(visitor.lang, "login.failed");
            return login_failed(&state, &visitor, &form, StatusCode::UNAUTHORIZED, message).await;
        }
    };
    p.store.clear_failed_logins(&keys[0]).await?;
    let secret = start_session(&state, &user, Some(visitor.lang.code().to_string())).await?;
    let mut response = Redirect::to(&local_path(form.next.as_deref())).into_response();
    let cookie = set_cookie(
        &state,
        SESSION_COOKIE,
        &secret,
        Some(sec.session_hours * 3600),
    );
    response.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(AppError::internal)?,
    );
    let actor = crate::services::Actor::user(user, crate::services::Via::Web);
    p.audit(
        &actor,
        "login",
        "session",
        serde_json::json!({ "client": visitor.client }),
    )
    .await?;
    Ok(response)
}

async fn login_failed(
    state: &AppState,
    visitor: &Visitor,
    form: &LoginForm,
    status: StatusCode,
    message: String,
) -> Result<Response, AppError> {
    let ctx = minijinja::context! { next => local_path(form.next.as_deref()), error => message, username => form.username.as_str() };
    render::page_with_status(state, visitor, status, "login.html", ctx).await
}

/// A form that carries only its CSRF token.
#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

/// Ends the session.
pub async fn logout(
    State(state): State<AppState>,
    visitor: Visitor,
    WebForm(form): WebForm<CsrfOnly>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&form.csrf)?;
    if let Some(s) = &visitor.session {
        state.platform.store.delete_session(&s.id_hash).await?;
    }
    let mut response = Redirect::to("/").into_response();
    let cookie = set_cookie(&state, SESSION_COOKIE, "", Some(0));
    response.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(AppError::internal)?,
    );
    Ok(response)
}

/// The language switch's fields.
#[derive(Deserialize)]
pub struct LanguageForm {
    lang: String,
    csrf: String,
    back: Option<String>,
}

/// Switches the interface language (a cookie, and the account's preference when logged in).
pub async fn language(
    State(state): State<AppState>,
    visitor: Visitor,
    WebForm(form): WebForm<LanguageForm>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&form.csrf)?;
    let lang = Language::from_tag(&form.lang)
        .ok_or_else(|| AppError::bad_request("unsupported language"))?;
    if let Some(user) = &visitor.actor.user {
        let update = pf_store::UserUpdate {
            lang: Some(lang.code().to_string()),
            ..Default::default()
        };
        state.platform.store.update_user(user.id, update).await?;
    }
    let mut response = Redirect::to(&local_path(form.back.as_deref())).into_response();
    let cookie = set_cookie(&state, LANG_COOKIE, lang.code(), Some(365 * 86_400));
    response.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(AppError::internal)?,
    );
    Ok(response)
}
