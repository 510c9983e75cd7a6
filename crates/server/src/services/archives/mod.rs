//! Moodle archives inside the platform (SPEC §3, §5.2): importing a `.mbz` as a course
//! ([`import`]), exporting a course as a `.mbz` Moodle restores ([`export`]), and the course's
//! transport archives with their manifests and retention ([`transport`]).
//!
//! The blocking archive library (`pf-mbz`) runs on `spawn_blocking`. An import stages into its own
//! scratch directory inside the blob store's staging area (same filesystem, so promotion is a
//! rename) which is removed at the end whatever happens; only the blobs and parts the stripped
//! archive keeps are promoted, then the course rows are written in one transaction. A failure
//! leaves no course (promoted but unreferenced blobs are garbage for the blob GC).
//!
//! What the platform keeps of an imported archive: the course's `archive_payload` holds the
//! [`pf_mbz::ArchiveBase`], the original course fields and every kept file record; each section's
//! and activity's `payload` holds its `pf_mbz` item (`mbz`) next to what the course page shows
//! (`content`, `externalurl`, `question_count`). [`export::export_course`] rebuilds a
//! [`pf_mbz::ExportCourse`] from the rows, so edits made here show in the export.

pub mod export;
pub mod gc;
pub mod import;
pub mod merge;
pub(crate) mod store_staging;
pub mod transport;

use crate::error::AppError;
use crate::platform::Platform;
use pf_mbz::{BlobSource, MbzError};
use pf_store::blob::{BlobStore, LocalBlobStore};
use pf_store::StoreError;
use std::collections::HashSet;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The blob store as the archive writer's [`BlobSource`].
pub struct StoreBlobs(pub Arc<dyn BlobStore>);

impl BlobSource for StoreBlobs {
    fn open_blob(&self, sha256: &str) -> io::Result<Box<dyn Read + '_>> {
        match self.0.open(sha256) {
            Ok(r) => Ok(Box::new(r)),
            Err(StoreError::NotFound { what }) => {
                Err(io::Error::new(io::ErrorKind::NotFound, what))
            }
            Err(e) => Err(io::Error::other(e.to_string())),
        }
    }
}

/// A scratch directory inside the blob store's staging area, removed when dropped.
#[derive(Debug)]
pub struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    /// Creates a fresh scratch directory for one import or export.
    pub fn new(p: &Platform) -> Result<Scratch, AppError> {
        let root = LocalBlobStore::open(p.config.blob_dir(&p.data_dir))
            .map_err(AppError::internal)?
            .staging_dir();
        let mut random = [0u8; 12];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut random);
        let dir = root.join(format!("mbz-{}", hex::encode(random)));
        std::fs::create_dir_all(&dir)?;
        Ok(Scratch { dir })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An archive the person gave us that we refuse: bad or hostile input (exit 2, HTTP 400).
/// (The reader reports unreadable compressed input as I/O errors too, so those count as bad
/// input; a failing scratch disk shows up earlier, when the scratch directory is made.)
pub(crate) fn refused(e: MbzError) -> AppError {
    AppError::bad_request(format!("this is not an archive we can import: {e}"))
}

/// A failure while writing an archive from stored data: our bug or our disk, never the user's.
pub(crate) fn write_failed(e: MbzError) -> AppError {
    AppError::internal(format!("writing the archive failed: {e}"))
}

/// Runs blocking archive work off the async runtime.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(AppError::internal)?
}

/// Every blob a row points to: file rows, the parts of imported archives kept in course payloads,
/// and the parts of transport archives. Blob GC must keep all of them.
pub async fn referenced_blobs(p: &Platform) -> Result<HashSet<String>, AppError> {
    let mut keys = p.store.referenced_blobs().await?;
    keys.extend(p.store.archive_blobs().await?);
    let all = pf_store::CourseQuery {
        category: None,
        include_hidden: true,
        offset: 0,
        limit: i64::MAX,
    };
    // One course's payload at a time: a payload grows with its course.
    for c in p
        .store
        .courses(all)
        .await?
        .iter()
        .chain(&p.store.trashed_courses().await?)
    {
        let payload: Option<PayloadParts> = p.store.course_payload(c.id).await?;
        if let Some(base) = payload.and_then(|x| x.base) {
            keys.extend(base.parts.into_values().map(|r| r.sha256));
        }
    }
    Ok(keys)
}

/// The one field of a course payload blob collection reads (the rest is never parsed).
#[derive(serde::Deserialize)]
struct PayloadParts {
    base: Option<BaseParts>,
}

#[derive(serde::Deserialize)]
struct BaseParts {
    parts: std::collections::BTreeMap<String, pf_mbz::PartRef>,
}
