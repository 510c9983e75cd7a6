//! Web sessions, the failed-login throttle and API tokens.
//!
//! Session ids and tokens are stored only as hashes (the server hashes them); lookups of expired
//! sessions, and of expired or revoked tokens, find nothing.

use crate::error::on_write;
use crate::{unix_now, Store, StoreError, StoreResult};
use pf_domain::ids::UserId;
use sqlx::any::AnyRow;
use sqlx::Row;

/// A web session to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// Hash of the cookie's session id.
    pub id_hash: String,
    /// The logged-in user.
    pub user: UserId,
    /// The session's CSRF token.
    pub csrf_token: String,
    /// Created, unix seconds.
    pub created_at: i64,
    /// Expires, unix seconds.
    pub expires_at: i64,
    /// Language chosen for the session, if any.
    pub lang: Option<String>,
}

/// A live web session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Hash of the session id.
    pub id_hash: String,
    /// The user.
    pub user: UserId,
    /// CSRF token.
    pub csrf_token: String,
    /// Created, unix seconds.
    pub created_at: i64,
    /// Expires, unix seconds.
    pub expires_at: i64,
    /// Language chosen for the session.
    pub lang: Option<String>,
}

/// An API token to record (its secret shown once, stored hashed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    /// Owner.
    pub user: UserId,
    /// A name the owner gave it.
    pub name: String,
    /// Hash of the secret.
    pub token_hash: String,
    /// Created, unix seconds.
    pub created_at: i64,
    /// Expires, unix seconds.
    pub expires_at: i64,
}

/// A stored API token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Id.
    pub id: i64,
    /// Owner.
    pub user: UserId,
    /// Name.
    pub name: String,
    /// Created, unix seconds.
    pub created_at: i64,
    /// Expires, unix seconds.
    pub expires_at: i64,
    /// Revoked at, unix seconds.
    pub revoked_at: Option<i64>,
}

fn session_from_row(r: &AnyRow) -> StoreResult<SessionRecord> {
    Ok(SessionRecord {
        id_hash: r.try_get("id_hash")?,
        user: UserId(r.try_get("user_id")?),
        csrf_token: r.try_get("csrf_token")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        lang: r.try_get("lang")?,
    })
}

fn token_from_row(r: &AnyRow) -> StoreResult<TokenRecord> {
    Ok(TokenRecord {
        id: r.try_get("id")?,
        user: UserId(r.try_get("user_id")?),
        name: r.try_get("name")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

const TOKEN_COLUMNS: &str = "id, user_id, name, created_at, expires_at, revoked_at";

impl Store {
    /// Records a new session.
    pub async fn create_session(&self, new: NewSession) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at, lang)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&new.id_hash)
        .bind(new.user.0)
        .bind(&new.csrf_token)
        .bind(new.created_at)
        .bind(new.expires_at)
        .bind(new.lang.as_deref())
        .execute(self.pool())
        .await
        .map_err(|e| {
            on_write(
                e,
                || "session id already in use".into(),
                || format!("user {}", new.user),
            )
        })?;
        Ok(())
    }

    /// The live session with this id hash (an expired one is `None`).
    pub async fn session(&self, id_hash: &str) -> StoreResult<Option<SessionRecord>> {
        let row = sqlx::query(
            "SELECT id_hash, user_id, csrf_token, created_at, expires_at, lang FROM sessions
             WHERE id_hash = $1 AND expires_at > $2",
        )
        .bind(id_hash)
        .bind(unix_now())
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .next();
        row.as_ref().map(session_from_row).transpose()
    }

    /// Ends a session (logout); no error if it did not exist.
    pub async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Ends every session of a user (password change, account disabled); returns how many.
    pub async fn delete_user_sessions(&self, user: UserId) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user.0)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Deletes the sessions expired at `now`; returns how many.
    pub async fn delete_expired_sessions(&self, now: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Records a failed login for `key` (a username, an address…) at `at`.
    pub async fn record_failed_login(&self, key: &str, at: i64) -> StoreResult<()> {
        sqlx::query("INSERT INTO failed_logins (key, at) VALUES ($1, $2)")
            .bind(key)
            .bind(at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// How many failed logins `key` had at or after `since`.
    pub async fn failed_logins_since(&self, key: &str, since: i64) -> StoreResult<i64> {
        Ok(
            sqlx::query("SELECT COUNT(*) FROM failed_logins WHERE key = $1 AND at >= $2")
                .bind(key)
                .bind(since)
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .next()
                .ok_or(sqlx::Error::RowNotFound)?
                .try_get(0)?,
        )
    }

    /// Forgets the failed logins of `key` (after a successful login).
    pub async fn clear_failed_logins(&self, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM failed_logins WHERE key = $1")
            .bind(key)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Forgets every failed login before `before` (housekeeping); returns how many.
    pub async fn purge_failed_logins(&self, before: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM failed_logins WHERE at < $1")
            .bind(before)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Records an API token; returns its id.
    pub async fn create_token(&self, new: NewToken) -> StoreResult<i64> {
        Ok(sqlx::query(
            "INSERT INTO api_tokens (user_id, name, token_hash, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(new.user.0)
        .bind(&new.name)
        .bind(&new.token_hash)
        .bind(new.created_at)
        .bind(new.expires_at)
        .fetch_all(self.pool())
        .await
        .and_then(|rows| rows.into_iter().next().ok_or(sqlx::Error::RowNotFound))
        .map_err(|e| {
            on_write(
                e,
                || "token already exists".into(),
                || format!("user {}", new.user),
            )
        })?
        .try_get(0)?)
    }

    /// The usable token with this hash (expired or revoked: `None`).
    pub async fn token_by_hash(&self, token_hash: &str) -> StoreResult<Option<TokenRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2"
        ))
        .bind(token_hash)
        .bind(unix_now())
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .next();
        row.as_ref().map(token_from_row).transpose()
    }

    /// Every token of a user (revoked and expired ones too), newest first.
    pub async fn tokens(&self, user: UserId) -> StoreResult<Vec<TokenRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE user_id = $1 ORDER BY id DESC"
        ))
        .bind(user.0)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(token_from_row).collect()
    }

    /// One token, whatever its state.
    pub async fn token(&self, id: i64) -> StoreResult<TokenRecord> {
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1"
        ))
        .bind(id)
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::not_found(format!("token {id}")))?;
        token_from_row(&row)
    }

    /// Revokes a token (revoking it again changes nothing).
    pub async fn revoke_token(&self, id: i64) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
        )
        .bind(id)
        .bind(unix_now())
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("token {id}")));
        }
        Ok(())
    }
}
