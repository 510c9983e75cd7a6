//! The rules of a publishflow platform, free of HTTP, SQL and async runtimes.
//!
//! Everything that decides *what is allowed* or *what a name becomes* lives here, so it can be
//! tested in microseconds and shared by the server, the CLI and both storage backends:
//!
//! - [`platform`]: platform roles and the duties they carry (SPEC §2).
//! - [`access`]: course roles, capabilities, contexts and the default capability table (SPEC §4).
//! - [`course`]: short names, idnumbers, visibility and the naming rules on arrival (SPEC §3).
//! - [`category`]: the category tree and its invariants.
//! - [`user`]: usernames, home platforms and profile fields.
//! - [`job`]: job states, progress and retry backoff (SPEC §5).
//! - [`publication`]: the publication series rules of a catalog (SPEC §5.3).
//! - [`rules`]: profile rules on trusted profile fields (SPEC §8).
//! - [`sessions`]: course sessions on training platforms: open / close state machine (SPEC §5.6).
//!
//! Inputs become these newtypes at the edge (`parse`, `new`); the inside never re-validates strings.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod access;
pub mod admission;
pub mod category;
pub mod course;
mod error;
pub mod ids;
pub mod job;
pub mod platform;
pub mod publication;
pub mod rules;
pub mod sessions;
pub mod user;

pub use error::DomainError;
