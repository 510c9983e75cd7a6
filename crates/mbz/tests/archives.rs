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

fn count_listed_activities(path: &std::path::Path) -> usize {
    // Independent of the crate: unpack with the system tools and count.
    let tmp = tempfile::tempdir().unwrap();
    let gz = std::fs::read(path).unwrap()[..2] == [0x1f, 0x8b];
    let st = if gz {
        std::process::Command::new("tar")
            .arg("xzf")
            .arg(path)
            .arg("moodle_backup.xml")
            .current_dir(tmp.path())
            .status()
    } else {
        std::process::Command::new("unzip")
            .arg("-q")
            .arg(path)
            .arg("moodle_backup.xml")
            .current_dir(tmp.path())
            .status()
    };
    if !st.map(|s| s.success()).unwrap_or(false) {
        // Fall back to the crate when the tools are missing.
        return usize::MAX;
    }
    let x = std::fs::read_to_string(tmp.path().join("moodle_backup.xml")).unwrap();
    let contents = x
        .split("<contents>")
        .nth(1)
        .unwrap()
        .split("</contents>")
        .next()
        .unwrap();
    contents.matches("<activity>").count()
}

struct Imported {
    _tmp: tempfile::TempDir,
    stage: DirStaging,
    a: ImportedArchive,
}

fn import_one(path: &std::path::Path) -> Imported {
    let tmp = tempfile::tempdir().unwrap();
    let mut stage = DirStaging::new(tmp.path().join("stage")).unwrap();
    let a = import_file(path, &Limits::default(), &mut stage)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Imported {
        _tmp: tmp,
        stage,
        a,
    }
}

fn view(
    a: &ImportedArchive,
) -> (
    Vec<(u32, Option<String>, bool)>,
    Vec<(String, String, bool, u32)>,
    Vec<(String, String, String, String, String)>,
) {
    let s = a
        .course
        .sections
        .iter()
        .map(|s| (s.number, s.name.clone(), s.visible))
        .collect();
    let acts = a
        .course
        .activities
        .iter()
        .map(|x| {
            (
                x.module.clone(),
                x.name.clone(),
                x.visible,
                x.section_number,
            )
        })
        .collect();
    let mut f: Vec<_> = a
        .course
        .files
        .iter()
        .map(|f| {
            (
                f.contenthash.clone(),
                f.component.clone(),
                f.filearea.clone(),
                f.filepath.clone(),
                f.filename.clone(),
            )
        })
        .collect();
    f.sort();
    (s, acts, f)
}

#[test]
fn round_trip_every_fixture() {
    for f in fixtures() {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let one = import_one(&f);
        let listed = count_listed_activities(&f);
        if listed != usize::MAX {
            assert_eq!(
                one.a.course.activities.len(),
                listed,
                "{name}: activity count"
            );
        }
        let out = one._tmp.path().join("out.mbz");
        let exp = ExportCourse::from(one.a.clone());
        export(&exp, &one.stage, std::fs::File::create(&out).unwrap())
            .unwrap_or_else(|e| panic!("{name}: export: {e}"));
        // Deterministic.
        let mut again = Vec::new();
        export(&exp, &one.stage, &mut again).unwrap();
        assert_eq!(
            std::fs::read(&out).unwrap(),
            again,
            "{name}: export is not deterministic"
        );
        // Moodle's detection and the §7 invariants.
        assert_eq!(detect(&out).unwrap().format, "moodle2", "{name}");
        let problems = check_invariants(&out).unwrap();
        assert!(problems.is_empty(), "{name}: {problems:#?}");
        // Re-import gives the same course and byte-identical parts.
        let two = import_one(&out);
        assert_eq!(
            view(&one.a),
            view(&two.a),
            "{name}: course differs after round trip"
        );
        let mut p1 = one.a.base.parts.clone();
        let p2 = two.a.base.parts.clone();
        if one.a.base.kind == BackupKind::Activity {
            p1.retain(|k, _| p2.contains_key(k));
        }
        for (k, v) in &p1 {
            // An activity backup becomes a course: its manifest and the
            // module's section link are rewritten on purpose.
            if one.a.base.kind == BackupKind::Activity
                && (k == "moodle_backup.xml" || k.ends_with("/module.xml"))
            {
                continue;
            }
            assert_eq!(Some(v), p2.get(k), "{name}: part {k} changed");
        }
        assert!(
            two.a.stripped.rewritten_parts.is_empty(),
            "{name}: export still had user data: {:?}",
            two.a.stripped
        );
        assert_eq!(one.a.blobs, two.a.blobs, "{name}: blobs");
        assert_eq!(one.a.question_bank, two.a.question_bank, "{name}");
    }
}

#[test]
fn scanner_sees_users_in_inputs_and_none_in_exports() {
    let mut seen_users = 0;
    for f in fixtures() {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let input = scan_file(&f, &Limits::default()).unwrap();
        let one = import_one(&f);
        if one.a.base.info.had_users {
            seen_users += 1;
            assert!(
                !input.is_clean(),
                "{name}: scanner is blind to the input's user data"
            );
        }
        let out = one._tmp.path().join("out.mbz");
        export(
            &ExportCourse::from(one.a.clone()),
            &one.stage,
            std::fs::File::create(&out).unwrap(),
        )
        .unwrap();
        let rep = scan_file(&out, &Limits::default()).unwrap();
        assert!(rep.is_clean(), "{name}: {:#?}", rep.findings);
        eprintln!("{name}: input findings {}", input.findings.len());
    }
    assert!(seen_users >= 5, "fixtures with users: {seen_users}");
}

#[test]
fn transport_sets_reassemble_and_verify() {
    for f in fixtures() {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let one = import_one(&f);
        let exp = ExportCourse::from(one.a.clone());
        let mut skeleton = Vec::new();
        let set = build_transport(&exp, &one.stage, &mut skeleton).unwrap();
        let m = TransportManifest {
            course: CourseIdentity {
                source_course_id: 1,
                shortname: "S".into(),
                fullname: "F".into(),
            },
            idnumber: "ID".into(),
            source_platform: "p".into(),
            archive_counter: 1,
            created_at: "2026-01-01T00:00:00Z".into(),
            parts: set.parts.clone(),
            signature: None,
        };
        let m = TransportManifest::parse(&m.to_canonical_json(), 1 << 32).unwrap();
        assert_eq!(
            set.parts.len(),
            one.a.blobs.len() + 1,
            "{name}: one part per blob plus the skeleton"
        );
        let open = |p: &ManifestPart| -> std::io::Result<Box<dyn std::io::Read>> {
            if p.path == "skeleton.tar" {
                Ok(Box::new(std::io::Cursor::new(skeleton.clone())))
            } else {
                Ok(Box::new(std::fs::File::open(
                    one.stage.path_of(&p.sha256)?,
                )?))
            }
        };
        let out = one._tmp.path().join("assembled.mbz");
        assemble(
            &m,
            open,
            std::fs::File::create(&out).unwrap(),
            &ExportOptions::default(),
        )
        .unwrap();
        assert!(check_invariants(&out).unwrap().is_empty(), "{name}");
        let two = import_one(&out);
        assert_eq!(view(&one.a), view(&two.a), "{name}");
        // A tampered part is caught.
        if let Some(bad) = m.parts.iter().find(|p| p.path != "skeleton.tar") {
            let mut m2 = m.clone();
            let i = m2.parts.iter().position(|p| p == bad).unwrap();
            m2.parts[i].sha256 = "0".repeat(64);
            let open2 = |p: &ManifestPart| -> std::io::Result<Box<dyn std::io::Read>> {
                if p.path == "skeleton.tar" {
                    Ok(Box::new(std::io::Cursor::new(skeleton.clone())))
                } else {
                    Ok(Box::new(std::fs::File::open(
                        one.stage.path_of(&bad.sha256)?,
                    )?))
                }
            };
            assert!(matches!(
                assemble(&m2, open2, std::io::sink(), &ExportOptions::default()),
                Err(MbzError::Manifest(_))
            ));
        }
    }
}
