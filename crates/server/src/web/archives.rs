//! Moodle archives in the browser: the "Import a Moodle backup" form (category pages), the
//! course's "Export (.mbz)" download, and its Archives page (list, make, upload an external
//! `.mbz`, download). Uploads are spooled to a scratch file with bounded memory, the CSRF token
//! checked before the first byte of the file is kept; downloads stream from a scratch file.

use super::session::Visitor;
use super::{render, AppState};
use crate::error::AppError;
use crate::platform::Platform;
use crate::services::archives::transport::{self, ArchiveDoc};
use crate::services::archives::{export, import, Scratch};
use crate::services::courses;
use axum::body::{Body, Bytes};
use axum::extract::{Multipart, Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use futures_util::{Stream, StreamExt};
use minijinja::context;
use pf_domain::access::{Capability, Context};
use pf_domain::ids::{CategoryId, CourseId};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::PathBuf;

/// Largest text field of an archive upload form.
const MAX_FIELD: usize = 4096;

/// Writes a byte stream to `path` on a blocking thread (bounded channel: bounded memory);
/// refuses more than `max` bytes. Returns the size.
pub async fn spool<S, E>(stream: S, path: PathBuf, max: u64) -> Result<u64, AppError>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: std::fmt::Display,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(8);
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
        while let Some(chunk) = rx.blocking_recv() {
            f.write_all(&chunk)?;
        }
        f.flush()
    });
    let mut stream = std::pin::pin!(stream);
    let mut size = 0u64;
    let mut failure = None;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                failure = Some(AppError::bad_request(format!(
                    "the upload could not be read: {e}"
                )));
                break;
            }
        };
        size += chunk.len() as u64;
        if size > max {
            failure = Some(AppError::new(
                pf_api::ErrorCode::TooLarge,
                format!("the file is larger than {max} bytes"),
            ));
            break;
        }
        if tx.send(chunk).await.is_err() {
            break;
        }
    }
    drop(tx);
    writer.await.map_err(AppError::internal)??;
    match failure {
        Some(e) => Err(e),
        None => Ok(size),
    }
}

/// A multipart form with one `.mbz` file spooled into `scratch`; the CSRF field must come first.
async fn read_upload(
    p: &Platform,
    visitor: &Visitor,
    mut multipart: Multipart,
    scratch: &Scratch,
) -> Result<(HashMap<String, String>, PathBuf), AppError> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        AppError::bad_request(format!("the upload could not be read: {e}"))
    };
    let mut fields = HashMap::new();
    let mut csrf_ok = false;
    let mut file = None;
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or("").to_string();
        if field.file_name().is_some_and(|f| !f.is_empty()) {
            if !csrf_ok {
                visitor.check_csrf("")?;
            }
            let path = scratch.path().join("upload.mbz");
            spool(field, path.clone(), p.config.server.max_upload_bytes).await?;
            file = Some(path);
        } else if field.file_name().is_none() {
            let value = field.text().await.map_err(bad)?;
            if value.len() > MAX_FIELD {
                return Err(AppError::new(
                    pf_api::ErrorCode::TooLarge,
                    format!("the field {name} is too large"),
                ));
            }
            if name == "csrf" {
                visitor.check_csrf(&value)?;
                csrf_ok = true;
            }
            fields.insert(name, value);
        }
    }
    if !csrf_ok {
        visitor.check_csrf("")?;
    }
    let file = file.ok_or_else(|| AppError::bad_request("choose a .mbz file to upload"))?;
    Ok((fields, file))
}

/// Streams a scratch file as an attachment; the scratch directory goes after the last byte.
pub fn download(scratch: Scratch, path: PathBuf, filename: &str) -> Result<Response, AppError> {
    let mut file = std::fs::File::open(&path)?;
    let len = file.metadata()?.len();
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(4);
    tokio::task::spawn_blocking(move || {
        let _keep = scratch;
        let mut buf = vec![0u8; 256 << 10];
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if tx.blocking_send(Ok(buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    break;
                }
            }
        }
    });
    let stream =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    let safe: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.moodle.backup".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{safe}\""),
            ),
            (header::CONTENT_LENGTH, len.to_string()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// `POST /course/import`: imports an uploaded backup and shows the result with its warnings.
pub async fn import_upload(
    State(state): State<AppState>,
    visitor: Visitor,
    multipart: Multipart,
) -> Result<Response, AppError> {
    let p = &state.platform;
    visitor.require_login()?;
    let scratch = Scratch::new(p)?;
    let (fields, file) = read_upload(p, &visitor, multipart, &scratch).await?;
    let category = match fields
        .get("category")
        .map(|c| c.trim())
        .filter(|c| !c.is_empty())
    {
        Some(c) => Some(CategoryId(c.parse().map_err(|_| {
            AppError::bad_request(format!("'{c}' is not a category id"))
        })?)),
        None => None,
    };
    let into = match fields
        .get("into")
        .map(|c| c.trim())
        .filter(|c| !c.is_empty())
    {
        Some(c) => Some(CourseId(c.parse().map_err(|_| {
            AppError::bad_request(format!("'{c}' is not a course id"))
        })?)),
        None => None,
    };
    let outcome = import::import_file(
        p,
        &visitor.actor,
        &file,
        import::ImportTarget { category, into },
    )
    .await?;
    drop(scratch);
    let ctx = context! {
        course_id => outcome.course_id, shortname => outcome.shortname, warnings => outcome.warnings,
    };
    render::page(&state, &visitor, "import_done.html", ctx).await
}

/// `GET /course/{id}/export`: the course as a `.mbz`.
pub async fn export_download(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    visitor.require_login()?;
    let (scratch, path, course) =
        export::export_to_scratch(&state.platform, &visitor.actor, CourseId(id)).await?;
    download(scratch, path, &format!("{}.mbz", course.shortname))
}

/// `GET /course/{id}/archives`: the course's transport archives.
pub async fn page(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    visitor.require_login()?;
    let p = &state.platform;
    let course = courses::consult(p, &visitor.actor, CourseId(id)).await?;
    let list: Vec<ArchiveDoc> = transport::list(p, &visitor.actor, course.id)
        .await?
        .iter()
        .map(ArchiveDoc::from)
        .collect();
    let keep = p
        .setting_i64(crate::platform::settings::ARCHIVES_KEPT, 3)
        .await?;
    let ctx = context! {
        course => context! { id => course.id.0, fullname => course.fullname.as_str(), shortname => course.shortname.as_str() },
        archives => list, keep,
    };
    render::page(&state, &visitor, "archives.html", ctx).await
}

/// `POST /course/{id}/archives`: makes an archive of the course as it is now.
pub async fn make(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
    super::forms::WebForm(form): super::forms::WebForm<HashMap<String, String>>,
) -> Result<Response, AppError> {
    visitor.check_csrf(form.get("csrf").map(String::as_str).unwrap_or(""))?;
    transport::make(&state.platform, &visitor.actor, CourseId(id)).await?;
    Ok(Redirect::to(&format!("/course/{id}/archives")).into_response())
}

/// `POST /course/{id}/archives/upload`: an external `.mbz` becomes the course's newest archive.
pub async fn upload(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
    multipart: Multipart,
) -> Result<Response, AppError> {
    let p = &state.platform;
    let course = CourseId(id);
    p.store.course(course).await?;
    p.require(
        &visitor.actor,
        Capability::ManagePublishedFiles,
        Context::Course(course),
    )
    .await?;
    let scratch = Scratch::new(p)?;
    let (_, file) = read_upload(p, &visitor, multipart, &scratch).await?;
    transport::upload(p, &visitor.actor, course, &file).await?;
    Ok(Redirect::to(&format!("/course/{id}/archives")).into_response())
}

/// `GET /course/{id}/archives/{aid}/download`: one archive as a `.mbz`.
pub async fn archive_download(
    State(state): State<AppState>,
    visitor: Visitor,
    Path((id, aid)): Path<(i64, i64)>,
) -> Result<Response, AppError> {
    visitor.require_login()?;
    let (scratch, path, rec) = transport::download(&state.platform, &visitor.actor, aid).await?;
    if rec.course != CourseId(id) {
        return Err(AppError::not_found(format!("archive {aid} of course {id}")));
    }
    download(
        scratch,
        path,
        &format!("course-{id}-archive-{}.mbz", rec.counter),
    )
}
