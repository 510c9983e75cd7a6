//! Catalog indexing: an idnumber is reserved once, never when a course already carries it, and
//! its metadata reads back as written; a factory's copy can be replaced.

use crate::harness::{course, each_backend};
use pf_domain::course::IdNumber;
use pf_store::{CourseUpdate, IndexEntry};

fn entry(idnumber: &str, terms: &str) -> IndexEntry {
    IndexEntry {
        idnumber: idnumber.into(),
        source: "factory-key".into(),
        authors: "Ada Lovelace".into(),
        licence: "CC-BY-4.0".into(),
        terms: terms.into(),
        level: "beginner".into(),
        discipline: "mathematics".into(),
        summary: "Counting".into(),
        created_at: 1_700_000_000,
    }
}

#[tokio::test]
async fn an_idnumber_is_reserved_once_with_its_metadata() {
    each_backend(|db| async move {
        let s = &db.store;
        assert!(s
            .reserve_index(&entry("CAT-AAAA", "Be nice"))
            .await
            .unwrap());
        assert!(!s.reserve_index(&entry("CAT-AAAA", "Other")).await.unwrap());
        assert_eq!(
            s.index_entry("CAT-AAAA").await.unwrap(),
            Some(entry("CAT-AAAA", "Be nice"))
        );
        // An idnumber a course of this platform carries cannot be reserved.
        let (_, c) = course(s, "HAS").await;
        s.update_course(
            c,
            CourseUpdate {
                idnumber: Some(IdNumber::parse("CAT-BBBB").unwrap()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(!s.reserve_index(&entry("CAT-BBBB", "")).await.unwrap());
        assert_eq!(s.index_entry("CAT-BBBB").await.unwrap(), None);
        // A factory's copy is replaced as a whole.
        s.put_index(&entry("CAT-CCCC", "v1")).await.unwrap();
        s.put_index(&entry("CAT-CCCC", "v2")).await.unwrap();
        assert_eq!(
            s.index_entry("CAT-CCCC").await.unwrap().unwrap().terms,
            "v2"
        );
        let all: Vec<String> = s
            .index_entries()
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.idnumber)
            .collect();
        assert_eq!(all, ["CAT-AAAA", "CAT-CCCC"]);
    })
    .await;
}

#[tokio::test]
async fn edges_are_found_by_their_remote_target_key_not_its_name() {
    use pf_store::Lineage;
    each_backend(|db| async move {
        let s = &db.store;
        let edge = |platform: &str, target_key: &str, course: i64, key: &str| Lineage {
            operation: "deploy".into(),
            source_platform: "cat".into(),
            source_key: "c".repeat(32),
            source_course: 3,
            archive_sha256: "a".repeat(64),
            archive_counter: 1,
            version: None,
            target_platform: platform.into(),
            target_key: target_key.into(),
            target_course: course,
            local_course: 3,
            actor: "admin@cat".into(),
            job_key: key.into(),
            created_at: 1,
        };
        let (k1, k2) = ("1".repeat(32), "2".repeat(32));
        s.add_lineage(&edge("train", &k1, 9, "k1")).await.unwrap();
        s.add_lineage(&edge("train", &k1, 10, "k2")).await.unwrap();
        // Another platform that bears the same name.
        s.add_lineage(&edge("train", &k2, 9, "k3")).await.unwrap();
        let found = s.lineage_to_key(&k1, 9).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].job_key, "k1");
        assert_eq!(found[0].target_key, k1);
        assert_eq!(found[0].source_key, "c".repeat(32));
        assert_eq!(s.lineage_to_key(&k2, 9).await.unwrap()[0].job_key, "k3");
        assert!(s.lineage_to_key(&k1, 11).await.unwrap().is_empty());
    })
    .await;
}
