//! Signed jumps (SPEC §8). The home issues a jump (who the user is, for one audience, two
//! minutes, single use) and a delegation (deploy-home, eight hours) and hands both to the
//! browser, which POSTs them to the audience's `/jump`. The audience verifies the jump (paired
//! active peer, signature, audience, expiry, id not used before — ids live in the database until
//! they expire), then either
//!
//! - **jump in**: the user's home is the caller → the roaming account `username@peer` is created
//!   or updated (name, e-mail, language, the profile fields the rules need and the admin trusts
//!   from that peer) and keeps the delegation; or
//! - **jump back**: the form carries a delegation that *this* platform signed for that user and
//!   that peer, unexpired → the caller may open a session for our own user, and nobody else.
//!
//! A catalog can therefore never log in an arbitrary home user: only one who jumped from here to
//! it within the delegation's lifetime.

use super::privacy;
use crate::error::AppError;
use crate::platform::Platform;
use crate::services::admission::{remote_label, roaming_account};
use crate::services::{rules, Actor, Via};
use pf_api::ErrorCode;
use pf_domain::ids::PeerId;
use pf_domain::user::Home;
use pf_net::{issue_delegation, issue_jump, JumpUser, PublicKey, Purpose};
use pf_store::{PeerRecord, PeerStatus, StoredDelegation, UserRecord, UserUpdate};
use std::collections::BTreeMap;

/// What the browser POSTs to the audience's `/jump`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JumpForm {
    /// The peer's name (for the page).
    pub peer: String,
    /// `{peer base URL}/jump`.
    pub action: String,
    /// The signed jump.
    pub token: String,
    /// The delegation (jump in: the home's fresh one; jump back: the one the home gave us).
    pub delegation: Option<String>,
    /// A local path on the audience.
    pub next: String,
}

/// A jump accepted here: the account to open a session for and where to go.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The account.
    pub user: UserRecord,
    /// A local path.
    pub next: String,
}

fn refused(why: impl Into<String>) -> AppError {
    AppError::new(ErrorCode::Unauthenticated, why)
}

fn peer_key(peer: &PeerRecord) -> Result<PublicKey, AppError> {
    peer.public_key
        .parse()
        .map_err(|_| AppError::internal(format!("stored key of peer {}", peer.id)))
}

fn now(p: &Platform) -> i64 {
    p.clock.now() as i64
}

/// The active peers a user of this platform may jump to (catalogs): id and name.
pub async fn targets(p: &Platform, actor: &Actor) -> Result<Vec<(PeerId, String)>, AppError> {
    let Some(user) = &actor.user else {
        return Ok(Vec::new());
    };
    if user.home != Home::Local {
        return Ok(Vec::new());
    }
    Ok(p.store
        .peers()
        .await?
        .into_iter()
        .filter(|peer| {
            peer.status == PeerStatus::Active
                && peer
                    .role
                    .as_deref()
                    .and_then(|r| r.parse::<pf_domain::platform::PlatformRole>().ok())
                    .is_some_and(|r| r.duties().catalog)
        })
        .map(|peer| (peer.id, peer.name))
        .collect())
}

/// Home side: a jump of the logged-in local user to `peer`, with a deploy-home delegation.
pub async fn to_peer(
    p: &Platform,
    actor: &Actor,
    peer: PeerId,
    next: Option<&str>,
) -> Result<JumpForm, AppError> {
    let user = actor
        .user
        .as_ref()
        .ok_or_else(|| refused("please log in first"))?;
    if user.home != Home::Local {
        return Err(AppError::new(
            ErrorCode::MissingCapability,
            "only this platform's own users jump from here",
        ));
    }
    let peer = p.store.peer(peer).await?;
    if peer.status != PeerStatus::Active {
        return Err(AppError::new(
            ErrorCode::NotAdmitted,
            format!("peer {} is {}", peer.name, peer.status.as_str()),
        ));
    }
    let audience = peer_key(&peer)?.key_id();
    let jumper = JumpUser {
        username: user.username.clone(),
        fullname: user.fullname.clone(),
        email: user.email.clone(),
        lang: user.lang.clone(),
        // Admin-managed fields only: a user-editable field never leaves as a fact about them.
        profile: rules::trusted_fields(p, user).await?,
    };
    let (token, jump_id) = issue_jump(&p.identity, &audience, &jumper, &*p.clock);
    let (delegation, claims) = issue_delegation(
        &p.identity,
        &user.username,
        &audience,
        Purpose::DeployHome,
        super::DELEGATION_LIFETIME,
        &*p.clock,
    )
    .map_err(AppError::internal)?;
    p.audit(
        actor,
        "jump.out",
        format!("peer:{}", peer.id),
        serde_json::json!({ "peer": peer.name, "jump": jump_id, "delegation": claims.id,
                            "delegation_expires": claims.expires_at, "fields": jumper.profile.keys().collect::<Vec<_>>() }),
    )
    .await?;
    Ok(JumpForm {
        action: format!("{}/jump", peer.url.trim_end_matches('/')),
        peer: peer.name,
        token,
        delegation: Some(delegation),
        next: crate::web::local_path(next),
    })
}

/// Common-platform side: a jump of a roaming user back to their home, to `next` there, with the
/// delegation the home gave us at their last jump.
pub async fn back_home(p: &Platform, actor: &Actor, next: &str) -> Result<JumpForm, AppError> {
    let user = actor
        .user
        .as_ref()
        .ok_or_else(|| refused("please log in first"))?;
    let Home::Peer(home) = user.home else {
        return Err(AppError::bad_request("your home is this platform"));
    };
    let delegation = live_delegation(p, user).await?;
    let peer = p.store.peer(home).await?;
    let audience = peer_key(&peer)?.key_id();
    let jumper = JumpUser {
        username: user.username.clone(),
        fullname: user.fullname.clone(),
        email: user.email.clone(),
        lang: user.lang.clone(),
        profile: BTreeMap::new(),
    };
    let (token, jump_id) = issue_jump(&p.identity, &audience, &jumper, &*p.clock);
    p.audit(
        actor,
        "jump.back",
        format!("peer:{}", peer.id),
        serde_json::json!({ "peer": peer.name, "jump": jump_id, "delegation": delegation.id }),
    )
    .await?;
    Ok(JumpForm {
        action: format!("{}/jump", peer.url.trim_end_matches('/')),
        peer: peer.name,
        token,
        delegation: Some(delegation.token),
        next: crate::web::local_path(Some(next)),
    })
}

/// The unexpired delegation kept with a roaming account.
pub async fn live_delegation(
    p: &Platform,
    user: &UserRecord,
) -> Result<StoredDelegation, AppError> {
    match p.store.roaming_delegation(user.id).await? {
        Some(d) if d.expires_at > now(p) => Ok(d),
        _ => Err(AppError::new(
            ErrorCode::NotAdmitted,
            "your permission to act for you on your platform expired: jump here again from your platform",
        )),
    }
}

/// Receiving side of `POST /jump`: verifies and records the jump, then maps it to an account.
pub async fn accept(
    p: &Platform,
    token: &str,
    delegation: Option<&str>,
    next: Option<&str>,
) -> Result<Accepted, AppError> {
    match accept_inner(p, token, delegation, next).await {
        Ok(a) => Ok(a),
        Err(e) => {
            let guest = Actor::guest(Via::Web);
            let details = serde_json::json!({ "code": e.code.as_str(), "reason": e.message });
            if let Err(audit) = p.audit(&guest, "jump.refused", "jump", details).await {
                tracing::warn!(error = %audit.message, "could not audit a refused jump");
            }
            Err(e)
        }
    }
}

async fn accept_inner(
    p: &Platform,
    token: &str,
    delegation: Option<&str>,
    next: Option<&str>,
) -> Result<Accepted, AppError> {
    let issuer = pf_net::jump_home(token).map_err(|e| refused(format!("jump refused: {e}")))?;
    let peer = p
        .store
        .peer_by_key_id(issuer.as_str())
        .await?
        .filter(|peer| peer.status == PeerStatus::Active)
        .ok_or_else(|| refused("jump refused: it does not come from an active paired platform"))?;
    let key = peer_key(&peer)?;
    let me = p.identity.key_id();
    let jump = pf_net::verify_jump(token, &key, &me, &*p.clock)
        .map_err(|e| refused(format!("jump refused: {e}")))?;
    if !p
        .store
        .record_jump(&jump.id, jump.record_until as i64, now(p))
        .await?
    {
        return Err(refused("jump refused: it was already used"));
    }
    let delegation = delegation.map(str::trim).filter(|d| !d.is_empty());
    // A delegation we signed ourselves makes this a jump back to one of our own users.
    let ours = delegation.and_then(|d| {
        pf_net::verify_delegation(
            d,
            p.identity.public_key(),
            &key.key_id(),
            Purpose::DeployHome,
            &jump.user.username,
            &*p.clock,
        )
        .ok()
    });
    let next = crate::web::local_path(next);
    if let Some(d) = ours {
        let user = p
            .store
            .local_user(&jump.user.username)
            .await
            .map_err(|_| refused("jump refused: no such account here"))?;
        if user.disabled || user.home != Home::Local {
            return Err(refused("jump refused: this account cannot sign in"));
        }
        let actor = Actor::user(user.clone(), Via::Web);
        let details = serde_json::json!({ "peer": peer.name, "jump": jump.id, "delegation": d.id });
        p.audit(&actor, "jump.in", "session", details).await?;
        return Ok(Accepted { user, next });
    }
    // Jump in: the caller is the user's home. A delegation that is neither ours (above) nor
    // the caller's for us refuses the whole jump.
    let kept = delegation
        .map(|d| {
            pf_net::verify_delegation(
                d,
                &key,
                &me,
                Purpose::DeployHome,
                &jump.user.username,
                &*p.clock,
            )
            .map(|c| StoredDelegation {
                token: d.to_string(),
                id: c.id,
                expires_at: c.expires_at as i64,
            })
            .map_err(|e| refused(format!("the delegation was refused: {e}")))
        })
        .transpose()?;
    let user = roaming_account(p, &peer, &jump.user.username).await?;
    if user.disabled {
        return Err(refused(format!(
            "the account of {} is disabled here",
            remote_label(&jump.user.username, &peer)
        )));
    }
    let fullname: String = jump.user.fullname.chars().take(255).collect();
    let lang = pf_domain::user::Language::from_tag(&jump.user.lang)
        .map(|l| l.code().to_string())
        .unwrap_or_default();
    p.store
        .update_user(
            user.id,
            UserUpdate {
                email: Some(jump.user.email.chars().take(255).collect()),
                fullname: Some(if fullname.trim().is_empty() {
                    remote_label(&jump.user.username, &peer)
                } else {
                    fullname
                }),
                lang: Some(lang),
                disabled: None,
            },
        )
        .await?;
    let values = privacy::kept_fields(p, &peer, &jump.user.profile).await?;
    p.store
        .roaming_jumped(user.id, now(p), kept.as_ref(), &values)
        .await?;
    let user = p.store.user(user.id).await?;
    let actor = Actor::user(user.clone(), Via::Web);
    let details = serde_json::json!({
        "peer": peer.name, "jump": jump.id, "delegation": kept.as_ref().map(|d| d.id.clone()),
        "fields_kept": values.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
        "fields_dropped": jump.user.profile.len() - values.len(),
    });
    p.audit(&actor, "jump.in", "session", details).await?;
    Ok(Accepted { user, next })
}
