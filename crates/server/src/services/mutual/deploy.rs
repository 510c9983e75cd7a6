//! "Deploy to my platform" (SPEC §8).
//!
//! On the **common platform**: who may ([`apply_rules`] wires the deploy rules into every deploy
//! check; [`may_deploy_home`] for the button), [`start`] (one click: a `deploy-home` job) and
//! the job itself ([`DeployHome`]), which offers the course's archive to the user's home over
//! `POST /rpc/deploy-home` with the user's assertion *and the delegation the home signed*, then
//! follows the home's receiving job like any transfer. The home's side is [`super::home`].

use super::jump::live_delegation;
use crate::error::AppError;
use crate::jobs::{JobContext, JobError, JobFuture, JobHandler};
use crate::platform::Platform;
use crate::rpc::PeerCaller;
use crate::services::archives::transport::newest_for_job;
use crate::services::jobs::{enqueue, JobRequest};
use crate::services::publishing::ops::check_deploy_key;
use crate::services::publishing::send::{
    course_lock, follow, record_sent_edge, signed_offer, source_capabilities, OfferTerms,
};
use crate::services::{courses, rules, Actor, Via};
use pf_api::ErrorCode;
use pf_domain::access::Capability;
use pf_domain::admission::Operation;
use pf_domain::ids::{CourseId, PeerId};
use pf_domain::rules::{RuleGrant, RuleVerdict};
use pf_domain::user::Home;
use pf_store::{JobRecord, PeerRecord, PeerStatus, UserRecord};
use serde::{Deserialize, Serialize};

/// The job kind on the common platform.
pub const KIND: &str = "deploy-home";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Params2 {
    course: i64,
    peer: i64,
    /// The course's name: the runner's end-of-job mail to the acting user shows it.
    #[serde(default)]
    course_label: String,
}

/// The deploy rules of the course for the actor: outside them, nothing is held; inside, the
/// `publishflow:deploy` source capability is granted.
pub async fn apply_rules(
    p: &Platform,
    actor: &Actor,
    course: CourseId,
    held: &mut Vec<Capability>,
) -> Result<(), AppError> {
    match rules::course_verdict(p, actor, course, RuleGrant::Deploy).await? {
        RuleVerdict::NoRules => {}
        RuleVerdict::Outside => held.clear(),
        RuleVerdict::Granted => {
            if !held.contains(&Capability::Deploy) {
                held.push(Capability::Deploy);
            }
        }
    }
    Ok(())
}

/// Whether the actor may press "deploy to my platform" on the course: a roaming user whose home
/// is an active peer, who may consult the course and deploy it.
pub async fn may_deploy_home(
    p: &Platform,
    actor: &Actor,
    course: CourseId,
) -> Result<bool, AppError> {
    let Some(user) = &actor.user else {
        return Ok(false);
    };
    let Home::Peer(home) = user.home else {
        return Ok(false);
    };
    if !p.role().await?.duties().catalog || p.store.peer(home).await?.status != PeerStatus::Active {
        return Ok(false);
    }
    if courses::consult(p, actor, course).await.is_err() {
        return Ok(false);
    }
    Ok(!source_capabilities(p, actor, Operation::Deploy, course)
        .await?
        .is_empty())
}

async fn checked(
    p: &Platform,
    actor: &Actor,
    course: CourseId,
) -> Result<(UserRecord, PeerRecord), AppError> {
    let user = actor
        .user
        .clone()
        .ok_or_else(|| AppError::new(ErrorCode::Unauthenticated, "please log in first"))?;
    let Home::Peer(home) = user.home else {
        return Err(AppError::bad_request(
            "deploy to my platform is for users who came here by a jump from their platform",
        ));
    };
    courses::consult(p, actor, course).await?;
    if source_capabilities(p, actor, Operation::Deploy, course)
        .await?
        .is_empty()
    {
        return Err(AppError::forbidden(Capability::Deploy));
    }
    let peer = p.store.peer(home).await?;
    if peer.status != PeerStatus::Active {
        return Err(AppError::new(
            ErrorCode::NotAdmitted,
            format!("peer {} is {}", peer.name, peer.status.as_str()),
        ));
    }
    Ok((user, peer))
}

/// Starts "deploy to my platform" for the acting roaming user: a `deploy-home` job. A course
/// with a deploy key needs it (`deploy_key`), checked like every deploy's.
/// Whether the course asks for its deploy key is [`needs_key`].
pub async fn start(
    p: &Platform,
    actor: &Actor,
    course: CourseId,
    deploy_key: Option<&str>,
    idempotency_key: Option<String>,
) -> Result<JobRecord, AppError> {
    if !p.role().await?.duties().catalog {
        return Err(AppError::new(
            ErrorCode::MissingCapability,
            "this platform's duties do not include deploy to a user's platform",
        ));
    }
    let (user, peer) = checked(p, actor, course).await?;
    live_delegation(p, &user).await?;
    let record = p.store.course(course).await?;
    if record.idnumber.as_str().is_empty() {
        return Err(AppError::bad_request("the course has no idnumber"));
    }
    // Same argon2 check and throttle as every deploy.
    check_deploy_key(p, actor, course, deploy_key).await?;
    let params = Params2 {
        course: course.0,
        peer: peer.id.0,
        course_label: record.fullname.as_str().to_string(),
    };
    let (job, _) = enqueue(
        p,
        actor,
        JobRequest {
            kind: KIND.into(),
            params: serde_json::to_value(&params).map_err(AppError::internal)?,
            idempotency_key,
            serial_key: None,
            throttle_class: None,
        },
    )
    .await?;
    Ok(job)
}

/// Whether the course has a deploy key (the button's form then asks for it).
pub async fn needs_key(p: &Platform, course: CourseId) -> Result<bool, AppError> {
    Ok(p.store.course_publishing(course).await?.0.is_some())
}

/// The `deploy-home` job.
pub struct DeployHome;

impl JobHandler for DeployHome {
    fn run(&self, ctx: JobContext) -> JobFuture {
        Box::pin(async move { run(ctx).await })
    }
}

async fn run(ctx: JobContext) -> Result<serde_json::Value, JobError> {
    let p = ctx.platform.clone();
    let job = ctx.job().clone();
    let params: Params2 = serde_json::from_value(job.params.clone())
        .map_err(|e| JobError::Final(AppError::internal(e)))?;
    let user_id = job
        .actor_user
        .ok_or_else(|| JobError::Final(AppError::bad_request("an operation needs a user")))?;
    let actor = Actor::user(p.store.user(user_id).await?, Via::Web);
    let course = CourseId(params.course);
    // Rechecked now that the job starts: rules, capability, delegation, peer.
    let (user, peer) = checked(&p, &actor, course).await.map_err(JobError::Final)?;
    if peer.id != PeerId(params.peer) {
        return Err(JobError::Final(AppError::bad_request(
            "the user's home changed",
        )));
    }
    let delegation = live_delegation(&p, &user).await.map_err(JobError::Final)?;
    let course = p.store.course(course).await?;
    let rec = {
        let lock = course_lock(course.id);
        let _held = lock.lock().await;
        let rec = newest_for_job(&p, &actor, &course).await?;
        p.store.reference_archive(rec.id, 1).await?;
        rec
    };
    let outcome = send_home(&ctx, &course, &peer, &user, &delegation, &rec).await;
    if let Err(e) = p.store.reference_archive(rec.id, -1).await {
        tracing::warn!(archive = rec.id, error = %e, "could not release an archive reference");
    }
    outcome
}

async fn send_home(
    ctx: &JobContext,
    course: &pf_store::CourseRecord,
    peer: &PeerRecord,
    user: &UserRecord,
    delegation: &pf_store::StoredDelegation,
    rec: &pf_store::ArchiveRecord,
) -> Result<serde_json::Value, JobError> {
    let p = ctx.platform.clone();
    let job = ctx.job().clone();
    let caller = PeerCaller::new(&p)?;
    let mut progress = pf_domain::job::Progress {
        steps_total: 4,
        step: "preparing the archive".into(),
        ..Default::default()
    };
    ctx.progress(&progress).await?;
    let offer = signed_offer(
        ctx,
        rec,
        course,
        peer,
        OfferTerms {
            operation: Operation::Deploy,
            mode: None,
            category: None,
            asserted: Vec::new(),
        },
        &mut progress,
    )
    .await?;
    let answer: serde_json::Value = caller
        .post_json_delegated(
            peer,
            "/rpc/deploy-home",
            &offer,
            &user.username,
            &delegation.token,
        )
        .await?;
    let remote = answer["id"]
        .as_i64()
        .ok_or_else(|| JobError::Final(AppError::internal("the peer's offer answer")))?;
    let done = follow(ctx, &caller, peer, remote).await?;
    let result = done["result"].clone();
    record_sent_edge(
        &p,
        &job.idempotency_key,
        Operation::Deploy,
        course,
        rec,
        peer,
        &result,
        format!("{}@{}", user.username, peer.name),
    )
    .await?;
    p.store.roaming_seen(user.id, p.clock.now() as i64).await?;
    p.audit(
        &Actor::user(user.clone(), Via::Web),
        "deploy_home.sent",
        format!("course:{}", course.id),
        serde_json::json!({ "job": job.id.0, "key": job.idempotency_key, "peer": peer.name,
                            "remote_job": remote, "delegation": delegation.id, "result": result }),
    )
    .await?;
    Ok(result)
}
