//! Test support: start real platforms on port 0 in temp dirs and drive them as people and
//! scripts do — a browser-like client (cookies, CSRF tokens from the pages), the JSON API with
//! tokens, and the `publishflow` binary on the same data dir.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod browser;
pub mod postgres;

pub use browser::Browser;

/// The CSRF token of a page (`name="csrf" value="…"`); panics when there is none.
pub fn browser_csrf(html: &str) -> String {
    browser::extract_csrf(html).expect("a CSRF token in the page")
}

use pf_domain::platform::PlatformRole;
use pf_server::platform::{init, InitOptions, Platform};
use std::path::{Path, PathBuf};
use std::process::Output;

/// The admin password every test platform gets.
pub const ADMIN_PASSWORD: &str = "correct horse battery";

/// A platform running in this process, on 127.0.0.1 with a port picked by the system.
pub struct TestPlatform {
    /// Its data dir (removed on drop).
    pub dir: tempfile::TempDir,
    /// Its base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    /// The platform handle the server runs with (for direct store checks in tests).
    pub platform: Platform,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestPlatform {
    /// Inits a platform with `role` and `name` in a fresh temp dir and serves it.
    pub async fn start(role: PlatformRole, name: &str) -> TestPlatform {
        Self::start_with(role, name, None).await
    }

    /// Like [`TestPlatform::start`], on the given database URL (e.g. a fresh PostgreSQL database).
    pub async fn start_with(
        role: PlatformRole,
        name: &str,
        database_url: Option<String>,
    ) -> TestPlatform {
        Self::start_full(role, name, database_url, pf_server::job_handlers(), None).await
    }

    /// Like [`TestPlatform::start`], with extra job handlers (test job kinds).
    pub async fn start_with_handlers(
        role: PlatformRole,
        name: &str,
        handlers: pf_server::jobs::Registry,
    ) -> TestPlatform {
        Self::start_full(role, name, None, handlers, None).await
    }

    /// Like [`TestPlatform::start`], with the network rules on `clock` (e.g. a
    /// `pf_net::ManualClock`, to test expiry without waiting).
    pub async fn start_with_clock(
        role: PlatformRole,
        name: &str,
        clock: std::sync::Arc<dyn pf_net::Clock>,
    ) -> TestPlatform {
        Self::start_full(role, name, None, pf_server::job_handlers(), Some(clock)).await
    }

    /// Like [`TestPlatform::start`], with the configuration changed by `tweak` before serving.
    pub async fn start_with_config(
        role: PlatformRole,
        name: &str,
        tweak: impl FnOnce(&mut pf_server::config::Config),
    ) -> TestPlatform {
        Self::start_tweaked(role, name, None, pf_server::job_handlers(), None, tweak).await
    }

    async fn start_full(
        role: PlatformRole,
        name: &str,
        database_url: Option<String>,
        handlers: pf_server::jobs::Registry,
        clock: Option<std::sync::Arc<dyn pf_net::Clock>>,
    ) -> TestPlatform {
        Self::start_tweaked(role, name, database_url, handlers, clock, |_| {}).await
    }

    async fn start_tweaked(
        role: PlatformRole,
        name: &str,
        database_url: Option<String>,
        handlers: pf_server::jobs::Registry,
        clock: Option<std::sync::Arc<dyn pf_net::Clock>>,
        tweak: impl FnOnce(&mut pf_server::config::Config),
    ) -> TestPlatform {
        // Server logs (internal errors included) show in the output of a failing test.
        let _ = tracing_subscriber::fmt().with_test_writer().try_init();
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind port 0");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let opts = InitOptions {
            role,
            name: name.to_string(),
            url: url.clone(),
            admin_password: Some(ADMIN_PASSWORD.to_string()),
            database_url,
            blob_url: None,
        };
        init(&data, opts).await.expect("init");
        let mut platform = Platform::open(&data).await.expect("open");
        // Retries wait no time in tests; the doubling backoff itself is unit-tested.
        let mut config = (*platform.config).clone();
        config.jobs.retry_base_seconds = 0;
        tweak(&mut config);
        platform.config = std::sync::Arc::new(config);
        if let Some(clock) = clock {
            platform.clock = clock;
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let shutdown = async {
            let _ = rx.await;
        };
        // Operation commands of the CLI need to see a running server on the data dir.
        let marker = pf_server::presence::ServerMarker {
            listen: listener.local_addr().expect("local addr"),
            url: url.clone(),
            pid: std::process::id(),
        };
        pf_server::presence::announce(&data, &marker).expect("announce the server");
        let server = tokio::spawn(pf_server::serve_with(
            platform.clone(),
            listener,
            shutdown,
            handlers,
        ));
        TestPlatform {
            dir,
            url,
            platform,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// The data dir.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A browser with no session yet.
    pub fn browser(&self) -> Browser {
        Browser::new(&self.url)
    }

    /// A browser logged in as `username`.
    pub async fn login(&self, username: &str, password: &str) -> Browser {
        let mut b = self.browser();
        let status = b.login(username, password).await;
        assert_eq!(status, 303, "login as {username} should redirect");
        b
    }

    /// Runs the CLI binary on this platform's data dir.
    pub fn cli(&self, bin: &Path, args: &[&str]) -> CliRun {
        run_cli(bin, &self.data_dir(), args)
    }

    /// Stops the server and waits for it to finish in-flight requests.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stopped cleanly");
        }
    }
}

/// The outcome of one CLI run.
#[derive(Debug)]
pub struct CliRun {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl CliRun {
    /// Stdout parsed as JSON (panics with the whole run when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }
}

/// Runs the CLI binary with `--data-dir DIR` and the given arguments.
pub fn run_cli(bin: &Path, data_dir: &Path, args: &[&str]) -> CliRun {
    let out: Output = std::process::Command::new(bin)
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("PUBLISHFLOW_DATA_DIR")
        .output()
        .expect("run the publishflow binary");
    CliRun {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
