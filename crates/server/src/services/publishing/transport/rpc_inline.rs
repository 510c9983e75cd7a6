//! The `rpc-inline` transport (SPEC §6.4): each part comes as the body of a signed
//! `POST /rpc/part` call (`{ticket, sha256}`), so it travels inside the peer surface's signed
//! requests and responses, for archives within the limit (`[transfer] rpc_inline_max_bytes`,
//! default 32 MiB). The sender serves a part only to the peer its ticket names, only from the
//! ticket's archive, and refuses an archive over its own limit (`too_large`, the receiver then
//! falls back to `http`). Answers are buffered (and signed) whole, which is why the limit exists.

use super::super::pull::{self, Source};
use super::name;
use crate::error::AppError;
use crate::jobs::{JobContext, JobError};
use crate::platform::Platform;
use crate::rpc::PeerCaller;
use pf_api::ErrorCode;
use pf_domain::job::Progress;
use pf_mbz::transport::ManifestPart;
use pf_mbz::TransportManifest;
use pf_net::{Acting, ClientError, Transport};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::Path;

/// The body of `POST /rpc/part`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartRequest {
    /// A part ticket the sender issued to the caller.
    pub ticket: String,
    /// The part's key.
    pub sha256: String,
}

/// The sender's side: the bytes of one part for `caller` (a peer's key id).
pub async fn serve_part(
    p: &Platform,
    caller: &str,
    request: &PartRequest,
) -> Result<Vec<u8>, AppError> {
    if !p.config.transfer.offered().contains(&Transport::RpcInline) {
        return Err(AppError::new(
            ErrorCode::NotAdmitted,
            "this platform does not serve rpc-inline",
        ));
    }
    let ticket = super::super::ticket::read(p, &request.ticket, true)?;
    if ticket.peer != caller {
        return Err(AppError::new(
            ErrorCode::Unauthenticated,
            "this ticket is not the caller's",
        ));
    }
    let rec = p.store.archive(ticket.archive).await?;
    let manifest = TransportManifest::parse(rec.manifest.as_bytes(), u64::MAX)
        .map_err(|e| AppError::internal(format!("stored manifest {}: {e}", rec.id)))?;
    let limit = p.config.transfer.rpc_inline_max_bytes;
    if manifest.total_size() > limit {
        return Err(AppError::new(
            ErrorCode::TooLarge,
            format!(
                "the archive holds {} bytes, over this platform's rpc-inline limit of {limit}",
                manifest.total_size()
            ),
        ));
    }
    let part = manifest
        .parts
        .iter()
        .find(|x| x.sha256 == request.sha256)
        .ok_or_else(|| {
            AppError::not_found(format!("part {} of archive {}", request.sha256, rec.id))
        })?
        .clone();
    let blobs = p.blobs.clone();
    crate::services::archives::blocking(move || {
        let mut body = Vec::with_capacity(part.size as usize);
        blobs.open(&part.sha256)?.read_to_end(&mut body)?;
        Ok(body)
    })
    .await
}

/// The receiver's side: fetches every part over signed calls, stages and promotes it.
pub async fn pull(
    ctx: &JobContext,
    source: &mut Source<'_>,
    parts: &[ManifestPart],
    staging: &Path,
    mut progress: Progress,
) -> Result<Progress, JobError> {
    let p = &ctx.platform;
    tokio::fs::create_dir_all(staging)
        .await
        .map_err(|e| JobError::Final(e.into()))?;
    let caller = PeerCaller::new(p)?;
    let endpoint = PeerCaller::endpoint(source.peer)?;
    for part in parts {
        ctx.check_cancel().await?;
        let mut renewed = false;
        let body = loop {
            let request = PartRequest {
                ticket: source.ticket.clone(),
                sha256: part.sha256.clone(),
            };
            let bytes =
                serde_json::to_vec(&request).map_err(|e| JobError::Final(AppError::internal(e)))?;
            let acting = Acting {
                user: None,
                delegation: None,
            };
            match caller
                .client()
                .call(
                    &endpoint,
                    reqwest::Method::POST,
                    "/rpc/part",
                    bytes,
                    Some("application/json"),
                    acting,
                )
                .await
            {
                Ok(answer) => break answer.body,
                // An expired ticket: renew once, then ask again.
                Err(ClientError::Unauthenticated) if !renewed => {
                    renewed = true;
                    source.ticket = pull::renew(p, source).await?;
                }
                Err(e) => return Err(crate::rpc::caller::client_error(source.peer, e).into()),
            }
        };
        if body.len() as u64 != part.size {
            return Err(pull::part_failed(
                part,
                format!(
                    "{}: received {} bytes, expected {}",
                    name(Transport::RpcInline),
                    body.len(),
                    part.size
                ),
            ));
        }
        let dest = staging.join(&part.sha256);
        tokio::fs::write(&dest, &body)
            .await
            .map_err(|e| JobError::Final(e.into()))?;
        drop(body);
        progress.bytes_done += part.size as i64;
        progress.steps_done += 1;
        ctx.progress(&progress).await?;
    }
    Ok(progress)
}
