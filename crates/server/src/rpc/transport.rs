//! The `/rpc/` calls of the transports and of cancels: `POST /rpc/part` (the `rpc-inline`
//! transport: one part of a ticketed archive as the signed answer's body) and
//! `POST /rpc/jobs/{id}/cancel` (the initiator's job was cancelled: cancel the receiving job of
//! the calling peer — at once when queued, before its commit when running).

use super::RpcCall;
use crate::api::ApiJson;
use crate::error::AppError;
use crate::services::jobs::JobDoc;
use crate::services::publishing::receive;
use crate::services::publishing::transport::rpc_inline::{serve_part, PartRequest};
use crate::web::AppState;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use pf_domain::ids::JobId;

/// `POST /rpc/part`: one part's bytes for the peer the ticket names.
pub async fn part(
    State(state): State<AppState>,
    Extension(call): Extension<RpcCall>,
    ApiJson(body): ApiJson<PartRequest>,
) -> Result<Response, AppError> {
    let bytes = serve_part(&state.platform, &call.peer.key_id, &body).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

/// `POST /rpc/jobs/{id}/cancel`: cancels a receiving job of the calling peer; answers its
/// document (a job that already ended keeps its state).
pub async fn cancel(
    State(state): State<AppState>,
    Extension(call): Extension<RpcCall>,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let p = &state.platform;
    let job = p.store.job(JobId(id)).await?;
    if job.kind != receive::KIND || job.peer != Some(call.peer.id) {
        return Err(AppError::not_found(format!("job {id}")));
    }
    let job = p.store.request_job_cancel(job.id).await?;
    Ok(Json(JobDoc::from(&job)).into_response())
}
