//! The storage conformance suite: every test runs on a fresh SQLite database always, and on a
//! fresh PostgreSQL database (created and dropped per test) when `PUBLISHFLOW_TEST_DATABASE_URL`
//! is set. An unreachable PostgreSQL fails the run; it is never skipped silently.

#[path = "conformance/harness.rs"]
mod harness;

#[path = "conformance/catalog.rs"]
mod catalog;

#[path = "conformance/content.rs"]
mod content;

#[path = "conformance/people.rs"]
mod people;

#[path = "conformance/auth.rs"]
mod auth;

#[path = "conformance/blob.rs"]
mod blob;

#[path = "conformance/archive_scans.rs"]
mod archive_scans;
#[path = "conformance/archives.rs"]
mod archives;
#[path = "conformance/jobs.rs"]
mod jobs;
#[path = "conformance/network.rs"]
mod network;
#[path = "conformance/publishing.rs"]
mod publishing;
#[path = "conformance/sessions.rs"]
mod sessions;

#[path = "conformance/rules.rs"]
mod rules;

#[path = "conformance/course_index.rs"]
mod course_index;
#[path = "conformance/mutual.rs"]
mod mutual;
