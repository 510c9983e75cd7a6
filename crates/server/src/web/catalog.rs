//! The course-page faces of catalog indexing, the publication status, the sessions list and
//! remote sessions: the catalog index form (metadata), `GET /course/{id}/publication` (the
//! factory's status across its catalogs), `GET /course/{id}/copies` (every copy of the course's
//! idnumber across the network) and, on a catalog course page, the copies it deployed with
//! open/close controls (`POST /course/{id}/remote-session`).

use super::forms::{checkbox, WebForm};
use super::session::Visitor;
use super::{render, AppState};
use crate::error::AppError;
use crate::platform::Platform;
use crate::services::catalog::{index_via_catalog, terms_of, IndexMeta};
use crate::services::copies::sessions_list;
use crate::services::courses;
use crate::services::peer_keys::{by_key, Me};
use crate::services::publishing::ops::{self, duties_of};
use crate::services::remote_sessions::{self, RemoteAction};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{context, Value};
use pf_domain::access::{Capability, Context};
use pf_domain::ids::CourseId;
use pf_domain::sessions::CloseMode;
use pf_store::PeerStatus;
use serde::Deserialize;

/// What the course page's catalog parts need: the catalogs that can index the course, its
/// indexing metadata (terms shown on the deploy form) and, on a catalog, the copies it deployed.
pub async fn panel_context(
    p: &Platform,
    visitor: &Visitor,
    course: CourseId,
) -> Result<Value, AppError> {
    let record = p.store.course(course).await?;
    let catalogs: Vec<Value> = p
        .store
        .peers()
        .await?
        .into_iter()
        .filter(|r| r.status == PeerStatus::Active && duties_of(r.role.as_deref()).catalog)
        .map(|r| context! { id => r.id.0, name => r.name })
        .collect();
    let meta = terms_of(p, &record).await?.map(|e| {
        context! {
            authors => e.authors, licence => e.licence, terms => e.terms, level => e.level,
            discipline => e.discipline, summary => e.summary,
        }
    });
    let me = Me::of(p).await?;
    let can_manage = p
        .can(&visitor.actor, Capability::Manage, Context::Course(course))
        .await?
        || p.can(&visitor.actor, Capability::Deploy, Context::Course(course))
            .await?;
    // The copies this course was deployed as, each with the peer (by key: names are not
    // unique) its controls act on.
    let deployed: Vec<Value> = if can_manage && p.role().await?.duties().catalog {
        let peers = p.store.peers().await?;
        p.store
            .lineage(course)
            .await?
            .into_iter()
            .filter(|l| l.operation == "deploy" && l.source_course == course.0)
            .filter(|l| me.is(&l.source_key, &l.source_platform))
            .filter_map(|l| {
                let peer = by_key(&peers, &l.target_key)?;
                Some(context! {
                    peer => peer.id.0,
                    platform => peer.name.as_str(),
                    course_id => l.target_course,
                    created => crate::services::rfc3339(l.created_at),
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(context! { catalogs, meta, deployed })
}

/// The catalog index form.
#[derive(Deserialize)]
pub struct IndexFields {
    csrf: String,
    #[serde(default)]
    catalog: String,
    #[serde(default)]
    authors: String,
    #[serde(default)]
    licence: String,
    #[serde(default)]
    terms: String,
    #[serde(default)]
    level: String,
    #[serde(default)]
    discipline: String,
    #[serde(default)]
    summary: String,
}

/// `POST /course/{id}/index/catalog`: asks a catalog for the idnumber, with the metadata.
pub async fn index(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
    WebForm(f): WebForm<IndexFields>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    let meta = IndexMeta {
        authors: f.authors,
        licence: f.licence,
        terms: f.terms,
        level: f.level,
        discipline: f.discipline,
        summary: f.summary,
    };
    let catalog = Some(f.catalog.trim()).filter(|c| !c.is_empty());
    index_via_catalog(&state.platform, &visitor.actor, CourseId(id), catalog, meta).await?;
    Ok(Redirect::to(&format!("/course/{id}")).into_response())
}

/// `GET /course/{id}/publication`: the factory's publication status.
pub async fn publication(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let p = &state.platform;
    let course = courses::consult(p, &visitor.actor, CourseId(id)).await?;
    let status = ops::publication_status(p, &visitor.actor, course.id).await?;
    let mut catalogs = Vec::new();
    for mut c in status["catalogs"].as_array().cloned().unwrap_or_default() {
        let url = match c["peer_id"].as_i64() {
            Some(peer) => p
                .store
                .peers()
                .await?
                .into_iter()
                .find(|r| r.id.0 == peer)
                .map(|r| r.url.trim_end_matches('/').to_string()),
            None => None,
        };
        c["url"] = url.into();
        for key in ["taken", "error", "versions"] {
            if c.get(key).is_none() {
                c[key] = serde_json::Value::Null;
            }
        }
        catalogs.push(Value::from_serialize(&c));
    }
    let ctx = context! {
        course => context! { id => course.id.0, fullname => course.fullname.as_str(), idnumber => course.idnumber.as_str() },
        catalogs,
    };
    render::page(&state, &visitor, "publication_status.html", ctx).await
}

/// `GET /course/{id}/copies`: the sessions list.
pub async fn copies(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let p = &state.platform;
    let course = courses::consult(p, &visitor.actor, CourseId(id)).await?;
    let list = sessions_list(p, &visitor.actor, course.id).await?;
    let ctx = context! {
        course => context! { id => course.id.0, fullname => course.fullname.as_str() },
        list => Value::from_serialize(&list),
    };
    render::page(&state, &visitor, "course_copies.html", ctx).await
}

/// The remote session form of a deployed copy.
#[derive(Deserialize)]
pub struct RemoteFields {
    csrf: String,
    peer: String,
    target: i64,
    action: String,
    #[serde(default)]
    mode: String,
    notify: Option<String>,
}

/// `POST /course/{id}/remote-session`: opens or closes a copy this catalog deployed.
pub async fn remote_session(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
    WebForm(f): WebForm<RemoteFields>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    let action = match f.action.as_str() {
        "open" => RemoteAction::Open {
            notify: checkbox(&f.notify),
            reset_start_date: false,
        },
        "close" => RemoteAction::Close {
            mode: f.mode.parse::<CloseMode>()?,
        },
        other => {
            return Err(AppError::bad_request(format!(
                "the action is open or close, not '{other}'"
            )))
        }
    };
    remote_sessions::request(&state.platform, &visitor.actor, &f.peer, f.target, action).await?;
    Ok(Redirect::to(&format!("/course/{id}")).into_response())
}
