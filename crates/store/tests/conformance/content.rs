//! Sections, activities and files.

use crate::harness::{course, each_backend, new_course};
use pf_domain::ids::{ActivityId, CourseId, SectionId};
use pf_store::{
    CourseTree, NewActivity, NewFile, NewSection, Store, StoreError, TreeActivity, TreeFile,
    TreeSection,
};
use serde_json::json;

fn activity(course: CourseId, section: SectionId, name: &str) -> NewActivity {
    NewActivity {
        course,
        section,
        module: "page".into(),
        name: name.into(),
        intro: format!("<p>{name}</p>"),
        visible: true,
        payload: json!({"content": name, "display": 5}),
    }
}

fn file(course: CourseId, activity: Option<ActivityId>, byte: char) -> NewFile {
    NewFile {
        course,
        activity,
        sha256: byte.to_string().repeat(64),
        sha1: byte.to_string().repeat(40),
        size: 42,
        filename: "notes.pdf".into(),
        filepath: "/".into(),
        mimetype: "application/pdf".into(),
        component: "mod_resource".into(),
        filearea: "content".into(),
        itemid: 0,
        author: "Amel".into(),
        license: "cc-4.0".into(),
    }
}

async fn names(s: &Store, c: CourseId) -> Vec<(i64, String)> {
    s.sections(c)
        .await
        .unwrap()
        .into_iter()
        .map(|x| (x.number, x.name))
        .collect()
}

#[tokio::test]
async fn sections_are_appended_renamed_and_reordered() {
    each_backend(|db| async move {
        let s = &db.store;
        let (_, c) = course(s, "SEC").await;
        let general = s.add_section(c, "", true).await.unwrap();
        assert_eq!(general.number, 0);
        let a = s.add_section(c, "A", true).await.unwrap();
        let b = s.add_section(c, "B", false).await.unwrap();
        let rich = s
            .insert_section(NewSection {
                course: c,
                name: "C".into(),
                summary: "<p>s</p>".into(),
                visible: true,
                payload: json!({"id": 77}),
            })
            .await
            .unwrap();
        assert_eq!(
            (a.number, b.number, rich.number, b.visible),
            (1, 2, 3, false)
        );
        assert_eq!(s.section(rich.id).await.unwrap().payload, json!({"id": 77}));
        assert!(matches!(
            s.add_section(CourseId(999), "x", true).await,
            Err(StoreError::NotFound { .. })
        ));

        s.update_section(b.id, Some("Bee".into()), Some(true))
            .await
            .unwrap();
        s.update_section(a.id, None, Some(false)).await.unwrap();
        let got = s.sections(c).await.unwrap();
        assert_eq!(
            (
                got[1].name.as_str(),
                got[1].visible,
                got[2].name.as_str(),
                got[2].visible
            ),
            ("A", false, "Bee", true)
        );
        assert!(matches!(
            s.update_section(SectionId(999), None, None).await,
            Err(StoreError::NotFound { .. })
        ));

        s.move_section(rich.id, 1).await.unwrap();
        assert_eq!(
            names(s, c).await,
            [
                (0, "".into()),
                (1, "C".into()),
                (2, "A".into()),
                (3, "Bee".into())
            ]
        );
        s.move_section(rich.id, 3).await.unwrap();
        assert_eq!(
            names(s, c).await,
            [
                (0, "".into()),
                (1, "A".into()),
                (2, "Bee".into()),
                (3, "C".into())
            ]
        );
        for bad in [0, 4, -1] {
            assert!(
                matches!(s.move_section(a.id, bad).await, Err(StoreError::Invalid(_))),
                "to {bad}"
            );
        }
        assert!(matches!(
            s.move_section(general.id, 2).await,
            Err(StoreError::Invalid(_))
        ));

        s.add_activity(activity(c, b.id, "in B")).await.unwrap();
        s.delete_section(b.id).await.unwrap();
        assert_eq!(
            names(s, c).await,
            [(0, "".into()), (1, "A".into()), (2, "C".into())]
        );
        assert!(s.activities(c).await.unwrap().is_empty());
        assert!(matches!(
            s.delete_section(general.id).await,
            Err(StoreError::Invalid(_))
        ));
        assert_eq!(s.add_section(c, "D", true).await.unwrap().number, 3);
    })
    .await;
}

#[tokio::test]
async fn activities_live_in_sections_of_their_course() {
    each_backend(|db| async move {
        let s = &db.store;
        let (_, c) = course(s, "ACT").await;
        let (_, other) = course(s, "OTHER").await;
        let s0 = s.add_section(c, "", true).await.unwrap().id;
        let s1 = s.add_section(c, "One", true).await.unwrap().id;
        let foreign = s.add_section(other, "", true).await.unwrap().id;

        let late = s.add_activity(activity(c, s1, "late")).await.unwrap();
        let first = s.add_activity(activity(c, s0, "first")).await.unwrap();
        let second = s.add_activity(activity(c, s0, "second")).await.unwrap();
        assert!(matches!(
            s.add_activity(activity(c, foreign, "x")).await,
            Err(StoreError::NotFound { .. })
        ));

        let order: Vec<_> = s
            .activities(c)
            .await
            .unwrap()
            .into_iter()
            .map(|a| (a.section_number, a.position, a.name))
            .collect();
        assert_eq!(
            order,
            [
                (0, 0, "first".into()),
                (0, 1, "second".into()),
                (1, 0, "late".into())
            ]
        );
        let got = s.activity(late).await.unwrap();
        assert_eq!(
            (got.module.as_str(), got.intro.as_str(), got.visible),
            ("page", "<p>late</p>", true)
        );
        assert_eq!(got.payload, json!({"content": "late", "display": 5}));

        s.update_activity(
            second,
            Some("Second".into()),
            None,
            Some(false),
            Some(json!({"x": 1})),
        )
        .await
        .unwrap();
        let got = s.activity(second).await.unwrap();
        assert_eq!(
            (
                got.name.as_str(),
                got.intro.as_str(),
                got.visible,
                got.payload
            ),
            ("Second", "<p>second</p>", false, json!({"x": 1}))
        );
        assert!(matches!(
            s.update_activity(ActivityId(999), None, None, None, None)
                .await,
            Err(StoreError::NotFound { .. })
        ));
        assert!(matches!(
            s.activity(ActivityId(999)).await,
            Err(StoreError::NotFound { .. })
        ));

        s.move_activity(first, s1, 0).await.unwrap();
        let order: Vec<_> = s
            .activities(c)
            .await
            .unwrap()
            .into_iter()
            .map(|a| (a.section_number, a.position, a.name))
            .collect();
        assert_eq!(
            order,
            [
                (0, 0, "Second".into()),
                (1, 0, "first".into()),
                (1, 1, "late".into())
            ]
        );
        s.move_activity(first, s1, 99).await.unwrap();
        assert_eq!(s.activity(first).await.unwrap().position, 1);
        assert!(matches!(
            s.move_activity(first, foreign, 0).await,
            Err(StoreError::NotFound { .. })
        ));

        s.delete_activity(late).await.unwrap();
        assert_eq!(s.activities(c).await.unwrap().len(), 2);
    })
    .await;
}

#[tokio::test]
async fn files_are_recorded_listed_and_purged_with_their_course() {
    each_backend(|db| async move {
        let s = &db.store;
        let (_, c) = course(s, "FILES").await;
        let (_, other) = course(s, "ELSE").await;
        let sec = s.add_section(c, "", true).await.unwrap().id;
        let act = s.add_activity(activity(c, sec, "resource")).await.unwrap();
        let course_file = s.add_file(file(c, None, 'a')).await.unwrap();
        let act_file = s.add_file(file(c, Some(act), 'b')).await.unwrap();
        s.add_file(file(other, None, 'a')).await.unwrap();

        let got = s.file(act_file).await.unwrap();
        assert_eq!(got.activity, Some(act));
        assert_eq!(
            (
                got.sha1.len(),
                got.size,
                got.license.as_str(),
                got.component.as_str()
            ),
            (40, 42, "cc-4.0", "mod_resource")
        );
        assert_eq!(
            s.files(c)
                .await
                .unwrap()
                .iter()
                .map(|f| f.id)
                .collect::<Vec<_>>(),
            vec![course_file, act_file]
        );
        assert!(matches!(
            s.file(999).await,
            Err(StoreError::NotFound { .. })
        ));
        assert!(matches!(
            s.add_file(file(other, Some(act), 'c')).await,
            Err(StoreError::NotFound { .. })
        ));
        let mut bad = file(c, None, 'd');
        bad.sha256 = "not-hex".into();
        assert!(matches!(s.add_file(bad).await, Err(StoreError::Invalid(_))));
        assert!(matches!(
            s.add_file(file(CourseId(999), None, 'e')).await,
            Err(StoreError::NotFound { .. })
        ));
        assert_eq!(s.referenced_blobs().await.unwrap().len(), 2);

        s.delete_activity(act).await.unwrap();
        assert_eq!(s.files(c).await.unwrap().len(), 1);
        s.trash_course(c, 10).await.unwrap();
        assert_eq!(
            s.referenced_blobs().await.unwrap().len(),
            1,
            "trashed courses keep their blobs"
        );
        s.trash_course(other, 10).await.unwrap();
        s.purge_trash(11).await.unwrap();
        assert!(s.referenced_blobs().await.unwrap().is_empty());
        assert!(s.sections(c).await.unwrap().is_empty());
    })
    .await;
}

fn tree_section(name: &str, activities: &[&str]) -> TreeSection {
    TreeSection {
        name: name.into(),
        summary: String::new(),
        visible: true,
        payload: json!({"sectionid": 10}),
        activities: activities
            .iter()
            .map(|a| TreeActivity {
                module: "label".into(),
                name: (*a).into(),
                intro: String::new(),
                visible: true,
                payload: json!({"moduleid": 5}),
            })
            .collect(),
    }
}

#[tokio::test]
async fn a_whole_course_arrives_in_one_transaction() {
    each_backend(|db| async move {
        let s = &db.store;
        let (cat, _) = course(s, "TREE").await;
        let tree = CourseTree {
            course: new_course(cat, "TREE"),
            sections: vec![
                tree_section("", &["welcome"]),
                tree_section("Week 1", &["a", "b"]),
            ],
            files: vec![
                TreeFile {
                    activity: None,
                    file: file(CourseId(0), None, 'a'),
                },
                TreeFile {
                    activity: Some((1, 1)),
                    file: file(CourseId(0), None, 'b'),
                },
            ],
        };
        let got = s.import_course(tree.clone()).await.unwrap();
        assert_eq!(got.shortname.as_str(), "TREE_1");
        assert_eq!(s.course(got.id).await.unwrap().shortname.as_str(), "TREE_1");
        let sections = s.sections(got.id).await.unwrap();
        assert_eq!(
            sections.iter().map(|x| x.id).collect::<Vec<_>>(),
            got.sections
        );
        assert_eq!(
            (sections[1].number, sections[1].name.as_str()),
            (1, "Week 1")
        );
        let acts = s.activities(got.id).await.unwrap();
        let names: Vec<_> = acts
            .iter()
            .map(|a| (a.section_number, a.position, a.name.as_str()))
            .collect();
        assert_eq!(names, [(0, 0, "welcome"), (1, 0, "a"), (1, 1, "b")]);
        let files = s.files(got.id).await.unwrap();
        assert_eq!(files.iter().map(|f| f.id).collect::<Vec<_>>(), got.files);
        assert_eq!(
            (files[0].activity, files[1].activity),
            (None, Some(got.activities[1][1]))
        );
        assert_eq!(files[1].course, got.id);

        let mut bad = tree.clone();
        bad.files[1].activity = Some((0, 3));
        assert!(matches!(
            s.import_course(bad).await,
            Err(StoreError::Invalid(_))
        ));
        let mut bad = tree.clone();
        bad.course.category = pf_domain::ids::CategoryId(999);
        assert!(matches!(
            s.import_course(bad).await,
            Err(StoreError::NotFound { .. })
        ));
        assert_eq!(
            s.count_courses(pf_store::CourseQuery::default())
                .await
                .unwrap(),
            2,
            "nothing half-written"
        );
        assert_eq!(s.referenced_blobs().await.unwrap().len(), 2);
    })
    .await;
}
