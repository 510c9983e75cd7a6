//! Paired peers (SPEC §6.1): who they are (a peer *is* its key), their status, the grants this
//! platform gives them, and their synced category trees (SPEC §6.2).

use crate::error::on_write;
use crate::{Store, StoreError, StoreResult};
use pf_domain::admission::Grant;
use pf_domain::ids::PeerId;
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::BTreeSet;

/// A peer's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerStatus {
    /// Requests are accepted.
    Active,
    /// Requests are refused; everything is kept.
    Disabled,
    /// Gone: refused, hidden from lists; courses, lineage and audit stay.
    Removed,
}

impl PeerStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            PeerStatus::Active => "active",
            PeerStatus::Disabled => "disabled",
            PeerStatus::Removed => "removed",
        }
    }

    fn parse(s: &str) -> StoreResult<PeerStatus> {
        match s {
            "active" => Ok(PeerStatus::Active),
            "disabled" => Ok(PeerStatus::Disabled),
            "removed" => Ok(PeerStatus::Removed),
            _ => Err(StoreError::corrupt("peer status")),
        }
    }
}

/// A peer to record after pairing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPeer {
    /// Its name.
    pub name: String,
    /// The base URL recorded at pairing (the only URL we ever call).
    pub url: String,
    /// Its public key (base64url, as `pf_net::PublicKey` prints it).
    pub public_key: String,
    /// Its key id.
    pub key_id: String,
    /// Its role name, as it said at pairing.
    pub role: Option<String>,
    /// When, unix seconds.
    pub created_at: i64,
    /// The grants it starts with.
    pub grants: BTreeSet<Grant>,
}

/// A stored peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRecord {
    /// Id.
    pub id: PeerId,
    /// Name.
    pub name: String,
    /// Base URL recorded at pairing.
    pub url: String,
    /// Public key text.
    pub public_key: String,
    /// Key id.
    pub key_id: String,
    /// Role name (as the peer last described itself), if known.
    pub role: Option<String>,
    /// Status.
    pub status: PeerStatus,
    /// Paired, unix seconds.
    pub created_at: i64,
    /// Last successful scan, unix seconds.
    pub last_scan: Option<i64>,
    /// The last scan's error, if it failed.
    pub last_error: Option<String>,
    /// Grants this platform gives the peer.
    pub grants: BTreeSet<Grant>,
}

/// One category of a peer's synced tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteCategoryRecord {
    /// Id on the peer.
    pub remote_id: i64,
    /// Parent's id on the peer.
    pub parent: Option<i64>,
    /// Name.
    pub name: String,
    /// idnumber (may be empty).
    pub idnumber: String,
    /// Path of ids, `/1/4`.
    pub path: String,
}

const COLUMNS: &str =
    "id, name, url, public_key, key_id, role, status, created_at, last_scan, last_error";

fn from_row(row: &AnyRow) -> StoreResult<PeerRecord> {
    Ok(PeerRecord {
        id: PeerId(row.try_get("id")?),
        name: row.try_get("name")?,
        url: row.try_get("url")?,
        public_key: row.try_get("public_key")?,
        key_id: row.try_get("key_id")?,
        role: row.try_get("role")?,
        status: PeerStatus::parse(&row.try_get::<String, _>("status")?)?,
        created_at: row.try_get("created_at")?,
        last_scan: row.try_get("last_scan")?,
        last_error: row.try_get("last_error")?,
        grants: BTreeSet::new(),
    })
}

impl Store {
    /// Records a peer and its grants in one transaction. A key already known is a `Conflict`.
    pub async fn create_peer(&self, new: NewPeer) -> StoreResult<PeerId> {
        let mut tx = self.write_tx().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO peers (name, url, public_key, key_id, role, status, created_at)
             VALUES ($1, $2, $3, $4, $5, 'active', $6) RETURNING id",
        )
        .bind(&new.name)
        .bind(&new.url)
        .bind(&new.public_key)
        .bind(&new.key_id)
        .bind(new.role.as_deref())
        .bind(new.created_at)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| {
            on_write(
                e,
                || format!("peer key {} is already paired", new.key_id),
                || "peer".into(),
            )
        })?
        .first()
        .ok_or_else(|| StoreError::corrupt("INSERT … RETURNING without a row"))?
        .try_get(0)?;
        for g in &new.grants {
            sqlx::query("INSERT INTO peer_grants (peer_id, grant_name) VALUES ($1, $2)")
                .bind(id)
                .bind(g.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(PeerId(id))
    }

    async fn with_grants(&self, mut peer: PeerRecord) -> StoreResult<PeerRecord> {
        peer.grants = self.peer_grants(peer.id).await?;
        Ok(peer)
    }

    /// One peer (any status).
    pub async fn peer(&self, id: PeerId) -> StoreResult<PeerRecord> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM peers WHERE id = $1"))
            .bind(id.0)
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::not_found(format!("peer {id}")))?;
        self.with_grants(from_row(&row)?).await
    }

    /// The peer with this key id (any status), if one.
    pub async fn peer_by_key_id(&self, key_id: &str) -> StoreResult<Option<PeerRecord>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM peers WHERE key_id = $1"))
            .bind(key_id)
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .next();
        match row {
            Some(r) => Ok(Some(self.with_grants(from_row(&r)?).await?)),
            None => Ok(None),
        }
    }

    /// Active and disabled peers (removed ones are hidden), by id.
    pub async fn peers(&self) -> StoreResult<Vec<PeerRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM peers WHERE status <> 'removed' ORDER BY id"
        ))
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(self.with_grants(from_row(r)?).await?);
        }
        Ok(out)
    }

    /// The grants given to a peer.
    pub async fn peer_grants(&self, peer: PeerId) -> StoreResult<BTreeSet<Grant>> {
        let rows = sqlx::query("SELECT grant_name FROM peer_grants WHERE peer_id = $1")
            .bind(peer.0)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                r.try_get::<String, _>(0)?
                    .parse()
                    .map_err(|_| StoreError::corrupt("peer grant"))
            })
            .collect()
    }

    /// Replaces a peer's grants in one transaction.
    pub async fn set_peer_grants(&self, peer: PeerId, grants: &BTreeSet<Grant>) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        let found = sqlx::query("SELECT id FROM peers WHERE id = $1")
            .bind(peer.0)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .next();
        if found.is_none() {
            return Err(StoreError::not_found(format!("peer {peer}")));
        }
        sqlx::query("DELETE FROM peer_grants WHERE peer_id = $1")
            .bind(peer.0)
            .execute(&mut *tx)
            .await?;
        for g in grants {
            sqlx::query("INSERT INTO peer_grants (peer_id, grant_name) VALUES ($1, $2)")
                .bind(peer.0)
                .bind(g.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Changes a peer's status. Removing one also disables its roaming accounts, in the same
    /// transaction; its courses, lineage and audit entries stay.
    pub async fn set_peer_status(&self, peer: PeerId, status: PeerStatus) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("UPDATE peers SET status = $1 WHERE id = $2")
            .bind(status.as_str())
            .bind(peer.0)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("peer {peer}")));
        }
        if status == PeerStatus::Removed {
            sqlx::query("UPDATE users SET disabled = 1 WHERE home_peer = $1")
                .bind(peer.0)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM peer_grants WHERE peer_id = $1")
                .bind(peer.0)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records a successful scan: the role, the time, and the whole category tree, replaced in
    /// one transaction.
    pub async fn record_scan(
        &self,
        peer: PeerId,
        role: &str,
        at: i64,
        categories: &[RemoteCategoryRecord],
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "UPDATE peers SET role = $1, last_scan = $2, last_error = NULL WHERE id = $3",
        )
        .bind(role)
        .bind(at)
        .bind(peer.0)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("peer {peer}")));
        }
        sqlx::query("DELETE FROM remote_categories WHERE peer_id = $1")
            .bind(peer.0)
            .execute(&mut *tx)
            .await?;
        for (i, c) in categories.iter().enumerate() {
            sqlx::query(
                "INSERT INTO remote_categories (peer_id, remote_id, parent_id, name, idnumber, path, sort_order)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(peer.0)
            .bind(c.remote_id)
            .bind(c.parent)
            .bind(&c.name)
            .bind(&c.idnumber)
            .bind(&c.path)
            .bind(i as i64)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                on_write(
                    e,
                    || format!("category {} appears twice in the tree", c.remote_id),
                    || "peer".into(),
                )
            })?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records a failed scan (the tree of the last good scan is kept).
    pub async fn record_scan_error(&self, peer: PeerId, error: &str) -> StoreResult<()> {
        sqlx::query("UPDATE peers SET last_error = $1 WHERE id = $2")
            .bind(error)
            .bind(peer.0)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// A peer's synced tree, in the order the peer sent it (parents before children).
    pub async fn remote_categories(&self, peer: PeerId) -> StoreResult<Vec<RemoteCategoryRecord>> {
        let rows = sqlx::query(
            "SELECT remote_id, parent_id, name, idnumber, path FROM remote_categories
             WHERE peer_id = $1 ORDER BY sort_order",
        )
        .bind(peer.0)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RemoteCategoryRecord {
                    remote_id: r.try_get("remote_id")?,
                    parent: r.try_get("parent_id")?,
                    name: r.try_get("name")?,
                    idnumber: r.try_get("idnumber")?,
                    path: r.try_get("path")?,
                })
            })
            .collect()
    }

    /// How many categories a peer's synced tree holds.
    pub async fn remote_category_count(&self, peer: PeerId) -> StoreResult<i64> {
        // fetch_all, not fetch_one: the statement is reset before we return (sqlx #2543).
        let rows = sqlx::query("SELECT COUNT(*) FROM remote_categories WHERE peer_id = $1")
            .bind(peer.0)
            .fetch_all(self.pool())
            .await?;
        match rows.first() {
            Some(r) => Ok(r.try_get(0)?),
            None => Ok(0),
        }
    }
}
