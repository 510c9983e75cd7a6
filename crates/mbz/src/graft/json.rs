//! Ids inside JSON text of a grafted backup: `availability` conditions of
//! activities (and sections' `availabilityjson`) and the `filtercondition`
//! of Moodle 4 random-question sets.
//!
//! An id is rewritten only when it is certainly one of the grafted backup's
//! own (a course module, grade item, group, grouping or question category
//! the backup carries): those all move by the graft's offset. Any other id is
//! left as it is, with a warning (restore drops a condition that points at
//! nothing). The text is edited in place — only the changed values are
//! replaced, so key order, spacing and escapes stay as Moodle wrote them.

use std::collections::HashSet;
use std::ops::Range;

use serde_json::Value;

use super::renumber::Ids;
use crate::error::{MbzError, Result};
use crate::limits::Limits;
use crate::model::ImportedArchive;
use crate::staging::BlobSource;
use crate::stream::{checked, Records};
use crate::xml::{Element, Node};

/// The ids a grafted backup carries, by kind (source ids).
#[derive(Debug, Default, Clone)]
pub(crate) struct Known {
    pub cms: HashSet<i64>,
    pub grade_items: HashSet<i64>,
    pub groups: HashSet<i64>,
    pub groupings: HashSet<i64>,
    pub question_categories: HashSet<i64>,
}

/// Leaf elements whose text is JSON with ids.
const JSON_LEAVES: &[&str] = &["availability", "availabilityjson", "filtercondition"];

/// Rewrite the ids of every JSON leaf in `e` (source ids → grafted ids);
/// `part` names the part in warnings.
pub(crate) fn tree(ids: &Ids, known: &Known, e: &mut Element, part: &str, warn: &mut Vec<String>) {
    for n in &mut e.children {
        let Node::Elem(c) = n else { continue };
        if JSON_LEAVES.contains(&c.name.as_str()) && c.elems().next().is_none() {
            let text = c.text();
            if let Some(new) = rewrite(ids, known, &c.name, &text, part, warn) {
                c.set_text(&new);
            }
        } else {
            tree(ids, known, c, part, warn);
        }
    }
}

/// The rewritten JSON text, or `None` when nothing changes (or it is not
/// JSON: `$@NULL@$`, empty).
pub(crate) fn rewrite(
    ids: &Ids,
    known: &Known,
    leaf: &str,
    text: &str,
    part: &str,
    warn: &mut Vec<String>,
) -> Option<String> {
    let t = text.trim();
    if !(t.starts_with('{') || t.starts_with('[')) {
        return None;
    }
    let Ok(value) = serde_json::from_str::<Value>(t) else {
        warn.push(format!("{part}: {leaf} is not valid JSON; left as is"));
        return None;
    };
    let mut edits: Vec<(Vec<Seg>, String)> = Vec::new();
    let mut ctx = Walk {
        ids,
        known,
        part,
        warn,
        edits: &mut edits,
    };
    if leaf == "filtercondition" {
        ctx.filter(&value);
    } else {
        ctx.availability(&value, &[]);
    }
    if edits.is_empty() {
        return None;
    }
    let spans = scalar_spans(text)?;
    let mut out = String::with_capacity(text.len() + 16);
    let mut at = 0;
    for (path, range) in spans {
        if let Some((_, new)) = edits.iter().find(|(p, _)| *p == path) {
            out.push_str(&text[at..range.start]);
            out.push_str(new);
            at = range.end;
        }
    }
    out.push_str(&text[at..]);
    Some(out)
}

/// One step of a path into a JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

struct Walk<'a> {
    ids: &'a Ids,
    known: &'a Known,
    part: &'a str,
    warn: &'a mut Vec<String>,
    edits: &'a mut Vec<(Vec<Seg>, String)>,
}

/// A JSON number or numeric string as an id.
fn id_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `new` written in the style of `old` (number or string).
fn like(old: &Value, new: &str) -> String {
    match old {
        Value::String(_) => format!("\"{new}\""),
        _ => new.to_owned(),
    }
}

fn with(path: &[Seg], seg: Seg) -> Vec<Seg> {
    let mut p = path.to_vec();
    p.push(seg);
    p
}

impl Walk<'_> {
    /// Move id `v` at `path` when it is in `set`; warn otherwise.
    fn id(&mut self, path: Vec<Seg>, v: &Value, set: &HashSet<i64>, what: &str) {
        let Some(n) = id_of(v) else { return };
        if n <= 0 {
            return; // 0: any; -1: the previous activity (relative).
        }
        if set.contains(&n) {
            let m = self.ids.shift(n);
            self.edits.push((path, like(v, &m.to_string())));
        } else {
            self.warn.push(format!(
                "{}: a condition refers to {what} {n}, which is not in the backup; left as is",
                self.part
            ));
        }
    }

    /// An availability tree: `{"op", "c": [...]}` or a condition `{"type"…}`.
    fn availability(&mut self, v: &Value, path: &[Seg]) {
        let Value::Object(o) = v else { return };
        if let Some(Value::Array(c)) = o.get("c") {
            for (i, child) in c.iter().enumerate() {
                let mut p = with(path, Seg::Key("c".into()));
                p.push(Seg::Index(i));
                self.availability(child, &p);
            }
        }
        let Some(kind) = o.get("type").and_then(Value::as_str) else {
            return;
        };
        let k = self.known;
        let (key, set, what) = match kind {
            "completion" => ("cm", &k.cms, "course module"),
            "grade" => ("id", &k.grade_items, "grade item"),
            "group" => ("id", &k.groups, "group"),
            "grouping" => ("id", &k.groupings, "grouping"),
            "date" | "profile" | "language" => return,
            other => {
                if o.keys()
                    .any(|k| k == "id" || k == "cm" || k.ends_with("id"))
                {
                    self.warn.push(format!(
                        "{}: a {other:?} condition's ids were left as they are",
                        self.part
                    ));
                }
                return;
            }
        };
        if let Some(val) = o.get(key) {
            self.id(with(path, Seg::Key(key.into())), val, set, what);
        }
    }

    /// A random-question set's filter (Moodle 4.0–4.2 and 4.3+ shapes).
    fn filter(&mut self, v: &Value) {
        let Value::Object(o) = v else { return };
        let cats = &self.known.question_categories;
        if let Some(val) = o.get("questioncategoryid") {
            let p = vec![Seg::Key("questioncategoryid".into())];
            self.id(p, val, cats, "question category");
        }
        if let Some(Value::String(cat)) = o.get("cat") {
            // "categoryid,contextid"
            let mut it = cat.split(',');
            let (c, x) = (it.next(), it.next());
            match c.and_then(|c| c.trim().parse::<i64>().ok()) {
                Some(n) if cats.contains(&n) && it.next().is_none() => {
                    let mut new = self.ids.shift(n).to_string();
                    if let Some(x) = x {
                        match x.trim().parse::<i64>() {
                            Ok(x) => new.push_str(&format!(",{}", self.ids.ctx(x))),
                            Err(_) => new.push_str(&format!(",{x}")),
                        }
                    }
                    self.edits
                        .push((vec![Seg::Key("cat".into())], format!("\"{new}\"")));
                }
                _ => self.warn.push(format!(
                    "{}: a random-question filter refers to category {cat:?}, which is not in the backup; left as is",
                    self.part
                )),
            }
        }
        let values = o
            .get("filter")
            .and_then(|f| f.get("category"))
            .and_then(|c| c.get("values"));
        if let Some(Value::Array(vals)) = values {
            for (i, val) in vals.iter().enumerate() {
                let p = vec![
                    Seg::Key("filter".into()),
                    Seg::Key("category".into()),
                    Seg::Key("values".into()),
                    Seg::Index(i),
                ];
                self.id(p, val, cats, "question category");
            }
        }
        let tags = o
            .get("filter")
            .and_then(|f| f.get("qtagids"))
            .and_then(|t| t.get("values"))
            .or_else(|| o.get("tags"));
        if tags
            .and_then(Value::as_array)
            .is_some_and(|t| !t.is_empty())
        {
            self.warn.push(format!(
                "{}: a random-question filter's tag ids were left as they are",
                self.part
            ));
        }
    }
}

/// Every scalar (string, number, literal) of a JSON text with its path and
/// byte range; `None` if the text is not well-formed.
fn scalar_spans(text: &str) -> Option<Vec<(Vec<Seg>, Range<usize>)>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut path = Vec::new();
    let mut i = 0;
    value(b, &mut i, &mut path, &mut out)?;
    Some(out)
}

fn ws(b: &[u8], i: &mut usize) {
    while *i < b.len() && b[*i].is_ascii_whitespace() {
        *i += 1;
    }
}

/// End of the string starting at `b[i] == '"'` (after the closing quote).
fn string_end(b: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

fn value(
    b: &[u8],
    i: &mut usize,
    path: &mut Vec<Seg>,
    out: &mut Vec<(Vec<Seg>, Range<usize>)>,
) -> Option<()> {
    ws(b, i);
    match *b.get(*i)? {
        b'{' => {
            *i += 1;
            loop {
                ws(b, i);
                match *b.get(*i)? {
                    b'}' => {
                        *i += 1;
                        return Some(());
                    }
                    b',' => *i += 1,
                    b'"' => {
                        let end = string_end(b, *i)?;
                        let key: String = serde_json::from_slice(&b[*i..end]).ok()?;
                        *i = end;
                        ws(b, i);
                        (*b.get(*i)? == b':').then_some(())?;
                        *i += 1;
                        path.push(Seg::Key(key));
                        value(b, i, path, out)?;
                        path.pop();
                    }
                    _ => return None,
                }
            }
        }
        b'[' => {
            *i += 1;
            let mut n = 0;
            loop {
                ws(b, i);
                match *b.get(*i)? {
                    b']' => {
                        *i += 1;
                        return Some(());
                    }
                    b',' => *i += 1,
                    _ => {
                        path.push(Seg::Index(n));
                        value(b, i, path, out)?;
                        path.pop();
                        n += 1;
                    }
                }
            }
        }
        b'"' => {
            let end = string_end(b, *i)?;
            out.push((path.clone(), *i..end));
            *i = end;
            Some(())
        }
        _ => {
            let start = *i;
            while *i < b.len()
                && !matches!(b[*i], b',' | b'}' | b']')
                && !b[*i].is_ascii_whitespace()
            {
                *i += 1;
            }
            (*i > start).then_some(())?;
            out.push((path.clone(), start..*i));
            Some(())
        }
    }
}

/// The ids the backup carries, for the JSON rewrite: its course modules,
/// its activities' grade items, its groups and groupings, its question
/// categories.
pub(crate) fn known_ids<B: BlobSource>(
    source: &ImportedArchive,
    blobs: &B,
    limits: &Limits,
) -> Result<Known> {
    let sb = &source.base;
    let mut k = Known::default();
    let id = |e: &Element| e.attr("id").and_then(|v| v.trim().parse::<i64>().ok());
    for a in &source.course.activities {
        let Some(cmid) = a.cmid else { continue };
        k.cms.insert(cmid);
        let path = format!("activities/{}_{cmid}/grades.xml", a.module);
        if let Some(part) = sb.parts.get(&path) {
            let t = super::read(blobs, part, &path, limits)?;
            let items = t.child("grade_items").into_iter().flat_map(|g| g.elems());
            k.grade_items.extend(items.filter_map(id));
        }
    }
    if let Some(part) = sb.parts.get("groups.xml") {
        let t = super::read(blobs, part, "groups.xml", limits)?;
        k.groups
            .extend(t.elems().filter(|e| e.name == "group").filter_map(id));
        let gs = t.child("groupings").into_iter().flat_map(|g| g.elems());
        k.groupings.extend(gs.filter_map(id));
    }
    if let Some(part) = sb.parts.get("questions.xml") {
        let input = blobs
            .open_blob(&part.sha256)
            .map_err(|_| MbzError::MissingBlob(part.sha256.clone()))?;
        let mut recs = Records::open(checked(input), "questions.xml", limits)?;
        while let Some((_, rec)) = recs.next_step()? {
            if let Some(rec) = rec.filter(|r| r.name == "question_category") {
                k.question_categories.extend(id(&rec));
            }
        }
    }
    Ok(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> Ids {
        Ids {
            d: 1000,
            src_course: 3,
            src_course_ctx: 25,
            src_system_ctx: 1,
            dst_course: 7,
            dst_course_ctx: 70,
            dst_system_ctx: 2,
        }
    }

    fn known() -> Known {
        Known {
            cms: [12, 13].into(),
            grade_items: [34].into(),
            groups: [5].into(),
            groupings: [6].into(),
            question_categories: [40, 41].into(),
        }
    }

    fn run(leaf: &str, text: &str) -> (Option<String>, Vec<String>) {
        let mut w = Vec::new();
        let r = rewrite(
            &ids(),
            &known(),
            leaf,
            text,
            "activities/quiz_12/quiz.xml",
            &mut w,
        );
        (r, w)
    }

    #[test]
    fn availability_ids_of_the_backup_move_others_stay_with_a_warning() {
        let src = r#"{"op":"&","c":[{"type":"completion","cm":12,"e":1},{"op":"|","c":[{"type":"grade","id":34,"min":50},{"type":"group","id":5},{"type":"grouping","id":"6"}]},{"type":"completion","cm":99,"e":1},{"type":"completion","cm":-1,"e":1},{"type":"date","d":">=","t":1700000000},{"type":"group"}],"showc":[true,false,true,true,true,true]}"#;
        let (new, warn) = run("availability", src);
        assert_eq!(
            new.unwrap(),
            r#"{"op":"&","c":[{"type":"completion","cm":1012,"e":1},{"op":"|","c":[{"type":"grade","id":1034,"min":50},{"type":"group","id":1005},{"type":"grouping","id":"1006"}]},{"type":"completion","cm":99,"e":1},{"type":"completion","cm":-1,"e":1},{"type":"date","d":">=","t":1700000000},{"type":"group"}],"showc":[true,false,true,true,true,true]}"#
        );
        assert_eq!(warn.len(), 1, "{warn:?}");
        assert!(warn[0].contains("course module 99"), "{warn:?}");
        // Keys in any order, spaces and escapes kept.
        let src = "{ \"c\" : [ { \"cm\" : 13 , \"type\" : \"completion\" , \"x\" : \"a\\/b\" } ] , \"op\" : \"&\" }";
        let (new, _) = run("availabilityjson", src);
        assert_eq!(new.unwrap(), src.replace("13", "1013"));
        // Nothing to change, not JSON, unknown plugin condition.
        assert_eq!(
            run("availability", r#"{"op":"&","c":[],"showc":[]}"#),
            (None, vec![])
        );
        assert_eq!(run("availability", "$@NULL@$"), (None, vec![]));
        let (new, warn) = run(
            "availability",
            r#"{"op":"&","c":[{"type":"xp","levelid":3}]}"#,
        );
        assert!(new.is_none() && warn.len() == 1, "{warn:?}");
        let (new, warn) = run("availability", "{\"op\":");
        assert!(new.is_none() && warn[0].contains("not valid JSON"));
    }

    #[test]
    fn random_question_filters_follow_their_category() {
        let (new, warn) = run(
            "filtercondition",
            r#"{"questioncategoryid":"40","includingsubcategories":"0"}"#,
        );
        assert_eq!(
            new.unwrap(),
            r#"{"questioncategoryid":"1040","includingsubcategories":"0"}"#
        );
        assert!(warn.is_empty());
        let src = r#"{"filter":{"category":{"jointype":1,"values":[41],"filteroptions":{"includesubcategories":false}},"qtagids":{"jointype":1,"values":[]}},"cat":"41,25","qpage":0,"qperpage":100,"tabname":"questions"}"#;
        let (new, warn) = run("filtercondition", src);
        assert_eq!(
            new.unwrap(),
            src.replace("[41]", "[1041]")
                .replace("\"41,25\"", "\"1041,70\"")
        );
        assert!(warn.is_empty());
        let (new, warn) = run(
            "filtercondition",
            r#"{"questioncategoryid":"77","includingsubcategories":"1","tags":["3,t"]}"#,
        );
        assert!(new.is_none());
        assert_eq!(warn.len(), 2, "{warn:?}");
    }

    #[test]
    fn the_tree_walk_finds_json_leaves() {
        let src = br#"<activity><quiz><question_instances><question_instance id="1"><question_set_reference><filtercondition>{"questioncategoryid":"40","includingsubcategories":"0"}</filtercondition></question_set_reference></question_instance></question_instances></quiz><availability>{"op":"&amp;","c":[{"type":"completion","cm":12,"e":1}],"showc":[true]}</availability></activity>"#;
        let mut t = crate::xml::parse(src, "t", 64).unwrap();
        let mut w = Vec::new();
        tree(&ids(), &known(), &mut t, "p", &mut w);
        let out = String::from_utf8(t.to_moodle_xml()).unwrap();
        assert!(out.contains(r#""questioncategoryid":"1040""#), "{out}");
        assert!(
            out.contains(
                r#"{"op":"&amp;","c":[{"type":"completion","cm":1012,"e":1}],"showc":[true]}"#
            ),
            "{out}"
        );
        assert!(w.is_empty());
    }
}
