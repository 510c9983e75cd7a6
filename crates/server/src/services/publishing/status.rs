//! What the faces show about transfers: a course's lineage edges, a catalog's answer about a
//! publication series, the catalog's side of republish / unpublish, and the factory's
//! publication status across its catalogs.

use super::ops::duties_of;
use super::receive::plan_for;
use crate::error::AppError;
use crate::platform::Platform;
use crate::rpc::PeerCaller;
use crate::services::admission::{admit, landing_context};
use crate::services::{now, Actor};
use pf_domain::access::{Capability, Context};
use pf_domain::admission::Operation;
use pf_domain::ids::CourseId;
use pf_domain::publication::{Plan, PublishMode};
use pf_domain::user::Username;
use pf_store::{Lineage, PeerRecord, PeerStatus};
use serde::Serialize;

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
    /// Platform name (display: names are not unique).
    pub platform: String,
    /// Platform key id (empty on an older edge's own side).
    pub key: String,
    /// Course id there.
    pub course_id: i64,
}

impl From<&Lineage> for LineageDoc {
    fn from(l: &Lineage) -> Self {
        LineageDoc {
            operation: l.operation.clone(),
            source: EdgeEnd {
                platform: l.source_platform.clone(),
                key: l.source_key.clone(),
                course_id: l.source_course,
            },
            target: EdgeEnd {
                platform: l.target_platform.clone(),
                key: l.target_key.clone(),
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

/// A catalog manager lets another source act on a series (SPEC §5.3): its publications of that
/// idnumber are no longer `idnumber_taken`.
pub async fn link_series(
    p: &Platform,
    actor: &Actor,
    idnumber: &str,
    peer: &PeerRecord,
) -> Result<(), AppError> {
    p.require(actor, Capability::CategoryManage, Context::System)
        .await?;
    p.store.link_series(idnumber.trim(), &peer.key_id).await?;
    p.audit(
        actor,
        "publication.link",
        format!("series:{}", idnumber.trim()),
        serde_json::json!({ "peer": peer.name }),
    )
    .await
}
