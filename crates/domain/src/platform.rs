//! Platform roles and duties (SPEC §2).

use crate::DomainError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The duties a platform carries in the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Duties {
    /// Courses are authored here and published to catalogs.
    pub factory: bool,
    /// Publications are received, browsed and deployed from here.
    pub catalog: bool,
    /// Deployed courses are taught here as sessions.
    pub training: bool,
}

impl Duties {
    /// Whether this platform receives courses from peers (and so needs a landing category).
    pub fn receives_courses(self) -> bool {
        self.factory || self.catalog || self.training
    }
}

/// A platform's role, named at `init`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlatformRole {
    /// Authoring platform.
    Factory,
    /// Curated library.
    Catalog,
    /// Teaching platform.
    Training,
    /// Authoring and library at once.
    FactoryCatalog,
    /// An establishment: authors, shares and receives courses.
    FactoryTraining,
    /// Not in the network.
    Normal,
}

impl PlatformRole {
    /// Every role, in the order of SPEC §2.
    pub const ALL: [PlatformRole; 6] = [
        PlatformRole::Factory,
        PlatformRole::Catalog,
        PlatformRole::Training,
        PlatformRole::FactoryCatalog,
        PlatformRole::FactoryTraining,
        PlatformRole::Normal,
    ];

    /// The role's name as used on the command line and over the network.
    pub fn as_str(self) -> &'static str {
        match self {
            PlatformRole::Factory => "factory",
            PlatformRole::Catalog => "catalog",
            PlatformRole::Training => "training",
            PlatformRole::FactoryCatalog => "factory_catalog",
            PlatformRole::FactoryTraining => "factory_training",
            PlatformRole::Normal => "normal",
        }
    }

    /// The duties this role carries.
    pub fn duties(self) -> Duties {
        let (factory, catalog, training) = match self {
            PlatformRole::Factory => (true, false, false),
            PlatformRole::Catalog => (false, true, false),
            PlatformRole::Training => (false, false, true),
            PlatformRole::FactoryCatalog => (true, true, false),
            PlatformRole::FactoryTraining => (true, false, true),
            PlatformRole::Normal => (false, false, false),
        };
        Duties {
            factory,
            catalog,
            training,
        }
    }
}

impl fmt::Display for PlatformRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PlatformRole {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PlatformRole::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = PlatformRole::ALL.iter().map(|r| r.as_str()).collect();
                DomainError::invalid("role", format!("'{s}' is not one of {}", names.join(", ")))
            })
    }
}

/// The categories a platform creates at `init`, by purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LandingPurpose {
    /// Where received courses land when no category is chosen (training: *Incoming*).
    Landing,
    /// Training: courses whose session is open.
    Running,
    /// Training: courses whose session is closed.
    Closed,
}

/// The categories `init` creates for a role: (purpose, display name, idnumber).
pub fn initial_categories(role: PlatformRole) -> Vec<(LandingPurpose, &'static str, &'static str)> {
    let duties = role.duties();
    if duties.training {
        vec![
            (LandingPurpose::Landing, "Incoming", "pf_incoming"),
            (LandingPurpose::Running, "Running", "pf_running"),
            (LandingPurpose::Closed, "Closed", "pf_closed"),
        ]
    } else if duties.receives_courses() {
        // A catalog receives publications; a factory receives retrofits.
        let name = if duties.catalog {
            "Published courses"
        } else {
            "Retrofitted courses"
        };
        vec![(LandingPurpose::Landing, name, "pf_landing")]
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_name_round_trips() {
        for role in PlatformRole::ALL {
            assert_eq!(role.as_str().parse::<PlatformRole>().unwrap(), role);
        }
        assert!(
            "factory_training"
                .parse::<PlatformRole>()
                .unwrap()
                .duties()
                .training
        );
        let err = "fabric".parse::<PlatformRole>().unwrap_err().to_string();
        assert!(err.contains("factory_training"), "{err}");
    }

    #[test]
    fn training_platforms_get_incoming_running_closed() {
        let names: Vec<_> = initial_categories(PlatformRole::FactoryTraining)
            .into_iter()
            .map(|(_, n, _)| n)
            .collect();
        assert_eq!(names, ["Incoming", "Running", "Closed"]);
        assert_eq!(initial_categories(PlatformRole::Catalog).len(), 1);
        assert_eq!(initial_categories(PlatformRole::Factory).len(), 1);
        assert!(initial_categories(PlatformRole::Normal).is_empty());
    }
}
