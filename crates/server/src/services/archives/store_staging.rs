//! A staging area that knows the blob store: an object the store already holds is not written
//! again. Re-importing or updating a course stages tens of thousands of XML files that are
//! nearly all stored already; writing each to a scratch file only to delete it again cost more
//! than the rest of such a restore (creating files after mass deletions is slow on ext4).
//!
//! Objects are held in memory until their hash is known, and spill to a scratch file past
//! [`IN_MEMORY`]. A committed object is either *staged* (a file named by its SHA-256, promoted
//! if the import keeps it) or *stored* (the store had it: nothing written; its time is refreshed
//! so garbage collection sees it as new until the course that now refers to it commits).
//! Nothing is ever removed from the store here.

use pf_mbz::StagingSink;
use pf_store::blob::BlobStore;
use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

/// Objects up to this size are hashed in memory before anything is written.
const IN_MEMORY: usize = 256 << 10;

/// The sink (see the module docs).
pub(crate) struct StoreStaging {
    dir: PathBuf,
    blobs: Arc<dyn BlobStore>,
    staged: HashSet<String>,
    counter: u64,
}

/// An object being staged: in memory, or spilled to its scratch file.
pub(crate) struct Pending {
    bytes: Vec<u8>,
    spill: PathBuf,
    file: Option<BufWriter<File>>,
}

impl Write for Pending {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(f) = &mut self.file {
            return f.write(buf);
        }
        self.bytes.extend_from_slice(buf);
        if self.bytes.len() > IN_MEMORY {
            let mut f = BufWriter::with_capacity(128 << 10, File::create_new(&self.spill)?);
            f.write_all(&self.bytes)?;
            self.bytes = Vec::new();
            self.file = Some(f);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl StoreStaging {
    /// A staging area in `dir` (created if missing) over `blobs`.
    pub(crate) fn new(dir: impl Into<PathBuf>, blobs: Arc<dyn BlobStore>) -> io::Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        Ok(StoreStaging {
            dir,
            blobs,
            staged: HashSet::new(),
            counter: 0,
        })
    }

    fn path_of(&self, sha256: &str) -> io::Result<PathBuf> {
        if !pf_store::blob::is_sha256(sha256) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a SHA-256 hex digest",
            ));
        }
        Ok(self.dir.join(sha256))
    }

    /// The files to promote among `keys` (what the import keeps): those written here; the
    /// others are in the store already.
    pub(crate) fn to_promote<K: AsRef<str>>(
        &self,
        keys: impl IntoIterator<Item = K>,
    ) -> io::Result<Vec<(PathBuf, String)>> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for key in keys {
            let key = key.as_ref();
            if self.staged.contains(key) && seen.insert(key.to_string()) {
                out.push((self.path_of(key)?, key.to_string()));
            }
        }
        Ok(out)
    }
}

impl StagingSink for StoreStaging {
    type Pending = Pending;

    fn begin(&mut self) -> io::Result<Pending> {
        self.counter += 1;
        Ok(Pending {
            bytes: Vec::new(),
            spill: self.dir.join(format!(".tmp-{}", self.counter)),
            file: None,
        })
    }

    fn commit(&mut self, pending: Pending, sha256: &str) -> io::Result<()> {
        let target = self.path_of(sha256)?;
        let known =
            self.staged.contains(sha256) || self.blobs.touch(sha256).map_err(io::Error::other)?;
        let Pending { bytes, spill, file } = pending;
        match file {
            Some(f) if known => {
                drop(f);
                fs::remove_file(&spill)
            }
            _ if known => Ok(()),
            Some(f) => {
                f.into_inner().map_err(|e| e.into_error())?;
                fs::rename(&spill, &target)?;
                self.staged.insert(sha256.to_string());
                Ok(())
            }
            None => {
                let written = File::create_new(&spill).and_then(|mut f| f.write_all(&bytes));
                if let Err(e) = written.and_then(|()| fs::rename(&spill, &target)) {
                    let _ = fs::remove_file(&spill);
                    return Err(e);
                }
                self.staged.insert(sha256.to_string());
                Ok(())
            }
        }
    }

    fn abort(&mut self, pending: Pending) {
        if let Some(f) = pending.file {
            drop(f);
            let _ = fs::remove_file(&pending.spill);
        }
    }

    fn open(&self, sha256: &str) -> io::Result<Box<dyn Read + '_>> {
        if self.staged.contains(sha256) {
            return Ok(Box::new(File::open(self.path_of(sha256)?)?));
        }
        let r = self.blobs.open(sha256).map_err(io::Error::other)?;
        Ok(Box::new(r))
    }

    fn remove(&mut self, sha256: &str) -> io::Result<()> {
        if self.staged.remove(sha256) {
            match fs::remove_file(self.path_of(sha256)?) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pf_store::blob::LocalBlobStore;

    fn stage(sink: &mut StoreStaging, bytes: &[u8]) -> String {
        let mut p = sink.begin().unwrap();
        p.write_all(bytes).unwrap();
        let key = pf_mbz::staging::sha256_hex(bytes);
        sink.commit(p, &key).unwrap();
        key
    }

    #[test]
    fn only_what_the_store_lacks_is_written_and_promoted() {
        let tmp = tempfile::tempdir().unwrap();
        let blobs: Arc<dyn BlobStore> = Arc::new(LocalBlobStore::open(tmp.path()).unwrap());
        let held = blobs.put(&mut &b"already stored"[..]).unwrap().sha256;
        let dir = tmp.path().join("tmp").join("stage");
        let mut sink = StoreStaging::new(&dir, blobs.clone()).unwrap();
        let big = vec![7u8; IN_MEMORY * 2 + 1];
        let (known, new, spilled) = (
            stage(&mut sink, b"already stored"),
            stage(&mut sink, b"new"),
            stage(&mut sink, &big),
        );
        assert_eq!(known, held);
        let mut files: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let mut expected = vec![new.clone(), spilled.clone()];
        expected.sort();
        assert_eq!(files, expected, "the stored object is not written again");
        // Both kinds read back; removing a stored one never touches the store.
        let mut out = Vec::new();
        sink.open(&known).unwrap().read_to_end(&mut out).unwrap();
        assert_eq!(out, b"already stored");
        out.clear();
        sink.open(&spilled).unwrap().read_to_end(&mut out).unwrap();
        assert_eq!(out, big);
        let batch = sink.to_promote([&known, &new, &new]).unwrap();
        assert_eq!(batch, vec![(dir.join(&new), new.clone())]);
        sink.remove(&known).unwrap();
        sink.remove(&spilled).unwrap();
        assert!(blobs.contains(&known).unwrap());
        assert!(!dir.join(&spilled).exists());
        // An aborted spill leaves nothing.
        let mut p = sink.begin().unwrap();
        p.write_all(&big).unwrap();
        sink.abort(p);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
    }
}
