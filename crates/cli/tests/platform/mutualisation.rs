//! Mutualisation between real platforms on port 0 (SPEC §8): two establishments and a training
//! platform paired with one common catalog; signed jumps in and back (POST only), delegations,
//! profile rules on consult and deploy, "deploy to my platform" landing in the assigned category
//! (or incoming), the refusals, and the purge of roaming accounts.

use super::publishing::{cli, course_from, ok, pair};
use pf_domain::ids::{CategoryId, CourseId, UserId};
use pf_domain::platform::PlatformRole;
use pf_domain::user::{FieldEditor, Username};
use pf_net::{issue_jump, Clock, Identity, JumpUser, ManualClock};
use pf_server::rpc::PeerCaller;
use pf_testkit::{Browser, TestPlatform};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// An attribute value as a browser reads it.
fn unescape(v: &str) -> String {
    v.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// The value of `name="NAME" value="…"` in a page.
fn field(html: &str, name: &str) -> Option<String> {
    let pat = format!("name=\"{name}\" value=\"");
    let at = html.find(&pat)? + pat.len();
    Some(unescape(&html[at..at + html[at..].find('"')?]))
}

fn form_action(html: &str, starts: &str) -> Option<String> {
    let html = unescape(html);
    let pat = format!("action=\"{starts}");
    let at = html.find(&pat)? + "action=\"".len();
    Some(html[at..at + html[at..].find('"')?].to_string())
}

/// A jump as the home renders it: (action, token, delegation).
async fn jump_from_home(home: &mut Browser) -> (String, String, String) {
    let front = home.get("/").await;
    let go = form_action(&front.body, "/jump/to/").expect("a Go to control on the home");
    let page = home.post(&go, &[("next", "/")]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let action = form_action(&page.body, "http").expect("a form to the peer");
    assert!(
        action.ends_with("/jump") && !action.contains('?'),
        "{action}"
    );
    let csp = page.header("content-security-policy").unwrap().to_string();
    let origin = action.trim_end_matches("/jump");
    assert!(
        csp.contains(&format!("form-action 'self' {origin}")),
        "{csp}"
    );
    assert!(page.body.contains("/static/jump.js") && page.body.contains("<button"));
    let token = field(&page.body, "token").expect("token");
    let delegation = field(&page.body, "delegation").expect("delegation");
    (action, token, delegation)
}

async fn arrive(
    target: &TestPlatform,
    token: &str,
    delegation: &str,
    next: &str,
) -> (Browser, u16, String) {
    let mut b = Browser::new(&target.url);
    let page = b
        .post_raw(
            "/jump",
            &[("token", token), ("delegation", delegation), ("next", next)],
        )
        .await;
    let location = page.location().unwrap_or("").to_string();
    (b, page.status, location)
}

/// Follows a job to its end (the publishing module's helper, by numeric id).
async fn wait_job(tp: &TestPlatform, id: i64) -> Value {
    super::publishing::wait_job(tp, &id.to_string()).await
}

fn job_from(location: &str) -> i64 {
    location
        .strip_prefix("/jobs/")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a job page: {location}"))
}

/// The peer record `tp` keeps for the platform `of` (found by its key, whatever its name).
async fn peer_of(tp: &TestPlatform, of: &TestPlatform) -> pf_store::PeerRecord {
    let key = of.platform.identity.key_id();
    let peers = tp.platform.store.peers().await.unwrap();
    peers
        .iter()
        .find(|p| p.key_id == key.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("{} does not know {}: {peers:?}", tp.url, of.url))
}

fn jumper(name: &str) -> JumpUser {
    JumpUser {
        username: Username::parse(name).unwrap(),
        fullname: "X".into(),
        email: String::new(),
        lang: "fr".into(),
        profile: BTreeMap::from([("establishment_type".to_string(), "lycee".to_string())]),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colleagues_jump_to_the_common_catalog_and_deploy_home_in_one_click() {
    let cat = TestPlatform::start(PlatformRole::Catalog, "common").await;
    let a = TestPlatform::start(PlatformRole::FactoryTraining, "esta").await;
    let b = TestPlatform::start(PlatformRole::FactoryTraining, "estb").await;
    let t = TestPlatform::start(PlatformRole::Training, "train").await;
    pair(&cat, &a).await;
    pair(&cat, &b).await;
    pair(&cat, &t).await;
    pair(&a, &t).await; // t knows a: used to present another platform's delegation

    // One course published from each establishment.
    let ga = course_from(&a, "gapfill_example_course").await;
    let on_cat_a = ok(&a, &["publish", &ga, "--wait", "--json"]).await["result"]["course_id"]
        .as_i64()
        .unwrap();
    let gb = course_from(&b, "sandbox-test").await;
    let on_cat_b = ok(&b, &["publish", &gb, "--wait", "--json"]).await["result"]["course_id"]
        .as_i64()
        .unwrap();

    // The catalog's rules and the fields it trusts from esta.
    let ca = format!("course:{on_cat_a}");
    let cb = format!("course:{on_cat_b}");
    ok(
        &cat,
        &[
            "rules",
            "add",
            "--context",
            &ca,
            "--grant",
            "consult",
            "establishment_type = lycee",
            "--json",
        ],
    )
    .await;
    ok(
        &cat,
        &[
            "rules",
            "add",
            "--context",
            &ca,
            "--grant",
            "deploy",
            "establishment_type = lycee and discipline in [maths, physics]",
            "--json",
        ],
    )
    .await;
    ok(
        &cat,
        &[
            "rules",
            "add",
            "--context",
            &cb,
            "--grant",
            "consult",
            "level = lycee",
            "--json",
        ],
    )
    .await;
    let trust = ok(
        &cat,
        &[
            "rules",
            "trust",
            "esta",
            "establishment_type,discipline,level",
            "--json",
        ],
    )
    .await;
    assert_eq!(
        trust["trusted"],
        json!(["discipline", "establishment_type", "level"])
    );
    assert_eq!(
        ok(&cat, &["rules", "list", "--json"])
            .await
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // On esta: alice (assigned category MATHS, where she may create courses), bob (none).
    let maths = ok(
        &a,
        &["category", "add", "Maths", "--idnumber", "MATHS", "--json"],
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let pw = a.dir.path().join("pw");
    std::fs::write(&pw, "alice and bob pw 1").unwrap();
    let pw = pw.to_str().unwrap();
    let role = format!("coursecreator@category:{maths}");
    ok(
        &a,
        &[
            "user",
            "add",
            "alice",
            "--password-file",
            pw,
            "--role",
            &role,
            "--profile",
            "establishment_type=lycee",
            "--profile",
            "discipline=maths",
            "--profile",
            "assigned_category=MATHS",
            "--json",
        ],
    )
    .await;
    ok(
        &a,
        &[
            "user",
            "add",
            "bob",
            "--password-file",
            pw,
            "--role",
            "coursecreator",
            "--profile",
            "establishment_type=lycee",
            "--profile",
            "discipline=physics",
            "--json",
        ],
    )
    .await;
    // `level` is user-editable on esta: bob sets it himself; it never counts.
    a.platform
        .store
        .define_profile_field("level", FieldEditor::User)
        .await
        .unwrap();
    ok(
        &a,
        &[
            "profile",
            "set",
            "bob",
            "level=lycee",
            "--as",
            "bob",
            "--json",
        ],
    )
    .await;
    let refused = cli(
        &a,
        &[
            "profile",
            "set",
            "bob",
            "discipline=maths",
            "--as",
            "bob",
            "--json",
        ],
    )
    .await;
    assert_eq!(refused.code, 1, "{refused:?}");

    // Alice jumps; the token travels in a POST body only.
    let mut home = a.login("alice", "alice and bob pw 1").await;
    let (action, token, delegation) = jump_from_home(&mut home).await;
    assert_eq!(action, format!("{}/jump", cat.url));
    let next = format!("/course/{on_cat_a}");
    let (mut alice, status, location) = arrive(&cat, &token, &delegation, &next).await;
    assert_eq!((status, location.as_str()), (303, next.as_str()));
    // Replayed: refused, and no session.
    let (_, status, _) = arrive(&cat, &token, &delegation, &next).await;
    assert_eq!(status, 401);

    // The roaming account keeps only the fields the rules read and the admin trusts.
    let roaming = cat
        .platform
        .store
        .roaming_user(
            &Username::parse("alice").unwrap(),
            peer_of(&cat, &a).await.id,
        )
        .await
        .unwrap();
    let kept: Vec<String> = cat
        .platform
        .store
        .profile_values(roaming.id)
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(kept, ["discipline", "establishment_type"]);

    // Alice sees what the rules allow, and only that.
    let page = alice.get(&next).await;
    assert_eq!(page.status, 200);
    assert!(page
        .body
        .contains(&format!("/course/{on_cat_a}/deploy-home")));
    assert_eq!(alice.get(&format!("/course/{on_cat_b}")).await.status, 404);

    // One click: deployed home, hidden, in her assigned category.
    let go = alice
        .post(&format!("/course/{on_cat_a}/deploy-home"), &[])
        .await;
    assert_eq!(go.status, 303, "{}", go.body);
    let job = wait_job(&cat, job_from(go.location().unwrap())).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["kind"], "deploy-home");
    let copy = job["result"]["course_id"].as_i64().unwrap();
    let landed = a.platform.store.course(CourseId(copy)).await.unwrap();
    assert_eq!(landed.category, CategoryId(maths));
    assert!(!landed.visible);

    // The job page offers the jump back to the copy; the home accepts it for alice only.
    let job_page = alice.get(&format!("/jobs/{}", job["id"])).await;
    assert!(job_page.body.contains("open-copy"));
    let back = alice
        .post(&format!("/jobs/{}/open-copy", job["id"]), &[])
        .await;
    assert_eq!(back.status, 200, "{}", back.body);
    let action = form_action(&back.body, "http").unwrap();
    assert_eq!(action, format!("{}/jump", a.url));
    let (token, deleg) = (
        field(&back.body, "token").unwrap(),
        field(&back.body, "delegation").unwrap(),
    );
    let back_next = field(&back.body, "next").unwrap();
    let (mut mine, status, location) = arrive(&a, &token, &deleg, &back_next).await;
    assert_eq!((status, location.clone()), (303, format!("/course/{copy}")));
    assert_eq!(
        mine.get(&location).await.status,
        200,
        "alice sees her hidden copy"
    );
    // A jump back without the home's own delegation never logs in a local user of the home: the
    // catalog's "admin" becomes the roaming admin@common there, who may administer nothing.
    let (forged, _) = issue_jump(
        &cat.platform.identity,
        &a.platform.identity.key_id(),
        &jumper("admin"),
        &*cat.platform.clock,
    );
    let (mut roamer, status, _) = arrive(&a, &forged, "", "/").await;
    assert_eq!(status, 303);
    assert_eq!(roamer.get("/admin/rules").await.status, 403);
    assert!(a
        .platform
        .store
        .roaming_user(
            &Username::parse("admin").unwrap(),
            peer_of(&a, &cat).await.id
        )
        .await
        .is_ok());
    let (forged, _) = issue_jump(
        &cat.platform.identity,
        &a.platform.identity.key_id(),
        &jumper("admin"),
        &*cat.platform.clock,
    );
    assert_eq!(
        arrive(&a, &forged, &deleg, "/").await.1,
        401,
        "alice's delegation is not admin's"
    );

    // Bob: no assigned category → incoming; his user-editable `level` opens nothing.
    let mut home = a.login("bob", "alice and bob pw 1").await;
    let (_, token, delegation) = jump_from_home(&mut home).await;
    let (mut bob, status, _) = arrive(&cat, &token, &delegation, "/").await;
    assert_eq!(status, 303);
    assert_eq!(bob.get(&format!("/course/{on_cat_b}")).await.status, 404);
    let go = bob
        .post(&format!("/course/{on_cat_a}/deploy-home"), &[])
        .await;
    let job = wait_job(&cat, job_from(go.location().unwrap())).await;
    assert_eq!(job["state"], "done", "{job}");
    let landed = a
        .platform
        .store
        .course(CourseId(job["result"]["course_id"].as_i64().unwrap()))
        .await
        .unwrap();
    let incoming = pf_server::services::archives::import::landing_category(&a.platform)
        .await
        .unwrap();
    assert_eq!(landed.category, incoming);
    assert!(!landed.visible);

    // Forged, wrong-audience and unpaired-platform jumps are refused, saying why.
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    // (Expiry is tested on the platforms' own clock: `expired_jumps_and_delegations_…`.)
    let stranger = Identity::generate();
    let cases = [
        (tampered, "jump refused: "),
        (
            issue_jump(
                &a.platform.identity,
                &t.platform.identity.key_id(),
                &jumper("bob"),
                &*a.platform.clock,
            )
            .0,
            "not for this platform",
        ),
        (
            issue_jump(
                &stranger,
                &cat.platform.identity.key_id(),
                &jumper("bob"),
                &*a.platform.clock,
            )
            .0,
            "does not come from an active paired platform",
        ),
    ];
    for (forged, why) in &cases {
        assert_eq!(arrive(&cat, forged, "", "/").await.1, 401, "{why}");
        assert_refused_jump(&cat, why).await;
    }

    // Delegations: another purpose, or presented by another platform, are refused.
    let esta_on_cat = peer_of(&cat, &a).await;
    let stored = cat
        .platform
        .store
        .roaming_delegation(roaming.id)
        .await
        .unwrap()
        .unwrap();
    let alice_name = Username::parse("alice").unwrap();
    let caller = PeerCaller::new(&cat.platform).unwrap();
    let other_purpose: Result<Value, _> = caller
        .post_json_delegated(
            &esta_on_cat,
            "/rpc/check-user",
            &json!({"capability": "course:create"}),
            &alice_name,
            &stored.token,
        )
        .await;
    let e = other_purpose.unwrap_err();
    // The home's signed refusal keeps its code and reason.
    assert_eq!(e.code.as_str(), "bad_user", "{}", e.message);
    assert!(e.message.contains("deploy-home only"), "{}", e.message);
    let offer = json!({"operation": "deploy", "manifest": "{}", "signature": "x", "idempotency_key": "k",
                       "archive": 1, "source_course": 1, "ticket": "x"});
    let esta_on_t = peer_of(&t, &a).await;
    let r: Result<Value, _> = PeerCaller::new(&t.platform)
        .unwrap()
        .post_json_delegated(
            &esta_on_t,
            "/rpc/deploy-home",
            &offer,
            &alice_name,
            &stored.token,
        )
        .await;
    let e = r.unwrap_err();
    assert_eq!(e.code.as_str(), "bad_user", "{}", e.message);
    assert!(
        e.message.contains("not to the peer presenting it"),
        "{}",
        e.message
    );

    // A user outside the rules sees and deploys nothing, through the API either.
    let cpw = cat.dir.path().join("cpw");
    std::fs::write(&cpw, "carol pw 12345").unwrap();
    ok(
        &cat,
        &[
            "user",
            "add",
            "carol",
            "--password-file",
            cpw.to_str().unwrap(),
            "--profile",
            "establishment_type=college",
            "--json",
        ],
    )
    .await;
    let token = ok(
        &cat,
        &["token", "create", "--name", "c", "--as", "carol", "--json"],
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let api = reqwest::Client::new();
    let get = api
        .get(format!("{}/api/v1/courses/{on_cat_a}", cat.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status().as_u16(), 404);
    let list: Value = api
        .get(format!("{}/api/v1/courses", cat.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        !list.to_string().contains(&format!("\"id\":{on_cat_a},")),
        "{list}"
    );
    let deploy = api
        .post(format!("{}/api/v1/courses/{on_cat_a}/deploy", cat.url))
        .bearer_auth(&token)
        .json(&json!({"to": "train"}))
        .send()
        .await
        .unwrap();
    assert!(
        [403, 404].contains(&deploy.status().as_u16()),
        "{}",
        deploy.status()
    );

    // Roaming accounts not seen for `mutual.roaming_days` are purged by housekeeping.
    ok(
        &cat,
        &["mutual", "settings", "--roaming-days", "2", "--json"],
    )
    .await;
    cat.platform
        .store
        .roaming_seen(roaming.id, pf_server::services::now() - 3 * 86_400)
        .await
        .unwrap();
    let report = pf_server::services::housekeeping::run(&cat.platform)
        .await
        .unwrap();
    assert_eq!(report.roaming_accounts, 1);
    assert!(cat.platform.store.user(roaming.id).await.is_err());
    assert!(cat.platform.store.user(UserId(roaming.id.0)).await.is_err());
}

/// The newest `jump.refused` audit entry of `tp` says `why`.
async fn assert_refused_jump(tp: &TestPlatform, why: &str) {
    let log = tp.platform.store.audit(0, 50).await.unwrap();
    let refused = log
        .iter()
        .find(|e| e.action == "jump.refused")
        .expect("a jump.refused entry");
    let reason = refused.details["reason"].as_str().unwrap_or("");
    assert!(reason.contains(why), "{reason:?} does not say {why:?}");
    assert_eq!(refused.details["code"], "unauthenticated");
}

/// A common catalog and one establishment (`esta`) paired, a course of esta published to the
/// catalog, esta's category MATHS and its user alice (lycee, maths; coursecreator in MATHS).
struct Shared {
    cat: TestPlatform,
    a: TestPlatform,
    /// The published course on the catalog.
    on_cat: i64,
    /// MATHS on esta.
    maths: i64,
}

const PW: &str = "shared users pw 1";

async fn shared(clock: Option<std::sync::Arc<ManualClock>>) -> Shared {
    let start = |role, name| {
        let clock = clock.clone();
        async move {
            match clock {
                Some(c) => TestPlatform::start_with_clock(role, name, c).await,
                None => TestPlatform::start(role, name).await,
            }
        }
    };
    let cat = start(PlatformRole::Catalog, "common").await;
    let a = start(PlatformRole::FactoryTraining, "esta").await;
    pair(&cat, &a).await;
    let course = course_from(&a, "gapfill_example_course").await;
    let on_cat = ok(&a, &["publish", &course, "--wait", "--json"]).await["result"]["course_id"]
        .as_i64()
        .unwrap();
    let maths = ok(
        &a,
        &["category", "add", "Maths", "--idnumber", "MATHS", "--json"],
    )
    .await["id"]
        .as_i64()
        .unwrap();
    a.platform
        .store
        .define_profile_field("assigned_category", FieldEditor::Admin)
        .await
        .unwrap();
    add_user(
        &a,
        "alice",
        Some(&format!("coursecreator@category:{maths}")),
        &["establishment_type=lycee", "discipline=maths"],
    )
    .await;
    Shared {
        cat,
        a,
        on_cat,
        maths,
    }
}

async fn add_user(tp: &TestPlatform, name: &str, role: Option<&str>, profile: &[&str]) -> i64 {
    let pw = tp.dir.path().join("pw");
    std::fs::write(&pw, PW).unwrap();
    let email = format!("{name}@home.example");
    let mut args = vec![
        "user",
        "add",
        name,
        "--password-file",
        pw.to_str().unwrap(),
        "--email",
        &email,
        "--json",
    ];
    if let Some(role) = role {
        args.extend(["--role", role]);
    }
    for kv in profile {
        args.push("--profile");
        args.push(kv);
    }
    ok(tp, &args).await["id"].as_i64().unwrap()
}

/// `user` of esta jumps to the catalog: their browser there.
async fn jump_in(s: &Shared, user: &str) -> Browser {
    let mut home = s.a.login(user, PW).await;
    let (_, token, delegation) = jump_from_home(&mut home).await;
    let (b, status, _) = arrive(&s.cat, &token, &delegation, "/").await;
    assert_eq!(status, 303, "{user} jumps in");
    b
}

/// A personal API token made on the account page (a roaming user's too).
async fn token_of(b: &mut Browser) -> String {
    let page = b.post("/account/tokens", &[("name", "api")]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let at = page.body.find("pft_").expect("the new token shown once");
    page.body[at..at + page.body[at..].find('<').unwrap()].to_string()
}

struct Api {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Api {
    fn new(tp: &TestPlatform, token: &str) -> Api {
        Api {
            base: format!("{}/api/v1", tp.url),
            token: token.to_string(),
            http: reqwest::Client::new(),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }
}

async fn admin_token(tp: &TestPlatform) -> String {
    ok(tp, &["token", "create", "--name", "adm", "--json"]).await["token"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn course_count(tp: &TestPlatform) -> usize {
    super::publishing::courses(tp).await.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_manages_sharing_and_deploys_home_with_the_deploy_key() {
    use reqwest::Method;
    let s = shared(None).await;
    let (cat, a, on_cat) = (&s.cat, &s.a, s.on_cat);
    let admin = Api::new(cat, &admin_token(cat).await);

    // Rules, trusted fields and settings through the API, as the CLI does them.
    let ctx = format!("course:{on_cat}");
    for (grant, rule) in [
        ("consult", "establishment_type = lycee"),
        ("deploy", "discipline in [maths, physics]"),
    ] {
        let (status, doc) = admin
            .call(
                Method::POST,
                "/rules",
                Some(json!({"context": ctx, "grant": grant, "rule": rule})),
            )
            .await;
        assert_eq!(status, 201, "{doc}");
        assert!(doc["id"].as_i64().is_some());
    }
    let (status, doc) = admin
        .call(
            Method::POST,
            "/rules",
            Some(json!({"context": ctx, "grant": "consult", "rule": "establishment_type ="})),
        )
        .await;
    assert_eq!(
        (status, doc["code"].as_str()),
        (400, Some("bad_request")),
        "{doc}"
    );
    let extra = admin
        .call(
            Method::POST,
            "/rules",
            Some(json!({"context": ctx, "grant": "consult", "rule": "x = y"})),
        )
        .await
        .1["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        admin
            .call(Method::DELETE, &format!("/rules/{extra}"), None)
            .await
            .0,
        204
    );
    let (_, rules) = admin.get("/rules").await;
    assert_eq!(rules.as_array().unwrap().len(), 2, "{rules}");
    assert_eq!(rules[0]["grant"], "consult");
    let esta = peer_of(cat, a).await.id.0;
    let (status, doc) = admin
        .call(
            Method::PUT,
            &format!("/peers/{esta}/trusted-fields"),
            Some(json!({"fields": ["establishment_type", "discipline"]})),
        )
        .await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["trusted"], json!(["discipline", "establishment_type"]));
    assert_eq!(
        admin.get(&format!("/peers/{esta}/trusted-fields")).await.1,
        doc
    );
    let (_, settings) = admin.get("/mutual/settings").await;
    assert_eq!(
        settings,
        json!({"assigned_category_field": "assigned_category", "roaming_days": 90})
    );
    let (status, doc) = admin
        .call(
            Method::PATCH,
            "/mutual/settings",
            Some(json!({"roaming_days": 0})),
        )
        .await;
    assert_eq!(status, 400, "{doc}");
    let (status, doc) = admin
        .call(
            Method::PATCH,
            "/mutual/settings",
            Some(json!({"roaming_days": 30})),
        )
        .await;
    assert_eq!(
        (status, doc["roaming_days"].as_i64()),
        (200, Some(30)),
        "{doc}"
    );
    let (status, doc) = admin
        .call(
            Method::PATCH,
            &format!("/courses/{on_cat}/publishing"),
            Some(json!({"deploy_key": "the key 42"})),
        )
        .await;
    assert_eq!(status, 204, "{doc}");
    let (_, openapi) = admin.get("/openapi.json").await;
    for path in [
        "/rules",
        "/rules/{id}",
        "/peers/{id}/trusted-fields",
        "/users/{id}/profile",
        "/mutual/settings",
        "/courses/{id}/deploy-home",
    ] {
        assert!(openapi["paths"][path].is_object(), "{path} is described");
    }

    // The home's admin assigns alice's category through the API; all or nothing.
    let home_admin = Api::new(a, &admin_token(a).await);
    let alice_id = a
        .platform
        .store
        .local_user(&Username::parse("alice").unwrap())
        .await
        .unwrap()
        .id
        .0;
    let profile = format!("/users/{alice_id}/profile");
    let (status, doc) = home_admin
        .call(
            Method::PATCH,
            &profile,
            Some(json!({"assigned_category": "MATHS", "nosuchfield": "x"})),
        )
        .await;
    assert_eq!(
        (status, doc["code"].as_str()),
        (404, Some("unknown_record")),
        "{doc}"
    );
    assert_eq!(home_admin.get(&profile).await.1["assigned_category"], "");
    let (status, doc) = home_admin
        .call(
            Method::PATCH,
            &profile,
            Some(json!({"assigned_category": "MATHS"})),
        )
        .await;
    assert_eq!(
        (status, doc["assigned_category"].as_str()),
        (200, Some("MATHS")),
        "{doc}"
    );
    assert_eq!(home_admin.get(&profile).await.1["discipline"], "maths");
    // Alice cannot set her own admin-managed field, nor read another's values.
    let mut home = a.login("alice", PW).await;
    let own = Api::new(a, &token_of(&mut home).await);
    let (status, doc) = own
        .call(
            Method::PATCH,
            &profile,
            Some(json!({"assigned_category": "OTHER"})),
        )
        .await;
    assert_eq!(
        (status, doc["code"].as_str()),
        (403, Some("missing_capability")),
        "{doc}"
    );
    assert_eq!(own.get(&profile).await.1["assigned_category"], "MATHS");
    assert_eq!(own.get("/users/1/profile").await.0, 404);

    // Alice jumps; as a roaming user of the catalog she holds a token there too.
    let mut alice = jump_in(&s, "alice").await;
    let roaming = Api::new(cat, &token_of(&mut alice).await);
    assert_eq!(roaming.get("/rules").await.1["code"], "missing_capability");
    let before = course_count(a).await;
    let deploy_home = format!("/courses/{on_cat}/deploy-home");
    let (status, doc) = roaming
        .call(Method::POST, &deploy_home, Some(json!({})))
        .await;
    assert_eq!(
        (status, doc["code"].as_str()),
        (403, Some("missing_capability")),
        "{doc}"
    );
    assert!(
        doc["message"].as_str().unwrap().contains("deploy key"),
        "{doc}"
    );
    let (status, doc) = roaming
        .call(
            Method::POST,
            &deploy_home,
            Some(json!({"deploy_key": "wrong"})),
        )
        .await;
    assert_eq!(status, 403, "{doc}");
    // The web form asks for the key, and refuses a wrong one the same way.
    let page = alice.get(&format!("/course/{on_cat}")).await;
    assert!(
        page.body.contains("name=\"deploy_key\""),
        "the form asks for the key"
    );
    let refused = alice
        .post(
            &format!("/course/{on_cat}/deploy-home"),
            &[("deploy_key", "wrong again")],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(course_count(a).await, before, "a wrong key creates nothing");
    let jobs = cat.platform.store.audit(0, 100).await.unwrap();
    assert_eq!(
        jobs.iter()
            .filter(|e| e.action == "deploy.key_refused")
            .count(),
        3,
        "no key, a wrong one by the API, a wrong one by the form"
    );

    // The right key: one click (web) and one API call, each a copy in her assigned category.
    let go = alice
        .post(
            &format!("/course/{on_cat}/deploy-home"),
            &[("deploy_key", "the key 42")],
        )
        .await;
    assert_eq!(go.status, 303, "{}", go.body);
    let job = wait_job(cat, job_from(go.location().unwrap())).await;
    assert_eq!(job["state"], "done", "{job}");
    let (status, doc) = roaming
        .call(
            Method::POST,
            &deploy_home,
            Some(json!({"deploy_key": "the key 42", "idempotency_key": "api-1"})),
        )
        .await;
    assert_eq!(
        (status, doc["kind"].as_str()),
        (202, Some("deploy-home")),
        "{doc}"
    );
    let job = wait_job(cat, doc["id"].as_i64().unwrap()).await;
    assert_eq!(job["state"], "done", "{job}");
    let copy = a
        .platform
        .store
        .course(CourseId(job["result"]["course_id"].as_i64().unwrap()))
        .await
        .unwrap();
    assert_eq!((copy.category, copy.visible), (CategoryId(s.maths), false));
    assert_eq!(course_count(a).await, before + 2);

    // Each job's end is mailed (by the job runner) to the acting roaming user, naming the course.
    let course_name = cat
        .platform
        .store
        .course(CourseId(on_cat))
        .await
        .unwrap()
        .fullname
        .as_str()
        .to_string();
    let mail = cat.platform.store.outbox(0, 50).await.unwrap();
    let done: Vec<_> = mail
        .iter()
        .filter(|m| m.kind == "job_done" && m.recipient.contains("alice@home.example"))
        .collect();
    assert_eq!(done.len(), 2, "{mail:?}");
    // One mail per operation: the home, which ran the receiving side, does not mail her again.
    let home_mail = a.platform.store.outbox(0, 50).await.unwrap();
    assert!(
        !home_mail.iter().any(|m| m.kind == "job_done"),
        "{home_mail:?}"
    );
    assert!(
        done[0].text_body.contains("deploy-home") && done[0].text_body.contains(&course_name),
        "{}",
        done[0].text_body
    );

    // Outside the rules: dave (college) sees nothing; erin (lycee, history) may consult only.
    add_user(
        a,
        "dave",
        None,
        &["establishment_type=college", "discipline=maths"],
    )
    .await;
    add_user(
        a,
        "erin",
        None,
        &["establishment_type=lycee", "discipline=history"],
    )
    .await;
    let mut dave = jump_in(&s, "dave").await;
    let dave = Api::new(cat, &token_of(&mut dave).await);
    assert_eq!(dave.get(&format!("/courses/{on_cat}")).await.0, 404);
    let (status, doc) = dave
        .call(
            Method::POST,
            &deploy_home,
            Some(json!({"deploy_key": "the key 42"})),
        )
        .await;
    assert_eq!(
        (status, doc["code"].as_str()),
        (404, Some("unknown_record")),
        "{doc}"
    );
    let mut erin = jump_in(&s, "erin").await;
    let erin = Api::new(cat, &token_of(&mut erin).await);
    assert_eq!(erin.get(&format!("/courses/{on_cat}")).await.0, 200);
    let (status, doc) = erin
        .call(
            Method::POST,
            &deploy_home,
            Some(json!({"deploy_key": "the key 42"})),
        )
        .await;
    assert_eq!(
        (status, doc["code"].as_str()),
        (403, Some("missing_capability")),
        "{doc}"
    );
    assert!(
        doc["message"]
            .as_str()
            .unwrap()
            .contains("publishflow:deploy"),
        "{doc}"
    );
    assert_eq!(course_count(a).await, before + 2);

    // A job the home refuses fails saying why (the home's signed refusal), and alice hears it.
    let roaming_alice = cat
        .platform
        .store
        .roaming_user(&Username::parse("alice").unwrap(), peer_of(cat, a).await.id)
        .await
        .unwrap();
    let erins = cat
        .platform
        .store
        .roaming_user(&Username::parse("erin").unwrap(), peer_of(cat, a).await.id)
        .await
        .unwrap();
    let not_hers = cat
        .platform
        .store
        .roaming_delegation(erins.id)
        .await
        .unwrap()
        .unwrap();
    cat.platform
        .store
        .roaming_jumped(
            roaming_alice.id,
            pf_server::services::now(),
            Some(&not_hers),
            &[
                ("establishment_type".into(), "lycee".into()),
                ("discipline".into(), "maths".into()),
            ],
        )
        .await
        .unwrap();
    let (status, doc) = roaming
        .call(
            Method::POST,
            &deploy_home,
            Some(json!({"deploy_key": "the key 42"})),
        )
        .await;
    assert_eq!(status, 202, "{doc}");
    let job = wait_job(cat, doc["id"].as_i64().unwrap()).await;
    assert_eq!(job["state"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "bad_user", "{job}");
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not for the asserted user"),
        "{job}"
    );
    assert_eq!(course_count(a).await, before + 2);
    let mail = cat.platform.store.outbox(0, 50).await.unwrap();
    assert!(
        mail.iter().any(|m| m.kind == "job_failed"
            && m.recipient.contains("alice@home.example")
            && m.text_body.contains("not for the asserted user")),
        "{mail:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_jumps_and_delegations_are_refused_with_their_reason() {
    let clock = std::sync::Arc::new(ManualClock::new(pf_server::services::now() as u64));
    let s = shared(Some(clock.clone())).await;
    let (cat, a, on_cat) = (&s.cat, &s.a, s.on_cat);
    let ctx = format!("course:{on_cat}");
    ok(
        cat,
        &[
            "rules",
            "add",
            "--context",
            &ctx,
            "--grant",
            "consult",
            "establishment_type = lycee",
            "--json",
        ],
    )
    .await;
    ok(
        cat,
        &[
            "rules",
            "add",
            "--context",
            &ctx,
            "--grant",
            "deploy",
            "establishment_type = lycee",
            "--json",
        ],
    )
    .await;
    ok(
        cat,
        &["rules", "trust", "esta", "establishment_type", "--json"],
    )
    .await;

    // A jump is good for two minutes on the platforms' clock.
    let mut home = a.login("alice", PW).await;
    let (_, token, delegation) = jump_from_home(&mut home).await;
    // (Tokens allow a minute of clock skew past their expiry.)
    clock.advance(pf_net::jump::JUMP_LIFETIME + pf_net::token::TOKEN_LEEWAY + 1);
    let (_, status, _) = arrive(cat, &token, &delegation, "/").await;
    assert_eq!(status, 401);
    assert_refused_jump(cat, "expired").await;

    // A fresh one works; its delegation lives eight hours.
    let mut alice = jump_in(&s, "alice").await;
    let roaming = cat
        .platform
        .store
        .roaming_user(&Username::parse("alice").unwrap(), peer_of(cat, a).await.id)
        .await
        .unwrap();
    let stored = cat
        .platform
        .store
        .roaming_delegation(roaming.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.expires_at, clock.now() as i64 + 8 * 3600);
    clock.advance(8 * 3600 + pf_net::token::TOKEN_LEEWAY + 1);
    // The catalog no longer starts a deploy-home: it says why, and queues nothing.
    let go = alice
        .post(&format!("/course/{on_cat}/deploy-home"), &[])
        .await;
    assert_eq!(go.status, 403, "{}", go.body);
    assert!(go.body.contains("jump here again"), "{}", go.body);
    assert!(cat
        .platform
        .store
        .jobs(0, 10)
        .await
        .unwrap()
        .iter()
        .all(|j| j.kind != "deploy-home"));
    // Presented anyway, the home refuses it, and the reason comes back.
    let offer = json!({"operation": "deploy", "manifest": "{}", "signature": "x", "idempotency_key": "k",
                       "archive": 1, "source_course": 1, "ticket": "x"});
    let e = PeerCaller::new(&cat.platform)
        .unwrap()
        .post_json_delegated::<_, Value>(
            &peer_of(cat, a).await,
            "/rpc/deploy-home",
            &offer,
            &Username::parse("alice").unwrap(),
            &stored.token,
        )
        .await
        .unwrap_err();
    assert_eq!(e.code.as_str(), "bad_user", "{}", e.message);
    assert!(e.message.contains("expired"), "{}", e.message);

    // Roaming accounts not seen for `mutual.roaming_days` go at the next housekeeping.
    ok(
        cat,
        &["mutual", "settings", "--roaming-days", "1", "--json"],
    )
    .await;
    let report = pf_server::services::housekeeping::run(&cat.platform)
        .await
        .unwrap();
    assert_eq!(report.roaming_accounts, 0, "seen less than a day ago");
    clock.advance(86_400);
    let report = pf_server::services::housekeeping::run(&cat.platform)
        .await
        .unwrap();
    assert_eq!(report.roaming_accounts, 1);
    assert!(cat.platform.store.user(roaming.id).await.is_err());
}

/// Stops a spawned process at the end of a test, whatever happens.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mutualisation_demo_takes_a_teacher_home_to_their_own_copy() {
    use std::io::{BufRead, BufReader};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let mut child = Killed(
        std::process::Command::new(super::bin())
            .args([
                "demo",
                "--mutualisation",
                "--dir",
                dir.to_str().unwrap(),
                "--base-port",
                "0",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let text = tokio::task::spawn_blocking(move || {
        let mut text = String::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            text.push_str(&line);
            text.push('\n');
            if line.starts_with("Your copy is on") {
                break;
            }
        }
        text
    })
    .await
    .unwrap();
    let after = |marker: &str| -> String {
        let at = text
            .find(marker)
            .unwrap_or_else(|| panic!("{marker:?} in {text}"))
            + marker.len();
        text[at..].split_whitespace().next().unwrap().to_string()
    };
    let a_url = after("Log in on ").trim_end_matches("/login").to_string();
    let password = after("as teacher / ");
    let shared = after("Open the shared course ");
    let (cat_url, course) = shared.split_once("/course/").unwrap();
    assert!(
        text.contains("common ") && text.contains("lycee-b "),
        "{text}"
    );

    // Log in on lycee-a, jump to the catalog (the form the jump page submits), press one button.
    let mut home = Browser::new(&a_url);
    assert_eq!(home.login("teacher", &password).await, 303);
    let (action, token, delegation) = jump_from_home(&mut home).await;
    assert_eq!(action, format!("{cat_url}/jump"));
    let mut cat = Browser::new(cat_url);
    let page = cat
        .post_raw(
            "/jump",
            &[
                ("token", &token),
                ("delegation", &delegation),
                ("next", "/"),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let shown = cat.get(&format!("/course/{course}")).await;
    assert!(shown
        .body
        .contains(&format!("/course/{course}/deploy-home")));
    let go = cat
        .post(&format!("/course/{course}/deploy-home"), &[])
        .await;
    assert_eq!(go.status, 303, "{}", go.body);
    let job = go.location().unwrap().to_string();
    let mut done = false;
    for _ in 0..300 {
        let page = cat.get(&job).await;
        if page.body.contains("open-copy") {
            done = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(done, "the deploy-home job ends with a way to the copy");
    // The jump back lands on the teacher's own copy, hidden, in the assigned category.
    let back = cat.post(&format!("{job}/open-copy"), &[]).await;
    assert_eq!(
        form_action(&back.body, "http").unwrap(),
        format!("{a_url}/jump")
    );
    let mut mine = Browser::new(&a_url);
    let landed = mine
        .post_raw(
            "/jump",
            &[
                ("token", &field(&back.body, "token").unwrap()),
                ("delegation", &field(&back.body, "delegation").unwrap()),
                ("next", &field(&back.body, "next").unwrap()),
            ],
        )
        .await;
    let copy = landed.location().unwrap().to_string();
    assert!(copy.starts_with("/course/"), "{copy}");
    let page = mine.get(&copy).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Physics 101"), "{}", page.body);
    let listed = pf_testkit::run_cli(
        super::bin(),
        &dir.join("lycee-a"),
        &["course", "list", "--json"],
    )
    .json();
    let id: i64 = copy.trim_start_matches("/course/").parse().unwrap();
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap()
        .clone();
    let cats = pf_testkit::run_cli(
        super::bin(),
        &dir.join("lycee-a"),
        &["category", "list", "--json"],
    )
    .json();
    let martin = cats
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["idnumber"] == "MARTIN")
        .unwrap();
    assert_eq!(
        (row["category"].clone(), row["visible"].clone()),
        (martin["id"].clone(), json!(false))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_change_the_sharing_settings_on_the_rules_page() {
    let cat = TestPlatform::start(PlatformRole::Catalog, "common").await;
    let mut admin = cat.login("admin", pf_testkit::ADMIN_PASSWORD).await;
    let page = admin.get("/admin/rules").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("action=\"/admin/rules/settings\""));
    assert_eq!(
        field(&page.body, "assigned_category_field").as_deref(),
        Some("assigned_category")
    );
    assert_eq!(field(&page.body, "roaming_days").as_deref(), Some("90"));
    assert!(page.body.contains("Sharing settings"));
    let settings = || async { ok(&cat, &["mutual", "settings", "--json"]).await };
    // No CSRF token, a bad field name, days out of range: refused, nothing changed.
    let forged = admin
        .post_raw(
            "/admin/rules/settings",
            &[
                ("csrf", "guess"),
                ("assigned_category_field", "cat"),
                ("roaming_days", "5"),
            ],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    for (field_name, days) in [("bad field!", "5"), ("cat", "0"), ("cat", "many")] {
        let refused = admin
            .post(
                "/admin/rules/settings",
                &[
                    ("assigned_category_field", field_name),
                    ("roaming_days", days),
                ],
            )
            .await;
        assert_eq!(refused.status, 400, "{field_name} {days}: {}", refused.body);
    }
    assert_eq!(
        settings().await,
        json!({"assigned_category_field": "assigned_category", "roaming_days": 90})
    );
    let saved = admin
        .post(
            "/admin/rules/settings",
            &[
                ("assigned_category_field", "home_category"),
                ("roaming_days", "30"),
            ],
        )
        .await;
    assert_eq!(
        (saved.status, saved.location()),
        (303, Some("/admin/rules"))
    );
    assert_eq!(
        settings().await,
        json!({"assigned_category_field": "home_category", "roaming_days": 30})
    );
    let log = cat.platform.store.audit(0, 10).await.unwrap();
    assert!(log
        .iter()
        .any(|e| e.action == "mutual.settings" && e.actor.contains("admin")));
    // In French too.
    admin.post("/language", &[("lang", "fr")]).await;
    let page = admin.get("/admin/rules").await;
    assert!(page.body.contains("Réglages du partage"), "{}", page.body);
    // Not for other users.
    let pw = cat.dir.path().join("pw");
    std::fs::write(&pw, PW).unwrap();
    ok(
        &cat,
        &[
            "user",
            "add",
            "zoe",
            "--password-file",
            pw.to_str().unwrap(),
            "--json",
        ],
    )
    .await;
    let mut zoe = cat.login("zoe", PW).await;
    assert_eq!(zoe.get("/admin/rules").await.status, 403);
    let refused = zoe
        .post(
            "/admin/rules/settings",
            &[("assigned_category_field", "x"), ("roaming_days", "1")],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(settings().await["roaming_days"], 30);
}
