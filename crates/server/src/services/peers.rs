//! Paired peers for admins: list, grants, enable/disable, remove, explicit identity links, the
//! synced category trees (SPEC §6.1, §6.2, §5.9).

use super::{now, rfc3339, Actor};
use crate::error::AppError;
use crate::platform::Platform;
use pf_domain::access::{Capability, Context};
use pf_domain::admission::Grant;
use pf_domain::ids::PeerId;
use pf_domain::user::Username;
use pf_store::{PeerRecord, PeerStatus};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

/// A peer as `peer list --json` and the API print it.
#[derive(Debug, Clone, Serialize)]
pub struct PeerDoc {
    /// Id on this platform.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Base URL recorded at pairing.
    pub url: String,
    /// Role name, null before it is known.
    pub role: Option<String>,
    /// Key fingerprint.
    pub fingerprint: String,
    /// Last successful scan (RFC 3339) or null.
    pub last_scan: Option<String>,
    /// `active` or `disabled`.
    pub status: String,
    /// Grants this platform gives it.
    pub grants: Vec<String>,
}

/// The document of a peer.
pub fn peer_doc(r: &PeerRecord) -> PeerDoc {
    let fingerprint = r
        .public_key
        .parse::<pf_net::PublicKey>()
        .map(|k| k.fingerprint().to_string())
        .unwrap_or_default();
    PeerDoc {
        id: r.id.0,
        name: r.name.clone(),
        url: r.url.clone(),
        role: r.role.clone(),
        fingerprint,
        last_scan: r.last_scan.map(rfc3339),
        status: r.status.as_str().to_owned(),
        grants: r.grants.iter().map(|g| g.as_str().to_owned()).collect(),
    }
}

/// One category of a peer's synced tree, as `category list` prints a category.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteCategoryDoc {
    /// Id on the peer.
    pub id: i64,
    /// Parent's id on the peer.
    pub parent: Option<i64>,
    /// Name.
    pub name: String,
    /// idnumber.
    pub idnumber: String,
    /// Names from the top, joined with " / ".
    pub path: String,
}

/// Fails unless the actor is the site admin.
pub async fn require_admin(p: &Platform, actor: &Actor) -> Result<(), AppError> {
    p.require(actor, Capability::SiteConfig, Context::System)
        .await
}

/// Finds a peer by id or unique name (what `PEER` means on the command line).
pub async fn resolve(p: &Platform, peer: &str) -> Result<PeerRecord, AppError> {
    let peers = p.store.peers().await?;
    if let Ok(id) = peer.parse::<i64>() {
        if let Some(r) = peers.iter().find(|r| r.id.0 == id) {
            return Ok(r.clone());
        }
    }
    let named: Vec<_> = peers.iter().filter(|r| r.name == peer).collect();
    match named.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(AppError::not_found(format!("peer '{peer}'"))),
        _ => Err(AppError::bad_request(format!(
            "several peers are named '{peer}': use the id from `peer list`"
        ))),
    }
}

/// Every active or disabled peer.
pub async fn list(p: &Platform, actor: &Actor) -> Result<Vec<PeerRecord>, AppError> {
    require_admin(p, actor).await?;
    Ok(p.store.peers().await?)
}

/// Changes a peer's grants and/or status; validated before anything is written.
pub async fn set(
    p: &Platform,
    actor: &Actor,
    peer: PeerId,
    grants: Option<BTreeSet<Grant>>,
    enabled: Option<bool>,
) -> Result<PeerRecord, AppError> {
    require_admin(p, actor).await?;
    let record = p.store.peer(peer).await?;
    if record.status == PeerStatus::Removed {
        return Err(AppError::not_found(format!("peer {peer}")));
    }
    if let Some(grants) = &grants {
        p.store.set_peer_grants(peer, grants).await?;
    }
    if let Some(enabled) = enabled {
        let status = if enabled {
            PeerStatus::Active
        } else {
            PeerStatus::Disabled
        };
        p.store.set_peer_status(peer, status).await?;
    }
    let after = p.store.peer(peer).await?;
    p.audit(
        actor,
        "peer.set",
        format!("peer:{peer}"),
        serde_json::json!({ "grants": peer_doc(&after).grants, "status": after.status.as_str() }),
    )
    .await?;
    Ok(after)
}

/// Removes a peer: refused from now on; its courses, lineage and audit stay; its roaming
/// accounts are disabled.
pub async fn remove(p: &Platform, actor: &Actor, peer: PeerId) -> Result<(), AppError> {
    require_admin(p, actor).await?;
    p.store.peer(peer).await?;
    p.store.set_peer_status(peer, PeerStatus::Removed).await?;
    p.audit(
        actor,
        "peer.remove",
        format!("peer:{peer}"),
        serde_json::Value::Null,
    )
    .await
}

/// Links the remote identity `username@peer` to the local account `local` (explicit, by an
/// admin; the only way a remote identity reaches a local account).
pub async fn link(
    p: &Platform,
    actor: &Actor,
    peer: PeerId,
    username: &Username,
    local: &Username,
) -> Result<(), AppError> {
    require_admin(p, actor).await?;
    let record = p.store.peer(peer).await?;
    let user = p.store.local_user(local).await?;
    p.store
        .link_identity(username, peer, user.id, now())
        .await?;
    p.audit(
        actor,
        "peer.link",
        format!("user:{}", user.id),
        serde_json::json!({ "remote": format!("{username}@{}", record.name) }),
    )
    .await
}

/// A peer's synced tree, parents before children, with name paths.
pub async fn categories(
    p: &Platform,
    actor: &Actor,
    peer: PeerId,
) -> Result<Vec<RemoteCategoryDoc>, AppError> {
    require_admin(p, actor).await?;
    let rows = p.store.remote_categories(peer).await?;
    let mut paths: HashMap<i64, String> = HashMap::with_capacity(rows.len());
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let path = match r.parent.and_then(|parent| paths.get(&parent)) {
            Some(parent) => format!("{parent} / {}", r.name),
            None => r.name.clone(),
        };
        paths.insert(r.remote_id, path.clone());
        out.push(RemoteCategoryDoc {
            id: r.remote_id,
            parent: r.parent,
            name: r.name,
            idnumber: r.idnumber,
            path,
        });
    }
    Ok(out)
}
