//! The initiator's job (`publish`, `deploy`, `retrofit`): recheck the acting user's capability,
//! make or reuse the newest archive, scan it, sign its manifest, offer it to the peer, then
//! follow the peer's receiving job to its end, mirroring its progress and result.

use super::{ticket, Offer};
use crate::error::AppError;
use crate::jobs::{JobContext, JobError, JobFuture, JobHandler};
use crate::platform::Platform;
use crate::rpc::PeerCaller;
use crate::services::archives::transport::{newest_for_job, scan_archive};
use crate::services::{now, Actor, Via};
use pf_api::ErrorCode;
use pf_domain::access::{Capability, Context};
use pf_domain::admission::Operation;
use pf_domain::ids::{CourseId, PeerId};
use pf_domain::job::{JobState, Progress};
use pf_domain::publication::PublishMode;
use pf_store::Lineage;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The sender job's params.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendParams {
    /// The course sent.
    pub course: i64,
    /// The receiving peer.
    pub peer: i64,
    /// Publications: the mode.
    #[serde(default)]
    pub mode: Option<PublishMode>,
    /// Deploys: the category chosen on the receiver.
    #[serde(default)]
    pub category: Option<i64>,
}

/// The handler of one operation kind.
pub struct Send(pub Operation);

impl JobHandler for Send {
    fn run(&self, ctx: JobContext) -> JobFuture {
        let op = self.0;
        // The runner tells the acting user how the job ended (`jobs::run_one`).
        Box::pin(run(op, ctx))
    }
}

/// The source capabilities the actor holds for `op` on the course (what the offer asserts);
/// empty when they may not run it.
pub async fn source_capabilities(
    p: &Platform,
    actor: &Actor,
    op: Operation,
    course: CourseId,
) -> Result<Vec<Capability>, AppError> {
    let mut held = Vec::new();
    for cap in op.source_capabilities() {
        let context = if *cap == Capability::DeployEverywhere {
            Context::System
        } else {
            Context::Course(course)
        };
        if p.can(actor, *cap, context).await? {
            held.push(*cap);
        }
    }
    if op == Operation::Deploy {
        // Profile rules with the deploy grant (SPEC §8) grant or withhold it too.
        crate::services::mutual::deploy::apply_rules(p, actor, course, &mut held).await?;
    }
    Ok(held)
}

fn remote_error(doc: &serde_json::Value) -> AppError {
    let code = doc["error"]["code"].as_str().unwrap_or("failed");
    let code: ErrorCode =
        serde_json::from_value(serde_json::Value::String(code.into())).unwrap_or(ErrorCode::Failed);
    let message = doc["error"]["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("the receiving job ended {}", doc["state"]));
    AppError::new(code, message)
}

async fn run(op: Operation, ctx: JobContext) -> Result<serde_json::Value, JobError> {
    let p = ctx.platform.clone();
    let job = ctx.job().clone();
    let params: SendParams = serde_json::from_value(job.params.clone())
        .map_err(|e| JobError::Final(AppError::internal(e)))?;
    let course = p.store.course(CourseId(params.course)).await?;
    let peer = p.store.peer(PeerId(params.peer)).await?;
    let user_id = job
        .actor_user
        .ok_or_else(|| JobError::Final(AppError::bad_request("an operation needs a user")))?;
    let user = p.store.user(user_id).await?;
    let username = user.username.clone();
    let actor = Actor::user(user, Via::Api);
    // The acting user's capability is checked again now that the job starts.
    let asserted = source_capabilities(&p, &actor, op, course.id).await?;
    if asserted.is_empty() {
        let cap = op.source_capabilities()[0];
        return Err(JobError::Final(AppError::forbidden(cap)));
    }
    let caller = PeerCaller::new(&p)?;
    let mode = params.mode.unwrap_or(PublishMode::Publish);
    let progress = Progress {
        steps_total: 4,
        step: "preparing the archive".into(),
        ..Progress::default()
    };
    ctx.progress(&progress).await?;
    if op == Operation::Publish && !mode.restores() {
        let answer: serde_json::Value = caller
            .post_json(
                &peer,
                "/rpc/publication",
                &serde_json::json!({ "mode": mode, "idnumber": course.idnumber.as_str(), "asserted": asserted }),
                Some(&username),
            )
            .await?;
        return Ok(answer);
    }
    if course.idnumber.as_str().is_empty() {
        return Err(JobError::Final(AppError::bad_request(
            "the course has no idnumber: run `course index` first",
        )));
    }
    // One archive per course at a time in this process: concurrent operations on a course reuse
    // the archive the first one made, and a referenced archive is never pruned under a job.
    let rec = {
        let lock = course_lock(course.id);
        let _held = lock.lock().await;
        let rec = newest_for_job(&p, &actor, &course).await?;
        p.store.reference_archive(rec.id, 1).await?;
        rec
    };
    let outcome = transfer(
        &ctx, op, &params, &course, &peer, &actor, &username, asserted, progress, &rec,
    )
    .await;
    if let Err(e) = p.store.reference_archive(rec.id, -1).await {
        tracing::warn!(archive = rec.id, error = %e, "could not release an archive reference");
    }
    outcome
}

pub(crate) fn course_lock(course: CourseId) -> std::sync::Arc<tokio::sync::Mutex<()>> {
    static LOCKS: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<i64, std::sync::Arc<tokio::sync::Mutex<()>>>>,
    > = std::sync::OnceLock::new();
    let locks = LOCKS.get_or_init(Default::default);
    let mut map = locks.lock().unwrap_or_else(|e| e.into_inner());
    map.entry(course.0).or_default().clone()
}

/// Scan, sign, offer, follow: everything after the archive is chosen.
#[allow(clippy::too_many_arguments)]
async fn transfer(
    ctx: &JobContext,
    op: Operation,
    params: &SendParams,
    course: &pf_store::CourseRecord,
    peer: &pf_store::PeerRecord,
    actor: &Actor,
    username: &pf_domain::user::Username,
    asserted: Vec<Capability>,
    mut progress: Progress,
    rec: &pf_store::ArchiveRecord,
) -> Result<serde_json::Value, JobError> {
    let p = ctx.platform.clone();
    let job = ctx.job().clone();
    let caller = PeerCaller::new(&p)?;
    let offer = signed_offer(
        ctx,
        rec,
        course,
        peer,
        OfferTerms {
            operation: op,
            mode: (op == Operation::Publish).then_some(params.mode.unwrap_or(PublishMode::Publish)),
            category: params.category,
            asserted,
        },
        &mut progress,
    )
    .await?;
    let answer: serde_json::Value = caller
        .post_json(peer, "/rpc/offer", &offer, Some(username))
        .await?;
    let remote = answer["id"]
        .as_i64()
        .ok_or_else(|| JobError::Final(AppError::internal("the peer's offer answer")))?;
    let done = follow(ctx, &caller, peer, remote).await?;
    let result = done["result"].clone();
    record_sent_edge(
        &p,
        &job.idempotency_key,
        op,
        course,
        rec,
        peer,
        &result,
        format!("{username}@{}", p.name().await?),
    )
    .await?;
    p.audit(
        actor,
        &format!("{}.sent", super::kind_of(op)),
        format!("course:{}", course.id),
        serde_json::json!({ "job": job.id.0, "key": job.idempotency_key, "peer": peer.name,
                            "remote_job": remote, "archive": rec.id, "result": result }),
    )
    .await?;
    Ok(result)
}

/// What an offer asks of the receiver besides the archive.
pub(crate) struct OfferTerms {
    /// The operation.
    pub operation: Operation,
    /// Publications: the mode.
    pub mode: Option<PublishMode>,
    /// Deploys: the category chosen on the receiver.
    pub category: Option<i64>,
    /// The source capabilities asserted for the acting user.
    pub asserted: Vec<Capability>,
}

/// Scans the archive (a finding fails the job), signs its manifest (kept with the archive)
/// and builds the offer for `peer`; `progress` moves to "offering".
pub(crate) async fn signed_offer(
    ctx: &JobContext,
    rec: &pf_store::ArchiveRecord,
    course: &pf_store::CourseRecord,
    peer: &pf_store::PeerRecord,
    terms: OfferTerms,
    progress: &mut Progress,
) -> Result<Offer, JobError> {
    let p = &ctx.platform;
    scan_archive(p, rec).await.map_err(|e| {
        JobError::Final(AppError::new(
            ErrorCode::Failed,
            format!("the scanner refused the archive: {}", e.message),
        ))
    })?;
    let manifest = pf_mbz::TransportManifest::parse(rec.manifest.as_bytes(), u64::MAX)
        .map_err(|e| JobError::Final(AppError::internal(e)))?;
    let bytes = manifest.signing_bytes();
    let signature = pf_net::sign_bytes(&p.identity, &bytes).to_string();
    if rec.signature.is_none() {
        p.store.set_archive_signature(rec.id, &signature).await?;
    }
    progress.steps_done = 1;
    progress.step = format!("offering to {}", peer.name);
    ctx.progress(progress).await?;
    Ok(Offer {
        operation: terms.operation,
        manifest: String::from_utf8(bytes).map_err(|e| JobError::Final(AppError::internal(e)))?,
        signature,
        idempotency_key: ctx.job().idempotency_key.clone(),
        archive: rec.id,
        source_course: course.id.0,
        ticket: ticket::issue(p, rec.id, &peer.key_id),
        mode: terms.mode,
        category: terms.category,
        asserted: terms.asserted,
        transports: super::transport::sender_transports(p, &manifest).await,
    })
}

/// Records the lineage edge of a transfer that ended `done` (`result` is the receiver's),
/// once per idempotency key.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn record_sent_edge(
    p: &Platform,
    job_key: &str,
    op: Operation,
    course: &pf_store::CourseRecord,
    rec: &pf_store::ArchiveRecord,
    peer: &pf_store::PeerRecord,
    result: &serde_json::Value,
    actor: String,
) -> Result<(), JobError> {
    if p.store.lineage_by_key(job_key).await?.is_some() {
        return Ok(());
    }
    p.store
        .add_lineage(&Lineage {
            operation: super::kind_of(op).into(),
            source_platform: p.name().await?,
            source_key: p.identity.key_id().to_string(),
            source_course: course.id.0,
            archive_sha256: rec.sha256.clone(),
            archive_counter: rec.counter,
            version: result["version"].as_i64(),
            target_platform: peer.name.clone(),
            target_key: peer.key_id.clone(),
            target_course: result["course_id"].as_i64().unwrap_or(0),
            local_course: course.id.0,
            actor,
            job_key: job_key.to_string(),
            created_at: now(),
        })
        .await?;
    Ok(())
}

/// Follows the peer's receiving job `remote` to its end, mirroring its state and progress;
/// answers its final document (`done`), or the job's error.
pub(crate) async fn follow(
    ctx: &JobContext,
    caller: &PeerCaller,
    peer: &pf_store::PeerRecord,
    remote: i64,
) -> Result<serde_json::Value, JobError> {
    let mut progress = Progress::default();
    let mut state = JobState::Preparing;
    let mut transport = String::new();
    let mut cancelling = false;
    loop {
        // A cancel here cancels the receiver's job too; its end (cancelled, or done when the
        // cancel came after its commit) is this job's end.
        if !cancelling && matches!(ctx.check_cancel().await, Err(JobError::Cancelled)) {
            let path = format!("/rpc/jobs/{remote}/cancel");
            let _: serde_json::Value = caller
                .post_json(peer, &path, &serde_json::json!({}), None)
                .await?;
            cancelling = true;
        }
        let doc: serde_json::Value = caller
            .get_json(peer, &format!("/rpc/jobs/{remote}"), None)
            .await?;
        let remote_state = doc["state"].as_str().unwrap_or("");
        if let Some(t) = doc["transport"].as_str() {
            if t != transport {
                ctx.set_transport(t).await?;
                transport = t.to_string();
            }
        }
        let next = match remote_state {
            "transferring" => Some(JobState::Transferring),
            "restoring" => Some(JobState::Restoring),
            _ => None,
        };
        if let Some(next) = next {
            if next != state && state != JobState::Restoring {
                ctx.enter(next).await?;
                state = next;
            }
        }
        if let Ok(mirrored) = serde_json::from_value::<Progress>(doc["progress"].clone()) {
            if mirrored != progress {
                progress = mirrored;
                ctx.progress(&progress).await?;
            }
        }
        match remote_state {
            "done" => return Ok(doc),
            "cancelled" if cancelling => return Err(JobError::Cancelled),
            "failed" | "cancelled" => return Err(JobError::Final(remote_error(&doc))),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
