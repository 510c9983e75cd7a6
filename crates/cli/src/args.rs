//! The command line as `../shared/CLI.md` defines it (a contract: add, never rename).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// publishflow: link learning platforms into a course publishing network.
#[derive(Debug, Parser)]
#[command(name = "publishflow", version, about, propagate_version = true)]
pub struct Cli {
    /// The platform's data dir.
    #[arg(
        long,
        global = true,
        env = "PUBLISHFLOW_DATA_DIR",
        default_value = "./publishflow-data"
    )]
    pub data_dir: PathBuf,
    /// Print exactly one JSON document on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// Act as this local user instead of the platform admin.
    #[arg(long = "as", global = true, value_name = "USER")]
    pub as_user: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a platform in a new data dir.
    Init(InitArgs),
    /// Run the platform (web UI, API, peer RPC, jobs).
    Serve(ServeArgs),
    /// Start a factory, a catalog and two training platforms on this machine, with a sample course.
    Demo(DemoArgs),
    /// Accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Categories.
    #[command(subcommand)]
    Category(CategoryCommand),
    /// Courses.
    #[command(subcommand)]
    Course(CourseCommand),
    /// Personal API tokens of the acting user.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Jobs (operations run by the server).
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Course sessions on training platforms (open / close).
    #[command(subcommand)]
    Session(SessionCommand),
    /// Mail waiting, delivered, or kept without an SMTP server.
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// Transport archives of a course.
    #[command(subcommand)]
    Archive(ArchiveCommand),
    /// Paired platforms.
    #[command(subcommand)]
    Peer(crate::network_args::PeerCommand),
    /// The network as a whole.
    #[command(subcommand)]
    Network(crate::network_args::NetworkCommand),
    /// This platform's identity key.
    #[command(subcommand)]
    Keys(crate::network_args::KeysCommand),
    /// Publish a course to a catalog (a job).
    Publish(crate::publish_args::PublishArgs),
    /// Deploy a course to a training platform (a job).
    Deploy(crate::publish_args::DeployArgs),
    /// Send a course back to its factory (a job).
    Retrofit(crate::publish_args::RetrofitArgs),
    /// Publication series as the factory sees them.
    #[command(subcommand)]
    Publication(crate::publish_args::PublicationCommand),
    /// Profile rules (consult / deploy) and the fields trusted per peer.
    #[command(subcommand)]
    Rules(crate::mutual_args::RulesCommand),
    /// Profile values of local accounts.
    #[command(subcommand)]
    Profile(crate::mutual_args::ProfileCommand),
    /// Mutualisation settings (assigned category field, roaming account retention).
    #[command(subcommand)]
    Mutual(crate::mutual_args::MutualCommand),
    /// The blob store (administrators).
    #[command(subcommand)]
    Blobs(BlobsCommand),
}

/// `blobs …`
#[derive(Debug, Subcommand)]
pub enum BlobsCommand {
    /// Deletes the blobs nothing refers to that are older than one day; prints counts and bytes.
    Gc {
        /// Only count what would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `jobs …`
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// The jobs the acting user may see, newest first.
    List,
    /// One job.
    Show {
        /// Job id.
        id: i64,
    },
    /// Follows a job until it ends (progress on stderr); exit 0 if it ended done.
    Watch {
        /// Job id.
        id: i64,
    },
    /// Cancels a job (at once when queued, at its next step when running).
    Cancel {
        /// Job id.
        id: i64,
    },
}

/// `session …` (COURSE is a numeric id or `shortname:NAME`)
#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// Open or reopen a course's session: Incoming or Closed → Running, visible, switched
    /// students switched back.
    Open {
        /// The course.
        course: String,
        /// E-mail everyone with a role in the course.
        #[arg(long)]
        notify: bool,
        /// Take today as the start date (activity dates shift alike).
        #[arg(long)]
        reset_start_date: bool,
        /// A catalog opens COURSE (a course id there) on this training platform (PEER).
        #[arg(long)]
        on: Option<String>,
    },
    /// Close a course's session: Incoming or Running → Closed, then private, protected or public.
    Close {
        /// The course.
        course: String,
        /// private (hidden), protected (students read only) or public (protected + guests).
        #[arg(long)]
        mode: String,
        /// A catalog closes COURSE (a course id there) on this training platform (PEER).
        #[arg(long)]
        on: Option<String>,
    },
}

/// `outbox …`
#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// List messages, newest first.
    List,
    /// Send every queued message now through the configured SMTP server (failures stay queued).
    Deliver,
}

/// `archive …` (COURSE is a numeric id or `shortname:NAME`)
#[derive(Debug, Subcommand)]
pub enum ArchiveCommand {
    /// Make a transport archive of the course as it is now.
    Make {
        /// The course.
        course: String,
    },
    /// List the course's transport archives, newest first.
    List {
        /// The course.
        course: String,
    },
}

/// `token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; its secret is printed once.
    Create {
        /// A name to recognise it by.
        #[arg(long)]
        name: String,
        /// Days it stays valid.
        #[arg(long)]
        days: Option<i64>,
    },
    /// List the acting user's tokens.
    List,
    /// Revoke a token by id.
    Revoke {
        /// The token's id.
        id: i64,
    },
}

/// `init`
#[derive(Debug, Args)]
pub struct InitArgs {
    /// factory, catalog, training, factory_catalog, factory_training or normal.
    #[arg(long)]
    pub role: String,
    /// The platform's name on the network.
    #[arg(long)]
    pub name: String,
    /// Public base URL (a port of 0 takes the bound port at `serve`).
    #[arg(long)]
    pub url: String,
    /// A file whose first line is the admin password (else one is generated and printed once).
    #[arg(long)]
    pub admin_password_file: Option<PathBuf>,
    /// `postgres://…` to use PostgreSQL instead of the embedded SQLite file.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Blob store URL (`file://DIR`).
    #[arg(long)]
    pub blob_url: Option<String>,
}

/// `demo`
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the demo platforms live (reused on a rerun).
    #[arg(long, default_value = "./publishflow-demo")]
    pub dir: std::path::PathBuf,
    /// The factory listens here; the catalog and training platforms on the next three ports.
    #[arg(long, default_value_t = 8180)]
    pub base_port: u16,
    /// Instead: a common catalog and two establishments sharing courses (SPEC §8), with a demo
    /// teacher who jumps to the catalog and deploys a copy home in one click.
    #[arg(long)]
    pub mutualisation: bool,
}

/// `serve`
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    #[arg(long)]
    pub listen: Option<String>,
}

/// `user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a local account.
    Add {
        /// The username.
        username: String,
        /// A file whose first line is the password.
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// E-mail address.
        #[arg(long, default_value = "")]
        email: String,
        /// Full name.
        #[arg(long, default_value = "")]
        fullname: String,
        /// Language (en, fr).
        #[arg(long, default_value = "en")]
        lang: String,
        /// ROLE[@CONTEXT], CONTEXT being system (default), category:ID or course:ID. Repeatable.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// KEY=VALUE profile field (admin-managed). Repeatable.
        #[arg(long = "profile")]
        profile: Vec<String>,
    },
    /// List accounts.
    List,
}

/// `category …`
#[derive(Debug, Subcommand)]
pub enum CategoryCommand {
    /// Add a category.
    Add {
        /// Its name.
        name: String,
        /// Parent category id.
        #[arg(long)]
        parent: Option<i64>,
        /// Category idnumber (unique when set).
        #[arg(long, default_value = "")]
        idnumber: String,
    },
    /// List categories, parents before children.
    List,
}

/// `course …` (COURSE is a numeric id or `shortname:NAME`)
#[derive(Debug, Subcommand)]
pub enum CourseCommand {
    /// List courses.
    List,
    /// Show a course's outline and files.
    Show {
        /// The course.
        course: String,
    },
    /// Give the course an idnumber if it has none.
    Index {
        /// The course.
        course: String,
        /// local (a unique 10-letter code) or catalog.
        #[arg(long, default_value = "local")]
        strategy: String,
        /// Catalog strategy: the catalog (PEER; chosen when only one is paired).
        #[arg(long)]
        catalog: Option<String>,
        /// Catalog strategy: the metadata the catalog keeps.
        #[command(flatten)]
        meta: crate::catalog_args::IndexMetaArgs,
    },
    /// The sessions list: every copy of the course's idnumber across the network.
    Sessions {
        /// The course.
        course: String,
    },
    /// Create a course (light authoring).
    Add {
        /// Full name.
        fullname: String,
        /// Short name.
        #[arg(long)]
        shortname: String,
        /// Category id.
        #[arg(long)]
        category: i64,
        /// idnumber.
        #[arg(long, default_value = "")]
        idnumber: String,
    },
    /// Import a Moodle backup (course or activity backup) without its user data.
    Import {
        /// The `.mbz` file.
        file: PathBuf,
        /// Category id (default: the platform's landing category).
        #[arg(long)]
        category: Option<i64>,
        /// Add the backup's activities to this existing course instead (nothing of it is removed).
        #[arg(long)]
        into: Option<String>,
    },
    /// Lineage edges: where the course came from and where its copies went.
    Lineage {
        /// The course.
        course: String,
    },
    /// The publishflow panel's per-course settings.
    Set {
        /// The course.
        course: String,
        /// A file whose first line becomes the course's deploy key.
        #[arg(long, conflicts_with = "no_deploy_key")]
        deploy_key_file: Option<PathBuf>,
        /// Remove the deploy key.
        #[arg(long)]
        no_deploy_key: bool,
        /// Whether deployers may choose the target category: on or off.
        #[arg(long)]
        free_category: Option<String>,
    },
    /// Write a `.mbz` Moodle restores, without user data.
    Export {
        /// The course.
        course: String,
        /// The file to write.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
    },
}
