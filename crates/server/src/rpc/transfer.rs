//! The `/rpc/` calls of transfers (SPEC §5): `offer` (the receiver's admission and job),
//! `jobs/{id}` (the initiator follows the receiving job), `ticket` (renew a part ticket) and
//! `publication` (a series' status; republish / unpublish).

use super::handlers::{acting_user, labelled};
use super::RpcCall;
use crate::api::ApiJson;
use crate::error::AppError;
use crate::services::admission::remote_label;
use crate::services::jobs::JobDoc;
use crate::services::publishing::{ops, receive, ticket, Offer};
use crate::web::AppState;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use pf_api::ErrorCode;
use pf_domain::access::Capability;
use pf_domain::ids::JobId;
use pf_domain::publication::PublishMode;
use serde::Deserialize;

/// `POST /rpc/offer`: verify, admit, enqueue (or find) the receiving job; answers its document.
pub async fn offer(
    State(state): State<AppState>,
    Extension(call): Extension<RpcCall>,
    ApiJson(body): ApiJson<Offer>,
) -> Result<Response, AppError> {
    let p = &state.platform;
    let user = acting_user(&state, &call)?;
    let label = remote_label(&user, &call.peer);
    match receive::accept_offer(p, &call.peer, &user, body).await {
        Ok(job) => Ok(labelled(label, Json(JobDoc::from(&job)))),
        Err(e) => Ok(labelled(label, e)),
    }
}

/// `GET /rpc/jobs/{id}`: a receiving job of the calling peer.
pub async fn job(
    State(state): State<AppState>,
    Extension(call): Extension<RpcCall>,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let job = state.platform.store.job(JobId(id)).await?;
    if job.kind != receive::KIND || job.peer != Some(call.peer.id) {
        return Err(AppError::not_found(format!("job {id}")));
    }
    Ok(Json(JobDoc::from(&job)).into_response())
}

/// The body of `ticket`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Renew {
    ticket: String,
    archive: i64,
}

/// `POST /rpc/ticket`: a fresh ticket for the peer an earlier (possibly expired) one named.
pub async fn renew(
    State(state): State<AppState>,
    Extension(call): Extension<RpcCall>,
    ApiJson(body): ApiJson<Renew>,
) -> Result<Response, AppError> {
    let p = &state.platform;
    let old = ticket::read(p, &body.ticket, false)?;
    if old.peer != call.peer.key_id || old.archive != body.archive {
        return Err(AppError::new(
            ErrorCode::Unauthenticated,
            "this ticket is not the caller's",
        ));
    }
    let fresh = ticket::issue(p, old.archive, &call.peer.key_id);
    Ok(Json(serde_json::json!({ "ticket": fresh })).into_response())
}

/// The query of `GET /rpc/publication`.
#[derive(Debug, Deserialize)]
pub struct ByIdnumber {
    idnumber: String,
}

/// `GET /rpc/publication?idnumber=X`: the caller's series here.
pub async fn status(
    State(state): State<AppState>,
    Extension(call): Extension<RpcCall>,
    Query(q): Query<ByIdnumber>,
) -> Result<Response, AppError> {
    Ok(
        Json(ops::series_status(&state.platform, &call.peer, q.idnumber.trim()).await?)
            .into_response(),
    )
}

/// The body of `POST /rpc/publication`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    mode: PublishMode,
    idnumber: String,
    #[serde(default)]
    asserted: Vec<Capability>,
}

/// `POST /rpc/publication`: republish or unpublish a series at once.
pub async fn change(
    State(state): State<AppState>,
    Extension(call): Extension<RpcCall>,
    ApiJson(body): ApiJson<Change>,
) -> Result<Response, AppError> {
    let p = &state.platform;
    let user = acting_user(&state, &call)?;
    let label = remote_label(&user, &call.peer);
    let outcome = ops::apply_publication(
        p,
        &call.peer,
        &user,
        body.mode,
        body.idnumber.trim(),
        &body.asserted,
    )
    .await;
    match outcome {
        Ok(doc) => Ok(labelled(label, Json(doc))),
        Err(e) => Ok(labelled(label, e)),
    }
}
