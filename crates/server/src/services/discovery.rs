//! Discovery (SPEC §6.2): what this platform says about itself (`describe`), and scans of the
//! peers' descriptions, kept with their time (on a schedule, "sync now", `network scan`).

use super::{now, Actor};
use crate::error::AppError;
use crate::platform::{settings, Platform};
use crate::rpc::PeerCaller;
use crate::services::peers::require_admin;
use pf_domain::category::flatten_tree;
use pf_domain::ids::PeerId;
use pf_net::{DescribeResponse, RemoteCategory};
use pf_store::RemoteCategoryRecord;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// Largest category tree accepted from a peer.
pub const MAX_REMOTE_CATEGORIES: usize = 200_000;
/// Scan interval when the setting is absent, in hours.
pub const DEFAULT_SCAN_HOURS: i64 = 12;

/// This platform's description: name, role, version, URL, transports, visible category tree
/// (hidden categories and everything under them are left out), paths of ids (`/1/4/9`).
pub async fn describe(p: &Platform) -> Result<DescribeResponse, AppError> {
    let all = p.store.categories().await?;
    let mut visible: HashSet<i64> = HashSet::new();
    let mut paths: HashMap<i64, String> = HashMap::new();
    let mut categories = Vec::new();
    for entry in flatten_tree(&all)? {
        let c = entry.category;
        let parent_ok = c.parent.is_none_or(|parent| visible.contains(&parent.0));
        if !(c.visible && parent_ok) {
            continue;
        }
        visible.insert(c.id.0);
        let path = match c.parent.and_then(|parent| paths.get(&parent.0)) {
            Some(pp) => format!("{pp}/{}", c.id.0),
            None => format!("/{}", c.id.0),
        };
        paths.insert(c.id.0, path.clone());
        categories.push(RemoteCategory {
            id: c.id.0,
            parent: c.parent.map(|x| x.0),
            name: c.name,
            idnumber: c.idnumber,
            path,
        });
    }
    Ok(DescribeResponse {
        name: p.name().await?,
        role: p.role().await?.as_str().to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        url: p.config.platform.url.clone(),
        transports: p.config.transfer.offered(),
        categories,
    })
}

/// One line of `network scan --json`.
#[derive(Debug, Clone, Serialize)]
pub struct ScanResult {
    /// The peer's id.
    pub peer_id: i64,
    /// Its name.
    pub name: String,
    /// Whether the scan worked.
    pub ok: bool,
    /// Its role name, as described.
    pub role: Option<String>,
    /// How many categories its tree holds.
    pub categories: Option<usize>,
    /// `{code, message}` when the scan failed.
    pub error: Option<serde_json::Value>,
}

fn check_tree(d: &DescribeResponse) -> Result<(), AppError> {
    if d.categories.len() > MAX_REMOTE_CATEGORIES {
        return Err(AppError::new(
            pf_api::ErrorCode::PeerUnreachable,
            "the peer's category tree is too large",
        ));
    }
    let too_long = |s: &str| s.len() > 4096;
    if d.categories
        .iter()
        .any(|c| too_long(&c.name) || too_long(&c.idnumber) || too_long(&c.path))
        || d.role.len() > 64
    {
        return Err(AppError::new(
            pf_api::ErrorCode::PeerUnreachable,
            "the peer's description has oversized fields",
        ));
    }
    Ok(())
}

/// Scans one peer (no capability check: callers check, the scheduler is the system).
pub async fn scan_peer(p: &Platform, peer: PeerId) -> ScanResult {
    let record = match p.store.peer(peer).await {
        Ok(r) => r,
        Err(e) => {
            let e = AppError::from(e);
            return ScanResult {
                peer_id: peer.0,
                name: String::new(),
                ok: false,
                role: None,
                categories: None,
                error: Some(serde_json::json!({"code": e.code, "message": e.message})),
            };
        }
    };
    let outcome = async {
        let caller = PeerCaller::new(p)?;
        let d: DescribeResponse = caller.get_json(&record, "/rpc/describe", None).await?;
        check_tree(&d)?;
        let rows: Vec<RemoteCategoryRecord> = d
            .categories
            .iter()
            .map(|c| RemoteCategoryRecord {
                remote_id: c.id,
                parent: c.parent,
                name: c.name.clone(),
                idnumber: c.idnumber.clone(),
                path: c.path.clone(),
            })
            .collect();
        p.store.record_scan(peer, &d.role, now(), &rows).await?;
        Ok::<_, AppError>((d.role, rows.len()))
    }
    .await;
    match outcome {
        Ok((role, count)) => ScanResult {
            peer_id: peer.0,
            name: record.name,
            ok: true,
            role: Some(role),
            categories: Some(count),
            error: None,
        },
        Err(e) => {
            let _ = p.store.record_scan_error(peer, &e.message).await;
            ScanResult {
                peer_id: peer.0,
                name: record.name,
                ok: false,
                role: record.role,
                categories: None,
                error: Some(serde_json::json!({ "code": e.code, "message": e.message })),
            }
        }
    }
}

/// Scans one peer or every active peer, for an admin.
pub async fn scan(
    p: &Platform,
    actor: &Actor,
    only: Option<PeerId>,
) -> Result<Vec<ScanResult>, AppError> {
    require_admin(p, actor).await?;
    let results = scan_all(p, only).await?;
    p.audit(
        actor,
        "network.scan",
        "peers",
        serde_json::json!({ "peers": results.len(), "failed": results.iter().filter(|r| !r.ok).count() }),
    )
    .await?;
    Ok(results)
}

/// Scans the active peers (or one), without a capability check (the scheduler).
pub async fn scan_all(p: &Platform, only: Option<PeerId>) -> Result<Vec<ScanResult>, AppError> {
    let mut results = Vec::new();
    for peer in p.store.peers().await? {
        let wanted = only.is_none_or(|id| id == peer.id);
        if wanted && peer.status == pf_store::PeerStatus::Active {
            results.push(scan_peer(p, peer.id).await);
        } else if only == Some(peer.id) {
            return Err(AppError::new(
                pf_api::ErrorCode::NotAdmitted,
                format!("peer {} is disabled", peer.name),
            ));
        }
    }
    if let Some(id) = only {
        if results.is_empty() {
            return Err(AppError::not_found(format!("peer {id}")));
        }
    }
    Ok(results)
}

/// How often the scheduler looks for due scans, in seconds.
pub const SCHEDULER_TICK: u64 = 30;
/// Least time between two attempts at a peer whose scans fail, in seconds.
pub const RETRY_AFTER: i64 = 600;

/// Whether a peer is due for a scheduled scan: never scanned, or scanned `hours` ago; a failing
/// peer is retried at most every [`RETRY_AFTER`] seconds.
pub fn scan_due(last_scan: Option<i64>, last_attempt: Option<i64>, now: i64, hours: i64) -> bool {
    if last_attempt.is_some_and(|t| now - t < RETRY_AFTER.min(hours * 3600)) {
        return false;
    }
    last_scan.is_none_or(|t| now - t >= hours * 3600)
}

/// The scheduler: every [`SCHEDULER_TICK`] seconds, scans the active peers that are due (never
/// scanned — e.g. just paired — or last scanned `network.scan_hours` ago, default 12) and applies
/// the audit retention, until the task is aborted.
pub async fn run_schedule(p: Platform) {
    let mut attempts: HashMap<PeerId, i64> = HashMap::new();
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(SCHEDULER_TICK)).await;
        let hours = p
            .setting_i64(settings::SCAN_HOURS, DEFAULT_SCAN_HOURS)
            .await
            .unwrap_or(DEFAULT_SCAN_HOURS)
            .clamp(1, 24 * 365);
        let Ok(peers) = p.store.peers().await else {
            continue;
        };
        for peer in peers {
            let now = p.clock.now() as i64;
            let due = scan_due(peer.last_scan, attempts.get(&peer.id).copied(), now, hours);
            if peer.status == pf_store::PeerStatus::Active && due {
                attempts.insert(peer.id, now);
                let result = scan_peer(&p, peer.id).await;
                if !result.ok {
                    tracing::warn!(peer = %peer.name, error = ?result.error, "scheduled scan failed");
                }
            }
        }
        let days = p
            .setting_i64(settings::AUDIT_DAYS, 365)
            .await
            .unwrap_or(365);
        let _ = p.store.purge_audit(now() - days.max(1) * 86_400).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_are_due_when_never_done_or_old_and_failures_back_off() {
        let h = 3600;
        assert!(scan_due(None, None, 1_000_000, 12));
        assert!(!scan_due(Some(1_000_000 - 11 * h), None, 1_000_000, 12));
        assert!(scan_due(Some(1_000_000 - 12 * h), None, 1_000_000, 12));
        // A failing peer: retried after RETRY_AFTER, not at every tick.
        assert!(!scan_due(None, Some(1_000_000 - 60), 1_000_000, 12));
        assert!(scan_due(None, Some(1_000_000 - RETRY_AFTER), 1_000_000, 12));
        assert!(!scan_due(
            Some(1_000_000 - h),
            Some(1_000_000 - 13 * h),
            1_000_000,
            12
        ));
    }
}
