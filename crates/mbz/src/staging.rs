//! Where imported bytes go, and where exported bytes come from.
//!
//! The reader never holds a file blob in memory: it streams each one into a
//! [`StagingSink`] while hashing it (SHA-1 to check it against its
//! `files/xx/<sha1>` name, SHA-256 as the platform's content key). Preserved
//! archive parts (the XML skeleton, after stripping) are staged the same
//! way. Entries up to [`SMALL_OBJECT`] are read into memory, hashed and
//! staged whole ([`StagingSink::put`]); larger ones stream. [`DirStaging`]
//! is a ready-made sink writing one file per object, named by its SHA-256:
//! a streamed object via a temporary file and an atomic rename, a whole one
//! created under its name directly (removed if writing it fails).
//!
//! The writer reads every blob and part back by SHA-256 through a
//! [`BlobSource`]; the platform implements it over its blob store, and
//! [`DirStaging`] implements it too.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sha1::Digest;

use crate::error::Result;

/// A destination for staged objects, keyed by SHA-256 (lower-case hex).
///
/// An import stages every blob and part it reads, then removes the ones no
/// kept record refers to (learner files, replaced parts). Use one staging
/// area per import: on failure the import removes everything it committed.
pub trait StagingSink {
    /// A writer for one object being staged.
    type Pending: Write;
    /// Start a new object.
    fn begin(&mut self) -> io::Result<Self::Pending>;
    /// Publish the object under its SHA-256 (atomically, for durable sinks).
    fn commit(&mut self, pending: Self::Pending, sha256: &str) -> io::Result<()>;
    /// Throw away an unfinished object.
    fn abort(&mut self, pending: Self::Pending);
    /// Read a committed object back.
    fn open(&self, sha256: &str) -> io::Result<Box<dyn Read + '_>>;
    /// Remove a committed object (a no-op if it is not there).
    fn remove(&mut self, sha256: &str) -> io::Result<()>;
    /// Stage a whole object held in memory whose SHA-256 is known. The
    /// default writes it through [`begin`](Self::begin) and
    /// [`commit`](Self::commit); a sink may store it more directly.
    fn put(&mut self, bytes: &[u8], sha256: &str) -> io::Result<()> {
        let mut pending = self.begin()?;
        if let Err(e) = pending.write_all(bytes) {
            self.abort(pending);
            return Err(e);
        }
        self.commit(pending, sha256)
    }
}

/// Opens blobs and preserved parts by SHA-256 for the writer.
pub trait BlobSource {
    /// Open the object with this SHA-256 (lower-case hex).
    fn open_blob(&self, sha256: &str) -> io::Result<Box<dyn Read + '_>>;
}

impl<T: BlobSource + ?Sized> BlobSource for &T {
    fn open_blob(&self, sha256: &str) -> io::Result<Box<dyn Read + '_>> {
        (**self).open_blob(sha256)
    }
}

/// A staging area in a scratch directory: `<dir>/<sha256>` per object,
/// written as `<dir>/.tmp-<n>` first and renamed into place. An object
/// staged whole from memory ([`StagingSink::put`], what the import does
/// for every entry up to [`SMALL_OBJECT`] bytes) is created under its name
/// directly, without the temporary file and the rename (half the file
/// system operations for a course of many small files); if writing it
/// fails it is removed, and an existing file of the wrong size (left by a
/// crash) is replaced.
#[derive(Debug)]
pub struct DirStaging {
    dir: PathBuf,
    counter: u64,
    pid: u32,
}

/// An object being written into a [`DirStaging`].
#[derive(Debug)]
pub struct DirPending {
    path: PathBuf,
    file: BufWriter<File>,
}

impl Write for DirPending {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl DirStaging {
    /// Use `dir` (created if missing) as the staging area.
    pub fn new(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        Ok(DirStaging {
            dir,
            counter: 0,
            pid: std::process::id(),
        })
    }

    /// The staging directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of a committed object.
    pub fn path_of(&self, sha256: &str) -> io::Result<PathBuf> {
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a SHA-256 hex digest",
            ));
        }
        Ok(self.dir.join(sha256))
    }
}

impl StagingSink for DirStaging {
    type Pending = DirPending;

    fn begin(&mut self) -> io::Result<DirPending> {
        self.counter += 1;
        let path = self.dir.join(format!(".tmp-{}-{}", self.pid, self.counter));
        let file = File::create(&path)?;
        Ok(DirPending {
            path,
            file: BufWriter::with_capacity(128 << 10, file),
        })
    }

    fn commit(&mut self, pending: DirPending, sha256: &str) -> io::Result<()> {
        let target = self.path_of(sha256)?;
        let DirPending { path, file } = pending;
        let file = file.into_inner().map_err(|e| e.into_error())?;
        drop(file);
        fs::rename(&path, &target)
    }

    fn abort(&mut self, pending: DirPending) {
        let DirPending { path, file } = pending;
        drop(file);
        let _ = fs::remove_file(path);
    }

    fn open(&self, sha256: &str) -> io::Result<Box<dyn Read + '_>> {
        Ok(Box::new(File::open(self.path_of(sha256)?)?))
    }

    fn remove(&mut self, sha256: &str) -> io::Result<()> {
        match fs::remove_file(self.path_of(sha256)?) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn put(&mut self, bytes: &[u8], sha256: &str) -> io::Result<()> {
        let target = self.path_of(sha256)?;
        let mut file = match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                // Same name, same content, unless a crash cut it short.
                if fs::metadata(&target)?.len() == bytes.len() as u64 {
                    return Ok(());
                }
                fs::remove_file(&target)?;
                return self.put(bytes, sha256);
            }
            Err(e) => return Err(e),
        };
        if let Err(e) = file.write_all(bytes) {
            drop(file);
            let _ = fs::remove_file(&target);
            return Err(e);
        }
        Ok(())
    }
}

impl BlobSource for DirStaging {
    fn open_blob(&self, sha256: &str) -> io::Result<Box<dyn Read + '_>> {
        StagingSink::open(self, sha256)
    }
}

/// Hashes of one staged object.
#[derive(Debug, Clone)]
pub(crate) struct Staged {
    pub sha256: String,
    pub sha1: String,
    pub size: u64,
}

/// Stream `r` into the sink, hashing as it goes.
pub(crate) fn stage_stream<S: StagingSink>(sink: &mut S, r: &mut dyn Read) -> Result<Staged> {
    let mut pending = sink.begin()?;
    let mut s1 = sha1::Sha1::new();
    let mut s256 = sha2::Sha256::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; 128 << 10];
    let res: Result<()> = (|| {
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            s1.update(&buf[..n]);
            s256.update(&buf[..n]);
            pending.write_all(&buf[..n])?;
            size += n as u64;
        }
        Ok(())
    })();
    if let Err(e) = res {
        sink.abort(pending);
        return Err(e);
    }
    let sha256 = hex::encode(s256.finalize());
    sink.commit(pending, &sha256)?;
    Ok(Staged {
        sha256,
        sha1: hex::encode(s1.finalize()),
        size,
    })
}

/// Stage an in-memory object.
pub(crate) fn stage_bytes<S: StagingSink>(sink: &mut S, bytes: &[u8]) -> Result<Staged> {
    let sha256 = sha256_hex(bytes);
    sink.put(bytes, &sha256)?;
    Ok(Staged {
        sha256,
        sha1: sha1_hex(bytes),
        size: bytes.len() as u64,
    })
}

/// Entries up to this size are read into memory, hashed, and staged whole
/// ([`StagingSink::put`]); larger ones are streamed.
pub const SMALL_OBJECT: usize = 256 << 10;

/// Stage an archive entry: whole from memory when it is at most
/// [`SMALL_OBJECT`] bytes (read into `buf`, reused from entry to entry),
/// streamed otherwise.
pub(crate) fn stage_entry<S: StagingSink>(
    sink: &mut S,
    r: &mut dyn Read,
    buf: &mut Vec<u8>,
) -> Result<Staged> {
    buf.clear();
    r.take(SMALL_OBJECT as u64 + 1).read_to_end(buf)?;
    if buf.len() <= SMALL_OBJECT {
        return stage_bytes(sink, buf);
    }
    stage_stream(sink, &mut (&buf[..]).chain(r))
}

/// SHA-256 of a byte slice, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// SHA-1 of a byte slice, lower-case hex.
pub fn sha1_hex(bytes: &[u8]) -> String {
    hex::encode(sha1::Sha1::digest(bytes))
}

/// Hashes (SHA-256) and counts what goes through it.
pub(crate) struct HashCount<W> {
    pub inner: W,
    hash: sha2::Sha256,
    pub n: u64,
}

impl<W: Write> HashCount<W> {
    pub(crate) fn new(inner: W) -> Self {
        HashCount {
            inner,
            hash: sha2::Sha256::new(),
            n: 0,
        }
    }
    pub(crate) fn finish(self) -> (W, String, u64) {
        (self.inner, hex::encode(self.hash.finalize()), self.n)
    }
}

impl<W: Write> Write for HashCount<W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let k = self.inner.write(b)?;
        self.hash.update(&b[..k]);
        self.n += k as u64;
        Ok(k)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Stage a new object written by `f` while it reads the staged object
/// `src` (e.g. a part rewritten record by record). `f` says whether the new
/// object is wanted; if not (or on error) it is thrown away. Returns the new
/// object's SHA-256 and size when kept.
pub(crate) fn restage<S: StagingSink, T>(
    sink: &mut S,
    src: &str,
    f: impl FnOnce(Box<dyn Read + '_>, &mut dyn Write) -> Result<(bool, T)>,
) -> Result<(Option<(String, u64)>, T)> {
    let pending = sink.begin()?;
    let mut w = HashCount::new(BufWriter::with_capacity(64 << 10, pending));
    let res = match sink.open(src) {
        Ok(r) => f(r, &mut w),
        Err(e) => Err(e.into()),
    };
    let (buf, sha, n) = w.finish();
    let pending = match buf.into_inner() {
        Ok(p) => p,
        Err(e) => {
            let (err, bw) = e.into_parts();
            sink.abort(bw.into_parts().0);
            return Err(err.into());
        }
    };
    match res {
        Ok((true, t)) => {
            sink.commit(pending, &sha)?;
            Ok((Some((sha, n)), t))
        }
        Ok((false, t)) => {
            sink.abort(pending);
            Ok((None, t))
        }
        Err(e) => {
            sink.abort(pending);
            Err(e)
        }
    }
}

/// Everything this import staged (SHA-256 as bytes: 32 bytes per blob).
#[derive(Default)]
pub(crate) struct StagedSet(pub Vec<[u8; 32]>);

impl StagedSet {
    pub(crate) fn push(&mut self, sha256: &str) {
        self.0.extend(key256(sha256));
    }
}

pub(crate) fn key256(hex_sha256: &str) -> Option<[u8; 32]> {
    let mut k = [0u8; 32];
    hex::decode_to_slice(hex_sha256, &mut k).ok()?;
    Some(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(stage: &DirStaging, sha: &str) -> Vec<u8> {
        let mut v = Vec::new();
        StagingSink::open(stage, sha)
            .unwrap()
            .read_to_end(&mut v)
            .unwrap();
        v
    }

    #[test]
    fn small_entries_are_put_whole_and_big_ones_streamed() {
        let tmp = tempfile::tempdir().unwrap();
        let mut stage = DirStaging::new(tmp.path()).unwrap();
        let mut buf = Vec::new();
        for n in [0, 1, SMALL_OBJECT, SMALL_OBJECT + 1, 3 * SMALL_OBJECT + 7] {
            let bytes: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
            let st = stage_entry(&mut stage, &mut &bytes[..], &mut buf).unwrap();
            assert_eq!(st.sha256, sha256_hex(&bytes));
            assert_eq!(st.sha1, sha1_hex(&bytes));
            assert_eq!(st.size, n as u64);
            assert_eq!(read(&stage, &st.sha256), bytes);
            // Staging the same bytes again is harmless.
            stage_entry(&mut stage, &mut &bytes[..], &mut buf).unwrap();
            assert_eq!(read(&stage, &st.sha256), bytes);
        }
        let names: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 5, "no temporary file left: {names:?}");
    }

    #[test]
    fn a_put_replaces_a_file_cut_short() {
        let tmp = tempfile::tempdir().unwrap();
        let mut stage = DirStaging::new(tmp.path()).unwrap();
        let sha = sha256_hex(b"hello");
        fs::write(stage.path_of(&sha).unwrap(), b"hel").unwrap();
        stage.put(b"hello", &sha).unwrap();
        assert_eq!(read(&stage, &sha), b"hello");
    }

    #[test]
    fn a_failed_read_stages_nothing() {
        struct Broken(usize);
        impl Read for Broken {
            fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("cut"));
                }
                let n = self.0.min(b.len());
                self.0 -= n;
                Ok(n)
            }
        }
        let tmp = tempfile::tempdir().unwrap();
        let mut stage = DirStaging::new(tmp.path()).unwrap();
        let mut buf = Vec::new();
        for n in [10, SMALL_OBJECT + 10] {
            assert!(stage_entry(&mut stage, &mut Broken(n), &mut buf).is_err());
        }
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
    }
}
