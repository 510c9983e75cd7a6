//! Operations as jobs (SPEC §5): states, allowed transitions, progress, retry backoff.

use crate::DomainError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting to be claimed (new, or waiting for a retry).
    Queued,
    /// Claimed; preparing (checks, archive making).
    Preparing,
    /// Moving parts between platforms.
    Transferring,
    /// Building the course on the receiver.
    Restoring,
    /// Finished successfully (terminal).
    Done,
    /// Finished with an error (terminal).
    Failed,
    /// Stopped at a user's request (terminal).
    Cancelled,
}

impl JobState {
    /// Every state, in life order.
    pub const ALL: [JobState; 7] = [
        JobState::Queued,
        JobState::Preparing,
        JobState::Transferring,
        JobState::Restoring,
        JobState::Done,
        JobState::Failed,
        JobState::Cancelled,
    ];

    /// The state's name in the CLI, the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Preparing => "preparing",
            JobState::Transferring => "transferring",
            JobState::Restoring => "restoring",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Whether the job has ended.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Done | JobState::Failed | JobState::Cancelled
        )
    }

    /// Whether a runner is working on it.
    pub fn is_running(self) -> bool {
        matches!(
            self,
            JobState::Preparing | JobState::Transferring | JobState::Restoring
        )
    }

    /// Whether `self → next` is a legal move. Running states go forward only; a running job may
    /// go back to `queued` for a retry; terminal states never change.
    pub fn can_move_to(self, next: JobState) -> bool {
        use JobState::*;
        matches!(
            (self, next),
            (Queued, Preparing | Cancelled | Failed)
                | (
                    Preparing,
                    Transferring | Restoring | Done | Failed | Cancelled | Queued
                )
                | (Transferring, Restoring | Done | Failed | Cancelled | Queued)
                | (Restoring, Done | Failed | Cancelled | Queued)
        )
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobState::ALL
            .into_iter()
            .find(|j| j.as_str() == s)
            .ok_or_else(|| DomainError::invalid("job state", format!("'{s}' is not a job state")))
    }
}

/// How far a job has come (the CLI contract's `progress` object).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Bytes moved or written so far.
    pub bytes_done: i64,
    /// Bytes expected in all (0 when unknown).
    pub bytes_total: i64,
    /// Steps finished.
    pub steps_done: i64,
    /// Steps in all.
    pub steps_total: i64,
    /// What is happening now, in a few words.
    pub step: String,
}

impl Progress {
    /// A fraction in 0..=1 for progress bars: bytes when known, else steps.
    pub fn fraction(&self) -> f64 {
        let ratio = |done: i64, total: i64| {
            if total > 0 {
                (done as f64 / total as f64).clamp(0.0, 1.0)
            } else {
                0.0
            }
        };
        if self.bytes_total > 0 {
            ratio(self.bytes_done, self.bytes_total)
        } else {
            ratio(self.steps_done, self.steps_total)
        }
    }
}

/// Wait before retry number `attempt` (1-based) of a transient failure: `base` doubling at each
/// attempt, capped at 10 minutes (the platform's base is 5 s).
pub fn retry_backoff(attempt: u32, base: Duration) -> Duration {
    let factor = 1u32 << attempt.saturating_sub(1).min(16);
    base.saturating_mul(factor).min(Duration::from_secs(600))
}

/// Validates a client-supplied idempotency key: 1–200 visible ASCII characters.
pub fn parse_idempotency_key(key: &str) -> Result<String, DomainError> {
    let ok = !key.is_empty() && key.len() <= 200 && key.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(key.to_string())
    } else {
        Err(DomainError::invalid(
            "idempotency key",
            "must be 1 to 200 visible ASCII characters",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_states_never_change_and_running_ones_only_go_forward() {
        for from in JobState::ALL {
            for to in JobState::ALL {
                if from.is_terminal() {
                    assert!(!from.can_move_to(to), "{from} → {to}");
                }
            }
        }
        assert!(JobState::Queued.can_move_to(JobState::Preparing));
        assert!(
            JobState::Transferring.can_move_to(JobState::Queued),
            "a retry requeues"
        );
        assert!(!JobState::Restoring.can_move_to(JobState::Transferring));
        assert!(!JobState::Queued.can_move_to(JobState::Done));
        assert_eq!(
            "restoring".parse::<JobState>().unwrap(),
            JobState::Restoring
        );
        assert!("paused".parse::<JobState>().is_err());
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let base = Duration::from_secs(5);
        assert_eq!(retry_backoff(1, base), Duration::from_secs(5));
        assert_eq!(retry_backoff(2, base), Duration::from_secs(10));
        assert_eq!(retry_backoff(4, base), Duration::from_secs(40));
        assert_eq!(retry_backoff(60, base), Duration::from_secs(600));
        assert_eq!(retry_backoff(3, Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn progress_prefers_bytes_then_steps() {
        let mut p = Progress {
            steps_done: 1,
            steps_total: 4,
            ..Default::default()
        };
        assert_eq!(p.fraction(), 0.25);
        p.bytes_total = 200;
        p.bytes_done = 150;
        assert_eq!(p.fraction(), 0.75);
        assert_eq!(Progress::default().fraction(), 0.0);
    }

    #[test]
    fn idempotency_keys_are_bounded_visible_ascii() {
        assert!(parse_idempotency_key("deploy-42-2026").is_ok());
        assert!(parse_idempotency_key("").is_err());
        assert!(parse_idempotency_key("has space").is_err());
        assert!(parse_idempotency_key(&"k".repeat(201)).is_err());
    }
}
