//! Runs the client against a one-request HTTP server on 127.0.0.1, port 0.

use super::*;
use crate::clock::SystemClock;
use crate::request::{verify_request, PeerKeyStatus};
use crate::response::sign_response;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

/// What the test server saw.
struct Seen {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// How the test server answers: status line, extra headers, body.
type Answer = (u16, Vec<(String, String)>, Vec<u8>);

/// Serves exactly one request with `answer`, returning the base URL.
async fn serve_once(
    answer: impl FnOnce(&Seen) -> Answer + Send + 'static,
) -> (String, tokio::task::JoinHandle<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            let n = sock.read(&mut chunk).await.unwrap();
            assert!(n > 0, "client closed early");
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
        };
        let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next().unwrap().split(' ');
        let (method, target) = (
            request_line.next().unwrap().to_owned(),
            request_line.next().unwrap().to_owned(),
        );
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .map_or(0, |(_, v)| v.parse().unwrap());
        let mut body = buf[head_end + 4..].to_vec();
        while body.len() < len {
            let n = sock.read(&mut chunk).await.unwrap();
            body.extend_from_slice(&chunk[..n]);
        }
        let seen = Seen {
            method,
            target,
            headers,
            body,
        };
        let (status, extra, reply) = answer(&seen);
        let mut out = format!(
            "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n",
            reply.len()
        );
        for (k, v) in extra {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        sock.write_all(out.as_bytes()).await.unwrap();
        sock.write_all(&reply).await.unwrap();
        sock.shutdown().await.unwrap();
        seen
    });
    (base, task)
}

struct F {
    us: Arc<Identity>,
    peer: Arc<Identity>,
    client: PeerClient,
}

fn f() -> F {
    let us = Arc::new(Identity::generate());
    let client =
        PeerClient::new(us.clone(), Arc::new(SystemClock), ClientConfig::default()).unwrap();
    F {
        us,
        peer: Arc::new(Identity::generate()),
        client,
    }
}

/// The honest peer: verifies our request like the server will, then signs its answer.
fn honest(
    peer: Arc<Identity>,
    us: PublicKey,
    status: u16,
    body: Vec<u8>,
) -> impl FnOnce(&Seen) -> Answer {
    move |seen: &Seen| {
        let verified = verify_request(
            &seen.method,
            &seen.target,
            &seen.headers,
            &sha256(&seen.body),
            &peer.key_id(),
            |k| (k == &us.key_id()).then_some(PeerKeyStatus::Active(us)),
            &SystemClock,
        )
        .expect("the client's request verifies");
        let headers = sign_response(
            &peer,
            status,
            &sha256(&body),
            &verified.nonce,
            &verified.caller,
        );
        (
            status,
            headers
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            body,
        )
    }
}

#[tokio::test]
async fn a_signed_round_trip_works() {
    let f = f();
    let describe = br#"{"name":"cat","role":"catalog","version":"0.1.0","url":"http://x","transports":["http"],"categories":[]}"#;
    let (base, task) = serve_once(honest(
        f.peer.clone(),
        *f.us.public_key(),
        200,
        describe.to_vec(),
    ))
    .await;
    let endpoint = PeerEndpoint::new(&base, *f.peer.public_key()).unwrap();
    let d = f.client.describe(&endpoint).await.unwrap();
    assert_eq!(d.name, "cat");
    let seen = task.await.unwrap();
    assert_eq!(
        (seen.method.as_str(), seen.target.as_str()),
        ("GET", "/rpc/describe")
    );
}

#[tokio::test]
async fn post_with_query_and_acting_user_verifies_on_the_other_side() {
    let f = f();
    let (base, task) = serve_once(honest(
        f.peer.clone(),
        *f.us.public_key(),
        200,
        b"{\"ok\":1}".to_vec(),
    ))
    .await;
    let endpoint = PeerEndpoint::new(&format!("{base}/"), *f.peer.public_key()).unwrap();
    let acting = Acting {
        user: Some("pf1.user.x.y"),
        delegation: None,
    };
    let v: serde_json::Value = f
        .client
        .post_json(
            &endpoint,
            "/rpc/offer?mode=test&x=%20",
            &serde_json::json!({"a": 1}),
            acting,
        )
        .await
        .unwrap();
    assert_eq!(v["ok"], 1);
    let seen = task.await.unwrap();
    assert_eq!(seen.target, "/rpc/offer?mode=test&x=%20");
    assert!(seen
        .headers
        .iter()
        .any(|(k, v)| k == "pf-user" && v == "pf1.user.x.y"));
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let f = f();
    // Nothing listens on the target: following it would give "unreachable", not "redirected".
    let (base, task) = serve_once(|_: &Seen| {
        (
            302,
            vec![("location".into(), "http://127.0.0.1:9/evil".into())],
            vec![],
        )
    })
    .await;
    let endpoint = PeerEndpoint::new(&base, *f.peer.public_key()).unwrap();
    let err = f.client.describe(&endpoint).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Redirected { status: 302, location: Some(l) } if l == "http://127.0.0.1:9/evil"),
        "{err:?}"
    );
    assert_eq!(err.error_code(), ErrorCode::PeerUnreachable);
    task.await.unwrap();
}

#[tokio::test]
async fn an_unsigned_response_is_refused() {
    let f = f();
    let (base, task) = serve_once(|_: &Seen| (200, vec![], b"{}".to_vec())).await;
    let endpoint = PeerEndpoint::new(&base, *f.peer.public_key()).unwrap();
    let err = f
        .client
        .get_json::<serde_json::Value>(&endpoint, "/rpc/describe", Acting::NONE)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::ResponseRefused(ResponseError::Unsigned)),
        "{err:?}"
    );
    task.await.unwrap();
}

#[tokio::test]
async fn a_tampered_or_impostor_response_is_refused() {
    let f = f();
    // Signed for one body, sends another.
    let peer = f.peer.clone();
    let us = *f.us.public_key();
    let (base, task) = serve_once(move |seen: &Seen| {
        let (_, headers, _) = honest(peer, us, 200, b"{\"v\":1}".to_vec())(seen);
        (200, headers, b"{\"v\":2}".to_vec())
    })
    .await;
    let endpoint = PeerEndpoint::new(&base, *f.peer.public_key()).unwrap();
    let err = f
        .client
        .get_json::<serde_json::Value>(&endpoint, "/rpc/describe", Acting::NONE)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::ResponseRefused(ResponseError::BodyDigestMismatch)
        ),
        "{err:?}"
    );
    task.await.unwrap();
    // An impostor at the recorded URL signs with its own key.
    let impostor = Arc::new(Identity::generate());
    let (base, task) = serve_once(move |seen: &Seen| {
        let nonce = seen
            .headers
            .iter()
            .find(|(k, _)| k == "pf-nonce")
            .unwrap()
            .1
            .clone();
        let nonce = crate::request::Nonce::parse(&nonce).unwrap();
        let h = sign_response(&impostor, 200, &sha256(b"{}"), &nonce, &us.key_id());
        (
            200,
            h.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            b"{}".to_vec(),
        )
    })
    .await;
    let endpoint = PeerEndpoint::new(&base, *f.peer.public_key()).unwrap();
    let err = f
        .client
        .get_json::<serde_json::Value>(&endpoint, "/rpc/describe", Acting::NONE)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::ResponseRefused(ResponseError::WrongResponder(_))
        ),
        "{err:?}"
    );
    task.await.unwrap();
}

#[tokio::test]
async fn status_401_and_signed_envelopes_map_to_their_codes() {
    let f = f();
    let (base, task) = serve_once(|_: &Seen| {
        (
            401,
            vec![],
            br#"{"status":401,"code":"unauthenticated","message":"no"}"#.to_vec(),
        )
    })
    .await;
    let endpoint = PeerEndpoint::new(&base, *f.peer.public_key()).unwrap();
    let err = f.client.describe(&endpoint).await.unwrap_err();
    assert!(matches!(err, ClientError::Unauthenticated));
    assert_eq!(err.error_code(), ErrorCode::Unauthenticated);
    task.await.unwrap();
    let envelope =
        serde_json::to_vec(&ErrorEnvelope::new(ErrorCode::NotAdmitted, "no grant")).unwrap();
    // A 401 the peer signed keeps its reason; the unsigned one above is plain `unauthenticated`.
    let refusal = serde_json::to_vec(&ErrorEnvelope::new(
        ErrorCode::BadUser,
        "delegation refused: expired",
    ))
    .unwrap();
    let (base, task) = serve_once(honest(f.peer.clone(), *f.us.public_key(), 401, refusal)).await;
    let endpoint = PeerEndpoint::new(&base, *f.peer.public_key()).unwrap();
    let err = f.client.describe(&endpoint).await.unwrap_err();
    assert_eq!(err.error_code(), ErrorCode::BadUser, "{err:?}");
    assert!(err.to_string().contains("expired"), "{err}");
    task.await.unwrap();
    let (base, task) = serve_once(honest(f.peer.clone(), *f.us.public_key(), 403, envelope)).await;
    let endpoint = PeerEndpoint::new(&base, *f.peer.public_key()).unwrap();
    let err = f.client.describe(&endpoint).await.unwrap_err();
    assert_eq!(err.error_code(), ErrorCode::NotAdmitted, "{err:?}");
    task.await.unwrap();
}

#[tokio::test]
async fn an_unreachable_peer_is_peer_unreachable() {
    let f = f();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let endpoint = PeerEndpoint::new(&format!("http://{addr}"), *f.peer.public_key()).unwrap();
    let err = f.client.describe(&endpoint).await.unwrap_err();
    assert!(matches!(err, ClientError::Unreachable(_)), "{err:?}");
    assert_eq!(err.error_code(), ErrorCode::PeerUnreachable);
}

#[test]
fn only_paths_under_the_recorded_base_url_are_called() {
    let key = *Identity::generate().public_key();
    let peer = PeerEndpoint::new("https://catalog.example/pf/", key).unwrap();
    assert_eq!(
        peer.url_for("/rpc/describe").unwrap().as_str(),
        "https://catalog.example/pf/rpc/describe"
    );
    assert_eq!(
        peer.url_for("/rpc/x?a=1&b=2").unwrap().as_str(),
        "https://catalog.example/pf/rpc/x?a=1&b=2"
    );
    for bad in [
        "https://evil.example/rpc/x",
        "//evil.example/rpc/x",
        "rpc/x",
        "/rpc/../../admin",
        "/rpc/%2e%2e/admin",
        "/rpc/./x",
        "/rpc/x#frag",
        "/rpc/\\evil",
        "/rpc/a b",
        "",
    ] {
        assert!(
            matches!(peer.url_for(bad), Err(ClientError::InvalidPath(_))),
            "{bad}"
        );
    }
    for bad in [
        "ftp://x.example",
        "https://user:pw@x.example",
        "https://x.example/?q=1",
        "https://x.example/#f",
        "not a url",
        "file:///etc",
    ] {
        assert!(
            matches!(
                PeerEndpoint::new(bad, key),
                Err(ClientError::InvalidBaseUrl(_))
            ),
            "{bad}"
        );
    }
}
