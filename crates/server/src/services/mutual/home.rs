//! "Deploy to my platform" on the **home** (SPEC §8): [`accept_delegated`] answers
//! `POST /rpc/deploy-home` — the landing category is the user's assigned category when their
//! admin-managed profile names one, else the incoming category ([`landing_for`]); `course:create`
//! is checked for the user there, and the usual `receive` job is enqueued (hidden arrival, the
//! user enrolled with the deploy role), auditing the delegation's id.

use crate::error::AppError;
use crate::platform::Platform;
use crate::services::jobs::{enqueue, JobRequest};
use crate::services::publishing::receive::{self, Params};
use crate::services::publishing::{verify_manifest, Offer};
use crate::services::{rules, Actor, Via};
use pf_api::ErrorCode;
use pf_domain::access::{Capability, Context};
use pf_domain::admission::Operation;
use pf_domain::ids::CategoryId;
use pf_net::Delegation;
use pf_store::{JobRecord, PeerRecord, UserRecord};

/// Home side: the landing category of a delegated deploy for our user — their assigned category
/// (an admin-managed profile field, named by a setting, holding a category idnumber) or, when
/// they have none, the incoming category.
pub async fn landing_for(p: &Platform, user: &UserRecord) -> Result<CategoryId, AppError> {
    let field = super::assigned_field(p).await?;
    let fields = rules::trusted_fields(p, user).await?;
    match fields
        .get(&field)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
    {
        Some(idnumber) => p
            .store
            .categories()
            .await?
            .into_iter()
            .find(|c| c.idnumber == idnumber)
            .map(|c| c.id)
            .ok_or_else(|| {
                AppError::new(
                    ErrorCode::UnknownRecord,
                    format!(
                        "the assigned category {idnumber} of {} does not exist here",
                        user.username
                    ),
                )
            }),
        None => crate::services::archives::import::landing_category(p).await,
    }
}

/// Home side of `POST /rpc/deploy-home`: `peer` acts for our `user` under our `delegation`.
pub async fn accept_delegated(
    p: &Platform,
    peer: &PeerRecord,
    user: UserRecord,
    delegation: &Delegation,
    offer: Offer,
) -> Result<JobRecord, AppError> {
    verify_manifest(p, &peer.public_key, &offer.manifest, &offer.signature).await?;
    if let Ok(existing) = p.store.job_by_key(&offer.idempotency_key).await {
        if existing.kind == receive::KIND && existing.peer == Some(peer.id) {
            return Ok(existing);
        }
        return Err(AppError::new(
            ErrorCode::Conflict,
            "this idempotency key names another operation here",
        ));
    }
    if offer.operation != Operation::Deploy {
        return Err(AppError::bad_request(
            "a delegation to deploy home allows deploys only",
        ));
    }
    if user.disabled {
        return Err(AppError::new(
            ErrorCode::BadUser,
            "this account is disabled",
        ));
    }
    let category = landing_for(p, &user).await?;
    let actor = Actor::user(user.clone(), Via::Api);
    p.require(
        &actor,
        Capability::CourseCreate,
        Context::Category(category),
    )
    .await?;
    let key = offer.idempotency_key.clone();
    let label = format!("{} (via {})", user.username, peer.name);
    let params = Params {
        offer,
        peer: peer.id.0,
        account: user.id.0,
        username: user.username.to_string(),
        actor: label,
        category: category.0,
        delegation: Some(delegation.id.clone()),
    };
    let (job, _) = enqueue(
        p,
        &actor,
        JobRequest {
            kind: receive::KIND.into(),
            params: serde_json::to_value(&params).map_err(AppError::internal)?,
            idempotency_key: Some(key),
            serial_key: None,
            throttle_class: Some("restore".into()),
        },
    )
    .await?;
    p.store.set_job_peer(job.id, peer.id).await?;
    p.audit(
        &actor,
        "deploy.delegated",
        format!("category:{category}"),
        serde_json::json!({ "peer": peer.name, "delegation": delegation.id,
                            "delegation_expires": delegation.expires_at, "job": job.id.0 }),
    )
    .await?;
    Ok(p.store.job(job.id).await?)
}
