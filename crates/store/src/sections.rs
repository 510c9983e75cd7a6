//! Course sections: numbered from 0 (the general section, always first), renumbered in one
//! transaction when one moves or goes.

use crate::error::on_write;
use crate::{flag, get_flag, get_json, json_text, Store, StoreError, StoreResult};
use pf_domain::ids::{CourseId, SectionId};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Row, Transaction};

/// A section to append to a course.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSection {
    /// The course.
    pub course: CourseId,
    /// Name (empty: the format's default name).
    pub name: String,
    /// Summary HTML.
    pub summary: String,
    /// Visible to students.
    pub visible: bool,
    /// The archive layer's remaining settings (`Null` when none).
    pub payload: serde_json::Value,
}

/// A stored section.
#[derive(Debug, Clone, PartialEq)]
pub struct SectionRecord {
    /// Id.
    pub id: SectionId,
    /// Its course.
    pub course: CourseId,
    /// Position in the course: 0 is the general section.
    pub number: i64,
    /// Name.
    pub name: String,
    /// Summary HTML.
    pub summary: String,
    /// Visible to students.
    pub visible: bool,
    /// The archive layer's remaining settings (`Null` when none).
    pub payload: serde_json::Value,
}

const COLUMNS: &str = "id, course_id, number, name, summary, visible, payload";

fn from_row(row: &AnyRow) -> StoreResult<SectionRecord> {
    Ok(SectionRecord {
        id: SectionId(row.try_get("id")?),
        course: CourseId(row.try_get("course_id")?),
        number: row.try_get("number")?,
        name: row.try_get("name")?,
        summary: row.try_get("summary")?,
        visible: get_flag(row, "visible")?,
        payload: get_json(row, "payload")?,
    })
}

async fn section_in(
    tx: &mut Transaction<'static, Any>,
    id: SectionId,
) -> StoreResult<SectionRecord> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM sections WHERE id = $1"))
        .bind(id.0)
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::not_found(format!("section {id}")))?;
    from_row(&row)
}

async fn ids_in_order(
    tx: &mut Transaction<'static, Any>,
    course: CourseId,
) -> StoreResult<Vec<i64>> {
    let rows = sqlx::query("SELECT id FROM sections WHERE course_id = $1 ORDER BY number")
        .bind(course.0)
        .fetch_all(&mut **tx)
        .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get::<i64, _>(0))
        .collect::<Result<_, _>>()?)
}

/// Gives `ids` the numbers 0, 1, 2… in two passes (through negative numbers) so the
/// (course, number) uniqueness holds after every statement.
async fn renumber(tx: &mut Transaction<'static, Any>, ids: &[i64]) -> StoreResult<()> {
    for (n, id) in (0_i64..).zip(ids) {
        sqlx::query("UPDATE sections SET number = $2 WHERE id = $1")
            .bind(*id)
            .bind(-n - 1)
            .execute(&mut **tx)
            .await?;
    }
    for id in ids {
        sqlx::query("UPDATE sections SET number = -number - 1 WHERE id = $1")
            .bind(*id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Appends a section inside a transaction.
pub(crate) async fn append(
    conn: &mut AnyConnection,
    new: &NewSection,
) -> StoreResult<SectionRecord> {
    let row = sqlx::query(&format!(
        "INSERT INTO sections (course_id, number, name, summary, visible, payload)
         SELECT $1, COALESCE(MAX(number), -1) + 1, $2, $3, $4, $5 FROM sections WHERE course_id = $1
         RETURNING {COLUMNS}"
    ))
    .bind(new.course.0)
    .bind(&new.name)
    .bind(&new.summary)
    .bind(flag(new.visible))
    .bind(json_text(&new.payload))
    .fetch_all(&mut *conn)
    .await
    .and_then(|rows| rows.into_iter().next().ok_or(sqlx::Error::RowNotFound))
    .map_err(|e| {
        on_write(
            e,
            || {
                format!(
                    "a section of course {} was added at the same time",
                    new.course
                )
            },
            || format!("course {}", new.course),
        )
    })?;
    from_row(&row)
}

impl Store {
    /// The sections of a course, by number.
    pub async fn sections(&self, course: CourseId) -> StoreResult<Vec<SectionRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM sections WHERE course_id = $1 ORDER BY number"
        ))
        .bind(course.0)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// One section.
    pub async fn section(&self, id: SectionId) -> StoreResult<SectionRecord> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM sections WHERE id = $1"))
            .bind(id.0)
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::not_found(format!("section {id}")))?;
        from_row(&row)
    }

    /// Appends a named section (the first section of a course is number 0, the general section).
    pub async fn add_section(
        &self,
        course: CourseId,
        name: &str,
        visible: bool,
    ) -> StoreResult<SectionRecord> {
        self.insert_section(NewSection {
            course,
            name: name.to_string(),
            summary: String::new(),
            visible,
            payload: serde_json::Value::Null,
        })
        .await
    }

    /// Appends a section with every field (used by imports).
    pub async fn insert_section(&self, new: NewSection) -> StoreResult<SectionRecord> {
        let mut tx = self.write_tx().await?;
        let out = append(&mut tx, &new).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Renames and/or shows or hides a section.
    pub async fn update_section(
        &self,
        id: SectionId,
        name: Option<String>,
        visible: Option<bool>,
    ) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE sections SET name = COALESCE($2, name), visible = COALESCE($3, visible) WHERE id = $1",
        )
        .bind(id.0)
        .bind(name)
        .bind(visible.map(flag))
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("section {id}")));
        }
        Ok(())
    }

    /// Moves a section to `new_number` (≥ 1: the general section stays first), shifting the others.
    pub async fn move_section(&self, id: SectionId, new_number: i64) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        let section = section_in(&mut tx, id).await?;
        let mut ids = ids_in_order(&mut tx, section.course).await?;
        let last = i64::try_from(ids.len()).unwrap_or(i64::MAX) - 1;
        if section.number == 0 || new_number < 1 || new_number > last {
            return Err(StoreError::Invalid(format!(
                "section {id} cannot move to position {new_number}: the general section stays first and positions go from 1 to {last}"
            )));
        }
        ids.retain(|s| *s != id.0);
        let at = usize::try_from(new_number)
            .unwrap_or(usize::MAX)
            .min(ids.len());
        ids.insert(at, id.0);
        renumber(&mut tx, &ids).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a section with its activities and their files, renumbering the ones after it.
    /// The general section (number 0) cannot be deleted.
    pub async fn delete_section(&self, id: SectionId) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        let section = section_in(&mut tx, id).await?;
        if section.number == 0 {
            return Err(StoreError::Invalid(
                "the general section (0) cannot be deleted".into(),
            ));
        }
        sqlx::query("DELETE FROM sections WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        let ids = ids_in_order(&mut tx, section.course).await?;
        renumber(&mut tx, &ids).await?;
        tx.commit().await?;
        Ok(())
    }
}
