//! Migrations, settings, categories and courses (naming, trash).

use crate::harness::{category, course, each_backend, new_course, sn};
use pf_domain::category::flatten_tree;
use pf_domain::course::{Fullname, IdNumber};
use pf_domain::ids::{CategoryId, CourseId};
use pf_store::{
    migrate, CategoryUpdate, CourseQuery, CourseUpdate, NewCategory, Store, StoreError,
};
use std::collections::HashSet;

#[tokio::test]
async fn migrations_are_idempotent() {
    each_backend(|db| async move {
        let known: Vec<i64> = migrate::migrations(db.store.backend())
            .iter()
            .map(|m| m.version)
            .collect();
        assert!(known.starts_with(&[1]), "{known:?}");
        assert_eq!(migrate::applied_versions(&db.store).await.unwrap(), known);
        assert_eq!(migrate::run(&db.store).await.unwrap(), 0);
        db.store
            .set_setting("platform.name", "factory")
            .await
            .unwrap();
        let again = Store::connect(&db.url).await.unwrap();
        assert_eq!(migrate::applied_versions(&again).await.unwrap(), known);
        assert_eq!(
            again.setting("platform.name").await.unwrap().as_deref(),
            Some("factory")
        );
        assert_eq!(
            again.role_capabilities().await.unwrap(),
            db.store.role_capabilities().await.unwrap()
        );
        again.close().await;
    })
    .await;
}

#[tokio::test]
async fn settings_are_set_replaced_and_listed() {
    each_backend(|db| async move {
        let s = &db.store;
        assert_eq!(s.setting("role").await.unwrap(), None);
        s.set_setting("role", "factory").await.unwrap();
        s.set_setting("role", "catalog").await.unwrap();
        s.set_setting("name", "Lycée A").await.unwrap();
        assert_eq!(s.setting("role").await.unwrap().as_deref(), Some("catalog"));
        assert_eq!(
            s.settings().await.unwrap(),
            vec![
                ("name".to_string(), "Lycée A".to_string()),
                ("role".to_string(), "catalog".to_string())
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn categories_form_a_tree_with_unique_idnumbers() {
    each_backend(|db| async move {
        let s = &db.store;
        let top = s
            .create_category(NewCategory {
                parent: None,
                name: "Sciences".into(),
                idnumber: "sci".into(),
                visible: true,
            })
            .await
            .unwrap();
        let child = s
            .create_category(NewCategory {
                parent: Some(top),
                name: "Maths".into(),
                idnumber: String::new(),
                visible: false,
            })
            .await
            .unwrap();
        let grandchild = s
            .create_category(NewCategory {
                parent: Some(child),
                name: "Algebra".into(),
                idnumber: String::new(),
                visible: true,
            })
            .await
            .unwrap();
        let got = s.category(child).await.unwrap();
        assert_eq!(
            (got.parent, got.name.as_str(), got.visible),
            (Some(top), "Maths", false)
        );

        let dup = NewCategory {
            parent: None,
            name: "Other".into(),
            idnumber: "sci".into(),
            visible: true,
        };
        assert!(matches!(
            s.create_category(dup).await,
            Err(StoreError::Conflict { .. })
        ));
        let orphan = NewCategory {
            parent: Some(CategoryId(9999)),
            name: "X".into(),
            idnumber: String::new(),
            visible: true,
        };
        assert!(matches!(
            s.create_category(orphan).await,
            Err(StoreError::NotFound { .. })
        ));
        assert!(matches!(
            s.category(CategoryId(9999)).await,
            Err(StoreError::NotFound { .. })
        ));

        let cycle = CategoryUpdate {
            parent: Some(Some(grandchild)),
            ..Default::default()
        };
        assert!(matches!(
            s.update_category(top, cycle).await,
            Err(StoreError::Invalid(_))
        ));
        let onto_itself = CategoryUpdate {
            parent: Some(Some(top)),
            ..Default::default()
        };
        assert!(matches!(
            s.update_category(top, onto_itself).await,
            Err(StoreError::Invalid(_))
        ));
        let taken = CategoryUpdate {
            idnumber: Some("sci".into()),
            ..Default::default()
        };
        assert!(matches!(
            s.update_category(child, taken).await,
            Err(StoreError::Conflict { .. })
        ));

        let lift = CategoryUpdate {
            parent: Some(None),
            name: Some("Algebra & co".into()),
            idnumber: Some("alg".into()),
            visible: Some(false),
        };
        s.update_category(grandchild, lift).await.unwrap();
        let moved = s.category(grandchild).await.unwrap();
        assert_eq!(
            (
                moved.parent,
                moved.name.as_str(),
                moved.idnumber.as_str(),
                moved.visible
            ),
            (None, "Algebra & co", "alg", false)
        );
        let paths: Vec<_> = flatten_tree(&s.categories().await.unwrap())
            .unwrap()
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(paths, ["Sciences", "Sciences / Maths", "Algebra & co"]);

        assert!(matches!(
            s.delete_category(top).await,
            Err(StoreError::Conflict { .. })
        ));
        let c = s.create_course(new_course(child, "M1")).await.unwrap();
        assert!(matches!(
            s.delete_category(child).await,
            Err(StoreError::Conflict { .. })
        ));
        s.trash_course(c, 100).await.unwrap();
        assert!(
            matches!(
                s.delete_category(child).await,
                Err(StoreError::Conflict { .. })
            ),
            "trashed courses count"
        );
        s.purge_trash(101).await.unwrap();
        s.delete_category(child).await.unwrap();
        s.delete_category(top).await.unwrap();
        assert!(matches!(
            s.delete_category(top).await,
            Err(StoreError::NotFound { .. })
        ));
        assert_eq!(s.categories().await.unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn courses_are_created_read_listed_and_updated() {
    each_backend(|db| async move {
        let s = &db.store;
        let cat = category(s, "A").await;
        let other = category(s, "B").await;
        let mut new = new_course(cat, "MATH101");
        new.idnumber = IdNumber::parse("PATH-1").unwrap();
        new.archive_payload =
            Some(serde_json::json!({"backup_version": 2024100700, "ids": [1, 2]}));
        new.guest_access = true;
        let id = s.create_course(new.clone()).await.unwrap();
        let got = s.course(id).await.unwrap();
        assert_eq!(got.shortname, sn("MATH101"));
        assert_eq!(got.idnumber.as_str(), "PATH-1");
        assert!(got.visible && got.guest_access);
        assert_eq!(
            (got.start_date, got.end_date, got.deleted_at),
            (1_700_000_000, 0, None)
        );
        assert_eq!(s.course_by_shortname("MATH101").await.unwrap().id, id);
        // The payload (it grows with the course) is read on its own.
        assert_eq!(s.courses(CourseQuery::default()).await.unwrap().len(), 1);
        assert_eq!(
            s.course_payload::<serde_json::Value>(id).await.unwrap(),
            new.archive_payload
        );

        assert!(matches!(
            s.create_course(new_course(other, "MATH101")).await,
            Err(StoreError::Conflict { .. })
        ));
        assert!(matches!(
            s.create_course(new_course(CategoryId(777), "X")).await,
            Err(StoreError::NotFound { .. })
        ));
        let mut same_path = new_course(other, "MATH102");
        same_path.idnumber = IdNumber::parse("PATH-1").unwrap();
        same_path.visible = false;
        let hidden = s.create_course(same_path).await.unwrap();
        let third = s.create_course(new_course(other, "MATH103")).await.unwrap();

        let all = CourseQuery {
            category: None,
            include_hidden: true,
            offset: 0,
            limit: 100,
        };
        assert_eq!(s.count_courses(all.clone()).await.unwrap(), 3);
        let visible = CourseQuery {
            include_hidden: false,
            ..all.clone()
        };
        let ids: Vec<_> = s
            .courses(visible.clone())
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(ids, vec![id, third]);
        assert_eq!(s.count_courses(visible).await.unwrap(), 2);
        let in_other = CourseQuery {
            category: Some(other),
            ..all.clone()
        };
        assert_eq!(s.count_courses(in_other.clone()).await.unwrap(), 2);
        let page = CourseQuery {
            offset: 1,
            limit: 1,
            ..in_other
        };
        assert_eq!(
            s.courses(page)
                .await
                .unwrap()
                .iter()
                .map(|c| c.id)
                .collect::<Vec<_>>(),
            vec![third]
        );

        let taken = CourseUpdate {
            shortname: Some(sn("MATH101")),
            ..Default::default()
        };
        assert!(matches!(
            s.update_course(hidden, taken).await,
            Err(StoreError::Conflict { .. })
        ));
        let update = CourseUpdate {
            category: Some(other),
            fullname: Some(Fullname::parse("Algebra").unwrap()),
            shortname: Some(sn("ALG")),
            summary: Some("new".into()),
            visible: Some(false),
            guest_access: Some(false),
            archive_payload: Some(None),
            end_date: Some(1_800_000_000),
            ..Default::default()
        };
        s.update_course(id, update).await.unwrap();
        let got = s.course(id).await.unwrap();
        assert_eq!(
            (got.category, got.fullname.as_str(), got.shortname.as_str()),
            (other, "Algebra", "ALG")
        );
        assert_eq!(
            (got.visible, got.guest_access, got.end_date),
            (false, false, 1_800_000_000)
        );
        assert_eq!(
            (
                s.course_payload::<serde_json::Value>(id).await.unwrap(),
                got.idnumber.as_str(),
                got.format.as_str()
            ),
            (None, "PATH-1", "topics")
        );
        assert!(matches!(
            s.course_by_shortname("MATH101").await,
            Err(StoreError::NotFound { .. })
        ));
        let missing = CourseUpdate {
            summary: Some("x".into()),
            ..Default::default()
        };
        assert!(matches!(
            s.update_course(CourseId(999), missing).await,
            Err(StoreError::NotFound { .. })
        ));
    })
    .await;
}

#[tokio::test]
async fn deleted_courses_go_to_a_trash_and_come_back() {
    each_backend(|db| async move {
        let s = &db.store;
        let (_, id) = course(s, "OLD").await;
        let (_, kept) = course(s, "KEPT").await;
        s.trash_course(id, 1_000).await.unwrap();
        assert!(matches!(
            s.course(id).await,
            Err(StoreError::NotFound { .. })
        ));
        assert!(matches!(
            s.course_by_shortname("OLD").await,
            Err(StoreError::NotFound { .. })
        ));
        assert!(matches!(
            s.trash_course(id, 1_001).await,
            Err(StoreError::NotFound { .. })
        ));
        let trashed = s.trashed_courses().await.unwrap();
        assert_eq!(
            (trashed.len(), trashed[0].id, trashed[0].deleted_at),
            (1, id, Some(1_000))
        );
        assert_eq!(s.count_courses(CourseQuery::default()).await.unwrap(), 1);
        let cat = s.course(kept).await.unwrap().category;
        assert!(
            matches!(
                s.create_course(new_course(cat, "OLD")).await,
                Err(StoreError::Conflict { .. })
            ),
            "a trashed course keeps its name"
        );

        s.restore_course(id).await.unwrap();
        assert_eq!(s.course(id).await.unwrap().deleted_at, None);
        assert!(matches!(
            s.restore_course(id).await,
            Err(StoreError::NotFound { .. })
        ));

        s.trash_course(id, 1_000).await.unwrap();
        s.trash_course(kept, 5_000).await.unwrap();
        assert_eq!(s.purge_trash(1_000).await.unwrap(), 0);
        assert_eq!(s.purge_trash(1_001).await.unwrap(), 1);
        assert!(matches!(
            s.restore_course(id).await,
            Err(StoreError::NotFound { .. })
        ));
        assert_eq!(s.trashed_courses().await.unwrap().len(), 1);
        s.create_course(new_course(cat, "OLD")).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn arrivals_keep_a_free_name_and_number_a_taken_one() {
    each_backend(|db| async move {
        let s = &db.store;
        let cat = category(s, "Incoming").await;
        let (_, name) = s
            .create_course_arrival(new_course(cat, "SCI"))
            .await
            .unwrap();
        assert_eq!(name, sn("SCI"));
        let (id, name) = s
            .create_course_arrival(new_course(cat, "SCI"))
            .await
            .unwrap();
        assert_eq!(name, sn("SCI_1"));
        assert_eq!(s.course(id).await.unwrap().shortname, sn("SCI_1"));
        s.create_course(new_course(cat, "SCI_3")).await.unwrap();
        assert_eq!(
            s.create_course_arrival(new_course(cat, "SCI"))
                .await
                .unwrap()
                .1,
            sn("SCI_2")
        );
        assert_eq!(
            s.create_course_arrival(new_course(cat, "SCI"))
                .await
                .unwrap()
                .1,
            sn("SCI_4")
        );
        // LIKE metacharacters in names are taken literally.
        assert_eq!(
            s.create_course_arrival(new_course(cat, "A_%"))
                .await
                .unwrap()
                .1,
            sn("A_%")
        );
        assert_eq!(
            s.create_course_arrival(new_course(cat, "AB%"))
                .await
                .unwrap()
                .1,
            sn("AB%")
        );
        assert_eq!(
            s.create_course_arrival(new_course(cat, "A_%"))
                .await
                .unwrap()
                .1,
            sn("A_%_1")
        );
        // Case differs: a different name.
        assert_eq!(
            s.create_course_arrival(new_course(cat, "sci"))
                .await
                .unwrap()
                .1,
            sn("sci")
        );
        assert!(matches!(
            s.create_course_arrival(new_course(CategoryId(404), "Z"))
                .await,
            Err(StoreError::NotFound { .. })
        ));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_arrivals_get_twenty_distinct_names() {
    each_backend(|db| async move {
        let cat = category(&db.store, "Incoming").await;
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let store = db.store.clone();
                tokio::spawn(
                    async move { store.create_course_arrival(new_course(cat, "RUSH")).await },
                )
            })
            .collect();
        let mut names = HashSet::new();
        for t in tasks {
            let (_, name) = t.await.unwrap().unwrap();
            names.insert(name.as_str().to_string());
        }
        let expected: HashSet<String> = std::iter::once("RUSH".to_string())
            .chain((1..20).map(|n| format!("RUSH_{n}")))
            .collect();
        assert_eq!(names, expected);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_share_one_database() {
    each_backend(|db| async move {
        let cat = category(&db.store, "Shared").await;
        let second = Store::connect(&db.url).await.unwrap();
        let tasks: Vec<_> = (0..10)
            .map(|i| {
                let store = if i % 2 == 0 {
                    db.store.clone()
                } else {
                    second.clone()
                };
                tokio::spawn(
                    async move { store.create_course_arrival(new_course(cat, "BOTH")).await },
                )
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(
            second.count_courses(CourseQuery::default()).await.unwrap(),
            10
        );
        second.close().await;
    })
    .await;
}

#[tokio::test]
async fn the_store_answers_pings_and_refuses_unknown_urls() {
    each_backend(|db| async move {
        db.store.ping().await.unwrap();
        assert!(matches!(
            Store::connect("mysql://x/y").await,
            Err(StoreError::Url(_))
        ));
        assert!(matches!(
            Store::connect("sqlite::memory:").await,
            Err(StoreError::Url(_))
        ));
        assert!(matches!(
            Store::connect("sqlite://").await,
            Err(StoreError::Url(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn sqlite_databases_are_private_files_in_wal_mode() {
    use sqlx::{Connection, Row};
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.db");
    let store = Store::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    assert_eq!(store.backend(), pf_store::Backend::Sqlite);
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let mut raw = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let mode: String = sqlx::query("PRAGMA journal_mode")
        .fetch_one(&mut raw)
        .await
        .unwrap()
        .get(0);
    assert_eq!(mode, "wal");
    raw.close().await.unwrap();
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_writers_wait_for_each_other_instead_of_failing() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("data.db").display());
    let store = Store::connect(&url).await.unwrap();
    // Another process (the CLI, say) holds the write lock for a while.
    let mut other = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    sqlx::query("INSERT INTO settings (key, value) VALUES ('cli', 'busy')")
        .execute(&mut other)
        .await
        .unwrap();
    let writer = {
        let store = store.clone();
        tokio::spawn(async move { store.set_setting("server", "waited").await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    writer.await.unwrap().unwrap();
    assert_eq!(
        store.setting("server").await.unwrap().as_deref(),
        Some("waited")
    );
    assert_eq!(store.setting("cli").await.unwrap().as_deref(), Some("busy"));
    other.close().await.unwrap();
    store.close().await;
}
