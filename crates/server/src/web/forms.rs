//! Form extraction with our error envelope, and helpers for HTML form values.

use crate::error::AppError;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

/// A URL-encoded form body. A form without a `csrf` field is refused as forged (403) before its
/// other fields are even read; malformed input becomes a `bad_request` page, not a bare 422.
/// Handlers still compare the token with the visitor's ([`super::session::Visitor::check_csrf`]).
pub struct WebForm<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for WebForm<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let body = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|r| match r.status().as_u16() {
                413 => AppError::new(pf_api::ErrorCode::TooLarge, "the form is too large"),
                _ => {
                    AppError::bad_request(format!("the form could not be read: {}", r.body_text()))
                }
            })?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
            .map_err(|e| AppError::bad_request(format!("the form could not be read: {e}")))?;
        if !pairs.iter().any(|(k, _)| k == "csrf") {
            return Err(AppError::new(
                pf_api::ErrorCode::BadCsrf,
                "the form has no security token; reload the page and try again",
            ));
        }
        serde_urlencoded::from_bytes(&body)
            .map(WebForm)
            .map_err(|e| AppError::bad_request(format!("the form could not be read: {e}")))
    }
}

/// An HTML checkbox: present ("on") or absent.
pub fn checkbox(value: &Option<String>) -> bool {
    value
        .as_deref()
        .is_some_and(|v| matches!(v, "on" | "1" | "true" | "yes"))
}

/// An optional numeric field that may be submitted empty.
pub fn optional_id(value: &Option<String>) -> Result<Option<i64>, AppError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| AppError::bad_request(format!("'{v}' is not a number"))),
    }
}
