//! Profile rules in force (SPEC §8): which fields of a user count, and what the rules on a
//! course's categories and course say. Only trusted fields count: a local user's admin-managed
//! fields, or a roaming user's fields that this platform's admin trusts from their home peer.

use super::Actor;
use crate::error::AppError;
use crate::platform::Platform;
use pf_domain::access::{Capability, Context};
use pf_domain::ids::CourseId;
use pf_domain::rules::{verdict, Rule, RuleGrant, RuleVerdict};
use pf_domain::user::{FieldEditor, Home};
use pf_store::UserRecord;
use std::collections::BTreeMap;

/// The fields of `user` that rules may read.
pub async fn trusted_fields(
    p: &Platform,
    user: &UserRecord,
) -> Result<BTreeMap<String, String>, AppError> {
    let values = p.store.profile_values(user.id).await?;
    let allowed: Vec<String> = match user.home {
        Home::Local => p
            .store
            .profile_fields()
            .await?
            .into_iter()
            .filter(|(_, e)| *e == FieldEditor::Admin)
            .map(|(k, _)| k)
            .collect(),
        Home::Peer(peer) => p.store.trusted_fields(peer).await?,
    };
    Ok(values
        .into_iter()
        .filter(|(k, _)| allowed.contains(k))
        .collect())
}

/// What the rules on the course and its categories say for the actor and `grant`. People who
/// see hidden courses there (managers, teachers) are never held back by rules.
pub async fn course_verdict(
    p: &Platform,
    actor: &Actor,
    course: CourseId,
    grant: RuleGrant,
) -> Result<RuleVerdict, AppError> {
    let all = p.store.rules().await?;
    verdict_among(p, actor, course, grant, &all).await
}

/// Like [`course_verdict`] with the platform's rules already loaded (listings load them once).
pub async fn verdict_among(
    p: &Platform,
    actor: &Actor,
    course: CourseId,
    grant: RuleGrant,
    all: &[pf_store::RuleRecord],
) -> Result<RuleVerdict, AppError> {
    // Most platforms have no rule of this grant: answer before walking the context chain.
    if all.iter().all(|r| r.grant != grant) {
        return Ok(RuleVerdict::NoRules);
    }
    let chain = p.store.context_chain(Context::Course(course)).await?;
    let rules: Vec<(RuleGrant, Rule)> = all
        .iter()
        .filter(|r| chain.contains(&r.context))
        .map(|r| (r.grant, r.rule.clone()))
        .collect();
    if rules.iter().all(|(g, _)| *g != grant) {
        return Ok(RuleVerdict::NoRules);
    }
    if p.can(actor, Capability::CourseViewHidden, Context::Course(course))
        .await?
    {
        return Ok(RuleVerdict::NoRules);
    }
    let fields = match &actor.user {
        Some(u) => trusted_fields(p, u).await?,
        None => BTreeMap::new(),
    };
    Ok(verdict(&rules, grant, &fields))
}

/// Adds a rule (administrators).
pub async fn add(
    p: &Platform,
    actor: &Actor,
    context: Context,
    grant: RuleGrant,
    expression: &str,
) -> Result<i64, AppError> {
    p.require(actor, Capability::SiteConfig, Context::System)
        .await?;
    let rule = Rule::parse(expression)?;
    let id = p.store.add_rule(context, grant, &rule).await?;
    let details = serde_json::json!({ "context": context.to_string(), "grant": grant.as_str(), "rule": rule.to_string() });
    p.audit(actor, "rule.add", format!("rule:{id}"), details)
        .await?;
    Ok(id)
}

/// Removes a rule (administrators).
pub async fn remove(p: &Platform, actor: &Actor, id: i64) -> Result<(), AppError> {
    p.require(actor, Capability::SiteConfig, Context::System)
        .await?;
    p.store.delete_rule(id).await?;
    p.audit(
        actor,
        "rule.remove",
        format!("rule:{id}"),
        serde_json::Value::Null,
    )
    .await
}

/// Who would match each rule: the accounts whose trusted fields satisfy it (the admin's tester).
pub async fn who_matches(
    p: &Platform,
    actor: &Actor,
) -> Result<Vec<(pf_store::RuleRecord, Vec<String>)>, AppError> {
    p.require(actor, Capability::SiteConfig, Context::System)
        .await?;
    let users = p.store.users().await?;
    let mut fields = Vec::with_capacity(users.len());
    for u in &users {
        fields.push((
            crate::services::users::user_doc(p, u).await?.username,
            trusted_fields(p, u).await?,
        ));
    }
    Ok(p.store
        .rules()
        .await?
        .into_iter()
        .map(|r| {
            let names = fields
                .iter()
                .filter(|(_, f)| r.rule.matches(f))
                .map(|(n, _)| n.clone())
                .collect();
            (r, names)
        })
        .collect())
}

/// Sets the profile fields trusted from a peer's users (administrators); `fields` is a comma list.
pub async fn trust(
    p: &Platform,
    actor: &Actor,
    peer: pf_domain::ids::PeerId,
    fields: &str,
) -> Result<(), AppError> {
    p.require(actor, Capability::SiteConfig, Context::System)
        .await?;
    let keys = fields
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(pf_domain::user::parse_field_key)
        .collect::<Result<Vec<_>, _>>()?;
    p.store.set_trusted_fields(peer, &keys).await?;
    p.audit(
        actor,
        "peer.trust",
        format!("peer:{peer}"),
        serde_json::json!({ "fields": keys }),
    )
    .await
}
