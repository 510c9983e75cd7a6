//! The independent user-data scanner.
//!
//! Run on every finished archive before it leaves the platform. It shares
//! no logic with the stripper ([`crate::import()`]): it streams each XML part
//! through its own event-based pass with its own tables and reports every
//! trace of user data it finds, with the part path and what it saw. A
//! finding means the stripper has a bug; the caller fails the job.
//!
//! [`scan_transport`] scans a transport set from its skeleton parts alone: the scanner's
//! verdict depends on the XML (and the entry names), never on a blob's bytes, so blob bodies are
//! not read. A verdict depends only on the content, which the manifest's SHA-256 names, so a
//! platform records it with the archive ([`SCANNER_VERSION`] included) and does not scan again
//! until that hash (or the scanner) changes.

use std::fs::File;
use std::io::{BufRead, Read, Seek};
use std::path::Path;

use quick_xml::events::Event;
use quick_xml::Reader;
use serde::{Deserialize, Serialize};

use crate::container::for_each_entry;
use crate::error::{MbzError, Result};
use crate::import::blob_name;
use crate::limits::Limits;
use crate::stream::{self, Capped};
use crate::transport::{for_each_skeleton_entry, ManifestPart, TransportManifest};

/// One trace of user data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Archive path of the part.
    pub part: String,
    /// What was found there.
    pub what: String,
}

/// The scanner's verdict on one archive.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanReport {
    /// Entries looked at.
    pub entries: u64,
    /// Every finding (capped at [`MAX_FINDINGS`]).
    pub findings: Vec<Finding>,
}

/// Most findings kept in one report.
pub const MAX_FINDINGS: usize = 10_000;

impl ScanReport {
    /// No user data found.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Scan the `.mbz` file at `path`.
pub fn scan_file(path: &Path, limits: &Limits) -> Result<ScanReport> {
    scan(File::open(path)?, limits)
}

/// Scan an archive for user data.
pub fn scan<R: Read + Seek>(input: R, limits: &Limits) -> Result<ScanReport> {
    let mut report = ScanReport::default();
    for_each_entry(input, limits, |meta, data| {
        scan_entry(&mut report, &meta.path, meta.size, data, limits)
    })?;
    Ok(report)
}

/// Version of the scanner's rules: a verdict recorded under another version is not reused.
/// Bump it whenever the tables or checks below change.
pub const SCANNER_VERSION: &str = "1";

/// The scanner's verdict on a transport set, and whether `moodle_backup.xml` passes Moodle's
/// own format detection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransportScan {
    /// What the scanner found.
    pub report: ScanReport,
    /// `moodle_backup.xml` is present and its first 200 bytes pass Moodle's detection.
    pub moodle2: bool,
}

/// Scan a transport set without assembling it: every skeleton part is read (and verified) and
/// each XML entry scanned exactly as in a `.mbz`; blob parts are never opened (their bodies
/// are opaque files; their names `files/xx/<sha1>` are looked at like any entry's).
pub fn scan_transport<F>(
    manifest: &TransportManifest,
    open: F,
    limits: &Limits,
) -> Result<TransportScan>
where
    F: FnMut(&ManifestPart) -> std::io::Result<Box<dyn Read>>,
{
    let mut out = TransportScan::default();
    for part in &manifest.parts {
        if blob_name(&part.path).is_some() {
            scan_entry(
                &mut out.report,
                &part.path,
                part.size,
                &mut std::io::empty(),
                limits,
            )?;
        }
    }
    for_each_skeleton_entry(manifest, open, |path, size, data| {
        if path == "moodle_backup.xml" {
            let mut head = Vec::new();
            let mut xml = Vec::new();
            data.take(limits.max_xml_bytes + 1).read_to_end(&mut xml)?;
            head.extend_from_slice(&xml[..xml.len().min(200)]);
            out.moodle2 = crate::detect::moodle2_head(&head);
            return scan_entry(&mut out.report, path, size, &mut &xml[..], limits);
        }
        scan_entry(&mut out.report, path, size, data, limits)
    })?;
    Ok(out)
}

/// Scan one entry (its path and body) into `report`.
fn scan_entry(
    report: &mut ScanReport,
    p: &str,
    size: u64,
    data: &mut dyn Read,
    limits: &Limits,
) -> Result<()> {
    report.entries += 1;
    let file = p.rsplit('/').next().unwrap_or(p);
    let mut found = |what: String| {
        if report.findings.len() < MAX_FINDINGS {
            report.findings.push(Finding {
                part: p.to_owned(),
                what,
            });
        }
    };
    match file {
        "users.xml" if p == "users.xml" => found("users.xml is present".into()),
        "moodle_backup.log" => found("the backup log is present".into()),
        "logs.xml" | "logstores.xml" => found("a log part is present".into()),
        "xapistate.xml" => found("xAPI state is present".into()),
        _ => {}
    }
    if !file.ends_with(".xml") {
        return Ok(());
    }
    let cap = stream::part_cap(p, limits);
    if size > cap {
        return Err(MbzError::EntryTooLarge {
            path: p.to_owned(),
            size,
            limit: cap,
        });
    }
    let input = Capped::new(stream::checked(data), limits.max_xml_bytes, cap);
    scan_xml(p, input, limits.max_xml_depth, &mut found)
}

/// (parent element, child element) pairs that are user records.
const RECORDS: &[(&str, &str)] = &[
    ("user_enrolments", "enrolment"),
    ("role_assignments", "assignment"),
    ("group_members", "group_member"),
    ("grade_grades", "grade_grade"),
    ("completions", "completion"),
    ("completionviews", "completionview"),
    ("course_completions", "course_completion"),
    (
        "course_completion_crit_completions",
        "course_completion_crit_compl",
    ),
    ("comments", "comment"),
    ("ratings", "rating"),
    ("discussions", "discussion"),
    ("posts", "post"),
    ("attempts", "attempt"),
    ("submissions", "submission"),
    ("entries", "entry"),
    ("records", "record"),
    ("userref", "user"),
    ("users", "user"),
    ("manual_awards", "manual_award"),
    ("subwikis", "subwiki"),
    ("completeds", "completed"),
    ("userflags", "userflag"),
    ("subscriptions", "subscription"),
    ("digests", "digest"),
    ("readposts", "readpost"),
    ("messages", "message"),
    ("logs", "log"),
    ("timers", "timer"),
    ("user_competencies", "user_competency"),
];

/// Learner file areas, as `component/filearea` with `*` wildcards.
const LEARNER_AREAS: &[&str] = &[
    "user/*",
    "blog/*",
    "mod_wiki/*",
    "assignsubmission_*/*",
    "assignfeedback_*/*",
    "mod_forum/post",
    "mod_forum/attachment",
    "mod_assignment/submission",
    "mod_assignment/response",
    "question/response_*",
    "mod_glossary/entry",
    "mod_glossary/attachment",
    "mod_data/content",
    "mod_workshop/submission_*",
    "mod_workshop/overallfeedback_*",
    "mod_lesson/essay_*",
    "grade/feedback",
    "grade/historyfeedback",
    "badges/userbadge",
];

fn glob(pat: &str, s: &str) -> bool {
    match pat.split_once('*') {
        None => pat == s,
        Some((pre, post)) => {
            s.len() >= pre.len() + post.len() && s.starts_with(pre) && s.ends_with(post)
        }
    }
}

fn learner(component: &str, area: &str) -> bool {
    LEARNER_AREAS.iter().any(|p| {
        let (c, a) = p.split_once('/').unwrap_or((p, "*"));
        glob(c, component) && glob(a, area)
    })
}

fn is_null(v: &str) -> bool {
    let v = v.trim();
    v.is_empty() || v == "$@NULL@$" || v == "0"
}

/// Children of records the checks below look at (others are not kept).
const WATCHED: &[&str] = &[
    "userid",
    "component",
    "filearea",
    "filename",
    "name",
    "value",
];

/// Scan one XML part as it streams by (one event in memory at a time,
/// bounded by the [`Capped`] reader); reports what it finds to `out`.
fn scan_xml<R: BufRead>(
    part: &str,
    input: Capped<R>,
    max_depth: usize,
    out: &mut dyn FnMut(String),
) -> Result<()> {
    let mut r = Reader::from_reader(input);
    let mut buf = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    let mut push = |what: String| out(what);
    let mut leaf_text = String::new();
    // Per-record state for files.xml, settings and overrides.
    let mut rec: Vec<(String, String)> = Vec::new();
    let module_xml = part.starts_with("activities/") && {
        let dir = part.split('/').nth(1).unwrap_or("");
        let m = dir.rsplit_once('_').map_or("", |x| x.0);
        part.ends_with(&format!("/{m}.xml"))
    };
    loop {
        buf.clear();
        r.get_mut().mark();
        let res = r.read_event_into(&mut buf);
        if r.get_mut().over() {
            return Err(MbzError::EntryTooLarge {
                path: part.to_owned(),
                size: r.get_ref().pos(),
                limit: r.get_ref().limit_hit(),
            });
        }
        let ev = res.map_err(|e| MbzError::xml(part, stream::io_reason(&e)))?;
        match ev {
            Event::DocType(_) => return Err(MbzError::xml(part, "DOCTYPE is not allowed")),
            Event::Start(ref s) | Event::Empty(ref s) => {
                let empty = matches!(ev, Event::Empty(_));
                let name = String::from_utf8_lossy(s.name().as_ref()).into_owned();
                let parent = stack.last().map_or("", String::as_str);
                if RECORDS.iter().any(|(p, c)| *p == parent && *c == name) {
                    push(format!("user record <{name}> in <{parent}>"));
                }
                if module_xml && parent == "grades" && name == "grade" {
                    push("per-user grade in the module's grades".into());
                }
                let choice = part.contains("/choice_") || part.contains("/survey_");
                if module_xml && choice && parent == "answers" && name == "answer" {
                    push("a user's answer".into());
                }
                if matches!(name.as_str(), "file" | "setting" | "override" | "enrol") {
                    rec.clear();
                }
                leaf_text.clear();
                if empty {
                    if WATCHED.contains(&name.as_str()) {
                        rec.push((name, String::new()));
                    }
                    continue;
                }
                if stack.len() >= max_depth {
                    return Err(MbzError::xml(part, "nesting too deep"));
                }
                stack.push(name);
            }
            Event::Text(t) => {
                leaf_text.push_str(&t.decode().map_err(|e| MbzError::xml(part, e.to_string()))?)
            }
            Event::GeneralRef(_) | Event::CData(_) => leaf_text.push('x'),
            Event::End(_) => {
                let name = stack.pop().unwrap_or_default();
                match name.as_str() {
                    "file" if part == "files.xml" => {
                        let get = |k: &str| {
                            rec.iter()
                                .find(|(n, _)| n == k)
                                .map_or("", |(_, v)| v.as_str())
                        };
                        if !is_null(get("userid")) {
                            push(format!("file record keeps userid {}", get("userid")));
                        }
                        if learner(get("component"), get("filearea")) {
                            push(format!(
                                "learner file {}:{} {}",
                                get("component"),
                                get("filearea"),
                                get("filename")
                            ));
                        }
                    }
                    "setting" if part == "moodle_backup.xml" => {
                        let get = |k: &str| {
                            rec.iter()
                                .find(|(n, _)| n == k)
                                .map_or("", |(_, v)| v.as_str())
                        };
                        let n = get("name");
                        let user = matches!(
                            n,
                            "users"
                                | "anonymize"
                                | "role_assignments"
                                | "userscompletion"
                                | "logs"
                                | "grade_histories"
                        ) || n.ends_with("_userinfo");
                        if user && get("value").trim() != "0" {
                            push(format!("setting {n} = {}", get("value")));
                        }
                    }
                    "override" => {
                        let uid = rec
                            .iter()
                            .find(|(n, _)| n == "userid")
                            .map_or("", |(_, v)| v.as_str());
                        if !is_null(uid) {
                            push(format!("override for user {uid}"));
                        }
                    }
                    "password"
                        if stack.last().map(String::as_str) == Some("enrol")
                            && !is_null(&leaf_text) =>
                    {
                        push("enrolment password".into());
                    }
                    _ => {}
                }
                if WATCHED.contains(&name.as_str()) {
                    if rec.len() >= 4096 {
                        rec.drain(..2048);
                    }
                    rec.push((name, std::mem::take(&mut leaf_text)));
                } else {
                    leaf_text.clear();
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(())
}
