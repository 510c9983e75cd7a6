//! User accounts and profile fields.
//!
//! Local usernames are unique; roaming accounts (home = a peer) are unique by (username, peer)
//! and never have a password. Password hashes are PHC strings made by the server (argon2); the
//! store only keeps them.

use crate::error::on_write;
use crate::{flag, get_flag, unix_now, Store, StoreError, StoreResult};
use pf_domain::ids::{PeerId, UserId};
use pf_domain::user::{FieldEditor, Home, Username};
use sqlx::any::AnyRow;
use sqlx::Row;

/// An account to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Username.
    pub username: Username,
    /// This platform or a peer (roaming account).
    pub home: Home,
    /// PHC string of the password hash; must be `None` for a roaming account.
    pub password_hash: Option<String>,
    /// E-mail address.
    pub email: String,
    /// Full name.
    pub fullname: String,
    /// Preferred language code, or empty.
    pub lang: String,
}

/// A stored account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Id.
    pub id: UserId,
    /// Username.
    pub username: Username,
    /// Home platform.
    pub home: Home,
    /// PHC password hash (never for roaming accounts).
    pub password_hash: Option<String>,
    /// E-mail address.
    pub email: String,
    /// Full name.
    pub fullname: String,
    /// Preferred language code, or empty.
    pub lang: String,
    /// Disabled accounts cannot log in.
    pub disabled: bool,
    /// Created, unix seconds.
    pub created_at: i64,
}

/// Changes to an account; `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserUpdate {
    /// New e-mail.
    pub email: Option<String>,
    /// New full name.
    pub fullname: Option<String>,
    /// New language.
    pub lang: Option<String>,
    /// Disable or enable.
    pub disabled: Option<bool>,
}

pub(crate) const COLUMNS: &str =
    "id, username, home_peer, password_hash, email, fullname, lang, disabled, created_at";

pub(crate) fn from_row(row: &AnyRow) -> StoreResult<UserRecord> {
    let id = UserId(row.try_get("id")?);
    let username = Username::parse(&row.try_get::<String, _>("username")?)
        .map_err(|_| StoreError::corrupt(format!("username of user {id}")))?;
    Ok(UserRecord {
        id,
        username,
        home: match row.try_get::<Option<i64>, _>("home_peer")? {
            None => Home::Local,
            Some(p) => Home::Peer(PeerId(p)),
        },
        password_hash: row.try_get("password_hash")?,
        email: row.try_get("email")?,
        fullname: row.try_get("fullname")?,
        lang: row.try_get("lang")?,
        disabled: get_flag(row, "disabled")?,
        created_at: row.try_get("created_at")?,
    })
}

fn editor_str(e: FieldEditor) -> &'static str {
    match e {
        FieldEditor::Admin => "admin",
        FieldEditor::User => "user",
    }
}

impl Store {
    /// Creates an account; a taken local username, or a roaming (username, peer) pair already
    /// known, is a `Conflict`.
    pub async fn create_user(&self, new: NewUser) -> StoreResult<UserId> {
        let peer = match new.home {
            Home::Local => None,
            Home::Peer(p) => Some(p),
        };
        if peer.is_some() && new.password_hash.is_some() {
            return Err(StoreError::Invalid(
                "a roaming account never has a password".into(),
            ));
        }
        let id: i64 = sqlx::query(
            "INSERT INTO users (username, home_peer, password_hash, email, fullname, lang, disabled, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, 0, $7) RETURNING id",
        )
        .bind(new.username.as_str())
        .bind(peer.map(|p| p.0))
        .bind(new.password_hash.as_deref())
        .bind(&new.email)
        .bind(&new.fullname)
        .bind(&new.lang)
        .bind(unix_now())
        .fetch_all(self.pool())
        .await
        .and_then(|rows| rows.into_iter().next().ok_or(sqlx::Error::RowNotFound))
        .map_err(|e| {
            on_write(
                e,
                || match peer {
                    None => format!("username '{}' is already taken", new.username),
                    Some(p) => format!("user '{}' of peer {p} already exists", new.username),
                },
                || "user".into(),
            )
        })?
        .try_get(0)?;
        Ok(UserId(id))
    }

    /// One account.
    pub async fn user(&self, id: UserId) -> StoreResult<UserRecord> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
            .bind(id.0)
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::not_found(format!("user {id}")))?;
        from_row(&row)
    }

    /// The local account with this username.
    pub async fn local_user(&self, username: &Username) -> StoreResult<UserRecord> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM users WHERE username = $1 AND home_peer IS NULL"
        ))
        .bind(username.as_str())
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::not_found(format!("user '{username}'")))?;
        from_row(&row)
    }

    /// The roaming account of `username` from `peer`.
    pub async fn roaming_user(&self, username: &Username, peer: PeerId) -> StoreResult<UserRecord> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM users WHERE username = $1 AND home_peer = $2"
        ))
        .bind(username.as_str())
        .bind(peer.0)
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::not_found(format!("user '{username}' of peer {peer}")))?;
        from_row(&row)
    }

    /// Every account, local ones first, by username.
    pub async fn users(&self) -> StoreResult<Vec<UserRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM users ORDER BY CASE WHEN home_peer IS NULL THEN 0 ELSE 1 END, username, home_peer"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Changes an account.
    pub async fn update_user(&self, id: UserId, update: UserUpdate) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE users SET email = COALESCE($2, email), fullname = COALESCE($3, fullname),
                    lang = COALESCE($4, lang), disabled = COALESCE($5, disabled)
             WHERE id = $1",
        )
        .bind(id.0)
        .bind(update.email)
        .bind(update.fullname)
        .bind(update.lang)
        .bind(update.disabled.map(flag))
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("user {id}")));
        }
        Ok(())
    }

    /// Replaces a local account's password hash (a PHC string). Roaming accounts are refused.
    pub async fn set_password_hash(&self, id: UserId, hash: &str) -> StoreResult<()> {
        let user = self.user(id).await?;
        if user.home != Home::Local {
            return Err(StoreError::Invalid(
                "a roaming account never has a password".into(),
            ));
        }
        sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1 AND home_peer IS NULL")
            .bind(id.0)
            .bind(hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Defines (or redefines the editor of) a profile field; `key` is already validated.
    pub async fn define_profile_field(&self, key: &str, editor: FieldEditor) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO profile_fields (key, editor) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET editor = excluded.editor",
        )
        .bind(key)
        .bind(editor_str(editor))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The profile fields, by key.
    pub async fn profile_fields(&self) -> StoreResult<Vec<(String, FieldEditor)>> {
        let rows = sqlx::query("SELECT key, editor FROM profile_fields ORDER BY key")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                let key: String = r.try_get(0)?;
                let editor = match r.try_get::<String, _>(1)?.as_str() {
                    "admin" => FieldEditor::Admin,
                    "user" => FieldEditor::User,
                    _ => {
                        return Err(StoreError::corrupt(format!(
                            "editor of profile field {key}"
                        )))
                    }
                };
                Ok((key, editor))
            })
            .collect()
    }

    /// Sets a user's value for a defined profile field.
    pub async fn set_profile_value(&self, user: UserId, key: &str, value: &str) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        let defined = sqlx::query("SELECT key FROM profile_fields WHERE key = $1")
            .bind(key)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .next();
        if defined.is_none() {
            return Err(StoreError::not_found(format!("profile field '{key}'")));
        }
        sqlx::query(
            "INSERT INTO profile_values (user_id, key, value) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, key) DO UPDATE SET value = excluded.value",
        )
        .bind(user.0)
        .bind(key)
        .bind(value)
        .execute(&mut *tx)
        .await
        .map_err(|e| on_write(e, || "profile value".into(), || format!("user {user}")))?;
        tx.commit().await?;
        Ok(())
    }

    /// A user's profile values, by key.
    pub async fn profile_values(&self, user: UserId) -> StoreResult<Vec<(String, String)>> {
        let rows =
            sqlx::query("SELECT key, value FROM profile_values WHERE user_id = $1 ORDER BY key")
                .bind(user.0)
                .fetch_all(self.pool())
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?)))
            .collect()
    }
}
