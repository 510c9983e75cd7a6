//! Transport archive rows: per-course counters, newest first, pruning that spares referenced ones.

use crate::harness::{course, each_backend};
use pf_store::{NewArchive, StoreError};

pub(crate) fn archive(course: pf_domain::ids::CourseId, counter: i64) -> NewArchive {
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

#[tokio::test]
async fn replacing_a_course_content_keeps_the_course_and_swaps_everything_else() {
    use pf_store::{NewFile, TreeActivity, TreeFile, TreeSection};
    each_backend(|db| async move {
        let s = &db.store;
        let (_, c) = course(s, "KEEP").await;
        s.add_section(c, "old", true).await.unwrap();
        let section = |name: &str, acts: usize| TreeSection {
            name: name.into(),
            summary: String::new(),
            visible: true,
            payload: serde_json::json!({ "mbz": name }),
            activities: (0..acts)
                .map(|i| TreeActivity {
                    module: "page".into(),
                    name: format!("{name} {i}"),
                    intro: String::new(),
                    visible: true,
                    payload: serde_json::Value::Null,
                })
                .collect(),
        };
        let file = |activity| TreeFile {
            activity,
            file: NewFile {
                course: c,
                activity: None,
                sha256: "a".repeat(64),
                sha1: "b".repeat(40),
                size: 1,
                filename: "f.txt".into(),
                filepath: "/".into(),
                mimetype: "text/plain".into(),
                component: "mod_page".into(),
                filearea: "content".into(),
                itemid: 0,
                author: String::new(),
                license: String::new(),
            },
        };
        // A file pointing nowhere changes nothing.
        let refused = s
            .replace_course_content(c, None, vec![section("new", 1)], vec![file(Some((3, 0)))])
            .await;
        assert!(matches!(refused, Err(StoreError::Invalid(_))));
        assert_eq!(s.sections(c).await.unwrap()[0].name, "old");
        let done = s
            .replace_course_content(
                c,
                Some(serde_json::json!({ "base": 1 })),
                vec![section("general", 0), section("one", 2)],
                vec![file(Some((1, 1))), file(None)],
            )
            .await
            .unwrap();
        assert_eq!(done.id, c);
        assert_eq!(done.shortname.as_str(), "KEEP");
        let names: Vec<String> = s
            .sections(c)
            .await
            .unwrap()
            .into_iter()
            .map(|x| x.name)
            .collect();
        assert_eq!(names, ["general", "one"]);
        assert_eq!(s.activities(c).await.unwrap().len(), 2);
        let files = s.files(c).await.unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].activity, Some(done.activities[1][1]));
        assert_eq!(
            s.course_payload::<serde_json::Value>(c).await.unwrap(),
            Some(serde_json::json!({ "base": 1 }))
        );
        assert!(matches!(
            s.replace_course_content(pf_domain::ids::CourseId(999), None, vec![], vec![])
                .await,
            Err(StoreError::NotFound { .. })
        ));
    })
    .await;
}

#[tokio::test]
async fn adding_content_keeps_everything_and_appends() {
    use pf_store::{ContentAddition, NewFile, TreeActivity, TreeFile, TreeSection};
    each_backend(|db| async move {
        let s = &db.store;
        let (_, c) = course(s, "MERGE").await;
        let general = s.add_section(c, "general", true).await.unwrap();
        let act = |name: &str| TreeActivity {
            module: "quiz".into(),
            name: name.into(),
            intro: String::new(),
            visible: true,
            payload: serde_json::Value::Null,
        };
        s.add_activity(pf_store::NewActivity {
            course: c,
            section: general.id,
            module: "page".into(),
            name: "old page".into(),
            intro: String::new(),
            visible: true,
            payload: serde_json::Value::Null,
        })
        .await
        .unwrap();
        let file = |activity| TreeFile {
            activity,
            file: NewFile {
                course: c,
                activity: None,
                sha256: "a".repeat(64),
                sha1: "b".repeat(40),
                size: 1,
                filename: "q.png".into(),
                filepath: "/".into(),
                mimetype: "image/png".into(),
                component: "question".into(),
                filearea: "questiontext".into(),
                itemid: 3,
                author: String::new(),
                license: String::new(),
            },
        };
        let add = |number: i64| ContentAddition {
            existing: vec![(number, vec![act("quiz 1")])],
            new_sections: vec![TreeSection {
                name: "added".into(),
                summary: String::new(),
                visible: true,
                payload: serde_json::Value::Null,
                activities: vec![act("quiz 2")],
            }],
            files: vec![file(Some((1, 0))), file(None)],
        };
        // An unknown section number, or a file pointing nowhere, changes nothing.
        let refused = s
            .add_course_content(c, None, Some(serde_json::json!({"x": 1})), add(7))
            .await;
        assert!(
            matches!(refused, Err(StoreError::Invalid(_))),
            "{refused:?}"
        );
        let mut bad = add(0);
        bad.files.push(file(Some((2, 0))));
        assert!(matches!(
            s.add_course_content(c, None, None, bad).await,
            Err(StoreError::Invalid(_))
        ));
        assert_eq!(s.sections(c).await.unwrap().len(), 1);
        assert_eq!(s.activities(c).await.unwrap().len(), 1);
        assert_eq!(
            s.course_payload::<serde_json::Value>(c).await.unwrap(),
            None
        );

        let done = s
            .add_course_content(c, None, Some(serde_json::json!({"x": 1})), add(0))
            .await
            .unwrap();
        let sections = s.sections(c).await.unwrap();
        assert_eq!(sections.len(), 2);
        assert_eq!(done.sections, [sections[1].id]);
        let names: Vec<(i64, String)> = s
            .activities(c)
            .await
            .unwrap()
            .into_iter()
            .map(|a| (a.section_number, a.name))
            .collect();
        assert_eq!(
            names,
            [
                (0, "old page".to_string()),
                (0, "quiz 1".to_string()),
                (1, "quiz 2".to_string())
            ]
        );
        let files = s.files(c).await.unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].activity, Some(done.activities[1][0]));
        assert_eq!(
            s.course_payload::<serde_json::Value>(c).await.unwrap(),
            Some(serde_json::json!({"x": 1}))
        );
    })
    .await;
}

#[tokio::test]
async fn merges_from_a_stale_payload_are_conflicts_and_change_nothing() {
    use pf_store::{ContentAddition, TreeActivity};
    use serde_json::json;
    each_backend(|db| async move {
        let s = &db.store;
        let (_, c) = course(s, "RACE").await;
        s.add_section(c, "general", true).await.unwrap();
        let add = |name: &str| ContentAddition {
            existing: vec![(
                0,
                vec![TreeActivity {
                    module: "quiz".into(),
                    name: name.into(),
                    intro: String::new(),
                    visible: true,
                    payload: serde_json::Value::Null,
                }],
            )],
            ..ContentAddition::default()
        };
        let names = || async {
            let acts = s.activities(c).await.unwrap();
            acts.into_iter().map(|a| a.name).collect::<Vec<_>>()
        };
        let conflict = |r: &Result<_, StoreError>| matches!(r, Err(StoreError::Conflict { .. }));
        let p0 = json!({"v": 0});

        // The course has no payload: a merge computed from one is refused.
        let r = s
            .add_course_content(c, Some(&p0), Some(json!({"v": 5})), add("x"))
            .await;
        assert!(conflict(&r), "{r:?}");
        s.add_course_content(c, None, Some(p0.clone()), add("first"))
            .await
            .unwrap();
        // Computed before that first merge: refused, nothing added.
        let r = s
            .add_course_content(c, None, Some(json!({"v": 9})), add("stale"))
            .await;
        assert!(conflict(&r), "{r:?}");
        assert_eq!(names().await, ["first"]);

        // Two merges computed from the same payload at the same time: one wins, the other is a
        // conflict; the winner's payload and activities are all there, nothing of the loser.
        let (a, b) = tokio::join!(
            s.add_course_content(c, Some(&p0), Some(json!({"v": 1})), add("a")),
            s.add_course_content(c, Some(&p0), Some(json!({"v": 2})), add("b")),
        );
        assert!(a.is_ok() != b.is_ok(), "{a:?} / {b:?}");
        assert!(conflict(&a) || conflict(&b));
        let (winner, v) = if a.is_ok() { ("a", 1) } else { ("b", 2) };
        assert_eq!(names().await, ["first", winner]);
        let now = s
            .course_payload::<serde_json::Value>(c)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(now, json!({ "v": v }));

        // Re-read and try again: it goes through.
        s.add_course_content(c, Some(&now), Some(json!({"v": 3})), add("again"))
            .await
            .unwrap();
        assert_eq!(names().await, ["first", winner, "again"]);
    })
    .await;
}
