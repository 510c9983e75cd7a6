//! Jobs as users see them: enqueue (idempotent), show, list, cancel.

use super::Actor;
use crate::error::AppError;
use crate::platform::Platform;
use pf_api::docs::ErrorBrief;
use pf_domain::access::{Capability, Context};
use pf_domain::ids::JobId;
use pf_domain::job::{parse_idempotency_key, Progress};
use pf_store::{JobRecord, NewJob};
use serde::Serialize;

/// A job as the CLI contract prints it (`jobs show` shape).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobDoc {
    /// Id.
    pub id: i64,
    /// Kind (`publish`, `deploy`…).
    pub kind: String,
    /// State name.
    pub state: String,
    /// Progress.
    pub progress: Progress,
    /// `null` or `{code, message}`.
    pub error: Option<ErrorBrief>,
    /// The handler's result (names the created course for transfers).
    pub result: Option<serde_json::Value>,
    /// The transport used, once known.
    pub transport: Option<String>,
    /// The idempotency key.
    pub idempotency_key: String,
    /// Who asked.
    pub actor: String,
    /// Attempts so far.
    pub attempts: i64,
    /// RFC 3339 creation time.
    pub created: String,
}

impl From<&JobRecord> for JobDoc {
    fn from(j: &JobRecord) -> Self {
        JobDoc {
            id: j.id.0,
            kind: j.kind.clone(),
            state: j.state.as_str().to_string(),
            progress: j.progress.clone(),
            // A retry's error stays visible while it waits, so users see why it is waiting.
            error: j.error.as_ref().map(|(code, message)| ErrorBrief {
                code: code.clone(),
                message: message.clone(),
            }),
            result: j.result.clone(),
            transport: j.transport.clone(),
            idempotency_key: j.idempotency_key.clone(),
            actor: j.actor.clone(),
            attempts: j.attempts,
            created: super::rfc3339(j.created_at),
        }
    }
}

/// What an operation asks the runner to do.
#[derive(Debug, Clone)]
pub struct JobRequest {
    /// Handler kind.
    pub kind: String,
    /// Handler input.
    pub params: serde_json::Value,
    /// Supplied by the client, or generated.
    pub idempotency_key: Option<String>,
    /// One at a time per key (a publication series, a target course).
    pub serial_key: Option<String>,
    /// `restore` for jobs limited by `max_restores`.
    pub throttle_class: Option<String>,
}

/// Queues a job for the actor (or returns the job its idempotency key already names).
pub async fn enqueue(
    p: &Platform,
    actor: &Actor,
    request: JobRequest,
) -> Result<(JobRecord, bool), AppError> {
    let key = match request.idempotency_key {
        Some(k) => parse_idempotency_key(&k)?,
        None => format!("{}-{}", request.kind, super::tokens::random_secret()),
    };
    let (job, created) = p
        .store
        .enqueue_job(NewJob {
            kind: request.kind.clone(),
            idempotency_key: key,
            params: request.params,
            actor: actor.label(),
            actor_user: actor.user.as_ref().map(|u| u.id),
            peer: None,
            serial_key: request.serial_key,
            throttle_class: request.throttle_class,
            max_attempts: 5,
        })
        .await?;
    if created {
        p.audit(
            actor,
            &format!("job.{}", request.kind),
            format!("job:{}", job.id),
            serde_json::json!({ "key": job.idempotency_key }),
        )
        .await?;
        p.wakeup.notify();
    }
    Ok((job, created))
}

/// Whether the actor may see and cancel a job: the user who asked, or an administrator.
async fn may_see(p: &Platform, actor: &Actor, job: &JobRecord) -> Result<bool, AppError> {
    let own = matches!((&actor.user, job.actor_user), (Some(u), Some(owner)) if u.id == owner);
    Ok(own
        || p.can(actor, Capability::SiteConfig, Context::System)
            .await?)
}

/// One job the actor may see.
pub async fn show(p: &Platform, actor: &Actor, id: JobId) -> Result<JobRecord, AppError> {
    let job = p.store.job(id).await?;
    if may_see(p, actor, &job).await? {
        Ok(job)
    } else {
        Err(AppError::not_found(format!("job {id}")))
    }
}

/// The jobs the actor may see, newest first.
pub async fn list(p: &Platform, actor: &Actor, limit: i64) -> Result<Vec<JobRecord>, AppError> {
    let mut seen = Vec::new();
    for job in p.store.jobs(0, limit).await? {
        if may_see(p, actor, &job).await? {
            seen.push(job);
        }
    }
    Ok(seen)
}

/// Cancels a job: at once when queued, at its next step when running.
pub async fn cancel(p: &Platform, actor: &Actor, id: JobId) -> Result<JobRecord, AppError> {
    show(p, actor, id).await?;
    let job = p.store.request_job_cancel(id).await?;
    p.audit(
        actor,
        "job.cancel",
        format!("job:{id}"),
        serde_json::Value::Null,
    )
    .await?;
    Ok(job)
}
