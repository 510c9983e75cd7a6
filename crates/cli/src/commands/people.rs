//! `user …` and `category …`.

use super::read_password_file;
use crate::args::{CategoryCommand, TokenCommand, UserCommand};
use crate::output::{emit, table};
use pf_api::docs::Created;
use pf_domain::user::parse_profile_assignment;
use pf_server::error::AppError;
use pf_server::platform::Platform;
use pf_server::services::categories::{self, CategoryForm};
use pf_server::services::users::{self, parse_role_spec, UserForm};
use pf_server::services::{rfc3339, tokens, Actor};

/// Runs a `user` command.
pub async fn user(
    p: &Platform,
    actor: &Actor,
    cmd: UserCommand,
    json: bool,
) -> Result<(), AppError> {
    match cmd {
        UserCommand::Add {
            username,
            password_file,
            email,
            fullname,
            lang,
            roles,
            profile,
        } => {
            let password = password_file
                .as_deref()
                .map(read_password_file)
                .transpose()?;
            let roles = roles
                .iter()
                .map(|r| parse_role_spec(r))
                .collect::<Result<Vec<_>, _>>()?;
            let profile = profile
                .iter()
                .map(|kv| parse_profile_assignment(kv))
                .collect::<Result<Vec<_>, _>>()?;
            let form = UserForm {
                username,
                password,
                email,
                fullname,
                lang,
                roles,
                profile,
            };
            let id = users::create(p, actor, form).await?;
            emit(json, &Created { id: id.0 }, || format!("created user {id}"));
        }
        UserCommand::List => {
            p.require(
                actor,
                pf_domain::access::Capability::SiteConfig,
                pf_domain::access::Context::System,
            )
            .await?;
            let docs = users::list_docs(p).await?;
            emit(json, &docs, || {
                let rows = docs
                    .iter()
                    .map(|u| {
                        vec![
                            u.id.to_string(),
                            u.username.clone(),
                            u.home.clone(),
                            u.roles.join(", "),
                        ]
                    })
                    .collect();
                table(&["ID", "USERNAME", "HOME", "ROLES"], rows)
            });
        }
    }
    Ok(())
}

/// Runs a `category` command.
pub async fn category(
    p: &Platform,
    actor: &Actor,
    cmd: CategoryCommand,
    json: bool,
) -> Result<(), AppError> {
    match cmd {
        CategoryCommand::Add {
            name,
            parent,
            idnumber,
        } => {
            let id = categories::create(
                p,
                actor,
                CategoryForm {
                    name,
                    parent,
                    idnumber,
                },
            )
            .await?;
            emit(json, &Created { id: id.0 }, || {
                format!("created category {id}")
            });
        }
        CategoryCommand::List => {
            let docs: Vec<_> = categories::tree(p, actor)
                .await?
                .into_iter()
                .map(categories::category_doc)
                .collect();
            emit(json, &docs, || {
                let rows = docs
                    .iter()
                    .map(|c| vec![c.id.to_string(), c.idnumber.clone(), c.path.clone()])
                    .collect();
                table(&["ID", "IDNUMBER", "PATH"], rows)
            });
        }
    }
    Ok(())
}

/// Runs a `token` command for the acting user.
pub async fn token(
    p: &Platform,
    actor: &Actor,
    cmd: TokenCommand,
    json: bool,
) -> Result<(), AppError> {
    match cmd {
        TokenCommand::Create { name, days } => {
            let (secret, id) = tokens::create(p, actor, &name, days).await?;
            emit(
                json,
                &serde_json::json!({ "id": id, "token": secret }),
                || format!("token {id}: {secret}\n(shown once)"),
            );
        }
        TokenCommand::List => {
            let user = actor
                .user
                .as_ref()
                .ok_or_else(|| AppError::bad_request("no acting user"))?;
            let docs: Vec<_> = p
                .store
                .tokens(user.id)
                .await?
                .iter()
                .map(|t| serde_json::json!({ "id": t.id, "name": t.name, "created": rfc3339(t.created_at), "expires": rfc3339(t.expires_at), "revoked": t.revoked_at.is_some() }))
                .collect();
            emit(json, &docs, || {
                let rows = docs
                    .iter()
                    .map(|d| {
                        vec![
                            d["id"].to_string(),
                            d["name"].as_str().unwrap_or("").into(),
                            d["expires"].as_str().unwrap_or("").into(),
                            d["revoked"].to_string(),
                        ]
                    })
                    .collect();
                table(&["ID", "NAME", "EXPIRES", "REVOKED"], rows)
            });
        }
        TokenCommand::Revoke { id } => {
            tokens::revoke(p, actor, id).await?;
            emit(
                json,
                &serde_json::json!({ "id": id, "revoked": true }),
                || format!("revoked token {id}"),
            );
        }
    }
    Ok(())
}
