use serde::{Deserialize, Serialize};
use std::fmt;

/// The stable error codes of SPEC §6.3, shared by the API, peer RPC and the CLI's `error` objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Success (used in result documents, never in an error response).
    Ok,
    /// The operation failed for a reason not covered by another code.
    Failed,
    /// The input is malformed or breaks a rule (400).
    BadRequest,
    /// The acting user is unknown, disabled or not who they claim (401/403).
    BadUser,
    /// Authentication is missing or invalid (401).
    Unauthenticated,
    /// The user lacks a capability (403).
    MissingCapability,
    /// The CSRF token is missing or wrong (403).
    BadCsrf,
    /// No such record (404).
    UnknownRecord,
    /// A unique name is already used (409).
    Conflict,
    /// The post-deploy hook failed; the course was kept.
    HookFailed,
    /// The idnumber belongs to another source's publication series.
    IdnumberTaken,
    /// The course is already published; use republish or update.
    AlreadyPublished,
    /// The receiving platform did not admit the operation.
    NotAdmitted,
    /// A peer could not be reached.
    PeerUnreachable,
    /// The request body is too large (413).
    TooLarge,
    /// Too many attempts; try later (429).
    Throttled,
    /// Something went wrong on our side (500); details are in the server log.
    Internal,
}

impl ErrorCode {
    /// The HTTP status that goes with this code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::Ok => 200,
            ErrorCode::BadRequest | ErrorCode::IdnumberTaken | ErrorCode::AlreadyPublished => 400,
            ErrorCode::Unauthenticated | ErrorCode::BadUser => 401,
            ErrorCode::MissingCapability | ErrorCode::BadCsrf | ErrorCode::NotAdmitted => 403,
            ErrorCode::UnknownRecord => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::TooLarge => 413,
            ErrorCode::Throttled => 429,
            ErrorCode::PeerUnreachable => 502,
            ErrorCode::Failed | ErrorCode::HookFailed | ErrorCode::Internal => 500,
        }
    }

    /// The code as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Ok => "ok",
            ErrorCode::Failed => "failed",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::BadUser => "bad_user",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::MissingCapability => "missing_capability",
            ErrorCode::BadCsrf => "bad_csrf",
            ErrorCode::UnknownRecord => "unknown_record",
            ErrorCode::Conflict => "conflict",
            ErrorCode::HookFailed => "hook_failed",
            ErrorCode::IdnumberTaken => "idnumber_taken",
            ErrorCode::AlreadyPublished => "already_published",
            ErrorCode::NotAdmitted => "not_admitted",
            ErrorCode::PeerUnreachable => "peer_unreachable",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::Throttled => "throttled",
            ErrorCode::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The one error body of the API and peer RPC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    /// The HTTP status, repeated in the body for clients that lose it.
    pub status: u16,
    /// The stable code.
    pub code: ErrorCode,
    /// A human-readable message, safe to show (never internal details for 5xx).
    pub message: String,
    /// Optional structured details (e.g. the offending field).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

impl ErrorEnvelope {
    /// An envelope with the code's status and no details.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorEnvelope {
            status: code.http_status(),
            code,
            message: message.into(),
            details: serde_json::Value::Null,
        }
    }

    /// Adds structured details.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_serialises_with_stable_names() {
        let e = ErrorEnvelope::new(ErrorCode::IdnumberTaken, "taken");
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["code"], "idnumber_taken");
        assert_eq!(json["status"], 400);
        assert_eq!(
            serde_json::to_value(ErrorCode::MissingCapability).unwrap(),
            ErrorCode::MissingCapability.as_str()
        );
    }
}
