//! `/api/v1/peers`: paired platforms and their grants, for administrators.

use super::{ApiCaller, ApiJson};
use crate::error::AppError;
use crate::services::peers::{self, peer_doc, PeerDoc};
use crate::web::AppState;
use axum::extract::{Path, State};
use axum::Json;
use pf_domain::admission::Grant;
use pf_domain::ids::PeerId;
use serde::Deserialize;
use std::collections::BTreeSet;

/// `GET /peers`.
pub async fn list(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
) -> Result<Json<Vec<PeerDoc>>, AppError> {
    let list = peers::list(&state.platform, &actor).await?;
    Ok(Json(list.iter().map(peer_doc).collect()))
}

/// The body of `PATCH /peers/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerPatch {
    grants: Option<BTreeSet<Grant>>,
    status: Option<String>,
}

/// `PATCH /peers/{id}`.
pub async fn update(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(patch): ApiJson<PeerPatch>,
) -> Result<Json<PeerDoc>, AppError> {
    let enabled = match patch.status.as_deref() {
        None => None,
        Some("active") => Some(true),
        Some("disabled") => Some(false),
        Some(other) => {
            return Err(AppError::bad_request(format!(
                "status '{other}' is not active or disabled"
            )))
        }
    };
    let after = peers::set(&state.platform, &actor, PeerId(id), patch.grants, enabled).await?;
    Ok(Json(peer_doc(&after)))
}
