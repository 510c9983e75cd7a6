//! What the network layer keeps besides the peers: pairing codes (SPEC §6.1), request nonces
//! (SPEC §6.3) and explicit identity links (SPEC §5.9).
//!
//! Pairing codes are stored as their digest; the code-derived proof key is a secret column that
//! is cleared as soon as the code is used, revoked or found expired. Nonces are recorded with a
//! unique key, so a replay loses the race even between replicas sharing the database.
//!
//! Reads here use `fetch_all` rather than `fetch_optional`/`fetch_one`: on SQLite, sqlx resets a
//! statement whose stream was dropped early only later, on its worker thread (sqlx #2543); until
//! then the connection pins an old WAL snapshot (stale reads, immediate `SQLITE_BUSY` on write).

use crate::error::{classify, DbFailure};
use crate::{Store, StoreError, StoreResult};
use pf_domain::ids::{PeerId, UserId};
use pf_domain::user::Username;
use sqlx::Row;

/// Failed attempts after which a pairing code is revoked.
pub const MAX_PAIRING_FAILURES: i64 = 5;

/// A pairing code that can still be redeemed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivePairingCode {
    /// The code's digest (its id).
    pub digest: String,
    /// The proof key (hex; secret).
    pub proof_key: String,
    /// Expiry, unix seconds.
    pub expires_at: i64,
}

impl Store {
    /// Stores a new pairing code; purges spent and expired ones on the way.
    pub async fn create_pairing_code(
        &self,
        digest: &str,
        proof_key: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        self.purge_pairing_codes(now).await?;
        sqlx::query(
            "INSERT INTO pairing_codes (digest, proof_key, created_at, expires_at, failed_attempts)
             VALUES ($1, $2, $3, $4, 0)",
        )
        .bind(digest)
        .bind(proof_key)
        .bind(now)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Clears the proof key of every code that expired, and forgets codes spent long ago.
    pub async fn purge_pairing_codes(&self, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE pairing_codes SET proof_key = NULL WHERE expires_at <= $1")
            .bind(now)
            .execute(self.pool())
            .await?;
        sqlx::query("DELETE FROM pairing_codes WHERE expires_at <= $1")
            .bind(now - 86_400)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The code with this digest, if it is unused, unexpired and not revoked.
    pub async fn live_pairing_code(
        &self,
        digest: &str,
        now: i64,
    ) -> StoreResult<Option<LivePairingCode>> {
        let row = sqlx::query(
            "SELECT digest, proof_key, expires_at FROM pairing_codes
             WHERE digest = $1 AND used_at IS NULL AND proof_key IS NOT NULL
               AND expires_at > $2 AND failed_attempts < $3",
        )
        .bind(digest)
        .bind(now)
        .bind(MAX_PAIRING_FAILURES)
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .next();
        row.map(|r| {
            Ok(LivePairingCode {
                digest: r.try_get("digest")?,
                proof_key: r.try_get("proof_key")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    /// Counts a failed attempt; at the fifth the code is revoked (its proof key cleared).
    /// Returns the attempts counted so far.
    pub async fn fail_pairing_code(&self, digest: &str) -> StoreResult<i64> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "UPDATE pairing_codes SET failed_attempts = failed_attempts + 1 WHERE digest = $1",
        )
        .bind(digest)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE pairing_codes SET proof_key = NULL WHERE digest = $1 AND failed_attempts >= $2",
        )
        .bind(digest)
        .bind(MAX_PAIRING_FAILURES)
        .execute(&mut *tx)
        .await?;
        let n: Option<i64> =
            sqlx::query("SELECT failed_attempts FROM pairing_codes WHERE digest = $1")
                .bind(digest)
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .next()
                .map(|r| r.try_get(0))
                .transpose()?;
        tx.commit().await?;
        Ok(n.unwrap_or(0))
    }

    /// Spends a live code (single use): returns false when it was used, revoked or expired in
    /// the meantime. The proof key is cleared.
    pub async fn use_pairing_code(&self, digest: &str, now: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE pairing_codes SET used_at = $1, proof_key = NULL
             WHERE digest = $2 AND used_at IS NULL AND proof_key IS NOT NULL
               AND expires_at > $1 AND failed_attempts < $3",
        )
        .bind(now)
        .bind(digest)
        .bind(MAX_PAIRING_FAILURES)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a request nonce until `expires_at`. Returns false when `(caller, nonce)` was
    /// already recorded and is still kept: the request is a replay. Purges expired nonces.
    pub async fn record_nonce(
        &self,
        caller: &str,
        nonce: &str,
        expires_at: i64,
        now: i64,
    ) -> StoreResult<bool> {
        sqlx::query("DELETE FROM rpc_nonces WHERE expires_at < $1")
            .bind(now)
            .execute(self.pool())
            .await?;
        let inserted =
            sqlx::query("INSERT INTO rpc_nonces (caller, nonce, expires_at) VALUES ($1, $2, $3)")
                .bind(caller)
                .bind(nonce)
                .bind(expires_at)
                .execute(self.pool())
                .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(e) if classify(&e) == DbFailure::Unique => Ok(false),
            Err(e) => Err(StoreError::Backend(e)),
        }
    }

    /// Links a remote identity (username, home peer) to a local account, explicitly.
    pub async fn link_identity(
        &self,
        username: &Username,
        peer: PeerId,
        user: UserId,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO identity_links (username, peer_id, user_id, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (username, peer_id) DO UPDATE SET user_id = $3, created_at = $4",
        )
        .bind(username.as_str())
        .bind(peer.0)
        .bind(user.0)
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(|e| crate::error::on_write(e, || "identity link".into(), || "peer or user".into()))?;
        Ok(())
    }

    /// The local account an admin linked to (username, home peer), if any.
    pub async fn linked_user(
        &self,
        username: &Username,
        peer: PeerId,
    ) -> StoreResult<Option<UserId>> {
        let row =
            sqlx::query("SELECT user_id FROM identity_links WHERE username = $1 AND peer_id = $2")
                .bind(username.as_str())
                .bind(peer.0)
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .next();
        Ok(row.map(|r| r.try_get(0)).transpose()?.map(UserId))
    }
}
