//! Grafting the activities of one backup into an existing course (Moodle's
//! "restore into this course, merging").
//!
//! [`graft`] takes the course's [`ArchiveBase`] (or `None` for a course
//! authored natively) and a freshly imported, already stripped backup, and
//! returns the course's new skeleton plus the activities and file records to
//! add. Nothing of the course is removed or renumbered; the grafted backup's
//! ids all move above the course's highest (see [`renumber`]), its
//! activities' parts move to their new `activities/<mod>_<cmid>` directories,
//! and its file records, question categories, role definitions, scales,
//! outcomes, groups and groupings are appended to the course's root parts.
//! The result goes through the ordinary writer, so an export after a graft is
//! checked like any other.
//!
//! What does not travel: the grafted backup's course-level parts (`course/`,
//! `sections/`, gradebook, completion, badges), course-level files (summary,
//! section and legacy files) and blocks' files. A question bank in the
//! pre-4.0 layout cannot join a course whose backup declares the 4.0 layout,
//! or the reverse (restore reads one `questions.xml` with one layout): such a
//! graft is refused before anything is written.
//!
//! A course authored natively has no skeleton: it adopts the backup's own
//! (its `moodle_backup.xml` and root parts, not its course or sections), with
//! no renumbering; the course's native items get ids above it at export.

mod json;
pub(crate) mod renumber;
mod stream;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Read;

use crate::error::{MbzError, Result};
use crate::limits::Limits;
use crate::model::{
    Activity, ArchiveBase, BackupKind, FileRecord, ImportedArchive, PartRef, QuestionBank,
};
use crate::staging::{stage_bytes, BlobSource, StagingSink};
use crate::xml::{self, Element, Node};
use renumber::Ids;

/// The course a backup is grafted into.
#[derive(Debug, Clone, Copy)]
pub struct GraftTarget<'a> {
    /// Its archive skeleton; `None` for a course authored natively.
    pub base: Option<&'a ArchiveBase>,
    /// Its Moodle course id in that skeleton (what the writer uses).
    pub course_id: i64,
    /// Its course context id in that skeleton.
    pub course_ctx: i64,
}

/// What [`graft`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grafted {
    /// The course's new skeleton (the old parts plus the grafted ones).
    pub base: ArchiveBase,
    /// The grafted activities, re-numbered, in the backup's order; their
    /// `section_number` is the backup's (the caller decides where they land).
    pub activities: Vec<Activity>,
    /// The grafted file records, re-numbered.
    pub files: Vec<FileRecord>,
    /// The grafted question bank's counts.
    pub question_bank: QuestionBank,
    /// SHA-256 of the parts written to the sink (promote them), each once.
    pub staged: Vec<String>,
    /// What was left behind.
    pub warnings: Vec<String>,
}

/// Moodle 4.0's backup version: question banks use entries and versions from it on.
const QBANK_40: i64 = 2022041900;

/// Root parts whose records are appended: (path, root element, record paths).
const MERGED: &[(&str, &str, &[&str])] = &[
    (
        "questions.xml",
        "question_categories",
        &["question_category"],
    ),
    ("roles.xml", "roles_definition", &["role"]),
    ("scales.xml", "scales_definition", &["scale"]),
    ("outcomes.xml", "outcomes_definition", &["outcome"]),
    ("groups.xml", "groups", &["group", "groupings/grouping"]),
];

fn read<B: BlobSource>(blobs: &B, part: &PartRef, path: &str, limits: &Limits) -> Result<Element> {
    let mut bytes = Vec::with_capacity(usize::try_from(part.size).unwrap_or(0).min(1 << 20));
    blobs
        .open_blob(&part.sha256)
        .map_err(|_| MbzError::MissingBlob(part.sha256.clone()))?
        .take(limits.max_xml_bytes + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limits.max_xml_bytes {
        return Err(MbzError::Structure(format!("{path} is too large")));
    }
    xml::parse(&bytes, path, limits.max_xml_depth)
}

fn version(base: &ArchiveBase) -> i64 {
    base.info.backup_version.trim().parse().unwrap_or(0)
}

/// Graft `source`'s activities into `target` (see the module docs). New parts
/// are written to `sink`; parts are read from `blobs`.
pub fn graft<B: BlobSource, S: StagingSink>(
    target: GraftTarget<'_>,
    source: &ImportedArchive,
    blobs: &B,
    sink: &mut S,
    limits: &Limits,
) -> Result<Grafted> {
    let sb = &source.base;
    let info = &sb.info;
    let (ids, mut base) = match target.base {
        Some(tb) => {
            let ids = Ids {
                d: tb.max_id.max(0),
                src_course: info.original_course_id,
                src_course_ctx: info.original_course_contextid,
                src_system_ctx: info.original_system_contextid,
                dst_course: target.course_id,
                dst_course_ctx: target.course_ctx,
                dst_system_ctx: tb.info.original_system_contextid,
            };
            let has_questions = source.question_bank.categories > 0;
            if has_questions && ((version(tb) >= QBANK_40) != (version(sb) >= QBANK_40)) {
                return Err(MbzError::Structure(format!(
                    "the backup's question bank (Moodle {}) and the course's (Moodle {}) use \
                     different layouts: import the backup as a new course instead",
                    info.backup_release, tb.info.backup_release
                )));
            }
            (ids, tb.clone())
        }
        None => {
            let same = Ids {
                d: 0,
                src_course: info.original_course_id,
                src_course_ctx: info.original_course_contextid,
                src_system_ctx: info.original_system_contextid,
                dst_course: info.original_course_id,
                dst_course_ctx: info.original_course_contextid,
                dst_system_ctx: info.original_system_contextid,
            };
            let mut parts = BTreeMap::new();
            if let Some(m) = sb.parts.get("moodle_backup.xml") {
                parts.insert("moodle_backup.xml".to_string(), m.clone());
            }
            let adopted = ArchiveBase {
                kind: BackupKind::Activity,
                container: sb.container,
                info: info.clone(),
                parts,
                max_id: 0,
            };
            (same, adopted)
        }
    };
    let mut out = Grafted {
        base: ArchiveBase {
            max_id: 0,
            ..base.clone()
        },
        activities: Vec::new(),
        files: Vec::new(),
        question_bank: source.question_bank.clone(),
        staged: Vec::new(),
        warnings: Vec::new(),
    };
    let stage = |sink: &mut S, bytes: Vec<u8>, staged: &mut Vec<String>| -> Result<PartRef> {
        let st = stage_bytes(sink, &bytes)?;
        staged.push(st.sha256.clone());
        Ok(PartRef {
            sha256: st.sha256,
            size: st.size,
        })
    };

    // Ids inside JSON text move only when they are certainly the backup's.
    let rewriting = !(ids.d == 0 && ids.dst_course == ids.src_course);
    let known = if rewriting {
        json::known_ids(source, blobs, limits)?
    } else {
        json::Known::default()
    };

    // The activities and their parts, in their new directories.
    let mut ctxs: HashSet<i64> = HashSet::new();
    for a in &source.course.activities {
        let Some(cmid) = a.cmid else { continue };
        let old_dir = format!("activities/{}_{cmid}/", a.module);
        let new_cmid = ids.shift(cmid);
        let new_dir = format!("activities/{}_{new_cmid}/", a.module);
        if base.parts.keys().any(|p| p.starts_with(&new_dir)) {
            return Err(MbzError::Export(format!(
                "{new_dir} is already in the course"
            )));
        }
        let mut section_number = a.section_number;
        for (path, part) in sb.parts.range(old_dir.clone()..) {
            let Some(rest) = path.strip_prefix(&old_dir) else {
                break;
            };
            let new_path = format!("{new_dir}{rest}");
            let new_part = if path.ends_with(".xml") {
                let mut tree = read(blobs, part, path, limits)?;
                if rest == "module.xml" && sb.kind == BackupKind::Activity {
                    section_number = tree
                        .child_text("sectionnumber")
                        .and_then(|t| t.trim().parse().ok())
                        .unwrap_or(section_number);
                }
                if rewriting {
                    ids.tree(&mut tree);
                    json::tree(&ids, &known, &mut tree, &new_path, &mut out.warnings);
                    stage(sink, tree.to_moodle_xml(), &mut out.staged)?
                } else {
                    part.clone()
                }
            } else {
                part.clone()
            };
            base.parts.insert(new_path, new_part);
        }
        if let Some(c) = a.contextid {
            ctxs.insert(c);
        }
        out.activities.push(Activity {
            key: format!("cm{new_cmid}"),
            cmid: Some(new_cmid),
            instance_id: a.instance_id.map(|i| ids.shift(i)),
            contextid: a.contextid.map(|c| ids.ctx(c)),
            section_number,
            content: crate::model::ActivityContent {
                file_ids: a.content.file_ids.iter().map(|i| ids.shift(*i)).collect(),
                ..a.content.clone()
            },
            ..a.clone()
        });
    }

    // Root parts: records appended to the course's.
    let mut question_ctxs: HashSet<i64> = HashSet::new();
    for (path, root_name, records) in MERGED {
        let Some(part) = sb.parts.get(*path) else {
            continue;
        };
        if *path == "questions.xml" {
            let dst = base.parts.get(*path);
            let new = stream::append_records(
                blobs,
                sink,
                (path, root_name),
                dst,
                part,
                limits,
                |mut e| {
                    if e.name != "question_category" {
                        return Ok(None);
                    }
                    let ctx = e.child_text("contextid");
                    question_ctxs.extend(ctx.and_then(|t| t.trim().parse::<i64>().ok()));
                    ids.tree(&mut e);
                    Ok(Some(e))
                },
            )?;
            if let Some(new) = new {
                out.staged.push(new.sha256.clone());
                base.parts.insert(path.to_string(), new);
            }
            continue;
        }
        let src = read(blobs, part, path, limits)?;
        let mut picked = Vec::new();
        for rec in *records {
            let (container, name) = match rec.split_once('/') {
                Some((c, n)) => (src.child(c), n),
                None => (Some(&src), *rec),
            };
            for e in container.into_iter().flat_map(|c| c.elems()) {
                if e.name == name {
                    let mut e = e.clone();
                    ids.tree(&mut e);
                    picked.push((rec.split_once('/').map(|(c, _)| c), e));
                }
            }
        }
        if picked.is_empty() {
            continue;
        }
        let mut dst = match base.parts.get(*path) {
            Some(p) => read(blobs, p, path, limits)?,
            None => Element::new(root_name),
        };
        for (container, e) in picked {
            append(&mut dst, container, e);
        }
        let new = stage(sink, dst.to_moodle_xml(), &mut out.staged)?;
        base.parts.insert(path.to_string(), new);
    }

    // File records: the activities' and the question bank's.
    let wanted: HashSet<i64> = source
        .course
        .files
        .iter()
        .filter(|f| {
            f.contextid.is_some_and(|c| {
                ctxs.contains(&c)
                    || (question_ctxs.contains(&c)
                        && (f.component == "question" || f.component.starts_with("qtype_")))
            })
        })
        .filter_map(|f| f.id)
        .collect();
    let left = source
        .course
        .files
        .iter()
        .filter(|f| f.id.is_none_or(|i| !wanted.contains(&i)));
    let left: BTreeSet<String> = left
        .map(|f| format!("{}/{}", f.component, f.filearea))
        .collect();
    if !left.is_empty() {
        out.warnings.push(format!(
            "course-level files of the backup were left out ({})",
            left.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    if !wanted.is_empty() {
        let fpart = sb
            .parts
            .get("files.xml")
            .ok_or_else(|| MbzError::Structure("files.xml is missing".into()))?;
        let sha256: HashMap<i64, Option<crate::model::Sha256Hex>> = source
            .course
            .files
            .iter()
            .filter_map(|f| Some((f.id?, f.sha256.clone())))
            .collect();
        let dst = base.parts.get("files.xml");
        let files = &mut out.files;
        let mut strings = crate::compact::Interner::default();
        let new = stream::append_records(
            blobs,
            sink,
            ("files.xml", "files"),
            dst,
            fpart,
            limits,
            |mut e| {
                let id = e.attr("id").and_then(|v| v.trim().parse::<i64>().ok());
                let Some(id) = id.filter(|i| e.name == "file" && wanted.contains(i)) else {
                    return Ok(None);
                };
                ids.tree(&mut e);
                let mut rec = crate::extract::file_record(&e, &mut strings);
                rec.sha256 = sha256.get(&id).cloned().flatten();
                files.push(rec);
                Ok(Some(e))
            },
        )?;
        if let Some(new) = new {
            out.staged.push(new.sha256.clone());
            base.parts.insert("files.xml".into(), new);
        }
    }

    base.max_id = base.max_id.max(ids.d.saturating_add(sb.max_id));
    out.base = base;
    out.staged.sort();
    out.staged.dedup();
    Ok(out)
}

/// Append `e` to `root` (inside its child `container` when given, created if
/// missing), indented as Moodle writes.
fn append(root: &mut Element, container: Option<&str>, e: Element) {
    match container {
        None => root.push_indented(e, 0),
        Some(c) => {
            if root.child(c).is_none() {
                let mut k = Element::new(c);
                k.children.push(Node::Text("\n  ".into()));
                root.push_indented(k, 0);
            }
            if let Some(k) = root.child_mut(c) {
                k.push_indented(e, 1);
            }
        }
    }
}
