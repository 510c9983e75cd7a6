//! Integration tests over every real fixture in `shared/fixtures/mbz/`.

use std::collections::HashMap;
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

type View = (
    Vec<(u32, Option<String>, bool)>,
    Vec<(String, String, bool, u32)>,
    Vec<(String, String, String, String, String)>,
);

fn view(a: &ImportedArchive) -> View {
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
                f.contenthash.to_string(),
                f.component.to_string(),
                f.filearea.to_string(),
                f.filepath.to_string(),
                f.filename.to_string(),
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

fn manifest_of(parts: Vec<ManifestPart>) -> TransportManifest {
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
        parts,
        signature: None,
    };
    TransportManifest::parse(&m.to_canonical_json(), 1 << 32).unwrap()
}

/// Builds the split set of an import; skeleton parts kept in memory by SHA-256.
fn split_set(one: &Imported) -> (TransportManifest, HashMap<String, Vec<u8>>) {
    let exp = ExportCourse::from(one.a.clone());
    let mut skel = HashMap::new();
    let set = build_transport(&exp, &one.stage, |p, b| {
        skel.insert(p.sha256.clone(), b.to_vec());
        Ok(())
    })
    .unwrap();
    (manifest_of(set.parts), skel)
}

fn opener<'a>(
    one: &'a Imported,
    skel: &'a HashMap<String, Vec<u8>>,
) -> impl FnMut(&ManifestPart) -> std::io::Result<Box<dyn std::io::Read>> + 'a {
    move |p: &ManifestPart| -> std::io::Result<Box<dyn std::io::Read>> {
        match skel.get(&p.sha256) {
            Some(b) => Ok(Box::new(std::io::Cursor::new(b.clone()))),
            None => Ok(Box::new(std::fs::File::open(
                one.stage.path_of(&p.sha256)?,
            )?)),
        }
    }
}

/// `m` with the SHA-256 of its part `i` replaced by zeros, and an opener that still finds that
/// part's real bytes: what a tampered manifest looks like to a receiver.
fn tampered<'a>(
    one: &'a Imported,
    skel: &'a HashMap<String, Vec<u8>>,
    m: &TransportManifest,
    i: usize,
) -> (
    TransportManifest,
    impl FnMut(&ManifestPart) -> std::io::Result<Box<dyn std::io::Read>> + 'a,
) {
    let mut bad = m.clone();
    bad.parts[i].sha256 = "0".repeat(64);
    let (zero, real) = ("0".repeat(64), m.parts[i].sha256.clone());
    let mut inner = opener(one, skel);
    let open = move |p: &ManifestPart| {
        let mut q = p.clone();
        if q.sha256 == zero {
            q.sha256 = real.clone();
        }
        inner(&q)
    };
    (bad, open)
}

#[test]
fn transport_sets_reassemble_and_verify() {
    for f in fixtures() {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let one = import_one(&f);
        let (m, skel) = split_set(&one);
        let skeleton_parts = m
            .parts
            .iter()
            .filter(|p| p.path.starts_with("skeleton/"))
            .count();
        assert_eq!(
            m.parts.len(),
            one.a.blobs.len() + skeleton_parts,
            "{name}: one part per blob plus the skeleton parts"
        );
        assert!(skeleton_parts > 1, "{name}: the skeleton is split");
        // Deterministic: the same course gives the same parts.
        assert_eq!(split_set(&one).0, m, "{name}");
        let out = one._tmp.path().join("assembled.mbz");
        assemble(
            &m,
            opener(&one, &skel),
            std::fs::File::create(&out).unwrap(),
            &ExportOptions::default(),
        )
        .unwrap();
        assert!(check_invariants(&out).unwrap().is_empty(), "{name}");
        let two = import_one(&out);
        assert_eq!(view(&one.a), view(&two.a), "{name}");
        // The scanner reads the skeleton parts alone and agrees with a scan of the .mbz.
        let t = scan_transport(&m, opener(&one, &skel), &Limits::default()).unwrap();
        let whole = scan_file(&out, &Limits::default()).unwrap();
        assert!(t.moodle2, "{name}");
        assert_eq!(t.report.findings, whole.findings, "{name}");
        // A tampered part is caught: a blob, then a skeleton part.
        for bad in [
            m.parts.iter().find(|p| !p.path.starts_with("skeleton")),
            m.parts.iter().find(|p| p.path.starts_with("skeleton/a")),
        ]
        .into_iter()
        .flatten()
        {
            let i = m.parts.iter().position(|p| p == bad).unwrap();
            let (m2, open2) = tampered(&one, &skel, &m, i);
            assert!(
                matches!(
                    assemble(&m2, open2, std::io::sink(), &ExportOptions::default()),
                    Err(MbzError::Manifest(_))
                ),
                "{name}: {}",
                bad.path
            );
        }
    }
}

#[test]
fn single_skeleton_archives_still_assemble_and_scan() {
    for f in fixtures().into_iter().take(4) {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let one = import_one(&f);
        let exp = ExportCourse::from(one.a.clone());
        let mut skeleton = Vec::new();
        let set = build_transport_single(&exp, &one.stage, &mut skeleton).unwrap();
        let m = manifest_of(set.parts);
        let sk = m.parts.iter().find(|p| p.path == "skeleton.tar").unwrap();
        let skel = HashMap::from([(sk.sha256.clone(), skeleton)]);
        let out = one._tmp.path().join("single.mbz");
        assemble(
            &m,
            opener(&one, &skel),
            std::fs::File::create(&out).unwrap(),
            &ExportOptions::default(),
        )
        .unwrap();
        assert!(check_invariants(&out).unwrap().is_empty(), "{name}");
        assert_eq!(view(&one.a), view(&import_one(&out).a), "{name}");
        // Same XML either way: the split form assembles to the same archive bytes.
        let (m2, skel2) = split_set(&one);
        let out2 = one._tmp.path().join("split.mbz");
        assemble(
            &m2,
            opener(&one, &skel2),
            std::fs::File::create(&out2).unwrap(),
            &ExportOptions::default(),
        )
        .unwrap();
        assert_eq!(
            std::fs::read(&out).unwrap(),
            std::fs::read(&out2).unwrap(),
            "{name}"
        );
        let t = scan_transport(&m, opener(&one, &skel), &Limits::default()).unwrap();
        assert!(t.report.is_clean() && t.moodle2, "{name}");
    }
}

/// `m` plus a skeleton part carrying `users.xml` (not in the archive index).
fn with_users_part(
    m: &TransportManifest,
    skel: &mut HashMap<String, Vec<u8>>,
) -> TransportManifest {
    let mut tar = Vec::new();
    {
        let mut gz = flate2::write::GzEncoder::new(&mut tar, flate2::Compression::fast());
        let xml =
            b"<?xml version=\"1.0\"?><users><user id=\"2\"><username>x</username></user></users>";
        let mut b = tar::Builder::new(&mut gz);
        let mut h = tar::Header::new_ustar();
        h.set_size(xml.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "users.xml", &xml[..]).unwrap();
        b.finish().unwrap();
        drop(b);
        gz.finish().unwrap();
    }
    let sha = pf_mbz::staging::sha256_hex(&tar);
    let mut parts = m.parts.clone();
    parts.push(ManifestPart {
        path: "skeleton/top/users.xml.tgz".into(),
        size: tar.len() as u64,
        sha256: sha.clone(),
    });
    parts.sort();
    skel.insert(sha, tar);
    manifest_of(parts)
}

/// The transport scanner finds user data that sits in a skeleton part.
#[test]
fn transport_scan_finds_user_data() {
    let f = fixtures().into_iter().next().unwrap();
    let one = import_one(&f);
    let (m, mut skel) = split_set(&one);
    let m2 = with_users_part(&m, &mut skel);
    let t = scan_transport(&m2, opener(&one, &skel), &Limits::default()).unwrap();
    assert!(
        t.report
            .findings
            .iter()
            .any(|f| f.part == "users.xml" && f.what.contains("users.xml is present")),
        "{:?}",
        t.report.findings
    );
    assert!(t
        .report
        .findings
        .iter()
        .any(|f| f.what.contains("user record <user>")));
    // And a receiver refuses to assemble it: the part is not in the index.
    assert!(assemble(
        &m2,
        opener(&one, &skel),
        std::io::sink(),
        &ExportOptions::default()
    )
    .is_err());
}

fn put_blob(stage: &mut DirStaging, bytes: &[u8]) -> String {
    use std::io::Write as _;
    let sha = pf_mbz::staging::sha256_hex(bytes);
    let mut p = stage.begin().unwrap();
    p.write_all(bytes).unwrap();
    stage.commit(p, &sha).unwrap();
    sha
}

fn native_activity(key: &str, module: &str, name: &str, section: u32) -> Activity {
    Activity {
        key: key.into(),
        cmid: None,
        instance_id: None,
        contextid: None,
        module: module.into(),
        name: name.into(),
        intro: format!("<p>{name}</p>"),
        visible: true,
        section_number: section,
        content: ActivityContent::default(),
    }
}

fn native_file(owner: &str, name: &str, sha256: &str, size: u64, mime: &str) -> FileRecord {
    FileRecord {
        id: None,
        contenthash: Default::default(),
        sha256: Some(sha256.into()),
        size,
        filename: name.into(),
        filepath: "/".into(),
        mimetype: Some(mime.into()),
        component: "mod_resource".into(),
        filearea: "content".into(),
        contextid: None,
        itemid: 0,
        author: Some("Ada".into()),
        license: Some("cc-4.0".into()),
        timecreated: 0,
        timemodified: 0,
        owner: Some(owner.into()),
    }
}

#[test]
fn a_native_course_exports_as_moodle_41_and_reimports() {
    let tmp = tempfile::tempdir().unwrap();
    let mut stage = DirStaging::new(tmp.path().join("blobs")).unwrap();
    let pdf = b"%PDF-1.4 not really".to_vec();
    let sha = put_blob(&mut stage, &pdf);
    let mut page = native_activity("p1", "page", "Welcome", 0);
    page.content.html = Some("<h1>Hello & welcome</h1>".into());
    let mut url = native_activity("u1", "url", "Moodle", 1);
    url.content.external_url = Some("https://moodle.org/?a=1&b=2".into());
    let course = ExportCourse {
        base: None,
        course: CourseModel {
            fields: CourseFields {
                fullname: "Native course".into(),
                shortname: "NAT1".into(),
                idnumber: "IDX".into(),
                format: "topics".into(),
                visible: true,
                ..Default::default()
            },
            sections: vec![
                Section {
                    original_id: None,
                    number: 0,
                    name: None,
                    summary: String::new(),
                    visible: true,
                },
                Section {
                    original_id: None,
                    number: 1,
                    name: Some("Week 1".into()),
                    summary: "<p>s</p>".into(),
                    visible: false,
                },
            ],
            activities: vec![
                page,
                native_activity("l1", "label", "A label", 0),
                url,
                native_activity("r1", "resource", "Slides", 1),
            ],
            files: vec![
                native_file("r1", ".", &sha, 0, "document/unknown"),
                native_file(
                    "r1",
                    "slides.pdf",
                    &sha,
                    pdf.len() as u64,
                    "application/pdf",
                ),
            ],
        },
    };
    let out = tmp.path().join("native.mbz");
    export(&course, &stage, std::fs::File::create(&out).unwrap()).unwrap();
    assert_eq!(detect(&out).unwrap().format, "moodle2");
    assert!(
        check_invariants(&out).unwrap().is_empty(),
        "{:#?}",
        check_invariants(&out).unwrap()
    );
    assert!(scan_file(&out, &Limits::default()).unwrap().is_clean());
    let back = import_one(&out);
    let a = &back.a;
    assert_eq!(a.base.info.backup_release, "4.1");
    assert_eq!(a.course.fields.shortname, "NAT1");
    assert_eq!(a.course.sections.len(), 2);
    assert_eq!(a.course.sections[1].name.as_deref(), Some("Week 1"));
    assert!(!a.course.sections[1].visible);
    let acts: Vec<_> = a
        .course
        .activities
        .iter()
        .map(|x| (x.module.as_str(), x.name.as_str(), x.section_number))
        .collect();
    assert_eq!(
        acts,
        vec![
            ("page", "Welcome", 0),
            ("label", "A label", 0),
            ("url", "Moodle", 1),
            ("resource", "Slides", 1)
        ]
    );
    assert_eq!(
        a.course.activities[0].content.html.as_deref(),
        Some("<h1>Hello & welcome</h1>")
    );
    assert_eq!(
        a.course.activities[2].content.external_url.as_deref(),
        Some("https://moodle.org/?a=1&b=2")
    );
    assert_eq!(a.course.activities[3].content.file_ids.len(), 1);
    assert_eq!(a.blobs, vec![sha]);
    let f = a
        .course
        .files
        .iter()
        .find(|f| f.filename == "slides.pdf")
        .unwrap();
    assert_eq!(f.contenthash, pf_mbz::staging::sha1_hex(&pdf));
    assert_eq!(f.author.as_deref(), Some("Ada"));
}

#[test]
fn edits_and_native_items_on_an_imported_course() {
    let f = fixtures()
        .into_iter()
        .find(|p| p.to_string_lossy().contains("gapfill_example_course"))
        .unwrap();
    let mut one = import_one(&f);
    let max_id = one.a.base.max_id;
    let mut exp = ExportCourse::from(one.a.clone());
    exp.course.fields.fullname = "Renamed course".into();
    exp.course.sections[1].name = Some("Renamed section".into());
    exp.course.activities[0].visible = false;
    exp.course.activities[1].name = "Renamed activity".into();
    let removed = exp.course.activities.pop().unwrap();
    exp.course.sections.push(Section {
        original_id: None,
        number: 2,
        name: Some("New".into()),
        summary: String::new(),
        visible: true,
    });
    exp.course
        .activities
        .push(native_activity("new-page", "page", "New page", 2));
    let sha = put_blob(&mut one.stage, b"hello video");
    exp.course
        .activities
        .push(native_activity("new-res", "resource", "Clip", 2));
    exp.course
        .files
        .push(native_file("new-res", "clip.mp4", &sha, 11, "video/mp4"));
    let out = one._tmp.path().join("edited.mbz");
    export(&exp, &one.stage, std::fs::File::create(&out).unwrap()).unwrap();
    assert!(
        check_invariants(&out).unwrap().is_empty(),
        "{:#?}",
        check_invariants(&out).unwrap()
    );
    let two = import_one(&out);
    let c = &two.a.course;
    assert_eq!(c.fields.fullname, "Renamed course");
    assert_eq!(c.sections[1].name.as_deref(), Some("Renamed section"));
    assert_eq!(c.sections[2].name.as_deref(), Some("New"));
    assert!(c.sections[2].original_id.unwrap() > max_id);
    assert!(!c.activities[0].visible);
    assert_eq!(c.activities[1].name, "Renamed activity");
    assert!(!c.activities.iter().any(|a| a.cmid == removed.cmid));
    let new: Vec<_> = c
        .activities
        .iter()
        .filter(|a| a.section_number == 2)
        .collect();
    assert_eq!(new.len(), 2);
    assert!(new.iter().all(|a| a.cmid.unwrap() > max_id));
    assert!(two.a.blobs.contains(&sha));
    // Untouched parts stay byte-identical.
    assert_eq!(
        one.a.base.parts.get("questions.xml"),
        two.a.base.parts.get("questions.xml")
    );
}

/// A receiver imports a set from its skeleton parts alone: the same course as importing the
/// reassembled `.mbz`, blobs resolved through the manifest (never opened), only kept parts left
/// staged; a set whose skeleton disagrees with its index, or a tampered part, is refused.
#[test]
fn transport_sets_import_without_reassembly() {
    for f in fixtures() {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let one = import_one(&f);
        let (m, mut skel) = split_set(&one);
        let out = one._tmp.path().join("assembled.mbz");
        let file = std::fs::File::create(&out).unwrap();
        assemble(&m, opener(&one, &skel), file, &ExportOptions::default()).unwrap();
        let assembled = import_one(&out);

        let tmp = tempfile::tempdir().unwrap();
        let mut stage = DirStaging::new(tmp.path()).unwrap();
        let blob_keys: Vec<String> = m
            .parts
            .iter()
            .filter(|p| !p.path.starts_with("skeleton"))
            .map(|p| p.sha256.clone())
            .collect();
        let mut skeleton_only = opener(&one, &skel);
        let only = move |p: &ManifestPart| {
            assert!(p.path.starts_with("skeleton"), "opened {}", p.path);
            skeleton_only(p)
        };
        let a = import_transport(&m, only, &Limits::default(), &mut stage)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(a, assembled.a, "{name}");
        assert!(a.blobs.iter().all(|b| blob_keys.contains(&b)), "{name}");
        let mut left: Vec<String> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut kept: Vec<String> = a.base.parts.values().map(|p| p.sha256.clone()).collect();
        kept.sort();
        kept.dedup();
        assert_eq!(left, kept, "{name}: only the kept parts stay staged");

        // A part the index does not list, and a tampered skeleton part: refused, nothing left.
        let smuggled = with_users_part(&m, &mut skel);
        let i = m
            .parts
            .iter()
            .position(|p| p.path.starts_with("skeleton/"))
            .unwrap();
        for smuggle in [true, false] {
            let (bad, open) = tampered(&one, &skel, &m, i);
            let bad = if smuggle { smuggled.clone() } else { bad };
            let tmp = tempfile::tempdir().unwrap();
            let mut stage = DirStaging::new(tmp.path()).unwrap();
            assert!(
                matches!(
                    import_transport(&bad, open, &Limits::default(), &mut stage),
                    Err(MbzError::Manifest(_))
                ),
                "{name}"
            );
            assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "{name}");
        }
    }
}
