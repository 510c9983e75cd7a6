//! The category tree: idnumbers unique when set, no cycles, only empty categories are deleted.

use crate::error::on_write;
use crate::{flag, get_flag, Store, StoreError, StoreResult};
use pf_domain::category::{would_cycle, Category};
use pf_domain::ids::CategoryId;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

/// A category to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCategory {
    /// The parent, or `None` for a top-level category.
    pub parent: Option<CategoryId>,
    /// Display name (already validated by `parse_category_name`).
    pub name: String,
    /// Empty, or unique among categories.
    pub idnumber: String,
    /// Shown to people without `course:viewhidden`.
    pub visible: bool,
}

/// Changes to a category; `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CategoryUpdate {
    /// New name.
    pub name: Option<String>,
    /// New idnumber (empty clears it).
    pub idnumber: Option<String>,
    /// New parent: `Some(None)` moves the category to the top level.
    pub parent: Option<Option<CategoryId>>,
    /// New visibility.
    pub visible: Option<bool>,
}

const COLUMNS: &str = "id, parent_id, name, idnumber, visible, sort_order";

fn from_row(row: &AnyRow) -> StoreResult<Category> {
    Ok(Category {
        id: CategoryId(row.try_get("id")?),
        parent: row.try_get::<Option<i64>, _>("parent_id")?.map(CategoryId),
        name: row.try_get("name")?,
        idnumber: row.try_get("idnumber")?,
        visible: get_flag(row, "visible")?,
        sort_order: row.try_get("sort_order")?,
    })
}

fn idnumber_taken(idnumber: &str) -> String {
    format!("category idnumber '{idnumber}' is already used")
}

async fn all_in(tx: &mut Transaction<'static, Any>) -> StoreResult<Vec<Category>> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM categories"))
        .fetch_all(&mut **tx)
        .await?;
    rows.iter().map(from_row).collect()
}

impl Store {
    /// Creates a category at the end of its siblings.
    pub async fn create_category(&self, new: NewCategory) -> StoreResult<CategoryId> {
        let mut tx = self.write_tx().await?;
        if let Some(parent) = new.parent {
            let exists = sqlx::query("SELECT id FROM categories WHERE id = $1")
                .bind(parent.0)
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .next();
            if exists.is_none() {
                return Err(StoreError::not_found(format!("category {parent}")));
            }
        }
        let next: i64 = sqlx::query(
            "SELECT COALESCE(MAX(sort_order), 0) + 1 FROM categories
             WHERE ($1 IS NULL AND parent_id IS NULL) OR parent_id = $1",
        )
        .bind(new.parent.map(|p| p.0))
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .next()
        .ok_or(sqlx::Error::RowNotFound)?
        .try_get(0)?;
        let id: i64 = sqlx::query(
            "INSERT INTO categories (parent_id, name, idnumber, visible, sort_order)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(new.parent.map(|p| p.0))
        .bind(&new.name)
        .bind(&new.idnumber)
        .bind(flag(new.visible))
        .bind(next)
        .fetch_all(&mut *tx)
        .await
        .and_then(|rows| rows.into_iter().next().ok_or(sqlx::Error::RowNotFound))
        .map_err(|e| {
            on_write(
                e,
                || idnumber_taken(&new.idnumber),
                || "parent category".into(),
            )
        })?
        .try_get(0)?;
        tx.commit().await?;
        Ok(CategoryId(id))
    }

    /// Every category (use `pf_domain::category::flatten_tree` to show them as a tree).
    pub async fn categories(&self) -> StoreResult<Vec<Category>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM categories ORDER BY sort_order, id"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// One category.
    pub async fn category(&self, id: CategoryId) -> StoreResult<Category> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM categories WHERE id = $1"))
            .bind(id.0)
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::not_found(format!("category {id}")))?;
        from_row(&row)
    }

    /// Changes a category; moving it below itself or one of its descendants is refused.
    pub async fn update_category(&self, id: CategoryId, update: CategoryUpdate) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        let all = all_in(&mut tx).await?;
        let current = all
            .iter()
            .find(|c| c.id == id)
            .cloned()
            .ok_or_else(|| StoreError::not_found(format!("category {id}")))?;
        let parent = match update.parent {
            None => current.parent,
            Some(None) => None,
            Some(Some(p)) => {
                if !all.iter().any(|c| c.id == p) {
                    return Err(StoreError::not_found(format!("category {p}")));
                }
                if would_cycle(&all, id, p) {
                    return Err(StoreError::Invalid(format!(
                        "category {id} cannot move below itself or one of its subcategories"
                    )));
                }
                Some(p)
            }
        };
        // A category that changes parent goes to the end of its new siblings.
        let sort_order = if parent == current.parent {
            current.sort_order
        } else {
            all.iter()
                .filter(|c| c.parent == parent && c.id != id)
                .map(|c| c.sort_order)
                .max()
                .unwrap_or(0)
                + 1
        };
        let name = update.name.unwrap_or(current.name);
        let idnumber = update.idnumber.unwrap_or(current.idnumber);
        let visible = update.visible.unwrap_or(current.visible);
        sqlx::query(
            "UPDATE categories SET parent_id = $2, name = $3, idnumber = $4, visible = $5, sort_order = $6 WHERE id = $1",
        )
        .bind(id.0)
            .bind(parent.map(|p| p.0))
            .bind(&name)
            .bind(&idnumber)
            .bind(flag(visible))
            .bind(sort_order)
            .execute(&mut *tx)
            .await
            .map_err(|e| on_write(e, || idnumber_taken(&idnumber), || "parent category".into()))?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes an empty category (no subcategory, no course — trashed courses count).
    pub async fn delete_category(&self, id: CategoryId) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        let children: i64 = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM categories WHERE parent_id = $1)
                  + (SELECT COUNT(*) FROM courses WHERE category_id = $1)",
        )
        .bind(id.0)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .next()
        .ok_or(sqlx::Error::RowNotFound)?
        .try_get(0)?;
        if children > 0 {
            return Err(StoreError::conflict(format!(
                "category {id} is not empty: move or delete its subcategories and courses first"
            )));
        }
        let done = sqlx::query("DELETE FROM categories WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("category {id}")));
        }
        tx.commit().await?;
        Ok(())
    }
}
