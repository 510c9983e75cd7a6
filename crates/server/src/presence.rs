//! Whether a server is running on a data dir: `serve` writes `serve.json` (its bound address and
//! pid) once it listens and removes it when it stops; commands that queue jobs check that the
//! address answers, so a stale file left by a killed server is not mistaken for a live one.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The marker's file name inside the data dir.
pub const MARKER_FILE: &str = "serve.json";

/// What the marker records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerMarker {
    /// The bound address.
    pub listen: SocketAddr,
    /// The public URL in force.
    pub url: String,
    /// The server's process id.
    pub pid: u32,
}

fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(MARKER_FILE)
}

/// Records that a server listens on `listen` (0600, replaced atomically).
pub fn announce(data_dir: &Path, marker: &ServerMarker) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = data_dir.join(format!(".{MARKER_FILE}.{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(serde_json::to_string(marker).unwrap_or_default().as_bytes())?;
    f.sync_all()?;
    std::fs::rename(tmp, path(data_dir))
}

/// Removes the marker if it is this process's.
pub fn withdraw(data_dir: &Path) {
    if read(data_dir).is_some_and(|m| m.pid == std::process::id()) {
        let _ = std::fs::remove_file(path(data_dir));
    }
}

fn read(data_dir: &Path) -> Option<ServerMarker> {
    serde_json::from_slice(&std::fs::read(path(data_dir)).ok()?).ok()
}

/// The running server's marker, if one is announced and its address accepts connections.
pub fn running_server(data_dir: &Path) -> Option<ServerMarker> {
    let marker = read(data_dir)?;
    std::net::TcpStream::connect_timeout(&marker.listen, Duration::from_secs(2)).ok()?;
    Some(marker)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_counts_only_while_its_address_answers() {
        let dir = tempfile::tempdir().unwrap();
        assert!(running_server(dir.path()).is_none());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let listen = listener.local_addr().unwrap();
        let marker = ServerMarker {
            listen,
            url: format!("http://{listen}"),
            pid: std::process::id(),
        };
        announce(dir.path(), &marker).unwrap();
        assert_eq!(running_server(dir.path()), Some(marker));
        drop(listener);
        assert!(
            running_server(dir.path()).is_none(),
            "a stale marker is not a running server"
        );
        withdraw(dir.path());
        assert!(!dir.path().join(MARKER_FILE).exists());
    }
}
