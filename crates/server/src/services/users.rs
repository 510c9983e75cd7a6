//! User accounts and role assignments (administration).

use super::Actor;
use crate::error::AppError;
use crate::password;
use crate::platform::Platform;
use pf_domain::access::{Capability, Context, RoleName};
use pf_domain::ids::UserId;
use pf_domain::user::{parse_field_key, Home, Username};
use pf_store::NewUser;

/// A new local account.
#[derive(Debug, Clone, Default)]
pub struct UserForm {
    /// Username.
    pub username: String,
    /// Password (hashed before it is stored); None leaves the account without a password.
    pub password: Option<String>,
    /// E-mail.
    pub email: String,
    /// Full name.
    pub fullname: String,
    /// Language code.
    pub lang: String,
    /// Role assignments.
    pub roles: Vec<(RoleName, Context)>,
    /// Profile values; unknown keys are defined as admin-managed fields.
    pub profile: Vec<(String, String)>,
}

/// Parses the CLI's `ROLE[@CONTEXT]`.
pub fn parse_role_spec(spec: &str) -> Result<(RoleName, Context), AppError> {
    let (role, ctx) = spec.split_once('@').unwrap_or((spec, "system"));
    Ok((role.parse::<RoleName>()?, ctx.parse::<Context>()?))
}

/// User administration needs the site configuration capability.
async fn require_admin(p: &Platform, actor: &Actor) -> Result<(), AppError> {
    p.require(actor, Capability::SiteConfig, Context::System)
        .await
}

/// Creates a local account with its roles and profile, all checked before anything is written.
pub async fn create(p: &Platform, actor: &Actor, form: UserForm) -> Result<UserId, AppError> {
    require_admin(p, actor).await?;
    let username = Username::parse(&form.username)?;
    let password_hash = match &form.password {
        Some(pw) => {
            password::check_strength(pw)?;
            Some(password::hash(pw)?)
        }
        None => None,
    };
    for (_, ctx) in &form.roles {
        check_context_exists(p, *ctx).await?;
    }
    for (key, _) in &form.profile {
        parse_field_key(key)?;
    }
    let lang = if form.lang.is_empty() {
        "en".to_string()
    } else {
        form.lang.clone()
    };
    let id = p
        .store
        .create_user(NewUser {
            username: username.clone(),
            home: Home::Local,
            password_hash,
            email: form.email.trim().to_string(),
            fullname: form.fullname.trim().to_string(),
            lang,
        })
        .await?;
    for (role, ctx) in &form.roles {
        p.store.assign_role(id, *role, *ctx).await?;
        sync_enrolment(p, id, *ctx).await?;
    }
    let defined: Vec<String> = p
        .store
        .profile_fields()
        .await?
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    for (key, value) in &form.profile {
        if !defined.contains(key) {
            p.store
                .define_profile_field(key, pf_domain::user::FieldEditor::Admin)
                .await?;
        }
        p.store.set_profile_value(id, key, value).await?;
    }
    p.audit(
        actor,
        "user.create",
        format!("user:{id}"),
        serde_json::json!({ "username": username.as_str() }),
    )
    .await?;
    Ok(id)
}

/// A course role enrols the user manually; losing the last course role unenrols them.
async fn sync_enrolment(p: &Platform, user: UserId, ctx: Context) -> Result<(), AppError> {
    let Context::Course(course) = ctx else {
        return Ok(());
    };
    let still_there = p
        .store
        .assignments(user)
        .await?
        .iter()
        .any(|a| a.context == ctx);
    if still_there {
        p.store.enrol(user, course, "manual").await?;
    } else {
        p.store.unenrol(user, course, "manual").await?;
    }
    Ok(())
}

async fn check_context_exists(p: &Platform, ctx: Context) -> Result<(), AppError> {
    match ctx {
        Context::System => Ok(()),
        Context::Category(id) => p.store.category(id).await.map(|_| ()).map_err(Into::into),
        Context::Course(id) => p.store.course(id).await.map(|_| ()).map_err(Into::into),
    }
}

/// Assigns (`present`) or removes a role; needs the site configuration capability.
pub async fn set_role(
    p: &Platform,
    actor: &Actor,
    user: UserId,
    role: RoleName,
    ctx: Context,
    present: bool,
) -> Result<(), AppError> {
    require_admin(p, actor).await?;
    p.store.user(user).await?;
    check_context_exists(p, ctx).await?;
    let action = if present {
        p.store.assign_role(user, role, ctx).await?;
        "role.assign"
    } else {
        p.store.unassign_role(user, role, ctx).await?;
        "role.unassign"
    };
    sync_enrolment(p, user, ctx).await?;
    let details = serde_json::json!({ "role": role.as_str(), "context": ctx.to_string() });
    p.audit(actor, action, format!("user:{user}"), details)
        .await
}

/// An account as `user list` prints it.
pub async fn user_doc(
    p: &Platform,
    user: &pf_store::UserRecord,
) -> Result<pf_api::docs::UserDoc, AppError> {
    let roles = p
        .store
        .assignments(user.id)
        .await?
        .iter()
        .map(|a| format!("{}@{}", a.role, a.context))
        .collect();
    let (username, home) = match user.home {
        Home::Local => (user.username.to_string(), p.name().await?),
        Home::Peer(peer) => {
            // Peers arrive with the network; until then a roaming home is shown by its id.
            let home = format!("peer-{peer}");
            (format!("{}@{home}", user.username), home)
        }
    };
    Ok(pf_api::docs::UserDoc {
        id: user.id.0,
        username,
        home,
        roles,
    })
}

/// Every account as `user list` prints them.
pub async fn list_docs(p: &Platform) -> Result<Vec<pf_api::docs::UserDoc>, AppError> {
    let mut docs = Vec::new();
    for u in p.store.users().await? {
        docs.push(user_doc(p, &u).await?);
    }
    Ok(docs)
}
