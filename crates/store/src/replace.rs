//! Replacing a course's content in one transaction (Moodle's "delete the contents of this course
//! and then restore"): the course row keeps its id, names, category, idnumber and settings; its
//! sections, activities and file rows become those of the arriving tree and its archive payload
//! the arriving one. Blobs must already be in the blob store.

use crate::courses::{from_row, COLUMNS};
use crate::import::{check_content, insert_content};
use crate::{json_text, unix_now, ImportedCourse, Store, StoreError, StoreResult};
use crate::{TreeFile, TreeSection};
use pf_domain::ids::CourseId;

impl Store {
    /// Replaces the content of `course` (see the module docs). Nothing changes if any part is
    /// refused; a trashed or unknown course is `NotFound`.
    pub async fn replace_course_content(
        &self,
        course: CourseId,
        archive_payload: Option<serde_json::Value>,
        sections: Vec<TreeSection>,
        files: Vec<TreeFile>,
    ) -> StoreResult<ImportedCourse> {
        check_content(&sections, &files)?;
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "UPDATE courses SET archive_payload = $2, updated_at = $3
             WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(course.0)
        .bind(archive_payload.as_ref().map(json_text))
        .bind(unix_now())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("course {course}")));
        }
        for table in ["files", "activities", "sections"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE course_id = $1"))
                .bind(course.0)
                .execute(&mut *tx)
                .await?;
        }
        let ids = insert_content(&mut tx, course, sections, files).await?;
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM courses WHERE id = $1"))
            .bind(course.0)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .next()
            .ok_or(sqlx::Error::RowNotFound)?;
        let shortname = from_row(&row)?.shortname;
        tx.commit().await?;
        Ok(ImportedCourse {
            id: course,
            shortname,
            sections: ids.sections,
            activities: ids.activities,
            files: ids.files,
        })
    }
}
