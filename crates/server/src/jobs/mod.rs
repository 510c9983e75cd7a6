//! The job runner (SPEC §5): claims queued jobs from the store and runs their handlers.
//!
//! A handler is registered per job kind. The runner claims one job at a time with
//! `Store::claim_job` (serial keys and the restore limit are enforced there, so they hold across
//! replicas), runs it on its own task, beats a heartbeat while it runs, and records the outcome:
//! transient failures go back to the queue with backoff until `max_attempts`, everything else
//! ends the job. At start, claims whose runner stopped beating (a killed process) are requeued,
//! so jobs survive a restart; handlers are therefore written to be safe to run again.

mod context;

pub use context::{JobContext, JobError};

use crate::platform::Platform;
use pf_domain::job::retry_backoff;
use pf_store::{JobOutcome, JobRecord};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify, Semaphore};

/// A handler's future.
pub type JobFuture = Pin<Box<dyn Future<Output = Result<serde_json::Value, JobError>> + Send>>;

/// Runs one kind of job.
pub trait JobHandler: Send + Sync + 'static {
    /// Runs a claimed job to its result. Called again after a crash or a transient failure, so
    /// it must be idempotent (check what was already done before doing it).
    fn run(&self, ctx: JobContext) -> JobFuture;
}

/// The handlers by job kind.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<String, Arc<dyn JobHandler>>,
}

impl Registry {
    /// Adds the handler of `kind`.
    pub fn register(&mut self, kind: &str, handler: impl JobHandler) -> &mut Self {
        self.handlers.insert(kind.to_string(), Arc::new(handler));
        self
    }

    fn get(&self, kind: &str) -> Option<Arc<dyn JobHandler>> {
        self.handlers.get(kind).cloned()
    }
}

/// How often an idle runner looks for work it was not told about (jobs queued by the CLI).
const POLL: Duration = Duration::from_secs(1);
/// How often a running job's claim is renewed.
const HEARTBEAT: Duration = Duration::from_secs(10);
/// A claim not renewed for this long belongs to a dead runner (the default of
/// `[jobs] stale_after_seconds`).
pub const STALE_AFTER: i64 = 60;

/// The configured staleness, and the beat that keeps live claims well inside it.
fn stale_and_beat(platform: &Platform) -> (i64, Duration) {
    let stale = platform.config.jobs.stale_after_seconds.max(2);
    let beat = Duration::from_millis((stale as u64 * 1000 / 6).max(300)).min(HEARTBEAT);
    (stale, beat)
}

/// Wakes the local runner when a job is queued in this process.
#[derive(Clone, Default)]
pub struct Wakeup(Arc<Notify>);

impl Wakeup {
    /// Tells the runner to look for work now.
    pub fn notify(&self) {
        self.0.notify_one();
    }
}

/// Claims and runs jobs until `stop` changes.
pub async fn run(
    platform: Platform,
    registry: Registry,
    wakeup: Wakeup,
    mut stop: watch::Receiver<bool>,
) {
    let runner = format!(
        "runner-{}-{}",
        std::process::id(),
        crate::services::tokens::random_secret()
            .get(..8)
            .unwrap_or("x")
    );
    let workers = Arc::new(Semaphore::new(platform.config.jobs.workers.max(1)));
    let class_limit = platform.config.jobs.max_restores.max(1);
    let now = crate::services::now();
    let (stale, _) = stale_and_beat(&platform);
    match platform.store.requeue_stale_jobs(now - stale, now).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(jobs = n, "requeued jobs left running by a stopped process"),
        Err(e) => tracing::warn!(error = %e, "could not requeue stale jobs"),
    }
    let heartbeat = tokio::spawn(beat(platform.clone(), runner.clone(), stop.clone()));
    loop {
        let Ok(permit) = workers.clone().acquire_owned().await else {
            break;
        };
        let claimed = platform
            .store
            .claim_job(&runner, crate::services::now(), class_limit)
            .await;
        match claimed {
            Ok(Some(job)) => {
                let (p, reg, r) = (platform.clone(), registry.clone(), runner.clone());
                tokio::spawn(async move {
                    execute(p, reg, r, job).await;
                    drop(permit);
                });
                continue;
            }
            Ok(None) => drop(permit),
            Err(e) => {
                drop(permit);
                tracing::warn!(error = %e, "claiming a job failed; retrying");
            }
        }
        tokio::select! {
            _ = wakeup.0.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.changed() => break,
        }
    }
    heartbeat.abort();
}

/// Renews this runner's claims, and takes back jobs whose runner died (another replica, or a
/// process killed mid-job), at every beat.
async fn beat(platform: Platform, runner: String, mut stop: watch::Receiver<bool>) {
    let (stale, every) = stale_and_beat(&platform);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {
                let now = crate::services::now();
                if let Err(e) = platform.store.heartbeat_jobs(&runner, now).await {
                    tracing::warn!(error = %e, "job heartbeat failed");
                }
                match platform.store.requeue_stale_jobs(now - stale, now).await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(jobs = n, "requeued jobs whose runner stopped");
                        platform.wakeup.notify();
                    }
                    Err(e) => tracing::warn!(error = %e, "could not requeue stale jobs"),
                }
            }
            _ = stop.changed() => return,
        }
    }
}

/// Runs one claimed job and records how it ended.
async fn execute(platform: Platform, registry: Registry, runner: String, job: JobRecord) {
    let id = job.id;
    let attempts = job.attempts;
    let max_attempts = job.max_attempts;
    let actor_user = job.actor_user;
    let job_kind = job.kind.clone();
    // Handlers name the course they work on in their params (`course_label`, or the id of a
    // local `course`); the mail shows it.
    let course_label = match (
        job.params.get("course_label").and_then(|v| v.as_str()),
        job.params.get("course").and_then(|v| v.as_i64()),
    ) {
        (Some(label), _) => label.to_string(),
        (None, Some(id)) => platform
            .store
            .course(pf_domain::ids::CourseId(id))
            .await
            .map(|c| c.fullname.as_str().to_string())
            .unwrap_or_default(),
        (None, None) => String::new(),
    };
    // The receiving side of a transfer is followed by the initiator, which tells its own user:
    // one mail per operation, not one per platform.
    let tells_user = job.kind != crate::services::publishing::receive::KIND;
    let outcome = match registry.get(&job.kind) {
        None => JobOutcome::Failed {
            code: "failed".into(),
            message: format!("no handler for jobs of kind '{}'", job.kind),
        },
        Some(handler) => {
            let ctx = JobContext::new(platform.clone(), job, runner.clone());
            // A panicking handler fails its job instead of taking the runner down.
            match tokio::spawn(handler.run(ctx)).await {
                Ok(Ok(result)) => JobOutcome::Done(result),
                Ok(Err(JobError::Cancelled)) => JobOutcome::Cancelled,
                Ok(Err(JobError::Transient(e))) if attempts < max_attempts => {
                    let base = Duration::from_secs(platform.config.jobs.retry_base_seconds);
                    let wait = retry_backoff(attempts as u32, base).as_secs() as i64;
                    JobOutcome::Retry {
                        run_after: crate::services::now() + wait,
                        code: e.code.as_str().into(),
                        message: e.message,
                    }
                }
                Ok(Err(JobError::Transient(e) | JobError::Final(e))) => JobOutcome::Failed {
                    code: e.code.as_str().into(),
                    message: e.message,
                },
                Err(panic) => {
                    tracing::error!(job = %id, "job handler panicked: {panic}");
                    JobOutcome::Failed {
                        code: "internal".into(),
                        message: "internal error; see the server log".into(),
                    }
                }
            }
        }
    };
    let ending = match &outcome {
        JobOutcome::Done(_) => Some((crate::mail::templates::JOB_DONE, String::new())),
        JobOutcome::Failed { code, message } => Some((
            crate::mail::templates::JOB_FAILED,
            format!("{code}: {message}"),
        )),
        JobOutcome::Cancelled | JobOutcome::Retry { .. } => None,
    };
    let mut mails = Vec::new();
    if let (Some((kind, error)), Some(user), true) = (ending, actor_user, tells_user) {
        // A mail that cannot be written is logged; it never changes how the job ended.
        match end_mail(&platform, id, &job_kind, &course_label, user, kind, error).await {
            Ok(m) => mails = m,
            Err(e) => {
                tracing::warn!(job = %id, error = %e, "could not write the mail of a job's end")
            }
        }
    }
    if let Err(e) = platform
        .store
        .finish_job_telling(id, &runner, outcome, mails)
        .await
    {
        tracing::warn!(job = %id, error = %e, "could not record the end of a job");
    }
}

/// The mail telling the user who asked for a job that it ended (SPEC §7), in their language;
/// queued with the job's end.
async fn end_mail(
    platform: &Platform,
    id: pf_domain::ids::JobId,
    job_kind: &str,
    course: &str,
    user: pf_domain::ids::UserId,
    kind: &str,
    error: String,
) -> Result<Vec<pf_store::NewMail>, crate::error::AppError> {
    let recipient = platform.store.user(user).await?;
    let url = format!(
        "{}/jobs/{id}",
        platform.config.platform.url.trim_end_matches('/')
    );
    let values = [
        ("SITE_NAME", platform.name().await?),
        ("JOB", format!("{job_kind} #{id}")),
        ("COURSE", course.to_string()),
        ("DATE", crate::services::rfc3339(crate::services::now())),
        ("URL", url),
        ("ERROR", error),
    ];
    let (mails, _) = crate::mail::render_for(
        platform,
        kind,
        &[recipient],
        &values,
        serde_json::json!({ "job": id.0 }),
    )
    .await?;
    Ok(mails)
}
