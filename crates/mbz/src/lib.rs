//! # pf-mbz: Moodle backup archives for publishflow
//!
//! A pure library (no database, no HTTP, no async runtime) that reads,
//! strips, scans and writes Moodle 2+ course backups (`.mbz`), following
//! `shared/reference/mbz-format.md`.
//!
//! ## Import
//!
//! [`import()`] / [`import_file`] read a tar.gz (ustar, GNU or pax) or zip
//! archive the way Moodle detects it, **streaming**: each file blob is hashed
//! (SHA-1 checked against its `files/xx/<sha1>` name, SHA-256 computed as the
//! platform's content key) straight into a caller-supplied [`StagingSink`]
//! ([`DirStaging`] is provided). Every other part is staged too, stripped of
//! user data (SPEC §5.2) when needed. The result, [`ImportedArchive`], holds:
//!
//! - [`ArchiveBase`]: kind (course / activity backup), [`BackupInfo`], the
//!   preserved parts (`path → PartRef { sha256, size }`) and the highest id;
//! - [`CourseModel`]: [`CourseFields`], [`Section`]s, [`Activity`]s (with the
//!   [`ActivityContent`] the platform shows) and kept [`FileRecord`]s;
//! - question-bank counts, the SHA-256 of every blob kept records use
//!   (`blobs`: promote exactly these and the parts), a [`StripReport`] and
//!   `warnings` (e.g. blobs missing from the archive, as Moodle warns).
//!
//! Hostile archives are refused with a specific [`MbzError`] and leave
//! nothing staged; see [`Limits`] for the bomb ratio and size caps.
//!
//! ## Export
//!
//! The platform stores the `ImportedArchive` as is and gives back an
//! [`ExportCourse`] (`ExportCourse::from(imported)`, then edits to the
//! [`CourseModel`]; or `base: None` for a course authored natively). Items
//! whose `original_id` / `cmid` / `id` is `None` are native: they get ids
//! above the archive's highest. [`export`] writes a deterministic `.mbz`
//! (gzip + plain ustar, `.ARCHIVE_INDEX` first, fixed times, parallel
//! chunked deflate) reading blobs and parts through a [`BlobSource`].
//! Unedited parts are written byte for byte as imported.
//!
//! ## Grafting into an existing course
//!
//! [`graft()`] adds the activities of a backup (an activity backup, or every
//! activity of a course backup) to a course that already has content: their
//! ids move above the course's highest, their parts, file records and
//! question bank join the course's skeleton, nothing of the course changes.
//!
//! ## Checks
//!
//! - [`scan()`] / [`scan_file`]: the independent user-data scanner (no code
//!   shared with the stripper), returning a [`ScanReport`] of [`Finding`]s.
//! - [`detect()`]: Moodle's own format detection; [`check_invariants`]: the
//!   restore invariants of mbz-format.md §7.
//!
//! ## Transport
//!
//! [`transport`]: a canonical-JSON [`TransportManifest`] (signing bytes
//! exclude the signature), [`build_transport`] splitting an export into one
//! part per blob plus small content-addressed skeleton parts (one per
//! activity, section, top-level file…), and [`assemble`] verifying parts
//! while rebuilding a `.mbz` (either skeleton form). [`scan_transport`] scans
//! a set from its skeleton parts without assembling it.
//!
//! ```no_run
//! use pf_mbz::*;
//! # fn main() -> Result<(), MbzError> {
//! let mut stage = DirStaging::new("/tmp/scratch")?;
//! let imported = import_file("course.mbz".as_ref(), &Limits::default(), &mut stage)?;
//! let course = ExportCourse::from(imported);
//! let out = std::fs::File::create("/tmp/out.mbz")?;
//! export(&course, &stage, out)?;
//! assert!(scan_file("/tmp/out.mbz".as_ref(), &Limits::default())?.is_clean());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod compact;
pub mod container;
pub mod detect;
pub mod error;
mod extract;
pub mod graft;
pub mod import;
pub mod limits;
pub mod model;
pub mod scan;
pub mod staging;
mod stream;
mod strip;
pub mod transport;
pub mod write;
pub mod xml;

pub use container::ContainerKind;
pub use detect::{check_invariants, detect, Detection};
pub use error::MbzError;
pub use graft::{graft, GraftTarget, Grafted};
pub use import::{import, import_file};
pub use limits::Limits;
pub use model::*;
pub use scan::{
    scan, scan_file, scan_transport, Finding, ScanReport, TransportScan, SCANNER_VERSION,
};
pub use staging::{BlobSource, DirStaging, StagingSink};
pub use transport::{
    assemble, build_transport, build_transport_single, for_each_skeleton_entry, import_transport,
    CourseIdentity, ManifestPart, TransportManifest, TransportSet,
};
pub use write::{export, export_with, ExportOptions, ExportSummary};

/// SHA-1 of empty input: the contenthash of directory records.
pub const EMPTY_SHA1: &str = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
