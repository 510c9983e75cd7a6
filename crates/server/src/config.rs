//! The platform's configuration: one typed tree, read as defaults → file → environment.
//!
//! The file is `publishflow.toml` in the data dir, written by `init`. Any leaf can be overridden by
//! an environment variable named `PUBLISHFLOW_<SECTION>_<KEY>` in capitals
//! (`PUBLISHFLOW_SERVER_LISTEN=0.0.0.0:8080`). Relative paths are relative to the data dir.
//! Validation happens once, at load; the rest of the program trusts the values.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// The configuration file's name inside the data dir.
pub const CONFIG_FILE: &str = "publishflow.toml";

/// The whole configuration. Sections need no defaults of their own: the file is merged over
/// [`Config::default`] before it is read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Who this platform is.
    pub platform: PlatformSection,
    /// The HTTP listener.
    pub server: ServerSection,
    /// The SQL database.
    pub database: DatabaseSection,
    /// The blob store.
    pub blobs: BlobSection,
    /// Web sessions and logins.
    pub security: SecuritySection,
    /// Outgoing mail (SMTP); without a server, messages stay in the outbox.
    #[serde(default)]
    pub mail: crate::mail::MailSection,
    /// The job runner.
    pub jobs: JobsSection,
    /// Deploys arriving here: the post-deploy hook.
    #[serde(default)]
    pub deploy: crate::services::publishing::hook::DeploySection,
    /// How archive parts move (SPEC §6.4): transports offered, the shared-fs root, the
    /// rpc-inline limit.
    #[serde(default)]
    pub transfer: crate::services::publishing::transport::TransferSection,
}

/// `[jobs]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsSection {
    /// Jobs run at once by this process.
    pub workers: usize,
    /// Restores run at once on this platform (all replicas together).
    pub max_restores: i64,
    /// Wait before the first retry of a transient failure, in seconds (doubling after).
    pub retry_base_seconds: u64,
    /// A running job whose runner has not beaten for this long is taken back (a killed
    /// process); runners beat at a sixth of it, at most every 10 s.
    #[serde(default = "default_stale_after")]
    pub stale_after_seconds: i64,
}

fn default_stale_after() -> i64 {
    60
}

/// `[platform]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformSection {
    /// The public base URL peers and browsers use (`https://learn.example.org`). A port of 0 is
    /// replaced by the bound port when serving.
    pub url: String,
}

/// `[server]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Address to listen on; `serve --listen` overrides it.
    pub listen: String,
    /// Largest form or JSON body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Largest upload (course files, archives), in bytes.
    pub max_upload_bytes: u64,
}

/// `[database]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSection {
    /// `sqlite://FILE` (relative to the data dir) or `postgres://…`.
    pub url: Secret,
}

/// `[blobs]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobSection {
    /// `file://DIR` (relative to the data dir). S3-compatible stores come later.
    pub url: String,
}

/// `[security]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySection {
    /// How long a web session lasts, in hours.
    pub session_hours: i64,
    /// Failed logins allowed per account and per address within `login_window_minutes`.
    pub login_max_failures: i64,
    /// The window for counting failed logins, in minutes.
    pub login_window_minutes: i64,
    /// How long a personal API token lasts by default, in days.
    pub token_days: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            platform: PlatformSection {
                url: "http://127.0.0.1:8080".into(),
            },
            server: ServerSection {
                listen: "127.0.0.1:8080".into(),
                max_body_bytes: 1 << 20,
                max_upload_bytes: 512 << 20,
            },
            database: DatabaseSection {
                url: Secret("sqlite://publishflow.db".into()),
            },
            blobs: BlobSection {
                url: "file://blobs".into(),
            },
            security: SecuritySection {
                session_hours: 12,
                login_max_failures: 5,
                login_window_minutes: 15,
                token_days: 90,
            },
            jobs: JobsSection {
                workers: 4,
                max_restores: 2,
                retry_base_seconds: 5,
                stale_after_seconds: default_stale_after(),
            },
            mail: crate::mail::MailSection::default(),
            deploy: crate::services::publishing::hook::DeploySection::default(),
            transfer: crate::services::publishing::transport::TransferSection::default(),
        }
    }
}

/// A value that must never be printed (database URLs carry passwords).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file or an environment variable is not valid.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Loads `DIR/publishflow.toml` over the defaults, then the environment, then validates.
    pub fn load(data_dir: &Path) -> Result<Config, ConfigError> {
        let path = data_dir.join(CONFIG_FILE);
        let text =
            std::fs::read_to_string(&path).map_err(|source| ConfigError::Read { path, source })?;
        Config::from_sources(&text, std::env::vars())
    }

    /// Builds a configuration from a file's text and environment variables (testable form).
    pub fn from_sources(
        file_text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let invalid = |e: &dyn fmt::Display| ConfigError::Invalid(e.to_string());
        let mut tree = toml::Value::try_from(Config::default()).map_err(|e| invalid(&e))?;
        let file: toml::Value = toml::from_str(file_text).map_err(|e| invalid(&e))?;
        merge(&mut tree, file);
        let env: Vec<(String, String)> = env.into_iter().collect();
        apply_env(&mut tree, &env)?;
        let config: Config = tree.try_into().map_err(|e: toml::de::Error| invalid(&e))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        let url = &self.platform.url;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return bad(format!(
                "platform.url '{url}' must start with http:// or https://"
            ));
        }
        let db = self.database.url.expose();
        if !["sqlite://", "postgres://", "postgresql://"]
            .iter()
            .any(|p| db.starts_with(p))
        {
            return bad("database.url must start with sqlite:// or postgres://".into());
        }
        if !self.blobs.url.starts_with("file://") {
            return bad(format!(
                "blobs.url '{}' must start with file:// (S3 comes later)",
                self.blobs.url
            ));
        }
        self.mail.validate().map_err(ConfigError::Invalid)?;
        self.transfer.validate().map_err(ConfigError::Invalid)?;
        if self.security.session_hours < 1 || self.security.login_max_failures < 1 {
            return bad("security values must be positive".into());
        }
        Ok(())
    }

    /// Whether cookies must carry `Secure` (the public URL is https).
    pub fn is_https(&self) -> bool {
        self.platform.url.starts_with("https://")
    }

    /// The database URL with a relative SQLite path resolved against the data dir.
    pub fn database_url(&self, data_dir: &Path) -> String {
        let url = self.database.url.expose();
        match url.strip_prefix("sqlite://") {
            Some(path) if !Path::new(path).is_absolute() => {
                format!("sqlite://{}", data_dir.join(path).display())
            }
            _ => url.to_string(),
        }
    }

    /// The local blob directory, resolved against the data dir.
    pub fn blob_dir(&self, data_dir: &Path) -> PathBuf {
        let path = self.blobs.url.trim_start_matches("file://");
        data_dir.join(path)
    }
}

fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// Overrides leaves from `PUBLISHFLOW_<SECTION>_<KEY>`, typed like the default value.
fn apply_env(tree: &mut toml::Value, env: &[(String, String)]) -> Result<(), ConfigError> {
    let toml::Value::Table(sections) = tree else {
        return Ok(());
    };
    for (section, leaves) in sections.iter_mut() {
        let toml::Value::Table(leaves) = leaves else {
            continue;
        };
        for (key, value) in leaves.iter_mut() {
            let name = format!("PUBLISHFLOW_{}_{}", section, key).to_uppercase();
            let Some((_, raw)) = env.iter().find(|(k, _)| *k == name) else {
                continue;
            };
            let bad = || {
                ConfigError::Invalid(format!(
                    "{name}='{raw}' is not a valid {}",
                    value.type_str()
                ))
            };
            *value = match value {
                toml::Value::Integer(_) => toml::Value::Integer(raw.parse().map_err(|_| bad())?),
                toml::Value::Boolean(_) => toml::Value::Boolean(raw.parse().map_err(|_| bad())?),
                _ => toml::Value::String(raw.clone()),
            };
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_environment_override_defaults() {
        let file = "[platform]\nurl = \"https://f.example\"\n[server]\nlisten = \"0.0.0.0:9000\"\n";
        let env = [(
            "PUBLISHFLOW_SERVER_LISTEN".to_string(),
            "127.0.0.1:0".to_string(),
        )];
        let c = Config::from_sources(file, env).unwrap();
        assert_eq!(c.platform.url, "https://f.example");
        assert_eq!(c.server.listen, "127.0.0.1:0");
        assert_eq!(c.security.session_hours, 12);
        assert!(c.is_https());
    }

    #[test]
    fn bad_values_are_refused_with_their_name() {
        let env = [(
            "PUBLISHFLOW_SECURITY_SESSION_HOURS".to_string(),
            "soon".to_string(),
        )];
        let err = Config::from_sources("", env).unwrap_err().to_string();
        assert!(err.contains("PUBLISHFLOW_SECURITY_SESSION_HOURS"), "{err}");
        assert!(Config::from_sources("[platform]\nurl = \"ftp://x\"", []).is_err());
        assert!(Config::from_sources("[nope]\nx = 1", []).is_err());
    }

    #[test]
    fn secrets_do_not_print() {
        let c = Config::default();
        assert!(!format!("{c:?}").contains("sqlite://"));
    }
}
