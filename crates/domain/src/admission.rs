//! Admission of incoming operations (SPEC §5.9): the one decision every receiver makes, in the
//! landing context, before it acts for a peer.
//!
//! A receiver admits an operation when either
//!
//! - **(a) by account**: the acting user maps to an account here — the roaming account keyed by
//!   (username, home = the calling peer), or a local account an admin explicitly linked to that
//!   remote identity (never a local account because the names match) — and that account holds
//!   the operation's [`Operation::landing_capability`] in the landing context; or
//! - **(b) by grant**: the calling peer holds this platform's [`Grant`] for the operation and
//!   asserts that the user holds one of [`Operation::source_capabilities`] on the source.
//!
//! [`decide`] is that table as a pure function; the server gathers the facts (account lookup,
//! capability walk, grants) and calls it. [`default_grants`] gives the grants pairing sets.

use crate::access::Capability;
use crate::platform::PlatformRole;
use crate::DomainError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// A permission one platform gives a peer for an incoming operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    /// The peer may publish here (we are a catalog).
    Publish,
    /// The peer may deploy here (we are a training platform).
    Deploy,
    /// The peer may retrofit here (we are a factory).
    Retrofit,
    /// The peer may open and close sessions here.
    Sessions,
}

impl Grant {
    /// Every grant, in the CLI's order.
    pub const ALL: [Grant; 4] = [
        Grant::Publish,
        Grant::Deploy,
        Grant::Retrofit,
        Grant::Sessions,
    ];

    /// The grant's stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Grant::Publish => "publish",
            Grant::Deploy => "deploy",
            Grant::Retrofit => "retrofit",
            Grant::Sessions => "sessions",
        }
    }

    /// Parses a comma-separated list (`publish,deploy`); an empty list is no grant.
    pub fn parse_list(list: &str) -> Result<BTreeSet<Grant>, DomainError> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .collect()
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Grant {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Grant::ALL
            .into_iter()
            .find(|g| g.as_str() == s)
            .ok_or_else(|| {
                DomainError::invalid(
                    "grant",
                    format!("'{s}' is not one of publish, deploy, retrofit, sessions"),
                )
            })
    }
}

/// An operation a peer asks this platform to perform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Receive a publication (factory → catalog).
    Publish,
    /// Receive a deployment (catalog or factory → training).
    Deploy,
    /// Receive a retrofit (training → factory).
    Retrofit,
    /// Open or close a session of a deployed course.
    Sessions,
}

impl Operation {
    /// The grant that admits this operation under (b).
    pub fn grant(self) -> Grant {
        match self {
            Operation::Publish => Grant::Publish,
            Operation::Deploy => Grant::Deploy,
            Operation::Retrofit => Grant::Retrofit,
            Operation::Sessions => Grant::Sessions,
        }
    }

    /// The capability the mapped account needs in the landing context under (a).
    pub fn landing_capability(self) -> Capability {
        match self {
            Operation::Publish => Capability::Publish,
            Operation::Deploy | Operation::Retrofit => Capability::CourseCreate,
            Operation::Sessions => Capability::Manage,
        }
    }

    /// The capabilities on the source, any of which the peer must assert under (b).
    pub fn source_capabilities(self) -> &'static [Capability] {
        match self {
            Operation::Publish => &[Capability::Publish],
            Operation::Deploy => &[Capability::Deploy, Capability::DeployEverywhere],
            Operation::Retrofit => &[Capability::Retrofit],
            Operation::Sessions => &[Capability::Manage],
        }
    }
}

/// What the receiver found about the acting user's account here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountFacts {
    /// No roaming account and no explicit link for this remote identity.
    None,
    /// The mapped account is disabled (e.g. its home peer was removed).
    Disabled,
    /// The mapped account holds the landing capability in the landing context.
    Holds,
    /// The mapped account lacks it.
    Lacks,
}

/// The facts [`decide`] needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmissionFacts<'a> {
    /// The operation.
    pub operation: Operation,
    /// The acting user's account here, and its capability in the landing context.
    pub account: AccountFacts,
    /// The grants this platform gives the calling peer.
    pub grants: &'a BTreeSet<Grant>,
    /// The capabilities the calling peer asserts the user holds on the source.
    pub asserted: &'a [Capability],
}

/// How an operation was admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Admitted {
    /// (a): the user's account here holds the capability.
    ByAccount,
    /// (b): the peer's grant and its assertion about the source; the user gets or reuses the
    /// roaming account.
    ByGrant,
}

/// Why an operation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refused {
    /// The mapped account is disabled (`bad_user`).
    DisabledAccount,
    /// The user's account here lacks the capability and no grant applies
    /// (`missing_capability`).
    MissingCapability,
    /// No account maps and no grant applies (`not_admitted`).
    NotAdmitted,
}

/// The admission decision (see the module docs).
pub fn decide(facts: &AdmissionFacts<'_>) -> Result<Admitted, Refused> {
    if facts.account == AccountFacts::Disabled {
        return Err(Refused::DisabledAccount);
    }
    if facts.account == AccountFacts::Holds {
        return Ok(Admitted::ByAccount);
    }
    let granted = facts.grants.contains(&facts.operation.grant());
    let asserted = facts
        .operation
        .source_capabilities()
        .iter()
        .any(|c| facts.asserted.contains(c));
    if granted && asserted {
        return Ok(Admitted::ByGrant);
    }
    match facts.account {
        AccountFacts::Lacks => Err(Refused::MissingCapability),
        _ => Err(Refused::NotAdmitted),
    }
}

/// The grants pairing gives a peer, by duty (SPEC §5.9): a catalog grants `publish` to
/// factories; a training platform grants `deploy` to catalogs and factories and `sessions` to
/// catalogs; a factory grants `retrofit` to training platforms.
pub fn default_grants(local: PlatformRole, peer: PlatformRole) -> BTreeSet<Grant> {
    let (me, them) = (local.duties(), peer.duties());
    let mut grants = BTreeSet::new();
    if me.catalog && them.factory {
        grants.insert(Grant::Publish);
    }
    if me.training && (them.catalog || them.factory) {
        grants.insert(Grant::Deploy);
    }
    if me.training && them.catalog {
        grants.insert(Grant::Sessions);
    }
    if me.factory && them.training {
        grants.insert(Grant::Retrofit);
    }
    grants
}

#[cfg(test)]
#[path = "admission_tests.rs"]
mod tests;
