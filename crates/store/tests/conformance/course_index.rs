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

#[tokio::test]
async fn migration_15_gives_older_edges_the_key_of_the_only_peer_of_that_name() {
    use pf_store::{Lineage, NewPeer};
    use sqlx::Executor;
    each_backend(|db| async move {
        let s = &db.store;
        s.set_setting("platform.name", "cat").await.unwrap();
        let peer = |name: &str, key: &str| NewPeer {
            name: name.into(),
            url: format!("http://{key}.invalid"),
            public_key: key.into(),
            key_id: key.into(),
            role: None,
            created_at: 1,
            grants: Default::default(),
        };
        let (fac, t1, t2, me) = (
            "f".repeat(32),
            "1".repeat(32),
            "2".repeat(32),
            "9".repeat(32),
        );
        s.create_peer(peer("fac", &fac)).await.unwrap();
        s.create_peer(peer("train", &t1)).await.unwrap();
        s.create_peer(peer("train", &t2)).await.unwrap();
        // A peer that bears this platform's own name must not be mistaken for it.
        s.create_peer(peer("cat", &me)).await.unwrap();
        // Edges as they were before the migration: no keys.
        let edge = |source: &str, target: &str, key: &str| Lineage {
            operation: "deploy".into(),
            source_platform: source.into(),
            source_key: String::new(),
            source_course: 3,
            archive_sha256: "a".repeat(64),
            archive_counter: 1,
            version: None,
            target_platform: target.into(),
            target_key: String::new(),
            target_course: 4,
            local_course: 3,
            actor: "admin@cat".into(),
            job_key: key.into(),
            created_at: 1,
        };
        s.add_lineage(&edge("fac", "cat", "from-fac"))
            .await
            .unwrap();
        s.add_lineage(&edge("cat", "train", "to-train"))
            .await
            .unwrap();
        let backfill: String = pf_store::migrate::migrations(s.backend())
            .iter()
            .find(|m| m.version == 15)
            .expect("migration 15")
            .sql
            .split(';')
            .filter(|stmt| stmt.trim_start().lines().any(|l| l.starts_with("UPDATE")))
            .map(|stmt| format!("{stmt};"))
            .collect();
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
        for stmt in backfill.split_inclusive(';') {
            pool.execute(stmt).await.unwrap();
        }
        pool.close().await;
        let edges = s.lineage(pf_domain::ids::CourseId(3)).await.unwrap();
        let by_key = |k: &str| edges.iter().find(|e| e.job_key == k).unwrap();
        // The factory's name is unique: its key. This platform's own side stays empty.
        assert_eq!(by_key("from-fac").source_key, fac);
        assert_eq!(by_key("from-fac").target_key, "");
        // Two peers are named "train": no key is guessed.
        assert_eq!(by_key("to-train").source_key, "");
        assert_eq!(by_key("to-train").target_key, "");
    })
    .await;
}
