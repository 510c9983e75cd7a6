//! The platform's actions, shared by the web UI, the JSON API and the CLI.
//!
//! Every action takes the [`Actor`] performing it, checks the capability it needs in the right
//! context, changes the store, and appends an audit entry. Handlers and CLI commands only parse
//! input and render output; they never reach the store for a change directly.

pub mod admission;
pub mod admission_scope;
pub mod archives;
pub mod catalog;
pub mod categories;
pub mod copies;
pub mod copies_exposure;
pub mod courses;
pub mod discovery;
pub mod housekeeping;
pub mod jobs;
pub mod mutual;
pub mod pairing;
pub mod peer_keys;
pub mod peers;
pub mod profile;
pub mod publishing;
pub mod remote_sessions;
pub mod rules;
pub mod sessions;
pub mod tokens;
pub mod users;

use crate::error::AppError;
use crate::platform::Platform;
use pf_domain::access::{has_capability, Assignment, Capability, Context, RoleName};
use pf_domain::ids::CourseId;
use pf_store::{NewAudit, UserRecord};

/// How the actor reached the platform (recorded in the audit log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A browser session.
    Web,
    /// A personal API token.
    Api,
    /// The command line on the data dir.
    Cli,
}

/// Who performs an action: a user, or a visitor who is not logged in.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The account, if logged in.
    pub user: Option<UserRecord>,
    /// The channel.
    pub via: Via,
}

impl Actor {
    /// A visitor who is not logged in.
    pub fn guest(via: Via) -> Actor {
        Actor { user: None, via }
    }

    /// A logged-in user.
    pub fn user(user: UserRecord, via: Via) -> Actor {
        Actor {
            user: Some(user),
            via,
        }
    }

    /// How the actor is written in the audit log (`admin`, `admin (cli)`, `guest`).
    pub fn label(&self) -> String {
        let name = self
            .user
            .as_ref()
            .map(|u| u.username.to_string())
            .unwrap_or_else(|| "guest".into());
        match self.via {
            Via::Cli => format!("{name} (cli)"),
            Via::Api => format!("{name} (api)"),
            Via::Web => name,
        }
    }
}

impl Platform {
    /// Whether the actor holds `capability` in `context` (walking up to the system context).
    pub async fn can(
        &self,
        actor: &Actor,
        capability: Capability,
        context: Context,
    ) -> Result<bool, AppError> {
        let chain = self.store.context_chain(context).await?;
        let mut assignments: Vec<Assignment> = match &actor.user {
            Some(u) if !u.disabled => self.store.assignments(u.id).await?,
            _ => Vec::new(),
        };
        if let Context::Course(course) = context {
            if self.guest_access(course).await? {
                assignments.push(Assignment {
                    role: RoleName::Guest,
                    context,
                });
            }
        }
        let table = self.store.role_capabilities().await?;
        Ok(has_capability(&table, &assignments, &chain, capability))
    }

    /// Fails with `missing_capability` unless the actor holds `capability` in `context`.
    pub async fn require(
        &self,
        actor: &Actor,
        capability: Capability,
        context: Context,
    ) -> Result<(), AppError> {
        if self.can(actor, capability, context).await? {
            Ok(())
        } else if actor.user.is_none() {
            Err(AppError::new(
                pf_api::ErrorCode::Unauthenticated,
                "please log in first",
            ))
        } else {
            Err(AppError::forbidden(capability))
        }
    }

    /// Whether the actor is the site administrator.
    pub async fn is_admin(&self, actor: &Actor) -> Result<bool, AppError> {
        self.can(actor, Capability::SiteConfig, Context::System)
            .await
    }

    async fn guest_access(&self, course: CourseId) -> Result<bool, AppError> {
        match self.store.course(course).await {
            Ok(c) => Ok(c.guest_access),
            Err(pf_store::StoreError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Appends an audit entry for a local action.
    pub async fn audit(
        &self,
        actor: &Actor,
        action: &str,
        target: impl std::fmt::Display,
        details: serde_json::Value,
    ) -> Result<(), AppError> {
        self.store
            .append_audit(NewAudit {
                at: now(),
                actor: actor.label(),
                action: action.to_string(),
                target: target.to_string(),
                peer: None,
                job: None,
                result: "ok".into(),
                details,
            })
            .await?;
        Ok(())
    }
}

/// The current time as unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Formats unix seconds as RFC 3339 UTC (`2026-11-21T23:54:12Z`).
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
