//! The front page and category pages: the category tree and paged course lists.

use super::session::Visitor;
use super::{render, AppState};
use crate::error::AppError;
use crate::services::{categories, courses};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use minijinja::context;
use pf_domain::ids::CategoryId;
use serde::Deserialize;

/// Courses per page.
pub const PAGE_SIZE: i64 = 20;
/// Search results shown (one page).
pub const SEARCH_SIZE: i64 = 200;

/// `?page=N` (1-based).
#[derive(Deserialize)]
pub struct PageQuery {
    page: Option<i64>,
    /// Search words (front page): names, idnumber, summary and catalog metadata.
    q: Option<String>,
}

/// The front page: the tree and every course the visitor may see listed.
pub async fn index(
    state: State<AppState>,
    visitor: Visitor,
    q: Query<PageQuery>,
) -> Result<Response, AppError> {
    let words = q.q.as_deref().map(str::trim).filter(|w| !w.is_empty());
    listing(&state, &visitor, None, q.page.unwrap_or(1), words).await
}

/// A category page: the tree and that category's courses.
pub async fn category(
    state: State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
    q: Query<PageQuery>,
) -> Result<Response, AppError> {
    listing(
        &state,
        &visitor,
        Some(CategoryId(id)),
        q.page.unwrap_or(1),
        None,
    )
    .await
}

async fn listing(
    state: &AppState,
    visitor: &Visitor,
    category: Option<CategoryId>,
    page: i64,
    search: Option<&str>,
) -> Result<Response, AppError> {
    let p = &state.platform;
    let tree = categories::tree(p, &visitor.actor).await?;
    let current = match category {
        Some(id) => Some(
            tree.iter()
                .find(|e| e.category.id == id)
                .ok_or_else(|| AppError::not_found(format!("category {id}")))?
                .clone(),
        ),
        None => None,
    };
    let page = page.max(1);
    let (list, total) = match search {
        Some(words) => {
            // One page of search results (the pager's links carry no search words).
            crate::services::catalog::search(p, &visitor.actor, words, 0, SEARCH_SIZE).await?
        }
        None => {
            courses::list(
                p,
                &visitor.actor,
                category,
                (page - 1) * PAGE_SIZE,
                PAGE_SIZE,
            )
            .await?
        }
    };
    let names: std::collections::HashMap<i64, String> = tree
        .iter()
        .map(|e| (e.category.id.0, e.path.clone()))
        .collect();
    let ids: Vec<_> = list.iter().map(|c| c.id).collect();
    let sources = published_from(p, &ids).await?;
    let courses: Vec<_> = list
        .iter()
        .map(|c| context! {
            id => c.id.0, fullname => c.fullname.as_str(), shortname => c.shortname.as_str(),
            visible => c.visible, category => names.get(&c.category.0).cloned().unwrap_or_default(),
            source => sources.get(&c.id.0).cloned(),
        })
        .collect();
    let tree: Vec<_> = tree
        .iter()
        .map(|e| context! { id => e.category.id.0, name => e.category.name.as_str(), depth => e.depth, visible => e.category.visible, current => Some(e.category.id) == category })
        .collect();
    let pages = (total + PAGE_SIZE - 1) / PAGE_SIZE;
    let can_create = match category {
        Some(c) => {
            p.can(
                &visitor.actor,
                pf_domain::access::Capability::CourseCreate,
                pf_domain::access::Context::Category(c),
            )
            .await?
                && courses::authoring_enabled(p).await?
        }
        None => false,
    };
    // Imports land in this category, or in the landing category from the front page.
    let import_category = match category {
        Some(c) => Some(c),
        None => crate::services::archives::import::landing_category(p)
            .await
            .ok(),
    };
    let can_import = match import_category {
        Some(c) => {
            p.can(
                &visitor.actor,
                pf_domain::access::Capability::CourseCreate,
                pf_domain::access::Context::Category(c),
            )
            .await?
        }
        None => false,
    };
    let ctx = context! {
        tree, courses, total, page, pages, can_import,
        import_category => import_category.map(|c| c.0),
        category => current.map(|e| context! { id => e.category.id.0, name => e.category.name, path => e.path }),
        can_create, search,
        jump_targets => super::mutual::targets(p, &visitor.actor).await?,
        base => category.map(|c| format!("/category/{c}")).unwrap_or_else(|| "/".into()),
    };
    render::page(state, visitor, "index.html", ctx).await
}

/// The platform each of `courses` was published from (its establishment, SPEC §8), for courses
/// a publication created here; the platform's own name never counts.
pub(super) async fn published_from(
    p: &crate::platform::Platform,
    courses: &[pf_domain::ids::CourseId],
) -> Result<std::collections::HashMap<i64, String>, AppError> {
    let own = p.name().await?;
    let mut sources = p.store.publication_sources(courses).await?;
    sources.retain(|_, source| *source != own);
    Ok(sources)
}
