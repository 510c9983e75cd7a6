//! The peer calls of catalog indexing, remote sessions and the deploy form: `POST /rpc/index`
//! (a catalog allocates an idnumber and keeps its metadata), `POST /rpc/session` (a catalog
//! opens or closes a course it deployed here) and `POST /rpc/admit-categories` (the categories
//! of this platform where the caller's user may deploy, a dry run). All run after
//! [`super::guard`] and act for the caller's asserted user.

use super::handlers::{acting_user, labelled};
use super::RpcCall;
use crate::api::ApiJson;
use crate::error::AppError;
use crate::services::admission::remote_label;
use crate::services::admission_scope::admissible_categories;
use crate::services::catalog::{allocate, AllocateRequest};
use crate::services::remote_sessions::{accept, SessionCall};
use crate::web::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use pf_domain::access::Capability;
use pf_domain::admission::Operation;
use serde::Deserialize;

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

/// The body of `admit-categories`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdmitCategories {
    operation: Operation,
    #[serde(default)]
    asserted: Vec<Capability>,
}

/// `POST /rpc/admit-categories`: where a deploy by the acting user would be admitted here.
pub async fn admit_categories(
    State(state): State<AppState>,
    Extension(call): Extension<RpcCall>,
    ApiJson(body): ApiJson<AdmitCategories>,
) -> Result<Response, AppError> {
    let user = acting_user(&state, &call)?;
    let label = remote_label(&user, &call.peer);
    let scope = admissible_categories(
        &state.platform,
        &call.peer,
        &user,
        body.operation,
        &body.asserted,
    )
    .await;
    match scope {
        Ok(doc) => Ok(labelled(label, Json(doc))),
        Err(e) => Ok(labelled(label, e.into_response())),
    }
}
