//! Removing user data (SPEC §5.2) from an archive's parts during import.
//!
//! Rules work on the parsed XML tree of each part:
//! - parts dropped whole: `users.xml`, `moodle_backup.log`, `logs.xml`,
//!   `logstores.xml`, `xapistate.xml`;
//! - containers emptied wherever they appear (enrolled users, role
//!   assignments, group members, grades and grade history, completion
//!   state, comments, ratings, badge awards, user competencies, user refs);
//! - per-module containers in `activities/<mod>_<cmid>/<mod>.xml` (forum
//!   discussions, quiz attempts, assign submissions, glossary entries…);
//! - user overrides (an `override` with a `userid`) removed;
//! - enrolment passwords blanked;
//! - `files.xml` records in learner areas removed and `userid` cleared on
//!   the rest; `inforef.xml` references to removed files dropped;
//! - `moodle_backup.xml` settings `users`, `anonymize`, the settings that
//!   depend on users, and every `_userinfo` set to 0.
//!
//! The independent check of the result lives in [`crate::scan()`], which
//! shares none of this code.

use std::collections::HashSet;

use crate::model::NULL;
use crate::xml::{Element, Node};

/// Parts never carried into an export.
pub(crate) fn part_dropped(path: &str) -> bool {
    let base = path.rsplit('/').next().unwrap_or(path);
    path == "users.xml"
        || path == "moodle_backup.log"
        || path == ".ARCHIVE_INDEX"
        || matches!(base, "logs.xml" | "logstores.xml" | "xapistate.xml")
}

/// Containers whose children are user records, in any part.
const GENERIC: &[&str] = &[
    "user_enrolments",
    "role_assignments",
    "group_members",
    "grade_grades",
    "completions",
    "completionviews",
    "course_completions",
    "course_completion_crit_completions",
    "ratings",
    "manual_awards",
    "user_competencies",
    "userref",
];

/// Containers of user records inside a module's own XML.
fn module_containers(module: &str) -> &'static [&'static str] {
    match module {
        "forum" => &[
            "discussions",
            "subscriptions",
            "digests",
            "readposts",
            "trackedprefs",
            "grades",
        ],
        "assign" => &["submissions", "grades", "userflags", "user_mappings"],
        "assignment" => &["submissions"],
        "quiz" => &["grades", "attempts"],
        "lesson" => &["attempts", "grades", "timers", "branches"],
        "glossary" => &["entries"],
        "data" => &["records"],
        "workshop" => &["submissions", "aggregations"],
        "wiki" => &["subwikis"],
        "choice" => &["answers"],
        "feedback" => &["completeds", "completedstmp"],
        "scorm" => &["sco_tracks", "scoes_tracks", "attempts"],
        "survey" => &["answers", "analysis"],
        "chat" => &["messages"],
        "h5pactivity" => &["attempts"],
        "lti" => &["submissions"],
        "bigbluebuttonbn" => &["logs"],
        "questionnaire" => &["responses", "attempts"],
        "studentquiz" => &[
            "attempts",
            "comments",
            "comment_histories",
            "rates",
            "progresses",
            "notifications",
            "state_histories",
        ],
        _ => &[],
    }
}

/// Whether a file area holds learner work (its records and blobs go).
pub(crate) fn learner_area(component: &str, filearea: &str) -> bool {
    match component {
        "user" | "blog" | "mod_wiki" => true,
        c if c.starts_with("assignsubmission_") || c.starts_with("assignfeedback_") => true,
        "mod_forum" => matches!(filearea, "post" | "attachment"),
        "mod_assignment" => matches!(filearea, "submission" | "response"),
        "question" => filearea.starts_with("response_"),
        "mod_glossary" => matches!(filearea, "entry" | "attachment"),
        "mod_data" => filearea == "content",
        "mod_workshop" => matches!(
            filearea,
            "submission_content"
                | "submission_attachment"
                | "overallfeedback_content"
                | "overallfeedback_attachment"
        ),
        "mod_lesson" => matches!(filearea, "essay_responses" | "essay_answers"),
        "grade" => matches!(filearea, "feedback" | "historyfeedback"),
        "badges" => filearea == "userbadge",
        "mod_studentquiz" => false,
        _ => false,
    }
}

/// Root settings that can only be on with user data.
const USER_SETTINGS: &[&str] = &[
    "users",
    "anonymize",
    "role_assignments",
    "comments",
    "userscompletion",
    "logs",
    "grade_histories",
    "xapistate",
];

/// Empty every container matching `is_container`; returns records removed.
fn empty_containers(el: &mut Element, depth: usize, is_container: &dyn Fn(&str) -> bool) -> u64 {
    let mut removed = 0;
    if is_container(&el.name) {
        let n = el.elems().count() as u64;
        if n > 0 {
            el.children = vec![Node::Text(format!("\n{}", "  ".repeat(depth)))];
            return n;
        }
    }
    for child in el.elems_mut() {
        removed += empty_containers(child, depth + 1, is_container);
    }
    removed
}

/// Remove `override` records that target a user.
fn drop_user_overrides(el: &mut Element) -> u64 {
    let before = el.children.len();
    el.children.retain(|n| match n {
        Node::Elem(e) if e.name == "override" => {
            let uid = e.child_text("userid").unwrap_or_default();
            uid.is_empty() || uid == NULL || uid == "0"
        }
        _ => true,
    });
    let mut removed = (before - el.children.len()) as u64;
    for c in el.elems_mut() {
        removed += drop_user_overrides(c);
    }
    removed
}

/// Strip one XML part in place; returns the number of records removed.
/// `dropped_files` holds the ids of `files.xml` records removed earlier.
pub(crate) fn strip_part(path: &str, root: &mut Element, dropped_files: &HashSet<i64>) -> u64 {
    let base = path.rsplit('/').next().unwrap_or(path);
    let mut removed = 0;
    if path == "moodle_backup.xml" {
        strip_settings(root);
        return 0;
    }
    if base == "comments.xml" {
        removed += empty_containers(root, 0, &|n| n == "comments");
    }
    if base == "grading.xml" {
        removed += empty_containers(root, 0, &|n| n == "instances" || n == "grading_instances");
    }
    let module = module_of(path);
    let extra = module.map(module_containers).unwrap_or(&[]);
    removed += empty_containers(root, 0, &|n| GENERIC.contains(&n) || extra.contains(&n));
    removed += drop_user_overrides(root);
    if base == "enrolments.xml" {
        blank_passwords(root);
    }
    if base == "inforef.xml" {
        removed += drop_filerefs(root, dropped_files);
    }
    removed
}

/// `activities/<mod>_<cmid>/<mod>.xml` → `Some(mod)`.
fn module_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("activities/")?;
    let (dir, file) = rest.split_once('/')?;
    let (module, _) = dir.rsplit_once('_')?;
    (file.strip_suffix(".xml")? == module).then_some(module)
}

fn blank_passwords(el: &mut Element) {
    for c in el.elems_mut() {
        if c.name == "password" {
            let t = c.text();
            if !t.is_empty() && t != NULL {
                c.set_text("");
            }
        } else {
            blank_passwords(c);
        }
    }
}

fn drop_filerefs(root: &mut Element, dropped: &HashSet<i64>) -> u64 {
    let mut removed = 0;
    for c in root.elems_mut().filter(|c| c.name == "fileref") {
        let before = c.children.len();
        c.children.retain(|n| match n {
            Node::Elem(f) => f
                .child_text("id")
                .and_then(|t| t.trim().parse::<i64>().ok())
                .is_none_or(|id| !dropped.contains(&id)),
            Node::Text(_) => true,
        });
        removed += (before - c.children.len()) as u64;
    }
    removed
}

fn strip_settings(root: &mut Element) {
    let Some(settings) = root
        .child_mut("information")
        .and_then(|i| i.child_mut("settings"))
    else {
        return;
    };
    for s in settings.elems_mut().filter(|s| s.name == "setting") {
        let level = s.child_text("level").unwrap_or_default();
        let name = s.child_text("name").unwrap_or_default();
        let user = (level == "root" && USER_SETTINGS.contains(&name.as_str()))
            || (level != "root" && name.ends_with("_userinfo"));
        if user && s.child_text("value").as_deref() != Some("0") {
            s.set_child_text("value", "0");
        }
    }
}

/// What happens to one `files.xml` record.
pub(crate) enum FileVerdict {
    /// A learner file: the record goes (with its id, when it has one).
    Drop(Option<i64>),
    /// Kept; `true` when its `userid` was cleared.
    Keep(bool),
}

/// Strip one `files.xml` record (a child of the root) in place.
pub(crate) fn strip_file_record(f: &mut Element) -> FileVerdict {
    if f.name != "file" {
        return FileVerdict::Keep(false);
    }
    let comp = f.child_text("component").unwrap_or_default();
    let area = f.child_text("filearea").unwrap_or_default();
    if learner_area(&comp, &area) {
        return FileVerdict::Drop(f.attr("id").and_then(|v| v.parse().ok()));
    }
    if f.child_text("userid").is_some_and(|u| u != NULL) {
        f.set_child_text("userid", NULL);
        return FileVerdict::Keep(true);
    }
    FileVerdict::Keep(false)
}

/// Whether the root of a streamed part is itself a container of user
/// records (then every record goes).
pub(crate) fn root_is_container(name: &str) -> bool {
    GENERIC.contains(&name)
}

/// Strip one record (a child of the root) of a streamed part other than
/// `files.xml` (no module containers apply there). `None`: the record is a
/// user override and goes; otherwise the number of records removed inside.
pub(crate) fn strip_record(rec: &mut Element) -> Option<u64> {
    let generic = |n: &str| GENERIC.contains(&n);
    let mut removed = empty_containers(rec, 1, &generic);
    if rec.name == "override" {
        let uid = rec.child_text("userid").unwrap_or_default();
        if !(uid.is_empty() || uid == NULL || uid == "0") {
            return None;
        }
    }
    removed += drop_user_overrides(rec);
    Some(removed)
}

/// Strip `files.xml`: remove learner-area records, clear `userid` on the
/// rest. Returns the ids of removed records. (The tree version, kept as the
/// reference the streamed import is tested against.)
#[cfg(test)]
pub(crate) fn strip_files(root: &mut Element) -> HashSet<i64> {
    let mut dropped = HashSet::new();
    root.children.retain(|n| match n {
        Node::Elem(f) if f.name == "file" => {
            let comp = f.child_text("component").unwrap_or_default();
            let area = f.child_text("filearea").unwrap_or_default();
            if learner_area(&comp, &area) {
                if let Some(id) = f.attr("id").and_then(|v| v.parse().ok()) {
                    dropped.insert(id);
                }
                false
            } else {
                true
            }
        }
        _ => true,
    });
    // Two adjacent whitespace nodes may be left behind; merge them away.
    let mut merged: Vec<Node> = Vec::with_capacity(root.children.len());
    for n in root.children.drain(..) {
        match (merged.last(), &n) {
            (Some(Node::Text(_)), Node::Text(_)) => {
                merged.pop();
                merged.push(n);
            }
            _ => merged.push(n),
        }
    }
    root.children = merged;
    for f in root.elems_mut().filter(|f| f.name == "file") {
        if f.child_text("userid").is_some_and(|u| u != NULL) {
            f.set_child_text("userid", NULL);
        }
    }
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_paths() {
        assert_eq!(module_of("activities/quiz_12/quiz.xml"), Some("quiz"));
        assert_eq!(module_of("activities/quiz_12/grades.xml"), None);
        assert_eq!(module_of("activities/my_mod_3/my_mod.xml"), Some("my_mod"));
    }
}
