//! Mail (SPEC §7): the outbox every message goes through, and the admin-edited templates.
//!
//! A message is a row from the moment it is written until it is delivered; a failed attempt only
//! pushes `next_attempt_at` back, so an unreachable server never loses one. A sender *claims* a
//! due message with one conditional `UPDATE` (a short lease), so two senders never send it twice
//! at once.

use crate::{get_json, json_text, Store, StoreError, StoreResult};
use sqlx::any::AnyRow;
use sqlx::Row;

/// A message to queue. Header values are expected to be free of CR/LF already.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMail {
    /// What it is about (`session_open`, `job_done`…).
    pub kind: String,
    /// The recipient's address.
    pub recipient: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text part.
    pub text_body: String,
    /// HTML part.
    pub html_body: String,
    /// Extra headers and context (e.g. `{"lang": "fr", "course": 3}`), JSON.
    pub headers: serde_json::Value,
    /// When it was queued, unix seconds.
    pub created_at: i64,
}

/// A queued, delivered or retried message.
#[derive(Debug, Clone, PartialEq)]
pub struct MailRecord {
    /// Id.
    pub id: i64,
    /// Kind.
    pub kind: String,
    /// Recipient.
    pub recipient: String,
    /// Subject.
    pub subject: String,
    /// Text part.
    pub text_body: String,
    /// HTML part.
    pub html_body: String,
    /// Headers and context.
    pub headers: serde_json::Value,
    /// Queued at.
    pub created_at: i64,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// Not tried again before this time.
    pub next_attempt_at: i64,
    /// Delivered at, if delivered.
    pub sent_at: Option<i64>,
    /// The last failure, or empty.
    pub last_error: String,
    /// When the SMTP server refused it permanently; held, not retried, until an admin asks.
    pub refused_at: Option<i64>,
}

/// An admin-edited template for one kind of message in one language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailTemplate {
    /// Message kind.
    pub kind: String,
    /// Language code.
    pub lang: String,
    /// Subject (placeholders allowed).
    pub subject: String,
    /// Text body.
    pub text_body: String,
    /// HTML body.
    pub html_body: String,
}

const COLUMNS: &str = "id, kind, recipient, subject, text_body, html_body, headers, created_at, \
                       attempts, next_attempt_at, sent_at, last_error, refused_at";

fn from_row(r: &AnyRow) -> StoreResult<MailRecord> {
    Ok(MailRecord {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        recipient: r.try_get("recipient")?,
        subject: r.try_get("subject")?,
        text_body: r.try_get("text_body")?,
        html_body: r.try_get("html_body")?,
        headers: get_json(r, "headers")?,
        created_at: r.try_get("created_at")?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        sent_at: r.try_get("sent_at")?,
        last_error: r.try_get("last_error")?,
        refused_at: r.try_get("refused_at")?,
    })
}

impl Store {
    /// Queues messages (all or none); returns their ids.
    pub async fn queue_mail(&self, mails: Vec<NewMail>) -> StoreResult<Vec<i64>> {
        let mut tx = self.write_tx().await?;
        let ids = insert_mails(&mut tx, &mails).await?;
        tx.commit().await?;
        Ok(ids)
    }

    /// Messages, newest first (delivered ones included).
    pub async fn outbox(&self, offset: i64, limit: i64) -> StoreResult<Vec<MailRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM outbox ORDER BY id DESC LIMIT $1 OFFSET $2"
        ))
        .bind(limit.max(0))
        .bind(offset.max(0))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Claims the oldest undelivered message due at `now` (`next_attempt_at <= now`) for a
    /// sender, pushing its next attempt to `lease_until` so no other sender takes it meanwhile.
    pub async fn claim_mail(&self, now: i64, lease_until: i64) -> StoreResult<Option<MailRecord>> {
        loop {
            let Some(row) = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM outbox
                 WHERE sent_at IS NULL AND refused_at IS NULL AND next_attempt_at <= $1
                 ORDER BY next_attempt_at, id LIMIT 1"
            ))
            .bind(now)
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .next() else {
                return Ok(None);
            };
            let mut mail = from_row(&row)?;
            let claimed = sqlx::query(
                "UPDATE outbox SET next_attempt_at = $3
                 WHERE id = $1 AND next_attempt_at = $2 AND sent_at IS NULL",
            )
            .bind(mail.id)
            .bind(mail.next_attempt_at)
            .bind(lease_until)
            .execute(self.pool())
            .await?;
            if claimed.rows_affected() == 1 {
                mail.next_attempt_at = lease_until;
                return Ok(Some(mail));
            }
            // Another sender took it first: look again.
        }
    }

    /// Records a delivery.
    pub async fn mail_sent(&self, id: i64, at: i64) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE outbox SET sent_at = $2, attempts = attempts + 1, last_error = '' WHERE id = $1",
        )
        .bind(id)
        .bind(at)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("message {id}")));
        }
        Ok(())
    }

    /// Records a failed attempt: the message stays queued until `retry_at`.
    pub async fn mail_failed(&self, id: i64, error: &str, retry_at: i64) -> StoreResult<()> {
        self.record_mail_failure(id, error, "next_attempt_at", retry_at)
            .await
    }

    /// Records a permanent refusal: the message is kept, with the error, but no longer tried
    /// until an administrator asks again ([`Store::retry_mail_now`]).
    pub async fn mail_refused(&self, id: i64, error: &str, at: i64) -> StoreResult<()> {
        self.record_mail_failure(id, error, "refused_at", at).await
    }

    /// One more attempt, its error, and `column` (a fixed name, never input) set to `value`.
    async fn record_mail_failure(
        &self,
        id: i64,
        error: &str,
        column: &'static str,
        value: i64,
    ) -> StoreResult<()> {
        let done = sqlx::query(&format!(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $2, {column} = $3
             WHERE id = $1 AND sent_at IS NULL"
        ))
        .bind(id)
        .bind(error)
        .bind(value)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("queued message {id}")));
        }
        Ok(())
    }

    /// Makes every undelivered message due at `now`, refused ones included (an admin's
    /// "retry now", e.g. after fixing an address or the server's configuration).
    pub async fn retry_mail_now(&self, now: i64) -> StoreResult<u64> {
        Ok(sqlx::query(
            "UPDATE outbox SET next_attempt_at = $1, refused_at = NULL WHERE sent_at IS NULL",
        )
        .bind(now)
        .execute(self.pool())
        .await?
        .rows_affected())
    }

    /// The admin's template for a kind and language, if one was saved.
    pub async fn mail_template(&self, kind: &str, lang: &str) -> StoreResult<Option<MailTemplate>> {
        let row = sqlx::query(
            "SELECT kind, lang, subject, text_body, html_body FROM mail_templates WHERE kind = $1 AND lang = $2",
        )
        .bind(kind)
        .bind(lang)
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .next();
        row.map(|r| {
            Ok(MailTemplate {
                kind: r.try_get("kind")?,
                lang: r.try_get("lang")?,
                subject: r.try_get("subject")?,
                text_body: r.try_get("text_body")?,
                html_body: r.try_get("html_body")?,
            })
        })
        .transpose()
    }

    /// Saves (or replaces) a template.
    pub async fn set_mail_template(&self, t: &MailTemplate, at: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO mail_templates (kind, lang, subject, text_body, html_body, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (kind, lang) DO UPDATE SET subject = excluded.subject,
                 text_body = excluded.text_body, html_body = excluded.html_body, updated_at = excluded.updated_at",
        )
        .bind(&t.kind)
        .bind(&t.lang)
        .bind(&t.subject)
        .bind(&t.text_body)
        .bind(&t.html_body)
        .bind(at)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

/// Inserts queued messages inside the caller's transaction (a session open queues its
/// notifications in the transaction that opens it, so a crash cannot lose them).
pub(crate) async fn insert_mails(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    mails: &[NewMail],
) -> StoreResult<Vec<i64>> {
    let mut ids = Vec::with_capacity(mails.len());
    for m in mails {
        let id: i64 = sqlx::query(
            "INSERT INTO outbox (kind, recipient, subject, text_body, html_body, headers, created_at, next_attempt_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
        )
            .bind(&m.kind)
            .bind(&m.recipient)
            .bind(&m.subject)
            .bind(&m.text_body)
            .bind(&m.html_body)
            .bind(json_text(&m.headers))
            .bind(m.created_at)
            .fetch_all(&mut **tx)
            .await?
            .into_iter()
            .next()
            .ok_or(sqlx::Error::RowNotFound)?
            .try_get(0)?;
        ids.push(id);
    }
    Ok(ids)
}
