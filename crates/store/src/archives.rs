//! Transport archives of a course (SPEC §5.2): the manifest (canonical JSON, kept verbatim), the
//! key of its skeleton part, the SHA-256 of the manifest's signing bytes ("the whole"), the
//! signature the publishing layer adds, and a reference count: an archive a job or a publication
//! refers to is never pruned. Every part is a blob of the blob store, written before the row.

use crate::error::on_write;
use crate::{Store, StoreError, StoreResult};
use pf_domain::ids::CourseId;
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::HashSet;

/// An archive to record (its parts already in the blob store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewArchive {
    /// The course.
    pub course: CourseId,
    /// Per-course counter; must be higher than every existing one (`Conflict` if taken).
    pub counter: i64,
    /// The manifest's canonical JSON.
    pub manifest: String,
    /// SHA-256 of the skeleton part.
    pub skeleton_sha256: String,
    /// Total size of the parts in bytes.
    pub size: i64,
    /// SHA-256 of the manifest's signing bytes.
    pub sha256: String,
    /// `made` (from the course) or `uploaded` (an external `.mbz`).
    pub origin: String,
    /// Creation time (unix seconds).
    pub created_at: i64,
}

/// A recorded archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveRecord {
    /// Id.
    pub id: i64,
    /// The course.
    pub course: CourseId,
    /// Per-course counter.
    pub counter: i64,
    /// The manifest's canonical JSON.
    pub manifest: String,
    /// SHA-256 of the skeleton part.
    pub skeleton_sha256: String,
    /// Total size of the parts.
    pub size: i64,
    /// SHA-256 of the manifest's signing bytes.
    pub sha256: String,
    /// Signature over the signing bytes, once the publishing layer signed it.
    pub signature: Option<String>,
    /// `made` or `uploaded`.
    pub origin: String,
    /// How many jobs or publications refer to it.
    pub refs: i64,
    /// Creation time.
    pub created_at: i64,
}

const COLUMNS: &str =
    "id, course_id, counter, manifest, skeleton_sha256, size, sha256, signature, \
                       origin, refs, created_at";

fn from_row(row: &AnyRow) -> StoreResult<ArchiveRecord> {
    Ok(ArchiveRecord {
        id: row.try_get("id")?,
        course: CourseId(row.try_get("course_id")?),
        counter: row.try_get("counter")?,
        manifest: row.try_get("manifest")?,
        skeleton_sha256: row.try_get("skeleton_sha256")?,
        size: row.try_get("size")?,
        sha256: row.try_get("sha256")?,
        signature: row.try_get("signature")?,
        origin: row.try_get("origin")?,
        refs: row.try_get("refs")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// The highest archive counter of a course (0 when it has none).
    pub async fn last_archive_counter(&self, course: CourseId) -> StoreResult<i64> {
        let row = sqlx::query(
            "SELECT COALESCE(MAX(counter), 0) FROM course_archives WHERE course_id = $1",
        )
        .bind(course.0)
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .next()
        .ok_or(sqlx::Error::RowNotFound)?;
        Ok(row.try_get(0)?)
    }

    /// Records an archive; a counter already used for the course is a `Conflict`.
    pub async fn add_archive(&self, new: NewArchive) -> StoreResult<ArchiveRecord> {
        let row = sqlx::query(&format!(
            "INSERT INTO course_archives (course_id, counter, manifest, skeleton_sha256, size, sha256,
                                          origin, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
        ))
        .bind(new.course.0)
        .bind(new.counter)
        .bind(&new.manifest)
        .bind(&new.skeleton_sha256)
        .bind(new.size)
        .bind(&new.sha256)
        .bind(&new.origin)
        .bind(new.created_at)
        .fetch_all(self.pool())
        .await
        .and_then(|rows| rows.into_iter().next().ok_or(sqlx::Error::RowNotFound))
        .map_err(|e| {
            on_write(
                e,
                || format!("archive {} of course {}", new.counter, new.course),
                || format!("course {}", new.course),
            )
        })?;
        from_row(&row)
    }

    /// The archives of a course, newest first.
    pub async fn archives(&self, course: CourseId) -> StoreResult<Vec<ArchiveRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM course_archives WHERE course_id = $1 ORDER BY counter DESC"
        ))
        .bind(course.0)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// One archive.
    pub async fn archive(&self, id: i64) -> StoreResult<ArchiveRecord> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM course_archives WHERE id = $1"
        ))
        .bind(id)
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::not_found(format!("archive {id}")))?;
        from_row(&row)
    }

    /// Records the signature of an archive (the publishing layer signs the manifest).
    pub async fn set_archive_signature(&self, id: i64, signature: &str) -> StoreResult<()> {
        let done = sqlx::query("UPDATE course_archives SET signature = $2 WHERE id = $1")
            .bind(id)
            .bind(signature)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("archive {id}")));
        }
        Ok(())
    }

    /// Adds `delta` (±1) to the references a job or publication holds on an archive.
    pub async fn reference_archive(&self, id: i64, delta: i64) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE course_archives SET refs = refs + $2 WHERE id = $1 AND refs + $2 >= 0",
        )
        .bind(id)
        .bind(delta)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!(
                "archive {id} (or a reference to release)"
            )));
        }
        Ok(())
    }

    /// Deletes the course's archives beyond its newest `keep` that nobody refers to; returns the
    /// deleted ones (their blobs become garbage for the blob GC).
    pub async fn prune_archives(
        &self,
        course: CourseId,
        keep: usize,
    ) -> StoreResult<Vec<ArchiveRecord>> {
        let mut tx = self.write_tx().await?;
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM course_archives WHERE course_id = $1 ORDER BY counter DESC"
        ))
        .bind(course.0)
        .fetch_all(&mut *tx)
        .await?;
        let mut deleted = Vec::new();
        for row in rows.iter().skip(keep) {
            let rec = from_row(row)?;
            if rec.refs > 0 {
                continue;
            }
            sqlx::query("DELETE FROM course_archives WHERE id = $1 AND refs = 0")
                .bind(rec.id)
                .execute(&mut *tx)
                .await?;
            deleted.push(rec);
        }
        tx.commit().await?;
        Ok(deleted)
    }

    /// Every blob key some archive's manifest lists (the blob GC keeps them).
    pub async fn archive_blobs(&self) -> StoreResult<HashSet<String>> {
        let rows = sqlx::query("SELECT manifest FROM course_archives")
            .fetch_all(self.pool())
            .await?;
        let mut keys = HashSet::new();
        for row in &rows {
            let text: String = row.try_get(0)?;
            let doc: serde_json::Value = serde_json::from_str(&text)
                .map_err(|_| StoreError::corrupt("manifest JSON in course_archives"))?;
            let parts = doc["parts"].as_array().cloned().unwrap_or_default();
            keys.extend(
                parts
                    .iter()
                    .filter_map(|p| p["sha256"].as_str().map(str::to_string)),
            );
        }
        Ok(keys)
    }
}
