//! The API of catalog indexing, deploying everywhere, the sessions list and remote sessions:
//! `POST /courses/{id}/index`, `POST /courses/{id}/deploy-everywhere` (202, the queued jobs),
//! `GET /courses/{id}/sessions`, `POST /peers/{peer}/courses/{course}/session`. The course
//! search is `GET /courses?q=` (`handlers::courses`).

use super::{ApiCaller, ApiJson};
use crate::error::AppError;
use crate::services::catalog::{index_via_catalog, IndexMeta};
use crate::services::copies::{sessions_list, SessionsList};
use crate::services::jobs::JobDoc;
use crate::services::publishing::everywhere::deploy_everywhere;
use crate::services::publishing::ops::OperationRequest;
use crate::services::remote_sessions::{self, RemoteAction};
use crate::web::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use pf_api::sessions::SessionDoc;
use pf_domain::ids::CourseId;
use serde::Deserialize;

/// The body of `POST /courses/{id}/index`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexBody {
    #[serde(default = "local")]
    strategy: String,
    #[serde(default)]
    catalog: Option<String>,
    #[serde(default)]
    meta: IndexMeta,
}

fn local() -> String {
    "local".into()
}

/// `POST /courses/{id}/index` `{strategy?, catalog?, meta?}`: `{"idnumber"}`.
pub async fn index(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<IndexBody>,
) -> Result<Json<serde_json::Value>, AppError> {
    let p = &state.platform;
    let code = match body.strategy.as_str() {
        "catalog" => {
            index_via_catalog(p, &actor, CourseId(id), body.catalog.as_deref(), body.meta).await?
        }
        other => crate::services::courses::index(p, &actor, CourseId(id), other).await?,
    };
    Ok(Json(serde_json::json!({ "idnumber": code.as_str() })))
}

/// The body of `POST /courses/{id}/deploy-everywhere`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EverywhereBody {
    #[serde(default)]
    deploy_key: Option<String>,
    #[serde(default)]
    idempotency_key: Option<String>,
    #[serde(default)]
    accept_terms: bool,
}

/// `POST /courses/{id}/deploy-everywhere`: one deploy job per training platform that admits it.
pub async fn everywhere(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<EverywhereBody>,
) -> Result<(StatusCode, Json<Vec<JobDoc>>), AppError> {
    let req = OperationRequest {
        course: id,
        deploy_key: body.deploy_key,
        idempotency_key: body.idempotency_key,
        accept_terms: body.accept_terms,
        ..OperationRequest::default()
    };
    let jobs = deploy_everywhere(&state.platform, &actor, req).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(jobs.iter().map(JobDoc::from).collect()),
    ))
}

/// `GET /courses/{id}/sessions`: every copy of the course's idnumber across the network.
pub async fn sessions(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<SessionsList>, AppError> {
    Ok(Json(
        sessions_list(&state.platform, &actor, CourseId(id)).await?,
    ))
}

/// `POST /peers/{peer}/courses/{course}/session` `{"action": "open", notify?, reset_start_date?}`
/// or `{"action": "close", "mode"}`.
pub async fn remote_session(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path((peer, course)): Path<(String, i64)>,
    ApiJson(action): ApiJson<RemoteAction>,
) -> Result<Json<SessionDoc>, AppError> {
    Ok(Json(
        remote_sessions::request(&state.platform, &actor, &peer, course, action).await?,
    ))
}
