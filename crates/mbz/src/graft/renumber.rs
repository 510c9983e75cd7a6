//! Re-numbering the ids of a grafted backup so they cannot collide with the
//! course it joins.
//!
//! Moodle's restore maps every id of a backup by *(kind, old id)*, so two
//! archives merged into one must not share an id of the same kind. Every id
//! of the grafted backup moves up by a fixed offset `d` (the joined course's
//! highest id), which keeps every reference consistent without knowing each
//! kind: what [`crate::extract`]'s `max_id` counts as an id is shifted here
//! too, so shifted ids are all above the course's highest.
//!
//! The rules, applied to attributes and to leaf elements holding a decimal
//! integer (`$@NULL@$`, `0` and negative values are left alone):
//!
//! - names ending in `contextid`: the source course and system contexts
//!   become the joined course's; every other context is shifted;
//! - `courseid`: the source course becomes the joined course;
//! - `contextinstanceid`: follows its sibling `contextlevel` (50 → the joined
//!   course, 10 → kept, otherwise shifted);
//! - `itemid` of a `files.xml` record: shifted, except in `mod_imscp` where it
//!   is the package revision, not an id;
//! - references to users (`userid`, `ownerid`, `createdby`…) are kept: users
//!   never travel (SPEC §5.2);
//! - every other name ending in `id`, plus the references Moodle names
//!   otherwise (`parent`, `iteminstance`, `question`, `answer`,
//!   `trueanswer`, `falseanswer`): shifted;
//! - negative `grade` / `scale` values (a scale, as `-scaleid`): shifted;
//! - encoded links in text, `$@NAME*ID@$`: the id is shifted (a `COURSE…`
//!   link to the source course points at the joined course).
//!
//! Ids inside JSON text (`availability` conditions, the `filtercondition` of
//! Moodle 4 random-question sets) are moved by [`super::json`] when they are
//! certainly the backup's own; serialized PHP is not rewritten.

use crate::xml::{Element, Node};

/// How ids move: `d` is the offset, `src_*` the grafted backup's course and
/// contexts, `dst_*` the joined course's.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ids {
    pub d: i64,
    pub src_course: i64,
    pub src_course_ctx: i64,
    pub src_system_ctx: i64,
    pub dst_course: i64,
    pub dst_course_ctx: i64,
    pub dst_system_ctx: i64,
}

const USER_REFS: &[&str] = &[
    "userid",
    "ownerid",
    "realuserid",
    "relateduserid",
    "reviewerid",
    "teacherid",
    "graderid",
    "authorid",
    "usermodified",
    "createdby",
    "modifiedby",
    "mnethostid",
    "repositoryid",
    "backup_id",
];

const OTHER_REFS: &[&str] = &[
    "parent",
    "iteminstance",
    "question",
    "answer",
    "trueanswer",
    "falseanswer",
];

impl Ids {
    /// An id shifted by the offset.
    pub(crate) fn shift(&self, v: i64) -> i64 {
        if v > 0 {
            v.saturating_add(self.d)
        } else {
            v
        }
    }

    /// A context id.
    pub(crate) fn ctx(&self, v: i64) -> i64 {
        if v == self.src_course_ctx {
            self.dst_course_ctx
        } else if v == self.src_system_ctx {
            self.dst_system_ctx
        } else {
            self.shift(v)
        }
    }

    /// A course id.
    pub(crate) fn course(&self, v: i64) -> i64 {
        if v == self.src_course {
            self.dst_course
        } else {
            self.shift(v)
        }
    }

    /// The new value of `name` = `v` (`level`: the sibling `contextlevel`).
    fn value(&self, name: &str, v: i64, level: Option<i64>, in_imscp_file: bool) -> i64 {
        if USER_REFS.contains(&name) {
            return v;
        }
        match name {
            "courseid" => self.course(v),
            "contextinstanceid" => match level {
                Some(50) => self.course(v),
                Some(10) => v,
                _ => self.shift(v),
            },
            "itemid" if in_imscp_file => v,
            "grade" | "scale" if v < 0 => -self.shift(-v),
            n if n.ends_with("contextid") => self.ctx(v),
            n if n.ends_with("id") || OTHER_REFS.contains(&n) => self.shift(v),
            _ => v,
        }
    }

    /// Re-number a whole tree in place.
    pub(crate) fn tree(&self, e: &mut Element) {
        for (k, v) in &mut e.attrs {
            if let Ok(n) = v.trim().parse::<i64>() {
                let m = self.value(k, n, None, false);
                if m != n {
                    *v = m.to_string();
                }
            }
        }
        let level = e
            .child_text("contextlevel")
            .and_then(|t| t.trim().parse::<i64>().ok());
        let imscp = e.name == "file" && e.child_text("component").as_deref() == Some("mod_imscp");
        for node in &mut e.children {
            match node {
                Node::Elem(c) if c.elems().next().is_none() => {
                    let t = c.text();
                    match t.trim().parse::<i64>() {
                        Ok(n) if !t.trim().starts_with('+') => {
                            let m = self.value(&c.name, n, level, imscp);
                            if m != n {
                                c.set_text(&m.to_string());
                            }
                        }
                        _ => {
                            if t.contains("$@") {
                                c.set_text(&self.links(&t));
                            }
                        }
                    }
                    for (k, v) in &mut c.attrs {
                        if let Ok(n) = v.trim().parse::<i64>() {
                            let m = self.value(k, n, None, false);
                            if m != n {
                                *v = m.to_string();
                            }
                        }
                    }
                }
                Node::Elem(c) => self.tree(c),
                Node::Text(_) => {}
            }
        }
    }

    /// Encoded links `$@NAME*ID@$` (and `$@NAME*ID*…@$`) with their first id moved.
    pub(crate) fn links(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find("$@") {
            out.push_str(&rest[..at]);
            let tail = &rest[at..];
            let Some(end) = tail[2..].find("@$").map(|e| e + 2) else {
                out.push_str(tail);
                return out;
            };
            let token = &tail[2..end];
            out.push_str("$@");
            out.push_str(&self.link_token(token));
            out.push_str("@$");
            rest = &tail[end + 2..];
        }
        out.push_str(rest);
        out
    }

    fn link_token(&self, token: &str) -> String {
        let mut parts = token.split('*');
        let name = parts.next().unwrap_or_default();
        let named = !name.is_empty() && name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
        let ids: Vec<&str> = parts.collect();
        match ids.first().and_then(|i| i.parse::<i64>().ok()) {
            Some(n) if named => {
                let m = if name.starts_with("COURSE") {
                    self.course(n)
                } else {
                    self.shift(n)
                };
                let mut s = format!("{name}*{m}");
                for i in &ids[1..] {
                    s.push('*');
                    s.push_str(i);
                }
                s
            }
            _ => token.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml;

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

    #[test]
    fn ids_move_references_follow_users_stay() {
        let src = br#"<?xml version="1.0" encoding="UTF-8"?>
<question_categories>
  <question_category id="5">
    <contextid>25</contextid>
    <contextlevel>50</contextlevel>
    <contextinstanceid>3</contextinstanceid>
    <parent>0</parent>
    <questions>
      <question id="15">
        <parent>0</parent>
        <createdby>2</createdby>
        <questiontext>see $@QUIZVIEWBYID*4@$ and $@COURSEVIEWBYID*3@$</questiontext>
        <plugin_qtype_truefalse_question>
          <truefalse id="3"><trueanswer>31</trueanswer><falseanswer>32</falseanswer></truefalse>
        </plugin_qtype_truefalse_question>
        <defaultmark>1.0000000</defaultmark>
        <scaleid>$@NULL@$</scaleid>
        <grade>-4</grade>
      </question>
    </questions>
  </question_category>
</question_categories>"#;
        let mut t = xml::parse(src, "q", 64).unwrap();
        ids().tree(&mut t);
        let out = String::from_utf8(t.to_moodle_xml()).unwrap();
        for want in [
            r#"<question_category id="1005">"#,
            "<contextid>70</contextid>",
            "<contextinstanceid>7</contextinstanceid>",
            "<parent>0</parent>",
            r#"<question id="1015">"#,
            "<createdby>2</createdby>",
            "$@QUIZVIEWBYID*1004@$ and $@COURSEVIEWBYID*7@$",
            r#"<truefalse id="1003">"#,
            "<trueanswer>1031</trueanswer><falseanswer>1032</falseanswer>",
            "<defaultmark>1.0000000</defaultmark>",
            "<scaleid>$@NULL@$</scaleid>",
            "<grade>-1004</grade>",
        ] {
            assert!(out.contains(want), "{want} missing in\n{out}");
        }
    }

    #[test]
    fn imscp_revision_is_not_an_id() {
        let src = br#"<files><file id="9"><contextid>40</contextid><component>mod_imscp</component><itemid>1</itemid><userid>5</userid></file><file id="10"><contextid>40</contextid><component>question</component><itemid>15</itemid></file></files>"#;
        let mut t = xml::parse(src, "f", 64).unwrap();
        ids().tree(&mut t);
        let out = String::from_utf8(t.to_moodle_xml()).unwrap();
        assert!(out.contains(r#"<file id="1009"><contextid>1040</contextid><component>mod_imscp</component><itemid>1</itemid><userid>5</userid>"#), "{out}");
        assert!(out.contains("<itemid>1015</itemid>"), "{out}");
    }
}
