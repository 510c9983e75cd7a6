//! `deploy --to local` (SPEC §5.4): a catalog (or factory) deploys a course on itself. The job
//! takes the course's newest archive (made when missing or changed), reassembles it from the
//! blob store, imports it and commits the new hidden course with the archive (manifest and
//! signature), the deployer's enrolment and the lineage edges in one transaction.

use super::send::{course_lock, source_capabilities, SendParams};
use super::DEPLOY_ROLE;
use crate::error::AppError;
use crate::jobs::{JobContext, JobError, JobFuture, JobHandler};
use crate::services::archives::import::course_tree;
use crate::services::archives::transport::newest_for_job;
use crate::services::{now, Actor, Via};
use pf_domain::access::{Capability, Context};
use pf_domain::admission::Operation;
use pf_domain::course::IdNumber;
use pf_domain::ids::{CategoryId, CourseId};
use pf_domain::job::{JobState, Progress};
use pf_store::{ArchiveRecord, Lineage, ReceivedArchive, ReceivedCourse};

/// The job kind.
pub const KIND: &str = "deploy_local";

/// The local deploy job.
pub struct DeployLocal;

impl JobHandler for DeployLocal {
    fn run(&self, ctx: JobContext) -> JobFuture {
        Box::pin(async move { run(ctx).await })
    }
}

async fn run(ctx: JobContext) -> Result<serde_json::Value, JobError> {
    let p = ctx.platform.clone();
    let job = ctx.job().clone();
    let params: SendParams = serde_json::from_value(job.params.clone())
        .map_err(|e| JobError::Final(AppError::internal(e)))?;
    let me = p.name().await?;
    if let Some(edge) = p.store.lineage_by_key(&job.idempotency_key).await? {
        let course = p.store.course(CourseId(edge.target_course)).await?;
        return Ok(
            serde_json::json!({ "platform": me, "course_id": course.id.0, "shortname": course.shortname.as_str() }),
        );
    }
    let course = p.store.course(CourseId(params.course)).await?;
    let user = job
        .actor_user
        .ok_or_else(|| JobError::Final(AppError::bad_request("an operation needs a user")))?;
    let actor = Actor::user(p.store.user(user).await?, Via::Api);
    if source_capabilities(&p, &actor, Operation::Deploy, course.id)
        .await?
        .is_empty()
    {
        return Err(JobError::Final(AppError::forbidden(Capability::Deploy)));
    }
    let category = match params.category {
        Some(c) => CategoryId(c),
        None => crate::services::archives::import::landing_category(&p).await?,
    };
    p.require(
        &actor,
        Capability::CourseCreate,
        Context::Category(category),
    )
    .await?;
    let rec = {
        let lock = course_lock(course.id);
        let _held = lock.lock().await;
        let rec = newest_for_job(&p, &actor, &course).await?;
        p.store.reference_archive(rec.id, 1).await?;
        rec
    };
    let outcome = restore(&ctx, &actor, &course, category, &rec, &me).await;
    if let Err(e) = p.store.reference_archive(rec.id, -1).await {
        tracing::warn!(archive = rec.id, error = %e, "could not release an archive reference");
    }
    outcome
}

async fn restore(
    ctx: &JobContext,
    actor: &Actor,
    course: &pf_store::CourseRecord,
    category: CategoryId,
    rec: &ArchiveRecord,
    me: &str,
) -> Result<serde_json::Value, JobError> {
    let p = &ctx.platform;
    let job = ctx.job();
    ctx.set_transport("local").await?;
    ctx.enter(JobState::Restoring).await?;
    let mut progress = Progress {
        steps_total: 1,
        step: "restoring".into(),
        ..Progress::default()
    };
    ctx.progress(&progress).await?;
    let manifest = pf_mbz::TransportManifest::parse(rec.manifest.as_bytes(), u64::MAX)
        .map_err(|e| JobError::Final(AppError::internal(e)))?;
    let signing = manifest.signing_bytes();
    let signature = match &rec.signature {
        Some(s) => s.clone(),
        None => {
            let s = pf_net::sign_bytes(&p.identity, &signing).to_string();
            p.store.set_archive_signature(rec.id, &s).await?;
            s
        }
    };
    let promoted = super::restore::from_parts(p, &manifest).await?;
    let mut tree = course_tree(&promoted.archive, category)?;
    tree.course.visible = false;
    tree.course.idnumber = IdNumber::parse(&manifest.idnumber)?;
    let role = p
        .store
        .setting(DEPLOY_ROLE)
        .await?
        .unwrap_or_else(|| "editingteacher".into());
    let user = actor.user.as_ref().map(|u| u.id);
    let edge = Lineage {
        operation: "deploy".into(),
        source_platform: me.to_string(),
        source_key: p.identity.key_id().to_string(),
        source_course: course.id.0,
        archive_sha256: rec.sha256.clone(),
        archive_counter: rec.counter,
        version: None,
        target_platform: me.to_string(),
        target_key: p.identity.key_id().to_string(),
        target_course: 0,
        local_course: 0,
        actor: format!(
            "{}@{me}",
            actor
                .user
                .as_ref()
                .map(|u| u.username.to_string())
                .unwrap_or_default()
        ),
        job_key: job.idempotency_key.clone(),
        created_at: now(),
    };
    let created = p
        .store
        .receive_course(ReceivedCourse {
            tree,
            archive: ReceivedArchive {
                manifest: String::from_utf8(signing)
                    .map_err(|e| JobError::Final(AppError::internal(e)))?,
                skeleton_sha256: manifest
                    .skeleton_part()
                    .map(|x| x.sha256.clone())
                    .unwrap_or_default(),
                size: rec.size,
                sha256: rec.sha256.clone(),
                signature,
            },
            version: None,
            enrol: user.map(|u| (u, role)),
            lineage: edge.clone(),
        })
        .await?;
    let who = format!(
        "{}@{me}",
        actor
            .user
            .as_ref()
            .map(|u| u.username.to_string())
            .unwrap_or_default()
    );
    let hook = super::receive::after_deploy(p, &created, &manifest, category, me, &who).await?;
    // The source's side of the edge.
    p.store
        .add_lineage(&Lineage {
            target_course: created.id.0,
            local_course: course.id.0,
            ..edge
        })
        .await?;
    p.audit(
        actor,
        "deploy.local",
        format!("course:{}", created.id),
        serde_json::json!({ "job": job.id.0, "key": job.idempotency_key, "source": course.id.0, "archive": rec.id }),
    )
    .await?;
    progress.steps_done = 1;
    progress.step = "done".into();
    ctx.progress(&progress).await?;
    let mut result = serde_json::json!({ "platform": me, "course_id": created.id.0, "shortname": created.shortname.as_str() });
    if let Some(h) = hook {
        result["hook"] = h;
    }
    Ok(result)
}
