//! Byte encodings used on the wire: base64url without padding (strict, canonical) and lowercase
//! hex for SHA-256 digests. One place, so every header and token decodes the same way.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest as _, Sha256};

/// Encodes bytes as base64url without padding.
pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes strict base64url without padding; `None` on any deviation (padding, other alphabet,
/// non-zero trailing bits), so one value has exactly one spelling.
pub(crate) fn unb64(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.as_bytes()).ok()
}

/// Decodes strict base64url into exactly `N` bytes.
pub(crate) fn unb64_array<const N: usize>(text: &str) -> Option<[u8; N]> {
    // Reject oversized input before decoding anything.
    if text.len() > N.div_ceil(3) * 4 {
        return None;
    }
    unb64(text)?.try_into().ok()
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// SHA-256 of `bytes`, as lowercase hex (the form of the `pf-body-sha256` header).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha256(bytes))
}

/// Parses a lowercase-hex SHA-256 (64 characters); uppercase is refused so a digest has one
/// spelling.
pub(crate) fn parse_sha256_hex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64
        || !text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

/// `n` bytes from the operating system's random generator.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    use rand::RngCore as _;
    let mut out = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_canonical() {
        assert_eq!(b64(&[0xff, 0xee]), "_-4");
        assert_eq!(unb64("_-4").unwrap(), vec![0xff, 0xee]);
        assert!(unb64("_-5").is_none(), "non-zero trailing bits are refused");
        assert!(unb64("_-4=").is_none(), "padding is refused");
        assert!(unb64("/+4").is_none(), "standard alphabet is refused");
        assert!(unb64_array::<2>("AAAA").is_none());
    }

    #[test]
    fn hex_digest_is_lowercase_only() {
        let d = sha256_hex(b"");
        assert_eq!(
            d,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(parse_sha256_hex(&d).is_some());
        assert!(parse_sha256_hex(&d.to_uppercase()).is_none());
        assert!(parse_sha256_hex(&d[..63]).is_none());
    }
}
