//! Catalog features across real platforms on port 0: the `catalog` index strategy (an idnumber
//! the catalog allocates, with metadata that is searchable there and terms shown and enforced at
//! deploy), deploying everywhere, the sessions list (versions, states, a peer that is down) and
//! remote sessions run by the catalog that deployed a course (SPEC §5.1, §5.4, §5.6, §5.7, §5.9).

use super::publishing::{category, cli, course_json, courses, fixture, ok, pair};
use pf_domain::ids::CourseId;
use pf_domain::platform::PlatformRole;
use pf_testkit::{TestPlatform, ADMIN_PASSWORD};
use serde_json::{json, Value};

/// Imports a fixture without indexing it; returns its id.
async fn import(tp: &TestPlatform, name: &str) -> String {
    let path = fixture(name);
    ok(tp, &["course", "import", path.to_str().unwrap(), "--json"]).await["course_id"].to_string()
}

async fn audit_actions(tp: &TestPlatform) -> Vec<(String, String, Value)> {
    tp.platform
        .store
        .audit(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.action, a.result, a.details))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_allocates_idnumbers_keeps_searchable_metadata_and_terms_gate_deploys() {
    let f = TestPlatform::start(PlatformRole::Factory, "fac").await;
    let c = TestPlatform::start(PlatformRole::Catalog, "cat").await;
    let t = TestPlatform::start(PlatformRole::Training, "train").await;
    pair(&c, &f).await;
    pair(&t, &c).await;
    let tmp = tempfile::tempdir().unwrap();
    let terms = tmp.path().join("terms.txt");
    std::fs::write(&terms, "Use <b>only</b> for training.\nCite the authors.").unwrap();

    let gap = import(&f, "gapfill_example_course").await;
    let doc = ok(
        &f,
        &[
            "course",
            "index",
            &gap,
            "--strategy",
            "catalog",
            "--authors",
            "Ada Lovelace",
            "--licence",
            "CC-BY-4.0",
            "--terms-file",
            terms.to_str().unwrap(),
            "--level",
            "beginner",
            "--discipline",
            "Cartography",
            "--summary",
            "Maps and projections",
            "--json",
        ],
    )
    .await;
    let idnumber = doc["idnumber"].as_str().unwrap().to_string();
    assert!(idnumber.starts_with("CAT-"), "{idnumber}");
    // The catalog keeps the metadata with the reserved idnumber; the factory keeps its copy.
    let kept = c
        .platform
        .store
        .index_entry(&idnumber)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.authors, "Ada Lovelace");
    assert_eq!(kept.discipline, "Cartography");
    assert!(kept.terms.starts_with("Use <b>only</b>"));
    let copy = f
        .platform
        .store
        .index_entry(&idnumber)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(copy.licence, "CC-BY-4.0");
    let on_f = courses(&f).await;
    assert_eq!(
        course_json(&on_f, gap.parse().unwrap())["idnumber"],
        idnumber
    );
    // Indexed already: the idnumber stays; another course gets another one.
    let again = ok(
        &f,
        &["course", "index", &gap, "--strategy", "catalog", "--json"],
    )
    .await;
    assert_eq!(again["idnumber"], idnumber);
    // The API answers the same (an indexed course keeps its idnumber).
    let f_token = ok(&f, &["token", "create", "--name", "i", "--json"]).await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let via_api: Value = reqwest::Client::new()
        .post(format!("{}/api/v1/courses/{gap}/index", f.url))
        .bearer_auth(&f_token)
        .json(&json!({ "strategy": "catalog", "meta": { "level": "x" } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(via_api["idnumber"], idnumber);
    let other = import(&f, "sandbox-test").await;
    let second = ok(
        &f,
        &["course", "index", &other, "--strategy", "catalog", "--json"],
    )
    .await;
    assert_ne!(second["idnumber"], idnumber);
    assert!(second["idnumber"].as_str().unwrap().starts_with("CAT-"));
    // An allocated idnumber belongs to the factory that asked for it, published or not.
    let f2 = TestPlatform::start(PlatformRole::Factory, "fac2").await;
    pair(&c, &f2).await;
    let squat = import(&f2, "sandbox-test").await;
    let reserved = second["idnumber"].as_str().unwrap();
    f2.platform
        .store
        .update_course(
            CourseId(squat.parse().unwrap()),
            pf_store::CourseUpdate {
                idnumber: Some(pf_domain::course::IdNumber::parse(reserved).unwrap()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let taken = cli(&f2, &["publish", &squat, "--wait", "--json"]).await;
    assert_eq!(taken.code, 1, "{taken:?}");
    assert_eq!(taken.json()["error"]["code"], "idnumber_taken", "{taken:?}");
    assert!(c
        .platform
        .store
        .publication_series(reserved)
        .await
        .unwrap()
        .is_none());
    f2.stop().await;
    // Metadata flags without the catalog strategy: bad usage, nothing changed.
    let third = import(&f, "availability_26_format").await;
    let bad = cli(&f, &["course", "index", &third, "--authors", "X", "--json"]).await;
    assert_eq!(bad.code, 2, "{bad:?}");
    // Without the publish grant the catalog refuses to allocate; the course stays unindexed.
    assert_eq!(
        cli(&c, &["peer", "set", "fac", "--grant", ""]).await.code,
        0
    );
    let refused = cli(
        &f,
        &["course", "index", &third, "--strategy", "catalog", "--json"],
    )
    .await;
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(refused.stderr.contains("no matching grant"), "{refused:?}");
    assert_eq!(
        course_json(&courses(&f).await, third.parse().unwrap())["idnumber"],
        ""
    );
    assert_eq!(c.platform.store.index_entries().await.unwrap().len(), 2);
    assert_eq!(
        cli(&c, &["peer", "set", "fac", "--grant", "publish"])
            .await
            .code,
        0
    );
    // The factory's panel form asks the catalog too, with the metadata it collects.
    let mut fb = f.login("admin", ADMIN_PASSWORD).await;
    let page = fb.get(&format!("/course/{third}")).await;
    assert!(page.body.contains("index&#x2f;catalog") || page.body.contains("index/catalog"));
    let form = fb
        .post(
            &format!("/course/{third}/index/catalog"),
            &[
                ("catalog", "cat"),
                ("level", "advanced"),
                ("authors", "Grace Hopper"),
            ],
        )
        .await;
    assert_eq!(form.status, 303, "{}", form.body);
    let indexed = course_json(&courses(&f).await, third.parse().unwrap())["idnumber"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(indexed.starts_with("CAT-"), "{indexed}");
    let kept = c
        .platform
        .store
        .index_entry(&indexed)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (kept.level.as_str(), kept.authors.as_str()),
        ("advanced", "Grace Hopper")
    );

    // Published, the course carries the metadata on the catalog: searchable there.
    let job = ok(&f, &["publish", &gap, "--wait", "--json"]).await;
    let on_c = job["result"]["course_id"].as_i64().unwrap();
    let token = ok(&c, &["token", "create", "--name", "s", "--json"]).await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let http = reqwest::Client::new();
    let search = |q: &str| {
        http.get(format!("{}/api/v1/courses", c.url))
            .query(&[("q", q)])
            .bearer_auth(&token)
            .send()
    };
    let found: Vec<Value> = search("cartography lovelace")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["id"], on_c);
    let none: Vec<Value> = search("cartography nowhere")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(none.is_empty(), "{none:?}");
    let mut b = c.login("admin", ADMIN_PASSWORD).await;
    let page = b.get("/?q=Projections").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(&format!("/course/{on_c}\"")),
        "{}",
        page.body
    );
    let page = b.get("/?q=zzzz-nothing").await;
    assert!(!page.body.contains(&format!("/course/{on_c}\"")));
    // The deploy form shows the terms (escaped) with the box to accept them.
    let page = b.get(&format!("/course/{on_c}")).await;
    assert!(page.body.contains("Use &lt;b&gt;only&lt;"), "{}", page.body);
    assert!(page.body.contains("name=\"accept_terms\""));
    assert!(page.body.contains("CC-BY-4.0"));
    assert!(
        page.body.contains("<dd>Ada Lovelace</dd>") && page.body.contains("<dd>Cartography</dd>")
    );

    // Deploying needs the terms accepted: refused before anything is queued, then admitted.
    let on_c = on_c.to_string();
    let jobs_before = c.platform.store.jobs(0, 10_000).await.unwrap().len();
    let no = cli(&c, &["deploy", &on_c, "--to", "train", "--wait", "--json"]).await;
    assert_eq!(no.code, 2, "{no:?}");
    assert!(no.stderr.contains("terms of use"), "{no:?}");
    assert_eq!(
        c.platform.store.jobs(0, 10_000).await.unwrap().len(),
        jobs_before
    );
    let form = b
        .post(&format!("/course/{on_c}/deploy"), &[("peer", "train")])
        .await;
    assert_eq!(form.status, 400, "{}", form.body);
    assert!(courses(&t).await.is_empty());
    let yes = ok(
        &c,
        &[
            "deploy",
            &on_c,
            "--to",
            "train",
            "--accept-terms",
            "--wait",
            "--json",
        ],
    )
    .await;
    assert_eq!(yes["state"], "done", "{yes}");
    assert_eq!(courses(&t).await.len(), 1);
    // The panel's "every training platform" target: one job per platform, terms accepted.
    let seen: Vec<i64> = c
        .platform
        .store
        .jobs(0, 10_000)
        .await
        .unwrap()
        .iter()
        .map(|j| j.id.0)
        .collect();
    let form = b
        .post(
            &format!("/course/{on_c}/deploy"),
            &[("peer", "all"), ("accept_terms", "on")],
        )
        .await;
    assert_eq!(form.status, 303, "{}", form.body);
    assert_eq!(form.location(), Some("/jobs"));
    let queued: Vec<_> = c
        .platform
        .store
        .jobs(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|j| !seen.contains(&j.id.0))
        .collect();
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0].kind, "deploy");
    let mut state = String::new();
    for _ in 0..600 {
        let job = c.platform.store.job(queued[0].id).await.unwrap();
        state = job.state.as_str().to_string();
        if state == "done" || state == "failed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(state, "done");
    assert_eq!(courses(&t).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_everywhere_and_the_sessions_list_across_the_network() {
    let f = TestPlatform::start(PlatformRole::Factory, "fac").await;
    let c = TestPlatform::start(PlatformRole::Catalog, "cat").await;
    let t1 = TestPlatform::start(PlatformRole::Training, "train1").await;
    let t2 = TestPlatform::start(PlatformRole::Training, "train2").await;
    pair(&c, &f).await;
    pair(&t1, &c).await;
    pair(&t2, &c).await;
    pair(&t1, &f).await;
    pair(&t2, &f).await;
    let gap = import(&f, "gapfill_example_course").await;
    ok(
        &f,
        &["course", "index", &gap, "--strategy", "catalog", "--json"],
    )
    .await;
    let v1 = ok(&f, &["publish", &gap, "--wait", "--json"]).await["result"]["course_id"]
        .as_i64()
        .unwrap()
        .to_string();

    // One request, one job per training platform, keys derived from one key.
    let all = ok(
        &c,
        &[
            "deploy",
            &v1,
            "--to",
            "all",
            "--idempotency-key",
            "everywhere-1",
            "--wait",
            "--json",
        ],
    )
    .await;
    let jobs = all.as_array().unwrap();
    assert_eq!(jobs.len(), 2, "{all}");
    let mut keys = Vec::new();
    for j in jobs {
        assert_eq!(j["state"], "done", "{j}");
        assert_eq!(j["kind"], "deploy");
        let job = c
            .platform
            .store
            .job(pf_domain::ids::JobId(j["id"].as_i64().unwrap()))
            .await
            .unwrap();
        assert!(
            job.idempotency_key.starts_with("everywhere-1/"),
            "{}",
            job.idempotency_key
        );
        keys.push(job.idempotency_key);
    }
    assert_ne!(keys[0], keys[1]);
    let platforms: Vec<&str> = jobs
        .iter()
        .map(|j| j["result"]["platform"].as_str().unwrap())
        .collect();
    assert!(
        platforms.contains(&"train1") && platforms.contains(&"train2"),
        "{platforms:?}"
    );
    assert_eq!(courses(&t1).await.len(), 1);
    assert_eq!(courses(&t2).await.len(), 1);
    // The same key again: the same jobs, no new course.
    let again = ok(
        &c,
        &[
            "deploy",
            &v1,
            "--to",
            "all",
            "--idempotency-key",
            "everywhere-1",
            "--json",
        ],
    )
    .await;
    let ids = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|j| j["id"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&again), ids(&all));
    assert_eq!(courses(&t1).await.len(), 1);
    // The API: the same key answers the same jobs; the sessions list is there too.
    let token = ok(&c, &["token", "create", "--name", "e", "--json"]).await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/api/v1/courses/{v1}/deploy-everywhere", c.url))
        .bearer_auth(&token)
        .json(&json!({ "idempotency_key": "everywhere-1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let via_api: Value = r.json().await.unwrap();
    assert_eq!(ids(&via_api), ids(&all));
    let listed: Value = http
        .get(format!("{}/api/v1/courses/{v1}/sessions", c.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["idnumber"],
        ok(&c, &["course", "show", &v1, "--json"]).await["idnumber"]
    );
    assert_eq!(listed["platforms"].as_array().unwrap().len(), 4, "{listed}");
    let spec: Value = http
        .get(format!("{}/api/v1/openapi.json", c.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/courses/{id}/index",
        "/courses/{id}/deploy-everywhere",
        "/courses/{id}/sessions",
        "/peers/{peer}/courses/{course}/session",
    ] {
        assert!(spec["paths"][path].is_object(), "{path}");
    }

    // Without deployeverywhere, only the platforms whose admission says yes are aimed at: train2
    // withdraws the deploy grant, and dora (a course deployer there) has no account on it.
    let role = format!("deployer@course:{v1}");
    let pw = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(pw.path(), "dora's long password\n").unwrap();
    let pw_path = pw.path().to_str().unwrap();
    ok(
        &c,
        &[
            "user",
            "add",
            "dora",
            "--role",
            &role,
            "--password-file",
            pw_path,
            "--json",
        ],
    )
    .await;
    assert_eq!(
        cli(&t2, &["peer", "set", "cat", "--grant", "sessions"])
            .await
            .code,
        0
    );
    let dora = ok(
        &c,
        &[
            "--as", "dora", "deploy", &v1, "--to", "all", "--wait", "--json",
        ],
    )
    .await;
    let dora = dora.as_array().unwrap();
    assert_eq!(dora.len(), 1, "{dora:?}");
    assert_eq!(dora[0]["result"]["platform"], "train1");
    assert_eq!(courses(&t1).await.len(), 2);
    assert_eq!(courses(&t2).await.len(), 1);
    // Her deploy form lists only the platform that admits her.
    let mut db = c.login("dora", "dora's long password").await;
    let page = db.get(&format!("/course/{v1}")).await;
    assert!(page.body.contains(">train1</option>"), "{}", page.body);
    assert!(
        !page.body.contains(">train2</option>") && !page.body.contains("train2 (unavailable)"),
        "{}",
        page.body
    );
    // Someone without publishflow:deploy queues nothing.
    ok(&c, &["user", "add", "eve", "--json"]).await;
    let eve = cli(&c, &["--as", "eve", "deploy", &v1, "--to", "all", "--json"]).await;
    assert_eq!(eve.code, 1, "{eve:?}");

    // The sessions list from the factory: every copy, with versions and session states.
    let list = ok(&f, &["course", "sessions", &gap, "--json"]).await;
    let by_name = |list: &Value, name: &str| -> Value {
        list["platforms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["platform"] == name)
            .unwrap_or_else(|| panic!("no {name} in {list}"))
            .clone()
    };
    assert_eq!(by_name(&list, "fac")["copies"][0]["state"], "factory");
    let cat = by_name(&list, "cat");
    assert_eq!(cat["copies"][0]["version"], 1, "{cat}");
    assert_eq!(cat["copies"][0]["state"], "catalog");
    let t1_copies = by_name(&list, "train1")["copies"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(t1_copies.len(), 2);
    for copy in &t1_copies {
        assert_eq!(copy["version"], 1, "{copy}");
        assert_eq!(copy["state"], "incoming");
        assert_eq!(copy["visible"], false);
        assert_eq!(copy["newer_version"], Value::Null);
        assert_eq!(copy["source"]["platform"], "cat");
        // Hidden, and the factory has no part in their lineage (the catalog deployed them):
        // listed for the path, names withheld.
        assert_eq!(copy["names_withheld"], true, "{copy}");
        assert_eq!(copy["fullname"], "", "{copy}");
    }
    let mut fb = f.login("admin", ADMIN_PASSWORD).await;
    let copies_page = fb.get(&format!("/course/{gap}/copies")).await;
    assert!(
        copies_page.body.contains("hidden course (names withheld)"),
        "{}",
        copies_page.body
    );
    // Version 2 on the catalog: the training copies of version 1 say so.
    let gap_id = CourseId(gap.parse().unwrap());
    let first = f.platform.store.sections(gap_id).await.unwrap()[0].id;
    f.platform
        .store
        .update_section(first, Some("v2".into()), None)
        .await
        .unwrap();
    ok(
        &f,
        &["publish", &gap, "--mode", "update", "--wait", "--json"],
    )
    .await;
    let t1_copies_first = t1_copies[0]["course_id"].clone();
    let t1_course = t1_copies_first.to_string();
    ok(&t1, &["session", "open", &t1_course, "--json"]).await;
    // Train2 goes down: listed as unavailable, not an error.
    t2.stop().await;
    let list = ok(&c, &["course", "sessions", &v1, "--json"]).await;
    let t2_entry = by_name(&list, "train2");
    assert_eq!(t2_entry["status"], "unavailable", "{t2_entry}");
    assert_eq!(t2_entry["error"]["code"], "peer_unreachable");
    let t1_copies = by_name(&list, "train1")["copies"]
        .as_array()
        .unwrap()
        .clone();
    for copy in &t1_copies {
        assert_eq!(copy["newer_version"], 2, "{copy}");
        // The catalog deployed them: it sees their names.
        assert_eq!(copy["names_withheld"], false, "{copy}");
        assert_ne!(copy["fullname"], "", "{copy}");
    }
    let running = t1_copies
        .iter()
        .find(|c| c["course_id"] == t1_copies_first)
        .unwrap();
    assert_eq!(running["state"], "running");
    assert_eq!(by_name(&list, "cat")["copies"].as_array().unwrap().len(), 2);
    // The same list on the catalog's course page, and the factory's publication status page.
    let mut b = c.login("admin", ADMIN_PASSWORD).await;
    let page = b.get(&format!("/course/{v1}/copies")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("train1") && page.body.contains("train2"));
    let course_page = b.get(&format!("/course/{v1}")).await;
    assert!(course_page.body.contains(&format!("/course/{v1}/copies")));
    // A training platform that is down is listed on the deploy form as unavailable.
    assert!(
        course_page.body.contains(">train1</option>"),
        "{}",
        course_page.body
    );
    assert!(
        course_page
            .body
            .contains("disabled>train2 (unavailable)</option>"),
        "{}",
        course_page.body
    );
    let course_page = fb.get(&format!("/course/{gap}")).await;
    assert!(
        course_page
            .body
            .contains(&format!("/course/{gap}/publication")),
        "{}",
        course_page.body
    );
    let status = fb.get(&format!("/course/{gap}/publication")).await;
    assert_eq!(status.status, 200, "{}", status.body);
    assert!(
        status.body.contains("status-published-visible"),
        "{}",
        status.body
    );
    // Links to each version on the catalog (minijinja escapes `/` in attributes).
    let decoded = status.body.replace("&#x2f;", "/");
    let link = format!("{}/course/{v1}\"", c.url.trim_end_matches('/'));
    assert!(decoded.contains(&link), "{link} in {decoded}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_opens_and_closes_the_sessions_of_courses_it_deployed() {
    let c = TestPlatform::start(PlatformRole::Catalog, "cat").await;
    let t = TestPlatform::start(PlatformRole::Training, "train").await;
    pair(&t, &c).await;
    let course = import(&c, "sandbox-test").await;
    ok(&c, &["course", "index", &course, "--json"]).await;
    let deployed = ok(
        &c,
        &["deploy", &course, "--to", "train", "--wait", "--json"],
    )
    .await;
    let remote = deployed["result"]["course_id"].as_i64().unwrap();
    let remote_s = remote.to_string();
    let incoming = category(&t, "Incoming").await;
    let running = category(&t, "Running").await;
    let closed = category(&t, "Closed").await;
    assert_eq!(
        course_json(&courses(&t).await, remote)["category"],
        incoming
    );

    // Open, then protected close, from the catalog.
    let open = ok(
        &c,
        &["session", "open", &remote_s, "--on", "train", "--json"],
    )
    .await;
    assert_eq!(open["course_id"], remote);
    assert_eq!(open["category"], running);
    assert_eq!(open["visible"], true);
    let close = ok(
        &c,
        &[
            "session",
            "close",
            &remote_s,
            "--on",
            "train",
            "--mode",
            "protected",
            "--json",
        ],
    )
    .await;
    assert_eq!(close["category"], closed);
    assert_eq!(close["visible"], true);
    // Audited on both sides.
    let on_t = audit_actions(&t).await;
    let opened: Vec<_> = on_t
        .iter()
        .filter(|(a, _, d)| a == "session.open" && d["peer"] == "cat")
        .collect();
    assert_eq!(opened.len(), 1, "{on_t:?}");
    assert!(on_t
        .iter()
        .any(|(a, _, d)| a == "session.close" && d["peer"] == "cat" && d["mode"] == "protected"));
    assert!(on_t.iter().any(|(a, r, _)| a == "rpc.session" && r == "ok"));
    let on_c = audit_actions(&c).await;
    assert!(on_c
        .iter()
        .any(|(a, _, d)| a == "session.remote_open" && d["result"]["category"] == running));
    assert!(on_c.iter().any(|(a, _, _)| a == "session.remote_close"));
    // The catalog's course page lists the deployed copy with its controls.
    let mut b = c.login("admin", ADMIN_PASSWORD).await;
    let page = b.get(&format!("/course/{course}")).await;
    assert!(
        page.body.contains("remote-session") && page.body.contains(&format!("value=\"{remote}\"")),
        "{}",
        page.body
    );
    let form = b
        .post(
            &format!("/course/{course}/remote-session"),
            &[("peer", "train"), ("target", &remote_s), ("action", "open")],
        )
        .await;
    assert_eq!(form.status, 303, "{}", form.body);
    assert_eq!(course_json(&courses(&t).await, remote)["category"], running);

    // A course the catalog did not deploy: refused by the catalog, and by the training platform
    // when asked directly; nothing changes.
    let local = import(&t, "sandbox-test").await;
    let before = course_json(&courses(&t).await, local.parse().unwrap()).clone();
    let no = cli(&c, &["session", "open", &local, "--on", "train", "--json"]).await;
    assert_eq!(no.code, 1, "{no:?}");
    assert!(
        no.stderr.contains("was not deployed from this platform"),
        "{no:?}"
    );
    let peer = c
        .platform
        .store
        .peers()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.name == "train")
        .unwrap();
    let caller = pf_server::rpc::PeerCaller::new(&c.platform).unwrap();
    let admin = pf_domain::user::Username::parse("admin").unwrap();
    let direct = caller
        .post_json::<_, Value>(
            &peer,
            "/rpc/session",
            &json!({ "course": local.parse::<i64>().unwrap(), "action": "open", "asserted": ["publishflow:manage"] }),
            Some(&admin),
        )
        .await
        .unwrap_err();
    assert_eq!(direct.code.as_str(), "not_admitted", "{direct:?}");
    assert_eq!(
        course_json(&courses(&t).await, local.parse().unwrap()),
        &before
    );

    // Without the sessions grant: a catalog manager with no account of their own there is
    // refused (with it, admitted under (b)).
    ok(&c, &["user", "add", "mona", "--role", "manager", "--json"]).await;
    let mona = ok(
        &c,
        &[
            "--as", "mona", "session", "close", &remote_s, "--on", "train", "--mode", "private",
            "--json",
        ],
    )
    .await;
    assert_eq!(mona["visible"], false);
    assert_eq!(
        cli(&t, &["peer", "set", "cat", "--grant", "deploy"])
            .await
            .code,
        0
    );
    let before = course_json(&courses(&t).await, remote).clone();
    let refused = cli(
        &c,
        &[
            "--as", "mona", "session", "open", &remote_s, "--on", "train", "--json",
        ],
    )
    .await;
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(refused.stderr.contains("no grant applies"), "{refused:?}");
    assert_eq!(course_json(&courses(&t).await, remote), &before);

    // A disabled peer: the training platform refuses the catalog's call; nothing changes.
    assert_eq!(
        cli(
            &t,
            &[
                "peer",
                "set",
                "cat",
                "--grant",
                "deploy,sessions",
                "--disable"
            ]
        )
        .await
        .code,
        0
    );
    let disabled = cli(
        &c,
        &["session", "open", &remote_s, "--on", "train", "--json"],
    )
    .await;
    assert_eq!(disabled.code, 1, "{disabled:?}");
    assert!(
        disabled
            .stderr
            .contains("train answered: the request's signature was refused"),
        "{disabled:?}"
    );
    assert_eq!(course_json(&courses(&t).await, remote), &before);
    // And a peer this catalog disabled is not called at all.
    assert_eq!(cli(&t, &["peer", "set", "cat", "--enable"]).await.code, 0);
    assert_eq!(
        cli(&c, &["peer", "set", "train", "--disable"]).await.code,
        0
    );
    let off = cli(
        &c,
        &["session", "open", &remote_s, "--on", "train", "--json"],
    )
    .await;
    assert_eq!(off.code, 1, "{off:?}");
    assert!(off.stderr.contains("peer train is disabled"), "{off:?}");
    assert_eq!(course_json(&courses(&t).await, remote), &before);
    // Another catalog that merely bears the same name is not the source (peers are keys).
    let impostor = TestPlatform::start(PlatformRole::Catalog, "cat").await;
    pair(&t, &impostor).await;
    let t_peer = impostor.platform.store.peers().await.unwrap().remove(0);
    let caller = pf_server::rpc::PeerCaller::new(&impostor.platform).unwrap();
    let refused = caller
        .post_json::<_, Value>(
            &t_peer,
            "/rpc/session",
            &json!({ "course": remote, "action": "open", "asserted": ["publishflow:manage"] }),
            Some(&admin),
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code.as_str(), "not_admitted", "{refused:?}");
    assert_eq!(course_json(&courses(&t).await, remote), &before);
}

/// The id, on `tp`, of its peer named `name` (the first one, for tests with unique names).
async fn peer_id(tp: &TestPlatform, name: &str) -> i64 {
    tp.platform
        .store
        .peers()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no peer {name}"))
        .id
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deploy_picker_lists_only_the_categories_that_admit_the_user() {
    let c = TestPlatform::start(PlatformRole::Catalog, "cat").await;
    let t = TestPlatform::start(PlatformRole::Training, "train").await;
    pair(&t, &c).await;
    // No grant: only the deployer's own account on the training platform admits a deploy (a).
    assert_eq!(
        cli(&t, &["peer", "set", "cat", "--grant", ""]).await.code,
        0
    );
    let physics = ok(&t, &["category", "add", "Physics", "--json"]).await["id"]
        .as_i64()
        .unwrap();
    // A category under Physics: her role there reaches it (the context chain).
    let labs = ok(
        &t,
        &[
            "category",
            "add",
            "Labs",
            "--parent",
            &physics.to_string(),
            "--json",
        ],
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let (incoming, running, closed) = (
        category(&t, "Incoming").await,
        category(&t, "Running").await,
        category(&t, "Closed").await,
    );
    ok(&c, &["network", "scan", "--json"]).await;
    let course = super::publishing::course_from(&c, "sandbox-test").await;
    let role = format!("deployer@course:{course}");
    let pw = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(pw.path(), "dora's long password\n").unwrap();
    ok(
        &c,
        &[
            "user",
            "add",
            "dora",
            "--role",
            &role,
            "--password-file",
            pw.path().to_str().unwrap(),
            "--json",
        ],
    )
    .await;
    let creator = format!("coursecreator@category:{physics}");
    ok(&t, &["user", "add", "tdora", "--role", &creator, "--json"]).await;
    assert_eq!(
        cli(&t, &["peer", "link", "cat", "dora", "--to", "tdora"])
            .await
            .code,
        0
    );
    let tp = peer_id(&c, "train").await;
    let option = |cat: i64| format!("value=\"{tp}:{cat}\"");

    // Her picker: the target is offered (a category admits her), with Physics and Labs only.
    let mut b = c.login("dora", "dora's long password").await;
    let page = b.get(&format!("/course/{course}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(">train</option>"), "{}", page.body);
    assert!(page.body.contains(&option(physics)), "{}", page.body);
    assert!(page.body.contains(&option(labs)), "{}", page.body);
    assert!(page.body.contains("Physics &#x2f; Labs"), "{}", page.body);
    for other in [incoming, running, closed] {
        assert!(
            !page.body.contains(&option(other)),
            "{other}: {}",
            page.body
        );
    }
    // The receiver's one answer says the same (one signed call per target).
    let peer = c
        .platform
        .store
        .peers()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.id.0 == tp)
        .unwrap();
    let caller = pf_server::rpc::PeerCaller::new(&c.platform).unwrap();
    let dora = pf_domain::user::Username::parse("dora").unwrap();
    let scope: Value = caller
        .post_json(
            &peer,
            "/rpc/admit-categories",
            &json!({ "operation": "deploy", "asserted": ["publishflow:deploy"] }),
            Some(&dora),
        )
        .await
        .unwrap();
    let mut admitted: Vec<(i64, String)> = scope["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_i64().unwrap(), c["admitted"].to_string()))
        .collect();
    admitted.sort();
    let by_account = "\"by_account\"".to_string();
    assert_eq!(
        admitted,
        [(physics, by_account.clone()), (labs, by_account)],
        "{scope}"
    );
    assert_eq!(scope["landing_refused"]["code"], "missing_capability");

    // Deploying into another category anyway: refused by the receiver, nothing created.
    let refused = b
        .post(
            &format!("/course/{course}/deploy"),
            &[
                ("peer", &tp.to_string()),
                ("category", &format!("{tp}:{running}")),
            ],
        )
        .await;
    if let Some(job) = refused.location().and_then(|l| l.strip_prefix("/jobs/")) {
        let job = super::publishing::wait_job(&c, job).await;
        assert_eq!(job["state"], "failed", "{job}");
        assert_eq!(job["error"]["code"], "missing_capability", "{job}");
    } else {
        assert_ne!(refused.status, 303, "{}", refused.body);
    }
    assert!(courses(&t).await.is_empty());
    // Into Physics: admitted, the course lands there.
    let done = b
        .post(
            &format!("/course/{course}/deploy"),
            &[
                ("peer", &tp.to_string()),
                ("category", &format!("{tp}:{physics}")),
            ],
        )
        .await;
    let job = done
        .location()
        .and_then(|l| l.strip_prefix("/jobs/"))
        .unwrap()
        .to_string();
    let job = super::publishing::wait_job(&c, &job).await;
    assert_eq!(job["state"], "done", "{job}");
    let id = job["result"]["course_id"].as_i64().unwrap();
    assert_eq!(course_json(&courses(&t).await, id)["category"], physics);

    // With the deploy grant (admission (b)), the admin may deploy anywhere: every category.
    assert_eq!(
        cli(&t, &["peer", "set", "cat", "--grant", "deploy,sessions"])
            .await
            .code,
        0
    );
    let mut admin = c.login("admin", ADMIN_PASSWORD).await;
    let page = admin.get(&format!("/course/{course}")).await;
    for cat in [incoming, running, closed, physics] {
        assert!(page.body.contains(&option(cat)), "{cat}: {}", page.body);
    }
    // Without free category choice, no picker at all.
    assert_eq!(
        cli(&c, &["course", "set", &course, "--free-category", "off"])
            .await
            .code,
        0
    );
    let page = admin.get(&format!("/course/{course}")).await;
    assert!(!page.body.contains(&option(physics)), "{}", page.body);

    // Deploy for test from a factory (no local target): her incoming category refuses her, so
    // the picker does not offer it either — only Physics and Labs.
    let f = TestPlatform::start(PlatformRole::Factory, "fac").await;
    pair(&t, &f).await;
    assert_eq!(
        cli(&t, &["peer", "set", "fac", "--grant", ""]).await.code,
        0
    );
    ok(&f, &["network", "scan", "--json"]).await;
    let draft = super::publishing::course_from(&f, "sandbox-test").await;
    let role = format!("deployer@course:{draft}");
    ok(
        &f,
        &[
            "user",
            "add",
            "dora",
            "--role",
            &role,
            "--password-file",
            pw.path().to_str().unwrap(),
            "--json",
        ],
    )
    .await;
    assert_eq!(
        cli(&t, &["peer", "link", "fac", "dora", "--to", "tdora"])
            .await
            .code,
        0
    );
    let tf = peer_id(&f, "train").await;
    let mut fb = f.login("dora", "dora's long password").await;
    let page = fb.get(&format!("/course/{draft}")).await;
    let select = page
        .body
        .split("name=\"category\">")
        .nth(1)
        .and_then(|rest| rest.split("</select>").next())
        .unwrap_or_else(|| panic!("no picker in {}", page.body));
    assert!(!select.contains("value=\"\""), "{select}");
    assert!(
        select.contains(&format!("value=\"{tf}:{physics}\"")),
        "{select}"
    );
    assert!(
        select.contains(&format!("value=\"{tf}:{labs}\"")),
        "{select}"
    );
    assert!(
        !select.contains(&format!("value=\"{tf}:{incoming}\"")),
        "{select}"
    );
    // On the catalog, the incoming choice stays for a deploy here.
    let page = b.get(&format!("/course/{course}")).await;
    assert!(
        page.body.contains("name=\"category\"><option value=\"\">"),
        "{}",
        page.body
    );
}

/// The ids, on `tp`, of its peers, in pairing order.
async fn peer_ids(tp: &TestPlatform) -> Vec<i64> {
    let mut ids: Vec<i64> = tp
        .platform
        .store
        .peers()
        .await
        .unwrap()
        .iter()
        .map(|p| p.id.0)
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_that_share_a_name_are_told_apart_by_their_keys() {
    let f = TestPlatform::start(PlatformRole::Factory, "fac").await;
    let c1 = TestPlatform::start(PlatformRole::Catalog, "cat").await;
    let c2 = TestPlatform::start(PlatformRole::Catalog, "cat").await;
    let t1 = TestPlatform::start(PlatformRole::Training, "train").await;
    let t2 = TestPlatform::start(PlatformRole::Training, "train").await;
    pair(&c1, &f).await;
    pair(&c2, &f).await;
    pair(&t1, &c2).await;
    pair(&t2, &c2).await;
    pair(&t1, &f).await;
    let on_f = peer_ids(&f).await;
    let (c1_id, c2_id) = (on_f[0].to_string(), on_f[1].to_string());
    let on_c2 = peer_ids(&c2).await;
    let (t1_id, t2_id) = (on_c2[1].to_string(), on_c2[2].to_string());

    // Version 1 on both catalogs (the same course id on each), version 2 on the first only.
    let gap = super::publishing::course_from(&f, "gapfill_example_course").await;
    let publish = |catalog: &str, mode: &str| {
        let (catalog, mode) = (catalog.to_string(), mode.to_string());
        let (f, gap) = (&f, gap.clone());
        async move {
            ok(
                f,
                &[
                    "publish",
                    &gap,
                    "--catalog",
                    &catalog,
                    "--mode",
                    &mode,
                    "--wait",
                    "--json",
                ],
            )
            .await["result"]["course_id"]
                .as_i64()
                .unwrap()
        }
    };
    let v1_on_c1 = publish(&c1_id, "publish").await;
    let v1_on_c2 = publish(&c2_id, "publish").await;
    assert_eq!(v1_on_c1, v1_on_c2, "the two catalogs must number alike");
    let gap_id = CourseId(gap.parse().unwrap());
    let first = f.platform.store.sections(gap_id).await.unwrap()[0].id;
    f.platform
        .store
        .update_section(first, Some("v2".into()), None)
        .await
        .unwrap();
    publish(&c1_id, "update").await;

    // The second catalog deploys its version 1 to both training platforms named "train".
    let v1 = v1_on_c2.to_string();
    let deploy = |to: String| {
        let (c2, v1) = (&c2, v1.clone());
        async move {
            let job = ok(c2, &["deploy", &v1, "--to", &to, "--wait", "--json"]).await;
            (
                job["result"]["course_id"].as_i64().unwrap(),
                job["id"].clone(),
            )
        }
    };
    let (r1, _) = deploy(t1_id.clone()).await;
    let (r2, job2) = deploy(t2_id.clone()).await;
    assert_eq!(r1, r2, "the two training platforms must number alike");

    // The factory's sessions list: the copy on train came from the second "cat", which holds
    // no newer version (by name, the first one's version 2 would be claimed).
    let list = ok(&f, &["course", "sessions", &gap, "--json"]).await;
    let platforms = list["platforms"].as_array().unwrap();
    let cats: Vec<&Value> = platforms
        .iter()
        .filter(|p| p["platform"] == "cat")
        .collect();
    assert_eq!(cats.len(), 2, "{list}");
    assert_ne!(cats[0]["key"], cats[1]["key"]);
    let train = platforms.iter().find(|p| p["platform"] == "train").unwrap();
    let copy = &train["copies"][0];
    assert_eq!(copy["version"], 1, "{list}");
    assert_eq!(copy["newer_version"], Value::Null, "{list}");
    let c2_key = c2.platform.identity.key_id().to_string();
    assert_eq!(copy["source"]["key"], c2_key.as_str(), "{copy}");

    // On the catalog, `--on train` is ambiguous; the peer id is not, and acts on that one only.
    let r = r1.to_string();
    let ambiguous = cli(&c2, &["session", "open", &r, "--on", "train", "--json"]).await;
    assert_ne!(ambiguous.code, 0, "{ambiguous:?}");
    let running2 = category(&t2, "Running").await;
    let incoming1 = category(&t1, "Incoming").await;
    // The course page's remote controls name each copy's peer by id.
    let mut b = c2.login("admin", ADMIN_PASSWORD).await;
    let page = b.get(&format!("/course/{v1}")).await;
    for id in [&t1_id, &t2_id] {
        assert!(
            page.body.contains(&format!("name=\"peer\" value=\"{id}\"")),
            "{id}: {}",
            page.body
        );
    }
    let form = b
        .post(
            &format!("/course/{v1}/remote-session"),
            &[("peer", t2_id.as_str()), ("target", &r), ("action", "open")],
        )
        .await;
    assert_eq!(form.status, 303, "{}", form.body);
    assert_eq!(course_json(&courses(&t2).await, r2)["category"], running2);
    assert_eq!(course_json(&courses(&t1).await, r1)["category"], incoming1);
    // The job page links to the copy on the platform the job sent it to.
    let job_page = b.get(&format!("/jobs/{job2}")).await;
    let link = format!("href=\"{}/course/{r2}\"", t2.url.trim_end_matches('/'));
    assert!(
        job_page.body.replace("&#x2f;", "/").contains(&link),
        "{link} in {}",
        job_page.body
    );
    // The lineage links go to each copy on its own platform.
    let decoded = page.body.replace("&#x2f;", "/");
    for (tp, course) in [(&t1, r1), (&t2, r2)] {
        let link = format!("href=\"{}/course/{course}\"", tp.url.trim_end_matches('/'));
        assert!(decoded.contains(&link), "{link} in {decoded}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_are_listed_only_to_peers_on_their_lineage_or_granted_an_operation() {
    let c = TestPlatform::start(PlatformRole::Catalog, "cat").await;
    let t = TestPlatform::start(PlatformRole::Training, "train").await;
    let other = TestPlatform::start(PlatformRole::Catalog, "other").await;
    pair(&t, &c).await;
    pair(&t, &other).await;
    let course = super::publishing::course_from(&c, "sandbox-test").await;
    let idnumber = ok(&c, &["course", "show", &course, "--json"]).await["idnumber"]
        .as_str()
        .unwrap()
        .to_string();
    let t_id = peer_id(&c, "train").await.to_string();
    let deploy = |key: &'static str| {
        let (c, course, t_id) = (&c, course.clone(), t_id.clone());
        async move {
            ok(
                c,
                &[
                    "deploy",
                    &course,
                    "--to",
                    &t_id,
                    "--idempotency-key",
                    key,
                    "--wait",
                    "--json",
                ],
            )
            .await["result"]["course_id"]
                .as_i64()
                .unwrap()
        }
    };
    let hidden = deploy("first").await;
    let running = deploy("second").await;
    ok(&t, &["session", "open", &running.to_string(), "--json"]).await;
    let names = |answer: &Value, id: i64| -> (Value, Value, Value) {
        let copy = answer["copies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["course_id"] == id)
            .unwrap_or_else(|| panic!("no copy {id} in {answer}"))
            .clone();
        (
            copy["shortname"].clone(),
            copy["fullname"].clone(),
            copy["names_withheld"].clone(),
        )
    };
    // The catalog that deployed both copies is on their lineage: everything, names included.
    let full = ask_sessions(&c, &idnumber).await.unwrap();
    assert_eq!(full["copies"].as_array().unwrap().len(), 2, "{full}");
    let (short, _, withheld) = names(&full, hidden);
    assert_ne!(short, "", "{full}");
    assert_eq!(withheld, false);
    // Another catalog, granted deploy and sessions by pairing but on neither lineage: both
    // copies, the hidden one without its names.
    let partner = ask_sessions(&other, &idnumber).await.unwrap();
    assert_eq!(partner["copies"].as_array().unwrap().len(), 2, "{partner}");
    assert_eq!(names(&partner, hidden), (json!(""), json!(""), json!(true)));
    let (short, full_name, withheld) = names(&partner, running);
    assert_ne!(short, "");
    assert_ne!(full_name, "");
    assert_eq!(withheld, false);
    // Without any grant and on no lineage: refused, nothing listed.
    assert_eq!(
        cli(&t, &["peer", "set", "other", "--grant", ""]).await.code,
        0
    );
    let refused = ask_sessions(&other, &idnumber).await.unwrap_err();
    assert_eq!(refused, "not_admitted");
    // The catalog keeps its view without any grant: it is on the lineage.
    assert_eq!(
        cli(&t, &["peer", "set", "cat", "--grant", ""]).await.code,
        0
    );
    let still = ask_sessions(&c, &idnumber).await.unwrap();
    assert_eq!(still["copies"].as_array().unwrap().len(), 2, "{still}");
    assert_eq!(names(&still, hidden).2, false);
}

/// The peer record named `name` on `tp`.
async fn peer_record(tp: &TestPlatform, name: &str) -> pf_store::PeerRecord {
    tp.platform
        .store
        .peers()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.name == name)
        .unwrap()
}

/// `tp` asks its peer `train` for its copies of `idnumber` (the error's code when refused).
async fn ask_sessions(tp: &TestPlatform, idnumber: &str) -> Result<Value, String> {
    let peer = peer_record(tp, "train").await;
    let caller = pf_server::rpc::PeerCaller::new(&tp.platform).unwrap();
    let path = format!("/rpc/sessions?idnumber={idnumber}");
    caller
        .get_json::<Value>(&peer, &path, None)
        .await
        .map_err(|e| e.code.as_str().to_string())
}

/// The value of the hidden input `name` in the first form of `html` with class `class`.
fn form_value(html: &str, class: &str, name: &str) -> String {
    let start = html
        .find(&format!("class=\"inline {class}\""))
        .unwrap_or_else(|| panic!("no {class} form in {html}"));
    let form = &html[start..];
    let form = &form[..form.find("</form>").unwrap()];
    let at = form
        .find(&format!("name=\"{name}\" value=\""))
        .unwrap_or_else(|| panic!("no {name} in {form}"));
    let rest = &form[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalogs_remote_open_notifies_the_participants_and_its_page_closes_the_session() {
    let c = TestPlatform::start(PlatformRole::Catalog, "cat").await;
    let t = TestPlatform::start(PlatformRole::Training, "train").await;
    pair(&t, &c).await;
    let course = super::publishing::course_from(&c, "sandbox-test").await;
    let remote = ok(
        &c,
        &["deploy", &course, "--to", "train", "--wait", "--json"],
    )
    .await["result"]["course_id"]
        .as_i64()
        .unwrap();
    let remote_s = remote.to_string();
    // The training course's participants, in two languages.
    for (name, lang, role) in [
        ("ann", "en", "student"),
        ("bob", "fr", "student"),
        ("tina", "fr", "editingteacher"),
    ] {
        let role = format!("{role}@course:{remote}");
        let email = format!("{name}@example.org");
        ok(
            &t,
            &[
                "user", "add", name, "--email", &email, "--lang", lang, "--role", &role, "--json",
            ],
        )
        .await;
    }

    // The catalog opens it with notification: the training platform mails its participants.
    let open = ok(
        &c,
        &[
            "session", "open", &remote_s, "--on", "train", "--notify", "--json",
        ],
    )
    .await;
    assert_eq!(open["notified"], 3, "{open}");
    assert_eq!(open["visible"], true);
    let outbox = ok(&t, &["outbox", "list", "--json"]).await;
    let outbox = outbox.as_array().unwrap();
    let mut to: Vec<(&str, &str)> = outbox
        .iter()
        .map(|m| (m["to"].as_str().unwrap(), m["lang"].as_str().unwrap()))
        .collect();
    to.sort();
    assert_eq!(
        to,
        [
            ("ann@example.org", "en"),
            ("bob@example.org", "fr"),
            ("tina@example.org", "fr")
        ],
        "{outbox:?}"
    );
    assert!(
        outbox.iter().all(|m| m["kind"] == "session_open"),
        "{outbox:?}"
    );
    // Nothing is mailed from the catalog.
    assert_eq!(ok(&c, &["outbox", "list", "--json"]).await, json!([]));
    // Audited on both sides.
    let on_t = audit_actions(&t).await;
    assert!(
        on_t.iter().any(|(a, r, d)| a == "session.open"
            && r == "ok"
            && d["peer"] == "cat"
            && d["notify"] == true
            && d["mail_queued"] == 3),
        "{on_t:?}"
    );
    let on_c = audit_actions(&c).await;
    assert!(
        on_c.iter().any(|(a, _, d)| a == "session.remote_open"
            && d["action"]["notify"] == true
            && d["result"]["notified"] == 3),
        "{on_c:?}"
    );

    // The close button of the catalog's course page closes it there (protected: students
    // switched), with the form as the page renders it.
    let mut b = c.login("admin", ADMIN_PASSWORD).await;
    let page = b.get(&format!("/course/{course}")).await;
    let peer = form_value(&page.body, "remote-close", "peer");
    let target = form_value(&page.body, "remote-close", "target");
    assert_eq!(target, remote_s);
    assert_eq!(form_value(&page.body, "remote-close", "action"), "close");
    let closed = b
        .post(
            &format!("/course/{course}/remote-session"),
            &[
                ("peer", peer.as_str()),
                ("target", target.as_str()),
                ("action", "close"),
                ("mode", "protected"),
            ],
        )
        .await;
    assert_eq!(closed.status, 303, "{}", closed.body);
    assert_eq!(
        closed.location(),
        Some(format!("/course/{course}").as_str())
    );
    let on_t_course = course_json(&courses(&t).await, remote).clone();
    assert_eq!(on_t_course["category"], category(&t, "Closed").await);
    assert_eq!(on_t_course["visible"], true);
    let on_t = audit_actions(&t).await;
    assert!(
        on_t.iter().any(|(a, _, d)| a == "session.close"
            && d["peer"] == "cat"
            && d["mode"] == "protected"),
        "{on_t:?}"
    );
    assert!(audit_actions(&c)
        .await
        .iter()
        .any(|(a, _, d)| a == "session.remote_close" && d["result"]["switched"] == 2));
    // A bad mode from the form changes nothing.
    let bad = b
        .post(
            &format!("/course/{course}/remote-session"),
            &[
                ("peer", peer.as_str()),
                ("target", target.as_str()),
                ("action", "close"),
                ("mode", "sideways"),
            ],
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(course_json(&courses(&t).await, remote), &on_t_course);
}
