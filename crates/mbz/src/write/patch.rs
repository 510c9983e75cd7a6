//! Applying the platform's edits to preserved parts.
//!
//! Each patcher changes a parsed part only where the model differs from it;
//! the caller keeps the original bytes when the tree is unchanged (compared
//! ignoring whitespace), so an unedited course exports byte-identical parts.

use std::collections::{BTreeSet, HashSet};

use super::native::{empty, indent, setting};
use super::plan::Resolved;
use crate::model::{opt, Activity, BackupKind, CourseFields, Section, NULL};
use crate::xml::{leaf, Element, Node};

/// Set `name`'s text unless it already says the same (NULL ≡ "" when
/// `null_is_empty`); children that do not exist are left alone.
fn set_if(e: &mut Element, name: &str, value: &str, null_is_empty: bool) {
    if let Some(c) = e.child_mut(name) {
        let cur = c.text();
        let same = cur == value || (null_is_empty && value.is_empty() && cur == NULL);
        if !same {
            c.set_text(value);
        }
    }
}

fn bit(v: bool) -> &'static str {
    if v {
        "1"
    } else {
        "0"
    }
}

pub(crate) fn course(root: &mut Element, c: &CourseFields) {
    set_if(root, "shortname", &c.shortname, false);
    set_if(root, "fullname", &c.fullname, false);
    set_if(root, "idnumber", &c.idnumber, false);
    set_if(root, "summary", &c.summary, true);
    set_if(root, "format", &c.format, false);
    set_if(root, "startdate", &c.startdate.to_string(), false);
    set_if(root, "enddate", &c.enddate.to_string(), false);
    set_if(root, "lang", &c.lang, true);
    set_if(root, "visible", bit(c.visible), false);
}

pub(crate) fn section(root: &mut Element, s: &Section, sequence: &[i64], known: &HashSet<i64>) {
    set_if(root, "number", &s.number.to_string(), false);
    if opt(root.child_text("name")) != s.name {
        root.set_child_text("name", s.name.as_deref().unwrap_or(NULL));
    }
    set_if(root, "summary", &s.summary, true);
    set_if(root, "visible", bit(s.visible), false);
    let cur: Vec<i64> = root
        .child_text("sequence")
        .unwrap_or_default()
        .split(',')
        .filter_map(|x| x.trim().parse().ok())
        .filter(|c| known.contains(c))
        .collect();
    if cur != sequence {
        let seq: Vec<String> = sequence.iter().map(i64::to_string).collect();
        root.set_child_text("sequence", &seq.join(","));
    }
}

pub(crate) fn module(root: &mut Element, a: &Activity, section_id: i64) {
    set_if(root, "visible", bit(a.visible), false);
    set_if(root, "sectionid", &section_id.to_string(), false);
    set_if(root, "sectionnumber", &a.section_number.to_string(), false);
}

pub(crate) fn moddata(root: &mut Element, a: &Activity) {
    let Some(m) = root.child_mut(&a.module) else {
        return;
    };
    set_if(m, "name", &a.name, false);
    set_if(m, "intro", &a.intro, true);
    if let Some(html) = &a.content.html {
        set_if(m, "content", html, true);
    }
    if let Some(url) = &a.content.external_url {
        set_if(m, "externalurl", url, false);
    }
}

fn contents(r: &Resolved<'_>, old: Option<&Element>) -> Element {
    let old_title = |kind: &str, key: &str, id: i64| {
        old.and_then(|c| c.child(kind))
            .and_then(|l| {
                l.elems()
                    .find(|e| e.child_text(key).and_then(|t| t.parse().ok()) == Some(id))
            })
            .and_then(|e| e.child_text("title"))
    };
    let mut c = Element::new("contents");
    if !r.acts.is_empty() {
        let mut list = Element::new("activities");
        for ra in &r.acts {
            let a = &r.course.course.activities[ra.idx];
            let mut e = Element::new("activity");
            for x in [
                leaf("moduleid", &ra.cmid.to_string()),
                leaf("sectionid", &ra.section_id.to_string()),
                leaf("modulename", &a.module),
                leaf(
                    "title",
                    &old_title("activities", "moduleid", ra.cmid).unwrap_or_else(|| a.name.clone()),
                ),
                leaf("directory", &ra.dir),
            ] {
                e.children.push(Node::Elem(x));
            }
            list.children.push(Node::Elem(e));
        }
        c.children.push(Node::Elem(list));
    }
    let mut secs = Element::new("sections");
    for rs in &r.sections {
        let s = &r.course.course.sections[rs.idx];
        let title = old_title("sections", "sectionid", rs.id)
            .unwrap_or_else(|| s.name.clone().unwrap_or_else(|| s.number.to_string()));
        let mut e = Element::new("section");
        for x in [
            leaf("sectionid", &rs.id.to_string()),
            leaf("title", &title),
            leaf("directory", &rs.dir),
        ] {
            e.children.push(Node::Elem(x));
        }
        secs.children.push(Node::Elem(e));
    }
    c.children.push(Node::Elem(secs));
    let mut course = Element::new("course");
    for x in [
        leaf("courseid", &r.course_id.to_string()),
        leaf("title", &r.course.course.fields.shortname),
        leaf("directory", "course"),
    ] {
        course.children.push(Node::Elem(x));
    }
    c.children.push(Node::Elem(course));
    indent(&mut c, 2);
    c
}

/// Identity of the contents, ignoring titles and order.
fn contents_key(c: &Element) -> BTreeSet<String> {
    let mut k = BTreeSet::new();
    for list in c.elems() {
        for e in list.elems() {
            let f = |n: &str| e.child_text(n).unwrap_or_default();
            k.insert(format!(
                "{}|{}|{}|{}|{}|{}|{}",
                list.name,
                e.name,
                f("moduleid"),
                f("sectionid"),
                f("modulename"),
                f("directory"),
                f("courseid")
            ));
        }
        if list.name == "course" {
            k.insert(format!(
                "course|{}",
                list.child_text("courseid").unwrap_or_default()
            ));
        }
    }
    k
}

fn wanted_settings(r: &Resolved<'_>) -> Vec<Element> {
    let mut out = Vec::new();
    for rs in &r.sections {
        let base = rs.dir.rsplit('/').next().unwrap_or(&rs.dir).to_owned();
        out.push(setting(
            "section",
            Some(("section", &base)),
            &format!("{base}_included"),
            "1",
        ));
        out.push(setting(
            "section",
            Some(("section", &base)),
            &format!("{base}_userinfo"),
            "0",
        ));
        let number = r.course.course.sections[rs.idx].number;
        for ra in r
            .acts
            .iter()
            .filter(|ra| r.course.course.activities[ra.idx].section_number == number)
        {
            let base = ra.dir.rsplit('/').next().unwrap_or(&ra.dir).to_owned();
            out.push(setting(
                "activity",
                Some(("activity", &base)),
                &format!("{base}_included"),
                "1",
            ));
            out.push(setting(
                "activity",
                Some(("activity", &base)),
                &format!("{base}_userinfo"),
                "0",
            ));
        }
    }
    out
}

pub(crate) fn manifest(root: &mut Element, r: &Resolved<'_>) {
    let Some(info) = root.child_mut("information") else {
        return;
    };
    if r.kind == BackupKind::Activity {
        if let Some(d) = info
            .child_mut("details")
            .and_then(|d| d.child_mut("detail"))
        {
            set_if(d, "type", "course", false);
        }
    }
    // Contents: rebuilt only when the set of items differs.
    let old = info.child("contents").cloned();
    let want = contents(r, old.as_ref());
    if old.as_ref().map(contents_key) != Some(contents_key(&want)) {
        match info
            .children
            .iter_mut()
            .find(|n| matches!(n, Node::Elem(e) if e.name == "contents"))
        {
            Some(n) => *n = Node::Elem(want),
            None => info.push_indented(want, 1),
        }
    }
    // Settings: root ones kept, section/activity ones rebuilt if they differ.
    let Some(settings) = info.child_mut("settings") else {
        return;
    };
    let name_of = |e: &Element| e.child_text("name").unwrap_or_default();
    let have: BTreeSet<String> = settings
        .elems()
        .filter(|s| s.child_text("level").as_deref() != Some("root"))
        .map(name_of)
        .collect();
    let wanted = wanted_settings(r);
    let want: BTreeSet<String> = wanted.iter().map(name_of).collect();
    if have != want {
        let roots: Vec<Element> = settings
            .elems()
            .filter(|s| s.child_text("level").as_deref() == Some("root"))
            .cloned()
            .collect();
        settings.children.clear();
        for s in roots.into_iter().chain(wanted) {
            settings.children.push(Node::Elem(s));
        }
        indent(settings, 2);
    }
    for s in settings.elems_mut() {
        let n = name_of(s);
        let level = s.child_text("level").unwrap_or_default();
        let user = (level == "root" && (n == "users" || n == "anonymize"))
            || (level != "root" && n.ends_with("_userinfo"));
        if user {
            set_if(s, "value", "0", false);
        }
    }
    let _ = empty;
}
