//! Pairing two platforms with a one-time code (SPEC §6.1).
//!
//! # Codes
//!
//! [`PairingCode::generate`] makes 20 Crockford base32 symbols (100 bits), shown as
//! `XXXX-XXXX-XXXX-XXXX-XXXX`. [`PairingCode::parse`] accepts what people type: any case,
//! spaces and dashes anywhere, and Crockford's look-alikes (`O`→`0`, `I`/`L`→`1`). The code is
//! never stored: the inviter keeps its [`CodeDigest`] (lookup, also sent in the hello) and its
//! [`ProofKey`] (to check and make proofs), both one-way derivations of the code. The proof key
//! is as good as the code for pairing while the code is valid (one hour, single use): keep it in
//! the database's secret columns and delete it when the code is used or expires.
//!
//! # The exchange (`POST /pair`, three messages)
//!
//! 1. The inviter issues a code (`peer invite`); an admin carries it to the redeemer.
//! 2. The redeemer sends [`PairHello`] {code id, the inviter URL it is calling, its name, URL,
//!    role, public key, nonce, `proof_r`} ([`start_pairing`]).
//! 3. The inviter looks the code up by id, checks `proof_r`, and answers [`PairWelcome`] {its
//!    name, URL, role, public key, nonce, `proof_i`} ([`answer_hello`]); the redeemer checks
//!    `proof_i` ([`Redeeming::finish`]). Each side then records the other as an active peer.
//!
//! # Proofs
//!
//! `proof = HMAC-SHA256(proof key, transcript)`, where the transcript is the length-prefixed
//! (u32 big-endian) sequence: the label `publishflow-pairing-v1`, the direction (`hello` or
//! `welcome`), the code id, the inviter URL as the redeemer called it, the redeemer's name, URL,
//! role, public key (32 bytes) and nonce, and — for `welcome` only, since the redeemer cannot
//! know them before — the inviter's name, URL, role, public key and nonce. Each side computes the
//! proof over what **it** saw, so a relay that swaps a key, a name or a URL (or forwards the hello
//! to another inviter URL) makes the proofs disagree and is detected without knowing the code.

use crate::encoding::{b64, random_bytes, sha256};
use crate::keys::PublicKey;
use crate::request::Nonce;
use hmac::{Hmac, Mac};
use pf_domain::platform::PlatformRole;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroize as _;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const SYMBOLS: usize = 20;
const LABEL: &[u8] = b"publishflow-pairing-v1";
/// Longest platform name or URL accepted in a pairing message.
pub const MAX_FIELD: usize = 512;

/// Why a pairing step failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairingError {
    /// The typed code is not 20 Crockford base32 symbols.
    #[error("not a pairing code (expected 20 letters and digits like XXXX-XXXX-XXXX-XXXX-XXXX)")]
    BadCode,
    /// The other side's proof does not match: wrong code, or a relay changed the messages.
    #[error("pairing proof mismatch: wrong code, or the messages were altered in transit")]
    BadProof,
    /// The hello was meant for another URL than this platform's.
    #[error("the redeemer called {0}, which is not this platform's URL")]
    WrongUrl(String),
    /// Both sides have the same key.
    #[error("a platform cannot pair with itself")]
    SelfPairing,
    /// A field is empty, too long, or not a valid value.
    #[error("invalid {0} in pairing message")]
    InvalidField(&'static str),
}

/// A one-time pairing code. `Debug` does not show it; `Display` shows the grouped form.
#[derive(Clone, PartialEq, Eq)]
pub struct PairingCode([u8; SYMBOLS]);

impl Drop for PairingCode {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl PairingCode {
    /// A fresh random code (100 bits).
    pub fn generate() -> PairingCode {
        let random = random_bytes::<SYMBOLS>();
        PairingCode(random.map(|b| ALPHABET[usize::from(b & 31)]))
    }

    /// Normalises a typed code (see the module docs).
    pub fn parse(typed: &str) -> Result<PairingCode, PairingError> {
        let mut out = [0u8; SYMBOLS];
        let mut n = 0;
        for c in typed.bytes() {
            let c = match c.to_ascii_uppercase() {
                b' ' | b'-' | b'\t' => continue,
                b'O' => b'0',
                b'I' | b'L' => b'1',
                c if ALPHABET.contains(&c) => c,
                _ => return Err(PairingError::BadCode),
            };
            *out.get_mut(n).ok_or(PairingError::BadCode)? = c;
            n += 1;
        }
        if n == SYMBOLS {
            Ok(PairingCode(out))
        } else {
            Err(PairingError::BadCode)
        }
    }

    /// The digest to store and to look the code up by.
    pub fn digest(&self) -> CodeDigest {
        let mut msg = b"publishflow-pairing-code-v1\n".to_vec();
        msg.extend_from_slice(&self.0);
        CodeDigest(hex::encode(sha256(&msg)))
    }

    /// The key for pairing proofs.
    pub fn proof_key(&self) -> ProofKey {
        let mut mac = <Hmac<Sha256>>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(b"publishflow-pairing-proof-key-v1");
        ProofKey(mac.finalize().into_bytes().into())
    }
}

impl fmt::Display for PairingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, group) in self.0.chunks(4).enumerate() {
            if i > 0 {
                f.write_str("-")?;
            }
            f.write_str(std::str::from_utf8(group).map_err(|_| fmt::Error)?)?;
        }
        Ok(())
    }
}

impl fmt::Debug for PairingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PairingCode(<redacted>)")
    }
}

/// The stored, one-way digest of a code (64 lowercase hex characters); also the code's id in
/// the hello.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CodeDigest(String);

impl CodeDigest {
    /// Parses a stored or received digest.
    pub fn parse(s: &str) -> Result<CodeDigest, PairingError> {
        crate::encoding::parse_sha256_hex(s)
            .map(|_| CodeDigest(s.to_owned()))
            .ok_or(PairingError::InvalidField("code id"))
    }

    /// The digest as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison.
    pub fn matches(&self, other: &CodeDigest) -> bool {
        self.0.len() == other.0.len() && bool::from(self.0.as_bytes().ct_eq(other.0.as_bytes()))
    }
}

/// The code-derived key for pairing proofs. Secret: `Debug` hides it, memory is wiped on drop.
#[derive(Clone)]
pub struct ProofKey([u8; 32]);

impl Drop for ProofKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ProofKey {
    /// Hex, for the database's secret column.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// From the database's hex.
    pub fn from_hex(s: &str) -> Result<ProofKey, PairingError> {
        crate::encoding::parse_sha256_hex(s)
            .map(ProofKey)
            .ok_or(PairingError::InvalidField("proof key"))
    }

    fn mac(&self, transcript: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256>>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(transcript);
        mac
    }
}

impl fmt::Debug for ProofKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProofKey(<redacted>)")
    }
}

/// What one platform tells the other about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairSide {
    /// Platform short name.
    pub name: String,
    /// Public base URL (what the other side will call).
    pub url: String,
    /// Platform role.
    pub role: PlatformRole,
    /// Identity key.
    pub public_key: PublicKey,
}

/// Message 2: redeemer → inviter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairHello {
    /// The code's digest, to find it.
    pub code_id: CodeDigest,
    /// The inviter URL the redeemer is calling.
    pub inviter_url: String,
    /// The redeemer.
    pub redeemer: PairSide,
    /// Redeemer's nonce (base64url, 16 bytes).
    pub nonce: String,
    /// `proof_r`, base64url of the HMAC.
    pub proof: String,
}

/// Message 3: inviter → redeemer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairWelcome {
    /// The inviter.
    pub inviter: PairSide,
    /// Inviter's nonce (base64url, 16 bytes).
    pub nonce: String,
    /// `proof_i`, base64url of the HMAC.
    pub proof: String,
}

/// The redeemer's state between sending the hello and reading the welcome.
#[derive(Debug)]
pub struct Redeeming {
    key: ProofKey,
    hello: PairHello,
}

fn push(t: &mut Vec<u8>, field: &[u8]) {
    t.extend_from_slice(&(field.len() as u32).to_be_bytes());
    t.extend_from_slice(field);
}

fn push_side(t: &mut Vec<u8>, side: &PairSide, nonce: &str) {
    push(t, side.name.as_bytes());
    push(t, side.url.as_bytes());
    push(t, side.role.as_str().as_bytes());
    push(t, &side.public_key.to_bytes());
    push(t, nonce.as_bytes());
}

fn transcript(hello: &PairHello, welcome: Option<(&PairSide, &str)>) -> Vec<u8> {
    let mut t = Vec::with_capacity(512);
    push(&mut t, LABEL);
    push(
        &mut t,
        if welcome.is_some() {
            b"welcome"
        } else {
            b"hello"
        },
    );
    push(&mut t, hello.code_id.as_str().as_bytes());
    push(&mut t, hello.inviter_url.as_bytes());
    push_side(&mut t, &hello.redeemer, &hello.nonce);
    if let Some((inviter, nonce)) = welcome {
        push_side(&mut t, inviter, nonce);
    }
    t
}

fn check_proof(key: &ProofKey, transcript: &[u8], proof: &str) -> Result<(), PairingError> {
    let proof = crate::encoding::unb64_array::<32>(proof).ok_or(PairingError::BadProof)?;
    key.mac(transcript)
        .verify_slice(&proof)
        .map_err(|_| PairingError::BadProof)
}

/// Trims trailing slashes so `https://a.example/` and `https://a.example` are one URL.
fn base_url(url: &str) -> &str {
    url.trim_end_matches('/')
}

fn check_side(side: &PairSide, nonce: &str) -> Result<(), PairingError> {
    let text_ok =
        |s: &str| !s.is_empty() && s.len() <= MAX_FIELD && !s.chars().any(char::is_control);
    if !text_ok(&side.name) {
        return Err(PairingError::InvalidField("name"));
    }
    let scheme_ok = side.url.starts_with("https://") || side.url.starts_with("http://");
    if !text_ok(&side.url) || !scheme_ok || side.url.contains(char::is_whitespace) {
        return Err(PairingError::InvalidField("url"));
    }
    if Nonce::parse(nonce).is_none() {
        return Err(PairingError::InvalidField("nonce"));
    }
    Ok(())
}

/// Redeemer, step 2: builds the hello for `code`, calling the inviter at `inviter_url`.
pub fn start_pairing(
    code: &PairingCode,
    inviter_url: &str,
    me: &PairSide,
) -> (PairHello, Redeeming) {
    let key = code.proof_key();
    let mut hello = PairHello {
        code_id: code.digest(),
        inviter_url: base_url(inviter_url).to_owned(),
        redeemer: me.clone(),
        nonce: b64(&random_bytes::<16>()),
        proof: String::new(),
    };
    hello.proof = b64(&key.mac(&transcript(&hello, None)).finalize().into_bytes());
    (hello.clone(), Redeeming { key, hello })
}

/// Inviter, step 3: checks the hello against the stored proof key and our own URL, and answers.
/// Returns the welcome and the redeemer to record as a peer. A [`PairingError::BadProof`] counts
/// as a failed attempt on the code.
pub fn answer_hello(
    hello: &PairHello,
    key: &ProofKey,
    me: &PairSide,
) -> Result<(PairWelcome, PairSide), PairingError> {
    check_side(&hello.redeemer, &hello.nonce)?;
    check_proof(key, &transcript(hello, None), &hello.proof)?;
    if base_url(&hello.inviter_url) != base_url(&me.url) {
        return Err(PairingError::WrongUrl(hello.inviter_url.clone()));
    }
    if hello.redeemer.public_key == me.public_key {
        return Err(PairingError::SelfPairing);
    }
    let nonce = b64(&random_bytes::<16>());
    let proof = b64(&key
        .mac(&transcript(hello, Some((me, &nonce))))
        .finalize()
        .into_bytes());
    Ok((
        PairWelcome {
            inviter: me.clone(),
            nonce,
            proof,
        },
        hello.redeemer.clone(),
    ))
}

impl Redeeming {
    /// Redeemer, last step: checks the welcome and returns the inviter to record as a peer.
    pub fn finish(self, welcome: &PairWelcome) -> Result<PairSide, PairingError> {
        check_side(&welcome.inviter, &welcome.nonce)?;
        check_proof(
            &self.key,
            &transcript(&self.hello, Some((&welcome.inviter, &welcome.nonce))),
            &welcome.proof,
        )?;
        if base_url(&welcome.inviter.url) != self.hello.inviter_url {
            return Err(PairingError::WrongUrl(welcome.inviter.url.clone()));
        }
        if welcome.inviter.public_key == self.hello.redeemer.public_key {
            return Err(PairingError::SelfPairing);
        }
        Ok(welcome.inviter.clone())
    }
}

#[cfg(test)]
#[path = "pairing_tests.rs"]
mod tests;
