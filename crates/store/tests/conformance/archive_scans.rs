//! The scanner's recorded verdicts: one per archive, replaced on a new scan, gone with the archive.

use crate::archives::archive;
use crate::harness::{course, each_backend};
use pf_store::ArchiveScan;

#[tokio::test]
async fn a_verdict_is_recorded_replaced_and_removed_with_its_archive() {
    each_backend(|db| async move {
        let s = &db.store;
        let (_, c) = course(s, "SCAN").await;
        let a = s.add_archive(archive(c, 1)).await.unwrap();
        assert_eq!(s.archive_scan(a.id).await.unwrap(), None);
        let mut v = ArchiveScan {
            archive: a.id,
            manifest_sha256: a.sha256.clone(),
            scanner: "1".into(),
            scanned_at: 10,
        };
        s.set_archive_scan(&v).await.unwrap();
        assert_eq!(s.archive_scan(a.id).await.unwrap(), Some(v.clone()));
        v.manifest_sha256 = "f".repeat(64);
        v.scanned_at = 20;
        s.set_archive_scan(&v).await.unwrap();
        assert_eq!(s.archive_scan(a.id).await.unwrap(), Some(v.clone()));
        // Pruned archives take their verdict with them.
        for n in 2..=3 {
            s.add_archive(archive(c, n)).await.unwrap();
        }
        assert_eq!(s.prune_archives(c, 2).await.unwrap().len(), 1);
        assert_eq!(s.archive_scan(a.id).await.unwrap(), None);
    })
    .await;
}
