//! JSON documents printed by the CLI and returned by the API (`../shared/CLI.md`).

use serde::{Deserialize, Serialize};

/// `{"id": …}` printed by `user add`, `category add`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Created {
    /// The new record's id.
    pub id: i64,
}

/// An error inside a result document: `null` or `{code, message}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBrief {
    /// Stable code.
    pub code: String,
    /// Human-readable message.
    pub message: String,
}

/// One line of `user list --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDoc {
    /// Account id.
    pub id: i64,
    /// `username`, or `username@platform` for roaming accounts.
    pub username: String,
    /// The home platform's name (this platform's own name for local accounts).
    pub home: String,
    /// Role assignments as `ROLE@CONTEXT` (`editingteacher@course:4`).
    pub roles: Vec<String>,
}

/// One line of `category list --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryDoc {
    /// Category id.
    pub id: i64,
    /// Parent id, null at top level.
    pub parent: Option<i64>,
    /// Display name.
    pub name: String,
    /// External key (empty when unset).
    pub idnumber: String,
    /// Names from the top down, joined with " / ".
    pub path: String,
}

/// One line of `course list --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CourseDoc {
    /// Course id.
    pub id: i64,
    /// Full name.
    pub fullname: String,
    /// Short name.
    pub shortname: String,
    /// Learning-path key (empty when unset).
    pub idnumber: String,
    /// Category id.
    pub category: i64,
    /// Visible to people without `course:viewhidden`.
    pub visible: bool,
}

/// A section in `course show --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionDoc {
    /// Position, 0 for the general section.
    pub number: i64,
    /// Name (empty means the default name).
    pub name: String,
    /// Visibility.
    pub visible: bool,
}

/// An activity in `course show --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityDoc {
    /// Module name (`page`, `quiz`, …).
    pub module: String,
    /// Activity name.
    pub name: String,
    /// Section number.
    pub section: i64,
    /// Visibility.
    pub visible: bool,
}

/// A file in `course show --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDoc {
    /// Moodle content hash (SHA-1, hex).
    pub sha1: String,
    /// publishflow content key (SHA-256, hex).
    pub sha256: String,
    /// Size in bytes.
    pub size: i64,
    /// File name.
    pub filename: String,
}

/// `course show --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CourseDetailDoc {
    /// The course's list fields.
    #[serde(flatten)]
    pub course: CourseDoc,
    /// Sections in order.
    pub sections: Vec<SectionDoc>,
    /// Activities in section order.
    pub activities: Vec<ActivityDoc>,
    /// Files of the course.
    pub files: Vec<FileDoc>,
}
