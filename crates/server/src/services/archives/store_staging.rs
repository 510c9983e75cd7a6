//! A staging area that knows the blob store: an object the store already holds is not written
//! again. Re-importing or updating a course stages tens of thousands of XML files that are
//! nearly all stored already; writing each to a scratch file only to delete it again cost more
//! than the rest of such a restore (creating files after mass deletions is slow on ext4).
//!
//! It wraps a [`DirStaging`]. The import hands small entries over whole, their hash known
//! ([`StagingSink::put`]): one the store holds is never written. Larger ones stream to a
//! scratch file first and are dropped at commit if the store holds them. A committed object is
//! either *staged* (a file named by its SHA-256, promoted if the import keeps it) or *stored*
//! (nothing written; its time is refreshed so garbage collection sees it as new until the
//! course that now refers to it commits). Nothing is ever removed from the store here.

use pf_mbz::{DirStaging, StagingSink};
use pf_store::blob::BlobStore;
use std::collections::HashSet;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::Arc;

/// The sink (see the module docs).
pub(crate) struct StoreStaging {
    dir: DirStaging,
    blobs: Arc<dyn BlobStore>,
    staged: HashSet<String>,
}

impl StoreStaging {
    /// A staging area in `dir` (created if missing) over `blobs`.
    pub(crate) fn new(dir: impl Into<PathBuf>, blobs: Arc<dyn BlobStore>) -> io::Result<Self> {
        Ok(StoreStaging {
            dir: DirStaging::new(dir)?,
            blobs,
            staged: HashSet::new(),
        })
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
                out.push((self.dir.path_of(key)?, key.to_string()));
            }
        }
        Ok(out)
    }

    /// Whether `sha256` needs no file here: staged already, or held (and touched) by the store.
    fn known(&self, sha256: &str) -> io::Result<bool> {
        Ok(self.staged.contains(sha256) || self.blobs.touch(sha256).map_err(io::Error::other)?)
    }
}

impl StagingSink for StoreStaging {
    type Pending = <DirStaging as StagingSink>::Pending;

    fn begin(&mut self) -> io::Result<Self::Pending> {
        self.dir.begin()
    }

    fn commit(&mut self, pending: Self::Pending, sha256: &str) -> io::Result<()> {
        if self.known(sha256)? {
            self.dir.abort(pending);
            return Ok(());
        }
        self.dir.commit(pending, sha256)?;
        self.staged.insert(sha256.to_string());
        Ok(())
    }

    fn abort(&mut self, pending: Self::Pending) {
        self.dir.abort(pending);
    }

    fn put(&mut self, bytes: &[u8], sha256: &str) -> io::Result<()> {
        if self.known(sha256)? {
            return Ok(());
        }
        self.dir.put(bytes, sha256)?;
        self.staged.insert(sha256.to_string());
        Ok(())
    }

    fn open(&self, sha256: &str) -> io::Result<Box<dyn Read + '_>> {
        if self.staged.contains(sha256) {
            return self.dir.open(sha256);
        }
        let r = self.blobs.open(sha256).map_err(io::Error::other)?;
        Ok(Box::new(r))
    }

    fn remove(&mut self, sha256: &str) -> io::Result<()> {
        if self.staged.remove(sha256) {
            self.dir.remove(sha256)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pf_store::blob::LocalBlobStore;

    use std::fs;
    use std::io::Write;

    /// Stages `bytes` as the import does: small ones whole, large ones streamed.
    fn stage(sink: &mut StoreStaging, bytes: &[u8]) -> String {
        let key = pf_mbz::staging::sha256_hex(bytes);
        if bytes.len() <= pf_mbz::staging::SMALL_OBJECT {
            sink.put(bytes, &key).unwrap();
        } else {
            let mut p = sink.begin().unwrap();
            p.write_all(bytes).unwrap();
            sink.commit(p, &key).unwrap();
        }
        key
    }

    #[test]
    fn only_what_the_store_lacks_is_written_and_promoted() {
        let tmp = tempfile::tempdir().unwrap();
        let blobs: Arc<dyn BlobStore> = Arc::new(LocalBlobStore::open(tmp.path()).unwrap());
        let held = blobs.put(&mut &b"already stored"[..]).unwrap().sha256;
        let big_held = vec![9u8; pf_mbz::staging::SMALL_OBJECT * 2 + 1];
        blobs.put(&mut &big_held[..]).unwrap();
        let dir = tmp.path().join("tmp").join("stage");
        let mut sink = StoreStaging::new(&dir, blobs.clone()).unwrap();
        let big = vec![7u8; pf_mbz::staging::SMALL_OBJECT * 2 + 1];
        let (known, new, spilled) = (
            stage(&mut sink, b"already stored"),
            stage(&mut sink, b"new"),
            stage(&mut sink, &big),
        );
        assert_eq!(known, held);
        stage(&mut sink, &big_held);
        let mut files: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let mut expected = vec![new.clone(), spilled.clone()];
        expected.sort();
        assert_eq!(
            files, expected,
            "stored objects, small or streamed, are not kept here"
        );
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
        // An aborted stream leaves nothing.
        let mut p = sink.begin().unwrap();
        p.write_all(&big).unwrap();
        sink.abort(p);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
    }
}
