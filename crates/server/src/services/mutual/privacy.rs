//! Personal data of roaming accounts (SPEC §8): an account keeps only the profile fields a rule
//! of this platform reads **and** the admin trusts from the user's home; the rest of what a jump
//! carries is dropped at once. Accounts not seen for `mutual.roaming_days` are purged by the
//! housekeeping schedule (their enrolments and sessions go with them).

use crate::error::AppError;
use crate::platform::Platform;
use crate::services::{Actor, Via};
use pf_store::PeerRecord;
use std::collections::{BTreeMap, BTreeSet};

/// Longest value kept from a jump.
const MAX_VALUE: usize = 255;

/// The profile values of a jump worth keeping for a user of `peer`: trusted from that peer,
/// read by at least one rule here, and a clean value.
pub async fn kept_fields(
    p: &Platform,
    peer: &PeerRecord,
    carried: &BTreeMap<String, String>,
) -> Result<Vec<(String, String)>, AppError> {
    let trusted: BTreeSet<String> = p.store.trusted_fields(peer.id).await?.into_iter().collect();
    let read: BTreeSet<String> = p
        .store
        .rules()
        .await?
        .iter()
        .flat_map(|r| r.rule.fields().into_iter().map(str::to_string))
        .collect();
    Ok(carried
        .iter()
        .filter(|(k, _)| trusted.contains(*k) && read.contains(*k))
        .filter(|(k, _)| pf_domain::user::parse_field_key(k).is_ok())
        .map(|(k, v)| (k.clone(), v.trim().to_string()))
        .filter(|(_, v)| v.chars().count() <= MAX_VALUE && !v.chars().any(char::is_control))
        .collect())
}

/// Deletes the roaming accounts not seen for the configured number of days; audits each.
pub async fn purge(p: &Platform) -> Result<u64, AppError> {
    let days = p
        .setting_i64(super::ROAMING_DAYS, super::DEFAULT_ROAMING_DAYS)
        .await?
        .max(1);
    let gone = p
        .store
        .purge_roaming(p.clock.now() as i64 - days * 86_400)
        .await?;
    let system = Actor::guest(Via::Cli);
    for (username, peer) in &gone {
        p.audit(
            &system,
            "roaming.purge",
            format!("user:{username}@peer:{peer}"),
            serde_json::json!({ "days": days }),
        )
        .await?;
    }
    Ok(gone.len() as u64)
}
