//! The crate's one error type.
//!
//! Every refusal of a hostile or broken archive is a distinct variant so
//! callers (and tests) can tell *why* an archive was refused; messages are
//! written for the person who uploaded the file.

use std::io;

/// Everything that can go wrong while reading, stripping, scanning or
/// writing a Moodle backup archive.
#[derive(Debug, thiserror::Error)]
pub enum MbzError {
    /// An I/O error from the input, the staging sink or the output.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// The container (gzip, tar or zip) is corrupt or truncated.
    #[error("corrupt or truncated archive: {0}")]
    Corrupt(String),
    /// An entry name that could escape the extraction root or is not portable.
    #[error("unsafe entry path {path:?}: {reason}")]
    UnsafePath {
        /// The entry name as found (lossy UTF-8).
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An entry name that is not valid UTF-8.
    #[error("entry name is not valid UTF-8: {0:?}")]
    InvalidName(String),
    /// A symlink, hard link, device, fifo or other non-regular entry.
    #[error(
        "entry {path:?} has a forbidden type ({kind}); only files and directories are allowed"
    )]
    ForbiddenEntryType {
        /// The entry name.
        path: String,
        /// What kind of entry it is.
        kind: &'static str,
    },
    /// The same path appears twice in the archive.
    #[error("duplicate entry {0:?} in archive")]
    DuplicateEntry(String),
    /// Decompression expanded past the configured limits.
    #[error("archive expands too much ({expanded} bytes from {compressed} compressed): refused as a decompression bomb")]
    Bomb {
        /// Bytes produced so far.
        expanded: u64,
        /// Compressed bytes consumed so far.
        compressed: u64,
    },
    /// An entry header promised more bytes than the archive holds.
    #[error("entry {0:?} is truncated: its header promises more bytes than follow")]
    TruncatedEntry(String),
    /// One archive part is larger than [`crate::Limits::max_xml_bytes`] or
    /// [`crate::Limits::max_entry_bytes`].
    #[error("entry {path:?} is too large ({size} bytes, limit {limit})")]
    EntryTooLarge {
        /// The entry name.
        path: String,
        /// Its size.
        size: u64,
        /// The limit in force.
        limit: u64,
    },
    /// Too many entries in the archive.
    #[error("archive has too many entries (limit {0})")]
    TooManyEntries(u64),
    /// `moodle_backup.xml` is missing: this is not a Moodle 2+ backup.
    #[error("moodle_backup.xml is missing: not a Moodle backup")]
    MissingManifest,
    /// A blob under `files/` whose SHA-1 is not its name.
    #[error("blob {path:?} has SHA-1 {actual}, which differs from its name")]
    BlobHashMismatch {
        /// The entry name.
        path: String,
        /// The SHA-1 actually computed.
        actual: String,
    },
    /// XML that is malformed, uses a DOCTYPE/entities, or nests too deeply.
    #[error("bad XML in {path:?}: {reason}")]
    Xml {
        /// The part the XML came from.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The backup's structure is not what Moodle writes.
    #[error("invalid backup structure: {0}")]
    Structure(String),
    /// A transport manifest that fails validation.
    #[error("invalid transport manifest: {0}")]
    Manifest(String),
    /// The data given to the writer is inconsistent.
    #[error("cannot export: {0}")]
    Export(String),
    /// A blob or part needed by the writer is missing from the blob source.
    #[error("missing blob {0} in blob source")]
    MissingBlob(String),
}

impl MbzError {
    pub(crate) fn xml(path: &str, reason: impl Into<String>) -> Self {
        MbzError::Xml {
            path: path.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = MbzError> = std::result::Result<T, E>;
