//! The post-deploy hook (SPEC §5.4): after a deployed course commits, the receiving platform
//! runs the program the admin configured in `[deploy] hook` — directly, never through a shell —
//! with `PF_*` environment variables (course id, idnumber, category idnumber, source, user, and
//! the `.mbz` path) and a timeout. Its output (the last 4 KiB) goes into the job's result; a
//! failure is reported there and in the audit log, and the course is kept and flagged. Instead of
//! a program, `webhook_url` receives the same facts as a JSON POST (to that URL only, no
//! redirects), signed with HMAC-SHA256 under `webhook_secret` in `X-Publishflow-Signature`.

use crate::error::AppError;
use crate::platform::Platform;
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `[deploy]` in `publishflow.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeploySection {
    /// The program run after each deploy arrives (absolute path; empty: none). Arguments are not
    /// supported: point it at a wrapper script.
    pub hook: String,
    /// Seconds before the hook is killed (or the webhook abandoned).
    pub hook_timeout_seconds: u64,
    /// A URL told about each deploy instead of running a program (empty: none).
    pub webhook_url: String,
    /// The HMAC key of the webhook's signature.
    pub webhook_secret: crate::config::Secret,
}

impl Default for DeploySection {
    fn default() -> Self {
        DeploySection {
            hook: String::new(),
            hook_timeout_seconds: 300,
            webhook_url: String::new(),
            webhook_secret: crate::config::Secret::default(),
        }
    }
}

/// What the hook is told.
pub struct HookInput<'a> {
    /// The new course.
    pub course_id: i64,
    /// Its idnumber.
    pub idnumber: &'a str,
    /// Its category's idnumber.
    pub category_idnumber: &'a str,
    /// Where it came from (platform name).
    pub source: &'a str,
    /// Who deployed it (`user@platform`).
    pub user: &'a str,
    /// The archive as a `.mbz`.
    pub mbz: &'a Path,
}

/// Whether the configured hook is a program, which is handed the archive as a `.mbz`.
pub fn wants_mbz(p: &Platform) -> bool {
    !p.config.deploy.hook.trim().is_empty()
}

/// How the hook went (`None` when no hook is configured).
pub async fn run(
    p: &Platform,
    input: HookInput<'_>,
) -> Result<Option<serde_json::Value>, AppError> {
    let program = p.config.deploy.hook.trim().to_string();
    let timeout = Duration::from_secs(p.config.deploy.hook_timeout_seconds.max(1));
    if program.is_empty() {
        let url = p.config.deploy.webhook_url.trim();
        if url.is_empty() {
            return Ok(None);
        }
        return Ok(Some(webhook(p, url, &input, timeout).await));
    }
    let log = input.mbz.with_extension("hook.log");
    let mut cmd = Command::new(&program);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PF_COURSE_ID", input.course_id.to_string())
        .env("PF_COURSE_IDNUMBER", input.idnumber)
        .env("PF_CATEGORY_IDNUMBER", input.category_idnumber)
        .env("PF_SOURCE", input.source)
        .env("PF_USER", input.user)
        .env("PF_MBZ", input.mbz)
        .stdin(Stdio::null());
    let outcome = crate::services::archives::blocking(move || {
        let out = std::fs::File::create(&log)?;
        let err = out.try_clone()?;
        cmd.stdout(out).stderr(err);
        let started = Instant::now();
        let status = match cmd.spawn() {
            Err(e) => Err(format!("could not start {program}: {e}")),
            Ok(mut child) => loop {
                if let Some(status) = child.try_wait()? {
                    break Ok(status);
                }
                if started.elapsed() > timeout {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(format!("timed out after {} s", timeout.as_secs()));
                }
                std::thread::sleep(Duration::from_millis(50));
            },
        };
        let mut text = Vec::new();
        std::fs::File::open(&log)?.read_to_end(&mut text)?;
        let tail = String::from_utf8_lossy(&text[text.len().saturating_sub(4096)..]).into_owned();
        Ok((status, tail))
    })
    .await?;
    let (status, output) = outcome;
    let doc = match status {
        Ok(s) if s.success() => serde_json::json!({ "ok": true, "status": 0, "output": output }),
        Ok(s) => serde_json::json!({ "ok": false, "status": s.code(),
                                     "error": format!("the hook exited with {s}"), "output": output }),
        Err(e) => serde_json::json!({ "ok": false, "status": null, "error": e, "output": output }),
    };
    Ok(Some(doc))
}

/// The signature header's value for `body`: `sha256=` and the hex HMAC-SHA256 under `secret`.
pub fn webhook_signature(secret: &str, body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn webhook(
    p: &Platform,
    url: &str,
    input: &HookInput<'_>,
    timeout: Duration,
) -> serde_json::Value {
    let body = serde_json::json!({
        "course_id": input.course_id, "idnumber": input.idnumber,
        "category_idnumber": input.category_idnumber, "source": input.source, "user": input.user,
        "platform": p.config.platform.url,
    })
    .to_string();
    let signature = webhook_signature(p.config.deploy.webhook_secret.expose(), body.as_bytes());
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .build()
    {
        Ok(c) => c,
        Err(e) => return serde_json::json!({ "ok": false, "status": null, "error": e.to_string() }),
    };
    let sent = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("x-publishflow-signature", signature)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => {
            serde_json::json!({ "ok": true, "status": r.status().as_u16(), "output": "" })
        }
        Ok(r) => serde_json::json!({ "ok": false, "status": r.status().as_u16(),
                                     "error": format!("the webhook answered {}", r.status()) }),
        Err(e) => serde_json::json!({ "ok": false, "status": null, "error": e.to_string() }),
    }
}
