//! PLAIN and CURVE through real sockets over loopback TCP, with an authenticator.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{expect_event, plain_client, T};
use zmtp::core::{AuthReply, AuthRequest, MechanismName};
use zmtp::mechanisms::{CurveClientConfig, CurveKeyPair, CurveServerConfig, PlainServerConfig};
use zmtp::zap::FnAuthenticator;
use zmtp::{MonitorEvent, Socket, SocketOptions, SocketType};

fn curve_server(server: &CurveKeyPair, allowed: [u8; 32]) -> SocketOptions {
    SocketOptions {
        mechanism: Arc::new(CurveServerConfig::new(server.secret.clone())),
        zap_domain: Some("test".into()),
        authenticator: Some(Arc::new(FnAuthenticator(move |req: &AuthRequest| {
            assert_eq!(req.mechanism, MechanismName::CURVE);
            if req.credentials.first().map(|k| &k[..]) == Some(&allowed[..]) {
                let mut reply = AuthReply::allow("alice");
                reply.metadata = zmtp::Metadata::new().with("Hello", &b"World"[..]).unwrap();
                Ok(reply)
            } else {
                Ok(AuthReply::deny("unknown key"))
            }
        }))),
        ..Default::default()
    }
}

#[tokio::test]
async fn curve_round_trip_with_zap_user_id_and_metadata() {
    let server_keys = CurveKeyPair::generate().unwrap();
    let client_keys = CurveKeyPair::generate().unwrap();
    let server = Socket::with_options(
        SocketType::Router,
        curve_server(&server_keys, *client_keys.public.as_bytes()),
    );
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let client = Socket::with_options(
        SocketType::Dealer,
        SocketOptions {
            mechanism: Arc::new(CurveClientConfig::new(
                client_keys.secret.clone(),
                server_keys.public,
            )),
            ..Default::default()
        },
    );
    client.connect(&ep).await.unwrap();
    let big = Bytes::from(vec![3u8; 1 << 20]);
    client
        .send(vec![Bytes::from_static(b"hi"), big.clone()])
        .await
        .unwrap();
    let msg = tokio::time::timeout(T, server.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(msg.parts()[1], Bytes::from_static(b"hi"));
    assert_eq!(msg.parts()[2], big);
    assert_eq!(msg.property("User-Id"), Some("alice"));
    assert_eq!(msg.property("Hello"), Some("World"));
    server
        .send(vec![msg.parts()[0].clone(), Bytes::from_static(b"back")])
        .await
        .unwrap();
    let reply = tokio::time::timeout(T, client.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.parts(), &[Bytes::from_static(b"back")]);
}

#[tokio::test]
async fn curve_client_unknown_to_zap_is_refused_with_400() {
    let server_keys = CurveKeyPair::generate().unwrap();
    let client_keys = CurveKeyPair::generate().unwrap();
    let server = Socket::with_options(SocketType::Router, curve_server(&server_keys, [9u8; 32]));
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let mut server_monitor = server.monitor(64);
    let client = Socket::with_options(
        SocketType::Dealer,
        SocketOptions {
            mechanism: Arc::new(CurveClientConfig::new(
                client_keys.secret.clone(),
                server_keys.public,
            )),
            ..Default::default()
        },
    );
    let mut client_monitor = client.monitor(64);
    client.connect(&ep).await.unwrap();
    let ev = expect_event(&mut client_monitor, MonitorEvent::HandshakeFailedAuth).await;
    assert_eq!(ev.value, 400);
    let ev = expect_event(&mut server_monitor, MonitorEvent::HandshakeFailedAuth).await;
    assert_eq!(ev.value, 400);
    assert_eq!(client.peer_count(), 0);
}

#[tokio::test]
async fn curve_wrong_server_key_fails_the_handshake() {
    let server_keys = CurveKeyPair::generate().unwrap();
    let other = CurveKeyPair::generate().unwrap();
    let client_keys = CurveKeyPair::generate().unwrap();
    let server = Socket::with_options(
        SocketType::Router,
        curve_server(&server_keys, *client_keys.public.as_bytes()),
    );
    let mut server_monitor = server.monitor(64);
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let client = Socket::with_options(
        SocketType::Dealer,
        SocketOptions {
            mechanism: Arc::new(CurveClientConfig::new(
                client_keys.secret.clone(),
                other.public,
            )),
            ..Default::default()
        },
    );
    client.connect(&ep).await.unwrap();
    let ev = expect_event(&mut server_monitor, MonitorEvent::HandshakeFailedProtocol).await;
    assert_eq!(ev.value, 0x1100_0001, "CRYPTOGRAPHIC");
}

fn plain_server() -> SocketOptions {
    SocketOptions {
        mechanism: Arc::new(PlainServerConfig::new()),
        authenticator: Some(Arc::new(FnAuthenticator(|req: &AuthRequest| {
            let ok = req.credentials.len() == 2
                && &req.credentials[0][..] == b"admin"
                && &req.credentials[1][..] == b"secret";
            Ok(if ok {
                AuthReply::allow("admin")
            } else {
                AuthReply::deny("bad password")
            })
        }))),
        ..Default::default()
    }
}

#[tokio::test]
async fn plain_accepts_the_right_password() {
    let server = Socket::with_options(SocketType::Pull, plain_server());
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let client = Socket::with_options(SocketType::Push, plain_client("admin", "secret"));
    client.connect(&ep).await.unwrap();
    client.send("hello").await.unwrap();
    let msg = tokio::time::timeout(T, server.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(msg.property("User-Id"), Some("admin"));
}

#[tokio::test]
async fn plain_wrong_password_is_refused_and_not_retried() {
    let server = Socket::with_options(SocketType::Pull, plain_server());
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let mut server_monitor = server.monitor(64);
    let client = Socket::with_options(SocketType::Push, plain_client("admin", "wrong"));
    let mut client_monitor = client.monitor(64);
    client.connect(&ep).await.unwrap();
    let ev = expect_event(&mut client_monitor, MonitorEvent::HandshakeFailedAuth).await;
    assert_eq!(ev.value, 400);
    expect_event(&mut server_monitor, MonitorEvent::HandshakeFailedAuth).await;
    // No reconnect with the same credentials.
    tokio::time::sleep(Duration::from_millis(400)).await;
    while let Ok(ev) = client_monitor.try_recv() {
        assert_ne!(
            ev.event,
            MonitorEvent::Connected,
            "client must not reconnect"
        );
    }
}

#[tokio::test]
async fn plain_server_without_authenticator_fails_closed() {
    let server = Socket::with_options(
        SocketType::Pull,
        SocketOptions {
            mechanism: Arc::new(PlainServerConfig::new()),
            ..Default::default()
        },
    );
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let mut server_monitor = server.monitor(64);
    let client = Socket::with_options(SocketType::Push, plain_client("admin", "secret"));
    client.connect(&ep).await.unwrap();
    let ev = expect_event(&mut server_monitor, MonitorEvent::HandshakeFailedProtocol).await;
    assert_eq!(ev.value, 0x2000_0000, "ZAP_UNSPECIFIED: no handler");
    assert_eq!(server.peer_count(), 0);
}

#[tokio::test]
async fn curve_authenticator_without_domain_is_consulted() {
    let server_keys = CurveKeyPair::generate().unwrap();
    let client_keys = CurveKeyPair::generate().unwrap();
    let mut opts = curve_server(&server_keys, [1u8; 32]);
    opts.zap_domain = None;
    let server = Socket::with_options(SocketType::Router, opts);
    let mut monitor = server.monitor(64);
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let client = Socket::with_options(
        SocketType::Dealer,
        SocketOptions {
            mechanism: Arc::new(CurveClientConfig::new(
                client_keys.secret.clone(),
                server_keys.public,
            )),
            ..Default::default()
        },
    );
    client.connect(&ep).await.unwrap();
    let ev = expect_event(&mut monitor, MonitorEvent::HandshakeFailedAuth).await;
    assert_eq!(ev.value, 400);
}

#[tokio::test]
async fn zap_domain_without_authenticator_refuses() {
    let server = Socket::with_options(
        SocketType::Pull,
        SocketOptions {
            zap_domain: Some("d".into()),
            ..Default::default()
        },
    );
    let mut monitor = server.monitor(64);
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let client = Socket::new(SocketType::Push);
    client.connect(&ep).await.unwrap();
    let ev = expect_event(&mut monitor, MonitorEvent::HandshakeFailedProtocol).await;
    assert_eq!(ev.value, 0x2000_0000);
}

#[tokio::test]
async fn curve_without_authenticator_or_domain_admits_valid_keys() {
    let server_keys = CurveKeyPair::generate().unwrap();
    let client_keys = CurveKeyPair::generate().unwrap();
    let server = Socket::with_options(
        SocketType::Pull,
        SocketOptions {
            mechanism: Arc::new(CurveServerConfig::new(server_keys.secret.clone())),
            ..Default::default()
        },
    );
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let client = Socket::with_options(
        SocketType::Push,
        SocketOptions {
            mechanism: Arc::new(CurveClientConfig::new(
                client_keys.secret.clone(),
                server_keys.public,
            )),
            ..Default::default()
        },
    );
    client.connect(&ep).await.unwrap();
    client.send("x").await.unwrap();
    let m = tokio::time::timeout(T, server.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.property("User-Id"), None);
}
