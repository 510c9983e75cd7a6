//! Deciding what goes into an export: ids for native items, which preserved
//! parts are kept, patched or generated, and which blobs are stored.

use std::collections::{HashMap, HashSet};
use std::io::Read;

use sha1::Digest;

use crate::error::{MbzError, Result};
use crate::model::{BackupKind, ExportCourse, Sha1Hex};
use crate::staging::BlobSource;

/// Size of each kind's range of native ids (activities take three ids each).
const NATIVE_RANGE: i64 = 1 << 24;

/// A resolved section.
pub(crate) struct RSection {
    pub idx: usize,
    pub id: i64,
    pub dir: String,
    pub native: bool,
}

/// A resolved activity.
pub(crate) struct RActivity {
    pub idx: usize,
    pub cmid: i64,
    pub instance: i64,
    pub ctx: i64,
    pub dir: String,
    pub native: bool,
    pub section_id: i64,
}

/// A resolved file record.
pub(crate) struct RFile {
    pub idx: usize,
    pub id: i64,
    pub ctx: i64,
    pub sha1: Sha1Hex,
    pub native: bool,
}

/// The course with every id decided.
pub(crate) struct Resolved<'a> {
    pub course: &'a ExportCourse,
    pub kind: BackupKind,
    pub course_id: i64,
    pub course_ctx: i64,
    pub sections: Vec<RSection>,
    pub acts: Vec<RActivity>,
    pub files: Vec<RFile>,
}

/// What an archive entry's bytes are.
pub(crate) enum Body {
    Bytes(Vec<u8>),
    Stored(String),
    /// `files.xml`, streamed at write time from the preserved one (its
    /// SHA-256) or from nothing ([`super::files_xml`]).
    FilesXml {
        base: Option<String>,
    },
}

/// One file entry of the output.
pub(crate) struct OutEntry {
    pub size: u64,
    pub body: Body,
}

const XML_CAP: u64 = 256 << 20;

pub(crate) fn read_all<B: BlobSource>(blobs: &B, sha256: &str) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    blobs
        .open_blob(sha256)
        .map_err(|_| MbzError::MissingBlob(sha256.to_owned()))?
        .take(XML_CAP)
        .read_to_end(&mut v)?;
    Ok(v)
}

fn hash_blob<B: BlobSource>(blobs: &B, sha256: &str) -> Result<(String, u64)> {
    let mut r = blobs
        .open_blob(sha256)
        .map_err(|_| MbzError::MissingBlob(sha256.to_owned()))?;
    let mut h = sha1::Sha1::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut n = 0u64;
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((hex::encode(h.finalize()), n))
}

pub(crate) fn resolve<'a, B: BlobSource>(
    course: &'a ExportCourse,
    blobs: &B,
) -> Result<Resolved<'a>> {
    let m = &course.course;
    let base = course.base.as_ref();
    // Native ids come from one range per kind (sections, activities, files), each in model
    // order: adding an activity does not renumber the files, so the parts of everything that
    // did not change stay byte-identical from one export to the next.
    let first = base.map_or(100, |b| b.max_id) + 1;
    let mut next = first;
    let mut alloc = || {
        let v = next;
        next += 1;
        v
    };
    let mut next_act = first + NATIVE_RANGE;
    let mut alloc_act = || {
        let v = next_act;
        next_act += 3;
        (v, v + 1, v + 2)
    };
    let mut next_file = first + 2 * NATIVE_RANGE;
    let (course_id, course_ctx) = match base {
        Some(b) => (
            m.fields.original_id.unwrap_or(b.info.original_course_id),
            m.fields
                .contextid
                .unwrap_or(b.info.original_course_contextid),
        ),
        None => (alloc(), alloc()),
    };
    let mut numbers = HashSet::new();
    let mut sections = Vec::new();
    for (idx, s) in m.sections.iter().enumerate() {
        if !numbers.insert(s.number) {
            return Err(MbzError::Export(format!(
                "two sections numbered {}",
                s.number
            )));
        }
        let (id, native) = match s.original_id {
            Some(id) if base.is_some_and(|b| b.kind == BackupKind::Course) => (id, false),
            _ => (alloc(), true),
        };
        sections.push(RSection {
            idx,
            id,
            dir: format!("sections/section_{id}"),
            native,
        });
    }
    let sec_id: HashMap<u32, i64> = m
        .sections
        .iter()
        .zip(&sections)
        .map(|(s, r)| (s.number, r.id))
        .collect();
    let mut acts = Vec::new();
    let mut keys = HashSet::new();
    for (idx, a) in m.activities.iter().enumerate() {
        if !keys.insert(a.key.as_str()) {
            return Err(MbzError::Export(format!(
                "two activities with key {:?}",
                a.key
            )));
        }
        let section_id = *sec_id.get(&a.section_number).ok_or_else(|| {
            MbzError::Export(format!(
                "activity {:?} is in missing section {}",
                a.name, a.section_number
            ))
        })?;
        if !a
            .module
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(MbzError::Export(format!("bad module name {:?}", a.module)));
        }
        let (cmid, instance, ctx, native) = match (a.cmid, base) {
            (Some(c), Some(_)) => (
                c,
                a.instance_id.unwrap_or(0),
                a.contextid.unwrap_or(0),
                false,
            ),
            _ => {
                let (cmid, instance, ctx) = alloc_act();
                (cmid, instance, ctx, true)
            }
        };
        acts.push(RActivity {
            idx,
            cmid,
            instance,
            ctx,
            dir: format!("activities/{}_{}", a.module, cmid),
            native,
            section_id,
        });
    }
    let act_ctx: HashMap<&str, i64> = m
        .activities
        .iter()
        .zip(&acts)
        .map(|(a, r)| (a.key.as_str(), r.ctx))
        .collect();
    let mut files = Vec::new();
    for (idx, f) in m.files.iter().enumerate() {
        let native = f.id.is_none() || base.is_none();
        let id = if native {
            next_file += 1;
            next_file - 1
        } else {
            f.id.unwrap_or(0)
        };
        let ctx = match (&f.owner, f.contextid) {
            (Some(k), _) => *act_ctx.get(k.as_str()).ok_or_else(|| {
                MbzError::Export(format!(
                    "file {:?} owned by unknown activity {k:?}",
                    f.filename
                ))
            })?,
            (None, Some(c)) if !native || base.is_some() => c,
            (None, _) => course_ctx,
        };
        let sha1 = if f.filename == "." {
            Sha1Hex::from(crate::EMPTY_SHA1)
        } else if !f.contenthash.is_empty() {
            f.contenthash.clone()
        } else {
            let sha = f.sha256.as_ref().ok_or_else(|| {
                MbzError::Export(format!("file {:?} has neither hash", f.filename))
            })?;
            Sha1Hex::from(sha.with_str(|s| hash_blob(blobs, s))?.0)
        };
        files.push(RFile {
            idx,
            id,
            ctx,
            sha1,
            native,
        });
    }
    Ok(Resolved {
        course,
        kind: base.map_or(BackupKind::Course, |b| b.kind),
        course_id,
        course_ctx,
        sections,
        acts,
        files,
    })
}
