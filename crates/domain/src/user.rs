//! Usernames, home platforms and profile fields (SPEC §4).

use crate::ids::PeerId;
use crate::DomainError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A local username: 1–100 characters of lowercase letters, digits and `._-`.
///
/// `@` is reserved: roaming accounts are shown as `username@platform`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

impl Username {
    /// Validates a username (Moodle's rules, without `@`).
    pub fn parse(value: &str) -> Result<Self, DomainError> {
        let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c);
        if value.is_empty() || value.len() > 100 {
            return Err(DomainError::invalid(
                "username",
                "must be 1 to 100 characters",
            ));
        }
        if !value.chars().all(ok_char) {
            return Err(DomainError::invalid(
                "username",
                "may contain only lowercase letters, digits, '.', '_' and '-'",
            ));
        }
        Ok(Username(value.to_string()))
    }

    /// The username as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Username {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Username::parse(&value)
    }
}

impl From<Username> for String {
    fn from(value: Username) -> Self {
        value.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where an account lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "peer", rename_all = "snake_case")]
pub enum Home {
    /// A local account of this platform: may log in with a password.
    Local,
    /// A roaming account whose home is a paired peer: never logs in with a password.
    Peer(PeerId),
}

/// How an account is shown everywhere: `username` for local ones, `username@platform` for roaming.
pub fn display_name(username: &Username, home_name: Option<&str>) -> String {
    match home_name {
        Some(platform) => format!("{username}@{platform}"),
        None => username.to_string(),
    }
}

/// Who may change a profile field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldEditor {
    /// Only admins set it; peers may trust it for profile rules (SPEC §8).
    Admin,
    /// The user sets it; never trusted by profile rules.
    User,
}

/// A profile field key: 1–64 characters of lowercase letters, digits and `_`.
pub fn parse_field_key(value: &str) -> Result<String, DomainError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(value.to_string())
    } else {
        Err(DomainError::invalid(
            "profile field",
            format!("'{value}' must be 1 to 64 lowercase letters, digits or '_'"),
        ))
    }
}

/// Parses the CLI's `--profile KEY=VALUE`.
pub fn parse_profile_assignment(value: &str) -> Result<(String, String), DomainError> {
    let (key, val) = value.split_once('=').ok_or_else(|| {
        DomainError::invalid("profile field", format!("'{value}' is not KEY=VALUE"))
    })?;
    Ok((parse_field_key(key)?, val.trim().to_string()))
}

/// The languages the interface and notifications speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// English.
    #[default]
    En,
    /// French.
    Fr,
}

impl Language {
    /// The language's code.
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Fr => "fr",
        }
    }

    /// Parses `en`, `fr` and regional forms such as `fr-CA` or Moodle's `fr_ca`.
    pub fn from_tag(tag: &str) -> Option<Language> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Language::En),
            "fr" => Some(Language::Fr),
            _ => None,
        }
    }

    /// Picks the first supported language of an `Accept-Language` header (q-values honoured).
    pub fn negotiate(accept_language: &str) -> Option<Language> {
        let mut choices: Vec<(f32, Language)> = accept_language
            .split(',')
            .filter_map(|part| {
                let mut pieces = part.split(';');
                let lang = Language::from_tag(pieces.next()?)?;
                let q = pieces
                    .find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse().ok()))
                    .unwrap_or(1.0);
                Some((q, lang))
            })
            .collect();
        choices.sort_by(|a, b| b.0.total_cmp(&a.0));
        choices.first().map(|(_, l)| *l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_moodle_rules_without_at() {
        assert!(Username::parse("jean.dupont-2").is_ok());
        assert!(Username::parse("Admin").is_err());
        assert!(Username::parse("a@b").is_err());
        assert!(Username::parse("").is_err());
        assert_eq!(
            display_name(&Username::parse("amel").unwrap(), Some("lycee-a")),
            "amel@lycee-a"
        );
    }

    #[test]
    fn profile_assignments_parse() {
        assert_eq!(
            parse_profile_assignment("discipline=maths").unwrap(),
            ("discipline".into(), "maths".into())
        );
        assert!(parse_profile_assignment("discipline").is_err());
        assert!(parse_profile_assignment("Bad Key=x").is_err());
    }

    #[test]
    fn languages_negotiate_with_q_values() {
        assert_eq!(
            Language::negotiate("fr-FR,fr;q=0.9,en;q=0.8"),
            Some(Language::Fr)
        );
        assert_eq!(Language::negotiate("de, en;q=0.5"), Some(Language::En));
        assert_eq!(Language::negotiate("de"), None);
        assert_eq!(Language::from_tag("fr_ca"), Some(Language::Fr));
    }
}
