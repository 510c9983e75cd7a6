//! The transports of SPEC §6.4 between real platforms: `shared-fs` (parts by key inside the
//! receiver's own root, links refused), `rpc-inline` (and its fall back to `http` above the
//! limit), the truthful `describe`, cancels that cross to the receiver, and a receiver process
//! killed in the middle of a restore.

use super::bin;
use super::publishing::{cli, course_from, courses, ok, pair};
use pf_domain::platform::PlatformRole;
use pf_server::config::Config;
use pf_testkit::TestPlatform;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

fn transfer(transports: &str, root: Option<&Path>) -> impl FnOnce(&mut Config) {
    let (transports, root) = (
        transports.to_string(),
        root.map(|r| r.display().to_string()),
    );
    move |c: &mut Config| {
        c.transfer.transports = transports;
        c.transfer.shared_fs_root = root.unwrap_or_default();
    }
}

/// Polls `jobs show ID` on `tp` until `done(doc)` holds (30 s at most).
async fn until(tp: &TestPlatform, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let doc = ok(tp, &["jobs", "show", id, "--json"]).await;
        if done(&doc) {
            return doc;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "job {id} stuck: {doc}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The receiving jobs on `tp`.
async fn receive_jobs(tp: &TestPlatform) -> Vec<Value> {
    let list = ok(tp, &["jobs", "list", "--json"]).await;
    list.as_array()
        .unwrap()
        .iter()
        .filter(|j| j["kind"] == "receive")
        .cloned()
        .collect()
}

/// The part keys of a course's newest archive on `tp` (made now if needed).
async fn part_keys(tp: &TestPlatform, course: &str) -> Vec<(String, u64)> {
    let made = ok(tp, &["archive", "make", course, "--json"]).await;
    let rec = tp
        .platform
        .store
        .archive(made["id"].as_i64().unwrap())
        .await
        .unwrap();
    pf_mbz::TransportManifest::parse(rec.manifest.as_bytes(), u64::MAX)
        .unwrap()
        .parts
        .iter()
        .map(|p| (p.sha256.clone(), p.size))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_fs_copies_parts_by_key_and_refuses_a_link_planted_in_the_root() {
    let tmp = tempfile::tempdir().unwrap();
    let shared = tmp.path().join("shared");
    let f = TestPlatform::start_with_config(
        PlatformRole::Factory,
        "fac",
        transfer("shared-fs,http", Some(&shared)),
    )
    .await;
    let c = TestPlatform::start_with_config(
        PlatformRole::Catalog,
        "cat",
        transfer("shared-fs,http", Some(&shared)),
    )
    .await;
    pair(&c, &f).await;
    let course = course_from(&f, "gapfill_example_course").await;
    let keys = part_keys(&f, &course).await;
    let job = ok(&f, &["publish", &course, "--wait", "--json"]).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["transport"], "shared-fs", "{job}");
    let received = &receive_jobs(&c).await[0];
    assert_eq!(received["transport"], "shared-fs");
    // The sender placed every part under the root by its key; the receiver holds copies
    // (its own inodes, not links to the shared files).
    for (key, size) in &keys {
        let placed = std::fs::symlink_metadata(shared.join(key)).unwrap();
        assert!(placed.is_file() && placed.len() == *size);
        let kept = c.platform.config.blob_dir(&c.data_dir());
        let kept = std::fs::metadata(kept.join(&key[0..2]).join(&key[2..4]).join(key)).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_ne!(kept.ino(), placed.ino(), "a copy, never a hard link");
        assert_eq!(kept.nlink(), 1);
    }

    // A second catalog reads its own root, where someone planted links named like the parts
    // (pointing at files with the right bytes): refused, the job fails, nothing is created.
    let planted = tmp.path().join("planted");
    std::fs::create_dir(&planted).unwrap();
    let c2 = TestPlatform::start_with_config(
        PlatformRole::Catalog,
        "cat2",
        transfer("shared-fs,http", Some(&planted)),
    )
    .await;
    pair(&c2, &f).await;
    let other = course_from(&f, "sandbox-test").await;
    for (key, _) in part_keys(&f, &other).await {
        std::os::unix::fs::symlink(shared.join(&key), planted.join(&key)).unwrap();
    }
    let before = courses(&c2).await.len();
    let run = cli(
        &f,
        &["publish", &other, "--catalog", "cat2", "--wait", "--json"],
    )
    .await;
    assert_eq!(run.code, 1, "{run:?}");
    let doc = run.json();
    assert_eq!(doc["state"], "failed", "{doc}");
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("symbolic link"),
        "{doc}"
    );
    assert_eq!(courses(&c2).await.len(), before);
    assert!(c2
        .platform
        .store
        .lineage_by_key(doc["idempotency_key"].as_str().unwrap_or("-"))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_inline_moves_small_archives_and_falls_back_to_http_above_its_limit() {
    let f = TestPlatform::start_with_config(
        PlatformRole::Factory,
        "fac",
        transfer("rpc-inline,http", None),
    )
    .await;
    let c = TestPlatform::start_with_config(
        PlatformRole::Catalog,
        "cat",
        transfer("rpc-inline,http", None),
    )
    .await;
    let tiny = |c: &mut Config| {
        c.transfer.transports = "rpc-inline".into();
        c.transfer.rpc_inline_max_bytes = 1024;
    };
    let c2 = TestPlatform::start_with_config(PlatformRole::Catalog, "cat2", tiny).await;
    pair(&c, &f).await;
    pair(&c2, &f).await;
    // describe tells what each platform really serves.
    let caller = pf_server::rpc::PeerCaller::new(&f.platform).unwrap();
    for (name, expected) in [
        ("cat", ["rpc-inline", "http"]),
        ("cat2", ["rpc-inline", "http"]),
    ] {
        let peer = f
            .platform
            .store
            .peers()
            .await
            .unwrap()
            .into_iter()
            .find(|p| p.name == name)
            .unwrap();
        let d: Value = caller.get_json(&peer, "/rpc/describe", None).await.unwrap();
        assert_eq!(d["transports"], serde_json::json!(expected), "{name}");
    }

    let course = course_from(&f, "gapfill_example_course").await;
    let job = ok(
        &f,
        &["publish", &course, "--catalog", "cat", "--wait", "--json"],
    )
    .await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["transport"], "rpc-inline", "{job}");
    assert!(job["result"]["notes"].is_null(), "{job}");
    let landed = job["result"]["course_id"].as_i64().unwrap();
    let shown = ok(&c, &["course", "show", &landed.to_string(), "--json"]).await;
    assert!(!shown["activities"].as_array().unwrap().is_empty());

    // Over the receiver's limit: http, and the job says why.
    let job = ok(
        &f,
        &["publish", &course, "--catalog", "cat2", "--wait", "--json"],
    )
    .await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["transport"], "http", "{job}");
    let notes = job["result"]["notes"].to_string();
    assert!(
        notes.contains("rpc-inline") && notes.contains("1024"),
        "{job}"
    );
    assert_eq!(receive_jobs(&c2).await[0]["transport"], "http");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_the_initiators_job_cancels_the_receivers_and_creates_nothing() {
    let f = TestPlatform::start(PlatformRole::Factory, "fac").await;
    let c = TestPlatform::start_with_config(PlatformRole::Catalog, "cat", |c| {
        c.transfer.test_hold_before_commit_ms = 3000;
    })
    .await;
    pair(&c, &f).await;
    let course = course_from(&f, "gapfill_example_course").await;
    let before = courses(&c).await.len();
    let job = ok(&f, &["publish", &course, "--json"]).await;
    let id = job["id"].to_string();
    // Wait until the receiver restores (held there), then cancel on the factory.
    let start = Instant::now();
    let remote = loop {
        if let Some(r) = receive_jobs(&c)
            .await
            .into_iter()
            .find(|j| j["state"] == "restoring")
        {
            break r;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no restore started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let run = cli(&f, &["jobs", "cancel", &id, "--json"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let mine = until(&f, &id, |d| {
        d["state"] == "cancelled" || d["state"] == "done" || d["state"] == "failed"
    })
    .await;
    assert_eq!(mine["state"], "cancelled", "{mine}");
    let theirs = until(&c, &remote["id"].to_string(), |d| d["state"] != "restoring").await;
    assert_eq!(theirs["state"], "cancelled", "{theirs}");
    assert_eq!(
        courses(&c).await.len(),
        before,
        "a cancelled receive creates nothing"
    );
    assert!(c
        .platform
        .store
        .lineage_by_key(remote["idempotency_key"].as_str().unwrap())
        .await
        .unwrap()
        .is_none());
}

/// A `publishflow serve` process (the real binary) on a fixed port of a data dir.
struct Served {
    child: std::process::Child,
    /// The server's log lines (stderr).
    log: std::sync::mpsc::Receiver<String>,
}

impl Served {
    fn start(dir: &Path, listen: &str, env: &[(&str, &str)]) -> Served {
        use std::io::BufRead;
        let mut cmd = std::process::Command::new(bin());
        cmd.arg("--data-dir")
            .arg(dir)
            .args(["serve", "--listen", listen])
            .env_remove("PUBLISHFLOW_DATA_DIR")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start publishflow serve");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("listening on"), "serve said {line:?}");
        let (tx, log) = std::sync::mpsc::channel();
        let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Served { child, log }
    }

    /// Waits (blocking, 30 s at most) for a log line containing `text`.
    fn wait_for_log(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(text) => return,
                Ok(_) => {}
                Err(e) => panic!("no log line with {text:?}: {e}"),
            }
        }
    }

    /// SIGKILL: no shutdown, no cleanup.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_killed_during_restore_leaves_nothing_and_the_job_completes_after_restart() {
    // The factory retries while the catalog is down (1 s, doubling).
    let f = TestPlatform::start_with_config(PlatformRole::Factory, "fac", |c| {
        c.jobs.retry_base_seconds = 1;
    })
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cat");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (listen, url) = (
        format!("127.0.0.1:{port}"),
        format!("http://127.0.0.1:{port}"),
    );
    let pw = tmp.path().join("pw");
    std::fs::write(&pw, "a long enough password\n").unwrap();
    let run = pf_testkit::run_cli(
        bin(),
        &dir,
        &[
            "init",
            "--role",
            "catalog",
            "--name",
            "cat",
            "--url",
            &url,
            "--admin-password-file",
            pw.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let c_cli = |args: Vec<String>| {
        let dir = dir.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                pf_testkit::run_cli(bin(), &dir, &refs)
            })
            .await
            .unwrap()
        }
    };
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // Every restore pauses 60 s inside its open transaction; claims go stale after 3 s.
    let held = [
        ("PUBLISHFLOW_TRANSFER_TEST_HOLD_IN_COMMIT_MS", "60000"),
        ("PUBLISHFLOW_JOBS_STALE_AFTER_SECONDS", "3"),
    ];
    let served = Served::start(&dir, &listen, &held);
    let code = c_cli(args(&["peer", "invite", "--json"])).await.json()["code"]
        .as_str()
        .unwrap()
        .to_string();
    ok(&f, &["peer", "add", &url, "--code", &code, "--json"]).await;
    let course = course_from(&f, "gapfill_example_course").await;
    let job = ok(&f, &["publish", &course, "--json"]).await;
    let id = job["id"].to_string();
    // The receiving job is inside its restore transaction (held 60 s) once it logs this; the
    // course row and its content are written, not committed. Kill the process then.
    let served = tokio::task::spawn_blocking(move || {
        served.wait_for_log("holding the restore transaction open");
        std::thread::sleep(Duration::from_millis(500));
        served
    })
    .await
    .unwrap();
    served.kill();
    let listed = c_cli(args(&["course", "list", "--json"])).await.json();
    assert_eq!(
        listed.as_array().unwrap().len(),
        0,
        "no course after the kill: {listed}"
    );
    {
        let p = pf_server::platform::Platform::open(&dir).await.unwrap();
        let key = job["idempotency_key"].as_str().unwrap();
        assert!(p.store.lineage_by_key(key).await.unwrap().is_none());
        assert!(p
            .store
            .publication_series(&job_idnumber(&f, &course).await)
            .await
            .unwrap()
            .is_none());
    }
    // Restarted without the pause: the receiving job is taken back from the dead runner and
    // runs again; the factory's job (retrying while the catalog was down) follows it to the end.
    let served = Served::start(
        &dir,
        &listen,
        &[("PUBLISHFLOW_JOBS_STALE_AFTER_SECONDS", "3")],
    );
    let mine = until(&f, &id, |d| {
        ["done", "failed", "cancelled"].contains(&d["state"].as_str().unwrap_or(""))
    })
    .await;
    assert_eq!(mine["state"], "done", "{mine}");
    let theirs = c_cli(args(&["jobs", "list", "--json"])).await.json();
    let theirs: Vec<&Value> = theirs
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["kind"] == "receive")
        .collect();
    assert_eq!(theirs.len(), 1, "one receiving job: {theirs:?}");
    assert_eq!(theirs[0]["state"], "done", "{theirs:?}");
    assert!(
        theirs[0]["attempts"].as_i64().unwrap() >= 2,
        "ran again: {theirs:?}"
    );
    assert_eq!(theirs[0]["idempotency_key"], job["idempotency_key"]);
    let listed = c_cli(args(&["course", "list", "--json"])).await.json();
    assert_eq!(
        listed.as_array().unwrap().len(),
        1,
        "exactly one course: {listed}"
    );
    assert_eq!(listed[0]["id"], mine["result"]["course_id"]);
    drop(served);
}

async fn job_idnumber(f: &TestPlatform, course: &str) -> String {
    let shown = ok(f, &["course", "show", course, "--json"]).await;
    shown["idnumber"].as_str().unwrap().to_string()
}
