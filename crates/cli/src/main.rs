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
        args::Command::Serve(_) | args::Command::Demo(_)
    ) {
        with_two_malloc_arenas();
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
/// hands their freed memory back: a catalog whose blocking threads restored a 3000-activity
/// course stayed at twice the resident memory it had with two arenas (VmHWM 160–214 MiB
/// against 91–95 MiB in `scripts/bench-publish`). So the long-running commands re-execute
/// themselves once with `MALLOC_ARENA_MAX=2`, unless it is set already; if that fails they go
/// on as they are.
fn with_two_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;
        if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
            return;
        }
        if let Ok(exe) = std::env::current_exe() {
            let err = std::process::Command::new(exe)
                .args(std::env::args_os().skip(1))
                .env("MALLOC_ARENA_MAX", "2")
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
