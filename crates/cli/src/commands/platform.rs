//! `init` and `serve`.

use super::read_password_file;
use crate::args::{InitArgs, ServeArgs};
use crate::output::emit;
use pf_server::error::AppError;
use pf_server::platform::{init as init_platform, InitOptions, Platform};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// Creates the data dir; prints the admin password once when it was generated.
pub async fn init(dir: &Path, args: InitArgs, json: bool) -> Result<(), AppError> {
    let role = args.role.parse()?;
    let admin_password = args
        .admin_password_file
        .as_deref()
        .map(read_password_file)
        .transpose()?;
    let opts = InitOptions {
        role,
        name: args.name,
        url: args.url,
        admin_password,
        database_url: args.database_url,
        blob_url: args.blob_url,
    };
    let report = init_platform(dir, opts).await?;
    let doc = serde_json::json!({
        "data_dir": dir.display().to_string(),
        "admin": "admin",
        "admin_password": report.generated_password,
        "fingerprint": report.fingerprint,
    });
    emit(json, &doc, || {
        let mut text = format!(
            "created {} (key {})\nadmin login: admin\n",
            dir.display(),
            report.fingerprint
        );
        if let Some(pw) = &report.generated_password {
            text.push_str(&format!(
                "admin password: {pw}\n(shown once: keep it somewhere safe)\n"
            ));
        }
        text
    });
    Ok(())
}

/// Runs the platform until SIGINT or SIGTERM.
pub async fn serve(dir: &Path, args: ServeArgs) -> Result<(), AppError> {
    let mut platform = Platform::open(dir).await?;
    let listen = args
        .listen
        .unwrap_or_else(|| platform.config.server.listen.clone());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| AppError::bad_request(format!("cannot listen on {listen}: {e}")))?;
    let bound = listener.local_addr()?;
    let mut config = (*platform.config).clone();
    config.platform.url = with_bound_port(&config.platform.url, bound.port());
    platform.config = Arc::new(config);
    tracing::info!(url = %platform.config.platform.url, "platform starting");
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on http://{bound}")?;
    out.flush()?;
    drop(out);
    let marker = pf_server::presence::ServerMarker {
        listen: bound,
        url: platform.config.platform.url.clone(),
        pid: std::process::id(),
    };
    pf_server::presence::announce(dir, &marker)?;
    let served = pf_server::serve(platform, listener, shutdown_signal()).await;
    pf_server::presence::withdraw(dir);
    served?;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Replaces a public URL's port of 0 with the port actually bound.
fn with_bound_port(url: &str, port: u16) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = rest
        .split_once('/')
        .map(|(a, p)| (a, format!("/{p}")))
        .unwrap_or((rest, String::new()));
    match authority.rsplit_once(':') {
        Some((host, "0")) => format!("{scheme}://{host}:{port}{path}"),
        _ => url.to_string(),
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

#[cfg(test)]
mod tests {
    use super::with_bound_port;

    #[test]
    fn port_zero_takes_the_bound_port() {
        assert_eq!(
            with_bound_port("http://127.0.0.1:0", 4242),
            "http://127.0.0.1:4242"
        );
        assert_eq!(
            with_bound_port("https://h.example:0/pf", 9),
            "https://h.example:9/pf"
        );
        assert_eq!(
            with_bound_port("http://h.example:8080", 9),
            "http://h.example:8080"
        );
        assert_eq!(with_bound_port("http://h.example", 9), "http://h.example");
    }
}
