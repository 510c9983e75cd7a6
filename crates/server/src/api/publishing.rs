//! Operation endpoints: `POST /courses/{id}/publish|deploy|retrofit` (answer the queued job,
//! 202), `GET /courses/{id}/lineage`, `GET /courses/{id}/publication` (the factory's status),
//! `PATCH /courses/{id}/publishing` (deploy key, free category); and their OpenAPI entries.

use super::{ApiCaller, ApiJson};
use crate::error::AppError;
use crate::services::jobs::JobDoc;
use crate::services::publishing::ops::{self, LineageDoc, OperationRequest};
use crate::web::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use pf_domain::admission::Operation;
use pf_domain::ids::CourseId;
use pf_domain::publication::PublishMode;
use serde::Deserialize;
use serde_json::{json, Value};

/// The body of an operation (every field optional but `to` for deploys).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperationBody {
    #[serde(default)]
    catalog: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    category: Option<i64>,
    #[serde(default)]
    deploy_key: Option<String>,
    #[serde(default)]
    idempotency_key: Option<String>,
    #[serde(default)]
    accept_terms: bool,
}

async fn start(
    state: &AppState,
    actor: &crate::services::Actor,
    op: Operation,
    id: i64,
    body: OperationBody,
) -> Result<(StatusCode, Json<JobDoc>), AppError> {
    let mode = body
        .mode
        .as_deref()
        .map(str::parse::<PublishMode>)
        .transpose()?;
    let peer = match op {
        Operation::Publish => body.catalog,
        _ => body.to,
    };
    if op == Operation::Deploy && peer.is_none() {
        return Err(AppError::bad_request("a deploy names its target: \"to\""));
    }
    let req = OperationRequest {
        course: id,
        peer,
        mode,
        category: body.category,
        deploy_key: body.deploy_key,
        idempotency_key: body.idempotency_key,
        accept_terms: body.accept_terms,
    };
    let job = ops::start(&state.platform, actor, op, req).await?;
    Ok((StatusCode::ACCEPTED, Json(JobDoc::from(&job))))
}

/// `POST /courses/{id}/publish` `{catalog?, mode?, idempotency_key?}`.
pub async fn publish(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<OperationBody>,
) -> Result<(StatusCode, Json<JobDoc>), AppError> {
    start(&state, &actor, Operation::Publish, id, body).await
}

/// `POST /courses/{id}/deploy` `{to, category?, deploy_key?, idempotency_key?, accept_terms?}`.
pub async fn deploy(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<OperationBody>,
) -> Result<(StatusCode, Json<JobDoc>), AppError> {
    start(&state, &actor, Operation::Deploy, id, body).await
}

/// `POST /courses/{id}/retrofit` `{to?, idempotency_key?}`.
pub async fn retrofit(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<OperationBody>,
) -> Result<(StatusCode, Json<JobDoc>), AppError> {
    start(&state, &actor, Operation::Retrofit, id, body).await
}

/// `GET /courses/{id}/lineage`.
pub async fn lineage(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<Vec<LineageDoc>>, AppError> {
    Ok(Json(
        ops::lineage(&state.platform, &actor, CourseId(id)).await?,
    ))
}

/// `GET /courses/{id}/publication`.
pub async fn publication(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(
        ops::publication_status(&state.platform, &actor, CourseId(id)).await?,
    ))
}

/// The body of `PATCH /courses/{id}/publishing`: `deploy_key` a string sets it, `null` removes
/// it, absent keeps it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsBody {
    #[serde(default, deserialize_with = "present")]
    deploy_key: Option<Option<String>>,
    #[serde(default)]
    free_category: Option<bool>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

/// `PATCH /courses/{id}/publishing`.
pub async fn settings(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<SettingsBody>,
) -> Result<StatusCode, AppError> {
    ops::set_course(
        &state.platform,
        &actor,
        CourseId(id),
        body.deploy_key,
        body.free_category,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds these endpoints and their schemas to the OpenAPI document.
pub fn describe(doc: &mut Value) {
    let id =
        json!([{ "name": "id", "in": "path", "required": true, "schema": { "type": "integer" } }]);
    let job = json!({ "$ref": "#/components/schemas/Job" });
    let body = |props: Value| {
        json!({ "required": true, "content": { "application/json": { "schema": {
            "type": "object", "additionalProperties": false, "properties": props } } } })
    };
    let accepted = |summary: &str, props: Value| {
        json!({ "summary": summary, "requestBody": body(props),
               "responses": { "202": { "description": "The queued job", "content": { "application/json": { "schema": job } } } } })
    };
    let key =
        json!({ "type": "string", "description": "idempotency key: a key runs at most once" });
    let paths = &mut doc["paths"];
    paths["/courses/{id}/publish"] = json!({ "parameters": id, "post": accepted(
        "Publish, republish, update or unpublish the course on a catalog (factories; publishflow:publish)",
        json!({ "catalog": { "type": "string" }, "mode": { "enum": ["publish", "republish", "update", "unpublish"] }, "idempotency_key": key })) });
    paths["/courses/{id}/deploy"] = json!({ "parameters": id, "post": accepted(
        "Deploy the course to a training platform, hidden on arrival (publishflow:deploy; the deploy key when the course has one)",
        json!({ "to": { "type": "string" }, "category": { "type": "integer" }, "deploy_key": { "type": "string" }, "idempotency_key": key })) });
    paths["/courses/{id}/retrofit"] = json!({ "parameters": id, "post": accepted(
        "Send the course back to its factory (training platforms; publishflow:retrofit)",
        json!({ "to": { "type": "string" }, "idempotency_key": key })) });
    paths["/courses/{id}/lineage"] = json!({ "parameters": id, "get": { "summary": "Where the course came from and where its copies went",
        "responses": { "200": { "description": "OK", "content": { "application/json": { "schema": { "type": "array", "items": { "$ref": "#/components/schemas/LineageEdge" } } } } } } } });
    paths["/courses/{id}/publication"] = json!({ "parameters": id, "get": { "summary": "The course's publication series on each catalog (factories)",
        "responses": { "200": { "description": "OK", "content": { "application/json": { "schema": { "type": "object" } } } } } } });
    paths["/courses/{id}/publishing"] = json!({ "parameters": id, "patch": { "summary": "Per-course publishing settings (course:update)",
        "requestBody": body(json!({ "deploy_key": { "type": ["string", "null"] }, "free_category": { "type": "boolean" } })),
        "responses": { "204": { "description": "Changed" } } } });
    let end = json!({ "type": "object", "properties": { "platform": { "type": "string" }, "course_id": { "type": "integer" } } });
    doc["components"]["schemas"]["LineageEdge"] = json!({ "type": "object", "properties": {
        "operation": { "enum": ["publish", "deploy", "retrofit"] }, "source": end, "target": end,
        "archive": { "type": "object" }, "version": { "type": ["integer", "null"] }, "actor": { "type": "string" },
        "job": { "type": "string" }, "created": { "type": "string", "format": "date-time" } } });
}
