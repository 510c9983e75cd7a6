//! Transport archives (SPEC §5.2): a course's export split into content-addressed parts (one per
//! blob plus the XML skeleton, all in the blob store) described by a canonical-JSON manifest
//! (course identity, idnumber, source platform, counter, created-at, parts; the `signature` is
//! filled by publishing). The newest N are kept (`archives.keep`, default 3), never one a job or
//! publication refers to. Everything here needs `publishflow:managepublishedfiles`.

use super::export::{check, export_model};
use super::import::stage_and_promote;
use super::{blocking, write_failed, Scratch, StoreBlobs};
use crate::error::AppError;
use crate::platform::{settings, Platform};
use crate::services::{now, rfc3339, Actor};
use pf_domain::access::{Capability, Context};
use pf_domain::ids::CourseId;
use pf_mbz::transport::SKELETON;
use pf_mbz::{CourseIdentity, ExportCourse, TransportManifest};
use pf_store::{ArchiveRecord, CourseRecord, NewArchive, StoreError};
use std::path::{Path, PathBuf};

/// An archive as `archive make` / `archive list` print it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ArchiveDoc {
    /// Id.
    pub id: i64,
    /// Per-course counter.
    pub counter: i64,
    /// Total size of the parts in bytes.
    pub size: i64,
    /// SHA-256 of the manifest's signing bytes ("the whole").
    pub sha256: String,
    /// Creation time, RFC 3339 UTC.
    pub created: String,
}

impl From<&ArchiveRecord> for ArchiveDoc {
    fn from(r: &ArchiveRecord) -> Self {
        ArchiveDoc {
            id: r.id,
            counter: r.counter,
            size: r.size,
            sha256: r.sha256.clone(),
            created: rfc3339(r.created_at),
        }
    }
}

async fn require_manage(
    p: &Platform,
    actor: &Actor,
    id: CourseId,
) -> Result<CourseRecord, AppError> {
    let course = p.store.course(id).await?;
    p.require(actor, Capability::ManagePublishedFiles, Context::Course(id))
        .await?;
    Ok(course)
}

/// Makes a transport archive of the course as it is now.
pub async fn make(p: &Platform, actor: &Actor, id: CourseId) -> Result<ArchiveRecord, AppError> {
    let course = require_manage(p, actor, id).await?;
    let model = export_model(p, &course).await?;
    record(p, actor, &course, model, "made").await
}

/// Makes an external `.mbz` (stripped of user data on the way) the course's newest archive.
pub async fn upload(
    p: &Platform,
    actor: &Actor,
    id: CourseId,
    file: &Path,
) -> Result<(ArchiveRecord, Vec<String>), AppError> {
    let course = require_manage(p, actor, id).await?;
    let promoted = stage_and_promote(p, file).await?;
    let warnings = promoted.archive.warnings.clone();
    let model = ExportCourse::from(promoted.archive.clone());
    Ok((
        record(p, actor, &course, model, "uploaded").await?,
        warnings,
    ))
}

/// The course's archives, newest first.
pub async fn list(
    p: &Platform,
    actor: &Actor,
    id: CourseId,
) -> Result<Vec<ArchiveRecord>, AppError> {
    require_manage(p, actor, id).await?;
    Ok(p.store.archives(id).await?)
}

/// Reassembles an archive as a `.mbz` in a scratch file (parts verified as they stream).
pub async fn download(
    p: &Platform,
    actor: &Actor,
    archive: i64,
) -> Result<(Scratch, PathBuf, ArchiveRecord), AppError> {
    let rec = p.store.archive(archive).await?;
    require_manage(p, actor, rec.course).await?;
    let manifest = TransportManifest::parse(rec.manifest.as_bytes(), u64::MAX)
        .map_err(|e| AppError::internal(format!("stored manifest {}: {e}", rec.id)))?;
    let scratch = Scratch::new(p)?;
    let path = scratch.path().join("archive.mbz");
    let blobs = p.blobs.clone();
    let out = path.clone();
    blocking(move || {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&out)?);
        pf_mbz::assemble(
            &manifest,
            |part| {
                blobs
                    .open(&part.sha256)
                    .map(|r| Box::new(r) as Box<dyn std::io::Read>)
                    .map_err(|e| std::io::Error::other(e.to_string()))
            },
            &mut file,
            &pf_mbz::ExportOptions::default(),
        )
        .map_err(write_failed)?;
        file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        check(&out)
    })
    .await?;
    Ok((scratch, path, rec))
}

/// For operation jobs (which checked their own capability): the course's newest archive, made
/// first when there is none or the course's parts changed since. A received archive stays current, so
/// a catalog sends on exactly what it received.
pub(crate) async fn newest_for_job(
    p: &Platform,
    actor: &Actor,
    course: &CourseRecord,
) -> Result<ArchiveRecord, AppError> {
    let newest = p.store.archives(course.id).await?.into_iter().next();
    if let Some(rec) = &newest {
        if rec.origin == "received" {
            return Ok(rec.clone());
        }
    }
    let model = export_model(p, course).await?;
    // The course "changed since" when its parts now differ from the newest archive's (content
    // edits do not all touch the course row, so times cannot tell).
    if let Some(rec) = newest {
        let (blobs, m) = (p.blobs.clone(), model.clone());
        let now_parts = blocking(move || {
            pf_mbz::build_transport(&m, &StoreBlobs(blobs), std::io::sink())
                .map(|set| set.parts)
                .map_err(write_failed)
        })
        .await?;
        let kept = TransportManifest::parse(rec.manifest.as_bytes(), u64::MAX)
            .map_err(|e| AppError::internal(format!("stored manifest {}: {e}", rec.id)))?;
        if kept.parts == now_parts {
            return Ok(rec);
        }
    }
    record(p, actor, course, model, "made").await
}

/// Assembles an archive in a scratch file and runs the scanner on it (before it leaves).
pub(crate) async fn scan_archive(p: &Platform, rec: &ArchiveRecord) -> Result<(), AppError> {
    let manifest = TransportManifest::parse(rec.manifest.as_bytes(), u64::MAX)
        .map_err(|e| AppError::internal(format!("stored manifest {}: {e}", rec.id)))?;
    let scratch = Scratch::new(p)?;
    let out = scratch.path().join("scan.mbz");
    let blobs = p.blobs.clone();
    blocking(move || {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&out)?);
        pf_mbz::assemble(
            &manifest,
            |part| {
                blobs
                    .open(&part.sha256)
                    .map(|r| Box::new(r) as Box<dyn std::io::Read>)
                    .map_err(|e| std::io::Error::other(e.to_string()))
            },
            &mut file,
            &pf_mbz::ExportOptions::default(),
        )
        .map_err(write_failed)?;
        file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        check(&out)
    })
    .await
}

/// Builds the parts, checks the whole export, records the manifest and prunes old archives.
async fn record(
    p: &Platform,
    actor: &Actor,
    course: &CourseRecord,
    model: ExportCourse,
    origin: &str,
) -> Result<ArchiveRecord, AppError> {
    let scratch = Scratch::new(p)?;
    let dir = scratch.path().to_path_buf();
    let blobs = p.blobs.clone();
    let parts = blocking(move || {
        let skeleton = dir.join("skeleton.tar");
        let mut w = std::io::BufWriter::new(std::fs::File::create(&skeleton)?);
        let set = pf_mbz::build_transport(&model, &StoreBlobs(blobs.clone()), &mut w)
            .map_err(write_failed)?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        // The scanner sees exactly what a receiver will assemble.
        let whole = dir.join("check.mbz");
        super::export::write_checked(StoreBlobs(blobs.clone()), &model, &whole)?;
        let key = set
            .parts
            .iter()
            .find(|p| p.path == SKELETON)
            .map(|p| p.sha256.clone())
            .ok_or_else(|| AppError::internal("transport set without a skeleton"))?;
        blobs.promote(&skeleton, &key)?;
        Ok(set.parts)
    })
    .await?;
    drop(scratch);
    let skeleton_sha256 = parts
        .iter()
        .find(|p| p.path == SKELETON)
        .map(|p| p.sha256.clone())
        .unwrap_or_default();
    let source_platform = p.name().await?;
    let created_at = now();
    let mut attempt = 0;
    let rec = loop {
        let counter = p.store.last_archive_counter(course.id).await? + 1;
        let manifest = TransportManifest {
            course: CourseIdentity {
                source_course_id: course.id.0,
                shortname: course.shortname.to_string(),
                fullname: course.fullname.as_str().to_string(),
            },
            idnumber: course.idnumber.as_str().to_string(),
            source_platform: source_platform.clone(),
            archive_counter: u64::try_from(counter).unwrap_or(0),
            created_at: rfc3339(created_at),
            parts: parts.clone(),
            signature: None,
        };
        let new = NewArchive {
            course: course.id,
            counter,
            manifest: String::from_utf8(manifest.to_canonical_json())
                .map_err(AppError::internal)?,
            skeleton_sha256: skeleton_sha256.clone(),
            size: i64::try_from(manifest.total_size()).unwrap_or(i64::MAX),
            sha256: manifest.whole_sha256(),
            origin: origin.to_string(),
            created_at,
        };
        match p.store.add_archive(new).await {
            Err(StoreError::Conflict { .. }) if attempt < 5 => attempt += 1,
            other => break other?,
        }
    };
    let keep = p.setting_i64(settings::ARCHIVES_KEPT, 3).await?.max(1);
    let pruned = p
        .store
        .prune_archives(course.id, usize::try_from(keep).unwrap_or(3))
        .await?;
    p.audit(
        actor,
        "archive.make",
        format!("course:{}", course.id),
        serde_json::json!({
            "archive": rec.id, "counter": rec.counter, "origin": origin, "sha256": rec.sha256,
            "pruned": pruned.iter().map(|a| a.counter).collect::<Vec<_>>(),
        }),
    )
    .await?;
    Ok(rec)
}
