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
use pf_mbz::transport::{skeleton::INDEX_PART, SKELETON};
use pf_mbz::{CourseIdentity, ExportCourse, ManifestPart, TransportManifest};
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
    // edits do not all touch the course row, so times cannot tell). The parts are built once:
    // stored as they come (unchanged ones are already there), then compared.
    let parts = build_parts(p, model).await?;
    if let Some(rec) = newest {
        let kept = TransportManifest::parse(rec.manifest.as_bytes(), u64::MAX)
            .map_err(|e| AppError::internal(format!("stored manifest {}: {e}", rec.id)))?;
        if kept.parts == parts {
            return Ok(rec);
        }
    }
    record_parts(p, actor, course, parts, "made").await
}

/// Runs the scanner on an archive before it leaves, unless a passed verdict is recorded for
/// this very manifest (its SHA-256, recomputed from the stored manifest) and scanner version.
/// A scan reads the skeleton parts only (never the blobs) and records its passed verdict.
pub(crate) async fn scan_archive(p: &Platform, rec: &ArchiveRecord) -> Result<(), AppError> {
    let manifest = TransportManifest::parse(rec.manifest.as_bytes(), u64::MAX)
        .map_err(|e| AppError::internal(format!("stored manifest {}: {e}", rec.id)))?;
    let whole = manifest.whole_sha256();
    if let Some(v) = p.store.archive_scan(rec.id).await? {
        if v.manifest_sha256 == whole && v.scanner == pf_mbz::SCANNER_VERSION {
            return Ok(());
        }
        tracing::info!(
            archive = rec.id,
            "the recorded scan does not match the archive: scanning again"
        );
    }
    scan_parts(p, manifest).await?;
    record_scan(p, rec.id, whole).await
}

async fn record_scan(p: &Platform, archive: i64, whole: String) -> Result<(), AppError> {
    p.store
        .set_archive_scan(&pf_store::ArchiveScan {
            archive,
            manifest_sha256: whole,
            scanner: pf_mbz::SCANNER_VERSION.into(),
            scanned_at: now(),
        })
        .await?;
    Ok(())
}

/// The scanner over a transport set's skeleton parts: a finding, or a `moodle_backup.xml` Moodle
/// would not detect, means stripping or writing has a bug.
async fn scan_parts(p: &Platform, manifest: TransportManifest) -> Result<(), AppError> {
    let blobs = p.blobs.clone();
    blocking(move || {
        let found = pf_mbz::scan_transport(
            &manifest,
            |part| {
                blobs
                    .open(&part.sha256)
                    .map(|r| Box::new(r) as Box<dyn std::io::Read>)
                    .map_err(|e| std::io::Error::other(e.to_string()))
            },
            &pf_mbz::Limits::default(),
        )
        .map_err(write_failed)?;
        if !found.report.is_clean() {
            return Err(AppError::internal(format!(
                "the scanner found user data in an export: {:?}",
                found.report.findings
            )));
        }
        if !found.moodle2 {
            return Err(AppError::internal(
                "Moodle would not detect the export as a backup",
            ));
        }
        Ok(())
    })
    .await
}

fn part_failed(e: pf_store::StoreError) -> pf_mbz::MbzError {
    pf_mbz::MbzError::Export(format!("cannot store a skeleton part: {e}"))
}

/// Builds the parts, checks the whole export, records the manifest and prunes old archives.
async fn record(
    p: &Platform,
    actor: &Actor,
    course: &CourseRecord,
    model: ExportCourse,
    origin: &str,
) -> Result<ArchiveRecord, AppError> {
    let parts = build_parts(p, model).await?;
    record_parts(p, actor, course, parts, origin).await
}

/// The transport set's parts of `model`; each skeleton part is stored as it is completed.
async fn build_parts(p: &Platform, model: ExportCourse) -> Result<Vec<ManifestPart>, AppError> {
    let blobs = p.blobs.clone();
    blocking(move || {
        // Each skeleton part is stored as it is completed; unchanged ones are already there.
        let store = blobs.clone();
        let set = pf_mbz::build_transport(&model, &StoreBlobs(blobs), |part, bytes| {
            if !store.contains(&part.sha256).map_err(part_failed)? {
                let put = store.put(&mut &bytes[..]).map_err(part_failed)?;
                if put.sha256 != part.sha256 {
                    return Err(pf_mbz::MbzError::Export("a skeleton part changed".into()));
                }
            }
            Ok(())
        })
        .map_err(write_failed)?;
        Ok(set.parts)
    })
    .await
}

/// Checks the whole export (scanner), records the manifest and prunes old archives.
async fn record_parts(
    p: &Platform,
    actor: &Actor,
    course: &CourseRecord,
    parts: Vec<ManifestPart>,
    origin: &str,
) -> Result<ArchiveRecord, AppError> {
    let skeleton_sha256 = parts
        .iter()
        .find(|p| p.path == INDEX_PART || p.path == SKELETON)
        .map(|p| p.sha256.clone())
        .unwrap_or_default();
    let source_platform = p.name().await?;
    let created_at = now();
    let base = TransportManifest {
        course: CourseIdentity {
            source_course_id: course.id.0,
            shortname: course.shortname.to_string(),
            fullname: course.fullname.as_str().to_string(),
        },
        idnumber: course.idnumber.as_str().to_string(),
        source_platform: source_platform.clone(),
        archive_counter: 0,
        created_at: rfc3339(created_at),
        parts,
        signature: None,
    };
    // The scanner sees exactly the XML a receiver will assemble, before the archive is recorded.
    scan_parts(p, base.clone()).await?;
    let mut attempt = 0;
    let rec = loop {
        let counter = p.store.last_archive_counter(course.id).await? + 1;
        let manifest = TransportManifest {
            archive_counter: u64::try_from(counter).unwrap_or(0),
            ..base.clone()
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
    record_scan(p, rec.id, rec.sha256.clone()).await?;
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
