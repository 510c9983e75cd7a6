//! The API of catalog indexing, deploying everywhere, the sessions list and remote sessions:
//! `POST /courses/{id}/index`, `POST /courses/{id}/deploy-everywhere` (202, the queued jobs),
//! `GET /courses/{id}/sessions`, `POST /peers/{peer}/courses/{course}/session`. The course
//! search is `GET /courses?q=` (`handlers::courses`).

use super::{ApiCaller, ApiJson};
use crate::error::AppError;
use crate::services::catalog::{index_via_catalog, IndexMeta};
use crate::services::copies::{sessions_list, SessionsList};
use crate::services::jobs::JobDoc;
use crate::services::publishing::everywhere::deploy_everywhere;
use crate::services::publishing::ops::OperationRequest;
use crate::services::remote_sessions::{self, RemoteAction};
use crate::web::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use pf_api::sessions::SessionDoc;
use pf_domain::ids::CourseId;
use serde::Deserialize;

/// The body of `POST /courses/{id}/index`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexBody {
    #[serde(default = "local")]
    strategy: String,
    #[serde(default)]
    catalog: Option<String>,
    #[serde(default)]
    meta: IndexMeta,
}

fn local() -> String {
    "local".into()
}

/// `POST /courses/{id}/index` `{strategy?, catalog?, meta?}`: `{"idnumber"}`.
pub async fn index(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<IndexBody>,
) -> Result<Json<serde_json::Value>, AppError> {
    let p = &state.platform;
    let code = match body.strategy.as_str() {
        "catalog" => {
            index_via_catalog(p, &actor, CourseId(id), body.catalog.as_deref(), body.meta).await?
        }
        other => crate::services::courses::index(p, &actor, CourseId(id), other).await?,
    };
    Ok(Json(serde_json::json!({ "idnumber": code.as_str() })))
}

/// The body of `POST /courses/{id}/deploy-everywhere`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EverywhereBody {
    #[serde(default)]
    deploy_key: Option<String>,
    #[serde(default)]
    idempotency_key: Option<String>,
    #[serde(default)]
    accept_terms: bool,
}

/// `POST /courses/{id}/deploy-everywhere`: one deploy job per training platform that admits it.
pub async fn everywhere(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<EverywhereBody>,
) -> Result<(StatusCode, Json<Vec<JobDoc>>), AppError> {
    let req = OperationRequest {
        course: id,
        deploy_key: body.deploy_key,
        idempotency_key: body.idempotency_key,
        accept_terms: body.accept_terms,
        ..OperationRequest::default()
    };
    let jobs = deploy_everywhere(&state.platform, &actor, req).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(jobs.iter().map(JobDoc::from).collect()),
    ))
}

/// `GET /courses/{id}/sessions`: every copy of the course's idnumber across the network.
pub async fn sessions(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<SessionsList>, AppError> {
    Ok(Json(
        sessions_list(&state.platform, &actor, CourseId(id)).await?,
    ))
}

/// `POST /peers/{peer}/courses/{course}/session` `{"action": "open", notify?, reset_start_date?}`
/// or `{"action": "close", "mode"}`.
pub async fn remote_session(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path((peer, course)): Path<(String, i64)>,
    ApiJson(action): ApiJson<RemoteAction>,
) -> Result<Json<SessionDoc>, AppError> {
    Ok(Json(
        remote_sessions::request(&state.platform, &actor, &peer, course, action).await?,
    ))
}

/// Adds these endpoints (and the search parameter, the deploy's `accept_terms`) to the OpenAPI
/// document.
pub fn describe(doc: &mut serde_json::Value) {
    use serde_json::json;
    let id =
        json!([{ "name": "id", "in": "path", "required": true, "schema": { "type": "integer" } }]);
    let body = |props: serde_json::Value| {
        json!({ "required": true, "content": { "application/json": { "schema": {
            "type": "object", "additionalProperties": false, "properties": props } } } })
    };
    let object = |summary: &str| {
        json!({ "summary": summary,
               "responses": { "200": { "description": "OK", "content": { "application/json": { "schema": { "type": "object" } } } } } })
    };
    let text = json!({ "type": "string" });
    let meta = json!({ "type": "object", "properties": { "authors": text, "licence": text, "terms": text,
        "level": text, "discipline": text, "summary": text } });
    let paths = &mut doc["paths"];
    let mut index = object("Give the course an idnumber: local, or allocated by a catalog with descriptive metadata (course:update)");
    index["requestBody"] = body(
        json!({ "strategy": { "enum": ["local", "catalog"] }, "catalog": text, "meta": meta }),
    );
    paths["/courses/{id}/index"] = json!({ "parameters": id, "post": index });
    paths["/courses/{id}/deploy-everywhere"] = json!({ "parameters": id, "post": {
        "summary": "Deploy the course to every training platform where the caller may deploy: one job each (publishflow:deploy)",
        "requestBody": body(json!({ "deploy_key": text, "idempotency_key": text, "accept_terms": { "type": "boolean" } })),
        "responses": { "202": { "description": "The queued jobs", "content": { "application/json": { "schema": {
            "type": "array", "items": { "$ref": "#/components/schemas/Job" } } } } } } } });
    paths["/courses/{id}/sessions"] = json!({ "parameters": id, "get": object(
        "Every copy of the course's idnumber across the network: platform, course, version, visible, state") });
    let remote = json!([
        { "name": "peer", "in": "path", "required": true, "schema": { "type": "string" } },
        { "name": "course", "in": "path", "required": true, "schema": { "type": "integer" } }
    ]);
    let mut session =
        object("A catalog opens or closes a course it deployed on a training platform");
    session["requestBody"] = body(json!({ "action": { "enum": ["open", "close"] },
        "mode": { "enum": ["private", "protected", "public"] }, "notify": { "type": "boolean" },
        "reset_start_date": { "type": "boolean" } }));
    paths["/peers/{peer}/courses/{course}/session"] =
        json!({ "parameters": remote, "post": session });
    let deploy = &mut paths["/courses/{id}/deploy"]["post"]["requestBody"]["content"]
        ["application/json"]["schema"]["properties"];
    if deploy.is_object() {
        deploy["accept_terms"] =
            json!({ "type": "boolean", "description": "accept the course's terms of use" });
    }
    if let Some(params) = paths["/courses"]["get"]["parameters"].as_array_mut() {
        params.push(
            json!({ "name": "q", "in": "query", "schema": { "type": "string" },
            "description": "search words: names, idnumber, summary, catalog metadata" }),
        );
    }
}
