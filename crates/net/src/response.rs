//! Signed peer responses (SPEC §6.3): the responder signs the status, the body digest and the
//! request's nonce, so a caller can tell its own answer from a forged, replayed or swapped one.
//!
//! # Canonical string
//!
//! Six lines joined by `\n` (no trailing newline):
//!
//! ```text
//! publishflow-response-v1
//! <status>            decimal HTTP status (100..=599)
//! <body-sha256>       lowercase hex SHA-256 of the response body
//! <request-nonce>     the nonce of the request being answered
//! <responder-key-id>  the signer's key id
//! <requester-key-id>  the key id of the platform that made the request
//! ```
//!
//! Headers: [`headers::RESPONDER`](crate::headers::RESPONDER), `BODY_SHA256`, `SIGNATURE`. The
//! nonce is not repeated: the caller knows which nonce it sent. The server signs every response to
//! a request whose nonce it could read, refusals included.

use crate::encoding::{b64, parse_sha256_hex, unb64_array};
use crate::headers::{self, single, HeaderProblem, HeaderSource};
use crate::keys::{Identity, KeyId, PublicKey};
use crate::request::Nonce;

const LABEL: &str = "publishflow-response-v1";

/// Why a response was refused by the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// The response carries no signature at all.
    #[error("the peer's response is not signed")]
    Unsigned,
    /// A signed header is absent.
    #[error("response header {0} is missing")]
    MissingHeader(&'static str),
    /// A signed header appears more than once.
    #[error("response header {0} appears more than once")]
    DuplicateHeader(&'static str),
    /// A signed header does not parse.
    #[error("malformed response header {0}")]
    MalformedHeader(&'static str),
    /// The status is not a valid HTTP status.
    #[error("invalid response status {0}")]
    BadStatus(u16),
    /// The response claims to come from another key than the peer we called.
    #[error("the response is signed by key {0}, not by the peer called")]
    WrongResponder(KeyId),
    /// The body received does not hash to the signed digest.
    #[error("the response body does not match its signed SHA-256")]
    BodyDigestMismatch,
    /// The signature does not verify (tampered status or body, or another request's answer).
    #[error("bad response signature")]
    BadSignature,
}

fn canonical(
    status: u16,
    body_hex: &str,
    nonce: &Nonce,
    responder: &KeyId,
    requester: &KeyId,
) -> String {
    format!("{LABEL}\n{status}\n{body_hex}\n{nonce}\n{responder}\n{requester}")
}

/// Headers to add to a response answering `request_nonce` from `requester`.
pub fn sign_response(
    identity: &Identity,
    status: u16,
    body_sha256: &[u8; 32],
    request_nonce: &Nonce,
    requester: &KeyId,
) -> Vec<(&'static str, String)> {
    let responder = identity.key_id();
    let body_hex = hex::encode(body_sha256);
    let text = canonical(status, &body_hex, request_nonce, &responder, requester);
    vec![
        (headers::RESPONDER, responder.to_string()),
        (headers::BODY_SHA256, body_hex),
        (headers::SIGNATURE, b64(&identity.sign_raw(text.as_bytes()))),
    ]
}

fn header<'a, H: HeaderSource + ?Sized>(
    h: &'a H,
    name: &'static str,
) -> Result<&'a str, ResponseError> {
    single(h, name).map_err(|p| match p {
        HeaderProblem::Missing => ResponseError::MissingHeader(name),
        HeaderProblem::Duplicate => ResponseError::DuplicateHeader(name),
        HeaderProblem::Malformed => ResponseError::MalformedHeader(name),
    })
}

/// Checks that a response was signed by `responder` (the peer we called) for our request
/// (`request_nonce`, sent by us as `requester`), over this `status` and body digest.
pub fn verify_response<H: HeaderSource + ?Sized>(
    status: u16,
    headers: &H,
    body_sha256: &[u8; 32],
    responder: &PublicKey,
    request_nonce: &Nonce,
    requester: &KeyId,
) -> Result<(), ResponseError> {
    if headers.values(headers::SIGNATURE).is_empty() {
        return Err(ResponseError::Unsigned);
    }
    if !(100..=599).contains(&status) {
        return Err(ResponseError::BadStatus(status));
    }
    let malformed = ResponseError::MalformedHeader;
    let claimed = KeyId::parse(header(headers, headers::RESPONDER)?)
        .map_err(|_| malformed(headers::RESPONDER))?;
    let digest = parse_sha256_hex(header(headers, headers::BODY_SHA256)?)
        .ok_or(malformed(headers::BODY_SHA256))?;
    let signature = unb64_array::<64>(header(headers, headers::SIGNATURE)?)
        .ok_or(malformed(headers::SIGNATURE))?;
    let expected = responder.key_id();
    if claimed != expected {
        return Err(ResponseError::WrongResponder(claimed));
    }
    if &digest != body_sha256 {
        return Err(ResponseError::BodyDigestMismatch);
    }
    let text = canonical(
        status,
        &hex::encode(digest),
        request_nonce,
        &expected,
        requester,
    );
    if responder.verify_raw(text.as_bytes(), &signature) {
        Ok(())
    } else {
        Err(ResponseError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::{sha256, unb64};

    struct F {
        server: Identity,
        client: Identity,
        nonce: Nonce,
    }

    fn f() -> F {
        F {
            server: Identity::generate(),
            client: Identity::generate(),
            nonce: Nonce::generate(),
        }
    }

    impl F {
        fn sign(&self, status: u16, body: &[u8]) -> Vec<(&'static str, String)> {
            sign_response(
                &self.server,
                status,
                &sha256(body),
                &self.nonce,
                &self.client.key_id(),
            )
        }
        fn verify(
            &self,
            status: u16,
            h: &[(&'static str, String)],
            body: &[u8],
        ) -> Result<(), ResponseError> {
            verify_response(
                status,
                h,
                &sha256(body),
                self.server.public_key(),
                &self.nonce,
                &self.client.key_id(),
            )
        }
    }

    #[test]
    fn signed_response_verifies() {
        let f = f();
        let h = f.sign(200, b"{\"ok\":true}");
        f.verify(200, &h, b"{\"ok\":true}").unwrap();
    }

    #[test]
    fn unsigned_response_is_refused() {
        let f = f();
        let h: Vec<(&'static str, String)> = vec![("content-type", "application/json".into())];
        assert_eq!(f.verify(200, &h, b"{}"), Err(ResponseError::Unsigned));
        let partial: Vec<_> = f
            .sign(200, b"{}")
            .into_iter()
            .filter(|(k, _)| *k != headers::RESPONDER)
            .collect();
        assert_eq!(
            f.verify(200, &partial, b"{}"),
            Err(ResponseError::MissingHeader(headers::RESPONDER))
        );
    }

    #[test]
    fn tampered_status_or_body_is_refused() {
        let f = f();
        let h = f.sign(403, b"{\"code\":\"not_admitted\"}");
        assert_eq!(
            f.verify(200, &h, b"{\"code\":\"not_admitted\"}"),
            Err(ResponseError::BadSignature)
        );
        assert_eq!(
            f.verify(403, &h, b"{\"code\":\"ok\"}"),
            Err(ResponseError::BodyDigestMismatch)
        );
        let mut swapped = h.clone();
        swapped[1].1 = hex::encode(sha256(b"{\"code\":\"ok\"}"));
        assert_eq!(
            f.verify(403, &swapped, b"{\"code\":\"ok\"}"),
            Err(ResponseError::BadSignature)
        );
        let mut sig = unb64(&h[2].1).unwrap();
        sig[63] ^= 0x10;
        let mut forged = h.clone();
        forged[2].1 = b64(&sig);
        assert!(f
            .verify(403, &forged, b"{\"code\":\"not_admitted\"}")
            .is_err());
    }

    #[test]
    fn answer_to_another_request_or_from_another_key_is_refused() {
        let f = f();
        let h = f.sign(200, b"x");
        let other_nonce = Nonce::generate();
        let err = verify_response(
            200,
            &h,
            &sha256(b"x"),
            f.server.public_key(),
            &other_nonce,
            &f.client.key_id(),
        );
        assert_eq!(err, Err(ResponseError::BadSignature));
        let other_requester = Identity::generate().key_id();
        let err = verify_response(
            200,
            &h,
            &sha256(b"x"),
            f.server.public_key(),
            &f.nonce,
            &other_requester,
        );
        assert_eq!(err, Err(ResponseError::BadSignature));
        // A relay answering with its own key, even correctly signed, is not the peer we called.
        let relay = Identity::generate();
        let h = sign_response(&relay, 200, &sha256(b"x"), &f.nonce, &f.client.key_id());
        assert_eq!(
            f.verify(200, &h, b"x"),
            Err(ResponseError::WrongResponder(relay.key_id()))
        );
    }

    #[test]
    fn malformed_response_headers_are_refused_without_panic() {
        let f = f();
        let good = f.sign(200, b"");
        for i in 0..good.len() {
            for junk in ["", "zz", "\u{1}", &"a".repeat(20_000)] {
                let mut h = good.clone();
                h[i].1 = junk.to_owned();
                assert!(f.verify(200, &h, b"").is_err());
            }
            let mut twice = good.clone();
            twice.push(good[i].clone());
            assert!(matches!(
                f.verify(200, &twice, b""),
                Err(ResponseError::DuplicateHeader(_))
            ));
        }
        assert_eq!(
            f.verify(700, &good, b""),
            Err(ResponseError::BadStatus(700))
        );
    }
}
