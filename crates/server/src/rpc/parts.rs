//! `GET /transfer/parts/{sha256}`: the sender's side of the `http` transport (SPEC §6.4). Outside
//! `/rpc/` because parts are streamed, not buffered and signed: the request carries a ticket this
//! platform signed for the receiver (see [`crate::services::publishing::ticket`]), the part must
//! belong to the ticket's archive, and the receiver verifies every part's SHA-256 itself.
//! `Range: bytes=N-` resumes an interrupted part (206). Memory is bounded: the blob is read in
//! 64 KiB chunks on a blocking thread and handed over a small channel.

use crate::error::AppError;
use crate::services::publishing::{pull::TICKET_HEADER, ticket};
use crate::web::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use pf_api::ErrorCode;
use pf_mbz::TransportManifest;
use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex, OnceLock};

const CHUNK: usize = 64 * 1024;

fn range_start(headers: &HeaderMap) -> Result<u64, AppError> {
    let Some(value) = headers.get(header::RANGE) else {
        return Ok(0);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("bytes="))
        .and_then(|v| v.strip_suffix('-'))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| AppError::bad_request("only 'Range: bytes=N-' is supported"))
}

/// The parts (key → size) of an archive, parsed once per archive: a pull asks for every part
/// of the same archive in turn, and a manifest of thousands of parts is worth not re-parsing.
/// Archives never change once made; the cache is keyed by platform and archive, and small.
async fn part_sizes(
    p: &crate::platform::Platform,
    archive: i64,
) -> Result<Arc<HashMap<String, u64>>, AppError> {
    type Cache = Mutex<HashMap<(String, i64), Arc<HashMap<String, u64>>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let key = (p.identity.key_id().to_string(), archive);
    let cache = CACHE.get_or_init(Default::default);
    if let Some(hit) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(hit.clone());
    }
    let rec = p.store.archive(archive).await?;
    let manifest = TransportManifest::parse(rec.manifest.as_bytes(), u64::MAX)
        .map_err(|e| AppError::internal(format!("stored manifest {}: {e}", rec.id)))?;
    let sizes: Arc<HashMap<String, u64>> = Arc::new(
        manifest
            .parts
            .into_iter()
            .map(|x| (x.sha256, x.size))
            .collect(),
    );
    let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
    if map.len() >= 16 {
        map.clear();
    }
    map.insert(key, sizes.clone());
    Ok(sizes)
}

/// Streams one part of a ticketed archive.
pub async fn serve(
    State(state): State<AppState>,
    Path(sha256): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let p = state.platform.clone();
    let text = headers
        .get(TICKET_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| AppError::new(ErrorCode::Unauthenticated, "a part needs a ticket"))?;
    let t = ticket::read(&p, text, true)?;
    let sizes = part_sizes(&p, t.archive).await?;
    let size = *sizes
        .get(&sha256)
        .ok_or_else(|| AppError::not_found(format!("part {sha256} of archive {}", t.archive)))?;
    let part = pf_mbz::transport::ManifestPart {
        path: String::new(),
        size,
        sha256,
    };
    let start = range_start(&headers)?;
    if start > part.size {
        return Ok((StatusCode::RANGE_NOT_SATISFIABLE, "").into_response());
    }
    let mut reader = p.blobs.open(&part.sha256)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        let mut skip = start;
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => n,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            };
            let chunk = if skip >= n as u64 {
                skip -= n as u64;
                continue;
            } else {
                let from = skip as usize;
                skip = 0;
                Bytes::copy_from_slice(&buf[from..n])
            };
            if tx.blocking_send(Ok(chunk)).is_err() {
                return;
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let status = if start > 0 {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = (part.size - start).to_string().parse() {
        h.insert(header::CONTENT_LENGTH, v);
    }
    if start > 0 {
        if let Ok(v) = format!("bytes {start}-{}/{}", part.size - 1, part.size).parse() {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(response)
}
