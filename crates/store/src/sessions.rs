//! Course sessions (SPEC §5.6): opening and closing apply the domain's plan
//! ([`pf_domain::sessions::plan`]) in one transaction — category, visibility, guest access, the
//! recorded student → `disabledstudent` switches, an optional new start date with activity dates
//! shifted alike, and the audit entry.

use crate::{flag, get_flag, json_text, NewAudit, Store, StoreError, StoreResult};
use pf_domain::access::RoleName;
use pf_domain::ids::{CategoryId, CourseId, UserId};
use pf_domain::sessions::{
    plan, role_switches, shift_date, SessionAction, SessionCategories, SessionState,
    ACTIVITY_DATE_FIELDS,
};
use sqlx::{Any, Row, Transaction};

/// One session change to apply.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionChange {
    /// The course.
    pub course: CourseId,
    /// Open, or close in a mode.
    pub action: SessionAction,
    /// The platform's Incoming / Running / Closed categories.
    pub categories: SessionCategories,
    /// Opening only: the new start date (unix seconds); course end and activity dates shift by
    /// the same amount.
    pub new_start_date: Option<i64>,
    /// When, unix seconds.
    pub at: i64,
    /// The audit entry, written in the same transaction (its details gain the outcome).
    pub audit: NewAudit,
    /// Notifications queued in the same transaction (opening with notification).
    pub mails: Vec<crate::NewMail>,
}

/// What a session change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionOutcome {
    /// The course's category afterwards.
    pub category: CategoryId,
    /// Its visibility afterwards.
    pub visible: bool,
    /// Its guest access afterwards.
    pub guest_access: bool,
    /// Users switched from `student` to `disabledstudent` (close).
    pub disabled: Vec<UserId>,
    /// Users switched back to `student` (open).
    pub restored: Vec<UserId>,
}

/// Appends the audit entry inside the session's transaction (same columns as `append_audit`).
async fn insert_audit(tx: &mut Transaction<'static, Any>, entry: &NewAudit) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, target, peer_id, job_id, result, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(entry.at)
    .bind(&entry.actor)
    .bind(&entry.action)
    .bind(&entry.target)
    .bind(entry.peer.map(|p| p.0))
    .bind(entry.job.map(|j| j.0))
    .bind(&entry.result)
    .bind(json_text(&entry.details))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

const STUDENT: &str = "student";
const DISABLED: &str = "disabledstudent";

async fn course_state(
    tx: &mut Transaction<'static, Any>,
    course: CourseId,
) -> StoreResult<(SessionState, i64, i64)> {
    let row = sqlx::query(
        "SELECT category_id, visible, guest_access, start_date, end_date FROM courses
         WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(course.0)
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .next()
    .ok_or_else(|| StoreError::not_found(format!("course {course}")))?;
    let granted = sqlx::query(
        "SELECT id FROM session_closes WHERE course_id = $1 AND reopened_at IS NULL AND guest_granted = 1",
    )
    .bind(course.0)
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .next()
    .is_some();
    let state = SessionState {
        category: CategoryId(row.try_get("category_id")?),
        visible: get_flag(&row, "visible")?,
        guest_access: get_flag(&row, "guest_access")?,
        guest_granted_by_close: granted,
    };
    Ok((state, row.try_get("start_date")?, row.try_get("end_date")?))
}

async fn set_role(
    tx: &mut Transaction<'static, Any>,
    user: UserId,
    course: CourseId,
    role: &str,
    give: bool,
) -> StoreResult<()> {
    let key = format!("course:{course}");
    let q = if give {
        sqlx::query(
            "INSERT INTO role_assignments (user_id, role, context_key, category_id, course_id)
             VALUES ($1, $2, $3, NULL, $4) ON CONFLICT (user_id, role, context_key) DO NOTHING",
        )
        .bind(user.0)
        .bind(role)
        .bind(key)
        .bind(course.0)
    } else {
        sqlx::query(
            "DELETE FROM role_assignments WHERE user_id = $1 AND role = $2 AND context_key = $3",
        )
        .bind(user.0)
        .bind(role)
        .bind(key)
    };
    q.execute(&mut **tx).await?;
    Ok(())
}

async fn disable_students(
    tx: &mut Transaction<'static, Any>,
    course: CourseId,
    close_id: i64,
) -> StoreResult<Vec<UserId>> {
    let rows = sqlx::query("SELECT user_id, role FROM role_assignments WHERE course_id = $1")
        .bind(course.0)
        .fetch_all(&mut **tx)
        .await?;
    let mut assignments = Vec::with_capacity(rows.len());
    for r in &rows {
        let text: String = r.try_get("role")?;
        if let Ok(role) = text.parse::<RoleName>() {
            assignments.push((UserId(r.try_get("user_id")?), role));
        }
    }
    let switches = role_switches(&assignments);
    for s in &switches {
        set_role(tx, s.user, course, STUDENT, false).await?;
        set_role(tx, s.user, course, DISABLED, true).await?;
        sqlx::query(
            "INSERT INTO session_switches (close_id, course_id, user_id, already_disabled)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(close_id)
        .bind(course.0)
        .bind(s.user.0)
        .bind(flag(s.already_disabled))
        .execute(&mut **tx)
        .await?;
    }
    Ok(switches.into_iter().map(|s| s.user).collect())
}

/// Switches back every switch recorded since the last open — exactly those.
async fn restore_students(
    tx: &mut Transaction<'static, Any>,
    course: CourseId,
    at: i64,
) -> StoreResult<Vec<UserId>> {
    let rows = sqlx::query(
        "SELECT user_id, already_disabled FROM session_switches
         WHERE course_id = $1 AND restored_at IS NULL ORDER BY user_id",
    )
    .bind(course.0)
    .fetch_all(&mut **tx)
    .await?;
    let mut restored = Vec::new();
    for r in &rows {
        let user = UserId(r.try_get("user_id")?);
        set_role(tx, user, course, STUDENT, true).await?;
        if !get_flag(r, "already_disabled")? {
            set_role(tx, user, course, DISABLED, false).await?;
        }
        if !restored.contains(&user) {
            restored.push(user);
        }
    }
    sqlx::query(
        "UPDATE session_switches SET restored_at = $2 WHERE course_id = $1 AND restored_at IS NULL",
    )
    .bind(course.0)
    .bind(at)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE session_closes SET reopened_at = $2 WHERE course_id = $1 AND reopened_at IS NULL",
    )
    .bind(course.0)
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(restored)
}

/// Shifts the set date fields of every activity of the course by `delta` seconds.
async fn shift_activity_dates(
    tx: &mut Transaction<'static, Any>,
    course: CourseId,
    delta: i64,
) -> StoreResult<()> {
    let rows = sqlx::query("SELECT id, payload FROM activities WHERE course_id = $1")
        .bind(course.0)
        .fetch_all(&mut **tx)
        .await?;
    for r in &rows {
        let id: i64 = r.try_get("id")?;
        let mut payload = crate::get_json(r, "payload")?;
        let Some(map) = payload.as_object_mut() else {
            continue;
        };
        let mut changed = false;
        for field in ACTIVITY_DATE_FIELDS {
            if let Some(date) = map.get(*field).and_then(|v| v.as_i64()) {
                map.insert((*field).to_string(), shift_date(date, delta).into());
                changed = true;
            }
        }
        if changed {
            sqlx::query("UPDATE activities SET payload = $2 WHERE id = $1")
                .bind(id)
                .bind(json_text(&payload))
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}

impl Store {
    /// Opens or closes a course's session, all in one transaction with its audit entry.
    pub async fn apply_session(&self, change: SessionChange) -> StoreResult<SessionOutcome> {
        let mut tx = self.write_tx().await?;
        let course = change.course;
        let (state, start, end) = course_state(&mut tx, course).await?;
        let p = plan(state, change.categories, change.action);
        let mut outcome = SessionOutcome {
            category: p.category,
            visible: p.visible,
            guest_access: p.guest_access,
            disabled: Vec::new(),
            restored: Vec::new(),
        };
        match change.action {
            SessionAction::Open => {
                outcome.restored = restore_students(&mut tx, course, change.at).await?;
                if let Some(new_start) = change.new_start_date {
                    let delta = new_start - start;
                    sqlx::query("UPDATE courses SET start_date = $2, end_date = $3 WHERE id = $1")
                        .bind(course.0)
                        .bind(new_start)
                        .bind(shift_date(end, delta))
                        .execute(&mut *tx)
                        .await?;
                    shift_activity_dates(&mut tx, course, delta).await?;
                }
            }
            SessionAction::Close(mode) => {
                if state.guest_granted_by_close {
                    // The new close takes over (or withdraws) the guest access an earlier one granted.
                    sqlx::query("UPDATE session_closes SET guest_granted = 0 WHERE course_id = $1 AND reopened_at IS NULL")
                        .bind(course.0)
                        .execute(&mut *tx)
                        .await?;
                }
                let close_id: i64 = sqlx::query(
                    "INSERT INTO session_closes (course_id, mode, guest_granted, closed_at)
                     VALUES ($1, $2, $3, $4) RETURNING id",
                )
                .bind(course.0)
                .bind(mode.as_str())
                .bind(flag(p.guest_granted_by_close))
                .bind(change.at)
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .next()
                .ok_or(sqlx::Error::RowNotFound)?
                .try_get(0)?;
                if p.disable_students {
                    outcome.disabled = disable_students(&mut tx, course, close_id).await?;
                }
            }
        }
        sqlx::query(
            "UPDATE courses SET category_id = $2, visible = $3, guest_access = $4, updated_at = $5
             WHERE id = $1",
        )
        .bind(course.0)
        .bind(p.category.0)
        .bind(flag(p.visible))
        .bind(flag(p.guest_access))
        .bind(change.at)
        .execute(&mut *tx)
        .await?;
        let mut audit = change.audit;
        if let Some(details) = audit.details.as_object_mut() {
            details.insert("category".into(), p.category.0.into());
            details.insert("visible".into(), p.visible.into());
            let users = |v: &[UserId]| v.iter().map(|u| u.0).collect::<Vec<_>>();
            details.insert("disabled".into(), users(&outcome.disabled).into());
            details.insert("restored".into(), users(&outcome.restored).into());
        }
        insert_audit(&mut tx, &audit).await?;
        crate::outbox::insert_mails(&mut tx, &change.mails).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// The users a close switched to `disabledstudent` that no open has switched back yet.
    pub async fn pending_session_switches(&self, course: CourseId) -> StoreResult<Vec<UserId>> {
        let rows = sqlx::query(
            "SELECT DISTINCT user_id FROM session_switches
             WHERE course_id = $1 AND restored_at IS NULL ORDER BY user_id",
        )
        .bind(course.0)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Ok(UserId(r.try_get(0)?))).collect()
    }
}
