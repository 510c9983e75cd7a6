//! The course trash: deleting a course moves it here; it can be restored for
//! [`TRASH_RETENTION_SECS`] (30 days, SPEC §3), then the scheduler purges it for good.
//! A trashed course keeps its short name (so a restore never collides) and its blobs stay
//! referenced until the purge.

use crate::courses::{from_row, CourseRecord, COLUMNS};
use crate::{Store, StoreError, StoreResult};
use pf_domain::ids::CourseId;

/// How long a trashed course can be restored (SPEC §3).
pub const TRASH_RETENTION_SECS: i64 = 30 * 24 * 3600;

impl Store {
    /// Moves a course to the trash at `now`; it keeps its short name until purged.
    pub async fn trash_course(&self, id: CourseId, now: i64) -> StoreResult<()> {
        let done =
            sqlx::query("UPDATE courses SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL")
                .bind(id.0)
                .bind(now)
                .execute(self.pool())
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("course {id}")));
        }
        Ok(())
    }

    /// The courses in the trash, most recently trashed first.
    pub async fn trashed_courses(&self) -> StoreResult<Vec<CourseRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM courses WHERE deleted_at IS NOT NULL ORDER BY deleted_at DESC, id"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Takes a course out of the trash.
    pub async fn restore_course(&self, id: CourseId) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE courses SET deleted_at = NULL WHERE id = $1 AND deleted_at IS NOT NULL",
        )
        .bind(id.0)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("course {id} in the trash")));
        }
        Ok(())
    }

    /// Deletes for good the courses trashed before `older_than` (with their sections, activities,
    /// file rows, enrolments and course role assignments); returns how many.
    pub async fn purge_trash(&self, older_than: i64) -> StoreResult<u64> {
        let mut tx = self.write_tx().await?;
        let done =
            sqlx::query("DELETE FROM courses WHERE deleted_at IS NOT NULL AND deleted_at < $1")
                .bind(older_than)
                .execute(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}
