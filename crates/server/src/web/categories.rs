//! Category pages: create, edit (rename, move, re-key), delete when empty.

use super::authoring::category_options;
use super::forms::{optional_id, WebForm};
use super::session::Visitor;
use super::{render, AppState};
use crate::error::AppError;
use crate::services::categories::{self, CategoryForm};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use pf_domain::ids::CategoryId;
use serde::Deserialize;

/// `?category=ID` (the parent to preselect).
#[derive(Deserialize)]
pub struct ParentQuery {
    category: Option<i64>,
}

/// The new-category form.
pub async fn new_form(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(q): Query<ParentQuery>,
) -> Result<Response, AppError> {
    visitor.require_login()?;
    let ctx = context! {
        categories => category_options(&state, &visitor).await?, parent => q.category, editing => false,
        category => context! { id => Option::<i64>::None, name => "", idnumber => "" },
    };
    render::page(&state, &visitor, "category_form.html", ctx).await
}

/// The category form's fields (new and edit).
#[derive(Deserialize)]
pub struct CategoryFields {
    csrf: String,
    name: String,
    parent: Option<String>,
    #[serde(default)]
    idnumber: String,
}

impl CategoryFields {
    fn into_form(self) -> Result<CategoryForm, AppError> {
        Ok(CategoryForm {
            parent: optional_id(&self.parent)?,
            name: self.name,
            idnumber: self.idnumber,
        })
    }
}

/// Creates a category.
pub async fn create(
    State(state): State<AppState>,
    visitor: Visitor,
    WebForm(f): WebForm<CategoryFields>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    let id = categories::create(&state.platform, &visitor.actor, f.into_form()?).await?;
    Ok(Redirect::to(&format!("/category/{id}")).into_response())
}

/// The edit form.
pub async fn edit_form(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let p = &state.platform;
    let c = p.store.category(CategoryId(id)).await?;
    p.require(
        &visitor.actor,
        pf_domain::access::Capability::CategoryManage,
        pf_domain::access::Context::Category(c.id),
    )
    .await?;
    let ctx = context! {
        categories => category_options(&state, &visitor).await?, parent => c.parent.map(|p| p.0), editing => true,
        category => context! { id => c.id.0, name => c.name, idnumber => c.idnumber },
    };
    render::page(&state, &visitor, "category_form.html", ctx).await
}

/// Saves a category's name, parent and idnumber.
pub async fn update(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
    WebForm(f): WebForm<CategoryFields>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    categories::update(
        &state.platform,
        &visitor.actor,
        CategoryId(id),
        f.into_form()?,
    )
    .await?;
    Ok(Redirect::to(&format!("/category/{id}")).into_response())
}

/// A form with only its CSRF token.
#[derive(Deserialize)]
pub struct CsrfFields {
    csrf: String,
}

/// Deletes an empty category.
pub async fn delete(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
    WebForm(f): WebForm<CsrfFields>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    categories::delete(&state.platform, &visitor.actor, CategoryId(id)).await?;
    Ok(Redirect::to("/").into_response())
}
