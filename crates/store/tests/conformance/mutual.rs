//! Mutualisation (migration 8): used jump ids, the delegation and presence kept with a roaming
//! account, its profile values replaced at each jump, and the purge of accounts not seen.

use crate::harness::{course, each_backend};
use crate::network::peer;
use crate::people::{local, user};
use pf_domain::user::{FieldEditor, Home};
use pf_store::StoredDelegation;

#[tokio::test]
async fn a_jump_id_is_used_once_until_it_expires() {
    each_backend(|db| async move {
        let s = &db.store;
        assert!(s.record_jump("j1", 1_120, 1_000).await.unwrap());
        assert!(!s.record_jump("j1", 1_120, 1_001).await.unwrap(), "replay");
        assert!(s.record_jump("j2", 1_120, 1_002).await.unwrap());
        // Once expired, the ids are forgotten (the token itself is refused by then).
        assert!(s.record_jump("j1", 2_120, 2_000).await.unwrap());
        assert!(!s.record_jump("j1", 2_120, 2_001).await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn a_roaming_account_keeps_its_delegation_and_only_the_latest_values() {
    each_backend(|db| async move {
        let s = &db.store;
        let p = s.create_peer(peer("lycee-a", "k-mutual")).await.unwrap();
        let u = s
            .create_user(user("amel", Home::Peer(p), None))
            .await
            .unwrap();
        assert_eq!(s.roaming_delegation(u).await.unwrap(), None);
        assert_eq!(s.roaming_last_seen(u).await.unwrap(), None);
        let d = StoredDelegation {
            token: "tok-1".into(),
            id: "d-1".into(),
            expires_at: 1_000 + 8 * 3600,
        };
        let values = [
            ("discipline".to_string(), "maths".to_string()),
            ("establishment_type".to_string(), "lycee".to_string()),
        ];
        s.roaming_jumped(u, 1_000, Some(&d), &values).await.unwrap();
        assert_eq!(s.roaming_delegation(u).await.unwrap(), Some(d.clone()));
        assert_eq!(s.roaming_last_seen(u).await.unwrap(), Some(1_000));
        assert_eq!(s.profile_values(u).await.unwrap(), values);
        // Fields first seen in a jump are defined admin-managed.
        assert!(s
            .profile_fields()
            .await
            .unwrap()
            .contains(&("discipline".to_string(), FieldEditor::Admin)));
        // A later jump without a delegation drops the old one and replaces the values.
        let fewer = [("discipline".to_string(), "physics".to_string())];
        s.roaming_jumped(u, 2_000, None, &fewer).await.unwrap();
        assert_eq!(s.roaming_delegation(u).await.unwrap(), None);
        assert_eq!(s.profile_values(u).await.unwrap(), fewer);
        // Seen again (a deploy made for it): the delegation is untouched.
        s.roaming_jumped(u, 2_500, Some(&d), &fewer).await.unwrap();
        s.roaming_seen(u, 3_000).await.unwrap();
        assert_eq!(s.roaming_last_seen(u).await.unwrap(), Some(3_000));
        assert_eq!(s.roaming_delegation(u).await.unwrap(), Some(d));
    })
    .await;
}

#[tokio::test]
async fn roaming_accounts_not_seen_are_purged_with_their_enrolments() {
    each_backend(|db| async move {
        let s = &db.store;
        let p = s.create_peer(peer("lycee-b", "k-purge")).await.unwrap();
        let (_, c) = course(s, "SHARED1").await;
        let old = s
            .create_user(user("old", Home::Peer(p), None))
            .await
            .unwrap();
        let recent = s
            .create_user(user("recent", Home::Peer(p), None))
            .await
            .unwrap();
        let never = s
            .create_user(user("never", Home::Peer(p), None))
            .await
            .unwrap();
        let mine = local(s, "mine").await;
        let kept = [("discipline".to_string(), "maths".to_string())];
        s.roaming_jumped(old, 1_000, None, &kept).await.unwrap();
        s.roaming_jumped(recent, 5_000, None, &kept).await.unwrap();
        s.roaming_seen(mine, 1_000).await.unwrap();
        s.enrol(old, c, "manual").await.unwrap();
        let gone = s.purge_roaming(4_000).await.unwrap();
        assert_eq!(gone, vec![("old".to_string(), p.0)]);
        assert!(s.user(old).await.is_err());
        assert!(s.profile_values(old).await.unwrap().is_empty());
        assert!(s.enrolments(c).await.unwrap().iter().all(|e| e.user != old));
        // Recent, never seen by a jump, and local accounts stay.
        for u in [recent, never, mine] {
            assert!(s.user(u).await.is_ok());
        }
        assert!(s.purge_roaming(4_000).await.unwrap().is_empty());
    })
    .await;
}
