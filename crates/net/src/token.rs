//! Compact signed tokens: the envelope shared by user assertions, delegations and jumps.
//!
//! A token is four dot-separated parts: `pf1.<kind>.<claims>.<signature>`, where `<claims>` is
//! base64url (no padding) of the claims' JSON and `<signature>` is base64url of the Ed25519
//! signature over `publishflow-token-v1\n<kind>\n<claims>`. The kind (`user`, `delegation`,
//! `jump`) is signed, so one kind can never pass for another, and the label keeps token
//! signatures apart from request, response and manifest signatures. The signature is checked
//! **before** the claims are parsed; unknown claim fields are refused.
//!
//! Time rules ([`check_times`]): `issued_at ≤ now + TOKEN_LEEWAY`, `now < expires_at +
//! TOKEN_LEEWAY`, and `0 < expires_at - issued_at ≤` the kind's maximum lifetime.

use crate::encoding::{b64, unb64, unb64_array};
use crate::keys::{Identity, KeyId, PublicKey};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Longest token accepted, in bytes (a jump with many profile fields stays far below).
pub const MAX_TOKEN: usize = 16 * 1024;
/// Clock difference tolerated between the issuer and the verifier, in seconds.
pub const TOKEN_LEEWAY: u64 = 60;

const VERSION: &str = "pf1";
const LABEL: &str = "publishflow-token-v1";

/// Why a signed token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The token is longer than [`MAX_TOKEN`].
    #[error("token too large")]
    TooLarge,
    /// The token is not `pf1.<kind>.<claims>.<signature>` or its claims do not parse.
    #[error("malformed token")]
    Malformed,
    /// The token is of another kind than expected (e.g. a delegation given as an assertion).
    #[error("token of kind {found:?} where {expected} was expected")]
    WrongKind {
        /// The kind expected.
        expected: &'static str,
        /// The kind found.
        found: String,
    },
    /// The signature does not verify with the expected issuer's key.
    #[error("bad token signature")]
    BadSignature,
    /// The issuer named in the token is not the key that must have signed it.
    #[error("token issued by {0}, not by the expected platform")]
    WrongIssuer(KeyId),
    /// The token is meant for another platform.
    #[error("token meant for {0}, not for this platform")]
    WrongAudience(KeyId),
    /// The token has expired.
    #[error("token expired at {expires_at} (now {now})")]
    Expired {
        /// Its expiry.
        expires_at: u64,
        /// Our time.
        now: u64,
    },
    /// The token claims to be issued in the future.
    #[error("token issued in the future ({issued_at}, now {now})")]
    NotYetValid {
        /// Its issue time.
        issued_at: u64,
        /// Our time.
        now: u64,
    },
    /// The token's lifetime is empty or longer than its kind allows.
    #[error("token lifetime of {lifetime} s is not within (0, {max}] s")]
    BadLifetime {
        /// `expires_at - issued_at` (0 if negative).
        lifetime: u64,
        /// The kind's maximum.
        max: u64,
    },
}

/// Serialises and signs `claims` as a token of `kind`.
pub(crate) fn seal<T: Serialize>(identity: &Identity, kind: &str, claims: &T) -> String {
    // Claims are plain structs of strings and integers: serialisation cannot fail.
    let json = serde_json::to_vec(claims).unwrap_or_default();
    let body = b64(&json);
    let sig = identity.sign_raw(format!("{LABEL}\n{kind}\n{body}").as_bytes());
    format!("{VERSION}.{kind}.{body}.{}", b64(&sig))
}

/// Checks the envelope and signature of a token of `kind` with `key`, then parses its claims.
pub(crate) fn open<T: DeserializeOwned>(
    token: &str,
    kind: &'static str,
    key: &PublicKey,
) -> Result<T, TokenError> {
    let (body, sig) = split(token, kind)?;
    let sig = unb64_array::<64>(sig).ok_or(TokenError::Malformed)?;
    if !key.verify_raw(format!("{LABEL}\n{kind}\n{body}").as_bytes(), &sig) {
        return Err(TokenError::BadSignature);
    }
    parse_claims(body)
}

/// Parses the claims of a token of `kind` **without** checking its signature: only to find
/// which key must verify it.
pub(crate) fn peek<T: DeserializeOwned>(token: &str, kind: &'static str) -> Result<T, TokenError> {
    parse_claims(split(token, kind)?.0)
}

fn split<'a>(token: &'a str, kind: &'static str) -> Result<(&'a str, &'a str), TokenError> {
    if token.len() > MAX_TOKEN {
        return Err(TokenError::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(version), Some(found), Some(body), Some(sig), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(TokenError::Malformed);
    };
    if version != VERSION {
        return Err(TokenError::Malformed);
    }
    if found != kind {
        let found = found.chars().take(32).collect();
        return Err(TokenError::WrongKind {
            expected: kind,
            found,
        });
    }
    Ok((body, sig))
}

fn parse_claims<T: DeserializeOwned>(body: &str) -> Result<T, TokenError> {
    let json = unb64(body).ok_or(TokenError::Malformed)?;
    serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)
}

/// Applies the time rules of the module docs.
pub(crate) fn check_times(
    issued_at: u64,
    expires_at: u64,
    max_lifetime: u64,
    now: u64,
) -> Result<(), TokenError> {
    let lifetime = expires_at.saturating_sub(issued_at);
    if lifetime == 0 || lifetime > max_lifetime {
        return Err(TokenError::BadLifetime {
            lifetime,
            max: max_lifetime,
        });
    }
    if issued_at > now.saturating_add(TOKEN_LEEWAY) {
        return Err(TokenError::NotYetValid { issued_at, now });
    }
    if now >= expires_at.saturating_add(TOKEN_LEEWAY) {
        return Err(TokenError::Expired { expires_at, now });
    }
    Ok(())
}

/// Checks that `claimed` names `expected`, else [`TokenError::WrongIssuer`].
pub(crate) fn check_issuer(claimed: &KeyId, expected: &KeyId) -> Result<(), TokenError> {
    if claimed == expected {
        Ok(())
    } else {
        Err(TokenError::WrongIssuer(claimed.clone()))
    }
}

/// Checks that `claimed` names `us`, else [`TokenError::WrongAudience`].
pub(crate) fn check_audience(claimed: &KeyId, us: &KeyId) -> Result<(), TokenError> {
    if claimed == us {
        Ok(())
    } else {
        Err(TokenError::WrongAudience(claimed.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct C {
        a: String,
    }

    #[test]
    fn round_trip_and_refusals() {
        let id = Identity::generate();
        let t = seal(&id, "user", &C { a: "x".into() });
        assert!(t.starts_with("pf1.user."));
        assert_eq!(
            open::<C>(&t, "user", id.public_key()).unwrap(),
            C { a: "x".into() }
        );
        assert!(matches!(
            open::<C>(&t, "jump", id.public_key()),
            Err(TokenError::WrongKind { .. })
        ));
        let other = Identity::generate();
        assert_eq!(
            open::<C>(&t, "user", other.public_key()),
            Err(TokenError::BadSignature)
        );
        // Changing the kind in transit breaks the signature.
        let relabelled = t.replacen("pf1.user.", "pf1.jump.", 1);
        assert_eq!(
            open::<C>(&relabelled, "jump", id.public_key()),
            Err(TokenError::BadSignature)
        );
        // Unknown claims are refused even when signed.
        let extra = seal(&id, "user", &serde_json::json!({"a": "x", "admin": true}));
        assert_eq!(
            open::<C>(&extra, "user", id.public_key()),
            Err(TokenError::Malformed)
        );
        for junk in [
            "",
            "pf1",
            "pf1.user",
            "pf1.user.e30",
            "pf1.user.e30.sig.extra",
            "pf2.user.e30.AAAA",
            "....",
            "pf1.user.!!.AAAA",
        ] {
            assert!(open::<C>(junk, "user", id.public_key()).is_err(), "{junk}");
        }
        assert_eq!(
            open::<C>(&"a".repeat(MAX_TOKEN + 1), "user", id.public_key()),
            Err(TokenError::TooLarge)
        );
    }

    #[test]
    fn time_rules() {
        assert!(check_times(100, 400, 300, 100).is_ok());
        assert!(check_times(100, 400, 300, 400 + TOKEN_LEEWAY - 1).is_ok());
        assert_eq!(
            check_times(100, 400, 300, 400 + TOKEN_LEEWAY),
            Err(TokenError::Expired {
                expires_at: 400,
                now: 460
            })
        );
        assert!(matches!(
            check_times(100, 401, 300, 100),
            Err(TokenError::BadLifetime { .. })
        ));
        assert!(matches!(
            check_times(100, 100, 300, 100),
            Err(TokenError::BadLifetime { .. })
        ));
        assert!(matches!(
            check_times(400, 100, 300, 100),
            Err(TokenError::BadLifetime { .. })
        ));
        assert!(matches!(
            check_times(1000, 1100, 300, 1000 - TOKEN_LEEWAY - 1),
            Err(TokenError::NotYetValid { .. })
        ));
        assert!(check_times(u64::MAX - 10, u64::MAX, 300, 0).is_err());
    }
}
