//! The server's one error type, mapped once at the edge: to the JSON envelope for the API, to an
//! error page for the web UI, and to an exit code for the CLI.

use pf_api::{ErrorCode, ErrorEnvelope};
use pf_domain::DomainError;
use pf_store::StoreError;

/// Why an action failed, in terms a user or a peer can act on.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    /// The stable code (decides the HTTP status and the CLI exit code).
    pub code: ErrorCode,
    /// A message safe to show; generic for internal errors.
    pub message: String,
    /// Structured details for the envelope.
    pub details: serde_json::Value,
}

impl AppError {
    /// An error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        AppError {
            code,
            message: message.into(),
            details: serde_json::Value::Null,
        }
    }

    /// Bad input (400, CLI exit 2).
    pub fn bad_request(message: impl Into<String>) -> Self {
        AppError::new(ErrorCode::BadRequest, message)
    }

    /// A missing record (404, CLI exit 2).
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        AppError::new(ErrorCode::UnknownRecord, format!("{what} not found"))
    }

    /// A refused permission (403, CLI exit 1).
    pub fn forbidden(capability: impl std::fmt::Display) -> Self {
        AppError::new(
            ErrorCode::MissingCapability,
            format!("you do not have the capability {capability} here"),
        )
    }

    /// An internal failure: logged here, once, with its cause; shown generically.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        AppError::new(ErrorCode::Internal, "internal error; see the server log")
    }

    /// The JSON envelope of this error.
    pub fn envelope(&self) -> ErrorEnvelope {
        ErrorEnvelope::new(self.code, self.message.clone()).with_details(self.details.clone())
    }

    /// The CLI exit code: 2 for bad input found before anything changed, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self.code {
            ErrorCode::BadRequest
            | ErrorCode::UnknownRecord
            | ErrorCode::Conflict
            | ErrorCode::TooLarge => 2,
            _ => 1,
        }
    }
}

impl From<DomainError> for AppError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Taken { .. } => AppError::new(ErrorCode::Conflict, e.to_string()),
            _ => AppError::bad_request(e.to_string()),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. } => AppError::new(ErrorCode::UnknownRecord, e.to_string()),
            StoreError::Conflict { .. } => AppError::new(ErrorCode::Conflict, e.to_string()),
            StoreError::Invalid(_) => AppError::bad_request(e.to_string()),
            other => AppError::internal(other),
        }
    }
}

impl From<std::io::Error> for AppError {
    fn from(e: std::io::Error) -> Self {
        AppError::internal(e)
    }
}
