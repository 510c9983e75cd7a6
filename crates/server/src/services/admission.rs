//! Acting users and admission (SPEC §5.9): who a remote user is here, and whether an incoming
//! operation is admitted in its landing context. The rule itself is
//! [`pf_domain::admission::decide`]; this module gathers the facts for it.

use super::Actor;
use crate::error::AppError;
use crate::platform::{settings, Platform};
use pf_api::ErrorCode;
use pf_domain::access::{Capability, Context};
use pf_domain::admission::{decide, AccountFacts, AdmissionFacts, Admitted, Operation, Refused};
use pf_domain::ids::CategoryId;
use pf_domain::user::{Home, Username};
use pf_store::{NewUser, PeerRecord, StoreError, UserRecord};

/// How a remote user is written everywhere: `username@peer`.
pub fn remote_label(username: &Username, peer: &PeerRecord) -> String {
    format!("{username}@{}", peer.name)
}

/// The account a remote identity (username, home = `peer`) maps to here: an explicit admin link
/// first, else the roaming account. Never a local account because the names match.
pub async fn account_for(
    p: &Platform,
    peer: &PeerRecord,
    username: &Username,
) -> Result<Option<UserRecord>, AppError> {
    if let Some(linked) = p.store.linked_user(username, peer.id).await? {
        return Ok(Some(p.store.user(linked).await?));
    }
    match p.store.roaming_user(username, peer.id).await {
        Ok(u) => Ok(Some(u)),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The landing context of an operation: the chosen category (deploy), the course (sessions),
/// else this platform's landing category.
pub async fn landing_context(
    p: &Platform,
    operation: Operation,
    category: Option<i64>,
    course: Option<i64>,
) -> Result<Context, AppError> {
    if operation == Operation::Sessions {
        let id = course.ok_or_else(|| AppError::bad_request("a sessions call names a course"))?;
        let course = p.store.course(pf_domain::ids::CourseId(id)).await?;
        return Ok(Context::Course(course.id));
    }
    let id = match category {
        Some(id) => CategoryId(id),
        None => CategoryId(
            p.store
                .setting(settings::LANDING_CATEGORY)
                .await?
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| {
                    AppError::new(
                        ErrorCode::NotAdmitted,
                        "this platform has no landing category",
                    )
                })?,
        ),
    };
    p.store.category(id).await?;
    Ok(Context::Category(id))
}

/// The outcome of an admission.
#[derive(Debug, Clone)]
pub struct Admission {
    /// How it was admitted.
    pub admitted: Admitted,
    /// The account the operation runs as here (`None` only for a dry run under (b) before the
    /// roaming account exists).
    pub account: Option<UserRecord>,
    /// `username@peer`.
    pub label: String,
}

/// Decides whether `peer` may run `operation` for its user `username` in `context`, given the
/// source capabilities it asserts. With `create_account`, a user admitted under (b) gets (or
/// reuses) the roaming account; a dry run changes nothing.
pub async fn admit(
    p: &Platform,
    peer: &PeerRecord,
    username: &Username,
    operation: Operation,
    context: Context,
    asserted: &[Capability],
    create_account: bool,
) -> Result<Admission, AppError> {
    let account = account_for(p, peer, username).await?;
    let facts = match &account {
        None => AccountFacts::None,
        Some(u) if u.disabled => AccountFacts::Disabled,
        Some(u) => {
            let actor = Actor::user(u.clone(), super::Via::Api);
            if p.can(&actor, operation.landing_capability(), context)
                .await?
            {
                AccountFacts::Holds
            } else {
                AccountFacts::Lacks
            }
        }
    };
    let label = remote_label(username, peer);
    let decision = decide(&AdmissionFacts {
        operation,
        account: facts,
        grants: &peer.grants,
        asserted,
    });
    match decision {
        Ok(admitted) => {
            let account = match (account, create_account) {
                (Some(a), _) => Some(a),
                (None, false) => None,
                (None, true) => Some(roaming_account(p, peer, username).await?),
            };
            Ok(Admission {
                admitted,
                account,
                label,
            })
        }
        Err(Refused::DisabledAccount) => Err(AppError::new(
            ErrorCode::BadUser,
            format!("the account of {label} is disabled here"),
        )),
        Err(Refused::MissingCapability) => Err(AppError::new(
            ErrorCode::MissingCapability,
            format!(
                "{label} does not hold {} in {context} and no grant applies",
                operation.landing_capability()
            ),
        )),
        Err(Refused::NotAdmitted) => Err(AppError::new(
            ErrorCode::NotAdmitted,
            format!("{label} has no account here and the peer holds no matching grant"),
        )),
    }
}

/// Gets or creates the roaming account (username, home = peer); never has a password.
pub async fn roaming_account(
    p: &Platform,
    peer: &PeerRecord,
    username: &Username,
) -> Result<UserRecord, AppError> {
    match p.store.roaming_user(username, peer.id).await {
        Ok(u) => return Ok(u),
        Err(StoreError::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let id = p
        .store
        .create_user(NewUser {
            username: username.clone(),
            home: Home::Peer(peer.id),
            password_hash: None,
            email: String::new(),
            fullname: remote_label(username, peer),
            lang: String::new(),
        })
        .await?;
    Ok(p.store.user(id).await?)
}
