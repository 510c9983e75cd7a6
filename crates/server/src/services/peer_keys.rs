//! Peers are keys, not names: two platforms may bear the same name, so every decision or match
//! about "which platform" (lineage edges, the sessions list, links to a copy) goes by the key id
//! a platform signs with; names are for display only. Edges recorded before migration 15 may
//! carry an empty key on this platform's own side, which is then recognised by its name.

use crate::error::AppError;
use crate::platform::Platform;
use pf_store::PeerRecord;

/// This platform as lineage edges name it.
#[derive(Debug, Clone)]
pub struct Me {
    /// Its key id.
    pub key: String,
    /// Its name (display, and the legacy match of an empty key).
    pub name: String,
}

impl Me {
    /// This platform's key id and name.
    pub async fn of(p: &Platform) -> Result<Me, AppError> {
        Ok(Me {
            key: p.identity.key_id().to_string(),
            name: p.name().await?,
        })
    }

    /// Whether an edge end (`key`, `name`) is this platform.
    pub fn is(&self, key: &str, name: &str) -> bool {
        key == self.key || (key.is_empty() && name == self.name)
    }

    /// The key of an edge end, this platform's filled in where an older edge left it empty.
    pub fn key_of(&self, key: &str, name: &str) -> String {
        if key.is_empty() && name == self.name {
            self.key.clone()
        } else {
            key.to_string()
        }
    }
}

/// The peer whose key id is `key` (none for an empty key).
pub fn by_key<'a>(peers: &'a [PeerRecord], key: &str) -> Option<&'a PeerRecord> {
    if key.is_empty() {
        return None;
    }
    peers.iter().find(|r| r.key_id == key)
}
