//! Course roles, capabilities, contexts and the default capability table (SPEC §4).
//!
//! A check gathers the user's role assignments along the context chain (course → its categories →
//! system) and asks whether any of those roles holds the capability. The site administrator holds
//! every capability everywhere; guests (visitors who are not logged in) hold only what guest access
//! grants. Admins may change the table; [`RoleCapabilities`] is the table in force.

use crate::ids::{CategoryId, CourseId};
use crate::DomainError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

macro_rules! named_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name { $($(#[$vdoc])* #[serde(rename = $text)] $variant),* }

        impl $name {
            /// Every value, in table order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The stable name used in the CLI, the API and the database.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = DomainError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| {
                    let names: Vec<_> = $name::ALL.iter().map(|v| v.as_str()).collect();
                    DomainError::invalid(stringify!($name), format!("'{s}' is not one of {}", names.join(", ")))
                })
            }
        }
    };
}

named_enum!(
    /// A role that can be assigned to a user in a context.
    RoleName {
        /// Site administrator: every capability everywhere.
        Admin = "admin",
        /// Manages categories and courses.
        Manager = "manager",
        /// Creates courses.
        CourseCreator = "coursecreator",
        /// Teacher who edits.
        EditingTeacher = "editingteacher",
        /// Teacher who does not edit.
        Teacher = "teacher",
        /// Deploys courses to training platforms.
        Deployer = "deployer",
        /// Learner.
        Student = "student",
        /// Learner whose session is closed: consults, no longer participates.
        DisabledStudent = "disabledstudent",
        /// Visitor who is not logged in, where guest access is granted.
        Guest = "guest",
    }
);

named_enum!(
    /// Something a user may be allowed to do.
    Capability {
        /// Consult a visible course.
        CourseView = "course:view",
        /// Consult a hidden course.
        CourseViewHidden = "course:viewhidden",
        /// Post, submit, attempt.
        CourseParticipate = "course:participate",
        /// Edit a course.
        CourseUpdate = "course:update",
        /// Create a course in a category.
        CourseCreate = "course:create",
        /// Manage categories.
        CategoryManage = "category:manage",
        /// Configure the site (admin only).
        SiteConfig = "site:config",
        /// Publish to a catalog.
        Publish = "publishflow:publish",
        /// Deploy to a training platform.
        Deploy = "publishflow:deploy",
        /// Deploy to every training platform (system context only).
        DeployEverywhere = "publishflow:deployeverywhere",
        /// Retrofit to a factory.
        Retrofit = "publishflow:retrofit",
        /// Open and close sessions.
        Manage = "publishflow:manage",
        /// Make, list and replace transport archives.
        ManagePublishedFiles = "publishflow:managepublishedfiles",
    }
);

/// Where a role is assigned or a capability is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "level", content = "id", rename_all = "snake_case")]
pub enum Context {
    /// The whole platform.
    System,
    /// A category and everything below it.
    Category(CategoryId),
    /// One course.
    Course(CourseId),
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Context::System => f.write_str("system"),
            Context::Category(id) => write!(f, "category:{id}"),
            Context::Course(id) => write!(f, "course:{id}"),
        }
    }
}

impl FromStr for Context {
    type Err = DomainError;

    /// Parses `system`, `category:ID` or `course:ID` (the CLI's `--role ROLE@CONTEXT`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            DomainError::invalid(
                "context",
                format!("'{s}' is not system, category:ID or course:ID"),
            )
        };
        if s == "system" {
            return Ok(Context::System);
        }
        let (level, id) = s.split_once(':').ok_or_else(bad)?;
        let id: i64 = id.parse().map_err(|_| bad())?;
        match level {
            "category" => Ok(Context::Category(CategoryId(id))),
            "course" => Ok(Context::Course(CourseId(id))),
            _ => Err(bad()),
        }
    }
}

/// The capability table in force: which role holds which capability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleCapabilities {
    grants: BTreeSet<(RoleName, Capability)>,
}

impl RoleCapabilities {
    /// The defaults of SPEC §4.
    pub fn defaults() -> Self {
        use Capability::*;
        use RoleName::*;
        let rows: &[(Capability, &[RoleName])] = &[
            (
                CourseView,
                &[
                    Manager,
                    CourseCreator,
                    EditingTeacher,
                    Teacher,
                    Deployer,
                    Student,
                    DisabledStudent,
                    Guest,
                ],
            ),
            (
                CourseViewHidden,
                &[Manager, CourseCreator, EditingTeacher, Teacher, Deployer],
            ),
            (
                CourseParticipate,
                &[Manager, EditingTeacher, Teacher, Student],
            ),
            (CourseUpdate, &[Manager, CourseCreator, EditingTeacher]),
            (CourseCreate, &[Manager, CourseCreator]),
            (CategoryManage, &[Manager]),
            (Publish, &[Manager, CourseCreator, EditingTeacher, Deployer]),
            (Deploy, &[Manager, CourseCreator, EditingTeacher, Deployer]),
            (DeployEverywhere, &[Manager, CourseCreator]),
            (
                Retrofit,
                &[Manager, CourseCreator, EditingTeacher, Deployer],
            ),
            (Manage, &[Manager, CourseCreator, EditingTeacher]),
            (
                ManagePublishedFiles,
                &[Manager, CourseCreator, EditingTeacher],
            ),
        ];
        let grants = rows
            .iter()
            .flat_map(|(cap, roles)| roles.iter().map(move |role| (*role, *cap)))
            .collect();
        RoleCapabilities { grants }
    }

    /// Builds a table from explicit (role, capability) pairs, e.g. as stored by an admin.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (RoleName, Capability)>) -> Self {
        RoleCapabilities {
            grants: pairs.into_iter().collect(),
        }
    }

    /// Every (role, capability) pair in the table.
    pub fn pairs(&self) -> impl Iterator<Item = (RoleName, Capability)> + '_ {
        self.grants.iter().copied()
    }

    /// Whether `role` holds `capability` (the admin role holds all of them).
    pub fn role_has(&self, role: RoleName, capability: Capability) -> bool {
        role == RoleName::Admin || self.grants.contains(&(role, capability))
    }
}

/// Whether a capability may be held through an assignment below the system context.
///
/// `site:config` and `deployeverywhere` are platform-wide powers: a course or category
/// assignment never grants them.
pub fn system_only(capability: Capability) -> bool {
    matches!(
        capability,
        Capability::SiteConfig | Capability::DeployEverywhere
    )
}

/// A role held by a user in a context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Assignment {
    /// The role.
    pub role: RoleName,
    /// Where it applies.
    pub context: Context,
}

/// Decides whether assignments grant a capability in a context.
///
/// `chain` is the target context followed by its ancestors up to [`Context::System`]
/// (course, its category, that category's parents…, system). Only assignments made in one of
/// those contexts count.
pub fn has_capability(
    table: &RoleCapabilities,
    assignments: &[Assignment],
    chain: &[Context],
    capability: Capability,
) -> bool {
    assignments.iter().any(|a| {
        let in_chain = chain.contains(&a.context);
        let level_ok = !system_only(capability) || a.context == Context::System;
        in_chain && level_ok && table.role_has(a.role, capability)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain() -> Vec<Context> {
        vec![
            Context::Course(CourseId(7)),
            Context::Category(CategoryId(3)),
            Context::Category(CategoryId(1)),
            Context::System,
        ]
    }

    #[test]
    fn a_course_role_applies_only_to_its_course() {
        let table = RoleCapabilities::defaults();
        let teacher = [Assignment {
            role: RoleName::EditingTeacher,
            context: Context::Course(CourseId(7)),
        }];
        assert!(has_capability(
            &table,
            &teacher,
            &chain(),
            Capability::CourseUpdate
        ));
        let other = vec![
            Context::Course(CourseId(8)),
            Context::Category(CategoryId(3)),
            Context::System,
        ];
        assert!(!has_capability(
            &table,
            &teacher,
            &other,
            Capability::CourseUpdate
        ));
    }

    #[test]
    fn category_roles_reach_courses_below() {
        let table = RoleCapabilities::defaults();
        let creator = [Assignment {
            role: RoleName::CourseCreator,
            context: Context::Category(CategoryId(1)),
        }];
        assert!(has_capability(
            &table,
            &creator,
            &chain(),
            Capability::CourseCreate
        ));
        assert!(!has_capability(
            &table,
            &creator,
            &chain(),
            Capability::CategoryManage
        ));
    }

    #[test]
    fn system_only_capabilities_need_a_system_assignment() {
        let table = RoleCapabilities::defaults();
        let in_category = [Assignment {
            role: RoleName::Manager,
            context: Context::Category(CategoryId(1)),
        }];
        assert!(!has_capability(
            &table,
            &in_category,
            &chain(),
            Capability::DeployEverywhere
        ));
        let at_system = [Assignment {
            role: RoleName::Manager,
            context: Context::System,
        }];
        assert!(has_capability(
            &table,
            &at_system,
            &chain(),
            Capability::DeployEverywhere
        ));
        assert!(!has_capability(
            &table,
            &at_system,
            &chain(),
            Capability::SiteConfig
        ));
        let admin = [Assignment {
            role: RoleName::Admin,
            context: Context::System,
        }];
        assert!(has_capability(
            &table,
            &admin,
            &chain(),
            Capability::SiteConfig
        ));
    }

    #[test]
    fn disabled_students_consult_but_do_not_participate() {
        let table = RoleCapabilities::defaults();
        let s = [Assignment {
            role: RoleName::DisabledStudent,
            context: Context::Course(CourseId(7)),
        }];
        assert!(has_capability(&table, &s, &chain(), Capability::CourseView));
        assert!(!has_capability(
            &table,
            &s,
            &chain(),
            Capability::CourseParticipate
        ));
        assert!(!has_capability(
            &table,
            &s,
            &chain(),
            Capability::CourseViewHidden
        ));
    }

    #[test]
    fn default_table_matches_the_spec_counts() {
        let table = RoleCapabilities::defaults();
        let count = |cap| {
            RoleName::ALL
                .iter()
                .filter(|r| **r != RoleName::Admin && table.role_has(**r, cap))
                .count()
        };
        assert_eq!(count(Capability::CourseView), 8);
        assert_eq!(count(Capability::CourseParticipate), 4);
        assert_eq!(count(Capability::SiteConfig), 0);
        assert_eq!(count(Capability::Manage), 3);
    }

    #[test]
    fn contexts_parse_like_the_cli_writes_them() {
        assert_eq!("system".parse::<Context>().unwrap(), Context::System);
        assert_eq!(
            "category:4".parse::<Context>().unwrap(),
            Context::Category(CategoryId(4))
        );
        assert_eq!(
            "course:9".parse::<Context>().unwrap().to_string(),
            "course:9"
        );
        assert!("course:x".parse::<Context>().is_err());
        assert!("planet:1".parse::<Context>().is_err());
        assert!("teacher".parse::<RoleName>().is_ok());
        assert!("wizard".parse::<RoleName>().is_err());
    }
}
