//! The list of entries an export writes: preserved parts (verbatim or
//! patched), generated parts for native items and required root files, and
//! one blob per SHA-1.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::plan::{read_all, Body, OutEntry, RActivity, RSection, Resolved};
use super::{files_xml, native, patch};
use crate::error::{MbzError, Result};
use crate::staging::BlobSource;
use crate::xml::{self, Element};

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
                let (changed, size) = files_xml::size(r, Some(&part.sha256), blobs)?;
                if changed {
                    let base = Some(part.sha256.clone());
                    out.insert(
                        path.clone(),
                        OutEntry {
                            size,
                            body: Body::FilesXml { base },
                        },
                    );
                    continue;
                }
                None
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
    type Make = fn() -> Vec<u8>;
    let defaults: [(&str, Make); 9] = [
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
                let (_, size) = files_xml::size(r, None, blobs)?;
                let body = Body::FilesXml { base: None };
                out.insert(path.into(), OutEntry { size, body });
            } else {
                bytes(&mut out, path.into(), make());
            }
        }
    }

    Ok(out)
}

/// Archive path of a blob (`sha1` has at least two ASCII characters: see
/// [`blob_list`]).
pub(crate) fn blob_path(sha1: &str) -> String {
    format!("files/{}/{sha1}", &sha1[..2])
}

/// The blobs to store, each once under its SHA-1: indexes into `r.files`
/// (the first record of each SHA-1), sorted by archive path. Kept compact
/// (4 bytes a blob): a course may have hundreds of thousands of files.
pub(crate) fn blob_list(r: &Resolved<'_>, parts: &BTreeMap<String, OutEntry>) -> Result<Vec<u32>> {
    let m = &r.course.course;
    let mut v = Vec::new();
    for (i, rf) in r.files.iter().enumerate() {
        let f = &m.files[rf.idx];
        if f.filename == "." || rf.sha1 == crate::EMPTY_SHA1 || f.sha256.is_none() {
            continue;
        }
        if rf
            .sha1
            .with_str(|s| s.len() < 2 || !s.is_char_boundary(2) || !s.is_ascii())
        {
            return Err(MbzError::Export(format!(
                "file {:?} has a bad contenthash {:?}",
                f.filename, rf.sha1
            )));
        }
        v.push(u32::try_from(i).map_err(|_| MbzError::Export("too many files".into()))?);
    }
    let sha = |i: &u32| &r.files[*i as usize].sha1;
    // With at least two ASCII characters each, `files/xx/<sha1>` sorts as the SHA-1 does.
    v.sort_by(|a, b| sha(a).cmp(sha(b)));
    v.dedup_by(|a, b| sha(a) == sha(b));
    if parts.keys().any(|k| k.starts_with("files/")) {
        v.retain(|i| !parts.contains_key(&sha(i).with_str(blob_path)));
    }
    Ok(v)
}

/// Whether a blob is compressed with the media level.
pub(crate) fn media(f: &crate::model::FileRecord) -> bool {
    is_media(f.mimetype.as_deref(), &f.filename)
}
