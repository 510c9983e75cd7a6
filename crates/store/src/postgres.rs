//! The PostgreSQL backend: connection set-up and migrations.
//!
//! Chosen by a `postgres://` or `postgresql://` URL (a Unix socket is named with
//! `?host=/var/run/postgresql`). Several `serve` replicas may share the database; migrations take
//! a table lock so only one applies them.

use crate::migrate::Migration;
use crate::StoreResult;
use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;
use std::time::Duration;

/// PostgreSQL's migrations, oldest first. Never edit a released one: add a new file.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/postgres/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "archives",
        sql: include_str!("../migrations/postgres/0002_archives.sql"),
    },
    Migration {
        version: 3,
        name: "network",
        sql: include_str!("../migrations/postgres/0003_network.sql"),
    },
    Migration {
        version: 4,
        name: "sessions_mail",
        sql: include_str!("../migrations/postgres/0004_sessions_mail.sql"),
    },
    Migration {
        version: 5,
        name: "jobs",
        sql: include_str!("../migrations/postgres/0005_jobs.sql"),
    },
    Migration {
        version: 6,
        name: "publishing",
        sql: include_str!("../migrations/postgres/0006_publishing.sql"),
    },
    Migration {
        version: 7,
        name: "profile_rules",
        sql: include_str!("../migrations/postgres/0007_profile_rules.sql"),
    },
    Migration {
        version: 8,
        name: "mutualisation",
        sql: include_str!("../migrations/postgres/0008_mutualisation.sql"),
    },
    Migration {
        version: 9,
        name: "course_index",
        sql: include_str!("../migrations/postgres/0009_course_index.sql"),
    },
    Migration {
        version: 12,
        name: "mail_refusals",
        sql: include_str!("../migrations/postgres/0012_mail_refusals.sql"),
    },
    Migration {
        version: 15,
        name: "lineage_keys",
        sql: include_str!("../migrations/postgres/0015_lineage_keys.sql"),
    },
    Migration {
        version: 16,
        name: "archive_scans",
        sql: include_str!("../migrations/postgres/0016_archive_scans.sql"),
    },
];

/// Opens a pool on an existing database.
pub(crate) async fn connect(url: &str) -> StoreResult<AnyPool> {
    let pool = AnyPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(Duration::from_secs(30))
        .connect(url)
        .await?;
    Ok(pool)
}
