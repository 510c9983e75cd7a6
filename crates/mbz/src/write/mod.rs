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
    let Layout {
        order,
        entries,
        index,
        resolved,
    } = layout(course, blobs)?;
    let mtime = ustar::FIXED_MTIME;

    let mut gz = gzip_writer(out, opts)?;
    let mut summary = ExportSummary {
        files: 1,
        directories: 0,
        blobs: 0,
        content_bytes: index.len() as u64,
        archive_bytes: 0,
    };
    write_file(
        &mut gz,
        ".ARCHIVE_INDEX",
        &mut index.as_bytes(),
        index.len() as u64,
        mtime,
    )?;
    let mut buf = vec![0u8; 256 << 10];
    for (p, is_dir) in &order {
        if *is_dir {
            gz.write_all(&ustar::header(p, 0, true, mtime)?)?;
            summary.directories += 1;
            continue;
        }
        let e = &entries[p];
        summary.files += 1;
        summary.content_bytes += e.size;
        match &e.body {
            Body::Bytes(b) => {
                gz.set_level(opts.level)?;
                write_file(&mut gz, p, &mut &b[..], e.size, mtime)?;
            }
            Body::FilesXml { base } => {
                gz.set_level(opts.level)?;
                gz.write_all(&ustar::header(p, e.size, false, mtime)?)?;
                files_xml::write_sized(&resolved, base.as_deref(), blobs, &mut gz, e.size)?;
                gz.write_all(&[0u8; 512][..ustar::padding(e.size)])?;
            }
            Body::Stored(sha) | Body::Blob { sha256: sha, .. } => {
                let media = matches!(e.body, Body::Blob { media: true, .. });
                gz.write_all(&ustar::header(p, e.size, false, mtime)?)?;
                gz.set_level(if media { opts.media_level } else { opts.level })?;
                if matches!(e.body, Body::Blob { .. }) {
                    summary.blobs += 1;
                }
                let mut r = blobs
                    .open_blob(sha)
                    .map_err(|_| MbzError::MissingBlob(sha.clone()))?;
                copy_exact(&mut *r, &mut gz, e.size, p, &mut buf)?;
                gz.set_level(opts.level)?;
                gz.write_all(&[0u8; 512][..ustar::padding(e.size)])?;
            }
        }
    }
    gz.write_all(&[0u8; 1024])?;
    let (_, n) = gz.finish()?;
    summary.archive_bytes = n;
    Ok(summary)
}

/// What an export writes, decided before the first byte.
pub(crate) struct Layout<'a> {
    /// Entry order (directories flagged).
    pub order: Vec<(String, bool)>,
    /// File entries by path.
    pub entries: BTreeMap<String, plan::OutEntry>,
    /// The `.ARCHIVE_INDEX` text.
    pub index: String,
    /// The course with every id decided (streamed bodies need it).
    pub resolved: plan::Resolved<'a>,
}

/// Write a [`Body::FilesXml`] entry's bytes.
pub(crate) fn write_files_xml<B: BlobSource, W: Write>(
    l: &Layout<'_>,
    base: Option<&str>,
    blobs: &B,
    out: W,
    size: u64,
) -> Result<()> {
    files_xml::write_sized(&l.resolved, base, blobs, out, size)
}

pub(crate) fn layout<'a, B: BlobSource>(course: &'a ExportCourse, blobs: &B) -> Result<Layout<'a>> {
    let resolved = plan::resolve(course, blobs)?;
    let entries = entries::entries(&resolved, blobs)?;
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
    // One ordered list: each directory right before its contents.
    let mut order: Vec<(String, bool)> = dirs
        .into_iter()
        .map(|d| (d, true))
        .chain(entries.keys().map(|k| (k.clone(), false)))
        .collect();
    order.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));

    let mtime = ustar::FIXED_MTIME;
    let mut index = format!("Moodle archive file index. Count: {}\n", order.len());
    for (p, is_dir) in &order {
        if *is_dir {
            index.push_str(&format!("{p}\td\t0\t?\n"));
        } else {
            index.push_str(&format!("{p}\tf\t{}\t{mtime}\n", entries[p].size));
        }
    }

    Ok(Layout {
        order,
        entries,
        index,
        resolved,
    })
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
