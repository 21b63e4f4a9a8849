//! End-to-end socket tests over loopback TCP and IPC.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zmtp::{MonitorEvent, Socket, SocketOptions, SocketType};

const T: Duration = Duration::from_secs(5);

async fn recv(s: &Socket) -> Vec<Bytes> {
    tokio::time::timeout(T, s.recv())
        .await
        .expect("message within 5 s")
        .expect("recv")
        .into_parts()
}

async fn bound_pair(a: SocketType, b: SocketType) -> (Socket, Socket) {
    let server = Socket::new(a);
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let client = Socket::new(b);
    client.connect(&ep).await.unwrap();
    client.wait_for_peers(1, T).await.unwrap();
    server.wait_for_peers(1, T).await.unwrap();
    (server, client)
}

#[tokio::test]
async fn dealer_router_round_trip_with_routing_id() {
    let server = Socket::new(SocketType::Router);
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let client = Socket::with_options(
        SocketType::Dealer,
        SocketOptions {
            routing_id: Bytes::from_static(b"client-1"),
            ..Default::default()
        },
    );
    client.connect(&ep).await.unwrap();
    client.send(["hello", "world"]).await.unwrap();
    let msg = tokio::time::timeout(T, server.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(msg.parts()[0], Bytes::from_static(b"client-1"));
    assert_eq!(
        &msg.parts()[1..],
        &[Bytes::from_static(b"hello"), Bytes::from_static(b"world")]
    );
    assert_eq!(msg.property("Socket-Type"), Some("DEALER"));
    assert_eq!(msg.property("Peer-Address"), Some("127.0.0.1"));
    server
        .send(vec![
            Bytes::from_static(b"client-1"),
            Bytes::from_static(b"back"),
        ])
        .await
        .unwrap();
    assert_eq!(recv(&client).await, vec![Bytes::from_static(b"back")]);
}

#[tokio::test]
async fn push_pull_both_directions_of_binding() {
    let (pull, push) = bound_pair(SocketType::Pull, SocketType::Push).await;
    for i in 0..100u32 {
        push.send(Bytes::from(i.to_be_bytes().to_vec()))
            .await
            .unwrap();
    }
    for i in 0..100u32 {
        assert_eq!(
            recv(&pull).await,
            vec![Bytes::from(i.to_be_bytes().to_vec())]
        );
    }
    let (push, pull) = bound_pair(SocketType::Push, SocketType::Pull).await;
    push.send("x").await.unwrap();
    assert_eq!(recv(&pull).await, vec![Bytes::from_static(b"x")]);
}

#[tokio::test]
async fn push_round_robins_over_pullers() {
    let push = Socket::new(SocketType::Push);
    let ep = push.bind("tcp://127.0.0.1:*").await.unwrap();
    let a = Socket::new(SocketType::Pull);
    let b = Socket::new(SocketType::Pull);
    a.connect(&ep).await.unwrap();
    b.connect(&ep).await.unwrap();
    push.wait_for_peers(2, T).await.unwrap();
    for _ in 0..4 {
        push.send("m").await.unwrap();
    }
    for s in [&a, &b] {
        recv(s).await;
        recv(s).await;
    }
}

#[tokio::test]
async fn one_mebibyte_message_and_multipart() {
    let (a, b) = bound_pair(SocketType::Pair, SocketType::Pair).await;
    let big = Bytes::from(vec![0xA5u8; 1 << 20]);
    a.send(vec![Bytes::from_static(b"head"), big.clone()])
        .await
        .unwrap();
    b.send(vec![big.clone(), Bytes::new()]).await.unwrap();
    assert_eq!(
        recv(&b).await,
        vec![Bytes::from_static(b"head"), big.clone()]
    );
    assert_eq!(recv(&a).await, vec![big, Bytes::new()]);
}

#[tokio::test]
async fn pair_accepts_only_one_peer() {
    let a = Socket::new(SocketType::Pair);
    let ep = a.bind("tcp://127.0.0.1:*").await.unwrap();
    let mut monitor = a.monitor(64);
    let b = Socket::new(SocketType::Pair);
    b.connect(&ep).await.unwrap();
    a.wait_for_peers(1, T).await.unwrap();
    let c = Socket::new(SocketType::Pair);
    c.connect(&ep).await.unwrap();
    // The second peer completes its handshake, then is disconnected by the socket.
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let ev = tokio::time::timeout_at(deadline, monitor.recv())
            .await
            .unwrap()
            .unwrap();
        if ev.event == MonitorEvent::Disconnected {
            break;
        }
    }
    assert_eq!(a.peer_count(), 1);
    b.send("from b").await.unwrap();
    assert_eq!(recv(&a).await, vec![Bytes::from_static(b"from b")]);
}

#[tokio::test]
async fn req_rep_envelopes() {
    let (rep, req) = bound_pair(SocketType::Rep, SocketType::Req).await;
    req.send("ping").await.unwrap();
    assert_eq!(recv(&rep).await, vec![Bytes::from_static(b"ping")]);
    assert!(
        req.send("again").await.is_err(),
        "REQ must wait for the reply"
    );
    rep.send("pong").await.unwrap();
    assert_eq!(recv(&req).await, vec![Bytes::from_static(b"pong")]);
}

#[tokio::test]
async fn req_through_router_sees_delimiter() {
    let (router, req) = bound_pair(SocketType::Router, SocketType::Req).await;
    req.send("q").await.unwrap();
    let parts = recv(&router).await;
    assert_eq!(parts.len(), 3);
    assert!(parts[1].is_empty());
    router
        .send(vec![
            parts[0].clone(),
            Bytes::new(),
            Bytes::from_static(b"a"),
        ])
        .await
        .unwrap();
    assert_eq!(recv(&req).await, vec![Bytes::from_static(b"a")]);
}

#[tokio::test]
async fn pub_sub_filters_by_prefix() {
    let (publisher, sub) = bound_pair(SocketType::Pub, SocketType::Sub).await;
    sub.subscribe(Bytes::from_static(b"wea")).unwrap();
    // Wait until the subscription has reached the publisher.
    for _ in 0..100 {
        publisher.send(["noise", "x"]).await.unwrap();
        publisher.send(["weather", "sunny"]).await.unwrap();
        if let Ok(Ok(m)) = tokio::time::timeout(Duration::from_millis(50), sub.recv()).await {
            assert_eq!(m.parts()[0], Bytes::from_static(b"weather"));
            return;
        }
    }
    panic!("subscription never took effect");
}

#[tokio::test]
async fn publisher_waits_for_subscriptions_then_nothing_is_lost() {
    let (publisher, sub) = bound_pair(SocketType::Pub, SocketType::Sub).await;
    let short = Duration::from_millis(100);
    // Connected but not subscribed: the wait times out.
    assert!(matches!(
        publisher.wait_for_subscribers(1, b"weather", short).await,
        Err(zmtp::SocketError::Timeout)
    ));
    sub.subscribe(Bytes::from_static(b"wea")).unwrap();
    publisher
        .wait_for_subscribers(1, b"weather", T)
        .await
        .unwrap();
    // A subscription to another topic, or a second subscriber, is not there.
    for (n, topic) in [(1, &b"news"[..]), (1, b""), (2, b"weather")] {
        assert!(matches!(
            publisher.wait_for_subscribers(n, topic, short).await,
            Err(zmtp::SocketError::Timeout)
        ));
    }
    // The first message after the wait arrives; no retry loop needed.
    publisher.send(["weather", "sunny"]).await.unwrap();
    assert_eq!(recv(&sub).await[1], Bytes::from_static(b"sunny"));
    // A later subscription is waited for in the same way.
    sub.subscribe(Bytes::from_static(b"news")).unwrap();
    publisher.wait_for_subscribers(1, b"news", T).await.unwrap();
    publisher.send(["news", "today"]).await.unwrap();
    assert_eq!(recv(&sub).await[1], Bytes::from_static(b"today"));
    // Other types cannot ask.
    assert!(matches!(
        sub.wait_for_subscribers(1, b"", T).await,
        Err(zmtp::SocketError::Unsupported { .. })
    ));
}

#[tokio::test]
async fn garbage_and_wrong_mechanism_do_not_stop_the_server() {
    let server = Socket::new(SocketType::Pull);
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let mut monitor = server.monitor(64);
    let addr = ep.trim_start_matches("tcp://").to_owned();

    // Garbage.
    let mut junk = TcpStream::connect(&addr).await.unwrap();
    junk.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 128];
    let _ = tokio::time::timeout(T, junk.read(&mut buf)).await; // our greeting, then close

    // A PLAIN greeting against a NULL server.
    let mut wrong = TcpStream::connect(&addr).await.unwrap();
    let mut g = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 1];
    g.extend_from_slice(b"PLAIN\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
    g.extend_from_slice(&[0u8; 32]);
    wrong.write_all(&g).await.unwrap();

    let mut saw_mismatch = false;
    let deadline = tokio::time::Instant::now() + T;
    while !saw_mismatch {
        let ev = tokio::time::timeout_at(deadline, monitor.recv())
            .await
            .unwrap()
            .unwrap();
        if ev.event == MonitorEvent::HandshakeFailedProtocol && ev.value == 0x1100_0002 {
            saw_mismatch = true;
        }
    }

    // A real client still gets through.
    let push = Socket::new(SocketType::Push);
    push.connect(&ep).await.unwrap();
    push.send("still serving").await.unwrap();
    assert_eq!(
        recv(&server).await,
        vec![Bytes::from_static(b"still serving")]
    );
}

#[tokio::test]
async fn oversized_frame_closes_that_peer_only() {
    let mut opts = SocketOptions::default();
    opts.limits.max_frame_size = 1024;
    opts.limits.max_message_size = 1024;
    let server = Socket::with_options(SocketType::Pull, opts);
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let big = Socket::new(SocketType::Push);
    big.connect(&ep).await.unwrap();
    big.send(vec![0u8; 4096]).await.unwrap();
    let small = Socket::new(SocketType::Push);
    small.connect(&ep).await.unwrap();
    small.send("ok").await.unwrap();
    assert_eq!(recv(&server).await, vec![Bytes::from_static(b"ok")]);
}

#[cfg(unix)]
#[tokio::test]
async fn ipc_transport() {
    let dir = std::env::temp_dir().join(format!("zmtp-ipc-{}", std::process::id()));
    let ep = format!("ipc://{}", dir.display());
    let pull = Socket::new(SocketType::Pull);
    pull.bind(&ep).await.unwrap();
    let push = Socket::new(SocketType::Push);
    push.connect(&ep).await.unwrap();
    push.send("over ipc").await.unwrap();
    assert_eq!(recv(&pull).await, vec![Bytes::from_static(b"over ipc")]);
}

#[tokio::test]
async fn close_with_linger_flushes_queued_messages() {
    let pull = Socket::new(SocketType::Pull);
    let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap();
    let push = Socket::new(SocketType::Push);
    push.connect(&ep).await.unwrap();
    for i in 0..500u32 {
        push.send(Bytes::from(vec![(i % 251) as u8; 10_000]))
            .await
            .unwrap();
    }
    push.close(T).await;
    for i in 0..500u32 {
        assert_eq!(
            recv(&pull).await,
            vec![Bytes::from(vec![(i % 251) as u8; 10_000])]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_subscriptions_survive_a_small_sndhwm_and_a_publisher_restart() {
    // Subscriptions used to travel in the message queue (SNDHWM slots) with try_send: beyond
    // the high-water mark they were silently lost, at connect and on every reconnect.
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let ep = format!("tcp://127.0.0.1:{port}");
    let sub = Socket::with_options(
        SocketType::Sub,
        SocketOptions {
            sndhwm: 10,
            reconnect_ivl: Duration::from_millis(20),
            ..Default::default()
        },
    );
    for i in 0..5_000 {
        sub.subscribe(Bytes::from(format!("topic-{i:05}/")))
            .unwrap();
    }
    sub.connect(&ep).await.unwrap();
    for round in 0..2 {
        let publisher = Socket::new(SocketType::Pub);
        publisher.bind(&ep).await.unwrap();
        for topic in ["topic-00000/", "topic-02500/", "topic-04999/"] {
            publisher
                .wait_for_subscribers(1, topic.as_bytes(), T)
                .await
                .unwrap_or_else(|_| panic!("round {round}: {topic} arrived"));
        }
        // Subscriptions made while connected arrive too, however many.
        let late: Vec<String> = (0..2_000)
            .map(|i| format!("late-{round}-{i:04}/"))
            .collect();
        for t in &late {
            sub.subscribe(Bytes::from(t.clone())).unwrap();
        }
        publisher
            .wait_for_subscribers(1, late.last().unwrap().as_bytes(), T)
            .await
            .unwrap();
        publisher.send(["topic-02500/x", "payload"]).await.unwrap();
        assert_eq!(recv(&sub).await[1], Bytes::from_static(b"payload"));
        publisher.close(Duration::ZERO).await;
        // Let the subscriber notice, so the next round is a real reconnect.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn sndtimeo_and_rcvtimeo_bound_the_waits() {
    let limit = Duration::from_millis(50);
    let options = SocketOptions {
        sndtimeo: Some(limit),
        rcvtimeo: Some(limit),
        ..Default::default()
    };
    // No peer: a DEALER's send waits for one, a PULL's recv for a message; both give up.
    let dealer = Socket::with_options(SocketType::Dealer, options.clone());
    let started = std::time::Instant::now();
    assert!(matches!(
        dealer.send(["nobody"]).await,
        Err(zmtp::SocketError::Timeout)
    ));
    let pull = Socket::with_options(SocketType::Pull, options.clone());
    assert!(matches!(pull.recv().await, Err(zmtp::SocketError::Timeout)));
    assert!(started.elapsed() < T, "both gave up in time");
    // Zero means do not wait: what is already possible still happens.
    let zero = SocketOptions {
        sndtimeo: Some(Duration::ZERO),
        rcvtimeo: Some(Duration::ZERO),
        ..Default::default()
    };
    let server = Socket::with_options(SocketType::Pull, zero.clone());
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    assert!(matches!(
        server.recv().await,
        Err(zmtp::SocketError::Timeout)
    ));
    let client = Socket::with_options(SocketType::Push, zero);
    assert!(matches!(
        client.send(["early"]).await,
        Err(zmtp::SocketError::Timeout)
    ));
    client.connect(&ep).await.unwrap();
    client.wait_for_peers(1, T).await.unwrap();
    client.send(["ready"]).await.unwrap();
    let deadline = tokio::time::Instant::now() + T;
    loop {
        match server.recv().await {
            Ok(m) => {
                assert_eq!(m.parts()[0], Bytes::from_static(b"ready"));
                break;
            }
            Err(zmtp::SocketError::Timeout) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
}
