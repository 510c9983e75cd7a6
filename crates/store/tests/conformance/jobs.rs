//! Jobs: idempotent enqueue, claims that respect serial keys and the class limit, guarded
//! updates, retries, cancels and the requeue of stale claims.

use crate::harness::each_backend;
use pf_domain::job::{JobState, Progress};
use pf_store::{JobOutcome, NewJob, StoreError};
use serde_json::json;

fn job(key: &str, serial: Option<&str>, class: Option<&str>) -> NewJob {
    NewJob {
        kind: "deploy".into(),
        idempotency_key: key.into(),
        params: json!({ "course": 1 }),
        actor: "admin@factory".into(),
        actor_user: None,
        peer: None,
        serial_key: serial.map(str::to_string),
        throttle_class: class.map(str::to_string),
        max_attempts: 3,
    }
}

#[tokio::test]
async fn an_idempotency_key_runs_at_most_once() {
    each_backend(|db| async move {
        let s = &db.store;
        let (first, created) = s.enqueue_job(job("k1", None, None)).await.unwrap();
        assert!(created);
        assert_eq!(first.state, JobState::Queued);
        let (again, created) = s.enqueue_job(job("k1", None, None)).await.unwrap();
        assert!(!created);
        assert_eq!(again.id, first.id);
        let mut other_kind = job("k1", None, None);
        other_kind.kind = "publish".into();
        assert!(matches!(
            s.enqueue_job(other_kind).await,
            Err(StoreError::Conflict { .. })
        ));
        assert_eq!(s.jobs(0, 10).await.unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn claims_respect_serial_keys_and_the_class_limit() {
    each_backend(|db| async move {
        let s = &db.store;
        let now = pf_store::unix_now();
        s.enqueue_job(job("a", Some("series:1"), None))
            .await
            .unwrap();
        s.enqueue_job(job("b", Some("series:1"), None))
            .await
            .unwrap();
        s.enqueue_job(job("r1", None, Some("restore")))
            .await
            .unwrap();
        s.enqueue_job(job("r2", None, Some("restore")))
            .await
            .unwrap();
        let a = s.claim_job("w1", now, 1).await.unwrap().unwrap();
        assert_eq!(
            (a.idempotency_key.as_str(), a.state, a.attempts),
            ("a", JobState::Preparing, 1)
        );
        // b shares a's series: skipped while a runs; r1 is next; r2 waits for the class limit of 1.
        let r1 = s.claim_job("w2", now, 1).await.unwrap().unwrap();
        assert_eq!(r1.idempotency_key, "r1");
        assert!(s.claim_job("w3", now, 1).await.unwrap().is_none());
        s.finish_job(a.id, "w1", JobOutcome::Done(json!({ "course_id": 7 })))
            .await
            .unwrap();
        let b = s.claim_job("w1", now, 1).await.unwrap().unwrap();
        assert_eq!(b.idempotency_key, "b");
        s.finish_job(r1.id, "w2", JobOutcome::Done(json!(null)))
            .await
            .unwrap();
        assert_eq!(
            s.claim_job("w2", now, 1)
                .await
                .unwrap()
                .unwrap()
                .idempotency_key,
            "r2"
        );
        let done = s.job(a.id).await.unwrap();
        assert_eq!(done.state, JobState::Done);
        assert_eq!(done.result, Some(json!({ "course_id": 7 })));
        assert!(done.finished_at.is_some());
    })
    .await;
}

#[tokio::test]
async fn only_the_holding_runner_updates_a_job_and_progress_is_readable() {
    each_backend(|db| async move {
        let s = &db.store;
        let now = pf_store::unix_now();
        let (j, _) = s.enqueue_job(job("p", None, None)).await.unwrap();
        s.claim_job("w1", now, 2).await.unwrap().unwrap();
        let p = Progress {
            bytes_done: 10,
            bytes_total: 100,
            steps_done: 1,
            steps_total: 3,
            step: "fetching parts".into(),
        };
        s.report_job_progress(j.id, "w1", &p).await.unwrap();
        s.set_job_state(j.id, "w1", JobState::Transferring)
            .await
            .unwrap();
        s.set_job_transport(j.id, "w1", "http").await.unwrap();
        assert!(matches!(
            s.report_job_progress(j.id, "intruder", &p).await,
            Err(StoreError::Conflict { .. })
        ));
        assert!(matches!(
            s.finish_job(j.id, "intruder", JobOutcome::Cancelled).await,
            Err(StoreError::Conflict { .. })
        ));
        assert!(
            s.set_job_state(j.id, "w1", JobState::Done).await.is_err(),
            "done is reached by finish_job only"
        );
        let read = s.job(j.id).await.unwrap();
        assert_eq!(
            (read.state, read.progress, read.transport.as_deref()),
            (JobState::Transferring, p, Some("http"))
        );
    })
    .await;
}

#[tokio::test]
async fn retries_wait_their_backoff_and_failures_keep_their_error() {
    each_backend(|db| async move {
        let s = &db.store;
        let now = pf_store::unix_now();
        let (j, _) = s.enqueue_job(job("t", None, None)).await.unwrap();
        s.claim_job("w1", now, 2).await.unwrap().unwrap();
        let retry = JobOutcome::Retry {
            run_after: now + 60,
            code: "peer_unreachable".into(),
            message: "down".into(),
        };
        s.finish_job(j.id, "w1", retry).await.unwrap();
        let queued = s.job(j.id).await.unwrap();
        assert_eq!(
            (queued.state, queued.runner.clone()),
            (JobState::Queued, None)
        );
        assert_eq!(
            queued.error,
            Some(("peer_unreachable".into(), "down".into()))
        );
        assert!(
            s.claim_job("w1", now, 2).await.unwrap().is_none(),
            "not before its backoff"
        );
        let again = s.claim_job("w1", now + 61, 2).await.unwrap().unwrap();
        assert_eq!(again.attempts, 2);
        let failed = JobOutcome::Failed {
            code: "not_admitted".into(),
            message: "no grant".into(),
        };
        s.finish_job(j.id, "w1", failed).await.unwrap();
        let end = s.job(j.id).await.unwrap();
        assert_eq!(
            (end.state, end.error.map(|e| e.0)),
            (JobState::Failed, Some("not_admitted".into()))
        );
    })
    .await;
}

#[tokio::test]
async fn cancels_and_stale_claims() {
    each_backend(|db| async move {
        let s = &db.store;
        let now = pf_store::unix_now();
        let (queued, _) = s.enqueue_job(job("q", None, None)).await.unwrap();
        let (running, _) = s.enqueue_job(job("r", None, None)).await.unwrap();
        assert_eq!(
            s.request_job_cancel(queued.id).await.unwrap().state,
            JobState::Cancelled
        );
        let claimed = s.claim_job("w1", now, 2).await.unwrap().unwrap();
        assert_eq!(claimed.id, running.id);
        let flagged = s.request_job_cancel(running.id).await.unwrap();
        assert!(flagged.cancel_requested && flagged.state == JobState::Preparing);
        // A stale job someone asked to cancel ends cancelled rather than running again.
        assert_eq!(s.requeue_stale_jobs(now + 1, now + 2).await.unwrap(), 0);
        assert_eq!(s.job(running.id).await.unwrap().state, JobState::Cancelled);
        // A runner that stopped beating loses its job to the queue; a beating one keeps it.
        let (other, _) = s.enqueue_job(job("s", None, None)).await.unwrap();
        s.claim_job("w1", now, 2).await.unwrap().unwrap();
        assert_eq!(s.heartbeat_jobs("w1", now).await.unwrap(), 1);
        assert_eq!(s.requeue_stale_jobs(now - 30, now).await.unwrap(), 0);
        assert_eq!(s.requeue_stale_jobs(now + 1, now + 2).await.unwrap(), 1);
        let back = s.job(other.id).await.unwrap();
        assert_eq!((back.state, back.runner), (JobState::Queued, None));
        assert_eq!(
            s.request_job_cancel(queued.id).await.unwrap().state,
            JobState::Cancelled,
            "ended jobs stay ended"
        );
    })
    .await;
}
