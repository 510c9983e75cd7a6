//! Remote sessions (SPEC §5.6 end, §5.9): a catalog opens or closes a course it deployed on a
//! training platform, over the signed `POST /rpc/session`.
//!
//! The catalog ([`request`]) finds, in its own lineage, the course it deployed as that remote
//! course, asserts the capabilities the acting user holds on it, calls, and audits. The training
//! platform ([`accept`]) refuses a course whose lineage does not show the calling peer as the
//! source of a deploy, then admits the call (admission (a): the user's account here holds
//! `publishflow:manage` in the course; (b): the peer holds the `sessions` grant and asserts
//! `publishflow:manage`), and applies the session change as the admitted account, audited with
//! the peer's name.

use super::admission::{admit, remote_label};
use super::peer_keys::Me;
use super::sessions::{close_as, open_as, OpenOptions};
use super::{peers, Actor, Via};
use crate::error::AppError;
use crate::platform::Platform;
use crate::rpc::PeerCaller;
use pf_api::sessions::SessionDoc;
use pf_api::ErrorCode;
use pf_domain::access::{Capability, Context};
use pf_domain::admission::Operation;
use pf_domain::ids::CourseId;
use pf_domain::sessions::CloseMode;
use pf_domain::user::Username;
use pf_store::{PeerRecord, PeerStatus, StoreError};
use serde::{Deserialize, Serialize};

/// What to do to the remote course.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum RemoteAction {
    /// Open or reopen.
    Open {
        /// E-mail everyone with a role in the course (on the training platform).
        #[serde(default)]
        notify: bool,
        /// Take today as the start date.
        #[serde(default)]
        reset_start_date: bool,
    },
    /// Close in a mode.
    Close {
        /// private, protected or public.
        mode: CloseMode,
    },
}

/// The body of `POST /rpc/session` (`{"course", "action": "open"|"close", …, "asserted"}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionCall {
    /// The course on the training platform.
    pub course: i64,
    /// What to do.
    #[serde(flatten)]
    pub action: RemoteAction,
    /// The capabilities the acting user holds on the catalog's course.
    #[serde(default)]
    pub asserted: Vec<Capability>,
}

/// The course of this platform that was deployed as `course` on `peer`, if any: an edge towards
/// that peer's key (names are not unique) whose source is this platform.
pub async fn deployed_from_here(
    p: &Platform,
    peer: &PeerRecord,
    course: i64,
) -> Result<Option<CourseId>, AppError> {
    let me = Me::of(p).await?;
    Ok(p.store
        .lineage_to_key(&peer.key_id, course)
        .await?
        .into_iter()
        .rev()
        .find(|l| l.operation == "deploy" && me.is(&l.source_key, &l.source_platform))
        .map(|l| CourseId(l.source_course)))
}

/// The catalog's side: opens or closes `course` on `peer` (named as `peer list` shows it) for
/// the acting user. Refused before any call when this platform did not deploy that course there.
pub async fn request(
    p: &Platform,
    actor: &Actor,
    peer: &str,
    course: i64,
    action: RemoteAction,
) -> Result<SessionDoc, AppError> {
    let peer = peers::resolve(p, peer).await?;
    if peer.status != PeerStatus::Active {
        return Err(AppError::new(
            ErrorCode::NotAdmitted,
            format!("peer {} is {}", peer.name, peer.status.as_str()),
        ));
    }
    let Some(source) = deployed_from_here(p, &peer, course).await? else {
        return Err(AppError::new(
            ErrorCode::NotAdmitted,
            format!(
                "course {course} on {} was not deployed from this platform",
                peer.name
            ),
        ));
    };
    let user = actor
        .user
        .as_ref()
        .ok_or_else(|| AppError::forbidden(Capability::Manage))?;
    let mut asserted = Vec::new();
    for cap in [Capability::Manage, Capability::Deploy] {
        if p.can(actor, cap, Context::Course(source)).await? {
            asserted.push(cap);
        }
    }
    let body = SessionCall {
        course,
        action,
        asserted,
    };
    let verb = match action {
        RemoteAction::Open { .. } => "session.remote_open",
        RemoteAction::Close { .. } => "session.remote_close",
    };
    let target = format!("peer:{}/course:{course}", peer.id.0);
    let answer = PeerCaller::new(p)?
        .post_json::<_, SessionDoc>(&peer, "/rpc/session", &body, Some(&user.username))
        .await;
    let details = match &answer {
        Ok(doc) => {
            serde_json::json!({ "source_course": source.0, "action": action, "result": doc })
        }
        Err(e) => serde_json::json!({
            "source_course": source.0, "action": action,
            "refused": { "code": e.code.as_str(), "message": e.message },
        }),
    };
    p.audit(actor, verb, target, details).await?;
    answer
}

/// Whether `course` arrived here by a deploy from `peer`: a deploy edge naming it as source by
/// its key (names are not unique; keys are). An edge older than migration 15 whose source key
/// stayed empty counts when its receiving job ran for that very peer.
async fn deployed_by(p: &Platform, peer: &PeerRecord, course: CourseId) -> Result<bool, AppError> {
    for edge in p.store.lineage(course).await? {
        if edge.operation != "deploy" || edge.target_course != course.0 {
            continue;
        }
        if !edge.source_key.is_empty() {
            if edge.source_key == peer.key_id {
                return Ok(true);
            }
            continue;
        }
        let job = match p.store.job_by_key(&edge.job_key).await {
            Ok(job) => job,
            Err(StoreError::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        if job.params.get("peer").and_then(|v| v.as_i64()) == Some(peer.id.0) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The training platform's side of `POST /rpc/session`.
pub async fn accept(
    p: &Platform,
    peer: &PeerRecord,
    username: &Username,
    call: SessionCall,
) -> Result<SessionDoc, AppError> {
    let course = p.store.course(CourseId(call.course)).await?;
    if !deployed_by(p, peer, course.id).await? {
        return Err(AppError::new(
            ErrorCode::NotAdmitted,
            format!(
                "course {} was not deployed here by {}: its sessions are not theirs to run",
                course.id, peer.name
            ),
        ));
    }
    let admission = admit(
        p,
        peer,
        username,
        Operation::Sessions,
        Context::Course(course.id),
        &call.asserted,
        true,
    )
    .await?;
    let account = admission.account.ok_or_else(|| {
        AppError::new(
            ErrorCode::NotAdmitted,
            format!("{} has no account here", remote_label(username, peer)),
        )
    })?;
    let actor = Actor::user(account, Via::Api);
    let remote = Some(peer.name.as_str());
    match call.action {
        RemoteAction::Open {
            notify,
            reset_start_date,
        } => {
            let opts = OpenOptions {
                notify,
                reset_start_date,
            };
            open_as(p, &actor, course.id, opts, remote).await
        }
        RemoteAction::Close { mode } => close_as(p, &actor, course.id, mode, remote).await,
    }
}
