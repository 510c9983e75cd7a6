//! Typed database ids, so a course id can never be passed where a user id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta] $name:ident),* $(,)?) => {$(
        #[$doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

id_type!(
    /// A category of this platform.
    CategoryId,
    /// A course of this platform.
    CourseId,
    /// A section of a course.
    SectionId,
    /// An activity (course module) of a course.
    ActivityId,
    /// A user account of this platform (local or roaming).
    UserId,
    /// A paired peer platform.
    PeerId,
    /// A job (an audited operation).
    JobId,
);
