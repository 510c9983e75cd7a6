//! The web UI: server-rendered pages, forms with CSRF tokens, English and French.

pub mod admin;
pub mod archives;
pub mod authoring;
pub mod catalog;
pub mod categories;
pub mod course;
pub mod files;
pub mod forms;
pub mod front;
pub mod jobs;
pub mod login;
pub mod mutual;
pub mod network;
pub mod profile;
pub mod publishing;
pub mod render;
pub mod rules;
pub mod session;
pub mod sessions;

use crate::error::AppError;
use crate::platform::Platform;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The platform.
    pub platform: Platform,
    /// Compiled templates.
    pub templates: Arc<minijinja::Environment<'static>>,
    /// Message catalogs, for messages built outside templates.
    pub catalogs: Arc<render::Catalogs>,
}

impl AppState {
    /// Builds the state: templates and catalogs are loaded once here.
    pub fn new(platform: Platform) -> AppState {
        let catalogs = Arc::new(render::catalogs());
        AppState {
            platform,
            templates: Arc::new(render::environment(catalogs.clone())),
            catalogs,
        }
    }

    /// A message of the catalog in a language.
    pub fn tr(&self, lang: pf_domain::user::Language, key: &str) -> String {
        render::translate(&self.catalogs, lang.code(), key)
    }
}

/// The web UI's routes.
pub fn router(state: AppState) -> Router<AppState> {
    // Uploads may exceed the form limit; the route-level limit overrides the outer one.
    let upload_limit =
        (state.platform.config.server.max_upload_bytes as usize).saturating_add(1 << 20);
    Router::new()
        .route("/", get(front::index))
        .route("/category/{id}", get(front::category))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/language", post(login::language))
        .route("/account", get(admin::account))
        .route("/account/tokens", post(admin::create_token))
        .route("/account/tokens/{id}/revoke", post(admin::revoke_token))
        .route(
            "/categories/new",
            get(categories::new_form).post(categories::create),
        )
        .route(
            "/course/new",
            get(authoring::course_new_form).post(authoring::course_create),
        )
        .route("/course/{id}", get(course::show))
        .route(
            "/course/import",
            post(archives::import_upload).layer(axum::extract::DefaultBodyLimit::max(upload_limit)),
        )
        .route("/course/{id}/export", get(archives::export_download))
        .route(
            "/course/{id}/archives",
            get(archives::page).post(archives::make),
        )
        .route(
            "/course/{id}/archives/upload",
            post(archives::upload).layer(axum::extract::DefaultBodyLimit::max(upload_limit)),
        )
        .route(
            "/course/{id}/archives/{aid}/download",
            get(archives::archive_download),
        )
        .route(
            "/course/{id}/edit",
            get(authoring::course_edit_form).post(authoring::course_update),
        )
        .route("/course/{id}/delete", post(authoring::course_delete))
        .route("/course/{id}/index", post(authoring::course_index))
        .route("/course/{id}/index/catalog", post(catalog::index))
        .route("/course/{id}/publication", get(catalog::publication))
        .route("/course/{id}/copies", get(catalog::copies))
        .route("/course/{id}/remote-session", post(catalog::remote_session))
        .route("/course/{id}/sections", post(authoring::section_add))
        .route(
            "/course/{id}/sections/{sid}",
            post(authoring::section_change),
        )
        .route(
            "/course/{id}/activity/new",
            get(authoring::activity_form)
                .post(authoring::activity_create)
                .layer(axum::extract::DefaultBodyLimit::max(upload_limit)),
        )
        .route("/course/{id}/activity/{aid}", get(course::activity))
        .route(
            "/course/{id}/activity/{aid}/change",
            post(authoring::activity_change),
        )
        .route("/course/{id}/file/{fid}/{name}", get(files::download))
        .route(
            "/admin/settings",
            get(admin::settings).post(admin::settings_save),
        )
        .route("/admin/users", get(admin::users).post(admin::user_create))
        .route("/admin/users/{id}/roles", post(admin::user_roles))
        .route("/admin/roles", get(admin::roles).post(admin::roles_save))
        .route("/admin/audit", get(admin::audit))
        .route("/admin/trash", get(admin::trash))
        .route("/admin/rules", get(rules::page).post(rules::add))
        .route("/admin/rules/{id}/remove", post(rules::remove))
        .route("/admin/rules/trust/{peer}", post(rules::trust))
        .route("/admin/rules/settings", post(rules::settings))
        .route(
            "/admin/profile-fields",
            get(profile::fields).post(profile::define),
        )
        .route(
            "/user/{id}/profile",
            get(profile::user_profile).post(profile::set_value),
        )
        .route("/admin/trash/{id}/restore", post(admin::restore))
        .route(
            "/category/{id}/edit",
            get(categories::edit_form).post(categories::update),
        )
        .route("/category/{id}/delete", post(categories::delete))
        .route("/jobs", get(jobs::list))
        .route("/jobs/{id}", get(jobs::show))
        .route("/jobs/{id}/events", get(jobs::events))
        .route("/jobs/{id}/cancel", post(jobs::cancel))
        .route("/course/{id}/publish", post(publishing::publish))
        .route("/course/{id}/deploy", post(publishing::deploy))
        .route("/course/{id}/retrofit", post(publishing::retrofit))
        .route("/course/{id}/publishing", post(publishing::settings))
        .route("/course/{id}/session/open", post(sessions::open))
        .route("/course/{id}/session/close", post(sessions::close))
        .route("/admin/outbox", get(sessions::outbox))
        .route("/admin/outbox/deliver", post(sessions::deliver_now))
        .route(
            "/admin/mail",
            get(sessions::templates).post(sessions::template_save),
        )
        .route("/admin/network", get(network::page))
        .route("/admin/network/invite", post(network::invite))
        .route("/admin/network/add", post(network::add))
        .route("/admin/network/scan", post(network::scan))
        .route("/admin/network/{id}", post(network::change))
        .route("/static/style.css", get(stylesheet))
        .route("/static/jobs.js", get(script))
        .merge(mutual::routes())
        .layer(axum::middleware::from_fn_with_state(state, error_pages))
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/style.css"),
    )
        .into_response()
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/jobs.js"),
    )
        .into_response()
}

/// Error responses from page handlers become full pages in the visitor's language; a page that
/// needs a login sends a GET visitor to the login form and back.
async fn error_pages(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let mut saved = Request::new(()).into_parts().0;
    saved.method = parts.method.clone();
    saved.uri = parts.uri.clone();
    saved.headers = parts.headers.clone();
    saved.extensions = parts.extensions.clone();
    let mut response = next.run(Request::from_parts(parts, body)).await;
    let Some(error) = response.extensions_mut().remove::<Arc<AppError>>() else {
        render::page_security_headers(response.headers_mut());
        return response;
    };
    if error.code == pf_api::ErrorCode::Unauthenticated && saved.method == axum::http::Method::GET {
        let next_path = saved
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let target = format!("/login?next={}", urlencode(next_path));
        return Redirect::to(&target).into_response();
    }
    let status =
        StatusCode::from_u16(error.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let rendered = match session::Visitor::from_request_parts(&mut saved, &state).await {
        Ok(visitor) => {
            let ctx = minijinja::context! { status => status.as_u16(), code => error.code.as_str(), message => error.message.as_str() };
            render::page_with_status(&state, &visitor, status, "error.html", ctx)
                .await
                .ok()
        }
        Err(_) => None,
    };
    let mut response = rendered.unwrap_or_else(|| (status, error.message.clone()).into_response());
    render::page_security_headers(response.headers_mut());
    response
}

/// Percent-encodes a value for a query string.
pub fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Accepts a post-login redirect only to a local path (never `//host` or a scheme).
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.contains('\\')
                && !p.contains("://") =>
        {
            p.to_string()
        }
        _ => "/".to_string(),
    }
}

impl IntoResponse for AppError {
    /// The JSON envelope; the web UI's middleware turns it into a page when it came from a page.
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(self.envelope())).into_response();
        response.extensions_mut().insert(Arc::new(self));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_stay_local() {
        assert_eq!(local_path(Some("/course/3")), "/course/3");
        assert_eq!(local_path(Some("//evil.example/x")), "/");
        assert_eq!(local_path(Some("https://evil.example")), "/");
        assert_eq!(local_path(Some("/\\evil.example")), "/");
        assert_eq!(local_path(None), "/");
        assert_eq!(urlencode("/a b?c=d"), "/a%20b%3Fc%3Dd");
    }
}
