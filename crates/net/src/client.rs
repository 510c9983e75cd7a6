//! The HTTP client for peer RPC (SPEC §6.3): signs every request, verifies every response.
//!
//! - Calls go only to the peer's base URL recorded at pairing ([`PeerEndpoint`]): paths are
//!   joined to it, and absolute URLs, `//host` paths, dot segments and anything that would leave
//!   the base are refused ([`ClientError::InvalidPath`]).
//! - Redirects are never followed: a 3xx is [`ClientError::Redirected`].
//! - Connect and overall timeouts ([`ClientConfig`]); TLS is rustls (ring provider, webpki
//!   roots) and always verified on `https`; response bodies are capped.
//! - A response that is unsigned or whose signature does not match the request's nonce, its
//!   status and its body is refused ([`ClientError::ResponseRefused`]), except that an unsigned
//!   401 is reported as [`ClientError::Unauthenticated`] (a refusal needs no trust); a signed
//!   401 envelope keeps its own code and message (say, `bad_user`: the delegation expired).
//! - Failures map to the stable codes with [`ClientError::error_code`]: unreachable, timeout and
//!   invalid answers → `peer_unreachable`, unsigned 401 → `unauthenticated`, a signed error envelope →
//!   its own code.

use crate::clock::Clock;
use crate::encoding::sha256;
use crate::headers::HeaderSource;
use crate::keys::{Identity, PublicKey};
use crate::messages::DescribeResponse;
use crate::pairing::{PairHello, PairWelcome};
use crate::request::{sign_request, Acting, SignError};
use crate::response::{verify_response, ResponseError};
use pf_api::{ErrorCode, ErrorEnvelope};
use reqwest::header::HeaderMap;
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

impl HeaderSource for HeaderMap {
    fn values(&self, name: &str) -> Vec<&[u8]> {
        self.get_all(name).iter().map(|v| v.as_bytes()).collect()
    }
}

/// Limits of the peer client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Time allowed to open the connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// Time allowed for a whole call, body included.
    pub timeout: Duration,
    /// Largest response body read.
    pub max_response_bytes: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(120),
            max_response_bytes: 48 * 1024 * 1024,
        }
    }
}

/// Why a peer call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The recorded base URL is not an `http(s)://host[:port][/path]` URL.
    #[error("invalid peer base URL {0:?}")]
    InvalidBaseUrl(String),
    /// The path is not a relative path under the peer's base URL.
    #[error("invalid peer path {0:?}: only paths under the peer's base URL are called")]
    InvalidPath(String),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
    /// The peer could not be reached (DNS, connection, TLS, I/O).
    #[error("peer unreachable: {0}")]
    Unreachable(String),
    /// The peer did not answer in time.
    #[error("peer did not answer in time")]
    Timeout,
    /// The peer answered with a redirect, which is never followed.
    #[error("peer answered {status} redirect to {location:?}; redirects are not followed")]
    Redirected {
        /// The 3xx status.
        status: u16,
        /// Where it pointed.
        location: Option<String>,
    },
    /// The peer refused our request's authentication (401).
    #[error("the peer refused this platform's signature (401)")]
    Unauthenticated,
    /// The response's signature is missing or does not match.
    #[error("response refused: {0}")]
    ResponseRefused(#[from] ResponseError),
    /// The response body is larger than allowed.
    #[error("response body larger than {0} bytes")]
    ResponseTooLarge(usize),
    /// The peer answered with a signed error envelope.
    #[error("peer error {}: {}", .0.code, .0.message)]
    Peer(ErrorEnvelope),
    /// The peer answered a signed non-success status without an envelope.
    #[error("peer answered status {0}")]
    UnexpectedStatus(u16),
    /// The body of a successful answer is not the expected JSON.
    #[error("unexpected response body: {0}")]
    BadBody(String),
    /// The request could not be signed.
    #[error(transparent)]
    Sign(#[from] SignError),
}

impl ClientError {
    /// The stable error code for this failure.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            ClientError::Unauthenticated => ErrorCode::Unauthenticated,
            ClientError::Peer(envelope) => envelope.code,
            ClientError::InvalidBaseUrl(_)
            | ClientError::InvalidPath(_)
            | ClientError::Build(_)
            | ClientError::Sign(_) => ErrorCode::Internal,
            ClientError::UnexpectedStatus(_) => ErrorCode::Failed,
            ClientError::Unreachable(_)
            | ClientError::Timeout
            | ClientError::Redirected { .. }
            | ClientError::ResponseRefused(_)
            | ClientError::ResponseTooLarge(_)
            | ClientError::BadBody(_) => ErrorCode::PeerUnreachable,
        }
    }
}

/// A peer as recorded at pairing: its base URL and its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerEndpoint {
    base: Url,
    key: PublicKey,
}

impl PeerEndpoint {
    /// Checks the base URL: `http` or `https`, a host, no user info, query or fragment.
    pub fn new(base_url: &str, key: PublicKey) -> Result<PeerEndpoint, ClientError> {
        let bad = || ClientError::InvalidBaseUrl(base_url.to_owned());
        let base = Url::parse(base_url).map_err(|_| bad())?;
        let ok = matches!(base.scheme(), "http" | "https")
            && base.host_str().is_some_and(|h| !h.is_empty())
            && base.username().is_empty()
            && base.password().is_none()
            && base.query().is_none()
            && base.fragment().is_none();
        if !ok {
            return Err(bad());
        }
        Ok(PeerEndpoint { base, key })
    }

    /// The peer's key.
    pub fn key(&self) -> &PublicKey {
        &self.key
    }

    /// The base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// Joins `path` (`/rpc/…`, optionally with a query) to the base URL, refusing anything that
    /// would leave it.
    pub fn url_for(&self, path: &str) -> Result<Url, ClientError> {
        let bad = || ClientError::InvalidPath(path.to_owned());
        let (path_part, _) = path.split_once('?').unwrap_or((path, ""));
        let ok = path.starts_with('/')
            && !path.starts_with("//")
            && path
                .bytes()
                .all(|b| (0x21..=0x7e).contains(&b) && b != b'#' && b != b'\\')
            && !path_part.split('/').any(|seg| {
                matches!(
                    seg.to_ascii_lowercase().as_str(),
                    "." | ".." | "%2e" | "%2e%2e" | ".%2e" | "%2e."
                )
            });
        if !ok {
            return Err(bad());
        }
        let base_path = self.base.path().trim_end_matches('/');
        let origin = self.base.origin().ascii_serialization();
        let url = Url::parse(&format!("{origin}{base_path}{path}")).map_err(|_| bad())?;
        let same = url.scheme() == self.base.scheme()
            && url.host_str() == self.base.host_str()
            && url.port_or_known_default() == self.base.port_or_known_default()
            && url.path().starts_with(base_path);
        if !same {
            return Err(bad());
        }
        Ok(url)
    }
}

/// A verified successful answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerResponse {
    /// The 2xx status.
    pub status: u16,
    /// The body, whose digest the peer signed.
    pub body: Vec<u8>,
}

/// Signs, sends and verifies peer calls for this platform.
#[derive(Clone)]
pub struct PeerClient {
    http: reqwest::Client,
    identity: Arc<Identity>,
    clock: Arc<dyn Clock>,
    max_response_bytes: usize,
}

impl std::fmt::Debug for PeerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerClient")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

fn describe_error(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn send_error(err: reqwest::Error) -> ClientError {
    if err.is_timeout() {
        ClientError::Timeout
    } else {
        ClientError::Unreachable(describe_error(&err))
    }
}

impl PeerClient {
    /// A client signing as `identity`.
    pub fn new(
        identity: Arc<Identity>,
        clock: Arc<dyn Clock>,
        config: ClientConfig,
    ) -> Result<PeerClient, ClientError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .user_agent(concat!("publishflow/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Build(describe_error(&e)))?;
        Ok(PeerClient {
            http,
            identity,
            clock,
            max_response_bytes: config.max_response_bytes,
        })
    }

    async fn read_body(&self, mut response: reqwest::Response) -> Result<Vec<u8>, ClientError> {
        let limit = self.max_response_bytes;
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(ClientError::ResponseTooLarge(limit));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(send_error)? {
            if body.len() + chunk.len() > limit {
                return Err(ClientError::ResponseTooLarge(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Sends a signed call and returns the verified 2xx answer; every other outcome is an error.
    pub async fn call(
        &self,
        peer: &PeerEndpoint,
        method: Method,
        path: &str,
        body: Vec<u8>,
        content_type: Option<&str>,
        acting: Acting<'_>,
    ) -> Result<PeerResponse, ClientError> {
        let url = peer.url_for(path)?;
        let target = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let signed = sign_request(
            &self.identity,
            &peer.key.key_id(),
            method.as_str(),
            &target,
            &sha256(&body),
            acting,
            &*self.clock,
        )?;
        let mut request = self.http.request(method, url);
        for (name, value) in &signed.headers {
            request = request.header(*name, value.as_str());
        }
        if let Some(ct) = content_type {
            request = request.header(reqwest::header::CONTENT_TYPE, ct);
        }
        let response = request.body(body).send().await.map_err(send_error)?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            return Err(ClientError::Redirected {
                status: status.as_u16(),
                location,
            });
        }
        let headers = response.headers().clone();
        let body = self.read_body(response).await?;
        let verified = verify_response(
            status.as_u16(),
            &headers,
            &sha256(&body),
            &peer.key,
            &signed.nonce,
            &self.identity.key_id(),
        );
        if status == reqwest::StatusCode::UNAUTHORIZED {
            // A refusal the peer signed says why (`bad_user`, a delegation refused…); one it
            // did not sign (it does not know us) is plain `unauthenticated`.
            return Err(
                match (&verified, serde_json::from_slice::<ErrorEnvelope>(&body)) {
                    (Ok(()), Ok(envelope)) => ClientError::Peer(envelope),
                    _ => ClientError::Unauthenticated,
                },
            );
        }
        verified?;
        if status.is_success() {
            return Ok(PeerResponse {
                status: status.as_u16(),
                body,
            });
        }
        match serde_json::from_slice::<ErrorEnvelope>(&body) {
            Ok(envelope) => Err(ClientError::Peer(envelope)),
            Err(_) => Err(ClientError::UnexpectedStatus(status.as_u16())),
        }
    }

    /// A signed GET whose answer is JSON.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        peer: &PeerEndpoint,
        path: &str,
        acting: Acting<'_>,
    ) -> Result<T, ClientError> {
        let response = self
            .call(peer, Method::GET, path, Vec::new(), None, acting)
            .await?;
        serde_json::from_slice(&response.body).map_err(|e| ClientError::BadBody(e.to_string()))
    }

    /// A signed POST of JSON whose answer is JSON.
    pub async fn post_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        peer: &PeerEndpoint,
        path: &str,
        body: &B,
        acting: Acting<'_>,
    ) -> Result<T, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ClientError::BadBody(e.to_string()))?;
        let response = self
            .call(
                peer,
                Method::POST,
                path,
                bytes,
                Some("application/json"),
                acting,
            )
            .await?;
        serde_json::from_slice(&response.body).map_err(|e| ClientError::BadBody(e.to_string()))
    }

    /// `GET /rpc/describe` (SPEC §6.2).
    pub async fn describe(&self, peer: &PeerEndpoint) -> Result<DescribeResponse, ClientError> {
        self.get_json(peer, "/rpc/describe", Acting::NONE).await
    }

    /// `POST /pair` with a hello (SPEC §6.1). Not signed — no keys are known yet; the welcome's
    /// proof authenticates the answer ([`crate::pairing::Redeeming::finish`]). The same rules on
    /// URLs, redirects, timeouts and size apply.
    pub async fn pair(
        &self,
        inviter_url: &str,
        hello: &PairHello,
    ) -> Result<PairWelcome, ClientError> {
        let url = PeerEndpoint::new(inviter_url, hello.redeemer.public_key)?.url_for("/pair")?;
        let response = self
            .http
            .post(url)
            .json(hello)
            .send()
            .await
            .map_err(send_error)?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            return Err(ClientError::Redirected {
                status: status.as_u16(),
                location,
            });
        }
        let body = self.read_body(response).await?;
        if !status.is_success() {
            return Err(match serde_json::from_slice::<ErrorEnvelope>(&body) {
                Ok(envelope) => ClientError::Peer(envelope),
                Err(_) => ClientError::UnexpectedStatus(status.as_u16()),
            });
        }
        serde_json::from_slice(&body).map_err(|e| ClientError::BadBody(e.to_string()))
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
