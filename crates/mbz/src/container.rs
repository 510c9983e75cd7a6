//! Reading the container: gzip-compressed tar or zip, as Moodle does.
//!
//! The first two bytes decide: `1f 8b` is tar.gz (ustar, GNU or pax), any
//! other start is zip (`mbz_packer`). Entries are handed to a callback one
//! at a time as a bounded stream, so memory does not grow with the archive.
//! Tar headers are trusted, `.ARCHIVE_INDEX` is not. Every entry name is
//! validated (`normalize_path`) and every entry type other than a regular
//! file or a directory is refused. Decompressed bytes are metered against
//! [`Limits`] so bombs are refused while they expand.

use std::cell::RefCell;
use std::collections::HashSet;
use std::io::{self, Read, Seek, SeekFrom};
use std::rc::Rc;

use flate2::read::GzDecoder;

use crate::error::{MbzError, Result};
use crate::limits::Limits;

/// Which container format an archive uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerKind {
    /// gzip-compressed tar.
    TarGz,
    /// zip.
    Zip,
}

/// One entry as seen by the callback.
#[derive(Debug, Clone)]
pub(crate) struct EntryMeta {
    /// Normalised path (no leading `./`, no trailing `/`).
    pub path: String,
    /// Directory entry.
    pub is_dir: bool,
    /// Size declared by the header.
    pub size: u64,
}

#[derive(Default)]
struct Meter {
    compressed: u64,
    expanded: u64,
    fixed_compressed: Option<u64>,
    tripped: bool,
}

impl Meter {
    fn add(&mut self, n: u64, limits: &Limits) -> io::Result<()> {
        self.expanded += n;
        let compressed = self.fixed_compressed.unwrap_or(self.compressed).max(1);
        let over_ratio = self.expanded > limits.bomb_threshold_bytes
            && self.expanded > compressed.saturating_mul(limits.bomb_ratio);
        if over_ratio || self.expanded > limits.max_total_bytes {
            self.tripped = true;
            return Err(io::Error::other("decompression bomb"));
        }
        Ok(())
    }
}

type Shared = Rc<RefCell<Meter>>;

struct CountIn<R> {
    inner: R,
    meter: Shared,
}

impl<R: Read> Read for CountIn<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.meter.borrow_mut().compressed += n as u64;
        Ok(n)
    }
}

struct CountOut<'l, R> {
    inner: R,
    meter: Shared,
    limits: &'l Limits,
}

impl<R: Read> Read for CountOut<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.meter.borrow_mut().add(n as u64, self.limits)?;
        Ok(n)
    }
}

/// Reads exactly `remaining` bytes, flagging truncation.
struct Exact<'a> {
    inner: &'a mut dyn Read,
    remaining: u64,
    truncated: bool,
}

impl Read for Exact<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            self.truncated = true;
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "entry truncated",
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// Validate and normalise an entry name. Returns the clean path and whether
/// it names a directory; `None` for the archive root itself (`./`).
pub(crate) fn normalize_path(raw: &[u8]) -> Result<Option<(String, bool)>> {
    let s = std::str::from_utf8(raw)
        .map_err(|_| MbzError::InvalidName(String::from_utf8_lossy(raw).into_owned()))?;
    let unsafe_path = |reason| MbzError::UnsafePath {
        path: s.to_owned(),
        reason,
    };
    if s.contains('\\') {
        return Err(unsafe_path("backslash in path"));
    }
    if s.chars().any(|c| c.is_control()) {
        return Err(unsafe_path("control character in path"));
    }
    if s.starts_with('/') {
        return Err(unsafe_path("absolute path"));
    }
    if s.contains(':') {
        return Err(unsafe_path("drive letter or colon in path"));
    }
    let mut rest = s;
    while let Some(r) = rest.strip_prefix("./") {
        rest = r;
    }
    let is_dir = rest.ends_with('/');
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest == "." {
        return Ok(None);
    }
    for comp in rest.split('/') {
        match comp {
            ".." => return Err(unsafe_path("parent directory component")),
            "." | "" => return Err(unsafe_path("empty or '.' component")),
            _ => {}
        }
    }
    Ok(Some((rest.to_owned(), is_dir)))
}

/// Walk every entry of the archive, calling `f` with each file's bytes.
pub(crate) fn for_each_entry<R, F>(mut input: R, limits: &Limits, f: F) -> Result<ContainerKind>
where
    R: Read + Seek,
    F: FnMut(&EntryMeta, &mut dyn Read) -> Result<()>,
{
    let mut magic = [0u8; 2];
    let got = read_up_to(&mut input, &mut magic)?;
    input.seek(SeekFrom::Start(0))?;
    if got == 2 && magic == [0x1f, 0x8b] {
        read_tgz(input, limits, f)?;
        Ok(ContainerKind::TarGz)
    } else {
        read_zip(input, limits, f)?;
        Ok(ContainerKind::Zip)
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

struct Seen {
    names: HashSet<String>,
    count: u64,
}

impl Seen {
    fn check(&mut self, meta: &EntryMeta, limits: &Limits) -> Result<()> {
        self.count += 1;
        if self.count > limits.max_entries {
            return Err(MbzError::TooManyEntries(limits.max_entries));
        }
        if meta.size > limits.max_entry_bytes {
            return Err(MbzError::EntryTooLarge {
                path: meta.path.clone(),
                size: meta.size,
                limit: limits.max_entry_bytes,
            });
        }
        let key = if meta.is_dir {
            format!("{}/", meta.path)
        } else {
            meta.path.clone()
        };
        if !self.names.insert(key) && !meta.is_dir {
            return Err(MbzError::DuplicateEntry(meta.path.clone()));
        }
        if !meta.is_dir && self.names.contains(&format!("{}/", meta.path)) {
            return Err(MbzError::DuplicateEntry(meta.path.clone()));
        }
        Ok(())
    }
}

/// Run the callback on one entry and check it consumed exactly `size` bytes.
fn deliver<F>(meta: &EntryMeta, data: &mut dyn Read, meter: &Shared, f: &mut F) -> Result<()>
where
    F: FnMut(&EntryMeta, &mut dyn Read) -> Result<()>,
{
    let mut exact = Exact {
        inner: data,
        remaining: meta.size,
        truncated: false,
    };
    let res = f(meta, &mut exact).and_then(|()| {
        io::copy(&mut exact, &mut io::sink())?;
        Ok(())
    });
    let trip = |m: &Shared| {
        let m = m.borrow();
        MbzError::Bomb {
            expanded: m.expanded,
            compressed: m.fixed_compressed.unwrap_or(m.compressed),
        }
    };
    match res {
        Ok(()) => Ok(()),
        Err(_) if meter.borrow().tripped => Err(trip(meter)),
        Err(_) if exact.truncated => Err(MbzError::TruncatedEntry(meta.path.clone())),
        Err(MbzError::Io(e)) => Err(MbzError::Corrupt(format!("{}: {e}", meta.path))),
        Err(e) => Err(e),
    }
}

fn bomb_or(meter: &Shared, e: io::Error) -> MbzError {
    let m = meter.borrow();
    if m.tripped {
        MbzError::Bomb {
            expanded: m.expanded,
            compressed: m.fixed_compressed.unwrap_or(m.compressed),
        }
    } else {
        MbzError::Corrupt(e.to_string())
    }
}

fn read_tgz<R, F>(input: R, limits: &Limits, mut f: F) -> Result<()>
where
    R: Read,
    F: FnMut(&EntryMeta, &mut dyn Read) -> Result<()>,
{
    let meter: Shared = Rc::default();
    let counted = CountIn {
        inner: io::BufReader::with_capacity(256 << 10, input),
        meter: meter.clone(),
    };
    let out = CountOut {
        inner: GzDecoder::new(counted),
        meter: meter.clone(),
        limits,
    };
    let mut archive = tar::Archive::new(out);
    let mut seen = Seen {
        names: HashSet::new(),
        count: 0,
    };
    {
        let entries = archive.entries().map_err(|e| bomb_or(&meter, e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| bomb_or(&meter, e))?;
            let raw = entry.path_bytes().into_owned();
            let et = entry.header().entry_type();
            let kind = match et {
                tar::EntryType::Regular | tar::EntryType::Continuous => None,
                tar::EntryType::Directory => None,
                tar::EntryType::XGlobalHeader => continue,
                tar::EntryType::Symlink => Some("symbolic link"),
                tar::EntryType::Link => Some("hard link"),
                tar::EntryType::Char => Some("character device"),
                tar::EntryType::Block => Some("block device"),
                tar::EntryType::Fifo => Some("fifo"),
                tar::EntryType::GNUSparse => Some("sparse file"),
                _ => Some("unknown entry type"),
            };
            let Some((path, dir_name)) = normalize_path(&raw)? else {
                continue;
            };
            if let Some(kind) = kind {
                return Err(MbzError::ForbiddenEntryType { path, kind });
            }
            let is_dir = dir_name || et == tar::EntryType::Directory;
            let size = if is_dir { 0 } else { entry.size() };
            let meta = EntryMeta { path, is_dir, size };
            seen.check(&meta, limits)?;
            if is_dir {
                continue;
            }
            deliver(&meta, &mut entry, &meter, &mut f)?;
        }
    }
    // Read to the end of the gzip stream so its CRC and length are checked.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(|e| bomb_or(&meter, e))?;
    Ok(())
}

fn read_zip<R, F>(mut input: R, limits: &Limits, mut f: F) -> Result<()>
where
    R: Read + Seek,
    F: FnMut(&EntryMeta, &mut dyn Read) -> Result<()>,
{
    let total = input.seek(SeekFrom::End(0))?;
    input.seek(SeekFrom::Start(0))?;
    let mut za = zip::ZipArchive::new(input)
        .map_err(|e| MbzError::Corrupt(format!("not a tar.gz and not a readable zip: {e}")))?;
    let meter: Shared = Rc::new(RefCell::new(Meter {
        fixed_compressed: Some(total),
        ..Meter::default()
    }));
    let mut seen = Seen {
        names: HashSet::new(),
        count: 0,
    };
    for i in 0..za.len() {
        let zf = za
            .by_index(i)
            .map_err(|e| MbzError::Corrupt(format!("zip entry {i}: {e}")))?;
        let raw = zf.name_raw().to_vec();
        let Some((path, dir_name)) = normalize_path(&raw)? else {
            continue;
        };
        let mode = zf.unix_mode().unwrap_or(0) & 0o170_000;
        let kind = match mode {
            0o120_000 => Some("symbolic link"),
            0o020_000 => Some("character device"),
            0o060_000 => Some("block device"),
            0o010_000 => Some("fifo"),
            0o140_000 => Some("socket"),
            _ => None,
        };
        if let Some(kind) = kind {
            return Err(MbzError::ForbiddenEntryType { path, kind });
        }
        if zf.encrypted() {
            return Err(MbzError::Corrupt(format!(
                "{path}: encrypted zip entries are not supported"
            )));
        }
        let is_dir = dir_name || zf.is_dir();
        let size = if is_dir { 0 } else { zf.size() };
        let meta = EntryMeta { path, is_dir, size };
        seen.check(&meta, limits)?;
        if is_dir {
            continue;
        }
        let mut counted = CountOut {
            inner: zf,
            meter: meter.clone(),
            limits,
        };
        deliver(&meta, &mut counted, &meter, &mut f)?;
        // A zip entry holding more bytes than its header says is corrupt.
        let mut extra = [0u8; 1];
        if counted.read(&mut extra).map_err(|e| bomb_or(&meter, e))? != 0 {
            return Err(MbzError::Corrupt(format!(
                "{}: more data than declared",
                meta.path
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            normalize_path(b"./a/b.xml").unwrap(),
            Some(("a/b.xml".into(), false))
        );
        assert_eq!(normalize_path(b"a/").unwrap(), Some(("a".into(), true)));
        assert_eq!(normalize_path(b"./").unwrap(), None);
        for bad in [
            &b"../x"[..],
            b"/etc/passwd",
            b"a/../../x",
            b"C:/x",
            b"a\\b",
            b"a//b",
        ] {
            assert!(
                matches!(normalize_path(bad), Err(MbzError::UnsafePath { .. })),
                "{bad:?}"
            );
        }
        assert!(matches!(
            normalize_path(b"a\xff"),
            Err(MbzError::InvalidName(_))
        ));
    }
}
