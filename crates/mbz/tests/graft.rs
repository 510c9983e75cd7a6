//! Grafting activity backups (and a course backup's activities) into courses
//! that already have content, over the real fixtures: nothing of the course is
//! lost, the added items keep their content, the export is a valid, deterministic
//! Moodle backup whose ids do not collide, and re-importing it gives the same course.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use pf_mbz::xml::Element;
use pf_mbz::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/mbz"
    ))
    .join(name)
}

fn fixtures_of(kind: &str) -> Vec<PathBuf> {
    let dir = fixture("");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "mbz"))
        .filter(|p| {
            let x = manifest_text(p);
            x.contains(&format!("<type>{kind}</type>"))
        })
        .collect();
    v.sort();
    v
}

fn manifest_text(p: &Path) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let mut st = DirStaging::new(tmp.path()).unwrap();
    let a = import_file(p, &Limits::default(), &mut st).unwrap();
    let mut s = String::new();
    st.open_blob(&a.base.parts["moodle_backup.xml"].sha256)
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    s
}

/// Several staging areas read as one.
struct Many<'a>(Vec<&'a DirStaging>);

impl BlobSource for Many<'_> {
    fn open_blob(&self, sha256: &str) -> io::Result<Box<dyn Read + '_>> {
        for s in &self.0 {
            if let Ok(r) = s.open_blob(sha256) {
                return Ok(r);
            }
        }
        Err(io::Error::new(io::ErrorKind::NotFound, sha256.to_string()))
    }
}

struct One {
    _tmp: tempfile::TempDir,
    stage: DirStaging,
    a: ImportedArchive,
}

fn import_one(p: &Path) -> One {
    let tmp = tempfile::tempdir().unwrap();
    let mut stage = DirStaging::new(tmp.path().join("s")).unwrap();
    let a = import_file(p, &Limits::default(), &mut stage).unwrap();
    One {
        _tmp: tmp,
        stage,
        a,
    }
}

fn target<'a>(base: Option<&'a ArchiveBase>, f: &CourseFields) -> GraftTarget<'a> {
    GraftTarget {
        base,
        course_id: base.map_or(0, |b| f.original_id.unwrap_or(b.info.original_course_id)),
        course_ctx: base.map_or(0, |b| {
            f.contextid.unwrap_or(b.info.original_course_contextid)
        }),
    }
}

/// The course after a graft: activities land in the section with their number, or a new
/// section at the end.
fn merged(model: &CourseModel, g: &Grafted) -> CourseModel {
    let mut m = model.clone();
    for a in &g.activities {
        let mut a = a.clone();
        if !m.sections.iter().any(|s| s.number == a.section_number) {
            let n = m.sections.iter().map(|s| s.number + 1).max().unwrap_or(0);
            m.sections.push(Section {
                original_id: None,
                number: n,
                name: None,
                summary: String::new(),
                visible: true,
            });
            a.section_number = n;
        }
        m.activities.push(a);
    }
    m.files.extend(g.files.iter().cloned());
    m
}

type View = (
    Vec<u32>,
    BTreeMap<(String, String), (bool, Option<u32>, usize)>,
    Vec<(String, String, String, String, String)>,
);

fn view(m: &CourseModel) -> View {
    let mut acts = BTreeMap::new();
    for a in &m.activities {
        let e = acts.entry((a.module.clone(), a.name.clone())).or_insert((
            a.visible,
            a.content.question_count,
            0,
        ));
        e.2 += 1;
    }
    let mut files: Vec<_> = m
        .files
        .iter()
        .map(|f| {
            (
                f.contenthash.to_string(),
                f.component.to_string(),
                f.filearea.to_string(),
                f.filepath.to_string(),
                f.filename.to_string(),
            )
        })
        .collect();
    files.sort();
    (m.sections.iter().map(|s| s.number).collect(), acts, files)
}

fn part(stage: &DirStaging, a: &ImportedArchive, path: &str) -> Option<Element> {
    let p = a.base.parts.get(path)?;
    let mut b = Vec::new();
    stage
        .open_blob(&p.sha256)
        .unwrap()
        .read_to_end(&mut b)
        .unwrap();
    Some(pf_mbz::xml::parse(&b, path, 64).unwrap())
}

fn ids_of(e: &Element, name: &str, out: &mut Vec<String>) {
    if e.name == name {
        if let Some(id) = e.attr("id") {
            out.push(id.to_string());
        }
    }
    for c in e.elems() {
        ids_of(c, name, out);
    }
}

/// Ids of one kind are unique, and every `inforef` file and question category of an activity
/// that is not in `old` (parts of the original course, which may carry dangling references of
/// their own) exists.
fn check_ids(one: &One, old: &BTreeMap<String, PartRef>) {
    let a = &one.a;
    let mut files = Vec::new();
    if let Some(f) = part(&one.stage, a, "files.xml") {
        ids_of(&f, "file", &mut files);
    }
    let mut cats = Vec::new();
    let mut questions = Vec::new();
    if let Some(q) = part(&one.stage, a, "questions.xml") {
        ids_of(&q, "question_category", &mut cats);
        ids_of(&q, "question", &mut questions);
    }
    for (what, v) in [
        ("file", &files),
        ("category", &cats),
        ("question", &questions),
    ] {
        let set: HashSet<&String> = v.iter().collect();
        assert_eq!(set.len(), v.len(), "duplicate {what} ids: {v:?}");
    }
    let ctxs: Vec<i64> = a
        .course
        .activities
        .iter()
        .filter_map(|x| x.contextid)
        .collect();
    assert_eq!(
        ctxs.iter().collect::<HashSet<_>>().len(),
        ctxs.len(),
        "two activities share a context"
    );
    let fresh = a.base.parts.keys().filter(|p| !old.contains_key(*p));
    for path in fresh.filter(|p| p.ends_with("/inforef.xml")) {
        let r = part(&one.stage, a, path).unwrap();
        for (refs, have) in [("fileref", &files), ("question_categoryref", &cats)] {
            for item in r.child(refs).into_iter().flat_map(|x| x.elems()) {
                let id = item.child_text("id").unwrap_or_default();
                assert!(
                    have.contains(&id),
                    "{path}: {refs} {id} is not in the archive"
                );
            }
        }
    }
}

/// Export `course`, check it the way every export is checked, re-import it.
fn export_and_reimport(
    name: &str,
    course: &ExportCourse,
    blobs: &Many<'_>,
    old: &BTreeMap<String, PartRef>,
) -> One {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out.mbz");
    export(course, blobs, std::fs::File::create(&out).unwrap())
        .unwrap_or_else(|e| panic!("{name}: export: {e}"));
    let mut again = Vec::new();
    export(course, blobs, &mut again).unwrap();
    assert_eq!(
        std::fs::read(&out).unwrap(),
        again,
        "{name}: not deterministic"
    );
    assert_eq!(detect(&out).unwrap().format, "moodle2", "{name}");
    let problems = check_invariants(&out).unwrap();
    assert!(problems.is_empty(), "{name}: {problems:#?}");
    assert!(
        scan_file(&out, &Limits::default()).unwrap().is_clean(),
        "{name}"
    );
    let back = import_one(&out);
    check_ids(&back, old);
    back
}

fn graft_into(
    name: &str,
    course: &One,
    add: &One,
) -> Result<(ExportCourse, Grafted, One), MbzError> {
    let tmp_sink = course
        ._tmp
        .path()
        .join(format!("graft-{}", rand_suffix(name)));
    let mut sink = DirStaging::new(&tmp_sink).unwrap();
    let blobs = Many(vec![&course.stage, &add.stage]);
    let t = target(Some(&course.a.base), &course.a.course.fields);
    let g = graft(t, &add.a, &blobs, &mut sink, &Limits::default())?;
    let exp = ExportCourse {
        base: Some(g.base.clone()),
        course: merged(&course.a.course, &g),
    };
    let all = Many(vec![&course.stage, &add.stage, &sink]);
    let back = export_and_reimport(name, &exp, &all, &course.a.base.parts);
    Ok((exp, g, back))
}

fn rand_suffix(s: &str) -> String {
    format!(
        "{:x}",
        s.len() * 7919 + s.bytes().map(usize::from).sum::<usize>()
    )
}

#[test]
fn every_activity_backup_goes_into_every_course_backup() {
    let activities = fixtures_of("activity");
    assert!(!activities.is_empty(), "no activity-backup fixture");
    let courses = fixtures_of("course");
    let mut grafted = 0;
    for act in &activities {
        let add = import_one(act);
        for c in &courses {
            let name = format!(
                "{} into {}",
                act.file_name().unwrap().to_string_lossy(),
                c.file_name().unwrap().to_string_lossy()
            );
            let course = import_one(c);
            let before = course.a.course.activities.len();
            match graft_into(&name, &course, &add) {
                Ok((exp, g, back)) => {
                    grafted += 1;
                    assert_eq!(g.activities.len(), add.a.course.activities.len());
                    assert!(g.base.max_id > course.a.base.max_id, "{name}");
                    for a in &g.activities {
                        assert!(a.cmid.unwrap() > course.a.base.max_id, "{name}: cmid");
                    }
                    assert_eq!(back.a.course.activities.len(), before + g.activities.len());
                    assert_eq!(view(&back.a.course), view(&exp.course), "{name}: re-import");
                    // Every old activity is still there, byte for byte in its parts.
                    for (path, p) in &course.a.base.parts {
                        if path.starts_with("activities/") && !path.ends_with("/module.xml") {
                            assert_eq!(back.a.base.parts.get(path), Some(p), "{name}: {path}");
                        }
                    }
                    let bank = &back.a.question_bank;
                    assert_eq!(
                        bank.categories,
                        course.a.question_bank.categories + add.a.question_bank.categories,
                        "{name}: question categories"
                    );
                    assert_eq!(
                        bank.questions,
                        course.a.question_bank.questions + add.a.question_bank.questions,
                        "{name}: questions"
                    );
                }
                Err(e) => {
                    // Only the question-bank layout boundary (Moodle 4.0) may refuse.
                    let msg = e.to_string();
                    assert!(msg.contains("different layouts"), "{name}: {msg}");
                    let v: i64 = course.a.base.info.backup_version.parse().unwrap();
                    assert!(v >= 2022041900, "{name}: refused below 4.0");
                }
            }
        }
    }
    assert!(grafted >= 8, "only {grafted} grafts succeeded");
}

#[test]
fn the_same_activity_twice_and_a_course_backup_merged() {
    let course = import_one(&fixture("moodle__moodle__deadlock.mbz"));
    let quiz = import_one(&fixture("moodle__moodle__moodle_28_quiz.mbz"));
    let (exp, _, back) = graft_into("quiz once", &course, &quiz).unwrap();
    // Graft the same backup again into the result: new ids again.
    let once = One {
        _tmp: tempfile::tempdir().unwrap(),
        stage: DirStaging::new(back._tmp.path().join("s")).unwrap(),
        a: back.a.clone(),
    };
    let (exp2, g2, back2) = graft_into("quiz twice", &once, &quiz).unwrap();
    assert!(g2.activities[0].cmid.unwrap() > back.a.base.max_id);
    assert_eq!(
        back2.a.course.activities.len(),
        exp.course.activities.len() + 1
    );
    assert_eq!(view(&back2.a.course), view(&exp2.course));
    let quizzes = back2
        .a
        .course
        .activities
        .iter()
        .filter(|a| a.module == "quiz")
        .count();
    assert_eq!(quizzes, 2);

    // A whole course backup's activities (with files and a question bank) merged.
    let gap = import_one(&fixture(
        "marcusgreen__moodle-qtype_gapfill__gapfill_question_type_demo_m27.mbz",
    ));
    let (exp3, g3, back3) = graft_into("course into course", &course, &gap).unwrap();
    assert_eq!(g3.activities.len(), gap.a.course.activities.len());
    assert_eq!(view(&back3.a.course), view(&exp3.course));
    assert!(back3.a.course.files.len() > course.a.course.files.len());
}

#[test]
fn a_native_course_adopts_the_backup() {
    let quiz = import_one(&fixture("moodle__moodle__moodle_28_quiz.mbz"));
    let tmp = tempfile::tempdir().unwrap();
    let mut sink = DirStaging::new(tmp.path().join("s")).unwrap();
    let model = CourseModel {
        fields: CourseFields {
            fullname: "Native".into(),
            shortname: "NAT".into(),
            format: "topics".into(),
            visible: true,
            ..Default::default()
        },
        sections: vec![Section {
            original_id: None,
            number: 0,
            name: None,
            summary: String::new(),
            visible: true,
        }],
        activities: Vec::new(),
        files: Vec::new(),
    };
    let blobs = Many(vec![&quiz.stage]);
    let g = graft(
        target(None, &model.fields),
        &quiz.a,
        &blobs,
        &mut sink,
        &Limits::default(),
    )
    .unwrap();
    let exp = ExportCourse {
        base: Some(g.base.clone()),
        course: merged(&model, &g),
    };
    let back = export_and_reimport(
        "native",
        &exp,
        &Many(vec![&quiz.stage, &sink]),
        &BTreeMap::new(),
    );
    assert_eq!(view(&back.a.course), view(&exp.course));
    assert_eq!(back.a.question_bank, quiz.a.question_bank);
}

#[test]
fn ids_inside_availability_json_follow_the_grafted_activities() {
    let course = import_one(&fixture("moodle__moodle__deadlock.mbz"));
    let mut gap = import_one(&fixture(
        "marcusgreen__moodle-qtype_gapfill__gapfill_question_type_demo_m27.mbz",
    ));
    let acts = gap.a.course.activities.clone();
    assert!(acts.len() >= 2);
    let (a, b) = (&acts[0], &acts[1]);
    let path = format!("activities/{}_{}/module.xml", a.module, a.cmid.unwrap());
    let mut m = part(&gap.stage, &gap.a, &path).unwrap();
    let json = format!(
        r#"{{"op":"&","c":[{{"type":"completion","cm":{},"e":1}},{{"type":"completion","cm":987654,"e":1}}],"showc":[true,true]}}"#,
        b.cmid.unwrap()
    );
    assert!(m.set_child_text("availability", &json), "no <availability>");
    let bytes = m.to_moodle_xml();
    let sha = pf_mbz::staging::sha256_hex(&bytes);
    let mut w = gap.stage.begin().unwrap();
    w.write_all(&bytes).unwrap();
    gap.stage.commit(w, &sha).unwrap();
    gap.a.base.parts.insert(
        path,
        PartRef {
            sha256: sha,
            size: bytes.len() as u64,
        },
    );

    let (_, g, back) = graft_into("availability", &course, &gap).unwrap();
    let (na, nb) = (&g.activities[0], &g.activities[1]);
    assert_eq!(nb.cmid.unwrap(), b.cmid.unwrap() + course.a.base.max_id);
    let new_path = format!("activities/{}_{}/module.xml", na.module, na.cmid.unwrap());
    let m = part(&back.stage, &back.a, &new_path).unwrap();
    let got = m.child_text("availability").unwrap();
    assert_eq!(
        got,
        json.replace(
            &format!("\"cm\":{},", b.cmid.unwrap()),
            &format!("\"cm\":{},", nb.cmid.unwrap())
        )
    );
    assert!(
        g.warnings
            .iter()
            .any(|w| w.contains("course module 987654")),
        "{:?}",
        g.warnings
    );
}
