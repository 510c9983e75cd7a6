//! Signed jumps (SPEC §8): a user's home sends them to a paired platform with a short-lived,
//! single-use, audience-bound assertion of who they are.
//!
//! The home issues the token ([`issue_jump`]) and the browser POSTs it to the audience (never in
//! a URL). The audience finds the home with [`jump_home`] (unverified, only to pick the key),
//! then [`verify_jump`] checks the signature with that paired peer's key, the audience and the
//! expiry. The token is single use: the caller **must** record [`VerifiedJump::id`] until
//! [`VerifiedJump::record_until`] and refuse an id already recorded.

use crate::clock::Clock;
use crate::encoding::{b64, random_bytes};
use crate::keys::{Identity, KeyId, PublicKey};
use crate::token::{self, check_audience, check_issuer, check_times, TokenError, TOKEN_LEEWAY};
use pf_domain::user::Username;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Lifetime of a jump, in seconds (2 minutes); also the most a verifier accepts.
pub const JUMP_LIFETIME: u64 = 120;
const KIND: &str = "jump";

/// Who is jumping, as the home knows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JumpUser {
    /// Username on the home platform.
    pub username: Username,
    /// Full name.
    pub fullname: String,
    /// E-mail address.
    pub email: String,
    /// Preferred language tag (e.g. `fr`); the receiver maps unknown tags to its default.
    pub lang: String,
    /// Profile fields the home's admins manage (key → value); the receiver decides which it
    /// trusts for this peer.
    pub profile: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JumpClaims {
    id: String,
    home: KeyId,
    audience: KeyId,
    issued_at: u64,
    expires_at: u64,
    user: JumpUser,
}

/// A verified jump.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "the jump id must be recorded and a reused one refused"]
pub struct VerifiedJump {
    /// Who jumped.
    pub user: JumpUser,
    /// Key id of their home platform.
    pub home: KeyId,
    /// The single-use id: record it; refuse the jump if already recorded.
    pub id: String,
    /// When the recorded id may be forgotten (unix seconds).
    pub record_until: u64,
}

/// Issues a jump for `user` from `home` (this platform) to `audience`. Returns the token and its
/// id (for the home's audit log).
pub fn issue_jump(
    home: &Identity,
    audience: &KeyId,
    user: &JumpUser,
    clock: &dyn Clock,
) -> (String, String) {
    let now = clock.now();
    let claims = JumpClaims {
        id: b64(&random_bytes::<16>()),
        home: home.key_id(),
        audience: audience.clone(),
        issued_at: now,
        expires_at: now + JUMP_LIFETIME,
        user: user.clone(),
    };
    (token::seal(home, KIND, &claims), claims.id)
}

/// The home a jump claims to come from, **unverified**: use it only to look up that peer's key
/// for [`verify_jump`].
pub fn jump_home(token: &str) -> Result<KeyId, TokenError> {
    token::peek::<JumpClaims>(token, KIND).map(|c| c.home)
}

/// Verifies a jump signed by the paired peer `home_key` for us (`us`: our key id).
pub fn verify_jump(
    token: &str,
    home_key: &PublicKey,
    us: &KeyId,
    clock: &dyn Clock,
) -> Result<VerifiedJump, TokenError> {
    let claims: JumpClaims = token::open(token, KIND, home_key)?;
    check_issuer(&claims.home, &home_key.key_id())?;
    check_audience(&claims.audience, us)?;
    let now = clock.now();
    check_times(claims.issued_at, claims.expires_at, JUMP_LIFETIME, now)?;
    Ok(VerifiedJump {
        user: claims.user,
        home: claims.home,
        id: claims.id,
        record_until: claims.expires_at + TOKEN_LEEWAY + 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::collections::HashSet;

    const T0: u64 = 1_700_000_000;

    fn alice() -> JumpUser {
        JumpUser {
            username: Username::parse("alice").unwrap(),
            fullname: "Alice Martin".into(),
            email: "alice@lycee.example".into(),
            lang: "fr".into(),
            profile: BTreeMap::from([
                ("establishment_type".into(), "lycee".into()),
                ("discipline".into(), "maths".into()),
            ]),
        }
    }

    #[test]
    fn a_jump_verifies_once() {
        let (home, common, clock) = (
            Identity::generate(),
            Identity::generate(),
            ManualClock::new(T0),
        );
        let (token, id) = issue_jump(&home, &common.key_id(), &alice(), &clock);
        assert_eq!(jump_home(&token).unwrap(), home.key_id());
        clock.advance(30);
        let mut seen = HashSet::new();
        let v = verify_jump(&token, home.public_key(), &common.key_id(), &clock).unwrap();
        assert_eq!(v.user, alice());
        assert_eq!(v.home, home.key_id());
        assert_eq!(v.id, id);
        assert!(v.record_until >= T0 + JUMP_LIFETIME + TOKEN_LEEWAY);
        assert!(seen.insert(v.id));
        // Replayed: it verifies again, with the same id, which the store refuses.
        let replay = verify_jump(&token, home.public_key(), &common.key_id(), &clock).unwrap();
        assert!(
            !seen.insert(replay.id),
            "a replayed jump carries an id already recorded"
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
        let (token, _) = issue_jump(&home, &common.key_id(), &alice(), &clock);
        // Wrong key (not the paired home).
        assert_eq!(
            verify_jump(&token, other.public_key(), &common.key_id(), &clock),
            Err(TokenError::BadSignature)
        );
        // Another platform's jump.
        assert_eq!(
            verify_jump(&token, home.public_key(), &other.key_id(), &clock),
            Err(TokenError::WrongAudience(common.key_id()))
        );
        // A peer signing a jump that claims another home.
        let claims = JumpClaims {
            id: "x".into(),
            home: home.key_id(),
            audience: common.key_id(),
            issued_at: T0,
            expires_at: T0 + 60,
            user: alice(),
        };
        let forged = token::seal(&other, KIND, &claims);
        assert_eq!(jump_home(&forged).unwrap(), home.key_id());
        assert_eq!(
            verify_jump(&forged, home.public_key(), &common.key_id(), &clock),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            verify_jump(&forged, other.public_key(), &common.key_id(), &clock),
            Err(TokenError::WrongIssuer(home.key_id()))
        );
        // Expired.
        clock.advance(JUMP_LIFETIME + TOKEN_LEEWAY);
        assert!(matches!(
            verify_jump(&token, home.public_key(), &common.key_id(), &clock),
            Err(TokenError::Expired { .. })
        ));
        // Garbage.
        assert!(jump_home("pf1.jump.zz.zz").is_err());
        assert!(jump_home("").is_err());
    }

    #[test]
    fn a_long_lived_jump_is_refused_even_if_signed() {
        let (home, common, clock) = (
            Identity::generate(),
            Identity::generate(),
            ManualClock::new(T0),
        );
        let claims = JumpClaims {
            id: "x".into(),
            home: home.key_id(),
            audience: common.key_id(),
            issued_at: T0,
            expires_at: T0 + 3600,
            user: alice(),
        };
        let token = token::seal(&home, KIND, &claims);
        assert!(matches!(
            verify_jump(&token, home.public_key(), &common.key_id(), &clock),
            Err(TokenError::BadLifetime { .. })
        ));
    }
}
