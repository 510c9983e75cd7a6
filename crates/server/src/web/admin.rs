//! Administration pages (settings, users and roles, capability table, audit log) and the
//! account page (language, personal API tokens).

use super::forms::{checkbox, WebForm};
use super::session::Visitor;
use super::{render, AppState};
use crate::error::AppError;
use crate::platform::{parse_platform_name, settings};
use crate::services::users::{self, UserForm};
use crate::services::{rfc3339, tokens};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use pf_domain::access::{Capability, Context, RoleName};
use pf_domain::ids::UserId;
use serde::Deserialize;
use std::collections::HashMap;

async fn require_admin(state: &AppState, visitor: &Visitor) -> Result<(), AppError> {
    state
        .platform
        .require(&visitor.actor, Capability::SiteConfig, Context::System)
        .await
}

/// The account page: language and API tokens.
pub async fn account(
    State(state): State<AppState>,
    visitor: Visitor,
) -> Result<Response, AppError> {
    account_page(&state, &visitor, None).await
}

/// Renders the account page, with a just-created token shown once.
async fn account_page(
    state: &AppState,
    visitor: &Visitor,
    new_token: Option<String>,
) -> Result<Response, AppError> {
    let user = visitor.require_login()?;
    let list: Vec<_> = state
        .platform
        .store
        .tokens(user.id)
        .await?
        .iter()
        .map(|t| {
            context! {
                id => t.id, name => t.name.as_str(), created => rfc3339(t.created_at),
                expires => rfc3339(t.expires_at), revoked => t.revoked_at.is_some(),
            }
        })
        .collect();
    let mut response = render::page(
        state,
        visitor,
        "account.html",
        context! { tokens => list, new_token },
    )
    .await?;
    // A page that may show a secret is never cached.
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// The new-token form's fields.
#[derive(Deserialize)]
pub struct TokenFields {
    csrf: String,
    name: String,
    days: Option<i64>,
}

/// Creates a token and shows it once.
pub async fn create_token(
    State(state): State<AppState>,
    visitor: Visitor,
    WebForm(f): WebForm<TokenFields>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    let (secret, _) = tokens::create(&state.platform, &visitor.actor, &f.name, f.days).await?;
    account_page(&state, &visitor, Some(secret)).await
}

/// A CSRF-only form.
#[derive(Deserialize)]
pub struct CsrfFields {
    csrf: String,
}

/// Revokes a token.
pub async fn revoke_token(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
    WebForm(f): WebForm<CsrfFields>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    tokens::revoke(&state.platform, &visitor.actor, id).await?;
    Ok(Redirect::to("/account").into_response())
}

const EDITABLE_SETTINGS: &[(&str, i64)] = &[
    (settings::TRASH_DAYS, 30),
    (settings::AUDIT_DAYS, 365),
    (settings::ARCHIVES_KEPT, 3),
    (settings::SCAN_HOURS, 12),
];

/// The settings page.
pub async fn settings(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    require_admin(&state, &visitor).await?;
    let p = &state.platform;
    let mut numbers = Vec::new();
    for (key, default) in EDITABLE_SETTINGS {
        numbers.push(context! { key => *key, value => p.setting_i64(key, *default).await? });
    }
    let mut landing = Vec::new();
    for key in [
        settings::LANDING_CATEGORY,
        settings::RUNNING_CATEGORY,
        settings::CLOSED_CATEGORY,
    ] {
        landing.push(context! { key, value => p.store.setting(key).await?.and_then(|v| v.parse::<i64>().ok()) });
    }
    let categories: Vec<_> = pf_domain::category::flatten_tree(&p.store.categories().await?)?
        .into_iter()
        .map(|e| context! { id => e.category.id.0, path => e.path })
        .collect();
    let roles: Vec<_> = pf_domain::platform::PlatformRole::ALL
        .iter()
        .map(|r| r.as_str())
        .collect();
    let ctx = context! {
        name => p.name().await?, current_role => p.role().await?.as_str(), roles, numbers, landing, categories,
        url => p.config.platform.url.as_str(), fingerprint => p.identity.fingerprint().to_string(), saved => q.contains_key("saved"),
    };
    render::page(&state, &visitor, "admin_settings.html", ctx).await
}

/// Saves settings; every value is validated before any is written.
pub async fn settings_save(
    State(state): State<AppState>,
    visitor: Visitor,
    WebForm(f): WebForm<HashMap<String, String>>,
) -> Result<Response, AppError> {
    visitor.check_csrf(f.get("csrf").map(String::as_str).unwrap_or(""))?;
    require_admin(&state, &visitor).await?;
    let p = &state.platform;
    let field = |k: &str| f.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let name = parse_platform_name(&field("name"))?;
    let role: pf_domain::platform::PlatformRole = field("role").parse()?;
    let mut changes = vec![
        (settings::NAME.to_string(), name),
        (settings::ROLE.to_string(), role.as_str().to_string()),
    ];
    for (key, _) in EDITABLE_SETTINGS {
        let value: i64 = field(key)
            .parse()
            .map_err(|_| AppError::bad_request(format!("{key} must be a whole number")))?;
        if !(1..=36_500).contains(&value) {
            return Err(AppError::bad_request(format!(
                "{key} must be between 1 and 36500"
            )));
        }
        changes.push((key.to_string(), value.to_string()));
    }
    for key in [
        settings::LANDING_CATEGORY,
        settings::RUNNING_CATEGORY,
        settings::CLOSED_CATEGORY,
    ] {
        let value = field(key);
        if value.is_empty() {
            continue;
        }
        let id: i64 = value
            .parse()
            .map_err(|_| AppError::bad_request(format!("{key} must be a category")))?;
        p.store.category(pf_domain::ids::CategoryId(id)).await?;
        changes.push((key.to_string(), id.to_string()));
    }
    for (key, value) in &changes {
        p.store.set_setting(key, value).await?;
    }
    p.audit(
        &visitor.actor,
        "settings.update",
        "platform",
        serde_json::json!(changes.iter().map(|(k, _)| k).collect::<Vec<_>>()),
    )
    .await?;
    Ok(Redirect::to("/admin/settings?saved=1").into_response())
}

/// The users page: accounts, their roles, and the add-user and assign-role forms.
pub async fn users(State(state): State<AppState>, visitor: Visitor) -> Result<Response, AppError> {
    require_admin(&state, &visitor).await?;
    let p = &state.platform;
    let mut rows = Vec::new();
    for u in p.store.users().await? {
        let roles: Vec<String> = p
            .store
            .assignments(u.id)
            .await?
            .iter()
            .map(|a| format!("{}@{}", a.role, a.context))
            .collect();
        rows.push(context! { id => u.id.0, username => u.username.as_str(), fullname => u.fullname.as_str(), email => u.email.as_str(), roaming => u.home != pf_domain::user::Home::Local, disabled => u.disabled, roles });
    }
    let role_names: Vec<_> = RoleName::ALL
        .iter()
        .map(|r| r.as_str())
        .filter(|r| *r != "guest")
        .collect();
    render::page(
        &state,
        &visitor,
        "admin_users.html",
        context! { users => rows, role_names },
    )
    .await
}

/// The add-user form's fields.
#[derive(Deserialize)]
pub struct NewUserFields {
    csrf: String,
    username: String,
    password: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    fullname: String,
}

/// Adds a local account.
pub async fn user_create(
    State(state): State<AppState>,
    visitor: Visitor,
    WebForm(f): WebForm<NewUserFields>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    let form = UserForm {
        username: f.username,
        password: Some(f.password),
        email: f.email,
        fullname: f.fullname,
        lang: visitor.lang.code().into(),
        ..Default::default()
    };
    users::create(&state.platform, &visitor.actor, form).await?;
    Ok(Redirect::to("/admin/users").into_response())
}

/// The role form's fields.
#[derive(Deserialize)]
pub struct RoleFields {
    csrf: String,
    role: String,
    context: String,
    action: String,
}

/// Assigns or removes a role.
pub async fn user_roles(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
    WebForm(f): WebForm<RoleFields>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    let role: RoleName = f.role.parse()?;
    let ctx: Context = f.context.trim().parse()?;
    match f.action.as_str() {
        "assign" => {
            users::set_role(&state.platform, &visitor.actor, UserId(id), role, ctx, true).await?
        }
        "unassign" => {
            users::set_role(
                &state.platform,
                &visitor.actor,
                UserId(id),
                role,
                ctx,
                false,
            )
            .await?
        }
        other => return Err(AppError::bad_request(format!("unknown action '{other}'"))),
    }
    Ok(Redirect::to("/admin/users").into_response())
}

/// The capability table.
pub async fn roles(State(state): State<AppState>, visitor: Visitor) -> Result<Response, AppError> {
    require_admin(&state, &visitor).await?;
    let table = state.platform.store.role_capabilities().await?;
    let roles: Vec<RoleName> = RoleName::ALL
        .iter()
        .copied()
        .filter(|r| *r != RoleName::Admin)
        .collect();
    let rows: Vec<_> = Capability::ALL
        .iter()
        .filter(|c| **c != Capability::SiteConfig)
        .map(|c| {
            let cells: Vec<_> = roles.iter().map(|r| context! { field => format!("{}|{}", r.as_str(), c.as_str()), on => table.role_has(*r, *c) }).collect();
            context! { capability => c.as_str(), cells }
        })
        .collect();
    let role_names: Vec<_> = roles.iter().map(|r| r.as_str()).collect();
    render::page(
        &state,
        &visitor,
        "admin_roles.html",
        context! { rows, role_names },
    )
    .await
}

/// Saves the capability table from its checkboxes.
pub async fn roles_save(
    State(state): State<AppState>,
    visitor: Visitor,
    WebForm(f): WebForm<HashMap<String, String>>,
) -> Result<Response, AppError> {
    visitor.check_csrf(f.get("csrf").map(String::as_str).unwrap_or(""))?;
    require_admin(&state, &visitor).await?;
    let p = &state.platform;
    let table = p.store.role_capabilities().await?;
    for role in RoleName::ALL.iter().filter(|r| **r != RoleName::Admin) {
        for cap in Capability::ALL
            .iter()
            .filter(|c| **c != Capability::SiteConfig)
        {
            let wanted = checkbox(
                &f.get(&format!("{}|{}", role.as_str(), cap.as_str()))
                    .cloned(),
            );
            if wanted != table.role_has(*role, *cap) {
                p.store.set_role_capability(*role, *cap, wanted).await?;
                p.audit(
                    &visitor.actor,
                    "capability.set",
                    format!("role:{role}"),
                    serde_json::json!({ "capability": cap.as_str(), "allowed": wanted }),
                )
                .await?;
            }
        }
    }
    Ok(Redirect::to("/admin/roles").into_response())
}

/// `?page=N`
#[derive(Deserialize)]
pub struct AuditQuery {
    page: Option<i64>,
}

/// The audit log, newest first.
pub async fn audit(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(q): Query<AuditQuery>,
) -> Result<Response, AppError> {
    require_admin(&state, &visitor).await?;
    let page = q.page.unwrap_or(1).max(1);
    let entries: Vec<_> = state
        .platform
        .store
        .audit((page - 1) * 50, 50)
        .await?
        .iter()
        .map(|a| context! { at => rfc3339(a.at), actor => a.actor.as_str(), action => a.action.as_str(), target => a.target.as_str(), result => a.result.as_str(), details => a.details.to_string() })
        .collect();
    render::page(
        &state,
        &visitor,
        "admin_audit.html",
        context! { entries, page },
    )
    .await
}

/// The course trash (administrators).
pub async fn trash(State(state): State<AppState>, visitor: Visitor) -> Result<Response, AppError> {
    let courses: Vec<_> = crate::services::courses::trash_list(&state.platform, &visitor.actor)
        .await?
        .iter()
        .map(|c| context! { id => c.id.0, fullname => c.fullname.as_str(), shortname => c.shortname.as_str(), deleted => c.deleted_at.map(rfc3339) })
        .collect();
    render::page(&state, &visitor, "admin_trash.html", context! { courses }).await
}

/// Restores a trashed course.
pub async fn restore(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
    WebForm(f): WebForm<CsrfFields>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    crate::services::courses::restore(
        &state.platform,
        &visitor.actor,
        pf_domain::ids::CourseId(id),
    )
    .await?;
    Ok(Redirect::to(&format!("/course/{id}")).into_response())
}
