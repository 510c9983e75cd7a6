//! Light authoring (factories): categories, course settings, sections and activities.

use super::forms::{checkbox, WebForm};
use super::session::Visitor;
use super::{render, AppState};
use crate::error::AppError;
use crate::services::categories;
use crate::services::courses::{self, CourseForm};
use crate::upload;
use axum::extract::{Multipart, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use pf_domain::access::{Capability, Context};
use pf_domain::ids::{CourseId, SectionId};
use pf_store::NewActivity;
use serde::Deserialize;

/// `?category=ID`, `?section=ID&module=NAME`
#[derive(Deserialize, Default)]
pub struct FormQuery {
    category: Option<i64>,
    section: Option<i64>,
    module: Option<String>,
}

pub(super) async fn category_options(
    state: &AppState,
    visitor: &Visitor,
) -> Result<Vec<minijinja::Value>, AppError> {
    Ok(categories::tree(&state.platform, &visitor.actor)
        .await?
        .into_iter()
        .map(|e| context! { id => e.category.id.0, path => e.path })
        .collect())
}

/// The course settings form's fields (new and edit).
#[derive(Deserialize)]
pub struct CourseFields {
    csrf: String,
    fullname: String,
    shortname: String,
    #[serde(default)]
    idnumber: String,
    category: i64,
    #[serde(default)]
    summary: String,
    format: Option<String>,
    visible: Option<String>,
    guest_access: Option<String>,
    #[serde(default)]
    lang: String,
}

impl CourseFields {
    fn into_form(self) -> CourseForm {
        CourseForm {
            visible: Some(checkbox(&self.visible)),
            guest_access: Some(checkbox(&self.guest_access)),
            fullname: self.fullname,
            shortname: self.shortname,
            idnumber: self.idnumber,
            category: self.category,
            summary: self.summary,
            format: self.format,
            lang: self.lang,
        }
    }
}

/// The new-course form.
pub async fn course_new_form(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(q): Query<FormQuery>,
) -> Result<Response, AppError> {
    visitor.require_login()?;
    let course = context! { fullname => "", shortname => "", idnumber => "", summary => "", category => q.category, format => "topics", visible => true, guest_access => false, lang => "" };
    let ctx = context! { course, categories => category_options(&state, &visitor).await?, editing => false };
    render::page(&state, &visitor, "course_form.html", ctx).await
}

/// Creates a course.
pub async fn course_create(
    State(state): State<AppState>,
    visitor: Visitor,
    WebForm(f): WebForm<CourseFields>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    let id = courses::create(&state.platform, &visitor.actor, f.into_form()).await?;
    Ok(Redirect::to(&format!("/course/{id}")).into_response())
}

/// The course settings form.
pub async fn course_edit_form(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let p = &state.platform;
    let c = p.store.course(CourseId(id)).await?;
    p.require(
        &visitor.actor,
        Capability::CourseUpdate,
        Context::Course(c.id),
    )
    .await?;
    let course = context! {
        id => c.id.0, fullname => c.fullname.as_str(), shortname => c.shortname.as_str(), idnumber => c.idnumber.as_str(),
        summary => c.summary.as_str(), category => c.category.0, format => c.format.as_str(), visible => c.visible,
        guest_access => c.guest_access, lang => c.lang.as_str(),
    };
    let ctx = context! { course, categories => category_options(&state, &visitor).await?, editing => true };
    render::page(&state, &visitor, "course_form.html", ctx).await
}

/// Saves course settings.
pub async fn course_update(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
    WebForm(f): WebForm<CourseFields>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    courses::update(&state.platform, &visitor.actor, CourseId(id), f.into_form()).await?;
    Ok(Redirect::to(&format!("/course/{id}")).into_response())
}

/// A form with only its CSRF token.
#[derive(Deserialize)]
pub struct CsrfFields {
    csrf: String,
}

/// Moves a course to the trash.
pub async fn course_delete(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
    WebForm(f): WebForm<CsrfFields>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    let course = state.platform.store.course(CourseId(id)).await?;
    courses::trash(&state.platform, &visitor.actor, course.id).await?;
    Ok(Redirect::to(&format!("/category/{}", course.category)).into_response())
}

/// The add-section form's fields.
#[derive(Deserialize)]
pub struct SectionFields {
    csrf: String,
    #[serde(default)]
    name: String,
}

/// Appends a section.
pub async fn section_add(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
    WebForm(f): WebForm<SectionFields>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    let p = &state.platform;
    courses::require_edit(p, &visitor.actor, CourseId(id)).await?;
    let section = p
        .store
        .add_section(CourseId(id), f.name.trim(), true)
        .await?;
    p.audit(
        &visitor.actor,
        "section.create",
        format!("course:{id}"),
        serde_json::json!({ "section": section.id.0 }),
    )
    .await?;
    Ok(Redirect::to(&format!("/course/{id}#section-{}", section.id)).into_response())
}

/// The per-section actions' fields: `action` is rename, hide, show, up or down.
#[derive(Deserialize)]
pub struct SectionChange {
    csrf: String,
    action: String,
    #[serde(default)]
    name: String,
}

/// Renames, hides, shows or moves a section.
pub async fn section_change(
    State(state): State<AppState>,
    visitor: Visitor,
    Path((id, sid)): Path<(i64, i64)>,
    WebForm(f): WebForm<SectionChange>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    let p = &state.platform;
    let course = CourseId(id);
    courses::require_edit(p, &visitor.actor, course).await?;
    let section = courses::section_of(p, course, SectionId(sid)).await?;
    let last = p
        .store
        .sections(course)
        .await?
        .iter()
        .map(|s| s.number)
        .max()
        .unwrap_or(0);
    match f.action.as_str() {
        "rename" => {
            p.store
                .update_section(section.id, Some(f.name.trim().to_string()), None)
                .await?
        }
        "hide" => {
            p.store
                .update_section(section.id, None, Some(false))
                .await?
        }
        "show" => p.store.update_section(section.id, None, Some(true)).await?,
        "up" if section.number > 1 => p.store.move_section(section.id, section.number - 1).await?,
        "down" if section.number >= 1 && section.number < last => {
            p.store.move_section(section.id, section.number + 1).await?
        }
        "up" | "down" => {}
        other => {
            return Err(AppError::bad_request(format!(
                "unknown section action '{other}'"
            )))
        }
    }
    p.audit(
        &visitor.actor,
        "section.update",
        format!("course:{id}"),
        serde_json::json!({ "section": sid, "action": f.action }),
    )
    .await?;
    Ok(Redirect::to(&format!("/course/{id}#section-{sid}")).into_response())
}

/// The modules light authoring can add.
pub const AUTHORED_MODULES: &[&str] = &["page", "label", "url", "resource"];

/// The add-activity form.
pub async fn activity_form(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
    Query(q): Query<FormQuery>,
) -> Result<Response, AppError> {
    let p = &state.platform;
    let course = courses::require_edit(p, &visitor.actor, CourseId(id)).await?;
    let module = q.module.unwrap_or_else(|| "page".into());
    if !AUTHORED_MODULES.contains(&module.as_str()) {
        return Err(AppError::bad_request(format!(
            "'{module}' activities cannot be authored here"
        )));
    }
    let sections: Vec<_> = p
        .store
        .sections(course.id)
        .await?
        .iter()
        .map(|s| context! { id => s.id.0, number => s.number, name => s.name.as_str() })
        .collect();
    let ctx = context! { course => context! { id => course.id.0, fullname => course.fullname.as_str() }, module, sections, section => q.section };
    render::page(&state, &visitor, "activity_form.html", ctx).await
}

/// Adds a page, label, url or file activity (multipart, so a file can come with it).
pub async fn activity_create(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
    multipart: Multipart,
) -> Result<Response, AppError> {
    let p = &state.platform;
    let course = CourseId(id);
    courses::require_edit(p, &visitor.actor, course).await?;
    // The token is checked as soon as its field arrives, before any file is stored.
    let form = upload::read_form(p, multipart, p.config.server.max_upload_bytes, |csrf| {
        visitor.check_csrf(csrf)
    })
    .await?;
    let module = form.field("module").to_string();
    if !AUTHORED_MODULES.contains(&module.as_str()) {
        return Err(AppError::bad_request(format!(
            "'{module}' activities cannot be authored here"
        )));
    }
    let section = SectionId(
        form.field("section")
            .parse()
            .map_err(|_| AppError::bad_request("choose a section"))?,
    );
    let mut payload = serde_json::Map::new();
    match module.as_str() {
        "page" => {
            payload.insert("content".into(), form.field("content").into());
        }
        "url" => {
            let url = form.field("externalurl").trim();
            if super::course::safe_link(url).is_none() {
                return Err(AppError::bad_request(
                    "a url activity needs an http, https or mailto address",
                ));
            }
            payload.insert("externalurl".into(), url.into());
        }
        "resource" if form.file.is_none() => {
            return Err(AppError::bad_request("choose a file to upload"))
        }
        _ => {}
    }
    let name = if module == "label" && form.field("name").trim().is_empty() {
        "Label".to_string()
    } else {
        form.field("name").trim().to_string()
    };
    let new = NewActivity {
        course,
        section,
        module: module.clone(),
        name,
        intro: form.field("intro").to_string(),
        visible: checkbox(&Some(form.field("visible").to_string())),
        payload: serde_json::Value::Object(payload),
    };
    let activity = courses::add_activity(p, &visitor.actor, new).await?;
    if let Some(file) = form.file {
        upload::attach(p, course, Some(activity), file).await?;
    }
    Ok(Redirect::to(&format!("/course/{id}#section-{}", section.0)).into_response())
}

/// The per-activity actions' fields: `action` is hide, show or delete.
#[derive(Deserialize)]
pub struct ActivityChange {
    csrf: String,
    action: String,
}

/// Hides, shows or deletes an activity (its file records go with it; blobs stay until GC).
pub async fn activity_change(
    State(state): State<AppState>,
    visitor: Visitor,
    Path((id, aid)): Path<(i64, i64)>,
    WebForm(f): WebForm<ActivityChange>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    let p = &state.platform;
    let course = CourseId(id);
    courses::require_edit(p, &visitor.actor, course).await?;
    let activity = p.store.activity(pf_domain::ids::ActivityId(aid)).await?;
    if activity.course != course {
        return Err(AppError::not_found(format!("activity {aid}")));
    }
    match f.action.as_str() {
        "hide" | "show" => {
            let visible = f.action == "show";
            p.store
                .update_activity(activity.id, None, None, Some(visible), None)
                .await?
        }
        "delete" => p.store.delete_activity(activity.id).await?,
        other => {
            return Err(AppError::bad_request(format!(
                "unknown activity action '{other}'"
            )))
        }
    }
    let details = serde_json::json!({ "activity": aid, "action": f.action });
    p.audit(
        &visitor.actor,
        "activity.update",
        format!("course:{id}"),
        details,
    )
    .await?;
    Ok(Redirect::to(&format!("/course/{id}#section-{}", activity.section)).into_response())
}

/// Gives the course a `local` idnumber from the publishflow panel.
pub async fn course_index(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
    WebForm(f): WebForm<CsrfFields>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    courses::index(&state.platform, &visitor.actor, CourseId(id), "local").await?;
    Ok(Redirect::to(&format!("/course/{id}")).into_response())
}
