//! The data model shared by import and export.
//!
//! [`ImportedArchive`] is what [`crate::import()`] returns; the platform
//! stores it as is (everything is serde-serialisable) and later builds an
//! [`ExportCourse`] from it, with `ExportCourse::from(imported)` or by
//! filling [`CourseModel`] itself for a course authored natively.
//! Items with an `original_id`/`cmid`/`id` of `None` are *native*: the
//! writer gives them ids above [`ArchiveBase::max_id`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::compact::{BlobList, Hex, Sha1Hex, Sha256Hex, Text};
use crate::container::ContainerKind;

/// The SQL NULL marker Moodle writes in backup XML.
pub const NULL: &str = "$@NULL@$";

/// Course backup or single-activity backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupKind {
    /// `details/detail/type` = `course`.
    Course,
    /// `details/detail/type` = `activity`.
    Activity,
}

/// Header of `moodle_backup.xml` (`information`), as found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupInfo {
    /// Original file name.
    pub name: String,
    /// Source site `$version`.
    pub moodle_version: String,
    /// Source site release string.
    pub moodle_release: String,
    /// Backup format version (restore branches on it).
    pub backup_version: String,
    /// Backup format release.
    pub backup_release: String,
    /// Unix time of the backup.
    pub backup_date: i64,
    /// Source site URL.
    pub original_wwwroot: String,
    /// MD5 of the source site identifier (may be empty).
    pub original_site_identifier_hash: String,
    /// Source course id.
    pub original_course_id: i64,
    /// Source course full name.
    pub original_course_fullname: String,
    /// Source course short name.
    pub original_course_shortname: String,
    /// Source course context id.
    pub original_course_contextid: i64,
    /// Source system context id.
    pub original_system_contextid: i64,
    /// `details/detail@backup_id`.
    pub backup_id: String,
    /// Whether the *input* carried user data (root setting `users`).
    pub had_users: bool,
    /// Whether the input was anonymised.
    pub had_anonymize: bool,
}

/// Course-level fields the platform understands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CourseFields {
    /// Full name.
    pub fullname: String,
    /// Short name.
    pub shortname: String,
    /// Learning-path key (may be empty).
    pub idnumber: String,
    /// HTML summary.
    pub summary: String,
    /// Course format (`topics`, `weeks`…).
    pub format: String,
    /// Start date (Unix seconds).
    pub startdate: i64,
    /// End date (Unix seconds, 0 = none).
    pub enddate: i64,
    /// Forced language (empty = none).
    pub lang: String,
    /// Visible to students.
    pub visible: bool,
    /// Source course id, when imported.
    pub original_id: Option<i64>,
    /// Source course context id, when imported.
    pub contextid: Option<i64>,
}

/// A course section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    /// Source section id; `None` for a native section.
    pub original_id: Option<i64>,
    /// Position in the course (0 = general section).
    pub number: u32,
    /// Name; `None` is Moodle's NULL (an unnamed section).
    pub name: Option<String>,
    /// HTML summary.
    pub summary: String,
    /// Visible to students.
    pub visible: bool,
}

/// An activity (course module).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    /// Stable key: `cm<cmid>` for imported activities, the platform's own
    /// choice for native ones (native [`FileRecord::owner`] refers to it).
    pub key: String,
    /// Source course-module id; `None` for a native activity.
    pub cmid: Option<i64>,
    /// Source instance id.
    pub instance_id: Option<i64>,
    /// Source module context id.
    pub contextid: Option<i64>,
    /// Module name (`page`, `quiz`, …).
    pub module: String,
    /// Activity name.
    pub name: String,
    /// HTML description.
    pub intro: String,
    /// Visible to students.
    pub visible: bool,
    /// Number of the section holding it.
    pub section_number: u32,
    /// Module content the platform shows.
    pub content: ActivityContent,
}

/// The parts of an activity's own data the platform shows or authors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityContent {
    /// Page HTML (`page.content`).
    pub html: Option<String>,
    /// URL target (`url.externalurl`).
    pub external_url: Option<String>,
    /// Quiz: number of question slots.
    pub question_count: Option<u32>,
    /// Ids of the file records in the module's `content` area (resource,
    /// folder) — look them up in [`CourseModel::files`].
    pub file_ids: Vec<i64>,
}

/// One kept `files.xml` record (user-data records never appear here).
///
/// The import returns one per file, so it is compact (about 0.3 KB): the
/// hashes are [`Hex`] values (bytes, not text) and the strings are shared
/// [`Text`]s. It serialises exactly as it did with `String` fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Source file id; `None` for a native file.
    pub id: Option<i64>,
    /// SHA-1 of the content (Moodle's contenthash); empty for a native
    /// file (the writer computes it).
    pub contenthash: Sha1Hex,
    /// SHA-256 of the content (the platform's key); `None` for directory
    /// records and for blobs missing from the archive.
    pub sha256: Option<Sha256Hex>,
    /// Size in bytes.
    pub size: u64,
    /// File name (`.` for directory records).
    pub filename: Text,
    /// Path inside the area, `/` at least.
    pub filepath: Text,
    /// MIME type (`None` = NULL).
    pub mimetype: Option<Text>,
    /// Owning component (`mod_resource`, `question`, …).
    pub component: Text,
    /// File area.
    pub filearea: Text,
    /// Context id; `None` for native files (see `owner`).
    pub contextid: Option<i64>,
    /// Item id.
    pub itemid: i64,
    /// Author (kept).
    pub author: Option<Text>,
    /// Licence (kept).
    pub license: Option<Text>,
    /// Creation time.
    pub timecreated: i64,
    /// Modification time.
    pub timemodified: i64,
    /// Key of the owning native activity; `None` means the course context
    /// (or, for imported records, the record's own `contextid`).
    pub owner: Option<String>,
}

/// A preserved archive part: stored by the platform under its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRef {
    /// SHA-256 of the bytes (lower-case hex).
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// Question bank counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuestionBank {
    /// Number of question categories.
    pub categories: u32,
    /// Number of question versions in the bank.
    pub questions: u32,
}

/// Everything from the original archive the writer needs to write it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveBase {
    /// Course or activity backup.
    pub kind: BackupKind,
    /// Container the archive came in.
    pub container: ContainerKind,
    /// `moodle_backup.xml` header.
    pub info: BackupInfo,
    /// Preserved parts: archive path → content (after stripping).
    pub parts: BTreeMap<String, PartRef>,
    /// Highest numeric id found in the archive; native ids go above it.
    pub max_id: i64,
}

/// Sections, activities and files: the editable part of a course.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CourseModel {
    /// Course fields.
    pub fields: CourseFields,
    /// Sections, in course order.
    pub sections: Vec<Section>,
    /// Activities, in display order within their sections.
    pub activities: Vec<Activity>,
    /// Kept file records.
    pub files: Vec<FileRecord>,
}

/// What stripping removed, for the import report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StripReport {
    /// Parts dropped whole (`users.xml`, logs, `moodle_backup.log`…).
    pub dropped_parts: Vec<String>,
    /// Parts rewritten because user records were removed from them.
    pub rewritten_parts: Vec<String>,
    /// Number of XML records removed.
    pub records_removed: u64,
    /// Number of `files.xml` records removed (learner files).
    pub files_removed: u64,
}

/// The result of [`crate::import()`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedArchive {
    /// The original archive's skeleton.
    pub base: ArchiveBase,
    /// The course as the platform shows and edits it.
    pub course: CourseModel,
    /// Question bank counts.
    pub question_bank: QuestionBank,
    /// SHA-256 of every staged blob a kept file record refers to, sorted,
    /// each once: promote exactly these (and the parts) to the blob store.
    pub blobs: BlobList,
    /// What was removed as user data.
    pub stripped: StripReport,
    /// Non-fatal problems (e.g. `files.xml` records whose blob is missing).
    pub warnings: Vec<String>,
}

/// What the platform gives the writer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportCourse {
    /// The imported archive behind the course; `None` for a native course
    /// (written as Moodle 4.1 writes it).
    pub base: Option<ArchiveBase>,
    /// The course, possibly edited.
    pub course: CourseModel,
}

impl From<ImportedArchive> for ExportCourse {
    fn from(a: ImportedArchive) -> Self {
        ExportCourse {
            base: Some(a.base),
            course: a.course,
        }
    }
}

/// Parse Moodle's text for an optional value (`$@NULL@$` → `None`).
pub(crate) fn opt(s: Option<String>) -> Option<String> {
    s.filter(|v| v != NULL)
}

/// Render an optional value the way Moodle writes it.
pub(crate) fn or_null<S: AsRef<str>>(s: &Option<S>) -> &str {
    s.as_ref().map_or(NULL, AsRef::as_ref)
}
