//! The publishflow platform: one server per platform, with its web UI, JSON API and (with the
//! network) peer RPC, and the services the CLI shares with it.
//!
//! - [`config`]: the typed configuration (defaults → file → environment).
//! - [`platform`]: the data dir (`init`, open) and the [`Platform`](platform::Platform) handle.
//! - [`services`]: every action, with its capability check and audit entry.
//! - [`mail`]: notifications — templates, the outbox, SMTP delivery with retries.
//! - [`web`] and [`api`]: the HTTP faces; [`serve`] runs them on a listener until shutdown.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod api;
pub mod config;
pub mod error;
pub mod mail;
pub mod password;
pub mod platform;
pub mod services;
pub mod upload;
pub mod web;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use std::future::Future;
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// The whole HTTP application of a platform.
pub fn app(platform: platform::Platform) -> Router {
    let state = web::AppState::new(platform);
    let body_limit = state.platform.config.server.max_body_bytes;
    let pages = web::router(state.clone()).layer(DefaultBodyLimit::max(body_limit));
    Router::new()
        .nest(
            "/api/v1",
            api::router().layer(DefaultBodyLimit::max(body_limit)),
        )
        .merge(pages)
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .with_state(state)
}

/// Serves a platform on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    platform: platform::Platform,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Mail goes out in the background when an SMTP server is configured; it stops with the server.
    let mail = (!platform.config.mail.smtp_url.trim().is_empty())
        .then(|| tokio::spawn(mail::delivery_loop(platform.clone())));
    let app = app(platform).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    if let Some(task) = mail {
        task.abort();
    }
    served
}
