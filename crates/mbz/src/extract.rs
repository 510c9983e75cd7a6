//! Reading the platform's view of a course out of parsed backup parts.

use crate::compact::Interner;
use crate::model::{
    opt, BackupInfo, BackupKind, CourseFields, FileRecord, Section, Sha1Hex, Text, NULL,
};
use crate::xml::Element;

fn int(e: &Element, name: &str) -> i64 {
    e.child_text(name)
        .and_then(|t| t.trim().parse::<f64>().ok())
        .map_or(0, |v| v as i64)
}

fn text(e: &Element, name: &str) -> String {
    e.child_text(name).unwrap_or_default()
}

fn flag(e: &Element, name: &str) -> bool {
    e.child_text(name)
        .is_some_and(|t| t.trim() != "0" && !t.trim().is_empty())
}

/// An activity listed in `moodle_backup.xml` `contents/activities`.
#[derive(Debug, Clone)]
pub(crate) struct ListedActivity {
    pub moduleid: i64,
    pub sectionid: i64,
    pub modulename: String,
    pub directory: String,
}

/// A section listed in `contents/sections`.
#[derive(Debug, Clone)]
pub(crate) struct ListedSection {
    pub directory: String,
}

/// What `moodle_backup.xml` says.
#[derive(Debug, Clone)]
pub(crate) struct Manifest {
    pub info: BackupInfo,
    pub kind: BackupKind,
    pub activities: Vec<ListedActivity>,
    pub sections: Vec<ListedSection>,
}

pub(crate) fn manifest(root: &Element) -> Result<Manifest, String> {
    if root.name != "moodle_backup" {
        return Err(format!("moodle_backup.xml root is <{}>", root.name));
    }
    let info = root
        .child("information")
        .ok_or("moodle_backup.xml has no <information>")?;
    let detail = info.at("details/detail");
    let kind = match detail.and_then(|d| d.child_text("type")).as_deref() {
        Some("course") => BackupKind::Course,
        Some("activity") => BackupKind::Activity,
        Some(other) => return Err(format!("unsupported backup type {other:?}")),
        None => return Err("moodle_backup.xml has no details/detail/type".into()),
    };
    let setting = |n: &str| {
        info.child("settings").and_then(|s| {
            s.elems()
                .find(|x| {
                    x.child_text("level").as_deref() == Some("root")
                        && x.child_text("name").as_deref() == Some(n)
                })
                .and_then(|x| x.child_text("value"))
        })
    };
    let bi = BackupInfo {
        name: text(info, "name"),
        moodle_version: text(info, "moodle_version"),
        moodle_release: text(info, "moodle_release"),
        backup_version: text(info, "backup_version"),
        backup_release: text(info, "backup_release"),
        backup_date: int(info, "backup_date"),
        original_wwwroot: text(info, "original_wwwroot"),
        original_site_identifier_hash: text(info, "original_site_identifier_hash"),
        original_course_id: int(info, "original_course_id"),
        original_course_fullname: text(info, "original_course_fullname"),
        original_course_shortname: text(info, "original_course_shortname"),
        original_course_contextid: int(info, "original_course_contextid"),
        original_system_contextid: int(info, "original_system_contextid"),
        backup_id: detail
            .and_then(|d| d.attr("backup_id"))
            .unwrap_or_default()
            .to_owned(),
        had_users: setting("users").is_some_and(|v| v.trim() == "1"),
        had_anonymize: setting("anonymize").is_some_and(|v| v.trim() == "1"),
    };
    let mut activities = Vec::new();
    if let Some(acts) = info.at("contents/activities") {
        for a in acts.elems().filter(|a| a.name == "activity") {
            let directory = text(a, "directory");
            let modulename = text(a, "modulename");
            if directory.is_empty() || modulename.is_empty() {
                return Err("an activity in contents has no directory or modulename".into());
            }
            activities.push(ListedActivity {
                moduleid: int(a, "moduleid"),
                sectionid: int(a, "sectionid"),
                modulename,
                directory,
            });
        }
    }
    let mut sections = Vec::new();
    if let Some(secs) = info.at("contents/sections") {
        for s in secs.elems().filter(|s| s.name == "section") {
            sections.push(ListedSection {
                directory: text(s, "directory"),
            });
        }
    }
    Ok(Manifest {
        info: bi,
        kind,
        activities,
        sections,
    })
}

pub(crate) fn course(root: &Element) -> CourseFields {
    CourseFields {
        fullname: text(root, "fullname"),
        shortname: text(root, "shortname"),
        idnumber: text(root, "idnumber"),
        summary: opt(root.child_text("summary")).unwrap_or_default(),
        format: text(root, "format"),
        startdate: int(root, "startdate"),
        enddate: int(root, "enddate"),
        lang: text(root, "lang"),
        visible: flag(root, "visible"),
        original_id: root.attr("id").and_then(|v| v.parse().ok()),
        contextid: root.attr("contextid").and_then(|v| v.parse().ok()),
    }
}

/// A section and its raw `sequence`.
pub(crate) fn section(root: &Element) -> (Section, Vec<i64>) {
    let seq = text(root, "sequence")
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let s = Section {
        original_id: root.attr("id").and_then(|v| v.parse().ok()),
        number: u32::try_from(int(root, "number")).unwrap_or(0),
        name: opt(root.child_text("name")),
        summary: opt(root.child_text("summary")).unwrap_or_default(),
        visible: flag(root, "visible"),
    };
    (s, seq)
}

/// `module.xml`: (visible, section number).
pub(crate) fn module(root: &Element) -> (bool, u32) {
    (
        flag(root, "visible"),
        u32::try_from(int(root, "sectionnumber")).unwrap_or(0),
    )
}

/// The module's own XML (`<activity><MOD>…`).
#[derive(Debug, Clone, Default)]
pub(crate) struct ModuleData {
    pub instance_id: Option<i64>,
    pub contextid: Option<i64>,
    pub name: String,
    pub intro: String,
    pub html: Option<String>,
    pub external_url: Option<String>,
    pub question_count: Option<u32>,
}

pub(crate) fn module_data(root: &Element, module: &str) -> ModuleData {
    let m = root.child(module);
    let get = |n: &str| m.and_then(|m| opt(m.child_text(n)));
    let question_count = (module == "quiz").then(|| {
        m.and_then(|m| m.child("question_instances"))
            .map_or(0, |qi| {
                qi.elems().filter(|e| e.name == "question_instance").count() as u32
            })
    });
    ModuleData {
        instance_id: root.attr("id").and_then(|v| v.parse().ok()),
        contextid: root.attr("contextid").and_then(|v| v.parse().ok()),
        name: get("name").unwrap_or_default(),
        intro: get("intro").unwrap_or_default(),
        html: if module == "page" {
            get("content")
        } else {
            None
        },
        external_url: if module == "url" {
            get("externalurl")
        } else {
            None
        },
        question_count,
    }
}

/// Count question categories and question versions in `questions.xml`
/// (the tree version; import counts record by record).
#[cfg(test)]
pub(crate) fn question_counts(root: &Element) -> (u32, u32) {
    fn walk(e: &Element, parent: &str, cats: &mut u32, qs: &mut u32) {
        for c in e.elems() {
            if c.name == "question_category" {
                *cats += 1;
            }
            if c.name == "question" && parent == "questions" {
                *qs += 1;
            }
            walk(c, &c.name, cats, qs);
        }
    }
    let (mut c, mut q) = (0, 0);
    walk(root, &root.name, &mut c, &mut q);
    (c, q)
}

/// One `files.xml` record (SHA-256 is filled in later). The strings that
/// repeat from record to record come from `strings`.
pub(crate) fn file_record(f: &Element, strings: &mut Interner) -> FileRecord {
    let mut shared = |name: &str| strings.get(&text(f, name));
    let filepath = shared("filepath");
    let component = shared("component");
    let filearea = shared("filearea");
    let filename = text(f, "filename");
    let filename = if filename == "." {
        strings.get(".")
    } else {
        Text::from(filename)
    };
    let mut opt_shared = |name: &str| opt(f.child_text(name)).map(|v| strings.get(&v));
    FileRecord {
        id: f.attr("id").and_then(|v| v.parse().ok()),
        contenthash: Sha1Hex::from(text(f, "contenthash").trim().to_ascii_lowercase()),
        sha256: None,
        size: u64::try_from(int(f, "filesize")).unwrap_or(0),
        filename,
        filepath,
        mimetype: opt_shared("mimetype"),
        component,
        filearea,
        contextid: f
            .child_text("contextid")
            .and_then(|t| t.trim().parse().ok()),
        itemid: int(f, "itemid"),
        author: opt_shared("author"),
        license: opt_shared("license"),
        timecreated: int(f, "timecreated"),
        timemodified: int(f, "timemodified"),
        owner: None,
    }
}

/// Largest integer id-like value in a tree: attributes named `*id` and
/// elements named `*id` with a numeric text.
pub(crate) fn max_id(e: &Element) -> i64 {
    let mut m = 0;
    for (k, v) in &e.attrs {
        if k.ends_with("id") {
            if let Ok(n) = v.trim().parse::<i64>() {
                m = m.max(n);
            }
        }
    }
    if e.name.ends_with("id") {
        let t = e.text();
        if t != NULL {
            if let Ok(n) = t.trim().parse::<i64>() {
                m = m.max(n);
            }
        }
    }
    for c in e.elems() {
        m = m.max(max_id(c));
    }
    m
}
