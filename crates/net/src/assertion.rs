//! User assertions bound to the calling peer (SPEC §5.9, §6.3).
//!
//! The acting user travels with a signed request as a short-lived token (header
//! [`headers::USER`](crate::headers::USER)) that the **calling peer** signs:
//! {username, home, issuer, audience, issued_at, expires_at, nonce}. The receiver verifies it
//! with the key that signed the request, never with a key named inside the token, and applies
//! the binding rule that the original system lacked (inventory §3.2, §10.1):
//!
//! - `home == caller`: the peer speaks for its own user → [`Binding::OwnUser`];
//! - `home == receiver`: the peer acts for one of *our* users, which needs a delegation that we
//!   signed for this peer, this user and the operation's purpose → [`Binding::Delegated`];
//! - any other home: refused ([`AssertionError::ForeignUser`]) — a peer never speaks for a
//!   third platform's users.

use crate::clock::Clock;
use crate::delegation::{verify_delegation, Delegation, DelegationError, Purpose};
use crate::encoding::{b64, random_bytes};
use crate::keys::{Identity, KeyId, PublicKey};
use crate::token::{self, check_audience, check_issuer, check_times, TokenError};
use pf_domain::user::Username;
use serde::{Deserialize, Serialize};

/// Longest assertion lifetime, in seconds (5 minutes).
pub const ASSERTION_MAX_LIFETIME: u64 = 300;
const KIND: &str = "user";

/// The claims of a user assertion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserAssertion {
    /// The acting user's username on their home platform.
    pub username: Username,
    /// Key id of the user's home platform.
    pub home: KeyId,
    /// Key id of the platform that signed the assertion (the caller).
    pub issuer: KeyId,
    /// Key id of the platform the assertion is for (the receiver).
    pub audience: KeyId,
    /// Unix seconds.
    pub issued_at: u64,
    /// Unix seconds; at most [`ASSERTION_MAX_LIFETIME`] after `issued_at`.
    pub expires_at: u64,
    /// Random, for the audit log.
    pub nonce: String,
}

/// On what grounds the caller may speak for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    /// The user's home is the calling peer.
    OwnUser,
    /// The user's home is the receiver, and the receiver's delegation allows the caller to act.
    Delegated(Delegation),
}

/// A verified acting user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActingUser {
    /// The username on the home platform.
    pub username: Username,
    /// Key id of the home platform (the caller, or the receiver when delegated).
    pub home: KeyId,
    /// Why the caller may speak for this user.
    pub binding: Binding,
    /// The assertion's nonce, for the audit log.
    pub nonce: String,
}

/// Why a user assertion was not issued or not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssertionError {
    /// The token was refused (format, signature, issuer, audience, time).
    #[error("user assertion refused: {0}")]
    Token(#[from] TokenError),
    /// The user's home is neither the caller nor the receiver.
    #[error("a peer may not speak for users of another platform ({0})")]
    ForeignUser(KeyId),
    /// The user's home is the receiver and no delegation came with the assertion.
    #[error("acting for one of this platform's users needs a delegation it signed")]
    DelegationRequired,
    /// The user's home is the receiver but the operation cannot be delegated.
    #[error("this operation cannot be done for one of this platform's users by a peer")]
    NotDelegable,
    /// The delegation was refused.
    #[error(transparent)]
    Delegation(#[from] DelegationError),
}

/// Issues an assertion, signed by `caller`, that `username` of `home` acts in a request to
/// `audience`. Refuses a `home` that is neither the caller nor the audience: such an assertion
/// would be refused anyway.
pub fn issue_user_assertion(
    caller: &Identity,
    username: &Username,
    home: &KeyId,
    audience: &KeyId,
    clock: &dyn Clock,
) -> Result<String, AssertionError> {
    if home != &caller.key_id() && home != audience {
        return Err(AssertionError::ForeignUser(home.clone()));
    }
    let now = clock.now();
    let claims = UserAssertion {
        username: username.clone(),
        home: home.clone(),
        issuer: caller.key_id(),
        audience: audience.clone(),
        issued_at: now,
        expires_at: now + ASSERTION_MAX_LIFETIME,
        nonce: b64(&random_bytes::<16>()),
    };
    Ok(token::seal(caller, KIND, &claims))
}

/// Verifies the assertion carried by a request already verified as coming from `caller`
/// (its key from [`VerifiedRequest::caller_key`](crate::request::VerifiedRequest)), received by
/// us (`receiver`: our own public key).
///
/// `purpose` is what the operation could be delegated for (`None`: not delegable);
/// `delegation` is the delegation token sent with the request, if any. It is only looked at
/// when the user's home is the receiver.
pub fn verify_user_assertion(
    token: &str,
    caller: &PublicKey,
    receiver: &PublicKey,
    purpose: Option<Purpose>,
    delegation: Option<&str>,
    clock: &dyn Clock,
) -> Result<ActingUser, AssertionError> {
    let claims: UserAssertion = token::open(token, KIND, caller)?;
    let (caller_id, receiver_id) = (caller.key_id(), receiver.key_id());
    check_issuer(&claims.issuer, &caller_id)?;
    check_audience(&claims.audience, &receiver_id)?;
    check_times(
        claims.issued_at,
        claims.expires_at,
        ASSERTION_MAX_LIFETIME,
        clock.now(),
    )?;
    let binding = if claims.home == caller_id {
        Binding::OwnUser
    } else if claims.home == receiver_id {
        let purpose = purpose.ok_or(AssertionError::NotDelegable)?;
        let delegation = delegation.ok_or(AssertionError::DelegationRequired)?;
        Binding::Delegated(verify_delegation(
            delegation,
            receiver,
            &caller_id,
            purpose,
            &claims.username,
            clock,
        )?)
    } else {
        return Err(AssertionError::ForeignUser(claims.home));
    };
    Ok(ActingUser {
        username: claims.username,
        home: claims.home,
        binding,
        nonce: claims.nonce,
    })
}

#[cfg(test)]
#[path = "assertion_tests.rs"]
mod tests;
