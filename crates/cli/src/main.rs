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
