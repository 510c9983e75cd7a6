//! The platform itself: init, serve, the CLI contract documents, the demo.

use super::{bin, mode};
use pf_testkit::run_cli;

#[test]
fn init_creates_a_private_data_dir_for_every_role_and_refuses_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let pw = tmp.path().join("pw");
    std::fs::write(&pw, "a long password\nignored second line\n").unwrap();
    for role in [
        "factory",
        "catalog",
        "training",
        "factory_catalog",
        "factory_training",
        "normal",
    ] {
        let dir = tmp.path().join(role);
        let d = dir.to_str().unwrap();
        let run = run_cli(
            bin(),
            &dir,
            &[
                "init",
                "--role",
                role,
                "--name",
                role,
                "--url",
                "http://127.0.0.1:0",
                "--admin-password-file",
                pw.to_str().unwrap(),
                "--json",
            ],
        );
        assert_eq!(run.code, 0, "{role}: {run:?}");
        assert_eq!(
            run.json()["admin_password"],
            serde_json::Value::Null,
            "a password from a file is not printed"
        );
        assert_eq!(mode(&dir), 0o700, "{d}");
        for file in ["publishflow.toml", "identity.key", "publishflow.db"] {
            assert_eq!(mode(&dir.join(file)), 0o600, "{d}/{file}");
        }
        let cats = run_cli(bin(), &dir, &["category", "list", "--json"]).json();
        let names: Vec<_> = cats
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect();
        match role {
            "training" | "factory_training" => assert_eq!(names, ["Incoming", "Running", "Closed"]),
            "normal" => assert!(names.is_empty()),
            _ => assert_eq!(names.len(), 1, "{role} has a landing category"),
        }
    }
    // The password file's first line, without its line ending, is the admin's password.
    let login_dir = tmp.path().join("factory");
    let users = run_cli(bin(), &login_dir, &["user", "list", "--json"]).json();
    assert_eq!(users[0]["username"], "admin");

    // A non-empty dir is refused and left as it was.
    let busy = tmp.path().join("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("keep.txt"), "mine").unwrap();
    let run = run_cli(
        bin(),
        &busy,
        &[
            "init", "--role", "factory", "--name", "f", "--url", "http://x",
        ],
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.starts_with("error:"), "{run:?}");
    assert_eq!(std::fs::read_dir(&busy).unwrap().count(), 1);

    // Unknown roles and bad URLs are refused before anything is written.
    let fresh = tmp.path().join("fresh");
    let run = run_cli(
        bin(),
        &fresh,
        &[
            "init", "--role", "fabric", "--name", "f", "--url", "http://x",
        ],
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("factory_training"),
        "the error lists the valid roles: {}",
        run.stderr
    );
    let run = run_cli(
        bin(),
        &fresh,
        &[
            "init", "--role", "factory", "--name", "f", "--url", "ftp://x",
        ],
    );
    assert_eq!(run.code, 2);
    assert!(!fresh.exists());

    // A generated password is printed once, and works.
    let gen = tmp.path().join("generated");
    let run = run_cli(
        bin(),
        &gen,
        &[
            "init", "--role", "catalog", "--name", "c", "--url", "http://x", "--json",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["admin_password"].as_str().unwrap().len(), 20);
}

#[test]
fn serve_prints_one_listening_line_and_stops_cleanly_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let run = run_cli(
        bin(),
        &dir,
        &[
            "init",
            "--role",
            "training",
            "--name",
            "t",
            "--url",
            "http://127.0.0.1:0",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let mut child = std::process::Command::new(bin())
        .args([
            "--data-dir",
            dir.to_str().unwrap(),
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    assert!(
        url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"),
        "{url}"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let body = rt.block_on(async {
        reqwest::get(format!("{url}/healthz"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert_eq!(body, "ok");
    let marker =
        pf_server::presence::running_server(&dir).expect("serve announces itself in the data dir");
    assert_eq!(format!("http://{}", marker.listen), url);
    // The CLI works on the same data dir while the server runs.
    let run = run_cli(bin(), &dir, &["course", "list", "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "serve exits 0 on SIGTERM: {exit:?}");
    assert!(
        !dir.join("serve.json").exists(),
        "a clean stop withdraws the marker"
    );
}

#[test]
fn the_cli_prints_the_contract_documents() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    assert_eq!(
        run_cli(
            bin(),
            &dir,
            &["init", "--role", "factory", "--name", "f", "--url", "http://x"]
        )
        .code,
        0
    );
    let cli = |args: &[&str]| run_cli(bin(), &dir, args);
    let top = cli(&["category", "add", "Maths", "--idnumber", "MATH", "--json"]).json()["id"]
        .as_i64()
        .unwrap();
    let child = cli(&[
        "category",
        "add",
        "Algebra",
        "--parent",
        &top.to_string(),
        "--json",
    ])
    .json()["id"]
        .as_i64()
        .unwrap();
    let list = cli(&["category", "list", "--json"]).json();
    let algebra = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == child)
        .unwrap();
    assert_eq!(algebra["parent"], top);
    assert_eq!(algebra["path"], "Maths / Algebra");
    assert_eq!(
        cli(&["category", "add", "Again", "--idnumber", "MATH"]).code,
        2,
        "category idnumbers are unique"
    );

    let course = cli(&[
        "course",
        "add",
        "Linear algebra",
        "--shortname",
        "LA",
        "--category",
        &child.to_string(),
        "--json",
    ])
    .json()["id"]
        .as_i64()
        .unwrap();
    let listed = cli(&["course", "list", "--json"]).json();
    assert_eq!(
        listed[0],
        serde_json::json!({"id": course, "fullname": "Linear algebra", "shortname": "LA", "idnumber": "", "category": child, "visible": true})
    );
    let idn = cli(&["course", "index", "shortname:LA", "--json"]).json()["idnumber"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(idn.len(), 10);
    assert!(idn.chars().all(|c| c.is_ascii_uppercase()));
    assert_eq!(
        cli(&["course", "index", &course.to_string(), "--json"]).json()["idnumber"],
        idn,
        "indexing is idempotent"
    );

    let user = cli(&[
        "user",
        "add",
        "eve",
        "--role",
        &format!("editingteacher@course:{course}"),
        "--role",
        "coursecreator@category:1",
        "--profile",
        "discipline=maths",
        "--json",
    ])
    .json()["id"]
        .as_i64()
        .unwrap();
    let users = cli(&["user", "list", "--json"]).json();
    let eve = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == user)
        .unwrap();
    assert_eq!(eve["home"], "f");
    assert!(eve["roles"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!(format!(
            "editingteacher@course:{course}"
        ))));
    // Acting as eve: she edits her course but may not list users.
    assert_eq!(cli(&["user", "list", "--as", "eve"]).code, 1);
    let shown = cli(&["course", "show", "shortname:LA", "--as", "eve", "--json"]).json();
    assert_eq!(shown["shortname"], "LA");
}

#[test]
fn demo_starts_four_platforms_with_a_sample_course() {
    use std::io::{BufRead, BufReader};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let mut child = std::process::Command::new(bin())
        .args(["demo", "--dir", dir.to_str().unwrap(), "--base-port", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut urls = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://")) {
            urls.push(url.to_string());
        }
        if line.starts_with("The platforms are paired") || line.starts_with("Pairing failed") {
            assert!(line.starts_with("The platforms are paired"), "{line}");
            break;
        }
    }
    assert_eq!(
        urls.len(),
        5,
        "four platforms and the course link: {urls:?}"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        for url in &urls[..4] {
            assert_eq!(
                reqwest::get(format!("{url}/healthz"))
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap(),
                "ok"
            );
        }
    });
    let shown = run_cli(
        bin(),
        &dir.join("factory"),
        &["course", "show", "shortname:DEMO-PHYS-101", "--json"],
    )
    .json();
    let modules: Vec<_> = shown["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["module"].as_str().unwrap().to_string())
        .collect();
    for m in ["page", "label", "url", "resource"] {
        assert!(
            modules.iter().any(|x| x == m),
            "the sample course has a {m}: {modules:?}"
        );
    }
    assert_eq!(shown["files"].as_array().unwrap().len(), 2);
    assert_eq!(mode(&dir.join("logins.json")), 0o600);
    // Each demo platform announces its server, so operation commands work on its data dir.
    for name in ["factory", "catalog", "training-a", "training-b"] {
        assert!(
            pf_server::presence::running_server(&dir.join(name)).is_some(),
            "{name}"
        );
    }
    // Paired as a network: the catalog knows the factory and both training platforms, with roles
    // learned and trees scanned.
    let peers = run_cli(bin(), &dir.join("catalog"), &["peer", "list", "--json"]).json();
    let mut roles: Vec<_> = peers
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["role"].as_str().unwrap_or("?").to_string())
        .collect();
    roles.sort();
    assert_eq!(roles, ["factory", "training", "training"], "{peers}");
    assert!(
        peers
            .as_array()
            .unwrap()
            .iter()
            .all(|p| !p["last_scan"].is_null()),
        "{peers}"
    );
    let factory_peers = run_cli(bin(), &dir.join("factory"), &["peer", "list", "--json"]).json();
    assert_eq!(factory_peers.as_array().unwrap().len(), 3);
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
}
