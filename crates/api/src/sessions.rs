//! Documents of course sessions and mail: `session open|close --json`, `outbox list --json`
//! and the matching API endpoints.

use serde::{Deserialize, Serialize};

/// What `session open` and `session close` print (CLI contract: `{course_id, category, visible}`,
/// plus the details below).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionDoc {
    /// The course.
    pub course_id: i64,
    /// Its category afterwards.
    pub category: i64,
    /// Whether it is visible afterwards.
    pub visible: bool,
    /// Whether guests (not logged in) may consult it afterwards.
    pub guest_access: bool,
    /// Students switched to `disabledstudent` by a close, or back by an open.
    pub switched: usize,
    /// Messages queued by an open with notification.
    pub notified: usize,
}

/// One line of `outbox list --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxDoc {
    /// Message id.
    pub id: i64,
    /// What it is about (`session_open`…).
    pub kind: String,
    /// Recipient address.
    pub to: String,
    /// Subject.
    pub subject: String,
    /// The recipient's language the message was written in.
    pub lang: String,
    /// Queued at (RFC 3339).
    pub created: String,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// `queued` or `sent`.
    pub status: String,
    /// Delivered at (RFC 3339), or null.
    pub sent: Option<String>,
    /// The last delivery error, or null.
    pub error: Option<String>,
}
