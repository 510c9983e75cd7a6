//! Job pages: the list, one job with live progress (server-sent events; the page works without
//! JavaScript, showing the state when loaded), and cancel.

use super::forms::WebForm;
use super::session::Visitor;
use super::{render, AppState};
use crate::error::AppError;
use crate::services::jobs::{self, JobDoc};
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use pf_domain::ids::JobId;
use serde::Deserialize;
use std::convert::Infallible;
use std::time::Duration;

/// The visitor's jobs (all of them for administrators).
pub async fn list(State(state): State<AppState>, visitor: Visitor) -> Result<Response, AppError> {
    visitor.require_login()?;
    let docs: Vec<JobDoc> = jobs::list(&state.platform, &visitor.actor, 200)
        .await?
        .iter()
        .map(JobDoc::from)
        .collect();
    render::page(&state, &visitor, "jobs.html", context! { jobs => docs }).await
}

/// One job.
pub async fn show(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    visitor.require_login()?;
    let job = jobs::show(&state.platform, &visitor.actor, JobId(id)).await?;
    let doc = JobDoc::from(&job);
    let created = created_course_link(&state, &job).await?;
    let ctx = context! { job => doc, created, terminal => job.state.is_terminal(), percent => (job.progress.fraction() * 100.0).round() as i64 };
    render::page(&state, &visitor, "job.html", ctx).await
}

/// Where the course a job created can be opened: this platform's page, or the page on the peer
/// that holds it — the peer the job sent to (its id in the job's params: names are not unique),
/// else the only paired peer of that name, so the link cannot mislead.
async fn created_course_link(
    state: &AppState,
    job: &pf_store::JobRecord,
) -> Result<Option<minijinja::Value>, AppError> {
    let Some(result) = job.result.as_ref() else {
        return Ok(None);
    };
    let (Some(platform), Some(course)) = (
        result.get("platform").and_then(|v| v.as_str()),
        result.get("course_id").and_then(|v| v.as_i64()),
    ) else {
        return Ok(None);
    };
    let shortname = result
        .get("shortname")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let p = &state.platform;
    // A sending job's params name its receiver; a receiving job's name its sender.
    let sent_to = match job.kind.as_str() {
        "publish" | "deploy" | "retrofit" | "deploy-home" => {
            job.params.get("peer").and_then(|v| v.as_i64())
        }
        _ => None,
    };
    let base = if sent_to.is_none() && platform == p.name().await? {
        String::new()
    } else {
        let peers: Vec<_> = p
            .store
            .peers()
            .await?
            .into_iter()
            .filter(|peer| match sent_to {
                Some(id) => peer.id.0 == id,
                None => peer.name == platform,
            })
            .collect();
        match peers.as_slice() {
            [peer] => peer.url.trim_end_matches('/').to_string(),
            _ => return Ok(None),
        }
    };
    Ok(Some(context! {
        href => format!("{base}/course/{course}"),
        platform,
        shortname,
    }))
}

/// Live progress: one `progress` event per change (JSON `jobs show` document), ending with the
/// terminal state.
pub async fn events(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    visitor.require_login()?;
    let p = state.platform.clone();
    let actor = visitor.actor.clone();
    jobs::show(&p, &actor, JobId(id)).await?;
    let stream = futures_util::stream::unfold(
        (p, actor, None::<String>, false),
        move |(p, actor, last, ended)| async move {
            if ended {
                return None;
            }
            loop {
                let job = match jobs::show(&p, &actor, JobId(id)).await {
                    Ok(job) => job,
                    Err(_) => return None,
                };
                let doc = serde_json::to_string(&JobDoc::from(&job)).unwrap_or_default();
                let terminal = job.state.is_terminal();
                if last.as_deref() != Some(doc.as_str()) || terminal {
                    let event = Event::default().event("progress").data(doc.clone());
                    return Some((Ok::<_, Infallible>(event), (p, actor, Some(doc), terminal)));
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        },
    );
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// A CSRF-only form.
#[derive(Deserialize)]
pub struct CsrfFields {
    csrf: String,
}

/// Cancels a job.
pub async fn cancel(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
    WebForm(f): WebForm<CsrfFields>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    jobs::cancel(&state.platform, &visitor.actor, JobId(id)).await?;
    Ok(Redirect::to(&format!("/jobs/{id}")).into_response())
}
