//! Detached signatures over whole byte strings, for archive manifests (SPEC §5.2, §6.4).
//!
//! The signed message is the domain label `publishflow-detached-v1` and a newline, followed by
//! the bytes, so a manifest signature can never be replayed as a request, response or token
//! signature (each of those has its own label). A signature travels as base64url without padding
//! (86 characters).

use crate::encoding::{b64, unb64_array};
use crate::keys::{Identity, PublicKey};
use std::fmt;
use std::str::FromStr;

const LABEL: &[u8] = b"publishflow-detached-v1\n";

/// Why a detached signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The text is not a signature (base64url of 64 bytes).
    #[error("malformed signature")]
    Malformed,
    /// The signature does not match the bytes and the key.
    #[error("bad signature")]
    BadSignature,
}

/// An Ed25519 signature; text form is base64url without padding.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub(crate) [u8; 64]);

impl Signature {
    /// The 64 raw bytes.
    pub fn to_bytes(&self) -> [u8; 64] {
        self.0
    }

    /// From 64 raw bytes (not checked until verified).
    pub fn from_bytes(bytes: [u8; 64]) -> Signature {
        Signature(bytes)
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&b64(&self.0))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({self})")
    }
}

impl FromStr for Signature {
    type Err = SignatureError;
    fn from_str(s: &str) -> Result<Self, SignatureError> {
        unb64_array::<64>(s)
            .map(Signature)
            .ok_or(SignatureError::Malformed)
    }
}

impl serde::Serialize for Signature {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Signature {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

fn message(bytes: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(LABEL.len() + bytes.len());
    msg.extend_from_slice(LABEL);
    msg.extend_from_slice(bytes);
    msg
}

/// Signs `bytes` (e.g. a manifest's canonical JSON) with this platform's key.
pub fn sign_bytes(identity: &Identity, bytes: &[u8]) -> Signature {
    Signature(identity.sign_raw(&message(bytes)))
}

/// Checks that `signature` is `public_key`'s signature of `bytes`.
pub fn verify_bytes(
    public_key: &PublicKey,
    bytes: &[u8],
    signature: &Signature,
) -> Result<(), SignatureError> {
    if public_key.verify_raw(&message(bytes), &signature.0) {
        Ok(())
    } else {
        Err(SignatureError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies_bytes() {
        let id = Identity::generate();
        let sig = sign_bytes(&id, b"{\"manifest\":1}");
        verify_bytes(id.public_key(), b"{\"manifest\":1}", &sig).unwrap();
        let text = sig.to_string();
        assert_eq!(text.len(), 86);
        assert_eq!(text.parse::<Signature>().unwrap(), sig);
    }

    #[test]
    fn refuses_tampered_bytes_wrong_key_and_junk() {
        let id = Identity::generate();
        let sig = sign_bytes(&id, b"manifest");
        assert_eq!(
            verify_bytes(id.public_key(), b"manifesT", &sig),
            Err(SignatureError::BadSignature)
        );
        let other = Identity::generate();
        assert_eq!(
            verify_bytes(other.public_key(), b"manifest", &sig),
            Err(SignatureError::BadSignature)
        );
        let mut flipped = sig.to_bytes();
        flipped[10] ^= 1;
        assert_eq!(
            verify_bytes(
                id.public_key(),
                b"manifest",
                &Signature::from_bytes(flipped)
            ),
            Err(SignatureError::BadSignature)
        );
        for junk in ["", "abc", &format!("{sig}A"), &"A".repeat(1000)] {
            assert_eq!(junk.parse::<Signature>(), Err(SignatureError::Malformed));
        }
    }

    #[test]
    fn a_plain_ed25519_signature_of_the_bytes_is_not_accepted() {
        // Domain separation: signing the raw bytes without the label does not verify.
        let id = Identity::generate();
        let raw = Signature(id.sign_raw(b"manifest"));
        assert_eq!(
            verify_bytes(id.public_key(), b"manifest", &raw),
            Err(SignatureError::BadSignature)
        );
    }
}
