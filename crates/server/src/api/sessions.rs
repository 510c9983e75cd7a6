//! Session endpoints (`POST /courses/{id}/session/open|close`) and the outbox (`GET /outbox`).

use super::{ApiCaller, ApiJson};
use crate::error::AppError;
use crate::services::sessions::{self, outbox_doc, OpenOptions};
use crate::web::AppState;
use axum::extract::{Path, Query, State};
use axum::Json;
use pf_api::sessions::{OutboxDoc, SessionDoc};
use pf_domain::ids::CourseId;
use pf_domain::sessions::CloseMode;
use serde::Deserialize;

/// Opens (or reopens) a course's session; body `{notify, reset_start_date}` (both optional, so
/// `{}` opens without notification).
pub async fn open(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(opts): ApiJson<OpenOptions>,
) -> Result<Json<SessionDoc>, AppError> {
    Ok(Json(
        sessions::open(&state.platform, &actor, CourseId(id), opts).await?,
    ))
}

/// `{"mode": "private" | "protected" | "public"}`
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseBody {
    mode: String,
}

/// Closes a course's session in a mode; a bad mode is refused and changes nothing.
pub async fn close(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<CloseBody>,
) -> Result<Json<SessionDoc>, AppError> {
    let mode: CloseMode = body.mode.parse()?;
    Ok(Json(
        sessions::close(&state.platform, &actor, CourseId(id), mode).await?,
    ))
}

/// `?offset=&limit=`
#[derive(Deserialize)]
pub struct OutboxQuery {
    offset: Option<i64>,
    limit: Option<i64>,
}

/// The outbox, newest first (administrators).
pub async fn outbox(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Query(q): Query<OutboxQuery>,
) -> Result<Json<Vec<OutboxDoc>>, AppError> {
    let list = sessions::outbox(
        &state.platform,
        &actor,
        q.offset.unwrap_or(0),
        q.limit.unwrap_or(100).clamp(1, 1000),
    )
    .await?;
    Ok(Json(list.iter().map(outbox_doc).collect()))
}
