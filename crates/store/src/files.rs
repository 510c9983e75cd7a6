//! Course files: rows pointing at blobs by SHA-256, with Moodle's own file metadata.
//!
//! Blobs are written before the rows that point to them; [`Store::referenced_blobs`] is what the
//! blob garbage collector keeps.

use crate::error::on_write;
use crate::{Store, StoreError, StoreResult};
use pf_domain::ids::{ActivityId, CourseId};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::HashSet;

/// A file to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFile {
    /// The course.
    pub course: CourseId,
    /// The activity it belongs to, if any (else a course-level file).
    pub activity: Option<ActivityId>,
    /// Lowercase hex SHA-256: the blob store key.
    pub sha256: String,
    /// Lowercase hex SHA-1: Moodle's `contenthash`.
    pub sha1: String,
    /// Size in bytes.
    pub size: i64,
    /// File name.
    pub filename: String,
    /// Moodle file path (`/` or `/dir/`).
    pub filepath: String,
    /// MIME type.
    pub mimetype: String,
    /// Moodle component (`mod_resource`…).
    pub component: String,
    /// Moodle file area (`content`…).
    pub filearea: String,
    /// Moodle item id.
    pub itemid: i64,
    /// Author.
    pub author: String,
    /// Licence short name.
    pub license: String,
}

/// A stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    /// Id.
    pub id: i64,
    /// Its course.
    pub course: CourseId,
    /// Its activity, if any.
    pub activity: Option<ActivityId>,
    /// SHA-256 (blob key).
    pub sha256: String,
    /// SHA-1 (Moodle contenthash).
    pub sha1: String,
    /// Size in bytes.
    pub size: i64,
    /// File name.
    pub filename: String,
    /// File path.
    pub filepath: String,
    /// MIME type.
    pub mimetype: String,
    /// Component.
    pub component: String,
    /// File area.
    pub filearea: String,
    /// Item id.
    pub itemid: i64,
    /// Author.
    pub author: String,
    /// Licence.
    pub license: String,
}

const COLUMNS: &str =
    "id, course_id, activity_id, sha256, sha1, size, filename, filepath, mimetype, component, \
                       filearea, itemid, author, license";

fn from_row(row: &AnyRow) -> StoreResult<FileRecord> {
    Ok(FileRecord {
        id: row.try_get("id")?,
        course: CourseId(row.try_get("course_id")?),
        activity: row
            .try_get::<Option<i64>, _>("activity_id")?
            .map(ActivityId),
        sha256: row.try_get("sha256")?,
        sha1: row.try_get("sha1")?,
        size: row.try_get("size")?,
        filename: row.try_get("filename")?,
        filepath: row.try_get("filepath")?,
        mimetype: row.try_get("mimetype")?,
        component: row.try_get("component")?,
        filearea: row.try_get("filearea")?,
        itemid: row.try_get("itemid")?,
        author: row.try_get("author")?,
        license: row.try_get("license")?,
    })
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Inserts a file row inside a transaction (its activity is already checked).
pub(crate) async fn insert(conn: &mut AnyConnection, new: &NewFile) -> StoreResult<i64> {
    Ok(sqlx::query(
        "INSERT INTO files (course_id, activity_id, sha256, sha1, size, filename, filepath, mimetype,
                            component, filearea, itemid, author, license)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
    )
    .bind(new.course.0)
    .bind(new.activity.map(|a| a.0))
    .bind(&new.sha256)
    .bind(&new.sha1)
    .bind(new.size)
    .bind(&new.filename)
    .bind(&new.filepath)
    .bind(&new.mimetype)
    .bind(&new.component)
    .bind(&new.filearea)
    .bind(new.itemid)
    .bind(&new.author)
    .bind(&new.license)
    .fetch_all(&mut *conn)
    .await
    .and_then(|rows| rows.into_iter().next().ok_or(sqlx::Error::RowNotFound))
    .map_err(|e| on_write(e, || "file already recorded".into(), || format!("course {}", new.course)))?
    .try_get(0)?)
}

/// Checks hashes are lowercase hex of the right length.
pub(crate) fn check_hashes(new: &NewFile) -> StoreResult<()> {
    if is_hex(&new.sha256, 64) && is_hex(&new.sha1, 40) {
        Ok(())
    } else {
        Err(StoreError::Invalid(
            "file hashes must be lowercase hex SHA-256 and SHA-1".into(),
        ))
    }
}

impl Store {
    /// Records a file whose blob is already stored; returns its id.
    pub async fn add_file(&self, new: NewFile) -> StoreResult<i64> {
        check_hashes(&new)?;
        let mut tx = self.write_tx().await?;
        if let Some(activity) = new.activity {
            let found = sqlx::query("SELECT id FROM activities WHERE id = $1 AND course_id = $2")
                .bind(activity.0)
                .bind(new.course.0)
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .next();
            if found.is_none() {
                return Err(StoreError::not_found(format!(
                    "activity {activity} of course {}",
                    new.course
                )));
            }
        }
        let id = insert(&mut tx, &new).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The files of a course.
    pub async fn files(&self, course: CourseId) -> StoreResult<Vec<FileRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM files WHERE course_id = $1 ORDER BY id"
        ))
        .bind(course.0)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// One file.
    pub async fn file(&self, id: i64) -> StoreResult<FileRecord> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM files WHERE id = $1"))
            .bind(id)
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::not_found(format!("file {id}")))?;
        from_row(&row)
    }

    /// Every SHA-256 some file row points to (trashed courses included): the blobs GC keeps.
    pub async fn referenced_blobs(&self) -> StoreResult<HashSet<String>> {
        let rows = sqlx::query("SELECT DISTINCT sha256 FROM files")
            .fetch_all(self.pool())
            .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<Result<_, _>>()?)
    }
}
