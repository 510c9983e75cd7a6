//! Course names and the naming rules on arrival (SPEC §3).

use crate::DomainError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest short name, full name or idnumber accepted (Moodle's column sizes).
const MAX_SHORTNAME: usize = 255;
const MAX_FULLNAME: usize = 254;
const MAX_IDNUMBER: usize = 100;

fn clean(field: &'static str, value: &str, max: usize) -> Result<String, DomainError> {
    let trimmed = value.trim();
    if trimmed.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    if trimmed.chars().count() > max {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(trimmed.to_string())
}

/// A course's short name: unique on a platform, non-empty, trimmed, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Shortname(String);

impl Shortname {
    /// Validates a short name typed by a person or found in an archive.
    pub fn parse(value: &str) -> Result<Self, DomainError> {
        let v = clean("shortname", value, MAX_SHORTNAME)?;
        if v.is_empty() {
            return Err(DomainError::invalid("shortname", "must not be empty"));
        }
        Ok(Shortname(v))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `n`-th alternative of this name (`NAME_n`), as Moodle's restore makes them.
    pub fn numbered(&self, n: u32) -> Shortname {
        let suffix = format!("_{n}");
        // Keep the result within the column size by shortening the stem, never the suffix.
        let room = MAX_SHORTNAME - suffix.len();
        let stem: String = self.0.chars().take(room).collect();
        Shortname(format!("{stem}{suffix}"))
    }
}

impl TryFrom<String> for Shortname {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Shortname::parse(&value)
    }
}

impl From<Shortname> for String {
    fn from(value: Shortname) -> Self {
        value.0
    }
}

impl fmt::Display for Shortname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A course's full name: non-empty, trimmed, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Fullname(String);

impl Fullname {
    /// Validates a full name.
    pub fn parse(value: &str) -> Result<Self, DomainError> {
        let v = clean("fullname", value, MAX_FULLNAME)?;
        if v.is_empty() {
            return Err(DomainError::invalid("fullname", "must not be empty"));
        }
        Ok(Fullname(v))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Fullname {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Fullname::parse(&value)
    }
}

impl From<Fullname> for String {
    fn from(value: Fullname) -> Self {
        value.0
    }
}

/// The learning-path key that follows copies of a course across the network. May be empty; not
/// unique (every copy of a course shares it).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdNumber(String);

impl IdNumber {
    /// Validates an idnumber (empty is allowed and means "not indexed yet").
    pub fn parse(value: &str) -> Result<Self, DomainError> {
        Ok(IdNumber(clean("idnumber", value, MAX_IDNUMBER)?))
    }

    /// The idnumber as text (empty when unset).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the course has no idnumber yet.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A `local`-strategy idnumber (SPEC §5.1): ten capital letters drawn from `random`.
    ///
    /// The caller supplies the randomness (a CSPRNG in production) and checks uniqueness.
    pub fn local_code(random: [u8; 10]) -> IdNumber {
        IdNumber(random.iter().map(|b| char::from(b'A' + b % 26)).collect())
    }
}

impl TryFrom<String> for IdNumber {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        IdNumber::parse(&value)
    }
}

impl From<IdNumber> for String {
    fn from(value: IdNumber) -> Self {
        value.0
    }
}

impl fmt::Display for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Picks the short name of a course arriving by import, publish, deploy or retrofit: the
/// archive's name if free, else the first free `NAME_1`, `NAME_2`… (SPEC §3).
///
/// `is_taken` answers from the platform's current courses; the store calls this inside the
/// transaction that inserts the course, so two arrivals never get the same name.
pub fn arrival_shortname(
    wanted: &Shortname,
    mut is_taken: impl FnMut(&Shortname) -> bool,
) -> Shortname {
    if !is_taken(wanted) {
        return wanted.clone();
    }
    (1..)
        .map(|n| wanted.numbered(n))
        .find(|candidate| !is_taken(candidate))
        .expect("an unbounded sequence of names has a free one")
}

/// Course formats the platform knows how to show; others are kept and shown as topics.
pub const KNOWN_FORMATS: &[&str] = &["topics", "weeks", "singleactivity", "social"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortnames_are_trimmed_and_refuse_empty_or_control() {
        assert_eq!(Shortname::parse("  MATH101 ").unwrap().as_str(), "MATH101");
        assert!(Shortname::parse("   ").is_err());
        assert!(Shortname::parse("a\nb").is_err());
        assert!(Shortname::parse(&"x".repeat(256)).is_err());
    }

    #[test]
    fn arrival_takes_the_first_free_numbered_name() {
        let wanted = Shortname::parse("MATH").unwrap();
        let taken = ["MATH", "MATH_1", "MATH_2"];
        let got = arrival_shortname(&wanted, |c| taken.contains(&c.as_str()));
        assert_eq!(got.as_str(), "MATH_3");
        assert_eq!(arrival_shortname(&wanted, |_| false), wanted);
    }

    #[test]
    fn numbered_names_stay_within_the_column() {
        let long = Shortname::parse(&"é".repeat(255)).unwrap();
        let n = long.numbered(12);
        assert_eq!(n.as_str().chars().count(), 255);
        assert!(n.as_str().ends_with("_12"));
    }

    #[test]
    fn local_codes_are_ten_capital_letters() {
        let code = IdNumber::local_code([0, 25, 26, 255, 7, 8, 9, 10, 11, 12]);
        assert_eq!(code.as_str().len(), 10);
        assert!(code.as_str().chars().all(|c| c.is_ascii_uppercase()));
        assert!(IdNumber::parse("").unwrap().is_empty());
    }
}
