//! Course sessions (open / close in one transaction) and the mail outbox and templates.

use crate::harness::{category, course, each_backend};
use crate::people::local;
use pf_domain::access::{Assignment, Context, RoleName};
use pf_domain::ids::CourseId;
use pf_domain::sessions::{CloseMode, SessionAction, SessionCategories};
use pf_store::{MailTemplate, NewActivity, NewAudit, NewMail, SessionChange, Store};

fn audit(action: &str) -> NewAudit {
    NewAudit {
        at: 100,
        actor: "admin".into(),
        action: action.into(),
        target: "course".into(),
        peer: None,
        job: None,
        result: "ok".into(),
        details: serde_json::json!({}),
    }
}

fn change(
    course: CourseId,
    cats: SessionCategories,
    action: SessionAction,
    start: Option<i64>,
) -> SessionChange {
    SessionChange {
        course,
        action,
        categories: cats,
        new_start_date: start,
        at: 1_000,
        audit: audit("session"),
        mails: Vec::new(),
    }
}

async fn roles_in(s: &Store, user: pf_domain::ids::UserId, course: CourseId) -> Vec<RoleName> {
    s.assignments(user)
        .await
        .unwrap()
        .into_iter()
        .filter(|a: &Assignment| a.context == Context::Course(course))
        .map(|a| a.role)
        .collect()
}

#[tokio::test]
async fn closing_switches_students_and_opening_restores_exactly_those() {
    each_backend(|db| async move {
        let s = &db.store;
        let (incoming, c) = course(s, "SESS1").await;
        let cats = SessionCategories {
            incoming,
            running: category(s, "Running").await,
            closed: category(s, "Closed").await,
        };
        let (ann, bob, tea) = (
            local(s, "ann").await,
            local(s, "bob").await,
            local(s, "tea").await,
        );
        let ctx = Context::Course(c);
        s.assign_role(ann, RoleName::Student, ctx).await.unwrap();
        s.assign_role(bob, RoleName::DisabledStudent, ctx)
            .await
            .unwrap();
        s.assign_role(tea, RoleName::EditingTeacher, ctx)
            .await
            .unwrap();

        let out = s
            .apply_session(change(c, cats, SessionAction::Open, None))
            .await
            .unwrap();
        assert_eq!(out.category, cats.running);
        assert!(out.visible);

        let out = s
            .apply_session(change(
                c,
                cats,
                SessionAction::Close(CloseMode::Protected),
                None,
            ))
            .await
            .unwrap();
        assert_eq!(out.category, cats.closed);
        assert_eq!(out.disabled, vec![ann]);
        assert_eq!(roles_in(s, ann, c).await, vec![RoleName::DisabledStudent]);
        assert_eq!(s.pending_session_switches(c).await.unwrap(), vec![ann]);
        let record = s.course(c).await.unwrap();
        assert!(record.visible && !record.guest_access);

        // A public close on top grants guest access; a reopen takes it back.
        let out = s
            .apply_session(change(
                c,
                cats,
                SessionAction::Close(CloseMode::Public),
                None,
            ))
            .await
            .unwrap();
        assert!(out.guest_access && out.disabled.is_empty());

        let out = s
            .apply_session(change(c, cats, SessionAction::Open, None))
            .await
            .unwrap();
        assert_eq!(out.restored, vec![ann]);
        assert_eq!(roles_in(s, ann, c).await, vec![RoleName::Student]);
        assert_eq!(
            roles_in(s, bob, c).await,
            vec![RoleName::DisabledStudent],
            "a student disabled on purpose stays disabled"
        );
        assert_eq!(roles_in(s, tea, c).await, vec![RoleName::EditingTeacher]);
        let record = s.course(c).await.unwrap();
        assert_eq!(record.category, cats.running);
        assert!(record.visible && !record.guest_access);
        assert!(s.pending_session_switches(c).await.unwrap().is_empty());

        // Private close: hidden, roles untouched.
        let out = s
            .apply_session(change(
                c,
                cats,
                SessionAction::Close(CloseMode::Private),
                None,
            ))
            .await
            .unwrap();
        assert!(!out.visible && out.disabled.is_empty());
        assert_eq!(roles_in(s, ann, c).await, vec![RoleName::Student]);

        // Each change wrote its audit entry in the same transaction.
        let entries = s.audit(0, 10).await.unwrap();
        assert_eq!(entries.iter().filter(|e| e.action == "session").count(), 5);
        assert_eq!(entries[0].details["visible"], false);
    })
    .await;
}

#[tokio::test]
async fn an_assigned_category_is_kept_and_start_dates_shift_with_activities() {
    each_backend(|db| async move {
        let s = &db.store;
        let (assigned, c) = course(s, "SESS2").await;
        let cats = SessionCategories {
            incoming: category(s, "Incoming").await,
            running: category(s, "Running").await,
            closed: category(s, "Closed").await,
        };
        let section = s.add_section(c, "", true).await.unwrap().id;
        let quiz = s
            .add_activity(NewActivity {
                course: c,
                section,
                module: "quiz".into(),
                name: "Q".into(),
                intro: String::new(),
                visible: true,
                payload: serde_json::json!({ "timeopen": 5_000, "timeclose": 0, "other": 7 }),
            })
            .await
            .unwrap();
        let before = s.course(c).await.unwrap();
        let new_start = before.start_date + 86_400;
        for action in [SessionAction::Open, SessionAction::Close(CloseMode::Public)] {
            let out = s
                .apply_session(change(c, cats, action, Some(new_start)))
                .await
                .unwrap();
            assert_eq!(out.category, assigned, "{action:?}");
        }
        let after = s.course(c).await.unwrap();
        assert_eq!(after.start_date, new_start);
        let a = s.activity(quiz).await.unwrap();
        assert_eq!(a.payload["timeopen"], 5_000 + 86_400);
        assert_eq!(a.payload["timeclose"], 0, "unset dates stay unset");
        assert_eq!(a.payload["other"], 7);

        // An unknown course changes nothing and says so: its notifications are not queued.
        let mut open_missing = change(CourseId(9_999), cats, SessionAction::Open, None);
        open_missing.mails = vec![mail("lost@example.org")];
        let missing = s.apply_session(open_missing).await;
        assert!(matches!(
            missing,
            Err(pf_store::StoreError::NotFound { .. })
        ));
        assert!(s.outbox(0, 10).await.unwrap().is_empty());

        // Notifications commit with the open.
        let mut open = change(c, cats, SessionAction::Open, None);
        open.mails = vec![mail("a@example.org"), mail("b@example.org")];
        s.apply_session(open).await.unwrap();
        assert_eq!(s.outbox(0, 10).await.unwrap().len(), 2);
    })
    .await;
}

fn mail(to: &str) -> NewMail {
    NewMail {
        kind: "session_open".into(),
        recipient: to.into(),
        subject: "Hello".into(),
        text_body: "text".into(),
        html_body: "<p>html</p>".into(),
        headers: serde_json::json!({ "lang": "fr" }),
        created_at: 10,
    }
}

#[tokio::test]
async fn the_outbox_keeps_messages_until_delivered_and_claims_each_once() {
    each_backend(|db| async move {
        let s = &db.store;
        let ids = s
            .queue_mail(vec![mail("a@example.org"), mail("b@example.org")])
            .await
            .unwrap();
        assert_eq!(ids.len(), 2);
        let first = s.claim_mail(10, 100).await.unwrap().unwrap();
        assert_eq!(first.id, ids[0]);
        assert_eq!(first.headers["lang"], "fr");
        let second = s.claim_mail(10, 100).await.unwrap().unwrap();
        assert_eq!(second.id, ids[1]);
        assert!(
            s.claim_mail(10, 100).await.unwrap().is_none(),
            "leased messages are not claimed twice"
        );

        s.mail_failed(first.id, "connection refused", 500)
            .await
            .unwrap();
        s.mail_sent(second.id, 20).await.unwrap();
        assert!(s.claim_mail(499, 600).await.unwrap().is_none());
        let again = s.claim_mail(500, 600).await.unwrap().unwrap();
        assert_eq!((again.id, again.attempts), (first.id, 1));
        assert_eq!(again.last_error, "connection refused");
        s.mail_failed(again.id, "still down", 10_000).await.unwrap();
        assert_eq!(s.retry_mail_now(700).await.unwrap(), 1);
        assert_eq!(
            s.claim_mail(700, 800).await.unwrap().map(|m| m.id),
            Some(first.id)
        );

        let all = s.outbox(0, 10).await.unwrap();
        assert_eq!(all.len(), 2, "delivered messages are listed too");
        assert_eq!(all[1].sent_at, None);
        assert_eq!(all[0].sent_at, Some(20));
    })
    .await;
}

#[tokio::test]
async fn a_refused_message_is_held_until_an_admin_retries_it() {
    each_backend(|db| async move {
        let s = &db.store;
        s.queue_mail(vec![mail("gone@example.org")]).await.unwrap();
        let m = s.claim_mail(10, 100).await.unwrap().unwrap();
        s.mail_refused(m.id, "550 no such user", 11).await.unwrap();
        assert!(
            s.claim_mail(1_000_000, 1_000_100).await.unwrap().is_none(),
            "a refused message is not tried again on its own"
        );
        let kept = &s.outbox(0, 10).await.unwrap()[0];
        assert_eq!(
            (kept.refused_at, kept.attempts, kept.last_error.as_str()),
            (Some(11), 1, "550 no such user")
        );
        assert_eq!(s.retry_mail_now(20).await.unwrap(), 1);
        let again = s.claim_mail(20, 30).await.unwrap().unwrap();
        assert_eq!((again.id, again.refused_at), (m.id, None));
    })
    .await;
}

#[tokio::test]
async fn mail_templates_are_saved_per_kind_and_language() {
    each_backend(|db| async move {
        let s = &db.store;
        assert!(s
            .mail_template("session_open", "fr")
            .await
            .unwrap()
            .is_none());
        let mut t = MailTemplate {
            kind: "session_open".into(),
            lang: "fr".into(),
            subject: "Ouverture de {COURSE}".into(),
            text_body: "Bonjour".into(),
            html_body: "<p>Bonjour</p>".into(),
        };
        s.set_mail_template(&t, 1).await.unwrap();
        t.subject = "Session {COURSE}".into();
        s.set_mail_template(&t, 2).await.unwrap();
        assert_eq!(
            s.mail_template("session_open", "fr").await.unwrap(),
            Some(t)
        );
        assert!(s
            .mail_template("session_open", "en")
            .await
            .unwrap()
            .is_none());
    })
    .await;
}
