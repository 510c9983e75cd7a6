//! Personal API tokens: shown once, stored hashed, expiring, revocable.

use super::{now, Actor};
use crate::error::AppError;
use crate::platform::Platform;
use base64::Engine;
use pf_store::{NewToken, TokenRecord, UserRecord};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Every token starts with this, so leaked tokens are easy to recognise and scan for.
pub const TOKEN_PREFIX: &str = "pft_";

/// The stored form of a token or session id: SHA-256, hex.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// 256 random bits, base64url.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Creates a token for the actor; returns the secret (shown once) and the record id.
pub async fn create(
    p: &Platform,
    actor: &Actor,
    name: &str,
    days: Option<i64>,
) -> Result<(String, i64), AppError> {
    let user = actor
        .user
        .as_ref()
        .ok_or_else(|| AppError::new(pf_api::ErrorCode::Unauthenticated, "please log in first"))?;
    let name = name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(AppError::bad_request(
            "a token needs a name of 1 to 100 characters",
        ));
    }
    let days = days.unwrap_or(p.config.security.token_days);
    if !(1..=3650).contains(&days) {
        return Err(AppError::bad_request("a token lasts 1 to 3650 days"));
    }
    let secret = format!("{TOKEN_PREFIX}{}", random_secret());
    let created = now();
    let id = p
        .store
        .create_token(NewToken {
            user: user.id,
            name: name.to_string(),
            token_hash: digest(&secret),
            created_at: created,
            expires_at: created + days * 86_400,
        })
        .await?;
    p.audit(
        actor,
        "token.create",
        format!("token:{id}"),
        serde_json::json!({ "name": name }),
    )
    .await?;
    Ok((secret, id))
}

/// The user a presented token belongs to, if it is valid, unexpired and unrevoked.
pub async fn authenticate(
    p: &Platform,
    secret: &str,
) -> Result<Option<(TokenRecord, UserRecord)>, AppError> {
    if !secret.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    let Some(token) = p.store.token_by_hash(&digest(secret)).await? else {
        return Ok(None);
    };
    let user = p.store.user(token.user).await?;
    if user.disabled {
        return Ok(None);
    }
    Ok(Some((token, user)))
}

/// Revokes one of the actor's tokens (admins may revoke anyone's).
pub async fn revoke(p: &Platform, actor: &Actor, id: i64) -> Result<(), AppError> {
    let user = actor
        .user
        .as_ref()
        .ok_or_else(|| AppError::new(pf_api::ErrorCode::Unauthenticated, "please log in first"))?;
    let own = p.store.tokens(user.id).await?.iter().any(|t| t.id == id);
    if !own && !p.is_admin(actor).await? {
        return Err(AppError::not_found(format!("token {id}")));
    }
    p.store.revoke_token(id).await?;
    p.audit(
        actor,
        "token.revoke",
        format!("token:{id}"),
        serde_json::Value::Null,
    )
    .await
}
