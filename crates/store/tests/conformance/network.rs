//! Peers, grants, remote category trees, pairing codes, nonces and identity links.

use crate::harness::each_backend;
use crate::people::{local, user};
use pf_domain::admission::Grant;
use pf_domain::user::{Home, Username};
use pf_store::{NewPeer, PeerStatus, RemoteCategoryRecord, StoreError};
use std::collections::BTreeSet;

pub fn peer(name: &str, key: &str) -> NewPeer {
    NewPeer {
        name: name.into(),
        url: format!("https://{name}.example"),
        public_key: format!("pk-{key}"),
        key_id: key.into(),
        role: Some("catalog".into()),
        created_at: 1_000,
        grants: [Grant::Deploy, Grant::Sessions].into_iter().collect(),
    }
}

#[tokio::test]
async fn peers_are_keys_with_grants_status_and_a_synced_tree() {
    each_backend(|db| async move {
        let s = &db.store;
        let a = s.create_peer(peer("cat", "k1")).await.unwrap();
        assert!(matches!(
            s.create_peer(peer("cat", "k1")).await,
            Err(StoreError::Conflict { .. })
        ));
        // The same URL with a new key is a new peer.
        let b = s.create_peer(peer("cat", "k2")).await.unwrap();
        assert_ne!(a, b);
        let rec = s.peer_by_key_id("k1").await.unwrap().unwrap();
        assert_eq!(rec.id, a);
        assert_eq!(rec.status, PeerStatus::Active);
        assert_eq!(
            rec.grants,
            [Grant::Deploy, Grant::Sessions].into_iter().collect()
        );
        s.set_peer_grants(a, &[Grant::Publish].into_iter().collect())
            .await
            .unwrap();
        assert_eq!(
            s.peer_grants(a).await.unwrap(),
            [Grant::Publish].into_iter().collect::<BTreeSet<_>>()
        );
        let tree: Vec<_> = (1..=3000)
            .map(|i| RemoteCategoryRecord {
                remote_id: i,
                parent: (i > 1).then_some(i / 2),
                name: format!("Cat {i}"),
                idnumber: format!("C{i}"),
                path: format!("/{i}"),
            })
            .collect();
        s.record_scan(a, "catalog", 2_000, &tree).await.unwrap();
        assert_eq!(s.remote_category_count(a).await.unwrap(), 3000);
        assert_eq!(s.remote_categories(a).await.unwrap(), tree);
        // A tree with a duplicate id changes nothing.
        let mut bad = tree[..2].to_vec();
        bad.push(tree[0].clone());
        assert!(s.record_scan(a, "catalog", 3_000, &bad).await.is_err());
        assert_eq!(s.remote_category_count(a).await.unwrap(), 3000);
        assert_eq!(s.peer(a).await.unwrap().last_scan, Some(2_000));
        s.record_scan_error(a, "unreachable").await.unwrap();
        assert_eq!(
            s.peer(a).await.unwrap().last_error.as_deref(),
            Some("unreachable")
        );

        // Removing a peer disables its roaming accounts and hides it.
        let roamer = s
            .create_user(user("amel", Home::Peer(a), None))
            .await
            .unwrap();
        s.set_peer_status(a, PeerStatus::Disabled).await.unwrap();
        assert_eq!(s.peers().await.unwrap().len(), 2);
        s.set_peer_status(a, PeerStatus::Removed).await.unwrap();
        assert_eq!(s.peers().await.unwrap().len(), 1);
        assert!(s.user(roamer).await.unwrap().disabled);
        assert_eq!(s.peer(a).await.unwrap().status, PeerStatus::Removed);
    })
    .await;
}

#[tokio::test]
async fn pairing_codes_are_single_use_expire_and_are_revoked_after_five_failures() {
    each_backend(|db| async move {
        let s = &db.store;
        s.create_pairing_code("d1", "key1", 100, 3700)
            .await
            .unwrap();
        assert!(s.live_pairing_code("d1", 200).await.unwrap().is_some());
        assert!(
            s.live_pairing_code("d1", 3700).await.unwrap().is_none(),
            "expired"
        );
        assert!(s.use_pairing_code("d1", 200).await.unwrap());
        assert!(!s.use_pairing_code("d1", 201).await.unwrap(), "single use");
        assert!(s.live_pairing_code("d1", 202).await.unwrap().is_none());

        s.create_pairing_code("d2", "key2", 100, 3700)
            .await
            .unwrap();
        for n in 1..=5 {
            assert_eq!(s.fail_pairing_code("d2").await.unwrap(), n);
        }
        assert!(s.live_pairing_code("d2", 200).await.unwrap().is_none());
        assert!(!s.use_pairing_code("d2", 200).await.unwrap(), "revoked");

        s.create_pairing_code("d3", "key3", 100, 3700)
            .await
            .unwrap();
        s.purge_pairing_codes(4000).await.unwrap();
        assert!(
            !s.use_pairing_code("d3", 200).await.unwrap(),
            "expired codes lose their key"
        );
    })
    .await;
}

#[tokio::test]
async fn nonces_are_refused_twice_until_they_expire() {
    each_backend(|db| async move {
        let s = &db.store;
        assert!(s.record_nonce("k1", "n1", 700, 100).await.unwrap());
        assert!(!s.record_nonce("k1", "n1", 700, 200).await.unwrap());
        assert!(s.record_nonce("k2", "n1", 700, 200).await.unwrap());
        assert!(
            s.record_nonce("k1", "n1", 1400, 800).await.unwrap(),
            "expired and purged"
        );
    })
    .await;
}

#[tokio::test]
async fn identity_links_are_explicit() {
    each_backend(|db| async move {
        let s = &db.store;
        let p = s.create_peer(peer("fac", "k9")).await.unwrap();
        let admin = local(s, "admin").await;
        let name = Username::parse("admin").unwrap();
        assert_eq!(s.linked_user(&name, p).await.unwrap(), None);
        s.link_identity(&name, p, admin, 5).await.unwrap();
        assert_eq!(s.linked_user(&name, p).await.unwrap(), Some(admin));
    })
    .await;
}
