//! The course page (consultation): outline, content, files, and the publishflow panel.

use super::session::Visitor;
use super::{render, AppState};
use crate::error::AppError;
use crate::platform::Platform;
use crate::services::courses;
use axum::extract::{Path, State};
use axum::response::Response;
use minijinja::{context, Value};
use pf_domain::access::{Capability, Context};
use pf_domain::ids::{ActivityId, CourseId};
use pf_store::{ActivityRecord, FileRecord};

/// Course HTML (summaries, intros, pages, labels) as it may be shown: scripts, handlers, styles
/// and foreign frames removed.
pub fn sanitise(html: &str) -> String {
    ammonia::Builder::default()
        .link_rel(Some("noopener noreferrer nofollow"))
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .clean(html)
        .to_string()
}

/// Only web and mail links become clickable; anything else (`javascript:`…) is shown as text.
pub fn safe_link(url: &str) -> Option<String> {
    let u = url.trim();
    let lower = u.to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with("mailto:"))
        .then(|| u.to_string())
}

fn payload_str<'a>(a: &'a ActivityRecord, key: &str) -> &'a str {
    a.payload.get(key).and_then(|v| v.as_str()).unwrap_or("")
}

fn activity_view(a: &ActivityRecord, files: &[FileRecord]) -> Value {
    let url = payload_str(a, "externalurl");
    let own: Vec<_> = files
        .iter()
        .filter(|f| f.activity == Some(a.id) && f.filename != ".")
        .map(|f| context! { id => f.id, filename => f.filename.as_str(), size => f.size, mimetype => f.mimetype.as_str() })
        .collect();
    context! {
        id => a.id.0, module => a.module.as_str(), name => a.name.as_str(), visible => a.visible,
        intro => sanitise(&a.intro), content => sanitise(payload_str(a, "content")),
        url => safe_link(url), url_text => url, files => own,
        questions => a.payload.get("question_count").and_then(|v| v.as_i64()),
    }
}

/// One operation of the publishflow panel.
#[derive(serde::Serialize)]
struct PanelEntry {
    key: &'static str,
    capability: &'static str,
    built: bool,
    link: Option<String>,
}

/// The operations this platform's duties offer to this user on this course (SPEC §2, §9).
async fn panel(
    p: &Platform,
    visitor: &Visitor,
    course: CourseId,
) -> Result<Vec<PanelEntry>, AppError> {
    let duties = p.role().await?.duties();
    let mut offered: Vec<(&'static str, Capability)> = Vec::new();
    if duties.factory {
        offered.extend([
            ("panel.index", Capability::CourseUpdate),
            ("panel.archive", Capability::ManagePublishedFiles),
            ("panel.publish", Capability::Publish),
            ("panel.status", Capability::Publish),
            ("panel.copies", Capability::Publish),
            ("panel.deploy_test", Capability::Deploy),
        ]);
    }
    if duties.catalog {
        offered.extend([
            ("panel.deploy", Capability::Deploy),
            ("panel.deploy_key", Capability::CourseUpdate),
            ("panel.copies", Capability::Deploy),
        ]);
    }
    if duties.training {
        offered.extend([
            ("panel.sessions", Capability::Manage),
            ("panel.retrofit", Capability::Retrofit),
        ]);
    }
    let mut entries = Vec::new();
    for (key, cap) in offered {
        if p.can(&visitor.actor, cap, Context::Course(course)).await? {
            if entries.iter().any(|e: &PanelEntry| e.key == key) {
                continue;
            }
            let link = match key {
                "panel.archive" => Some(format!("/course/{course}/archives")),
                "panel.status" => Some(format!("/course/{course}/publication")),
                "panel.copies" => Some(format!("/course/{course}/copies")),
                _ => None,
            };
            entries.push(PanelEntry {
                key,
                capability: cap.as_str(),
                built: link.is_some()
                    || matches!(
                        key,
                        "panel.sessions"
                            | "panel.index"
                            | "panel.publish"
                            | "panel.deploy"
                            | "panel.deploy_test"
                            | "panel.deploy_key"
                            | "panel.retrofit"
                    ),
                link,
            });
        }
    }
    Ok(entries)
}

/// The course page.
pub async fn show(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let p = &state.platform;
    let course = courses::consult(p, &visitor.actor, CourseId(id)).await?;
    let see_hidden = p
        .can(
            &visitor.actor,
            Capability::CourseViewHidden,
            Context::Course(course.id),
        )
        .await?;
    let can_edit = p
        .can(
            &visitor.actor,
            Capability::CourseUpdate,
            Context::Course(course.id),
        )
        .await?;
    let authoring = can_edit && courses::authoring_enabled(p).await?;
    let sections = p.store.sections(course.id).await?;
    let activities = p.store.activities(course.id).await?;
    let files = p.store.files(course.id).await?;
    let sections: Vec<Value> = sections
        .iter()
        .filter(|s| s.visible || see_hidden)
        .map(|s| {
            let acts: Vec<Value> = activities
                .iter()
                .filter(|a| a.section == s.id && (a.visible || see_hidden))
                .map(|a| activity_view(a, &files))
                .collect();
            context! { id => s.id.0, number => s.number, name => s.name.as_str(), visible => s.visible, summary => sanitise(&s.summary), activities => acts }
        })
        .collect();
    let quiz_count = activities.iter().filter(|a| a.module == "quiz").count();
    let question_count: i64 = activities
        .iter()
        .filter_map(|a| a.payload.get("question_count").and_then(|v| v.as_i64()))
        .sum();
    let category = p.store.category(course.category).await?;
    let ctx = context! {
        course => context! {
            id => course.id.0, fullname => course.fullname.as_str(), shortname => course.shortname.as_str(),
            idnumber => course.idnumber.as_str(), summary => sanitise(&course.summary), visible => course.visible,
            format => course.format.as_str(), guest_access => course.guest_access,
        },
        category => context! { id => category.id.0, name => category.name },
        source => super::front::published_from(p, &[course.id]).await?.remove(&course.id.0),
        sections, can_edit, authoring, quiz_count, question_count,
        panel => panel(p, &visitor, course.id).await?,
        transfer => super::publishing::panel_context(p, &visitor, course.id).await?,
        deploy_home => super::mutual::course_offers_deploy_home(p, &visitor.actor, course.id).await?,
        catalog => super::catalog::panel_context(p, &visitor, course.id).await?,
        can_export => can_edit
            || p.can(&visitor.actor, Capability::ManagePublishedFiles, Context::Course(course.id)).await?,
        network => p.role().await? != pf_domain::platform::PlatformRole::Normal,
        file_count => files.iter().filter(|f| f.filename != ".").count(),
    };
    render::page(&state, &visitor, "course.html", ctx).await
}

/// One activity's page (a page's content, a url, a file list).
pub async fn activity(
    State(state): State<AppState>,
    visitor: Visitor,
    Path((id, aid)): Path<(i64, i64)>,
) -> Result<Response, AppError> {
    let p = &state.platform;
    let course = courses::consult(p, &visitor.actor, CourseId(id)).await?;
    let a = p.store.activity(ActivityId(aid)).await?;
    let see_hidden = p
        .can(
            &visitor.actor,
            Capability::CourseViewHidden,
            Context::Course(course.id),
        )
        .await?;
    if a.course != course.id || !(a.visible || see_hidden) {
        return Err(AppError::not_found(format!("activity {aid}")));
    }
    let files = p.store.files(course.id).await?;
    let ctx = context! {
        course => context! { id => course.id.0, fullname => course.fullname.as_str() },
        activity => activity_view(&a, &files),
    };
    render::page(&state, &visitor, "activity.html", ctx).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn course_html_loses_scripts_and_handlers() {
        let dirty = r#"<p onclick="steal()">Hi<script>alert(1)</script><a href="javascript:alert(1)">x</a><img src=x onerror=alert(1)></p>"#;
        let clean = sanitise(dirty);
        assert!(!clean.contains("script"), "{clean}");
        assert!(
            !clean.contains("onclick") && !clean.contains("onerror"),
            "{clean}"
        );
        assert!(!clean.contains("javascript:"), "{clean}");
        assert!(clean.contains("Hi"));
    }

    #[test]
    fn only_web_and_mail_links_are_clickable() {
        assert_eq!(
            safe_link(" https://moodle.org "),
            Some("https://moodle.org".into())
        );
        assert_eq!(safe_link("JavaScript:alert(1)"), None);
        assert_eq!(safe_link("data:text/html,x"), None);
    }
}
