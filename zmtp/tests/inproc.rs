//! `inproc://`: sockets of one process, joined without encoding.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use zmtp::{Socket, SocketError, SocketOptions, SocketType};

const T: Duration = Duration::from_secs(5);

/// A name no other test uses.
fn name() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("inproc://test-{}", N.fetch_add(1, Ordering::Relaxed))
}

fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

async fn recv(s: &Socket) -> Vec<Bytes> {
    tokio::time::timeout(T, s.recv())
        .await
        .expect("message within 5 s")
        .expect("recv")
        .into_parts()
}

#[tokio::test]
async fn push_pull_pass_the_very_same_buffers() {
    let ep = name();
    let pull = Socket::new(SocketType::Pull);
    assert_eq!(pull.bind(&ep).await.unwrap(), ep);
    let push = Socket::new(SocketType::Push);
    push.connect(&ep).await.unwrap();
    let big = Bytes::from(vec![9u8; 1 << 20]);
    push.send(vec![b("head"), big.clone()]).await.unwrap();
    let msg = tokio::time::timeout(T, pull.recv()).await.unwrap().unwrap();
    assert_eq!(msg.parts()[0], b("head"));
    assert_eq!(
        msg.parts()[1].as_ptr(),
        big.as_ptr(),
        "nothing was encoded or copied"
    );
    assert_eq!(msg.property("Socket-Type"), Some("PUSH"));
}

#[tokio::test]
async fn connect_may_come_before_bind() {
    let ep = name();
    let push = Socket::new(SocketType::Push);
    push.connect(&ep).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let pull = Socket::new(SocketType::Pull);
    pull.bind(&ep).await.unwrap();
    push.send(["late bind"]).await.unwrap();
    assert_eq!(recv(&pull).await, [b("late bind")]);
}

#[tokio::test]
async fn req_rep_and_router_dealer_keep_their_envelopes() {
    let ep = name();
    let rep = Socket::new(SocketType::Rep);
    rep.bind(&ep).await.unwrap();
    let req = Socket::new(SocketType::Req);
    req.connect(&ep).await.unwrap();
    req.send(["ping"]).await.unwrap();
    assert_eq!(recv(&rep).await, [b("ping")]);
    rep.send(["pong"]).await.unwrap();
    assert_eq!(recv(&req).await, [b("pong")]);

    let ep = name();
    let router = Socket::new(SocketType::Router);
    router.bind(&ep).await.unwrap();
    let dealer = Socket::with_options(
        SocketType::Dealer,
        SocketOptions {
            routing_id: b("me"),
            ..Default::default()
        },
    );
    dealer.connect(&ep).await.unwrap();
    dealer.send(["hi"]).await.unwrap();
    assert_eq!(recv(&router).await, [b("me"), b("hi")]);
    router.send(vec![b("me"), b("back")]).await.unwrap();
    assert_eq!(recv(&dealer).await, [b("back")]);
}

#[tokio::test]
async fn subscriptions_cross_in_both_orders() {
    // SUB subscribes before the link exists: the subscription is replayed when it joins.
    let ep = name();
    let sub = Socket::new(SocketType::Sub);
    sub.subscribe(b("a")).unwrap();
    sub.connect(&ep).await.unwrap();
    let publisher = Socket::new(SocketType::Pub);
    publisher.bind(&ep).await.unwrap();
    publisher.wait_for_subscribers(1, b"a", T).await.unwrap();
    publisher.send(["b-skip"]).await.unwrap();
    publisher.send(["a-take"]).await.unwrap();
    assert_eq!(recv(&sub).await, [b("a-take")]);
    // A subscription made afterwards travels too, and XPUB hears of it.
    let ep = name();
    let xpub = Socket::new(SocketType::Xpub);
    xpub.bind(&ep).await.unwrap();
    let sub = Socket::new(SocketType::Sub);
    sub.connect(&ep).await.unwrap();
    sub.wait_for_peers(1, T).await.unwrap();
    sub.subscribe(b("news")).unwrap();
    assert_eq!(recv(&xpub).await, [b("\x01news")]);
}

#[tokio::test]
async fn high_water_marks_bound_what_waits() {
    let ep = name();
    let pull = Socket::with_options(
        SocketType::Pull,
        SocketOptions {
            rcvhwm: 10,
            ..Default::default()
        },
    );
    pull.bind(&ep).await.unwrap();
    let push = Socket::with_options(
        SocketType::Push,
        SocketOptions {
            sndhwm: 10,
            sndtimeo: Some(Duration::from_millis(200)),
            ..Default::default()
        },
    );
    push.connect(&ep).await.unwrap();
    push.wait_for_peers(1, T).await.unwrap();
    let mut sent = 0usize;
    loop {
        match push.send(["x"]).await {
            Ok(()) => sent += 1,
            Err(SocketError::Timeout) => break,
            Err(e) => panic!("{e}"),
        }
        assert!(sent <= 1000, "nothing bounds the queue");
    }
    // Both marks, and at most one batch held between them.
    assert!(sent <= 10 + 10 + 256, "{sent} messages queued");
    for _ in 0..sent {
        assert_eq!(recv(&pull).await, [b("x")]);
    }
}

#[tokio::test]
async fn a_bound_name_is_taken_until_its_socket_closes() {
    let ep = name();
    let first = Socket::new(SocketType::Pull);
    first.bind(&ep).await.unwrap();
    let second = Socket::new(SocketType::Pull);
    assert!(matches!(
        second.bind(&ep).await,
        Err(SocketError::Io { .. })
    ));
    first.close(Duration::ZERO).await;
    tokio::time::timeout(T, async {
        while second.bind(&ep).await.is_err() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the name is free once its socket closed");
}

#[tokio::test]
async fn incompatible_types_never_join() {
    let ep = name();
    let a = Socket::new(SocketType::Push);
    a.bind(&ep).await.unwrap();
    let c = Socket::new(SocketType::Push);
    c.connect(&ep).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(a.peer_count(), 0);
    assert_eq!(c.peer_count(), 0);
}
