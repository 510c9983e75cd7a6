//! [`PeerCaller`]: the one way this platform calls a peer. It signs every request (acting user
//! included, as an assertion bound to this platform), verifies every response, calls only the
//! base URL recorded at pairing, and maps failures to [`AppError`]s with the stable codes
//! (`peer_unreachable`, `unauthenticated`, or the peer's own code).

use crate::error::AppError;
use crate::platform::Platform;
use pf_api::ErrorCode;
use pf_domain::user::Username;
use pf_net::{Acting, ClientConfig, ClientError, PeerClient, PeerEndpoint, PublicKey};
use pf_store::{PeerRecord, PeerStatus};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Signs, sends and verifies calls to paired peers.
#[derive(Clone)]
pub struct PeerCaller {
    client: PeerClient,
    platform: Platform,
}

/// Turns a client failure into the error a user or a peer sees.
pub fn client_error(peer: &PeerRecord, e: ClientError) -> AppError {
    match e {
        ClientError::Peer(envelope) => AppError {
            code: envelope.code,
            message: format!("{} answered: {}", peer.name, envelope.message),
            details: envelope.details,
        },
        other => {
            let code = match other.error_code() {
                ErrorCode::Internal => ErrorCode::PeerUnreachable,
                code => code,
            };
            AppError::new(code, format!("peer {}: {other}", peer.name))
        }
    }
}

impl std::fmt::Debug for PeerCaller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerCaller")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl PeerCaller {
    /// A caller signing as this platform, with its clock.
    pub fn new(platform: &Platform) -> Result<PeerCaller, AppError> {
        let client = PeerClient::new(
            platform.identity.clone(),
            platform.clock.clone(),
            ClientConfig::default(),
        )
        .map_err(AppError::internal)?;
        Ok(PeerCaller {
            client,
            platform: platform.clone(),
        })
    }

    /// The endpoint recorded at pairing; refuses peers that are not active.
    pub fn endpoint(peer: &PeerRecord) -> Result<PeerEndpoint, AppError> {
        if peer.status != PeerStatus::Active {
            return Err(AppError::new(
                ErrorCode::NotAdmitted,
                format!("peer {} is {}", peer.name, peer.status.as_str()),
            ));
        }
        let key: PublicKey = peer
            .public_key
            .parse()
            .map_err(|_| AppError::internal(format!("stored key of peer {}", peer.id)))?;
        PeerEndpoint::new(&peer.url, key).map_err(|e| client_error(peer, e))
    }

    /// The raw client (for transports that stream).
    pub fn client(&self) -> &PeerClient {
        &self.client
    }

    fn assertion(
        &self,
        peer: &PeerRecord,
        user: Option<&Username>,
    ) -> Result<Option<String>, AppError> {
        let Some(user) = user else { return Ok(None) };
        let endpoint = Self::endpoint(peer)?;
        let me = self.platform.identity.key_id();
        pf_net::issue_user_assertion(
            &self.platform.identity,
            user,
            &me,
            &endpoint.key().key_id(),
            &*self.platform.clock,
        )
        .map(Some)
        .map_err(AppError::internal)
    }

    /// A signed GET (`path` under `/rpc/`, with its query) acting for `user` of this platform.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        peer: &PeerRecord,
        path: &str,
        user: Option<&Username>,
    ) -> Result<T, AppError> {
        let endpoint = Self::endpoint(peer)?;
        let token = self.assertion(peer, user)?;
        let acting = Acting {
            user: token.as_deref(),
            delegation: None,
        };
        self.client
            .get_json(&endpoint, path, acting)
            .await
            .map_err(|e| client_error(peer, e))
    }

    /// A signed POST of JSON acting for `user` of this platform.
    pub async fn post_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        peer: &PeerRecord,
        path: &str,
        body: &B,
        user: Option<&Username>,
    ) -> Result<T, AppError> {
        let endpoint = Self::endpoint(peer)?;
        let token = self.assertion(peer, user)?;
        let acting = Acting {
            user: token.as_deref(),
            delegation: None,
        };
        self.client
            .post_json(&endpoint, path, body, acting)
            .await
            .map_err(|e| client_error(peer, e))
    }

    /// A signed POST of JSON acting for `user` of the **receiving** peer (their home), with the
    /// delegation that peer signed for us (SPEC §6.3, §8).
    pub async fn post_json_delegated<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        peer: &PeerRecord,
        path: &str,
        body: &B,
        user: &Username,
        delegation: &str,
    ) -> Result<T, AppError> {
        let endpoint = Self::endpoint(peer)?;
        let home = endpoint.key().key_id();
        let token = pf_net::issue_user_assertion(
            &self.platform.identity,
            user,
            &home,
            &home,
            &*self.platform.clock,
        )
        .map_err(AppError::internal)?;
        let acting = Acting {
            user: Some(&token),
            delegation: Some(delegation),
        };
        self.client
            .post_json(&endpoint, path, body, acting)
            .await
            .map_err(|e| client_error(peer, e))
    }
}
