//! The `publishflow` binary: parses the command line, opens the data dir, calls the platform's
//! services, and prints text or one JSON document. Errors print one `error:` line on stderr and
//! exit 2 for bad input found before anything changed, 1 for a refusal or failure.
#![forbid(unsafe_code)]

mod args;
mod catalog_args;
mod commands;
mod mutual_args;
mod network_args;
mod output;
mod publish_args;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    if matches!(
        cli.command,
        args::Command::Serve(_)
            | args::Command::Demo(_)
            | args::Command::Course(_)
            | args::Command::Archive(_)
    ) {
        with_one_malloc_arena();
    }
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", e.message.replace('\n', " "));
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

/// glibc gives each thread that allocates its own heap arena (up to eight per core) and seldom
/// hands their freed memory back. A catalog restoring a 3000-activity course never holds more
/// than 36 MiB of heap (heaptrack), yet its resident peak was 160–214 MiB with the default
/// arenas, 112–119 MiB with two and 90 MiB with one (`scripts/bench-publish`; the allocator
/// lock costs little on a server that waits for disks and peers; a `course export` of 50 000
/// files: 201 MiB, 167 MiB with one). So the long-running commands and those that import or
/// export archives re-execute themselves once with `MALLOC_ARENA_MAX=1`, unless it is set
/// already; if that fails they go on as they are. (mimalloc was measured too: 187 MiB.)
fn with_one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;
        if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
            return;
        }
        if let Ok(exe) = std::env::current_exe() {
            let err = std::process::Command::new(exe)
                .args(std::env::args_os().skip(1))
                .env("MALLOC_ARENA_MAX", "1")
                .exec();
            eprintln!("warning: could not limit malloc arenas ({err}); going on");
        }
    }
}

/// Logs go to stderr; `PUBLISHFLOW_LOG` picks the level (error, warn, info, debug, trace).
fn init_logging() {
    let level = match std::env::var("PUBLISHFLOW_LOG")
        .unwrap_or_default()
        .as_str()
    {
        "error" => tracing::Level::ERROR,
        "debug" => tracing::Level::DEBUG,
        "trace" => tracing::Level::TRACE,
        "info" => tracing::Level::INFO,
        _ => tracing::Level::WARN,
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false)
        .init();
}
