//! Profile rules (SPEC §8): admin-written conditions on a user's trusted profile fields that
//! decide who may consult and who may deploy the courses of a category or a course.
//!
//! A rule is a conjunction of clauses: `field = value`, `field != value`,
//! `field in [a, b, c]`, joined with `and`. Values are compared exactly after trimming. A user
//! matches a rule when every clause holds on the fields given to it, and the caller gives only the
//! fields it trusts (admin-managed at home, trusted for that peer by the catalog admin), so a
//! user-editable field can never satisfy a rule.

use crate::DomainError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// What a rule grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleGrant {
    /// See and consult the courses.
    Consult,
    /// Deploy the courses (to the user's home, or here).
    Deploy,
}

impl RuleGrant {
    /// The grant's name.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleGrant::Consult => "consult",
            RuleGrant::Deploy => "deploy",
        }
    }

    /// Parses `consult` or `deploy`.
    pub fn parse(s: &str) -> Result<RuleGrant, DomainError> {
        match s {
            "consult" => Ok(RuleGrant::Consult),
            "deploy" => Ok(RuleGrant::Deploy),
            other => Err(DomainError::invalid(
                "rule grant",
                format!("'{other}' is not consult or deploy"),
            )),
        }
    }
}

/// One clause of a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Clause {
    /// `field = value`
    Is(String, String),
    /// `field != value` (an absent field is "not value")
    IsNot(String, String),
    /// `field in [values]`
    In(String, Vec<String>),
}

/// A parsed rule: every clause must hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    clauses: Vec<Clause>,
}

fn field(name: &str) -> Result<String, DomainError> {
    crate::user::parse_field_key(name.trim())
}

fn value(v: &str) -> Result<String, DomainError> {
    let v = v.trim().trim_matches('"').trim();
    if v.is_empty() || v.contains([',', '[', ']']) {
        return Err(DomainError::invalid(
            "rule",
            format!("'{v}' is not a value"),
        ));
    }
    Ok(v.to_string())
}

impl Rule {
    /// Parses `establishment_type = lycee and discipline in [maths, physics]`.
    pub fn parse(text: &str) -> Result<Rule, DomainError> {
        let mut clauses = Vec::new();
        for part in text.split(" and ") {
            let part = part.trim();
            let clause = if let Some((f, v)) = part.split_once("!=") {
                Clause::IsNot(field(f)?, value(v)?)
            } else if let Some((f, v)) = part.split_once('=') {
                Clause::Is(field(f)?, value(v)?)
            } else if let Some((f, list)) = part.split_once(" in ") {
                let list = list.trim();
                let inner = list
                    .strip_prefix('[')
                    .and_then(|l| l.strip_suffix(']'))
                    .ok_or_else(|| {
                        DomainError::invalid("rule", format!("'{list}' is not a [list]"))
                    })?;
                let values = inner.split(',').map(value).collect::<Result<Vec<_>, _>>()?;
                Clause::In(field(f)?, values)
            } else {
                return Err(DomainError::invalid(
                    "rule",
                    format!(
                        "'{part}' is not 'field = value', 'field != value' or 'field in [a, b]'"
                    ),
                ));
            };
            clauses.push(clause);
        }
        if clauses.is_empty() || text.trim().is_empty() {
            return Err(DomainError::invalid(
                "rule",
                "a rule needs at least one clause",
            ));
        }
        Ok(Rule { clauses })
    }

    /// Whether every clause holds on `fields` (only trusted fields should be given).
    pub fn matches(&self, fields: &BTreeMap<String, String>) -> bool {
        self.clauses.iter().all(|c| match c {
            Clause::Is(f, v) => fields.get(f).is_some_and(|x| x.trim() == v),
            Clause::IsNot(f, v) => fields.get(f).is_none_or(|x| x.trim() != v),
            Clause::In(f, vs) => fields
                .get(f)
                .is_some_and(|x| vs.iter().any(|v| v == x.trim())),
        })
    }

    /// The fields the rule reads (what a roaming account must keep).
    pub fn fields(&self) -> Vec<&str> {
        self.clauses
            .iter()
            .map(|c| match c {
                Clause::Is(f, _) | Clause::IsNot(f, _) | Clause::In(f, _) => f.as_str(),
            })
            .collect()
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .clauses
            .iter()
            .map(|c| match c {
                Clause::Is(k, v) => format!("{k} = {v}"),
                Clause::IsNot(k, v) => format!("{k} != {v}"),
                Clause::In(k, vs) => format!("{k} in [{}]", vs.join(", ")),
            })
            .collect();
        f.write_str(&parts.join(" and "))
    }
}

/// What the rules on a course's context chain say about one user and one grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleVerdict {
    /// No rule of this grant applies: roles and capabilities decide alone.
    NoRules,
    /// A rule of this grant matches the user.
    Granted,
    /// Rules of this grant apply and none matches: the user is outside them.
    Outside,
}

/// Decides for `grant` from the rules found on the course and its categories.
pub fn verdict(
    rules: &[(RuleGrant, Rule)],
    grant: RuleGrant,
    trusted: &BTreeMap<String, String>,
) -> RuleVerdict {
    let mut applicable = rules.iter().filter(|(g, _)| *g == grant).peekable();
    if applicable.peek().is_none() {
        return RuleVerdict::NoRules;
    }
    if applicable.any(|(_, r)| r.matches(trusted)) {
        RuleVerdict::Granted
    } else {
        RuleVerdict::Outside
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn rules_parse_and_print_back() {
        let r =
            Rule::parse(" establishment_type = lycee and discipline in [maths, physics] ").unwrap();
        assert_eq!(
            r.to_string(),
            "establishment_type = lycee and discipline in [maths, physics]"
        );
        assert_eq!(r.fields(), ["establishment_type", "discipline"]);
        assert!(Rule::parse("").is_err());
        assert!(Rule::parse("discipline ~ maths").is_err());
        assert!(
            Rule::parse("Discipline = maths").is_err(),
            "field keys are lowercase"
        );
        assert!(Rule::parse("discipline in maths").is_err());
        assert!(Rule::parse("discipline = ").is_err());
    }

    #[test]
    fn every_clause_must_hold() {
        let r = Rule::parse(
            "establishment_type = lycee and discipline in [maths, physics] and level != primary",
        )
        .unwrap();
        assert!(r.matches(&fields(&[
            ("establishment_type", "lycee"),
            ("discipline", "physics")
        ])));
        assert!(!r.matches(&fields(&[
            ("establishment_type", "college"),
            ("discipline", "physics")
        ])));
        assert!(!r.matches(&fields(&[
            ("establishment_type", "lycee"),
            ("discipline", "history")
        ])));
        assert!(
            !r.matches(&fields(&[("discipline", "maths")])),
            "a missing field does not match"
        );
        assert!(!r.matches(&fields(&[
            ("establishment_type", "lycee"),
            ("discipline", "maths"),
            ("level", "primary")
        ])));
    }

    #[test]
    fn verdicts_distinguish_no_rules_from_outside() {
        let rules = vec![
            (
                RuleGrant::Consult,
                Rule::parse("discipline = maths").unwrap(),
            ),
            (
                RuleGrant::Consult,
                Rule::parse("discipline = physics").unwrap(),
            ),
            (
                RuleGrant::Deploy,
                Rule::parse("establishment_type = lycee").unwrap(),
            ),
        ];
        let maths = fields(&[("discipline", "maths")]);
        assert_eq!(
            verdict(&rules, RuleGrant::Consult, &maths),
            RuleVerdict::Granted,
            "any rule of the grant"
        );
        assert_eq!(
            verdict(&rules, RuleGrant::Deploy, &maths),
            RuleVerdict::Outside
        );
        assert_eq!(
            verdict(&rules, RuleGrant::Consult, &fields(&[])),
            RuleVerdict::Outside
        );
        assert_eq!(
            verdict(&[], RuleGrant::Consult, &maths),
            RuleVerdict::NoRules
        );
        assert_eq!(RuleGrant::parse("deploy").unwrap(), RuleGrant::Deploy);
        assert!(RuleGrant::parse("admin").is_err());
    }
}
