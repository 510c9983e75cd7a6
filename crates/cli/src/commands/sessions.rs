//! `session open|close` and `outbox list|deliver`.

use crate::args::{OutboxCommand, SessionCommand};
use crate::output::{emit, table};
use pf_domain::sessions::CloseMode;
use pf_server::error::AppError;
use pf_server::platform::Platform;
use pf_server::services::courses;
use pf_server::services::remote_sessions::RemoteAction;
use pf_server::services::sessions::{self, outbox_doc, OpenOptions};
use pf_server::services::Actor;

/// Runs a `session` command.
pub async fn session(
    p: &Platform,
    actor: &Actor,
    cmd: SessionCommand,
    json: bool,
) -> Result<(), AppError> {
    let doc = match cmd {
        SessionCommand::Open {
            course,
            notify,
            reset_start_date,
            on: Some(peer),
        } => {
            let action = RemoteAction::Open {
                notify,
                reset_start_date,
            };
            super::catalog::remote_session(p, actor, &peer, &course, action).await?
        }
        SessionCommand::Close {
            course,
            mode,
            on: Some(peer),
        } => {
            let mode: CloseMode = mode.parse()?;
            let action = RemoteAction::Close { mode };
            super::catalog::remote_session(p, actor, &peer, &course, action).await?
        }
        SessionCommand::Open {
            course,
            notify,
            reset_start_date,
            on: None,
        } => {
            let record = courses::resolve(p, &course).await?;
            let opts = OpenOptions {
                notify,
                reset_start_date,
            };
            sessions::open(p, actor, record.id, opts).await?
        }
        SessionCommand::Close {
            course,
            mode,
            on: None,
        } => {
            // The mode is checked before anything else: a bad one changes nothing (exit 2).
            let mode: CloseMode = mode.parse()?;
            let record = courses::resolve(p, &course).await?;
            sessions::close(p, actor, record.id, mode).await?
        }
    };
    emit(json, &doc, || {
        format!(
            "course {} in category {}, {}{}; {} students switched, {} messages queued",
            doc.course_id,
            doc.category,
            if doc.visible { "visible" } else { "hidden" },
            if doc.guest_access {
                ", open to guests"
            } else {
                ""
            },
            doc.switched,
            doc.notified
        )
    });
    Ok(())
}

/// Runs an `outbox` command.
pub async fn outbox(
    p: &Platform,
    actor: &Actor,
    cmd: OutboxCommand,
    json: bool,
) -> Result<(), AppError> {
    match cmd {
        OutboxCommand::List => {
            let list = sessions::outbox(p, actor, 0, i64::MAX).await?;
            let docs: Vec<_> = list.iter().map(outbox_doc).collect();
            emit(json, &docs, || {
                let rows = docs
                    .iter()
                    .map(|m| {
                        vec![
                            m.id.to_string(),
                            m.status.clone(),
                            m.to.clone(),
                            m.lang.clone(),
                            m.subject.clone(),
                        ]
                    })
                    .collect();
                table(&["ID", "STATUS", "TO", "LANG", "SUBJECT"], rows)
            });
        }
        OutboxCommand::Deliver => {
            let report = sessions::deliver_now(p, actor).await?;
            emit(json, &report, || {
                if report.configured {
                    format!(
                        "{} sent, {} kept for a later attempt, {} refused by the server (held)",
                        report.sent, report.failed, report.refused
                    )
                } else {
                    "no SMTP server is configured ([mail] smtp_url): messages stay in the outbox"
                        .into()
                }
            });
            if report.failed + report.refused > 0 {
                return Err(AppError::new(
                    pf_api::ErrorCode::Failed,
                    format!(
                        "{} messages could not be delivered; they stay in the outbox (`outbox list`)",
                        report.failed + report.refused
                    ),
                ));
            }
        }
    }
    Ok(())
}
