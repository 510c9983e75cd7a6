//! Categories: create, edit, delete, list.

use super::Actor;
use crate::error::AppError;
use crate::platform::Platform;
use pf_domain::access::{Capability, Context};
use pf_domain::category::{flatten_tree, parse_category_name, TreeEntry};
use pf_domain::ids::CategoryId;
use pf_store::{CategoryUpdate, NewCategory};

/// A category as a person typed it.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct CategoryForm {
    /// Display name.
    pub name: String,
    /// Parent category, none for the top level.
    pub parent: Option<i64>,
    /// Optional external key.
    #[serde(default)]
    pub idnumber: String,
}

fn manage_context(parent: Option<CategoryId>) -> Context {
    parent.map(Context::Category).unwrap_or(Context::System)
}

/// Creates a category; needs `category:manage` where it goes.
pub async fn create(
    p: &Platform,
    actor: &Actor,
    form: CategoryForm,
) -> Result<CategoryId, AppError> {
    let name = parse_category_name(&form.name)?;
    let parent = form.parent.map(CategoryId);
    if let Some(parent) = parent {
        p.store.category(parent).await?;
    }
    p.require(actor, Capability::CategoryManage, manage_context(parent))
        .await?;
    let idnumber = form.idnumber.trim().to_string();
    let id = p
        .store
        .create_category(NewCategory {
            parent,
            name: name.clone(),
            idnumber,
            visible: true,
        })
        .await?;
    p.audit(
        actor,
        "category.create",
        format!("category:{id}"),
        serde_json::json!({ "name": name }),
    )
    .await?;
    Ok(id)
}

/// Renames, moves or re-keys a category; needs `category:manage` on it.
pub async fn update(
    p: &Platform,
    actor: &Actor,
    id: CategoryId,
    form: CategoryForm,
) -> Result<(), AppError> {
    let name = parse_category_name(&form.name)?;
    p.store.category(id).await?;
    p.require(actor, Capability::CategoryManage, Context::Category(id))
        .await?;
    let parent = form.parent.map(CategoryId);
    if let Some(parent) = parent {
        p.store.category(parent).await?;
        p.require(actor, Capability::CategoryManage, Context::Category(parent))
            .await?;
    }
    p.store
        .update_category(
            id,
            CategoryUpdate {
                name: Some(name),
                idnumber: Some(form.idnumber.trim().to_string()),
                parent: Some(parent),
                visible: None,
            },
        )
        .await?;
    p.audit(
        actor,
        "category.update",
        format!("category:{id}"),
        serde_json::Value::Null,
    )
    .await
}

/// The tree in display order, without the hidden categories the actor may not see.
pub async fn tree(p: &Platform, actor: &Actor) -> Result<Vec<TreeEntry>, AppError> {
    let all = p.store.categories().await?;
    let see_hidden = p
        .can(actor, Capability::CourseViewHidden, Context::System)
        .await?;
    let entries = flatten_tree(&all)?;
    Ok(entries
        .into_iter()
        .filter(|e| see_hidden || e.category.visible)
        .collect())
}

/// A category as `category list` prints it.
pub fn category_doc(e: TreeEntry) -> pf_api::docs::CategoryDoc {
    pf_api::docs::CategoryDoc {
        id: e.category.id.0,
        parent: e.category.parent.map(|p| p.0),
        name: e.category.name,
        idnumber: e.category.idnumber,
        path: e.path,
    }
}

/// Deletes an empty category; needs `category:manage` on it.
pub async fn delete(p: &Platform, actor: &Actor, id: CategoryId) -> Result<(), AppError> {
    p.store.category(id).await?;
    p.require(actor, Capability::CategoryManage, Context::Category(id))
        .await?;
    for key in [
        crate::platform::settings::LANDING_CATEGORY,
        crate::platform::settings::RUNNING_CATEGORY,
        crate::platform::settings::CLOSED_CATEGORY,
    ] {
        if p.store.setting(key).await?.as_deref() == Some(id.0.to_string().as_str()) {
            return Err(AppError::new(pf_api::ErrorCode::Conflict, "this category is one of the platform's landing or session categories; change the settings first"));
        }
    }
    p.store.delete_category(id).await?;
    p.audit(
        actor,
        "category.delete",
        format!("category:{id}"),
        serde_json::Value::Null,
    )
    .await
}
