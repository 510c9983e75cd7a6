//! The job runner with test job kinds: one run per idempotency key, retries, progress, cancel,
//! failures that do not take the runner down, and jobs taken back from a dead process.

use super::bin;
use pf_domain::platform::PlatformRole;
use pf_server::jobs::{JobContext, JobError, JobFuture, JobHandler, Registry};
use pf_server::services::jobs::{enqueue, JobRequest};
use pf_server::services::{Actor, Via};
use pf_testkit::{TestPlatform, ADMIN_PASSWORD};

/// A test job kind: walks `steps` steps, failing transiently on its first `fail_first`
/// attempts, checking for a cancel between steps.
struct Steps;

impl JobHandler for Steps {
    fn run(&self, ctx: JobContext) -> JobFuture {
        Box::pin(async move {
            let params = ctx.job().params.clone();
            let steps = params["steps"].as_i64().unwrap_or(1);
            let pause = params["pause_ms"].as_u64().unwrap_or(0);
            if ctx.job().attempts <= params["fail_first"].as_i64().unwrap_or(0) {
                return Err(JobError::Transient(pf_server::error::AppError::new(
                    pf_api::ErrorCode::PeerUnreachable,
                    "peer down",
                )));
            }
            for i in 1..=steps {
                ctx.check_cancel().await?;
                let progress = pf_domain::job::Progress {
                    steps_done: i,
                    steps_total: steps,
                    step: format!("step {i}"),
                    ..Default::default()
                };
                ctx.progress(&progress).await?;
                tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
            }
            Ok(serde_json::json!({ "steps": steps, "attempt": ctx.job().attempts }))
        })
    }
}

struct Panics;

impl JobHandler for Panics {
    fn run(&self, _ctx: JobContext) -> JobFuture {
        Box::pin(async move { panic!("a bug in a handler") })
    }
}

async fn admin(f: &TestPlatform) -> Actor {
    let user = f
        .platform
        .store
        .local_user(&pf_domain::user::Username::parse("admin").unwrap())
        .await
        .unwrap();
    Actor::user(user, Via::Cli)
}

fn request(kind: &str, key: &str, params: serde_json::Value) -> JobRequest {
    JobRequest {
        kind: kind.into(),
        params,
        idempotency_key: Some(key.into()),
        serial_key: None,
        throttle_class: None,
    }
}

async fn wait_end(f: &TestPlatform, id: pf_domain::ids::JobId) -> pf_store::JobRecord {
    for _ in 0..300 {
        let job = f.platform.store.job(id).await.unwrap();
        if job.state.is_terminal() {
            return job;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("job {id} did not end in 30 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_run_once_retry_report_progress_and_cancel() {
    let mut handlers = Registry::default();
    handlers
        .register("test.steps", Steps)
        .register("test.panics", Panics);
    let f = TestPlatform::start_with_handlers(PlatformRole::Factory, "f", handlers).await;
    let actor = admin(&f).await;
    let update = pf_store::UserUpdate {
        email: Some("admin@example.org".into()),
        lang: Some("fr".into()),
        ..Default::default()
    };
    f.platform
        .store
        .update_user(actor.user.as_ref().unwrap().id, update)
        .await
        .unwrap();

    // One key, one job, one run.
    let (job, created) = enqueue(
        &f.platform,
        &actor,
        request("test.steps", "k-1", serde_json::json!({ "steps": 3 })),
    )
    .await
    .unwrap();
    assert!(created);
    let (again, created) = enqueue(
        &f.platform,
        &actor,
        request("test.steps", "k-1", serde_json::json!({ "steps": 3 })),
    )
    .await
    .unwrap();
    assert!(!created && again.id == job.id);
    let done = wait_end(&f, job.id).await;
    assert_eq!(done.state, pf_domain::job::JobState::Done);
    assert_eq!(done.attempts, 1);
    assert_eq!(done.progress.steps_done, 3);
    let shown = f
        .cli(bin(), &["jobs", "show", &job.id.to_string(), "--json"])
        .json();
    assert_eq!(shown["state"], "done");
    assert_eq!(shown["progress"]["steps_total"], 3);
    assert_eq!(shown["error"], serde_json::Value::Null);
    assert_eq!(shown["result"]["steps"], 3);
    assert_eq!(
        f.cli(bin(), &["jobs", "watch", &job.id.to_string()]).code,
        0
    );
    // The user who asked is told, in their language (no SMTP configured: the outbox keeps it).
    let outbox = f.cli(bin(), &["outbox", "list", "--json"]).json();
    let tag = format!("test.steps #{}", job.id);
    let done_mail = outbox
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m.to_string().contains(&tag));
    let done_mail = done_mail.unwrap_or_else(|| panic!("no mail for {tag}: {outbox}"));
    assert!(done_mail.to_string().contains("Terminé"), "{done_mail}");

    // Transient failures are retried until they succeed.
    let (flaky, _) = enqueue(
        &f.platform,
        &actor,
        request(
            "test.steps",
            "k-2",
            serde_json::json!({ "steps": 1, "fail_first": 2 }),
        ),
    )
    .await
    .unwrap();
    let ended = wait_end(&f, flaky.id).await;
    assert_eq!(
        (ended.state, ended.attempts),
        (pf_domain::job::JobState::Done, 3)
    );

    // A running job is cancelled at its next step; jobs watch then exits 1.
    let (long, _) = enqueue(
        &f.platform,
        &actor,
        request(
            "test.steps",
            "k-3",
            serde_json::json!({ "steps": 400, "pause_ms": 50 }),
        ),
    )
    .await
    .unwrap();
    for _ in 0..100 {
        if f.platform
            .store
            .job(long.id)
            .await
            .unwrap()
            .progress
            .steps_done
            > 0
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        f.cli(bin(), &["jobs", "cancel", &long.id.to_string()]).code,
        0
    );
    assert_eq!(
        wait_end(&f, long.id).await.state,
        pf_domain::job::JobState::Cancelled
    );
    let watch = f.cli(bin(), &["jobs", "watch", &long.id.to_string()]);
    assert_eq!(watch.code, 1, "{watch:?}");

    // Unknown kinds and panicking handlers fail their job, not the runner.
    let (unknown, _) = enqueue(
        &f.platform,
        &actor,
        request("test.nothing", "k-4", serde_json::json!({})),
    )
    .await
    .unwrap();
    assert!(wait_end(&f, unknown.id)
        .await
        .error
        .unwrap()
        .1
        .contains("no handler"));
    let (bug, _) = enqueue(
        &f.platform,
        &actor,
        request("test.panics", "k-5", serde_json::json!({})),
    )
    .await
    .unwrap();
    assert_eq!(wait_end(&f, bug.id).await.error.unwrap().0, "internal");
    let (after, _) = enqueue(
        &f.platform,
        &actor,
        request("test.steps", "k-6", serde_json::json!({ "steps": 1 })),
    )
    .await
    .unwrap();
    assert_eq!(
        wait_end(&f, after.id).await.state,
        pf_domain::job::JobState::Done,
        "the runner lives on"
    );

    // The job page shows it; a student cannot see someone else's job.
    let mut browser = f.login("admin", ADMIN_PASSWORD).await;
    let page = browser.get(&format!("/jobs/{}", done.id)).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("test.steps") && page.body.contains("k-1"));
    let listed = f.cli(bin(), &["jobs", "list", "--json"]).json();
    assert_eq!(listed.as_array().unwrap().len(), 6);
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_left_running_by_a_dead_process_is_taken_back_and_finished() {
    let mut handlers = Registry::default();
    handlers.register("test.steps", Steps);
    let f = TestPlatform::start_with_handlers(PlatformRole::Factory, "f", handlers).await;
    let actor = admin(&f).await;
    // Queue a job that must wait (run_after in the future is not settable; instead claim it
    // as a runner that then dies: its heartbeat is two minutes old).
    let long_ago = pf_server::services::now() - 120;
    // The live runner polls once a second and is not woken for these jobs, so the dead runner
    // nearly always wins the claim; when the live one happens to poll in between, that job just
    // runs and the scenario is tried again with a new job (the takeover is proven only by a job
    // the dead runner held).
    let mut orphan = None;
    for attempt in 0..5 {
        let (job, _) = f
            .platform
            .store
            .enqueue_job(pf_store::NewJob {
                kind: "test.steps".into(),
                idempotency_key: format!("orphan-{attempt}"),
                params: serde_json::json!({ "steps": 2 }),
                actor: actor.label(),
                actor_user: actor.user.as_ref().map(|u| u.id),
                peer: None,
                serial_key: None,
                throttle_class: None,
                max_attempts: 3,
            })
            .await
            .unwrap();
        let claimed = f
            .platform
            .store
            .claim_job("dead-runner", long_ago, 2)
            .await
            .unwrap();
        match claimed {
            Some(held) if held.id == job.id => {
                orphan = Some(job);
                break;
            }
            _ => {
                wait_end(&f, job.id).await;
            }
        }
    }
    let job = orphan.expect("the dead runner held one of five jobs");
    let end = wait_end(&f, job.id).await;
    assert_eq!(end.state, pf_domain::job::JobState::Done);
    assert_eq!(
        end.attempts, 2,
        "claimed by the dead runner, then taken back and run by the live one"
    );
    assert_ne!(end.runner.as_deref(), Some("dead-runner"));
    f.stop().await;
}
