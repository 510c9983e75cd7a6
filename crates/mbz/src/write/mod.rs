//! The writer: a deterministic `.mbz` (gzip + plain ustar) Moodle restores.
//!
//! It follows mbz-format.md §7: `.ARCHIVE_INDEX` first and exact, then the
//! tree in sorted order with a directory entry before its contents; the
//! `moodle_backup.xml` prolog exactly as Moodle's detection wants it; every
//! root XML file restore always parses; each blob once under
//! `files/xx/<sha1>`; ASCII entry names without `./`. Times are fixed, the
//! gzip header is fixed and chunking is content-driven, so the same input
//! always gives the same bytes.

mod entries;
mod files_xml;
pub(crate) mod gzip;
pub(crate) mod native;
mod patch;
pub(crate) mod plan;
pub mod ustar;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

use crate::error::{MbzError, Result};
use crate::model::ExportCourse;
use crate::staging::BlobSource;
use plan::Body;

/// Tuning for [`export_with`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportOptions {
    /// Deflate level for XML and ordinary files (0–9).
    pub level: u32,
    /// Deflate level for already-compressed media (video, audio, images,
    /// zip, pdf…).
    pub media_level: u32,
    /// Compression threads (1 = compress on the calling thread). The output
    /// does not depend on it.
    pub threads: usize,
    /// Bytes per independently compressed chunk. The output depends on it.
    pub chunk_bytes: usize,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            level: 6,
            media_level: 1,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            chunk_bytes: 1 << 20,
        }
    }
}

/// What [`export`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportSummary {
    /// File entries written (the index included, directories excluded).
    pub files: u64,
    /// Directory entries written.
    pub directories: u64,
    /// Blobs written under `files/`.
    pub blobs: u64,
    /// Bytes of file content before compression.
    pub content_bytes: u64,
    /// Size of the compressed archive.
    pub archive_bytes: u64,
}

/// Write `course` as a `.mbz` to `out` with default options.
pub fn export<B: BlobSource, W: Write>(
    course: &ExportCourse,
    blobs: &B,
    out: W,
) -> Result<ExportSummary> {
    export_with(course, blobs, out, &ExportOptions::default())
}

/// Write `course` as a `.mbz` to `out`.
pub fn export_with<B: BlobSource, W: Write>(
    course: &ExportCourse,
    blobs: &B,
    out: W,
    opts: &ExportOptions,
) -> Result<ExportSummary> {
    let l = layout(course, blobs)?;
    let mtime = ustar::FIXED_MTIME;

    let mut gz = gzip_writer(out, opts)?;
    let mut summary = ExportSummary {
        files: 1,
        directories: 0,
        blobs: 0,
        content_bytes: l.index_size,
        archive_bytes: 0,
    };
    l.write_index(&mut gz)?;
    let mut buf = vec![0u8; 256 << 10];
    l.each(|p, ent| {
        match ent {
            Ent::Dir => {
                gz.write_all(&ustar::header(p, 0, true, mtime)?)?;
                summary.directories += 1;
                return Ok(());
            }
            Ent::File(e) => {
                summary.files += 1;
                summary.content_bytes += e.size;
                gz.set_level(opts.level)?;
                match &e.body {
                    Body::Bytes(b) => write_file(&mut gz, p, &mut &b[..], e.size, mtime)?,
                    Body::FilesXml { base } => {
                        gz.write_all(&ustar::header(p, e.size, false, mtime)?)?;
                        l.write_files_xml(base.as_deref(), blobs, &mut gz, e.size)?;
                        gz.write_all(&[0u8; 512][..ustar::padding(e.size)])?;
                    }
                    Body::Stored(sha) => {
                        gz.write_all(&ustar::header(p, e.size, false, mtime)?)?;
                        let mut r = blobs
                            .open_blob(sha)
                            .map_err(|_| MbzError::MissingBlob(sha.clone()))?;
                        copy_exact(&mut *r, &mut gz, e.size, p, &mut buf)?;
                        gz.write_all(&[0u8; 512][..ustar::padding(e.size)])?;
                    }
                }
            }
            Ent::Blob {
                sha256,
                size,
                media,
            } => {
                summary.files += 1;
                summary.blobs += 1;
                summary.content_bytes += size;
                gz.write_all(&ustar::header(p, size, false, mtime)?)?;
                gz.set_level(if media { opts.media_level } else { opts.level })?;
                let mut r = blobs
                    .open_blob(sha256)
                    .map_err(|_| MbzError::MissingBlob(sha256.to_owned()))?;
                copy_exact(&mut *r, &mut gz, size, p, &mut buf)?;
                gz.set_level(opts.level)?;
                gz.write_all(&[0u8; 512][..ustar::padding(size)])?;
            }
        }
        Ok(())
    })?;
    gz.write_all(&[0u8; 1024])?;
    let (_, n) = gz.finish()?;
    summary.archive_bytes = n;
    Ok(summary)
}

/// What an export writes, decided before the first byte. Blobs are kept as
/// indexes into the resolved files, and the order and `.ARCHIVE_INDEX` are
/// produced as they are written, so memory stays small per file.
pub(crate) struct Layout<'a> {
    /// The course with every id decided.
    pub resolved: plan::Resolved<'a>,
    /// File entries other than blobs, by path.
    pub entries: BTreeMap<String, plan::OutEntry>,
    /// Directories (flagged) and the paths of `entries`, sorted.
    small: Vec<(String, bool)>,
    /// Blobs: indexes into `resolved.files`, sorted by path, one per SHA-1.
    blobs: Vec<u32>,
    /// Size of the `.ARCHIVE_INDEX` text.
    pub index_size: u64,
}

/// One entry of the archive, in [`Layout::each`].
pub(crate) enum Ent<'l> {
    /// A directory.
    Dir,
    /// A part (XML and other non-blob files).
    File(&'l plan::OutEntry),
    /// A file blob.
    Blob {
        sha256: &'l str,
        size: u64,
        media: bool,
    },
}

impl Layout<'_> {
    /// Every entry after the index, in archive order (each directory right
    /// before its contents).
    pub(crate) fn each(&self, mut f: impl FnMut(&str, Ent<'_>) -> Result<()>) -> Result<()> {
        let files = &self.resolved.course.course.files;
        let (mut i, mut j) = (0, 0);
        let mut path = String::new();
        while i < self.small.len() || j < self.blobs.len() {
            let blob = self.blobs.get(j).map(|k| &self.resolved.files[*k as usize]);
            if let Some(rf) = blob {
                path.clear();
                rf.sha1.with_str(|s| {
                    path.push_str("files/");
                    path.push_str(&s[..2]);
                    path.push('/');
                    path.push_str(s);
                });
            }
            let take_small = match (self.small.get(i), blob) {
                (Some((p, _)), Some(_)) => p.as_bytes() < path.as_bytes(),
                (Some(_), None) => true,
                _ => false,
            };
            if take_small {
                let (p, is_dir) = &self.small[i];
                i += 1;
                let ent = if *is_dir {
                    Ent::Dir
                } else {
                    Ent::File(&self.entries[p])
                };
                f(p, ent)?;
            } else if let Some(rf) = blob {
                j += 1;
                let rec = &files[rf.idx];
                let sha256 = rec.sha256.as_ref().map(ToString::to_string);
                let media = entries::media(rec);
                f(
                    &path,
                    Ent::Blob {
                        sha256: sha256.as_deref().unwrap_or_default(),
                        size: rec.size,
                        media,
                    },
                )?;
            }
        }
        Ok(())
    }

    /// Write the `.ARCHIVE_INDEX` text (its entries are those of [`Layout::each`]).
    pub(crate) fn index_text<W: Write>(&self, w: &mut W) -> Result<()> {
        let mtime = ustar::FIXED_MTIME;
        let count = self.small.len() + self.blobs.len();
        writeln!(w, "Moodle archive file index. Count: {count}")?;
        self.each(|p, ent| {
            match ent {
                Ent::Dir => writeln!(w, "{p}\td\t0\t?")?,
                Ent::File(e) => writeln!(w, "{p}\tf\t{}\t{mtime}", e.size)?,
                Ent::Blob { size, .. } => writeln!(w, "{p}\tf\t{size}\t{mtime}")?,
            }
            Ok(())
        })
    }

    /// Write the `.ARCHIVE_INDEX` tar entry (header, text, padding).
    pub(crate) fn write_index<W: Write>(&self, w: &mut W) -> Result<()> {
        let size = self.index_size;
        w.write_all(&ustar::header(
            ".ARCHIVE_INDEX",
            size,
            false,
            ustar::FIXED_MTIME,
        )?)?;
        let mut c = files_xml::CountingWriter::new(&mut *w);
        self.index_text(&mut c)?;
        if c.n != size {
            return Err(MbzError::Export("the index changed while written".into()));
        }
        w.write_all(&[0u8; 512][..ustar::padding(size)])?;
        Ok(())
    }

    /// Write a [`Body::FilesXml`] entry's bytes.
    pub(crate) fn write_files_xml<B: BlobSource, W: Write>(
        &self,
        base: Option<&str>,
        blobs: &B,
        out: W,
        size: u64,
    ) -> Result<()> {
        files_xml::write_sized(&self.resolved, base, blobs, out, size)
    }
}

pub(crate) fn layout<'a, B: BlobSource>(course: &'a ExportCourse, blobs: &B) -> Result<Layout<'a>> {
    let resolved = plan::resolve(course, blobs)?;
    let entries = entries::entries(&resolved, blobs)?;
    let blob_list = entries::blob_list(&resolved, &entries)?;
    // Directories implied by the file paths.
    let mut dirs = BTreeSet::new();
    for p in entries.keys() {
        let mut acc = String::new();
        let parts: Vec<&str> = p.split('/').collect();
        for comp in &parts[..parts.len() - 1] {
            acc.push_str(comp);
            acc.push('/');
            dirs.insert(acc.clone());
        }
    }
    if !blob_list.is_empty() {
        dirs.insert("files/".to_string());
    }
    let mut prefixes = BTreeSet::new();
    for k in &blob_list {
        let prefix = resolved.files[*k as usize]
            .sha1
            .with_str(|s| s[..2].to_owned());
        if !prefixes.contains(&prefix) {
            dirs.insert(format!("files/{prefix}/"));
            prefixes.insert(prefix);
        }
    }
    let mut small: Vec<(String, bool)> = dirs
        .into_iter()
        .map(|d| (d, true))
        .chain(entries.keys().map(|k| (k.clone(), false)))
        .collect();
    small.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut l = Layout {
        resolved,
        entries,
        small,
        blobs: blob_list,
        index_size: 0,
    };
    let mut c = crate::stream::Counter::default();
    l.index_text(&mut c)?;
    l.index_size = c.0;
    Ok(l)
}

/// The gzip stream every archive is written through.
pub(crate) fn gzip_writer<W: Write>(
    out: W,
    opts: &ExportOptions,
) -> io::Result<gzip::ChunkedGz<W>> {
    gzip::ChunkedGz::new(
        out,
        opts.level,
        opts.chunk_bytes.max(64 << 10),
        opts.threads,
    )
}

fn write_file<W: Write>(
    w: &mut W,
    path: &str,
    data: &mut dyn Read,
    size: u64,
    mtime: u64,
) -> Result<()> {
    w.write_all(&ustar::header(path, size, false, mtime)?)?;
    let mut buf = [0u8; 8192];
    copy_exact(data, w, size, path, &mut buf)?;
    w.write_all(&[0u8; 512][..ustar::padding(size)])?;
    Ok(())
}

fn copy_exact<W: Write>(
    r: &mut dyn Read,
    w: &mut W,
    size: u64,
    path: &str,
    buf: &mut [u8],
) -> Result<()> {
    let mut left = size;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = match r.read(&mut buf[..want]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            return Err(MbzError::Export(format!(
                "{path}: blob source gave fewer bytes than its recorded size {size}"
            )));
        }
        w.write_all(&buf[..n])?;
        left -= n as u64;
    }
    let mut one = [0u8; 1];
    if r.read(&mut one)? != 0 {
        return Err(MbzError::Export(format!(
            "{path}: blob source gave more bytes than its recorded size {size}"
        )));
    }
    Ok(())
}
