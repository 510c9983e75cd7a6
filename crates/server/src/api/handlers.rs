//! API handlers: parse, call a service, return the CLI contract's documents.

use super::{ApiCaller, ApiJson};
use crate::error::AppError;
use crate::services::categories::{self, CategoryForm};
use crate::services::courses::{self, CourseForm};
use crate::services::users::{self, parse_role_spec, UserForm};
use crate::web::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use pf_api::docs::{CategoryDoc, CourseDoc, Created, UserDoc};
use pf_domain::access::Capability;
use pf_domain::ids::{CategoryId, CourseId};
use pf_store::CourseRecord;
use serde::Deserialize;

/// A course as the API and the CLI list it.
pub fn course_doc(c: &CourseRecord) -> CourseDoc {
    CourseDoc {
        id: c.id.0,
        fullname: c.fullname.as_str().to_string(),
        shortname: c.shortname.as_str().to_string(),
        idnumber: c.idnumber.as_str().to_string(),
        category: c.category.0,
        visible: c.visible,
    }
}

/// The caller's own account.
pub async fn me(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
) -> Result<Json<UserDoc>, AppError> {
    let user = actor
        .user
        .as_ref()
        .ok_or_else(|| AppError::bad_request("no user"))?;
    Ok(Json(
        crate::services::users::user_doc(&state.platform, user).await?,
    ))
}

/// Every category the caller may see, parents first.
pub async fn categories(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
) -> Result<Json<Vec<CategoryDoc>>, AppError> {
    let tree = categories::tree(&state.platform, &actor).await?;
    Ok(Json(
        tree.into_iter()
            .map(crate::services::categories::category_doc)
            .collect(),
    ))
}

/// Creates a category.
pub async fn create_category(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    ApiJson(form): ApiJson<CategoryForm>,
) -> Result<(StatusCode, Json<Created>), AppError> {
    let id = categories::create(&state.platform, &actor, form).await?;
    Ok((StatusCode::CREATED, Json(Created { id: id.0 })))
}

/// `?category=&offset=&limit=`
#[derive(Deserialize)]
pub struct CourseListQuery {
    category: Option<i64>,
    offset: Option<i64>,
    limit: Option<i64>,
    /// Search words (names, idnumber, summary, catalog metadata).
    q: Option<String>,
}

/// Courses the caller may see listed.
pub async fn courses(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Query(q): Query<CourseListQuery>,
) -> Result<Json<Vec<CourseDoc>>, AppError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    if let Some(words) = q.q.as_deref().filter(|w| !w.trim().is_empty()) {
        let offset = q.offset.unwrap_or(0).max(0);
        let (list, _) =
            crate::services::catalog::search(&state.platform, &actor, words, offset, limit).await?;
        return Ok(Json(list.iter().map(course_doc).collect()));
    }
    let (list, _) = courses::list(
        &state.platform,
        &actor,
        q.category.map(CategoryId),
        q.offset.unwrap_or(0).max(0),
        limit,
    )
    .await?;
    Ok(Json(list.iter().map(course_doc).collect()))
}

/// Creates a course.
pub async fn create_course(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    ApiJson(form): ApiJson<CourseForm>,
) -> Result<(StatusCode, Json<Created>), AppError> {
    let id = courses::create(&state.platform, &actor, form).await?;
    Ok((StatusCode::CREATED, Json(Created { id: id.0 })))
}

/// One course with its outline and files (`course show` shape).
pub async fn course(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<pf_api::docs::CourseDetailDoc>, AppError> {
    let course = courses::consult(&state.platform, &actor, CourseId(id)).await?;
    Ok(Json(
        courses::detail_doc(&state.platform, &actor, &course).await?,
    ))
}

/// Partial update: fields left out keep their values.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoursePatch {
    fullname: Option<String>,
    shortname: Option<String>,
    idnumber: Option<String>,
    category: Option<i64>,
    summary: Option<String>,
    format: Option<String>,
    visible: Option<bool>,
    guest_access: Option<bool>,
    lang: Option<String>,
}

/// Updates a course.
pub async fn update_course(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(patch): ApiJson<CoursePatch>,
) -> Result<Json<CourseDoc>, AppError> {
    let p = &state.platform;
    let current = courses::consult(p, &actor, CourseId(id)).await?;
    let form = CourseForm {
        fullname: patch
            .fullname
            .unwrap_or_else(|| current.fullname.as_str().to_string()),
        shortname: patch
            .shortname
            .unwrap_or_else(|| current.shortname.as_str().to_string()),
        idnumber: patch
            .idnumber
            .unwrap_or_else(|| current.idnumber.as_str().to_string()),
        category: patch.category.unwrap_or(current.category.0),
        summary: patch.summary.unwrap_or(current.summary.clone()),
        format: Some(patch.format.unwrap_or(current.format.clone())),
        visible: Some(patch.visible.unwrap_or(current.visible)),
        guest_access: Some(patch.guest_access.unwrap_or(current.guest_access)),
        lang: patch.lang.unwrap_or(current.lang.clone()),
    };
    courses::update(p, &actor, current.id, form).await?;
    Ok(Json(course_doc(&p.store.course(current.id).await?)))
}

/// Every account (administrators only).
pub async fn users(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
) -> Result<Json<Vec<UserDoc>>, AppError> {
    state
        .platform
        .require(
            &actor,
            Capability::SiteConfig,
            pf_domain::access::Context::System,
        )
        .await?;
    Ok(Json(users::list_docs(&state.platform).await?))
}

/// A new account.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    username: String,
    password: Option<String>,
    #[serde(default)]
    email: String,
    #[serde(default)]
    fullname: String,
    #[serde(default)]
    lang: String,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    profile: std::collections::BTreeMap<String, String>,
}

/// Creates an account (administrators only).
pub async fn create_user(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    ApiJson(body): ApiJson<NewUserBody>,
) -> Result<(StatusCode, Json<Created>), AppError> {
    let roles = body
        .roles
        .iter()
        .map(|r| parse_role_spec(r))
        .collect::<Result<Vec<_>, _>>()?;
    let form = UserForm {
        username: body.username,
        password: body.password,
        email: body.email,
        fullname: body.fullname,
        lang: body.lang,
        roles,
        profile: body.profile.into_iter().collect(),
    };
    let id = users::create(&state.platform, &actor, form).await?;
    Ok((StatusCode::CREATED, Json(Created { id: id.0 })))
}
