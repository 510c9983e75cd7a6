//! The receiver's restore (SPEC §5.2, §6.4): the course is imported straight from the parts of
//! a verified manifest, all in the blob store by then — the skeleton's XML is read, stripped and
//! modelled, file records are resolved to the blobs the pull verified, and only the stripped
//! XML parts the course keeps and the store lacks are written and promoted (one batch, one
//! sync). No `.mbz` is assembled and no blob is read again; a `.mbz` is made only for a
//! post-deploy hook program. A blob part's SHA-1 (its `files/xx/<sha1>` name, Moodle's
//! `contenthash`) is the sender's signed claim; its bytes are checked against the signed
//! SHA-256.

use crate::error::AppError;
use crate::platform::Platform;
use crate::services::archives::import::Promoted;
use crate::services::archives::store_staging::StoreStaging;
use crate::services::archives::{blocking, refused, Scratch};
use pf_mbz::{Limits, TransportManifest};
use std::io::Read;

/// Imports the course of `manifest` from the blob store's parts and promotes the parts it keeps.
pub(crate) async fn from_parts(
    p: &Platform,
    manifest: &TransportManifest,
) -> Result<Promoted, AppError> {
    let scratch = Scratch::new(p)?;
    let stage_dir = scratch.path().join("stage");
    let (blobs, manifest) = (p.blobs.clone(), manifest.clone());
    let archive = blocking(move || {
        let mut stage = StoreStaging::new(&stage_dir, blobs.clone())?;
        let open = |part: &pf_mbz::ManifestPart| {
            blobs
                .open(&part.sha256)
                .map(|r| Box::new(r) as Box<dyn Read>)
                .map_err(|e| std::io::Error::other(e.to_string()))
        };
        let started = std::time::Instant::now();
        let archive = pf_mbz::import_transport(&manifest, open, &Limits::default(), &mut stage)
            .map_err(refused)?;
        let imported = started.elapsed();
        for key in archive.blobs.iter() {
            if !blobs.contains(&key)? {
                return Err(AppError::internal(format!(
                    "blob {key} is not in the store"
                )));
            }
        }
        let batch = stage.to_promote(archive.base.parts.values().map(|p| &p.sha256))?;
        blobs.promote_batch(&batch)?;
        tracing::info!(
            parts = batch.len(),
            import_ms = imported.as_millis() as u64,
            promote_ms = (started.elapsed() - imported).as_millis() as u64,
            "restored from the parts"
        );
        Ok(archive)
    })
    .await?;
    Ok(Promoted {
        archive,
        _scratch: scratch,
    })
}
