//! Building a transport set from an export and reassembling a `.mbz`.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::{bad, ManifestPart, TransportManifest, SKELETON};
use crate::error::{MbzError, Result};
use crate::import::blob_name;
use crate::model::ExportCourse;
use crate::staging::BlobSource;
use crate::write::{self, gzip_writer, plan::Body, ustar, Ent, ExportOptions};

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
    let layout = write::layout(course, blobs)?;
    let mut h = HashingWriter {
        inner: &mut skeleton_out,
        hash: sha2::Sha256::new(),
        n: 0,
    };
    layout.write_index(&mut h)?;
    let mut parts = Vec::new();
    layout.each(|p, ent| {
        match ent {
            Ent::Dir => {}
            Ent::Blob { sha256, size, .. } => parts.push(ManifestPart {
                path: p.to_owned(),
                size,
                sha256: sha256.to_owned(),
            }),
            Ent::File(e) => match &e.body {
                Body::Bytes(b) => tar_file(&mut h, p, &mut &b[..], e.size)?,
                Body::FilesXml { base } => {
                    h.write_all(&ustar::header(p, e.size, false, ustar::FIXED_MTIME)?)?;
                    layout.write_files_xml(base.as_deref(), blobs, &mut h, e.size)?;
                    h.write_all(&[0u8; 512][..ustar::padding(e.size)])?;
                }
                Body::Stored(sha) => {
                    let mut r = blobs
                        .open_blob(sha)
                        .map_err(|_| MbzError::MissingBlob(sha.clone()))?;
                    tar_file(&mut h, p, &mut r, e.size)?;
                }
            },
        }
        Ok(())
    })?;
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
