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
// The OpenAPI document is one large json! literal.
#![recursion_limit = "512"]

pub mod api;
pub mod config;
pub mod error;
pub mod jobs;
pub mod mail;
pub mod password;
pub mod platform;
pub mod presence;
pub mod rpc;
pub mod sample;
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

/// The job handlers this build of publishflow knows.
pub fn job_handlers() -> jobs::Registry {
    let mut registry = jobs::Registry::default();
    services::publishing::register(&mut registry);
    registry.register(
        services::mutual::deploy::KIND,
        services::mutual::deploy::DeployHome,
    );
    registry
}

/// Serves a platform on `listener` until `shutdown` resolves, then finishes in-flight requests.
/// Background tasks (job runner, housekeeping) run alongside and stop with it.
pub async fn serve(
    platform: platform::Platform,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(platform, listener, shutdown, job_handlers()).await
}

/// Like [`serve`] with an explicit set of job handlers (tests add their own).
pub async fn serve_with(
    platform: platform::Platform,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    handlers: jobs::Registry,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let background = [
        tokio::spawn(services::housekeeping::every_hour(
            platform.clone(),
            stop_rx.clone(),
        )),
        tokio::spawn(jobs::run(
            platform.clone(),
            handlers,
            platform.wakeup.clone(),
            stop_rx,
        )),
    ];
    // Mail goes out in the background when an SMTP server is configured; it stops with the server.
    let mail = (!platform.config.mail.smtp_url.trim().is_empty())
        .then(|| tokio::spawn(mail::delivery_loop(platform.clone())));
    let scheduler = tokio::spawn(services::discovery::run_schedule(platform.clone()));
    let app = app(platform).into_make_service_with_connect_info::<SocketAddr>();
    // TCP_NODELAY: without it a small response (a part of a few KiB, a signed RPC answer)
    // waits for the client's delayed ACK, ~40 ms per request on Linux.
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    });
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    let _ = stop_tx.send(true);
    scheduler.abort();
    if let Some(task) = mail {
        task.abort();
    }
    for task in background {
        let _ = task.await;
    }
    result
}
