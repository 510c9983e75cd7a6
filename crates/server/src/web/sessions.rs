//! Session forms of the course page's publishflow panel (open with "notify" and "reset start
//! date", close in a mode), and the admin pages for mail: templates and the outbox.

use super::forms::{checkbox, WebForm};
use super::session::Visitor;
use super::{render, AppState};
use crate::error::AppError;
use crate::mail::templates::{default_template, KINDS};
use crate::services::sessions::{self, outbox_doc, OpenOptions};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use pf_domain::access::{Capability, Context};
use pf_domain::ids::CourseId;
use pf_domain::sessions::CloseMode;
use pf_domain::user::Language;
use pf_store::MailTemplate;
use serde::Deserialize;

/// The open form's fields.
#[derive(Deserialize)]
pub struct OpenFields {
    csrf: String,
    notify: Option<String>,
    reset_start_date: Option<String>,
}

/// Opens (or reopens) the course's session.
pub async fn open(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
    WebForm(f): WebForm<OpenFields>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    let opts = OpenOptions {
        notify: checkbox(&f.notify),
        reset_start_date: checkbox(&f.reset_start_date),
    };
    sessions::open(&state.platform, &visitor.actor, CourseId(id), opts).await?;
    Ok(Redirect::to(&format!("/course/{id}")).into_response())
}

/// The close form's fields.
#[derive(Deserialize)]
pub struct CloseFields {
    csrf: String,
    #[serde(default)]
    mode: String,
}

/// Closes the course's session in the chosen mode.
pub async fn close(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
    WebForm(f): WebForm<CloseFields>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    let mode: CloseMode = f.mode.parse()?;
    sessions::close(&state.platform, &visitor.actor, CourseId(id), mode).await?;
    Ok(Redirect::to(&format!("/course/{id}")).into_response())
}

async fn require_admin(state: &AppState, visitor: &Visitor) -> Result<(), AppError> {
    state
        .platform
        .require(&visitor.actor, Capability::SiteConfig, Context::System)
        .await
}

/// `?page=`
#[derive(Deserialize)]
pub struct PageQuery {
    page: Option<i64>,
}

/// The outbox: messages waiting, delivered, or kept without an SMTP server.
pub async fn outbox(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(q): Query<PageQuery>,
) -> Result<Response, AppError> {
    let page = q.page.unwrap_or(1).max(1);
    let list = sessions::outbox(&state.platform, &visitor.actor, (page - 1) * 50, 50).await?;
    let messages: Vec<_> = list
        .iter()
        .map(|m| {
            let doc = outbox_doc(m);
            context! { doc => doc, text => m.text_body.as_str() }
        })
        .collect();
    let smtp = !state.platform.config.mail.smtp_url.trim().is_empty();
    render::page(
        &state,
        &visitor,
        "admin_outbox.html",
        context! { messages, page, smtp },
    )
    .await
}

/// The deliver-now form's fields.
#[derive(Deserialize)]
pub struct DeliverFields {
    csrf: String,
}

/// Tries every undelivered message now, refused ones included (SMTP configured only).
pub async fn deliver_now(
    State(state): State<AppState>,
    visitor: Visitor,
    WebForm(f): WebForm<DeliverFields>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    sessions::deliver_now(&state.platform, &visitor.actor).await?;
    Ok(Redirect::to("/admin/outbox").into_response())
}

async fn template_views(state: &AppState) -> Result<Vec<minijinja::Value>, AppError> {
    let mut views = Vec::new();
    for kind in KINDS {
        for lang in [Language::En, Language::Fr] {
            let saved = state
                .platform
                .store
                .mail_template(kind, lang.code())
                .await?;
            let custom = saved.is_some();
            let t = match saved.or_else(|| default_template(kind, lang)) {
                Some(t) => t,
                None => continue,
            };
            views.push(context! {
                kind => *kind, lang => lang.code(), custom,
                subject => t.subject, text_body => t.text_body, html_body => t.html_body,
            });
        }
    }
    Ok(views)
}

/// The mail templates, per kind and language, editable.
pub async fn templates(
    State(state): State<AppState>,
    visitor: Visitor,
) -> Result<Response, AppError> {
    require_admin(&state, &visitor).await?;
    let views = template_views(&state).await?;
    render::page(
        &state,
        &visitor,
        "admin_mail.html",
        context! { templates => views },
    )
    .await
}

/// The template form's fields.
#[derive(Deserialize)]
pub struct TemplateFields {
    csrf: String,
    kind: String,
    lang: String,
    subject: String,
    text_body: String,
    html_body: String,
}

/// Saves one template.
pub async fn template_save(
    State(state): State<AppState>,
    visitor: Visitor,
    WebForm(f): WebForm<TemplateFields>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    require_admin(&state, &visitor).await?;
    if !KINDS.contains(&f.kind.as_str()) {
        return Err(AppError::bad_request(format!(
            "'{}' is not a kind of message",
            f.kind
        )));
    }
    let lang = match f.lang.as_str() {
        "en" => Language::En,
        "fr" => Language::Fr,
        other => return Err(AppError::bad_request(format!("'{other}' is not en or fr"))),
    };
    if f.subject.trim().is_empty() || f.text_body.trim().is_empty() {
        return Err(AppError::bad_request(
            "a template needs a subject and a text body",
        ));
    }
    let t = MailTemplate {
        kind: f.kind,
        lang: lang.code().into(),
        subject: crate::mail::templates::header_safe(&f.subject),
        text_body: f.text_body,
        html_body: f.html_body,
    };
    state
        .platform
        .store
        .set_mail_template(&t, crate::services::now())
        .await?;
    state
        .platform
        .audit(
            &visitor.actor,
            "mail.template",
            format!("{}:{}", t.kind, t.lang),
            serde_json::Value::Null,
        )
        .await?;
    Ok(Redirect::to("/admin/mail").into_response())
}
