//! Platform settings: a small key/value table (platform role, name, landing categories…).

use crate::{Store, StoreResult};
use sqlx::Row;

impl Store {
    /// The value of a setting, if set.
    pub async fn setting(&self, key: &str) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .next();
        Ok(row.map(|r| r.try_get::<String, _>(0)).transpose()?)
    }

    /// Sets (or replaces) a setting.
    pub async fn set_setting(&self, key: &str, value: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Every setting, by key.
    pub async fn settings(&self) -> StoreResult<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT key, value FROM settings ORDER BY key")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?)))
            .collect()
    }
}
