//! ZAP end to end through sockets: the built-in policy, the service, the proxy to an external
//! handler, and every way a handler's reply can be wrong.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use common::{expect_event, plain_client, recv, T};
use zmtp::core::{AuthReply, AuthRequest, AuthResult, MechanismName};
use zmtp::mechanisms::{CurveClientConfig, CurveKeyPair, CurveServerConfig, PlainServerConfig};
use zmtp::zap::{wire, Authenticator, FnAuthenticator, Passwords, Policy, ZapService};
use zmtp::{serve_zap, Metadata, MonitorEvent, Socket, SocketOptions, SocketType, ZapProxy};

fn plain_server(auth: Arc<dyn Authenticator>) -> SocketOptions {
    SocketOptions {
        mechanism: Arc::new(PlainServerConfig::new()),
        authenticator: Some(auth),
        ..Default::default()
    }
}

#[tokio::test]
async fn policy_passwords_file_admits_and_names_the_user() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("passwords");
    std::fs::write(&path, "admin=secret\n").unwrap();
    let policy = Policy::new().passwords_file("*", &path).unwrap();
    let server = Socket::with_options(SocketType::Pull, plain_server(Arc::new(policy)));
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let mut monitor = server.monitor(64);

    let good = Socket::with_options(SocketType::Push, plain_client("admin", "secret"));
    good.connect(&ep).await.unwrap();
    good.send("hi").await.unwrap();
    assert_eq!(recv(&server).await.property("User-Id"), Some("admin"));

    let bad = Socket::with_options(SocketType::Push, plain_client("admin", "guess"));
    let mut bad_monitor = bad.monitor(64);
    bad.connect(&ep).await.unwrap();
    assert_eq!(
        expect_event(&mut bad_monitor, MonitorEvent::HandshakeFailedAuth)
            .await
            .value,
        400
    );
    assert_eq!(
        expect_event(&mut monitor, MonitorEvent::HandshakeFailedAuth)
            .await
            .value,
        400
    );
}

#[tokio::test]
async fn policy_deny_and_allow_lists_apply_to_null_with_a_domain() {
    for (policy, admitted) in [
        (Policy::new().deny("127.0.0.1").unwrap(), false),
        (Policy::new().deny("10.1.2.3").unwrap(), true),
        (Policy::new().allow("127.0.0.1").unwrap(), true),
        (Policy::new().allow("::1").unwrap(), false),
    ] {
        let server = Socket::with_options(
            SocketType::Pull,
            SocketOptions {
                zap_domain: Some("global".into()),
                authenticator: Some(Arc::new(policy)),
                ..Default::default()
            },
        );
        let mut monitor = server.monitor(64);
        let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
        let client = Socket::new(SocketType::Push);
        client.connect(&ep).await.unwrap();
        if admitted {
            expect_event(&mut monitor, MonitorEvent::HandshakeSucceeded).await;
        } else {
            let ev = expect_event(&mut monitor, MonitorEvent::HandshakeFailedAuth).await;
            assert_eq!(ev.value, 400);
        }
    }
}

#[tokio::test]
async fn curve_user_id_and_zap_metadata_cannot_be_shadowed_by_the_peer() {
    let server_keys = CurveKeyPair::generate().unwrap();
    let client_keys = CurveKeyPair::generate().unwrap();
    let policy = Policy::new().curve_key(
        "*",
        &client_keys.public,
        Metadata::new().with("Hello", "World").unwrap(),
    );
    let (zap, _service) = ZapService::new().spawn(Arc::new(policy));
    let server = Socket::with_options(
        SocketType::Router,
        SocketOptions {
            mechanism: Arc::new(CurveServerConfig::new(server_keys.secret.clone())),
            authenticator: Some(Arc::new(zap)),
            ..Default::default()
        },
    );
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let client = Socket::with_options(
        SocketType::Dealer,
        SocketOptions {
            mechanism: Arc::new(CurveClientConfig::new(
                client_keys.secret.clone(),
                server_keys.public,
            )),
            // The client tries to pass itself off as someone else.
            metadata: Metadata::new()
                .with("User-Id", "root")
                .unwrap()
                .with("Hello", "Mars")
                .unwrap()
                .with("X-Client", "yes")
                .unwrap(),
            ..Default::default()
        },
    );
    client.connect(&ep).await.unwrap();
    client.send("ping").await.unwrap();
    let msg = recv(&server).await;
    let key = client_keys.public.to_z85();
    assert_eq!(msg.property("User-Id"), Some(key.as_str()));
    assert_eq!(msg.property("Hello"), Some("World"));
    assert_eq!(msg.property("X-Client"), Some("yes"));
    assert_eq!(msg.property("Socket-Type"), Some("DEALER"));
}

/// A fake external handler: a ROUTER that answers each request with `mutate` applied to a
/// correct 200 reply.
async fn fake_handler(
    mutate: impl Fn(&mut Vec<Bytes>) + Send + Sync + 'static,
) -> (String, tokio::task::JoinHandle<()>) {
    let router = Socket::new(SocketType::Router);
    let ep = router.bind("tcp://127.0.0.1:*").await.unwrap();
    let task = tokio::spawn(async move {
        while let Ok(msg) = router.recv().await {
            let mut parts = msg.into_parts();
            let rid = parts.remove(0);
            let req = wire::parse_request(&parts).expect("our proxy sends valid requests");
            let mut reply = wire::encode_reply(&req.id, &AuthReply::allow("u"));
            mutate(&mut reply);
            reply.insert(0, rid);
            router.send(reply).await.unwrap();
        }
    });
    (ep, task)
}

async fn handshake_failure_through(auth: Arc<dyn Authenticator>, zap_timeout: Duration) -> u32 {
    let server = Socket::with_options(
        SocketType::Pull,
        SocketOptions {
            zap_timeout,
            ..plain_server(auth)
        },
    );
    let mut monitor = server.monitor(64);
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let client = Socket::with_options(SocketType::Push, plain_client("u", "p"));
    client.connect(&ep).await.unwrap();
    let ev = expect_event(&mut monitor, MonitorEvent::HandshakeFailedProtocol).await;
    assert_eq!(server.peer_count(), 0);
    ev.value
}

#[tokio::test]
async fn every_bad_reply_from_an_external_handler_has_libzmq_code() {
    type Mutation = Box<dyn Fn(&mut Vec<Bytes>) + Send + Sync>;
    let cases: Vec<(&str, Mutation, u32)> = vec![
        (
            "too many frames",
            Box::new(|w| w.push(Bytes::new())),
            0x2000_0001,
        ),
        ("too few frames", Box::new(|w| w.truncate(6)), 0x2000_0001),
        (
            "non-empty delimiter",
            Box::new(|w| w[0] = "x".into()),
            0x2000_0000,
        ),
        (
            "wrong version",
            Box::new(|w| w[1] = "2.0".into()),
            0x2000_0003,
        ),
        (
            "wrong request id",
            Box::new(|w| w[2] = "99".into()),
            0x2000_0002,
        ),
        ("bad status", Box::new(|w| w[3] = "201".into()), 0x2000_0004),
        (
            "bad metadata",
            Box::new(|w| w[6] = Bytes::from_static(b"\x05Hello\x00\x00\x00\x09World")),
            0x2000_0005,
        ),
    ];
    for (name, mutate, code) in cases {
        let (ep, handler) = fake_handler(mutate).await;
        let proxy = ZapProxy::connect(&ep).await.unwrap();
        let got = handshake_failure_through(Arc::new(proxy), T).await;
        assert_eq!(got, code, "{name}: got {got:#x}");
        handler.abort();
    }
}

#[tokio::test]
async fn a_handler_that_is_gone_fails_the_handshake_at_once() {
    let (zap, service) = ZapService::new().spawn(Arc::new(zmtp::zap::AllowAll));
    service.stop();
    let start = tokio::time::Instant::now();
    let code = handshake_failure_through(Arc::new(zap), Duration::from_secs(30)).await;
    assert_eq!(code, 0x2000_0000);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "no waiting for the timeout"
    );
}

#[derive(Debug)]
struct Silent;

#[async_trait]
impl Authenticator for Silent {
    async fn authenticate(&self, _request: AuthRequest) -> AuthResult {
        std::future::pending().await
    }
}

#[tokio::test]
async fn a_silent_handler_times_out_without_a_hang() {
    let code = handshake_failure_through(Arc::new(Silent), Duration::from_millis(200)).await;
    assert_eq!(code, 0x2000_0000);
    // The same through the proxy to a handler that never answers.
    let mute = Socket::new(SocketType::Router);
    let ep = mute.bind("tcp://127.0.0.1:*").await.unwrap();
    let proxy = ZapProxy::connect(&ep).await.unwrap();
    let code = handshake_failure_through(Arc::new(proxy), Duration::from_millis(200)).await;
    assert_eq!(code, 0x2000_0000);
}

#[tokio::test]
async fn status_300_closes_without_error_and_the_client_retries() {
    let asked = Arc::new(AtomicUsize::new(0));
    let count = asked.clone();
    let auth = FnAuthenticator(move |_: &AuthRequest| {
        count.fetch_add(1, Ordering::SeqCst);
        let mut r = AuthReply::deny("busy");
        r.status = zmtp::zap::AuthStatus::TemporaryFailure;
        Ok(r)
    });
    let server = Socket::with_options(SocketType::Pull, plain_server(Arc::new(auth)));
    let mut monitor = server.monitor(64);
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let client = Socket::with_options(
        SocketType::Push,
        SocketOptions {
            reconnect_ivl: Duration::from_millis(50),
            ..plain_client("u", "p")
        },
    );
    let mut client_monitor = client.monitor(256);
    client.connect(&ep).await.unwrap();
    assert_eq!(
        expect_event(&mut monitor, MonitorEvent::HandshakeFailedAuth)
            .await
            .value,
        300
    );
    let deadline = tokio::time::Instant::now() + T;
    while asked.load(Ordering::SeqCst) < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the client did not retry"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    while let Ok(ev) = client_monitor.try_recv() {
        assert_ne!(
            ev.event,
            MonitorEvent::HandshakeFailedAuth,
            "300 sends no ERROR to the client"
        );
    }
}

#[tokio::test]
async fn serve_zap_answers_our_proxy_and_metadata_reaches_messages() {
    let mut users = Passwords::new();
    users.insert("alice", "wonderland");
    let policy = Arc::new(Policy::new().passwords("*", users));
    let router = Arc::new(Socket::new(SocketType::Router));
    let ep = router.bind("tcp://127.0.0.1:*").await.unwrap();
    let served = tokio::spawn(serve_zap(router.clone(), policy));
    let proxy = ZapProxy::connect(&ep).await.unwrap();
    let server = Socket::with_options(SocketType::Pull, plain_server(Arc::new(proxy)));
    let sep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let client = Socket::with_options(SocketType::Push, plain_client("alice", "wonderland"));
    client.connect(&sep).await.unwrap();
    client.send("hello").await.unwrap();
    assert_eq!(recv(&server).await.property("User-Id"), Some("alice"));
    served.abort();
}

fn null_request() -> AuthRequest {
    AuthRequest {
        domain: String::new(),
        address: "127.0.0.1".into(),
        identity: Bytes::new(),
        mechanism: MechanismName::NULL,
        credentials: vec![],
    }
}

/// A DEALER connected to `serve_zap` with the allow-all handler, and the serving task.
async fn dealer_to_serve_zap() -> (
    Socket,
    tokio::task::JoinHandle<Result<(), zmtp::SocketError>>,
) {
    let router = Arc::new(Socket::new(SocketType::Router));
    let ep = router.bind("tcp://127.0.0.1:*").await.unwrap();
    let served = tokio::spawn(serve_zap(router, Arc::new(zmtp::zap::AllowAll)));
    let dealer = Socket::new(SocketType::Dealer);
    dealer.connect(&ep).await.unwrap();
    (dealer, served)
}

#[tokio::test]
async fn serve_zap_answers_malformed_requests_with_500() {
    let (client, served) = dealer_to_serve_zap().await;
    let req = null_request();
    let mut frames = wire::encode_request(b"7", &req);
    frames[1] = "0.9".into();
    client.send(frames).await.unwrap();
    let reply = recv(&client).await;
    assert_eq!(reply.parts()[2], "7");
    assert_eq!(reply.parts()[3], "500");
    // A good one on the same connection is still answered.
    client.send(wire::encode_request(b"8", &req)).await.unwrap();
    let reply = wire::parse_reply(recv(&client).await.parts(), b"8").unwrap();
    assert_eq!(reply.status.code(), 200);
    served.abort();
}

#[tokio::test]
async fn serve_zap_answers_through_router_dealer_bridges() {
    // A DEALER standing for the far side of bridges: their routing frames come first.
    let (bridge, served) = dealer_to_serve_zap().await;
    let req = null_request();
    for hops in [1, 2, zmtp::MAX_BRIDGE_HOPS] {
        let route: Vec<Bytes> = (0..hops).map(|h| Bytes::from(format!("hop{h}"))).collect();
        let mut frames = route.clone();
        frames.extend(wire::encode_request(b"9", &req));
        bridge.send(frames).await.unwrap();
        let reply = recv(&bridge).await;
        let parts = reply.parts();
        assert_eq!(&parts[..hops], &route[..], "the reply retraces the route");
        let answer = wire::parse_reply(&parts[hops..], b"9").unwrap();
        assert_eq!(answer.status.code(), 200);
    }
    // Past the limit the delimiter is not looked for: the request is malformed and dropped.
    let mut frames: Vec<Bytes> = (0..=zmtp::MAX_BRIDGE_HOPS)
        .map(|h| Bytes::from(format!("hop{h}")))
        .collect();
    frames.extend(wire::encode_request(b"10", &req));
    bridge.send(frames).await.unwrap();
    bridge
        .send(wire::encode_request(b"11", &req))
        .await
        .unwrap();
    let reply = wire::parse_reply(recv(&bridge).await.parts(), b"11").unwrap();
    assert_eq!(
        reply.status.code(),
        200,
        "only the direct request is answered"
    );
    served.abort();
}

#[tokio::test]
async fn without_domain_enforcement_a_domain_alone_admits_null_but_never_plain() {
    let server = Socket::with_options(
        SocketType::Pull,
        SocketOptions {
            zap_domain: Some("d".into()),
            zap_enforce_domain: false,
            ..Default::default()
        },
    );
    let mut monitor = server.monitor(64);
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let client = Socket::new(SocketType::Push);
    client.connect(&ep).await.unwrap();
    client.send("in").await.unwrap();
    assert_eq!(recv(&server).await.parts()[0], "in");
    expect_event(&mut monitor, MonitorEvent::HandshakeSucceeded).await;

    let plain = Socket::with_options(
        SocketType::Pull,
        SocketOptions {
            mechanism: Arc::new(PlainServerConfig::new()),
            zap_domain: Some("d".into()),
            zap_enforce_domain: false,
            ..Default::default()
        },
    );
    let mut monitor = plain.monitor(64);
    let ep = plain.bind("tcp://127.0.0.1:*").await.unwrap();
    let client = Socket::with_options(SocketType::Push, plain_client("u", "p"));
    client.connect(&ep).await.unwrap();
    let ev = expect_event(&mut monitor, MonitorEvent::HandshakeFailedProtocol).await;
    assert_eq!(ev.value, 0x2000_0000, "PLAIN never runs unauthenticated");
}

#[tokio::test]
async fn the_proxy_skips_late_replies_but_not_wrong_ids() {
    // A handler that holds its first request until the second arrives, then answers both.
    let router = Socket::new(SocketType::Router);
    let ep = router.bind("tcp://127.0.0.1:*").await.unwrap();
    let slow = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok(msg) = router.recv().await {
            let mut parts = msg.into_parts();
            let rid = parts.remove(0);
            let req = wire::parse_request(&parts).unwrap();
            held.push((rid, req.id));
            if held.len() < 2 {
                continue;
            }
            for (rid, id) in held.drain(..) {
                let mut reply = wire::encode_reply(&id, &AuthReply::allow("u"));
                reply.insert(0, rid);
                router.send(reply).await.unwrap();
            }
        }
    });
    let proxy = ZapProxy::connect(&ep)
        .await
        .unwrap()
        .with_timeout(Duration::from_millis(200));
    let late = proxy.authenticate(null_request()).await;
    assert_eq!(late.unwrap_err(), zmtp::zap::ZapFailure::Unspecified);
    let proxy = proxy.with_timeout(T);
    let next = proxy.authenticate(null_request()).await.unwrap();
    assert_eq!(
        next.status.code(),
        200,
        "the late reply to request 1 was skipped"
    );
    slow.abort();

    // A handler that always answers with id 1: the second answer is a wrong id, not stale.
    let (ep, fixed_id) = fake_handler(|w| w[2] = "1".into()).await;
    let proxy = ZapProxy::connect(&ep).await.unwrap();
    assert!(proxy.authenticate(null_request()).await.is_ok());
    assert_eq!(
        proxy.authenticate(null_request()).await.unwrap_err(),
        zmtp::zap::ZapFailure::BadRequestId
    );
    fixed_id.abort();
}
