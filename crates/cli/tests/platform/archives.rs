//! Moodle archives in the platform: every real backup through `course import` → `course show`
//! → `course export` → re-import; naming on arrival; hostile archives; transport archives and
//! their retention; capability refusals; upload and download in the browser.

use super::bin;
use pf_domain::platform::PlatformRole;
use pf_testkit::{TestPlatform, ADMIN_PASSWORD};
use serde_json::Value;
use std::path::{Path, PathBuf};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/mbz");

fn fixtures() -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(FIXTURES)
        .expect("the shared fixtures beside the checkout")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "mbz"))
        .collect();
    all.sort();
    assert!(all.len() >= 10, "fixtures found: {}", all.len());
    all
}

fn fixture(part: &str) -> PathBuf {
    fixtures()
        .into_iter()
        .find(|p| p.to_string_lossy().contains(part))
        .unwrap()
}

/// `moodle_backup.xml` of an archive, read with the system's tar/unzip (not our reader).
fn manifest_xml(path: &Path) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let gz = std::fs::read(path).unwrap()[..2] == [0x1f, 0x8b];
    let (tool, args): (&str, &[&str]) = if gz {
        ("tar", &["xzf"])
    } else {
        ("unzip", &["-q"])
    };
    let ok = std::process::Command::new(tool)
        .args(args)
        .arg(path)
        .arg("moodle_backup.xml")
        .current_dir(tmp.path())
        .status()
        .unwrap()
        .success();
    assert!(ok, "{tool} could not read {}", path.display());
    std::fs::read_to_string(tmp.path().join("moodle_backup.xml")).unwrap()
}

/// The activities `moodle_backup.xml` lists.
fn listed_activities(path: &Path) -> usize {
    let x = manifest_xml(path);
    let contents = x.split("<contents>").nth(1).unwrap();
    let contents = contents.split("</contents>").next().unwrap();
    contents.matches("<activity>").count()
}

pub(crate) fn is_activity_backup(path: &Path) -> bool {
    manifest_xml(path).contains("<type>activity</type>")
}

/// Sections, activities and files of `course show`, comparable across courses.
fn outline(f: &TestPlatform, id: i64) -> (Value, Value, Vec<(String, String, i64)>) {
    let show = f.cli(bin(), &["course", "show", &id.to_string(), "--json"]);
    assert_eq!(show.code, 0, "{show:?}");
    let doc = show.json();
    let mut files: Vec<_> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["sha256"].as_str().unwrap().to_string(),
                x["filename"].as_str().unwrap().to_string(),
                x["size"].as_i64().unwrap(),
            )
        })
        .collect();
    files.sort();
    (doc["sections"].clone(), doc["activities"].clone(), files)
}

fn parts(f: &TestPlatform, id: i64) -> serde_json::Map<String, Value> {
    let rt = tokio::runtime::Handle::current();
    let store = f.platform.store.clone();
    let payload: Option<Value> = tokio::task::block_in_place(|| {
        rt.block_on(store.course_payload(pf_domain::ids::CourseId(id)))
    })
    .unwrap();
    payload.unwrap()["base"]["parts"]
        .as_object()
        .unwrap()
        .clone()
}

fn import(f: &TestPlatform, path: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["course", "import", path.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let run = f.cli(bin(), &args);
    assert_eq!(run.code, 0, "{}: {run:?}", path.display());
    let doc = run.json();
    assert!(doc["warnings"].is_array(), "{doc}");
    doc
}

fn export(f: &TestPlatform, id: i64, out: &Path) {
    let run = f.cli(
        bin(),
        &[
            "course",
            "export",
            &id.to_string(),
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_imports_shows_exports_and_comes_back_the_same() {
    let f = TestPlatform::start(PlatformRole::Factory, "fab").await;
    let tmp = tempfile::tempdir().unwrap();
    let mut had_users = 0;
    for path in fixtures() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let one = import(&f, &path, &[]);
        let id = one["course_id"].as_i64().unwrap();
        let (sections, activities, files) = outline(&f, id);
        assert_eq!(
            activities.as_array().unwrap().len(),
            listed_activities(&path),
            "{name}: activities shown"
        );
        let out = tmp.path().join(format!("{name}.out.mbz"));
        export(&f, id, &out);
        let scan = pf_mbz::scan_file(&out, &pf_mbz::Limits::default()).unwrap();
        assert!(scan.is_clean(), "{name}: {:?}", scan.findings);
        assert_eq!(pf_mbz::detect(&out).unwrap().format, "moodle2", "{name}");
        let problems = pf_mbz::check_invariants(&out).unwrap();
        assert!(problems.is_empty(), "{name}: {problems:#?}");
        if !pf_mbz::scan_file(&path, &pf_mbz::Limits::default())
            .unwrap()
            .is_clean()
        {
            had_users += 1;
        }

        let two = import(&f, &out, &[]);
        let id2 = two["course_id"].as_i64().unwrap();
        assert_eq!(
            (sections, activities, files),
            outline(&f, id2),
            "{name}: the re-imported course differs"
        );
        let (p1, p2) = (parts(&f, id), parts(&f, id2));
        // An activity backup becomes a course: its manifest and the module's section link are
        // rewritten on purpose.
        let activity_backup = is_activity_backup(&path);
        for (k, v) in &p1 {
            if activity_backup && (k == "moodle_backup.xml" || k.ends_with("/module.xml")) {
                continue;
            }
            if activity_backup && !p2.contains_key(k) {
                continue;
            }
            assert_eq!(Some(v), p2.get(k), "{name}: part {k} changed");
        }
    }
    assert!(had_users > 0, "some fixture carried user data");
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_on_arrival_follow_the_spec() {
    let f = TestPlatform::start(PlatformRole::Factory, "fab").await;
    let path = fixture("gapfill_example_course");
    let first = import(&f, &path, &[]);
    let second = import(&f, &path, &[]);
    let name = first["shortname"].as_str().unwrap();
    assert_eq!(second["shortname"], format!("{name}_1"));
    let third = import(&f, &path, &[]);
    assert_eq!(third["shortname"], format!("{name}_2"));
    // The idnumber is kept, and the course lands in the landing category.
    let scratch = tempfile::tempdir().unwrap();
    let mut stage = pf_mbz::DirStaging::new(scratch.path()).unwrap();
    let archive = pf_mbz::import_file(&path, &pf_mbz::Limits::default(), &mut stage).unwrap();
    let show = f
        .cli(
            bin(),
            &["course", "show", &second["course_id"].to_string(), "--json"],
        )
        .json();
    assert_eq!(show["idnumber"], archive.course.fields.idnumber.as_str());
    let landing = f.cli(bin(), &["category", "list", "--json"]).json()[0]["id"].clone();
    assert_eq!(show["category"], landing);

    // An activity backup becomes a course named from its original course, one section.
    let quiz = fixture("moodle_28_quiz");
    assert!(is_activity_backup(&quiz));
    let x = manifest_xml(&quiz);
    let original = x
        .split("<original_course_shortname>")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap()
        .to_string();
    let doc = import(&f, &quiz, &[]);
    assert_eq!(doc["shortname"], original.as_str());
    let show = f
        .cli(
            bin(),
            &["course", "show", &doc["course_id"].to_string(), "--json"],
        )
        .json();
    assert_eq!(show["sections"].as_array().unwrap().len(), 1);
    assert_eq!(show["activities"].as_array().unwrap().len(), 1);
    assert_eq!(show["activities"][0]["module"], "quiz");

    // A platform without a landing category needs --category.
    let normal = TestPlatform::start(PlatformRole::Normal, "plain").await;
    let run = normal.cli(
        bin(),
        &["course", "import", path.to_str().unwrap(), "--json"],
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.starts_with("error:"), "{run:?}");
    let cat = normal
        .cli(bin(), &["category", "add", "Imports", "--json"])
        .json()["id"]
        .to_string();
    import(&normal, &path, &["--category", &cat]);
    normal.stop().await;
    f.stop().await;
}

fn blob_files(dir: &Path) -> (usize, usize) {
    let (mut blobs, mut staged) = (0, 0);
    let mut stack = vec![dir.join("blobs")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let in_tmp = p
                .parent()
                .is_some_and(|d| d.starts_with(dir.join("blobs/tmp")));
            if e.file_type().unwrap().is_dir() {
                if in_tmp {
                    staged += 1;
                }
                stack.push(p);
            } else if in_tmp {
                staged += 1;
            } else {
                blobs += 1;
            }
        }
    }
    (blobs, staged)
}

/// A gzip'd tar whose second entry climbs out of the extraction root.
fn hostile_archive(dir: &Path) -> PathBuf {
    use pf_mbz::write::ustar;
    let mut tar = Vec::new();
    for (name, body) in [
        (
            "moodle_backup.xml",
            &b"<?xml version=\"1.0\"?><moodle_backup/>"[..],
        ),
        ("../../escaped.txt", &b"gotcha"[..]),
    ] {
        tar.extend_from_slice(&ustar::header(name, body.len() as u64, false, 0).unwrap());
        tar.extend_from_slice(body);
        tar.resize(tar.len() + ustar::padding(body.len() as u64), 0);
    }
    tar.resize(tar.len() + 1024, 0);
    let plain = dir.join("hostile.tar");
    std::fs::write(&plain, &tar).unwrap();
    let ok = std::process::Command::new("gzip")
        .arg("-f")
        .arg(&plain)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let gz = dir.join("hostile.mbz");
    std::fs::rename(dir.join("hostile.tar.gz"), &gz).unwrap();
    gz
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_or_broken_archives_exit_2_and_change_nothing() {
    let f = TestPlatform::start(PlatformRole::Factory, "fab").await;
    import(&f, &fixture("gapfill_example_course"), &[]);
    let tmp = tempfile::tempdir().unwrap();
    let good = std::fs::read(fixture("moodle_28_quiz")).unwrap();
    let truncated = tmp.path().join("truncated.mbz");
    std::fs::write(&truncated, &good[..good.len() / 2]).unwrap();
    let junk = tmp.path().join("junk.mbz");
    std::fs::write(&junk, b"this is not an archive at all").unwrap();
    let hostile = hostile_archive(tmp.path());
    let courses = || f.cli(bin(), &["course", "list", "--json"]).json();
    let before = (courses(), blob_files(&f.data_dir()));
    for bad in [&hostile, &truncated, &junk, &tmp.path().join("missing.mbz")] {
        let run = f.cli(
            bin(),
            &["course", "import", bad.to_str().unwrap(), "--json"],
        );
        assert_eq!(run.code, 2, "{}: {run:?}", bad.display());
        assert!(run.stdout.is_empty(), "{run:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
        assert!(run.stderr.starts_with("error: "), "{run:?}");
        assert_eq!(
            (courses(), blob_files(&f.data_dir())),
            before,
            "{}",
            bad.display()
        );
    }
    assert!(!tmp.path().join("escaped.txt").exists());
    assert!(!f.data_dir().join("escaped.txt").exists());
    assert_eq!(
        before.1 .1,
        0,
        "the staging area is empty: {:?}",
        std::fs::read_dir(f.data_dir().join("blobs/tmp"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect::<Vec<_>>()
    );
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_archives_have_manifests_and_the_newest_three_are_kept() {
    let f = TestPlatform::start(PlatformRole::Factory, "fab").await;
    let course = import(&f, &fixture("gapfill_example_course"), &[])["course_id"].to_string();
    let mut made = Vec::new();
    for _ in 0..5 {
        let run = f.cli(bin(), &["archive", "make", &course, "--json"]);
        assert_eq!(run.code, 0, "{run:?}");
        made.push(run.json());
    }
    for (n, doc) in made.iter().enumerate() {
        let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["counter", "created", "id", "sha256", "size"],
            "{doc}"
        );
        assert_eq!(doc["counter"], n as i64 + 1);
        assert!(doc["created"].as_str().unwrap().ends_with('Z'));
    }
    let list = f.cli(bin(), &["archive", "list", &course, "--json"]).json();
    let counters: Vec<i64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["counter"].as_i64().unwrap())
        .collect();
    assert_eq!(counters, [5, 4, 3]);
    // The manifest is canonical JSON whose signing bytes hash to the listed sha256.
    let rec = f
        .platform
        .store
        .archive(list[0]["id"].as_i64().unwrap())
        .await
        .unwrap();
    let manifest = pf_mbz::TransportManifest::parse(rec.manifest.as_bytes(), u64::MAX).unwrap();
    assert_eq!(manifest.to_canonical_json(), rec.manifest.as_bytes());
    assert_eq!(manifest.whole_sha256(), rec.sha256);
    assert_eq!(manifest.archive_counter, 5);
    assert_eq!(manifest.source_platform, "fab");
    assert_eq!(manifest.signature, None);
    assert_eq!(manifest.total_size() as i64, rec.size);
    // An archive a job or publication refers to survives retention.
    f.platform.store.reference_archive(rec.id, 1).await.unwrap();
    for _ in 0..3 {
        assert_eq!(f.cli(bin(), &["archive", "make", &course]).code, 0);
    }
    let list = f.cli(bin(), &["archive", "list", &course, "--json"]).json();
    let counters: Vec<i64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["counter"].as_i64().unwrap())
        .collect();
    assert_eq!(counters, [8, 7, 6, 5]);
    // Every blob a row points to is stored: file rows, kept archive parts, manifest parts.
    let keys = pf_server::services::archives::referenced_blobs(&f.platform)
        .await
        .unwrap();
    let empty = pf_server::services::archives::import::EMPTY_SHA256;
    assert!(keys.contains(&manifest.parts[0].sha256));
    for key in keys.iter().filter(|k| k.as_str() != empty) {
        assert!(
            f.platform.blobs.contains(key).unwrap(),
            "blob {key} is missing"
        );
    }
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archives_and_exports_need_their_capabilities() {
    let f = TestPlatform::start(PlatformRole::Factory, "fab").await;
    let course = import(&f, &fixture("gapfill_example_course"), &[])["course_id"].to_string();
    let tmp = tempfile::tempdir().unwrap();
    let pw = tmp.path().join("pw");
    std::fs::write(&pw, "a long password\n").unwrap();
    let as_role = |user: &str, role: &str| {
        let role = format!("{role}@course:{course}");
        let run = f.cli(
            bin(),
            &[
                "user",
                "add",
                user,
                "--password-file",
                pw.to_str().unwrap(),
                "--role",
                &role,
            ],
        );
        assert_eq!(run.code, 0, "{run:?}");
    };
    as_role("teo", "teacher");
    as_role("eddie", "editingteacher");
    let out = tmp.path().join("x.mbz");
    let out = out.to_str().unwrap();
    for args in [
        vec!["archive", "make", &course],
        vec!["archive", "list", &course],
        vec!["course", "export", &course, "-o", out],
        vec!["course", "import", "--json"],
    ] {
        let mut args = args.clone();
        let fx = fixture("moodle_28_quiz");
        if args[1] == "import" {
            args.insert(2, fx.to_str().unwrap());
        }
        args.extend(["--as", "teo"]);
        let run = f.cli(bin(), &args);
        assert_eq!(run.code, 1, "{args:?}: {run:?}");
        assert!(run.stderr.contains("capability"), "{run:?}");
    }
    assert!(!Path::new(out).exists());
    assert_eq!(
        f.cli(bin(), &["archive", "make", &course, "--as", "eddie"])
            .code,
        0
    );
    assert_eq!(
        f.cli(
            bin(),
            &["course", "export", &course, "-o", out, "--as", "eddie"]
        )
        .code,
        0
    );
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_goes_up_and_comes_down_through_the_browser() {
    let f = TestPlatform::start(PlatformRole::Factory, "fab").await;
    let mut admin = f.login("admin", ADMIN_PASSWORD).await;
    let path = fixture("gapfill_example_course");
    let bytes = std::fs::read(&path).unwrap();
    let landing = f.cli(bin(), &["category", "list", "--json"]).json()[0]["id"].to_string();
    let page = admin.get(&format!("/category/{landing}")).await;
    assert!(
        page.body.contains("/course/import"),
        "an import form on the category page"
    );
    let done = admin
        .post_multipart(
            "/course/import",
            &[("category", &landing)],
            Some(("file", "course.mbz", bytes)),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    let list = f.cli(bin(), &["course", "list", "--json"]).json();
    let id = list[0]["id"].as_i64().unwrap();
    assert!(
        done.body.contains(&format!("/course/{id}")),
        "{}",
        done.body
    );
    let course = admin.get(&format!("/course/{id}")).await;
    assert!(course.body.contains(&format!("/course/{id}/export")));
    assert!(
        course.body.contains(&format!("/course/{id}/archives")),
        "{}",
        course.body
    );
    let (status, headers, mbz) = admin.get_bytes(&format!("/course/{id}/export")).await;
    assert_eq!(status, 200);
    assert!(headers["content-disposition"]
        .to_str()
        .unwrap()
        .contains(".mbz"));
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("down.mbz");
    std::fs::write(&out, &mbz).unwrap();
    assert!(pf_mbz::scan_file(&out, &pf_mbz::Limits::default())
        .unwrap()
        .is_clean());
    assert_eq!(pf_mbz::detect(&out).unwrap().format, "moodle2");
    // Archives page: make one, upload an external backup, download it.
    let page = admin.get(&format!("/course/{id}/archives")).await;
    assert_eq!(page.status, 200);
    let made = admin.post(&format!("/course/{id}/archives"), &[]).await;
    assert_eq!(made.status, 303, "{}", made.body);
    let users = std::fs::read(fixture("question_attempts_missing_users")).unwrap();
    let up = admin
        .post_multipart(
            &format!("/course/{id}/archives/upload"),
            &[],
            Some(("file", "external.mbz", users)),
        )
        .await;
    assert_eq!(up.status, 303, "{}", up.body);
    let list = f
        .cli(bin(), &["archive", "list", &id.to_string(), "--json"])
        .json();
    assert_eq!(list.as_array().unwrap().len(), 2);
    let newest = list[0]["id"].as_i64().unwrap();
    let (status, _, bytes) = admin
        .get_bytes(&format!("/course/{id}/archives/{newest}/download"))
        .await;
    assert_eq!(status, 200);
    std::fs::write(&out, &bytes).unwrap();
    assert!(pf_mbz::scan_file(&out, &pf_mbz::Limits::default())
        .unwrap()
        .is_clean());
    // The API: export and list with a token.
    let token = f
        .cli(bin(), &["token", "create", "--name", "t", "--json"])
        .json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let http = reqwest::Client::new();
    let r = http
        .get(format!("{}/api/v1/courses/{id}/archives", f.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let docs: Value = r.json().await.unwrap();
    assert_eq!(docs.as_array().unwrap().len(), 2);
    let r = http
        .post(format!("{}/api/v1/courses/import", f.url))
        .bearer_auth(&token)
        .body(std::fs::read(&out).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let doc: Value = r.json().await.unwrap();
    assert!(doc["course_id"].is_i64(), "{doc}");
    let r = http
        .post(format!("{}/api/v1/courses/import", f.url))
        .bearer_auth(&token)
        .body("not an archive")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http
        .post(format!("{}/api/v1/courses/{id}/archives", f.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let made: Value = r.json().await.unwrap();
    assert_eq!(made["counter"], 3);
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(mbz.clone()).file_name("course.mbz"),
    );
    let r = http
        .post(format!("{}/api/v1/courses/import", f.url))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = http
        .get(format!("{}/api/v1/courses/{id}/export", f.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.bytes().await.unwrap().to_vec(),
        mbz,
        "exports are deterministic"
    );
    let spec: Value = http
        .get(format!("{}/api/v1/openapi.json", f.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(spec["paths"]["/courses/{id}/archives"]["post"].is_object());

    // A hostile upload in the browser is refused and changes nothing.
    let tmp2 = tempfile::tempdir().unwrap();
    let hostile = std::fs::read(hostile_archive(tmp2.path())).unwrap();
    let before = f.cli(bin(), &["course", "list", "--json"]).json();
    let refused = admin
        .post_multipart(
            "/course/import",
            &[("category", &landing)],
            Some(("file", "evil.mbz", hostile.clone())),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    let refused = admin
        .post_multipart(
            &format!("/course/{id}/archives/upload"),
            &[],
            Some(("file", "evil.mbz", hostile)),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(f.cli(bin(), &["course", "list", "--json"]).json(), before);
    assert_eq!(blob_files(&f.data_dir()).1, 0, "the staging area is empty");
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_made_here_show_in_the_export_and_native_courses_export_as_moodle_41() {
    use pf_domain::ids::CourseId;
    let f = TestPlatform::start(PlatformRole::Factory, "fab").await;
    let mut admin = f.login("admin", ADMIN_PASSWORD).await;
    let tmp = tempfile::tempdir().unwrap();
    let id = import(&f, &fixture("gapfill_example_course"), &[])["course_id"]
        .as_i64()
        .unwrap();
    let sections = f.platform.store.sections(CourseId(id)).await.unwrap();
    let (s0, s1) = (sections[0].id.0, sections[1].id.0);
    let renamed = admin
        .post(
            &format!("/course/{id}/sections/{s1}"),
            &[("action", "rename"), ("name", "Renamed here")],
        )
        .await;
    assert_eq!(renamed.status, 303, "{}", renamed.body);
    let hidden = admin
        .post(
            &format!("/course/{id}/sections/{s0}"),
            &[("action", "hide"), ("name", "")],
        )
        .await;
    assert_eq!(hidden.status, 303, "{}", hidden.body);
    let add = |module: &'static str, name: &'static str| {
        vec![
            ("module", module.to_string()),
            ("section", s1.to_string()),
            ("name", name.to_string()),
            ("content", "<p>Written on the platform</p>".to_string()),
            ("visible", "1".to_string()),
        ]
    };
    for (fields, file) in [
        (add("page", "Written here"), None),
        (
            add("resource", "Slides"),
            Some(("file", "slides.pdf", b"%PDF-1.4 slides".to_vec())),
        ),
    ] {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = admin
            .post_multipart(&format!("/course/{id}/activity/new"), &fields, file)
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
    }
    let out = tmp.path().join("edited.mbz");
    export(&f, id, &out);
    assert!(pf_mbz::check_invariants(&out).unwrap().is_empty());
    let back = import(&f, &out, &[])["course_id"].as_i64().unwrap();
    let (sections, activities, files) = outline(&f, back);
    assert_eq!(sections[1]["name"], "Renamed here");
    assert_eq!(sections[0]["visible"], false);
    let acts = activities.as_array().unwrap();
    assert!(acts
        .iter()
        .any(|a| a["module"] == "page" && a["name"] == "Written here"));
    assert!(acts
        .iter()
        .any(|a| a["module"] == "resource" && a["name"] == "Slides"));
    assert!(files
        .iter()
        .any(|(_, name, size)| name == "slides.pdf" && *size == 15));
    let rows = f.platform.store.activities(CourseId(back)).await.unwrap();
    let page = rows.iter().find(|a| a.name == "Written here").unwrap();
    assert_eq!(page.payload["content"], "<p>Written on the platform</p>");

    // A course created here exports as Moodle 4.1 writes one, and comes back.
    let landing = f.cli(bin(), &["category", "list", "--json"]).json()[0]["id"].to_string();
    let native = f
        .cli(
            bin(),
            &[
                "course",
                "add",
                "Native",
                "--shortname",
                "NAT",
                "--category",
                &landing,
                "--json",
            ],
        )
        .json()["id"]
        .as_i64()
        .unwrap();
    let s = f.platform.store.sections(CourseId(native)).await.unwrap()[0]
        .id
        .0;
    let page = admin
        .post_multipart(
            &format!("/course/{native}/activity/new"),
            &[
                ("module", "url"),
                ("section", &s.to_string()),
                ("name", "Moodle"),
                ("externalurl", "https://moodle.org"),
                ("visible", "1"),
            ],
            None,
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let out = tmp.path().join("native.mbz");
    export(&f, native, &out);
    assert!(pf_mbz::check_invariants(&out).unwrap().is_empty());
    assert_eq!(pf_mbz::detect(&out).unwrap().format, "moodle2");
    assert!(manifest_xml(&out).contains("<moodle_release>4.1"));
    let doc = import(&f, &out, &[]);
    assert_eq!(doc["shortname"], "NAT_1");
    let rows = f
        .platform
        .store
        .activities(CourseId(doc["course_id"].as_i64().unwrap()))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].payload["externalurl"], "https://moodle.org");
    f.stop().await;
}

/// (module, name) of every activity the course shows.
fn activity_names(f: &TestPlatform, id: i64) -> Vec<(String, String)> {
    let (_, acts, _) = outline(f, id);
    let mut v: Vec<(String, String)> = acts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["module"].as_str().unwrap().to_string(),
                a["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

/// Merge `add` into a fresh import of `course`: every old activity and file stays, the backup's
/// activities join, the export is a valid backup and re-imports as the same course.
fn merge_and_check(f: &TestPlatform, course: &Path, add: &Path, out_dir: &Path) -> i64 {
    let name = format!(
        "{} into {}",
        add.file_name().unwrap().to_string_lossy(),
        course.file_name().unwrap().to_string_lossy()
    );
    let first = import(f, course, &[]);
    let id = first["course_id"].as_i64().unwrap();
    let before = activity_names(f, id);
    let (_, _, files_before) = outline(f, id);
    let doc = import(f, add, &["--into", &id.to_string()]);
    assert_eq!(doc["course_id"], first["course_id"], "{name}");
    assert_eq!(doc["shortname"], first["shortname"], "{name}");
    let after = activity_names(f, id);
    assert_eq!(
        after.len(),
        before.len() + listed_activities(add),
        "{name}: {after:?}"
    );
    for a in &before {
        assert!(after.contains(a), "{name}: {a:?} was lost");
    }
    let (sections, activities, files) = outline(f, id);
    for file in &files_before {
        assert!(files.contains(file), "{name}: file {file:?} was lost");
    }
    let out = out_dir.join(format!("{id}.mbz"));
    export(f, id, &out);
    assert_eq!(pf_mbz::detect(&out).unwrap().format, "moodle2", "{name}");
    let problems = pf_mbz::check_invariants(&out).unwrap();
    assert!(problems.is_empty(), "{name}: {problems:#?}");
    let scan = pf_mbz::scan_file(&out, &pf_mbz::Limits::default()).unwrap();
    assert!(scan.is_clean(), "{name}: {:?}", scan.findings);
    let again = out_dir.join(format!("{id}-again.mbz"));
    export(f, id, &again);
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(&again).unwrap(),
        "{name}: export is not deterministic"
    );
    let back = import(f, &out, &[]);
    assert_eq!(
        (sections, activities, files),
        outline(f, back["course_id"].as_i64().unwrap()),
        "{name}: the re-imported course differs"
    );
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_into_adds_the_activities_and_loses_nothing() {
    let f = TestPlatform::start(PlatformRole::Factory, "fab").await;
    let tmp = tempfile::tempdir().unwrap();
    let activity_backups: Vec<PathBuf> = fixtures()
        .into_iter()
        .filter(|p| is_activity_backup(p))
        .collect();
    assert!(!activity_backups.is_empty());
    // Every activity backup into a course with content (files, quizzes, a question bank)…
    for add in &activity_backups {
        for course in ["gapfill_example_course", "deadlock", "SC.mbz"] {
            merge_and_check(&f, &fixture(course), add, tmp.path());
        }
    }
    // …twice into the same course (the second copy gets ids above the first)…
    let id = merge_and_check(&f, &fixture("deadlock"), &activity_backups[0], tmp.path());
    let n = activity_names(&f, id).len();
    import(&f, &activity_backups[0], &["--into", &id.to_string()]);
    assert_eq!(activity_names(&f, id).len(), n + 1);
    let out = tmp.path().join("twice.mbz");
    export(&f, id, &out);
    assert!(pf_mbz::check_invariants(&out).unwrap().is_empty());
    // …and a whole course backup merged into another course (Moodle's "merge into this course").
    merge_and_check(
        &f,
        &fixture("deadlock"),
        &fixture("gapfill_question_type_demo_m27"),
        tmp.path(),
    );
    // A question bank of the other side of Moodle 4.0's layout change is refused, nothing changed.
    let newer = import(&f, &fixture("bulktags_test"), &[])["course_id"].to_string();
    let before = f.cli(bin(), &["course", "show", &newer, "--json"]).json();
    let quiz = fixture("moodle_28_quiz");
    let refused = f.cli(
        bin(),
        &["course", "import", quiz.to_str().unwrap(), "--into", &newer],
    );
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("as a new course"), "{refused:?}");
    assert_eq!(
        f.cli(bin(), &["course", "show", &newer, "--json"]).json(),
        before
    );
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_into_needs_course_update_refuses_bad_input_and_works_from_web_and_api() {
    let f = TestPlatform::start(PlatformRole::Factory, "fab").await;
    let first = import(&f, &fixture("gapfill_example_course"), &[]);
    let id = first["course_id"].to_string();
    let before = f.cli(bin(), &["course", "show", &id, "--json"]).json();
    let acts = before["activities"].as_array().unwrap().len();
    let tmp = tempfile::tempdir().unwrap();
    let pw = tmp.path().join("pw");
    std::fs::write(&pw, "a long password\n").unwrap();
    let role = format!("teacher@course:{id}");
    let pw = pw.to_str().unwrap();
    assert_eq!(
        f.cli(
            bin(),
            &["user", "add", "teo", "--password-file", pw, "--role", &role]
        )
        .code,
        0
    );
    let quiz = fixture("moodle_28_quiz");
    let quiz = quiz.to_str().unwrap();
    let refused = f.cli(
        bin(),
        &["course", "import", quiz, "--into", &id, "--as", "teo"],
    );
    assert_eq!(refused.code, 1, "{refused:?}");
    let hostile = hostile_archive(tmp.path());
    let bad = f.cli(
        bin(),
        &["course", "import", hostile.to_str().unwrap(), "--into", &id],
    );
    assert_eq!(bad.code, 2, "{bad:?}");
    assert_eq!(
        f.cli(bin(), &["course", "show", &id, "--json"]).json(),
        before
    );

    // By short name from the CLI, then from the browser, then from the API: one more each time.
    let shortname = format!("shortname:{}", first["shortname"].as_str().unwrap());
    let doc = import(&f, Path::new(quiz), &["--into", &shortname]);
    assert_eq!(doc["course_id"], first["course_id"]);
    let count = |f: &TestPlatform| {
        f.cli(bin(), &["course", "show", &id, "--json"]).json()["activities"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count(&f), acts + 1);
    let mut admin = f.login("admin", ADMIN_PASSWORD).await;
    let page = admin.get(&format!("/course/{id}")).await;
    assert!(
        page.body.contains(r#"name="into""#),
        "a merge form on the course page"
    );
    let done = admin
        .post_multipart(
            "/course/import",
            &[("into", &id)],
            Some(("file", "quiz.mbz", std::fs::read(quiz).unwrap())),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(count(&f), acts + 2);
    let token = f
        .cli(bin(), &["token", "create", "--name", "t", "--json"])
        .json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/courses/import?into={id}", f.url))
        .bearer_auth(&token)
        .body(std::fs::read(quiz).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["course_id"].to_string(), id);
    assert_eq!(count(&f), acts + 3);
    assert_eq!(
        f.cli(bin(), &["course", "list", "--json"])
            .json()
            .as_array()
            .unwrap()
            .len(),
        1,
        "no new course"
    );
    let out = tmp.path().join("after.mbz");
    export(&f, first["course_id"].as_i64().unwrap(), &out);
    assert!(pf_mbz::check_invariants(&out).unwrap().is_empty());
    f.stop().await;
}

/// Makes every stored blob look two days old (as if written before the grace period).
fn age_blobs(f: &TestPlatform) {
    let two_days = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86_400);
    for b in f.platform.blobs.list().unwrap() {
        let p = f
            .platform
            .config
            .blob_dir(&f.platform.data_dir)
            .join(&b.sha256[..2])
            .join(&b.sha256[2..4])
            .join(&b.sha256);
        let file = std::fs::File::options().append(true).open(&p).unwrap();
        file.set_modified(two_days).unwrap();
    }
}

fn gc(f: &TestPlatform, extra: &[&str]) -> Value {
    let mut args = vec!["blobs", "gc", "--json"];
    args.extend_from_slice(extra);
    let run = f.cli(bin(), &args);
    assert_eq!(run.code, 0, "{run:?}");
    run.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_gc_frees_what_nothing_refers_to_and_keeps_the_rest() {
    use pf_server::services::{archives, courses, Actor, Via};
    let f = TestPlatform::start(PlatformRole::Factory, "fab").await;
    let x = import(&f, &fixture("deadlock"), &[])["course_id"]
        .as_i64()
        .unwrap();
    let y = import(&f, &fixture("gapfill_example_course"), &[])["course_id"]
        .as_i64()
        .unwrap();
    // Y takes X's activities (and so shares their files); both get a transport archive.
    import(&f, &fixture("deadlock"), &["--into", &y.to_string()]);
    for id in [x, y] {
        let made = f.cli(bin(), &["archive", "make", &id.to_string(), "--json"]);
        assert_eq!(made.code, 0, "{made:?}");
    }
    let y_archive: Vec<String> = {
        let rows = f
            .platform
            .store
            .archives(pf_domain::ids::CourseId(y))
            .await
            .unwrap();
        let doc: Value = serde_json::from_str(&rows[0].manifest).unwrap();
        let mut keys: Vec<String> = doc["parts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["sha256"].as_str().unwrap().to_string())
            .collect();
        keys.push(rows[0].skeleton_sha256.clone());
        keys
    };
    let x_keys: std::collections::HashSet<String> = {
        let mut k: std::collections::HashSet<String> = parts(&f, x)
            .values()
            .map(|p| p["sha256"].as_str().unwrap().to_string())
            .collect();
        k.extend(outline(&f, x).2.into_iter().map(|(sha, _, _)| sha));
        k
    };
    let before: std::collections::HashSet<String> = f
        .platform
        .blobs
        .list()
        .unwrap()
        .into_iter()
        .map(|b| b.sha256)
        .collect();

    // Nothing is unreferenced yet: a dry run and a real run delete nothing.
    age_blobs(&f);
    let dry = gc(&f, &["--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    let orphans_before = dry["deleted"].as_u64().unwrap();

    // X goes to the trash: its blobs are still referenced until the purge.
    let admin = f
        .platform
        .store
        .local_user(&pf_domain::user::Username::parse("admin").unwrap())
        .await
        .unwrap();
    let actor = Actor::user(admin, Via::Cli);
    courses::trash(&f.platform, &actor, pf_domain::ids::CourseId(x))
        .await
        .unwrap();
    assert_eq!(
        gc(&f, &["--dry-run"])["deleted"].as_u64().unwrap(),
        orphans_before
    );
    f.platform.store.purge_trash(i64::MAX).await.unwrap();
    // A fresh blob nobody refers to (an import in progress) and a young copy: kept.
    let young = f
        .platform
        .blobs
        .put(&mut &b"an upload still in progress"[..])
        .unwrap()
        .sha256;
    let dry = gc(&f, &["--dry-run"]);
    assert!(dry["deleted"].as_u64().unwrap() > orphans_before, "{dry}");
    assert_eq!(
        f.platform.blobs.list().unwrap().len(),
        before.len() + 1,
        "dry run deleted"
    );
    let done = gc(&f, &[]);
    assert_eq!(done["deleted"], dry["deleted"], "{done}");
    assert_eq!(done["freed_bytes"], dry["freed_bytes"]);
    assert!(done["freed_bytes"].as_u64().unwrap() > 0);
    assert!(done["kept_recent"].as_u64().unwrap() >= 1);

    let after: std::collections::HashSet<String> = f
        .platform
        .blobs
        .list()
        .unwrap()
        .into_iter()
        .map(|b| b.sha256)
        .collect();
    assert!(after.contains(&young), "a young blob was collected");
    let kept = archives::gc::kept_blobs(&f.platform).await.unwrap();
    assert!(
        after.iter().all(|k| kept.contains(k) || *k == young),
        "an orphan survived"
    );
    assert!(
        kept.iter()
            .all(|k| !before.contains(k) || after.contains(k)),
        "a referenced blob went"
    );
    // X's blobs that Y shares stay; the ones only X had are gone.
    let y_keys = kept.clone();
    let shared = x_keys.iter().filter(|k| y_keys.contains(*k)).count();
    let gone = x_keys.iter().filter(|k| !after.contains(*k)).count();
    assert!(shared > 0 && gone > 0, "shared {shared}, gone {gone}");
    for k in &y_archive {
        assert!(after.contains(k), "a part of Y's kept archive went");
    }
    // Y still exports, whole.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("y.mbz");
    export(&f, y, &out);
    assert!(pf_mbz::check_invariants(&out).unwrap().is_empty());
    // Audited.
    let audit = f.platform.store.audit(0, 50).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "blobs.gc"));
    // Administrators only.
    let tmp_pw = tmp.path().join("pw");
    std::fs::write(&tmp_pw, "a long password\n").unwrap();
    f.cli(
        bin(),
        &[
            "user",
            "add",
            "tina",
            "--password-file",
            tmp_pw.to_str().unwrap(),
        ],
    );
    assert_eq!(f.cli(bin(), &["blobs", "gc", "--as", "tina"]).code, 1);
    f.stop().await;
}

/// Two `course import --into` of the same course at the same time: the merge that finds the
/// course changed under it is computed again, so both land and the export carries both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_merges_into_one_course_at_once_both_land() {
    let f = TestPlatform::start(PlatformRole::Factory, "fab").await;
    let tmp = tempfile::tempdir().unwrap();
    let id = import(&f, &fixture("deadlock"), &[])["course_id"]
        .as_i64()
        .unwrap();
    let before = activity_names(&f, id);
    let add = fixtures()
        .into_iter()
        .find(|p| is_activity_backup(p))
        .unwrap();
    let id_s = id.to_string();
    let args = [
        "course",
        "import",
        add.to_str().unwrap(),
        "--into",
        &id_s,
        "--json",
    ];
    let runs: Vec<_> = std::thread::scope(|s| {
        let h: Vec<_> = (0..2).map(|_| s.spawn(|| f.cli(bin(), &args))).collect();
        h.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for run in &runs {
        assert_eq!(run.code, 0, "{run:?}");
    }
    let after = activity_names(&f, id);
    assert_eq!(after.len(), before.len() + 2 * listed_activities(&add));
    // The payload has both grafts: the export lists every activity the course shows.
    let out = tmp.path().join("both.mbz");
    export(&f, id, &out);
    assert!(pf_mbz::check_invariants(&out).unwrap().is_empty());
    assert_eq!(listed_activities(&out), after.len());
    let back = import(&f, &out, &[]);
    assert_eq!(
        activity_names(&f, back["course_id"].as_i64().unwrap()),
        after
    );
    f.stop().await;
}
