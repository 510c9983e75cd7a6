//! Profile fields: admins define them as admin-managed or user-editable; users fill in only the
//! user-editable ones. Admin-managed fields are the ones peers may trust (SPEC §8), so a user can
//! never set one on their own account.

use super::Actor;
use crate::error::AppError;
use crate::platform::Platform;
use pf_domain::access::{Capability, Context};
use pf_domain::ids::UserId;
use pf_domain::user::{parse_field_key, FieldEditor};

/// Longest profile value accepted.
const MAX_VALUE: usize = 255;

fn clean_value(value: &str) -> Result<String, AppError> {
    let v = value.trim();
    if v.chars().count() > MAX_VALUE || v.chars().any(char::is_control) {
        return Err(AppError::bad_request(format!(
            "a profile value has at most {MAX_VALUE} characters and no control characters"
        )));
    }
    Ok(v.to_string())
}

/// Defines (or re-marks) a field; administrators only.
pub async fn define(
    p: &Platform,
    actor: &Actor,
    key: &str,
    editor: FieldEditor,
) -> Result<(), AppError> {
    p.require(actor, Capability::SiteConfig, Context::System)
        .await?;
    let key = parse_field_key(key.trim())?;
    p.store.define_profile_field(&key, editor).await?;
    p.audit(
        actor,
        "profile.define",
        format!("field:{key}"),
        serde_json::json!({ "editor": editor }),
    )
    .await
}

/// Sets a value on an account: administrators set any field; a user sets only the
/// user-editable fields of their own account.
pub async fn set_value(
    p: &Platform,
    actor: &Actor,
    user: UserId,
    key: &str,
    value: &str,
) -> Result<(), AppError> {
    set_values(p, actor, user, &[(key.to_string(), value.to_string())]).await
}

/// Sets several values on an account, every one checked (field defined, the actor allowed,
/// a clean value) before the first is written, so a bad pair changes nothing.
pub async fn set_values(
    p: &Platform,
    actor: &Actor,
    user: UserId,
    pairs: &[(String, String)],
) -> Result<(), AppError> {
    let fields = p.store.profile_fields().await?;
    let admin = p.is_admin(actor).await?;
    let is_self = actor.user.as_ref().is_some_and(|u| u.id == user);
    let mut clean = Vec::with_capacity(pairs.len());
    for (key, value) in pairs {
        let editor = fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, e)| *e)
            .ok_or_else(|| AppError::not_found(format!("profile field '{key}'")))?;
        if !(admin || (is_self && editor == FieldEditor::User)) {
            return Err(AppError::forbidden(format!(
                "profile field '{key}' (admin-managed)"
            )));
        }
        clean.push((key, clean_value(value)?));
    }
    p.store.user(user).await?;
    for (key, value) in clean {
        p.store.set_profile_value(user, key, &value).await?;
        p.audit(
            actor,
            "profile.set",
            format!("user:{user}"),
            serde_json::json!({ "field": key }),
        )
        .await?;
    }
    Ok(())
}

/// A user's profile values (`{field: value}`, every defined field): administrators read
/// anyone's, a user their own.
pub async fn values_of(
    p: &Platform,
    actor: &Actor,
    user: UserId,
) -> Result<serde_json::Map<String, serde_json::Value>, AppError> {
    let is_self = actor.user.as_ref().is_some_and(|u| u.id == user);
    if !is_self && !p.is_admin(actor).await? {
        return Err(AppError::not_found(format!("user {user}")));
    }
    p.store.user(user).await?;
    Ok(fields_of(p, user)
        .await?
        .into_iter()
        .map(|(k, _, v)| (k, serde_json::Value::String(v)))
        .collect())
}

/// A user's fields with their editor and value (empty when unset), in definition order.
pub async fn fields_of(
    p: &Platform,
    user: UserId,
) -> Result<Vec<(String, FieldEditor, String)>, AppError> {
    let values = p.store.profile_values(user).await?;
    Ok(p.store
        .profile_fields()
        .await?
        .into_iter()
        .map(|(k, e)| {
            let v = values
                .iter()
                .find(|(vk, _)| *vk == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            (k, e, v)
        })
        .collect())
}
