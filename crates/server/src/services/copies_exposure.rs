//! Who may list this platform's copies of a course (`GET /rpc/sessions`, SPEC §5.7: "so
//! factories and catalogs follow a learning path") — the rule:
//!
//! - a peer **on a copy's lineage** (an end of an edge touching it, by key: it sent the copy
//!   here, or received it from here) sees that copy in full;
//! - a peer this platform **grants an operation** (`publish`, `deploy`, `retrofit`, `sessions`:
//!   a partner of the learning path by the admin's choice or by pairing defaults) also sees the
//!   other copies, but a **hidden** copy it has no part in shows with its names withheld
//!   (state, visibility, version and source stay, so the path can still be followed);
//! - a peer with neither — no grant, and on the lineage of no copy of that idnumber — is
//!   refused (`not_admitted`), so it learns nothing, not even whether the idnumber exists here.
//!
//! This platform's own sessions list (`services::copies::sessions_list`) shows everything to
//! the people allowed to read it.

use super::copies::{copies_with_paths, LocalCopies};
use crate::error::AppError;
use crate::platform::Platform;
use pf_api::ErrorCode;
use pf_store::PeerRecord;

/// The copies of `idnumber` that `peer` may see, as `GET /rpc/sessions` answers them.
pub async fn copies_for_peer(
    p: &Platform,
    peer: &PeerRecord,
    idnumber: &str,
) -> Result<LocalCopies, AppError> {
    let (me, copies) = copies_with_paths(p, idnumber).await?;
    let partner = !peer.grants.is_empty();
    let on_path = |path: &[String]| path.contains(&peer.key_id);
    if !partner && !copies.iter().any(|(_, path)| on_path(path)) {
        return Err(AppError::new(
            ErrorCode::NotAdmitted,
            "this platform lists its copies only to the peers on their lineage or that it grants an operation",
        ));
    }
    let copies = copies
        .into_iter()
        .filter(|(_, path)| partner || on_path(path))
        .map(|(mut copy, path)| {
            if !copy.visible && !on_path(&path) {
                copy.shortname.clear();
                copy.fullname.clear();
                copy.names_withheld = true;
            }
            copy
        })
        .collect();
    Ok(LocalCopies {
        platform: me.name,
        key: me.key,
        copies,
    })
}
