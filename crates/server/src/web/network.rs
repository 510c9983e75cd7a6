//! The network page (admins): this platform's fingerprint, pairing (invite, add), peers with
//! role, last scan, category count and editable grants, enable/disable/remove, "sync now".

use super::forms::WebForm;
use super::session::Visitor;
use super::{render, AppState};
use crate::error::AppError;
use crate::services::peers::{self, require_admin};
use crate::services::{discovery, now, pairing, rfc3339};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use pf_domain::admission::Grant;
use pf_domain::ids::PeerId;
use pf_domain::platform::PlatformRole;
use serde::Deserialize;
use std::collections::{BTreeSet, HashMap};

/// Scans older than this show a warning (14 days).
const STALE_SCAN_SECS: i64 = 14 * 86_400;

async fn render_page(
    state: &AppState,
    visitor: &Visitor,
    new_code: Option<String>,
) -> Result<Response, AppError> {
    let p = &state.platform;
    require_admin(p, &visitor.actor).await?;
    let mut rows = Vec::new();
    for r in peers::list(p, &visitor.actor).await? {
        let role_known = r
            .role
            .as_deref()
            .is_some_and(|x| x.parse::<PlatformRole>().is_ok());
        let scan_state = match r.last_scan {
            None => "never",
            Some(t) if now() - t > STALE_SCAN_SECS => "old",
            Some(_) => "ok",
        };
        let grants: Vec<_> = Grant::ALL
            .iter()
            .map(|g| context! { name => g.as_str(), on => r.grants.contains(g) })
            .collect();
        rows.push(context! {
            id => r.id.0, name => r.name.as_str(), url => r.url.as_str(), role => r.role.clone(),
            role_known, scan_state, last_scan => r.last_scan.map(rfc3339), last_error => r.last_error.clone(),
            categories => p.store.remote_category_count(r.id).await?, grants,
            active => r.status == pf_store::PeerStatus::Active,
            fingerprint => peers::peer_doc(&r).fingerprint,
        });
    }
    let ctx = context! {
        fingerprint => p.identity.fingerprint().to_string(), url => p.config.platform.url.as_str(),
        peers => rows, new_code,
    };
    render::page(state, visitor, "network.html", ctx).await
}

/// `GET /admin/network`.
pub async fn page(State(state): State<AppState>, visitor: Visitor) -> Result<Response, AppError> {
    render_page(&state, &visitor, None).await
}

/// A form with only its CSRF token.
#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

/// `POST /admin/network/invite`: shows a new code once.
pub async fn invite(
    State(state): State<AppState>,
    visitor: Visitor,
    WebForm(f): WebForm<CsrfOnly>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    let code = pairing::invite(&state.platform, &visitor.actor).await?;
    let mut response = render_page(&state, &visitor, Some(code)).await?;
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// The add-a-peer form.
#[derive(Deserialize)]
pub struct AddFields {
    csrf: String,
    url: String,
    code: String,
}

/// `POST /admin/network/add`: redeems a code issued by the platform at `url`.
pub async fn add(
    State(state): State<AppState>,
    visitor: Visitor,
    WebForm(f): WebForm<AddFields>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    pairing::redeem(&state.platform, &visitor.actor, &f.url, &f.code).await?;
    Ok(Redirect::to("/admin/network").into_response())
}

/// `POST /admin/network/{id}`: grants (checkboxes `grant_NAME`) and `action` = save, enable,
/// disable or remove.
pub async fn change(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
    WebForm(f): WebForm<HashMap<String, String>>,
) -> Result<Response, AppError> {
    visitor.check_csrf(f.get("csrf").map(String::as_str).unwrap_or(""))?;
    let p = &state.platform;
    let peer = PeerId(id);
    match f.get("action").map(String::as_str).unwrap_or("save") {
        "save" => {
            let grants: BTreeSet<Grant> = Grant::ALL
                .into_iter()
                .filter(|g| f.contains_key(&format!("grant_{}", g.as_str())))
                .collect();
            peers::set(p, &visitor.actor, peer, Some(grants), None).await?;
        }
        "enable" => drop(peers::set(p, &visitor.actor, peer, None, Some(true)).await?),
        "disable" => drop(peers::set(p, &visitor.actor, peer, None, Some(false)).await?),
        "remove" => peers::remove(p, &visitor.actor, peer).await?,
        other => return Err(AppError::bad_request(format!("unknown action '{other}'"))),
    }
    Ok(Redirect::to("/admin/network").into_response())
}

/// `POST /admin/network/scan`: "sync now".
pub async fn scan(
    State(state): State<AppState>,
    visitor: Visitor,
    WebForm(f): WebForm<CsrfOnly>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    discovery::scan(&state.platform, &visitor.actor, None).await?;
    Ok(Redirect::to("/admin/network").into_response())
}
