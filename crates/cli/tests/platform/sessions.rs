//! Course sessions on a real training platform (SPEC §5.6) and their notifications (SPEC §7),
//! checked through the platform's own pages, capability checks and CLI — and, for mail, against a
//! real SMTP server on loopback (Python's aiosmtpd, installed by `scripts/test`).

use super::bin;
use pf_domain::access::{Capability, Context};
use pf_domain::course::{Fullname, IdNumber, Shortname};
use pf_domain::ids::{CategoryId, CourseId};
use pf_domain::platform::PlatformRole;
use pf_domain::user::Username;
use pf_server::platform::settings;
use pf_server::services::{Actor, Via};
use pf_store::{NewActivity, NewCourse};
use pf_testkit::{TestPlatform, ADMIN_PASSWORD};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const PASSWORD: &str = "a long enough password";

/// A course as a deployment leaves it: in a category, with a section and a page.
async fn arrived_course(
    t: &TestPlatform,
    category: CategoryId,
    shortname: &str,
    fullname: &str,
) -> CourseId {
    let store = &t.platform.store;
    let id = store
        .create_course(NewCourse {
            category,
            fullname: Fullname::parse(fullname).unwrap(),
            shortname: Shortname::parse(shortname).unwrap(),
            idnumber: IdNumber::parse("").unwrap(),
            summary: "<p>About forces</p>".into(),
            format: "topics".into(),
            start_date: 1_700_000_000,
            end_date: 0,
            lang: String::new(),
            visible: false,
            guest_access: false,
            archive_payload: None,
        })
        .await
        .unwrap();
    let section = store.add_section(id, "", true).await.unwrap().id;
    store
        .add_activity(NewActivity {
            course: id,
            section,
            module: "page".into(),
            name: "Newton".into(),
            intro: String::new(),
            visible: true,
            payload: serde_json::json!({ "content": "<p>Three laws</p>", "timeopen": 1_700_086_400 }),
        })
        .await
        .unwrap();
    id
}

async fn setting_category(t: &TestPlatform, key: &str) -> CategoryId {
    CategoryId(
        t.platform
            .store
            .setting(key)
            .await
            .unwrap()
            .unwrap()
            .parse()
            .unwrap(),
    )
}

/// Adds a local user with a role in the course, through the CLI.
fn add_user(
    t: &TestPlatform,
    name: &str,
    fullname: &str,
    lang: &str,
    email: &str,
    role: &str,
    course: CourseId,
) {
    let pw = t.dir.path().join("pw");
    std::fs::write(&pw, PASSWORD).unwrap();
    let role = format!("{role}@course:{course}");
    let run = t.cli(
        bin(),
        &[
            "user",
            "add",
            name,
            "--password-file",
            pw.to_str().unwrap(),
            "--email",
            email,
            "--fullname",
            fullname,
            "--lang",
            lang,
            "--role",
            &role,
            "--json",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
}

async fn actor(t: &TestPlatform, name: &str) -> Actor {
    let user = t
        .platform
        .store
        .local_user(&Username::parse(name).unwrap())
        .await
        .unwrap();
    Actor::user(user, Via::Web)
}

async fn can_participate(t: &TestPlatform, name: &str, course: CourseId) -> bool {
    t.platform
        .can(
            &actor(t, name).await,
            Capability::CourseParticipate,
            Context::Course(course),
        )
        .await
        .unwrap()
}

async fn course_roles(t: &TestPlatform, name: &str, course: CourseId) -> Vec<String> {
    let user = actor(t, name).await.user.unwrap();
    t.platform
        .store
        .assignments(user.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.context == Context::Course(course))
        .map(|a| a.role.as_str().to_string())
        .collect()
}

fn session(t: &TestPlatform, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["session"];
    all.extend_from_slice(args);
    all.push("--json");
    let run = t.cli(bin(), &all);
    assert_eq!(run.code, 0, "{run:?}");
    run.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_and_reopening_a_session_changes_what_students_and_guests_may_do() {
    let t = TestPlatform::start(PlatformRole::Training, "training").await;
    let incoming = setting_category(&t, settings::LANDING_CATEGORY).await;
    let running = setting_category(&t, settings::RUNNING_CATEGORY).await;
    let closed = setting_category(&t, settings::CLOSED_CATEGORY).await;
    let c = arrived_course(&t, incoming, "PHY1", "Physics").await;
    add_user(
        &t,
        "tina",
        "Tina Teacher",
        "fr",
        "tina@example.org",
        "editingteacher",
        c,
    );
    add_user(
        &t,
        "ann",
        "Ann Student",
        "en",
        "ann@example.org",
        "student",
        c,
    );
    add_user(
        &t,
        "dan",
        "Dan Disabled",
        "en",
        "dan@example.org",
        "disabledstudent",
        c,
    );
    let id = c.0.to_string();
    let course_path = format!("/course/{id}");
    let activity = t.platform.store.activities(c).await.unwrap()[0].id.0;
    let activity_path = format!("{course_path}/activity/{activity}");

    // Open: Incoming → Running, visible.
    let doc = session(&t, &["open", &id]);
    assert_eq!(doc["course_id"], c.0);
    assert_eq!(doc["category"], running.0);
    assert_eq!(doc["visible"], true);
    assert!(can_participate(&t, "ann", c).await);

    // A bad mode exits 2 and changes nothing.
    let run = t.cli(
        bin(),
        &["session", "close", &id, "--mode", "secret", "--json"],
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.starts_with("error:") && run.stderr.contains("protected"),
        "{run:?}"
    );
    let record = t.platform.store.course(c).await.unwrap();
    assert_eq!((record.category, record.visible), (running, true));
    assert_eq!(course_roles(&t, "ann", c).await, ["student"]);

    // The teacher closes it in protected mode from the course page's panel.
    let mut tina = t.login("tina", PASSWORD).await;
    let page = tina.get(&course_path).await;
    assert!(
        page.body.contains("/session/close") && page.body.contains("name=\"notify\""),
        "the panel has the session forms"
    );
    let page = tina
        .post(
            &format!("{course_path}/session/close"),
            &[("mode", "protected")],
        )
        .await;
    assert_eq!(page.status, 303, "{page:?}");
    let record = t.platform.store.course(c).await.unwrap();
    assert_eq!(
        (record.category, record.visible, record.guest_access),
        (closed, true, false)
    );

    // A student still reads the course and its content, but no longer participates.
    let mut ann = t.login("ann", PASSWORD).await;
    assert_eq!(ann.get(&course_path).await.status, 200);
    let page = ann.get(&activity_path).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Three laws"));
    assert!(!can_participate(&t, "ann", c).await);
    assert_eq!(course_roles(&t, "ann", c).await, ["disabledstudent"]);
    // A guest cannot open it.
    let mut guest = t.browser();
    let page = guest.get(&course_path).await;
    assert_ne!(page.status, 200, "{page:?}");
    assert!(
        page.location().unwrap_or_default().starts_with("/login"),
        "{page:?}"
    );

    // Public: guests read the course and its content, never the participants.
    let doc = session(&t, &["close", &id, "--mode", "public"]);
    assert_eq!(
        (doc["category"].as_i64(), doc["visible"].as_bool()),
        (Some(closed.0), Some(true))
    );
    let page = guest.get(&course_path).await;
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.body.contains("Newton"));
    for who in [
        "Ann Student",
        "Tina Teacher",
        "Dan Disabled",
        "ann@example.org",
    ] {
        assert!(
            !page.body.contains(who),
            "a guest sees no participants: {who}"
        );
    }
    assert_eq!(guest.get(&activity_path).await.status, 200);
    assert!(!t
        .platform
        .can(
            &Actor::guest(Via::Web),
            Capability::CourseParticipate,
            Context::Course(c)
        )
        .await
        .unwrap());

    // Reopen: exactly the switched assignments come back; the student disabled on purpose stays.
    // (through the panel's open form; a form without its CSRF token changes nothing)
    let open_path = format!("{course_path}/session/open");
    let page = tina.post_raw(&open_path, &[("notify", "")]).await;
    assert_eq!(page.status, 403, "{page:?}");
    assert_eq!(t.platform.store.course(c).await.unwrap().category, closed);
    let page = tina.post(&open_path, &[]).await;
    assert_eq!(page.status, 303, "{page:?}");
    assert_eq!(t.platform.store.course(c).await.unwrap().category, running);
    assert_eq!(course_roles(&t, "ann", c).await, ["student"]);
    assert_eq!(course_roles(&t, "dan", c).await, ["disabledstudent"]);
    assert!(can_participate(&t, "ann", c).await);
    assert!(!can_participate(&t, "dan", c).await);
    assert_eq!(course_roles(&t, "tina", c).await, ["editingteacher"]);
    let page = guest.get(&course_path).await;
    assert_ne!(
        page.status, 200,
        "the guest access the public close granted is withdrawn"
    );

    // Private: hidden from students; teachers still see it; roles untouched.
    let doc = session(&t, &["close", &id, "--mode", "private"]);
    assert_eq!(doc["visible"], false);
    assert_eq!(ann.get(&course_path).await.status, 404);
    assert_eq!(ann.get(&activity_path).await.status, 404);
    assert_eq!(tina.get(&course_path).await.status, 200);
    assert_eq!(course_roles(&t, "ann", c).await, ["student"]);

    // A student may not run sessions; every change was audited.
    let run = t.cli(bin(), &["session", "open", &id, "--as", "ann", "--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let audit = t.platform.store.audit(0, 100).await.unwrap();
    let count = |a: &str| audit.iter().filter(|e| e.action == a).count();
    assert_eq!((count("session.open"), count("session.close")), (2, 3));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assigned_categories_are_kept_dates_shift_and_only_training_platforms_run_sessions() {
    let t = TestPlatform::start(PlatformRole::FactoryTraining, "establishment").await;
    let run = t.cli(bin(), &["category", "add", "Physics 2026", "--json"]);
    let assigned = CategoryId(run.json()["id"].as_i64().unwrap());
    let c = arrived_course(&t, assigned, "PHY2", "Physics 2").await;
    let id = c.0.to_string();
    let doc = session(&t, &["open", "shortname:PHY2", "--reset-start-date"]);
    assert_eq!(doc["category"], assigned.0);
    let record = t.platform.store.course(c).await.unwrap();
    let today = pf_domain::sessions::today(pf_server::services::now());
    assert_eq!(record.start_date, today);
    let a = &t.platform.store.activities(c).await.unwrap()[0];
    assert_eq!(
        a.payload["timeopen"],
        86_400 + today,
        "activity dates shift with the start date"
    );
    for mode in ["private", "protected", "public"] {
        let doc = session(&t, &["close", &id, "--mode", mode]);
        assert_eq!(doc["category"], assigned.0, "{mode}");
    }
    // The API does the same, with the error envelope for bad modes.
    let run = t.cli(bin(), &["token", "create", "--name", "s", "--json"]);
    let token = run.json()["token"].as_str().unwrap().to_string();
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/api/v1/courses/{id}/session/close", t.url))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "mode": "nope" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http
        .post(format!("{}/api/v1/courses/{id}/session/open", t.url))
        .bearer_auth(&token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        (doc["category"].as_i64(), doc["visible"].as_bool()),
        (Some(assigned.0), Some(true))
    );
    t.stop().await;

    // A catalog has no sessions: refused (exit 1), nothing changed.
    let cat = TestPlatform::start(PlatformRole::Catalog, "catalog").await;
    let landing = setting_category(&cat, settings::LANDING_CATEGORY).await;
    let c = arrived_course(&cat, landing, "PHY3", "Physics 3").await;
    let run = cat.cli(bin(), &["session", "open", &c.0.to_string(), "--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(!cat.platform.store.course(c).await.unwrap().visible);
    cat.stop().await;
}

/// A real SMTP server on loopback that saves what it receives.
struct SmtpSink {
    child: Child,
    dir: PathBuf,
}

impl SmtpSink {
    fn start(port: u16, dir: &Path) -> Option<SmtpSink> {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/platform/smtp_sink.py");
        let available = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .status()
            .is_ok_and(|s| s.success());
        if !available {
            assert!(
                std::env::var("CI").is_err(),
                "CI must have aiosmtpd (scripts/test installs it)"
            );
            eprintln!(
                "note: aiosmtpd is not installed; skipping the SMTP test (pip install aiosmtpd)"
            );
            return None;
        }
        std::fs::create_dir_all(dir).unwrap();
        let mut child = Command::new("python3")
            .args([
                script,
                "127.0.0.1",
                &port.to_string(),
                dir.to_str().unwrap(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the SMTP sink");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP sink started");
        Some(SmtpSink {
            child,
            dir: dir.to_path_buf(),
        })
    }

    fn messages(&self) -> Vec<serde_json::Value> {
        let mut names: Vec<_> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(stdin) = self.child.stdin.as_mut() {
            let _ = stdin.flush();
        }
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_with_notification_mails_every_participant_in_their_language() {
    let t = TestPlatform::start(PlatformRole::Training, "Lycée Nord-Est").await;
    let incoming = setting_category(&t, settings::LANDING_CATEGORY).await;
    let c = arrived_course(&t, incoming, "CHEM", "Physique & \"chimie\" <avancée>").await;
    add_user(
        &t,
        "tina",
        "Tina <Teacher>",
        "fr",
        "tina@example.org",
        "editingteacher",
        c,
    );
    add_user(
        &t,
        "ann",
        "Ann Student",
        "en",
        "ann@example.org",
        "student",
        c,
    );
    add_user(
        &t,
        "bob",
        "Bob Étudiant",
        "fr",
        "bob@example.org",
        "student",
        c,
    );
    add_user(&t, "nomail", "No Mail", "en", "", "student", c);
    let id = c.0.to_string();

    // No SMTP server configured: the messages wait in the outbox.
    let run = t.cli(
        bin(),
        &["session", "open", &id, "--notify", "--as", "tina", "--json"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.json()["notified"],
        3,
        "everyone with a role and an address"
    );
    let outbox = t.cli(bin(), &["outbox", "list", "--json"]).json();
    let outbox = outbox.as_array().unwrap();
    assert_eq!(outbox.len(), 3);
    assert!(outbox.iter().all(|m| m["status"] == "queued"));
    let lang_of = |to: &str| outbox.iter().find(|m| m["to"] == to).unwrap()["lang"].clone();
    assert_eq!(
        (lang_of("ann@example.org"), lang_of("bob@example.org")),
        ("en".into(), "fr".into())
    );
    let run = t.cli(bin(), &["outbox", "deliver", "--json"]);
    assert_eq!(
        (run.code, run.json()["configured"].as_bool()),
        (0, Some(false))
    );
    let mut admin = t.login("admin", ADMIN_PASSWORD).await;
    let page = admin.get("/admin/outbox").await;
    assert!(
        page.status == 200 && page.body.contains("bob@example.org"),
        "{page:?}"
    );

    // An SMTP server is configured but unreachable: nothing is lost, the error is kept.
    let port = free_port();
    let config = t.data_dir().join("publishflow.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    let start = text.find("[mail]").expect("init writes a [mail] section");
    text.truncate(start);
    text.push_str(&format!(
        "[mail]\nsmtp_url = \"smtp://127.0.0.1:{port}\"\nstarttls = false\nfrom = \"Training <noreply@training.example>\"\ntimeout_seconds = 5\n"
    ));
    std::fs::write(&config, text).unwrap();
    let run = t.cli(bin(), &["outbox", "deliver", "--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.json()["failed"], 3);
    let outbox = t.cli(bin(), &["outbox", "list", "--json"]).json();
    for m in outbox.as_array().unwrap() {
        assert_eq!(
            (m["status"].as_str(), m["attempts"].as_i64()),
            (Some("queued"), Some(1)),
            "{m}"
        );
        assert!(m["error"].is_string());
    }

    // The server comes up: the kept messages are delivered.
    let sink_dir = t.dir.path().join("smtp");
    let Some(sink) = SmtpSink::start(port, &sink_dir) else {
        return;
    };
    let run = t.cli(bin(), &["outbox", "deliver", "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["sent"], 3);
    let received = sink.messages();
    assert_eq!(received.len(), 3);
    let to = |addr: &str| {
        received
            .iter()
            .find(|m| m["rcpt"][0] == addr)
            .unwrap()
            .clone()
    };
    let url = format!("{}/course/{id}", t.url);
    let date = &pf_server::services::rfc3339(pf_server::services::now())[..10];

    let ann = to("ann@example.org");
    assert_eq!(ann["content_language"], "en");
    assert_eq!(
        ann["subject"],
        "[Lycée Nord-Est] Physique & \"chimie\" <avancée> is open"
    );
    let text = ann["text"].as_str().unwrap();
    assert!(
        text.contains("Tina <Teacher> has opened the course \"Physique & \"chimie\" <avancée>\""),
        "{text}"
    );
    assert!(text.contains(&url) && text.contains(date), "{text}");
    let html = ann["html"].as_str().unwrap();
    assert!(html.contains("Tina &lt;Teacher&gt;"), "{html}");
    assert!(
        html.contains("Physique &amp; &quot;chimie&quot; &lt;avancée&gt;"),
        "{html}"
    );
    assert!(
        html.contains("on Lycée Nord-Est on") && !html.contains("<avancée>"),
        "{html}"
    );
    assert!(html.contains(&format!("href=\"{url}\"")), "{html}");

    let bob = to("bob@example.org");
    assert_eq!(bob["content_language"], "fr");
    assert!(
        bob["subject"]
            .as_str()
            .unwrap()
            .contains("Ouverture de Physique"),
        "{bob}"
    );
    assert!(
        bob["text"].as_str().unwrap().contains("a ouvert le cours"),
        "{bob}"
    );
    assert!(bob["from"]
        .as_str()
        .unwrap()
        .contains("noreply@training.example"));
    assert!(to("tina@example.org")["text"]
        .as_str()
        .unwrap()
        .starts_with("Bonjour"));

    // Nothing was lost or sent twice; the outbox says so.
    let outbox = t.cli(bin(), &["outbox", "list", "--json"]).json();
    assert!(outbox
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["status"] == "sent"));
    let run = t.cli(bin(), &["outbox", "deliver", "--json"]);
    assert_eq!(run.json()["sent"], 0);
    assert_eq!(sink.messages().len(), 3);

    // An admin edits the French template; the next notification uses it, CR/LF stripped.
    let page = admin
        .post(
            "/admin/mail",
            &[
                ("kind", "session_open"),
                ("lang", "fr"),
                ("subject", "Séance {COURSE}\r\nBcc: evil@example.org"),
                ("text_body", "Salut {MENTOR} : {URL}"),
                ("html_body", "<p>Salut {MENTOR}</p>"),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{page:?}");
    assert_eq!(admin.get("/admin/mail").await.status, 200);
    session(&t, &["open", &id, "--notify"]);
    // `serve` delivers in the background once an SMTP server is configured.
    let platform = pf_server::platform::Platform::open(&t.data_dir())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(pf_server::serve(platform, listener, async {
        let _ = stopped.await;
    }));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while sink.messages().len() < 6 {
        assert!(
            std::time::Instant::now() < deadline,
            "the server's delivery loop sent nothing"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    let received = sink.messages();
    assert_eq!(received.len(), 6);
    let bob = received
        .iter()
        .rev()
        .find(|m| m["rcpt"][0] == "bob@example.org")
        .unwrap();
    let subject = bob["subject"].as_str().unwrap();
    assert!(
        subject.starts_with("Séance Physique") && subject.contains("Bcc: evil@example.org"),
        "{subject}"
    );
    assert!(!subject.contains('\n') && !subject.contains('\r'));
    assert!(
        bob["rcpt"].as_array().unwrap().len() == 1,
        "no injected recipient"
    );
    assert!(
        bob["html"]
            .as_str()
            .unwrap()
            .contains("Salut Administrator"),
        "{bob}"
    );
    drop(sink);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_server_refuses_is_held_not_retried_forever() {
    let t = TestPlatform::start(PlatformRole::Training, "Lycée Sud").await;
    let incoming = setting_category(&t, settings::LANDING_CATEGORY).await;
    let c = arrived_course(&t, incoming, "BIO", "Biologie").await;
    add_user(&t, "ann", "Ann", "en", "ann@example.org", "student", c);
    add_user(
        &t,
        "gone",
        "Gone",
        "fr",
        "refused@example.org",
        "student",
        c,
    );
    let port = free_port();
    let Some(sink) = SmtpSink::start(port, &t.dir.path().join("smtp")) else {
        return;
    };
    let config = t.data_dir().join("publishflow.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.truncate(text.find("[mail]").expect("init writes a [mail] section"));
    text.push_str(&format!(
        "[mail]\nsmtp_url = \"smtp://127.0.0.1:{port}\"\nstarttls = false\nfrom = \"noreply@training.example\"\n"
    ));
    std::fs::write(&config, text).unwrap();
    session(&t, &["open", &c.0.to_string(), "--notify"]);

    let run = t.cli(bin(), &["outbox", "deliver", "--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        (run.json()["sent"].as_i64(), run.json()["refused"].as_i64()),
        (Some(1), Some(1))
    );
    let outbox = t.cli(bin(), &["outbox", "list", "--json"]).json();
    let refused = outbox
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["to"] == "refused@example.org")
        .unwrap()
        .clone();
    assert_eq!(refused["status"], "refused", "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains("550"),
        "{refused}"
    );

    // The background delivery does not try it again, however late it runs.
    let platform = pf_server::platform::Platform::open(&t.data_dir())
        .await
        .unwrap();
    let far = pf_server::services::now() + 365 * 24 * 3600;
    let report = pf_server::mail::deliver_due(&platform, far).await.unwrap();
    assert_eq!((report.sent, report.failed, report.refused), (0, 0, 0));
    assert_eq!(sink.messages().len(), 1);

    // An admin's "deliver now" tries it once more (e.g. after the address was fixed), here on a
    // server started with the SMTP configuration.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(pf_server::serve(platform, listener, async {
        let _ = stopped.await;
    }));
    let mut admin = pf_testkit::Browser::new(&url);
    assert_eq!(admin.login("admin", ADMIN_PASSWORD).await, 303);
    let page = admin.get("/admin/outbox").await;
    assert!(page.body.contains("refused@example.org"), "{page:?}");
    let page = admin.post("/admin/outbox/deliver", &[]).await;
    assert_eq!(page.status, 303, "{page:?}");
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    let outbox = t.cli(bin(), &["outbox", "list", "--json"]).json();
    let refused = outbox
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["to"] == "refused@example.org")
        .unwrap()
        .clone();
    assert_eq!(
        (refused["status"].as_str(), refused["attempts"].as_i64()),
        (Some("refused"), Some(2))
    );
    assert_eq!(sink.messages().len(), 1, "nothing sent twice");
    drop(sink);
    t.stop().await;
}
