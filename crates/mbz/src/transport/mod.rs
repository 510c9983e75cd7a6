//! Transport manifests and transport sets (SPEC §5.2, §6.4).
//!
//! **What a part is.** An export travels as a *transport set*: one part per
//! file blob, at its archive path `files/xx/<sha1>` and holding exactly the
//! blob's bytes (so its SHA-256 is the platform's blob key), plus the
//! *skeleton parts* holding `.ARCHIVE_INDEX` and every non-blob entry (the
//! XML): one gzip-compressed ustar per activity directory, per section
//! directory, per other top-level directory and per top-level file, and the
//! index alone (see [`skeleton`]). Every part is content-addressed and
//! written deterministically, so after editing one 1 MiB file an update moves
//! about 1 MiB plus the few small parts whose bytes changed; the receiver
//! fetches only the parts whose SHA-256 it lacks. Archives made before the
//! split carry one plain-ustar `skeleton.tar` instead; both forms are
//! accepted. [`assemble`] turns a verified set back into a `.mbz` (entries in
//! index order) — what a post-deploy hook is handed; [`import_transport`]
//! imports a set straight from its skeleton parts and the manifest's blob
//! parts, without reassembling it (what a receiver restores);
//! [`for_each_skeleton_entry`] walks the XML alone (what the scanner reads).
//!
//! **The manifest** is canonical JSON: keys sorted, no insignificant
//! whitespace, integers only, UTF-8. [`TransportManifest::signing_bytes`]
//! gives the bytes that are hashed and signed (everything but
//! `signature`); [`TransportManifest::parse`] validates a received one.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::container::normalize_path;
use crate::error::{MbzError, Result};
use crate::import::blob_name;

/// Path of the single skeleton part of archives made before the split.
pub const SKELETON: &str = "skeleton.tar";
/// Most parts a manifest may list.
pub const MAX_PARTS: usize = 1_000_000;

/// The course an archive belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CourseIdentity {
    /// Course id on the source platform.
    pub source_course_id: i64,
    /// Short name.
    pub shortname: String,
    /// Full name.
    pub fullname: String,
}

/// One part of a transport set.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestPart {
    /// A skeleton part (`skeleton.tar`, `skeleton/….tgz`) or `files/xx/<sha1>`.
    pub path: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
}

/// A transport manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransportManifest {
    /// The source course.
    pub course: CourseIdentity,
    /// The learning-path key.
    pub idnumber: String,
    /// The platform that made the archive.
    pub source_platform: String,
    /// Per-course archive counter.
    pub archive_counter: u64,
    /// Creation time, RFC 3339 UTC (`YYYY-MM-DDTHH:MM:SSZ`).
    pub created_at: String,
    /// Parts, sorted by path.
    pub parts: Vec<ManifestPart>,
    /// Signature over [`Self::signing_bytes`], set by the network layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

pub(crate) fn bad(s: impl Into<String>) -> MbzError {
    MbzError::Manifest(s.into())
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn is_rfc3339_utc(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    b.len() == 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'Z'
}

impl TransportManifest {
    /// Canonical JSON of the whole manifest, signature included if set.
    pub fn to_canonical_json(&self) -> Vec<u8> {
        // serde_json's map is a BTreeMap: keys come out sorted, compact.
        let v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        serde_json::to_vec(&v).unwrap_or_default()
    }

    /// The bytes to hash and sign: canonical JSON without `signature`.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut m = self.clone();
        m.signature = None;
        m.to_canonical_json()
    }

    /// SHA-256 of [`Self::signing_bytes`]: "the whole" of SPEC §5.2.
    pub fn whole_sha256(&self) -> String {
        hex::encode(sha2::Sha256::digest(self.signing_bytes()))
    }

    /// The part holding the archive index: `skeleton/index.tgz`, or `skeleton.tar` in the
    /// single-skeleton form. Its key is what `skeleton_sha256` columns record.
    pub fn skeleton_part(&self) -> Option<&ManifestPart> {
        self.parts
            .iter()
            .find(|p| p.path == INDEX_PART)
            .or_else(|| self.parts.iter().find(|p| p.path == SKELETON))
    }

    /// Total size of all parts.
    pub fn total_size(&self) -> u64 {
        self.parts.iter().map(|p| p.size).sum()
    }

    /// Parse and validate a manifest; `max_total` caps the parts' total size.
    pub fn parse(bytes: &[u8], max_total: u64) -> Result<Self> {
        let m: TransportManifest = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        m.validate(max_total)?;
        Ok(m)
    }

    /// Check the invariants [`Self::parse`] enforces.
    pub fn validate(&self, max_total: u64) -> Result<()> {
        if self.parts.len() > MAX_PARTS {
            return Err(bad(format!("more than {MAX_PARTS} parts")));
        }
        if !is_rfc3339_utc(&self.created_at) {
            return Err(bad("created_at is not an RFC 3339 UTC time"));
        }
        let mut total: u64 = 0;
        let mut seen = HashSet::new();
        let (mut single, mut index) = (false, false);
        for (i, p) in self.parts.iter().enumerate() {
            total = total
                .checked_add(p.size)
                .filter(|t| *t <= max_total)
                .ok_or_else(|| bad(format!("parts exceed the {max_total}-byte cap")))?;
            if !is_sha256(&p.sha256) {
                return Err(bad(format!("part {:?} has a bad SHA-256", p.path)));
            }
            if normalize_path(p.path.as_bytes())?.is_none_or(|(n, dir)| dir || n != p.path) {
                return Err(bad(format!("bad part path {:?}", p.path)));
            }
            single |= p.path == SKELETON;
            index |= p.path == INDEX_PART;
            if !is_skeleton_part(&p.path) && blob_name(&p.path).is_none() {
                return Err(bad(format!("unknown part {:?}", p.path)));
            }
            if !seen.insert(p.path.as_str()) || (i > 0 && self.parts[i - 1].path >= p.path) {
                return Err(bad("parts are not sorted and unique"));
            }
        }
        if single == index {
            return Err(bad("no skeleton part, or both skeleton forms"));
        }
        if single
            && self
                .parts
                .iter()
                .any(|p| p.path != SKELETON && is_skeleton_part(&p.path))
        {
            return Err(bad("both skeleton forms"));
        }
        Ok(())
    }
}

mod assemble;
mod restore;
mod set;
pub mod skeleton;
pub use assemble::{assemble, for_each_skeleton_entry};
pub use restore::import_transport;
pub use set::{build_transport, build_transport_single, TransportSet};
use skeleton::{is_skeleton_part, INDEX_PART};

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TransportManifest {
        TransportManifest {
            course: CourseIdentity {
                source_course_id: 7,
                shortname: "C1".into(),
                fullname: "Cours é".into(),
            },
            idnumber: "ABCDEFGHIJ".into(),
            source_platform: "factory".into(),
            archive_counter: 3,
            created_at: "2026-01-02T03:04:05Z".into(),
            parts: vec![
                ManifestPart {
                    path: "files/ab/ab00000000000000000000000000000000000000".into(),
                    size: 5,
                    sha256: "a".repeat(64),
                },
                ManifestPart {
                    path: SKELETON.into(),
                    size: 2048,
                    sha256: "b".repeat(64),
                },
            ],
            signature: Some("sig".into()),
        }
    }

    #[test]
    fn canonical_and_signing_bytes() {
        let m = sample();
        let s = String::from_utf8(m.signing_bytes()).unwrap();
        assert!(!s.contains("signature"));
        assert!(
            s.contains("\"fullname\":\"Cours é\""),
            "UTF-8 kept, no whitespace: {s}"
        );
        assert!(
            s.starts_with("{\"archive_counter\":3,\"course\":{\"fullname\""),
            "{s}"
        );
        assert!(!s.contains('\n'));
        let full = m.to_canonical_json();
        let back = TransportManifest::parse(&full, 1 << 20).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.whole_sha256(), m.whole_sha256());
    }

    #[test]
    fn validation() {
        let mut m = sample();
        assert!(
            TransportManifest::parse(&m.to_canonical_json(), 100).is_err(),
            "total cap"
        );
        m.parts.swap(0, 1);
        assert!(m.validate(1 << 20).is_err(), "unsorted");
        let mut m = sample();
        m.parts[0].path = "../x".into();
        assert!(m.validate(1 << 20).is_err());
        let mut m = sample();
        m.created_at = "yesterday".into();
        assert!(m.validate(1 << 20).is_err());
        let mut m = sample();
        m.parts[1].sha256 = "B".repeat(64);
        assert!(m.validate(1 << 20).is_err());
        let float = String::from_utf8(sample().to_canonical_json())
            .unwrap()
            .replace("\"size\":5", "\"size\":5.0");
        assert!(
            TransportManifest::parse(float.as_bytes(), 1 << 20).is_err(),
            "integers only"
        );
    }
}
