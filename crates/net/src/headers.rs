//! Header names of signed peer RPC, and reading them from whatever header map the caller has.
//!
//! Names are lowercase (HTTP/2 and `http::HeaderName::from_static` need that; HTTP/1 matching is
//! case-insensitive anyway). A signed header must appear exactly once: a duplicate is refused
//! rather than guessing which copy counts.

/// Request: key id of the calling platform.
pub const CALLER: &str = "pf-caller";
/// Request: key id of the platform the request is meant for.
pub const RECEIVER: &str = "pf-receiver";
/// Request: unix seconds when the request was signed.
pub const TIMESTAMP: &str = "pf-timestamp";
/// Request: a fresh random nonce (base64url of 16 bytes), single use.
pub const NONCE: &str = "pf-nonce";
/// Request and response: SHA-256 of the body, lowercase hex.
pub const BODY_SHA256: &str = "pf-body-sha256";
/// Request and response: the Ed25519 signature (base64url) over the canonical string.
pub const SIGNATURE: &str = "pf-signature";
/// Response: key id of the responding platform.
pub const RESPONDER: &str = "pf-responder";
/// Request: the acting user's assertion token (see [`crate::assertion`]).
pub const USER: &str = "pf-user";
/// Request: a delegation token, when acting for a user whose home is the receiver.
pub const DELEGATION: &str = "pf-delegation";

/// Longest header value read; anything longer is malformed.
pub(crate) const MAX_VALUE: usize = 16 * 1024;

/// Read access to a request's or response's headers.
pub trait HeaderSource {
    /// Every value of header `name` (ASCII case-insensitive), as raw bytes, in order.
    fn values(&self, name: &str) -> Vec<&[u8]>;
}

impl<K: AsRef<str>, V: AsRef<[u8]>> HeaderSource for [(K, V)] {
    fn values(&self, name: &str) -> Vec<&[u8]> {
        self.iter()
            .filter(|(k, _)| k.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
            .collect()
    }
}

impl<K: AsRef<str>, V: AsRef<[u8]>> HeaderSource for Vec<(K, V)> {
    fn values(&self, name: &str) -> Vec<&[u8]> {
        self.as_slice().values(name)
    }
}

/// What is wrong with one header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderProblem {
    Missing,
    Duplicate,
    Malformed,
}

/// The single value of `name`: visible ASCII only (no spaces or controls), bounded length.
pub(crate) fn single<'a, H: HeaderSource + ?Sized>(
    headers: &'a H,
    name: &str,
) -> Result<&'a str, HeaderProblem> {
    let values = headers.values(name);
    let value = match values.as_slice() {
        [] => return Err(HeaderProblem::Missing),
        [one] => *one,
        _ => return Err(HeaderProblem::Duplicate),
    };
    if value.is_empty()
        || value.len() > MAX_VALUE
        || !value.iter().all(|b| (0x21..=0x7e).contains(b))
    {
        return Err(HeaderProblem::Malformed);
    }
    std::str::from_utf8(value).map_err(|_| HeaderProblem::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_value_rules() {
        let h = vec![
            ("PF-Nonce", "abc"),
            ("pf-caller", "x"),
            ("pf-caller", "y"),
            ("pf-receiver", "a b"),
        ];
        assert_eq!(single(&h, NONCE), Ok("abc"));
        assert_eq!(single(&h, CALLER), Err(HeaderProblem::Duplicate));
        assert_eq!(single(&h, RECEIVER), Err(HeaderProblem::Malformed));
        assert_eq!(single(&h, SIGNATURE), Err(HeaderProblem::Missing));
        let bin: Vec<(&str, &[u8])> = vec![("pf-nonce", b"\xff\xfe"), ("pf-caller", b"")];
        assert_eq!(single(&bin, NONCE), Err(HeaderProblem::Malformed));
        assert_eq!(single(&bin, CALLER), Err(HeaderProblem::Malformed));
    }
}
