//! Catalog indexing (SPEC §5.1): idnumbers a catalog allocated and the descriptive metadata kept
//! with them. One row per idnumber; the primary key is what makes an allocation unique.

use crate::{Store, StoreResult};
use sqlx::any::AnyRow;
use sqlx::Row;

/// An idnumber's descriptive metadata, as recorded when it was allocated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexEntry {
    /// The allocated idnumber.
    pub idnumber: String,
    /// Key id of the platform that asked for it ('' when recorded locally).
    pub source: String,
    /// Authors, as given.
    pub authors: String,
    /// Licence (shown with the course and on the deploy form).
    pub licence: String,
    /// Terms a deployer must accept (empty: none).
    pub terms: String,
    /// Level.
    pub level: String,
    /// Discipline.
    pub discipline: String,
    /// Summary.
    pub summary: String,
    /// Unix seconds.
    pub created_at: i64,
}

fn entry_row(r: &AnyRow) -> StoreResult<IndexEntry> {
    Ok(IndexEntry {
        idnumber: r.try_get("idnumber")?,
        source: r.try_get("source")?,
        authors: r.try_get("authors")?,
        licence: r.try_get("licence")?,
        terms: r.try_get("terms")?,
        level: r.try_get("level")?,
        discipline: r.try_get("discipline")?,
        summary: r.try_get("summary")?,
        created_at: r.try_get("created_at")?,
    })
}

impl Store {
    /// Reserves `entry.idnumber` with its metadata unless it is taken — by another entry or by
    /// a course of this platform; answers whether it was reserved. One transaction.
    pub async fn reserve_index(&self, entry: &IndexEntry) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        let used = sqlx::query("SELECT id FROM courses WHERE idnumber = $1")
            .bind(&entry.idnumber)
            .fetch_all(&mut *tx)
            .await?;
        if !used.is_empty() {
            return Ok(false);
        }
        let done = insert(&mut tx, entry, false).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Records (or replaces) an idnumber's metadata, e.g. a factory's copy of what it sent.
    pub async fn put_index(&self, entry: &IndexEntry) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        insert(&mut tx, entry, true).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The metadata of an idnumber, if it was indexed here.
    pub async fn index_entry(&self, idnumber: &str) -> StoreResult<Option<IndexEntry>> {
        let rows = sqlx::query("SELECT * FROM course_index WHERE idnumber = $1")
            .bind(idnumber)
            .fetch_all(self.pool())
            .await?;
        rows.first().map(entry_row).transpose()
    }

    /// Every indexed idnumber's metadata (for searches), by idnumber.
    pub async fn index_entries(&self) -> StoreResult<Vec<IndexEntry>> {
        let rows = sqlx::query("SELECT * FROM course_index ORDER BY idnumber")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(entry_row).collect()
    }
}

async fn insert(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    e: &IndexEntry,
    replace: bool,
) -> StoreResult<bool> {
    let conflict = if replace {
        "ON CONFLICT (idnumber) DO UPDATE SET source = excluded.source, authors = excluded.authors,
         licence = excluded.licence, terms = excluded.terms, level = excluded.level,
         discipline = excluded.discipline, summary = excluded.summary"
    } else {
        "ON CONFLICT (idnumber) DO NOTHING"
    };
    let sql = format!(
        "INSERT INTO course_index (idnumber, source, authors, licence, terms, level, discipline,
             summary, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) {conflict}"
    );
    let done = sqlx::query(&sql)
        .bind(&e.idnumber)
        .bind(&e.source)
        .bind(&e.authors)
        .bind(&e.licence)
        .bind(&e.terms)
        .bind(&e.level)
        .bind(&e.discipline)
        .bind(&e.summary)
        .bind(e.created_at)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}
