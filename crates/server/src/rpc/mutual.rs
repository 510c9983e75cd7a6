//! `POST /rpc/deploy-home` (SPEC §8): a peer deploys a course to one of **our** users' platform —
//! here — for them. The user assertion must name our own user and come with a delegation that we
//! signed for that peer, that user and the `deploy-home` purpose, unexpired; anything else is
//! refused before the offer is looked at.

use super::handlers::labelled;
use super::RpcCall;
use crate::api::ApiJson;
use crate::error::AppError;
use crate::services::jobs::JobDoc;
use crate::services::mutual::home::accept_delegated;
use crate::services::publishing::Offer;
use crate::web::AppState;
use axum::extract::State;
use axum::response::Response;
use axum::{Extension, Json};
use pf_api::ErrorCode;
use pf_net::{AssertionError, Binding, Purpose};

/// `POST /rpc/deploy-home`.
pub async fn deploy_home(
    State(state): State<AppState>,
    Extension(call): Extension<RpcCall>,
    ApiJson(body): ApiJson<Offer>,
) -> Result<Response, AppError> {
    let p = &state.platform;
    let token = call
        .verified
        .user
        .as_deref()
        .ok_or_else(|| AppError::new(ErrorCode::BadUser, "this call needs an acting user"))?;
    let acting = pf_net::verify_user_assertion(
        token,
        &call.verified.caller_key,
        p.identity.public_key(),
        Some(Purpose::DeployHome),
        call.verified.delegation.as_deref(),
        &*p.clock,
    )
    .map_err(|e| match e {
        AssertionError::ForeignUser(_) => {
            AppError::new(ErrorCode::BadUser, "a peer speaks only for its own users")
        }
        AssertionError::DelegationRequired => AppError::new(
            ErrorCode::BadUser,
            "acting for a user of this platform needs a delegation it signed",
        ),
        other => AppError::new(ErrorCode::BadUser, format!("delegation refused: {other}")),
    })?;
    let Binding::Delegated(delegation) = acting.binding else {
        return Err(AppError::new(
            ErrorCode::BadUser,
            "deploy-home is for this platform's own users, under its delegation",
        ));
    };
    let label = format!("{} (delegation {})", acting.username, delegation.id);
    let user = p
        .store
        .local_user(&acting.username)
        .await
        .map_err(|_| AppError::new(ErrorCode::BadUser, "no such user here"))?;
    match accept_delegated(p, &call.peer, user, &delegation, body).await {
        Ok(job) => Ok(labelled(label, Json(JobDoc::from(&job)))),
        Err(e) => Ok(labelled(label, e)),
    }
}
