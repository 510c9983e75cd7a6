//! `deployeverywhere` (SPEC §5.4; the original's capability of that name): deploy one course to
//! every training platform where the user may deploy, as one `deploy` job per target.
//!
//! Every active training peer is asked for a dry-run admission (`POST /rpc/admit-categories`,
//! one call per peer, answered concurrently): the peer says whether a deploy into its landing
//! category is admitted and lists the categories of its tree where one would be (the deploy
//! form's picker shows only those). Anyone holding `publishflow:deploy` on the course gets the
//! peers that say yes; a holder of `publishflow:deployeverywhere` (system level) skips that
//! check, as the original did, and gets every peer that answers, every category included. A
//! peer that is down is never a target. Each job's idempotency key is derived from one key
//! (`{key}/{peer id}`), so a retried request finds its jobs, and every receiver still runs its
//! own admission when the offer arrives.

use super::ops::{duties_of, start, OperationRequest};
use super::send::source_capabilities;
use crate::error::AppError;
use crate::platform::Platform;
use crate::rpc::PeerCaller;
use crate::services::Actor;
use pf_api::ErrorCode;
use pf_domain::access::{Capability, Context};
use pf_domain::admission::Operation;
use pf_domain::ids::CourseId;
use pf_store::{JobRecord, PeerRecord, PeerStatus};
use serde::Serialize;

/// One training peer and whether the user may deploy there.
#[derive(Debug, Clone, Serialize)]
pub struct DeployTarget {
    /// The peer id here.
    pub peer_id: i64,
    /// Its name.
    pub name: String,
    /// Whether a deploy would be admitted (as far as a dry run tells).
    pub allowed: bool,
    /// Why not (a refusal, or `peer_unreachable` for a peer that is down).
    pub reason: Option<serde_json::Value>,
    /// The peer's categories where a deploy would be admitted (`None`: every one, for a holder
    /// of `deployeverywhere`; empty for a peer that is down or refuses everywhere).
    pub categories: Option<Vec<i64>>,
}

/// What `POST /rpc/admit-categories` answers (`services::admission_scope`).
#[derive(Debug, serde::Deserialize)]
struct Scope {
    landing_refused: Option<serde_json::Value>,
    #[serde(default)]
    categories: Vec<ScopeCategory>,
}

#[derive(Debug, serde::Deserialize)]
struct ScopeCategory {
    id: i64,
}

/// One peer's verdict: the landing category admitted (or why not), and the admitted categories.
type Verdict = (Result<(), AppError>, Option<Vec<i64>>);

/// How long a dry run may take (the deploy form waits for them).
const ASK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A peer that did not answer, or refused this platform's key: down for the user's purposes.
fn unreachable(e: &AppError) -> bool {
    matches!(
        e.code,
        ErrorCode::PeerUnreachable | ErrorCode::Unauthenticated
    )
}

/// The active training peers, each with whether the user may deploy `course` there (`reason`
/// says why not; a peer that is down is `peer_unreachable`).
pub async fn deploy_targets(
    p: &Platform,
    actor: &Actor,
    course: CourseId,
) -> Result<Vec<(PeerRecord, DeployTarget)>, AppError> {
    p.store.course(course).await?;
    let everywhere = p
        .can(actor, Capability::DeployEverywhere, Context::System)
        .await?;
    let held = source_capabilities(p, actor, Operation::Deploy, course).await?;
    let user = actor.user.as_ref().map(|u| u.username.clone());
    let caller = PeerCaller::new(p)?;
    let body = serde_json::json!({ "operation": Operation::Deploy, "asserted": held });
    let peers: Vec<PeerRecord> = p
        .store
        .peers()
        .await?
        .into_iter()
        .filter(|r| r.status == PeerStatus::Active && duties_of(r.role.as_deref()).training)
        .collect();
    // One dry run per peer, all at once: a peer that is down costs one timeout, not one each.
    let mut tasks = tokio::task::JoinSet::new();
    for (i, peer) in peers.iter().enumerate() {
        let (caller, peer, body, user) = (caller.clone(), peer.clone(), body.clone(), user.clone());
        let held = held.clone();
        tasks.spawn(async move {
            let verdict: Verdict = if held.is_empty() {
                (
                    Err(AppError::forbidden(Capability::Deploy)),
                    Some(Vec::new()),
                )
            } else {
                let ask = caller.post_json::<_, Scope>(
                    &peer,
                    "/rpc/admit-categories",
                    &body,
                    user.as_ref(),
                );
                let asked = match tokio::time::timeout(ASK_TIMEOUT, ask).await {
                    Ok(answer) => answer,
                    Err(_) => Err(AppError::new(
                        ErrorCode::PeerUnreachable,
                        format!("peer {} did not answer in time", peer.name),
                    )),
                };
                match asked {
                    // deployeverywhere skips the admission check (the receiver still decides
                    // when the offer arrives), not the peer being up.
                    Ok(_) if everywhere => (Ok(()), None),
                    Err(e) if everywhere && !unreachable(&e) => (Ok(()), None),
                    Ok(scope) => {
                        let ids = scope.categories.iter().map(|c| c.id).collect();
                        let landing = match scope.landing_refused {
                            None => Ok(()),
                            Some(r) => Err(refusal(&r)),
                        };
                        (landing, Some(ids))
                    }
                    Err(e) => (Err(e), Some(Vec::new())),
                }
            };
            (i, verdict)
        });
    }
    let mut verdicts: Vec<Option<Verdict>> = peers.iter().map(|_| None).collect();
    while let Some(done) = tasks.join_next().await {
        let (i, verdict) = done.map_err(AppError::internal)?;
        verdicts[i] = Some(verdict);
    }
    let mut out = Vec::new();
    for (peer, verdict) in peers.into_iter().zip(verdicts) {
        let (verdict, categories) = verdict.unwrap_or_else(|| {
            (
                Err(AppError::internal("a dry run vanished")),
                Some(Vec::new()),
            )
        });
        let target = DeployTarget {
            peer_id: peer.id.0,
            name: peer.name.clone(),
            allowed: verdict.is_ok(),
            reason: verdict
                .err()
                .map(|e| serde_json::json!({ "code": e.code.as_str(), "message": e.message })),
            categories,
        };
        out.push((peer, target));
    }
    Ok(out)
}

/// A refusal the peer described as `{code, message}`.
fn refusal(r: &serde_json::Value) -> AppError {
    let code =
        serde_json::from_value::<ErrorCode>(r["code"].clone()).unwrap_or(ErrorCode::NotAdmitted);
    AppError::new(code, r["message"].as_str().unwrap_or("refused").to_string())
}

/// Starts one deploy job per training peer where the user may deploy; the jobs, in peer order.
pub async fn deploy_everywhere(
    p: &Platform,
    actor: &Actor,
    req: OperationRequest,
) -> Result<Vec<JobRecord>, AppError> {
    let course = CourseId(req.course);
    p.store.course(course).await?;
    if req.category.is_some() {
        return Err(AppError::bad_request(
            "deploying everywhere lands in each platform's incoming category: no --category",
        ));
    }
    if source_capabilities(p, actor, Operation::Deploy, course)
        .await?
        .is_empty()
    {
        return Err(AppError::forbidden(Capability::Deploy));
    }
    let targets: Vec<PeerRecord> = deploy_targets(p, actor, course)
        .await?
        .into_iter()
        .filter(|(_, t)| t.allowed)
        .map(|(peer, _)| peer)
        .collect();
    if targets.is_empty() {
        return Err(AppError::new(
            ErrorCode::NotAdmitted,
            "no active training platform admits your deploys of this course",
        ));
    }
    let base = match &req.idempotency_key {
        Some(k) if !k.trim().is_empty() => k.trim().to_string(),
        _ => {
            let mut random = [0u8; 16];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut random);
            random.iter().map(|b| format!("{b:02x}")).collect()
        }
    };
    let mut jobs = Vec::new();
    for peer in targets {
        let one = OperationRequest {
            peer: Some(peer.id.0.to_string()),
            idempotency_key: Some(format!("{base}/{}", peer.id.0)),
            ..req.clone()
        };
        jobs.push(start(p, actor, Operation::Deploy, one).await?);
    }
    Ok(jobs)
}
