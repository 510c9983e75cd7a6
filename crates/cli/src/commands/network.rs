//! `peer …`, `network scan`, `keys show`.

use crate::network_args::{KeysCommand, NetworkCommand, PeerCommand};
use crate::output::{emit, table};
use pf_domain::admission::Grant;
use pf_domain::user::Username;
use pf_server::error::AppError;
use pf_server::platform::Platform;
use pf_server::services::peers::{self, peer_doc};
use pf_server::services::{discovery, pairing, Actor};

/// Runs a `peer` command.
pub async fn peer(
    p: &Platform,
    actor: &Actor,
    cmd: PeerCommand,
    json: bool,
) -> Result<(), AppError> {
    match cmd {
        PeerCommand::Invite => {
            let code = pairing::invite(p, actor).await?;
            emit(json, &serde_json::json!({ "code": code }), || {
                format!("pairing code (valid one hour, single use): {code}")
            });
        }
        PeerCommand::Add { url, code } => {
            let id = pairing::redeem(p, actor, &url, &code).await?;
            let doc = peer_doc(&p.store.peer(id).await?);
            emit(json, &doc, || {
                format!("paired with {} ({}) as peer {}", doc.name, doc.url, doc.id)
            });
        }
        PeerCommand::List => {
            let docs: Vec<_> = peers::list(p, actor).await?.iter().map(peer_doc).collect();
            emit(json, &docs, || {
                table(
                    &["id", "name", "url", "role", "status", "last scan", "grants"],
                    docs.iter()
                        .map(|d| {
                            vec![
                                d.id.to_string(),
                                d.name.clone(),
                                d.url.clone(),
                                d.role.clone().unwrap_or_else(|| "-".into()),
                                d.status.clone(),
                                d.last_scan.clone().unwrap_or_else(|| "never".into()),
                                d.grants.join(","),
                            ]
                        })
                        .collect(),
                )
            });
        }
        PeerCommand::Set {
            peer,
            grant,
            enable,
            disable,
        } => {
            let record = peers::resolve(p, &peer).await?;
            let grants = grant.as_deref().map(Grant::parse_list).transpose()?;
            let enabled = match (enable, disable) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            };
            let after = peers::set(p, actor, record.id, grants, enabled).await?;
            let doc = peer_doc(&after);
            emit(json, &doc, || {
                format!("peer {}: {} [{}]", doc.id, doc.status, doc.grants.join(","))
            });
        }
        PeerCommand::Remove { peer } => {
            let record = peers::resolve(p, &peer).await?;
            peers::remove(p, actor, record.id).await?;
            emit(json, &serde_json::json!({ "removed": record.id.0 }), || {
                format!("removed peer {} ({})", record.id, record.name)
            });
        }
        PeerCommand::Categories { peer } => {
            let record = peers::resolve(p, &peer).await?;
            let cats = peers::categories(p, actor, record.id).await?;
            emit(json, &cats, || {
                table(
                    &["id", "parent", "idnumber", "path"],
                    cats.iter()
                        .map(|c| {
                            vec![
                                c.id.to_string(),
                                c.parent.map(|x| x.to_string()).unwrap_or_default(),
                                c.idnumber.clone(),
                                c.path.clone(),
                            ]
                        })
                        .collect(),
                )
            });
        }
        PeerCommand::Link {
            peer,
            username,
            local,
        } => {
            let record = peers::resolve(p, &peer).await?;
            let remote = Username::parse(&username)?;
            let local = Username::parse(&local)?;
            peers::link(p, actor, record.id, &remote, &local).await?;
            emit(
                json,
                &serde_json::json!({ "linked": format!("{remote}@{}", record.name), "to": local.as_str() }),
                || format!("{remote}@{} now acts here as {local}", record.name),
            );
        }
    }
    Ok(())
}

/// Runs a `network` command; `network scan` fails (exit 1) if any peer failed.
pub async fn network(
    p: &Platform,
    actor: &Actor,
    cmd: NetworkCommand,
    json: bool,
) -> Result<(), AppError> {
    let NetworkCommand::Scan { peer } = cmd;
    let only = match peer {
        Some(peer) => Some(peers::resolve(p, &peer).await?.id),
        None => None,
    };
    let results = discovery::scan(p, actor, only).await?;
    emit(json, &results, || {
        table(
            &["peer", "name", "ok", "role", "categories", "error"],
            results
                .iter()
                .map(|r| {
                    vec![
                        r.peer_id.to_string(),
                        r.name.clone(),
                        r.ok.to_string(),
                        r.role.clone().unwrap_or_default(),
                        r.categories.map(|c| c.to_string()).unwrap_or_default(),
                        r.error
                            .as_ref()
                            .map(|e| e["message"].as_str().unwrap_or("").to_owned())
                            .unwrap_or_default(),
                    ]
                })
                .collect(),
        )
    });
    let failed = results.iter().filter(|r| !r.ok).count();
    if failed > 0 {
        return Err(AppError::new(
            pf_api::ErrorCode::PeerUnreachable,
            format!("{failed} peer(s) could not be scanned"),
        ));
    }
    Ok(())
}

/// Runs a `keys` command.
pub async fn keys(p: &Platform, cmd: KeysCommand, json: bool) -> Result<(), AppError> {
    let KeysCommand::Show = cmd;
    let doc = serde_json::json!({
        "key_id": p.identity.key_id().to_string(),
        "fingerprint": p.identity.fingerprint().to_string(),
        "public_key": p.identity.public_key().to_string(),
    });
    emit(json, &doc, || {
        format!(
            "fingerprint {}\nkey id {}",
            doc["fingerprint"].as_str().unwrap_or(""),
            doc["key_id"].as_str().unwrap_or("")
        )
    });
    Ok(())
}
