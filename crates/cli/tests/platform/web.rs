//! A platform driven as people and scripts drive it: the browser, the JSON API, the CLI on the
//! same data dir — roles, bad input, tokens, categories, trash, profiles, PostgreSQL.

use super::bin;
use pf_domain::platform::PlatformRole;
use pf_testkit::{run_cli, TestPlatform, ADMIN_PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_builds_a_course_in_the_browser_and_people_see_what_their_role_allows() {
    let f = TestPlatform::start(PlatformRole::Factory, "factory").await;
    let mut admin = f.login("admin", ADMIN_PASSWORD).await;

    // A category, then a course in it, through the forms.
    let page = admin
        .post(
            "/categories/new",
            &[
                ("name", "Sciences <b>&</b>"),
                ("parent", ""),
                ("idnumber", "SCI"),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{page:?}");
    let category = page
        .location()
        .unwrap()
        .trim_start_matches("/category/")
        .to_string();
    let page = admin
        .post(
            "/course/new",
            &[
                ("fullname", "Physique <script>alert(1)</script>"),
                ("shortname", "PHY1"),
                ("category", &category),
                ("summary", "<p onclick=\"x()\">Forces</p>"),
                ("format", "topics"),
                ("visible", "on"),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{page:?}");
    let course_path = page.location().unwrap().to_string();
    let course_id = course_path.trim_start_matches("/course/").to_string();

    // A section, a page with hostile HTML, a label, a url, a file.
    assert_eq!(
        admin
            .post(&format!("{course_path}/sections"), &[("name", "Mechanics")])
            .await
            .status,
        303
    );
    let sections = f
        .platform
        .store
        .sections(pf_domain::ids::CourseId(course_id.parse().unwrap()))
        .await
        .unwrap();
    let mechanics = sections
        .iter()
        .find(|s| s.name == "Mechanics")
        .unwrap()
        .id
        .0
        .to_string();
    let add = |module: &'static str| format!("{course_path}/activity/new?module={module}");
    let _ = add;
    let post_activity = format!("{course_path}/activity/new");
    let page = admin
        .post_multipart(
            &post_activity,
            &[
                ("module", "page"),
                ("section", &mechanics),
                ("name", "Newton"),
                ("intro", ""),
                (
                    "content",
                    "<h2>Laws</h2><script>steal()</script><img src=x onerror=alert(1)>",
                ),
                ("visible", "on"),
            ],
            None,
        )
        .await;
    assert_eq!(page.status, 303, "{page:?}");
    let page = admin
        .post_multipart(
            &post_activity,
            &[
                ("module", "label"),
                ("section", &mechanics),
                ("name", ""),
                ("intro", "<em>Read first</em>"),
                ("visible", "on"),
            ],
            None,
        )
        .await;
    assert_eq!(page.status, 303, "{page:?}");
    let page = admin
        .post_multipart(
            &post_activity,
            &[
                ("module", "url"),
                ("section", &mechanics),
                ("name", "Moodle"),
                ("externalurl", "https://moodle.org"),
                ("visible", "on"),
            ],
            None,
        )
        .await;
    assert_eq!(page.status, 303, "{page:?}");
    let page = admin
        .post_multipart(
            &post_activity,
            &[
                ("module", "url"),
                ("section", &mechanics),
                ("name", "Evil"),
                ("externalurl", "javascript:alert(1)"),
                ("visible", "on"),
            ],
            None,
        )
        .await;
    assert_eq!(page.status, 400, "javascript: urls are refused");
    let png = b"\x89PNG\r\n\x1a\nnot really an image".to_vec();
    let page = admin
        .post_multipart(
            &post_activity,
            &[
                ("module", "resource"),
                ("section", &mechanics),
                ("name", "Diagram"),
                ("visible", "on"),
            ],
            Some(("file", "diagram.png", png.clone())),
        )
        .await;
    assert_eq!(page.status, 303, "{page:?}");
    let html_file = b"<script>document.cookie</script>".to_vec();
    let page = admin
        .post_multipart(
            &post_activity,
            &[
                ("module", "resource"),
                ("section", &mechanics),
                ("name", "Trap"),
                ("visible", "on"),
            ],
            Some(("file", "../../trap.html", html_file)),
        )
        .await;
    assert_eq!(page.status, 303, "{page:?}");

    // The course page shows it all, escaped or sanitised, with the publishflow panel.
    let page = admin.get(&course_path).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Physique &lt;script&gt;"),
        "the course name is escaped"
    );
    assert!(!page.body.contains("<script>alert(1)"));
    assert!(
        page.body.contains("Forces") && !page.body.contains("onclick"),
        "the summary is sanitised"
    );
    assert!(
        page.body.contains("Mechanics")
            && page.body.contains("Newton")
            && page.body.contains("<em>Read first</em>")
    );
    assert!(
        page.body.contains("Publish to a catalog")
            && page.body.contains(&format!("{course_path}/publication\"")),
        "the panel lists the factory's operations"
    );
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert!(page
        .header("content-security-policy")
        .unwrap()
        .contains("script-src 'self'"));
    let newton = f
        .platform
        .store
        .activities(pf_domain::ids::CourseId(course_id.parse().unwrap()))
        .await
        .unwrap();
    let page_activity = newton.iter().find(|a| a.name == "Newton").unwrap().id.0;
    let page = admin
        .get(&format!("{course_path}/activity/{page_activity}"))
        .await;
    assert!(page.body.contains("<h2>Laws</h2>"));
    assert!(
        !page.body.contains("steal()") && !page.body.contains("onerror"),
        "page content is sanitised"
    );

    // Files: the image inline and sandboxed, the HTML as an attachment, both nosniff.
    let files = f
        .platform
        .store
        .files(pf_domain::ids::CourseId(course_id.parse().unwrap()))
        .await
        .unwrap();
    let image = files.iter().find(|x| x.filename == "diagram.png").unwrap();
    let trap = files
        .iter()
        .find(|x| x.filename == "trap.html")
        .expect("the path was stripped from the name");
    let page = admin
        .get(&format!("{course_path}/file/{}/diagram.png", image.id))
        .await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), Some("image/png"));
    assert!(page
        .header("content-disposition")
        .unwrap()
        .starts_with("inline"));
    assert!(page
        .header("content-security-policy")
        .unwrap()
        .contains("sandbox"));
    let page = admin
        .get(&format!("{course_path}/file/{}/trap.html", trap.id))
        .await;
    assert!(page
        .header("content-disposition")
        .unwrap()
        .starts_with("attachment"));
    assert_eq!(
        page.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));

    // A teacher (non-editing) of this course consults it but cannot edit it.
    let pwfile = f.dir.path().join("pw");
    std::fs::write(&pwfile, "teacher password\n").unwrap();
    let role = format!("teacher@course:{course_id}");
    let run = f.cli(
        bin(),
        &[
            "user",
            "add",
            "tina",
            "--password-file",
            pwfile.to_str().unwrap(),
            "--role",
            &role,
            "--json",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let mut tina = f.login("tina", "teacher password").await;
    let page = tina.get(&course_path).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("Edit settings") && !page.body.contains("Add a section"));
    assert!(
        !page.body.contains("Publish to a catalog"),
        "a teacher has no publish capability"
    );
    let page = tina
        .post(&format!("{course_path}/sections"), &[("name", "Sneaky")])
        .await;
    assert_eq!(page.status, 403);
    let page = tina
        .post(
            "/course/new",
            &[
                ("fullname", "Mine"),
                ("shortname", "MINE"),
                ("category", &category),
            ],
        )
        .await;
    assert_eq!(page.status, 403);
    assert_eq!(tina.get("/admin/users").await.status, 403);

    // A hidden course is invisible to her; an editing teacher may edit.
    let run = f.cli(
        bin(),
        &[
            "course",
            "add",
            "Hidden course",
            "--shortname",
            "HID",
            "--category",
            &category,
            "--json",
        ],
    );
    let hidden = run.json()["id"].as_i64().unwrap();
    let api = f.cli(bin(), &["course", "list", "--json"]).json();
    assert_eq!(api.as_array().unwrap().len(), 2);
    f.platform
        .store
        .update_course(
            pf_domain::ids::CourseId(hidden),
            pf_store::CourseUpdate {
                visible: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(tina.get(&format!("/course/{hidden}")).await.status, 404);

    // A visitor who is not logged in is sent to the login form, and comes back after.
    let mut guest = f.browser();
    let page = guest.get(&course_path).await;
    assert_eq!(page.status, 303);
    assert_eq!(
        page.location(),
        Some(format!("/login?next={course_path}").as_str())
    );
    // With guest access, visitors consult the course.
    admin
        .post(
            &format!("{course_path}/edit"),
            &[
                ("fullname", "Physique"),
                ("shortname", "PHY1"),
                ("category", &category),
                ("format", "topics"),
                ("visible", "on"),
                ("guest_access", "on"),
            ],
        )
        .await;
    let page = guest.get(&course_path).await;
    assert_eq!(page.status, 200, "guest access lets visitors in");
    assert!(!page.body.contains("Edit settings"));
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let f = TestPlatform::start(PlatformRole::FactoryCatalog, "fc").await;
    let dir = f.data_dir();
    let count_courses = || {
        run_cli(bin(), &dir, &["course", "list", "--json"])
            .json()
            .as_array()
            .unwrap()
            .len()
    };
    let landing = run_cli(bin(), &dir, &["category", "list", "--json"]).json()[0]["id"]
        .as_i64()
        .unwrap()
        .to_string();

    // CLI: duplicates, unknown roles, contexts and parents exit 2 with one error line.
    assert_eq!(
        f.cli(
            bin(),
            &[
                "course",
                "add",
                "One",
                "--shortname",
                "ONE",
                "--category",
                &landing
            ]
        )
        .code,
        0
    );
    let run = f.cli(
        bin(),
        &[
            "course",
            "add",
            "Two",
            "--shortname",
            "ONE",
            "--category",
            &landing,
        ],
    );
    assert_eq!((run.code, run.stderr.lines().count()), (2, 1), "{run:?}");
    assert!(run.stderr.starts_with("error:"));
    assert_eq!(count_courses(), 1);
    assert_eq!(
        f.cli(bin(), &["user", "add", "admin"]).code,
        2,
        "duplicate username"
    );
    assert_eq!(
        f.cli(bin(), &["user", "add", "bob", "--role", "wizard"])
            .code,
        2
    );
    assert_eq!(
        f.cli(bin(), &["user", "add", "bob", "--role", "teacher@planet:3"])
            .code,
        2
    );
    assert_eq!(
        f.cli(
            bin(),
            &["user", "add", "bob", "--role", "teacher@course:999"]
        )
        .code,
        2
    );
    assert_eq!(
        f.cli(bin(), &["category", "add", "Orphan", "--parent", "999"])
            .code,
        2
    );
    assert_eq!(f.cli(bin(), &["course", "show", "shortname:NOPE"]).code, 2);
    assert_eq!(
        f.cli(bin(), &["user", "list", "--json"])
            .json()
            .as_array()
            .unwrap()
            .len(),
        1,
        "no bob was created"
    );
    assert_eq!(f.cli(bin(), &["course", "list", "--as", "nobody"]).code, 2);

    // Web: a form without its CSRF token is refused and changes nothing.
    let mut admin = f.login("admin", ADMIN_PASSWORD).await;
    let page = admin
        .post_raw(
            "/course/new",
            &[
                ("fullname", "Forged"),
                ("shortname", "FORGED"),
                ("category", &landing),
            ],
        )
        .await;
    assert_eq!(page.status, 403);
    let page = admin
        .post_raw(
            "/course/new",
            &[
                ("csrf", "guess"),
                ("fullname", "Forged"),
                ("shortname", "FORGED"),
                ("category", &landing),
            ],
        )
        .await;
    assert_eq!(page.status, 403);
    assert_eq!(count_courses(), 1);
    let page = admin
        .post(
            "/course/new",
            &[
                ("fullname", "Dup"),
                ("shortname", "ONE"),
                ("category", &landing),
            ],
        )
        .await;
    assert_eq!(page.status, 409, "a taken short name is refused");
    assert!(page.body.contains("ONE"));

    // Logins: the same answer for an unknown user and a wrong password; then throttled.
    let mut b = f.browser();
    let unknown = {
        let s = b.login("ghost", "whatever pw").await;
        (s, b.get("/").await.status)
    };
    let token = pf_testkit::browser_csrf(&b.get("/login").await.body);
    let page_missing = b.post_raw("/login", &[("csrf", &token)]).await; // malformed: no username
    assert_eq!(page_missing.status, 400);
    let mut c = f.browser();
    let wrong = c.login("admin", "wrong password").await;
    assert_eq!((unknown.0, wrong), (401, 401));
    for _ in 0..5 {
        c.login("admin", "wrong password").await;
    }
    assert_eq!(
        c.login("admin", ADMIN_PASSWORD).await,
        429,
        "too many failures hold the account back"
    );

    // API: tokens only; malformed and oversized bodies get the envelope.
    let http = reqwest::Client::new();
    let r = http
        .get(format!("{}/api/v1/courses", f.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let envelope: serde_json::Value = r.json().await.unwrap();
    assert_eq!(envelope["code"], "unauthenticated");
    let token = f
        .cli(bin(), &["token", "create", "--name", "ci", "--json"])
        .json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let auth = format!("Bearer {token}");
    let r = http
        .post(format!("{}/api/v1/courses", f.url))
        .header("authorization", &auth)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["code"],
        "bad_request"
    );
    let big = format!("{{\"fullname\":\"{}\"}}", "x".repeat(2 << 20));
    // The server answers 413 before reading the whole body and closes that connection: a client
    // of its own keeps the pooled connections of `http` usable.
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/courses", f.url))
        .header("authorization", &auth)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let r = http.post(format!("{}/api/v1/courses", f.url)).header("authorization", &auth).json(&serde_json::json!({"fullname": "Dup", "shortname": "ONE", "category": landing.parse::<i64>().unwrap()})).send().await.unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["code"],
        "conflict"
    );
    let r = http
        .get(format!("{}/api/v1/nowhere", f.url))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(count_courses(), 1);
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_tokens_are_shown_once_work_as_bearer_only_and_can_be_revoked() {
    let f = TestPlatform::start(PlatformRole::Factory, "fac").await;
    let mut admin = f.login("admin", ADMIN_PASSWORD).await;
    let page = admin
        .post("/account/tokens", &[("name", "script"), ("days", "7")])
        .await;
    assert_eq!(page.status, 200);
    let at = page.body.find("pft_").expect("the new token is shown");
    let token: String = page.body[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    assert!(
        !admin.get("/account").await.body.contains(&token),
        "shown once only"
    );

    let http = reqwest::Client::new();
    let get = |path: &str, auth: Option<String>| {
        let mut r = http.get(format!("{}{path}", f.url));
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        r.send()
    };
    let r = get("/api/v1/categories", Some(format!("Bearer {token}")))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cats: serde_json::Value = r.json().await.unwrap();
    assert_eq!(cats[0]["name"], "Retrofitted courses");
    let r = http.post(format!("{}/api/v1/courses", f.url)).header("authorization", format!("Bearer {token}")).json(&serde_json::json!({"fullname": "Via API", "shortname": "API1", "category": cats[0]["id"]})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    let r = http
        .patch(format!("{}/api/v1/courses/{id}", f.url))
        .header("authorization", format!("Bearer {token}"))
        .json(&serde_json::json!({"fullname": "Renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let shown = f
        .cli(bin(), &["course", "show", &id.to_string(), "--json"])
        .json();
    assert_eq!(shown["fullname"], "Renamed");
    assert_eq!(shown["sections"][0]["number"], 0);
    let spec: serde_json::Value = get("/api/v1/openapi.json", None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(spec["paths"]["/courses/{id}"]["patch"].is_object());

    // The session cookie never authenticates the API.
    let cookie_only = http
        .get(format!("{}/api/v1/me", f.url))
        .header("cookie", "pf_session=anything")
        .send()
        .await
        .unwrap();
    assert_eq!(cookie_only.status(), 401);
    // Revoked with the CLI: refused at once.
    let listed = f.cli(bin(), &["token", "list", "--json"]).json();
    let token_id = listed[0]["id"].as_i64().unwrap().to_string();
    assert_eq!(f.cli(bin(), &["token", "revoke", &token_id]).code, 0);
    assert_eq!(
        get("/api/v1/me", Some(format!("Bearer {token}")))
            .await
            .unwrap()
            .status(),
        401
    );
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_runs_on_postgresql_too() {
    let Some(db) = pf_testkit::postgres::fresh_database().await else {
        return;
    };
    let f = TestPlatform::start_with(
        PlatformRole::FactoryTraining,
        "pg-establishment",
        Some(db.url.clone()),
    )
    .await;
    assert!(
        !f.data_dir().join("publishflow.db").exists(),
        "no SQLite file when PostgreSQL is configured"
    );
    let cats = f.cli(bin(), &["category", "list", "--json"]).json();
    let incoming = cats[0]["id"].as_i64().unwrap().to_string();
    assert_eq!(cats[0]["name"], "Incoming");
    let id = f
        .cli(
            bin(),
            &[
                "course",
                "add",
                "Chimie",
                "--shortname",
                "CHI",
                "--category",
                &incoming,
                "--json",
            ],
        )
        .json()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        f.cli(
            bin(),
            &[
                "course",
                "add",
                "Again",
                "--shortname",
                "CHI",
                "--category",
                &incoming
            ]
        )
        .code,
        2
    );
    let mut admin = f.login("admin", ADMIN_PASSWORD).await;
    let page = admin.get(&format!("/course/{id}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Chimie"));
    assert!(
        page.body.contains("Open or close the session"),
        "a training platform offers sessions"
    );
    f.stop().await;
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn categories_are_edited_and_trashed_courses_restored() {
    let f = TestPlatform::start(PlatformRole::Factory, "f").await;
    let mut admin = f.login("admin", ADMIN_PASSWORD).await;
    let top = f
        .cli(bin(), &["category", "add", "Langues", "--json"])
        .json()["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let sub = f
        .cli(
            bin(),
            &["category", "add", "Anglais", "--parent", &top, "--json"],
        )
        .json()["id"]
        .as_i64()
        .unwrap()
        .to_string();
    // A cycle is refused; a rename and a move to the top level work.
    let page = admin
        .post(
            &format!("/category/{top}/edit"),
            &[("name", "Langues"), ("parent", &sub)],
        )
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    let page = admin
        .post(
            &format!("/category/{sub}/edit"),
            &[("name", "English"), ("parent", ""), ("idnumber", "EN")],
        )
        .await;
    assert_eq!(page.status, 303);
    let list = f.cli(bin(), &["category", "list", "--json"]).json();
    let english = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == sub.parse::<i64>().unwrap())
        .unwrap();
    assert_eq!(
        (english["name"].as_str(), english["parent"].is_null()),
        (Some("English"), true)
    );
    // The landing category cannot be deleted; a non-empty one neither; an empty one can.
    let landing = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Retrofitted courses")
        .unwrap()["id"]
        .to_string();
    assert_eq!(
        admin
            .post(&format!("/category/{landing}/delete"), &[])
            .await
            .status,
        409
    );
    let course = f
        .cli(
            bin(),
            &[
                "course",
                "add",
                "Grammar",
                "--shortname",
                "GR",
                "--category",
                &sub,
                "--json",
            ],
        )
        .json()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        admin
            .post(&format!("/category/{sub}/delete"), &[])
            .await
            .status,
        409
    );
    assert_eq!(
        admin
            .post(&format!("/category/{top}/delete"), &[])
            .await
            .status,
        303
    );

    // Trash: the course disappears, then comes back.
    assert_eq!(
        admin
            .post(&format!("/course/{course}/delete"), &[])
            .await
            .status,
        303
    );
    assert_eq!(admin.get(&format!("/course/{course}")).await.status, 404);
    let trash = admin.get("/admin/trash").await;
    assert!(trash.body.contains("Grammar"), "{}", trash.body);
    assert_eq!(
        admin
            .post(&format!("/admin/trash/{course}/restore"), &[])
            .await
            .status,
        303
    );
    assert_eq!(admin.get(&format!("/course/{course}")).await.status, 200);
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_fill_in_only_their_user_editable_profile_fields() {
    let f = TestPlatform::start(PlatformRole::FactoryTraining, "lycee-a").await;
    let mut admin = f.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(
        admin
            .post(
                "/admin/profile-fields",
                &[("key", "establishment_type"), ("editor", "admin")]
            )
            .await
            .status,
        303
    );
    assert_eq!(
        admin
            .post(
                "/admin/profile-fields",
                &[("key", "nickname"), ("editor", "user")]
            )
            .await
            .status,
        303
    );
    assert_eq!(
        admin
            .post(
                "/admin/profile-fields",
                &[("key", "Bad Key"), ("editor", "user")]
            )
            .await
            .status,
        400
    );
    let pw = f.dir.path().join("pw");
    std::fs::write(&pw, "student password\n").unwrap();
    let sam = f
        .cli(
            bin(),
            &[
                "user",
                "add",
                "sam",
                "--password-file",
                pw.to_str().unwrap(),
                "--json",
            ],
        )
        .json()["id"]
        .as_i64()
        .unwrap();
    let mut student = f.login("sam", "student password").await;
    let path = format!("/user/{sam}/profile");
    assert_eq!(
        student
            .post(&path, &[("key", "nickname"), ("value", "Sammy")])
            .await
            .status,
        303
    );
    assert_eq!(
        student
            .post(&path, &[("key", "establishment_type"), ("value", "lycee")])
            .await
            .status,
        403,
        "an admin-managed field is not the user's to set"
    );
    assert_eq!(
        admin
            .post(&path, &[("key", "establishment_type"), ("value", "lycee")])
            .await
            .status,
        303
    );
    let values = f
        .platform
        .store
        .profile_values(pf_domain::ids::UserId(sam))
        .await
        .unwrap();
    assert!(values.contains(&("nickname".into(), "Sammy".into())));
    assert!(values.contains(&("establishment_type".into(), "lycee".into())));
    // Another user's profile is not even acknowledged.
    assert_eq!(student.get("/user/1/profile").await.status, 404);
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn course_roles_enrol_and_authors_hide_or_delete_activities() {
    let f = TestPlatform::start(PlatformRole::Factory, "f").await;
    let landing = f.cli(bin(), &["category", "list", "--json"]).json()[0]["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let course = f
        .cli(
            bin(),
            &[
                "course",
                "add",
                "Histoire",
                "--shortname",
                "HIS",
                "--category",
                &landing,
                "--json",
            ],
        )
        .json()["id"]
        .as_i64()
        .unwrap();
    let cid = pf_domain::ids::CourseId(course);
    let pw = f.dir.path().join("pw");
    std::fs::write(&pw, "student password\n").unwrap();
    let role = format!("student@course:{course}");
    let sam = f
        .cli(
            bin(),
            &[
                "user",
                "add",
                "sam",
                "--password-file",
                pw.to_str().unwrap(),
                "--role",
                &role,
                "--json",
            ],
        )
        .json()["id"]
        .as_i64()
        .unwrap();
    let enrolled = f.platform.store.enrolments(cid).await.unwrap();
    assert_eq!(enrolled.len(), 1, "a course role enrols: {enrolled:?}");

    let mut admin = f.login("admin", ADMIN_PASSWORD).await;
    let general = f.platform.store.sections(cid).await.unwrap()[0]
        .id
        .0
        .to_string();
    let post = format!("/course/{course}/activity/new");
    admin
        .post_multipart(
            &post,
            &[
                ("module", "page"),
                ("section", &general),
                ("name", "Secret notes"),
                ("content", "x"),
                ("visible", "on"),
            ],
            None,
        )
        .await;
    admin
        .post_multipart(
            &post,
            &[
                ("module", "page"),
                ("section", &general),
                ("name", "Old page"),
                ("content", "x"),
                ("visible", "on"),
            ],
            None,
        )
        .await;
    let acts = f.platform.store.activities(cid).await.unwrap();
    let id_of = |name: &str| acts.iter().find(|a| a.name == name).unwrap().id.0;
    let change = |aid: i64| format!("/course/{course}/activity/{aid}/change");
    assert_eq!(
        admin
            .post(&change(id_of("Secret notes")), &[("action", "hide")])
            .await
            .status,
        303
    );
    assert_eq!(
        admin
            .post(&change(id_of("Old page")), &[("action", "delete")])
            .await
            .status,
        303
    );
    assert_eq!(
        admin
            .post(&change(id_of("Secret notes")), &[("action", "explode")])
            .await
            .status,
        400
    );

    let mut student = f.login("sam", "student password").await;
    let page = student.get(&format!("/course/{course}")).await;
    assert_eq!(page.status, 200);
    assert!(
        !page.body.contains("Secret notes") && !page.body.contains("Old page"),
        "hidden and deleted activities are gone for students"
    );
    assert_eq!(
        student
            .get(&format!(
                "/course/{course}/activity/{}",
                id_of("Secret notes")
            ))
            .await
            .status,
        404
    );
    assert_eq!(
        student
            .post(&change(id_of("Secret notes")), &[("action", "show")])
            .await
            .status,
        403
    );

    // Removing the last course role unenrols.
    let mut admin2 = f.login("admin", ADMIN_PASSWORD).await;
    let ctx = format!("course:{course}");
    assert_eq!(
        admin2
            .post(
                &format!("/admin/users/{sam}/roles"),
                &[
                    ("role", "student"),
                    ("context", &ctx),
                    ("action", "unassign")
                ]
            )
            .await
            .status,
        303
    );
    assert!(f.platform.store.enrolments(cid).await.unwrap().is_empty());
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn housekeeping_removes_only_what_is_past_retention() {
    let f = TestPlatform::start(PlatformRole::Catalog, "c").await;
    let p = &f.platform;
    let entry = |at: i64| pf_store::NewAudit {
        at,
        actor: "test".into(),
        action: "probe".into(),
        target: "none".into(),
        peer: None,
        job: None,
        result: "ok".into(),
        details: serde_json::Value::Null,
    };
    let now = pf_server::services::now();
    p.store
        .append_audit(entry(now - 400 * 86_400))
        .await
        .unwrap();
    p.store.append_audit(entry(now - 10)).await.unwrap();
    // serve's own hourly run may get there first; either way the old entry goes, the new one stays.
    pf_server::services::housekeeping::run(p).await.unwrap();
    let left: Vec<_> = p
        .store
        .audit(0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.action == "probe")
        .collect();
    assert_eq!(left.len(), 1, "only the entry older than 365 days goes");
    assert!(left[0].at > now - 60);
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_rules_decide_who_sees_and_consults_courses() {
    let f = TestPlatform::start(PlatformRole::FactoryCatalog, "common").await;
    let mut admin = f.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(
        admin
            .post(
                "/admin/profile-fields",
                &[("key", "discipline"), ("editor", "admin")]
            )
            .await
            .status,
        303
    );
    assert_eq!(
        admin
            .post(
                "/admin/profile-fields",
                &[("key", "hobby"), ("editor", "user")]
            )
            .await
            .status,
        303
    );
    let maths = f.cli(bin(), &["category", "add", "Maths", "--json"]).json()["id"]
        .as_i64()
        .unwrap();
    let algebra = f
        .cli(
            bin(),
            &[
                "course",
                "add",
                "Algebra",
                "--shortname",
                "ALG",
                "--category",
                &maths.to_string(),
                "--json",
            ],
        )
        .json()["id"]
        .as_i64()
        .unwrap();
    // Chess lives elsewhere: a category rule also covers every course below it.
    let clubs = f.cli(bin(), &["category", "add", "Clubs", "--json"]).json()["id"]
        .as_i64()
        .unwrap();
    let chess = f
        .cli(
            bin(),
            &[
                "course",
                "add",
                "Chess club",
                "--shortname",
                "CHESS",
                "--category",
                &clubs.to_string(),
                "--json",
            ],
        )
        .json()["id"]
        .as_i64()
        .unwrap();
    let pw = f.dir.path().join("pw");
    std::fs::write(&pw, "a long password\n").unwrap();
    for (name, discipline) in [("mia", "maths"), ("hugo", "history")] {
        let profile = format!("discipline={discipline}");
        let run = f.cli(
            bin(),
            &[
                "user",
                "add",
                name,
                "--password-file",
                pw.to_str().unwrap(),
                "--profile",
                &profile,
                "--json",
            ],
        );
        assert_eq!(run.code, 0, "{run:?}");
    }
    // Rules: maths people consult the Maths category; a rule on a user-editable field.
    let on_category = format!("category:{maths}");
    assert_eq!(
        admin
            .post(
                "/admin/rules",
                &[
                    ("context", &on_category),
                    ("grant", "consult"),
                    ("rule", "discipline = maths")
                ]
            )
            .await
            .status,
        303
    );
    let on_chess = format!("course:{chess}");
    assert_eq!(
        admin
            .post(
                "/admin/rules",
                &[
                    ("context", &on_chess),
                    ("grant", "consult"),
                    ("rule", "hobby = chess")
                ]
            )
            .await
            .status,
        303
    );
    assert_eq!(
        admin
            .post(
                "/admin/rules",
                &[
                    ("context", &on_chess),
                    ("grant", "consult"),
                    ("rule", "hobby ~ chess")
                ]
            )
            .await
            .status,
        400
    );
    let tester = admin.get("/admin/rules").await;
    assert!(
        tester.body.contains("mia") && tester.body.contains("discipline = maths"),
        "the tester shows who would match"
    );

    let mut mia = f.login("mia", "a long password").await;
    let page = mia.get(&format!("/category/{maths}")).await;
    assert!(
        page.body.contains("Algebra"),
        "a matching user sees the course"
    );
    assert_eq!(
        mia.get(&format!("/course/{algebra}")).await.status,
        200,
        "the rule grants consultation without a role"
    );
    // A user-editable field never satisfies a rule, even when its value matches.
    let mia_id = f
        .platform
        .store
        .local_user(&pf_domain::user::Username::parse("mia").unwrap())
        .await
        .unwrap()
        .id
        .0;
    assert_eq!(
        mia.post(
            &format!("/user/{mia_id}/profile"),
            &[("key", "hobby"), ("value", "chess")]
        )
        .await
        .status,
        303
    );
    assert!(!mia
        .get(&format!("/category/{clubs}"))
        .await
        .body
        .contains("Chess club"));
    assert_eq!(mia.get(&format!("/course/{chess}")).await.status, 404);

    let mut hugo = f.login("hugo", "a long password").await;
    let page = hugo.get(&format!("/category/{maths}")).await;
    assert!(
        !page.body.contains("Algebra"),
        "users outside the rules do not see the course"
    );
    assert_eq!(hugo.get(&format!("/course/{algebra}")).await.status, 404);
    // Nor through the API.
    let token = f
        .cli(
            bin(),
            &["token", "create", "--name", "t", "--as", "hugo", "--json"],
        )
        .json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let http = reqwest::Client::new();
    let listed: serde_json::Value = http
        .get(format!("{}/api/v1/courses", f.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!listed.to_string().contains("ALG"), "{listed}");
    let r = http
        .get(format!("{}/api/v1/courses/{algebra}", f.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // The admin (who sees hidden courses) is never held back by rules.
    assert_eq!(admin.get(&format!("/course/{chess}")).await.status, 200);
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_panel_gives_a_course_its_idnumber_once() {
    let f = TestPlatform::start(PlatformRole::Factory, "f").await;
    let landing = f.cli(bin(), &["category", "list", "--json"]).json()[0]["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let id = f
        .cli(
            bin(),
            &[
                "course",
                "add",
                "Optique",
                "--shortname",
                "OPT",
                "--category",
                &landing,
                "--json",
            ],
        )
        .json()["id"]
        .as_i64()
        .unwrap();
    let mut admin = f.login("admin", ADMIN_PASSWORD).await;
    let page = admin.get(&format!("/course/{id}")).await.body;
    assert!(page.contains("Give it a local idnumber"), "{page}");
    // Publish and deploy wait for the idnumber instead of offering a form that would fail.
    assert!(page.contains("Give the course an idnumber first"), "{page}");
    assert!(!page.contains(&format!("action=\"/course/{id}/publish\"")));
    assert_eq!(
        admin.post(&format!("/course/{id}/index"), &[]).await.status,
        303
    );
    let page = admin.get(&format!("/course/{id}")).await.body;
    assert!(
        !page.contains("Give the course an idnumber first"),
        "{page}"
    );
    let idnumber = f
        .cli(bin(), &["course", "show", &id.to_string(), "--json"])
        .json()["idnumber"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(idnumber.len(), 10);
    assert!(admin
        .get(&format!("/course/{id}"))
        .await
        .body
        .contains(&idnumber));
    assert_eq!(
        admin.post(&format!("/course/{id}/index"), &[]).await.status,
        303
    );
    let again = f
        .cli(bin(), &["course", "show", &id.to_string(), "--json"])
        .json()["idnumber"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(again, idnumber, "an idnumber is never replaced");
    assert_eq!(
        f.cli(
            bin(),
            &["course", "index", &id.to_string(), "--strategy", "nearby"]
        )
        .code,
        0,
        "an indexed course keeps its idnumber whatever the strategy"
    );
    f.stop().await;
}
