//! What users call (CLI, API, panel): start an operation (publish, deploy, retrofit) as a job,
//! a course's lineage, the factory's publication status, and the per-course publishing settings
//! (deploy key, free category choice). The catalog's side of republish / unpublish is
//! [`apply_publication`].

use super::receive::plan_for;
use super::send::{source_capabilities, SendParams};
use crate::error::AppError;
use crate::platform::Platform;
use crate::rpc::PeerCaller;
use crate::services::admission::{admit, landing_context};
use crate::services::jobs::{enqueue, JobRequest};
use crate::services::{now, peers, Actor};
use pf_api::ErrorCode;
use pf_domain::access::{Capability, Context};
use pf_domain::admission::Operation;
use pf_domain::ids::CourseId;
use pf_domain::platform::{Duties, PlatformRole};
use pf_domain::publication::{Plan, PublishMode};
use pf_domain::user::Username;
use pf_store::{JobRecord, Lineage, PeerRecord, PeerStatus};
use serde::Serialize;

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
}

fn duties_of(role: Option<&str>) -> Duties {
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

async fn check_deploy_key(
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

/// A lineage edge as `course lineage` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct LineageDoc {
    /// `publish`, `deploy` or `retrofit`.
    pub operation: String,
    /// Where the course came from.
    pub source: EdgeEnd,
    /// Where it went.
    pub target: EdgeEnd,
    /// The archive's SHA-256 ("the whole") and counter.
    pub archive: serde_json::Value,
    /// The publication version, for publications.
    pub version: Option<i64>,
    /// Who.
    pub actor: String,
    /// The job's idempotency key.
    pub job: String,
    /// RFC 3339.
    pub created: String,
}

/// One end of an edge.
#[derive(Debug, Clone, Serialize)]
pub struct EdgeEnd {
    /// Platform name.
    pub platform: String,
    /// Course id there.
    pub course_id: i64,
}

impl From<&Lineage> for LineageDoc {
    fn from(l: &Lineage) -> Self {
        LineageDoc {
            operation: l.operation.clone(),
            source: EdgeEnd {
                platform: l.source_platform.clone(),
                course_id: l.source_course,
            },
            target: EdgeEnd {
                platform: l.target_platform.clone(),
                course_id: l.target_course,
            },
            archive: serde_json::json!({ "sha256": l.archive_sha256, "counter": l.archive_counter }),
            version: l.version,
            actor: l.actor.clone(),
            job: l.job_key.clone(),
            created: crate::services::rfc3339(l.created_at),
        }
    }
}

/// The lineage edges of a course (where it came from, where its copies went).
pub async fn lineage(
    p: &Platform,
    actor: &Actor,
    course: CourseId,
) -> Result<Vec<LineageDoc>, AppError> {
    p.store.course(course).await?;
    p.require(actor, Capability::CourseView, Context::Course(course))
        .await?;
    Ok(p.store
        .lineage(course)
        .await?
        .iter()
        .map(LineageDoc::from)
        .collect())
}

/// A catalog's answer about a series, for its source.
pub async fn series_status(
    p: &Platform,
    peer: &PeerRecord,
    idnumber: &str,
) -> Result<serde_json::Value, AppError> {
    let series = p.store.publication_series(idnumber).await?;
    let mine = series
        .as_ref()
        .is_some_and(|s| s.source == peer.key_id || s.linked.contains(&peer.key_id));
    let versions: Vec<serde_json::Value> = match (&series, mine) {
        (Some(s), true) => s
            .versions
            .iter()
            .map(|(n, c, v)| serde_json::json!({ "number": n, "course_id": c.0, "visible": v }))
            .collect(),
        _ => Vec::new(),
    };
    let status = if versions.is_empty() {
        "unpublished"
    } else if versions.iter().any(|v| v["visible"] == true) {
        "published-visible"
    } else {
        "published-hidden"
    };
    Ok(serde_json::json!({
        "platform": p.name().await?, "idnumber": idnumber, "status": status,
        "taken": series.is_some() && !mine, "versions": versions,
    }))
}

/// The catalog's side of republish / unpublish: admitted like a publication, applied at once.
pub async fn apply_publication(
    p: &Platform,
    peer: &PeerRecord,
    username: &Username,
    mode: PublishMode,
    idnumber: &str,
    asserted: &[Capability],
) -> Result<serde_json::Value, AppError> {
    let context = landing_context(p, Operation::Publish, None, None).await?;
    let admission = admit(
        p,
        peer,
        username,
        Operation::Publish,
        context,
        asserted,
        true,
    )
    .await?;
    let (courses, visible) = match plan_for(p, mode, idnumber, &peer.key_id).await? {
        Plan::Show(c) => (vec![c], true),
        Plan::Hide(cs) => (cs, false),
        Plan::Restore { .. } => {
            return Err(AppError::bad_request("publish and update move an archive"))
        }
    };
    p.store
        .set_courses_visible(&courses, visible, now())
        .await?;
    if let Some(account) = admission.account {
        p.audit(
            &Actor::user(account, crate::services::Via::Api),
            &format!("publication.{mode}"),
            format!("series:{idnumber}"),
            serde_json::json!({ "peer": peer.name, "courses": courses.iter().map(|c| c.0).collect::<Vec<_>>() }),
        )
        .await?;
    }
    series_status(p, peer, idnumber).await
}

/// The factory's view of a course's publication series on each catalog it knows.
pub async fn publication_status(
    p: &Platform,
    actor: &Actor,
    course: CourseId,
) -> Result<serde_json::Value, AppError> {
    let record = p.store.course(course).await?;
    p.require(actor, Capability::Publish, Context::Course(course))
        .await?;
    let caller = PeerCaller::new(p)?;
    let mut catalogs = Vec::new();
    for peer in p.store.peers().await? {
        if peer.status != PeerStatus::Active || !duties_of(peer.role.as_deref()).catalog {
            continue;
        }
        let query = serde_urlencoded::to_string([("idnumber", record.idnumber.as_str())])
            .map_err(AppError::internal)?;
        let path = format!("/rpc/publication?{query}");
        let entry = match caller
            .get_json::<serde_json::Value>(&peer, &path, None)
            .await
        {
            Ok(mut doc) => {
                doc["peer_id"] = peer.id.0.into();
                doc
            }
            Err(e) => serde_json::json!({
                "peer_id": peer.id.0, "platform": peer.name, "status": "unavailable",
                "error": { "code": e.code.as_str(), "message": e.message },
            }),
        };
        catalogs.push(entry);
    }
    Ok(serde_json::json!({
        "course_id": record.id.0, "idnumber": record.idnumber.as_str(), "catalogs": catalogs,
    }))
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
