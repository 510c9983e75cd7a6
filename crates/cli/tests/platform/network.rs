//! The network, end to end: real platforms on port 0 pair from the CLI and the browser, scan
//! each other, and refuse every forged, replayed, relayed, stale or unadmitted peer request.

use super::bin;
use pf_domain::platform::PlatformRole;
use pf_net::{sign_request, Acting, Clock, Identity, KeyId, ManualClock, SystemClock};
use pf_store::NewCategory;
use pf_testkit::{CliRun, TestPlatform, ADMIN_PASSWORD};
use serde_json::{json, Value};
use std::sync::Arc;

/// Runs the CLI off the runtime's workers (it calls back into servers of this process).
async fn cli(tp: &TestPlatform, args: &[&str]) -> CliRun {
    let dir = tp.data_dir();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        pf_testkit::run_cli(bin(), &dir, &refs)
    })
    .await
    .unwrap()
}

/// `a` invites, `b` redeems from the CLI.
async fn pair_cli(a: &TestPlatform, b: &TestPlatform) -> String {
    let code = cli(a, &["peer", "invite", "--json"]).await.json()["code"]
        .as_str()
        .unwrap()
        .to_string();
    let run = cli(b, &["peer", "add", &a.url, "--code", &code, "--json"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    code
}

async fn peers(tp: &TestPlatform) -> Vec<Value> {
    let run = cli(tp, &["peer", "list", "--json"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    run.json().as_array().unwrap().clone()
}

fn named<'a>(list: &'a [Value], name: &str) -> &'a Value {
    list.iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no peer {name} in {list:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platforms_pair_from_the_cli_and_the_browser_and_scan_each_others_trees() {
    let f = TestPlatform::start(PlatformRole::Factory, "fac").await;
    let c = TestPlatform::start(PlatformRole::Catalog, "cat").await;
    let t = TestPlatform::start(PlatformRole::Training, "train").await;

    // CLI: the catalog invites, the factory redeems; both know each other at once.
    let code = pair_cli(&c, &f).await;
    let on_f = peers(&f).await;
    let on_c = peers(&c).await;
    let cat = named(&on_f, "cat");
    let fac = named(&on_c, "fac");
    assert_eq!(cat["role"], "catalog");
    assert_eq!(cat["status"], "active");
    assert_eq!(
        cat["grants"],
        json!([]),
        "a factory grants a catalog nothing"
    );
    assert_eq!(cat["url"], c.url.as_str());
    assert_eq!(
        fac["grants"],
        json!(["publish"]),
        "a catalog grants publish to factories"
    );
    assert_eq!(fac["last_scan"], Value::Null);
    let keys = cli(&f, &["keys", "show", "--json"]).await.json();
    assert_eq!(fac["fingerprint"], keys["fingerprint"]);

    // The code is single use: a third platform cannot reuse it, and nothing changes.
    let reuse = cli(&t, &["peer", "add", &c.url, "--code", &code]).await;
    assert_eq!(reuse.code, 1, "{reuse:?}");
    assert!(reuse.stderr.starts_with("error:"), "{reuse:?}");
    assert_eq!(peers(&c).await.len(), 1);
    assert_eq!(peers(&t).await.len(), 0);

    // Browser: the training platform's admin invites, the catalog's admin pairs.
    let mut t_admin = t.login("admin", ADMIN_PASSWORD).await;
    let page = t_admin.post("/admin/network/invite", &[]).await;
    assert_eq!(page.status, 200, "{page:?}");
    let code = page
        .body
        .split("id=\"pairing-code\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the code is shown once")
        .to_string();
    let shown = page.body.replace("&#x2f;", "/");
    assert!(shown.contains(&t.platform.identity.fingerprint().to_string()));
    let mut c_admin = c.login("admin", ADMIN_PASSWORD).await;
    let page = c_admin
        .post("/admin/network/add", &[("url", &t.url), ("code", &code)])
        .await;
    assert_eq!(page.status, 303, "{page:?}");
    let on_c: Vec<String> = c
        .platform
        .store
        .peers()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert!(
        on_c.iter().any(|n| n == "train"),
        "the catalog's own view: {on_c:?}"
    );
    assert_eq!(
        named(&peers(&t).await, "cat")["grants"],
        json!(["deploy", "sessions"])
    );
    assert_eq!(named(&peers(&c).await, "train")["grants"], json!([]));
    let page = c_admin.get("/admin/network").await;
    assert!(page.body.contains("Never scanned"), "{}", page.body);

    // The catalog has a big tree; a hidden branch is not described.
    let store = &c.platform.store;
    let mut parents = Vec::new();
    for i in 0..2500 {
        let parent = if i < 50 { None } else { Some(parents[i % 50]) };
        let id = store
            .create_category(NewCategory {
                parent,
                name: format!("Cat {i}"),
                idnumber: format!("C{i}"),
                visible: true,
            })
            .await
            .unwrap();
        parents.push(id);
    }
    let hidden = store
        .create_category(NewCategory {
            parent: None,
            name: "Secret".into(),
            idnumber: String::new(),
            visible: false,
        })
        .await
        .unwrap();
    store
        .create_category(NewCategory {
            parent: Some(hidden),
            name: "Under secret".into(),
            idnumber: String::new(),
            visible: true,
        })
        .await
        .unwrap();
    let visible = store.categories().await.unwrap().len() - 2;

    let run = cli(&f, &["network", "scan", "--json"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let scan = run.json();
    assert_eq!(scan[0]["ok"], true, "{scan}");
    assert_eq!(scan[0]["role"], "catalog");
    assert_eq!(scan[0]["categories"], visible);
    let cats = cli(&f, &["peer", "categories", "cat", "--json"])
        .await
        .json();
    let cats = cats.as_array().unwrap();
    assert_eq!(cats.len(), visible);
    let deep = cats.iter().find(|x| x["name"] == "Cat 60").unwrap();
    assert_eq!(deep["path"], "Cat 10 / Cat 60");
    assert_eq!(deep["idnumber"], "C60");
    assert!(cats.iter().all(|x| x["name"] != "Under secret"));
    assert!(named(&peers(&f).await, "cat")["last_scan"].is_string());

    // "Sync now" on the network page scans the catalog's peers and shows their trees.
    let page = c_admin.post("/admin/network/scan", &[]).await;
    assert_eq!(page.status, 303, "{page:?}");
    let page = c_admin.get("/admin/network").await;
    assert!(!page.body.contains("Never scanned"), "{}", page.body);

    // Grants and status are editable; a disabled peer's scans are refused by the other side.
    let run = cli(
        &c,
        &["peer", "set", "fac", "--grant", "publish,deploy", "--json"],
    )
    .await;
    assert_eq!(run.json()["grants"], json!(["publish", "deploy"]));
    let run = cli(&c, &["peer", "set", "fac", "--grant", "admin"]).await;
    assert_eq!(run.code, 2, "{run:?}");
    let run = cli(&c, &["peer", "set", "fac", "--disable", "--json"]).await;
    assert_eq!(run.json()["status"], "disabled");
    let run = cli(&f, &["network", "scan", "--json"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.json()[0]["error"]["code"], "unauthenticated");
    assert_eq!(
        cli(&f, &["peer", "categories", "cat", "--json"])
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        visible,
        "the last good tree is kept"
    );

    // The JSON API lists peers and edits grants, for admins.
    let token = cli(&c, &["token", "create", "--name", "net", "--json"])
        .await
        .json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let http = reqwest::Client::new();
    let list: Value = http
        .get(format!("{}/api/v1/peers", c.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let train = named(list.as_array().unwrap(), "train").clone();
    let r = http
        .patch(format!("{}/api/v1/peers/{}", c.url, train["id"]))
        .bearer_auth(&token)
        .json(&json!({"grants": ["retrofit"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["grants"],
        json!(["retrofit"])
    );
    let r = http
        .patch(format!("{}/api/v1/peers/{}", c.url, train["id"]))
        .bearer_auth(&token)
        .json(&json!({"grants": ["admin"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        named(&peers(&c).await, "train")["grants"],
        json!(["retrofit"])
    );

    // The page flags an unknown role and an old scan.
    let train_id = pf_domain::ids::PeerId(train["id"].as_i64().unwrap());
    let old = pf_store::unix_now() - 15 * 86_400;
    c.platform
        .store
        .record_scan(train_id, "mystery", old, &[])
        .await
        .unwrap();
    let page = c_admin.get("/admin/network").await;
    assert!(page.body.contains("Unknown role"), "{}", page.body);
    assert!(page.body.contains("older than 14 days"), "{}", page.body);

    // Removing keeps the peer out of the list.
    let run = cli(&c, &["peer", "remove", "fac"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(peers(&c).await.iter().all(|p| p["name"] != "fac"));

    // Peer requests are in the audit log, readable by admins.
    let page = c_admin.get("/admin/audit").await;
    assert!(page.body.contains("rpc.describe"), "{}", page.body);
}

/// Changes the signed headers before they are sent.
type Tamper = dyn Fn(&mut Vec<(&'static str, String)>);

/// A signed request from `from` to the platform whose key is `to`, sent to `base`.
struct Sent {
    status: u16,
    body: Value,
    signed: bool,
}

#[allow(clippy::too_many_arguments)]
async fn send(
    from: &Identity,
    to: &KeyId,
    base: &str,
    method: &str,
    target: &str,
    body: &[u8],
    user: Option<&str>,
    clock: &dyn Clock,
    tamper: impl FnOnce(&mut Vec<(&'static str, String)>),
) -> (Sent, Vec<(&'static str, String)>) {
    let signed = sign_request(
        from,
        to,
        method,
        target,
        &pf_net::sha256(body),
        Acting {
            user,
            delegation: None,
        },
        clock,
    )
    .unwrap();
    let mut headers = signed.headers.clone();
    tamper(&mut headers);
    (raw(base, method, target, body, &headers).await, headers)
}

async fn raw(
    base: &str,
    method: &str,
    target: &str,
    body: &[u8],
    headers: &[(&str, String)],
) -> Sent {
    let client = reqwest::Client::new();
    let mut req = client.request(method.parse().unwrap(), format!("{base}{target}"));
    for (k, v) in headers {
        req = req.header(*k, v.as_str());
    }
    if !body.is_empty() {
        req = req.header("content-type", "application/json");
    }
    let resp = req.body(body.to_vec()).send().await.unwrap();
    let status = resp.status().as_u16();
    let signed = resp.headers().contains_key("pf-signature");
    let text = resp.text().await.unwrap();
    Sent {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        signed,
    }
}

fn key_of(tp: &TestPlatform) -> KeyId {
    tp.platform.identity.key_id()
}

async fn audit_len(tp: &TestPlatform) -> usize {
    tp.platform.store.audit(0, 100_000).await.unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_rpc_refuses_forged_replayed_relayed_stale_and_unknown_requests() {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let c = TestPlatform::start_with_clock(PlatformRole::Catalog, "cat", clock.clone()).await;
    let f = TestPlatform::start(PlatformRole::Factory, "fac").await;
    let t = TestPlatform::start(PlatformRole::Training, "train").await;
    pair_cli(&c, &f).await;
    pair_cli(&t, &f).await;
    let fid = f.platform.identity.clone();
    let sys = SystemClock;
    let none = |_: &mut Vec<(&'static str, String)>| {};

    // A good call works and its answer is signed for our nonce.
    let (ok, _) = send(
        &fid,
        &key_of(&c),
        &c.url,
        "GET",
        "/rpc/describe",
        b"",
        None,
        &sys,
        none,
    )
    .await;
    assert_eq!(ok.status, 200);
    assert!(ok.signed);
    assert_eq!(ok.body["name"], "cat");

    let expect_401 = |s: &Sent, what: &str| {
        assert_eq!(s.status, 401, "{what}: {:?}", s.body);
        assert_eq!(s.body["code"], "unauthenticated", "{what}");
    };
    // Unsigned, on known and unknown paths alike.
    for path in ["/rpc/describe", "/rpc/nope", "/rpc/", "/rpc/check-user?x=1"] {
        let s = raw(&c.url, "GET", path, b"", &[]).await;
        expect_401(&s, path);
    }
    // Signed but unknown: 404 envelope, signed.
    let (s, _) = send(
        &fid,
        &key_of(&c),
        &c.url,
        "GET",
        "/rpc/nope",
        b"",
        None,
        &sys,
        none,
    )
    .await;
    assert_eq!(
        (s.status, s.body["code"].as_str(), s.signed),
        (404, Some("unknown_record"), true)
    );

    // Forged signature.
    let (s, _) = send(
        &fid,
        &key_of(&c),
        &c.url,
        "GET",
        "/rpc/describe",
        b"",
        None,
        &sys,
        |h| {
            for (k, v) in h.iter_mut() {
                if *k == "pf-signature" {
                    let mut bytes = v.clone().into_bytes();
                    bytes[5] = if bytes[5] == b'A' { b'B' } else { b'A' };
                    *v = String::from_utf8(bytes).unwrap();
                }
            }
        },
    )
    .await;
    expect_401(&s, "forged signature");
    assert!(s.signed, "refusals are signed too");
    // A key nobody paired.
    let stranger = Identity::generate();
    let (s, _) = send(
        &stranger,
        &key_of(&c),
        &c.url,
        "GET",
        "/rpc/describe",
        b"",
        None,
        &sys,
        none,
    )
    .await;
    expect_401(&s, "unknown key");
    // Replayed to the same receiver.
    let (s, headers) = send(
        &fid,
        &key_of(&c),
        &c.url,
        "GET",
        "/rpc/describe",
        b"",
        None,
        &sys,
        none,
    )
    .await;
    assert_eq!(s.status, 200);
    let replay = raw(&c.url, "GET", "/rpc/describe", b"", &headers).await;
    expect_401(&replay, "replay");
    // Relayed to a third platform that also knows the caller.
    let (s, headers) = send(
        &fid,
        &key_of(&c),
        &c.url,
        "GET",
        "/rpc/describe",
        b"",
        None,
        &sys,
        |_| {},
    )
    .await;
    assert_eq!(s.status, 200);
    let relayed = raw(&t.url, "GET", "/rpc/describe", b"", &headers).await;
    expect_401(&relayed, "relay to a third platform");
    // A tampered query string.
    let signed = sign_request(
        &fid,
        &key_of(&c),
        "GET",
        "/rpc/course-exists?idnumber=A",
        &pf_net::sha256(b""),
        Acting::NONE,
        &sys,
    )
    .unwrap();
    let s = raw(
        &c.url,
        "GET",
        "/rpc/course-exists?idnumber=B",
        b"",
        &signed.headers,
    )
    .await;
    expect_401(&s, "tampered query");
    let s = raw(
        &c.url,
        "GET",
        "/rpc/course-exists?idnumber=A",
        b"",
        &signed.headers,
    )
    .await;
    assert_eq!((s.status, &s.body["exists"]), (200, &json!(false)));
    // A stale timestamp: the receiver's clock moved six minutes on.
    clock.advance(360);
    let (s, _) = send(
        &fid,
        &key_of(&c),
        &c.url,
        "GET",
        "/rpc/describe",
        b"",
        None,
        &sys,
        none,
    )
    .await;
    expect_401(&s, "stale timestamp");
    clock.rewind(360);
    // A disabled peer.
    let fac_on_c = c
        .platform
        .store
        .peer_by_key_id(key_of(&f).as_str())
        .await
        .unwrap()
        .unwrap();
    c.platform
        .store
        .set_peer_status(fac_on_c.id, pf_store::PeerStatus::Disabled)
        .await
        .unwrap();
    let (s, _) = send(
        &fid,
        &key_of(&c),
        &c.url,
        "GET",
        "/rpc/describe",
        b"",
        None,
        &sys,
        none,
    )
    .await;
    expect_401(&s, "disabled peer");
    c.platform
        .store
        .set_peer_status(fac_on_c.id, pf_store::PeerStatus::Active)
        .await
        .unwrap();

    // Malformed headers and bodies: 4xx, never 500.
    let before = c.platform.store.users().await.unwrap().len();
    let cases: Vec<Box<Tamper>> = vec![
        Box::new(|h| {
            h.iter_mut()
                .filter(|(k, _)| *k == "pf-timestamp")
                .for_each(|(_, v)| *v = "abc".into())
        }),
        Box::new(|h| {
            h.iter_mut()
                .filter(|(k, _)| *k == "pf-nonce")
                .for_each(|(_, v)| *v = "!!".into())
        }),
        Box::new(|h| h.push(("pf-nonce", "AAAAAAAAAAAAAAAAAAAAAA".into()))),
        Box::new(|h| h.retain(|(k, _)| *k != "pf-caller")),
        Box::new(|h| h.push(("pf-user", "pf1.user.garbage.sig".into()))),
    ];
    for (i, tamper) in cases.into_iter().enumerate() {
        let (s, _) = send(
            &fid,
            &key_of(&c),
            &c.url,
            "POST",
            "/rpc/check-user",
            b"{}",
            None,
            &sys,
            |h| tamper(h),
        )
        .await;
        assert!(
            (400..500).contains(&s.status),
            "case {i}: {} {:?}",
            s.status,
            s.body
        );
    }
    for body in [&b"not json"[..], b"{\"capability\": \"nope\"}", b"[]"] {
        let (s, _) = send(
            &fid,
            &key_of(&c),
            &c.url,
            "POST",
            "/rpc/check-user",
            body,
            None,
            &sys,
            none,
        )
        .await;
        assert!((400..500).contains(&s.status), "{:?}", s.body);
    }
    let big = vec![b'x'; 2 << 20];
    let (s, _) = send(
        &fid,
        &key_of(&c),
        &c.url,
        "POST",
        "/rpc/check-user",
        &big,
        None,
        &sys,
        none,
    )
    .await;
    assert_eq!(s.status, 413, "{:?}", s.body);
    assert_eq!(
        c.platform.store.users().await.unwrap().len(),
        before,
        "nothing changed"
    );

    // Pairing codes expire after an hour of the receiver's clock.
    let code = cli(&c, &["peer", "invite", "--json"]).await.json()["code"]
        .as_str()
        .unwrap()
        .to_string();
    clock.advance(3601);
    let run = cli(&t, &["peer", "add", &c.url, "--code", &code]).await;
    assert_eq!(run.code, 1, "an expired code: {run:?}");
    clock.rewind(3601);
    assert!(peers(&t).await.iter().all(|p| p["name"] != "cat"));

    // Every refusal is audited, with the peer when it is known.
    let entries = c.platform.store.audit(0, 1000).await.unwrap();
    assert!(entries
        .iter()
        .any(|e| e.result == "unauthenticated" && e.peer == Some(fac_on_c.id)));
    assert!(entries
        .iter()
        .any(|e| e.result == "unauthenticated" && e.peer.is_none()));
    assert!(audit_len(&c).await > 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_refuses_brute_force_swapped_keys_and_tampered_responses() {
    let c = TestPlatform::start(PlatformRole::Catalog, "cat").await;
    let f = TestPlatform::start(PlatformRole::Factory, "fac").await;

    // A relay that swaps the redeemer's key in the hello is detected by the proof.
    let code = cli(&c, &["peer", "invite", "--json"]).await.json()["code"]
        .as_str()
        .unwrap()
        .to_string();
    let parsed = pf_net::PairingCode::parse(&code).unwrap();
    let me = pf_net::PairSide {
        name: "fac".into(),
        url: f.url.clone(),
        role: PlatformRole::Factory,
        public_key: *f.platform.identity.public_key(),
    };
    let (mut hello, _) = pf_net::start_pairing(&parsed, &c.url, &me);
    hello.redeemer.public_key = *Identity::generate().public_key();
    let r = reqwest::Client::new()
        .post(format!("{}/pair", c.url))
        .json(&hello)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(peers(&c).await.len(), 0, "nothing recorded");
    // Four more wrong proofs revoke the code: even the right one then fails.
    for _ in 0..4 {
        let r = reqwest::Client::new()
            .post(format!("{}/pair", c.url))
            .json(&hello)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        assert_eq!(status, 401, "{}", r.text().await.unwrap());
    }
    let run = cli(&f, &["peer", "add", &c.url, "--code", &code]).await;
    assert_eq!(run.code, 1, "a revoked code: {run:?}");
    assert_eq!(peers(&c).await.len(), 0);
    assert_eq!(peers(&f).await.len(), 0);
    // Guessed codes are refused too; malformed pairing bodies are 4xx.
    let run = cli(
        &f,
        &["peer", "add", &c.url, "--code", "0000-0000-0000-0000-0000"],
    )
    .await;
    assert_eq!(run.code, 1, "{run:?}");
    let run = cli(&f, &["peer", "add", &c.url, "--code", "not a code"]).await;
    assert_eq!(run.code, 2, "{run:?}");
    for body in ["{", "{}", "[1]", "{\"code_id\": \"x\"}"] {
        let r = reqwest::Client::new()
            .post(format!("{}/pair", c.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error(), "{body}: {}", r.status());
    }

    // A new code works; a known URL with a new key is then a new, ungranted peer.
    pair_cli(&c, &f).await;
    assert_eq!(named(&peers(&c).await, "fac")["grants"], json!(["publish"]));
    let impostor = Identity::generate();
    let code = cli(&c, &["peer", "invite", "--json"]).await.json()["code"]
        .as_str()
        .unwrap()
        .to_string();
    let side = pf_net::PairSide {
        public_key: *impostor.public_key(),
        ..me.clone()
    };
    let (hello, redeeming) =
        pf_net::start_pairing(&pf_net::PairingCode::parse(&code).unwrap(), &c.url, &side);
    let r = reqwest::Client::new()
        .post(format!("{}/pair", c.url))
        .json(&hello)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let welcome: pf_net::PairWelcome = r.json().await.unwrap();
    redeeming.finish(&welcome).unwrap();
    let list = peers(&c).await;
    assert_eq!(list.len(), 2);
    assert_eq!(list[1]["grants"], json!([]), "{list:?}");

    // A peer whose answers are not signed by its key is refused: a fake "catalog" on a port
    // answers describe with a body whose signature does not match.
    let fake = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fake_url = format!("http://{}", fake.local_addr().unwrap());
    let real = c.platform.identity.clone();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut sock, _)) = fake.accept().await {
            let mut buf = vec![0u8; 65536];
            let n = sock.read(&mut buf).await.unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let nonce = req
                .lines()
                .find_map(|l| l.strip_prefix("pf-nonce: "))
                .map(|s| s.trim().to_string())
                .unwrap_or_default();
            let caller = req
                .lines()
                .find_map(|l| l.strip_prefix("pf-caller: "))
                .map(|s| s.trim().to_string())
                .unwrap_or_default();
            // Sign an honest body, send a tampered one.
            let honest = br#"{"name":"cat","role":"catalog","version":"1","url":"x","transports":[],"categories":[]}"#;
            let tampered = br#"{"name":"cat","role":"factory","version":"1","url":"x","transports":[],"categories":[]}"#;
            let headers = pf_net::sign_response(
                &real,
                200,
                &pf_net::sha256(honest),
                &pf_net::Nonce::parse(&nonce).unwrap(),
                &KeyId::parse(&caller).unwrap(),
            );
            let mut out = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n", tampered.len());
            for (k, v) in headers {
                let v = if k == "pf-body-sha256" {
                    pf_net::sha256_hex(tampered)
                } else {
                    v
                };
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            out.push_str("\r\n");
            let _ = sock.write_all(out.as_bytes()).await;
            let _ = sock.write_all(tampered).await;
        }
    });
    let fake_peer = f
        .platform
        .store
        .create_peer(pf_store::NewPeer {
            name: "fake".into(),
            url: fake_url,
            public_key: c.platform.identity.public_key().to_string(),
            key_id: "will-not-match".into(),
            role: None,
            created_at: 0,
            grants: Default::default(),
        })
        .await
        .unwrap();
    let run = cli(
        &f,
        &[
            "network",
            "scan",
            "--peer",
            &fake_peer.0.to_string(),
            "--json",
        ],
    )
    .await;
    assert_eq!(run.code, 1, "{run:?} {fake_peer} {:?}", peers(&f).await);
    assert_eq!(
        run.json()[0]["error"]["code"],
        "peer_unreachable",
        "{run:?}"
    );
    assert_eq!(
        f.platform.store.peer(fake_peer).await.unwrap().role,
        None,
        "nothing recorded"
    );
}

/// A user assertion signed with `tp`'s key, with any claims (to forge what an honest issuer
/// refuses to issue).
fn forged_assertion(tp: &TestPlatform, username: &str, home: &KeyId, audience: &KeyId) -> String {
    use base64::Engine as _;
    use ed25519_dalek::pkcs8::DecodePrivateKey as _;
    use ed25519_dalek::Signer as _;
    let pem = std::fs::read_to_string(tp.data_dir().join("identity.key")).unwrap();
    let key = ed25519_dalek::SigningKey::from_pkcs8_pem(&pem).unwrap();
    let now = SystemClock.now();
    let claims = json!({
        "username": username, "home": home.as_str(), "issuer": key_of(tp).as_str(),
        "audience": audience.as_str(), "issued_at": now, "expires_at": now + 120, "nonce": "bm9uY2Vub25jZW5vbmNl",
    });
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let body = b64.encode(serde_json::to_vec(&claims).unwrap());
    let sig = key.sign(format!("publishflow-token-v1\nuser\n{body}").as_bytes());
    format!("pf1.user.{body}.{}", b64.encode(sig.to_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_users_are_admitted_only_as_the_admission_table_says() {
    let t = TestPlatform::start(PlatformRole::Training, "train").await;
    let c = TestPlatform::start(PlatformRole::Catalog, "cat").await;
    let f = TestPlatform::start(PlatformRole::Factory, "fac").await;
    pair_cli(&t, &c).await;
    pair_cli(&t, &f).await;
    let cid = c.platform.identity.clone();
    let sys = SystemClock;
    let users_before = t.platform.store.users().await.unwrap();
    let assertion = |name: &str| {
        pf_net::issue_user_assertion(
            &cid,
            &pf_domain::user::Username::parse(name).unwrap(),
            &key_of(&c),
            &key_of(&t),
            &sys,
        )
        .unwrap()
    };
    let call = |path: &'static str, body: Value, user: Option<String>| {
        let cid = cid.clone();
        let to = key_of(&t);
        let url = t.url.clone();
        async move {
            let bytes = serde_json::to_vec(&body).unwrap();
            send(
                &cid,
                &to,
                &url,
                "POST",
                path,
                &bytes,
                user.as_deref(),
                &SystemClock,
                |_| {},
            )
            .await
            .0
        }
    };

    // A remote "admin" is not the local admin: no account maps, site:config is not held.
    let s = call(
        "/rpc/check-user",
        json!({"capability": "site:config", "context": {"level": "system"}}),
        Some(assertion("admin")),
    )
    .await;
    assert_eq!(s.status, 200, "{:?}", s.body);
    assert_eq!(
        (&s.body["allowed"], &s.body["account"], &s.body["user"]),
        (&json!(false), &Value::Null, &json!("admin@cat"))
    );
    // Without any capability asserted, the grant does not apply either.
    let s = call(
        "/rpc/admit",
        json!({"operation": "deploy"}),
        Some(assertion("admin")),
    )
    .await;
    assert_eq!(
        (s.status, s.body["code"].as_str()),
        (403, Some("not_admitted")),
        "{:?}",
        s.body
    );
    // With the deploy grant and the asserted source capability: admitted by grant (dry run).
    let s = call(
        "/rpc/admit",
        json!({"operation": "deploy", "asserted": ["publishflow:deploy"]}),
        Some(assertion("admin")),
    )
    .await;
    assert_eq!(
        (s.status, &s.body["admitted"]),
        (200, &json!("by_grant")),
        "{:?}",
        s.body
    );
    // The catalog holds no retrofit grant: refused.
    let s = call(
        "/rpc/admit",
        json!({"operation": "retrofit", "asserted": ["publishflow:retrofit"]}),
        Some(assertion("amel")),
    )
    .await;
    assert_eq!(
        (s.status, s.body["code"].as_str()),
        (403, Some("not_admitted"))
    );

    // A roaming account without the capability in the landing category, and no grant.
    let cat_on_t = t
        .platform
        .store
        .peer_by_key_id(key_of(&c).as_str())
        .await
        .unwrap()
        .unwrap();
    t.platform
        .store
        .set_peer_grants(cat_on_t.id, &Default::default())
        .await
        .unwrap();
    let cat_on_t = t.platform.store.peer(cat_on_t.id).await.unwrap();
    let bob = pf_server::services::admission::roaming_account(
        &t.platform,
        &cat_on_t,
        &pf_domain::user::Username::parse("bob").unwrap(),
    )
    .await
    .unwrap();
    let s = call(
        "/rpc/admit",
        json!({"operation": "deploy", "asserted": ["publishflow:deploy"]}),
        Some(assertion("bob")),
    )
    .await;
    assert_eq!(
        (s.status, s.body["code"].as_str()),
        (403, Some("missing_capability")),
        "{:?}",
        s.body
    );
    // Given course:create in the landing category, bob is admitted by account.
    let landing: i64 = t
        .platform
        .store
        .setting("category.landing")
        .await
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();
    t.platform
        .store
        .assign_role(
            bob.id,
            pf_domain::access::RoleName::CourseCreator,
            pf_domain::access::Context::Category(pf_domain::ids::CategoryId(landing)),
        )
        .await
        .unwrap();
    let s = call(
        "/rpc/admit",
        json!({"operation": "deploy"}),
        Some(assertion("bob")),
    )
    .await;
    assert_eq!(
        (s.status, &s.body["admitted"]),
        (200, &json!("by_account")),
        "{:?}",
        s.body
    );

    // A peer asserting a user whose home is another peer (the factory) is refused.
    let forged = forged_assertion(&c, "amel", &key_of(&f), &key_of(&t));
    let s = call(
        "/rpc/check-user",
        json!({"capability": "course:view"}),
        Some(forged),
    )
    .await;
    assert_eq!(
        (s.status, s.body["code"].as_str()),
        (401, Some("bad_user")),
        "{:?}",
        s.body
    );
    // …and one whose home is the receiver, without a delegation.
    let forged = forged_assertion(&c, "admin", &key_of(&t), &key_of(&t));
    let s = call(
        "/rpc/check-user",
        json!({"capability": "site:config"}),
        Some(forged),
    )
    .await;
    assert_eq!(
        (s.status, s.body["code"].as_str()),
        (401, Some("bad_user")),
        "{:?}",
        s.body
    );
    // An assertion signed by another platform than the caller.
    let other = forged_assertion(&f, "amel", &key_of(&c), &key_of(&t));
    let s = call(
        "/rpc/check-user",
        json!({"capability": "course:view"}),
        Some(other),
    )
    .await;
    assert_eq!(
        (s.status, s.body["code"].as_str()),
        (401, Some("bad_user")),
        "{:?}",
        s.body
    );
    // Calls that need a user refuse to run without one.
    let s = call("/rpc/admit", json!({"operation": "deploy"}), None).await;
    assert_eq!((s.status, s.body["code"].as_str()), (401, Some("bad_user")));

    // Nothing was created but bob (made by the test itself); the local admin is untouched.
    let after = t.platform.store.users().await.unwrap();
    assert_eq!(after.len(), users_before.len() + 1);
    let admin = t
        .platform
        .store
        .local_user(&pf_domain::user::Username::parse("admin").unwrap())
        .await
        .unwrap();
    assert!(users_before.iter().any(|u| u.id == admin.id));

    // An explicit link is the only way to a local account.
    let run = cli(&t, &["peer", "link", "cat", "admin", "--to", "admin"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let s = call(
        "/rpc/check-user",
        json!({"capability": "site:config"}),
        Some(assertion("admin")),
    )
    .await;
    assert_eq!(s.body["allowed"], json!(true), "{:?}", s.body);

    // The sessions list answers by idnumber, only to a peer on a copy's lineage or granted an
    // operation here: the catalog lost its grants above and is on no lineage, so it is refused.
    let s = send(
        &cid,
        &key_of(&t),
        &t.url,
        "GET",
        "/rpc/sessions?idnumber=NOPE",
        b"",
        None,
        &sys,
        |_| {},
    )
    .await
    .0;
    assert_eq!((s.status, &s.body["code"]), (403, &json!("not_admitted")));
}
