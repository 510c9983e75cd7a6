//! API endpoints for Moodle archives: import a `.mbz` (raw body or multipart), export a course,
//! make and list its transport archives.

use super::ApiCaller;
use crate::error::AppError;
use crate::services::archives::import::{self, ImportOutcome, ImportTarget};
use crate::services::archives::transport::{self, ArchiveDoc};
use crate::services::archives::{export, Scratch};
use crate::web::archives::{download, spool};
use crate::web::AppState;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::Json;
use pf_domain::ids::{CategoryId, CourseId};

/// `?category=ID` or `?into=COURSE_ID` of an import.
#[derive(Debug, serde::Deserialize)]
pub struct ImportQuery {
    category: Option<i64>,
    into: Option<i64>,
}

/// `POST /courses/import[?category=ID | ?into=COURSE_ID]`: the body is the `.mbz` (or a multipart
/// form with a file); with `into`, its activities are added to that course (200, not 201).
pub async fn import_course(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Query(q): Query<ImportQuery>,
    request: Request,
) -> Result<(StatusCode, Json<ImportOutcome>), AppError> {
    let p = &state.platform;
    let max = p.config.server.max_upload_bytes;
    let scratch = Scratch::new(p)?;
    let file = scratch.path().join("upload.mbz");
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if multipart {
        let mut form = Multipart::from_request(request, &state)
            .await
            .map_err(|e| AppError::bad_request(e.to_string()))?;
        let mut found = false;
        while let Some(field) = form
            .next_field()
            .await
            .map_err(|e| AppError::bad_request(e.to_string()))?
        {
            if field.file_name().is_some() && !found {
                spool(field, file.clone(), max).await?;
                found = true;
            }
        }
        if !found {
            return Err(AppError::bad_request("the form has no .mbz file"));
        }
    } else {
        spool(request.into_body().into_data_stream(), file.clone(), max).await?;
    }
    let target = ImportTarget {
        category: q.category.map(CategoryId),
        into: q.into.map(CourseId),
    };
    let outcome = import::import_file(p, &actor, &file, target).await?;
    let status = if q.into.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(outcome)))
}

/// `GET /courses/{id}/export`: the course as a `.mbz`.
pub async fn export_course(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let (scratch, path, course) =
        export::export_to_scratch(&state.platform, &actor, CourseId(id)).await?;
    download(scratch, path, &format!("{}.mbz", course.shortname))
}

/// `GET /courses/{id}/archives`: the course's transport archives, newest first.
pub async fn archives(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<Vec<ArchiveDoc>>, AppError> {
    let list = transport::list(&state.platform, &actor, CourseId(id)).await?;
    Ok(Json(list.iter().map(ArchiveDoc::from).collect()))
}

/// `POST /courses/{id}/archives`: makes a transport archive of the course as it is now.
pub async fn make_archive(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<ArchiveDoc>), AppError> {
    let made = transport::make(&state.platform, &actor, CourseId(id)).await?;
    Ok((StatusCode::CREATED, Json(ArchiveDoc::from(&made))))
}
