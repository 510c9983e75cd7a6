//! The parts that grow with the course (`files.xml`, `questions.xml`) are
//! processed record by record: they may be far larger than
//! `Limits::max_xml_bytes`, they keep their own cap
//! (`Limits::max_stream_xml_bytes`), and the usual refusals still apply.

use std::io::{Cursor, Write};

use pf_mbz::*;
use sha1::Digest;

const MANIFEST: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<moodle_backup>\n  <information>\n    <name>t.mbz</name>\n    <backup_version>2022112800</backup_version>\n    <original_course_id>2</original_course_id>\n    <original_course_contextid>20</original_course_contextid>\n    <details>\n      <detail backup_id=\"x\">\n        <type>course</type>\n        <format>moodle2</format>\n        <mode>10</mode>\n      </detail>\n    </details>\n    <contents>\n      <course>\n        <courseid>2</courseid>\n        <title>T</title>\n        <directory>course</directory>\n      </course>\n    </contents>\n    <settings>\n      <setting>\n        <level>root</level>\n        <name>users</name>\n        <value>1</value>\n      </setting>\n    </settings>\n  </information>\n</moodle_backup>";
const COURSE: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<course id=\"2\" contextid=\"20\">\n  <shortname>T</shortname>\n  <fullname>Test</fullname>\n  <visible>1</visible>\n</course>";

fn tgz(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, &data[..]).unwrap();
    }
    let t = b.into_inner().unwrap();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&t).unwrap();
    e.finish().unwrap()
}

fn record(id: usize, sha1: &str, component: &str, area: &str, userid: &str) -> String {
    format!(
        "  <file id=\"{id}\">\n    <contenthash>{sha1}</contenthash>\n    <contextid>20</contextid>\n    <component>{component}</component>\n    <filearea>{area}</filearea>\n    <itemid>0</itemid>\n    <filepath>/</filepath>\n    <filename>f{id}.txt</filename>\n    <userid>{userid}</userid>\n    <filesize>8</filesize>\n    <mimetype>text/plain</mimetype>\n    <status>0</status>\n    <timecreated>0</timecreated>\n    <timemodified>0</timemodified>\n    <source>f{id}.txt</source>\n    <author>$@NULL@$</author>\n    <license>$@NULL@$</license>\n    <sortorder>0</sortorder>\n    <repositorytype>$@NULL@$</repositorytype>\n    <repositoryid>$@NULL@$</repositoryid>\n    <reference>$@NULL@$</reference>\n  </file>\n"
    )
}

/// A course with `n` files; every third is a learner's private file.
fn course(n: usize) -> Vec<(String, Vec<u8>)> {
    let mut parts = vec![
        (
            "moodle_backup.xml".to_string(),
            MANIFEST.as_bytes().to_vec(),
        ),
        ("course/course.xml".to_string(), COURSE.as_bytes().to_vec()),
    ];
    let mut records = String::new();
    for i in 0..n {
        let data = format!("file{i:04}").into_bytes();
        let sha = hex::encode(sha1::Sha1::digest(&data));
        let (comp, area) = if i % 3 == 0 {
            ("user", "private")
        } else {
            ("course", "summary")
        };
        records.push_str(&record(1000 + i, &sha, comp, area, "7"));
        parts.push((format!("files/{}/{sha}", &sha[..2]), data));
    }
    let files = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<files>\n{records}</files>");
    parts.push(("files.xml".into(), files.into_bytes()));
    parts
}

fn small() -> Limits {
    Limits {
        max_xml_bytes: 16 << 10,
        ..Limits::default()
    }
}

#[test]
fn a_files_xml_far_above_the_xml_cap_imports_exports_and_scans() {
    let n = 600;
    let input = tgz(&course(n));
    let limits = small();
    let tmp = tempfile::tempdir().unwrap();
    let mut stage = DirStaging::new(tmp.path().join("s")).unwrap();
    let a = import(Cursor::new(&input), &limits, &mut stage).unwrap();
    assert_eq!(a.course.files.len(), n - n / 3);
    assert_eq!(a.stripped.files_removed, (n / 3) as u64);
    assert!(a
        .stripped
        .rewritten_parts
        .contains(&"files.xml".to_string()));
    assert!(a.base.parts["files.xml"].size > 10 * limits.max_xml_bytes);
    assert!(a.course.files.iter().all(|f| f.component == "course"));
    assert_eq!(a.blobs.len(), n - n / 3);
    // Only kept blobs and parts are left in the staging area.
    let staged = std::fs::read_dir(stage.dir()).unwrap().count();
    assert_eq!(staged, a.blobs.len() + a.base.parts.len());

    // Export every other file: files.xml is rewritten while streaming.
    let mut c = ExportCourse::from(a.clone());
    c.course.files = c.course.files.iter().step_by(2).cloned().collect();
    let out = tmp.path().join("out.mbz");
    export(&c, &stage, std::fs::File::create(&out).unwrap()).unwrap();
    let report = scan_file(&out, &limits).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    let mut again = DirStaging::new(tmp.path().join("t")).unwrap();
    let b = import_file(&out, &limits, &mut again).unwrap();
    assert_eq!(b.course.files, c.course.files);
    assert_eq!(b.stripped.files_removed, 0);
    assert!(b.stripped.rewritten_parts.is_empty());

    // An unedited export keeps the stripped files.xml byte for byte.
    let out2 = tmp.path().join("out2.mbz");
    export(
        &ExportCourse::from(a.clone()),
        &stage,
        std::fs::File::create(&out2).unwrap(),
    )
    .unwrap();
    let mut third = DirStaging::new(tmp.path().join("u")).unwrap();
    let d = import_file(&out2, &limits, &mut third).unwrap();
    assert_eq!(d.base.parts["files.xml"], a.base.parts["files.xml"]);
    assert_eq!(d.course.files, a.course.files);
}

#[test]
fn the_scanner_streams_and_still_finds_learner_files() {
    let input = tgz(&course(300));
    let report = scan(Cursor::new(&input), &small()).unwrap();
    let learner = report
        .findings
        .iter()
        .filter(|f| f.part == "files.xml" && f.what.starts_with("learner file"))
        .count();
    let userids = report
        .findings
        .iter()
        .filter(|f| f.what.starts_with("file record keeps userid"))
        .count();
    assert_eq!((learner, userids), (100, 300));
}

#[test]
fn streamed_parts_have_their_own_cap_and_a_cap_per_record() {
    let input = tgz(&course(300));
    let limits = Limits {
        max_stream_xml_bytes: 100 << 10,
        ..small()
    };
    for res in [
        import(
            Cursor::new(&input),
            &limits,
            &mut DirStaging::new(tempfile::tempdir().unwrap().path()).unwrap(),
        )
        .map(|_| ()),
        scan(Cursor::new(&input), &limits).map(|_| ()),
    ] {
        assert!(
            matches!(res, Err(MbzError::EntryTooLarge { ref path, .. }) if path == "files.xml"),
            "{res:?}"
        );
    }
    // One record larger than max_xml_bytes is refused, even in a streamed part.
    let mut parts = course(3);
    let huge = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<files>\n  <file id=\"1\"><source>{}</source></file>\n</files>",
        "x".repeat(40 << 10)
    );
    parts.retain(|(p, _)| p != "files.xml");
    parts.push(("files.xml".into(), huge.into_bytes()));
    let input = tgz(&parts);
    let tmp = tempfile::tempdir().unwrap();
    let mut st = DirStaging::new(tmp.path()).unwrap();
    let e = import(Cursor::new(&input), &small(), &mut st).unwrap_err();
    assert!(matches!(e, MbzError::EntryTooLarge { .. }), "{e}");
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "nothing left staged"
    );
    let e = scan(Cursor::new(&input), &small()).unwrap_err();
    assert!(matches!(e, MbzError::EntryTooLarge { .. }), "{e}");
}

#[test]
fn streamed_parts_refuse_entities_nesting_and_bad_utf8() {
    let deep = format!(
        "<question_categories>{}{}</question_categories>",
        "<a>".repeat(100),
        "</a>".repeat(100)
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "files.xml",
            b"<?xml version=\"1.0\"?><!DOCTYPE files [<!ENTITY x \"y\">]><files>&x;</files>"
                .to_vec(),
        ),
        (
            "files.xml",
            b"<?xml version=\"1.0\"?><!DOCTYPE files SYSTEM \"file:///etc/passwd\"><files/>"
                .to_vec(),
        ),
        ("questions.xml", deep.into_bytes()),
        ("files.xml", b"<files><!-- \xff --></files>".to_vec()),
        (
            "files.xml",
            b"<files><file id=\"1\">&foo;</file></files>".to_vec(),
        ),
        (
            "questions.xml",
            b"<question_categories><a></b></question_categories>".to_vec(),
        ),
        ("files.xml", b"<files></files><files></files>".to_vec()),
        ("files.xml", b"<files><file>".to_vec()),
    ];
    // The scanner is no validator: it refuses what could hide or blow up
    // (entities, depth, bad UTF-8), the importer refuses every case.
    for (i, (path, bytes)) in cases.into_iter().enumerate() {
        let mut parts = course(2);
        parts.retain(|(p, _)| p != path);
        parts.push((path.into(), bytes.clone()));
        let input = tgz(&parts);
        let tmp = tempfile::tempdir().unwrap();
        let mut st = DirStaging::new(tmp.path()).unwrap();
        let e = import(Cursor::new(&input), &Limits::default(), &mut st).unwrap_err();
        assert!(
            matches!(e, MbzError::Xml { .. }),
            "{path} {:?}: {e}",
            String::from_utf8_lossy(&bytes)
        );
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
        if i < 4 {
            let e = scan(Cursor::new(&input), &Limits::default()).unwrap_err();
            assert!(matches!(e, MbzError::Xml { .. }), "scan {path}: {e}");
        }
    }
}
