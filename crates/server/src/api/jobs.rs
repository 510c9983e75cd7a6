//! Jobs in the API: list, show, cancel (the `jobs show` document).

use super::ApiCaller;
use crate::error::AppError;
use crate::services::jobs::{self, JobDoc};
use crate::web::AppState;
use axum::extract::{Path, State};
use axum::Json;
use pf_domain::ids::JobId;

/// The caller's jobs (all for administrators), newest first.
pub async fn list(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
) -> Result<Json<Vec<JobDoc>>, AppError> {
    Ok(Json(
        jobs::list(&state.platform, &actor, 200)
            .await?
            .iter()
            .map(JobDoc::from)
            .collect(),
    ))
}

/// One job.
pub async fn show(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<JobDoc>, AppError> {
    Ok(Json(JobDoc::from(
        &jobs::show(&state.platform, &actor, JobId(id)).await?,
    )))
}

/// Cancels a job.
pub async fn cancel(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<JobDoc>, AppError> {
    Ok(Json(JobDoc::from(
        &jobs::cancel(&state.platform, &actor, JobId(id)).await?,
    )))
}
