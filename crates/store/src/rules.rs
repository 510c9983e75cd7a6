//! Profile rules and the fields trusted per peer (SPEC §8). The rules' meaning is
//! `pf_domain::rules`; this module only keeps them.

use crate::{Store, StoreError, StoreResult};
use pf_domain::access::Context;
use pf_domain::ids::PeerId;
use pf_domain::rules::{Rule, RuleGrant};
use sqlx::Row;

/// A stored rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRecord {
    /// Id.
    pub id: i64,
    /// The category or course it applies to.
    pub context: Context,
    /// What it grants.
    pub grant: RuleGrant,
    /// The condition.
    pub rule: Rule,
}

fn level_and_id(context: Context) -> StoreResult<(&'static str, i64)> {
    match context {
        Context::Category(c) => Ok(("category", c.0)),
        Context::Course(c) => Ok(("course", c.0)),
        Context::System => Err(StoreError::Invalid(
            "rules apply to a category or a course".into(),
        )),
    }
}

fn from_row(r: &sqlx::any::AnyRow) -> StoreResult<RuleRecord> {
    let level: String = r.try_get("context_level")?;
    let id: i64 = r.try_get("context_id")?;
    let context = match level.as_str() {
        "category" => Context::Category(pf_domain::ids::CategoryId(id)),
        _ => Context::Course(pf_domain::ids::CourseId(id)),
    };
    let grant: String = r.try_get("grant_kind")?;
    let expression: String = r.try_get("expression")?;
    Ok(RuleRecord {
        id: r.try_get("id")?,
        context,
        grant: RuleGrant::parse(&grant).map_err(|_| StoreError::corrupt("rule grant"))?,
        rule: Rule::parse(&expression).map_err(|_| StoreError::corrupt("rule expression"))?,
    })
}

impl Store {
    /// Adds a rule on a category or course (which must exist).
    pub async fn add_rule(
        &self,
        context: Context,
        grant: RuleGrant,
        rule: &Rule,
    ) -> StoreResult<i64> {
        let (level, id) = level_and_id(context)?;
        let table = if level == "category" {
            "categories"
        } else {
            "courses"
        };
        let exists = sqlx::query(&format!("SELECT id FROM {table} WHERE id = $1"))
            .bind(id)
            .fetch_all(self.pool())
            .await?;
        if exists.is_empty() {
            return Err(StoreError::not_found(format!("{level} {id}")));
        }
        Ok(sqlx::query(
            "INSERT INTO profile_rules (context_level, context_id, grant_kind, expression, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(level)
        .bind(id)
        .bind(grant.as_str())
        .bind(rule.to_string())
        .bind(crate::unix_now())
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .next()
        .ok_or(sqlx::Error::RowNotFound)?
        .try_get(0)?)
    }

    /// Every rule, oldest first.
    pub async fn rules(&self) -> StoreResult<Vec<RuleRecord>> {
        let rows = sqlx::query("SELECT id, context_level, context_id, grant_kind, expression FROM profile_rules ORDER BY id")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// The rules on any of these contexts (a course's chain).
    pub async fn rules_on(&self, chain: &[Context]) -> StoreResult<Vec<RuleRecord>> {
        Ok(self
            .rules()
            .await?
            .into_iter()
            .filter(|r| chain.contains(&r.context))
            .collect())
    }

    /// Deletes a rule.
    pub async fn delete_rule(&self, id: i64) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM profile_rules WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("rule {id}")));
        }
        Ok(())
    }

    /// Replaces the fields this platform trusts from a peer's users.
    pub async fn set_trusted_fields(&self, peer: PeerId, fields: &[String]) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM trusted_fields WHERE peer_id = $1")
            .bind(peer.0)
            .execute(&mut *tx)
            .await?;
        for f in fields {
            sqlx::query("INSERT INTO trusted_fields (peer_id, field) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(peer.0)
                .bind(f)
                .execute(&mut *tx)
                .await
                .map_err(|e| crate::error::on_write(e, || format!("field {f}"), || format!("peer {peer}")))?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The fields this platform trusts from a peer's users.
    pub async fn trusted_fields(&self, peer: PeerId) -> StoreResult<Vec<String>> {
        let rows =
            sqlx::query("SELECT field FROM trusted_fields WHERE peer_id = $1 ORDER BY field")
                .bind(peer.0)
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(|r| Ok(r.try_get("field")?)).collect()
    }
}
