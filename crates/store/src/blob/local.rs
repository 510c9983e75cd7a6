//! Blobs in a local directory: `ROOT/ab/cd/abcd…` (two levels of fan-out), written through
//! `ROOT/tmp/` (same file system, so the final step is an atomic rename). Directories are created
//! 0700 and files 0600.

use super::{check_key, sha256_of, BlobInfo, BlobRef, BlobStore, GcReport, VerifyingReader};
use crate::{StoreError, StoreResult};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The local-directory blob store.
#[derive(Debug, Clone)]
pub struct LocalBlobStore {
    root: PathBuf,
}

fn create_private_dir(path: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path)
}

fn make_private(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Makes what was written to `paths` (files, or directories after renames in them) durable:
/// on Linux with one `syncfs` of the file system holding `root` — cheaper than an `fsync` per
/// file once there are more than a few, as `tar` followed by one `sync` is —, elsewhere with
/// one `fsync` each.
fn durable<'a>(root: &Path, paths: impl Iterator<Item = &'a Path>) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let _ = paths;
        rustix::fs::syncfs(File::open(root)?)?;
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = root;
        for path in paths {
            File::open(path)?.sync_all()?;
        }
    }
    Ok(())
}

fn missing(key: &str) -> StoreError {
    StoreError::not_found(format!("blob {key}"))
}

impl LocalBlobStore {
    /// Opens (creating it 0700 if needed) the blob directory.
    pub fn open(root: impl AsRef<Path>) -> StoreResult<LocalBlobStore> {
        let store = LocalBlobStore {
            root: root.as_ref().to_path_buf(),
        };
        create_private_dir(&store.root)?;
        create_private_dir(&store.staging_dir())?;
        Ok(store)
    }

    /// The blob directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where importers stage files so that [`BlobStore::promote`] is a rename (same file system).
    pub fn staging_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// The path of a blob (the key must be valid).
    fn path_of(&self, key: &str) -> PathBuf {
        self.root.join(&key[0..2]).join(&key[2..4]).join(key)
    }

    /// Moves a complete, synced file to its key's place, durably.
    fn install(&self, from: &Path, key: &str) -> io::Result<PathBuf> {
        let dest = self.path_of(key);
        let parent = dest.parent().unwrap_or(&self.root);
        create_private_dir(parent)?;
        fs::rename(from, &dest)?;
        sync_dir(parent)?;
        Ok(dest)
    }

    /// Deletes staging files older than `older_than` (left by crashed writers).
    fn clean_staging(&self, older_than: SystemTime) -> io::Result<()> {
        for entry in fs::read_dir(self.staging_dir())? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_file() && meta.modified()? < older_than {
                fs::remove_file(entry.path())?;
            }
        }
        Ok(())
    }

    fn modified(&self, key: &str) -> io::Result<Option<SystemTime>> {
        match fs::metadata(self.path_of(key)) {
            Ok(meta) => Ok(Some(meta.modified()?)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn hex_dirs(dir: &Path) -> io::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let fan_out = name.len() == 2
            && name
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if fan_out && entry.file_type()?.is_dir() {
            out.push((name, entry.path()));
        }
    }
    Ok(out)
}

impl BlobStore for LocalBlobStore {
    fn put(&self, reader: &mut dyn Read) -> StoreResult<BlobRef> {
        // tempfile creates the file 0600 and removes it if anything below fails.
        let mut tmp = tempfile::Builder::new()
            .prefix("put-")
            .tempfile_in(self.staging_dir())?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0_u8; 64 * 1024];
        let mut size = 0_u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            hasher.update(&buf[..n]);
            tmp.write_all(&buf[..n])?;
            size += n as u64;
        }
        tmp.as_file().sync_all()?;
        let sha256 = hex::encode(hasher.finalize());
        // Replacing an existing blob is harmless (same content) and repairs a corrupted one.
        let dest = self.path_of(&sha256);
        create_private_dir(dest.parent().unwrap_or(&self.root))?;
        tmp.persist(&dest).map_err(|e| e.error)?;
        sync_dir(dest.parent().unwrap_or(&self.root))?;
        Ok(BlobRef { sha256, size })
    }

    fn promote(&self, staged: &Path, expected_sha256: &str) -> StoreResult<BlobRef> {
        check_key(expected_sha256)?;
        let found = sha256_of(&mut BufReader::new(File::open(staged)?))?;
        if found.sha256 != expected_sha256 {
            return Err(StoreError::Mismatch {
                key: expected_sha256.to_string(),
                found: found.sha256,
            });
        }
        make_private(staged)?;
        let file = File::options().append(true).open(staged)?;
        // A fresh time: garbage collection must see this blob as new, whenever it was staged.
        file.set_modified(SystemTime::now())?;
        file.sync_all()?;
        drop(file);
        match self.install(staged, expected_sha256) {
            Ok(_) => Ok(found),
            Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
                let copied = self.put(&mut BufReader::new(File::open(staged)?))?;
                if copied.sha256 != expected_sha256 {
                    return Err(StoreError::Invalid(
                        "the staged file changed while it was promoted".into(),
                    ));
                }
                fs::remove_file(staged)?;
                Ok(copied)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn promote_batch(&self, staged: &[(PathBuf, String)]) -> StoreResult<Vec<BlobRef>> {
        let mut found = Vec::with_capacity(staged.len());
        for (path, key) in staged {
            check_key(key)?;
            let blob = sha256_of(&mut BufReader::new(File::open(path)?))?;
            if blob.sha256 != *key {
                return Err(StoreError::Mismatch {
                    key: key.clone(),
                    found: blob.sha256,
                });
            }
            found.push(blob);
        }
        // A fresh time: garbage collection must see these blobs as new, whenever staged.
        let now = SystemTime::now();
        for (path, _) in staged {
            make_private(path)?;
            File::options().append(true).open(path)?.set_modified(now)?;
        }
        durable(&self.root, staged.iter().map(|(p, _)| p.as_path()))?;
        let mut moved = HashSet::new();
        let mut parents = HashSet::new();
        for (path, key) in staged {
            if !moved.insert(key.as_str()) {
                // The same content listed twice: it is in place already.
                let _ = fs::remove_file(path);
                continue;
            }
            let dest = self.path_of(key);
            let parent = dest.parent().unwrap_or(&self.root).to_path_buf();
            create_private_dir(&parent)?;
            match fs::rename(path, &dest) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
                    self.promote(path, key)?;
                }
                Err(e) => return Err(e.into()),
            }
            parents.insert(parent);
        }
        durable(&self.root, parents.iter().map(PathBuf::as_path))?;
        Ok(found)
    }

    fn open(&self, sha256: &str) -> StoreResult<Box<dyn Read + Send>> {
        check_key(sha256)?;
        match File::open(self.path_of(sha256)) {
            Ok(file) => Ok(Box::new(VerifyingReader::new(
                BufReader::with_capacity(64 * 1024, file),
                sha256,
            ))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(missing(sha256)),
            Err(e) => Err(e.into()),
        }
    }

    fn contains(&self, sha256: &str) -> StoreResult<bool> {
        check_key(sha256)?;
        Ok(self.modified(sha256)?.is_some())
    }

    fn size(&self, sha256: &str) -> StoreResult<u64> {
        check_key(sha256)?;
        match fs::metadata(self.path_of(sha256)) {
            Ok(meta) => Ok(meta.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(missing(sha256)),
            Err(e) => Err(e.into()),
        }
    }

    fn delete(&self, sha256: &str) -> StoreResult<bool> {
        check_key(sha256)?;
        match fs::remove_file(self.path_of(sha256)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn list(&self) -> StoreResult<Vec<BlobInfo>> {
        let mut out = Vec::new();
        for (first, level1) in hex_dirs(&self.root)? {
            for (second, level2) in hex_dirs(&level1)? {
                for entry in fs::read_dir(level2)? {
                    let entry = entry?;
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let placed = name.starts_with(&first) && name[2..].starts_with(&second);
                    if !super::is_sha256(&name) || !placed {
                        continue;
                    }
                    let meta = entry.metadata()?;
                    if meta.is_file() {
                        out.push(BlobInfo {
                            sha256: name,
                            size: meta.len(),
                            modified: meta.modified()?,
                        });
                    }
                }
            }
        }
        out.sort_by(|a, b| a.sha256.cmp(&b.sha256));
        Ok(out)
    }

    fn gc(&self, referenced: &HashSet<String>, older_than: SystemTime) -> StoreResult<GcReport> {
        let mut report = GcReport::default();
        for blob in self.list()? {
            if referenced.contains(&blob.sha256) {
                continue;
            }
            // Look again just before deleting: a blob written again since the listing is new.
            match self.modified(&blob.sha256)? {
                Some(modified) if modified >= older_than => report.kept_recent += 1,
                Some(_) if self.delete(&blob.sha256)? => {
                    report.deleted += 1;
                    report.freed_bytes += blob.size;
                }
                _ => {}
            }
        }
        self.clean_staging(older_than)?;
        Ok(report)
    }
}
