//! Transport manifests and transport sets (SPEC §5.2, §6.4).
//!
//! **What a part is.** An export travels as a *transport set*: one part per
//! file blob, at its archive path `files/xx/<sha1>` and holding exactly the
//! blob's bytes (so its SHA-256 is the platform's blob key), plus one part
//! `skeleton.tar`: a plain ustar holding `.ARCHIVE_INDEX` and every
//! non-blob entry (the XML). Blob parts are content-addressed and stable
//! across re-exports, so after editing one 1 MiB file an update moves about
//! 1 MiB plus the small skeleton; the receiver fetches only the parts whose
//! SHA-256 it lacks. [`assemble`] turns a verified set back into a `.mbz`
//! (entries in index order), which is then imported as usual.
//!
//! **The manifest** is canonical JSON: keys sorted, no insignificant
//! whitespace, integers only, UTF-8. [`TransportManifest::signing_bytes`]
//! gives the bytes that are hashed and signed (everything but
//! `signature`); [`TransportManifest::parse`] validates a received one.

use std::collections::HashSet;
use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::container::normalize_path;
use crate::error::{MbzError, Result};
use crate::import::blob_name;
use crate::model::ExportCourse;
use crate::staging::BlobSource;
use crate::write::{self, gzip_writer, plan::Body, ustar, ExportOptions};

/// Path of the skeleton part.
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
    /// `skeleton.tar` or `files/xx/<sha1>`.
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

fn bad(s: impl Into<String>) -> MbzError {
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
        let mut skeleton = false;
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
            skeleton |= p.path == SKELETON;
            if p.path != SKELETON && blob_name(&p.path).is_none() {
                return Err(bad(format!("unknown part {:?}", p.path)));
            }
            if !seen.insert(p.path.as_str()) || (i > 0 && self.parts[i - 1].path >= p.path) {
                return Err(bad("parts are not sorted and unique"));
            }
        }
        if !skeleton {
            return Err(bad("no skeleton part"));
        }
        Ok(())
    }
}

/// The parts of an export, ready to be listed in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransportSet {
    /// Parts sorted by path; blob parts' SHA-256 are blob-source keys.
    pub parts: Vec<ManifestPart>,
}

/// Build the transport set of `course`: writes the skeleton part to
/// `skeleton_out` (store it under its SHA-256) and lists every part.
pub fn build_transport<B: BlobSource, W: Write>(
    course: &ExportCourse,
    blobs: &B,
    mut skeleton_out: W,
) -> Result<TransportSet> {
    let (order, entries, index) = write::layout(course, blobs)?;
    let mut h = HashingWriter {
        inner: &mut skeleton_out,
        hash: sha2::Sha256::new(),
        n: 0,
    };
    tar_file(
        &mut h,
        ".ARCHIVE_INDEX",
        &mut index.as_bytes(),
        index.len() as u64,
    )?;
    let mut parts = Vec::new();
    for (p, is_dir) in &order {
        if *is_dir {
            continue;
        }
        let e = &entries[p];
        match &e.body {
            Body::Blob { sha256, .. } => parts.push(ManifestPart {
                path: p.clone(),
                size: e.size,
                sha256: sha256.clone(),
            }),
            Body::Bytes(b) => tar_file(&mut h, p, &mut &b[..], e.size)?,
            Body::Stored(sha) => {
                let mut r = blobs
                    .open_blob(sha)
                    .map_err(|_| MbzError::MissingBlob(sha.clone()))?;
                tar_file(&mut h, p, &mut r, e.size)?;
            }
        }
    }
    h.write_all(&[0u8; 1024])?;
    parts.push(ManifestPart {
        path: SKELETON.into(),
        size: h.n,
        sha256: hex::encode(h.hash.finalize()),
    });
    parts.sort();
    Ok(TransportSet { parts })
}

fn tar_file<W: Write>(w: &mut W, path: &str, r: &mut dyn Read, size: u64) -> Result<()> {
    w.write_all(&ustar::header(path, size, false, ustar::FIXED_MTIME)?)?;
    let n = io::copy(&mut r.take(size), w)?;
    if n != size {
        return Err(MbzError::Export(format!(
            "{path}: source is shorter than {size} bytes"
        )));
    }
    w.write_all(&[0u8; 512][..ustar::padding(size)])?;
    Ok(())
}

struct HashingWriter<W> {
    inner: W,
    hash: sha2::Sha256,
    n: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let k = self.inner.write(b)?;
        self.hash.update(&b[..k]);
        self.n += k as u64;
        Ok(k)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads a part while checking its size and SHA-256 at the end.
struct Verified<R> {
    inner: R,
    hash: sha2::Sha256,
    left: u64,
}

impl<R: Read> Verified<R> {
    fn read_exact_part(&mut self, buf: &mut [u8]) -> Result<()> {
        self.inner
            .read_exact(buf)
            .map_err(|_| bad("a part is shorter than listed"))?;
        self.hash.update(&*buf);
        self.left = self.left.saturating_sub(buf.len() as u64);
        Ok(())
    }
    fn copy_to<W: Write>(&mut self, n: u64, w: &mut W) -> Result<()> {
        let mut buf = vec![0u8; 64 << 10];
        let mut left = n;
        while left > 0 {
            let k = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            self.read_exact_part(&mut buf[..k])?;
            w.write_all(&buf[..k])?;
            left -= k as u64;
        }
        Ok(())
    }
    fn finish(mut self, part: &ManifestPart) -> Result<()> {
        let mut extra = [0u8; 1];
        if self.left != 0 || self.inner.read(&mut extra)? != 0 {
            return Err(bad(format!("part {} has the wrong size", part.path)));
        }
        if hex::encode(self.hash.finalize()) != part.sha256 {
            return Err(bad(format!("part {} has the wrong SHA-256", part.path)));
        }
        Ok(())
    }
}

/// Reassemble a `.mbz` from a verified manifest's parts. `open` opens one
/// part (by path or SHA-256). Every part's size and SHA-256 are checked as
/// it streams; on error discard `out` (write it to a temporary file).
pub fn assemble<F, W>(
    manifest: &TransportManifest,
    mut open: F,
    out: W,
    opts: &ExportOptions,
) -> Result<u64>
where
    F: FnMut(&ManifestPart) -> io::Result<Box<dyn Read>>,
    W: Write,
{
    let skel = manifest
        .parts
        .iter()
        .find(|p| p.path == SKELETON)
        .ok_or_else(|| bad("no skeleton part"))?;
    let mut sk = Verified {
        inner: open(skel)?,
        hash: sha2::Sha256::new(),
        left: skel.size,
    };
    let mut h = [0u8; 512];
    let mut next_header = |sk: &mut Verified<Box<dyn Read>>| -> Result<Option<(String, u64)>> {
        sk.read_exact_part(&mut h)?;
        if h.iter().all(|&b| b == 0) {
            return Ok(None);
        }
        let field = |f: &[u8]| {
            String::from_utf8_lossy(&f[..f.iter().position(|&b| b == 0).unwrap_or(f.len())])
                .into_owned()
        };
        let (name, prefix) = (field(&h[..100]), field(&h[345..500]));
        let size = u64::from_str_radix(field(&h[124..136]).trim(), 8)
            .map_err(|_| bad("bad skeleton header"))?;
        Ok(Some((
            if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            },
            size,
        )))
    };
    let (first, isize) = next_header(&mut sk)?.ok_or_else(|| bad("empty skeleton"))?;
    if first != ".ARCHIVE_INDEX" || isize > 256 << 20 {
        return Err(bad("skeleton does not start with the archive index"));
    }
    let mut index = vec![0u8; usize::try_from(isize).unwrap_or(0)];
    sk.read_exact_part(&mut index)?;
    sk.copy_to(ustar::padding(isize) as u64, &mut io::sink())?;
    let index = String::from_utf8(index).map_err(|_| bad("index is not UTF-8"))?;
    let mut gz = gzip_writer(out, opts)?;
    let mt = ustar::FIXED_MTIME;
    let pad = [0u8; 512];
    gz.write_all(&ustar::header(".ARCHIVE_INDEX", isize, false, mt)?)?;
    gz.write_all(index.as_bytes())?;
    gz.write_all(&pad[..ustar::padding(isize)])?;
    let by_path: std::collections::HashMap<&str, &ManifestPart> = manifest
        .parts
        .iter()
        .map(|p| (p.path.as_str(), p))
        .collect();
    for line in index.lines().skip(1) {
        let mut f = line.split('\t');
        let (path, kind, size) = (
            f.next().unwrap_or(""),
            f.next().unwrap_or(""),
            f.next().unwrap_or(""),
        );
        if kind == "d" {
            gz.write_all(&ustar::header(path, 0, true, mt)?)?;
            continue;
        }
        let size: u64 = size.parse().map_err(|_| bad("bad index line"))?;
        gz.write_all(&ustar::header(path, size, false, mt)?)?;
        if blob_name(path).is_some() {
            let part = by_path
                .get(path)
                .ok_or_else(|| bad(format!("no part for {path}")))?;
            if part.size != size {
                return Err(bad(format!("part {path} size differs from the index")));
            }
            let mut v = Verified {
                inner: open(part)?,
                hash: sha2::Sha256::new(),
                left: size,
            };
            v.copy_to(size, &mut gz)?;
            v.finish(part)?;
        } else {
            let (name, n) =
                next_header(&mut sk)?.ok_or_else(|| bad(format!("skeleton lacks {path}")))?;
            if name != path || n != size {
                return Err(bad(format!(
                    "skeleton entry {name} does not match the index ({path})"
                )));
            }
            sk.copy_to(size, &mut gz)?;
            sk.copy_to(ustar::padding(size) as u64, &mut io::sink())?;
        }
        gz.write_all(&pad[..ustar::padding(size)])?;
    }
    if next_header(&mut sk)?.is_some() {
        return Err(bad("skeleton holds entries the index does not list"));
    }
    sk.copy_to(512, &mut io::sink())?;
    sk.finish(skel)?;
    gz.write_all(&[0u8; 1024])?;
    Ok(gz.finish()?.1)
}

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
