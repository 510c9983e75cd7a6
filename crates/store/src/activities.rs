//! Activities (course modules): module name, name, intro, visibility, and an opaque JSON payload
//! holding the rest of their settings, positioned inside a section.

use crate::{flag, get_flag, get_json, json_text, Store, StoreError, StoreResult};
use pf_domain::ids::{ActivityId, CourseId, SectionId};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Row, Transaction};

/// An activity to append to a section.
#[derive(Debug, Clone, PartialEq)]
pub struct NewActivity {
    /// The course.
    pub course: CourseId,
    /// A section of that course.
    pub section: SectionId,
    /// Moodle module name: `page`, `label`, `url`, `resource`, `quiz`…
    pub module: String,
    /// Name.
    pub name: String,
    /// Intro HTML.
    pub intro: String,
    /// Visible to students.
    pub visible: bool,
    /// The module's remaining settings, kept verbatim.
    pub payload: serde_json::Value,
}

/// A stored activity.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityRecord {
    /// Id.
    pub id: ActivityId,
    /// Its course.
    pub course: CourseId,
    /// Its section.
    pub section: SectionId,
    /// The number of its section.
    pub section_number: i64,
    /// Position within the section, from 0.
    pub position: i64,
    /// Module name.
    pub module: String,
    /// Name.
    pub name: String,
    /// Intro HTML.
    pub intro: String,
    /// Visible to students.
    pub visible: bool,
    /// The module's remaining settings.
    pub payload: serde_json::Value,
}

const SELECT: &str =
    "SELECT a.id, a.course_id, a.section_id, s.number AS section_number, a.position, a.module,
                             a.name, a.intro, a.visible, a.payload
                      FROM activities a JOIN sections s ON s.id = a.section_id";

fn from_row(row: &AnyRow) -> StoreResult<ActivityRecord> {
    Ok(ActivityRecord {
        id: ActivityId(row.try_get("id")?),
        course: CourseId(row.try_get("course_id")?),
        section: SectionId(row.try_get("section_id")?),
        section_number: row.try_get("section_number")?,
        position: row.try_get("position")?,
        module: row.try_get("module")?,
        name: row.try_get("name")?,
        intro: row.try_get("intro")?,
        visible: get_flag(row, "visible")?,
        payload: get_json(row, "payload")?,
    })
}

/// Checks that `section` belongs to `course`.
async fn check_section(
    tx: &mut Transaction<'static, Any>,
    course: CourseId,
    section: SectionId,
) -> StoreResult<()> {
    let found = sqlx::query("SELECT id FROM sections WHERE id = $1 AND course_id = $2")
        .bind(section.0)
        .bind(course.0)
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .next();
    found
        .map(|_| ())
        .ok_or_else(|| StoreError::not_found(format!("section {section} of course {course}")))
}

async fn positions(
    tx: &mut Transaction<'static, Any>,
    section: SectionId,
) -> StoreResult<Vec<i64>> {
    let rows = sqlx::query("SELECT id FROM activities WHERE section_id = $1 ORDER BY position, id")
        .bind(section.0)
        .fetch_all(&mut **tx)
        .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get::<i64, _>(0))
        .collect::<Result<_, _>>()?)
}

async fn place(
    tx: &mut Transaction<'static, Any>,
    section: SectionId,
    ids: &[i64],
) -> StoreResult<()> {
    for (n, id) in (0_i64..).zip(ids) {
        sqlx::query("UPDATE activities SET section_id = $2, position = $3 WHERE id = $1")
            .bind(*id)
            .bind(section.0)
            .bind(n)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Appends an activity to its section inside a transaction (the section is already checked).
pub(crate) async fn append(conn: &mut AnyConnection, new: &NewActivity) -> StoreResult<ActivityId> {
    let id: i64 = sqlx::query(
        "INSERT INTO activities (course_id, section_id, position, module, name, intro, visible, payload)
         SELECT $1, $2, COALESCE(MAX(position), -1) + 1, $3, $4, $5, $6, $7
         FROM activities WHERE section_id = $2
         RETURNING id",
    )
    .bind(new.course.0)
    .bind(new.section.0)
    .bind(&new.module)
    .bind(&new.name)
    .bind(&new.intro)
    .bind(flag(new.visible))
    .bind(json_text(&new.payload))
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .next()
    .ok_or(sqlx::Error::RowNotFound)?
    .try_get(0)?;
    Ok(ActivityId(id))
}

impl Store {
    /// Appends an activity at the end of its section.
    pub async fn add_activity(&self, new: NewActivity) -> StoreResult<ActivityId> {
        let mut tx = self.write_tx().await?;
        check_section(&mut tx, new.course, new.section).await?;
        let id = append(&mut tx, &new).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The activities of a course, in section then position order.
    pub async fn activities(&self, course: CourseId) -> StoreResult<Vec<ActivityRecord>> {
        let rows = sqlx::query(&format!(
            "{SELECT} WHERE a.course_id = $1 ORDER BY s.number, a.position, a.id"
        ))
        .bind(course.0)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// One activity.
    pub async fn activity(&self, id: ActivityId) -> StoreResult<ActivityRecord> {
        let row = sqlx::query(&format!("{SELECT} WHERE a.id = $1"))
            .bind(id.0)
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::not_found(format!("activity {id}")))?;
        from_row(&row)
    }

    /// Changes an activity; `None` keeps the current value.
    pub async fn update_activity(
        &self,
        id: ActivityId,
        name: Option<String>,
        intro: Option<String>,
        visible: Option<bool>,
        payload: Option<serde_json::Value>,
    ) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE activities SET name = COALESCE($2, name), intro = COALESCE($3, intro),
                    visible = COALESCE($4, visible), payload = COALESCE($5, payload)
             WHERE id = $1",
        )
        .bind(id.0)
        .bind(name)
        .bind(intro)
        .bind(visible.map(flag))
        .bind(payload.as_ref().map(json_text))
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("activity {id}")));
        }
        Ok(())
    }

    /// Moves an activity to `position` (from 0, clamped) in `section` of the same course.
    pub async fn move_activity(
        &self,
        id: ActivityId,
        section: SectionId,
        position: i64,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query("SELECT course_id, section_id FROM activities WHERE id = $1")
            .bind(id.0)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::not_found(format!("activity {id}")))?;
        let course = CourseId(row.try_get("course_id")?);
        let from = SectionId(row.try_get("section_id")?);
        check_section(&mut tx, course, section).await?;
        let mut old = positions(&mut tx, from).await?;
        old.retain(|a| *a != id.0);
        place(&mut tx, from, &old).await?;
        let mut new = positions(&mut tx, section).await?;
        new.retain(|a| *a != id.0);
        let at = usize::try_from(position.max(0))
            .unwrap_or(usize::MAX)
            .min(new.len());
        new.insert(at, id.0);
        place(&mut tx, section, &new).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes an activity and its file rows.
    pub async fn delete_activity(&self, id: ActivityId) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM activities WHERE id = $1")
            .bind(id.0)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("activity {id}")));
        }
        Ok(())
    }
}
