//! Periodic clean-up: expired sessions, old failed-login counters, audit entries and trashed
//! courses past their retention, roaming accounts not seen for a while (SPEC §8), and blobs
//! nothing refers to any more (after the purge, so a purged course's blobs go in the same run;
//! see `archives::gc`). Run by `serve` every hour and safe to run at any time.

use super::{archives, now};
use crate::error::AppError;
use crate::platform::{settings, Platform};
use std::time::Duration;

/// How often `serve` runs the clean-up.
pub const INTERVAL: Duration = Duration::from_secs(3600);

/// What one run removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Expired web sessions.
    pub sessions: u64,
    /// Failed-login records older than the throttle window.
    pub failed_logins: u64,
    /// Audit entries older than the audit retention.
    pub audit_entries: u64,
    /// Trashed courses older than the trash retention.
    pub trashed_courses: u64,
    /// Unreferenced blobs older than the grace period, deleted.
    pub blobs_deleted: u64,
    /// Bytes those blobs held.
    pub blob_bytes_freed: u64,
    /// Roaming accounts not seen for `mutual.roaming_days` (SPEC §8).
    pub roaming_accounts: u64,
}

/// Runs every clean-up once.
pub async fn run(p: &Platform) -> Result<Report, AppError> {
    let t = now();
    let window = p.config.security.login_window_minutes * 60;
    let audit_days = p.setting_i64(settings::AUDIT_DAYS, 365).await?;
    let trash_days = p.setting_i64(settings::TRASH_DAYS, 30).await?;
    let mut report = Report {
        sessions: p.store.delete_expired_sessions(t).await?,
        failed_logins: p.store.purge_failed_logins(t - window).await?,
        audit_entries: p.store.purge_audit(t - audit_days * 86_400).await?,
        trashed_courses: p.store.purge_trash(t - trash_days * 86_400).await?,
        roaming_accounts: super::mutual::privacy::purge(p).await?,
        ..Report::default()
    };
    let grace = Duration::from_secs(archives::gc::GRACE_SECS);
    let gc = archives::gc::run(p, grace, false).await?;
    report.blobs_deleted = gc.deleted;
    report.blob_bytes_freed = gc.freed_bytes;
    if gc.deleted > 0 {
        p.store
            .append_audit(pf_store::NewAudit {
                at: t,
                actor: "housekeeping".into(),
                action: "blobs.gc".into(),
                target: "blobs".into(),
                peer: None,
                job: None,
                result: "ok".into(),
                details: serde_json::json!(gc),
            })
            .await?;
    }
    Ok(report)
}

/// Runs [`run`] every [`INTERVAL`] until `stop` fires; failures are logged and retried next time.
pub async fn every_hour(p: Platform, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(INTERVAL);
    loop {
        tokio::select! {
            _ = tick.tick() => match run(&p).await {
                Ok(report) => tracing::debug!(?report, "housekeeping done"),
                Err(e) => tracing::warn!(error = %e, "housekeeping failed; will retry"),
            },
            _ = stop.changed() => return,
        }
    }
}
