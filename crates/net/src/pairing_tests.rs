use super::*;
use crate::keys::Identity;

fn side(name: &str, url: &str, role: PlatformRole, id: &Identity) -> PairSide {
    PairSide {
        name: name.into(),
        url: url.into(),
        role,
        public_key: *id.public_key(),
    }
}

struct F {
    code: PairingCode,
    inviter: PairSide,
    redeemer: PairSide,
}

fn f() -> F {
    F {
        code: PairingCode::generate(),
        inviter: side(
            "catalog",
            "https://catalog.example",
            PlatformRole::Catalog,
            &Identity::generate(),
        ),
        redeemer: side(
            "factory",
            "https://factory.example",
            PlatformRole::Factory,
            &Identity::generate(),
        ),
    }
}

#[test]
fn codes_look_right_and_normalise() {
    let code = PairingCode::generate();
    let text = code.to_string();
    assert_eq!(text.len(), 24);
    assert!(text
        .split('-')
        .all(|g| g.len() == 4 && g.bytes().all(|b| ALPHABET.contains(&b))));
    assert_eq!(PairingCode::parse(&text).unwrap(), code);
    assert_eq!(
        PairingCode::parse(&text.to_lowercase().replace('-', " ")).unwrap(),
        code
    );
    assert_ne!(PairingCode::generate(), code);
    // 20 symbols of 5 bits each.
    const { assert!(SYMBOLS * 5 >= 80) };
    let typed = PairingCode::parse(" o1il-0000 1111-ABCD\tefgh ").unwrap();
    assert_eq!(typed.to_string(), "0111-0000-1111-ABCD-EFGH");
    for bad in [
        "",
        "0000-0000-0000-0000-000",
        "0000-0000-0000-0000-00000",
        "0000-0000-0000-0000-000U",
        "0000_0000_0000_0000_0000",
        "0000-0000-0000-0000-000\u{e9}",
    ] {
        assert_eq!(PairingCode::parse(bad), Err(PairingError::BadCode), "{bad}");
    }
    assert_eq!(
        PairingCode::parse("jkmn-0000-1111-ABCD-EFGH")
            .unwrap()
            .to_string(),
        "JKMN-0000-1111-ABCD-EFGH"
    );
}

#[test]
fn digest_and_proof_key_are_one_way_stable_and_redacted() {
    let code = PairingCode::parse("ABCD-EFGH-JKMN-PQRS-TVWX").unwrap();
    let again = PairingCode::parse("abcd efgh jkmn pqrs tvwx").unwrap();
    assert!(code.digest().matches(&again.digest()));
    assert!(!code.digest().matches(&PairingCode::generate().digest()));
    assert!(!code.digest().as_str().contains("ABCD"));
    assert_eq!(
        CodeDigest::parse(code.digest().as_str()).unwrap(),
        code.digest()
    );
    assert!(CodeDigest::parse("nope").is_err());
    let key = code.proof_key();
    assert_eq!(
        ProofKey::from_hex(&key.to_hex()).unwrap().to_hex(),
        key.to_hex()
    );
    assert_ne!(
        key.to_hex(),
        code.digest().as_str(),
        "the stored digest does not give the proof key"
    );
    assert_eq!(format!("{code:?}"), "PairingCode(<redacted>)");
    assert!(!format!("{key:?}").contains(&key.to_hex()));
}

#[test]
fn the_three_message_exchange_pairs_both_sides() {
    let f = f();
    let (hello, redeeming) = start_pairing(&f.code, "https://catalog.example/", &f.redeemer);
    // Through JSON, as on the wire.
    let hello: PairHello = serde_json::from_str(&serde_json::to_string(&hello).unwrap()).unwrap();
    assert!(hello.code_id.matches(&f.code.digest()));
    let (welcome, peer) = answer_hello(&hello, &f.code.proof_key(), &f.inviter).unwrap();
    assert_eq!(peer, f.redeemer);
    let welcome: PairWelcome =
        serde_json::from_str(&serde_json::to_string(&welcome).unwrap()).unwrap();
    assert_eq!(redeeming.finish(&welcome).unwrap(), f.inviter);
}

#[test]
fn wrong_code_is_refused_by_the_inviter() {
    let f = f();
    let (hello, _) = start_pairing(
        &PairingCode::generate(),
        "https://catalog.example",
        &f.redeemer,
    );
    assert_eq!(
        answer_hello(&hello, &f.code.proof_key(), &f.inviter).unwrap_err(),
        PairingError::BadProof
    );
}

#[test]
fn relay_swapping_the_redeemers_key_or_details_is_detected_by_the_inviter() {
    let f = f();
    let mallory = Identity::generate();
    let (hello, _) = start_pairing(&f.code, "https://catalog.example", &f.redeemer);
    let mut swapped = hello.clone();
    swapped.redeemer.public_key = *mallory.public_key();
    assert_eq!(
        answer_hello(&swapped, &f.code.proof_key(), &f.inviter).unwrap_err(),
        PairingError::BadProof
    );
    let mut renamed = hello.clone();
    renamed.redeemer.url = "https://mallory.example".into();
    assert_eq!(
        answer_hello(&renamed, &f.code.proof_key(), &f.inviter).unwrap_err(),
        PairingError::BadProof
    );
    let mut promoted = hello.clone();
    promoted.redeemer.role = PlatformRole::Catalog;
    assert_eq!(
        answer_hello(&promoted, &f.code.proof_key(), &f.inviter).unwrap_err(),
        PairingError::BadProof
    );
}

#[test]
fn relay_swapping_the_inviters_key_is_detected_by_the_redeemer() {
    let f = f();
    let mallory = Identity::generate();
    let (hello, redeeming) = start_pairing(&f.code, "https://catalog.example", &f.redeemer);
    let (mut welcome, _) = answer_hello(&hello, &f.code.proof_key(), &f.inviter).unwrap();
    welcome.inviter.public_key = *mallory.public_key();
    assert_eq!(
        redeeming.finish(&welcome).unwrap_err(),
        PairingError::BadProof
    );
}

#[test]
fn relay_swapping_the_key_in_the_hello_and_the_inviter_answering_is_detected_by_the_redeemer() {
    // Even if a relay got an inviter to answer a hello it altered (it cannot, without the code,
    // but say the inviter were lax), the welcome's proof covers the redeemer key the inviter saw.
    let f = f();
    let mallory = Identity::generate();
    let (hello, redeeming) = start_pairing(&f.code, "https://catalog.example", &f.redeemer);
    let mut altered = hello.clone();
    altered.redeemer.public_key = *mallory.public_key();
    let nonce = b64(&random_bytes::<16>());
    let proof = b64(&f
        .code
        .proof_key()
        .mac(&transcript(&altered, Some((&f.inviter, &nonce))))
        .finalize()
        .into_bytes());
    let welcome = PairWelcome {
        inviter: f.inviter.clone(),
        nonce,
        proof,
    };
    assert_eq!(
        redeeming.finish(&welcome).unwrap_err(),
        PairingError::BadProof
    );
}

#[test]
fn a_hello_forwarded_to_another_url_or_a_welcome_naming_another_url_is_refused() {
    let f = f();
    let (hello, _) = start_pairing(&f.code, "https://relay.example", &f.redeemer);
    assert_eq!(
        answer_hello(&hello, &f.code.proof_key(), &f.inviter).unwrap_err(),
        PairingError::WrongUrl("https://relay.example".into())
    );
    // The inviter says its URL is another one than the redeemer called (both honest but
    // misconfigured, or a relay): the redeemer refuses to record a URL it did not verify.
    let (hello, redeeming) = start_pairing(&f.code, "https://catalog.example", &f.redeemer);
    let mut other = f.inviter.clone();
    other.url = "https://catalog.example/".into();
    let (welcome, _) = answer_hello(&hello, &f.code.proof_key(), &other).unwrap();
    assert!(
        redeeming.finish(&welcome).is_ok(),
        "a trailing slash is the same URL"
    );
    let (hello, redeeming) = start_pairing(&f.code, "https://catalog.example", &f.redeemer);
    let (mut welcome, _) = answer_hello(&hello, &f.code.proof_key(), &f.inviter).unwrap();
    welcome.inviter.url = "https://elsewhere.example".into();
    assert_eq!(
        redeeming.finish(&welcome).unwrap_err(),
        PairingError::BadProof
    );
}

#[test]
fn a_welcome_from_another_exchange_is_refused() {
    let f = f();
    let (hello1, _) = start_pairing(&f.code, "https://catalog.example", &f.redeemer);
    let (welcome1, _) = answer_hello(&hello1, &f.code.proof_key(), &f.inviter).unwrap();
    let (_, redeeming2) = start_pairing(&f.code, "https://catalog.example", &f.redeemer);
    assert_eq!(
        redeeming2.finish(&welcome1).unwrap_err(),
        PairingError::BadProof
    );
}

#[test]
fn self_pairing_and_bad_fields_are_refused() {
    let f = f();
    let mut me_again = f.redeemer.clone();
    me_again.url = "https://catalog.example".into();
    let (hello, _) = start_pairing(&f.code, "https://catalog.example", &f.redeemer);
    let inviter_with_my_key = PairSide {
        public_key: f.redeemer.public_key,
        ..f.inviter.clone()
    };
    assert_eq!(
        answer_hello(&hello, &f.code.proof_key(), &inviter_with_my_key).unwrap_err(),
        PairingError::SelfPairing
    );
    for (name, url) in [
        ("", "https://x.example"),
        ("x", "ftp://x.example"),
        ("x", "https://x .example"),
        ("a\nb", "https://x.example"),
    ] {
        let bad = PairSide {
            name: name.into(),
            url: url.into(),
            ..f.redeemer.clone()
        };
        let (hello, _) = start_pairing(&f.code, "https://catalog.example", &bad);
        assert!(matches!(
            answer_hello(&hello, &f.code.proof_key(), &f.inviter),
            Err(PairingError::InvalidField(_))
        ));
    }
    let (mut hello, _) = start_pairing(&f.code, "https://catalog.example", &f.redeemer);
    hello.proof = "!!".into();
    assert_eq!(
        answer_hello(&hello, &f.code.proof_key(), &f.inviter).unwrap_err(),
        PairingError::BadProof
    );
    let json = serde_json::to_value(&hello).unwrap();
    let mut extra = json.clone();
    extra["admin"] = true.into();
    assert!(serde_json::from_value::<PairHello>(extra).is_err());
}
