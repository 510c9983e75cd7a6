//! The audit log: append-only; rows are never changed, only purged past retention.
//!
//! Every server-to-server action is attributable: actor, peer and job are recorded with it.

use crate::{get_json, json_text, Store, StoreResult};
use pf_domain::ids::{JobId, PeerId};
use sqlx::Row;

/// An entry to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAudit {
    /// When, unix seconds.
    pub at: i64,
    /// Who: a username, `user@peer`, `system`…
    pub actor: String,
    /// What: `course.publish`, `login.failed`…
    pub action: String,
    /// On what: `course:12`…
    pub target: String,
    /// The peer involved, if any.
    pub peer: Option<PeerId>,
    /// The job, if any.
    pub job: Option<JobId>,
    /// `ok`, `refused`, `failed`…
    pub result: String,
    /// Anything else, as JSON.
    pub details: serde_json::Value,
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// Id (increasing).
    pub id: i64,
    /// When, unix seconds.
    pub at: i64,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// On what.
    pub target: String,
    /// Peer involved.
    pub peer: Option<PeerId>,
    /// Job.
    pub job: Option<JobId>,
    /// Outcome.
    pub result: String,
    /// Details.
    pub details: serde_json::Value,
}

impl Store {
    /// Appends an entry; returns its id.
    pub async fn append_audit(&self, entry: NewAudit) -> StoreResult<i64> {
        Ok(sqlx::query(
            "INSERT INTO audit_log (at, actor, action, target, peer_id, job_id, result, details)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(entry.at)
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(&entry.target)
        .bind(entry.peer.map(|p| p.0))
        .bind(entry.job.map(|j| j.0))
        .bind(&entry.result)
        .bind(json_text(&entry.details))
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .next()
        .ok_or(sqlx::Error::RowNotFound)?
        .try_get(0)?)
    }

    /// Entries, newest first.
    pub async fn audit(&self, offset: i64, limit: i64) -> StoreResult<Vec<AuditRecord>> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, target, peer_id, job_id, result, details FROM audit_log
             ORDER BY id DESC LIMIT $1 OFFSET $2",
        )
        .bind(limit.max(0))
        .bind(offset.max(0))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditRecord {
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    peer: r.try_get::<Option<i64>, _>("peer_id")?.map(PeerId),
                    job: r.try_get::<Option<i64>, _>("job_id")?.map(JobId),
                    result: r.try_get("result")?,
                    details: get_json(r, "details")?,
                })
            })
            .collect()
    }

    /// Retention: deletes the entries older than `older_than`; returns how many.
    pub async fn purge_audit(&self, older_than: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM audit_log WHERE at < $1")
            .bind(older_than)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
