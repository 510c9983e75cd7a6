//! Building a transport set from an export (split form, or the single-skeleton form of older
//! archives).

use std::collections::HashMap;
use std::io::Write;

use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::skeleton::{part_for, tar_file, PartWriter, INDEX_PART};
use super::{ManifestPart, SKELETON};
use crate::error::{MbzError, Result};
use crate::model::ExportCourse;
use crate::staging::BlobSource;
use crate::write::{self, plan::Body, ustar, Ent};

/// The parts of an export, ready to be listed in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransportSet {
    /// Parts sorted by path; blob parts' SHA-256 are blob-source keys.
    pub parts: Vec<ManifestPart>,
}

/// Build the transport set of `course` in the split form: one part per blob (already in
/// `blobs`, nothing written) plus the skeleton parts, each handed to `emit` with its bytes as
/// soon as it is complete (store it under its SHA-256). Same course, same parts.
pub fn build_transport<B, F>(course: &ExportCourse, blobs: &B, mut emit: F) -> Result<TransportSet>
where
    B: BlobSource,
    F: FnMut(&ManifestPart, &[u8]) -> Result<()>,
{
    let layout = write::layout(course, blobs)?;
    let mut parts = Vec::new();
    let mut index = Vec::with_capacity(layout.index_size as usize);
    layout.index_text(&mut index)?;
    let mut w = PartWriter::new();
    w.add(".ARCHIVE_INDEX", &mut &index[..], index.len() as u64)?;
    let (part, bytes) = w.finish(INDEX_PART.into())?;
    emit(&part, &bytes)?;
    parts.push(part);
    drop(index);
    // A part is finished right after its last entry, so few are open at once.
    let mut last: HashMap<String, usize> = HashMap::new();
    let mut n = 0usize;
    layout.each(|p, ent| {
        if let Ent::File(_) = ent {
            last.insert(part_for(p), n);
        }
        n += 1;
        Ok(())
    })?;
    let mut open: HashMap<String, PartWriter> = HashMap::new();
    let mut n = 0usize;
    layout.each(|p, ent| {
        let at = n;
        n += 1;
        let e = match ent {
            Ent::Dir => return Ok(()),
            Ent::Blob { sha256, size, .. } => {
                parts.push(ManifestPart {
                    path: p.to_owned(),
                    size,
                    sha256: sha256.to_owned(),
                });
                return Ok(());
            }
            Ent::File(e) => e,
        };
        let group = part_for(p);
        let w = open.entry(group.clone()).or_insert_with(PartWriter::new);
        match &e.body {
            Body::Bytes(b) => w.add(p, &mut &b[..], e.size)?,
            Body::FilesXml { base } => w.add_with(p, e.size, |out| {
                layout.write_files_xml(base.as_deref(), blobs, out, e.size)
            })?,
            Body::Stored(sha) => {
                let mut r = blobs
                    .open_blob(sha)
                    .map_err(|_| MbzError::MissingBlob(sha.clone()))?;
                w.add(p, &mut r, e.size)?;
            }
        }
        if last.get(&group) == Some(&at) {
            if let Some(w) = open.remove(&group) {
                let (part, bytes) = w.finish(group)?;
                emit(&part, &bytes)?;
                parts.push(part);
            }
        }
        Ok(())
    })?;
    parts.sort();
    Ok(TransportSet { parts })
}

/// Build the transport set of `course` in the single-skeleton form of archives made before the
/// split (one plain-ustar `skeleton.tar`, written to `skeleton_out`). Receivers still assemble
/// this form; new archives use [`build_transport`].
pub fn build_transport_single<B: BlobSource, W: Write>(
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

struct HashingWriter<W> {
    inner: W,
    hash: sha2::Sha256,
    n: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let k = self.inner.write(b)?;
        self.hash.update(&b[..k]);
        self.n += k as u64;
        Ok(k)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
