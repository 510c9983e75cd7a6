//! Blob garbage collection: deletes the blobs nothing refers to any more (courses emptied from
//! the trash, pruned transport archives, parts replaced by a merge, blobs an import promoted but
//! never used).
//!
//! What is kept: [`super::referenced_blobs`] (file rows, the archive parts kept in course
//! payloads, trashed courses included, and transport archive parts), every 64-hex value in the
//! parameters or result of a job that has not ended (a transfer in flight names its parts), and
//! every blob younger than the grace period ([`GRACE_SECS`], one day): an import or a transfer in
//! progress promotes its blobs before the rows that point to them, and promotion gives a blob a
//! fresh time, so it is never robbed. Run by housekeeping every hour and by an administrator with
//! `blobs gc [--dry-run]`; every run that deletes something is audited.

use super::referenced_blobs;
use crate::error::AppError;
use crate::platform::Platform;
use crate::services::Actor;
use pf_domain::access::{Capability, Context};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::{Duration, SystemTime};

/// Blobs younger than this are never collected.
pub const GRACE_SECS: u64 = 86_400;

/// What a collection found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GcOutcome {
    /// Nothing was deleted: the counts say what would have been.
    pub dry_run: bool,
    /// Blobs in the store before the run.
    pub blobs: u64,
    /// Blobs kept because something refers to them.
    pub referenced: u64,
    /// Unreferenced blobs kept because they are younger than the grace period.
    pub kept_recent: u64,
    /// Blobs deleted (or that would be).
    pub deleted: u64,
    /// Bytes freed (or that would be).
    pub freed_bytes: u64,
}

fn hex_values(v: &Value, out: &mut HashSet<String>) {
    match v {
        Value::String(s) if s.len() == 64 && pf_store::blob::is_sha256(s) => {
            out.insert(s.clone());
        }
        Value::Array(a) => a.iter().for_each(|x| hex_values(x, out)),
        Value::Object(m) => m.values().for_each(|x| hex_values(x, out)),
        _ => {}
    }
}

/// Everything the collector must keep: [`referenced_blobs`] and what jobs in flight name.
pub async fn kept_blobs(p: &Platform) -> Result<HashSet<String>, AppError> {
    let mut keys = referenced_blobs(p).await?;
    for job in p.store.jobs(0, i64::MAX).await? {
        if !job.state.is_terminal() {
            hex_values(&job.params, &mut keys);
            if let Some(r) = &job.result {
                hex_values(r, &mut keys);
            }
        }
    }
    Ok(keys)
}

/// Collects unreferenced blobs older than `grace` (no capability check: housekeeping and
/// [`collect`] call it).
pub async fn run(p: &Platform, grace: Duration, dry_run: bool) -> Result<GcOutcome, AppError> {
    let keep = kept_blobs(p).await?;
    let cutoff = SystemTime::now()
        .checked_sub(grace)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let blobs = p.blobs.clone();
    super::blocking(move || {
        let list = blobs.list()?;
        let referenced = list.iter().filter(|b| keep.contains(&b.sha256)).count() as u64;
        let mut out = GcOutcome {
            dry_run,
            blobs: list.len() as u64,
            referenced,
            ..GcOutcome::default()
        };
        if dry_run {
            for b in list.iter().filter(|b| !keep.contains(&b.sha256)) {
                if b.modified >= cutoff {
                    out.kept_recent += 1;
                } else {
                    out.deleted += 1;
                    out.freed_bytes += b.size;
                }
            }
        } else {
            let r = blobs.gc(&keep, cutoff)?;
            out.kept_recent = r.kept_recent;
            out.deleted = r.deleted;
            out.freed_bytes = r.freed_bytes;
        }
        Ok(out)
    })
    .await
}

/// `blobs gc [--dry-run]`: an administrator's collection (`site:config`), audited.
pub async fn collect(p: &Platform, actor: &Actor, dry_run: bool) -> Result<GcOutcome, AppError> {
    p.require(actor, Capability::SiteConfig, Context::System)
        .await?;
    let out = run(p, Duration::from_secs(GRACE_SECS), dry_run).await?;
    p.audit(actor, "blobs.gc", "blobs".to_string(), json!(out))
        .await?;
    Ok(out)
}
