//! The SQLite backend: connection set-up and migrations.
//!
//! The database is one file in the platform's data dir, shared by the server and the CLI. Every
//! connection runs in WAL mode with foreign keys on and a busy timeout of
//! [`BUSY_TIMEOUT_MS`], so a CLI command waits for the server's write instead of failing.
//! Write transactions start with `BEGIN IMMEDIATE` (see `Store::write_tx`).

use crate::migrate::Migration;
use crate::{StoreError, StoreResult};
use sqlx::any::AnyPoolOptions;
use sqlx::pool::PoolConnectionMetadata;
use sqlx::Executor;
use sqlx::{AnyConnection, AnyPool};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

/// How long a connection waits for another writer before giving up (milliseconds).
pub const BUSY_TIMEOUT_MS: u64 = 10_000;

/// SQLite's migrations, oldest first. Never edit a released one: add a new file.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/sqlite/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "archives",
        sql: include_str!("../migrations/sqlite/0002_archives.sql"),
    },
    Migration {
        version: 3,
        name: "network",
        sql: include_str!("../migrations/sqlite/0003_network.sql"),
    },
    Migration {
        version: 4,
        name: "sessions_mail",
        sql: include_str!("../migrations/sqlite/0004_sessions_mail.sql"),
    },
    Migration {
        version: 5,
        name: "jobs",
        sql: include_str!("../migrations/sqlite/0005_jobs.sql"),
    },
    Migration {
        version: 6,
        name: "publishing",
        sql: include_str!("../migrations/sqlite/0006_publishing.sql"),
    },
    Migration {
        version: 7,
        name: "profile_rules",
        sql: include_str!("../migrations/sqlite/0007_profile_rules.sql"),
    },
    Migration {
        version: 8,
        name: "mutualisation",
        sql: include_str!("../migrations/sqlite/0008_mutualisation.sql"),
    },
    Migration {
        version: 9,
        name: "course_index",
        sql: include_str!("../migrations/sqlite/0009_course_index.sql"),
    },
    Migration {
        version: 12,
        name: "mail_refusals",
        sql: include_str!("../migrations/sqlite/0012_mail_refusals.sql"),
    },
    Migration {
        version: 15,
        name: "lineage_keys",
        sql: include_str!("../migrations/sqlite/0015_lineage_keys.sql"),
    },
    Migration {
        version: 16,
        name: "archive_scans",
        sql: include_str!("../migrations/sqlite/0016_archive_scans.sql"),
    },
];

/// The file named by a `sqlite://PATH` or `sqlite:PATH` URL.
pub fn path_of(url: &str) -> StoreResult<&Path> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    if rest.is_empty() || rest.contains('?') || rest.contains('#') || rest.starts_with(":memory:") {
        return Err(StoreError::Url(
            "an SQLite URL must name a file, without parameters (sqlite://PATH)".into(),
        ));
    }
    Ok(Path::new(rest))
}

type ConnectHook<'c> = Pin<Box<dyn Future<Output = Result<(), sqlx::Error>> + Send + 'c>>;

fn configure(conn: &mut AnyConnection, _meta: PoolConnectionMetadata) -> ConnectHook<'_> {
    Box::pin(async move {
        let pragmas = format!(
            "PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; PRAGMA foreign_keys = ON; \
             PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
        );
        conn.execute(pragmas.as_str()).await?;
        Ok(())
    })
}

/// Creates the file if needed (mode 0600) and opens a pool whose connections are configured.
pub(crate) async fn connect(url: &str) -> StoreResult<AnyPool> {
    let path = path_of(url)?;
    create_private_file(path)?;
    let pool = AnyPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(60))
        .after_connect(configure)
        .connect(&format!("sqlite://{}", path.display()))
        .await?;
    Ok(pool)
}

/// Creates the database file with mode 0600 when it does not exist yet.
///
/// An existing file is never opened here: closing any descriptor of a file drops every POSIX
/// lock this process holds on it, so opening and closing the database outside SQLite while a
/// pool of the same process has it open (a second `Store` on the same file: a CLI-style call
/// inside a test, `demo`) would silently release the pool's locks and let writers collide.
fn create_private_file(path: &Path) -> StoreResult<()> {
    if path.exists() {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.create_new(true).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        // Another process created it meanwhile: it is theirs to have made private.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e.into()),
    }
}
