//! XML for natively authored items, in the shape Moodle 4.1 writes.

use crate::model::{or_null, Activity, CourseFields, FileRecord, NULL};
use crate::xml::{leaf, Element, Node};

/// Moodle 4.1 identity used for natively created courses.
pub(crate) const NATIVE_MOODLE_VERSION: &str = "2022112800";
pub(crate) const NATIVE_MOODLE_RELEASE: &str = "4.1 (Build: 20221128)";
pub(crate) const NATIVE_BACKUP_VERSION: &str = "2022112800";
pub(crate) const NATIVE_BACKUP_RELEASE: &str = "4.1";

/// Re-indent a tree the way Moodle's writer does (two spaces per level).
pub(crate) fn indent(el: &mut Element, depth: usize) {
    let has_elems = el.elems().next().is_some();
    if !has_elems {
        return;
    }
    let kids: Vec<Node> = el
        .children
        .drain(..)
        .filter(|n| matches!(n, Node::Elem(_)))
        .collect();
    for n in kids {
        if let Node::Elem(mut e) = n {
            indent(&mut e, depth + 1);
            el.children
                .push(Node::Text(format!("\n{}", "  ".repeat(depth + 1))));
            el.children.push(Node::Elem(e));
        }
    }
    el.children
        .push(Node::Text(format!("\n{}", "  ".repeat(depth))));
}

/// An element holding only whitespace, as Moodle writes empty containers.
pub(crate) fn empty(name: &str, depth: usize) -> Element {
    let mut e = Element::new(name);
    e.children
        .push(Node::Text(format!("\n{}", "  ".repeat(depth))));
    e
}

fn with(name: &str, attrs: &[(&str, String)], kids: Vec<Element>) -> Element {
    let mut e = Element::new(name);
    for (k, v) in attrs {
        e.set_attr(k, v);
    }
    e.children = kids.into_iter().map(Node::Elem).collect();
    e
}

fn b(v: bool) -> &'static str {
    if v {
        "1"
    } else {
        "0"
    }
}

/// Finish a root element into bytes.
pub(crate) fn doc(mut root: Element) -> Vec<u8> {
    indent(&mut root, 0);
    root.to_moodle_xml()
}

/// `<root>` with empty container children.
pub(crate) fn empty_doc(root: &str, containers: &[&str]) -> Vec<u8> {
    let mut r = Element::new(root);
    if containers.is_empty() {
        r.children.push(Node::Text("\n".into()));
        return r.to_moodle_xml();
    }
    for c in containers {
        r.push_indented(empty(c, 1), 0);
    }
    r.to_moodle_xml()
}

pub(crate) fn section_xml(
    id: i64,
    number: u32,
    s: &crate::model::Section,
    sequence: &str,
) -> Vec<u8> {
    doc(with(
        "section",
        &[("id", id.to_string())],
        vec![
            leaf("number", &number.to_string()),
            leaf("name", or_null(&s.name)),
            leaf("summary", &s.summary),
            leaf("summaryformat", "1"),
            leaf("sequence", sequence),
            leaf("visible", b(s.visible)),
            leaf("availabilityjson", NULL),
            leaf("component", NULL),
            leaf("itemid", NULL),
            leaf("timemodified", "0"),
        ],
    ))
}

pub(crate) fn inforef_xml(file_ids: &[i64]) -> Vec<u8> {
    let mut root = Element::new("inforef");
    if !file_ids.is_empty() {
        let refs = file_ids
            .iter()
            .map(|id| with("file", &[], vec![leaf("id", &id.to_string())]))
            .collect();
        root.children.push(Node::Elem(with("fileref", &[], refs)));
    }
    if root.children.is_empty() {
        root.children.push(Node::Text("\n".into()));
        return root.to_moodle_xml();
    }
    doc(root)
}

pub(crate) fn module_xml(cmid: i64, a: &Activity, section_id: i64) -> Vec<u8> {
    doc(with(
        "module",
        &[
            ("id", cmid.to_string()),
            ("version", NATIVE_BACKUP_VERSION.to_string()),
        ],
        vec![
            leaf("modulename", &a.module),
            leaf("sectionid", &section_id.to_string()),
            leaf("sectionnumber", &a.section_number.to_string()),
            leaf("idnumber", ""),
            leaf("added", "0"),
            leaf("score", "0"),
            leaf("indent", "0"),
            leaf("visible", b(a.visible)),
            leaf("visibleoncoursepage", "1"),
            leaf("visibleold", b(a.visible)),
            leaf("groupmode", "0"),
            leaf("groupingid", "0"),
            leaf("completion", "0"),
            leaf("completiongradeitemnumber", NULL),
            leaf("completionpassgrade", "0"),
            leaf("completionview", "0"),
            leaf("completionexpected", "0"),
            leaf("availability", NULL),
            leaf("showdescription", "0"),
            leaf("downloadcontent", "1"),
            leaf("lang", ""),
            empty("tags", 1),
        ],
    ))
}

/// The module's own XML for the modules the platform can author.
pub(crate) fn moddata_xml(a: &Activity, cmid: i64, instance: i64, ctx: i64) -> Option<Vec<u8>> {
    let mut kids = vec![
        leaf("name", &a.name),
        leaf("intro", &a.intro),
        leaf("introformat", "1"),
    ];
    let html = a.content.html.clone().unwrap_or_default();
    match a.module.as_str() {
        "page" => kids.extend([
            leaf("content", &html),
            leaf("contentformat", "1"),
            leaf("legacyfiles", "0"),
            leaf("legacyfileslast", NULL),
            leaf("display", "5"),
            leaf(
                "displayoptions",
                "a:2:{s:10:\"printintro\";s:1:\"0\";s:17:\"printlastmodified\";s:1:\"1\";}",
            ),
            leaf("revision", "1"),
        ]),
        "label" => {}
        "url" => kids.extend([
            leaf(
                "externalurl",
                a.content.external_url.as_deref().unwrap_or(""),
            ),
            leaf("display", "0"),
            leaf("displayoptions", "a:1:{s:10:\"printintro\";i:1;}"),
            leaf("parameters", "a:0:{}"),
        ]),
        "resource" => kids.extend([
            leaf("tobemigrated", "0"),
            leaf("legacyfiles", "0"),
            leaf("legacyfileslast", NULL),
            leaf("display", "0"),
            leaf("displayoptions", "a:1:{s:10:\"printintro\";i:1;}"),
            leaf("filterfiles", "0"),
            leaf("revision", "1"),
        ]),
        "folder" => kids.extend([
            leaf("revision", "1"),
            leaf("display", "0"),
            leaf("showexpanded", "1"),
            leaf("showdownloadfolder", "1"),
            leaf("forcedownload", "1"),
        ]),
        _ => return None,
    }
    kids.push(leaf("timemodified", "0"));
    let inner = with(&a.module, &[("id", instance.to_string())], kids);
    Some(doc(with(
        "activity",
        &[
            ("id", instance.to_string()),
            ("moduleid", cmid.to_string()),
            ("modulename", a.module.clone()),
            ("contextid", ctx.to_string()),
        ],
        vec![inner],
    )))
}

pub(crate) fn grades_xml() -> Vec<u8> {
    empty_doc("activity_gradebook", &["grade_items", "grade_letters"])
}

pub(crate) fn roles_xml() -> Vec<u8> {
    empty_doc("roles", &["role_overrides", "role_assignments"])
}

pub(crate) fn grade_history_xml() -> Vec<u8> {
    empty_doc("grade_history", &["grade_grades"])
}

/// A `files.xml` record.
pub(crate) fn file_elem(f: &FileRecord, id: i64, contextid: i64, sha1: &str) -> Element {
    let mut e = with(
        "file",
        &[("id", id.to_string())],
        vec![
            leaf("contenthash", sha1),
            leaf("contextid", &contextid.to_string()),
            leaf("component", &f.component),
            leaf("filearea", &f.filearea),
            leaf("itemid", &f.itemid.to_string()),
            leaf("filepath", &f.filepath),
            leaf("filename", &f.filename),
            leaf("userid", NULL),
            leaf("filesize", &f.size.to_string()),
            leaf("mimetype", or_null(&f.mimetype)),
            leaf("status", "0"),
            leaf("timecreated", &f.timecreated.to_string()),
            leaf("timemodified", &f.timemodified.to_string()),
            leaf("source", if f.filename == "." { NULL } else { &f.filename }),
            leaf("author", or_null(&f.author)),
            leaf("license", or_null(&f.license)),
            leaf("sortorder", "0"),
            leaf("repositorytype", NULL),
            leaf("repositoryid", NULL),
            leaf("reference", NULL),
        ],
    );
    indent(&mut e, 1);
    e
}

pub(crate) fn course_xml(id: i64, ctx: i64, c: &CourseFields) -> Vec<u8> {
    doc(with(
        "course",
        &[("id", id.to_string()), ("contextid", ctx.to_string())],
        vec![
            leaf("shortname", &c.shortname),
            leaf("fullname", &c.fullname),
            leaf("idnumber", &c.idnumber),
            leaf("summary", &c.summary),
            leaf("summaryformat", "1"),
            leaf("format", &c.format),
            leaf("showgrades", "1"),
            leaf("newsitems", "5"),
            leaf("startdate", &c.startdate.to_string()),
            leaf("enddate", &c.enddate.to_string()),
            leaf("marker", "0"),
            leaf("maxbytes", "0"),
            leaf("legacyfiles", "0"),
            leaf("showreports", "0"),
            leaf("visible", b(c.visible)),
            leaf("groupmode", "0"),
            leaf("groupmodeforce", "0"),
            leaf("defaultgroupingid", "0"),
            leaf("lang", &c.lang),
            leaf("theme", ""),
            leaf("timecreated", "0"),
            leaf("timemodified", "0"),
            leaf("requested", "0"),
            leaf("showactivitydates", "1"),
            leaf("showcompletionconditions", "1"),
            leaf("enablecompletion", "1"),
            leaf("completionnotify", "0"),
            with(
                "category",
                &[("id", "1".into())],
                vec![leaf("name", "Miscellaneous"), leaf("description", NULL)],
            ),
            empty("tags", 1),
            empty("customfields", 1),
            empty("courseformatoptions", 1),
        ],
    ))
}

/// The root of a native `moodle_backup.xml`; contents and settings are
/// filled in by the same patching code as imported archives.
pub(crate) fn manifest_root(course_id: i64, ctx: i64, c: &CourseFields) -> Element {
    let info = with(
        "information",
        &[],
        vec![
            leaf(
                "name",
                &format!("backup-moodle2-course-{course_id}-{}-nu.mbz", c.shortname),
            ),
            leaf("moodle_version", NATIVE_MOODLE_VERSION),
            leaf("moodle_release", NATIVE_MOODLE_RELEASE),
            leaf("backup_version", NATIVE_BACKUP_VERSION),
            leaf("backup_release", NATIVE_BACKUP_RELEASE),
            leaf("backup_date", "0"),
            leaf("mnet_remoteusers", "0"),
            leaf("include_files", "1"),
            leaf("include_file_references_to_external_content", "0"),
            leaf("original_wwwroot", "https://publishflow.invalid"),
            leaf("original_site_identifier_hash", ""),
            leaf("original_course_id", &course_id.to_string()),
            leaf("original_course_format", &c.format),
            leaf("original_course_fullname", &c.fullname),
            leaf("original_course_shortname", &c.shortname),
            leaf("original_course_startdate", &c.startdate.to_string()),
            leaf("original_course_enddate", &c.enddate.to_string()),
            leaf("original_course_contextid", &ctx.to_string()),
            leaf("original_system_contextid", "1"),
            with(
                "details",
                &[],
                vec![with(
                    "detail",
                    &[("backup_id", format!("{:032x}", course_id))],
                    vec![
                        leaf("type", "course"),
                        leaf("format", "moodle2"),
                        leaf("interactive", "1"),
                        leaf("mode", "10"),
                        leaf("execution", "1"),
                        leaf("executiontime", "0"),
                    ],
                )],
            ),
            Element::new("contents"),
            with("settings", &[], root_settings()),
        ],
    );
    let mut root = with("moodle_backup", &[], vec![info]);
    indent(&mut root, 0);
    root
}

fn root_settings() -> Vec<Element> {
    let on = [
        ("filename", "backup.mbz"),
        ("imscc11", "0"),
        ("users", "0"),
        ("anonymize", "0"),
        ("role_assignments", "0"),
        ("activities", "1"),
        ("blocks", "1"),
        ("files", "1"),
        ("filters", "1"),
        ("comments", "0"),
        ("badges", "0"),
        ("calendarevents", "1"),
        ("userscompletion", "0"),
        ("logs", "0"),
        ("grade_histories", "0"),
        ("questionbank", "1"),
        ("groups", "1"),
        ("competencies", "0"),
        ("customfield", "1"),
        ("contentbankcontent", "1"),
        ("legacyfiles", "1"),
    ];
    on.iter()
        .map(|(n, v)| setting("root", None, n, v))
        .collect()
}

/// One `<setting>`.
pub(crate) fn setting(
    level: &str,
    owner: Option<(&str, &str)>,
    name: &str,
    value: &str,
) -> Element {
    let mut kids = vec![leaf("level", level)];
    if let Some((tag, who)) = owner {
        kids.push(leaf(tag, who));
    }
    kids.push(leaf("name", name));
    kids.push(leaf("value", value));
    with("setting", &[], kids)
}

pub(crate) fn enrolments_xml() -> Vec<u8> {
    let mut r = Element::new("enrolments");
    r.push_indented(empty("enrols", 1), 0);
    r.to_moodle_xml()
}
