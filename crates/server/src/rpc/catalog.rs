//! The peer calls of catalog indexing and remote sessions: `POST /rpc/index` (a catalog
//! allocates an idnumber and keeps its metadata) and `POST /rpc/session` (a catalog opens or
//! closes a course it deployed here). Both run after [`super::guard`] and act for the caller's
//! asserted user.

use super::handlers::{acting_user, labelled};
use super::RpcCall;
use crate::api::ApiJson;
use crate::error::AppError;
use crate::services::admission::remote_label;
use crate::services::catalog::{allocate, AllocateRequest};
use crate::services::remote_sessions::{accept, SessionCall};
use crate::web::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

/// `POST /rpc/index`.
pub async fn index(
    State(state): State<AppState>,
    Extension(call): Extension<RpcCall>,
    ApiJson(body): ApiJson<AllocateRequest>,
) -> Result<Response, AppError> {
    let user = acting_user(&state, &call)?;
    let label = remote_label(&user, &call.peer);
    match allocate(&state.platform, &call.peer, &user, body).await {
        Ok(a) => Ok(labelled(label, Json(a))),
        Err(e) => Ok(labelled(label, e.into_response())),
    }
}

/// `POST /rpc/session`.
pub async fn session(
    State(state): State<AppState>,
    Extension(call): Extension<RpcCall>,
    ApiJson(body): ApiJson<SessionCall>,
) -> Result<Response, AppError> {
    let user = acting_user(&state, &call)?;
    let label = remote_label(&user, &call.peer);
    match accept(&state.platform, &call.peer, &user, body).await {
        Ok(doc) => Ok(labelled(label, Json(doc))),
        Err(e) => Ok(labelled(label, e.into_response())),
    }
}
