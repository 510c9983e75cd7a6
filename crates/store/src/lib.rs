//! publishflow's storage: everything a platform keeps, behind one [`Store`].
//!
//! - [`Store`] talks to **SQLite** (the embedded default: one file in the data dir, WAL, a busy
//!   timeout so the CLI and the server share it) or **PostgreSQL** (chosen by a `postgres://` URL,
//!   for replicas sharing one database). The query code is shared and written in the SQL both
//!   accept (`$N` placeholders, `RETURNING`, `ON CONFLICT`, BIGINT ids and unix-second times,
//!   booleans as 0/1 integers); each backend has its own connection set-up and its own migrations
//!   ([`sqlite`], [`postgres`], run by [`migrate`]).
//! - Records and inputs use the domain's newtypes (`Shortname`, `Username`, typed ids…), so the
//!   inside never re-validates strings.
//! - Every multi-row change is one transaction.
//! - [`blob`] is the content-addressed blob store (SHA-256 keys, atomic writes, verified reads).
//!
//! Errors are one [`StoreError`]: `NotFound`, `Conflict` and `Invalid` are meant for users; the rest
//! is logged and answered generically.
//!
//! The conformance suite (`tests/conformance.rs`) runs every test on a fresh SQLite database, and
//! also on a fresh PostgreSQL database per test when `PUBLISHFLOW_TEST_DATABASE_URL` names a
//! server whose user may create databases, e.g.
//! `PUBLISHFLOW_TEST_DATABASE_URL='postgres:///root?host=/var/run/postgresql' cargo test -p pf-store`.
//!
//! Every query reads its whole result (`fetch_all`), never `fetch_one`/`fetch_optional`: on
//! SQLite, sqlx resets a statement whose stream was dropped early on its worker thread, later,
//! and until then the connection keeps its read snapshot (sqlx #2543), so a server could miss
//! what a CLI process just committed.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod activities;
mod archive_scans;
mod archives;
mod audit;
mod auth;
pub mod blob;
mod categories;
mod course_index;
mod courses;
mod error;
mod files;
mod graft;
mod import;
mod jobs;
pub mod migrate;
mod mutual;
mod network;
mod outbox;
mod peers;
pub mod postgres;
mod publishing;
mod replace;
mod roles;
mod rules;
mod sections;
mod sessions;
mod settings;
pub mod sqlite;
mod trash;
mod users;

pub use activities::{ActivityRecord, NewActivity};
pub use archive_scans::ArchiveScan;
pub use archives::{ArchiveRecord, NewArchive};
pub use audit::{AuditRecord, NewAudit};
pub use auth::{NewSession, NewToken, SessionRecord, TokenRecord};
pub use categories::{CategoryUpdate, NewCategory};
pub use course_index::IndexEntry;
pub use courses::{CourseQuery, CourseRecord, CourseUpdate, NewCourse};
pub use error::{StoreError, StoreResult};
pub use files::{FileRecord, NewFile};
pub use graft::{AddedContent, ContentAddition};
pub use import::{CourseTree, ImportedCourse, TreeActivity, TreeFile, TreeSection};
pub use jobs::{JobOutcome, JobRecord, NewJob};
pub use mutual::StoredDelegation;
pub use network::{LivePairingCode, MAX_PAIRING_FAILURES};
pub use outbox::{MailRecord, MailTemplate, NewMail};
pub use peers::{NewPeer, PeerRecord, PeerStatus, RemoteCategoryRecord};
pub use publishing::{Lineage, NewVersion, ReceivedArchive, ReceivedCourse, SeriesRecord};
pub use roles::EnrolmentRecord;
pub use rules::RuleRecord;
pub use sections::{NewSection, SectionRecord};
pub use sessions::{SessionChange, SessionOutcome};
pub use trash::TRASH_RETENTION_SECS;
pub use users::{NewUser, UserRecord, UserUpdate};

use sqlx::any::Any;
use sqlx::AnyPool;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file (the embedded default).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// Recognises the backend from a database URL (`sqlite:`, `postgres:` or `postgresql:`).
    pub fn from_url(url: &str) -> StoreResult<Backend> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            let scheme = url.split(':').next().unwrap_or_default();
            Err(StoreError::Url(format!(
                "'{scheme}:' (expected sqlite:// or postgres://)"
            )))
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// The platform's database. Cheap to clone: clones share one connection pool.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the database named by `url` and brings its schema up to date.
    ///
    /// `sqlite://PATH` (or `sqlite:PATH`) creates the file if needed (mode 0600);
    /// `postgres://…` / `postgresql://…` connects to an existing database.
    pub async fn connect(url: &str) -> StoreResult<Store> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let pool = match backend {
            Backend::Sqlite => sqlite::connect(url).await?,
            Backend::Postgres => postgres::connect(url).await?,
        };
        let store = Store { pool, backend };
        migrate::run(&store).await?;
        Ok(store)
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Checks the database answers (for readiness probes).
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .next()
            .ok_or(sqlx::Error::RowNotFound)?;
        Ok(())
    }

    /// Closes every connection; the store is unusable afterwards.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a write transaction.
    ///
    /// On SQLite it takes the write lock up front (`BEGIN IMMEDIATE`), so a transaction that reads
    /// before it writes waits its turn (busy timeout) instead of failing on a stale snapshot.
    pub(crate) async fn write_tx(&self) -> StoreResult<sqlx::Transaction<'static, Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// Now, in unix seconds (UTC).
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Booleans are stored as 0/1 integers: the `Any` driver does not decode SQLite booleans.
pub(crate) fn flag(b: bool) -> i64 {
    i64::from(b)
}

/// Reads a 0/1 integer column as a boolean.
pub(crate) fn get_flag(row: &sqlx::any::AnyRow, col: &str) -> StoreResult<bool> {
    use sqlx::Row;
    Ok(row.try_get::<i64, _>(col)? != 0)
}

/// Reads a JSON text column.
pub(crate) fn get_json(row: &sqlx::any::AnyRow, col: &str) -> StoreResult<serde_json::Value> {
    use sqlx::Row;
    let text: Option<String> = row.try_get(col)?;
    match text {
        None => Ok(serde_json::Value::Null),
        Some(t) => serde_json::from_str(&t)
            .map_err(|_| StoreError::corrupt(format!("JSON in column {col}"))),
    }
}

/// Writes a JSON document as text.
pub(crate) fn json_text(value: &serde_json::Value) -> String {
    value.to_string()
}
