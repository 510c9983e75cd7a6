//! Publication series on a catalog (SPEC §5.3): which action a publish, republish, update or
//! unpublish request leads to, or why it is refused. Pure rules; the store applies the plan in
//! one transaction with the restore it goes with.

use crate::ids::CourseId;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What the factory asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublishMode {
    /// First publication: version 1.
    Publish,
    /// Make the newest version visible again.
    Republish,
    /// A new version k+1; older ones are hidden when it commits.
    Update,
    /// Hide every version.
    Unpublish,
}

impl PublishMode {
    /// The mode's name in the CLI (`--mode`).
    pub fn as_str(self) -> &'static str {
        match self {
            PublishMode::Publish => "publish",
            PublishMode::Republish => "republish",
            PublishMode::Update => "update",
            PublishMode::Unpublish => "unpublish",
        }
    }

    /// Whether the mode restores a new course (and so moves an archive).
    pub fn restores(self) -> bool {
        matches!(self, PublishMode::Publish | PublishMode::Update)
    }
}

impl fmt::Display for PublishMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PublishMode {
    type Err = crate::DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            PublishMode::Publish,
            PublishMode::Republish,
            PublishMode::Update,
            PublishMode::Unpublish,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
        .ok_or_else(|| {
            crate::DomainError::invalid(
                "mode",
                format!("'{s}' is not publish, republish, update or unpublish"),
            )
        })
    }
}

/// One published version as the catalog holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// 1, 2, …
    pub number: i64,
    /// The catalog course holding it.
    pub course: CourseId,
    /// Whether it is visible.
    pub visible: bool,
}

/// A series as the rules need it: who owns it, who is linked to it, its versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Series {
    /// The source platform that opened the series (its key id).
    pub owner: String,
    /// Other sources a catalog manager linked to the series.
    pub linked: Vec<String>,
    /// Versions, any order.
    pub versions: Vec<Version>,
}

impl Series {
    fn newest(&self) -> Option<&Version> {
        self.versions.iter().max_by_key(|v| v.number)
    }

    fn may_act(&self, source: &str) -> bool {
        self.owner == source || self.linked.iter().any(|l| l == source)
    }
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Plan {
    /// Restore version `number` as a new course, visible or held for curation; hide `hide` in
    /// the same transaction that commits it.
    Restore {
        /// The new version's number.
        number: i64,
        /// Visible on arrival (false when the catalog curates new versions).
        visible: bool,
        /// The older versions to hide when it commits.
        hide: Vec<CourseId>,
    },
    /// Make this course (the newest version) visible.
    Show(CourseId),
    /// Hide these courses (every version).
    Hide(Vec<CourseId>),
}

/// Why a request is refused (each maps to a stable error code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// The course has no idnumber: index it first.
    NoIdnumber,
    /// Another source owns this idnumber's series.
    IdnumberTaken,
    /// `publish` on a series that has versions: use republish or update.
    AlreadyPublished,
    /// republish / update / unpublish on nothing published.
    NotPublished,
}

impl Refusal {
    /// The stable error code (SPEC §6.3).
    pub fn code(self) -> &'static str {
        match self {
            Refusal::NoIdnumber => "bad_request",
            Refusal::IdnumberTaken => "idnumber_taken",
            Refusal::AlreadyPublished => "already_published",
            Refusal::NotPublished => "unknown_record",
        }
    }
}

/// Decides a publication request from `source` for `idnumber`, given the catalog's series for
/// that idnumber (if any) and whether the catalog holds new versions for curation.
pub fn plan(
    mode: PublishMode,
    idnumber: &str,
    source: &str,
    series: Option<&Series>,
    curated: bool,
) -> Result<Plan, Refusal> {
    if idnumber.is_empty() {
        return Err(Refusal::NoIdnumber);
    }
    if let Some(s) = series {
        if !s.may_act(source) {
            return Err(Refusal::IdnumberTaken);
        }
    }
    let newest = series.and_then(Series::newest);
    match (mode, newest) {
        (PublishMode::Publish, Some(_)) => Err(Refusal::AlreadyPublished),
        (PublishMode::Publish, None) => Ok(Plan::Restore {
            number: 1,
            visible: !curated,
            hide: Vec::new(),
        }),
        (_, None) => Err(Refusal::NotPublished),
        (PublishMode::Republish, Some(v)) => Ok(Plan::Show(v.course)),
        (PublishMode::Update, Some(v)) => {
            let hide = series
                .map(|s| s.versions.iter().map(|v| v.course).collect())
                .unwrap_or_default();
            Ok(Plan::Restore {
                number: v.number + 1,
                visible: !curated,
                hide,
            })
        }
        (PublishMode::Unpublish, Some(_)) => {
            let all = series
                .map(|s| s.versions.iter().map(|v| v.course).collect())
                .unwrap_or_default();
            Ok(Plan::Hide(all))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(versions: &[(i64, i64, bool)]) -> Series {
        Series {
            owner: "factory-a".into(),
            linked: vec!["factory-b".into()],
            versions: versions
                .iter()
                .map(|(n, c, v)| Version {
                    number: *n,
                    course: CourseId(*c),
                    visible: *v,
                })
                .collect(),
        }
    }

    #[test]
    fn first_publication_restores_version_one() {
        assert_eq!(
            plan(PublishMode::Publish, "PHY", "factory-a", None, false),
            Ok(Plan::Restore {
                number: 1,
                visible: true,
                hide: vec![]
            })
        );
        assert_eq!(
            plan(PublishMode::Publish, "PHY", "factory-a", None, true),
            Ok(Plan::Restore {
                number: 1,
                visible: false,
                hide: vec![]
            }),
            "curation holds it"
        );
        assert_eq!(
            plan(PublishMode::Publish, "", "factory-a", None, false),
            Err(Refusal::NoIdnumber)
        );
    }

    #[test]
    fn a_second_publish_is_refused_and_update_adds_a_version_hiding_the_others() {
        let s = series(&[(1, 10, true), (2, 11, true)]);
        assert_eq!(
            plan(PublishMode::Publish, "PHY", "factory-a", Some(&s), false),
            Err(Refusal::AlreadyPublished)
        );
        assert_eq!(
            plan(PublishMode::Update, "PHY", "factory-a", Some(&s), false),
            Ok(Plan::Restore {
                number: 3,
                visible: true,
                hide: vec![CourseId(10), CourseId(11)]
            })
        );
    }

    #[test]
    fn republish_shows_the_newest_and_unpublish_hides_all() {
        let s = series(&[(2, 11, false), (1, 10, false)]);
        assert_eq!(
            plan(PublishMode::Republish, "PHY", "factory-a", Some(&s), false),
            Ok(Plan::Show(CourseId(11)))
        );
        assert_eq!(
            plan(PublishMode::Unpublish, "PHY", "factory-a", Some(&s), false),
            Ok(Plan::Hide(vec![CourseId(11), CourseId(10)]))
        );
        for mode in [
            PublishMode::Republish,
            PublishMode::Update,
            PublishMode::Unpublish,
        ] {
            assert_eq!(
                plan(mode, "PHY", "factory-a", None, false),
                Err(Refusal::NotPublished),
                "{mode}"
            );
        }
    }

    #[test]
    fn only_the_owner_or_a_linked_source_acts_on_a_series() {
        let s = series(&[(1, 10, true)]);
        assert_eq!(
            plan(PublishMode::Update, "PHY", "factory-c", Some(&s), false),
            Err(Refusal::IdnumberTaken)
        );
        assert_eq!(
            plan(PublishMode::Publish, "PHY", "factory-c", Some(&s), false),
            Err(Refusal::IdnumberTaken)
        );
        assert!(
            plan(PublishMode::Update, "PHY", "factory-b", Some(&s), false).is_ok(),
            "a manager linked factory-b"
        );
        assert_eq!(Refusal::IdnumberTaken.code(), "idnumber_taken");
        assert_eq!(
            "update".parse::<PublishMode>().unwrap(),
            PublishMode::Update
        );
        assert!("delete".parse::<PublishMode>().is_err());
    }
}
