//! Publishing: a received course, its archive, its publication version, the hiding of older
//! versions, the enrolment and the lineage edge commit together — or not at all.

use crate::harness::{course, each_backend, new_course};
use pf_domain::ids::CourseId;
use pf_store::{
    CourseTree, Lineage, NewVersion, ReceivedArchive, ReceivedCourse, StoreError, TreeSection,
};
use serde_json::json;

fn received(
    category: pf_domain::ids::CategoryId,
    number: i64,
    hide: Vec<CourseId>,
) -> ReceivedCourse {
    ReceivedCourse {
        tree: CourseTree {
            course: new_course(category, "PUB"),
            sections: vec![TreeSection {
                name: String::new(),
                summary: String::new(),
                visible: true,
                payload: json!({}),
                activities: Vec::new(),
            }],
            files: Vec::new(),
        },
        archive: ReceivedArchive {
            manifest: "{}".into(),
            skeleton_sha256: "a".repeat(64),
            size: 10,
            sha256: "b".repeat(64),
            signature: "sig".into(),
        },
        version: Some(NewVersion {
            idnumber: "IDN".into(),
            source: "factory-key".into(),
            number,
            hide,
        }),
        enrol: None,
        lineage: Lineage {
            operation: "publish".into(),
            source_platform: "fac".into(),
            source_key: "f".repeat(32),
            source_course: 7,
            archive_sha256: "b".repeat(64),
            archive_counter: 1,
            version: Some(number),
            target_platform: "cat".into(),
            target_key: "c".repeat(32),
            target_course: 0,
            local_course: 0,
            actor: "admin@fac".into(),
            job_key: format!("key-{number}"),
            created_at: 100,
        },
    }
}

#[tokio::test]
async fn a_received_version_commits_with_its_series_archive_and_lineage() {
    each_backend(|db| async move {
        let s = &db.store;
        let (cat, _) = course(s, "OTHER").await;
        let v1 = s.receive_course(received(cat, 1, vec![])).await.unwrap();
        let series = s.publication_series("IDN").await.unwrap().unwrap();
        assert_eq!(series.source, "factory-key");
        assert_eq!(series.versions, vec![(1, v1.id, true)]);
        let archives = s.archives(v1.id).await.unwrap();
        assert_eq!(archives[0].origin, "received");
        assert_eq!(archives[0].signature.as_deref(), Some("sig"));
        let edge = s.lineage_by_key("key-1").await.unwrap().unwrap();
        assert_eq!((edge.target_course, edge.local_course), (v1.id.0, v1.id.0));

        // A version number already taken fails the whole transaction: v1 stays visible, no
        // new course, no new edge.
        let before = s
            .count_courses(pf_store::CourseQuery::default())
            .await
            .unwrap();
        let clash = s.receive_course(received(cat, 1, vec![v1.id])).await;
        assert!(
            matches!(clash, Err(StoreError::Conflict { .. })),
            "{clash:?}"
        );
        assert_eq!(
            s.count_courses(pf_store::CourseQuery::default())
                .await
                .unwrap(),
            before
        );
        assert!(s.course(v1.id).await.unwrap().visible);

        // Version 2 hides version 1 as it commits.
        let v2 = s
            .receive_course(received(cat, 2, vec![v1.id]))
            .await
            .unwrap();
        assert_eq!(
            v2.shortname.as_str(),
            "PUB_1",
            "the failed attempt took no name"
        );
        assert!(!s.course(v1.id).await.unwrap().visible);
        let series = s.publication_series("IDN").await.unwrap().unwrap();
        assert_eq!(series.versions, vec![(1, v1.id, false), (2, v2.id, true)]);
        assert_eq!(s.lineage(v2.id).await.unwrap().len(), 1);

        s.set_course_publishing(v2.id, Some(Some("hash".into())), Some(false))
            .await
            .unwrap();
        assert_eq!(
            s.course_publishing(v2.id).await.unwrap(),
            (Some("hash".into()), false)
        );
        s.set_course_publishing(v2.id, Some(None), None)
            .await
            .unwrap();
        assert_eq!(s.course_publishing(v2.id).await.unwrap(), (None, false));
    })
    .await;
}
