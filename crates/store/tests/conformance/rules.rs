//! Profile rules on categories and courses, and the fields trusted per peer.

use crate::harness::{course, each_backend};
use crate::network::peer;
use pf_domain::access::Context;
use pf_domain::ids::{CategoryId, CourseId};
use pf_domain::rules::{Rule, RuleGrant};
use pf_store::StoreError;

#[tokio::test]
async fn rules_are_kept_per_context_and_trusted_fields_per_peer() {
    each_backend(|db| async move {
        let s = &db.store;
        let (cat, c) = course(s, "MATH1").await;
        let rule = Rule::parse("discipline in [maths, physics]").unwrap();
        let on_cat = s
            .add_rule(Context::Category(cat), RuleGrant::Consult, &rule)
            .await
            .unwrap();
        let deploy = Rule::parse("establishment_type = lycee").unwrap();
        s.add_rule(Context::Course(c), RuleGrant::Deploy, &deploy)
            .await
            .unwrap();
        assert!(matches!(
            s.add_rule(Context::Course(CourseId(999)), RuleGrant::Consult, &rule)
                .await,
            Err(StoreError::NotFound { .. })
        ));
        assert!(matches!(
            s.add_rule(Context::System, RuleGrant::Consult, &rule).await,
            Err(StoreError::Invalid(_))
        ));
        let chain = s.context_chain(Context::Course(c)).await.unwrap();
        let found = s.rules_on(&chain).await.unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].rule, rule);
        assert!(s
            .rules_on(&[Context::Category(CategoryId(cat.0 + 100))])
            .await
            .unwrap()
            .is_empty());
        s.delete_rule(on_cat).await.unwrap();
        assert_eq!(s.rules().await.unwrap().len(), 1);
        assert!(matches!(
            s.delete_rule(on_cat).await,
            Err(StoreError::NotFound { .. })
        ));

        let p = s.create_peer(peer("lycee-a", "k-rules")).await.unwrap();
        s.set_trusted_fields(p, &["discipline".into(), "establishment_type".into()])
            .await
            .unwrap();
        s.set_trusted_fields(p, &["discipline".into()])
            .await
            .unwrap();
        assert_eq!(s.trusted_fields(p).await.unwrap(), ["discipline"]);
    })
    .await;
}
