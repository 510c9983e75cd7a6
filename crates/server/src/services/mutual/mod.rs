//! Mutualisation (SPEC §8): establishments share courses on a common platform.
//!
//! - [`jump`]: the signed jump (home → common platform and back) and the delegation issued with
//!   it; the receiving side verifies, records the jump id (single use), updates the roaming
//!   account and opens a session.
//! - [`deploy`]: "deploy to my platform" on the common platform (who may, the `deploy-home`
//!   job presenting the delegation); [`home`]: the home's side (the delegated offer: the
//!   assigned category, `course:create` checked there).
//! - [`privacy`]: what a roaming account keeps, and the purge of accounts not seen for N days.

pub mod deploy;
pub mod home;
pub mod jump;
pub mod privacy;

use crate::error::AppError;
use crate::platform::Platform;

/// Setting: the profile field holding a user's assigned category idnumber (on the home).
pub const ASSIGNED_FIELD: &str = "mutual.assigned_category_field";
/// Default of [`ASSIGNED_FIELD`].
pub const DEFAULT_ASSIGNED_FIELD: &str = "assigned_category";
/// Setting: roaming accounts not seen for this many days are purged (default 90).
pub const ROAMING_DAYS: &str = "mutual.roaming_days";
/// Default of [`ROAMING_DAYS`].
pub const DEFAULT_ROAMING_DAYS: i64 = 90;
/// Lifetime of the delegation issued at a jump (8 hours, the most SPEC §8 allows).
pub const DELEGATION_LIFETIME: u64 = pf_net::delegation::DELEGATION_MAX_LIFETIME;

/// The profile field naming the assigned category on this platform.
pub async fn assigned_field(p: &Platform) -> Result<String, AppError> {
    Ok(p.store
        .setting(ASSIGNED_FIELD)
        .await?
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_ASSIGNED_FIELD.to_string()))
}

/// The mutualisation settings as a document (`mutual settings --json`, the API).
pub async fn settings_doc(p: &Platform) -> Result<serde_json::Value, AppError> {
    Ok(serde_json::json!({
        "assigned_category_field": assigned_field(p).await?,
        "roaming_days": p.setting_i64(ROAMING_DAYS, DEFAULT_ROAMING_DAYS).await?,
    }))
}

/// The mutualisation settings, for administrators (the API and the settings page).
pub async fn settings(
    p: &Platform,
    actor: &crate::services::Actor,
) -> Result<serde_json::Value, AppError> {
    use pf_domain::access::{Capability, Context};
    p.require(actor, Capability::SiteConfig, Context::System)
        .await?;
    settings_doc(p).await
}

/// Changes the mutualisation settings (administrators).
pub async fn set_settings(
    p: &Platform,
    actor: &crate::services::Actor,
    field: Option<&str>,
    days: Option<i64>,
) -> Result<serde_json::Value, AppError> {
    use pf_domain::access::{Capability, Context};
    p.require(actor, Capability::SiteConfig, Context::System)
        .await?;
    let field = field
        .map(|f| pf_domain::user::parse_field_key(f.trim()))
        .transpose()?;
    if let Some(d) = days {
        if !(1..=3650).contains(&d) {
            return Err(AppError::bad_request("roaming days are between 1 and 3650"));
        }
    }
    if let Some(f) = &field {
        p.store.set_setting(ASSIGNED_FIELD, f).await?;
    }
    if let Some(d) = days {
        p.store.set_setting(ROAMING_DAYS, &d.to_string()).await?;
    }
    let doc = settings_doc(p).await?;
    p.audit(actor, "mutual.settings", "settings", doc.clone())
        .await?;
    Ok(doc)
}
