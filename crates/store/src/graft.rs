//! Adding content to an existing course in one transaction (Moodle's "merge the backup into this
//! course"): activities join existing sections (by number) or new sections appended at the end,
//! file rows follow, and the course's archive payload becomes the merged one. Nothing of the
//! course is removed or renumbered. Blobs must already be in the blob store.
//!
//! The merged payload was computed from the payload the caller read; the write is conditional on
//! it being still the course's (compared inside the transaction, and again in the `UPDATE`'s
//! `WHERE`, which PostgreSQL re-checks after waiting for a concurrent writer's row lock). Two
//! merges into one course at the same time cannot lose each other's update: the second one is a
//! `Conflict` and changes nothing; the caller re-reads and tries again.

use crate::activities::{append as append_activity, NewActivity};
use crate::files::{check_hashes, insert as insert_file, NewFile};
use crate::sections::{append as append_section, NewSection};
use crate::{json_text, unix_now, Store, StoreError, StoreResult};
use crate::{TreeActivity, TreeFile, TreeSection};
use pf_domain::ids::{ActivityId, CourseId, SectionId};
use sqlx::Row;

/// What [`Store::add_course_content`] adds.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ContentAddition {
    /// Activities appended to existing sections: (section number, activities in order).
    pub existing: Vec<(i64, Vec<TreeActivity>)>,
    /// New sections appended after the last one, with their activities.
    pub new_sections: Vec<TreeSection>,
    /// File rows; `activity` is (group, index) where the groups are `existing` then
    /// `new_sections`.
    pub files: Vec<TreeFile>,
}

/// Ids of what [`Store::add_course_content`] created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedContent {
    /// The new sections, in order.
    pub sections: Vec<SectionId>,
    /// Activity ids per group (`existing` then `new_sections`).
    pub activities: Vec<Vec<ActivityId>>,
    /// File row ids, in order.
    pub files: Vec<i64>,
}

fn check(add: &ContentAddition) -> StoreResult<()> {
    let groups: Vec<usize> = add
        .existing
        .iter()
        .map(|(_, a)| a.len())
        .chain(add.new_sections.iter().map(|s| s.activities.len()))
        .collect();
    for f in &add.files {
        check_hashes(&f.file)?;
        if let Some((g, a)) = f.activity {
            if groups.get(g).is_none_or(|n| a >= *n) {
                return Err(StoreError::Invalid(format!(
                    "file '{}' points to added activity {a} of group {g}, which does not exist",
                    f.file.filename
                )));
            }
        }
    }
    Ok(())
}

impl Store {
    /// Adds `add` to `course` and sets its archive payload, in one transaction (see the module
    /// docs). `based_on` is the payload the merge was computed from (`None`: the course had
    /// none); if the course's payload is no longer that one, the result is a `Conflict`. A
    /// trashed or unknown course is `NotFound`; a section number the course does not have is
    /// `Invalid`; in every one of these cases nothing changes.
    pub async fn add_course_content(
        &self,
        course: CourseId,
        based_on: Option<&serde_json::Value>,
        archive_payload: Option<serde_json::Value>,
        add: ContentAddition,
    ) -> StoreResult<AddedContent> {
        check(&add)?;
        let mut tx = self.write_tx().await?;
        let rows =
            sqlx::query("SELECT archive_payload FROM courses WHERE id = $1 AND deleted_at IS NULL")
                .bind(course.0)
                .fetch_all(&mut *tx)
                .await?;
        let row = rows
            .first()
            .ok_or_else(|| StoreError::not_found(format!("course {course}")))?;
        let current: Option<String> = row.try_get("archive_payload")?;
        let current_value = match current.as_deref() {
            None => None,
            Some(t) => Some(serde_json::from_str::<serde_json::Value>(t).map_err(|e| {
                StoreError::Corrupt {
                    what: format!("course {course} archive payload: {e}"),
                }
            })?),
        };
        let changed = || StoreError::Conflict {
            what: format!(
                "course {course} changed while the backup was being merged into it; try again"
            ),
        };
        if current_value.as_ref() != based_on {
            return Err(changed());
        }
        let sql = match current {
            Some(_) => {
                "UPDATE courses SET archive_payload = $2, updated_at = $3
                 WHERE id = $1 AND deleted_at IS NULL AND archive_payload = $4"
            }
            None => {
                "UPDATE courses SET archive_payload = $2, updated_at = $3
                 WHERE id = $1 AND deleted_at IS NULL AND archive_payload IS NULL"
            }
        };
        let mut q = sqlx::query(sql)
            .bind(course.0)
            .bind(archive_payload.as_ref().map(json_text))
            .bind(unix_now());
        if let Some(old) = current {
            q = q.bind(old);
        }
        let done = q.execute(&mut *tx).await?;
        if done.rows_affected() == 0 {
            return Err(changed());
        }
        let mut out = AddedContent {
            sections: Vec::new(),
            activities: Vec::new(),
            files: Vec::new(),
        };
        let mut groups: Vec<(SectionId, Vec<TreeActivity>)> = Vec::new();
        for (number, acts) in add.existing {
            let rows = sqlx::query("SELECT id FROM sections WHERE course_id = $1 AND number = $2")
                .bind(course.0)
                .bind(number)
                .fetch_all(&mut *tx)
                .await?;
            let id: i64 = rows
                .first()
                .ok_or_else(|| {
                    StoreError::Invalid(format!("course {course} has no section {number}"))
                })?
                .try_get("id")?;
            groups.push((SectionId(id), acts));
        }
        for s in add.new_sections {
            let new = NewSection {
                course,
                name: s.name,
                summary: s.summary,
                visible: s.visible,
                payload: s.payload,
            };
            let id = append_section(&mut tx, &new).await?.id;
            out.sections.push(id);
            groups.push((id, s.activities));
        }
        for (section, acts) in groups {
            let mut ids = Vec::with_capacity(acts.len());
            for a in acts {
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
            out.activities.push(ids);
        }
        for f in add.files {
            let activity = f.activity.map(|(g, a)| out.activities[g][a]);
            let new = NewFile {
                course,
                activity,
                ..f.file
            };
            out.files.push(insert_file(&mut tx, &new).await?);
        }
        tx.commit().await?;
        Ok(out)
    }
}
