//! What users call (CLI, API, panel): start an operation (publish, deploy, retrofit) as a job,
//! a course's lineage, the factory's publication status, and the per-course publishing settings
//! (deploy key, free category choice); the views live in [`super::status`] (re-exported here).

use super::send::{source_capabilities, SendParams};
pub use super::status::{
    apply_publication, lineage, link_series, publication_status, series_status, EdgeEnd, LineageDoc,
};
use crate::error::AppError;
use crate::platform::Platform;
use crate::services::jobs::{enqueue, JobRequest};
use crate::services::{now, peers, Actor};
use pf_api::ErrorCode;
use pf_domain::access::{Capability, Context};
use pf_domain::admission::Operation;
use pf_domain::ids::CourseId;
use pf_domain::platform::{Duties, PlatformRole};
use pf_domain::publication::PublishMode;
use pf_store::{JobRecord, PeerRecord, PeerStatus};

/// Failed deploy-key attempts per (course, user) allowed in 15 minutes.
const DEPLOY_KEY_FAILURES: i64 = 5;

/// An operation request as the faces parse it.
#[derive(Debug, Clone, Default)]
pub struct OperationRequest {
    /// The course to send.
    pub course: i64,
    /// `PEER` as named by the user (id or unique name); chosen by duty when `None`.
    pub peer: Option<String>,
    /// Publications: the mode.
    pub mode: Option<PublishMode>,
    /// Deploys: a category id on the target (from `peer categories`).
    pub category: Option<i64>,
    /// Deploys: the course's deploy key, when it has one.
    pub deploy_key: Option<String>,
    /// Supplied idempotency key.
    pub idempotency_key: Option<String>,
    /// Deploys: the user accepted the course's terms of use (SPEC §5.1).
    pub accept_terms: bool,
}

/// A peer's duties, from the role its last scan recorded (none when unknown).
pub fn duties_of(role: Option<&str>) -> Duties {
    role.and_then(|r| r.parse::<PlatformRole>().ok())
        .map(PlatformRole::duties)
        .unwrap_or_default()
}

/// The peer an operation goes to: the named one, else the only active peer with the duty.
pub async fn target_peer(
    p: &Platform,
    op: Operation,
    named: Option<&str>,
) -> Result<PeerRecord, AppError> {
    if let Some(name) = named {
        return peers::resolve(p, name).await;
    }
    let wanted = |d: Duties| match op {
        Operation::Publish => d.catalog,
        Operation::Deploy => d.training,
        _ => d.factory,
    };
    let candidates: Vec<PeerRecord> = p
        .store
        .peers()
        .await?
        .into_iter()
        .filter(|r| r.status == PeerStatus::Active && wanted(duties_of(r.role.as_deref())))
        .collect();
    match candidates.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(AppError::bad_request(format!(
            "no active peer can receive a {}: pair one, or name it",
            super::kind_of(op)
        ))),
        _ => Err(AppError::bad_request(format!(
            "several peers can receive a {}: name one",
            super::kind_of(op)
        ))),
    }
}

/// Checks the course's deploy key, when it has one (argon2; wrong keys are throttled per course
/// and user, and audited).
pub(crate) async fn check_deploy_key(
    p: &Platform,
    actor: &Actor,
    course: CourseId,
    given: Option<&str>,
) -> Result<(), AppError> {
    let (Some(hash), _) = p.store.course_publishing(course).await? else {
        return Ok(());
    };
    let who = actor.user.as_ref().map(|u| u.id.0).unwrap_or(0);
    let key = format!("deploykey:{course}:{who}");
    let since = now() - 15 * 60;
    if p.store.failed_logins_since(&key, since).await? >= DEPLOY_KEY_FAILURES {
        return Err(AppError::new(
            ErrorCode::Throttled,
            "too many wrong deploy keys: try again later",
        ));
    }
    let given = given.unwrap_or("");
    if !given.is_empty() && crate::password::verify(given, &hash) {
        return Ok(());
    }
    p.store.record_failed_login(&key, now()).await?;
    p.audit(
        actor,
        "deploy.key_refused",
        format!("course:{course}"),
        serde_json::Value::Null,
    )
    .await?;
    Err(AppError::new(
        ErrorCode::MissingCapability,
        "this course needs its deploy key, and the one given is missing or wrong",
    ))
}

/// Starts publish, deploy or retrofit of a course as a job; returns it (or the job its
/// idempotency key already names).
pub async fn start(
    p: &Platform,
    actor: &Actor,
    op: Operation,
    req: OperationRequest,
) -> Result<JobRecord, AppError> {
    let duties = p.role().await?.duties();
    let allowed = match op {
        Operation::Publish => duties.factory,
        Operation::Deploy => duties.catalog || duties.factory,
        Operation::Retrofit => duties.training,
        Operation::Sessions => false,
    };
    if !allowed {
        return Err(AppError::new(
            ErrorCode::MissingCapability,
            format!(
                "this platform's duties do not include {}",
                super::kind_of(op)
            ),
        ));
    }
    let course = p.store.course(CourseId(req.course)).await?;
    if source_capabilities(p, actor, op, course.id)
        .await?
        .is_empty()
    {
        return Err(AppError::forbidden(op.source_capabilities()[0]));
    }
    if op == Operation::Deploy {
        crate::services::catalog::check_terms(p, &course, req.accept_terms).await?;
    }
    if op == Operation::Deploy && req.peer.as_deref() == Some("all") {
        return Err(AppError::bad_request(
            "`all` names every training platform: deploy everywhere",
        ));
    }
    if op == Operation::Deploy && req.peer.as_deref() == Some("local") {
        return start_local(p, actor, course.id, req).await;
    }
    let peer = target_peer(p, op, req.peer.as_deref()).await?;
    if peer.status != PeerStatus::Active {
        return Err(AppError::new(
            ErrorCode::NotAdmitted,
            format!("peer {} is {}", peer.name, peer.status.as_str()),
        ));
    }
    let mode = req.mode.unwrap_or(PublishMode::Publish);
    if op == Operation::Deploy {
        let (_, free_category) = p.store.course_publishing(course.id).await?;
        if req.category.is_some() && !free_category {
            return Err(AppError::bad_request(
                "this course lands in the training platform's incoming category: no category choice",
            ));
        }
        check_deploy_key(p, actor, course.id, req.deploy_key.as_deref()).await?;
    }
    if course.idnumber.as_str().is_empty() {
        return Err(AppError::bad_request(
            "the course has no idnumber: run `course index` first",
        ));
    }
    let serial = match op {
        Operation::Publish => Some(format!("publish:{}:{}", peer.id, course.idnumber)),
        _ => None,
    };
    let params = SendParams {
        course: course.id.0,
        peer: peer.id.0,
        mode: (op == Operation::Publish).then_some(mode),
        category: req.category,
    };
    let (job, _) = enqueue(
        p,
        actor,
        JobRequest {
            kind: super::kind_of(op).into(),
            params: serde_json::to_value(&params).map_err(AppError::internal)?,
            idempotency_key: req.idempotency_key,
            serial_key: serial,
            throttle_class: None,
        },
    )
    .await?;
    Ok(job)
}

/// `deploy --to local`: a copy on this platform, as a job.
async fn start_local(
    p: &Platform,
    actor: &Actor,
    course: CourseId,
    req: OperationRequest,
) -> Result<JobRecord, AppError> {
    check_deploy_key(p, actor, course, req.deploy_key.as_deref()).await?;
    let category = match req.category {
        Some(c) => pf_domain::ids::CategoryId(c),
        None => crate::services::archives::import::landing_category(p).await?,
    };
    p.store.category(category).await?;
    p.require(actor, Capability::CourseCreate, Context::Category(category))
        .await?;
    let params = SendParams {
        course: course.0,
        peer: 0,
        mode: None,
        category: Some(category.0),
    };
    let (job, _) = enqueue(
        p,
        actor,
        JobRequest {
            kind: super::local::KIND.into(),
            params: serde_json::to_value(&params).map_err(AppError::internal)?,
            idempotency_key: req.idempotency_key,
            serial_key: None,
            throttle_class: Some("restore".into()),
        },
    )
    .await?;
    Ok(job)
}

/// `course set`: the deploy key (`Some(None)` removes it) and free category choice.
pub async fn set_course(
    p: &Platform,
    actor: &Actor,
    course: CourseId,
    deploy_key: Option<Option<String>>,
    free_category: Option<bool>,
) -> Result<(), AppError> {
    p.store.course(course).await?;
    p.require(actor, Capability::CourseUpdate, Context::Course(course))
        .await?;
    let hash = match deploy_key {
        Some(Some(k)) if k.trim().is_empty() => {
            return Err(AppError::bad_request("a deploy key cannot be empty"))
        }
        Some(Some(k)) => Some(Some(crate::password::hash(&k)?)),
        Some(None) => Some(None),
        None => None,
    };
    p.store
        .set_course_publishing(course, hash.clone(), free_category)
        .await?;
    p.audit(
        actor,
        "course.publishing",
        format!("course:{course}"),
        serde_json::json!({ "deploy_key": hash.map(|h| h.is_some()), "free_category": free_category }),
    )
    .await?;
    Ok(())
}
