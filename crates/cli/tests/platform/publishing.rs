//! Courses moving between real platforms on port 0 (SPEC §5): factory → catalog publications
//! (series, versions, idempotency), catalog → training deploys, training → factory retrofits,
//! lineage on both sides, and the refusals that must leave nothing behind.

use super::bin;
use pf_domain::ids::CourseId;
use pf_domain::platform::PlatformRole;
use pf_testkit::{CliRun, TestPlatform};
use serde_json::{json, Value};
use std::path::PathBuf;

pub(crate) const FIXTURES: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/mbz");

pub(crate) fn fixture(part: &str) -> PathBuf {
    std::fs::read_dir(FIXTURES)
        .expect("the shared fixtures beside the checkout")
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains(part))
        .unwrap_or_else(|| panic!("no fixture {part}"))
}

/// Runs the CLI off the runtime's workers (it calls back into servers of this process).
pub(crate) async fn cli(tp: &TestPlatform, args: &[&str]) -> CliRun {
    let dir = tp.data_dir();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        pf_testkit::run_cli(bin(), &dir, &refs)
    })
    .await
    .unwrap()
}

pub(crate) async fn ok(tp: &TestPlatform, args: &[&str]) -> Value {
    let run = cli(tp, args).await;
    assert_eq!(run.code, 0, "{args:?}: {run:?}");
    run.json()
}

/// `b` redeems `a`'s code (so `b` scanned `a` and knows its role).
pub(crate) async fn pair(a: &TestPlatform, b: &TestPlatform) {
    let code = ok(a, &["peer", "invite", "--json"]).await["code"]
        .as_str()
        .unwrap()
        .to_string();
    ok(b, &["peer", "add", &a.url, "--code", &code, "--json"]).await;
}

/// Imports a fixture and gives it an idnumber; returns its id.
pub(crate) async fn course_from(tp: &TestPlatform, name: &str) -> String {
    let path = fixture(name);
    let id = ok(tp, &["course", "import", path.to_str().unwrap(), "--json"]).await["course_id"]
        .to_string();
    ok(tp, &["course", "index", &id, "--json"]).await;
    id
}

pub(crate) async fn courses(tp: &TestPlatform) -> Vec<Value> {
    ok(tp, &["course", "list", "--json"])
        .await
        .as_array()
        .unwrap()
        .clone()
}

pub(crate) fn course_json(list: &[Value], id: i64) -> &Value {
    list.iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no course {id} in {list:?}"))
}

/// The ids of the categories of `tp`, by name.
pub(crate) async fn category(tp: &TestPlatform, name: &str) -> i64 {
    let cats = ok(tp, &["category", "list", "--json"]).await;
    cats.as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no category {name}: {cats}"))["id"]
        .as_i64()
        .unwrap()
}

/// Exports a course with the CLI and runs the independent scanner on the file.
/// Follows a job of `tp` until it ends; its final document.
pub(crate) async fn wait_job(tp: &TestPlatform, id: &str) -> Value {
    for _ in 0..600 {
        let job = ok(tp, &["jobs", "show", id, "--json"]).await;
        if ["done", "failed", "cancelled"].contains(&job["state"].as_str().unwrap_or("")) {
            return job;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("job {id} did not end");
}

async fn scan_export(tp: &TestPlatform, course: i64) -> pf_mbz::ScanReport {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x.mbz");
    let id = course.to_string();
    let run = cli(tp, &["course", "export", &id, "-o", out.to_str().unwrap()]).await;
    assert_eq!(run.code, 0, "{run:?}");
    pf_mbz::scan_file(&out, &pf_mbz::Limits::default()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_course_goes_from_factory_to_catalog_to_training_and_back() {
    let f = TestPlatform::start(PlatformRole::Factory, "fac").await;
    let c = TestPlatform::start(PlatformRole::Catalog, "cat").await;
    let t = TestPlatform::start(PlatformRole::Training, "train").await;
    pair(&c, &f).await;
    pair(&t, &c).await;
    pair(&f, &t).await;

    // Publish two fixtures as admin (admission by grant); one carries users.
    let gap = course_from(&f, "gapfill_example_course").await;
    let users = course_from(&f, "legacy_course_completion").await;
    let mut published = Vec::new();
    for id in [&gap, &users] {
        let job = ok(&f, &["publish", id, "--wait", "--json"]).await;
        assert_eq!(job["state"], "done", "{job}");
        assert_eq!(job["kind"], "publish");
        assert_eq!(job["transport"], "http");
        assert_eq!(job["result"]["platform"], "cat");
        assert_eq!(job["result"]["version"], 1);
        published.push(job["result"]["course_id"].as_i64().unwrap());
    }
    let on_c = courses(&c).await;
    let on_f = courses(&f).await;
    for (src, dst) in [(&gap, published[0]), (&users, published[1])] {
        let src: i64 = src.parse().unwrap();
        assert_eq!(course_json(&on_c, dst)["visible"], true);
        assert_eq!(
            course_json(&on_c, dst)["idnumber"],
            course_json(&on_f, src)["idnumber"]
        );
        // The catalog keeps exactly the factory's archive (manifest and signature).
        let kept = c.platform.store.archives(CourseId(dst)).await.unwrap();
        let made = f.platform.store.archives(CourseId(src)).await.unwrap();
        assert_eq!(kept[0].origin, "received");
        assert_eq!(kept[0].sha256, made[0].sha256);
        assert_eq!(kept[0].signature, made[0].signature);
        assert!(kept[0].signature.is_some());
    }
    let report = scan_export(&c, published[1]).await;
    assert!(report.is_clean(), "users arrived: {report:?}");
    let sections = ok(&c, &["course", "show", &published[0].to_string(), "--json"]).await;
    assert!(!sections["activities"].as_array().unwrap().is_empty());

    // One idempotency key, one course, even when the operation is asked twice.
    let third = course_from(&f, "sandbox-test").await;
    let before = courses(&c).await.len();
    let a = ok(
        &f,
        &[
            "publish",
            &third,
            "--idempotency-key",
            "k-1",
            "--wait",
            "--json",
        ],
    )
    .await;
    let b = ok(
        &f,
        &[
            "publish",
            &third,
            "--idempotency-key",
            "k-1",
            "--wait",
            "--json",
        ],
    )
    .await;
    assert_eq!(a["id"], b["id"]);
    assert_eq!(a["result"], b["result"]);
    assert_eq!(courses(&c).await.len(), before + 1);

    // A second `publish` is refused; `update` adds version 2 and hides version 1 as it commits.
    let again = cli(&f, &["publish", &gap, "--wait", "--json"]).await;
    assert_eq!(again.code, 1, "{again:?}");
    assert_eq!(again.json()["error"]["code"], "already_published");
    // A content edit (the course row untouched) makes the update carry a new archive.
    let gap_id = CourseId(gap.parse().unwrap());
    let first = f.platform.store.sections(gap_id).await.unwrap()[0].id;
    f.platform
        .store
        .update_section(first, Some("Edited for v2".into()), None)
        .await
        .unwrap();
    let update = ok(
        &f,
        &["publish", &gap, "--mode", "update", "--wait", "--json"],
    )
    .await;
    assert_eq!(update["result"]["version"], 2, "{update}");
    let made = f.platform.store.archives(gap_id).await.unwrap();
    assert_eq!(made.len(), 2, "the edit made a new archive");
    let kept = c
        .platform
        .store
        .archives(CourseId(update["result"]["course_id"].as_i64().unwrap()))
        .await
        .unwrap();
    assert_eq!(kept[0].sha256, made[0].sha256);
    let v2 = update["result"]["course_id"].as_i64().unwrap();
    let on_c = courses(&c).await;
    assert_eq!(course_json(&on_c, published[0])["visible"], false);
    assert_eq!(course_json(&on_c, v2)["visible"], true);
    let status = ok(&f, &["publication", "status", &gap, "--json"]).await;
    assert_eq!(
        status["catalogs"][0]["status"], "published-visible",
        "{status}"
    );
    assert_eq!(
        status["catalogs"][0]["versions"].as_array().unwrap().len(),
        2
    );
    // Unpublish hides every version; republish shows the newest again.
    ok(
        &f,
        &["publish", &gap, "--mode", "unpublish", "--wait", "--json"],
    )
    .await;
    let status = ok(&f, &["publication", "status", &gap, "--json"]).await;
    assert_eq!(status["catalogs"][0]["status"], "published-hidden");
    ok(
        &f,
        &["publish", &gap, "--mode", "republish", "--wait", "--json"],
    )
    .await;
    let on_c = courses(&c).await;
    assert_eq!(course_json(&on_c, v2)["visible"], true);
    assert_eq!(course_json(&on_c, published[0])["visible"], false);

    // Catalog → training: hidden, in the chosen category, the deployer enrolled. The course
    // needs its deploy key (an extra check; a wrong or missing key queues nothing).
    let running = category(&t, "Running").await.to_string();
    let v2s = v2.to_string();
    let tmp = tempfile::tempdir().unwrap();
    let (key, wrong) = (tmp.path().join("key"), tmp.path().join("wrong"));
    std::fs::write(&key, "open sesame\n").unwrap();
    std::fs::write(&wrong, "guess\n").unwrap();
    let set = cli(
        &c,
        &[
            "course",
            "set",
            &v2s,
            "--deploy-key-file",
            key.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(set.code, 0, "{set:?}");
    for bad in [vec![], vec!["--key-file", wrong.to_str().unwrap()]] {
        let mut args = vec!["deploy", &v2s, "--to", "train", "--json"];
        args.extend(bad);
        let refused = cli(&c, &args).await;
        assert_eq!(refused.code, 1, "{refused:?}");
        assert!(refused.stderr.contains("deploy key"), "{refused:?}");
    }
    assert_eq!(courses(&t).await.len(), 0);
    let dep = ok(
        &c,
        &[
            "deploy",
            &v2s,
            "--to",
            "train",
            "--category",
            &running,
            "--key-file",
            key.to_str().unwrap(),
            "--wait",
            "--json",
        ],
    )
    .await;
    assert_eq!(dep["state"], "done", "{dep}");
    let on_t_id = dep["result"]["course_id"].as_i64().unwrap();
    let on_t = courses(&t).await;
    let deployed = course_json(&on_t, on_t_id);
    assert_eq!(deployed["visible"], false);
    assert_eq!(deployed["category"].to_string(), running);
    let users_t = ok(&t, &["user", "list", "--json"]).await;
    let roaming = users_t
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"].as_str().unwrap().starts_with("admin@"))
        .unwrap_or_else(|| panic!("no roaming admin: {users_t}"));
    assert!(
        roaming["roles"].to_string().contains("editingteacher"),
        "{roaming}"
    );
    // The training platform received what the factory made: same manifest, same signature.
    let kept = t.platform.store.archives(CourseId(on_t_id)).await.unwrap();
    let made = f
        .platform
        .store
        .archives(CourseId(gap.parse().unwrap()))
        .await
        .unwrap();
    assert_eq!(kept[0].sha256, made[0].sha256);

    // Training → factory: a new hidden course in the factory's landing category; the factory
    // course's authors are told.
    let role = format!("editingteacher@course:{gap}");
    ok(
        &f,
        &[
            "user",
            "add",
            "author",
            "--email",
            "author@example.org",
            "--role",
            &role,
            "--json",
        ],
    )
    .await;
    let back = ok(&t, &["retrofit", &on_t_id.to_string(), "--wait", "--json"]).await;
    assert_eq!(back["state"], "done", "{back}");
    let on_f = courses(&f).await;
    let retro = course_json(&on_f, back["result"]["course_id"].as_i64().unwrap());
    assert_eq!(retro["visible"], false);
    assert_eq!(
        retro["idnumber"],
        course_json(&on_f, gap.parse().unwrap())["idnumber"]
    );

    let outbox = ok(&f, &["outbox", "list", "--json"]).await;
    assert!(
        outbox
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["kind"] == "retrofit" && m["to"] == "author@example.org"),
        "{outbox}"
    );

    // Lineage on every side.
    let edges = ok(&f, &["course", "lineage", &gap, "--json"]).await;
    let ops: Vec<_> = edges
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["operation"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ops, ["publish", "publish"], "{edges}");
    let edges = ok(&c, &["course", "lineage", &v2s, "--json"]).await;
    assert_eq!(edges[0]["source"]["platform"], "fac");
    assert_eq!(edges[0]["version"], 2);
    assert_eq!(edges[1]["operation"], "deploy");
    assert_eq!(
        edges[1]["target"],
        json!({"platform": "train", "course_id": on_t_id,
               "key": t.platform.identity.key_id().to_string()})
    );
    let edges = ok(&t, &["course", "lineage", &on_t_id.to_string(), "--json"]).await;
    assert_eq!(
        edges.as_array().unwrap().len(),
        2,
        "deploy in, retrofit out"
    );

    // The panel: the deploy form lists the training platform's synced categories, the course
    // shows its lineage, and a deploy from the browser queues a job and goes to its page.
    let mut admin = c.login("admin", pf_testkit::ADMIN_PASSWORD).await;
    // The catalog shows where each course was published from (its establishment).
    let front = admin.get("/").await.body;
    assert!(front.contains("published by fac"), "{front}");
    let page = admin.get(&format!("/course/{v2}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("published by fac"), "{}", page.body);
    let action = format!("action=\"/course/{v2}/deploy\"");
    assert!(page.body.contains(&action), "{}", page.body);
    assert!(page.body.contains(">Running<"), "{}", page.body);
    assert!(page.body.contains("Lineage"), "{}", page.body);
    let train_id = c
        .platform
        .store
        .peers()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.name == "train")
        .unwrap()
        .id
        .0
        .to_string();
    let sent = admin
        .post(
            &format!("/course/{v2}/deploy"),
            &[
                ("peer", &train_id),
                ("category", ""),
                ("deploy_key", "open sesame"),
            ],
        )
        .await;
    assert_eq!(sent.status, 303, "{sent:?}");
    let job = sent
        .location()
        .unwrap()
        .trim_start_matches("/jobs/")
        .to_string();
    assert_eq!(wait_job(&c, &job).await["state"], "done");
    let incoming = category(&t, "Incoming").await;
    assert!(courses(&t)
        .await
        .iter()
        .any(|x| x["category"] == incoming && x["visible"] == false));

    // A category picked in the form names its platform: it lands there, and a category of
    // another platform than the chosen target is refused before any job.
    let running_option = page
        .body
        .split("<option value=\"")
        .find_map(|o| {
            o.strip_suffix("\">Running</option>")
                .or_else(|| o.split_once("\">Running<").map(|(v, _)| v))
        })
        .expect("the picker lists Running")
        .to_string();
    assert_eq!(
        running_option,
        format!("{train_id}:{}", category(&t, "Running").await)
    );
    let jobs_before = ok(&c, &["jobs", "list", "--json"])
        .await
        .as_array()
        .unwrap()
        .len();
    let refused = admin
        .post(
            &format!("/course/{v2}/deploy"),
            &[
                ("peer", "local"),
                ("category", &running_option),
                ("deploy_key", "open sesame"),
            ],
        )
        .await;
    assert_eq!(refused.status, 400, "{refused:?}");
    assert_eq!(
        ok(&c, &["jobs", "list", "--json"])
            .await
            .as_array()
            .unwrap()
            .len(),
        jobs_before
    );
    let sent = admin
        .post(
            &format!("/course/{v2}/deploy"),
            &[
                ("peer", &train_id),
                ("category", &running_option),
                ("deploy_key", "open sesame"),
            ],
        )
        .await;
    assert_eq!(sent.status, 303, "{sent:?}");
    let job = sent
        .location()
        .unwrap()
        .trim_start_matches("/jobs/")
        .to_string();
    let doc = wait_job(&c, &job).await;
    assert_eq!(doc["state"], "done", "{doc}");
    // The job page links to the new course on the training platform.
    // (The templates escape '/' in attributes; a browser reads it back as '/'.)
    let job_page = admin
        .get(&format!("/jobs/{job}"))
        .await
        .body
        .replace("&#x2f;", "/");
    let link = format!("href=\"{}/course/{}\"", t.url, doc["result"]["course_id"]);
    assert!(job_page.contains(&link), "{link} in {job_page}");
    let running = category(&t, "Running").await;
    assert!(courses(&t)
        .await
        .iter()
        .any(|x| x["category"] == running && x["visible"] == false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_operations_create_nothing() {
    let f1 = TestPlatform::start(PlatformRole::Factory, "fac1").await;
    let f2 = TestPlatform::start(PlatformRole::Factory, "fac2").await;
    let c = TestPlatform::start(PlatformRole::Catalog, "cat").await;
    pair(&c, &f1).await;
    pair(&c, &f2).await;
    let count = courses(&c).await.len();

    // Two factories, one idnumber: the second is refused.
    let a = course_from(&f1, "moodle_28_quiz").await;
    let idnumber = ok(&f1, &["course", "show", &a, "--json"]).await["idnumber"]
        .as_str()
        .unwrap()
        .to_string();
    let b = ok(
        &f2,
        &[
            "course",
            "import",
            fixture("moodle_28_quiz").to_str().unwrap(),
            "--json",
        ],
    )
    .await["course_id"]
        .as_i64()
        .unwrap();
    f2.platform
        .store
        .update_course(
            CourseId(b),
            pf_store::CourseUpdate {
                idnumber: Some(pf_domain::course::IdNumber::parse(&idnumber).unwrap()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    ok(&f1, &["publish", &a, "--wait", "--json"]).await;
    let taken = cli(&f2, &["publish", &b.to_string(), "--wait", "--json"]).await;
    assert_eq!(taken.code, 1, "{taken:?}");
    assert_eq!(taken.json()["error"]["code"], "idnumber_taken");
    assert_eq!(courses(&c).await.len(), count + 1);
    // A catalog manager links the second factory to the series: it may update it.
    ok(&c, &["publication", "link", &idnumber, "fac2", "--json"]).await;
    let linked = ok(
        &f2,
        &[
            "publish",
            &b.to_string(),
            "--mode",
            "update",
            "--wait",
            "--json",
        ],
    )
    .await;
    assert_eq!(linked["result"]["version"], 2, "{linked}");
    let count = count + 2;

    // Damaged parts: repaired on the receiver, caught by the scanner on the sender.
    let gap = course_from(&f1, "gapfill_example_course").await;
    let v1 = ok(&f1, &["publish", &gap, "--wait", "--json"]).await["result"]["course_id"]
        .as_i64()
        .unwrap();
    let count = count + 1;
    let rec = f1
        .platform
        .store
        .archives(CourseId(gap.parse().unwrap()))
        .await
        .unwrap()
        .remove(0);
    let manifest = pf_mbz::TransportManifest::parse(rec.manifest.as_bytes(), u64::MAX).unwrap();
    let part = manifest
        .parts
        .iter()
        .find(|p| p.path != pf_mbz::transport::SKELETON)
        .expect("a file part");
    let blob_file = |tp: &TestPlatform, key: &str| {
        tp.data_dir()
            .join("blobs")
            .join(&key[0..2])
            .join(&key[2..4])
            .join(key)
    };
    let corrupt_part = |tp: &TestPlatform, part: &pf_mbz::ManifestPart| {
        let blob = blob_file(tp, &part.sha256);
        let mut perms = std::fs::metadata(&blob).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        std::fs::set_permissions(&blob, perms).unwrap();
        std::fs::write(&blob, b"not the bytes the manifest lists").unwrap();
    };
    let corrupt = |tp: &TestPlatform| corrupt_part(tp, part);
    // On the receiver: a damaged copy of a part (not the listed size) counts as missing; the
    // update fetches it again, the copy is repaired, and the new version lands.
    corrupt(&c);
    let repaired = ok(
        &f1,
        &["publish", &gap, "--mode", "update", "--wait", "--json"],
    )
    .await;
    assert_eq!(repaired["state"], "done", "{repaired}");
    let v2 = repaired["result"]["course_id"].as_i64().unwrap();
    let count = count + 1;
    assert_eq!(
        pf_mbz::staging::sha256_hex(&std::fs::read(blob_file(&c, &part.sha256)).unwrap()),
        part.sha256,
        "the damaged copy was replaced"
    );
    let on_c = courses(&c).await;
    assert_eq!(on_c.len(), count);
    assert_eq!(course_json(&on_c, v1)["visible"], false, "v2 replaced v1");
    // On the sender: the scanner's pass before anything leaves fails the job. The verdict
    // recorded when the archive was made is reused only for the same manifest, so a verdict
    // that no longer matches makes the sender scan again, and the corrupted XML part fails it.
    let skeleton = manifest
        .parts
        .iter()
        .find(|p| p.path.starts_with("skeleton/activities/"))
        .expect("an activity's skeleton part");
    corrupt_part(&f1, skeleton);
    f1.platform
        .store
        .set_archive_scan(&pf_store::ArchiveScan {
            archive: rec.id,
            manifest_sha256: "0".repeat(64),
            scanner: pf_mbz::SCANNER_VERSION.into(),
            scanned_at: 0,
        })
        .await
        .unwrap();
    let bad = cli(
        &f1,
        &["publish", &gap, "--mode", "update", "--wait", "--json"],
    )
    .await;
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(
        bad.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("scanner"),
        "{bad:?}"
    );
    let on_c = courses(&c).await;
    assert_eq!(on_c.len(), count);
    assert_eq!(
        course_json(&on_c, v2)["visible"],
        true,
        "a failed update changes nothing"
    );

    // A bad manifest signature is refused before anything else.
    let peer = f1
        .platform
        .store
        .peers()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.name == "cat")
        .unwrap();
    let stranger = pf_net::Identity::generate();
    let bytes = manifest.signing_bytes();
    let offer = json!({
        "operation": "publish", "manifest": String::from_utf8(bytes.clone()).unwrap(),
        "signature": pf_net::sign_bytes(&stranger, &bytes).to_string(),
        "idempotency_key": "forged-1", "archive": rec.id, "source_course": 1, "ticket": "x",
        "mode": "publish", "asserted": ["publishflow:publish"],
    });
    let caller = pf_server::rpc::PeerCaller::new(&f1.platform).unwrap();
    let admin = pf_domain::user::Username::parse("admin").unwrap();
    let refused = caller
        .post_json::<_, Value>(&peer, "/rpc/offer", &offer, Some(&admin))
        .await
        .unwrap_err();
    assert_eq!(refused.code.as_str(), "unauthenticated", "{refused:?}");
    assert!(c.platform.store.job_by_key("forged-1").await.is_err());

    // An interrupted part resumes from what the staging area holds (HTTP range) and is verified:
    // a wrong prefix fails the job, a right one completes it.
    let big = course_from(&f1, "deadlock").await;
    let rec = ok(&f1, &["archive", "make", &big, "--json"]).await;
    let rec = f1
        .platform
        .store
        .archive(rec["id"].as_i64().unwrap())
        .await
        .unwrap();
    let manifest = pf_mbz::TransportManifest::parse(rec.manifest.as_bytes(), u64::MAX).unwrap();
    let largest = manifest.parts.iter().max_by_key(|p| p.size).unwrap();
    let bytes = pf_store::blob::BlobStore::open(&*f1.platform.blobs, &largest.sha256).unwrap();
    let bytes: Vec<u8> = std::io::Read::bytes(bytes).map(Result::unwrap).collect();
    let half = bytes.len() / 2;
    for (key, prefix) in [
        ("k-bad", vec![b'x'; half]),
        ("k-resume", bytes[..half].to_vec()),
    ] {
        let staging = pf_server::services::publishing::pull::staging_for(&c.platform, key).unwrap();
        std::fs::create_dir_all(&staging).unwrap();
        std::fs::write(staging.join(&largest.sha256), prefix).unwrap();
        let run = cli(
            &f1,
            &[
                "publish",
                &big,
                "--idempotency-key",
                key,
                "--wait",
                "--json",
            ],
        )
        .await;
        if key == "k-bad" {
            assert_eq!(run.code, 1, "{run:?}");
            assert!(
                run.json()["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("SHA-256"),
                "{run:?}"
            );
            assert_eq!(courses(&c).await.len(), count);
        } else {
            assert_eq!(run.code, 0, "{run:?}");
            assert!(c.platform.blobs.contains(&largest.sha256).unwrap());
        }
    }
    let big_id = CourseId(big.parse().unwrap());
    assert_eq!(
        f1.platform.store.archives(big_id).await.unwrap().len(),
        1,
        "an unchanged course reuses its newest archive"
    );
    let count = count + 1;

    // With curation on, a new version arrives hidden until a curator shows it.
    c.platform
        .store
        .set_setting(pf_server::services::publishing::CURATION, "1")
        .await
        .unwrap();
    let curated = course_from(&f1, "availability_26_format").await;
    let job = ok(&f1, &["publish", &curated, "--wait", "--json"]).await;
    let held = job["result"]["course_id"].as_i64().unwrap();
    assert_eq!(course_json(&courses(&c).await, held)["visible"], false);
    let count = count + 1;

    // Missing grant, then a disabled peer: refused, nothing created.
    let other = course_from(&f1, "question_category_34_format").await;
    assert_eq!(
        cli(&c, &["peer", "set", "fac1", "--grant", ""]).await.code,
        0
    );
    let no_grant = cli(&f1, &["publish", &other, "--wait", "--json"]).await;
    assert_eq!(no_grant.code, 1, "{no_grant:?}");
    // admin@fac1 has a roaming account here since the first publication, without the capability.
    assert_eq!(no_grant.json()["error"]["code"], "missing_capability");
    assert_eq!(
        cli(
            &c,
            &["peer", "set", "fac1", "--grant", "publish", "--disable"]
        )
        .await
        .code,
        0
    );
    let disabled = cli(&f1, &["publish", &other, "--wait", "--json"]).await;
    assert_eq!(disabled.code, 1, "{disabled:?}");
    assert_eq!(courses(&c).await.len(), count);

    // Operations need the server that runs them.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let init = pf_testkit::run_cli(
        bin(),
        &dir,
        &[
            "init",
            "--role",
            "factory",
            "--name",
            "x",
            "--url",
            "http://127.0.0.1:0",
        ],
    );
    assert_eq!(init.code, 0, "{init:?}");
    let offline = pf_testkit::run_cli(bin(), &dir, &["publish", "1", "--json"]);
    assert_eq!(offline.code, 1);
    assert_eq!(
        offline.stderr.trim(),
        "error: no server is running on this data dir"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_deploys_make_twenty_courses() {
    // The training platform runs a post-deploy hook (no shell; PF_* variables); it fails while
    // a marker file exists.
    let hooks = tempfile::tempdir().unwrap();
    let (script, seen, fail) = (
        hooks.path().join("hook.sh"),
        hooks.path().join("seen"),
        hooks.path().join("fail"),
    );
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$PF_COURSE_ID $PF_COURSE_IDNUMBER $PF_SOURCE $PF_USER\" >> {seen}\n\
             test -s \"$PF_MBZ\" || exit 4\ntest -e {fail} && {{ echo broken; exit 3; }}\nexit 0\n",
            seen = seen.display(),
            fail = fail.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let c = TestPlatform::start(PlatformRole::Catalog, "cat").await;
    let hook = script.to_str().unwrap().to_string();
    let t = TestPlatform::start_with_config(PlatformRole::Training, "train", move |cfg| {
        cfg.deploy.hook = hook;
        cfg.deploy.hook_timeout_seconds = 20;
    })
    .await;
    pair(&t, &c).await;
    let course = course_from(&c, "sandbox-test").await;
    let shortname = ok(&c, &["course", "show", &course, "--json"]).await["shortname"]
        .as_str()
        .unwrap()
        .to_string();
    // The first deploy goes through the API: 202 with the queued job.
    let token = ok(&c, &["token", "create", "--name", "ci", "--json"]).await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let http = reqwest::Client::new();
    let api = |path: String, body: Value| {
        http.post(format!("{}/api/v1{path}", c.url))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let r = api(
        format!("/courses/{course}/deploy"),
        json!({ "to": "train", "idempotency_key": "deploy-0" }),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 202);
    let first: Value = r.json().await.unwrap();
    assert_eq!(first["kind"], "deploy");
    // A course without free category choice refuses a category; nothing is queued.
    assert_eq!(
        cli(&c, &["course", "set", &course, "--free-category", "off"])
            .await
            .code,
        0
    );
    let r = api(
        format!("/courses/{course}/deploy"),
        json!({ "to": "train", "category": 1, "idempotency_key": "deploy-x" }),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    assert!(c.platform.store.job_by_key("deploy-x").await.is_err());
    let spec: Value = http
        .get(format!("{}/api/v1/openapi.json", c.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(spec["paths"]["/courses/{id}/deploy"]["post"].is_object());
    let mut jobs = vec![first["id"].to_string()];
    for i in 1..20 {
        let key = format!("deploy-{i}");
        let job = ok(
            &c,
            &[
                "deploy",
                &course,
                "--to",
                "train",
                "--idempotency-key",
                &key,
                "--json",
            ],
        )
        .await;
        assert_eq!(job["state"], "queued");
        jobs.push(job["id"].to_string());
    }
    for id in &jobs {
        let mut state = String::new();
        for _ in 0..600 {
            let doc = ok(&c, &["jobs", "show", id, "--json"]).await;
            state = doc["state"].as_str().unwrap().to_string();
            if state == "done" || state == "failed" {
                assert_eq!(state, "done", "{doc}");
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(state, "done");
    }
    let mut names: Vec<String> = courses(&t)
        .await
        .iter()
        .map(|c| c["shortname"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    let mut expected: Vec<String> = std::iter::once(shortname.clone())
        .chain((1..20).map(|i| format!("{shortname}_{i}")))
        .collect();
    expected.sort();
    assert_eq!(names, expected);

    let lines = std::fs::read_to_string(&seen).unwrap();
    assert_eq!(lines.lines().count(), 20, "{lines}");
    assert!(
        lines.lines().all(|l| l.ends_with(" cat admin@cat")),
        "{lines}"
    );
    // A failing hook is reported; the course is kept and flagged.
    std::fs::write(&fail, "").unwrap();
    let done = ok(
        &c,
        &["deploy", &course, "--to", "train", "--wait", "--json"],
    )
    .await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["result"]["hook"]["ok"], false, "{done}");
    assert!(done["result"]["hook"]["output"]
        .as_str()
        .unwrap()
        .contains("broken"));
    let kept = CourseId(done["result"]["course_id"].as_i64().unwrap());
    assert!(t.platform.store.hook_failed(kept).await.unwrap());

    // A local deploy: a hidden copy on the catalog itself, with lineage on both courses.
    let local = ok(
        &c,
        &["deploy", &course, "--to", "local", "--wait", "--json"],
    )
    .await;
    assert_eq!(local["transport"], "local", "{local}");
    let copy = local["result"]["course_id"].as_i64().unwrap();
    assert_eq!(course_json(&courses(&c).await, copy)["visible"], false);
    let edges = ok(&c, &["course", "lineage", &copy.to_string(), "--json"]).await;
    assert_eq!(edges[0]["source"]["course_id"].to_string(), course);
    let edges = ok(&c, &["course", "lineage", &course, "--json"]).await;
    let edges = edges.as_array().unwrap();
    assert_eq!(edges.len(), 22, "twenty-one deploys and the local one");
    assert_eq!(edges[21]["target"]["platform"], "cat");
    assert_eq!(edges[21]["actor"], "admin@cat");
}

/// Accepts one HTTP request on `listener`, answers 200, returns (headers, body).
async fn one_request(listener: tokio::net::TcpListener) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut sock, _) = listener.accept().await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = sock.read(&mut chunk).await.unwrap();
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= len || n == 0 {
                sock.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                )
                .await
                .unwrap();
                return (head.to_ascii_lowercase(), body.to_string());
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_webhook_is_signed_with_the_shared_secret() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/deployed", listener.local_addr().unwrap());
    let got = tokio::spawn(one_request(listener));
    let c = TestPlatform::start(PlatformRole::Catalog, "cat").await;
    let t = TestPlatform::start_with_config(PlatformRole::Training, "train", move |cfg| {
        cfg.deploy.webhook_url = url;
        cfg.deploy.webhook_secret = pf_server::config::Secret("s3cret".into());
    })
    .await;
    pair(&t, &c).await;
    let course = course_from(&c, "sandbox-test").await;
    let done = ok(
        &c,
        &["deploy", &course, "--to", "train", "--wait", "--json"],
    )
    .await;
    assert_eq!(done["result"]["hook"]["ok"], true, "{done}");
    let (head, body) = got.await.unwrap();
    let expected =
        pf_server::services::publishing::hook::webhook_signature("s3cret", body.as_bytes());
    assert!(
        head.contains(&format!("x-publishflow-signature: {expected}")),
        "{head}"
    );
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["course_id"], done["result"]["course_id"]);
    assert_eq!(doc["user"], "admin@cat");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployer_admitted_by_their_own_account_on_the_training_platform() {
    let c = TestPlatform::start(PlatformRole::Catalog, "cat").await;
    let t = TestPlatform::start(PlatformRole::Training, "train").await;
    pair(&t, &c).await;
    // No grant: only the deployer's own account on the training platform can admit a deploy.
    assert_eq!(
        cli(&t, &["peer", "set", "cat", "--grant", ""]).await.code,
        0
    );
    let course = course_from(&c, "sandbox-test").await;
    let role = format!("deployer@course:{course}");
    ok(&c, &["user", "add", "dora", "--role", &role, "--json"]).await;
    let incoming = category(&t, "Incoming").await;
    let running = category(&t, "Running").await;
    let creator = format!("coursecreator@category:{incoming}");
    ok(&t, &["user", "add", "tdora", "--role", &creator, "--json"]).await;
    assert_eq!(
        cli(&t, &["peer", "link", "cat", "dora", "--to", "tdora"])
            .await
            .code,
        0
    );
    // In the category where her account may create courses: admitted under (a).
    let done = ok(
        &c,
        &[
            "--as", "dora", "deploy", &course, "--to", "train", "--wait", "--json",
        ],
    )
    .await;
    let id = done["result"]["course_id"].as_i64().unwrap();
    let on_t = courses(&t).await;
    assert_eq!(course_json(&on_t, id)["category"], incoming);
    // Where she lacks course:create: refused, nothing created.
    let refused = cli(
        &c,
        &[
            "--as",
            "dora",
            "deploy",
            &course,
            "--to",
            "train",
            "--category",
            &running.to_string(),
            "--wait",
            "--json",
        ],
    )
    .await;
    assert_eq!(refused.code, 1, "{refused:?}");
    assert_eq!(refused.json()["error"]["code"], "missing_capability");
    assert_eq!(courses(&t).await.len(), 1);
    // Someone without publishflow:deploy on the course cannot even queue it.
    ok(&c, &["user", "add", "eve", "--json"]).await;
    let eve = cli(
        &c,
        &["--as", "eve", "deploy", &course, "--to", "train", "--json"],
    )
    .await;
    assert_eq!(eve.code, 1, "{eve:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_are_served_to_ticket_holders_with_ranges_and_tickets_renew() {
    let f = TestPlatform::start(PlatformRole::Factory, "fac").await;
    let c = TestPlatform::start(PlatformRole::Catalog, "cat").await;
    pair(&c, &f).await;
    let course = course_from(&f, "gapfill_example_course").await;
    let made = ok(&f, &["archive", "make", &course, "--json"]).await;
    let rec = f
        .platform
        .store
        .archive(made["id"].as_i64().unwrap())
        .await
        .unwrap();
    let manifest = pf_mbz::TransportManifest::parse(rec.manifest.as_bytes(), u64::MAX).unwrap();
    let part = manifest.parts.iter().max_by_key(|p| p.size).unwrap();
    let blob = pf_store::blob::BlobStore::open(&*f.platform.blobs, &part.sha256).unwrap();
    let bytes: Vec<u8> = std::io::Read::bytes(blob).map(Result::unwrap).collect();
    let c_key = c.platform.identity.key_id().to_string();
    let header = pf_server::services::publishing::pull::TICKET_HEADER;
    let url = format!("{}/transfer/parts/{}", f.url, part.sha256);
    let http = reqwest::Client::new();
    // An expired ticket (signed by the factory) is refused; so is none.
    let stale =
        serde_json::to_vec(&json!({ "archive": rec.id, "peer": c_key, "expires": 1 })).unwrap();
    let stale = format!(
        "{}.{}",
        hex_encode(&stale),
        pf_net::sign_bytes(&f.platform.identity, &stale)
    );
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    let r = http.get(&url).header(header, &stale).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // The catalog renews it over signed RPC, for itself only.
    let peer_f = c
        .platform
        .store
        .peers()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.name == "fac")
        .unwrap();
    let caller = pf_server::rpc::PeerCaller::new(&c.platform).unwrap();
    let fresh: Value = caller
        .post_json(
            &peer_f,
            "/rpc/ticket",
            &json!({ "ticket": stale, "archive": rec.id }),
            None,
        )
        .await
        .unwrap();
    let fresh = fresh["ticket"].as_str().unwrap().to_string();
    let wrong = caller
        .post_json::<_, Value>(
            &peer_f,
            "/rpc/ticket",
            &json!({ "ticket": stale, "archive": rec.id + 1 }),
            None,
        )
        .await;
    assert!(wrong.is_err());
    // Whole part, then a resumed tail with a range.
    let r = http.get(&url).header(header, &fresh).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().to_vec(), bytes);
    let half = bytes.len() / 2;
    let r = http
        .get(&url)
        .header(header, &fresh)
        .header("range", format!("bytes={half}-"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.unwrap().to_vec(), bytes[half..].to_vec());
    // A blob that is not a part of the ticket's archive is not served.
    let other = format!("{}/transfer/parts/{}", f.url, "0".repeat(64));
    let r = http
        .get(&other)
        .header(header, &fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
