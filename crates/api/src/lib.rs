//! Wire types shared by the server, the CLI and peer RPC.
//!
//! One error envelope everywhere (`{status, code, message, details}`, SPEC §6.3) with stable
//! [`ErrorCode`]s, and the JSON documents the API and the CLI print. Changing a name here changes
//! a public contract (`../shared/CLI.md`): add, never rename.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod docs;
mod envelope;
pub mod sessions;

pub use envelope::{ErrorCode, ErrorEnvelope};
