//! Building a transport set from an export (split form, or the single-skeleton form of older
//! archives).

use std::collections::HashMap;
use std::io::{Read, Write};

use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::skeleton::{part_for, tar_file, PartWriter, INDEX_PART};
use super::{ManifestPart, SKELETON};
use crate::error::{MbzError, Result};
use crate::model::ExportCourse;
use crate::staging::BlobSource;
use crate::write::{self, plan::Body};

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
    let (order, entries, index) = write::layout(course, blobs)?;
    let mut parts = Vec::new();
    let mut w = PartWriter::new();
    w.add(".ARCHIVE_INDEX", &mut index.as_bytes(), index.len() as u64)?;
    let (part, bytes) = w.finish(INDEX_PART.into())?;
    emit(&part, &bytes)?;
    parts.push(part);
    drop(index);
    // A part is finished right after its last entry, so few are open at once.
    let mut last: HashMap<String, usize> = HashMap::new();
    for (i, (p, is_dir)) in order.iter().enumerate() {
        if !*is_dir && !matches!(entries[p].body, Body::Blob { .. }) {
            last.insert(part_for(p), i);
        }
    }
    let mut open: HashMap<String, PartWriter> = HashMap::new();
    for (i, (p, is_dir)) in order.iter().enumerate() {
        if *is_dir {
            continue;
        }
        let e = &entries[p];
        let group = part_for(p);
        match &e.body {
            Body::Blob { sha256, .. } => {
                parts.push(ManifestPart {
                    path: p.clone(),
                    size: e.size,
                    sha256: sha256.clone(),
                });
                continue;
            }
            Body::Bytes(b) => open
                .entry(group.clone())
                .or_insert_with(PartWriter::new)
                .add(p, &mut &b[..], e.size)?,
            Body::Stored(sha) => {
                let mut r = blobs
                    .open_blob(sha)
                    .map_err(|_| MbzError::MissingBlob(sha.clone()))?;
                open.entry(group.clone())
                    .or_insert_with(PartWriter::new)
                    .add(p, &mut r, e.size)?;
            }
        }
        if last.get(&group) == Some(&i) {
            if let Some(w) = open.remove(&group) {
                let (part, bytes) = w.finish(group)?;
                emit(&part, &bytes)?;
                parts.push(part);
            }
        }
    }
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
                tar_file(&mut h, p, &mut r as &mut dyn Read, e.size)?;
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
