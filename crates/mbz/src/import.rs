//! Import: read an archive, stage its blobs and parts, strip user data and
//! build the platform's model.
//!
//! Two passes. The first streams the container once: blobs under
//! `files/xx/<sha1>` are hashed (SHA-1 checked against the name, SHA-256
//! for the platform) into the sink; every other entry is staged raw. The
//! second re-reads each staged XML part (bounded by
//! [`Limits::max_xml_bytes`]), parses it with the hardened parser, strips
//! it, and stages the rewritten version when anything was removed. The parts
//! that grow with the course (`files.xml`, `questions.xml`, bounded by
//! [`Limits::max_stream_xml_bytes`]) are read and rewritten record by record
//! instead (module `stream`), so memory does not grow with them. At the
//! end everything staged that no kept record or part refers to is removed
//! from the sink; on error everything this import staged is removed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Seek};
use std::path::Path;

use crate::container::{for_each_entry, ContainerKind};
use crate::error::{MbzError, Result};
use crate::extract::{self, ModuleData};
use crate::limits::Limits;
use crate::model::{
    Activity, ActivityContent, ArchiveBase, BackupKind, BlobList, CourseModel, ImportedArchive,
    PartRef, QuestionBank, Section, StripReport,
};
use crate::staging::{key256, stage_bytes, stage_entry, StagedSet, StagingSink};
use crate::stream::{self, strip::sha1_key};
use crate::strip;
use crate::xml::{self, Element};

/// Import the `.mbz` file at `path`. See [`import`].
pub fn import_file<S: StagingSink>(
    path: &Path,
    limits: &Limits,
    sink: &mut S,
) -> Result<ImportedArchive> {
    import(File::open(path)?, limits, sink)
}

/// Import an archive (tar.gz or zip) from a seekable reader, staging its
/// blobs and preserved parts into `sink`. User data is stripped on the way
/// (SPEC §5.2). On error nothing is left in the sink by this import.
pub fn import<R: Read + Seek, S: StagingSink>(
    input: R,
    limits: &Limits,
    sink: &mut S,
) -> Result<ImportedArchive> {
    with_cleanup(sink, |sink, staged| {
        let p1 = pass1(input, limits, sink, staged)?;
        run(p1, limits, sink, staged)
    })
}

/// Runs an import that stages into `sink` (recording every staged key), then removes what the
/// result does not keep — or, on error, everything it staged.
pub(crate) fn with_cleanup<S: StagingSink>(
    sink: &mut S,
    body: impl FnOnce(&mut S, &mut StagedSet) -> Result<ImportedArchive>,
) -> Result<ImportedArchive> {
    let mut staged = StagedSet::default();
    let res = body(sink, &mut staged);
    match res {
        Ok(a) => {
            // The kept blobs are a sorted list: searched, not copied into a set.
            let parts: HashSet<[u8; 32]> = a
                .base
                .parts
                .values()
                .filter_map(|p| key256(&p.sha256))
                .collect();
            let keep = |k: &[u8; 32]| parts.contains(k) || a.blobs.keys().binary_search(k).is_ok();
            for s in staged.0.iter().filter(|s| !keep(s)) {
                sink.remove(&hex::encode(s))?;
            }
            Ok(a)
        }
        Err(e) => {
            for s in &staged.0 {
                let _ = sink.remove(&hex::encode(s));
            }
            Err(e)
        }
    }
}

/// `files/ab/ab…40 hex` → the SHA-1.
pub(crate) fn blob_name(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("files/")?;
    let (dir, name) = rest.split_once('/')?;
    let ok = name.len() == 40
        && name
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        && dir.len() == 2
        && name.starts_with(dir);
    ok.then_some(name)
}

/// What the first pass found: the container, the blobs and the staged non-blob parts by path.
pub(crate) struct Pass1 {
    pub(crate) container: ContainerKind,
    /// SHA-1 → SHA-256 of every blob.
    pub(crate) blobs: HashMap<[u8; 20], [u8; 32]>,
    pub(crate) parts: BTreeMap<String, PartRef>,
}

fn pass1<R: Read + Seek, S: StagingSink>(
    input: R,
    limits: &Limits,
    sink: &mut S,
    staged: &mut StagedSet,
) -> Result<Pass1> {
    let mut blobs = HashMap::new();
    let mut buf = Vec::new();
    let mut parts = BTreeMap::new();
    let container = for_each_entry(input, limits, |meta, data| {
        if meta.path == ".ARCHIVE_INDEX" || meta.path == "moodle_backup.log" {
            return Ok(());
        }
        if let Some(sha1) = blob_name(&meta.path) {
            let st = stage_entry(sink, data, &mut buf)?;
            staged.push(&st.sha256);
            if st.sha1 != sha1 {
                return Err(MbzError::BlobHashMismatch {
                    path: meta.path.clone(),
                    actual: st.sha1,
                });
            }
            if let (Some(k1), Some(k256)) = (sha1_key(&st.sha1), key256(&st.sha256)) {
                blobs.insert(k1, k256);
            }
            return Ok(());
        }
        let cap = stream::part_cap(&meta.path, limits);
        if meta.size > cap {
            return Err(MbzError::EntryTooLarge {
                path: meta.path.clone(),
                size: meta.size,
                limit: cap,
            });
        }
        let st = stage_entry(sink, data, &mut buf)?;
        staged.push(&st.sha256);
        parts.insert(
            meta.path.clone(),
            PartRef {
                sha256: st.sha256,
                size: st.size,
            },
        );
        Ok(())
    })?;
    Ok(Pass1 {
        container,
        blobs,
        parts,
    })
}

fn load<S: StagingSink>(sink: &S, part: &PartRef, path: &str, limits: &Limits) -> Result<Element> {
    let mut bytes = Vec::with_capacity(usize::try_from(part.size).unwrap_or(0));
    sink.open(&part.sha256)?
        .take(limits.max_xml_bytes + 1)
        .read_to_end(&mut bytes)?;
    xml::parse(&bytes, path, limits.max_xml_depth)
}

#[derive(Default)]
struct Collected {
    course: Option<crate::model::CourseFields>,
    sections: HashMap<String, (Section, Vec<i64>)>,
    modules: HashMap<String, (bool, u32)>,
    data: HashMap<String, ModuleData>,
    bank: QuestionBank,
}

fn collect(path: &str, root: &Element, c: &mut Collected) {
    let (dir, file) = path.rsplit_once('/').unwrap_or(("", path));
    match (dir, file) {
        ("course", "course.xml") => c.course = Some(extract::course(root)),
        (d, "section.xml") if d.starts_with("sections/") => {
            c.sections.insert(d.to_owned(), extract::section(root));
        }
        (d, "module.xml") if d.starts_with("activities/") => {
            c.modules.insert(d.to_owned(), extract::module(root));
        }
        (d, f) if d.starts_with("activities/") && root.name == "activity" => {
            if let Some(m) = root.attr("modulename") {
                if f == format!("{m}.xml") {
                    c.data.insert(d.to_owned(), extract::module_data(root, m));
                }
            }
        }
        _ => {}
    }
}

/// The second pass: strip the staged XML parts and build the model.
pub(crate) fn run<S: StagingSink>(
    p1: Pass1,
    limits: &Limits,
    sink: &mut S,
    staged: &mut StagedSet,
) -> Result<ImportedArchive> {
    let Pass1 {
        container,
        blobs,
        mut parts,
    } = p1;
    let mut report = StripReport::default();
    let mut warnings = Vec::new();

    // moodle_backup.xml first: it says what the archive is.
    let mref = parts
        .get("moodle_backup.xml")
        .cloned()
        .ok_or(MbzError::MissingManifest)?;
    let mut mroot = load(sink, &mref, "moodle_backup.xml", limits)?;
    let man = extract::manifest(&mroot).map_err(MbzError::Structure)?;
    let mut max_id = extract::max_id(&mroot);
    let orig = mroot.digest();
    strip::strip_part("moodle_backup.xml", &mut mroot, &HashSet::new());
    replace_if_changed(
        sink,
        staged,
        &mut parts,
        &mut report,
        "moodle_backup.xml",
        orig,
        &mroot,
    )?;

    // files.xml next, record by record: later parts need the ids of
    // removed records.
    let fref = parts
        .get("files.xml")
        .cloned()
        .ok_or_else(|| MbzError::Structure("files.xml is missing".into()))?;
    let blobs = stream::strip::SortedBlobs::from(blobs);
    let (new, fo) = stream::strip::files(sink, &fref, limits, &blobs)?;
    drop(blobs);
    restaged(staged, &mut parts, &mut report, "files.xml", new);
    max_id = max_id.max(fo.max_id);
    report.files_removed = fo.dropped.len() as u64;
    warnings.extend(fo.warnings);
    let (dropped_files, files) = (fo.dropped, fo.files);

    // Every other part: drop, strip, or keep verbatim.
    let mut col = Collected::default();
    let paths: Vec<String> = parts.keys().cloned().collect();
    for path in paths {
        if path == "moodle_backup.xml" || path == "files.xml" {
            continue;
        }
        if strip::part_dropped(&path) {
            parts.remove(&path);
            report.dropped_parts.push(path);
            continue;
        }
        if !path.ends_with(".xml") {
            continue;
        }
        let pref = parts[&path].clone();
        if path == "questions.xml" {
            let (new, qo) = stream::strip::questions(sink, &pref, limits)?;
            restaged(staged, &mut parts, &mut report, &path, new);
            max_id = max_id.max(qo.max_id);
            report.records_removed += qo.removed;
            col.bank = qo.bank;
            continue;
        }
        let mut root = load(sink, &pref, &path, limits)?;
        max_id = max_id.max(extract::max_id(&root));
        let orig = root.digest();
        report.records_removed += strip::strip_part(&path, &mut root, &dropped_files);
        replace_if_changed(sink, staged, &mut parts, &mut report, &path, orig, &root)?;
        collect(&path, &root, &mut col);
    }
    for a in &man.activities {
        max_id = max_id.max(a.moduleid).max(a.sectionid);
    }

    let blobs = BlobList::new(
        files
            .iter()
            .filter_map(|f| f.sha256.as_ref()?.bytes().copied())
            .collect(),
    );
    let course = build_model(&man, col.course.take(), &col, files, &mut warnings)?;
    Ok(ImportedArchive {
        base: ArchiveBase {
            kind: man.kind,
            container,
            info: man.info,
            parts,
            max_id,
        },
        course,
        question_bank: col.bank,
        blobs,
        stripped: report,
        warnings,
    })
}

/// Record a part rewritten by a streamed strip (`None`: unchanged).
fn restaged(
    staged: &mut StagedSet,
    parts: &mut BTreeMap<String, PartRef>,
    report: &mut StripReport,
    path: &str,
    new: Option<PartRef>,
) {
    if let Some(p) = new {
        staged.push(&p.sha256);
        parts.insert(path.to_owned(), p);
        report.rewritten_parts.push(path.to_owned());
    }
}

fn replace_if_changed<S: StagingSink>(
    sink: &mut S,
    staged: &mut StagedSet,
    parts: &mut BTreeMap<String, PartRef>,
    report: &mut StripReport,
    path: &str,
    orig: [u8; 32],
    new: &Element,
) -> Result<()> {
    if orig == new.digest() {
        return Ok(());
    }
    let bytes = new.to_moodle_xml();
    let st = stage_bytes(sink, &bytes)?;
    staged.push(&st.sha256);
    parts.insert(
        path.to_owned(),
        PartRef {
            sha256: st.sha256,
            size: st.size,
        },
    );
    report.rewritten_parts.push(path.to_owned());
    Ok(())
}

fn build_model(
    man: &extract::Manifest,
    fields: Option<crate::model::CourseFields>,
    col: &Collected,
    files: Vec<crate::model::FileRecord>,
    warnings: &mut Vec<String>,
) -> Result<CourseModel> {
    let mut sections: Vec<(Section, Vec<i64>)> = Vec::new();
    let fields = match man.kind {
        BackupKind::Course => {
            for ls in &man.sections {
                let (s, seq) = col.sections.get(&ls.directory).cloned().ok_or_else(|| {
                    MbzError::Structure(format!("{}/section.xml is missing", ls.directory))
                })?;
                sections.push((s, seq));
            }
            sections.sort_by_key(|(s, _)| s.number);
            fields.ok_or_else(|| MbzError::Structure("course/course.xml is missing".into()))?
        }
        BackupKind::Activity => {
            sections.push((
                Section {
                    original_id: None,
                    number: 0,
                    name: None,
                    summary: String::new(),
                    visible: true,
                },
                Vec::new(),
            ));
            crate::model::CourseFields {
                fullname: man.info.original_course_fullname.clone(),
                shortname: man.info.original_course_shortname.clone(),
                format: "topics".into(),
                visible: true,
                ..Default::default()
            }
        }
    };
    let mut acts = Vec::new();
    for (pos, la) in man.activities.iter().enumerate() {
        let (visible, number) = *col.modules.get(&la.directory).ok_or_else(|| {
            MbzError::Structure(format!("{}/module.xml is missing", la.directory))
        })?;
        let data = col.data.get(&la.directory).cloned().unwrap_or_else(|| {
            warnings.push(format!("{}/{}.xml is missing", la.directory, la.modulename));
            ModuleData::default()
        });
        let section_number = match man.kind {
            BackupKind::Activity => 0,
            BackupKind::Course => sections
                .iter()
                .find(|(s, _)| s.original_id == Some(la.sectionid))
                .map_or(number, |(s, _)| s.number),
        };
        let seq_pos = sections
            .iter()
            .find(|(s, _)| s.number == section_number)
            .and_then(|(_, seq)| seq.iter().position(|c| *c == la.moduleid))
            .unwrap_or(usize::MAX);
        let component = format!("mod_{}", la.modulename);
        let file_ids = files
            .iter()
            .filter(|f| {
                f.contextid.is_some()
                    && f.contextid == data.contextid
                    && f.component == component
                    && f.filearea == "content"
                    && f.filename != "."
            })
            .filter_map(|f| f.id)
            .collect();
        let act = Activity {
            key: format!("cm{}", la.moduleid),
            cmid: Some(la.moduleid),
            instance_id: data.instance_id,
            contextid: data.contextid,
            module: la.modulename.clone(),
            name: data.name,
            intro: data.intro,
            visible,
            section_number,
            content: ActivityContent {
                html: data.html,
                external_url: data.external_url,
                question_count: data.question_count,
                file_ids,
            },
        };
        acts.push(((section_number, seq_pos, pos), act));
    }
    acts.sort_by_key(|(k, _)| *k);
    Ok(CourseModel {
        fields,
        sections: sections.into_iter().map(|(s, _)| s).collect(),
        activities: acts.into_iter().map(|(_, a)| a).collect(),
        files,
    })
}
