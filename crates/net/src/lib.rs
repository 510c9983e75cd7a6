//! The network core of publishflow (SPEC §6, §8): who a platform is, and how platforms prove
//! things to each other.
//!
//! - [`keys`]: the Ed25519 identity, its key file, key ids and fingerprints.
//! - [`clock`]: injectable time so expiry rules are testable.
//! - [`headers`]: the `pf-…` header names and reading them from any header map.
//! - [`request`]: signing and verifying peer requests (canonical string, ±5 min, nonces).
//! - [`response`]: signing and verifying responses (bound to the request's nonce).
//! - [`token`]: the compact signed-token envelope shared by the next three.
//! - [`assertion`]: user assertions bound to the calling peer.
//! - [`delegation`]: a home's permission for a peer to act for one user, one purpose.
//! - [`jump`]: single-use signed jumps from a user's home to a paired platform.
//! - [`pairing`]: one-time codes and the three-message mutual proof.
//! - [`messages`]: RPC message types (`describe`).
//! - [`detached`]: detached signatures over bytes (archive manifests).
//! - `client` (feature `client`, on by default): the signing, verifying HTTP peer client.
//!
//! This crate owns no storage: where a rule needs the database (the nonce store, the peers
//! table), functions take a lookup or return what the caller must record.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod assertion;
#[cfg(feature = "client")]
pub mod client;
pub mod clock;
pub mod delegation;
pub mod detached;
mod encoding;
pub mod headers;
pub mod jump;
pub mod keys;
pub mod messages;
pub mod pairing;
pub mod request;
pub mod response;
pub mod token;

pub use assertion::{
    issue_user_assertion, verify_user_assertion, ActingUser, AssertionError, Binding, UserAssertion,
};
#[cfg(feature = "client")]
pub use client::{ClientConfig, ClientError, PeerClient, PeerEndpoint, PeerResponse};
pub use clock::{Clock, ManualClock, SystemClock};
pub use delegation::{issue_delegation, verify_delegation, Delegation, DelegationError, Purpose};
pub use detached::{sign_bytes, verify_bytes, Signature, SignatureError};
pub use encoding::{sha256, sha256_hex};
pub use headers::HeaderSource;
pub use jump::{issue_jump, jump_home, verify_jump, JumpUser, VerifiedJump};
pub use keys::{Fingerprint, Identity, KeyError, KeyId, PublicKey};
pub use messages::{DescribeResponse, RemoteCategory, Transport};
pub use pairing::{
    answer_hello, start_pairing, CodeDigest, PairHello, PairSide, PairWelcome, PairingCode,
    PairingError, ProofKey, Redeeming,
};
pub use request::{
    sign_request, verify_request, Acting, Nonce, PeerKeyStatus, RequestHeaders, SignError,
    SignedRequest, VerifiedRequest, VerifyError,
};
pub use response::{sign_response, verify_response, ResponseError};
pub use token::TokenError;
