use super::*;
use crate::clock::ManualClock;
use crate::encoding::sha256;
use std::collections::HashSet;

const T0: u64 = 1_700_000_000;

struct Fixture {
    caller: Identity,
    receiver: Identity,
    clock: ManualClock,
}

fn fixture() -> Fixture {
    Fixture {
        caller: Identity::generate(),
        receiver: Identity::generate(),
        clock: ManualClock::new(T0),
    }
}

impl Fixture {
    fn sign(&self, method: &str, target: &str, body: &[u8]) -> SignedRequest {
        sign_request(
            &self.caller,
            &self.receiver.key_id(),
            method,
            target,
            &sha256(body),
            Acting::NONE,
            &self.clock,
        )
        .unwrap()
    }

    fn lookup(&self) -> impl Fn(&KeyId) -> Option<PeerKeyStatus> + '_ {
        move |k: &KeyId| {
            (k == &self.caller.key_id()).then(|| PeerKeyStatus::Active(*self.caller.public_key()))
        }
    }

    fn verify(
        &self,
        method: &str,
        target: &str,
        headers: &[(&'static str, String)],
        body: &[u8],
    ) -> Result<VerifiedRequest, VerifyError> {
        verify_request(
            method,
            target,
            headers,
            &sha256(body),
            &self.receiver.key_id(),
            self.lookup(),
            &self.clock,
        )
    }
}

fn set(headers: &mut [(&'static str, String)], name: &str, value: &str) {
    headers.iter_mut().find(|(k, _)| *k == name).unwrap().1 = value.to_owned();
}

#[test]
fn a_signed_request_verifies_and_names_the_nonce_to_record() {
    let f = fixture();
    let signed = f.sign("POST", "/rpc/deploy?x=1", b"{}");
    let names: Vec<_> = signed.headers.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        names,
        [
            headers::CALLER,
            headers::RECEIVER,
            headers::TIMESTAMP,
            headers::NONCE,
            headers::BODY_SHA256,
            headers::SIGNATURE
        ]
    );
    let v = f
        .verify("POST", "/rpc/deploy?x=1", &signed.headers, b"{}")
        .unwrap();
    assert_eq!(v.caller, f.caller.key_id());
    assert_eq!(v.caller_key, *f.caller.public_key());
    assert_eq!(v.nonce, signed.nonce);
    assert_eq!(v.timestamp, T0);
    assert_eq!(v.record_until, T0 + NONCE_TTL);
    assert_eq!(Nonce::parse(signed.nonce.as_str()).unwrap(), signed.nonce);
}

#[test]
fn nonces_are_fresh_and_at_least_128_bits() {
    let a = Nonce::generate();
    assert_ne!(a, Nonce::generate());
    assert_eq!(unb64(a.as_str()).unwrap().len(), 16);
    assert!(Nonce::parse("short").is_none());
    assert!(Nonce::parse(&"A".repeat(200)).is_none());
}

#[test]
fn replayed_request_yields_the_same_nonce_so_the_store_refuses_it() {
    let f = fixture();
    let signed = f.sign("GET", "/rpc/describe", b"");
    let mut seen = HashSet::new();
    let first = f
        .verify("GET", "/rpc/describe", &signed.headers, b"")
        .unwrap();
    assert!(seen.insert((first.caller.clone(), first.nonce.clone())));
    let replay = f
        .verify("GET", "/rpc/describe", &signed.headers, b"")
        .unwrap();
    assert!(
        !seen.insert((replay.caller, replay.nonce)),
        "the replay carries the recorded nonce"
    );
    // A replay later than the window is refused by time, after the nonce could be forgotten.
    f.clock.advance(MAX_CLOCK_SKEW + 1);
    assert!(matches!(
        f.verify("GET", "/rpc/describe", &signed.headers, b""),
        Err(VerifyError::StaleTimestamp { .. })
    ));
    assert!(first.record_until > T0 + MAX_CLOCK_SKEW);
}

#[test]
fn forged_signature_is_refused() {
    let f = fixture();
    let mut signed = f.sign("GET", "/rpc/describe", b"");
    let mut sig = unb64(&signed.headers[5].1).unwrap();
    sig[0] ^= 0x01;
    set(&mut signed.headers, headers::SIGNATURE, &b64(&sig));
    assert_eq!(
        f.verify("GET", "/rpc/describe", &signed.headers, b""),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn a_key_claiming_another_peers_id_is_refused() {
    let f = fixture();
    let mallory = Identity::generate();
    let mut signed = sign_request(
        &mallory,
        &f.receiver.key_id(),
        "GET",
        "/rpc/describe",
        &sha256(b""),
        Acting::NONE,
        &f.clock,
    )
    .unwrap();
    set(
        &mut signed.headers,
        headers::CALLER,
        f.caller.key_id().as_str(),
    );
    assert_eq!(
        f.verify("GET", "/rpc/describe", &signed.headers, b""),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn request_relayed_to_a_third_platform_is_refused() {
    let f = fixture();
    let third = Identity::generate();
    let signed = f.sign("POST", "/rpc/deploy", b"x");
    let err = verify_request(
        "POST",
        "/rpc/deploy",
        &signed.headers,
        &sha256(b"x"),
        &third.key_id(),
        f.lookup(),
        &f.clock,
    );
    assert_eq!(err, Err(VerifyError::WrongReceiver(f.receiver.key_id())));
    // Rewriting the receiver header breaks the signature.
    let mut relayed = signed.headers.clone();
    set(&mut relayed, headers::RECEIVER, third.key_id().as_str());
    let err = verify_request(
        "POST",
        "/rpc/deploy",
        &relayed,
        &sha256(b"x"),
        &third.key_id(),
        f.lookup(),
        &f.clock,
    );
    assert_eq!(err, Err(VerifyError::BadSignature));
}

#[test]
fn tampered_method_path_or_query_is_refused() {
    let f = fixture();
    let signed = f.sign("GET", "/rpc/sessions?idnumber=ABC&page=2", b"");
    let _ok = f
        .verify(
            "GET",
            "/rpc/sessions?idnumber=ABC&page=2",
            &signed.headers,
            b"",
        )
        .unwrap();
    for target in [
        "/rpc/sessions?idnumber=ABD&page=2",
        "/rpc/sessions?page=2&idnumber=ABC",
        "/rpc/sessions?idnumber=ABC&page=2&admin=1",
        "/rpc/sessions?idnumber=ABC",
        "/rpc/sessions?idnumber=%41BC&page=2",
        "/rpc/sessions",
        "/rpc/session?idnumber=ABC&page=2",
        "/rpc/sessions/?idnumber=ABC&page=2",
    ] {
        assert_eq!(
            f.verify("GET", target, &signed.headers, b""),
            Err(VerifyError::BadSignature),
            "{target}"
        );
    }
    assert_eq!(
        f.verify(
            "POST",
            "/rpc/sessions?idnumber=ABC&page=2",
            &signed.headers,
            b""
        ),
        Err(VerifyError::BadSignature)
    );
    // Path and query are separate lines: moving the `?` changes the signed text.
    let odd = f.sign("GET", "/a?b/c", b"");
    assert_eq!(
        f.verify("GET", "/a/b?c", &odd.headers, b""),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn tampered_body_is_refused() {
    let f = fixture();
    let mut signed = f.sign("POST", "/rpc/offer", b"{\"course\":1}");
    assert_eq!(
        f.verify("POST", "/rpc/offer", &signed.headers, b"{\"course\":2}"),
        Err(VerifyError::BodyDigestMismatch)
    );
    // Also replacing the digest header breaks the signature.
    set(
        &mut signed.headers,
        headers::BODY_SHA256,
        &hex::encode(sha256(b"{\"course\":2}")),
    );
    assert_eq!(
        f.verify("POST", "/rpc/offer", &signed.headers, b"{\"course\":2}"),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn timestamps_outside_five_minutes_are_refused() {
    let f = fixture();
    let signed = f.sign("GET", "/rpc/describe", b"");
    f.clock.set(T0 + MAX_CLOCK_SKEW);
    let _ok = f
        .verify("GET", "/rpc/describe", &signed.headers, b"")
        .unwrap();
    f.clock.set(T0 + MAX_CLOCK_SKEW + 1);
    assert_eq!(
        f.verify("GET", "/rpc/describe", &signed.headers, b""),
        Err(VerifyError::StaleTimestamp {
            timestamp: T0,
            now: T0 + MAX_CLOCK_SKEW + 1
        })
    );
    f.clock.set(T0 - MAX_CLOCK_SKEW);
    let _ok = f
        .verify("GET", "/rpc/describe", &signed.headers, b"")
        .unwrap();
    f.clock.set(T0 - MAX_CLOCK_SKEW - 1);
    assert!(matches!(
        f.verify("GET", "/rpc/describe", &signed.headers, b""),
        Err(VerifyError::StaleTimestamp { .. })
    ));
}

#[test]
fn unknown_disabled_or_mismatched_peer_is_refused() {
    let f = fixture();
    let signed = f.sign("GET", "/rpc/describe", b"");
    let rid = f.receiver.key_id();
    let cid = f.caller.key_id();
    let run = |peer: Option<PeerKeyStatus>| {
        verify_request(
            "GET",
            "/rpc/describe",
            &signed.headers,
            &sha256(b""),
            &rid,
            |_| peer.clone(),
            &f.clock,
        )
    };
    assert_eq!(run(None), Err(VerifyError::UnknownCaller(cid.clone())));
    assert_eq!(
        run(Some(PeerKeyStatus::Disabled)),
        Err(VerifyError::DisabledCaller(cid.clone()))
    );
    let other = *Identity::generate().public_key();
    assert_eq!(
        run(Some(PeerKeyStatus::Active(other))),
        Err(VerifyError::PeerKeyMismatch(cid))
    );
}

#[test]
fn missing_duplicate_and_malformed_headers_are_refused() {
    let f = fixture();
    let signed = f.sign("GET", "/rpc/describe", b"");
    for name in [
        headers::CALLER,
        headers::RECEIVER,
        headers::TIMESTAMP,
        headers::NONCE,
        headers::BODY_SHA256,
        headers::SIGNATURE,
    ] {
        let without: Vec<_> = signed
            .headers
            .iter()
            .filter(|(k, _)| *k != name)
            .cloned()
            .collect();
        assert_eq!(
            f.verify("GET", "/rpc/describe", &without, b""),
            Err(VerifyError::MissingHeader(name))
        );
        let mut twice = signed.headers.clone();
        twice.push((
            name,
            signed
                .headers
                .iter()
                .find(|(k, _)| *k == name)
                .unwrap()
                .1
                .clone(),
        ));
        assert_eq!(
            f.verify("GET", "/rpc/describe", &twice, b""),
            Err(VerifyError::DuplicateHeader(name))
        );
        for junk in ["", "x", "zz zz", "-1", "\u{e9}", &"9".repeat(100)] {
            let mut bad = signed.headers.clone();
            set(&mut bad, name, junk);
            assert_eq!(
                f.verify("GET", "/rpc/describe", &bad, b""),
                Err(VerifyError::MalformedHeader(name)),
                "{name}={junk}"
            );
        }
    }
    let mut bad = signed.headers.clone();
    set(&mut bad, headers::TIMESTAMP, &format!("0{T0}"));
    assert_eq!(
        f.verify("GET", "/rpc/describe", &bad, b""),
        Err(VerifyError::MalformedHeader(headers::TIMESTAMP))
    );
    set(&mut bad, headers::TIMESTAMP, &format!("+{T0}"));
    assert_eq!(
        f.verify("GET", "/rpc/describe", &bad, b""),
        Err(VerifyError::MalformedHeader(headers::TIMESTAMP))
    );
    // Header names match case-insensitively.
    let upper: Vec<(String, String)> = signed
        .headers
        .iter()
        .map(|(k, v)| (k.to_uppercase(), v.clone()))
        .collect();
    let _ok = verify_request(
        "GET",
        "/rpc/describe",
        &upper,
        &sha256(b""),
        &f.receiver.key_id(),
        f.lookup(),
        &f.clock,
    )
    .unwrap();
}

#[test]
fn bad_methods_and_targets_are_refused_on_both_sides() {
    let f = fixture();
    let signed = f.sign("GET", "/rpc/describe", b"");
    for (method, target) in [
        ("get", "/rpc/describe"),
        ("", "/x"),
        ("GET", "rpc/describe"),
        ("GET", "/a b"),
        ("GET", "/a#frag"),
        ("GET", "/a\nb"),
        ("GET", "http://evil/x"),
    ] {
        assert_eq!(
            f.verify(method, target, &signed.headers, b""),
            Err(VerifyError::MalformedTarget),
            "{method} {target}"
        );
        assert_eq!(
            sign_request(
                &f.caller,
                &f.receiver.key_id(),
                method,
                target,
                &sha256(b""),
                Acting::NONE,
                &f.clock
            )
            .unwrap_err(),
            SignError::InvalidTarget
        );
    }
}

#[test]
fn the_envelope_is_unauthenticated_and_generic() {
    let e = VerifyError::BadSignature.envelope();
    assert_eq!(e.code, ErrorCode::Unauthenticated);
    assert_eq!(e.status, 401);
    assert!(!e.message.contains("signature does not verify"));
}

#[test]
fn random_header_mutations_never_panic_and_never_verify() {
    let f = fixture();
    let signed = f.sign("POST", "/rpc/offer?a=1", b"body");
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..3_000 {
        let mut headers: Vec<(String, Vec<u8>)> = signed
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect();
        for _ in 0..=(next() % 3) {
            let i = (next() % headers.len() as u64) as usize;
            let value = &mut headers[i].1;
            match next() % 5 {
                0 if !value.is_empty() => {
                    let j = (next() % value.len() as u64) as usize;
                    value[j] = next() as u8;
                }
                1 => value.truncate((next() % (value.len() as u64 + 1)) as usize),
                2 => value.push(next() as u8),
                3 => headers[i].0 = format!("x-{}", headers[i].0),
                _ => {
                    let dup = headers[i].clone();
                    headers.push(dup);
                }
            }
        }
        // Only the signed headers count: an extra unrelated header changes nothing.
        let project = |h: &[(String, Vec<u8>)]| -> Vec<(String, Vec<u8>)> {
            let mut v: Vec<_> = h
                .iter()
                .filter(|(k, _)| k.starts_with("pf-"))
                .cloned()
                .collect();
            v.sort();
            v
        };
        let original: Vec<(String, Vec<u8>)> = signed
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect();
        let changed = project(&headers) != project(&original);
        let result = verify_request(
            "POST",
            "/rpc/offer?a=1",
            &headers,
            &sha256(b"body"),
            &f.receiver.key_id(),
            f.lookup(),
            &f.clock,
        );
        if changed {
            assert!(result.is_err(), "{headers:?}");
        }
    }
}

#[test]
fn acting_user_tokens_are_covered_by_the_signature() {
    let f = fixture();
    let acting = Acting {
        user: Some("pf1.user.AAA.BBB"),
        delegation: Some("pf1.delegation.CCC.DDD"),
    };
    let signed = sign_request(
        &f.caller,
        &f.receiver.key_id(),
        "POST",
        "/rpc/deploy",
        &sha256(b"{}"),
        acting,
        &f.clock,
    )
    .unwrap();
    let v = f
        .verify("POST", "/rpc/deploy", &signed.headers, b"{}")
        .unwrap();
    assert_eq!(v.user.as_deref(), acting.user);
    assert_eq!(v.delegation.as_deref(), acting.delegation);
    // Swapped, stripped or added tokens break the signature.
    let mut swapped = signed.headers.clone();
    set(&mut swapped, headers::USER, "pf1.user.EEE.FFF");
    assert_eq!(
        f.verify("POST", "/rpc/deploy", &swapped, b"{}"),
        Err(VerifyError::BadSignature)
    );
    let stripped: Vec<_> = signed
        .headers
        .iter()
        .filter(|(k, _)| *k != headers::DELEGATION)
        .cloned()
        .collect();
    assert_eq!(
        f.verify("POST", "/rpc/deploy", &stripped, b"{}"),
        Err(VerifyError::BadSignature)
    );
    let plain = f.sign("POST", "/rpc/deploy", b"{}");
    let mut added = plain.headers.clone();
    added.push((headers::USER, "pf1.user.AAA.BBB".into()));
    assert_eq!(
        f.verify("POST", "/rpc/deploy", &added, b"{}"),
        Err(VerifyError::BadSignature)
    );
    let mut twice = signed.headers.clone();
    twice.push((headers::USER, "pf1.user.AAA.BBB".into()));
    assert_eq!(
        f.verify("POST", "/rpc/deploy", &twice, b"{}"),
        Err(VerifyError::DuplicateHeader(headers::USER))
    );
    let bad = Acting {
        user: Some("has space"),
        delegation: None,
    };
    assert_eq!(
        sign_request(
            &f.caller,
            &f.receiver.key_id(),
            "POST",
            "/rpc/deploy",
            &sha256(b"{}"),
            bad,
            &f.clock
        )
        .unwrap_err(),
        SignError::InvalidToken
    );
}
