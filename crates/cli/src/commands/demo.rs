//! `publishflow demo`: a factory, a catalog and two training platforms on one machine, with a
//! sample course on the factory, served from this one process until Ctrl-C.
//!
//! The platforms live in `DIR/<name>` and are reused on a rerun; their admin passwords are kept
//! in `DIR/logins.json` (0600) so every run can print them.

use crate::args::DemoArgs;
use pf_domain::platform::PlatformRole;
use pf_server::error::AppError;
use pf_server::platform::{init, InitOptions, Platform};
use pf_server::services::{Actor, Via};
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

/// The demo network: name, role, port offset from `--base-port`.
const PLATFORMS: &[(&str, PlatformRole, u16)] = &[
    ("factory", PlatformRole::Factory, 0),
    ("catalog", PlatformRole::Catalog, 1),
    ("training-a", PlatformRole::Training, 2),
    ("training-b", PlatformRole::Training, 3),
];

/// Runs the demo until Ctrl-C or SIGTERM.
pub async fn demo(args: DemoArgs) -> Result<(), AppError> {
    let dir = args.dir.as_path();
    std::fs::create_dir_all(dir)
        .map_err(|e| AppError::bad_request(format!("cannot create {}: {e}", dir.display())))?;
    if args.mutualisation {
        return super::demo_mutual::demo(args).await;
    }
    let mut logins = read_logins(dir);
    let running = open_all(dir, args.base_port, PLATFORMS, &mut logins).await?;
    let factory = &running[0].2;
    let factory_url = running[0].1.clone();
    let admin = factory
        .store
        .local_user(&pf_domain::user::Username::parse("admin")?)
        .await?;
    let course =
        pf_server::sample::ensure_sample_course(factory, &Actor::user(admin, Via::Cli)).await?;

    let served = serve_all(running)?;
    let handles = &served.handles;
    // The servers answer pairing requests now; pair the network and learn each other's trees.
    let pairing = pair_network(handles, PAIRS).await;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "publishflow demo: four platforms on this machine (Ctrl-C stops them)\n"
    )?;
    for (name, url, _) in handles {
        let password = logins
            .get(name)
            .map(String::as_str)
            .unwrap_or("(set before; see your notes)");
        writeln!(out, "  {name:<11} {url:<24} login: admin / {password}")?;
    }
    writeln!(
        out,
        "\nThe sample course is on the factory: {factory_url}/course/{course}"
    )?;
    match pairing {
        Ok(()) => writeln!(
            out,
            "The platforms are paired and scanned: see Network on each one."
        )?,
        Err(e) => writeln!(
            out,
            "Pairing failed ({}); the platforms run on their own.",
            e.message
        )?,
    }
    out.flush()?;
    drop(out);
    served.until_signal().await;
    Ok(())
}

/// A demo platform opened on its listener: name, URL, platform, listener.
pub(super) type Opened = (String, String, Platform, tokio::net::TcpListener);

/// Inits (first run) or opens each platform in `DIR/<name>`, listening on `base_port` plus its
/// offset (0: any free port); new admin passwords are recorded in `logins`.
pub(super) async fn open_all(
    dir: &Path,
    base_port: u16,
    platforms: &[(&str, PlatformRole, u16)],
    logins: &mut BTreeMap<String, String>,
) -> Result<Vec<Opened>, AppError> {
    let mut running = Vec::new();
    for (name, role, offset) in platforms {
        // A base port of 0 lets the system pick a free port for each platform (tests use it).
        let port = match base_port {
            0 => 0,
            base => base
                .checked_add(*offset)
                .ok_or_else(|| AppError::bad_request("--base-port is too high"))?,
        };
        let listen = format!("127.0.0.1:{port}");
        let listener = tokio::net::TcpListener::bind(&listen).await.map_err(|e| {
            AppError::bad_request(format!(
                "cannot listen on {listen} ({e}); choose another --base-port"
            ))
        })?;
        let url = format!("http://{}", listener.local_addr()?);
        let data = dir.join(name);
        if !data.join(pf_server::config::CONFIG_FILE).exists() {
            let report = init(
                &data,
                InitOptions {
                    role: *role,
                    name: name.to_string(),
                    url: url.clone(),
                    admin_password: None,
                    database_url: None,
                    blob_url: None,
                },
            )
            .await?;
            if let Some(pw) = report.generated_password {
                logins.insert(name.to_string(), pw);
                write_logins(dir, logins)?;
            }
        }
        let mut platform = Platform::open(&data).await?;
        let mut config = (*platform.config).clone();
        config.platform.url = url.clone();
        platform.config = Arc::new(config);
        running.push((name.to_string(), url, platform, listener));
    }
    Ok(running)
}

/// The demo platforms being served.
pub(super) struct Served {
    /// Name, URL and platform of each.
    pub handles: Vec<(String, String, Platform)>,
    servers: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
    stop: tokio::sync::watch::Sender<bool>,
}

/// Serves every opened platform from this process; each data dir announces its server.
pub(super) fn serve_all(running: Vec<Opened>) -> Result<Served, AppError> {
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let mut servers = Vec::new();
    let mut handles = Vec::new();
    for (name, url, platform, listener) in running {
        let mut rx = stop_rx.clone();
        // Each platform's data dir says a server runs there, so operation commands work on it.
        let marker = pf_server::presence::ServerMarker {
            listen: listener.local_addr()?,
            url: url.clone(),
            pid: std::process::id(),
        };
        pf_server::presence::announce(&platform.data_dir, &marker)?;
        handles.push((name, url, platform.clone()));
        servers.push(tokio::spawn(pf_server::serve(
            platform,
            listener,
            async move {
                let _ = rx.changed().await;
            },
        )));
    }
    Ok(Served {
        handles,
        servers,
        stop,
    })
}

impl Served {
    /// Waits for Ctrl-C or SIGTERM, then stops the servers and withdraws their announcements.
    pub(super) async fn until_signal(self) {
        super::platform::shutdown_signal().await;
        let _ = self.stop.send(true);
        for server in self.servers {
            let _ = server.await;
        }
        for (_, _, platform) in &self.handles {
            pf_server::presence::withdraw(&platform.data_dir);
        }
    }
}

/// Who pairs with whom: the catalog with everyone, the factory with the training platforms
/// (deploy for test, retrofit).
const PAIRS: &[(usize, usize)] = &[(0, 1), (1, 2), (1, 3), (0, 2), (0, 3)];

/// Pairs the demo platforms that are not paired yet (`(inviter, redeemer)` indexes), then scans
/// every peer.
pub(super) async fn pair_network(
    platforms: &[(String, String, Platform)],
    pairs: &[(usize, usize)],
) -> Result<(), AppError> {
    let admin_of = |p: &Platform| {
        let p = p.clone();
        async move {
            let admin = p
                .store
                .local_user(&pf_domain::user::Username::parse("admin")?)
                .await?;
            Ok::<_, AppError>(Actor::user(admin, Via::Cli))
        }
    };
    for (a, b) in pairs {
        let (_, _, inviter) = &platforms[*a];
        let (b_name, _, redeemer) = &platforms[*b];
        let (a_name, a_url, _) = &platforms[*a];
        let known = redeemer
            .store
            .peers()
            .await?
            .into_iter()
            .any(|peer| peer.name == *a_name);
        if known {
            continue;
        }
        let code = pf_server::services::pairing::invite(inviter, &admin_of(inviter).await?).await?;
        pf_server::services::pairing::redeem(redeemer, &admin_of(redeemer).await?, a_url, &code)
            .await?;
        tracing::info!(inviter = %a_name, redeemer = %b_name, "paired");
    }
    for (_, _, p) in platforms {
        pf_server::services::discovery::scan_all(p, None).await?;
    }
    Ok(())
}

pub(super) fn read_logins(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read(dir.join("logins.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

pub(super) fn write_logins(dir: &Path, logins: &BTreeMap<String, String>) -> Result<(), AppError> {
    let path = dir.join("logins.json");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)?;
    f.write_all(
        serde_json::to_string_pretty(logins)
            .map_err(AppError::internal)?
            .as_bytes(),
    )?;
    Ok(())
}
