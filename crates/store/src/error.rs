//! The one error type of the storage layer.
//!
//! Callers branch on [`StoreError::NotFound`], [`StoreError::Conflict`] and [`StoreError::Invalid`]
//! to answer 404 / 409 / 422; everything else is an internal failure whose details are logged, never
//! shown. No variant's message contains SQL text.

use std::io;

/// What can go wrong when reading or writing the database or the blob store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing asked for does not exist (or is in the trash).
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, e.g. `course 12`.
        what: String,
    },
    /// The change collides with existing data (a taken name, a non-empty category…).
    #[error("{what}")]
    Conflict {
        /// A sentence for the user, e.g. `short name 'MATH' is already taken`.
        what: String,
    },
    /// The change is refused by a rule (a category cycle, a password on a roaming account…).
    #[error("{0}")]
    Invalid(String),
    /// A staged file does not hash to the key it was to be stored under (nothing was stored).
    #[error("the staged file for {key} hashes to {found}")]
    Mismatch {
        /// The expected SHA-256.
        key: String,
        /// What the file hashes to.
        found: String,
    },
    /// Stored data no longer satisfies the domain's rules (hand-edited database, bad blob).
    #[error("stored data is corrupt: {what}")]
    Corrupt {
        /// What is corrupt.
        what: String,
    },
    /// The database URL is not one this crate understands.
    #[error("unsupported database URL: {0}")]
    Url(String),
    /// The database failed; the source holds the driver's error for the log.
    #[error("database error")]
    Backend(#[source] sqlx::Error),
    /// The file system failed (blob store, database file).
    #[error("storage I/O error")]
    Io(#[from] io::Error),
}

impl StoreError {
    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        StoreError::NotFound { what: what.into() }
    }

    pub(crate) fn conflict(what: impl Into<String>) -> Self {
        StoreError::Conflict { what: what.into() }
    }

    pub(crate) fn corrupt(what: impl Into<String>) -> Self {
        StoreError::Corrupt { what: what.into() }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => StoreError::not_found("row"),
            other => StoreError::Backend(other),
        }
    }
}

/// What a database error means for the caller, when it means something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DbFailure {
    Unique,
    ForeignKey,
    Other,
}

pub(crate) fn classify(e: &sqlx::Error) -> DbFailure {
    match e {
        sqlx::Error::Database(db) if db.is_unique_violation() => DbFailure::Unique,
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => DbFailure::ForeignKey,
        _ => DbFailure::Other,
    }
}

/// Turns a failed write into `Conflict` (unique violation) or `NotFound` (foreign key), else `Backend`.
pub(crate) fn on_write(
    e: sqlx::Error,
    conflict: impl FnOnce() -> String,
    missing: impl FnOnce() -> String,
) -> StoreError {
    match classify(&e) {
        DbFailure::Unique => StoreError::Conflict { what: conflict() },
        DbFailure::ForeignKey => StoreError::NotFound { what: missing() },
        DbFailure::Other => StoreError::Backend(e),
    }
}

/// The result type of this crate.
pub type StoreResult<T> = Result<T, StoreError>;
