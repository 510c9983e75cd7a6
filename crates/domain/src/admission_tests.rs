use super::*;
use crate::platform::PlatformRole as R;

fn set(grants: &[Grant]) -> BTreeSet<Grant> {
    grants.iter().copied().collect()
}

const OPS: [Operation; 4] = [
    Operation::Publish,
    Operation::Deploy,
    Operation::Retrofit,
    Operation::Sessions,
];
const ACCOUNTS: [AccountFacts; 4] = [
    AccountFacts::None,
    AccountFacts::Disabled,
    AccountFacts::Holds,
    AccountFacts::Lacks,
];

/// The whole table: every operation × account fact × grant held or not × assertion made or not.
#[test]
fn the_whole_admission_table() {
    for op in OPS {
        for account in ACCOUNTS {
            for granted in [false, true] {
                for asserted in [false, true] {
                    let grants = if granted {
                        set(&[op.grant()])
                    } else {
                        // Every other grant, to prove only the matching one counts.
                        Grant::ALL
                            .into_iter()
                            .filter(|g| *g != op.grant())
                            .collect()
                    };
                    let claims: Vec<Capability> = if asserted {
                        vec![op.source_capabilities()[0]]
                    } else {
                        // Every capability but the matching ones.
                        Capability::ALL
                            .iter()
                            .copied()
                            .filter(|c| !op.source_capabilities().contains(c))
                            .collect()
                    };
                    let got = decide(&AdmissionFacts {
                        operation: op,
                        account,
                        grants: &grants,
                        asserted: &claims,
                    });
                    let want = match (account, granted && asserted) {
                        (AccountFacts::Disabled, _) => Err(Refused::DisabledAccount),
                        (AccountFacts::Holds, _) => Ok(Admitted::ByAccount),
                        (_, true) => Ok(Admitted::ByGrant),
                        (AccountFacts::Lacks, false) => Err(Refused::MissingCapability),
                        (AccountFacts::None, false) => Err(Refused::NotAdmitted),
                    };
                    assert_eq!(
                        got, want,
                        "{op:?} {account:?} granted={granted} asserted={asserted}"
                    );
                }
            }
        }
    }
}

#[test]
fn deploy_accepts_either_deploy_capability_and_capabilities_are_per_operation() {
    let grants = set(&[Grant::Deploy]);
    for cap in [Capability::Deploy, Capability::DeployEverywhere] {
        let facts = AdmissionFacts {
            operation: Operation::Deploy,
            account: AccountFacts::None,
            grants: &grants,
            asserted: &[cap],
        };
        assert_eq!(decide(&facts), Ok(Admitted::ByGrant));
    }
    assert_eq!(
        Operation::Deploy.landing_capability(),
        Capability::CourseCreate
    );
    assert_eq!(
        Operation::Retrofit.landing_capability(),
        Capability::CourseCreate
    );
    assert_eq!(Operation::Publish.landing_capability(), Capability::Publish);
    assert_eq!(Operation::Sessions.landing_capability(), Capability::Manage);
}

#[test]
fn default_grants_follow_duties() {
    use Grant::*;
    let cases = [
        (R::Catalog, R::Factory, set(&[Publish])),
        (R::Catalog, R::Training, set(&[])),
        (R::Training, R::Catalog, set(&[Deploy, Sessions])),
        (R::Training, R::Factory, set(&[Deploy])),
        (R::Factory, R::Training, set(&[Retrofit])),
        (R::Factory, R::Catalog, set(&[])),
        (
            R::FactoryCatalog,
            R::FactoryTraining,
            set(&[Publish, Retrofit]),
        ),
        (
            R::FactoryTraining,
            R::FactoryCatalog,
            set(&[Deploy, Sessions]),
        ),
        (R::Normal, R::FactoryCatalog, set(&[])),
        (R::Training, R::Normal, set(&[])),
    ];
    for (local, peer, want) in cases {
        assert_eq!(default_grants(local, peer), want, "{local} ← {peer}");
    }
}

#[test]
fn grant_lists_parse_strictly() {
    assert_eq!(
        Grant::parse_list("deploy, publish,deploy").unwrap(),
        set(&[Grant::Deploy, Grant::Publish])
    );
    assert_eq!(Grant::parse_list("").unwrap(), set(&[]));
    assert!(Grant::parse_list("publish,admin").is_err());
    assert!(Grant::parse_list("Publish").is_err());
}
