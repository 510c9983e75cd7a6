//! Mutualisation (SPEC §8): used jump ids (single use, shared by replicas) and what a roaming
//! account carries besides its user row — when it was last seen, the delegation its home gave
//! at the last jump, and its profile values replaced as a whole at each jump.

use crate::error::{classify, DbFailure};
use crate::{Store, StoreError, StoreResult};
use pf_domain::ids::UserId;
use sqlx::Row;

/// The delegation kept with a roaming account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDelegation {
    /// The token, as the home signed it.
    pub token: String,
    /// Its id (for the audit log).
    pub id: String,
    /// Unix seconds.
    pub expires_at: i64,
}

impl Store {
    /// Records a jump id until `expires_at`. Returns false when it was already recorded (a
    /// replay). Forgets expired ids first.
    pub async fn record_jump(&self, id: &str, expires_at: i64, now: i64) -> StoreResult<bool> {
        sqlx::query("DELETE FROM used_jumps WHERE expires_at < $1")
            .bind(now)
            .execute(self.pool())
            .await?;
        let inserted = sqlx::query("INSERT INTO used_jumps (jump_id, expires_at) VALUES ($1, $2)")
            .bind(id)
            .bind(expires_at)
            .execute(self.pool())
            .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(e) if classify(&e) == DbFailure::Unique => Ok(false),
            Err(e) => Err(StoreError::Backend(e)),
        }
    }

    /// A jump of a roaming account: marks it seen at `now`, keeps the delegation (when given)
    /// and replaces its profile values with `values` — fields not defined here are defined as
    /// admin-managed — in one transaction.
    pub async fn roaming_jumped(
        &self,
        user: UserId,
        now: i64,
        delegation: Option<&StoredDelegation>,
        values: &[(String, String)],
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO roaming_presence (user_id, last_seen, delegation, delegation_id, delegation_expires)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (user_id) DO UPDATE SET last_seen = excluded.last_seen,
               delegation = excluded.delegation, delegation_id = excluded.delegation_id,
               delegation_expires = excluded.delegation_expires",
        )
        .bind(user.0)
        .bind(now)
        .bind(delegation.map(|d| d.token.clone()))
        .bind(delegation.map(|d| d.id.clone()))
        .bind(delegation.map(|d| d.expires_at))
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM profile_values WHERE user_id = $1")
            .bind(user.0)
            .execute(&mut *tx)
            .await?;
        for (key, value) in values {
            sqlx::query(
                "INSERT INTO profile_fields (key, editor) VALUES ($1, 'admin') ON CONFLICT (key) DO NOTHING",
            )
            .bind(key)
            .execute(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO profile_values (user_id, key, value) VALUES ($1, $2, $3)")
                .bind(user.0)
                .bind(key)
                .bind(value)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Marks a roaming account seen at `now` (e.g. a deploy made for it).
    pub async fn roaming_seen(&self, user: UserId, now: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO roaming_presence (user_id, last_seen) VALUES ($1, $2)
             ON CONFLICT (user_id) DO UPDATE SET last_seen = excluded.last_seen",
        )
        .bind(user.0)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The delegation kept with a roaming account, if any.
    pub async fn roaming_delegation(&self, user: UserId) -> StoreResult<Option<StoredDelegation>> {
        let rows = sqlx::query(
            "SELECT delegation, delegation_id, delegation_expires FROM roaming_presence WHERE user_id = $1",
        )
        .bind(user.0)
        .fetch_all(self.pool())
        .await?;
        let Some(r) = rows.first() else {
            return Ok(None);
        };
        let token: Option<String> = r.try_get(0)?;
        let id: Option<String> = r.try_get(1)?;
        let expires: Option<i64> = r.try_get(2)?;
        Ok(match (token, id, expires) {
            (Some(token), Some(id), Some(expires_at)) => Some(StoredDelegation {
                token,
                id,
                expires_at,
            }),
            _ => None,
        })
    }

    /// When a roaming account was last seen (unix seconds), if ever recorded.
    pub async fn roaming_last_seen(&self, user: UserId) -> StoreResult<Option<i64>> {
        let rows = sqlx::query("SELECT last_seen FROM roaming_presence WHERE user_id = $1")
            .bind(user.0)
            .fetch_all(self.pool())
            .await?;
        rows.first()
            .map(|r| Ok(r.try_get::<i64, _>(0)?))
            .transpose()
    }

    /// Deletes the roaming accounts last seen before `before` (their enrolments, sessions and
    /// profile values go with them); accounts never seen here by a jump are kept. Returns the
    /// usernames removed with their home peer id.
    pub async fn purge_roaming(&self, before: i64) -> StoreResult<Vec<(String, i64)>> {
        let mut tx = self.write_tx().await?;
        let rows = sqlx::query(
            "SELECT u.id, u.username, u.home_peer FROM users u JOIN roaming_presence r ON r.user_id = u.id
             WHERE u.home_peer IS NOT NULL AND r.last_seen < $1 ORDER BY u.id",
        )
        .bind(before)
        .fetch_all(&mut *tx)
        .await?;
        let mut gone = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: i64 = r.try_get(0)?;
            sqlx::query("DELETE FROM users WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            gone.push((r.try_get::<String, _>(1)?, r.try_get::<i64, _>(2)?));
        }
        tx.commit().await?;
        Ok(gone)
    }
}
