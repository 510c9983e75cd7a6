use thiserror::Error;

/// Why a value or an action was refused by the platform's rules.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    /// A value does not have the required shape; `field` names what was being parsed.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field or concept being parsed (e.g. "shortname").
        field: &'static str,
        /// A human-readable reason, safe to show to the user.
        reason: String,
    },
    /// A name that must be unique is already used.
    #[error("{what} '{value}' is already taken")]
    Taken {
        /// What kind of name (e.g. "shortname").
        what: &'static str,
        /// The taken value.
        value: String,
    },
    /// The category tree would become inconsistent (cycle, unknown parent).
    #[error("invalid category tree: {0}")]
    Tree(String),
}

impl DomainError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        DomainError::Invalid {
            field,
            reason: reason.into(),
        }
    }
}
