//! `course import FILE.mbz --into COURSE`: the backup's activities are **added** to the course
//! (Moodle's "merge the backup into this course"); nothing the course has is removed, renamed or
//! renumbered.
//!
//! Where they land: an activity goes into the course's section with the number it had in the
//! backup (`module.xml` `sectionnumber` for an activity backup), or, when the course has no such
//! section, into a new section appended at the end (one per missing number, in order, named as in
//! a course backup). Course backups merge the same way: their activities, files and question bank
//! join; their course settings, course-level files, blocks and enrolment methods do not (the
//! course keeps its own). `pf_mbz::graft` re-numbers every id of the backup above the course's
//! highest and appends its parts, file records and question categories to the course's archive
//! skeleton, so a later export is one consistent Moodle backup. The new parts and blobs are in the
//! blob store before the rows; the rows and the new payload are one transaction: a failure leaves
//! the course exactly as it was. That transaction only goes through if the course's payload is
//! still the one the merge was computed from (`Store::add_course_content`'s `based_on`): when
//! another merge got there first, the graft is computed again from the course as it is now (up
//! to [`ATTEMPTS`] times), so two merges at once both land and neither is lost.

use super::export::payload_base;
use super::import::{stage_and_promote, tree_activity, tree_file, ImportOutcome};
use super::{blocking, refused, Scratch, StoreBlobs};
use crate::error::AppError;
use crate::platform::Platform;
use crate::services::Actor;
use pf_domain::access::{Capability, Context};
use pf_domain::ids::CourseId;
use pf_mbz::{CourseFields, DirStaging, FileRecord, GraftTarget, Limits, QuestionBank, Section};
use pf_store::{ContentAddition, StoreError, TreeActivity, TreeSection};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

fn item<T: serde::de::DeserializeOwned>(payload: &Value, key: &str) -> Option<T> {
    serde_json::from_value(payload.get(key)?.clone()).ok()
}

/// How many times a merge is computed again when the course changed under it.
pub const ATTEMPTS: usize = 3;

/// Adds the activities of the backup at `file` to the course `into` (needs `course:update`).
pub async fn import_into(
    p: &Platform,
    actor: &Actor,
    file: &Path,
    into: CourseId,
) -> Result<ImportOutcome, AppError> {
    let course = p.store.course(into).await?;
    p.require(actor, Capability::CourseUpdate, Context::Course(into))
        .await?;
    let promoted = stage_and_promote(p, file).await?;
    let source = promoted.archive;
    let mut attempt = 0;
    let (grafted, added_sections) = loop {
        attempt += 1;
        match merge_once(p, into, &source).await {
            Ok(done) => break done,
            Err(MergeError::Changed(e)) if attempt < ATTEMPTS => {
                tracing::info!(course = %into, attempt, "course changed during a merge: {e}");
            }
            Err(MergeError::Changed(e)) => return Err(e.into()),
            Err(MergeError::App(e)) => return Err(e),
        }
    };
    let mut warnings = source.warnings.clone();
    warnings.extend(grafted.warnings.iter().cloned());
    let outcome = ImportOutcome {
        course_id: into.0,
        shortname: course.shortname.to_string(),
        warnings,
    };
    p.audit(
        actor,
        "course.import_into",
        format!("course:{into}"),
        json!({
            "mode": "merge",
            "backup_kind": source.base.kind,
            "archive_shortname": source.course.fields.shortname,
            "activities_added": grafted.activities.len(),
            "sections_added": added_sections,
            "files_added": grafted.files.len(),
            "had_users": source.base.info.had_users,
            "attempts": attempt,
            "warnings": outcome.warnings,
        }),
    )
    .await?;
    Ok(outcome)
}

/// Why one merge attempt did not land.
enum MergeError {
    /// The course's payload changed since it was read (another merge got there first).
    Changed(StoreError),
    /// Anything else: final.
    App(AppError),
}

impl<E: Into<AppError>> From<E> for MergeError {
    fn from(e: E) -> Self {
        MergeError::App(e.into())
    }
}

/// One attempt: graft into the course as it is now and write it, conditional on the course's
/// payload being unchanged. Returns the graft and the number of sections added.
async fn merge_once(
    p: &Platform,
    into: CourseId,
    source: &pf_mbz::ImportedArchive,
) -> Result<(pf_mbz::Grafted, usize), MergeError> {
    p.store.course(into).await?; // not in the trash (course_payload reads trashed ones too)
    let stored: Option<Value> = p.store.course_payload(into).await?;
    let payload = stored.clone().unwrap_or(Value::Null);
    let base = payload_base(&payload);
    let fields: CourseFields = item(&payload, "fields").unwrap_or_default();

    // Graft in the archive layer (blocking), then promote the parts it wrote.
    let scratch = Scratch::new(p)?;
    let sink_dir = scratch.path().join("graft");
    let blobs = p.blobs.clone();
    let src = source.clone();
    let grafted = blocking(move || {
        let target = GraftTarget {
            base: base.as_ref(),
            course_id: base.as_ref().map_or(0, |b| {
                fields.original_id.unwrap_or(b.info.original_course_id)
            }),
            course_ctx: base.as_ref().map_or(0, |b| {
                fields.contextid.unwrap_or(b.info.original_course_contextid)
            }),
        };
        let mut sink = DirStaging::new(&sink_dir)?;
        let reader = StoreBlobs(blobs.clone());
        let g = pf_mbz::graft(target, &src, &reader, &mut sink, &Limits::default()).map_err(
            |e| match e {
                pf_mbz::MbzError::Structure(_) => refused(e),
                other => AppError::internal(format!("merging the archive failed: {other}")),
            },
        )?;
        let batch = g
            .staged
            .iter()
            .map(|key| Ok((sink.path_of(key)?, key.clone())))
            .collect::<std::io::Result<Vec<_>>>()?;
        blobs.promote_batch(&batch)?;
        Ok(g)
    })
    .await?;
    drop(scratch);

    // Where the activities land.
    let numbers: Vec<i64> = p
        .store
        .sections(into)
        .await?
        .iter()
        .map(|s| s.number)
        .collect();
    let mut existing: BTreeMap<i64, Vec<TreeActivity>> = BTreeMap::new();
    let mut missing: BTreeMap<u32, Vec<TreeActivity>> = BTreeMap::new();
    let mut place: Vec<(Option<i64>, (bool, i64, usize))> = Vec::new();
    for a in &grafted.activities {
        let n = i64::from(a.section_number);
        let (is_new, key, list) = if numbers.contains(&n) {
            (false, n, existing.entry(n).or_default())
        } else {
            (true, n, missing.entry(a.section_number).or_default())
        };
        place.push((a.contextid, (is_new, key, list.len())));
        list.push(tree_activity(a));
    }
    // Groups: the existing sections in order, then the new ones.
    let existing_keys: Vec<i64> = existing.keys().copied().collect();
    let missing_keys: Vec<u32> = missing.keys().copied().collect();
    let group_of = |is_new: bool, key: i64| -> usize {
        if is_new {
            existing_keys.len()
                + missing_keys
                    .iter()
                    .position(|k| i64::from(*k) == key)
                    .unwrap_or(0)
        } else {
            existing_keys.iter().position(|k| *k == key).unwrap_or(0)
        }
    };
    let mut files = Vec::new();
    for r in &grafted.files {
        let activity = place
            .iter()
            .find(|(ctx, _)| ctx.is_some() && *ctx == r.contextid)
            .map(|(_, (is_new, key, i))| (group_of(*is_new, *key), *i));
        if let Some(f) = tree_file(r, activity) {
            files.push(f);
        }
    }
    let source_section = |n: u32| source.course.sections.iter().find(|s| s.number == n);
    let first_new = numbers.iter().max().map_or(0, |m| m + 1);
    let new_sections: Vec<TreeSection> = missing
        .into_iter()
        .enumerate()
        .map(|(i, (n, activities))| {
            let from = source_section(n).filter(|_| source.base.kind == pf_mbz::BackupKind::Course);
            let section = Section {
                original_id: None,
                number: u32::try_from(first_new).unwrap_or(0) + i as u32,
                name: from.and_then(|s| s.name.clone()),
                summary: from.map(|s| s.summary.clone()).unwrap_or_default(),
                visible: from.is_none_or(|s| s.visible),
            };
            TreeSection {
                name: section.name.clone().unwrap_or_default(),
                summary: section.summary.clone(),
                visible: section.visible,
                payload: json!({ "mbz": section }),
                activities,
            }
        })
        .collect();
    let added_sections = new_sections.len();

    // The course's payload with the merged skeleton, records and question bank.
    let mut payload = match payload {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    let mut records: Vec<FileRecord> =
        item(&Value::Object(payload.clone()), "files").unwrap_or_default();
    records.extend(grafted.files.iter().cloned());
    let mut bank: QuestionBank =
        item(&Value::Object(payload.clone()), "question_bank").unwrap_or_default();
    bank.categories += grafted.question_bank.categories;
    bank.questions += grafted.question_bank.questions;
    let mut ctxs: Vec<i64> =
        item(&Value::Object(payload.clone()), "activity_contexts").unwrap_or_default();
    ctxs.extend(grafted.activities.iter().filter_map(|a| a.contextid));
    payload.insert("base".into(), json!(grafted.base));
    payload.insert("files".into(), json!(records));
    payload.insert("question_bank".into(), json!(bank));
    payload.insert("activity_contexts".into(), json!(ctxs));
    if !payload.contains_key("fields") {
        payload.insert("fields".into(), json!(CourseFields::default()));
    }

    let addition = ContentAddition {
        existing: existing.into_iter().collect(),
        new_sections,
        files,
    };
    let based_on = stored.as_ref();
    match p
        .store
        .add_course_content(into, based_on, Some(Value::Object(payload)), addition)
        .await
    {
        Ok(_) => Ok((grafted, added_sections)),
        Err(e @ StoreError::Conflict { .. }) => Err(MergeError::Changed(e)),
        Err(e) => Err(e.into()),
    }
}
