//! Delegations (SPEC §8): a home platform lets one peer act for one of its users toward the home
//! itself, for one purpose, for at most eight hours.
//!
//! The home issues the token at a jump and hands it to the audience (the common platform). When
//! that peer later calls the home for the user (e.g. "deploy to my platform"), it sends the
//! delegation with the user assertion; the home accepts it only if **the home's own key** signed
//! it, the presenting peer is its audience, the purpose and user match, and it has not expired.
//! The verified [`Delegation`] carries its id for the audit log.

use crate::clock::Clock;
use crate::encoding::{b64, random_bytes};
use crate::keys::{Identity, KeyId, PublicKey};
use crate::token::{self, check_issuer, check_times, TokenError};
use pf_domain::user::Username;
use serde::{Deserialize, Serialize};

/// Longest delegation lifetime, in seconds (8 hours).
pub const DELEGATION_MAX_LIFETIME: u64 = 8 * 3600;
const KIND: &str = "delegation";

/// What a delegation allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Purpose {
    /// Deploy a course to the user's home platform (`deploy-home`).
    DeployHome,
}

impl Purpose {
    /// The purpose as written in tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::DeployHome => "deploy-home",
        }
    }
}

/// The claims of a delegation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[must_use = "a verified delegation's id belongs in the audit log"]
pub struct Delegation {
    /// Unique id (base64url of 16 random bytes), for the audit log.
    pub id: String,
    /// The user the audience may act for.
    pub user: Username,
    /// Key id of the issuing platform: the user's home, and later the receiver.
    pub home: KeyId,
    /// Key id of the platform allowed to act.
    pub audience: KeyId,
    /// What it may do: a [`Purpose`] name. Kept as text so a purpose this version does not know
    /// is refused as [`DelegationError::WrongPurpose`], not as a malformed token.
    pub purpose: String,
    /// Unix seconds.
    pub issued_at: u64,
    /// Unix seconds; at most [`DELEGATION_MAX_LIFETIME`] after `issued_at`.
    pub expires_at: u64,
}

/// Why a delegation was not issued or not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DelegationError {
    /// The token itself was refused (format, signature — e.g. not signed by us —, time).
    #[error("delegation refused: {0}")]
    Token(#[from] TokenError),
    /// The requested lifetime is zero or over [`DELEGATION_MAX_LIFETIME`].
    #[error("a delegation lasts between 1 s and {DELEGATION_MAX_LIFETIME} s")]
    BadLifetime,
    /// The peer presenting the delegation is not its audience.
    #[error("the delegation was given to {0}, not to the peer presenting it")]
    WrongPresenter(KeyId),
    /// The delegation allows another purpose.
    #[error("the delegation allows {granted:?}, not {wanted:?}")]
    WrongPurpose {
        /// What it allows.
        granted: String,
        /// What was asked.
        wanted: Purpose,
    },
    /// The delegation is for another user.
    #[error("the delegation is for user {0}, not for the asserted user")]
    WrongUser(Username),
}

/// Issues a delegation from `home` (this platform) letting `audience` act for `user` for
/// `purpose` during `lifetime` seconds. Returns the token to hand over and its claims (record
/// the id).
pub fn issue_delegation(
    home: &Identity,
    user: &Username,
    audience: &KeyId,
    purpose: Purpose,
    lifetime: u64,
    clock: &dyn Clock,
) -> Result<(String, Delegation), DelegationError> {
    if lifetime == 0 || lifetime > DELEGATION_MAX_LIFETIME {
        return Err(DelegationError::BadLifetime);
    }
    let now = clock.now();
    let claims = Delegation {
        id: b64(&random_bytes::<16>()),
        user: user.clone(),
        home: home.key_id(),
        audience: audience.clone(),
        purpose: purpose.as_str().to_owned(),
        issued_at: now,
        expires_at: now + lifetime,
    };
    Ok((token::seal(home, KIND, &claims), claims))
}

/// Verifies a delegation presented to us (`us`: our own public key — only delegations we signed
/// count) by the peer `presenter`, for `purpose` and `user`.
pub fn verify_delegation(
    token: &str,
    us: &PublicKey,
    presenter: &KeyId,
    purpose: Purpose,
    user: &Username,
    clock: &dyn Clock,
) -> Result<Delegation, DelegationError> {
    let claims: Delegation = token::open(token, KIND, us)?;
    check_issuer(&claims.home, &us.key_id())?;
    check_times(
        claims.issued_at,
        claims.expires_at,
        DELEGATION_MAX_LIFETIME,
        clock.now(),
    )?;
    if &claims.audience != presenter {
        return Err(DelegationError::WrongPresenter(claims.audience));
    }
    if claims.purpose != purpose.as_str() {
        return Err(DelegationError::WrongPurpose {
            granted: claims.purpose,
            wanted: purpose,
        });
    }
    if &claims.user != user {
        return Err(DelegationError::WrongUser(claims.user));
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    const T0: u64 = 1_700_000_000;

    fn alice() -> Username {
        Username::parse("alice").unwrap()
    }

    #[test]
    fn home_verifies_its_own_delegation_and_gets_the_id() {
        let (home, common, clock) = (
            Identity::generate(),
            Identity::generate(),
            ManualClock::new(T0),
        );
        let (token, issued) = issue_delegation(
            &home,
            &alice(),
            &common.key_id(),
            Purpose::DeployHome,
            8 * 3600,
            &clock,
        )
        .unwrap();
        clock.advance(7 * 3600);
        let d = verify_delegation(
            &token,
            home.public_key(),
            &common.key_id(),
            Purpose::DeployHome,
            &alice(),
            &clock,
        )
        .unwrap();
        assert_eq!(d, issued);
        assert_eq!(d.id.len(), 22);
        assert_eq!(
            serde_json::to_value(Purpose::DeployHome).unwrap(),
            "deploy-home"
        );
    }

    #[test]
    fn refusals() {
        let (home, common, clock) = (
            Identity::generate(),
            Identity::generate(),
            ManualClock::new(T0),
        );
        let other = Identity::generate();
        let (token, _) = issue_delegation(
            &home,
            &alice(),
            &common.key_id(),
            Purpose::DeployHome,
            3600,
            &clock,
        )
        .unwrap();
        let check = |us: &PublicKey, presenter: &KeyId, user: &Username| {
            verify_delegation(&token, us, presenter, Purpose::DeployHome, user, &clock)
        };
        // Signed by someone else than us: a peer cannot mint a delegation for our users.
        let forged = issue_delegation(
            &common,
            &alice(),
            &common.key_id(),
            Purpose::DeployHome,
            3600,
            &clock,
        )
        .unwrap()
        .0;
        assert_eq!(
            verify_delegation(
                &forged,
                home.public_key(),
                &common.key_id(),
                Purpose::DeployHome,
                &alice(),
                &clock
            ),
            Err(DelegationError::Token(TokenError::BadSignature))
        );
        // Presented by a peer that is not its audience.
        assert_eq!(
            check(home.public_key(), &other.key_id(), &alice()),
            Err(DelegationError::WrongPresenter(common.key_id()))
        );
        // For another user.
        let bob = Username::parse("bob").unwrap();
        assert_eq!(
            check(home.public_key(), &common.key_id(), &bob),
            Err(DelegationError::WrongUser(alice()))
        );
        // Expired.
        clock.advance(3600 + crate::token::TOKEN_LEEWAY);
        assert!(matches!(
            check(home.public_key(), &common.key_id(), &alice()),
            Err(DelegationError::Token(TokenError::Expired { .. }))
        ));
        // Not a delegation at all.
        assert!(matches!(
            verify_delegation(
                "pf1.user.e30.AAAA",
                home.public_key(),
                &common.key_id(),
                Purpose::DeployHome,
                &alice(),
                &clock
            ),
            Err(DelegationError::Token(TokenError::WrongKind { .. }))
        ));
    }

    #[test]
    fn wrong_purpose_is_refused() {
        let (home, common, clock) = (
            Identity::generate(),
            Identity::generate(),
            ManualClock::new(T0),
        );
        let mut claims = serde_json::to_value(
            issue_delegation(
                &home,
                &alice(),
                &common.key_id(),
                Purpose::DeployHome,
                60,
                &clock,
            )
            .unwrap()
            .1,
        )
        .unwrap();
        claims["purpose"] = "deploy-anywhere".into();
        let token = token::seal(&home, KIND, &claims);
        assert_eq!(
            verify_delegation(
                &token,
                home.public_key(),
                &common.key_id(),
                Purpose::DeployHome,
                &alice(),
                &clock
            ),
            Err(DelegationError::WrongPurpose {
                granted: "deploy-anywhere".into(),
                wanted: Purpose::DeployHome
            })
        );
    }

    #[test]
    fn lifetime_is_capped_at_eight_hours() {
        let (home, common, clock) = (
            Identity::generate(),
            Identity::generate(),
            ManualClock::new(T0),
        );
        for bad in [0, DELEGATION_MAX_LIFETIME + 1] {
            assert_eq!(
                issue_delegation(
                    &home,
                    &alice(),
                    &common.key_id(),
                    Purpose::DeployHome,
                    bad,
                    &clock
                )
                .unwrap_err(),
                DelegationError::BadLifetime
            );
        }
        // A token claiming a longer life, even signed by us, is refused.
        let mut claims = serde_json::to_value(
            issue_delegation(
                &home,
                &alice(),
                &common.key_id(),
                Purpose::DeployHome,
                60,
                &clock,
            )
            .unwrap()
            .1,
        )
        .unwrap();
        claims["expires_at"] = (T0 + DELEGATION_MAX_LIFETIME + 1).into();
        let token = token::seal(&home, KIND, &claims);
        assert!(matches!(
            verify_delegation(
                &token,
                home.public_key(),
                &common.key_id(),
                Purpose::DeployHome,
                &alice(),
                &clock
            ),
            Err(DelegationError::Token(TokenError::BadLifetime { .. }))
        ));
    }
}
