//! Mutualisation between real platforms on port 0 (SPEC §8): two establishments and a training
//! platform paired with one common catalog; signed jumps in and back (POST only), delegations,
//! profile rules on consult and deploy, "deploy to my platform" landing in the assigned category
//! (or incoming), the refusals, and the purge of roaming accounts.

use super::publishing::{cli, course_from, ok, pair};
use pf_domain::ids::{CategoryId, CourseId, UserId};
use pf_domain::platform::PlatformRole;
use pf_domain::user::{FieldEditor, Username};
use pf_net::{issue_delegation, issue_jump, Identity, JumpUser, ManualClock, Purpose};
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

async fn wait_job(tp: &TestPlatform, id: i64) -> Value {
    for _ in 0..600 {
        let job = ok(tp, &["jobs", "show", &id.to_string(), "--json"]).await;
        if ["done", "failed", "cancelled"].contains(&job["state"].as_str().unwrap_or("")) {
            return job;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("job {id} did not end");
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

    // Forged, expired, wrong-audience and unpaired-platform jumps are refused.
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    let stranger = Identity::generate();
    let old = ManualClock::new(pf_server::services::now() as u64 - 3600);
    let cases = [
        tampered,
        issue_jump(
            &a.platform.identity,
            &cat.platform.identity.key_id(),
            &jumper("bob"),
            &old,
        )
        .0,
        issue_jump(
            &a.platform.identity,
            &t.platform.identity.key_id(),
            &jumper("bob"),
            &*a.platform.clock,
        )
        .0,
        issue_jump(
            &stranger,
            &cat.platform.identity.key_id(),
            &jumper("bob"),
            &*a.platform.clock,
        )
        .0,
    ];
    for (i, forged) in cases.iter().enumerate() {
        assert_eq!(arrive(&cat, forged, "", "/").await.1, 401, "case {i}");
    }

    // Delegations: another purpose, expired, or presented by another platform are refused.
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
    // bad_user answers 401, which the client reports as `unauthenticated`.
    assert_eq!(e.code.as_str(), "unauthenticated", "{}", e.message);
    let offer = json!({"operation": "deploy", "manifest": "{}", "signature": "x", "idempotency_key": "k",
                       "archive": 1, "source_course": 1, "ticket": "x"});
    let (expired, _) = issue_delegation(
        &a.platform.identity,
        &alice_name,
        &cat.platform.identity.key_id(),
        Purpose::DeployHome,
        60,
        &old,
    )
    .unwrap();
    let r: Result<Value, _> = caller
        .post_json_delegated(
            &esta_on_cat,
            "/rpc/deploy-home",
            &offer,
            &alice_name,
            &expired,
        )
        .await;
    let e = r.unwrap_err();
    // bad_user answers 401, which the client reports as `unauthenticated`.
    assert_eq!(e.code.as_str(), "unauthenticated", "{}", e.message);
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
    // bad_user answers 401, which the client reports as `unauthenticated`.
    assert_eq!(e.code.as_str(), "unauthenticated", "{}", e.message);

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
