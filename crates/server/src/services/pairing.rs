//! Pairing (SPEC §6.1): issuing codes, answering `POST /pair` (inviter), redeeming a code
//! (redeemer). Codes are kept as digest + proof key (secret, cleared on use, revocation or
//! expiry), valid one hour, single use, revoked after five failed attempts. Both sides record
//! each other as active peers with the default grants of SPEC §5.9; a known URL with a new key
//! is a new peer without grants.

use super::{now, Actor};
use crate::error::AppError;
use crate::platform::Platform;
use crate::services::peers::require_admin;
use pf_api::ErrorCode;
use pf_domain::admission::{default_grants, Grant};
use pf_domain::ids::PeerId;
use pf_domain::platform::PlatformRole;
use pf_net::{
    answer_hello, start_pairing, ClientConfig, PairHello, PairSide, PairWelcome, PairingCode,
    PairingError, PeerClient, ProofKey,
};
use pf_store::{NewPeer, PeerStatus};
use std::collections::BTreeSet;

/// How long a pairing code is valid, in seconds.
pub const CODE_LIFETIME: u64 = 3600;

/// Issues a code (shown once; only its digest and proof key are stored).
pub async fn invite(p: &Platform, actor: &Actor) -> Result<String, AppError> {
    require_admin(p, actor).await?;
    let code = PairingCode::generate();
    let now = p.clock.now();
    p.store
        .create_pairing_code(
            code.digest().as_str(),
            &code.proof_key().to_hex(),
            now as i64,
            (now + CODE_LIFETIME) as i64,
        )
        .await?;
    p.audit(actor, "peer.invite", "pairing", serde_json::Value::Null)
        .await?;
    Ok(code.to_string())
}

/// This platform as it presents itself in pairing.
pub async fn me(p: &Platform) -> Result<PairSide, AppError> {
    Ok(PairSide {
        name: p.name().await?,
        url: p.config.platform.url.trim_end_matches('/').to_owned(),
        role: p.role().await?,
        public_key: *p.identity.public_key(),
    })
}

/// Grants for a newly paired peer: none if another peer already uses its URL with another key.
async fn grants_for(p: &Platform, side: &PairSide) -> Result<BTreeSet<Grant>, AppError> {
    let url = side.url.trim_end_matches('/');
    let known = p
        .store
        .peers()
        .await?
        .into_iter()
        .any(|r| r.url.trim_end_matches('/') == url && r.status != PeerStatus::Removed);
    if known {
        return Ok(BTreeSet::new());
    }
    Ok(default_grants(p.role().await?, side.role))
}

async fn record(p: &Platform, side: &PairSide, url: &str) -> Result<PeerId, AppError> {
    let grants = grants_for(p, side).await?;
    let id = p
        .store
        .create_peer(NewPeer {
            name: side.name.clone(),
            url: url.trim_end_matches('/').to_owned(),
            public_key: side.public_key.to_string(),
            key_id: side.public_key.key_id().to_string(),
            role: Some(side.role.as_str().to_owned()),
            created_at: now(),
            grants,
        })
        .await?;
    Ok(id)
}

fn refused(message: &str) -> AppError {
    AppError::new(ErrorCode::Unauthenticated, message)
}

/// Inviter: checks a hello against the stored code and records the redeemer.
pub async fn answer(p: &Platform, hello: &PairHello) -> Result<PairWelcome, AppError> {
    let now = p.clock.now() as i64;
    p.store.purge_pairing_codes(now).await?;
    let digest = hello.code_id.as_str();
    let code = p
        .store
        .live_pairing_code(digest, now)
        .await?
        .ok_or_else(|| refused("unknown, used, revoked or expired pairing code"))?;
    let key = ProofKey::from_hex(&code.proof_key).map_err(AppError::internal)?;
    let me = me(p).await?;
    let (welcome, redeemer) = match answer_hello(hello, &key, &me) {
        Ok(ok) => ok,
        Err(e @ (PairingError::BadProof | PairingError::WrongUrl(_))) => {
            p.store.fail_pairing_code(digest).await?;
            audit_pairing(p, None, "refused", &e.to_string()).await?;
            return Err(refused(&e.to_string()));
        }
        Err(e) => return Err(AppError::bad_request(e.to_string())),
    };
    if p.store
        .peer_by_key_id(redeemer.public_key.key_id().as_str())
        .await?
        .is_some()
    {
        return Err(AppError::new(
            ErrorCode::Conflict,
            "this platform is already paired with that key",
        ));
    }
    if !p.store.use_pairing_code(digest, now).await? {
        return Err(refused("unknown, used, revoked or expired pairing code"));
    }
    let id = record(p, &redeemer, &redeemer.url).await?;
    audit_pairing(p, Some(id), "ok", &redeemer.name).await?;
    Ok(welcome)
}

async fn audit_pairing(
    p: &Platform,
    peer: Option<PeerId>,
    result: &str,
    detail: &str,
) -> Result<(), AppError> {
    p.store
        .append_audit(pf_store::NewAudit {
            at: now(),
            actor: "pairing".into(),
            action: "peer.pair".into(),
            target: peer.map(|p| format!("peer:{p}")).unwrap_or_default(),
            peer,
            job: None,
            result: result.into(),
            details: serde_json::json!({ "detail": detail }),
        })
        .await?;
    Ok(())
}

/// Redeemer: pairs with the platform at `url` using the code it issued; records it.
pub async fn redeem(
    p: &Platform,
    actor: &Actor,
    url: &str,
    code: &str,
) -> Result<PeerId, AppError> {
    require_admin(p, actor).await?;
    let code = PairingCode::parse(code).map_err(|e| AppError::bad_request(e.to_string()))?;
    let url = url.trim().trim_end_matches('/');
    pf_net::PeerEndpoint::new(url, *p.identity.public_key())
        .map_err(|e| AppError::bad_request(e.to_string()))?;
    let me = me(p).await?;
    if me.role == PlatformRole::Normal {
        tracing::warn!("a platform with role normal is pairing");
    }
    let (hello, redeeming) = start_pairing(&code, url, &me);
    let client = PeerClient::new(p.identity.clone(), p.clock.clone(), ClientConfig::default())
        .map_err(AppError::internal)?;
    let welcome = client.pair(url, &hello).await.map_err(|e| match e {
        pf_net::ClientError::Peer(env) => AppError::new(
            env.code,
            format!("{url} refused the pairing: {}", env.message),
        ),
        other => AppError::new(ErrorCode::PeerUnreachable, format!("{url}: {other}")),
    })?;
    let inviter = redeeming
        .finish(&welcome)
        .map_err(|e| refused(&format!("{url}: {e}")))?;
    let id = record(p, &inviter, url).await?;
    // Learn the inviter's tree at once (best effort: the schedule retries a failure).
    let scan = crate::services::discovery::scan_peer(p, id).await;
    if !scan.ok {
        tracing::warn!(error = ?scan.error, "first scan after pairing failed");
    }
    p.audit(
        actor,
        "peer.add",
        format!("peer:{id}"),
        serde_json::json!({ "name": inviter.name, "url": url }),
    )
    .await?;
    Ok(id)
}
