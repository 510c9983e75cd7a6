//! The publishflow panel's transfer forms on course pages (publish with a mode, deploy to a
//! training platform and category from the synced tree, retrofit, the deployment key) and the
//! course's lineage. Each form queues a job and redirects to its page, which shows live
//! progress; the receiving platform re-checks everything the form offered.

use super::forms::{checkbox, WebForm};
use super::session::Visitor;
use super::AppState;
use crate::error::AppError;
use crate::platform::Platform;
use crate::services::peer_keys::{by_key, Me};
use crate::services::publishing::everywhere::{deploy_targets, DeployTarget};
use crate::services::publishing::ops::{self, OperationRequest};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{context, Value};
use pf_domain::access::{Capability, Context};
use pf_domain::admission::Operation;
use pf_domain::ids::CourseId;
use pf_domain::platform::PlatformRole;
use pf_domain::publication::PublishMode;
use pf_store::PeerStatus;
use serde::Deserialize;
use std::collections::HashMap;

/// What the panel's transfer forms and the lineage list need.
pub async fn panel_context(
    p: &Platform,
    visitor: &Visitor,
    course: CourseId,
) -> Result<Value, AppError> {
    let mut catalogs = Vec::new();
    let mut trainings = Vec::new();
    let mut factories = Vec::new();
    // Whether some training target admits the user in its incoming category (the picker's
    // "incoming" choice is offered only then, or for a deploy here).
    let mut any_landing = false;
    let (_, free_category) = p.store.course_publishing(course).await?;
    // The deploy form lists only the targets where the user may deploy; a peer that is down
    // is listed as unavailable (SPEC §5.4).
    let verdicts: HashMap<i64, DeployTarget> = if p
        .can(&visitor.actor, Capability::Deploy, Context::Course(course))
        .await?
    {
        deploy_targets(p, &visitor.actor, course)
            .await?
            .into_iter()
            .map(|(peer, t)| (peer.id.0, t))
            .collect()
    } else {
        HashMap::new()
    };
    for peer in p.store.peers().await? {
        if peer.status != PeerStatus::Active {
            continue;
        }
        let duties = peer
            .role
            .as_deref()
            .and_then(|r| r.parse::<PlatformRole>().ok())
            .map(PlatformRole::duties)
            .unwrap_or_default();
        if duties.catalog {
            catalogs.push(context! { id => peer.id.0, name => peer.name.as_str() });
        }
        if duties.factory {
            factories.push(context! { id => peer.id.0, name => peer.name.as_str() });
        }
        if duties.training {
            let verdict = verdicts.get(&peer.id.0);
            let landing = verdict.is_some_and(|t| t.allowed);
            // Only the categories whose admission says yes (all of them for `deployeverywhere`).
            let admitted = |id: i64| {
                verdict.is_some_and(|t| t.categories.as_ref().is_none_or(|c| c.contains(&id)))
            };
            let mut categories = Vec::new();
            if free_category && verdict.is_some_and(|t| !unreachable(t)) {
                let mut paths: HashMap<i64, String> = HashMap::new();
                for r in p.store.remote_categories(peer.id).await? {
                    let path = match r.parent.and_then(|x| paths.get(&x)) {
                        Some(parent) => format!("{parent} / {}", r.name),
                        None => r.name.clone(),
                    };
                    paths.insert(r.remote_id, path.clone());
                    if admitted(r.remote_id) {
                        categories.push(context! { id => r.remote_id, path });
                    }
                }
            }
            // A target is offered when its landing category admits the user, or when the user
            // may choose a category and at least one admits them.
            let allowed = landing || !categories.is_empty();
            any_landing = any_landing || landing;
            let unavailable = verdict.is_some_and(unreachable);
            if !allowed && !unavailable {
                continue;
            }
            trainings.push(
                context! { id => peer.id.0, name => peer.name.as_str(), categories, allowed, landing },
            );
        }
    }
    let lineage = if p
        .can(
            &visitor.actor,
            Capability::CourseView,
            Context::Course(course),
        )
        .await?
    {
        lineage_links(p)
            .await?
            .docs(&p.store.lineage(course).await?)
    } else {
        Vec::new()
    };
    Ok(context! { catalogs, trainings, factories, free_category, lineage, any_landing })
}

/// Links from lineage edge ends to the course on its platform, found by key (names are not
/// unique): this platform's page, or the page on the peer that holds it.
struct LineageLinks {
    me: Me,
    peers: Vec<pf_store::PeerRecord>,
}

async fn lineage_links(p: &Platform) -> Result<LineageLinks, AppError> {
    Ok(LineageLinks {
        me: Me::of(p).await?,
        peers: p.store.peers().await?,
    })
}

impl LineageLinks {
    fn href(&self, key: &str, name: &str, course: i64) -> Option<String> {
        if self.me.is(key, name) {
            return Some(format!("/course/{course}"));
        }
        by_key(&self.peers, key)
            .map(|peer| format!("{}/course/{course}", peer.url.trim_end_matches('/')))
    }

    /// The edges as the course page shows them: each end with its link, when known.
    fn docs(&self, edges: &[pf_store::Lineage]) -> Vec<Value> {
        edges
            .iter()
            .map(|l| {
                let doc = ops::LineageDoc::from(l);
                let source = self.href(&l.source_key, &l.source_platform, l.source_course);
                let target = self.href(&l.target_key, &l.target_platform, l.target_course);
                context! { source_href => source, target_href => target, ..Value::from_serialize(doc) }
            })
            .collect()
    }
}

/// A target whose dry run could not reach it (down, or refusing this platform's key).
fn unreachable(t: &DeployTarget) -> bool {
    t.reason
        .as_ref()
        .is_some_and(|r| r["code"] == "peer_unreachable" || r["code"] == "unauthenticated")
}

/// The transfer forms' fields (each form sends the ones it has).
#[derive(Deserialize)]
pub struct OperationFields {
    csrf: String,
    #[serde(default)]
    peer: String,
    #[serde(default)]
    mode: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    deploy_key: String,
    accept_terms: Option<String>,
}

async fn start(
    state: &AppState,
    visitor: &Visitor,
    op: Operation,
    id: i64,
    f: OperationFields,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    let mode = match f.mode.trim() {
        "" => None,
        m => Some(m.parse::<PublishMode>()?),
    };
    let category = form_category(&f.peer, &f.category)?;
    let req = OperationRequest {
        course: id,
        peer: (!f.peer.trim().is_empty()).then(|| f.peer.trim().to_string()),
        mode,
        category,
        deploy_key: (!f.deploy_key.is_empty()).then_some(f.deploy_key),
        idempotency_key: None,
        accept_terms: checkbox(&f.accept_terms),
    };
    if op == Operation::Deploy && req.peer.as_deref() == Some("all") {
        let jobs = crate::services::publishing::everywhere::deploy_everywhere(
            &state.platform,
            &visitor.actor,
            req,
        )
        .await?;
        drop(jobs);
        return Ok(Redirect::to("/jobs").into_response());
    }
    let job = ops::start(&state.platform, &visitor.actor, op, req).await?;
    Ok(Redirect::to(&format!("/jobs/{}", job.id)).into_response())
}

/// The picker's category: `PEER:CATEGORY` (each platform's categories are numbered on their own,
/// so the value names the platform it belongs to, which must be the chosen target) or a bare id.
fn form_category(peer: &str, category: &str) -> Result<Option<i64>, AppError> {
    let (owner, id) = match category.trim().split_once(':') {
        _ if category.trim().is_empty() => return Ok(None),
        Some((owner, id)) => (Some(owner), id),
        None => (None, category.trim()),
    };
    if owner.is_some_and(|o| o != peer.trim()) {
        return Err(AppError::bad_request(
            "the chosen category belongs to another platform than the chosen target",
        ));
    }
    id.parse()
        .map(Some)
        .map_err(|_| AppError::bad_request("the category is an id"))
}

/// `POST /course/{id}/publish`.
pub async fn publish(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
    WebForm(f): WebForm<OperationFields>,
) -> Result<Response, AppError> {
    start(&state, &visitor, Operation::Publish, id, f).await
}

/// `POST /course/{id}/deploy`.
pub async fn deploy(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
    WebForm(f): WebForm<OperationFields>,
) -> Result<Response, AppError> {
    start(&state, &visitor, Operation::Deploy, id, f).await
}

/// `POST /course/{id}/retrofit`.
pub async fn retrofit(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
    WebForm(f): WebForm<OperationFields>,
) -> Result<Response, AppError> {
    start(&state, &visitor, Operation::Retrofit, id, f).await
}

/// The deployment key form's fields.
#[derive(Deserialize)]
pub struct KeyFields {
    csrf: String,
    #[serde(default)]
    deploy_key: String,
    remove: Option<String>,
    free_category: Option<String>,
}

/// `POST /course/{id}/publishing`: the deployment key and free category choice.
pub async fn settings(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
    WebForm(f): WebForm<KeyFields>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&f.csrf)?;
    let key = if checkbox(&f.remove) {
        Some(None)
    } else if f.deploy_key.is_empty() {
        None
    } else {
        Some(Some(f.deploy_key))
    };
    let free = Some(checkbox(&f.free_category));
    ops::set_course(&state.platform, &visitor.actor, CourseId(id), key, free).await?;
    Ok(Redirect::to(&format!("/course/{id}")).into_response())
}

#[cfg(test)]
mod tests {
    use super::form_category;

    #[test]
    fn a_picked_category_must_belong_to_the_chosen_target() {
        assert_eq!(form_category("2", "").unwrap(), None);
        assert_eq!(form_category("2", "7").unwrap(), Some(7));
        assert_eq!(form_category("2", "2:7").unwrap(), Some(7));
        assert!(form_category("3", "2:7").is_err());
        assert!(form_category("local", "2:7").is_err());
        assert!(form_category("2", "2:x").is_err());
    }
}
