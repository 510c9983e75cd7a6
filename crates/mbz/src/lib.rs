//! # pf-mbz: Moodle backup archives for publishflow
//!
//! A pure library (no database, no HTTP, no async runtime) that reads,
//! strips, scans and writes Moodle 2+ course backups (`.mbz`).
//!
//! (Full API overview below.)
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod container;
pub mod detect;
pub mod error;
mod extract;
pub mod import;
pub mod limits;
pub mod model;
pub mod scan;
pub mod staging;
mod strip;
pub mod transport;
pub mod write;
pub mod xml;

pub use container::ContainerKind;
pub use detect::{check_invariants, detect, Detection};
pub use error::MbzError;
pub use import::{import, import_file};
pub use limits::Limits;
pub use model::*;
pub use scan::{scan, scan_file, Finding, ScanReport};
pub use staging::{BlobSource, DirStaging, StagingSink};
pub use transport::{
    assemble, build_transport, CourseIdentity, ManifestPart, TransportManifest, TransportSet,
};
pub use write::{export, export_with, ExportOptions, ExportSummary};

/// SHA-1 of empty input: the contenthash of directory records.
pub const EMPTY_SHA1: &str = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
