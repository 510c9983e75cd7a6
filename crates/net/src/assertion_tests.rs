use super::*;
use crate::clock::ManualClock;
use crate::delegation::issue_delegation;
use crate::token::TOKEN_LEEWAY;

const T0: u64 = 1_700_000_000;

struct F {
    caller: Identity,
    receiver: Identity,
    third: Identity,
    clock: ManualClock,
}

fn f() -> F {
    F {
        caller: Identity::generate(),
        receiver: Identity::generate(),
        third: Identity::generate(),
        clock: ManualClock::new(T0),
    }
}

fn user(name: &str) -> Username {
    Username::parse(name).unwrap()
}

impl F {
    fn assert_for(&self, home: &KeyId) -> String {
        issue_user_assertion(
            &self.caller,
            &user("alice"),
            home,
            &self.receiver.key_id(),
            &self.clock,
        )
        .unwrap()
    }
    fn verify(&self, token: &str, delegation: Option<&str>) -> Result<ActingUser, AssertionError> {
        verify_user_assertion(
            token,
            self.caller.public_key(),
            self.receiver.public_key(),
            Some(Purpose::DeployHome),
            delegation,
            &self.clock,
        )
    }
}

#[test]
fn callers_own_user_is_accepted_as_own() {
    let f = f();
    let token = f.assert_for(&f.caller.key_id());
    let acting = f.verify(&token, None).unwrap();
    assert_eq!(acting.username, user("alice"));
    assert_eq!(acting.home, f.caller.key_id());
    assert_eq!(acting.binding, Binding::OwnUser);
    assert_eq!(acting.nonce.len(), 22);
}

#[test]
fn user_of_another_peer_is_refused() {
    let f = f();
    // The issuing API refuses it…
    assert_eq!(
        issue_user_assertion(
            &f.caller,
            &user("alice"),
            &f.third.key_id(),
            &f.receiver.key_id(),
            &f.clock
        ),
        Err(AssertionError::ForeignUser(f.third.key_id()))
    );
    // …and a hand-made one is refused on arrival.
    let claims = UserAssertion {
        username: user("alice"),
        home: f.third.key_id(),
        issuer: f.caller.key_id(),
        audience: f.receiver.key_id(),
        issued_at: T0,
        expires_at: T0 + 60,
        nonce: "n".into(),
    };
    let token = token::seal(&f.caller, KIND, &claims);
    assert_eq!(
        f.verify(&token, None),
        Err(AssertionError::ForeignUser(f.third.key_id()))
    );
}

#[test]
fn assertion_signed_by_another_key_or_naming_another_issuer_is_refused() {
    let f = f();
    // The third platform signs an assertion naming the caller as issuer.
    let forged = issue_user_assertion(
        &f.third,
        &user("alice"),
        &f.third.key_id(),
        &f.receiver.key_id(),
        &f.clock,
    )
    .unwrap();
    assert_eq!(
        f.verify(&forged, None),
        Err(AssertionError::Token(TokenError::BadSignature))
    );
    let claims = UserAssertion {
        username: user("alice"),
        home: f.caller.key_id(),
        issuer: f.third.key_id(),
        audience: f.receiver.key_id(),
        issued_at: T0,
        expires_at: T0 + 60,
        nonce: "n".into(),
    };
    let token = token::seal(&f.caller, KIND, &claims);
    assert_eq!(
        f.verify(&token, None),
        Err(AssertionError::Token(TokenError::WrongIssuer(
            f.third.key_id()
        )))
    );
}

#[test]
fn assertion_for_another_receiver_or_expired_is_refused() {
    let f = f();
    let elsewhere = issue_user_assertion(
        &f.caller,
        &user("alice"),
        &f.caller.key_id(),
        &f.third.key_id(),
        &f.clock,
    )
    .unwrap();
    assert_eq!(
        f.verify(&elsewhere, None),
        Err(AssertionError::Token(TokenError::WrongAudience(
            f.third.key_id()
        )))
    );
    let token = f.assert_for(&f.caller.key_id());
    f.clock.advance(ASSERTION_MAX_LIFETIME + TOKEN_LEEWAY);
    assert!(matches!(
        f.verify(&token, None),
        Err(AssertionError::Token(TokenError::Expired { .. }))
    ));
}

#[test]
fn receivers_own_user_needs_the_receivers_delegation() {
    let f = f();
    let token = f.assert_for(&f.receiver.key_id());
    assert_eq!(
        f.verify(&token, None),
        Err(AssertionError::DelegationRequired)
    );
    assert_eq!(
        verify_user_assertion(
            &token,
            f.caller.public_key(),
            f.receiver.public_key(),
            None,
            None,
            &f.clock
        ),
        Err(AssertionError::NotDelegable)
    );
    // The receiver (the user's home) delegated to the caller: accepted, with the id to audit.
    let (delegation, issued) = issue_delegation(
        &f.receiver,
        &user("alice"),
        &f.caller.key_id(),
        Purpose::DeployHome,
        3600,
        &f.clock,
    )
    .unwrap();
    let acting = f.verify(&token, Some(&delegation)).unwrap();
    assert_eq!(acting.home, f.receiver.key_id());
    assert_eq!(acting.binding, Binding::Delegated(issued));
}

#[test]
fn delegations_not_signed_by_the_receiver_or_for_someone_else_are_refused() {
    let f = f();
    let token = f.assert_for(&f.receiver.key_id());
    // The caller delegating to itself.
    let (self_made, _) = issue_delegation(
        &f.caller,
        &user("alice"),
        &f.caller.key_id(),
        Purpose::DeployHome,
        3600,
        &f.clock,
    )
    .unwrap();
    assert_eq!(
        f.verify(&token, Some(&self_made)),
        Err(AssertionError::Delegation(DelegationError::Token(
            TokenError::BadSignature
        )))
    );
    // A delegation the receiver gave to the third platform.
    let (to_third, _) = issue_delegation(
        &f.receiver,
        &user("alice"),
        &f.third.key_id(),
        Purpose::DeployHome,
        3600,
        &f.clock,
    )
    .unwrap();
    assert_eq!(
        f.verify(&token, Some(&to_third)),
        Err(AssertionError::Delegation(DelegationError::WrongPresenter(
            f.third.key_id()
        )))
    );
    // A delegation for bob used for alice.
    let (for_bob, _) = issue_delegation(
        &f.receiver,
        &user("bob"),
        &f.caller.key_id(),
        Purpose::DeployHome,
        3600,
        &f.clock,
    )
    .unwrap();
    assert_eq!(
        f.verify(&token, Some(&for_bob)),
        Err(AssertionError::Delegation(DelegationError::WrongUser(
            user("bob")
        )))
    );
    // An expired delegation, with a fresh assertion.
    let (short, _) = issue_delegation(
        &f.receiver,
        &user("alice"),
        &f.caller.key_id(),
        Purpose::DeployHome,
        60,
        &f.clock,
    )
    .unwrap();
    f.clock.advance(60 + TOKEN_LEEWAY);
    let fresh = f.assert_for(&f.receiver.key_id());
    assert!(matches!(
        f.verify(&fresh, Some(&short)),
        Err(AssertionError::Delegation(DelegationError::Token(
            TokenError::Expired { .. }
        )))
    ));
    // A user assertion passed as a delegation.
    assert!(matches!(
        f.verify(&fresh, Some(&fresh)),
        Err(AssertionError::Delegation(DelegationError::Token(
            TokenError::WrongKind { .. }
        )))
    ));
}
