//! A platform's data dir: created by `init`, opened by `serve` and every CLI command.
//!
//! Layout: `publishflow.toml` (config), `publishflow.db` (SQLite, unless the config names
//! PostgreSQL), `blobs/` (content-addressed files), `identity.key` (Ed25519, 0600). The dir is
//! 0700 and every file 0600: it holds password hashes and the platform's private key.

use crate::config::{Config, CONFIG_FILE};
use crate::error::AppError;
use crate::password;
use pf_domain::access::{Context, RoleName};
use pf_domain::platform::{initial_categories, LandingPurpose, PlatformRole};
use pf_domain::user::{Home, Username};
use pf_store::blob::{BlobStore, LocalBlobStore};
use pf_store::{NewCategory, NewUser, Store};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The private key's file name inside the data dir.
pub const KEY_FILE: &str = "identity.key";

/// Everything a running platform (or one CLI command) works with.
#[derive(Clone)]
pub struct Platform {
    /// The data dir.
    pub data_dir: PathBuf,
    /// The validated configuration.
    pub config: Arc<Config>,
    /// The database.
    pub store: Store,
    /// Course files and archives, by SHA-256.
    pub blobs: Arc<dyn BlobStore>,
    /// The platform's Ed25519 identity.
    pub identity: Arc<pf_net::keys::Identity>,
    /// Wakes this process's job runner when a job is queued here.
    pub wakeup: crate::jobs::Wakeup,
    /// The clock of the network rules (pairing codes, signatures, nonces, scans): the system
    /// clock, replaced by a `ManualClock` in tests so expiry is tested without waiting.
    pub clock: Arc<dyn pf_net::Clock>,
}

/// What `init` needs; validated before anything is written.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The platform's role.
    pub role: PlatformRole,
    /// Its display name, also its name on the network.
    pub name: String,
    /// Public base URL.
    pub url: String,
    /// The admin's password; generated when absent.
    pub admin_password: Option<String>,
    /// `postgres://…` to use PostgreSQL instead of the embedded SQLite file.
    pub database_url: Option<String>,
    /// Blob store URL (`file://DIR`).
    pub blob_url: Option<String>,
}

/// What `init` reports.
#[derive(Debug)]
pub struct InitReport {
    /// The generated admin password, to print once (None when it came from a file).
    pub generated_password: Option<String>,
    /// The key fingerprint.
    pub fingerprint: String,
}

/// Setting keys the platform keeps in its database (editable in the admin settings page).
pub mod settings {
    /// Display and network name.
    pub const NAME: &str = "platform.name";
    /// Role name (`factory`, …).
    pub const ROLE: &str = "platform.role";
    /// Category id where received courses land.
    pub const LANDING_CATEGORY: &str = "category.landing";
    /// Training: category of running sessions.
    pub const RUNNING_CATEGORY: &str = "category.running";
    /// Training: category of closed sessions.
    pub const CLOSED_CATEGORY: &str = "category.closed";
    /// Days a trashed course can be restored.
    pub const TRASH_DAYS: &str = "retention.trash_days";
    /// Days audit entries are kept.
    pub const AUDIT_DAYS: &str = "retention.audit_days";
    /// Transport archives kept per course.
    pub const ARCHIVES_KEPT: &str = "archives.keep";
    /// Hours between scheduled network scans (default 12; 0 turns the schedule off).
    pub const SCAN_HOURS: &str = "network.scan_hours";
}

fn landing_setting(purpose: LandingPurpose) -> &'static str {
    match purpose {
        LandingPurpose::Landing => settings::LANDING_CATEGORY,
        LandingPurpose::Running => settings::RUNNING_CATEGORY,
        LandingPurpose::Closed => settings::CLOSED_CATEGORY,
    }
}

/// Validates a platform name: 1–64 characters of letters, digits, `-`, `_`, `.` and spaces.
pub fn parse_platform_name(name: &str) -> Result<String, AppError> {
    let n = name.trim();
    let ok = !n.is_empty()
        && n.chars().count() <= 64
        && n.chars().all(|c| c.is_alphanumeric() || " -_.".contains(c));
    if ok {
        Ok(n.to_string())
    } else {
        Err(AppError::bad_request(format!(
            "platform name '{name}' must be 1 to 64 letters, digits, spaces, '-', '_' or '.'"
        )))
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Creates a new platform in `dir` (which must be absent or empty).
pub async fn init(dir: &Path, opts: InitOptions) -> Result<InitReport, AppError> {
    let name = parse_platform_name(&opts.name)?;
    let mut config = Config::default();
    config.platform.url = opts.url.trim_end_matches('/').to_string();
    if let Some(db) = &opts.database_url {
        config.database.url = crate::config::Secret(db.clone());
    }
    if let Some(blob) = &opts.blob_url {
        config.blobs.url = blob.clone();
    }
    let config_text = toml::to_string(&config).map_err(AppError::internal)?;
    // Re-read what we are about to write: the same validation as every later start.
    let config = Config::from_sources(&config_text, std::iter::empty())
        .map_err(|e| AppError::bad_request(e.to_string()))?;
    if let Some(pw) = &opts.admin_password {
        password::check_strength(pw)?;
    }
    let created_dir = prepare_empty_dir(dir)?;
    let result = populate(dir, &config, &config_text, &name, opts).await;
    if result.is_err() && created_dir {
        // Nothing of a half-made platform stays behind; the dir was ours and empty.
        let _ = std::fs::remove_dir_all(dir);
    }
    result
}

/// Makes sure `dir` exists, is empty and is 0700. Returns whether it was created.
fn prepare_empty_dir(dir: &Path) -> Result<bool, AppError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(AppError::bad_request(format!(
                    "{} is not empty; init needs a new or empty directory",
                    dir.display()
                )));
            }
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
            Ok(false)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| {
                    AppError::bad_request(format!("cannot create {}: {e}", dir.display()))
                })?;
            Ok(true)
        }
        Err(e) => Err(AppError::bad_request(format!(
            "cannot use {}: {e}",
            dir.display()
        ))),
    }
}

async fn populate(
    dir: &Path,
    config: &Config,
    config_text: &str,
    name: &str,
    opts: InitOptions,
) -> Result<InitReport, AppError> {
    write_private(&dir.join(CONFIG_FILE), config_text.as_bytes())?;
    let identity = pf_net::keys::Identity::generate();
    identity
        .save(&dir.join(KEY_FILE))
        .map_err(AppError::internal)?;
    let db_url = config.database_url(dir);
    if let Some(path) = db_url.strip_prefix("sqlite://") {
        // Created here so it is 0600 from the start; SQLite gives its WAL files the same mode.
        write_private(Path::new(path), b"")?;
    }
    let store = Store::connect(&db_url).await?;
    LocalBlobStore::open(config.blob_dir(dir)).map_err(AppError::internal)?;
    store.set_setting(settings::NAME, name).await?;
    store
        .set_setting(settings::ROLE, opts.role.as_str())
        .await?;
    for (purpose, cat_name, idnumber) in initial_categories(opts.role) {
        let id = store
            .create_category(NewCategory {
                parent: None,
                name: cat_name.to_string(),
                idnumber: idnumber.to_string(),
                visible: true,
            })
            .await?;
        store
            .set_setting(landing_setting(purpose), &id.0.to_string())
            .await?;
    }
    let (password, generated) = match opts.admin_password {
        Some(p) => (p, None),
        None => {
            let p = password::generate();
            (p.clone(), Some(p))
        }
    };
    let hash = password::hash(&password)?;
    let admin = store
        .create_user(NewUser {
            username: Username::parse("admin")?,
            home: Home::Local,
            password_hash: Some(hash),
            email: String::new(),
            fullname: "Administrator".into(),
            lang: "en".into(),
        })
        .await?;
    store
        .assign_role(admin, RoleName::Admin, Context::System)
        .await?;
    let fingerprint = identity.fingerprint().to_string();
    store.close().await;
    Ok(InitReport {
        generated_password: generated,
        fingerprint,
    })
}

impl Platform {
    /// Opens an existing platform's data dir.
    pub async fn open(dir: &Path) -> Result<Platform, AppError> {
        if !dir.join(CONFIG_FILE).exists() {
            return Err(AppError::bad_request(format!(
                "{} is not a publishflow data dir (run `publishflow init` first)",
                dir.display()
            )));
        }
        let config = Config::load(dir).map_err(|e| AppError::bad_request(e.to_string()))?;
        let store = Store::connect(&config.database_url(dir)).await?;
        let blobs = LocalBlobStore::open(config.blob_dir(dir)).map_err(AppError::internal)?;
        let identity = pf_net::keys::Identity::load(&dir.join(KEY_FILE))
            .map_err(|e| AppError::bad_request(e.to_string()))?;
        Ok(Platform {
            data_dir: dir.to_path_buf(),
            config: Arc::new(config),
            store,
            blobs: Arc::new(blobs),
            identity: Arc::new(identity),
            wakeup: crate::jobs::Wakeup::default(),
            clock: Arc::new(pf_net::SystemClock),
        })
    }

    /// The platform's name (from its settings).
    pub async fn name(&self) -> Result<String, AppError> {
        Ok(self
            .store
            .setting(settings::NAME)
            .await?
            .unwrap_or_else(|| "publishflow".into()))
    }

    /// The platform's role (from its settings).
    pub async fn role(&self) -> Result<PlatformRole, AppError> {
        let raw = self
            .store
            .setting(settings::ROLE)
            .await?
            .unwrap_or_else(|| "normal".into());
        Ok(raw.parse()?)
    }

    /// A numeric setting, or its default.
    pub async fn setting_i64(&self, key: &str, default: i64) -> Result<i64, AppError> {
        Ok(self
            .store
            .setting(key)
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(default))
    }
}
