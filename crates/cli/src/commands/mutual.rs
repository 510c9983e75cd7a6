//! `rules …`, `profile set` and `mutual settings` (SPEC §8).

use crate::mutual_args::{MutualCommand, ProfileCommand, RulesCommand};
use crate::output::emit;
use pf_domain::access::Context;
use pf_domain::rules::RuleGrant;
use pf_domain::user::{parse_profile_assignment, Username};
use pf_server::error::AppError;
use pf_server::platform::Platform;
use pf_server::services::{mutual, peers, profile, rules, Actor};

/// Runs a `rules` command.
pub async fn rules_cmd(
    p: &Platform,
    actor: &Actor,
    cmd: RulesCommand,
    json: bool,
) -> Result<(), AppError> {
    match cmd {
        RulesCommand::List => {
            let docs: Vec<serde_json::Value> = rules::who_matches(p, actor)
                .await?
                .into_iter()
                .map(|(r, users)| {
                    serde_json::json!({ "id": r.id, "context": r.context.to_string(),
                        "grant": r.grant.as_str(), "rule": r.rule.to_string(), "matches": users })
                })
                .collect();
            emit(json, &docs, || {
                docs.iter()
                    .map(|d| {
                        format!(
                            "{}\t{}\t{}\t{}",
                            d["id"], d["context"], d["grant"], d["rule"]
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        RulesCommand::Add {
            context,
            grant,
            rule,
        } => {
            let context: Context = context.trim().parse()?;
            let id = rules::add(p, actor, context, RuleGrant::parse(grant.trim())?, &rule).await?;
            emit(json, &serde_json::json!({ "id": id }), || {
                format!("added rule {id}")
            });
        }
        RulesCommand::Remove { id } => {
            rules::remove(p, actor, id).await?;
            emit(json, &serde_json::json!({ "removed": id }), || {
                format!("removed rule {id}")
            });
        }
        RulesCommand::Trust { peer, fields } => {
            let peer = peers::resolve(p, &peer).await?;
            rules::trust(p, actor, peer.id, &fields).await?;
            let trusted = p.store.trusted_fields(peer.id).await?;
            emit(
                json,
                &serde_json::json!({ "peer": peer.name, "trusted": trusted }),
                || format!("trusted from {}: {}", peer.name, trusted.join(", ")),
            );
        }
    }
    Ok(())
}

/// Runs a `profile` command.
pub async fn profile_cmd(
    p: &Platform,
    actor: &Actor,
    cmd: ProfileCommand,
    json: bool,
) -> Result<(), AppError> {
    let ProfileCommand::Set { username, values } = cmd;
    let name = Username::parse(username.trim())?;
    let user = p.store.local_user(&name).await?;
    let pairs = values
        .iter()
        .map(|kv| parse_profile_assignment(kv))
        .collect::<Result<Vec<_>, _>>()?;
    // All checked before any is written: a refused pair changes nothing.
    profile::set_values(p, actor, user.id, &pairs).await?;
    let doc: serde_json::Map<String, serde_json::Value> = profile::fields_of(p, user.id)
        .await?
        .into_iter()
        .map(|(k, _, v)| (k, serde_json::Value::String(v)))
        .collect();
    emit(json, &doc, || format!("profile of {name} updated"));
    Ok(())
}

/// Runs a `mutual` command.
pub async fn mutual_cmd(
    p: &Platform,
    actor: &Actor,
    cmd: MutualCommand,
    json: bool,
) -> Result<(), AppError> {
    let MutualCommand::Settings {
        assigned_field,
        roaming_days,
    } = cmd;
    let doc = if assigned_field.is_none() && roaming_days.is_none() {
        mutual::settings_doc(p).await?
    } else {
        mutual::set_settings(p, actor, assigned_field.as_deref(), roaming_days).await?
    };
    emit(json, &doc, || doc.to_string());
    Ok(())
}
