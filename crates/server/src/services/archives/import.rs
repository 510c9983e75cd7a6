//! Importing a `.mbz` as a new course (SPEC §3 "Names on arrival"): stage and strip in a scratch
//! directory, promote what the stripped archive keeps, then build the whole course in one
//! transaction with the arrival naming rule.

use super::{blocking, refused, Scratch};
use crate::error::AppError;
use crate::platform::{settings, Platform};
use crate::services::Actor;
use pf_domain::access::{Capability, Context};
use pf_domain::course::{Fullname, IdNumber, Shortname};
use pf_domain::ids::{CategoryId, CourseId};
use pf_mbz::{DirStaging, ImportedArchive, Limits, EMPTY_SHA1};
use pf_store::{CourseTree, NewCourse, NewFile, TreeActivity, TreeFile, TreeSection};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// SHA-256 of no bytes: the key of directory records and empty files (never read).
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Where an import goes.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportTarget {
    /// The category; the platform's landing category when `None`.
    pub category: Option<CategoryId>,
    /// An existing course whose content the archive replaces (Moodle's "delete the contents of
    /// this course and then restore"); it keeps its id, names, category and idnumber.
    pub into: Option<CourseId>,
}

/// What an import did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImportOutcome {
    /// The new course.
    pub course_id: i64,
    /// The short name it got (`NAME_1`… when the archive's was taken).
    pub shortname: String,
    /// Non-fatal problems (e.g. a file missing from the archive).
    pub warnings: Vec<String>,
}

/// A stripped archive staged in a scratch directory whose kept blobs and parts are now in the
/// blob store.
pub(crate) struct Promoted {
    pub archive: ImportedArchive,
    pub _scratch: Scratch,
}

/// Reads, strips and stages `file`, then promotes exactly the kept blobs and parts.
pub(crate) async fn stage_and_promote(p: &Platform, file: &Path) -> Result<Promoted, AppError> {
    let scratch = Scratch::new(p)?;
    let stage_dir: PathBuf = scratch.path().join("stage");
    let file = file.to_path_buf();
    let blobs = p.blobs.clone();
    let archive = blocking(move || {
        let mut stage = DirStaging::new(&stage_dir)?;
        let archive =
            pf_mbz::import_file(&file, &Limits::default(), &mut stage).map_err(refused)?;
        let keys: BTreeSet<&String> = archive
            .blobs
            .iter()
            .chain(archive.base.parts.values().map(|r| &r.sha256))
            .collect();
        for key in keys {
            let staged = stage.path_of(key)?;
            blobs.promote(&staged, key)?;
        }
        Ok(archive)
    })
    .await?;
    Ok(Promoted {
        archive,
        _scratch: scratch,
    })
}

/// Imports the `.mbz` at `file` as a new course (needs `course:create` in the target category)
/// or into an existing one (`target.into`, needs `course:update` there).
pub async fn import_file(
    p: &Platform,
    actor: &Actor,
    file: &Path,
    target: ImportTarget,
) -> Result<ImportOutcome, AppError> {
    if let Some(into) = target.into {
        if target.category.is_some() {
            return Err(AppError::bad_request(
                "an import into an existing course keeps that course's category",
            ));
        }
        return import_into(p, actor, file, into).await;
    }
    let category = match target.category {
        Some(c) => c,
        None => landing_category(p).await?,
    };
    p.store.category(category).await?;
    p.require(actor, Capability::CourseCreate, Context::Category(category))
        .await?;
    let promoted = stage_and_promote(p, file).await?;
    let a = &promoted.archive;
    let tree = course_tree(a, category)?;
    let activities = a.course.activities.len();
    let created = p.store.import_course(tree).await?;
    let outcome = ImportOutcome {
        course_id: created.id.0,
        shortname: created.shortname.to_string(),
        warnings: a.warnings.clone(),
    };
    p.audit(
        actor,
        "course.import",
        format!("course:{}", created.id),
        json!({
            "shortname": outcome.shortname,
            "requested_shortname": a.course.fields.shortname,
            "activities": activities,
            "had_users": a.base.info.had_users,
            "records_removed": a.stripped.records_removed,
            "files_removed": a.stripped.files_removed,
            "warnings": outcome.warnings,
        }),
    )
    .await?;
    Ok(outcome)
}

async fn import_into(
    p: &Platform,
    actor: &Actor,
    file: &Path,
    into: CourseId,
) -> Result<ImportOutcome, AppError> {
    let course = p.store.course(into).await?;
    p.require(actor, Capability::CourseUpdate, Context::Course(into))
        .await?;
    let promoted = stage_and_promote(p, file).await?;
    let a = &promoted.archive;
    let tree = course_tree(a, course.category)?;
    let replaced = p
        .store
        .replace_course_content(into, tree.course.archive_payload, tree.sections, tree.files)
        .await?;
    let outcome = ImportOutcome {
        course_id: into.0,
        shortname: replaced.shortname.to_string(),
        warnings: a.warnings.clone(),
    };
    p.audit(
        actor,
        "course.import_into",
        format!("course:{into}"),
        json!({
            "archive_shortname": a.course.fields.shortname,
            "activities": a.course.activities.len(),
            "had_users": a.base.info.had_users,
            "warnings": outcome.warnings,
        }),
    )
    .await?;
    Ok(outcome)
}

/// The platform's landing category (SPEC §3), or a clear error on a platform without one.
pub async fn landing_category(p: &Platform) -> Result<CategoryId, AppError> {
    p.store
        .setting(settings::LANDING_CATEGORY)
        .await?
        .and_then(|v| v.parse().ok())
        .map(CategoryId)
        .ok_or_else(|| {
            AppError::bad_request(
                "this platform has no landing category: name the category to import into",
            )
        })
}

fn first_nonempty<'a>(candidates: &[&'a str]) -> &'a str {
    candidates
        .iter()
        .find(|c| !c.trim().is_empty())
        .copied()
        .unwrap_or("imported")
}

/// The rows of an imported course (pure: the whole mapping from the archive model to the store).
pub(crate) fn course_tree(
    a: &ImportedArchive,
    category: CategoryId,
) -> Result<CourseTree, AppError> {
    let f = &a.course.fields;
    let info = &a.base.info;
    let shortname = Shortname::parse(first_nonempty(&[
        f.shortname.as_str(),
        info.original_course_shortname.as_str(),
    ]))?;
    let fullname = Fullname::parse(first_nonempty(&[
        f.fullname.as_str(),
        info.original_course_fullname.as_str(),
        shortname.as_str(),
    ]))?;
    let payload = json!({
        "base": a.base,
        "fields": f,
        "files": a.course.files,
        "question_bank": a.question_bank,
        "activity_contexts": a.course.activities.iter().filter_map(|x| x.contextid).collect::<Vec<_>>(),
    });
    let course = NewCourse {
        category,
        fullname,
        shortname,
        idnumber: IdNumber::parse(&f.idnumber)?,
        summary: f.summary.clone(),
        format: if f.format.is_empty() {
            "topics".into()
        } else {
            f.format.clone()
        },
        start_date: f.startdate,
        end_date: f.enddate,
        lang: f.lang.clone(),
        visible: f.visible,
        guest_access: false,
        archive_payload: Some(payload),
    };
    let mut sections: Vec<TreeSection> = a
        .course
        .sections
        .iter()
        .map(|s| TreeSection {
            name: s.name.clone().unwrap_or_default(),
            summary: s.summary.clone(),
            visible: s.visible,
            payload: json!({ "mbz": s }),
            activities: Vec::new(),
        })
        .collect();
    if sections.is_empty() {
        return Err(AppError::bad_request("the archive has no section"));
    }
    let mut places = Vec::with_capacity(a.course.activities.len());
    for act in &a.course.activities {
        let si = a
            .course
            .sections
            .iter()
            .position(|s| s.number == act.section_number)
            .unwrap_or(0);
        let mut payload = Map::new();
        payload.insert("mbz".into(), json!(act));
        if let Some(html) = &act.content.html {
            payload.insert("content".into(), html.clone().into());
        }
        if let Some(url) = &act.content.external_url {
            payload.insert("externalurl".into(), url.clone().into());
        }
        if let Some(n) = act.content.question_count {
            payload.insert("question_count".into(), n.into());
        }
        places.push((act.contextid, si, sections[si].activities.len()));
        sections[si].activities.push(TreeActivity {
            module: act.module.clone(),
            name: act.name.clone(),
            intro: act.intro.clone(),
            visible: act.visible,
            payload: Value::Object(payload),
        });
    }
    let mut files = Vec::new();
    for r in &a.course.files {
        let empty = r.filename == "." || r.contenthash == EMPTY_SHA1;
        let sha256 = match (&r.sha256, empty) {
            (Some(s), _) => s.clone(),
            (None, true) => EMPTY_SHA256.to_string(),
            // Missing from the archive (warned): kept in the course payload only.
            (None, false) => continue,
        };
        let activity = places
            .iter()
            .find(|(ctx, _, _)| ctx.is_some() && *ctx == r.contextid)
            .map(|(_, s, i)| (*s, *i));
        files.push(TreeFile {
            activity,
            file: NewFile {
                course: CourseId(0),
                activity: None,
                sha256,
                sha1: r.contenthash.clone(),
                size: i64::try_from(r.size).unwrap_or(i64::MAX),
                filename: r.filename.clone(),
                filepath: r.filepath.clone(),
                mimetype: r.mimetype.clone().unwrap_or_default(),
                component: r.component.clone(),
                filearea: r.filearea.clone(),
                itemid: r.itemid,
                author: r.author.clone().unwrap_or_default(),
                license: r.license.clone().unwrap_or_default(),
            },
        });
    }
    Ok(CourseTree {
        course,
        sections,
        files,
    })
}
