//! The receiver's side of the `http` transport (SPEC §6.4): checks the manifest's caps and the
//! free space, then streams every part its blob store lacks from the sender
//! (`GET /transfer/parts/{sha256}` with a ticket), resuming with an HTTP range after an
//! interruption, renewing an expired ticket over signed RPC (once for all lanes). Parts are staged;
//! once all are there the blob store verifies and promotes them in one batch (one sync). Up to
//! `[transfer] parallel_parts` parts (default 4) are fetched at once. Memory stays bounded: each
//! part goes chunk by chunk to a staging file that survives a retry of the job (so a later
//! attempt resumes where this one stopped).

use crate::error::AppError;
use crate::jobs::{JobContext, JobError};
use crate::platform::Platform;
use crate::rpc::PeerCaller;
use pf_api::ErrorCode;
use pf_domain::job::Progress;
use pf_mbz::transport::ManifestPart;
use pf_mbz::TransportManifest;
use pf_store::blob::LocalBlobStore;
use pf_store::PeerRecord;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// The header carrying a part ticket.
pub const TICKET_HEADER: &str = "x-publishflow-ticket";
/// Attempts per part before the job gives up on it.
const PART_ATTEMPTS: usize = 4;
/// Least time between two progress reports (and cancel checks) of a pull.
const REPORT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// The staging directory of one receiving job (kept across attempts, removed when it ends).
pub fn staging_for(p: &Platform, job_key: &str) -> Result<PathBuf, AppError> {
    let root = LocalBlobStore::open(p.config.blob_dir(&p.data_dir))
        .map_err(AppError::internal)?
        .staging_dir();
    let safe: String = job_key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(80)
        .collect();
    Ok(root.join(format!(
        "recv-{safe}-{}",
        pf_net::sha256_hex(job_key.as_bytes())
    )))
}

/// The parts the blob store lacks, or holds with another size than listed (a damaged copy:
/// fetched again, and replaced when promoted). The restore reads no blob it did not pull, so
/// this is where a damaged copy is caught.
pub fn missing_parts(p: &Platform, m: &TransportManifest) -> Result<Vec<ManifestPart>, AppError> {
    let mut out = Vec::new();
    for part in &m.parts {
        let held = match p.blobs.size(&part.sha256) {
            Ok(size) => Some(size),
            Err(pf_store::StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        if held != Some(part.size) {
            out.push(part.clone());
        }
    }
    Ok(out)
}

/// Refuses a transfer the disk cannot hold (the missing bytes twice: parts, then the course).
pub fn check_free_space(p: &Platform, needed: u64) -> Result<(), AppError> {
    let dir = p.config.blob_dir(&p.data_dir);
    let stat = rustix::fs::statvfs(&dir).map_err(AppError::internal)?;
    let free = stat.f_bavail.saturating_mul(stat.f_frsize);
    if free < needed.saturating_mul(2) {
        return Err(AppError::new(
            ErrorCode::TooLarge,
            format!("not enough free space: {needed} bytes to receive, {free} free"),
        ));
    }
    Ok(())
}

/// Where parts come from and how the transfer is authorised.
pub struct Source<'a> {
    /// The sending peer.
    pub peer: &'a PeerRecord,
    /// The sender's archive id (for ticket renewal).
    pub archive: i64,
    /// The current ticket.
    pub ticket: String,
}

pub(crate) fn part_failed(part: &ManifestPart, why: impl std::fmt::Display) -> JobError {
    JobError::Final(AppError::new(
        ErrorCode::Failed,
        format!("part {} ({}): {why}", part.path, part.sha256),
    ))
}

/// Pulls `parts` (verified, staged for the restore), up to `[transfer] parallel_parts` at once,
/// reporting progress; `progress` counts what was done before. A part that fails ends the pull
/// (the others in flight are dropped; their staged bytes stay for a retry's range resume).
pub async fn pull(
    ctx: &JobContext,
    source: &mut Source<'_>,
    parts: &[ManifestPart],
    staging: &Path,
    mut progress: Progress,
) -> Result<Progress, JobError> {
    use futures_util::StreamExt;
    let p = &ctx.platform;
    tokio::fs::create_dir_all(staging)
        .await
        .map_err(|e| JobError::Final(e.into()))?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(std::time::Duration::from_secs(10))
        .read_timeout(std::time::Duration::from_secs(60))
        .build()
        .map_err(|e| JobError::Final(AppError::internal(e)))?;
    let base = source.peer.url.trim_end_matches('/').to_string();
    let ticket = tokio::sync::Mutex::new(source.ticket.clone());
    let shared = Shared {
        p,
        http: &http,
        base: &base,
        peer: source.peer,
        archive: source.archive,
        ticket: &ticket,
    };
    let lanes = usize::try_from(p.config.transfer.parallel_parts.max(1)).unwrap_or(1);
    // Thousands of small parts: the cancel check and the progress row are written at most
    // every REPORT_EVERY (and after the last part), not once per part.
    let mut reported = std::time::Instant::now();
    ctx.check_cancel().await?;
    let shared = &shared;
    let mut queue = parts.iter();
    let mut running = futures_util::stream::FuturesUnordered::new();
    for part in queue.by_ref().take(lanes) {
        running.push(one(shared, staging, part));
    }
    let mut left = parts.len();
    while let Some(size) = running.next().await {
        let size = size?;
        if let Some(part) = queue.next() {
            running.push(one(shared, staging, part));
        }
        left -= 1;
        progress.bytes_done += size as i64;
        progress.steps_done += 1;
        if reported.elapsed() >= REPORT_EVERY || left == 0 {
            ctx.check_cancel().await?;
            ctx.progress(&progress).await?;
            reported = std::time::Instant::now();
        }
    }
    drop(running);
    source.ticket = ticket.into_inner();
    Ok(progress)
}

type PartFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<u64, JobError>> + Send + 'a>>;

/// Fetches and stages one part (verified when the pull's parts are promoted); its size.
fn one<'a>(shared: &'a Shared<'a>, staging: &'a Path, part: &'a ManifestPart) -> PartFuture<'a> {
    Box::pin(async move {
        fetch(shared, part, &staging.join(&part.sha256)).await?;
        Ok(part.size)
    })
}

/// What the parallel fetches of one pull share (the ticket is renewed once for all of them).
struct Shared<'a> {
    p: &'a Platform,
    http: &'a reqwest::Client,
    base: &'a str,
    peer: &'a PeerRecord,
    archive: i64,
    ticket: &'a tokio::sync::Mutex<String>,
}

/// Fetches one part into `dest`, resuming what an earlier attempt left there.
async fn fetch(s: &Shared<'_>, part: &ManifestPart, dest: &Path) -> Result<(), JobError> {
    let url = format!("{}/transfer/parts/{}", s.base, part.sha256);
    let mut last_error = String::new();
    for _ in 0..PART_ATTEMPTS {
        let have = tokio::fs::metadata(dest)
            .await
            .map(|m| m.len())
            .unwrap_or(0);
        if have == part.size {
            return Ok(());
        }
        if have > part.size {
            let _ = tokio::fs::remove_file(dest).await;
            continue;
        }
        let used = s.ticket.lock().await.clone();
        let mut request = s.http.get(&url).header(TICKET_HEADER, used.as_str());
        if have > 0 {
            request = request.header(reqwest::header::RANGE, format!("bytes={have}-"));
        }
        let mut response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                last_error = e.to_string();
                continue;
            }
        };
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            // One renewal for every lane: a lane that finds the ticket already replaced retries.
            let mut current = s.ticket.lock().await;
            if *current == used {
                let source = Source {
                    peer: s.peer,
                    archive: s.archive,
                    ticket: used,
                };
                *current = renew(s.p, &source).await?;
            }
            continue;
        }
        let append = match status.as_u16() {
            200 => false,
            206 => true,
            other => return Err(part_failed(part, format!("the sender answered {other}"))),
        };
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(append)
            .write(true)
            .truncate(!append)
            .open(dest)
            .await
            .map_err(|e| JobError::Final(e.into()))?;
        let mut written = if append { have } else { 0 };
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    written += chunk.len() as u64;
                    if written > part.size {
                        drop(file);
                        let _ = tokio::fs::remove_file(dest).await;
                        return Err(part_failed(part, "the sender sent more bytes than listed"));
                    }
                    file.write_all(&chunk)
                        .await
                        .map_err(|e| JobError::Final(e.into()))?;
                }
                Ok(None) => break,
                Err(e) => {
                    last_error = e.to_string();
                    break;
                }
            }
        }
        // Made durable with the other parts when they are promoted (one sync for all).
        file.flush().await.map_err(|e| JobError::Final(e.into()))?;
    }
    let have = tokio::fs::metadata(dest)
        .await
        .map(|m| m.len())
        .unwrap_or(0);
    if have == part.size {
        return Ok(());
    }
    Err(JobError::Transient(AppError::new(
        ErrorCode::PeerUnreachable,
        format!(
            "part {} stopped at {have} of {} bytes: {last_error}",
            part.path, part.size
        ),
    )))
}

/// Asks the sender for a fresh ticket on the same archive.
pub(crate) async fn renew(p: &Platform, source: &Source<'_>) -> Result<String, JobError> {
    let caller = PeerCaller::new(p)?;
    let answer: serde_json::Value = caller
        .post_json(
            source.peer,
            "/rpc/ticket",
            &serde_json::json!({ "ticket": source.ticket, "archive": source.archive }),
            None,
        )
        .await?;
    answer["ticket"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| JobError::Final(AppError::internal("the sender's ticket answer")))
}
