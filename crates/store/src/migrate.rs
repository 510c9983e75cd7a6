//! A small migration runner: each backend lists its own SQL files, applied in order, each in the
//! same transaction as its row in `schema_migrations`. Running it again changes nothing.
//!
//! Applying version 1 also seeds the capability table with
//! [`RoleCapabilities::defaults`](pf_domain::access::RoleCapabilities::defaults), so admins start
//! from SPEC §4 and their later edits are never overwritten.

use crate::{unix_now, Backend, Store, StoreError, StoreResult};
use pf_domain::access::RoleCapabilities;
use sqlx::{Executor, Row};

/// One schema change.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Increasing from 1, never reused.
    pub version: i64,
    /// A short name, recorded with the version.
    pub name: &'static str,
    /// The statements (several, separated by `;`).
    pub sql: &'static str,
}

/// The migrations of a backend.
pub fn migrations(backend: Backend) -> &'static [Migration] {
    match backend {
        Backend::Sqlite => crate::sqlite::MIGRATIONS,
        Backend::Postgres => crate::postgres::MIGRATIONS,
    }
}

/// Applies every migration the database lacks; returns how many were applied.
pub async fn run(store: &Store) -> StoreResult<usize> {
    store
        .pool()
        .execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version    BIGINT PRIMARY KEY NOT NULL,
                name       TEXT NOT NULL,
                applied_at BIGINT NOT NULL
            )",
        )
        .await?;

    let mut tx = store.write_tx().await?;
    if store.backend() == Backend::Postgres {
        // Replicas starting together: one applies, the others wait and then find nothing to do.
        (&mut *tx)
            .execute("LOCK TABLE schema_migrations IN EXCLUSIVE MODE")
            .await?;
    }
    let rows = sqlx::query("SELECT version FROM schema_migrations")
        .fetch_all(&mut *tx)
        .await?;
    let applied: Vec<i64> = rows
        .iter()
        .map(|r| r.try_get::<i64, _>(0))
        .collect::<Result<_, _>>()?;
    let known = migrations(store.backend());
    if let Some(newer) = applied
        .iter()
        .find(|v| !known.iter().any(|m| m.version == **v))
    {
        return Err(StoreError::Invalid(format!(
            "the database has schema version {newer}, which this publishflow does not know; upgrade publishflow"
        )));
    }
    let mut count = 0;
    for m in known.iter().filter(|m| !applied.contains(&m.version)) {
        // A string without arguments runs unprepared, so a file may hold several statements.
        (&mut *tx).execute(m.sql).await?;
        if m.version == 1 {
            for (role, cap) in RoleCapabilities::defaults().pairs() {
                sqlx::query("INSERT INTO role_capabilities (role, capability) VALUES ($1, $2)")
                    .bind(role.as_str())
                    .bind(cap.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(unix_now())
        .execute(&mut *tx)
        .await?;
        count += 1;
    }
    tx.commit().await?;
    Ok(count)
}

/// The versions recorded in `schema_migrations`, in order.
pub async fn applied_versions(store: &Store) -> StoreResult<Vec<i64>> {
    let rows = sqlx::query("SELECT version FROM schema_migrations ORDER BY version")
        .fetch_all(store.pool())
        .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get::<i64, _>(0))
        .collect::<Result<_, _>>()?)
}
