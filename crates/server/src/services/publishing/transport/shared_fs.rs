//! The `shared-fs` transport (SPEC §6.4): a directory both platforms see (same host, NFS).
//!
//! The sender places each part of an archive it offers under its configured root, named by its
//! SHA-256 (content address; a part already there is kept). The receiver opens parts **by key
//! inside its own configured root only** — never a path from the peer: the key must be 64 hex
//! digits, the root is opened with `O_DIRECTORY | O_NOFOLLOW` and the part with `openat(…,
//! O_NOFOLLOW)`, so a symbolic link planted in the root (or a root that is itself a link) is
//! refused, and anything but a regular file of the listed size too. The part is copied into the
//! job's staging dir and promoted (hashed, verified) — never hard-linked into the blob store.

use crate::error::AppError;
use crate::jobs::{JobContext, JobError};
use crate::platform::Platform;
use pf_api::ErrorCode;
use pf_domain::job::Progress;
use pf_mbz::transport::ManifestPart;
use pf_mbz::TransportManifest;
use rustix::fs::{Mode, OFlags};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

/// Opens the part `key` inside `root` without following any link; checks it is a regular file
/// of `size` bytes.
pub fn open_part(root: &Path, key: &str, size: u64) -> io::Result<File> {
    if !pf_store::blob::is_sha256(key) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a part key",
        ));
    }
    let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    let refuse_link = |e: rustix::io::Errno| {
        if e == rustix::io::Errno::LOOP || e == rustix::io::Errno::NOTDIR {
            io::Error::new(
                io::ErrorKind::PermissionDenied,
                "refused: a symbolic link where a part or the shared root should be",
            )
        } else {
            io::Error::from(e)
        }
    };
    let dir =
        rustix::fs::open(root, flags | OFlags::DIRECTORY, Mode::empty()).map_err(refuse_link)?;
    let fd = rustix::fs::openat(
        &dir,
        key,
        flags | OFlags::NOCTTY | OFlags::NONBLOCK,
        Mode::empty(),
    )
    .map_err(refuse_link)?;
    let file = File::from(fd);
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "refused: the part is not a regular file",
        ));
    }
    if meta.len() != size {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "the part holds {} bytes, the manifest says {size}",
                meta.len()
            ),
        ));
    }
    Ok(file)
}

/// Copies the part from the shared root into `dest` (a fresh file), returning bytes copied.
fn copy_part(root: &Path, part: &ManifestPart, dest: &Path) -> io::Result<u64> {
    let mut from = open_part(root, &part.sha256, part.size)?;
    let mut to = File::create(dest)?;
    let copied = io::copy(&mut (&mut from).take(part.size + 1), &mut to)?;
    to.flush()?;
    Ok(copied)
}

/// The receiver's side: copies every part from the root into staging and promotes it.
pub async fn pull(
    ctx: &JobContext,
    root: &Path,
    parts: &[ManifestPart],
    staging: &Path,
    mut progress: Progress,
) -> Result<Progress, JobError> {
    tokio::fs::create_dir_all(staging)
        .await
        .map_err(|e| JobError::Final(e.into()))?;
    for part in parts {
        ctx.check_cancel().await?;
        let dest = staging.join(&part.sha256);
        let (r, p2, d2) = (root.to_path_buf(), part.clone(), dest.clone());
        let copied = tokio::task::spawn_blocking(move || copy_part(&r, &p2, &d2))
            .await
            .map_err(|e| JobError::Final(AppError::internal(e)))?;
        match copied {
            Ok(n) if n == part.size => {}
            Ok(n) => {
                return Err(super::pull::part_failed(
                    part,
                    format!("shared-fs: copied {n} bytes, expected {}", part.size),
                ))
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&dest).await;
                return Err(super::pull::part_failed(part, format!("shared-fs: {e}")));
            }
        }
        progress.bytes_done += part.size as i64;
        progress.steps_done += 1;
        ctx.progress(&progress).await?;
    }
    Ok(progress)
}

/// The sender's side: places every part of `manifest` under the root by key (skipping parts
/// already there as regular files of the right size). Written to a temp name, then renamed.
pub async fn place(p: &Platform, manifest: &TransportManifest) -> Result<(), AppError> {
    let root = p.config.transfer.shared_fs_root.clone();
    let (blobs, parts) = (p.blobs.clone(), manifest.parts.clone());
    crate::services::archives::blocking(move || {
        place_blocking(Path::new(&root), &*blobs, &parts).map_err(AppError::from)
    })
    .await
    .map_err(|e| AppError::new(ErrorCode::Failed, format!("shared-fs: {}", e.message)))
}

fn place_blocking(
    root: &Path,
    blobs: &dyn pf_store::blob::BlobStore,
    parts: &[ManifestPart],
) -> io::Result<()> {
    std::fs::create_dir_all(root)?;
    for part in parts {
        if open_part(root, &part.sha256, part.size).is_ok() {
            continue;
        }
        let mut reader = blobs
            .open(&part.sha256)
            .map_err(|e| io::Error::other(e.to_string()))?;
        let tmp = root.join(format!(
            ".placing-{}",
            crate::services::tokens::random_secret()
        ));
        let written = File::create_new(&tmp).and_then(|mut f| {
            io::copy(&mut reader, &mut f)?;
            f.sync_all()
        });
        if let Err(e) = written.and_then(|_| std::fs::rename(&tmp, root.join(&part.sha256))) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_open_by_key_only_and_links_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("shared");
        std::fs::create_dir(&root).unwrap();
        let key = "ab".repeat(32);
        std::fs::write(root.join(&key), b"hello").unwrap();
        let mut s = String::new();
        open_part(&root, &key, 5)
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "hello");
        assert!(open_part(&root, &key, 4).is_err(), "size must match");
        assert!(open_part(&root, "../etc/passwd", 5).is_err(), "keys only");
        // A planted link, to a file or to a directory, is refused.
        let secret = tmp.path().join("secret");
        std::fs::write(&secret, b"hello").unwrap();
        let linked = "cd".repeat(32);
        std::os::unix::fs::symlink(&secret, root.join(&linked)).unwrap();
        let e = open_part(&root, &linked, 5).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        // A root that is itself a link is refused too.
        let alias = tmp.path().join("alias");
        std::os::unix::fs::symlink(&root, &alias).unwrap();
        assert!(open_part(&alias, &key, 5).is_err());
        // A directory named like a key is not a part.
        let dir_key = "ef".repeat(32);
        std::fs::create_dir(root.join(&dir_key)).unwrap();
        assert!(open_part(&root, &dir_key, 0).is_err());
    }
}
