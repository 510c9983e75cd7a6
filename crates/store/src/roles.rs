//! Role assignments in contexts, the context chain used by capability checks, the editable
//! capability table, and enrolments.

use crate::error::on_write;
use crate::users::{from_row as user_from_row, COLUMNS as USER_COLUMNS};
use crate::{unix_now, Store, StoreError, StoreResult, UserRecord};
use pf_domain::access::{Assignment, Capability, Context, RoleCapabilities, RoleName};
use pf_domain::ids::{CategoryId, CourseId, UserId};
use sqlx::Row;
use std::collections::HashMap;

/// A user enrolled in a course.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolmentRecord {
    /// The user.
    pub user: UserId,
    /// The course.
    pub course: CourseId,
    /// How (`manual`, `self`, `deploy`…).
    pub method: String,
    /// When, unix seconds.
    pub created_at: i64,
}

fn context_columns(context: Context) -> (Option<i64>, Option<i64>) {
    match context {
        Context::System => (None, None),
        Context::Category(c) => (Some(c.0), None),
        Context::Course(c) => (None, Some(c.0)),
    }
}

fn parse_role(text: &str) -> StoreResult<RoleName> {
    text.parse()
        .map_err(|_| StoreError::corrupt(format!("role '{text}'")))
}

impl Store {
    /// Checks that a context's course or category exists.
    async fn check_context(&self, context: Context) -> StoreResult<()> {
        let (sql, id) = match context {
            Context::System => return Ok(()),
            Context::Category(c) => ("SELECT id FROM categories WHERE id = $1", c.0),
            Context::Course(c) => ("SELECT id FROM courses WHERE id = $1", c.0),
        };
        match sqlx::query(sql)
            .bind(id)
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .next()
        {
            Some(_) => Ok(()),
            None => Err(StoreError::not_found(context.to_string())),
        }
    }

    /// Gives `user` the `role` in `context` (doing it twice changes nothing).
    pub async fn assign_role(
        &self,
        user: UserId,
        role: RoleName,
        context: Context,
    ) -> StoreResult<()> {
        self.check_context(context).await?;
        let (category, course) = context_columns(context);
        sqlx::query(
            "INSERT INTO role_assignments (user_id, role, context_key, category_id, course_id)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, role, context_key) DO NOTHING",
        )
        .bind(user.0)
        .bind(role.as_str())
        .bind(context.to_string())
        .bind(category)
        .bind(course)
        .execute(self.pool())
        .await
        .map_err(|e| {
            on_write(
                e,
                || "role assignment".into(),
                || format!("user {user} or {context}"),
            )
        })?;
        Ok(())
    }

    /// Takes `role` in `context` away from `user` (no error if they did not have it).
    pub async fn unassign_role(
        &self,
        user: UserId,
        role: RoleName,
        context: Context,
    ) -> StoreResult<()> {
        sqlx::query(
            "DELETE FROM role_assignments WHERE user_id = $1 AND role = $2 AND context_key = $3",
        )
        .bind(user.0)
        .bind(role.as_str())
        .bind(context.to_string())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Every role a user holds, anywhere.
    pub async fn assignments(&self, user: UserId) -> StoreResult<Vec<Assignment>> {
        let rows = sqlx::query(
            "SELECT role, context_key FROM role_assignments WHERE user_id = $1 ORDER BY context_key, role",
        )
        .bind(user.0)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let key: String = r.try_get("context_key")?;
                let context = key
                    .parse()
                    .map_err(|_| StoreError::corrupt(format!("context '{key}'")))?;
                Ok(Assignment {
                    role: parse_role(&r.try_get::<String, _>("role")?)?,
                    context,
                })
            })
            .collect()
    }

    /// `context` followed by its ancestors up to [`Context::System`]: a course, its category, that
    /// category's parents…, system (what `pf_domain::access::has_capability` expects).
    pub async fn context_chain(&self, context: Context) -> StoreResult<Vec<Context>> {
        let mut chain = vec![context];
        let mut category = match context {
            Context::System => return Ok(chain),
            Context::Category(c) => Some(c),
            Context::Course(c) => {
                let row = sqlx::query("SELECT category_id FROM courses WHERE id = $1")
                    .bind(c.0)
                    .fetch_all(self.pool())
                    .await?
                    .into_iter()
                    .next()
                    .ok_or_else(|| StoreError::not_found(format!("course {c}")))?;
                Some(CategoryId(row.try_get(0)?))
            }
        };
        let rows = sqlx::query("SELECT id, parent_id FROM categories")
            .fetch_all(self.pool())
            .await?;
        let parents: HashMap<i64, Option<i64>> = rows
            .iter()
            .map(|r| Ok((r.try_get::<i64, _>(0)?, r.try_get::<Option<i64>, _>(1)?)))
            .collect::<StoreResult<_>>()?;
        if let Context::Category(c) = context {
            if !parents.contains_key(&c.0) {
                return Err(StoreError::not_found(format!("category {c}")));
            }
            category = parents.get(&c.0).copied().flatten().map(CategoryId);
        }
        while let Some(c) = category {
            if chain.len() > parents.len() + 1 {
                return Err(StoreError::corrupt("the category tree has a cycle"));
            }
            chain.push(Context::Category(c));
            category = parents.get(&c.0).copied().flatten().map(CategoryId);
        }
        chain.push(Context::System);
        Ok(chain)
    }

    /// The capability table in force (seeded with SPEC §4's defaults, edited by admins).
    pub async fn role_capabilities(&self) -> StoreResult<RoleCapabilities> {
        let rows = sqlx::query("SELECT role, capability FROM role_capabilities")
            .fetch_all(self.pool())
            .await?;
        let mut pairs = Vec::with_capacity(rows.len());
        for r in &rows {
            let role = parse_role(&r.try_get::<String, _>(0)?)?;
            let cap_text: String = r.try_get(1)?;
            let cap: Capability = cap_text
                .parse()
                .map_err(|_| StoreError::corrupt(format!("capability '{cap_text}'")))?;
            pairs.push((role, cap));
        }
        Ok(RoleCapabilities::from_pairs(pairs))
    }

    /// Grants or withdraws a capability from a role.
    pub async fn set_role_capability(
        &self,
        role: RoleName,
        capability: Capability,
        allowed: bool,
    ) -> StoreResult<()> {
        let sql = if allowed {
            "INSERT INTO role_capabilities (role, capability) VALUES ($1, $2) ON CONFLICT (role, capability) DO NOTHING"
        } else {
            "DELETE FROM role_capabilities WHERE role = $1 AND capability = $2"
        };
        sqlx::query(sql)
            .bind(role.as_str())
            .bind(capability.as_str())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The users holding a role in the course's own context, with that role, by username.
    pub async fn course_participants(
        &self,
        course: CourseId,
    ) -> StoreResult<Vec<(UserRecord, RoleName)>> {
        let columns: String = USER_COLUMNS
            .split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = sqlx::query(&format!(
            "SELECT {columns}, ra.role FROM role_assignments ra JOIN users u ON u.id = ra.user_id
             WHERE ra.course_id = $1 ORDER BY u.username, u.id, ra.role"
        ))
        .bind(course.0)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    user_from_row(r)?,
                    parse_role(&r.try_get::<String, _>("role")?)?,
                ))
            })
            .collect()
    }

    /// Enrols a user in a course by `method` (doing it twice changes nothing).
    pub async fn enrol(&self, user: UserId, course: CourseId, method: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO enrolments (user_id, course_id, method, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (user_id, course_id, method) DO NOTHING",
        )
        .bind(user.0)
        .bind(course.0)
        .bind(method)
        .bind(unix_now())
        .execute(self.pool())
        .await
        .map_err(|e| on_write(e, || "enrolment".into(), || format!("user {user} or course {course}")))?;
        Ok(())
    }

    /// Removes an enrolment (no error if there was none).
    pub async fn unenrol(&self, user: UserId, course: CourseId, method: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM enrolments WHERE user_id = $1 AND course_id = $2 AND method = $3")
            .bind(user.0)
            .bind(course.0)
            .bind(method)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The enrolments of a course.
    pub async fn enrolments(&self, course: CourseId) -> StoreResult<Vec<EnrolmentRecord>> {
        let rows = sqlx::query(
            "SELECT user_id, course_id, method, created_at FROM enrolments WHERE course_id = $1 ORDER BY user_id, method",
        )
        .bind(course.0)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(EnrolmentRecord {
                    user: UserId(r.try_get(0)?),
                    course: CourseId(r.try_get(1)?),
                    method: r.try_get(2)?,
                    created_at: r.try_get(3)?,
                })
            })
            .collect()
    }
}
