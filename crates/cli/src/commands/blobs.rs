//! `blobs gc [--dry-run]`: blob garbage collection by an administrator.

use crate::args::BlobsCommand;
use crate::output::emit;
use pf_server::error::AppError;
use pf_server::platform::Platform;
use pf_server::services::archives::gc;
use pf_server::services::Actor;

/// Runs `blobs …`.
pub async fn blobs(
    p: &Platform,
    actor: &Actor,
    cmd: BlobsCommand,
    json: bool,
) -> Result<(), AppError> {
    match cmd {
        BlobsCommand::Gc { dry_run } => {
            let out = gc::collect(p, actor, dry_run).await?;
            emit(json, &out, || {
                format!(
                    "{} {} blobs ({} bytes); {} referenced, {} unreferenced but too recent, of {}\n",
                    if out.dry_run { "would delete" } else { "deleted" },
                    out.deleted,
                    out.freed_bytes,
                    out.referenced,
                    out.kept_recent,
                    out.blobs
                )
            });
            Ok(())
        }
    }
}
