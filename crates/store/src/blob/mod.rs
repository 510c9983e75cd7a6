//! The blob store: file contents, content-addressed by SHA-256 (lowercase hex).
//!
//! Rules every backend keeps:
//! - **Written atomically**: a blob is streamed through the hasher into a temporary object and
//!   appears under its key only once complete and durable; a crash never leaves a partial blob
//!   under a real key.
//! - **Verified on read**: [`BlobStore::open`] hashes what it streams and fails at the end if the
//!   content does not match its key, so a corrupted blob is never served silently.
//! - **Written before the rows that point to them**, and collected only when unreferenced *and*
//!   older than a day ([`BlobStore::gc`] with [`GC_MIN_AGE`]), so a blob uploaded for a row still
//!   being committed is never lost.
//!
//! The API is synchronous (std I/O); async callers use `spawn_blocking`.
//!
//! [`LocalBlobStore`] keeps blobs in a directory of the data dir. **S3-compatible storage** is the
//! planned second backend (chosen by an `s3://` blob URL in [`open_store`]): it implements
//! [`BlobStore`] with the same keys, `put` uploading to a temporary key (multipart for large
//! blobs) and copying to `blobs/<sha256>` once the hash is known, `promote` uploading a staged
//! file, `open` streaming a GET through [`VerifyingReader`], and `list` paging with
//! `ListObjectsV2` (its `LastModified` feeds `gc`). Nothing outside this module needs to change.

mod local;

pub use local::LocalBlobStore;

use crate::{StoreError, StoreResult};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Unreferenced blobs younger than this are never collected (SPEC §10).
pub const GC_MIN_AGE: Duration = Duration::from_secs(24 * 3600);

/// A stored blob: its key and size.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobRef {
    /// Lowercase hex SHA-256 of the content.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// A blob as listed for garbage collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    /// Key.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// When it was last written.
    pub modified: SystemTime,
}

/// What a garbage collection did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Blobs deleted.
    pub deleted: u64,
    /// Bytes freed.
    pub freed_bytes: u64,
    /// Unreferenced blobs kept because they are too recent.
    pub kept_recent: u64,
}

/// Content-addressed storage of file contents. Object-safe: hold it as `Arc<dyn BlobStore>`.
pub trait BlobStore: Send + Sync + fmt::Debug {
    /// Streams `reader` into the store; returns the content's key and size.
    fn put(&self, reader: &mut dyn Read) -> StoreResult<BlobRef>;

    /// Moves an already-written staging file into the store (by rename when possible), after
    /// hashing it again: a file whose hash differs from `expected_sha256` is refused
    /// ([`StoreError::Mismatch`]) and left where it was.
    fn promote(&self, staged: &Path, expected_sha256: &str) -> StoreResult<BlobRef>;

    /// Promotes many staged files at once, with the same checks as [`BlobStore::promote`] but
    /// durability paid once per batch, not per file: every file is hashed (all of them before
    /// any moves: a mismatch refuses the whole batch with [`StoreError::Mismatch`] naming the
    /// key, and nothing is moved), their bytes made durable together, then all are moved under their
    /// keys and the moves made durable together. A crash leaves each blob either absent or
    /// complete under its key, as with `promote`. What tar + one `sync` pays, not one `fsync`
    /// per file: thousands of small parts are the common case of a course.
    fn promote_batch(&self, staged: &[(PathBuf, String)]) -> StoreResult<Vec<BlobRef>> {
        staged
            .iter()
            .map(|(path, key)| self.promote(path, key))
            .collect()
    }

    /// Opens a blob for reading. The reader fails with [`io::ErrorKind::InvalidData`] at the end
    /// of a content that does not match its key. Unknown key: [`StoreError::NotFound`].
    fn open(&self, sha256: &str) -> StoreResult<Box<dyn Read + Send>>;

    /// Whether a blob is stored.
    fn contains(&self, sha256: &str) -> StoreResult<bool>;

    /// The size of a stored blob.
    fn size(&self, sha256: &str) -> StoreResult<u64>;

    /// Deletes a blob; returns whether it existed. Use [`BlobStore::gc`] rather than this.
    fn delete(&self, sha256: &str) -> StoreResult<bool>;

    /// Every stored blob.
    fn list(&self) -> StoreResult<Vec<BlobInfo>>;

    /// Deletes the blobs not in `referenced` that were written before `older_than` (callers pass
    /// at most `now - GC_MIN_AGE`).
    fn gc(&self, referenced: &HashSet<String>, older_than: SystemTime) -> StoreResult<GcReport> {
        let mut report = GcReport::default();
        for blob in self.list()? {
            if referenced.contains(&blob.sha256) {
                continue;
            }
            if blob.modified >= older_than {
                report.kept_recent += 1;
                continue;
            }
            if self.delete(&blob.sha256)? {
                report.deleted += 1;
                report.freed_bytes += blob.size;
            }
        }
        Ok(report)
    }
}

/// Opens the blob store named by `location`: a directory path or `file://PATH`.
/// (`s3://…` is reserved for the S3-compatible backend.)
pub fn open_store(location: &str) -> StoreResult<Arc<dyn BlobStore>> {
    if location.starts_with("s3://") {
        return Err(StoreError::Url(
            "S3-compatible blob storage is not available yet".into(),
        ));
    }
    let path = location.strip_prefix("file://").unwrap_or(location);
    Ok(Arc::new(LocalBlobStore::open(path)?))
}

/// Whether `key` is a lowercase hex SHA-256 (which also keeps it a safe file name).
pub fn is_sha256(key: &str) -> bool {
    key.len() == 64
        && key
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub(crate) fn check_key(key: &str) -> StoreResult<()> {
    if is_sha256(key) {
        Ok(())
    } else {
        Err(StoreError::Invalid(
            "a blob key must be 64 lowercase hex characters (SHA-256)".into(),
        ))
    }
}

/// Lowercase hex SHA-256 of everything `reader` yields, and its length.
pub fn sha256_of(reader: &mut dyn Read) -> io::Result<BlobRef> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0_u8; 64 * 1024];
    let mut size = 0_u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok(BlobRef {
        sha256: hex::encode(hasher.finalize()),
        size,
    })
}

/// Streams an inner reader while hashing it; at end of input, fails unless the hash is the
/// expected one. After a failure every further read fails too.
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Sha256,
    expected: String,
    state: VerifyState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VerifyState {
    Reading,
    Verified,
    Corrupt,
}

impl<R: Read> VerifyingReader<R> {
    /// Wraps `inner`, expecting content whose SHA-256 is `expected` (lowercase hex).
    pub fn new(inner: R, expected: &str) -> Self {
        VerifyingReader {
            inner,
            hasher: Sha256::new(),
            expected: expected.to_string(),
            state: VerifyState::Reading,
        }
    }

    fn corrupt(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "blob {} is corrupt: its content does not match its hash",
                self.expected
            ),
        )
    }
}

impl<R> fmt::Debug for VerifyingReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingReader")
            .field("expected", &self.expected)
            .field("state", &self.state)
            .finish()
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.state {
            VerifyState::Corrupt => return Err(self.corrupt()),
            VerifyState::Verified => return Ok(0),
            VerifyState::Reading => {}
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.hasher.update(&buf[..n]);
            return Ok(n);
        }
        let actual = hex::encode(std::mem::take(&mut self.hasher).finalize());
        if actual == self.expected {
            self.state = VerifyState::Verified;
            Ok(0)
        } else {
            self.state = VerifyState::Corrupt;
            Err(self.corrupt())
        }
    }
}
