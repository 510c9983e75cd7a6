//! Transports (SPEC §6.4): how the receiver of an offer gets the parts its blob store lacks.
//!
//! The receiver pulls, always. Its `[transfer] transports` setting lists the transports it
//! accepts in order of preference; the sender's offer lists those it serves (the same list its
//! `describe` advertises). [`choose`] takes the first of the receiver's list that the sender
//! offers and that fits (`rpc-inline` only for archives within `rpc_inline_max_bytes`), noting
//! every preferred transport it had to pass over; `http` is always the last resort. The job
//! records the transport (`transport` of the job document) and the notes (`notes` of its result).
//!
//! - `http` ([`super::pull`]): streamed part GETs with a ticket, range resume.
//! - `shared-fs` ([`shared_fs`]): parts by key inside this platform's own configured root.
//! - `rpc-inline` ([`rpc_inline`]): parts through signed `POST /rpc/part` calls.
//!
//! Every transport stages the parts in the job's staging dir; [`pull_parts`] then hands them all
//! to `BlobStore::promote_batch`, which hashes each and refuses a mismatch (nothing unverified is
//! stored) and makes them durable with one sync, not one per part.

pub mod rpc_inline;
pub mod shared_fs;

use super::pull::{self, Source};
use crate::jobs::{JobContext, JobError};
use pf_api::ErrorCode;
use pf_domain::job::Progress;
use pf_mbz::transport::ManifestPart;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub use pf_net::Transport;

/// Parts an `http` pull fetches at once, by default.
pub const DEFAULT_PARALLEL_PARTS: u64 = 4;

/// The default `rpc-inline` limit: 32 MiB (the original's MNET mode).
pub const RPC_INLINE_DEFAULT: u64 = 32 * 1024 * 1024;

/// `[transfer]` in `publishflow.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransferSection {
    /// The transports this platform serves and accepts, comma-separated, in order of preference
    /// (`http`, `shared-fs`, `rpc-inline`). `http` is always served and is the last resort.
    pub transports: String,
    /// The directory both platforms see (`shared-fs`); absolute; empty: no `shared-fs`.
    pub shared_fs_root: String,
    /// The largest archive moved by `rpc-inline`, in bytes.
    pub rpc_inline_max_bytes: u64,
    /// How many parts an `http` pull fetches at once (at least 1).
    pub parallel_parts: u64,
    /// **Tests only**: pause a receiving job this long just before its last cancel check, so a
    /// test can cancel it while it runs. 0 (the default) in production.
    pub test_hold_before_commit_ms: u64,
    /// **Tests only**: hold the restore's open transaction this long before it commits, so a
    /// test can kill the process in the middle of a restore. 0 (the default) in production.
    pub test_hold_in_commit_ms: u64,
}

impl Default for TransferSection {
    fn default() -> Self {
        TransferSection {
            transports: "http,rpc-inline".into(),
            shared_fs_root: String::new(),
            rpc_inline_max_bytes: RPC_INLINE_DEFAULT,
            parallel_parts: DEFAULT_PARALLEL_PARTS,
            test_hold_before_commit_ms: 0,
            test_hold_in_commit_ms: 0,
        }
    }
}

/// The name of a transport, as settings, jobs and `describe` spell it.
pub fn name(t: Transport) -> &'static str {
    match t {
        Transport::Http => "http",
        Transport::SharedFs => "shared-fs",
        Transport::RpcInline => "rpc-inline",
        Transport::Unknown => "unknown",
    }
}

fn parse(name: &str) -> Option<Transport> {
    match name {
        "http" => Some(Transport::Http),
        "shared-fs" => Some(Transport::SharedFs),
        "rpc-inline" => Some(Transport::RpcInline),
        _ => None,
    }
}

impl TransferSection {
    /// Checks the names and the shared-fs root (at configuration load).
    pub fn validate(&self) -> Result<(), String> {
        let mut listed = Vec::new();
        for raw in self.transports.split(',').map(str::trim) {
            let t = parse(raw).ok_or_else(|| {
                format!(
                    "transfer.transports: unknown transport '{raw}' (http, shared-fs, rpc-inline)"
                )
            })?;
            listed.push(t);
        }
        if listed.contains(&Transport::SharedFs) && !Path::new(&self.shared_fs_root).is_absolute() {
            return Err(
                "transfer.transports lists shared-fs: set transfer.shared_fs_root to an \
                        absolute directory"
                    .into(),
            );
        }
        Ok(())
    }

    /// What this platform serves and accepts, in order of preference, `http` last if unlisted.
    pub fn offered(&self) -> Vec<Transport> {
        let mut out: Vec<Transport> = Vec::new();
        for t in self.transports.split(',').filter_map(|n| parse(n.trim())) {
            if t == Transport::SharedFs && self.shared_fs_root.is_empty() {
                continue;
            }
            if !out.contains(&t) {
                out.push(t);
            }
        }
        if !out.contains(&Transport::Http) {
            out.push(Transport::Http);
        }
        out
    }
}

/// The receiver's choice: a transport, and why preferred ones were passed over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// The transport used.
    pub transport: Transport,
    /// One line per preferred transport passed over.
    pub notes: Vec<String>,
}

/// Chooses how to pull an archive of `archive_bytes` offered over `sender` (empty: an older
/// sender, `http` only).
pub fn choose(section: &TransferSection, sender: &[Transport], archive_bytes: u64) -> Choice {
    let mut notes = Vec::new();
    for t in section.offered() {
        let served = t == Transport::Http || sender.contains(&t);
        if !served {
            notes.push(format!("{}: not offered by the sender", name(t)));
            continue;
        }
        if t == Transport::RpcInline && archive_bytes > section.rpc_inline_max_bytes {
            notes.push(format!(
                "rpc-inline: the archive holds {archive_bytes} bytes, over the limit of {} bytes",
                section.rpc_inline_max_bytes
            ));
            continue;
        }
        if !notes.is_empty() {
            notes.push(format!("using {}", name(t)));
        }
        return Choice {
            transport: t,
            notes,
        };
    }
    Choice {
        transport: Transport::Http,
        notes,
    }
}

/// Pulls `parts` with the chosen transport into staging, then promotes them into the blob store
/// as one batch. A sender that refuses an `rpc-inline` archive as too large makes the job fall
/// back to `http` (noted in `choice`).
pub async fn pull_parts(
    ctx: &JobContext,
    choice: &mut Choice,
    source: &mut Source<'_>,
    parts: &[ManifestPart],
    staging: &Path,
    progress: Progress,
) -> Result<Progress, JobError> {
    ctx.set_transport(name(choice.transport)).await?;
    tracing::info!(job = %ctx.job().id, transport = name(choice.transport), notes = ?choice.notes, "pulling parts");
    let progress = match choice.transport {
        Transport::SharedFs => {
            let root = Path::new(&ctx.platform.config.transfer.shared_fs_root);
            shared_fs::pull(ctx, root, parts, staging, progress).await
        }
        Transport::RpcInline => {
            match rpc_inline::pull(ctx, source, parts, staging, progress.clone()).await {
                Err(JobError::Final(e)) if e.code == ErrorCode::TooLarge => {
                    choice.notes.push(format!(
                        "rpc-inline: the sender refused ({}); using http",
                        e.message
                    ));
                    choice.transport = Transport::Http;
                    ctx.set_transport("http").await?;
                    pull::pull(ctx, source, parts, staging, progress).await
                }
                other => other,
            }
        }
        _ => pull::pull(ctx, source, parts, staging, progress).await,
    }?;
    promote_all(ctx, parts, staging).await?;
    Ok(progress)
}

/// Promotes the staged parts (files named by SHA-256 in `staging`) as one batch: the blob store
/// hashes each — a mismatch refuses the batch, removes that staged file and fails the job — and
/// makes them durable with one sync, not one per part.
async fn promote_all(
    ctx: &JobContext,
    parts: &[ManifestPart],
    staging: &Path,
) -> Result<(), JobError> {
    let batch: Vec<(PathBuf, String)> = parts
        .iter()
        .map(|part| (staging.join(&part.sha256), part.sha256.clone()))
        .collect();
    let blobs = ctx.platform.blobs.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let r = blobs.promote_batch(&batch);
        if let Err(pf_store::StoreError::Mismatch { key, .. }) = &r {
            if let Some((path, _)) = batch.iter().find(|(_, k)| k == key) {
                let _ = std::fs::remove_file(path);
            }
        }
        r
    })
    .await
    .map_err(|e| JobError::Final(crate::error::AppError::internal(e)))?;
    match outcome {
        Ok(_) => Ok(()),
        Err(pf_store::StoreError::Mismatch { key, .. }) => {
            let part = parts.iter().find(|p| p.sha256 == key);
            Err(match part {
                Some(part) => pull::part_failed(part, "the received bytes fail the SHA-256 check"),
                None => JobError::Final(crate::error::AppError::internal("a staged part changed")),
            })
        }
        Err(e) => Err(JobError::Final(e.into())),
    }
}

/// The sender's side, before an offer: the transports it serves for `manifest`. With
/// `shared-fs` offered, the parts are placed under the shared root first; a failure there leaves
/// `shared-fs` out of the offer (logged), never the whole operation.
pub async fn sender_transports(
    p: &crate::platform::Platform,
    manifest: &pf_mbz::TransportManifest,
) -> Vec<Transport> {
    let mut offered = p.config.transfer.offered();
    if offered.contains(&Transport::SharedFs) {
        if let Err(e) = shared_fs::place(p, manifest).await {
            tracing::warn!(error = %e.message, "could not place parts under the shared root");
            offered.retain(|t| *t != Transport::SharedFs);
        }
    }
    offered
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(list: &str, limit: u64) -> TransferSection {
        TransferSection {
            transports: list.into(),
            shared_fs_root: "/srv/shared".into(),
            rpc_inline_max_bytes: limit,
            parallel_parts: DEFAULT_PARALLEL_PARTS,
            test_hold_before_commit_ms: 0,
            test_hold_in_commit_ms: 0,
        }
    }

    #[test]
    fn the_receivers_preference_meets_what_the_sender_offers() {
        use Transport::*;
        let s = section("shared-fs,rpc-inline,http", 100);
        assert_eq!(s.offered(), [SharedFs, RpcInline, Http]);
        // Both offer shared-fs: chosen, no notes.
        let c = choose(&s, &[Http, SharedFs], 1000);
        assert_eq!((c.transport, c.notes.len()), (SharedFs, 0));
        // The sender serves http only (or is older and says nothing).
        for sender in [&[Http][..], &[][..]] {
            let c = choose(&s, sender, 10);
            assert_eq!(c.transport, Http);
            assert_eq!(c.notes.len(), 3, "{:?}", c.notes);
        }
        // rpc-inline within the limit; above it, http with a note naming the sizes.
        assert_eq!(choose(&s, &[RpcInline], 100).transport, RpcInline);
        let c = choose(&s, &[RpcInline], 101);
        assert_eq!(c.transport, Http);
        assert!(
            c.notes
                .iter()
                .any(|n| n.contains("101") && n.contains("100")),
            "{:?}",
            c.notes
        );
        // http is always offered, last when unlisted; shared-fs needs a root.
        assert_eq!(section("rpc-inline", 1).offered(), [RpcInline, Http]);
        let mut no_root = section("shared-fs", 1);
        no_root.shared_fs_root.clear();
        assert_eq!(no_root.offered(), [Http]);
        assert!(no_root.validate().is_err());
        assert!(section("http,carrier-pigeon", 1).validate().is_err());
        assert!(TransferSection::default().validate().is_ok());
        assert_eq!(TransferSection::default().offered(), [Http, RpcInline]);
    }
}
