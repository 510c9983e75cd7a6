//! Course sessions on training platforms (SPEC §5.6): open / reopen (optionally with today as
//! start date and a notification to everyone with a role in the course) and close (private,
//! protected, public). The rules are `pf_domain::sessions`; the store applies them and the audit
//! entry in one transaction.

use super::{now, Actor};
use crate::error::AppError;
use crate::mail::{self, templates};
use crate::platform::{settings, Platform};
use pf_api::sessions::{OutboxDoc, SessionDoc};
use pf_domain::access::{Capability, Context};
use pf_domain::ids::{CategoryId, CourseId};
use pf_domain::sessions::{today, CloseMode, SessionAction, SessionCategories};
use pf_store::{MailRecord, NewAudit, NewMail, SessionChange};

/// How to open a session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
pub struct OpenOptions {
    /// E-mail everyone with a role in the course.
    #[serde(default)]
    pub notify: bool,
    /// Take today as the start date; activity dates shift alike.
    #[serde(default)]
    pub reset_start_date: bool,
}

/// Whether this platform runs sessions (the training duty, `factory_training` included).
pub async fn sessions_enabled(p: &Platform) -> Result<bool, AppError> {
    Ok(p.role().await?.duties().training)
}

async fn categories(p: &Platform) -> Result<SessionCategories, AppError> {
    let get = |key: &'static str| async move {
        p.store
            .setting(key)
            .await?
            .and_then(|v| v.parse().ok())
            .map(CategoryId)
            .ok_or_else(|| AppError::internal(format!("setting {key} is missing")))
    };
    Ok(SessionCategories {
        incoming: get(settings::LANDING_CATEGORY).await?,
        running: get(settings::RUNNING_CATEGORY).await?,
        closed: get(settings::CLOSED_CATEGORY).await?,
    })
}

/// Checks the course exists, the platform runs sessions and the actor holds
/// `publishflow:manage` on the course.
/// `remote`: a peer's call that admission (SPEC §5.9) already let in — the capability was part
/// of that decision.
async fn check(
    p: &Platform,
    actor: &Actor,
    course: CourseId,
    remote: Option<&str>,
) -> Result<(), AppError> {
    p.store.course(course).await?;
    if remote.is_none() {
        p.require(actor, Capability::Manage, Context::Course(course))
            .await?;
    }
    if !sessions_enabled(p).await? {
        return Err(AppError::new(
            pf_api::ErrorCode::MissingCapability,
            "sessions run on training platforms; this platform has no training duty",
        ));
    }
    Ok(())
}

async fn apply(
    p: &Platform,
    actor: &Actor,
    course: CourseId,
    action: SessionAction,
    new_start_date: Option<i64>,
    details: serde_json::Value,
    mails: Vec<NewMail>,
) -> Result<pf_store::SessionOutcome, AppError> {
    let at = now();
    let verb = match action {
        SessionAction::Open => "session.open",
        SessionAction::Close(_) => "session.close",
    };
    Ok(p.store
        .apply_session(SessionChange {
            course,
            action,
            categories: categories(p).await?,
            new_start_date,
            at,
            audit: NewAudit {
                at,
                actor: actor.label(),
                action: verb.into(),
                target: format!("course:{course}"),
                peer: None,
                job: None,
                result: "ok".into(),
                details,
            },
            mails,
        })
        .await?)
}

/// Opens (or reopens) a course's session.
pub async fn open(
    p: &Platform,
    actor: &Actor,
    course: CourseId,
    opts: OpenOptions,
) -> Result<SessionDoc, AppError> {
    open_as(p, actor, course, opts, None).await
}

/// [`open`], or for a peer admitted to run it (`remote` names it in the audit entry).
pub(crate) async fn open_as(
    p: &Platform,
    actor: &Actor,
    course: CourseId,
    opts: OpenOptions,
    remote: Option<&str>,
) -> Result<SessionDoc, AppError> {
    check(p, actor, course, remote).await?;
    let start = opts.reset_start_date.then(|| today(now()));
    let (mails, report) = if opts.notify {
        open_notifications(p, actor, course, start).await?
    } else {
        Default::default()
    };
    let details = serde_json::json!({
        "notify": opts.notify,
        "reset_start_date": opts.reset_start_date,
        "mail_queued": report.queued,
        "mail_skipped": report.skipped,
        "peer": remote,
    });
    let out = apply(p, actor, course, SessionAction::Open, start, details, mails).await?;
    let notified = report.queued;
    Ok(SessionDoc {
        course_id: course.0,
        category: out.category.0,
        visible: out.visible,
        guest_access: out.guest_access,
        switched: out.restored.len(),
        notified,
    })
}

/// Closes a course's session in `mode`.
pub async fn close(
    p: &Platform,
    actor: &Actor,
    course: CourseId,
    mode: CloseMode,
) -> Result<SessionDoc, AppError> {
    close_as(p, actor, course, mode, None).await
}

/// [`close`], or for a peer admitted to run it (`remote` names it in the audit entry).
pub(crate) async fn close_as(
    p: &Platform,
    actor: &Actor,
    course: CourseId,
    mode: CloseMode,
    remote: Option<&str>,
) -> Result<SessionDoc, AppError> {
    check(p, actor, course, remote).await?;
    let details = serde_json::json!({ "mode": mode.as_str(), "peer": remote });
    let out = apply(
        p,
        actor,
        course,
        SessionAction::Close(mode),
        None,
        details,
        Vec::new(),
    )
    .await?;
    Ok(SessionDoc {
        course_id: course.0,
        category: out.category.0,
        visible: out.visible,
        guest_access: out.guest_access,
        switched: out.disabled.len(),
        notified: 0,
    })
}

/// The e-mails telling everyone with a role in the course that its session is open, rendered
/// before the open so they are queued in its transaction. `start` is the new start date, if any.
async fn open_notifications(
    p: &Platform,
    actor: &Actor,
    course: CourseId,
    start: Option<i64>,
) -> Result<(Vec<NewMail>, mail::NotifyReport), AppError> {
    let record = p.store.course(course).await?;
    let mut recipients: Vec<pf_store::UserRecord> = Vec::new();
    for (user, _) in p.store.course_participants(course).await? {
        if !recipients.iter().any(|u| u.id == user.id) {
            recipients.push(user);
        }
    }
    let mentor = actor
        .user
        .as_ref()
        .map(|u| {
            if u.fullname.trim().is_empty() {
                u.username.to_string()
            } else {
                u.fullname.clone()
            }
        })
        .unwrap_or_default();
    let date = super::rfc3339(start.unwrap_or(record.start_date.max(today(now()))))
        .get(..10)
        .unwrap_or_default()
        .to_string();
    let values = [
        ("SITE_NAME", p.name().await?),
        ("MENTOR", mentor),
        ("DATE", date),
        ("COURSE", record.fullname.as_str().to_string()),
        (
            "URL",
            format!(
                "{}/course/{}",
                p.config.platform.url.trim_end_matches('/'),
                course
            ),
        ),
    ];
    mail::render_for(
        p,
        templates::SESSION_OPEN,
        &recipients,
        &values,
        serde_json::json!({ "course": course.0 }),
    )
    .await
}

/// A queued or delivered message as `outbox list` prints it.
pub fn outbox_doc(m: &MailRecord) -> OutboxDoc {
    OutboxDoc {
        id: m.id,
        kind: m.kind.clone(),
        to: m.recipient.clone(),
        subject: m.subject.clone(),
        lang: m
            .headers
            .get("lang")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string(),
        created: super::rfc3339(m.created_at),
        attempts: m.attempts,
        status: if m.sent_at.is_some() {
            "sent"
        } else if m.refused_at.is_some() {
            "refused"
        } else {
            "queued"
        }
        .into(),
        sent: m.sent_at.map(super::rfc3339),
        error: (!m.last_error.is_empty()).then(|| m.last_error.clone()),
    }
}

/// The outbox, newest first (administrators only).
pub async fn outbox(
    p: &Platform,
    actor: &Actor,
    offset: i64,
    limit: i64,
) -> Result<Vec<MailRecord>, AppError> {
    p.require(actor, Capability::SiteConfig, Context::System)
        .await?;
    Ok(p.store.outbox(offset, limit).await?)
}

/// Sends every queued message now, without waiting for its backoff (administrators only).
pub async fn deliver_now(p: &Platform, actor: &Actor) -> Result<mail::DeliveryReport, AppError> {
    p.require(actor, Capability::SiteConfig, Context::System)
        .await?;
    let at = now();
    if !p.config.mail.smtp_url.trim().is_empty() {
        p.store.retry_mail_now(at).await?;
    }
    let report = mail::deliver_due(p, at).await?;
    p.audit(
        actor,
        "mail.deliver",
        "outbox",
        serde_json::json!({ "sent": report.sent, "failed": report.failed, "refused": report.refused }),
    )
    .await?;
    Ok(report)
}
