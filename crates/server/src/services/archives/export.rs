//! Exporting a course as a `.mbz` Moodle restores: the [`ExportCourse`] is rebuilt from the rows
//! (so renames, visibility and natively added sections, activities and files show) over the
//! imported archive's preserved parts; every export passes the scanner and Moodle's detection
//! before it is handed out.

use super::import::EMPTY_SHA256;
use super::{blocking, write_failed, Scratch, StoreBlobs};
use crate::error::AppError;
use crate::platform::Platform;
use crate::services::Actor;
use pf_domain::access::{Capability, Context};
use pf_domain::ids::{ActivityId, CourseId};
use pf_mbz::{
    Activity, ActivityContent, ArchiveBase, CourseFields, CourseModel, ExportCourse, FileRecord,
    Limits, Section, EMPTY_SHA1,
};
use pf_store::CourseRecord;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// The imported archive's skeleton kept in a course payload.
pub(crate) fn payload_base(payload: &Value) -> Option<ArchiveBase> {
    serde_json::from_value(payload.get("base")?.clone()).ok()
}

fn payload_item<T: serde::de::DeserializeOwned>(payload: &Value, key: &str) -> Option<T> {
    serde_json::from_value(payload.get(key)?.clone()).ok()
}

fn text(payload: &Value, key: &str) -> Option<String> {
    payload.get(key).and_then(Value::as_str).map(str::to_string)
}

/// Needs `course:update` or `publishflow:managepublishedfiles` on the course.
pub async fn require_export(p: &Platform, actor: &Actor, id: CourseId) -> Result<(), AppError> {
    let ctx = Context::Course(id);
    if p.can(actor, Capability::ManagePublishedFiles, ctx).await? {
        return Ok(());
    }
    p.require(actor, Capability::CourseUpdate, ctx).await
}

/// What an export reads of a course's payload, parsed straight from its text (nothing else of
/// it is parsed; a course of many files has a payload of many megabytes).
#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct StoredPayload {
    base: Option<ArchiveBase>,
    fields: CourseFields,
    files: Vec<FileRecord>,
    activity_contexts: Vec<i64>,
}

/// The course as the archive writer wants it, from the rows and the kept archive data.
pub async fn export_model(p: &Platform, course: &CourseRecord) -> Result<ExportCourse, AppError> {
    let StoredPayload {
        base,
        fields: orig,
        files: orig_files,
        activity_contexts,
    } = p.store.course_payload(course.id).await?.unwrap_or_default();
    let orig_ctxs: HashSet<i64> = activity_contexts.into_iter().collect();
    let fields = CourseFields {
        fullname: course.fullname.as_str().to_string(),
        shortname: course.shortname.as_str().to_string(),
        idnumber: course.idnumber.as_str().to_string(),
        summary: course.summary.clone(),
        format: course.format.clone(),
        startdate: course.start_date,
        enddate: course.end_date,
        lang: course.lang.clone(),
        visible: course.visible,
        original_id: orig.original_id,
        contextid: orig.contextid,
    };
    // Sections keep their archive numbers while the order allows (an archive may lack section 0
    // or have gaps); the store numbers them 0, 1, 2….
    let mut numbers: HashMap<i64, u32> = HashMap::new();
    let mut last: Option<u32> = None;
    let mut sections = Vec::new();
    for s in p.store.sections(course.id).await? {
        let m: Option<Section> = payload_item(&s.payload, "mbz");
        let was_null = m.as_ref().is_none_or(|m| m.name.is_none());
        let next = last.map_or(0, |l| l + 1);
        let number = match &m {
            Some(m) if m.original_id.is_some() && m.number >= next => m.number,
            _ => next,
        };
        last = Some(number);
        numbers.insert(s.number, number);
        sections.push(Section {
            original_id: m.and_then(|m| m.original_id),
            number,
            name: (!(s.name.is_empty() && was_null)).then_some(s.name),
            summary: s.summary,
            visible: s.visible,
        });
    }
    let section_number = |n: i64| numbers.get(&n).copied().unwrap_or(0);
    let mut activities = Vec::new();
    let mut keys: HashMap<ActivityId, (String, Option<i64>)> = HashMap::new();
    for row in p.store.activities(course.id).await? {
        let html = text(&row.payload, "content");
        let url = text(&row.payload, "externalurl");
        let a = match payload_item::<Activity>(&row.payload, "mbz") {
            Some(mut a) => {
                if a.content.html.is_some() || html.is_some() {
                    a.content.html = html;
                }
                if a.content.external_url.is_some() || url.is_some() {
                    a.content.external_url = url;
                }
                Activity {
                    name: row.name,
                    intro: row.intro,
                    visible: row.visible,
                    section_number: section_number(row.section_number),
                    ..a
                }
            }
            None => Activity {
                key: format!("pf{}", row.id),
                cmid: None,
                instance_id: None,
                contextid: None,
                content: ActivityContent {
                    html: (row.module == "page").then(|| html.unwrap_or_default()),
                    external_url: (row.module == "url").then(|| url.unwrap_or_default()),
                    ..Default::default()
                },
                module: row.module,
                name: row.name,
                intro: row.intro,
                visible: row.visible,
                section_number: section_number(row.section_number),
            },
        };
        keys.insert(row.id, (a.key.clone(), a.contextid));
        activities.push(a);
    }
    let live_ctxs: HashSet<i64> = keys.values().filter_map(|(_, c)| *c).collect();
    let files = files_of(p, course.id, &orig_files, &keys, &live_ctxs, &orig_ctxs).await?;
    let kept_ids: HashSet<i64> = files.iter().filter_map(|f| f.id).collect();
    for a in &mut activities {
        a.content.file_ids.retain(|id| kept_ids.contains(id));
    }
    Ok(ExportCourse {
        base,
        course: CourseModel {
            fields,
            sections,
            activities,
            files,
        },
    })
}

/// The file records: imported rows matched back to their original records (in the original
/// order), then native rows as native records; kept records whose blob was missing from the
/// original archive were never rows and come back while their context is still there.
async fn files_of(
    p: &Platform,
    course: CourseId,
    orig: &[FileRecord],
    keys: &HashMap<ActivityId, (String, Option<i64>)>,
    live_ctxs: &HashSet<i64>,
    orig_ctxs: &HashSet<i64>,
) -> Result<Vec<FileRecord>, AppError> {
    type Key = (String, String, String, i64, String, String);
    let key = |sha1: &str, component: &str, area: &str, item: i64, path: &str, name: &str| -> Key {
        (
            sha1.into(),
            component.into(),
            area.into(),
            item,
            path.into(),
            name.into(),
        )
    };
    let mut pool: HashMap<Key, Vec<usize>> = HashMap::new();
    for (i, r) in orig.iter().enumerate() {
        let k = key(
            &r.contenthash.to_string(),
            &r.component,
            &r.filearea,
            r.itemid,
            &r.filepath,
            &r.filename,
        );
        pool.entry(k).or_default().push(i);
    }
    let mut out: Vec<(usize, FileRecord)> = Vec::new();
    for (n, row) in p.store.files(course).await?.into_iter().enumerate() {
        let owner = row.activity.and_then(|a| keys.get(&a));
        let k = key(
            &row.sha1,
            &row.component,
            &row.filearea,
            row.itemid,
            &row.filepath,
            &row.filename,
        );
        let found = pool.get_mut(&k).and_then(|cands| {
            let at = cands.iter().position(|&i| match owner {
                Some((_, ctx)) => ctx.is_some() && orig[i].contextid == *ctx,
                None => orig[i].contextid.is_none_or(|x| !live_ctxs.contains(&x)),
            })?;
            Some(cands.remove(at))
        });
        match found {
            Some(i) => out.push((i, orig[i].clone())),
            None => out.push((
                orig.len() + n,
                FileRecord {
                    id: None,
                    sha256: (row.sha1 != EMPTY_SHA1 && row.sha256 != EMPTY_SHA256)
                        .then(|| row.sha256.as_str().into()),
                    contenthash: row.sha1.into(),
                    size: u64::try_from(row.size).unwrap_or(0),
                    filename: row.filename.into(),
                    filepath: row.filepath.into(),
                    mimetype: Some(row.mimetype.into()),
                    component: row.component.into(),
                    filearea: row.filearea.into(),
                    contextid: None,
                    itemid: row.itemid,
                    author: Some(row.author.into()),
                    license: Some(row.license.into()),
                    timecreated: 0,
                    timemodified: 0,
                    owner: owner.map(|(k, _)| k.clone()),
                },
            )),
        }
    }
    out.extend(
        orig.iter()
            .enumerate()
            .filter(|(_, r)| {
                r.sha256.is_none()
                    && r.filename != "."
                    && r.contenthash != EMPTY_SHA1
                    && r.contextid
                        .is_none_or(|c| live_ctxs.contains(&c) || !orig_ctxs.contains(&c))
            })
            .map(|(i, r)| (i, r.clone())),
    );
    out.sort_by_key(|(i, _)| *i);
    Ok(out.into_iter().map(|(_, r)| r).collect())
}

/// Writes `model` as a `.mbz` at `out` (a temporary file beside it, renamed when complete),
/// checked by the scanner and Moodle's detection first. Blocking.
pub(crate) fn write_checked(
    blobs: StoreBlobs,
    model: &ExportCourse,
    out: &Path,
) -> Result<u64, AppError> {
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile_in(dir)?;
    let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp.0)?);
    let summary = pf_mbz::export(model, &blobs, &mut w).map_err(write_failed)?;
    w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    check(&tmp.0)?;
    std::fs::rename(&tmp.0, out)
        .map_err(|e| AppError::bad_request(format!("cannot write {}: {e}", out.display())))?;
    tmp.0 = PathBuf::new();
    Ok(summary.archive_bytes)
}

/// A scanner finding or a detection failure means stripping or writing has a bug: never hand
/// the file out, never strip silently.
pub(crate) fn check(path: &Path) -> Result<(), AppError> {
    let report = pf_mbz::scan_file(path, &Limits::default()).map_err(write_failed)?;
    if !report.is_clean() {
        return Err(AppError::internal(format!(
            "the scanner found user data in an export: {:?}",
            report.findings
        )));
    }
    let found = pf_mbz::detect(path).map_err(write_failed)?;
    if found.format != "moodle2" {
        return Err(AppError::internal(format!(
            "Moodle would not detect the export as a backup: {found:?}"
        )));
    }
    Ok(())
}

/// A temporary path in `dir`, removed on drop unless cleared.
struct TempPath(PathBuf);

impl Drop for TempPath {
    fn drop(&mut self) {
        if !self.0.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

fn tempfile_in(dir: &Path) -> Result<TempPath, AppError> {
    let mut random = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut random);
    let path = dir.join(format!(".publishflow-export-{}.tmp", hex::encode(random)));
    std::fs::File::create(&path)
        .map_err(|e| AppError::bad_request(format!("cannot write in {}: {e}", dir.display())))?;
    Ok(TempPath(path))
}

/// Exports a course to the file `out` (replaced only once the new file is complete and checked).
pub async fn export_to_file(
    p: &Platform,
    actor: &Actor,
    id: CourseId,
    out: &Path,
) -> Result<u64, AppError> {
    let course = p.store.course(id).await?;
    require_export(p, actor, id).await?;
    let model = export_model(p, &course).await?;
    let blobs = StoreBlobs(p.blobs.clone());
    let target = out.to_path_buf();
    let size = blocking(move || write_checked(blobs, &model, &target)).await?;
    p.audit(
        actor,
        "course.export",
        format!("course:{id}"),
        serde_json::json!({ "size": size }),
    )
    .await?;
    Ok(size)
}

/// Exports a course into a scratch file for a download; the caller streams then drops it.
pub async fn export_to_scratch(
    p: &Platform,
    actor: &Actor,
    id: CourseId,
) -> Result<(Scratch, PathBuf, CourseRecord), AppError> {
    let course = p.store.course(id).await?;
    require_export(p, actor, id).await?;
    let model = export_model(p, &course).await?;
    let scratch = Scratch::new(p)?;
    let path = scratch.path().join("export.mbz");
    let blobs = StoreBlobs(p.blobs.clone());
    let target = path.clone();
    let size = blocking(move || write_checked(blobs, &model, &target)).await?;
    p.audit(
        actor,
        "course.export",
        format!("course:{id}"),
        serde_json::json!({ "size": size }),
    )
    .await?;
    Ok((scratch, path, course))
}
