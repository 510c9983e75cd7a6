//! Replacing a course's content in one transaction (Moodle's "delete the contents of this course
//! and then restore"): the course row keeps its id, names, category, idnumber and settings; its
//! sections, activities and file rows become those of the arriving tree and its archive payload
//! the arriving one. Blobs must already be in the blob store.

use crate::activities::{append as append_activity, NewActivity};
use crate::courses::{from_row, COLUMNS};
use crate::files::{check_hashes, insert as insert_file, NewFile};
use crate::sections::{append as append_section, NewSection};
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
        for f in &files {
            check_hashes(&f.file)?;
            if let Some((s, a)) = f.activity {
                if sections
                    .get(s)
                    .is_none_or(|sec| sec.activities.get(a).is_none())
                {
                    return Err(StoreError::Invalid(format!(
                        "file '{}' points to activity {a} of section {s}, which the content does not have",
                        f.file.filename
                    )));
                }
            }
        }
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
        let mut section_ids = Vec::with_capacity(sections.len());
        let mut activity_ids = Vec::with_capacity(sections.len());
        for s in sections {
            let new = NewSection {
                course,
                name: s.name,
                summary: s.summary,
                visible: s.visible,
                payload: s.payload,
            };
            let section = append_section(&mut tx, &new).await?.id;
            let mut ids = Vec::with_capacity(s.activities.len());
            for a in s.activities {
                let new = NewActivity {
                    course,
                    section,
                    module: a.module,
                    name: a.name,
                    intro: a.intro,
                    visible: a.visible,
                    payload: a.payload,
                };
                ids.push(append_activity(&mut tx, &new).await?);
            }
            section_ids.push(section);
            activity_ids.push(ids);
        }
        let mut file_ids = Vec::with_capacity(files.len());
        for f in files {
            let activity = f.activity.map(|(s, a)| activity_ids[s][a]);
            let new = NewFile {
                course,
                activity,
                ..f.file
            };
            file_ids.push(insert_file(&mut tx, &new).await?);
        }
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM courses WHERE id = $1"))
            .bind(course.0)
            .fetch_one(&mut *tx)
            .await?;
        let shortname = from_row(&row)?.shortname;
        tx.commit().await?;
        Ok(ImportedCourse {
            id: course,
            shortname,
            sections: section_ids,
            activities: activity_ids,
            files: file_ids,
        })
    }
}
