//! Importing a `.mbz` as a new course (SPEC §3 "Names on arrival"): stage and strip in a scratch
//! directory, promote what the stripped archive keeps, then build the whole course in one
//! transaction with the arrival naming rule.

use super::store_staging::StoreStaging;
use super::{blocking, refused, Scratch};
use crate::error::AppError;
use crate::platform::{settings, Platform};
use crate::services::Actor;
use pf_domain::access::{Capability, Context};
use pf_domain::course::{Fullname, IdNumber, Shortname};
use pf_domain::ids::{CategoryId, CourseId};
use pf_mbz::{ImportedArchive, Limits, EMPTY_SHA1};
use pf_store::{CourseTree, NewCourse, NewFile, TreeActivity, TreeFile, TreeSection};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// SHA-256 of no bytes: the key of directory records and empty files (never read).
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Where an import goes.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportTarget {
    /// The category; the platform's landing category when `None`.
    pub category: Option<CategoryId>,
    /// An existing course the archive's activities are added to (Moodle's "merge the backup into
    /// this course", see [`super::merge`]); nothing of the course is removed.
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

/// Reads, strips and stages `file`, then promotes exactly the kept blobs and parts (those the
/// store lacks: see [`StoreStaging`]).
pub(crate) async fn stage_and_promote(p: &Platform, file: &Path) -> Result<Promoted, AppError> {
    let scratch = Scratch::new(p)?;
    let stage_dir: PathBuf = scratch.path().join("stage");
    let file = file.to_path_buf();
    let blobs = p.blobs.clone();
    let archive = blocking(move || {
        let mut stage = StoreStaging::new(&stage_dir, blobs.clone())?;
        let archive =
            pf_mbz::import_file(&file, &Limits::default(), &mut stage).map_err(refused)?;
        let keys = archive
            .blobs
            .iter()
            .chain(archive.base.parts.values().map(|r| r.sha256.clone()));
        blobs.promote_batch(&stage.to_promote(keys)?)?;
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
        return super::merge::import_into(p, actor, file, into).await;
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
        places.push((act.contextid, si, sections[si].activities.len()));
        sections[si].activities.push(tree_activity(act));
    }
    let mut files = Vec::new();
    for r in &a.course.files {
        let activity = places
            .iter()
            .find(|(ctx, _, _)| ctx.is_some() && *ctx == r.contextid)
            .map(|(_, s, i)| (*s, *i));
        if let Some(f) = tree_file(r, activity) {
            files.push(f);
        }
    }
    Ok(CourseTree {
        course,
        sections,
        files,
    })
}

/// The row of an imported activity: its `pf_mbz` item under `mbz`, and what the course page shows.
pub(crate) fn tree_activity(act: &pf_mbz::Activity) -> TreeActivity {
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
    TreeActivity {
        module: act.module.clone(),
        name: act.name.clone(),
        intro: act.intro.clone(),
        visible: act.visible,
        payload: Value::Object(payload),
    }
}

/// The row of a kept file record (`activity` as in [`TreeFile`]); `None` for a record whose blob
/// was missing from the archive (warned): it stays in the course payload only.
pub(crate) fn tree_file(
    r: &pf_mbz::FileRecord,
    activity: Option<(usize, usize)>,
) -> Option<TreeFile> {
    let empty = r.filename == "." || r.contenthash == EMPTY_SHA1;
    let sha256 = match (&r.sha256, empty) {
        (Some(s), _) => s.to_string(),
        (None, true) => EMPTY_SHA256.to_string(),
        (None, false) => return None,
    };
    Some(TreeFile {
        activity,
        file: NewFile {
            course: CourseId(0),
            activity: None,
            sha256,
            sha1: r.contenthash.to_string(),
            size: i64::try_from(r.size).unwrap_or(i64::MAX),
            filename: r.filename.to_string(),
            filepath: r.filepath.to_string(),
            mimetype: r.mimetype.as_deref().unwrap_or_default().to_string(),
            component: r.component.to_string(),
            filearea: r.filearea.to_string(),
            itemid: r.itemid,
            author: r.author.as_deref().unwrap_or_default().to_string(),
            license: r.license.as_deref().unwrap_or_default().to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pf_mbz::{
        Activity, ActivityContent, ArchiveBase, BackupInfo, BackupKind, ContainerKind,
        CourseFields, CourseModel, FileRecord, QuestionBank, Section, StripReport,
    };

    fn section(number: u32, id: i64) -> Section {
        Section {
            original_id: Some(id),
            number,
            name: None,
            summary: String::new(),
            visible: true,
        }
    }

    fn activity(cmid: i64, module: &str, section_number: u32) -> Activity {
        Activity {
            key: format!("cm{cmid}"),
            cmid: Some(cmid),
            instance_id: Some(cmid),
            contextid: Some(100 + cmid),
            module: module.into(),
            name: format!("{module} {cmid}"),
            intro: "<p>intro</p>".into(),
            visible: true,
            section_number,
            content: ActivityContent {
                html: (module == "page").then(|| "<p>page</p>".into()),
                external_url: None,
                question_count: (module == "quiz").then_some(4),
                file_ids: Vec::new(),
            },
        }
    }

    fn file(name: &str, ctx: i64, sha256: Option<&str>, contenthash: &str) -> FileRecord {
        FileRecord {
            id: Some(1),
            contenthash: contenthash.into(),
            sha256: sha256.map(Into::into),
            size: 3,
            filename: name.into(),
            filepath: "/".into(),
            mimetype: None,
            component: "mod_resource".into(),
            filearea: "content".into(),
            contextid: Some(ctx),
            itemid: 0,
            author: None,
            license: None,
            timecreated: 0,
            timemodified: 0,
            owner: None,
        }
    }

    fn archive() -> ImportedArchive {
        let sha = "a".repeat(64);
        ImportedArchive {
            base: ArchiveBase {
                kind: BackupKind::Course,
                container: ContainerKind::TarGz,
                info: BackupInfo::default(),
                parts: Default::default(),
                max_id: 200,
            },
            course: CourseModel {
                fields: CourseFields {
                    fullname: "Physics".into(),
                    shortname: "PHY".into(),
                    idnumber: "LP-1".into(),
                    ..Default::default()
                },
                // The archive has no section 0 and a gap, as some real ones do.
                sections: vec![section(1, 11), section(3, 13)],
                activities: vec![
                    activity(1, "page", 1),
                    activity(2, "quiz", 3),
                    activity(3, "label", 7),
                ],
                files: vec![
                    file("a.pdf", 101, Some(&sha), &"b".repeat(40)),
                    file(".", 101, None, EMPTY_SHA1),
                    file("lost.pdf", 102, None, &"c".repeat(40)),
                    file("course.png", 5, Some(&sha), &"d".repeat(40)),
                ],
            },
            question_bank: QuestionBank::default(),
            blobs: vec![sha].try_into().unwrap(),
            stripped: StripReport::default(),
            warnings: Vec::new(),
        }
    }

    #[test]
    fn the_archive_model_maps_to_one_course_tree() {
        let tree = course_tree(&archive(), CategoryId(4)).unwrap();
        assert_eq!(tree.course.shortname.as_str(), "PHY");
        assert_eq!(tree.course.idnumber.as_str(), "LP-1");
        assert_eq!(tree.course.format, "topics", "an empty format falls back");
        assert_eq!(tree.sections.len(), 2);
        let s0: Vec<&str> = tree.sections[0]
            .activities
            .iter()
            .map(|a| a.module.as_str())
            .collect();
        assert_eq!(
            s0,
            ["page", "label"],
            "an activity of an unknown section goes first"
        );
        let quiz = &tree.sections[1].activities[0];
        assert_eq!(quiz.payload["question_count"], 4);
        assert_eq!(quiz.payload["mbz"]["cmid"], 2);
        assert_eq!(
            tree.sections[0].activities[0].payload["content"],
            "<p>page</p>"
        );
        // Rows: the pdf and its directory record on the page, the course file; the record whose
        // blob was missing stays in the payload only.
        let rows: Vec<(&str, Option<(usize, usize)>)> = tree
            .files
            .iter()
            .map(|f| (f.file.filename.as_str(), f.activity))
            .collect();
        assert_eq!(
            rows,
            [
                ("a.pdf", Some((0, 0))),
                (".", Some((0, 0))),
                ("course.png", None)
            ]
        );
        assert_eq!(tree.files[1].file.sha256, EMPTY_SHA256);
        let payload = tree.course.archive_payload.unwrap();
        assert_eq!(payload["files"].as_array().unwrap().len(), 4);
    }

    #[test]
    fn names_come_from_the_original_course_when_the_archive_has_none() {
        let mut a = archive();
        a.course.fields.shortname.clear();
        a.course.fields.fullname.clear();
        a.base.info.original_course_shortname = "ORIG".into();
        let tree = course_tree(&a, CategoryId(4)).unwrap();
        assert_eq!(tree.course.shortname.as_str(), "ORIG");
        assert_eq!(tree.course.fullname.as_str(), "ORIG");
        a.course.sections.clear();
        assert!(course_tree(&a, CategoryId(4)).is_err());
    }
}
