//! A platform's Ed25519 identity: generation, the private-key file, and the public names of a key.
//!
//! - [`Identity`] holds the signing key. It is saved as PKCS#8 PEM (`openssl pkey` reads it) in a
//!   file created with mode 0600 through a temporary file, and linked into place so an existing
//!   key is never overwritten. Loading refuses a file that the group or others may read.
//! - [`PublicKey`] is the verifying key; on the wire and in JSON it is base64url without padding
//!   (43 characters).
//! - [`KeyId`] names a key in headers and tokens: the lowercase hex of the first 16 bytes of the
//!   SHA-256 of the 32 public-key bytes (32 characters, 128 bits). A peer *is* its key, so the
//!   key id is the peer's identity on the wire.
//! - [`Fingerprint`] is what people compare: `SHA256:` and the unpadded standard base64 of the
//!   same SHA-256 (the style of `ssh-keygen -l`). The key id is the fingerprint's hash truncated.
//!
//! Secrets never appear in `Debug` output.

use crate::encoding::{b64, sha256, unb64_array};
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use std::fmt;
use std::fs;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Largest key file read (a PEM Ed25519 key is about 120 bytes).
const MAX_KEY_FILE: u64 = 16 * 1024;

/// Why a key could not be saved, loaded or parsed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file could not be read or written.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Saving would overwrite an existing key.
    #[error("key file {0} already exists; refusing to overwrite a key")]
    Exists(PathBuf),
    /// The key file is readable by the group or others.
    #[error("key file {path} has mode {mode:o}: the group or others may read it; run `chmod 600 {path}`")]
    InsecurePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file is not a PKCS#8 PEM Ed25519 private key.
    #[error("key file {0} does not hold a PKCS#8 PEM Ed25519 private key")]
    Malformed(PathBuf),
    /// The text is not a valid public key (base64url of 32 bytes, a strong curve point).
    #[error("not a valid Ed25519 public key")]
    BadPublicKey,
    /// The text is not a key id (32 lowercase hex characters).
    #[error("not a valid key id (32 lowercase hex characters)")]
    BadKeyId,
}

/// This platform's signing identity. `Debug` shows only the key id.
pub struct Identity {
    signing: SigningKey,
    public: PublicKey,
}

impl Identity {
    /// A new random identity from the operating system's generator.
    pub fn generate() -> Identity {
        Identity::from_signing(SigningKey::generate(&mut rand::rngs::OsRng))
    }

    fn from_signing(signing: SigningKey) -> Identity {
        let public = PublicKey(signing.verifying_key());
        Identity { signing, public }
    }

    /// The public half.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The key id of the public half.
    pub fn key_id(&self) -> KeyId {
        self.public.key_id()
    }

    /// The fingerprint of the public half.
    pub fn fingerprint(&self) -> Fingerprint {
        self.public.fingerprint()
    }

    /// Signs raw bytes. Crate-internal: every signed message carries its own domain label.
    pub(crate) fn sign_raw(&self, msg: &[u8]) -> [u8; 64] {
        self.signing.sign(msg).to_bytes()
    }

    /// Writes the private key to `path` (PKCS#8 PEM, mode 0600). The key is written to a
    /// temporary file in the same directory, synced, then linked to `path`, which must not exist.
    pub fn save(&self, path: &Path) -> Result<(), KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        };
        let pem = self
            .signing
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .map_err(|_| KeyError::Malformed(path.to_path_buf()))?;
        if path.symlink_metadata().is_ok() {
            return Err(KeyError::Exists(path.to_path_buf()));
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path
            .file_name()
            .ok_or_else(|| io(std::io::ErrorKind::InvalidInput.into()))?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(
            ".tmp-{}",
            hex::encode(crate::encoding::random_bytes::<6>())
        ));
        let tmp = dir.join(tmp_name);
        let result = (|| {
            let mut file = create_private(&tmp)?;
            file.write_all(pem.as_bytes())?;
            file.sync_all()?;
            drop(file);
            // A hard link fails if `path` exists, unlike rename: no key is ever replaced.
            fs::hard_link(&tmp, path)
        })();
        let _ = fs::remove_file(&tmp);
        match result {
            Ok(()) => {
                if let Ok(d) = fs::File::open(&dir) {
                    let _ = d.sync_all();
                }
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(KeyError::Exists(path.to_path_buf()))
            }
            Err(e) => Err(io(e)),
        }
    }

    /// Reads a private key saved by [`Identity::save`]. Refuses a file whose mode lets the group
    /// or others read or write it.
    pub fn load(path: &Path) -> Result<Identity, KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = fs::File::open(path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        check_private_mode(path, &meta)?;
        let mut text = String::new();
        file.take(MAX_KEY_FILE)
            .read_to_string(&mut text)
            .map_err(|_| KeyError::Malformed(path.to_path_buf()))?;
        let text = zeroize::Zeroizing::new(text);
        let signing = SigningKey::from_pkcs8_pem(&text)
            .map_err(|_| KeyError::Malformed(path.to_path_buf()))?;
        Ok(Identity::from_signing(signing))
    }
}

#[cfg(unix)]
fn create_private(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(unix)]
fn check_private_mode(path: &Path, meta: &fs::Metadata) -> Result<(), KeyError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::InsecurePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private_mode(_: &Path, _: &fs::Metadata) -> Result<(), KeyError> {
    Ok(())
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

/// An Ed25519 public key (a peer's identity). Serialises as base64url without padding.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Parses 32 bytes, refusing invalid and small-order (weak) points.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<PublicKey, KeyError> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::BadPublicKey)?;
        if key.is_weak() {
            return Err(KeyError::BadPublicKey);
        }
        Ok(PublicKey(key))
    }

    /// The 32 raw bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The key id (see the module docs).
    pub fn key_id(&self) -> KeyId {
        let digest = sha256(self.0.as_bytes());
        KeyId(hex::encode(&digest[..16]))
    }

    /// The human-readable fingerprint (see the module docs).
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint(format!(
            "SHA256:{}",
            STANDARD_NO_PAD.encode(sha256(self.0.as_bytes()))
        ))
    }

    /// Verifies an Ed25519 signature over `msg` (strict: no malleable or weak-key signatures).
    pub(crate) fn verify_raw(&self, msg: &[u8], sig: &[u8; 64]) -> bool {
        self.0
            .verify_strict(msg, &ed25519_dalek::Signature::from_bytes(sig))
            .is_ok()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&b64(self.0.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        PublicKey::from_bytes(&unb64_array::<32>(s).ok_or(KeyError::BadPublicKey)?)
    }
}

impl serde::Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The short, stable id of a public key: 32 lowercase hex characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    /// Parses a key id; only the canonical spelling (lowercase hex) is accepted.
    pub fn parse(s: &str) -> Result<KeyId, KeyError> {
        if s.len() == 32
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(KeyId(s.to_owned()))
        } else {
            Err(KeyError::BadKeyId)
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0)
    }
}

impl FromStr for KeyId {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        KeyId::parse(s)
    }
}

impl serde::Serialize for KeyId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for KeyId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        KeyId::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A key's fingerprint for people: `SHA256:<base64>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// The fingerprint as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
#[path = "keys_tests.rs"]
mod tests;
