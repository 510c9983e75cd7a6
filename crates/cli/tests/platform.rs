//! End-to-end tests: real platforms on port 0 in temp dirs, driven through HTTP (a browser-like
//! client and the JSON API), through the `publishflow` binary and through peer RPC. One test
//! binary (link time matters on two cores); one module per area.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const BIN: &str = env!("CARGO_BIN_EXE_publishflow");

/// The CLI binary under test.
pub fn bin() -> &'static Path {
    Path::new(BIN)
}

/// A file's permission bits.
pub fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[path = "platform/foundation.rs"]
mod foundation;

#[path = "platform/web.rs"]
mod web;

#[path = "platform/job_runner.rs"]
mod job_runner;

#[path = "platform/archives.rs"]
mod archives;

#[path = "platform/network.rs"]
mod network;

#[path = "platform/publishing.rs"]
mod publishing;

#[path = "platform/sessions.rs"]
mod sessions;

#[path = "platform/catalog.rs"]
mod catalog;
#[path = "platform/mutualisation.rs"]
mod mutualisation;
#[path = "platform/perf_send.rs"]
mod perf_send;
#[path = "platform/transports.rs"]
mod transports;
