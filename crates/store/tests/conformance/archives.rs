//! Transport archive rows: per-course counters, newest first, pruning that spares referenced ones.

use crate::harness::{course, each_backend};
use pf_store::{NewArchive, StoreError};

fn archive(course: pf_domain::ids::CourseId, counter: i64) -> NewArchive {
    let key = format!("{counter:064x}");
    NewArchive {
        course,
        counter,
        manifest: format!(r#"{{"parts":[{{"path":"skeleton.tar","sha256":"{key}","size":1}}]}}"#),
        skeleton_sha256: key.clone(),
        size: 1,
        sha256: key,
        origin: "made".into(),
        created_at: counter,
    }
}

#[tokio::test]
async fn archives_count_up_prune_the_oldest_and_spare_referenced_ones() {
    each_backend(|db| async move {
        let s = &db.store;
        let (_, c) = course(s, "ARC").await;
        assert_eq!(s.last_archive_counter(c).await.unwrap(), 0);
        for n in 1..=5 {
            s.add_archive(archive(c, n)).await.unwrap();
        }
        assert!(matches!(
            s.add_archive(archive(c, 3)).await,
            Err(StoreError::Conflict { .. })
        ));
        assert_eq!(s.last_archive_counter(c).await.unwrap(), 5);
        let oldest = s.archives(c).await.unwrap().last().unwrap().id;
        s.reference_archive(oldest, 1).await.unwrap();
        let deleted = s.prune_archives(c, 3).await.unwrap();
        assert_eq!(deleted.len(), 1, "counter 2 goes, counter 1 is referenced");
        assert_eq!(deleted[0].counter, 2);
        let left: Vec<i64> = s
            .archives(c)
            .await
            .unwrap()
            .iter()
            .map(|a| a.counter)
            .collect();
        assert_eq!(left, [5, 4, 3, 1]);
        assert_eq!(s.archive_blobs().await.unwrap().len(), 4);
        s.set_archive_signature(oldest, "sig").await.unwrap();
        assert_eq!(
            s.archive(oldest).await.unwrap().signature.as_deref(),
            Some("sig")
        );
        s.reference_archive(oldest, -1).await.unwrap();
        assert!(
            s.reference_archive(oldest, -1).await.is_err(),
            "never below zero"
        );
        assert_eq!(s.prune_archives(c, 3).await.unwrap().len(), 1);
    })
    .await;
}
