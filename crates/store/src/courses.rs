//! Courses: creation (interactive names are refused when taken, arriving names are renumbered),
//! listing, editing, and the 30-day trash.

use crate::error::{classify, on_write, DbFailure};
use crate::{flag, get_flag, json_text, unix_now, Store, StoreError, StoreResult};
use pf_domain::course::{arrival_shortname, Fullname, IdNumber, Shortname};
use pf_domain::ids::{CategoryId, CourseId};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Connection, Row, Transaction};
use std::collections::HashSet;

/// A course to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCourse {
    /// Its category (must exist).
    pub category: CategoryId,
    /// Full name.
    pub fullname: Fullname,
    /// Short name, unique on the platform.
    pub shortname: Shortname,
    /// Learning-path key; not unique, may be empty.
    pub idnumber: IdNumber,
    /// Summary (HTML as authored; sanitised when shown).
    pub summary: String,
    /// Course format (`topics`, `weeks`…).
    pub format: String,
    /// Start date, unix seconds.
    pub start_date: i64,
    /// End date, unix seconds (0: none).
    pub end_date: i64,
    /// Forced language, or empty.
    pub lang: String,
    /// Visible to students.
    pub visible: bool,
    /// Guests (visitors not logged in) may consult it.
    pub guest_access: bool,
    /// The archive layer's opaque document for lossless re-export, stored as JSON text.
    pub archive_payload: Option<serde_json::Value>,
}

/// A stored course.
#[derive(Debug, Clone, PartialEq)]
pub struct CourseRecord {
    /// Id.
    pub id: CourseId,
    /// Category.
    pub category: CategoryId,
    /// Full name.
    pub fullname: Fullname,
    /// Short name.
    pub shortname: Shortname,
    /// Idnumber.
    pub idnumber: IdNumber,
    /// Summary.
    pub summary: String,
    /// Format.
    pub format: String,
    /// Start date, unix seconds.
    pub start_date: i64,
    /// End date, unix seconds.
    pub end_date: i64,
    /// Forced language, or empty.
    pub lang: String,
    /// Visible to students.
    pub visible: bool,
    /// Guest access granted.
    pub guest_access: bool,
    /// Created, unix seconds.
    pub created_at: i64,
    /// Last changed, unix seconds.
    pub updated_at: i64,
    /// When it was moved to the trash, if it is there.
    pub deleted_at: Option<i64>,
}

/// Changes to a course; `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CourseUpdate {
    /// Move to another category.
    pub category: Option<CategoryId>,
    /// New full name.
    pub fullname: Option<Fullname>,
    /// New short name (refused when taken).
    pub shortname: Option<Shortname>,
    /// New idnumber.
    pub idnumber: Option<IdNumber>,
    /// New summary.
    pub summary: Option<String>,
    /// New format.
    pub format: Option<String>,
    /// New start date.
    pub start_date: Option<i64>,
    /// New end date.
    pub end_date: Option<i64>,
    /// New forced language.
    pub lang: Option<String>,
    /// New visibility.
    pub visible: Option<bool>,
    /// Grant or withdraw guest access.
    pub guest_access: Option<bool>,
    /// Replace the archive document (`Some(None)` drops it).
    pub archive_payload: Option<Option<serde_json::Value>>,
}

/// Which courses to list: never the trashed ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourseQuery {
    /// Only this category (not its subcategories).
    pub category: Option<CategoryId>,
    /// Include courses hidden from students.
    pub include_hidden: bool,
    /// Skip this many.
    pub offset: i64,
    /// At most this many.
    pub limit: i64,
}

impl Default for CourseQuery {
    fn default() -> Self {
        CourseQuery {
            category: None,
            include_hidden: true,
            offset: 0,
            limit: 1000,
        }
    }
}

/// A course row without its archive payload: it grows with the course (tens of megabytes of
/// JSON for one with tens of thousands of files), so only [`Store::course_payload`] reads it.
pub(crate) const COLUMNS: &str =
    "id, category_id, fullname, shortname, idnumber, summary, format, start_date, end_date, \
                       lang, visible, guest_access, created_at, updated_at, deleted_at";

pub(crate) fn from_row(row: &AnyRow) -> StoreResult<CourseRecord> {
    let id = CourseId(row.try_get("id")?);
    let bad = |field: &str| StoreError::corrupt(format!("{field} of course {id}"));
    Ok(CourseRecord {
        id,
        category: CategoryId(row.try_get("category_id")?),
        fullname: Fullname::parse(&row.try_get::<String, _>("fullname")?)
            .map_err(|_| bad("full name"))?,
        shortname: Shortname::parse(&row.try_get::<String, _>("shortname")?)
            .map_err(|_| bad("short name"))?,
        idnumber: IdNumber::parse(&row.try_get::<String, _>("idnumber")?)
            .map_err(|_| bad("idnumber"))?,
        summary: row.try_get("summary")?,
        format: row.try_get("format")?,
        start_date: row.try_get("start_date")?,
        end_date: row.try_get("end_date")?,
        lang: row.try_get("lang")?,
        visible: get_flag(row, "visible")?,
        guest_access: get_flag(row, "guest_access")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        deleted_at: row.try_get("deleted_at")?,
    })
}

fn taken(name: &str) -> String {
    format!("short name '{name}' is already taken")
}

/// `LIKE` pattern matching `prefix` literally, followed by anything.
fn like_prefix(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

async fn insert(
    conn: &mut AnyConnection,
    new: &NewCourse,
    shortname: &Shortname,
) -> Result<i64, sqlx::Error> {
    let now = unix_now();
    sqlx::query(
        "INSERT INTO courses (category_id, fullname, shortname, idnumber, summary, format, start_date, end_date,
                              lang, visible, guest_access, archive_payload, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) RETURNING id",
    )
    .bind(new.category.0)
    .bind(new.fullname.as_str())
    .bind(shortname.as_str())
    .bind(new.idnumber.as_str())
    .bind(&new.summary)
    .bind(&new.format)
    .bind(new.start_date)
    .bind(new.end_date)
    .bind(&new.lang)
    .bind(flag(new.visible))
    .bind(flag(new.guest_access))
    .bind(new.archive_payload.as_ref().map(json_text))
    .bind(now)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .next()
    .ok_or(sqlx::Error::RowNotFound)?
    .try_get(0)
}

/// Allocates the arrival name and inserts the course inside `tx`, retrying (under a savepoint)
/// when a concurrent transaction took the name first.
pub(crate) async fn insert_arrival(
    tx: &mut Transaction<'static, Any>,
    new: &NewCourse,
) -> StoreResult<(CourseId, Shortname)> {
    let stem: String = new.shortname.as_str().chars().take(240).collect();
    for _ in 0..100 {
        let rows = sqlx::query("SELECT shortname FROM courses WHERE shortname LIKE $1 ESCAPE '\\'")
            .bind(like_prefix(&stem))
            .fetch_all(&mut **tx)
            .await?;
        let used: HashSet<String> = rows
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<Result<_, _>>()?;
        let name = arrival_shortname(&new.shortname, |c| used.contains(c.as_str()));
        let mut attempt = Connection::begin(&mut **tx).await?;
        match insert(&mut attempt, new, &name).await {
            Ok(id) => {
                attempt.commit().await?;
                return Ok((CourseId(id), name));
            }
            Err(e) if classify(&e) == DbFailure::Unique => attempt.rollback().await?,
            Err(e) => {
                return Err(on_write(
                    e,
                    || taken(name.as_str()),
                    || format!("category {}", new.category),
                ))
            }
        }
    }
    Err(StoreError::conflict(format!(
        "no free short name for '{}'",
        new.shortname
    )))
}

impl Store {
    /// Creates a course interactively: a taken short name is refused (`Conflict`).
    pub async fn create_course(&self, new: NewCourse) -> StoreResult<CourseId> {
        let mut tx = self.write_tx().await?;
        let id = insert(&mut tx, &new, &new.shortname).await.map_err(|e| {
            on_write(
                e,
                || taken(new.shortname.as_str()),
                || format!("category {}", new.category),
            )
        })?;
        tx.commit().await?;
        Ok(CourseId(id))
    }

    /// Creates an arriving course (import, publish, deploy, retrofit): keeps the short name if
    /// free, else takes the first free `NAME_1`, `NAME_2`… Safe under concurrency.
    pub async fn create_course_arrival(
        &self,
        new: NewCourse,
    ) -> StoreResult<(CourseId, Shortname)> {
        let mut tx = self.write_tx().await?;
        let out = insert_arrival(&mut tx, &new).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// A course that is not in the trash.
    pub async fn course(&self, id: CourseId) -> StoreResult<CourseRecord> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM courses WHERE id = $1 AND deleted_at IS NULL"
        ))
        .bind(id.0)
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::not_found(format!("course {id}")))?;
        from_row(&row)
    }

    /// A course that is not in the trash, by short name.
    pub async fn course_by_shortname(&self, shortname: &str) -> StoreResult<CourseRecord> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM courses WHERE shortname = $1 AND deleted_at IS NULL"
        ))
        .bind(shortname)
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::not_found(format!("course '{shortname}'")))?;
        from_row(&row)
    }

    /// The archive payload of a course, in the trash or not (`None`: natively authored), read as
    /// `T` — a type with only the fields the caller needs keeps a large payload cheap to read.
    pub async fn course_payload<T: serde::de::DeserializeOwned>(
        &self,
        id: CourseId,
    ) -> StoreResult<Option<T>> {
        let rows = sqlx::query("SELECT archive_payload FROM courses WHERE id = $1")
            .bind(id.0)
            .fetch_all(self.pool())
            .await?;
        let row = rows
            .first()
            .ok_or_else(|| StoreError::not_found(format!("course {id}")))?;
        let payload: Option<String> = row.try_get("archive_payload")?;
        payload
            .map(|p| {
                serde_json::from_str(&p)
                    .map_err(|_| StoreError::corrupt(format!("archive payload of course {id}")))
            })
            .transpose()
    }

    /// Courses outside the trash, by id.
    pub async fn courses(&self, query: CourseQuery) -> StoreResult<Vec<CourseRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM courses
             WHERE deleted_at IS NULL AND ($1 IS NULL OR category_id = $1) AND ($2 = 1 OR visible = 1)
             ORDER BY id LIMIT $3 OFFSET $4"
        ))
        .bind(query.category.map(|c| c.0))
        .bind(flag(query.include_hidden))
        .bind(query.limit.max(0))
        .bind(query.offset.max(0))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// How many courses [`Store::courses`] would list without offset and limit.
    pub async fn count_courses(&self, query: CourseQuery) -> StoreResult<i64> {
        Ok(sqlx::query(
            "SELECT COUNT(*) FROM courses
             WHERE deleted_at IS NULL AND ($1 IS NULL OR category_id = $1) AND ($2 = 1 OR visible = 1)",
        )
        .bind(query.category.map(|c| c.0))
        .bind(flag(query.include_hidden))
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .next()
        .ok_or(sqlx::Error::RowNotFound)?
        .try_get(0)?)
    }

    /// Changes a course outside the trash; a taken short name is refused (`Conflict`).
    pub async fn update_course(&self, id: CourseId, update: CourseUpdate) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM courses WHERE id = $1 AND deleted_at IS NULL"
        ))
        .bind(id.0)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::not_found(format!("course {id}")))?;
        let cur = from_row(&row)?;
        let shortname = update.shortname.unwrap_or(cur.shortname);
        let category = update.category.unwrap_or(cur.category);
        // The payload is written only when replaced (it is never read back here).
        let replace_payload = update.archive_payload.is_some();
        let payload = update.archive_payload.flatten();
        sqlx::query(
            "UPDATE courses SET category_id = $2, fullname = $3, shortname = $4, idnumber = $5, summary = $6,
                    format = $7, start_date = $8, end_date = $9, lang = $10, visible = $11, guest_access = $12,
                    archive_payload = CASE WHEN $15 = 1 THEN $13 ELSE archive_payload END, updated_at = $14
             WHERE id = $1",
        )
        .bind(id.0)
        .bind(category.0)
        .bind(update.fullname.unwrap_or(cur.fullname).as_str().to_string())
        .bind(shortname.as_str())
        .bind(update.idnumber.unwrap_or(cur.idnumber).as_str().to_string())
        .bind(update.summary.unwrap_or(cur.summary))
        .bind(update.format.unwrap_or(cur.format))
        .bind(update.start_date.unwrap_or(cur.start_date))
        .bind(update.end_date.unwrap_or(cur.end_date))
        .bind(update.lang.unwrap_or(cur.lang))
        .bind(flag(update.visible.unwrap_or(cur.visible)))
        .bind(flag(update.guest_access.unwrap_or(cur.guest_access)))
        .bind(payload.as_ref().map(json_text))
        .bind(unix_now())
        .bind(flag(replace_payload))
        .execute(&mut *tx)
        .await
        .map_err(|e| on_write(e, || taken(shortname.as_str()), || format!("category {category}")))?;
        tx.commit().await?;
        Ok(())
    }
}
