//! Users, profile fields, roles, the capability table, enrolments.

use crate::harness::{course, each_backend};
use pf_domain::access::{
    has_capability, Assignment, Capability, Context, RoleCapabilities, RoleName,
};
use pf_domain::ids::{CategoryId, CourseId, PeerId, UserId};
use pf_domain::user::{FieldEditor, Home, Username};
use pf_store::{CategoryUpdate, NewCategory, NewUser, Store, StoreError, UserUpdate};

pub fn user(name: &str, home: Home, hash: Option<&str>) -> NewUser {
    NewUser {
        username: Username::parse(name).unwrap(),
        home,
        password_hash: hash.map(str::to_string),
        email: format!("{name}@example.org"),
        fullname: format!("Full {name}"),
        lang: "fr".into(),
    }
}

pub async fn local(s: &Store, name: &str) -> UserId {
    s.create_user(user(
        name,
        Home::Local,
        Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"),
    ))
    .await
    .unwrap()
}

#[tokio::test]
async fn local_and_roaming_accounts() {
    each_backend(|db| async move {
        let s = &db.store;
        let amel = local(s, "amel").await;
        let dup = s.create_user(user("amel", Home::Local, None)).await;
        assert!(matches!(dup, Err(StoreError::Conflict { .. })));
        let roaming = s
            .create_user(user("amel", Home::Peer(PeerId(3)), None))
            .await
            .unwrap();
        let other_peer = s
            .create_user(user("amel", Home::Peer(PeerId(4)), None))
            .await
            .unwrap();
        assert_ne!(roaming, other_peer);
        let dup = s
            .create_user(user("amel", Home::Peer(PeerId(3)), None))
            .await;
        assert!(matches!(dup, Err(StoreError::Conflict { .. })));
        let with_password = s
            .create_user(user("bob", Home::Peer(PeerId(3)), Some("$argon2id$x")))
            .await;
        assert!(matches!(with_password, Err(StoreError::Invalid(_))));

        let got = s
            .local_user(&Username::parse("amel").unwrap())
            .await
            .unwrap();
        assert_eq!(
            (got.id, got.home, got.disabled, got.lang.as_str()),
            (amel, Home::Local, false, "fr")
        );
        assert!(got
            .password_hash
            .as_deref()
            .unwrap()
            .starts_with("$argon2id$"));
        let r = s
            .roaming_user(&Username::parse("amel").unwrap(), PeerId(3))
            .await
            .unwrap();
        assert_eq!(
            (r.id, r.home, r.password_hash),
            (roaming, Home::Peer(PeerId(3)), None)
        );
        assert!(matches!(
            s.local_user(&Username::parse("zoe").unwrap()).await,
            Err(StoreError::NotFound { .. })
        ));
        assert!(matches!(
            s.user(UserId(999)).await,
            Err(StoreError::NotFound { .. })
        ));
        assert_eq!(
            s.users()
                .await
                .unwrap()
                .iter()
                .map(|u| u.id)
                .collect::<Vec<_>>(),
            vec![amel, roaming, other_peer]
        );

        let update = UserUpdate {
            email: Some("a@b.c".into()),
            disabled: Some(true),
            ..Default::default()
        };
        s.update_user(amel, update).await.unwrap();
        let got = s.user(amel).await.unwrap();
        assert_eq!(
            (got.email.as_str(), got.fullname.as_str(), got.disabled),
            ("a@b.c", "Full amel", true)
        );
        assert!(matches!(
            s.update_user(UserId(999), UserUpdate::default()).await,
            Err(StoreError::NotFound { .. })
        ));
        s.set_password_hash(amel, "$argon2id$new").await.unwrap();
        assert_eq!(
            s.user(amel).await.unwrap().password_hash.as_deref(),
            Some("$argon2id$new")
        );
        assert!(matches!(
            s.set_password_hash(roaming, "$argon2id$x").await,
            Err(StoreError::Invalid(_))
        ));
        assert_eq!(s.user(roaming).await.unwrap().password_hash, None);
    })
    .await;
}

#[tokio::test]
async fn profile_fields_are_defined_then_filled() {
    each_backend(|db| async move {
        let s = &db.store;
        let u = local(s, "amel").await;
        s.define_profile_field("discipline", FieldEditor::Admin)
            .await
            .unwrap();
        s.define_profile_field("bio", FieldEditor::User)
            .await
            .unwrap();
        s.define_profile_field("bio", FieldEditor::Admin)
            .await
            .unwrap();
        assert_eq!(
            s.profile_fields().await.unwrap(),
            vec![
                ("bio".to_string(), FieldEditor::Admin),
                ("discipline".to_string(), FieldEditor::Admin)
            ]
        );
        s.set_profile_value(u, "discipline", "maths").await.unwrap();
        s.set_profile_value(u, "discipline", "physics")
            .await
            .unwrap();
        assert!(matches!(
            s.set_profile_value(u, "unknown", "x").await,
            Err(StoreError::NotFound { .. })
        ));
        assert!(matches!(
            s.set_profile_value(UserId(999), "bio", "x").await,
            Err(StoreError::NotFound { .. })
        ));
        assert_eq!(
            s.profile_values(u).await.unwrap(),
            vec![("discipline".to_string(), "physics".to_string())]
        );
    })
    .await;
}

#[tokio::test]
async fn roles_are_assigned_in_contexts_and_checked_along_the_chain() {
    each_backend(|db| async move {
        let s = &db.store;
        let top = s
            .create_category(NewCategory {
                parent: None,
                name: "Top".into(),
                idnumber: String::new(),
                visible: true,
            })
            .await
            .unwrap();
        let mid = s
            .create_category(NewCategory {
                parent: Some(top),
                name: "Mid".into(),
                idnumber: String::new(),
                visible: true,
            })
            .await
            .unwrap();
        let (own_cat, c) = course(s, "ROLES").await;
        s.update_course(
            c,
            pf_store::CourseUpdate {
                category: Some(mid),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        s.delete_category(own_cat).await.unwrap();

        let chain = s.context_chain(Context::Course(c)).await.unwrap();
        assert_eq!(
            chain,
            vec![
                Context::Course(c),
                Context::Category(mid),
                Context::Category(top),
                Context::System
            ]
        );
        assert_eq!(
            s.context_chain(Context::Category(mid)).await.unwrap(),
            vec![
                Context::Category(mid),
                Context::Category(top),
                Context::System
            ]
        );
        assert_eq!(
            s.context_chain(Context::System).await.unwrap(),
            vec![Context::System]
        );
        assert!(matches!(
            s.context_chain(Context::Course(CourseId(999))).await,
            Err(StoreError::NotFound { .. })
        ));
        assert!(matches!(
            s.context_chain(Context::Category(CategoryId(999))).await,
            Err(StoreError::NotFound { .. })
        ));

        let teacher = local(s, "teacher").await;
        let creator = local(s, "creator").await;
        s.assign_role(teacher, RoleName::EditingTeacher, Context::Course(c))
            .await
            .unwrap();
        s.assign_role(teacher, RoleName::EditingTeacher, Context::Course(c))
            .await
            .unwrap();
        s.assign_role(teacher, RoleName::Student, Context::Course(c))
            .await
            .unwrap();
        s.assign_role(creator, RoleName::CourseCreator, Context::Category(top))
            .await
            .unwrap();
        s.assign_role(creator, RoleName::Manager, Context::System)
            .await
            .unwrap();
        assert!(matches!(
            s.assign_role(teacher, RoleName::Teacher, Context::Course(CourseId(999)))
                .await,
            Err(StoreError::NotFound { .. })
        ));
        assert!(matches!(
            s.assign_role(
                teacher,
                RoleName::Teacher,
                Context::Category(CategoryId(999))
            )
            .await,
            Err(StoreError::NotFound { .. })
        ));
        assert!(matches!(
            s.assign_role(UserId(999), RoleName::Teacher, Context::System)
                .await,
            Err(StoreError::NotFound { .. })
        ));

        let mut got = s.assignments(teacher).await.unwrap();
        got.sort_by_key(|a| a.role);
        assert_eq!(
            got,
            vec![
                Assignment {
                    role: RoleName::EditingTeacher,
                    context: Context::Course(c)
                },
                Assignment {
                    role: RoleName::Student,
                    context: Context::Course(c)
                },
            ]
        );
        let table = s.role_capabilities().await.unwrap();
        assert!(has_capability(
            &table,
            &got,
            &chain,
            Capability::CourseUpdate
        ));
        let creator_roles = s.assignments(creator).await.unwrap();
        assert_eq!(creator_roles.len(), 2);
        assert!(has_capability(
            &table,
            &creator_roles,
            &chain,
            Capability::DeployEverywhere
        ));
        assert!(has_capability(
            &table,
            &creator_roles,
            &chain,
            Capability::CourseCreate
        ));

        let participants: Vec<_> = s
            .course_participants(c)
            .await
            .unwrap()
            .into_iter()
            .map(|(u, r)| (u.id, r))
            .collect();
        assert_eq!(
            participants,
            vec![
                (teacher, RoleName::EditingTeacher),
                (teacher, RoleName::Student)
            ]
        );

        s.unassign_role(teacher, RoleName::Student, Context::Course(c))
            .await
            .unwrap();
        s.unassign_role(teacher, RoleName::Student, Context::Course(c))
            .await
            .unwrap();
        assert_eq!(s.assignments(teacher).await.unwrap().len(), 1);

        // Moving the course's category moves the chain.
        s.update_category(
            mid,
            CategoryUpdate {
                parent: Some(None),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(
            s.context_chain(Context::Course(c)).await.unwrap(),
            vec![Context::Course(c), Context::Category(mid), Context::System]
        );

        // Purging a course removes its assignments.
        s.trash_course(c, 1).await.unwrap();
        s.purge_trash(2).await.unwrap();
        assert!(s.assignments(teacher).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn the_capability_table_starts_from_the_defaults_and_is_editable() {
    each_backend(|db| async move {
        let s = &db.store;
        assert_eq!(
            s.role_capabilities().await.unwrap(),
            RoleCapabilities::defaults()
        );
        s.set_role_capability(RoleName::Teacher, Capability::CourseUpdate, true)
            .await
            .unwrap();
        s.set_role_capability(RoleName::Teacher, Capability::CourseUpdate, true)
            .await
            .unwrap();
        s.set_role_capability(RoleName::Guest, Capability::CourseView, false)
            .await
            .unwrap();
        s.set_role_capability(RoleName::Guest, Capability::CourseView, false)
            .await
            .unwrap();
        let table = s.role_capabilities().await.unwrap();
        assert!(table.role_has(RoleName::Teacher, Capability::CourseUpdate));
        assert!(!table.role_has(RoleName::Guest, Capability::CourseView));
        assert_eq!(
            table.pairs().count(),
            RoleCapabilities::defaults().pairs().count()
        );
        // A restart (migrations run again) keeps the admin's edits.
        let again = Store::connect(&db.url).await.unwrap();
        assert_eq!(again.role_capabilities().await.unwrap(), table);
        again.close().await;
    })
    .await;
}

#[tokio::test]
async fn enrolments_and_guest_access() {
    each_backend(|db| async move {
        let s = &db.store;
        let (_, c) = course(s, "ENROL").await;
        let u = local(s, "learner").await;
        let v = local(s, "visitor").await;
        s.enrol(u, c, "manual").await.unwrap();
        s.enrol(u, c, "manual").await.unwrap();
        s.enrol(u, c, "self").await.unwrap();
        s.enrol(v, c, "manual").await.unwrap();
        assert!(matches!(
            s.enrol(u, CourseId(999), "manual").await,
            Err(StoreError::NotFound { .. })
        ));
        let got: Vec<_> = s
            .enrolments(c)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.user, e.method))
            .collect();
        assert_eq!(
            got,
            vec![
                (u, "manual".into()),
                (u, "self".into()),
                (v, "manual".into())
            ]
        );
        s.unenrol(u, c, "self").await.unwrap();
        assert_eq!(s.enrolments(c).await.unwrap().len(), 2);

        assert!(!s.course(c).await.unwrap().guest_access);
        s.update_course(
            c,
            pf_store::CourseUpdate {
                guest_access: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(s.course(c).await.unwrap().guest_access);
    })
    .await;
}
