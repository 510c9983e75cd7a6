//! The receiver's restore (SPEC §5.2, §6.4): the course is imported straight from the parts of
//! a verified manifest, all in the blob store by then — the skeleton's XML is read, stripped and
//! modelled, file records are resolved to the blobs the pull verified, and only the stripped XML
//! parts the course keeps are promoted (one batch, one sync). No `.mbz` is assembled and no blob
//! is read again; a `.mbz` is made only for a post-deploy hook that asks for one.

use crate::error::AppError;
use crate::platform::Platform;
use crate::services::archives::import::Promoted;
use crate::services::archives::{blocking, refused, Scratch};
use pf_mbz::{DirStaging, Limits, TransportManifest};
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
        let mut stage = DirStaging::new(&stage_dir)?;
        let open = |part: &pf_mbz::ManifestPart| {
            blobs
                .open(&part.sha256)
                .map(|r| Box::new(r) as Box<dyn Read>)
                .map_err(|e| std::io::Error::other(e.to_string()))
        };
        let archive = pf_mbz::import_transport(&manifest, open, &Limits::default(), &mut stage)
            .map_err(refused)?;
        for key in archive.blobs.iter() {
            if !blobs.contains(&key)? {
                return Err(AppError::internal(format!(
                    "blob {key} is not in the store"
                )));
            }
        }
        let mut batch = Vec::with_capacity(archive.base.parts.len());
        for part in archive.base.parts.values() {
            batch.push((stage.path_of(&part.sha256)?, part.sha256.clone()));
        }
        batch.sort();
        batch.dedup();
        blobs.promote_batch(&batch)?;
        Ok(archive)
    })
    .await?;
    Ok(Promoted {
        archive,
        _scratch: scratch,
    })
}
