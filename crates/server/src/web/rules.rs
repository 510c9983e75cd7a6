//! The profile rules page (administrators): rules with who would match them, add and remove,
//! the fields trusted from each peer's users, and the mutualisation settings (the profile field
//! naming a user's assigned category, how long roaming accounts are kept).

use super::forms::WebForm;
use super::session::Visitor;
use super::{render, AppState};
use crate::error::AppError;
use crate::services::rules;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use pf_domain::access::Context;
use pf_domain::rules::RuleGrant;
use serde::Deserialize;

/// The page.
pub async fn page(State(state): State<AppState>, visitor: Visitor) -> Result<Response, AppError> {
    let p = &state.platform;
    let rows: Vec<_> = rules::who_matches(p, &visitor.actor)
        .await?
        .into_iter()
        .map(|(r, users)| context! { id => r.id, context => r.context.to_string(), grant => r.grant.as_str(), rule => r.rule.to_string(), users })
        .collect();
    let mut peers = Vec::new();
    for peer in p.store.peers().await? {
        peers.push(context! { id => peer.id.0, name => peer.name.clone(), trusted => p.store.trusted_fields(peer.id).await?.join(", ") });
    }
    let settings = crate::services::mutual::settings(p, &visitor.actor).await?;
    render::page(
        &state,
        &visitor,
        "admin_rules.html",
        context! { rules => rows, peers, settings },
    )
    .await
}

/// The mutualisation settings form.
#[derive(Deserialize)]
pub struct SettingsFields {
    csrf: String,
    assigned_category_field: String,
    roaming_days: String,
}

/// Saves the mutualisation settings (assigned category field, roaming retention).
pub async fn settings(
    State(state): State<AppState>,
    visitor: Visitor,
    WebForm(f): WebForm<SettingsFields>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    let days: i64 = f
        .roaming_days
        .trim()
        .parse()
        .map_err(|_| AppError::bad_request("roaming days are a whole number"))?;
    crate::services::mutual::set_settings(
        &state.platform,
        &visitor.actor,
        Some(&f.assigned_category_field),
        Some(days),
    )
    .await?;
    Ok(Redirect::to("/admin/rules").into_response())
}

/// The add-rule form.
#[derive(Deserialize)]
pub struct RuleFields {
    csrf: String,
    context: String,
    grant: String,
    rule: String,
}

/// Adds a rule.
pub async fn add(
    State(state): State<AppState>,
    visitor: Visitor,
    WebForm(f): WebForm<RuleFields>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    let context: Context = f.context.trim().parse()?;
    rules::add(
        &state.platform,
        &visitor.actor,
        context,
        RuleGrant::parse(&f.grant)?,
        &f.rule,
    )
    .await?;
    Ok(Redirect::to("/admin/rules").into_response())
}

/// A CSRF-only form.
#[derive(Deserialize)]
pub struct CsrfFields {
    csrf: String,
}

/// Removes a rule.
pub async fn remove(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
    WebForm(f): WebForm<CsrfFields>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    rules::remove(&state.platform, &visitor.actor, id).await?;
    Ok(Redirect::to("/admin/rules").into_response())
}

/// The trusted-fields form.
#[derive(Deserialize)]
pub struct TrustFields {
    csrf: String,
    #[serde(default)]
    fields: String,
}

/// Sets the fields trusted from a peer's users.
pub async fn trust(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(peer): Path<i64>,
    WebForm(f): WebForm<TrustFields>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    rules::trust(
        &state.platform,
        &visitor.actor,
        pf_domain::ids::PeerId(peer),
        &f.fields,
    )
    .await?;
    Ok(Redirect::to("/admin/rules").into_response())
}
