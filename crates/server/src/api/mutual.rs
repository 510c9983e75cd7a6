//! Mutualisation endpoints (SPEC §8), calling the same services as the CLI and the pages:
//!
//! - `GET|POST /rules`, `DELETE /rules/{id}`: profile rules with who would match them;
//! - `GET|PUT /peers/{id}/trusted-fields`: the fields trusted from a peer's users;
//! - `GET|PATCH /users/{id}/profile`: a user's profile values (administrators any field; a user
//!   the user-editable fields of their own account);
//! - `GET|PATCH /mutual/settings`: the assigned category field and the roaming retention;
//! - `POST /courses/{id}/deploy-home`: "deploy to my platform" for a **roaming** user. A roaming
//!   user holds a token like anyone (made on the account page after a jump); it deploys only
//!   while the delegation of their latest jump lives (8 h), so the token alone never acts
//!   toward their home.

use super::{ApiCaller, ApiJson};
use crate::error::AppError;
use crate::services::jobs::JobDoc;
use crate::services::mutual::{self, deploy};
use crate::services::{profile, rules};
use crate::web::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use pf_domain::access::Context;
use pf_domain::ids::{CourseId, PeerId, UserId};
use pf_domain::rules::RuleGrant;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// `GET /rules`: every rule and who would match it (administrators).
pub async fn list_rules(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
) -> Result<Json<Vec<Value>>, AppError> {
    Ok(Json(
        rules::who_matches(&state.platform, &actor)
            .await?
            .into_iter()
            .map(|(r, users)| {
                json!({ "id": r.id, "context": r.context.to_string(), "grant": r.grant.as_str(),
                        "rule": r.rule.to_string(), "matches": users })
            })
            .collect(),
    ))
}

/// The body of `POST /rules`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRule {
    context: String,
    grant: String,
    rule: String,
}

/// `POST /rules`.
pub async fn add_rule(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    ApiJson(body): ApiJson<NewRule>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let context: Context = body.context.trim().parse()?;
    let grant = RuleGrant::parse(body.grant.trim())?;
    let id = rules::add(&state.platform, &actor, context, grant, &body.rule).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))))
}

/// `DELETE /rules/{id}`.
pub async fn remove_rule(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path(id): Path<i64>,
) -> Result<StatusCode, AppError> {
    rules::remove(&state.platform, &actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn trusted_doc(state: &AppState, peer: PeerId) -> Result<Json<Value>, AppError> {
    let p = &state.platform;
    let record = p.store.peer(peer).await?;
    let trusted = p.store.trusted_fields(peer).await?;
    Ok(Json(
        json!({ "peer": record.name, "id": peer.0, "trusted": trusted }),
    ))
}

/// `GET /peers/{id}/trusted-fields` (administrators).
pub async fn trusted(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<Value>, AppError> {
    mutual::settings(&state.platform, &actor).await?;
    trusted_doc(&state, PeerId(id)).await
}

/// The body of `PUT /peers/{id}/trusted-fields`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trusted {
    fields: Vec<String>,
}

/// `PUT /peers/{id}/trusted-fields`: replaces the list.
pub async fn set_trusted(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<Trusted>,
) -> Result<Json<Value>, AppError> {
    if body.fields.iter().any(|f| f.contains(',')) {
        return Err(AppError::bad_request("a field name has no comma"));
    }
    let peer = state.platform.store.peer(PeerId(id)).await?;
    rules::trust(&state.platform, &actor, peer.id, &body.fields.join(",")).await?;
    trusted_doc(&state, peer.id).await
}

/// `GET /users/{id}/profile`.
pub async fn profile_of(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<Map<String, Value>>, AppError> {
    Ok(Json(
        profile::values_of(&state.platform, &actor, UserId(id)).await?,
    ))
}

/// `PATCH /users/{id}/profile` `{field: value, …}`: all or nothing.
pub async fn set_profile(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<BTreeMap<String, String>>,
) -> Result<Json<Map<String, Value>>, AppError> {
    let pairs: Vec<(String, String)> = body.into_iter().collect();
    let p = &state.platform;
    profile::set_values(p, &actor, UserId(id), &pairs).await?;
    Ok(Json(profile::values_of(p, &actor, UserId(id)).await?))
}

/// `GET /mutual/settings` (administrators).
pub async fn settings(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
) -> Result<Json<Value>, AppError> {
    Ok(Json(mutual::settings(&state.platform, &actor).await?))
}

/// The body of `PATCH /mutual/settings`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    assigned_category_field: Option<String>,
    roaming_days: Option<i64>,
}

/// `PATCH /mutual/settings`.
pub async fn set_settings(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    ApiJson(body): ApiJson<SettingsPatch>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(
        mutual::set_settings(
            &state.platform,
            &actor,
            body.assigned_category_field.as_deref(),
            body.roaming_days,
        )
        .await?,
    ))
}

/// The body of `POST /courses/{id}/deploy-home`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployHomeBody {
    #[serde(default)]
    deploy_key: Option<String>,
    #[serde(default)]
    idempotency_key: Option<String>,
}

/// `POST /courses/{id}/deploy-home`: the queued job (202).
pub async fn deploy_home(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<DeployHomeBody>,
) -> Result<(StatusCode, Json<JobDoc>), AppError> {
    let job = deploy::start(
        &state.platform,
        &actor,
        CourseId(id),
        body.deploy_key.as_deref(),
        body.idempotency_key,
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(JobDoc::from(&job))))
}

/// Adds these endpoints and their schemas to the OpenAPI document.
pub fn describe(doc: &mut Value) {
    let id =
        json!([{ "name": "id", "in": "path", "required": true, "schema": { "type": "integer" } }]);
    let schema = |name: &str| json!({ "$ref": format!("#/components/schemas/{name}") });
    let answer = |status: &str, s: Value| json!({ status: { "description": "OK", "content": { "application/json": { "schema": s } } } });
    let body =
        |s: Value| json!({ "required": true, "content": { "application/json": { "schema": s } } });
    let op = |summary: &str, status: &str, s: Value, b: Option<Value>| {
        let mut o = json!({ "summary": summary, "responses": answer(status, s) });
        if let Some(b) = b {
            o["requestBody"] = body(b);
        }
        o
    };
    let values = json!({ "type": "object", "additionalProperties": { "type": "string" } });
    let paths = &mut doc["paths"];
    paths["/rules"] = json!({
        "get": op("Profile rules with who would match each (administrators)", "200",
            json!({ "type": "array", "items": schema("Rule") }), None),
        "post": op("Add a profile rule (administrators)", "201", schema("Created"), Some(schema("NewRule"))) });
    paths["/rules/{id}"] = json!({ "parameters": id,
        "delete": { "summary": "Remove a profile rule (administrators)", "responses": { "204": { "description": "Removed" } } } });
    paths["/peers/{id}/trusted-fields"] = json!({ "parameters": id,
        "get": op("The profile fields trusted from the peer's users (administrators)", "200", schema("TrustedFields"), None),
        "put": op("Replace the fields trusted from the peer's users (administrators)", "200", schema("TrustedFields"),
            Some(json!({ "type": "object", "required": ["fields"], "additionalProperties": false,
                "properties": { "fields": { "type": "array", "items": { "type": "string" } } } }))) });
    paths["/users/{id}/profile"] = json!({ "parameters": id,
        "get": op("A user's profile values (administrators; a user their own)", "200", values.clone(), None),
        "patch": op("Set profile values, all or nothing (administrators any field; a user the user-editable fields of their own account)",
            "200", values.clone(), Some(values)) });
    paths["/mutual/settings"] = json!({
        "get": op("Mutualisation settings (administrators)", "200", schema("MutualSettings"), None),
        "patch": op("Change mutualisation settings (administrators)", "200", schema("MutualSettings"), Some(schema("MutualSettings"))) });
    paths["/courses/{id}/deploy-home"] = json!({ "parameters": id, "post": op(
        "Deploy to my platform: a roaming user's copy, hidden, in their assigned category at home (or its incoming one); needs the delegation of their latest jump (8 h), consult and deploy rights, and the course's deploy key when it has one",
        "202", schema("Job"), Some(json!({ "type": "object", "additionalProperties": false, "properties": {
            "deploy_key": { "type": "string" }, "idempotency_key": { "type": "string" } } }))) });
    let schemas = &mut doc["components"]["schemas"];
    schemas["Rule"] = json!({ "type": "object", "properties": { "id": { "type": "integer" },
        "context": { "type": "string", "description": "category:ID or course:ID" }, "grant": { "enum": ["consult", "deploy"] },
        "rule": { "type": "string" }, "matches": { "type": "array", "items": { "type": "string" } } } });
    schemas["NewRule"] = json!({ "type": "object", "required": ["context", "grant", "rule"], "additionalProperties": false,
        "properties": { "context": { "type": "string" }, "grant": { "enum": ["consult", "deploy"] },
            "rule": { "type": "string", "examples": ["establishment_type = lycee and discipline in [maths, physics]"] } } });
    schemas["TrustedFields"] = json!({ "type": "object", "properties": { "id": { "type": "integer" },
        "peer": { "type": "string" }, "trusted": { "type": "array", "items": { "type": "string" } } } });
    schemas["MutualSettings"] = json!({ "type": "object", "additionalProperties": false, "properties": {
        "assigned_category_field": { "type": "string" }, "roaming_days": { "type": "integer", "minimum": 1, "maximum": 3650 } } });
}
