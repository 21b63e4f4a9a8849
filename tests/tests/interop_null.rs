//! Interop with a real libzmq 4.3.5 (through pyzmq), NULL mechanism: every case runs with our side
//! binding and with our side connecting.

use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use zmtp::{Socket, SocketOptions, SocketType};
use zmtp_tests::pyzmq::{hex_frames, Peer};
use zmtp_tests::recv;

/// Connects `ours` and a libzmq peer of `their_type`; returns the peer. `we_bind` picks sides.
async fn link(
    ours: &Socket,
    their_type: &str,
    we_bind: bool,
    mut config: serde_json::Value,
) -> Peer {
    config["type"] = json!(their_type);
    if we_bind {
        let ep = ours.bind("tcp://127.0.0.1:*").await.unwrap();
        config["connect"] = json!(ep);
        Peer::spawn(&config)
    } else {
        config["bind"] = json!("tcp://127.0.0.1:*");
        let mut peer = Peer::spawn(&config);
        let ep = peer.bound().await;
        ours.connect(&ep).await.unwrap();
        peer
    }
}

async fn dealer_dealer(we_bind: bool) {
    let ours = Socket::new(SocketType::Dealer);
    let big = vec![0x5Au8; 1 << 20];
    let peer = link(
        &ours,
        "DEALER",
        we_bind,
        json!({ "script": [
            { "op": "recv", "count": 1 },
            { "op": "send", "frames": hex_frames(&[b"from", b"libzmq", &big]) },
        ]}),
    )
    .await;
    ours.send(vec![
        Bytes::from_static(b"multi"),
        Bytes::new(),
        Bytes::from(big.clone()),
    ])
    .await
    .unwrap();
    let reply = recv(&ours).await;
    assert_eq!(
        reply.parts()[..2],
        [Bytes::from_static(b"from"), Bytes::from_static(b"libzmq")]
    );
    assert_eq!(reply.parts()[2].len(), 1 << 20);
    assert_eq!(reply.property("Socket-Type"), Some("DEALER"));
    let mut peer = peer;
    let (frames, props) = peer.received().await;
    assert_eq!(frames, vec![b"multi".to_vec(), vec![], big]);
    assert_eq!(props["Socket-Type"], "DEALER");
    peer.done().await;
}

#[tokio::test]
async fn dealer_with_libzmq_dealer_we_bind() {
    dealer_dealer(true).await;
}

#[tokio::test]
async fn dealer_with_libzmq_dealer_we_connect() {
    dealer_dealer(false).await;
}

async fn push_to_libzmq(we_bind: bool) {
    let ours = Socket::new(SocketType::Push);
    let mut peer = link(
        &ours,
        "PULL",
        we_bind,
        json!({ "script": [{ "op": "recv", "count": 3 }] }),
    )
    .await;
    for i in 0..3u8 {
        ours.send(vec![Bytes::from(vec![i]), Bytes::from_static(b"part")])
            .await
            .unwrap();
    }
    for i in 0..3u8 {
        let (frames, props) = peer.received().await;
        assert_eq!(frames, vec![vec![i], b"part".to_vec()]);
        assert_eq!(props["Socket-Type"], "PUSH");
    }
    peer.done().await;
}

#[tokio::test]
async fn push_to_libzmq_pull_we_bind() {
    push_to_libzmq(true).await;
}

#[tokio::test]
async fn push_to_libzmq_pull_we_connect() {
    push_to_libzmq(false).await;
}

async fn pull_from_libzmq(we_bind: bool) {
    let ours = Socket::new(SocketType::Pull);
    let peer = link(
        &ours,
        "PUSH",
        we_bind,
        json!({ "script": [{ "op": "send", "frames": hex_frames(&[b"a", b"b"]) }] }),
    )
    .await;
    let m = recv(&ours).await;
    assert_eq!(
        m.parts(),
        &[Bytes::from_static(b"a"), Bytes::from_static(b"b")]
    );
    assert_eq!(m.property("Socket-Type"), Some("PUSH"));
    peer.done().await;
}

#[tokio::test]
async fn pull_from_libzmq_push_we_bind() {
    pull_from_libzmq(true).await;
}

#[tokio::test]
async fn pull_from_libzmq_push_we_connect() {
    pull_from_libzmq(false).await;
}

async fn router_with_libzmq_dealer(we_bind: bool) {
    let ours = Socket::new(SocketType::Router);
    let mut peer = link(
        &ours,
        "DEALER",
        we_bind,
        json!({
            "options": { "routing_id": hex::encode("lz-dealer") },
            "script": [
                { "op": "send", "frames": hex_frames(&[b"hello"]) },
                { "op": "recv", "count": 1 },
            ]
        }),
    )
    .await;
    let m = recv(&ours).await;
    assert_eq!(
        m.parts(),
        &[
            Bytes::from_static(b"lz-dealer"),
            Bytes::from_static(b"hello")
        ]
    );
    assert_eq!(m.property("Identity"), Some("lz-dealer"));
    ours.send(vec![
        Bytes::from_static(b"lz-dealer"),
        Bytes::from_static(b"routed"),
    ])
    .await
    .unwrap();
    let (frames, _) = peer.received().await;
    assert_eq!(frames, vec![b"routed".to_vec()]);
    peer.done().await;
}

#[tokio::test]
async fn router_with_libzmq_dealer_routing_id_we_bind() {
    router_with_libzmq_dealer(true).await;
}

#[tokio::test]
async fn router_with_libzmq_dealer_routing_id_we_connect() {
    router_with_libzmq_dealer(false).await;
}

#[tokio::test]
async fn libzmq_router_sees_our_routing_id() {
    let ours = Socket::with_options(
        SocketType::Dealer,
        SocketOptions {
            routing_id: Bytes::from_static(b"rust-dealer"),
            ..Default::default()
        },
    );
    let mut peer = link(
        &ours,
        "ROUTER",
        false,
        json!({ "script": [
            { "op": "recv", "count": 1 },
            { "op": "send", "frames": hex_frames(&[b"rust-dealer", b"back"]) },
        ]}),
    )
    .await;
    ours.send("hi").await.unwrap();
    let (frames, _) = peer.received().await;
    assert_eq!(frames, vec![b"rust-dealer".to_vec(), b"hi".to_vec()]);
    assert_eq!(recv(&ours).await.parts(), &[Bytes::from_static(b"back")]);
    peer.done().await;
}

/// libzmq with heartbeats on sends us PING every 100 ms and drops the connection if no answer
/// (PONG or any traffic) comes within 300 ms; after 1.5 s of silence the link must still work.
async fn libzmq_heartbeats(we_bind: bool) {
    let ours = Socket::new(SocketType::Dealer);
    let peer = link(
        &ours,
        "DEALER",
        we_bind,
        json!({
            "monitor": true,
            "options": { "heartbeat_ivl": 100, "heartbeat_timeout": 300, "heartbeat_ttl": 500 },
            "script": [
                { "op": "wait_event", "event": "HANDSHAKE_SUCCEEDED" },
                { "op": "sleep", "ms": 1500 },
                { "op": "send", "frames": hex_frames(&[b"still here"]) },
            ]
        }),
    )
    .await;
    let m = recv(&ours).await;
    assert_eq!(m.parts(), &[Bytes::from_static(b"still here")]);
    let seen = peer.done().await;
    assert!(
        !seen.iter().any(|l| l["event"] == "DISCONNECTED"),
        "libzmq dropped us: {seen:?}"
    );
}

#[tokio::test]
async fn answers_libzmq_heartbeats_we_bind() {
    libzmq_heartbeats(true).await;
}

#[tokio::test]
async fn answers_libzmq_heartbeats_we_connect() {
    libzmq_heartbeats(false).await;
}

#[tokio::test]
async fn our_heartbeats_to_libzmq() {
    let mut opts = SocketOptions::default();
    opts.heartbeat.interval = Some(Duration::from_millis(100));
    opts.heartbeat.timeout = Some(Duration::from_millis(300));
    let ours = Socket::with_options(SocketType::Dealer, opts);
    let mut monitor = ours.monitor(64);
    let peer = link(
        &ours,
        "DEALER",
        true,
        json!({ "script": [{ "op": "sleep", "ms": 1200 }, { "op": "send", "frames": hex_frames(&[b"x"]) }] }),
    )
    .await;
    assert_eq!(recv(&ours).await.parts(), &[Bytes::from_static(b"x")]);
    peer.done().await;
    while let Ok(ev) = monitor.try_recv() {
        assert_ne!(ev.event, zmtp::MonitorEvent::HandshakeFailedNoDetail);
    }
}
