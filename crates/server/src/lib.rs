//! The publishflow platform: one server per platform, with its web UI, JSON API and (with the
//! network) peer RPC, and the services the CLI shares with it.
//!
//! - [`config`]: the typed configuration (defaults → file → environment).
//! - [`platform`]: the data dir (`init`, open) and the [`Platform`](platform::Platform) handle.
//! - [`services`]: every action, with its capability check and audit entry.
//! - [`web`] and [`api`]: the HTTP faces; [`serve`] runs them on a listener until shutdown.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod api;
pub mod config;
pub mod error;
pub mod password;
pub mod platform;
pub mod rpc;
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
        .merge(rpc::router(state.clone()))
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .with_state(state)
}

/// Serves a platform on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    platform: platform::Platform,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let scheduler = tokio::spawn(services::discovery::run_schedule(platform.clone()));
    let app = app(platform).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    scheduler.abort();
    served
}
