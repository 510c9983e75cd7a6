//! Sessions, the login throttle, API tokens and the audit log.

use crate::harness::each_backend;
use crate::people::local;
use pf_domain::ids::{JobId, PeerId, UserId};
use pf_store::{unix_now, NewAudit, NewSession, NewToken, StoreError};
use serde_json::json;

fn session(id: &str, user: UserId, expires_at: i64) -> NewSession {
    NewSession {
        id_hash: id.into(),
        user,
        csrf_token: format!("csrf-{id}"),
        created_at: unix_now(),
        expires_at,
        lang: Some("fr".into()),
    }
}

#[tokio::test]
async fn sessions_expire_and_end() {
    each_backend(|db| async move {
        let s = &db.store;
        let u = local(s, "amel").await;
        let now = unix_now();
        s.create_session(session("live", u, now + 3600))
            .await
            .unwrap();
        s.create_session(session("old", u, now - 1)).await.unwrap();
        assert!(matches!(
            s.create_session(session("live", u, now + 60)).await,
            Err(StoreError::Conflict { .. })
        ));
        assert!(matches!(
            s.create_session(session("ghost", UserId(999), now + 60))
                .await,
            Err(StoreError::NotFound { .. })
        ));
        let got = s.session("live").await.unwrap().unwrap();
        assert_eq!(
            (got.user, got.csrf_token.as_str(), got.lang.as_deref()),
            (u, "csrf-live", Some("fr"))
        );
        assert_eq!(s.session("old").await.unwrap(), None);
        assert_eq!(s.session("nope").await.unwrap(), None);
        assert_eq!(s.delete_expired_sessions(now).await.unwrap(), 1);
        s.delete_session("live").await.unwrap();
        assert_eq!(s.session("live").await.unwrap(), None);
        s.create_session(session("a", u, now + 60)).await.unwrap();
        s.create_session(NewSession {
            lang: None,
            ..session("b", u, now + 60)
        })
        .await
        .unwrap();
        assert_eq!(s.session("b").await.unwrap().unwrap().lang, None);
        assert_eq!(s.delete_user_sessions(u).await.unwrap(), 2);
    })
    .await;
}

#[tokio::test]
async fn failed_logins_are_counted_per_key() {
    each_backend(|db| async move {
        let s = &db.store;
        for at in [100, 200, 300] {
            s.record_failed_login("amel", at).await.unwrap();
        }
        s.record_failed_login("127.0.0.1", 250).await.unwrap();
        assert_eq!(s.failed_logins_since("amel", 0).await.unwrap(), 3);
        assert_eq!(s.failed_logins_since("amel", 200).await.unwrap(), 2);
        assert_eq!(s.failed_logins_since("bob", 0).await.unwrap(), 0);
        s.clear_failed_logins("amel").await.unwrap();
        assert_eq!(s.failed_logins_since("amel", 0).await.unwrap(), 0);
        assert_eq!(s.purge_failed_logins(300).await.unwrap(), 1);
        assert_eq!(s.failed_logins_since("127.0.0.1", 0).await.unwrap(), 0);
    })
    .await;
}

#[tokio::test]
async fn tokens_expire_and_are_revoked() {
    each_backend(|db| async move {
        let s = &db.store;
        let u = local(s, "amel").await;
        let now = unix_now();
        let token = |name: &str, hash: &str, expires_at| NewToken {
            user: u,
            name: name.into(),
            token_hash: hash.into(),
            created_at: now,
            expires_at,
        };
        let live = s
            .create_token(token("ci", "h-live", now + 3600))
            .await
            .unwrap();
        let expired = s
            .create_token(token("old", "h-old", now - 1))
            .await
            .unwrap();
        assert!(matches!(
            s.create_token(token("dup", "h-live", now + 60)).await,
            Err(StoreError::Conflict { .. })
        ));
        let got = s.token_by_hash("h-live").await.unwrap().unwrap();
        assert_eq!(
            (got.id, got.user, got.name.as_str(), got.revoked_at),
            (live, u, "ci", None)
        );
        assert_eq!(s.token_by_hash("h-old").await.unwrap(), None);
        assert_eq!(s.token_by_hash("unknown").await.unwrap(), None);

        s.revoke_token(live).await.unwrap();
        s.revoke_token(live).await.unwrap();
        assert_eq!(s.token_by_hash("h-live").await.unwrap(), None);
        assert!(s.token(live).await.unwrap().revoked_at.is_some());
        assert!(matches!(
            s.revoke_token(999).await,
            Err(StoreError::NotFound { .. })
        ));
        let ids: Vec<_> = s
            .tokens(u)
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(ids, vec![expired, live]);
    })
    .await;
}

#[tokio::test]
async fn the_audit_log_is_appended_listed_and_purged() {
    each_backend(|db| async move {
        let s = &db.store;
        for (i, at) in [100, 200, 300].into_iter().enumerate() {
            s.append_audit(NewAudit {
                at,
                actor: "amel".into(),
                action: "course.publish".into(),
                target: format!("course:{i}"),
                peer: (i == 1).then_some(PeerId(7)),
                job: (i == 1).then_some(JobId(9)),
                result: "ok".into(),
                details: json!({"n": i, "note": "l'été"}),
            })
            .await
            .unwrap();
        }
        let all = s.audit(0, 10).await.unwrap();
        assert_eq!(
            all.iter().map(|a| a.at).collect::<Vec<_>>(),
            vec![300, 200, 100]
        );
        assert_eq!(
            (all[1].peer, all[1].job, all[0].peer),
            (Some(PeerId(7)), Some(JobId(9)), None)
        );
        assert_eq!(all[2].details, json!({"n": 0, "note": "l'été"}));
        assert_eq!(s.audit(1, 1).await.unwrap()[0].at, 200);
        assert_eq!(s.purge_audit(200).await.unwrap(), 1);
        assert_eq!(s.audit(0, 10).await.unwrap().len(), 2);
    })
    .await;
}
