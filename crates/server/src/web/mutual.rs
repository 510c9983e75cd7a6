//! The faces of mutualisation (SPEC §8) in the browser.
//!
//! - `POST /jump/to/{peer}` (home, logged in, CSRF): renders a page whose form POSTs the signed
//!   jump and the delegation to the peer's `/jump` — never in a URL. `/static/jump.js` submits it
//!   at once; the visible button is the path without JavaScript. The page's CSP allows exactly
//!   that one foreign form target.
//! - `POST /jump` (the audience; the token is the proof, so no CSRF token): verifies, opens a
//!   session, redirects to a local path.
//! - `POST /course/{id}/deploy-home` (common platform): "deploy to my platform", one click.
//! - `POST /jobs/{id}/open-copy` (common platform): the jump back to the user's new copy.

use super::forms::WebForm;
use super::session::{set_cookie, Visitor, SESSION_COOKIE};
use super::{render, AppState};
use crate::error::AppError;
use crate::services::mutual::{deploy, jump};
use crate::services::Actor;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::context;
use pf_domain::ids::{CourseId, JobId, PeerId};
use serde::Deserialize;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/jump", post(arrive))
        .route("/jump/to/{peer}", post(leave))
        .route("/course/{id}/deploy-home", post(deploy_home))
        .route("/jobs/{id}/open-copy", post(open_copy))
        .route("/static/jump.js", get(script))
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        "document.getElementById('jump-form').submit();\n",
    )
        .into_response()
}

/// The jump targets of the front page: `[{id, name}]`.
pub async fn targets(
    p: &crate::platform::Platform,
    actor: &Actor,
) -> Result<Vec<minijinja::Value>, AppError> {
    Ok(jump::targets(p, actor)
        .await?
        .into_iter()
        .map(|(id, name)| context! { id => id.0, name })
        .collect())
}

/// What the course page shows of "deploy to my platform": nothing (`none`), or the button,
/// with a deploy key field when the course has a key (`{key: true}`).
pub async fn course_offers_deploy_home(
    p: &crate::platform::Platform,
    actor: &Actor,
    course: CourseId,
) -> Result<minijinja::Value, AppError> {
    if !deploy::may_deploy_home(p, actor, course).await? {
        return Ok(minijinja::Value::from(()));
    }
    Ok(context! { key => deploy::needs_key(p, course).await? })
}

/// The origin (`scheme://host[:port]`) of a URL, for the CSP.
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split('/').next()?;
    (!host.is_empty() && !host.contains(['\'', ';', ' ', '"']))
        .then(|| format!("{scheme}://{host}"))
}

async fn jump_page(
    state: &AppState,
    visitor: &Visitor,
    form: jump::JumpForm,
) -> Result<Response, AppError> {
    let target = origin(&form.action).ok_or_else(|| AppError::internal("peer URL"))?;
    let mut response = render::page(state, visitor, "jump.html", context! { form }).await?;
    let csp = format!(
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self' {target}; base-uri 'none'"
    );
    response.headers_mut().insert(
        "content-security-policy",
        HeaderValue::from_str(&csp).map_err(AppError::internal)?,
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .headers_mut()
        .insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    Ok(response)
}

/// The "go to" form.
#[derive(Deserialize)]
pub struct LeaveFields {
    csrf: String,
    next: Option<String>,
}

/// `POST /jump/to/{peer}`.
pub async fn leave(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(peer): Path<i64>,
    WebForm(f): WebForm<LeaveFields>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    visitor.require_login()?;
    let form = jump::to_peer(
        &state.platform,
        &visitor.actor,
        PeerId(peer),
        f.next.as_deref(),
    )
    .await?;
    jump_page(&state, &visitor, form).await
}

/// What a jump POSTs.
#[derive(Deserialize)]
pub struct ArriveFields {
    token: String,
    delegation: Option<String>,
    next: Option<String>,
}

/// `POST /jump`. It carries no CSRF token (it comes from the user's home, and the signed,
/// single-use, audience-bound jump is the proof), so it is read without [`WebForm`].
pub async fn arrive(
    State(state): State<AppState>,
    visitor: Visitor,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let f: ArriveFields = serde_urlencoded::from_bytes(&body)
        .map_err(|e| AppError::bad_request(format!("the jump could not be read: {e}")))?;
    let accepted = jump::accept(
        &state.platform,
        f.token.trim(),
        f.delegation.as_deref(),
        f.next.as_deref(),
    )
    .await?;
    if let Some(s) = &visitor.session {
        state.platform.store.delete_session(&s.id_hash).await?;
    }
    let secret = super::session::start_session(&state, &accepted.user, None).await?;
    let mut response = Redirect::to(&accepted.next).into_response();
    let hours = state.platform.config.security.session_hours;
    let cookie = set_cookie(&state, SESSION_COOKIE, &secret, Some(hours * 3600));
    response.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(AppError::internal)?,
    );
    Ok(response)
}

/// A CSRF-only form.
#[derive(Deserialize)]
pub struct CsrfFields {
    csrf: String,
}

/// The one-click form: the CSRF token, and the deploy key when the course has one.
#[derive(Deserialize)]
pub struct DeployHomeFields {
    csrf: String,
    #[serde(default)]
    deploy_key: Option<String>,
}

/// `POST /course/{id}/deploy-home`.
pub async fn deploy_home(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
    WebForm(f): WebForm<DeployHomeFields>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    visitor.require_login()?;
    let key = f.deploy_key.as_deref().filter(|k| !k.is_empty());
    let job = deploy::start(&state.platform, &visitor.actor, CourseId(id), key, None).await?;
    Ok(Redirect::to(&format!("/jobs/{}", job.id)).into_response())
}

/// `POST /jobs/{id}/open-copy`: the jump back to the copy a done `deploy-home` job made.
pub async fn open_copy(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
    WebForm(f): WebForm<CsrfFields>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    visitor.require_login()?;
    let p = &state.platform;
    let job = crate::services::jobs::show(p, &visitor.actor, JobId(id)).await?;
    let course = job
        .result
        .as_ref()
        .and_then(|r| r["course_id"].as_i64())
        .filter(|_| {
            job.kind == deploy::KIND && job.actor_user == visitor.actor.user.as_ref().map(|u| u.id)
        })
        .ok_or_else(|| AppError::bad_request("this job made no copy of yours"))?;
    let form = jump::back_home(p, &visitor.actor, &format!("/course/{course}")).await?;
    jump_page(&state, &visitor, form).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn origins() {
        assert_eq!(
            super::origin("http://127.0.0.1:8080/jump").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(
            super::origin("https://a.example/x/jump").as_deref(),
            Some("https://a.example")
        );
        assert_eq!(super::origin("nothing"), None);
        assert_eq!(super::origin("https://a b/"), None);
    }
}
