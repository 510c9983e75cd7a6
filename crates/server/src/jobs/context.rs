//! What a job handler works with: the platform, its job row, and the means to report progress,
//! change state and notice a cancel.

use crate::error::AppError;
use crate::platform::Platform;
use pf_domain::job::{JobState, Progress};
use pf_store::JobRecord;

/// Why a handler stopped without a result.
#[derive(Debug)]
pub enum JobError {
    /// Worth retrying later (a peer down, a timeout): the job goes back to the queue with backoff.
    Transient(AppError),
    /// Retrying would not help (refused, invalid): the job fails.
    Final(AppError),
    /// A user cancelled the job.
    Cancelled,
}

impl From<AppError> for JobError {
    /// Errors are final unless a handler says otherwise; peers being unreachable is transient.
    fn from(e: AppError) -> Self {
        match e.code {
            pf_api::ErrorCode::PeerUnreachable => JobError::Transient(e),
            _ => JobError::Final(e),
        }
    }
}

impl From<pf_store::StoreError> for JobError {
    fn from(e: pf_store::StoreError) -> Self {
        AppError::from(e).into()
    }
}

impl From<pf_domain::DomainError> for JobError {
    fn from(e: pf_domain::DomainError) -> Self {
        AppError::from(e).into()
    }
}

/// A claimed job, as its handler sees it.
pub struct JobContext {
    /// The platform.
    pub platform: Platform,
    job: JobRecord,
    runner: String,
}

impl JobContext {
    pub(super) fn new(platform: Platform, job: JobRecord, runner: String) -> JobContext {
        JobContext {
            platform,
            job,
            runner,
        }
    }

    /// The job row as claimed.
    pub fn job(&self) -> &JobRecord {
        &self.job
    }

    /// Records progress; any replica (and `jobs watch`) reads it from the store.
    pub async fn progress(&self, progress: &Progress) -> Result<(), JobError> {
        self.platform
            .store
            .report_job_progress(self.job.id, &self.runner, progress)
            .await
            .map_err(|e| JobError::Final(e.into()))
    }

    /// Moves the job to `transferring` or `restoring`.
    pub async fn enter(&self, state: JobState) -> Result<(), JobError> {
        self.platform
            .store
            .set_job_state(self.job.id, &self.runner, state)
            .await
            .map_err(|e| JobError::Final(e.into()))
    }

    /// Records the transport chosen.
    pub async fn set_transport(&self, transport: &str) -> Result<(), JobError> {
        self.platform
            .store
            .set_job_transport(self.job.id, &self.runner, transport)
            .await
            .map_err(|e| JobError::Final(e.into()))
    }

    /// Fails with [`JobError::Cancelled`] if a user asked to cancel; call between steps.
    pub async fn check_cancel(&self) -> Result<(), JobError> {
        let current = self
            .platform
            .store
            .job(self.job.id)
            .await
            .map_err(|e| JobError::Final(e.into()))?;
        if current.cancel_requested {
            Err(JobError::Cancelled)
        } else {
            Ok(())
        }
    }
}
