//! The skeleton parts: where each XML entry travels, and reading/writing one part.
//!
//! **Two forms.** Archives made before the split carry every non-blob entry in one plain ustar
//! part, [`SKELETON`] (`skeleton.tar`, `.ARCHIVE_INDEX` first). The split form carries them in
//! several gzip-compressed ustar parts named by [`part_for`]: one per activity directory
//! (`skeleton/activities/<dir>.tgz`), one per section directory (`skeleton/sections/<dir>.tgz`),
//! one per other top-level directory (`skeleton/dir/<name>.tgz`), one per top-level file
//! (`skeleton/top/<name>.tgz`) and the index alone in [`INDEX_PART`]. Every part is written
//! deterministically (fixed header times, gzip without a time or name), so an unchanged activity
//! gives byte-identical parts and an update moves only the parts whose bytes changed.
//! Within a part, entries come in archive (index) order.

use std::io::{self, Cursor, Read, Write};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use sha2::Digest;

use super::{bad, ManifestPart, SKELETON};
use crate::error::{MbzError, Result};
use crate::write::ustar;

/// The part holding `.ARCHIVE_INDEX` in the split form.
pub const INDEX_PART: &str = "skeleton/index.tgz";
/// Largest skeleton part accepted (it is read into memory to be verified).
pub const MAX_SKELETON_PART: u64 = 256 << 20;
/// Most bytes one split skeleton part may inflate to.
const MAX_INFLATED: u64 = 4 << 30;

/// Whether `path` names a skeleton part (either form).
pub fn is_skeleton_part(path: &str) -> bool {
    path == SKELETON || (path.starts_with("skeleton/") && path.ends_with(".tgz"))
}

/// The split-form part that carries the non-blob entry `path`.
pub fn part_for(path: &str) -> String {
    let comps: Vec<&str> = path.split('/').collect();
    match comps.as_slice() {
        [one] => format!("skeleton/top/{one}.tgz"),
        [kind @ ("activities" | "sections"), dir, _, ..] => format!("skeleton/{kind}/{dir}.tgz"),
        [first, ..] => format!("skeleton/dir/{first}.tgz"),
        [] => "skeleton/top/.tgz".into(),
    }
}

/// Writes one split-form part: a gzip-compressed ustar, entries added in order.
pub(crate) struct PartWriter {
    gz: GzEncoder<Vec<u8>>,
}

impl PartWriter {
    pub(crate) fn new() -> Self {
        // GzEncoder's header has no time and no name: the bytes depend on the content only.
        PartWriter {
            gz: GzEncoder::new(Vec::new(), flate2::Compression::new(6)),
        }
    }

    pub(crate) fn add(&mut self, path: &str, r: &mut dyn Read, size: u64) -> Result<()> {
        tar_file(&mut self.gz, path, r, size)
    }

    /// Adds an entry whose `size` bytes `body` writes (e.g. a `files.xml` streamed by the writer).
    pub(crate) fn add_with(
        &mut self,
        path: &str,
        size: u64,
        body: impl FnOnce(&mut GzEncoder<Vec<u8>>) -> Result<()>,
    ) -> Result<()> {
        self.gz
            .write_all(&ustar::header(path, size, false, ustar::FIXED_MTIME)?)?;
        body(&mut self.gz)?;
        self.gz.write_all(&[0u8; 512][..ustar::padding(size)])?;
        Ok(())
    }

    /// The part's bytes and its manifest entry.
    pub(crate) fn finish(mut self, path: String) -> Result<(ManifestPart, Vec<u8>)> {
        self.gz.write_all(&[0u8; 1024])?;
        let bytes = self.gz.finish()?;
        let part = ManifestPart {
            path,
            size: bytes.len() as u64,
            sha256: hex::encode(sha2::Sha256::digest(&bytes)),
        };
        Ok((part, bytes))
    }
}

/// Writes one ustar file entry (header, body, padding).
pub(crate) fn tar_file<W: Write>(w: &mut W, path: &str, r: &mut dyn Read, size: u64) -> Result<()> {
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

/// Reads a part while hashing it; refuses to read past its listed size.
pub(crate) struct Verified<R> {
    pub(crate) inner: R,
    pub(crate) hash: sha2::Sha256,
    pub(crate) left: u64,
}

impl<R: Read> Verified<R> {
    pub(crate) fn new(inner: R, size: u64) -> Self {
        Verified {
            inner,
            hash: sha2::Sha256::new(),
            left: size,
        }
    }

    /// Checks that the part ends here with its listed SHA-256.
    pub(crate) fn finish(mut self, part: &ManifestPart) -> Result<()> {
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

impl<R: Read> Read for Verified<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.inner.read(&mut buf[..want])?;
        self.hash.update(&buf[..n]);
        self.left -= n as u64;
        Ok(n)
    }
}

/// A ustar stream read entry by entry.
pub(crate) struct TarIn<R> {
    pub(crate) r: R,
}

fn short(_: io::Error) -> MbzError {
    bad("a skeleton part is shorter than listed or corrupt")
}

impl<R: Read> TarIn<R> {
    /// The next entry's path and size; `None` at the end-of-archive block.
    pub(crate) fn header(&mut self) -> Result<Option<(String, u64)>> {
        let mut h = [0u8; 512];
        self.r.read_exact(&mut h).map_err(short)?;
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
        let path = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        Ok(Some((path, size)))
    }

    /// Copies the current entry's `size` bytes to `w`, then skips its padding.
    pub(crate) fn body<W: Write + ?Sized>(&mut self, size: u64, w: &mut W) -> Result<()> {
        let n = io::copy(&mut (&mut self.r).take(size), w)?;
        if n != size {
            return Err(bad("a skeleton part is shorter than listed"));
        }
        let mut pad = [0u8; 512];
        self.r
            .read_exact(&mut pad[..ustar::padding(size)])
            .map_err(short)
    }

    /// Reads the entry `path` of `size` bytes (it must come next) into `w`.
    pub(crate) fn entry_to<W: Write + ?Sized>(
        &mut self,
        path: &str,
        size: u64,
        w: &mut W,
    ) -> Result<()> {
        let (name, n) = self
            .header()?
            .ok_or_else(|| bad(format!("skeleton lacks {path}")))?;
        if name != path || n != size {
            return Err(bad(format!(
                "skeleton entry {name} does not match the index ({path})"
            )));
        }
        self.body(size, w)
    }

    /// Checks that the stream ends here (two zero blocks, nothing after); gives the reader back.
    pub(crate) fn end(mut self) -> Result<R> {
        if self.header()?.is_some() {
            return Err(bad("skeleton holds entries the index does not list"));
        }
        let mut z = [0u8; 512];
        self.r.read_exact(&mut z).map_err(short)?;
        if z.iter().any(|&b| b != 0) {
            return Err(bad("skeleton has a bad end"));
        }
        Ok(self.r)
    }
}

/// A split-form part, verified and being inflated.
pub(crate) type GzPart = TarIn<io::Take<GzDecoder<Cursor<Vec<u8>>>>>;

/// Reads the split-form `part` whole, checks its size and SHA-256, and opens its tar stream.
pub(crate) fn load_part<F>(part: &ManifestPart, open: &mut F) -> Result<GzPart>
where
    F: FnMut(&ManifestPart) -> io::Result<Box<dyn Read>> + ?Sized,
{
    if part.size > MAX_SKELETON_PART {
        return Err(bad(format!("skeleton part {} is too large", part.path)));
    }
    let mut v = Verified::new(open(part)?, part.size);
    let mut bytes = Vec::with_capacity(usize::try_from(part.size).unwrap_or(0));
    v.read_to_end(&mut bytes)?;
    v.finish(part)?;
    Ok(TarIn {
        r: GzDecoder::new(Cursor::new(bytes)).take(MAX_INFLATED),
    })
}

/// Ends a split-form part: the tar end, then nothing more in the gzip stream.
pub(crate) fn end_part(t: GzPart, path: &str) -> Result<()> {
    let mut rest = t.end()?;
    let mut extra = [0u8; 1];
    if rest.read(&mut extra).map_err(short)? != 0 {
        return Err(bad(format!("skeleton part {path} has bytes after its end")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_by_path() {
        assert_eq!(part_for("files.xml"), "skeleton/top/files.xml.tgz");
        assert_eq!(
            part_for("activities/page_3/page.xml"),
            "skeleton/activities/page_3.tgz"
        );
        assert_eq!(
            part_for("activities/page_3/sub/x.xml"),
            "skeleton/activities/page_3.tgz"
        );
        assert_eq!(part_for("activities/x.xml"), "skeleton/dir/activities.tgz");
        assert_eq!(
            part_for("sections/section_9/section.xml"),
            "skeleton/sections/section_9.tgz"
        );
        assert_eq!(part_for("course/course.xml"), "skeleton/dir/course.tgz");
        assert!(is_skeleton_part(&part_for("course/course.xml")));
        assert!(is_skeleton_part(INDEX_PART) && is_skeleton_part(SKELETON));
        assert!(!is_skeleton_part("files/ab/ab12"));
    }

    #[test]
    fn a_part_is_deterministic_and_verified() {
        let make = || {
            let mut w = PartWriter::new();
            w.add("a/b.xml", &mut &b"<x/>"[..], 4).unwrap();
            w.finish("skeleton/dir/a.tgz".into()).unwrap()
        };
        let (p1, b1) = make();
        let (p2, b2) = make();
        assert_eq!((p1.clone(), b1.clone()), (p2, b2));
        let mut open = |_: &ManifestPart| -> io::Result<Box<dyn Read>> {
            Ok(Box::new(Cursor::new(b1.clone())))
        };
        let mut t = load_part(&p1, &mut open).unwrap();
        let mut out = Vec::new();
        t.entry_to("a/b.xml", 4, &mut out).unwrap();
        assert_eq!(out, b"<x/>");
        end_part(t, &p1.path).unwrap();
        let mut wrong = p1.clone();
        wrong.sha256 = "0".repeat(64);
        assert!(load_part(&wrong, &mut open).is_err());
    }
}
