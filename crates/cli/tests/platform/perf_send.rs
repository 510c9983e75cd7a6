//! The sender side of the publish benchmark (issue 5): the scanner's verdict is recorded with the
//! archive and reused while the manifest hash matches (a mismatch scans again), the skeleton
//! travels in deterministic content-addressed parts, and an update moves only the parts whose
//! bytes changed.

use super::archives::is_activity_backup;
use super::publishing::{course_from, ok, pair, FIXTURES};
use pf_domain::ids::CourseId;
use pf_domain::platform::PlatformRole;
use pf_mbz::{ManifestPart, TransportManifest};
use pf_store::ArchiveRecord;
use pf_testkit::TestPlatform;
use std::collections::{BTreeMap, HashSet};

async fn newest(tp: &TestPlatform, course: &str) -> ArchiveRecord {
    tp.platform
        .store
        .archives(CourseId(course.parse().unwrap()))
        .await
        .unwrap()
        .remove(0)
}

fn parts(rec: &ArchiveRecord) -> BTreeMap<String, ManifestPart> {
    TransportManifest::parse(rec.manifest.as_bytes(), u64::MAX)
        .unwrap()
        .parts
        .into_iter()
        .map(|p| (p.path.clone(), p))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_move_only_changed_parts_and_the_scan_verdict_is_kept() {
    let f = TestPlatform::start(PlatformRole::Factory, "fac").await;
    let c = TestPlatform::start(PlatformRole::Catalog, "cat").await;
    pair(&c, &f).await;
    let gap = course_from(&f, "gapfill_example_course").await;
    let job = ok(&f, &["publish", &gap, "--wait", "--json"]).await;
    assert_eq!(job["state"], "done", "{job}");
    let rec1 = newest(&f, &gap).await;
    let p1 = parts(&rec1);
    assert!(p1.contains_key("skeleton/index.tgz"), "{:?}", p1.keys());
    assert!(p1.keys().any(|k| k.starts_with("skeleton/activities/")));

    // The verdict was recorded when the archive was made, for exactly this manifest.
    let v = f.platform.store.archive_scan(rec1.id).await.unwrap();
    let v = v.expect("a recorded verdict");
    assert_eq!(v.manifest_sha256, rec1.sha256);
    assert_eq!(v.scanner, pf_mbz::SCANNER_VERSION);

    // Same course, same parts: a new archive of the unchanged course lists identical parts.
    ok(&f, &["archive", "make", &gap, "--json"]).await;
    let rec1b = newest(&f, &gap).await;
    assert_ne!(rec1b.id, rec1.id);
    assert_eq!(parts(&rec1b), p1);

    // A verdict that does not match the archive's manifest is not trusted: the sender scans
    // again before the offer and records the new verdict.
    f.platform
        .store
        .set_archive_scan(&pf_store::ArchiveScan {
            archive: rec1b.id,
            manifest_sha256: "0".repeat(64),
            scanner: pf_mbz::SCANNER_VERSION.into(),
            scanned_at: 0,
        })
        .await
        .unwrap();
    let job = ok(
        &f,
        &["publish", &gap, "--mode", "update", "--wait", "--json"],
    )
    .await;
    assert_eq!(job["state"], "done", "{job}");
    let v = f
        .platform
        .store
        .archive_scan(rec1b.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v.manifest_sha256, rec1b.sha256);
    assert!(v.scanned_at > 0, "scanned again");
    // Nothing changed, so the catalog already held every part: nothing moved.
    assert_eq!(job["progress"]["bytes_total"], 0, "{job}");

    // An activity joins the course: the update moves the new and changed parts only, and every
    // activity that did not change keeps byte-identical parts.
    let add = std::fs::read_dir(FIXTURES)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "mbz") && is_activity_backup(p))
        .expect("an activity backup among the fixtures");
    ok(
        &f,
        &[
            "course",
            "import",
            add.to_str().unwrap(),
            "--into",
            &gap,
            "--json",
        ],
    )
    .await;
    let job = ok(
        &f,
        &["publish", &gap, "--mode", "update", "--wait", "--json"],
    )
    .await;
    assert_eq!(job["state"], "done", "{job}");
    let rec2 = newest(&f, &gap).await;
    let p2 = parts(&rec2);
    for (path, part) in p1
        .iter()
        .filter(|(k, _)| k.starts_with("skeleton/activities/"))
    {
        assert_eq!(p2.get(path), Some(part), "{path} is unchanged");
    }
    let old: HashSet<&str> = p1.values().map(|p| p.sha256.as_str()).collect();
    let changed: Vec<&ManifestPart> = p2
        .values()
        .filter(|p| !old.contains(p.sha256.as_str()))
        .collect();
    assert!(
        changed
            .iter()
            .any(|p| p.path.starts_with("skeleton/activities/")),
        "the new activity's part: {changed:?}"
    );
    let changed_bytes: u64 = changed.iter().map(|p| p.size).sum();
    let all_bytes: u64 = p2.values().map(|p| p.size).sum();
    let moved = job["progress"]["bytes_total"].as_u64().unwrap();
    assert!(
        moved > 0 && moved <= changed_bytes && moved < all_bytes,
        "moved {moved}, changed parts {changed_bytes}, all parts {all_bytes}"
    );
    f.stop().await;
    c.stop().await;
}
