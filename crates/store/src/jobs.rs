//! Jobs (SPEC §5): persisted operations, claimed by one runner with one conditional `UPDATE …
//! RETURNING` (the same statement on SQLite and PostgreSQL), with progress any replica can read.
//!
//! Two limits are enforced in the claim itself, so they hold across replicas: jobs sharing a
//! `serial_key` (a publication series, a target course) run one at a time, and jobs of a
//! `throttle_class` (restores) run at most `class_limit` at once. Every update after the claim is
//! guarded by the runner's name, so a runner that lost its claim cannot overwrite a job.

use crate::{
    flag, get_flag, get_json, json_text, unix_now, Backend, Store, StoreError, StoreResult,
};
use pf_domain::ids::{JobId, PeerId, UserId};
use pf_domain::job::{JobState, Progress};
use sqlx::any::AnyRow;
use sqlx::{Executor, Row};

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// What it does (`publish`, `deploy`…), chosen by the server's handler registry.
    pub kind: String,
    /// Runs at most once per key.
    pub idempotency_key: String,
    /// The handler's input.
    pub params: serde_json::Value,
    /// Who asked, as shown in audits (`user@platform`).
    pub actor: String,
    /// The local account that asked, if any (its capability is rechecked at start).
    pub actor_user: Option<UserId>,
    /// The peer involved, if any.
    pub peer: Option<PeerId>,
    /// Jobs with the same key run one at a time.
    pub serial_key: Option<String>,
    /// Jobs of the same class are limited in number (`restore`).
    pub throttle_class: Option<String>,
    /// Attempts before a transient failure becomes final.
    pub max_attempts: i64,
}

/// A stored job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    /// Id.
    pub id: JobId,
    /// Kind.
    pub kind: String,
    /// Idempotency key.
    pub idempotency_key: String,
    /// State.
    pub state: JobState,
    /// Input.
    pub params: serde_json::Value,
    /// Output, once done.
    pub result: Option<serde_json::Value>,
    /// `(code, message)` when failed or being retried.
    pub error: Option<(String, String)>,
    /// Who asked.
    pub actor: String,
    /// The local account that asked.
    pub actor_user: Option<UserId>,
    /// The peer involved.
    pub peer: Option<PeerId>,
    /// Serialisation key.
    pub serial_key: Option<String>,
    /// Throttle class.
    pub throttle_class: Option<String>,
    /// The transport used, once known.
    pub transport: Option<String>,
    /// Progress.
    pub progress: Progress,
    /// Attempts so far.
    pub attempts: i64,
    /// Attempts allowed.
    pub max_attempts: i64,
    /// Not claimed before this time (retry backoff).
    pub run_after: i64,
    /// A user asked to cancel it while it ran.
    pub cancel_requested: bool,
    /// The runner holding it.
    pub runner: Option<String>,
    /// Created, unix seconds.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
    /// When it ended.
    pub finished_at: Option<i64>,
}

/// How a claimed job ends (or goes back to the queue).
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    /// Success with its result.
    Done(serde_json::Value),
    /// Final failure.
    Failed {
        /// Stable error code.
        code: String,
        /// Message.
        message: String,
    },
    /// Stopped at a user's request.
    Cancelled,
    /// A transient failure: queued again, not before `run_after`.
    Retry {
        /// Earliest next claim.
        run_after: i64,
        /// Stable error code of this attempt.
        code: String,
        /// Message of this attempt.
        message: String,
    },
}

const COLUMNS: &str = "id, kind, idempotency_key, state, params, result, error_code, error_message, actor, \
    actor_user_id, peer_id, serial_key, throttle_class, transport, bytes_done, bytes_total, steps_done, \
    steps_total, step, attempts, max_attempts, run_after, cancel_requested, runner, created_at, updated_at, finished_at";

const RUNNING: &str = "('preparing', 'transferring', 'restoring')";

fn from_row(r: &AnyRow) -> StoreResult<JobRecord> {
    let state: String = r.try_get("state")?;
    let error = match (
        r.try_get::<Option<String>, _>("error_code")?,
        r.try_get::<Option<String>, _>("error_message")?,
    ) {
        (Some(c), m) => Some((c, m.unwrap_or_default())),
        _ => None,
    };
    let result = get_json(r, "result")?;
    Ok(JobRecord {
        id: JobId(r.try_get("id")?),
        kind: r.try_get("kind")?,
        idempotency_key: r.try_get("idempotency_key")?,
        state: state
            .parse()
            .map_err(|_| StoreError::corrupt(format!("job state '{state}'")))?,
        params: get_json(r, "params")?,
        result: (!result.is_null()).then_some(result),
        error,
        actor: r.try_get("actor")?,
        actor_user: r.try_get::<Option<i64>, _>("actor_user_id")?.map(UserId),
        peer: r.try_get::<Option<i64>, _>("peer_id")?.map(PeerId),
        serial_key: r.try_get("serial_key")?,
        throttle_class: r.try_get("throttle_class")?,
        transport: r.try_get("transport")?,
        progress: Progress {
            bytes_done: r.try_get("bytes_done")?,
            bytes_total: r.try_get("bytes_total")?,
            steps_done: r.try_get("steps_done")?,
            steps_total: r.try_get("steps_total")?,
            step: r.try_get("step")?,
        },
        attempts: r.try_get("attempts")?,
        max_attempts: r.try_get("max_attempts")?,
        run_after: r.try_get("run_after")?,
        cancel_requested: get_flag(r, "cancel_requested")?,
        runner: r.try_get("runner")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        finished_at: r.try_get("finished_at")?,
    })
}

impl Store {
    /// Enqueues a job, or returns the job that already has this idempotency key (`false`).
    /// The same key with another kind is a conflict: a key names one operation.
    pub async fn enqueue_job(&self, new: NewJob) -> StoreResult<(JobRecord, bool)> {
        let now = unix_now();
        let inserted = sqlx::query(&format!(
            "INSERT INTO jobs (kind, idempotency_key, params, actor, actor_user_id, peer_id, serial_key,
                               throttle_class, max_attempts, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
             ON CONFLICT (idempotency_key) DO NOTHING RETURNING {COLUMNS}"
        ))
        .bind(&new.kind)
        .bind(&new.idempotency_key)
        .bind(json_text(&new.params))
        .bind(&new.actor)
        .bind(new.actor_user.map(|u| u.0))
        .bind(new.peer.map(|p| p.0))
        .bind(&new.serial_key)
        .bind(&new.throttle_class)
        .bind(new.max_attempts.max(1))
        .bind(now)
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .next();
        if let Some(row) = inserted {
            return Ok((from_row(&row)?, true));
        }
        let existing = self.job_by_key(&new.idempotency_key).await?;
        if existing.kind != new.kind {
            return Err(StoreError::conflict(format!(
                "idempotency key '{}' (used by a {} job)",
                new.idempotency_key, existing.kind
            )));
        }
        Ok((existing, false))
    }

    /// One job.
    pub async fn job(&self, id: JobId) -> StoreResult<JobRecord> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM jobs WHERE id = $1"))
            .bind(id.0)
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::not_found(format!("job {id}")))?;
        from_row(&row)
    }

    /// The job with an idempotency key.
    pub async fn job_by_key(&self, key: &str) -> StoreResult<JobRecord> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM jobs WHERE idempotency_key = $1"
        ))
        .bind(key)
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::not_found(format!("job with key '{key}'")))?;
        from_row(&row)
    }

    /// Jobs, newest first.
    pub async fn jobs(&self, offset: i64, limit: i64) -> StoreResult<Vec<JobRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM jobs ORDER BY id DESC LIMIT $1 OFFSET $2"
        ))
        .bind(limit.max(0))
        .bind(offset.max(0))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Claims the oldest claimable job for `runner`, honouring serial keys and the class limit.
    pub async fn claim_job(
        &self,
        runner: &str,
        now: i64,
        class_limit: i64,
    ) -> StoreResult<Option<JobRecord>> {
        let sql = format!(
            "UPDATE jobs SET state = 'preparing', runner = $1, heartbeat_at = $2, updated_at = $2,
                    attempts = attempts + 1, error_code = NULL, error_message = NULL
             WHERE state = 'queued' AND id = (
                 SELECT j.id FROM jobs j
                 WHERE j.state = 'queued' AND j.run_after <= $2 AND j.cancel_requested = 0
                   AND (j.serial_key IS NULL OR NOT EXISTS (
                        SELECT 1 FROM jobs o WHERE o.serial_key = j.serial_key AND o.state IN {RUNNING}))
                   AND (j.throttle_class IS NULL OR (
                        SELECT COUNT(*) FROM jobs c WHERE c.throttle_class = j.throttle_class AND c.state IN {RUNNING}) < $3)
                 ORDER BY j.id LIMIT 1)
             RETURNING {COLUMNS}"
        );
        let mut tx = self.write_tx().await?;
        if self.backend() == Backend::Postgres {
            // Serialise claimers so the serial and class checks see each other's claims.
            tx.execute("SELECT pg_advisory_xact_lock(7240517)").await?;
        }
        let row = sqlx::query(&sql)
            .bind(runner)
            .bind(now)
            .bind(class_limit)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .next();
        tx.commit().await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Moves a claimed job to another running state (`transferring`, `restoring`).
    pub async fn set_job_state(&self, id: JobId, runner: &str, state: JobState) -> StoreResult<()> {
        if !state.is_running() {
            return Err(StoreError::Invalid(format!(
                "{state} is not a running state"
            )));
        }
        self.guarded(id, runner, "UPDATE jobs SET state = $3, updated_at = $4 WHERE id = $1 AND runner = $2 AND state IN ('preparing', 'transferring', 'restoring')", |q| {
            q.bind(state.as_str()).bind(unix_now())
        })
        .await
    }

    /// Records progress (and keeps the claim alive).
    pub async fn report_job_progress(
        &self,
        id: JobId,
        runner: &str,
        p: &Progress,
    ) -> StoreResult<()> {
        let sql = "UPDATE jobs SET bytes_done = $3, bytes_total = $4, steps_done = $5, steps_total = $6, step = $7,
                   heartbeat_at = $8, updated_at = $8 WHERE id = $1 AND runner = $2";
        self.guarded(id, runner, sql, |q| {
            q.bind(p.bytes_done)
                .bind(p.bytes_total)
                .bind(p.steps_done)
                .bind(p.steps_total)
                .bind(p.step.clone())
                .bind(unix_now())
        })
        .await
    }

    /// Records the transport a job uses.
    pub async fn set_job_transport(
        &self,
        id: JobId,
        runner: &str,
        transport: &str,
    ) -> StoreResult<()> {
        self.guarded(
            id,
            runner,
            "UPDATE jobs SET transport = $3 WHERE id = $1 AND runner = $2",
            |q| q.bind(transport.to_string()),
        )
        .await
    }

    /// Keeps every claim of `runner` alive.
    pub async fn heartbeat_jobs(&self, runner: &str, now: i64) -> StoreResult<u64> {
        let done = sqlx::query(&format!(
            "UPDATE jobs SET heartbeat_at = $2 WHERE runner = $1 AND state IN {RUNNING}"
        ))
        .bind(runner)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// Ends a claimed job (or queues it again for a retry).
    pub async fn finish_job(
        &self,
        id: JobId,
        runner: &str,
        outcome: JobOutcome,
    ) -> StoreResult<()> {
        self.finish_job_telling(id, runner, outcome, Vec::new())
            .await
    }

    /// [`Store::finish_job`], queueing `mails` (telling the user how it ended) in the same
    /// transaction: whoever sees the job ended finds its mail queued, and a job whose end was
    /// not recorded (its runner lost the claim) sends none.
    pub async fn finish_job_telling(
        &self,
        id: JobId,
        runner: &str,
        outcome: JobOutcome,
        mails: Vec<crate::NewMail>,
    ) -> StoreResult<()> {
        let now = unix_now();
        let (state, result, code, message, run_after, finished) = match outcome {
            JobOutcome::Done(v) => ("done", Some(json_text(&v)), None, None, None, Some(now)),
            JobOutcome::Failed { code, message } => {
                ("failed", None, Some(code), Some(message), None, Some(now))
            }
            JobOutcome::Cancelled => ("cancelled", None, None, None, None, Some(now)),
            JobOutcome::Retry {
                run_after,
                code,
                message,
            } => (
                "queued",
                None,
                Some(code),
                Some(message),
                Some(run_after),
                None,
            ),
        };
        let sql = format!(
            "UPDATE jobs SET state = $3, result = $4, error_code = $5, error_message = $6,
                    run_after = COALESCE($7, run_after), finished_at = $8, updated_at = $9,
                    runner = CASE WHEN $3 = 'queued' THEN NULL ELSE runner END
             WHERE id = $1 AND runner = $2 AND state IN {RUNNING}"
        );
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(&sql)
            .bind(id.0)
            .bind(runner)
            .bind(state)
            .bind(result)
            .bind(code)
            .bind(message)
            .bind(run_after)
            .bind(finished)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::conflict(format!(
                "job {id} is no longer held by runner {runner}"
            )));
        }
        crate::outbox::insert_mails(&mut tx, &mails).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A user's cancel: a queued job ends at once; a running one is flagged for its runner;
    /// an ended one is left as it is. Returns the job as it now is.
    pub async fn request_job_cancel(&self, id: JobId) -> StoreResult<JobRecord> {
        let now = unix_now();
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE jobs SET state = 'cancelled', finished_at = $2, updated_at = $2 WHERE id = $1 AND state = 'queued'")
            .bind(id.0)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!("UPDATE jobs SET cancel_requested = $2, updated_at = $3 WHERE id = $1 AND state IN {RUNNING}"))
            .bind(id.0)
            .bind(flag(true))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.job(id).await
    }

    /// Puts back in the queue the running jobs whose runner stopped beating (a killed process);
    /// those a user asked to cancel end cancelled instead. Returns how many were requeued. Their
    /// handlers must be safe to run again (they are idempotent).
    pub async fn requeue_stale_jobs(&self, stale_before: i64, now: i64) -> StoreResult<u64> {
        let stale = format!("state IN {RUNNING} AND (heartbeat_at IS NULL OR heartbeat_at < $1)");
        let mut tx = self.write_tx().await?;
        sqlx::query(&format!(
            "UPDATE jobs SET state = 'cancelled', runner = NULL, finished_at = $2, updated_at = $2
             WHERE {stale} AND cancel_requested = 1"
        ))
        .bind(stale_before)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query(&format!(
            "UPDATE jobs SET state = 'queued', runner = NULL, run_after = $2, updated_at = $2 WHERE {stale}"
        ))
        .bind(stale_before)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    async fn guarded<'q>(
        &self,
        id: JobId,
        runner: &'q str,
        sql: &'q str,
        bind: impl FnOnce(
            sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
        ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> StoreResult<()> {
        let done = bind(sqlx::query(sql).bind(id.0).bind(runner))
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::conflict(format!(
                "job {id} is no longer held by runner {runner}"
            )));
        }
        Ok(())
    }
}
