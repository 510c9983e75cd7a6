//! Integration tests over every real fixture in `shared/fixtures/mbz/`.

use std::path::PathBuf;

use pf_mbz::*;

fn fixtures() -> Vec<PathBuf> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/mbz");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("fixtures dir")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "mbz"))
        .collect();
    v.sort();
    assert!(v.len() >= 14, "expected the 14 fixtures");
    v
}

#[test]
fn imports_every_fixture() {
    for f in fixtures() {
        let tmp = tempfile::tempdir().unwrap();
        let mut st = DirStaging::new(tmp.path().join("stage")).unwrap();
        let a = import_file(&f, &Limits::default(), &mut st)
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        eprintln!(
            "{}: {:?} {} sections, {} activities, {} files, {} blobs, bank {:?}, warnings {:?}, stripped {:?}",
            f.file_name().unwrap().to_string_lossy(),
            a.base.kind,
            a.course.sections.len(),
            a.course.activities.len(),
            a.course.files.len(),
            a.blobs.len(),
            a.question_bank,
            a.warnings,
            a.stripped
        );
    }
}
