//! Signed peer requests (SPEC §6.3): signing on the caller, verification on the receiver.
//!
//! # Canonical string
//!
//! The caller signs these eleven lines, joined by `\n` (no trailing newline), with its Ed25519 key:
//!
//! ```text
//! publishflow-request-v1
//! <METHOD>            uppercase ASCII letters, as sent (GET, POST, …)
//! <path>              the request target up to the first `?`, byte for byte as sent
//! <query>             everything after the first `?`, byte for byte as sent ("" if none)
//! <body-sha256>       lowercase hex SHA-256 of the body (of the empty string if none)
//! <timestamp>         unix seconds, decimal, no sign or leading zero
//! <nonce>             base64url (no padding) of 16 random bytes
//! <caller-key-id>     the signer's key id
//! <receiver-key-id>   the key id of the platform the request is for
//! <user-sha256>       lowercase hex SHA-256 of the `pf-user` header value, or `-` if absent
//! <delegation-sha256> lowercase hex SHA-256 of the `pf-delegation` header value, or `-`
//! ```
//!
//! The acting user's assertion and delegation ([`Acting`]) are signed tokens of their own, but
//! covering them here too means they cannot be swapped between requests or stripped in transit.
//!
//! The query is **not** decoded or reordered: the receiver must pass the raw request target it
//! received (`uri.path_and_query()`), so any change to a parameter, its order or its escaping
//! breaks the signature. The path must start with `/` and the target may hold only visible ASCII
//! (`0x21..=0x7e`) and no `#`; a target that is absent a query and one ending in a bare `?` sign
//! alike. A reverse proxy that rewrites the path breaks verification: that is intended.
//!
//! # Headers
//!
//! [`headers::CALLER`](crate::headers::CALLER), `RECEIVER`, `TIMESTAMP`, `NONCE`, `BODY_SHA256`,
//! `SIGNATURE` (lowercase `pf-…` names), each exactly once; `USER` and `DELEGATION` at most once.
//!
//! # Verification
//!
//! [`verify_request`] (or [`RequestHeaders::parse`] then [`RequestHeaders::verify`], when the
//! peer lookup is asynchronous) refuses, each with its own [`VerifyError`]: missing, repeated or
//! malformed headers; a bad method or target; a receiver key id that is not ours (a request
//! relayed to a third platform); a timestamp outside ±[`MAX_CLOCK_SKEW`]; a body whose digest
//! differs from the header; an unknown or disabled caller; a bad signature. On success the
//! caller **must** record `(caller, nonce)` until [`VerifiedRequest::record_until`] and refuse
//! the request if that pair was already recorded.

use crate::clock::Clock;
use crate::encoding::{b64, parse_sha256_hex, random_bytes, unb64, unb64_array};
use crate::headers::{self, single, HeaderProblem, HeaderSource};
use crate::keys::{Identity, KeyId, PublicKey};
use pf_api::{ErrorCode, ErrorEnvelope};
use std::fmt;

/// Largest accepted clock difference between caller and receiver, in seconds (±5 minutes).
pub const MAX_CLOCK_SKEW: u64 = 300;
/// How long a receiver keeps a request nonce, in seconds (SPEC §6.3: 10 minutes). Longer than
/// any timestamp stays acceptable, so a replay is always caught.
pub const NONCE_TTL: u64 = 600;
/// Longest accepted request target, in bytes.
pub const MAX_TARGET: usize = 8 * 1024;

const LABEL: &str = "publishflow-request-v1";

/// A request nonce: base64url (no padding) of 16 to 64 random bytes, in its one canonical
/// spelling.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Nonce(String);

impl Nonce {
    /// A fresh nonce of 128 random bits from the operating system.
    pub fn generate() -> Nonce {
        Nonce(b64(&random_bytes::<16>()))
    }

    /// Parses a nonce; `None` unless it is canonical base64url of 16 to 64 bytes.
    pub fn parse(s: &str) -> Option<Nonce> {
        if s.len() > 86 {
            return None;
        }
        let bytes = unb64(s)?;
        (16..=64)
            .contains(&bytes.len())
            .then(|| Nonce(s.to_owned()))
    }

    /// The nonce as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nonce({})", self.0)
    }
}

/// What the receiver's peers table says about a caller's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerKeyStatus {
    /// A paired, enabled peer with this public key.
    Active(PublicKey),
    /// A paired peer that an admin disabled.
    Disabled,
}

/// Why a request could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The method or request target cannot be signed (see the module docs for the rules).
    #[error("invalid method or request target for a signed request")]
    InvalidTarget,
    /// A user assertion or delegation is not a valid header value.
    #[error("invalid user assertion or delegation header value")]
    InvalidToken,
}

/// Why a signed request was refused. The server answers every variant with 401 and the
/// `unauthenticated` envelope ([`VerifyError::envelope`]); the variant is for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A signed header is absent.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// A signed header appears more than once.
    #[error("header {0} appears more than once")]
    DuplicateHeader(&'static str),
    /// A signed header does not parse.
    #[error("malformed header {0}")]
    MalformedHeader(&'static str),
    /// The method or request target breaks the canonical-form rules.
    #[error("malformed method or request target")]
    MalformedTarget,
    /// The request names another platform as its receiver (relayed or misdirected).
    #[error("request is addressed to key {0}, not to this platform")]
    WrongReceiver(KeyId),
    /// The timestamp is more than [`MAX_CLOCK_SKEW`] seconds from our clock.
    #[error("timestamp {timestamp} is outside ±{MAX_CLOCK_SKEW} s of now ({now})")]
    StaleTimestamp {
        /// The request's timestamp.
        timestamp: u64,
        /// Our time.
        now: u64,
    },
    /// The body received does not hash to the signed digest.
    #[error("body does not match the signed SHA-256")]
    BodyDigestMismatch,
    /// No peer has this key.
    #[error("unknown caller key {0}")]
    UnknownCaller(KeyId),
    /// The peer with this key is disabled.
    #[error("caller {0} is disabled")]
    DisabledCaller(KeyId),
    /// The peers table returned a key whose id is not the one asked for (a storage bug).
    #[error("stored key for caller {0} does not match its key id")]
    PeerKeyMismatch(KeyId),
    /// The signature does not verify with the caller's key.
    #[error("bad request signature")]
    BadSignature,
}

impl VerifyError {
    /// The stable code: always `unauthenticated`.
    pub fn error_code(&self) -> ErrorCode {
        ErrorCode::Unauthenticated
    }

    /// The 401 envelope to send. Deliberately generic: the reason goes to the log, not the peer.
    pub fn envelope(&self) -> ErrorEnvelope {
        ErrorEnvelope::new(
            ErrorCode::Unauthenticated,
            "the request's signature was refused",
        )
    }
}

/// The acting user's tokens sent with a request (headers `pf-user` and `pf-delegation`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Acting<'a> {
    /// The user assertion ([`crate::assertion`]), if a user acts.
    pub user: Option<&'a str>,
    /// The delegation ([`crate::delegation`]), when acting for a user whose home is the receiver.
    pub delegation: Option<&'a str>,
}

impl Acting<'_> {
    /// No acting user (platform-level calls such as `describe`).
    pub const NONE: Acting<'static> = Acting {
        user: None,
        delegation: None,
    };
}

fn token_line(token: Option<&str>) -> String {
    token.map_or_else(
        || "-".to_owned(),
        |t| hex::encode(crate::encoding::sha256(t.as_bytes())),
    )
}

fn header_value_ok(v: &str) -> bool {
    !v.is_empty() && v.len() <= headers::MAX_VALUE && v.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// Headers to add to an outgoing request, and the nonce to check the response against.
#[derive(Debug, Clone)]
pub struct SignedRequest {
    /// `(name, value)` pairs to send.
    pub headers: Vec<(&'static str, String)>,
    /// The request's nonce; the response must be signed over it.
    pub nonce: Nonce,
}

/// A request whose signature checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "the nonce must be recorded and a reused one refused"]
pub struct VerifiedRequest {
    /// The calling peer's key id.
    pub caller: KeyId,
    /// The calling peer's public key (to verify assertions it signed).
    pub caller_key: PublicKey,
    /// The request nonce: record `(caller, nonce)`; refuse the request if already recorded.
    pub nonce: Nonce,
    /// When the recorded nonce may be forgotten (unix seconds).
    pub record_until: u64,
    /// The request's timestamp.
    pub timestamp: u64,
    /// The signed `pf-user` assertion, for [`crate::assertion::verify_user_assertion`].
    pub user: Option<String>,
    /// The signed `pf-delegation` token, if any.
    pub delegation: Option<String>,
}

/// Splits a request target into path and query, or `None` if it breaks the rules.
fn split_target<'a>(method: &str, path_and_query: &'a str) -> Option<(&'a str, &'a str)> {
    let method_ok =
        !method.is_empty() && method.len() <= 16 && method.bytes().all(|b| b.is_ascii_uppercase());
    let target_ok = path_and_query.len() <= MAX_TARGET
        && path_and_query.starts_with('/')
        && path_and_query
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'#');
    if !method_ok || !target_ok {
        return None;
    }
    Some(
        path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, "")),
    )
}

/// The canonical string (see the module docs). Inputs must already be validated.
#[allow(clippy::too_many_arguments)]
fn canonical(
    method: &str,
    path: &str,
    query: &str,
    body_hex: &str,
    timestamp: u64,
    nonce: &Nonce,
    caller: &KeyId,
    receiver: &KeyId,
    acting: Acting<'_>,
) -> String {
    let (user, delegation) = (token_line(acting.user), token_line(acting.delegation));
    format!("{LABEL}\n{method}\n{path}\n{query}\n{body_hex}\n{timestamp}\n{nonce}\n{caller}\n{receiver}\n{user}\n{delegation}")
}

/// Signs a request from `identity` to the platform whose key id is `receiver`.
pub fn sign_request(
    identity: &Identity,
    receiver: &KeyId,
    method: &str,
    path_and_query: &str,
    body_sha256: &[u8; 32],
    acting: Acting<'_>,
    clock: &dyn Clock,
) -> Result<SignedRequest, SignError> {
    let (path, query) = split_target(method, path_and_query).ok_or(SignError::InvalidTarget)?;
    if !acting.user.is_none_or(header_value_ok) || !acting.delegation.is_none_or(header_value_ok) {
        return Err(SignError::InvalidToken);
    }
    let (timestamp, nonce) = (clock.now(), Nonce::generate());
    let caller = identity.key_id();
    let body_hex = hex::encode(body_sha256);
    let text = canonical(
        method, path, query, &body_hex, timestamp, &nonce, &caller, receiver, acting,
    );
    let signature = b64(&identity.sign_raw(text.as_bytes()));
    let mut headers = vec![
        (headers::CALLER, caller.to_string()),
        (headers::RECEIVER, receiver.to_string()),
        (headers::TIMESTAMP, timestamp.to_string()),
        (headers::NONCE, nonce.to_string()),
        (headers::BODY_SHA256, body_hex),
        (headers::SIGNATURE, signature),
    ];
    if let Some(user) = acting.user {
        headers.push((headers::USER, user.to_owned()));
    }
    if let Some(delegation) = acting.delegation {
        headers.push((headers::DELEGATION, delegation.to_owned()));
    }
    Ok(SignedRequest { headers, nonce })
}

/// The signed headers of a request, parsed but not yet verified.
#[derive(Debug, Clone)]
pub struct RequestHeaders {
    caller: KeyId,
    receiver: KeyId,
    timestamp: u64,
    nonce: Nonce,
    body_sha256: [u8; 32],
    signature: [u8; 64],
    user: Option<String>,
    delegation: Option<String>,
}

fn header<'a, H: HeaderSource + ?Sized>(
    h: &'a H,
    name: &'static str,
) -> Result<&'a str, VerifyError> {
    single(h, name).map_err(|p| match p {
        HeaderProblem::Missing => VerifyError::MissingHeader(name),
        HeaderProblem::Duplicate => VerifyError::DuplicateHeader(name),
        HeaderProblem::Malformed => VerifyError::MalformedHeader(name),
    })
}

fn optional<H: HeaderSource + ?Sized>(
    h: &H,
    name: &'static str,
) -> Result<Option<String>, VerifyError> {
    match header(h, name) {
        Ok(v) => Ok(Some(v.to_owned())),
        Err(VerifyError::MissingHeader(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Parses unix seconds: ASCII digits only, no leading zero, at most 15 digits.
pub(crate) fn parse_timestamp(s: &str) -> Option<u64> {
    let ok = !s.is_empty()
        && s.len() <= 15
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'));
    if ok {
        s.parse().ok()
    } else {
        None
    }
}

impl RequestHeaders {
    /// Reads and syntax-checks the six signed headers.
    pub fn parse<H: HeaderSource + ?Sized>(h: &H) -> Result<RequestHeaders, VerifyError> {
        let malformed = VerifyError::MalformedHeader;
        let caller =
            KeyId::parse(header(h, headers::CALLER)?).map_err(|_| malformed(headers::CALLER))?;
        let receiver = KeyId::parse(header(h, headers::RECEIVER)?)
            .map_err(|_| malformed(headers::RECEIVER))?;
        let timestamp =
            parse_timestamp(header(h, headers::TIMESTAMP)?).ok_or(malformed(headers::TIMESTAMP))?;
        let nonce = Nonce::parse(header(h, headers::NONCE)?).ok_or(malformed(headers::NONCE))?;
        let body_sha256 = parse_sha256_hex(header(h, headers::BODY_SHA256)?)
            .ok_or(malformed(headers::BODY_SHA256))?;
        let signature = unb64_array::<64>(header(h, headers::SIGNATURE)?)
            .ok_or(malformed(headers::SIGNATURE))?;
        let user = optional(h, headers::USER)?;
        let delegation = optional(h, headers::DELEGATION)?;
        Ok(RequestHeaders {
            caller,
            receiver,
            timestamp,
            nonce,
            body_sha256,
            signature,
            user,
            delegation,
        })
    }

    /// The key id the request claims to come from (look the peer up by it).
    pub fn caller(&self) -> &KeyId {
        &self.caller
    }

    /// Verifies the request against what we received and what the peers table says about the
    /// caller (`peer`: `None` when no peer has that key).
    pub fn verify(
        self,
        method: &str,
        path_and_query: &str,
        body_sha256: &[u8; 32],
        receiver: &KeyId,
        peer: Option<PeerKeyStatus>,
        clock: &dyn Clock,
    ) -> Result<VerifiedRequest, VerifyError> {
        let (path, query) =
            split_target(method, path_and_query).ok_or(VerifyError::MalformedTarget)?;
        if &self.receiver != receiver {
            return Err(VerifyError::WrongReceiver(self.receiver));
        }
        let now = clock.now();
        if now.abs_diff(self.timestamp) > MAX_CLOCK_SKEW {
            return Err(VerifyError::StaleTimestamp {
                timestamp: self.timestamp,
                now,
            });
        }
        if &self.body_sha256 != body_sha256 {
            return Err(VerifyError::BodyDigestMismatch);
        }
        let key = match peer {
            None => return Err(VerifyError::UnknownCaller(self.caller)),
            Some(PeerKeyStatus::Disabled) => return Err(VerifyError::DisabledCaller(self.caller)),
            Some(PeerKeyStatus::Active(key)) => key,
        };
        if key.key_id() != self.caller {
            return Err(VerifyError::PeerKeyMismatch(self.caller));
        }
        let body_hex = hex::encode(self.body_sha256);
        let acting = Acting {
            user: self.user.as_deref(),
            delegation: self.delegation.as_deref(),
        };
        let text = canonical(
            method,
            path,
            query,
            &body_hex,
            self.timestamp,
            &self.nonce,
            &self.caller,
            receiver,
            acting,
        );
        if !key.verify_raw(text.as_bytes(), &self.signature) {
            return Err(VerifyError::BadSignature);
        }
        Ok(VerifiedRequest {
            caller: self.caller,
            caller_key: key,
            nonce: self.nonce,
            record_until: now.max(self.timestamp) + NONCE_TTL,
            timestamp: self.timestamp,
            user: self.user,
            delegation: self.delegation,
        })
    }
}

/// Verifies a signed request in one call, looking the caller up with `lookup_peer_key`.
///
/// `body_sha256` is the digest of the body actually received; `receiver` is our own key id.
pub fn verify_request<H: HeaderSource + ?Sized>(
    method: &str,
    path_and_query: &str,
    headers: &H,
    body_sha256: &[u8; 32],
    receiver: &KeyId,
    lookup_peer_key: impl Fn(&KeyId) -> Option<PeerKeyStatus>,
    clock: &dyn Clock,
) -> Result<VerifiedRequest, VerifyError> {
    let parsed = RequestHeaders::parse(headers)?;
    let peer = lookup_peer_key(parsed.caller());
    parsed.verify(method, path_and_query, body_sha256, receiver, peer, clock)
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
