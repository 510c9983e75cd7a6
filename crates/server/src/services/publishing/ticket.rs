//! Part tickets (SPEC §6.4 `http`): the sender of an archive authorises a receiver to stream its
//! parts with a ticket it signs itself — the archive, the receiver's key id and an expiry
//! (15 minutes). The receiver renews an expired ticket over signed RPC (`POST /rpc/ticket`)
//! for the same archive. Text form: `hex(json).base64url(signature)`.

use crate::error::AppError;
use crate::platform::Platform;
use pf_api::ErrorCode;
use pf_net::Signature;
use serde::{Deserialize, Serialize};

/// How long a ticket is valid, in seconds.
pub const TICKET_SECONDS: u64 = 15 * 60;

/// What a ticket says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ticket {
    /// The sender's archive id.
    pub archive: i64,
    /// The receiver's key id.
    pub peer: String,
    /// Expiry, unix seconds on the sender's clock.
    pub expires: u64,
}

/// Issues a ticket for `peer` (key id) on `archive`.
pub fn issue(p: &Platform, archive: i64, peer: &str) -> String {
    let ticket = Ticket {
        archive,
        peer: peer.to_string(),
        expires: p.clock.now() + TICKET_SECONDS,
    };
    let json = serde_json::to_vec(&ticket).unwrap_or_default();
    let signature = pf_net::sign_bytes(&p.identity, &json);
    format!("{}.{signature}", hex::encode(json))
}

fn refused() -> AppError {
    AppError::new(ErrorCode::Unauthenticated, "the part ticket was refused")
}

/// Reads a ticket this platform signed; `check_expiry` false accepts an expired one (renewal).
pub fn read(p: &Platform, text: &str, check_expiry: bool) -> Result<Ticket, AppError> {
    let (body, sig) = text.split_once('.').ok_or_else(refused)?;
    let json = hex::decode(body).map_err(|_| refused())?;
    let sig: Signature = sig.parse().map_err(|_| refused())?;
    pf_net::verify_bytes(p.identity.public_key(), &json, &sig).map_err(|_| refused())?;
    let ticket: Ticket = serde_json::from_slice(&json).map_err(|_| refused())?;
    if check_expiry && ticket.expires <= p.clock.now() {
        return Err(AppError::new(
            ErrorCode::Unauthenticated,
            "the part ticket expired",
        ));
    }
    Ok(ticket)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::{init, InitOptions};
    use pf_domain::platform::PlatformRole;
    use std::sync::Arc;

    #[tokio::test]
    async fn tickets_expire_after_fifteen_minutes_and_only_ours_are_read() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("d");
        let opts = InitOptions {
            role: PlatformRole::Factory,
            name: "fac".into(),
            url: "http://127.0.0.1:0".into(),
            admin_password: Some("a long enough password".into()),
            database_url: None,
            blob_url: None,
        };
        init(&dir, opts).await.unwrap();
        let mut p = Platform::open(&dir).await.unwrap();
        let clock = Arc::new(pf_net::ManualClock::new(1_000_000));
        p.clock = clock.clone();
        let text = issue(&p, 7, "peer-key");
        let t = read(&p, &text, true).unwrap();
        assert_eq!((t.archive, t.peer.as_str()), (7, "peer-key"));
        clock.advance(TICKET_SECONDS - 1);
        assert!(read(&p, &text, true).is_ok());
        clock.advance(1);
        assert!(read(&p, &text, true).is_err(), "expired");
        assert!(read(&p, &text, false).is_ok(), "still readable for renewal");
        // Another key's ticket, or a changed body, is refused.
        let (body, _) = text.split_once('.').unwrap();
        let stranger = pf_net::Identity::generate();
        let forged = format!(
            "{body}.{}",
            pf_net::sign_bytes(&stranger, &hex::decode(body).unwrap())
        );
        assert!(read(&p, &forged, false).is_err());
        let other = hex::encode(br#"{"archive":8,"peer":"peer-key","expires":99999999999}"#);
        let (_, sig) = text.split_once('.').unwrap();
        assert!(read(&p, &format!("{other}.{sig}"), false).is_err());
    }
}
