//! The JSON API under `/api/v1`: personal Bearer tokens only (never the session cookie), one
//! error envelope, described by `/api/v1/openapi.json`.

mod archives;
mod catalog;
mod handlers;
mod jobs;
mod mutual;
mod peers;
mod publishing;
pub use handlers::course_doc;
mod openapi;
mod sessions;

use crate::error::AppError;
use crate::services::tokens;
use crate::services::{Actor, Via};
use crate::web::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::routing::get;
use axum::Router;
use pf_api::ErrorCode;
use serde::de::DeserializeOwned;

/// The API's routes, mounted under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi::document))
        .route("/me", get(handlers::me))
        .route(
            "/categories",
            get(handlers::categories).post(handlers::create_category),
        )
        .route(
            "/courses",
            get(handlers::courses).post(handlers::create_course),
        )
        .route(
            "/courses/{id}",
            get(handlers::course).patch(handlers::update_course),
        )
        .route("/users", get(handlers::users).post(handlers::create_user))
        .route("/jobs", get(jobs::list))
        .route("/jobs/{id}", get(jobs::show))
        .route("/jobs/{id}/cancel", axum::routing::post(jobs::cancel))
        .route(
            "/courses/{id}/session/open",
            axum::routing::post(sessions::open),
        )
        .route(
            "/courses/{id}/session/close",
            axum::routing::post(sessions::close),
        )
        .route("/outbox", get(sessions::outbox))
        .route(
            "/courses/import",
            axum::routing::post(archives::import_course)
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/courses/{id}/export", get(archives::export_course))
        .route(
            "/courses/{id}/archives",
            get(archives::archives).post(archives::make_archive),
        )
        .route(
            "/courses/{id}/publish",
            axum::routing::post(publishing::publish),
        )
        .route(
            "/courses/{id}/deploy",
            axum::routing::post(publishing::deploy),
        )
        .route(
            "/courses/{id}/retrofit",
            axum::routing::post(publishing::retrofit),
        )
        .route("/courses/{id}/lineage", get(publishing::lineage))
        .route("/courses/{id}/publication", get(publishing::publication))
        .route(
            "/courses/{id}/publishing",
            axum::routing::patch(publishing::settings),
        )
        .route("/courses/{id}/index", axum::routing::post(catalog::index))
        .route(
            "/courses/{id}/deploy-everywhere",
            axum::routing::post(catalog::everywhere),
        )
        .route("/courses/{id}/sessions", get(catalog::sessions))
        .route(
            "/peers/{peer}/courses/{course}/session",
            axum::routing::post(catalog::remote_session),
        )
        .route("/peers", get(peers::list))
        .route("/peers/{id}", axum::routing::patch(peers::update))
        .merge(mutual_routes())
        .fallback(|| async { AppError::new(ErrorCode::UnknownRecord, "no such API endpoint") })
}

/// Mutualisation (SPEC §8): rules, trusted fields, profile values, settings, deploy-home.
fn mutual_routes() -> Router<AppState> {
    use axum::routing::{delete, post};
    Router::new()
        .route("/rules", get(mutual::list_rules).post(mutual::add_rule))
        .route("/rules/{id}", delete(mutual::remove_rule))
        .route(
            "/peers/{id}/trusted-fields",
            get(mutual::trusted).put(mutual::set_trusted),
        )
        .route(
            "/users/{id}/profile",
            get(mutual::profile_of).patch(mutual::set_profile),
        )
        .route(
            "/mutual/settings",
            get(mutual::settings).patch(mutual::set_settings),
        )
        .route("/courses/{id}/deploy-home", post(mutual::deploy_home))
}

/// The caller of an API request, authenticated by a personal token.
pub struct ApiCaller(pub Actor);

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let unauthenticated = || {
            AppError::new(
                ErrorCode::Unauthenticated,
                "send a personal API token as 'Authorization: Bearer pft_…'",
            )
        };
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(unauthenticated)?;
        let secret = header
            .strip_prefix("Bearer ")
            .map(str::trim)
            .ok_or_else(unauthenticated)?;
        match tokens::authenticate(&state.platform, secret).await? {
            Some((_, user)) => Ok(ApiCaller(Actor::user(user, Via::Api))),
            None => Err(AppError::new(
                ErrorCode::Unauthenticated,
                "the token is unknown, expired or revoked",
            )),
        }
    }
}

/// A JSON body; malformed JSON becomes a `bad_request` envelope, an oversized one `too_large`.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::BytesRejection(r)) if r.status().as_u16() == 413 => Err(
                AppError::new(ErrorCode::TooLarge, "the request body is too large"),
            ),
            Err(e) => Err(AppError::bad_request(e.body_text())),
        }
    }
}
