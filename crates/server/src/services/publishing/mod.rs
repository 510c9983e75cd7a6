//! Courses moving between platforms (SPEC §5.2–§5.5, §5.8, §6.4): publish, deploy and retrofit
//! as audited jobs on both sides.
//!
//! The initiator's job ([`send`]) makes or reuses the course's newest archive (scanned before
//! anything leaves), signs its manifest with this platform's key, and sends a signed **offer**
//! (`POST /rpc/offer`: operation, manifest, signature, idempotency key, the acting user's
//! assertion, landing request, a part ticket). The receiver ([`receive`]) verifies the signature
//! with the sender's key before anything else, runs admission in the landing context, and
//! enqueues its own `receive` job under the same idempotency key (one key, one course). That job
//! pulls the missing parts over the `http` transport ([`pull`], served by `rpc::parts`),
//! assembles and imports them, and commits the course, its received archive, the publication
//! version (catalogs), the enrolment (deploys) and the lineage edge in one transaction
//! (`Store::receive_course`). The initiator follows the receiver's job (`GET /rpc/jobs/{id}`)
//! to its end and mirrors its progress and result. [`ops`] holds what users call: enqueueing
//! the operations, lineage, publication status and per-course settings.

pub mod everywhere;
pub mod hook;
pub mod local;
pub mod notify;
pub mod ops;
pub mod pull;
pub mod receive;
mod restore;
pub mod send;
pub mod status;
pub mod ticket;
pub mod transport;

use crate::error::AppError;
use crate::platform::Platform;
use pf_api::ErrorCode;
use pf_domain::access::Capability;
use pf_domain::admission::Operation;
use pf_domain::publication::PublishMode;
use serde::{Deserialize, Serialize};

/// Setting: the most bytes an incoming archive may hold (default 50 GiB).
pub const MAX_ARCHIVE_BYTES: &str = "transfer.max_bytes";
/// Setting: `1` holds new catalog versions hidden until a curator shows them.
pub const CURATION: &str = "publication.curation";
/// Setting: the role a deploying user gets in the deployed course (default `editingteacher`).
pub const DEPLOY_ROLE: &str = "deploy.role";

/// What an initiator offers a receiver (`POST /rpc/offer`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Offer {
    /// `publish`, `deploy` or `retrofit`.
    pub operation: Operation,
    /// The manifest's signing bytes (canonical JSON without the signature).
    pub manifest: String,
    /// The sender's signature over `manifest`.
    pub signature: String,
    /// The operation's idempotency key; the receiver's job carries the same.
    pub idempotency_key: String,
    /// The sender's archive id (for tickets).
    pub archive: i64,
    /// The sender's course id (for lineage).
    pub source_course: i64,
    /// A part ticket for the receiver.
    pub ticket: String,
    /// Publications: the mode.
    #[serde(default)]
    pub mode: Option<PublishMode>,
    /// Deploys: the chosen category on the receiver.
    #[serde(default)]
    pub category: Option<i64>,
    /// The capabilities the acting user holds on the source.
    #[serde(default)]
    pub asserted: Vec<Capability>,
    /// The transports the sender serves for this archive (empty from an older sender: `http`).
    #[serde(default)]
    pub transports: Vec<pf_net::Transport>,
}

/// The job kind of an operation.
pub fn kind_of(op: Operation) -> &'static str {
    match op {
        Operation::Publish => "publish",
        Operation::Deploy => "deploy",
        Operation::Retrofit => "retrofit",
        Operation::Sessions => "sessions",
    }
}

/// Registers the handlers of this module.
pub fn register(registry: &mut crate::jobs::Registry) {
    for op in [Operation::Publish, Operation::Deploy, Operation::Retrofit] {
        registry.register(kind_of(op), send::Send(op));
    }
    registry.register(receive::KIND, receive::Receive);
    registry.register(local::KIND, local::DeployLocal);
}

/// Verifies the manifest's signature with `key` and parses it within the caps.
pub async fn verify_manifest(
    p: &Platform,
    public_key: &str,
    manifest: &str,
    signature: &str,
) -> Result<pf_mbz::TransportManifest, AppError> {
    let bad = |why: &str| {
        AppError::new(
            ErrorCode::Unauthenticated,
            format!("the manifest's signature was refused: {why}"),
        )
    };
    let key: pf_net::PublicKey = public_key
        .parse()
        .map_err(|_| AppError::internal("stored peer key"))?;
    let sig: pf_net::Signature = signature.parse().map_err(|_| bad("malformed"))?;
    pf_net::verify_bytes(&key, manifest.as_bytes(), &sig).map_err(|_| bad("bad signature"))?;
    let cap = p
        .setting_i64(MAX_ARCHIVE_BYTES, 50 * 1024 * 1024 * 1024)
        .await?;
    let parsed = pf_mbz::TransportManifest::parse(manifest.as_bytes(), cap.max(0) as u64)
        .map_err(|e| AppError::bad_request(format!("the manifest was refused: {e}")))?;
    if parsed.signing_bytes() != manifest.as_bytes() {
        return Err(AppError::bad_request("the manifest is not canonical JSON"));
    }
    Ok(parsed)
}

/// Reassembles a manifest's parts (all in the blob store, verified as they are read) into a
/// `.mbz` at `out`.
pub(crate) async fn assemble_to(
    p: &Platform,
    manifest: &pf_mbz::TransportManifest,
    out: &std::path::Path,
) -> Result<(), AppError> {
    let (blobs, out, m) = (p.blobs.clone(), out.to_path_buf(), manifest.clone());
    crate::services::archives::blocking(move || {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&out)?);
        pf_mbz::assemble(
            &m,
            |part| {
                blobs
                    .open(&part.sha256)
                    .map(|r| Box::new(r) as Box<dyn std::io::Read>)
                    .map_err(|e| std::io::Error::other(e.to_string()))
            },
            &mut file,
            // A scratch file read back at once (and handed to the post-deploy hook): stored
            // deflate blocks, not level 6 — compressing a large course only to inflate it again
            // was most of a restore's time. What is kept is the parts, not this file.
            &pf_mbz::ExportOptions {
                level: 0,
                media_level: 0,
                ..pf_mbz::ExportOptions::default()
            },
        )
        .map_err(crate::services::archives::write_failed)?;
        file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        Ok(())
    })
    .await
}
