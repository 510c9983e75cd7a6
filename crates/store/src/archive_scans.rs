//! The scanner's passed verdicts on transport archives (one per archive, removed with it): the
//! manifest hash it was given for and the scanner version. Publishing reuses a verdict only
//! while both still match the archive, so a changed manifest or scanner is scanned again.

use crate::{Store, StoreResult};
use sqlx::Row;

/// A recorded verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveScan {
    /// The archive.
    pub archive: i64,
    /// SHA-256 of the manifest's signing bytes the scan passed for.
    pub manifest_sha256: String,
    /// The scanner version that passed it.
    pub scanner: String,
    /// When (unix seconds).
    pub scanned_at: i64,
}

impl Store {
    /// The verdict recorded for `archive`, if any.
    pub async fn archive_scan(&self, archive: i64) -> StoreResult<Option<ArchiveScan>> {
        let rows = sqlx::query(
            "SELECT archive_id, manifest_sha256, scanner, scanned_at FROM archive_scans
             WHERE archive_id = $1",
        )
        .bind(archive)
        .fetch_all(self.pool())
        .await?;
        rows.first()
            .map(|r| {
                Ok(ArchiveScan {
                    archive: r.try_get(0)?,
                    manifest_sha256: r.try_get(1)?,
                    scanner: r.try_get(2)?,
                    scanned_at: r.try_get(3)?,
                })
            })
            .transpose()
    }

    /// Records (or replaces) the verdict for `scan.archive` (an archive pruned meanwhile makes
    /// this a write error).
    pub async fn set_archive_scan(&self, scan: &ArchiveScan) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO archive_scans (archive_id, manifest_sha256, scanner, scanned_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (archive_id) DO UPDATE SET manifest_sha256 = excluded.manifest_sha256,
             scanner = excluded.scanner, scanned_at = excluded.scanned_at",
        )
        .bind(scan.archive)
        .bind(&scan.manifest_sha256)
        .bind(&scan.scanner)
        .bind(scan.scanned_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
