//! Profile pages: admins define fields and set values; users edit their user-editable fields.

use super::forms::WebForm;
use super::session::Visitor;
use super::{render, AppState};
use crate::error::AppError;
use crate::services::profile;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use pf_domain::ids::UserId;
use pf_domain::user::FieldEditor;
use serde::Deserialize;

fn view(fields: Vec<(String, FieldEditor, String)>) -> Vec<minijinja::Value> {
    fields
        .into_iter()
        .map(|(key, editor, value)| context! { key, admin => editor == FieldEditor::Admin, value })
        .collect()
}

/// The field definitions (administrators).
pub async fn fields(State(state): State<AppState>, visitor: Visitor) -> Result<Response, AppError> {
    let p = &state.platform;
    p.require(
        &visitor.actor,
        pf_domain::access::Capability::SiteConfig,
        pf_domain::access::Context::System,
    )
    .await?;
    let defined: Vec<_> = p
        .store
        .profile_fields()
        .await?
        .into_iter()
        .map(|(key, e)| context! { key, admin => e == FieldEditor::Admin })
        .collect();
    render::page(
        &state,
        &visitor,
        "admin_profile.html",
        context! { fields => defined },
    )
    .await
}

/// The define-field form.
#[derive(Deserialize)]
pub struct DefineFields {
    csrf: String,
    key: String,
    editor: String,
}

/// Defines a field.
pub async fn define(
    State(state): State<AppState>,
    visitor: Visitor,
    WebForm(f): WebForm<DefineFields>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    let editor = match f.editor.as_str() {
        "admin" => FieldEditor::Admin,
        "user" => FieldEditor::User,
        other => {
            return Err(AppError::bad_request(format!(
                "'{other}' is not admin or user"
            )))
        }
    };
    profile::define(&state.platform, &visitor.actor, &f.key, editor).await?;
    Ok(Redirect::to("/admin/profile-fields").into_response())
}

/// A user's profile (the user themself, or an administrator).
pub async fn user_profile(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let me = visitor.require_login()?;
    let p = &state.platform;
    if me.id.0 != id && !p.is_admin(&visitor.actor).await? {
        return Err(AppError::not_found(format!("user {id}")));
    }
    let user = p.store.user(UserId(id)).await?;
    let is_admin = p.is_admin(&visitor.actor).await?;
    let ctx = context! {
        subject => context! { id => user.id.0, username => user.username.as_str(), fullname => user.fullname.as_str() },
        fields => view(profile::fields_of(p, user.id).await?), can_edit_admin_fields => is_admin,
    };
    render::page(&state, &visitor, "profile.html", ctx).await
}

/// One field's new value.
#[derive(Deserialize)]
pub struct ValueFields {
    csrf: String,
    key: String,
    #[serde(default)]
    value: String,
}

/// Saves one field.
pub async fn set_value(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
    WebForm(f): WebForm<ValueFields>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    profile::set_value(
        &state.platform,
        &visitor.actor,
        UserId(id),
        &f.key,
        &f.value,
    )
    .await?;
    Ok(Redirect::to(&format!("/user/{id}/profile")).into_response())
}
