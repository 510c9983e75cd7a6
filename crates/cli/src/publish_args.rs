//! The operation commands' arguments (`publish`, `deploy`, `retrofit`, `publication status`), as
//! `../shared/CLI.md` "Operations" defines them.

use clap::{Args, Subcommand};
use std::path::PathBuf;

/// What every operation accepts.
#[derive(Debug, Args)]
pub struct JobFlags {
    /// The operation's idempotency key (generated when absent): a key runs at most once.
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Follow the job to its end (progress on stderr); exit 0 only if it ended done.
    #[arg(long)]
    pub wait: bool,
}

/// `publish COURSE …`
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The course (id or `shortname:NAME`).
    pub course: String,
    /// The catalog (chosen when only one is paired).
    #[arg(long)]
    pub catalog: Option<String>,
    /// publish, republish, update or unpublish.
    #[arg(long, default_value = "publish")]
    pub mode: String,
    /// Idempotency key and --wait.
    #[command(flatten)]
    pub job: JobFlags,
}

/// `deploy COURSE --to PEER|local …`
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The course (id or `shortname:NAME`).
    pub course: String,
    /// The training platform (a PEER), `local`, or `all` (every training platform where you
    /// may deploy: one job each).
    #[arg(long)]
    pub to: String,
    /// Accept the course's terms of use (needed when its catalog index has terms).
    #[arg(long)]
    pub accept_terms: bool,
    /// A category id on the target, from `peer categories` (default: its incoming category).
    #[arg(long)]
    pub category: Option<i64>,
    /// A file whose first line is the course's deploy key.
    #[arg(long)]
    pub key_file: Option<PathBuf>,
    /// Idempotency key and --wait.
    #[command(flatten)]
    pub job: JobFlags,
}

/// `retrofit COURSE [--to PEER] …`
#[derive(Debug, Args)]
pub struct RetrofitArgs {
    /// The course (id or `shortname:NAME`).
    pub course: String,
    /// The factory (chosen when only one is paired).
    #[arg(long)]
    pub to: Option<String>,
    /// Idempotency key and --wait.
    #[command(flatten)]
    pub job: JobFlags,
}

/// `publication …`
#[derive(Debug, Subcommand)]
pub enum PublicationCommand {
    /// The factory's view of a course's publication series on its catalogs.
    Status {
        /// The course.
        course: String,
    },
    /// On a catalog: let another source act on an idnumber's series.
    Link {
        /// The series' idnumber.
        idnumber: String,
        /// The source platform (PEER).
        peer: String,
    },
}
