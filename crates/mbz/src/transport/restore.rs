//! Importing a transport set without reassembling it: the receiver's fast path.
//!
//! After a pull every part is in the receiver's blob store, each verified by SHA-256. Building a
//! `.mbz` from the parts only to read it back (hash every file with SHA-1 and SHA-256, stage it
//! again) repeats that work for every byte of the course. [`import_transport`] reads the skeleton
//! parts only: their XML entries are staged, stripped and modelled exactly as [`crate::import`]
//! does, while file records are resolved through the signed manifest — a record's `contenthash`
//! names the part `files/xx/<sha1>`, whose SHA-256 the pull verified. Blob bytes are neither read
//! nor copied; the caller keeps the blobs the result lists ([`ImportedArchive::blobs`], already in
//! its store) and promotes the staged parts it keeps.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufRead, Read};

use super::assemble::{for_each_skeleton_entry, line_fields, MAX_INDEX};
use super::{bad, ManifestPart, TransportManifest};
use crate::container::{normalize_path, ContainerKind};
use crate::error::{MbzError, Result};
use crate::import::{blob_name, run, with_cleanup, Pass1};
use crate::limits::Limits;
use crate::model::{ImportedArchive, PartRef};
use crate::staging::{key256, stage_entry, StagedSet, StagingSink};
use crate::stream::{self, strip::sha1_key};

/// Imports the course of a verified transport set from its skeleton parts, opened by `open`
/// (each is checked against its size and SHA-256 as it is read). User data is stripped as by
/// [`crate::import`]; the stripped XML parts are staged into `sink`. On error nothing this import
/// staged is left in the sink.
pub fn import_transport<F, S>(
    manifest: &TransportManifest,
    open: F,
    limits: &Limits,
    sink: &mut S,
) -> Result<ImportedArchive>
where
    F: FnMut(&ManifestPart) -> io::Result<Box<dyn Read>>,
    S: StagingSink,
{
    let mut blobs = HashMap::new();
    for part in &manifest.parts {
        if let Some(sha1) = blob_name(&part.path) {
            let (Some(k1), Some(k256)) = (sha1_key(sha1), key256(&part.sha256)) else {
                return Err(bad(format!("bad blob part {}", part.path)));
            };
            blobs.insert(k1, k256);
        }
    }
    with_cleanup(sink, |sink, staged| {
        let (parts, index) = stage_skeleton(manifest, open, limits, sink, staged)?;
        let index = index.ok_or_else(|| bad("the skeleton has no archive index"))?;
        check_index(sink.open(&index)?, &parts, &blobs)?;
        let p1 = Pass1 {
            container: ContainerKind::TarGz,
            blobs,
            parts,
        };
        run(p1, limits, sink, staged)
    })
}

/// Stages every entry of the skeleton parts but the backup log (as the archive reader skips
/// it), with the archive reader's checks: safe paths, no duplicates, the entry count and
/// per-part size caps; a blob path inside the skeleton is refused. Returns the staged parts by
/// path and the staged `.ARCHIVE_INDEX` (not a part: removed with the staging).
fn stage_skeleton<F, S>(
    manifest: &TransportManifest,
    open: F,
    limits: &Limits,
    sink: &mut S,
    staged: &mut StagedSet,
) -> Result<(BTreeMap<String, PartRef>, Option<String>)>
where
    F: FnMut(&ManifestPart) -> io::Result<Box<dyn Read>>,
    S: StagingSink,
{
    let mut parts = BTreeMap::new();
    let mut buf = Vec::new();
    let mut index = None;
    let mut entries = 0_u64;
    let mut total = 0_u64;
    for_each_skeleton_entry(manifest, open, |raw, size, body| {
        entries += 1;
        total = total.saturating_add(size);
        if entries > limits.max_entries || total > limits.max_total_bytes {
            return Err(bad("the skeleton is larger than the limits allow"));
        }
        let path = match normalize_path(raw.as_bytes())? {
            Some((p, false)) if p == raw => p,
            _ => return Err(bad(format!("bad skeleton entry {raw:?}"))),
        };
        if path == "moodle_backup.log" {
            return Ok(());
        }
        if path == ".ARCHIVE_INDEX" {
            if index.is_some() || size > MAX_INDEX {
                return Err(bad("the skeleton has a bad archive index"));
            }
            let st = stage_entry(sink, body, &mut buf)?;
            staged.push(&st.sha256);
            index = Some(st.sha256);
            return Ok(());
        }
        if blob_name(&path).is_some() {
            return Err(bad(format!("the skeleton holds a file blob {path}")));
        }
        let cap = stream::part_cap(&path, limits);
        if size > cap {
            return Err(MbzError::EntryTooLarge {
                path,
                size,
                limit: cap,
            });
        }
        if parts.contains_key(&path) {
            return Err(MbzError::DuplicateEntry(path));
        }
        let st = stage_entry(sink, body, &mut buf)?;
        staged.push(&st.sha256);
        if st.size != size {
            return Err(bad(format!("skeleton entry {path} is shorter than listed")));
        }
        parts.insert(
            path,
            PartRef {
                sha256: st.sha256,
                size: st.size,
            },
        );
        Ok(())
    })?;
    Ok((parts, index))
}

/// The skeleton holds exactly what the archive index lists (as [`super::assemble`] requires):
/// every listed entry is a staged part of that size (the backup log aside), or a blob the
/// manifest carries; no part is left unlisted.
fn check_index(
    index: impl Read,
    parts: &BTreeMap<String, PartRef>,
    blobs: &HashMap<[u8; 20], [u8; 32]>,
) -> Result<()> {
    let mut listed = 0_usize;
    for line in io::BufReader::new(index).lines().skip(1) {
        let line = line.map_err(|_| bad("the archive index is not UTF-8"))?;
        let (path, kind, size) = line_fields(&line);
        if kind == "d" || path == "moodle_backup.log" {
            continue;
        }
        let known = match blob_name(path) {
            Some(sha1) => sha1_key(sha1).is_some_and(|k| blobs.contains_key(&k)),
            None => {
                listed += 1;
                parts
                    .get(path)
                    .is_some_and(|p| size.parse::<u64>().ok() == Some(p.size))
            }
        };
        if !known {
            return Err(bad(format!(
                "{path} is listed in the index but not carried"
            )));
        }
    }
    if listed != parts.len() {
        return Err(bad("the skeleton holds entries the index does not list"));
    }
    Ok(())
}
