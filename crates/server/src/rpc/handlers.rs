//! The `/rpc/` calls. Each runs after [`super::guard`] verified the request; it finds the call in
//! the [`RpcCall`] extension, verifies the acting user's assertion when it needs one, and
//! answers JSON (errors as the envelope).

use super::{ActingLabel, RpcCall};
use crate::api::ApiJson;
use crate::error::AppError;
use crate::services::admission::{account_for, admit as admit_op, landing_context, remote_label};
use crate::services::{discovery, Actor, Via};
use crate::web::AppState;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use pf_api::ErrorCode;
use pf_domain::access::{Capability, Context};
use pf_domain::admission::Operation;
use pf_domain::user::Username;
use pf_net::{AssertionError, PublicKey};
use pf_store::CourseQuery;
use serde::Deserialize;

pub(super) fn labelled(label: String, body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    response.extensions_mut().insert(ActingLabel(label));
    response
}

/// The acting user of a call: the assertion must be signed by the calling peer, for us, about
/// one of the caller's own users.
pub(super) fn acting_user(state: &AppState, call: &RpcCall) -> Result<Username, AppError> {
    let p = &state.platform;
    let token = call
        .verified
        .user
        .as_deref()
        .ok_or_else(|| AppError::new(ErrorCode::BadUser, "this call needs an acting user"))?;
    let me: &PublicKey = p.identity.public_key();
    let acting = pf_net::verify_user_assertion(
        token,
        &call.verified.caller_key,
        me,
        None,
        call.verified.delegation.as_deref(),
        &*p.clock,
    )
    .map_err(|e| match e {
        AssertionError::ForeignUser(_) => {
            AppError::new(ErrorCode::BadUser, "a peer speaks only for its own users")
        }
        AssertionError::DelegationRequired => AppError::new(
            ErrorCode::BadUser,
            "acting for a user of this platform needs a delegation it signed",
        ),
        AssertionError::NotDelegable => AppError::new(
            ErrorCode::BadUser,
            "a delegation does not allow this call: it allows deploy-home only",
        ),
        other => AppError::new(
            ErrorCode::BadUser,
            format!("user assertion refused: {other}"),
        ),
    })?;
    Ok(acting.username)
}

/// `GET /rpc/describe`.
pub async fn describe(State(state): State<AppState>) -> Result<Response, AppError> {
    Ok(Json(discovery::describe(&state.platform).await?).into_response())
}

/// The body of `check-user`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckUser {
    capability: Capability,
    #[serde(default = "system")]
    context: Context,
}

fn system() -> Context {
    Context::System
}

/// `POST /rpc/check-user`: does the acting user, as admitted here (roaming account or explicit
/// link, never a local account by name), hold `capability` in `context`?
pub async fn check_user(
    State(state): State<AppState>,
    Extension(call): Extension<RpcCall>,
    ApiJson(body): ApiJson<CheckUser>,
) -> Result<Response, AppError> {
    let p = &state.platform;
    let user = acting_user(&state, &call)?;
    let label = remote_label(&user, &call.peer);
    match body.context {
        Context::Category(id) => drop(p.store.category(id).await?),
        Context::Course(id) => drop(p.store.course(id).await?),
        Context::System => {}
    }
    let account = account_for(p, &call.peer, &user).await?;
    let allowed = match &account {
        Some(u) if !u.disabled => {
            p.can(
                &Actor::user(u.clone(), Via::Api),
                body.capability,
                body.context,
            )
            .await?
        }
        _ => false,
    };
    let doc = serde_json::json!({
        "user": label,
        "account": account.as_ref().map(|u| u.id.0),
        "capability": body.capability,
        "allowed": allowed,
    });
    Ok(labelled(label, Json(doc)))
}

/// The body of `admit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Admit {
    operation: Operation,
    #[serde(default)]
    category: Option<i64>,
    #[serde(default)]
    course: Option<i64>,
    #[serde(default)]
    asserted: Vec<Capability>,
}

/// `POST /rpc/admit`: the admission decision for an operation in its landing context, as a dry
/// run (nothing is created); 200 when admitted, else the refusal's code.
pub async fn admit(
    State(state): State<AppState>,
    Extension(call): Extension<RpcCall>,
    ApiJson(body): ApiJson<Admit>,
) -> Result<Response, AppError> {
    let p = &state.platform;
    let user = acting_user(&state, &call)?;
    let label = remote_label(&user, &call.peer);
    let context = landing_context(p, body.operation, body.category, body.course).await?;
    let outcome = admit_op(
        p,
        &call.peer,
        &user,
        body.operation,
        context,
        &body.asserted,
        false,
    )
    .await;
    match outcome {
        Ok(a) => Ok(labelled(
            label,
            Json(serde_json::json!({
                "admitted": a.admitted,
                "user": a.label,
                "account": a.account.map(|u| u.id.0),
                "context": context.to_string(),
            })),
        )),
        Err(e) => Ok(labelled(label, e)),
    }
}

/// The query of `course-exists` and `sessions`.
#[derive(Debug, Deserialize)]
pub struct ByIdnumber {
    idnumber: String,
}

async fn courses_with(
    state: &AppState,
    idnumber: &str,
) -> Result<Vec<pf_store::CourseRecord>, AppError> {
    let idnumber = idnumber.trim();
    if idnumber.is_empty() || idnumber.len() > 255 {
        return Err(AppError::bad_request("an idnumber is 1 to 255 characters"));
    }
    let all = state
        .platform
        .store
        .courses(CourseQuery {
            limit: i64::MAX,
            ..CourseQuery::default()
        })
        .await?;
    Ok(all
        .into_iter()
        .filter(|c| c.idnumber.as_str() == idnumber)
        .collect())
}

/// `GET /rpc/course-exists?idnumber=X`.
pub async fn course_exists(
    State(state): State<AppState>,
    Query(q): Query<ByIdnumber>,
) -> Result<Response, AppError> {
    let found = courses_with(&state, &q.idnumber).await?;
    Ok(Json(serde_json::json!({
        "exists": !found.is_empty(),
        "course_ids": found.iter().map(|c| c.id.0).collect::<Vec<_>>(),
    }))
    .into_response())
}

/// `GET /rpc/sessions?idnumber=X`: this platform's copies of a course that the calling peer may
/// see (the transport of the sessions list, SPEC §5.7; the rule is
/// `services::copies_exposure`).
pub async fn sessions(
    State(state): State<AppState>,
    Extension(call): Extension<RpcCall>,
    Query(q): Query<ByIdnumber>,
) -> Result<Response, AppError> {
    let copies =
        crate::services::copies_exposure::copies_for_peer(&state.platform, &call.peer, &q.idnumber)
            .await?;
    Ok(Json(copies).into_response())
}
