//! Serving course files safely (SPEC §3).
//!
//! Images (not SVG), PDF, audio and video may show inline, with `nosniff` and a sandboxing CSP;
//! everything else is an attachment, so an uploaded HTML or SVG file can never run in the site's
//! origin. Blobs stream from the store in chunks and are verified as they are read.

use super::session::Visitor;
use super::AppState;
use crate::error::AppError;
use crate::services::courses;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use pf_domain::access::{Capability, Context};
use pf_domain::ids::CourseId;
use std::io::Read;

/// Whether a MIME type may be shown inline.
pub fn inline_allowed(mimetype: &str) -> bool {
    let m = mimetype.to_ascii_lowercase();
    matches!(
        m.as_str(),
        "image/png" | "image/jpeg" | "image/gif" | "image/webp" | "application/pdf"
    ) || m.starts_with("audio/")
        || m.starts_with("video/")
}

/// A filename safe inside a `Content-Disposition` header (quotes and controls removed), plus its
/// RFC 5987 UTF-8 form.
fn disposition(kind: &str, filename: &str) -> String {
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "{kind}; filename=\"{ascii}\"; filename*=UTF-8''{}",
        super::urlencode(filename).replace('/', "%2F")
    )
}

/// Streams one of a course's files to a visitor allowed to consult the course.
pub async fn download(
    State(state): State<AppState>,
    visitor: Visitor,
    Path((id, fid, _name)): Path<(i64, i64, String)>,
) -> Result<Response, AppError> {
    let p = &state.platform;
    let course = courses::consult(p, &visitor.actor, CourseId(id)).await?;
    let file = p
        .store
        .file(fid)
        .await
        .map_err(|_| AppError::not_found(format!("file {fid}")))?;
    if file.course != course.id {
        return Err(AppError::not_found(format!("file {fid}")));
    }
    if let Some(aid) = file.activity {
        let activity = p.store.activity(aid).await?;
        let see_hidden = p
            .can(
                &visitor.actor,
                Capability::CourseViewHidden,
                Context::Course(course.id),
            )
            .await?;
        if !activity.visible && !see_hidden {
            return Err(AppError::not_found(format!("file {fid}")));
        }
    }
    let blobs = p.blobs.clone();
    let sha = file.sha256.clone();
    let reader = tokio::task::spawn_blocking(move || blobs.open(&sha))
        .await
        .map_err(AppError::internal)?
        .map_err(AppError::internal)?;
    let inline = inline_allowed(&file.mimetype);
    let content_type = if inline {
        file.mimetype.clone()
    } else {
        "application/octet-stream".to_string()
    };
    let mut response = Body::from_stream(stream_reader(reader)).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(file.size.max(0) as u64),
    );
    let disp = disposition(if inline { "inline" } else { "attachment" }, &file.filename);
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disp).map_err(AppError::internal)?,
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; object-src 'self'",
        ),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=300"),
    );
    Ok(response)
}

/// Reads a blocking reader on a blocking thread, 64 KiB at a time, as a body stream.
fn stream_reader(
    mut reader: Box<dyn Read + Send>,
) -> impl futures_util::Stream<Item = std::io::Result<Vec<u8>>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(4);
    tokio::task::spawn_blocking(move || loop {
        let mut buf = vec![0u8; 64 * 1024];
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                buf.truncate(n);
                if tx.blocking_send(Ok(buf)).is_err() {
                    break;
                }
            }
            Err(e) => {
                // A blob that fails verification ends the body with an error: never served whole.
                tracing::error!(error = %e, "blob read failed while serving a file");
                let _ = tx.blocking_send(Err(e));
                break;
            }
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_media_and_pdf_show_inline() {
        assert!(inline_allowed("image/png"));
        assert!(inline_allowed("video/mp4"));
        assert!(!inline_allowed("image/svg+xml"));
        assert!(!inline_allowed("text/html"));
        assert!(!inline_allowed("application/zip"));
    }

    #[test]
    fn dispositions_are_header_safe() {
        let d = disposition("attachment", "a\"b\r\n.html");
        assert!(!d.contains('\r') && !d.contains('\n'));
        assert!(d.starts_with("attachment; filename=\"a_b__.html\""), "{d}");
    }
}
