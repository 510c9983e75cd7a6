//! Deciding what goes into an export: ids for native items, which preserved
//! parts are kept, patched or generated, and which blobs are stored.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;

use sha1::Digest;

use super::{native, patch};
use crate::error::{MbzError, Result};
use crate::model::{BackupKind, ExportCourse};
use crate::staging::BlobSource;
use crate::xml::{self, Element};

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
    pub sha1: String,
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
    Blob { sha256: String, media: bool },
}

/// One file entry of the output.
pub(crate) struct OutEntry {
    pub size: u64,
    pub body: Body,
}

const XML_CAP: u64 = 256 << 20;

fn read_all<B: BlobSource>(blobs: &B, sha256: &str) -> Result<Vec<u8>> {
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
    let mut next = base.map_or(100, |b| b.max_id) + 1;
    let mut alloc = || {
        let v = next;
        next += 1;
        v
    };
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
            _ => (alloc(), alloc(), alloc(), true),
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
        let id = if native { alloc() } else { f.id.unwrap_or(0) };
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
            crate::EMPTY_SHA1.to_owned()
        } else if !f.contenthash.is_empty() {
            f.contenthash.clone()
        } else {
            let sha = f.sha256.as_deref().ok_or_else(|| {
                MbzError::Export(format!("file {:?} has neither hash", f.filename))
            })?;
            hash_blob(blobs, sha)?.0
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

fn is_media(mime: Option<&str>, name: &str) -> bool {
    let m = mime.unwrap_or("");
    if m.starts_with("video/") || m.starts_with("audio/") {
        return true;
    }
    let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    matches!(
        ext.as_str(),
        "mp4"
            | "m4v"
            | "mov"
            | "webm"
            | "mkv"
            | "avi"
            | "mp3"
            | "m4a"
            | "ogg"
            | "oga"
            | "flac"
            | "aac"
            | "jpg"
            | "jpeg"
            | "png"
            | "gif"
            | "webp"
            | "zip"
            | "gz"
            | "tgz"
            | "bz2"
            | "xz"
            | "7z"
            | "rar"
            | "pdf"
            | "docx"
            | "xlsx"
            | "pptx"
            | "odt"
            | "ods"
            | "odp"
            | "mbz"
            | "h5p"
            | "woff"
            | "woff2"
    ) || matches!(
        m,
        "application/zip" | "application/pdf" | "image/jpeg" | "image/png" | "image/gif"
    )
}

/// Patch a preserved part; `None` when the edit changes nothing.
fn patched<B: BlobSource>(
    blobs: &B,
    sha256: &str,
    path: &str,
    f: impl FnOnce(&mut Element),
) -> Result<Option<Vec<u8>>> {
    let bytes = read_all(blobs, sha256)?;
    let mut tree = xml::parse(&bytes, path, 256)?;
    drop(bytes);
    let before = tree.digest();
    f(&mut tree);
    Ok((before != tree.digest()).then(|| tree.to_moodle_xml()))
}

/// Every file entry of the output, by path (sorted).
pub(crate) fn entries<B: BlobSource>(
    r: &Resolved<'_>,
    blobs: &B,
) -> Result<BTreeMap<String, OutEntry>> {
    let m = &r.course.course;
    let mut out: BTreeMap<String, OutEntry> = BTreeMap::new();
    let bytes = |out: &mut BTreeMap<String, OutEntry>, path: String, b: Vec<u8>| {
        out.insert(
            path,
            OutEntry {
                size: b.len() as u64,
                body: Body::Bytes(b),
            },
        );
    };
    let kept_secs: HashMap<&str, &RSection> = r
        .sections
        .iter()
        .filter(|s| !s.native)
        .map(|s| (s.dir.as_str(), s))
        .collect();
    let kept_acts: HashMap<&str, &RActivity> = r
        .acts
        .iter()
        .filter(|a| !a.native)
        .map(|a| (a.dir.as_str(), a))
        .collect();
    let known: HashSet<i64> = r.acts.iter().map(|a| a.cmid).collect();
    let seq_of = |number: u32| -> Vec<i64> {
        r.acts
            .iter()
            .filter(|ra| m.activities[ra.idx].section_number == number)
            .map(|ra| ra.cmid)
            .collect()
    };

    let mut manifest_root = None;
    if let Some(base) = &r.course.base {
        for (path, part) in &base.parts {
            let (dir, file) = path.rsplit_once('/').unwrap_or(("", path));
            let top = path.split('/').next().unwrap_or("");
            let owner_dir = path.splitn(3, '/').take(2).collect::<Vec<_>>().join("/");
            if top == "sections" && !kept_secs.contains_key(owner_dir.as_str()) {
                continue;
            }
            if top == "activities" && !kept_acts.contains_key(owner_dir.as_str()) {
                continue;
            }
            let new = if path == "moodle_backup.xml" {
                let b = read_all(blobs, &part.sha256)?;
                manifest_root = Some(xml::parse(&b, path, 256)?);
                continue;
            } else if path == "course/course.xml" {
                patched(blobs, &part.sha256, path, |e| patch::course(e, &m.fields))?
            } else if path == "files.xml" {
                patched(blobs, &part.sha256, path, |e| patch::files(e, r))?
            } else if let (Some(rs), "section.xml") = (kept_secs.get(dir), file) {
                let s = &m.sections[rs.idx];
                patched(blobs, &part.sha256, path, |e| {
                    patch::section(e, s, &seq_of(s.number), &known)
                })?
            } else if let Some(ra) = kept_acts.get(dir) {
                let a = &m.activities[ra.idx];
                if file == "module.xml" {
                    patched(blobs, &part.sha256, path, |e| {
                        patch::module(e, a, ra.section_id)
                    })?
                } else if file == format!("{}.xml", a.module) {
                    patched(blobs, &part.sha256, path, |e| patch::moddata(e, a))?
                } else {
                    None
                }
            } else {
                None
            };
            match new {
                Some(b) => bytes(&mut out, path.clone(), b),
                None => {
                    out.insert(
                        path.clone(),
                        OutEntry {
                            size: part.size,
                            body: Body::Stored(part.sha256.clone()),
                        },
                    );
                }
            }
        }
    }

    // moodle_backup.xml: the preserved one patched, or a native one.
    let mut mroot = match manifest_root {
        Some(m) => m,
        None => native::manifest_root(r.course_id, r.course_ctx, &m.fields),
    };
    let before = mroot.clone();
    patch::manifest(&mut mroot, r);
    let mpart = r
        .course
        .base
        .as_ref()
        .and_then(|b| b.parts.get("moodle_backup.xml"));
    match mpart {
        Some(p) if before.same_as(&mroot) => {
            out.insert(
                "moodle_backup.xml".into(),
                OutEntry {
                    size: p.size,
                    body: Body::Stored(p.sha256.clone()),
                },
            );
        }
        _ => bytes(&mut out, "moodle_backup.xml".into(), mroot.to_moodle_xml()),
    }

    // Natively authored sections and activities.
    for rs in r.sections.iter().filter(|s| s.native) {
        let s = &m.sections[rs.idx];
        let seq: Vec<String> = seq_of(s.number).iter().map(i64::to_string).collect();
        bytes(
            &mut out,
            format!("{}/section.xml", rs.dir),
            native::section_xml(rs.id, s.number, s, &seq.join(",")),
        );
        bytes(
            &mut out,
            format!("{}/inforef.xml", rs.dir),
            native::inforef_xml(&[]),
        );
    }
    for ra in r.acts.iter().filter(|a| a.native) {
        let a = &m.activities[ra.idx];
        let data = native::moddata_xml(a, ra.cmid, ra.instance, ra.ctx).ok_or_else(|| {
            MbzError::Export(format!("cannot author a {} activity natively", a.module))
        })?;
        let fids: Vec<i64> = r
            .files
            .iter()
            .filter(|f| f.ctx == ra.ctx)
            .map(|f| f.id)
            .collect();
        bytes(&mut out, format!("{}/{}.xml", ra.dir, a.module), data);
        bytes(
            &mut out,
            format!("{}/module.xml", ra.dir),
            native::module_xml(ra.cmid, a, ra.section_id),
        );
        bytes(
            &mut out,
            format!("{}/inforef.xml", ra.dir),
            native::inforef_xml(&fids),
        );
        bytes(
            &mut out,
            format!("{}/grades.xml", ra.dir),
            native::grades_xml(),
        );
        bytes(
            &mut out,
            format!("{}/roles.xml", ra.dir),
            native::roles_xml(),
        );
        bytes(
            &mut out,
            format!("{}/grade_history.xml", ra.dir),
            native::grade_history_xml(),
        );
    }

    // The course directory and root files Moodle always parses.
    if !out.contains_key("course/course.xml") {
        bytes(
            &mut out,
            "course/course.xml".into(),
            native::course_xml(r.course_id, r.course_ctx, &m.fields),
        );
    }
    let defaults: [(&str, fn() -> Vec<u8>); 9] = [
        ("course/inforef.xml", || native::inforef_xml(&[])),
        ("course/roles.xml", native::roles_xml),
        ("course/enrolments.xml", native::enrolments_xml),
        ("roles.xml", || native::empty_doc("roles_definition", &[])),
        ("groups.xml", || native::empty_doc("groups", &["groupings"])),
        ("scales.xml", || native::empty_doc("scales_definition", &[])),
        ("outcomes.xml", || {
            native::empty_doc("outcomes_definition", &[])
        }),
        ("questions.xml", || {
            native::empty_doc("question_categories", &[])
        }),
        ("files.xml", || native::empty_doc("files", &[])),
    ];
    for (path, make) in defaults {
        if !out.contains_key(path) {
            if path == "files.xml" {
                let mut root = Element::new("files");
                patch::files(&mut root, r);
                bytes(&mut out, path.into(), root.to_moodle_xml());
            } else {
                bytes(&mut out, path.into(), make());
            }
        }
    }

    // Blobs, each stored once under its SHA-1.
    for rf in &r.files {
        let f = &m.files[rf.idx];
        if f.filename == "." || rf.sha1 == crate::EMPTY_SHA1 {
            continue;
        }
        let Some(sha256) = &f.sha256 else { continue };
        let path = format!("files/{}/{}", &rf.sha1[..2], rf.sha1);
        if out.contains_key(&path) {
            continue;
        }
        out.insert(
            path,
            OutEntry {
                size: f.size,
                body: Body::Blob {
                    sha256: sha256.clone(),
                    media: is_media(f.mimetype.as_deref(), &f.filename),
                },
            },
        );
    }
    Ok(out)
}
