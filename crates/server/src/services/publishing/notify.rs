//! Mail about transfers: the acting user hears when their operation ends (done or failed), and a
//! retrofit tells the authors (editing teachers and managers) of the factory's courses with the
//! same idnumber.

use crate::error::AppError;
use crate::mail::{self, templates};
use crate::platform::Platform;
use crate::services::now;
use pf_domain::access::RoleName;
use pf_domain::ids::CourseId;
use pf_store::{CourseQuery, CourseRecord, UserRecord};

fn course_url(p: &Platform, course: i64) -> String {
    format!(
        "{}/course/{course}",
        p.config.platform.url.trim_end_matches('/')
    )
}

fn today() -> String {
    crate::services::rfc3339(now())
        .get(..10)
        .unwrap_or_default()
        .to_string()
}

/// Tells the acting user how their operation ended (`error` is `None` when it is done).
pub async fn job_ended(
    p: &Platform,
    user: &UserRecord,
    job: &str,
    course: &CourseRecord,
    error: Option<&str>,
) -> Result<(), AppError> {
    let mut values = vec![
        ("SITE_NAME", p.name().await?),
        ("JOB", job.to_string()),
        ("COURSE", course.fullname.as_str().to_string()),
        ("DATE", today()),
        ("URL", course_url(p, course.id.0)),
    ];
    let kind = match error {
        None => templates::JOB_DONE,
        Some(e) => {
            values.push(("ERROR", e.to_string()));
            templates::JOB_FAILED
        }
    };
    mail::notify(
        p,
        kind,
        std::slice::from_ref(user),
        &values,
        serde_json::json!({ "course": course.id.0, "job": job }),
    )
    .await?;
    Ok(())
}

/// Tells the authors of the factory's courses with this idnumber that `course` came back.
pub async fn retrofitted(p: &Platform, course: CourseId, mentor: &str) -> Result<usize, AppError> {
    let record = p.store.course(course).await?;
    let all = p
        .store
        .courses(CourseQuery {
            include_hidden: true,
            limit: i64::MAX,
            ..CourseQuery::default()
        })
        .await?;
    let mut authors = Vec::new();
    for c in all
        .iter()
        .filter(|c| c.id != course && c.idnumber == record.idnumber)
    {
        for (user, role) in p.store.course_participants(c.id).await? {
            if matches!(role, RoleName::EditingTeacher | RoleName::Manager) {
                authors.push(user);
            }
        }
    }
    let values = [
        ("SITE_NAME", p.name().await?),
        ("MENTOR", mentor.to_string()),
        ("COURSE", record.fullname.as_str().to_string()),
        ("DATE", today()),
        ("URL", course_url(p, course.0)),
    ];
    let report = mail::notify(
        p,
        templates::RETROFIT,
        &authors,
        &values,
        serde_json::json!({ "course": course.0 }),
    )
    .await?;
    Ok(report.queued)
}
