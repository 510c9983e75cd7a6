//! Peer RPC (SPEC §6.3): `POST /pair` and everything under `/rpc/`.
//!
//! [`guard`] runs before any `/rpc/` handler — unknown paths included: it reads the signed
//! headers, reads the body (bounded), looks the caller up in the peers table, verifies the
//! signature against the raw `path_and_query`, our key id and the injectable clock, and records
//! the nonce in the database (a reused one is refused). Any failure is a 401 envelope. Every
//! response whose request nonce and caller could be read is signed, refusals included, and every
//! request, accepted or refused, is audited (peer, acting user, call, result).

pub mod caller;
mod catalog;
mod handlers;
mod mutual;
mod pair;
mod parts;
mod transfer;
mod transport;

pub use caller::PeerCaller;

use crate::error::AppError;
use crate::web::AppState;
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use pf_api::ErrorCode;
use pf_net::{headers, KeyId, Nonce, PeerKeyStatus, PublicKey, RequestHeaders, VerifiedRequest};
use pf_store::{NewAudit, PeerRecord, PeerStatus};

/// Largest `/rpc/` request body, in bytes.
pub const MAX_RPC_BODY: usize = 1 << 20;

/// What a handler knows about a verified call.
#[derive(Clone, Debug)]
pub struct RpcCall {
    /// The calling peer (active).
    pub peer: PeerRecord,
    /// The verified request (caller key, user assertion…).
    pub verified: VerifiedRequest,
}

/// Set by handlers on their response: the acting user, for the audit entry.
#[derive(Clone, Debug)]
pub struct ActingLabel(pub String);

/// The peer routes: `/pair` and `/rpc/…` (the latter behind [`guard`]).
pub fn router(state: AppState) -> Router<AppState> {
    let unknown = || async { AppError::new(ErrorCode::UnknownRecord, "no such peer call") };
    let rpc = Router::new()
        .route("/rpc/describe", get(handlers::describe).fallback(unknown))
        .route(
            "/rpc/check-user",
            post(handlers::check_user).fallback(unknown),
        )
        .route("/rpc/admit", post(handlers::admit).fallback(unknown))
        .route(
            "/rpc/admit-categories",
            post(catalog::admit_categories).fallback(unknown),
        )
        .route(
            "/rpc/course-exists",
            get(handlers::course_exists).fallback(unknown),
        )
        .route("/rpc/sessions", get(handlers::sessions).fallback(unknown))
        .route("/rpc/index", post(catalog::index).fallback(unknown))
        .route("/rpc/session", post(catalog::session).fallback(unknown))
        .route("/rpc/offer", post(transfer::offer).fallback(unknown))
        .route(
            "/rpc/deploy-home",
            post(mutual::deploy_home).fallback(unknown),
        )
        .route("/rpc/jobs/{id}", get(transfer::job).fallback(unknown))
        .route("/rpc/ticket", post(transfer::renew).fallback(unknown))
        .route("/rpc/part", post(transport::part).fallback(unknown))
        .route(
            "/rpc/jobs/{id}/cancel",
            post(transport::cancel).fallback(unknown),
        )
        .route(
            "/rpc/publication",
            get(transfer::status)
                .post(transfer::change)
                .fallback(unknown),
        )
        .route("/rpc", any(unknown))
        .route("/rpc/", any(unknown))
        .route("/rpc/{*rest}", any(unknown))
        .layer(axum::middleware::from_fn_with_state(state, guard));
    Router::new()
        .route("/pair", post(pair::pair))
        .route("/transfer/parts/{sha256}", get(parts::serve))
        .merge(rpc)
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut values = h.get_all(name).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return None;
    }
    first.to_str().ok()
}

/// The (caller, nonce) a response can be signed for, when both headers read.
fn signing_target(h: &HeaderMap) -> Option<(KeyId, Nonce)> {
    let caller = KeyId::parse(header_str(h, headers::CALLER)?).ok()?;
    let nonce = Nonce::parse(header_str(h, headers::NONCE)?)?;
    Some((caller, nonce))
}

fn call_name(path: &str) -> String {
    let call = path
        .strip_prefix("/rpc")
        .unwrap_or(path)
        .trim_start_matches('/');
    let call: String = call.chars().take(64).collect();
    format!("rpc.{}", if call.is_empty() { "-" } else { &call })
}

async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let p = state.platform.clone();
    let (parts, body) = request.into_parts();
    let target = signing_target(&parts.headers);
    let path = parts.uri.path().to_owned();
    let call = call_name(&path);
    let caller_text = target.as_ref().map(|(c, _)| c.to_string());
    let peer = match &caller_text {
        Some(k) => p.store.peer_by_key_id(k).await.ok().flatten(),
        None => None,
    };
    let outcome = verify(&state, parts, body, peer.clone()).await;
    let (response, acting) = match outcome {
        Err((error, reason)) => {
            tracing::info!(%reason, call = %call, "peer request refused");
            (error.into_response(), None)
        }
        Ok(request) => {
            let mut response = next.run(request).await;
            let acting = response.extensions_mut().remove::<ActingLabel>();
            (response, acting)
        }
    };
    let (mut parts_out, body_out) = response.into_parts();
    let bytes = match to_bytes(body_out, usize::MAX).await {
        Ok(b) => b,
        Err(_) => {
            let e = AppError::internal("reading a response body");
            return e.into_response();
        }
    };
    let status = parts_out.status.as_u16();
    let result = if parts_out.status.is_success() {
        "ok".to_owned()
    } else {
        serde_json::from_slice::<pf_api::ErrorEnvelope>(&bytes)
            .map(|e| e.code.as_str().to_owned())
            .unwrap_or_else(|_| format!("http_{status}"))
    };
    let actor = match (&acting, &peer) {
        (Some(ActingLabel(a)), _) => a.clone(),
        (None, Some(peer)) => format!("peer:{}", peer.name),
        (None, None) => "unknown peer".to_owned(),
    };
    let audit = NewAudit {
        at: p.clock.now() as i64,
        actor,
        action: call,
        target: path,
        peer: peer.as_ref().map(|r| r.id),
        job: None,
        result,
        details: serde_json::json!({ "status": status, "caller": caller_text }),
    };
    if let Err(e) = p.store.append_audit(audit).await {
        tracing::error!(error = ?e, "cannot audit a peer request");
    }
    if let Some((caller, nonce)) = target {
        let digest = pf_net::sha256(&bytes);
        for (name, value) in pf_net::sign_response(&p.identity, status, &digest, &nonce, &caller) {
            if let Ok(v) = value.parse() {
                parts_out.headers.insert(name, v);
            }
        }
    }
    Response::from_parts(parts_out, Body::from(bytes))
}

fn refused(reason: impl std::fmt::Display) -> (AppError, String) {
    (
        AppError::new(
            ErrorCode::Unauthenticated,
            "the request's signature was refused",
        ),
        reason.to_string(),
    )
}

/// Verification proper; on success, the request to hand to the handler.
async fn verify(
    state: &AppState,
    mut parts: axum::http::request::Parts,
    body: Body,
    peer: Option<PeerRecord>,
) -> Result<Request, (AppError, String)> {
    let p = &state.platform;
    let parsed = RequestHeaders::parse(&parts.headers).map_err(refused)?;
    let bytes = to_bytes(body, MAX_RPC_BODY).await.map_err(|_| {
        (
            AppError::new(ErrorCode::TooLarge, "the request body is too large"),
            "body too large".to_owned(),
        )
    })?;
    let status = match &peer {
        None => None,
        Some(r) if r.status == PeerStatus::Active => {
            let key: PublicKey = r.public_key.parse().map_err(refused)?;
            Some(PeerKeyStatus::Active(key))
        }
        Some(_) => Some(PeerKeyStatus::Disabled),
    };
    let target = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/");
    let verified = parsed
        .verify(
            parts.method.as_str(),
            target,
            &pf_net::sha256(&bytes),
            &p.identity.key_id(),
            status,
            &*p.clock,
        )
        .map_err(refused)?;
    let fresh = p
        .store
        .record_nonce(
            verified.caller.as_str(),
            verified.nonce.as_str(),
            verified.record_until as i64,
            p.clock.now() as i64,
        )
        .await
        .map_err(|e| (AppError::from(e), "nonce store".to_owned()))?;
    if !fresh {
        return Err(refused("replayed nonce"));
    }
    let peer = peer.ok_or_else(|| refused("peer vanished"))?;
    parts.extensions.insert(RpcCall { peer, verified });
    Ok(Request::from_parts(parts, Body::from(bytes)))
}
