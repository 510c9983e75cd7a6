//! Course sessions on training platforms (SPEC §5.6): which category a course moves to when its
//! session opens or closes, what becomes visible, who gets guest access, and which student
//! assignments a close switches to `disabledstudent` (and the next open switches back).
//!
//! Everything here is a pure function of the course's state; the store applies the resulting
//! [`SessionPlan`] and [`RoleSwitch`]es in one transaction.

use crate::access::RoleName;
use crate::ids::{CategoryId, UserId};
use crate::DomainError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How a session closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseMode {
    /// Hidden from students; roles untouched.
    Private,
    /// Visible; students switched to `disabledstudent` (they read, they no longer participate).
    Protected,
    /// Protected, plus guest access (the course and its content, never people or their work).
    Public,
}

impl CloseMode {
    /// Every mode.
    pub const ALL: [CloseMode; 3] = [CloseMode::Private, CloseMode::Protected, CloseMode::Public];

    /// The mode's name on the command line and in forms.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseMode::Private => "private",
            CloseMode::Protected => "protected",
            CloseMode::Public => "public",
        }
    }
}

impl fmt::Display for CloseMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CloseMode {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CloseMode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                DomainError::invalid("mode", format!("'{s}' is not private, protected or public"))
            })
    }
}

/// What happens to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionAction {
    /// Open or reopen.
    Open,
    /// Close in a mode.
    Close(CloseMode),
}

/// The training platform's session categories (settings written at `init`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCategories {
    /// *Incoming*: where deployed courses land.
    pub incoming: CategoryId,
    /// *Running*: open sessions.
    pub running: CategoryId,
    /// *Closed*: closed sessions.
    pub closed: CategoryId,
}

/// The part of a course's state a session change reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionState {
    /// Its category.
    pub category: CategoryId,
    /// Visible to students.
    pub visible: bool,
    /// Guests may consult it.
    pub guest_access: bool,
    /// Guest access was granted by a public close not yet undone (so the platform may withdraw it).
    pub guest_granted_by_close: bool,
}

/// What a session change does to the course.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPlan {
    /// The course's category afterwards.
    pub category: CategoryId,
    /// Its visibility afterwards.
    pub visible: bool,
    /// Its guest access afterwards.
    pub guest_access: bool,
    /// Whether that guest access is the session's doing (withdrawn at the next open or close).
    pub guest_granted_by_close: bool,
    /// Switch every student to `disabledstudent`, recording the switches (protected, public).
    pub disable_students: bool,
    /// Switch back what earlier closes recorded (open).
    pub restore_switched: bool,
}

/// Decides the course's state after `action` (SPEC §5.6).
///
/// Opening moves a course in *Incoming* or *Closed* to *Running*; closing moves one in *Incoming*
/// or *Running* to *Closed*; a course anywhere else (an assigned category) stays where it is.
/// Guest access a public close granted is withdrawn by the next open or non-public close; guest
/// access the course had on its own is left alone.
pub fn plan(state: SessionState, cats: SessionCategories, action: SessionAction) -> SessionPlan {
    let c = state.category;
    // Guest access that a close granted is the session's to take back; the course's own stays.
    let own_guest = state.guest_access && !state.guest_granted_by_close;
    match action {
        SessionAction::Open => SessionPlan {
            category: if c == cats.incoming || c == cats.closed {
                cats.running
            } else {
                c
            },
            visible: true,
            guest_access: own_guest,
            guest_granted_by_close: false,
            disable_students: false,
            restore_switched: true,
        },
        SessionAction::Close(mode) => {
            let category = if c == cats.incoming || c == cats.running {
                cats.closed
            } else {
                c
            };
            let public = mode == CloseMode::Public;
            SessionPlan {
                category,
                visible: mode != CloseMode::Private,
                guest_access: own_guest || public,
                guest_granted_by_close: public && !own_guest,
                disable_students: mode != CloseMode::Private,
                restore_switched: false,
            }
        }
    }
}

/// One student assignment a close switches to `disabledstudent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RoleSwitch {
    /// The user.
    pub user: UserId,
    /// The user already held `disabledstudent` in the course (a teacher's choice): reopening
    /// gives the student role back but keeps that one.
    pub already_disabled: bool,
}

/// The switches a protected or public close makes, from the course-level assignments: every
/// `student` loses that role for `disabledstudent`. Users without `student` are untouched — a
/// student a teacher disabled on purpose has no `student` role left to switch.
pub fn role_switches(assignments: &[(UserId, RoleName)]) -> Vec<RoleSwitch> {
    let holds =
        |user: UserId, role: RoleName| assignments.iter().any(|(u, r)| *u == user && *r == role);
    let mut out: Vec<RoleSwitch> = Vec::new();
    for (user, role) in assignments {
        if *role == RoleName::Student && !out.iter().any(|s| s.user == *user) {
            out.push(RoleSwitch {
                user: *user,
                already_disabled: holds(*user, RoleName::DisabledStudent),
            });
        }
    }
    out
}

/// Activity fields that hold dates (unix seconds) in Moodle's activity settings; a session that
/// takes today as its start date shifts those that are set (non-zero) by the same amount.
pub const ACTIVITY_DATE_FIELDS: &[&str] = &[
    "allowsubmissionsfromdate",
    "duedate",
    "cutoffdate",
    "gradingduedate",
    "timeopen",
    "timeclose",
    "timeavailablefrom",
    "timeavailableto",
    "timedue",
    "assesstimestart",
    "assesstimefinish",
    "submissionstart",
    "submissionend",
    "assessmentstart",
    "assessmentend",
    "chatstart",
    "availablefrom",
    "availableuntil",
];

/// Shifts a date by `delta` seconds; 0 means "not set" and stays 0.
pub fn shift_date(date: i64, delta: i64) -> i64 {
    if date == 0 {
        0
    } else {
        date.saturating_add(delta)
    }
}

/// Midnight UTC of the day containing `now` (unix seconds): "today" as a course start date.
pub fn today(now: i64) -> i64 {
    now - now.rem_euclid(86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INCOMING: CategoryId = CategoryId(1);
    const RUNNING: CategoryId = CategoryId(2);
    const CLOSED: CategoryId = CategoryId(3);
    const ASSIGNED: CategoryId = CategoryId(9);
    const CATS: SessionCategories = SessionCategories {
        incoming: INCOMING,
        running: RUNNING,
        closed: CLOSED,
    };

    fn state(category: CategoryId) -> SessionState {
        SessionState {
            category,
            visible: false,
            guest_access: false,
            guest_granted_by_close: false,
        }
    }

    #[test]
    fn opening_moves_incoming_and_closed_to_running_and_leaves_other_categories() {
        for (from, to) in [
            (INCOMING, RUNNING),
            (CLOSED, RUNNING),
            (RUNNING, RUNNING),
            (ASSIGNED, ASSIGNED),
        ] {
            let p = plan(state(from), CATS, SessionAction::Open);
            assert_eq!(p.category, to, "open from {from}");
            assert!(p.visible);
            assert!(p.restore_switched);
            assert!(!p.disable_students);
            assert!(!p.guest_access);
        }
    }

    #[test]
    fn closing_moves_incoming_and_running_to_closed_in_every_mode() {
        for mode in CloseMode::ALL {
            for (from, to) in [
                (INCOMING, CLOSED),
                (RUNNING, CLOSED),
                (CLOSED, CLOSED),
                (ASSIGNED, ASSIGNED),
            ] {
                let p = plan(state(from), CATS, SessionAction::Close(mode));
                assert_eq!(p.category, to, "{mode} close from {from}");
                assert!(!p.restore_switched);
            }
        }
    }

    #[test]
    fn each_close_mode_sets_visibility_roles_and_guest_access() {
        let running = SessionState {
            visible: true,
            ..state(RUNNING)
        };
        let table = [
            // mode, visible, students disabled, guest access, granted by the close
            (CloseMode::Private, false, false, false, false),
            (CloseMode::Protected, true, true, false, false),
            (CloseMode::Public, true, true, true, true),
        ];
        for (mode, visible, disable, guest, granted) in table {
            let p = plan(running, CATS, SessionAction::Close(mode));
            assert_eq!(p.visible, visible, "{mode}");
            assert_eq!(p.disable_students, disable, "{mode}");
            assert_eq!(p.guest_access, guest, "{mode}");
            assert_eq!(p.guest_granted_by_close, granted, "{mode}");
        }
    }

    #[test]
    fn guest_access_granted_by_a_close_is_withdrawn_but_the_courses_own_is_kept() {
        let after_public = SessionState {
            category: CLOSED,
            visible: true,
            guest_access: true,
            guest_granted_by_close: true,
        };
        let p = plan(after_public, CATS, SessionAction::Open);
        assert!(!p.guest_access && !p.guest_granted_by_close);
        let p = plan(
            after_public,
            CATS,
            SessionAction::Close(CloseMode::Protected),
        );
        assert!(!p.guest_access);

        let own = SessionState {
            guest_granted_by_close: false,
            ..after_public
        };
        let p = plan(own, CATS, SessionAction::Open);
        assert!(p.guest_access, "the course's own guest access stays");
        let p = plan(own, CATS, SessionAction::Close(CloseMode::Public));
        assert!(p.guest_access && !p.guest_granted_by_close);
    }

    #[test]
    fn only_students_are_switched_and_deliberately_disabled_ones_are_not() {
        let (ann, bob, cat, dan) = (UserId(1), UserId(2), UserId(3), UserId(4));
        let assignments = [
            (ann, RoleName::Student),
            (bob, RoleName::DisabledStudent),
            (cat, RoleName::EditingTeacher),
            (dan, RoleName::Student),
            (dan, RoleName::DisabledStudent),
        ];
        assert_eq!(
            role_switches(&assignments),
            vec![
                RoleSwitch {
                    user: ann,
                    already_disabled: false
                },
                RoleSwitch {
                    user: dan,
                    already_disabled: true
                },
            ]
        );
        assert!(role_switches(&[]).is_empty());
    }

    #[test]
    fn modes_parse_and_bad_ones_are_refused() {
        for mode in CloseMode::ALL {
            assert_eq!(mode.as_str().parse::<CloseMode>().unwrap(), mode);
        }
        let err = "secret".parse::<CloseMode>().unwrap_err().to_string();
        assert!(err.contains("private, protected or public"), "{err}");
    }

    #[test]
    fn dates_shift_unless_unset_and_today_is_midnight_utc() {
        assert_eq!(shift_date(0, 500), 0);
        assert_eq!(shift_date(1000, 500), 1500);
        assert_eq!(shift_date(1000, -500), 500);
        assert_eq!(today(86_400 * 3 + 4000), 86_400 * 3);
    }
}
