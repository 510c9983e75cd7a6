//! The network core of publishflow (SPEC §6, §8): who a platform is, and how platforms prove
//! things to each other.
//!
//! - [`keys`]: the Ed25519 identity, its key file, key ids and fingerprints.
//! - [`clock`]: injectable time so expiry rules are testable.
//! - [`detached`]: detached signatures over bytes (archive manifests).
//!
//! This crate owns no storage: where a rule needs the database (the nonce store, the peers
//! table), functions take a lookup or return what the caller must record.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod clock;
pub mod detached;
mod encoding;
pub mod keys;

pub use clock::{Clock, ManualClock, SystemClock};
pub use detached::{sign_bytes, verify_bytes, Signature, SignatureError};
pub use encoding::{sha256, sha256_hex};
pub use keys::{Fingerprint, Identity, KeyError, KeyId, PublicKey};
