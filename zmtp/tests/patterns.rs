//! The socket patterns end to end over loopback: the state machines, the options that change
//! them, and what the application sees of each.

use std::time::Duration;

use bytes::Bytes;
use zmtp::core::pattern::PatternError;
use zmtp::{Socket, SocketError, SocketOptions, SocketType};

const T: Duration = Duration::from_secs(5);
/// Long enough for a message in flight on loopback to arrive.
const SETTLE: Duration = Duration::from_millis(200);

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

/// Nothing arrives within [`SETTLE`].
async fn nothing(s: &Socket) {
    if let Ok(m) = tokio::time::timeout(SETTLE, s.recv()).await {
        panic!("expected nothing, got {m:?}");
    }
}

async fn bind(t: SocketType, o: SocketOptions) -> (Socket, String) {
    let s = Socket::with_options(t, o);
    let ep = s.bind("tcp://127.0.0.1:*").await.unwrap();
    (s, ep)
}

async fn connect(t: SocketType, o: SocketOptions, ep: &str) -> Socket {
    let s = Socket::with_options(t, o);
    s.connect(ep).await.unwrap();
    s.wait_for_peers(1, T).await.unwrap();
    s
}

#[tokio::test]
async fn req_refuses_to_receive_before_sending_and_to_send_twice() {
    let (rep, ep) = bind(SocketType::Rep, SocketOptions::default()).await;
    let req = connect(SocketType::Req, SocketOptions::default(), &ep).await;
    assert!(matches!(
        req.recv().await,
        Err(SocketError::Pattern(PatternError::NoRequestSent))
    ));
    assert!(matches!(
        rep.send(["early"]).await,
        Err(SocketError::Pattern(PatternError::NoRequestReceived))
    ));
    req.send(["one"]).await.unwrap();
    assert!(matches!(
        req.send(["two"]).await,
        Err(SocketError::Pattern(PatternError::AwaitingReply))
    ));
    assert_eq!(recv(&rep).await, [b("one")]);
    // REP owes a reply: it may not take the next request first.
    assert!(matches!(
        rep.recv().await,
        Err(SocketError::Pattern(PatternError::ReplyOwed))
    ));
    rep.send(["reply"]).await.unwrap();
    assert_eq!(recv(&req).await, [b("reply")]);
}

#[tokio::test]
async fn relaxed_correlated_req_takes_only_the_reply_to_its_latest_request() {
    let (router, ep) = bind(SocketType::Router, SocketOptions::default()).await;
    let req = connect(
        SocketType::Req,
        SocketOptions {
            req_correlate: true,
            req_relaxed: true,
            ..Default::default()
        },
        &ep,
    )
    .await;
    req.send(["first"]).await.unwrap();
    let first = recv(&router).await;
    // [routing id, request id, delimiter, body]
    assert_eq!(first.len(), 4, "{first:?}");
    assert_eq!(first[1].len(), 4, "a 4-octet request id");
    assert!(first[2].is_empty());
    req.send(["second"]).await.unwrap();
    let second = recv(&router).await;
    assert_ne!(first[1], second[1], "each request has its own id");
    // The late reply to the abandoned request is dropped; the current one is delivered.
    let mut late = first.clone();
    late[3] = b("late");
    router.send(late).await.unwrap();
    let mut current = second.clone();
    current[3] = b("current");
    router.send(current).await.unwrap();
    assert_eq!(recv(&req).await, [b("current")]);
}

#[tokio::test]
async fn rep_answers_through_any_number_of_hops() {
    let (rep, ep) = bind(SocketType::Rep, SocketOptions::default()).await;
    let dealer = connect(SocketType::Dealer, SocketOptions::default(), &ep).await;
    dealer
        .send(vec![b("hop1"), b("hop2"), b("hop3"), b(""), b("body")])
        .await
        .unwrap();
    assert_eq!(recv(&rep).await, [b("body")]);
    rep.send(["answer"]).await.unwrap();
    assert_eq!(
        recv(&dealer).await,
        [b("hop1"), b("hop2"), b("hop3"), b(""), b("answer")]
    );
}

fn named(id: &'static str) -> SocketOptions {
    SocketOptions {
        routing_id: b(id),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_duplicate_routing_id_is_refused_and_the_first_peer_keeps_it() {
    let (router, ep) = bind(SocketType::Router, SocketOptions::default()).await;
    let first = connect(SocketType::Dealer, named("same"), &ep).await;
    let second = Socket::with_options(SocketType::Dealer, named("same"));
    second.connect(&ep).await.unwrap();
    tokio::time::sleep(SETTLE).await;
    assert_eq!(router.peer_count(), 1, "the newcomer was refused");
    router.send(vec![b("same"), b("to first")]).await.unwrap();
    assert_eq!(recv(&first).await, [b("to first")]);
    nothing(&second).await;
}

#[tokio::test]
async fn router_handover_gives_the_routing_id_to_the_newcomer() {
    let (router, ep) = bind(
        SocketType::Router,
        SocketOptions {
            router_handover: true,
            ..Default::default()
        },
    )
    .await;
    // The evicted peer would reconnect and take the id back (as with libzmq): not soon here.
    let first = connect(
        SocketType::Dealer,
        SocketOptions {
            reconnect_ivl: Duration::from_secs(30),
            ..named("same")
        },
        &ep,
    )
    .await;
    let mut monitor = first.monitor(16);
    let second = connect(SocketType::Dealer, named("same"), &ep).await;
    // The old connection is closed by the ROUTER.
    let closed = tokio::time::timeout(T, async {
        while let Some(e) = monitor.recv().await {
            if e.event == zmtp::MonitorEvent::Disconnected {
                return;
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the evicted peer is disconnected");
    router.send(vec![b("same"), b("to second")]).await.unwrap();
    assert_eq!(recv(&second).await, [b("to second")]);
}

#[tokio::test]
async fn probe_router_announces_a_dealer_at_once() {
    let (router, ep) = bind(SocketType::Router, SocketOptions::default()).await;
    let _dealer = connect(
        SocketType::Dealer,
        SocketOptions {
            probe_router: true,
            ..named("prober")
        },
        &ep,
    )
    .await;
    assert_eq!(recv(&router).await, [b("prober"), b("")]);
}

#[tokio::test]
async fn router_mandatory_fails_for_an_unknown_peer_and_drops_without_it() {
    let (strict, _) = bind(
        SocketType::Router,
        SocketOptions {
            router_mandatory: true,
            ..Default::default()
        },
    )
    .await;
    assert!(matches!(
        strict.send(vec![b("nobody"), b("x")]).await,
        Err(SocketError::HostUnreachable)
    ));
    let (lax, _) = bind(SocketType::Router, SocketOptions::default()).await;
    lax.send(vec![b("nobody"), b("x")]).await.unwrap();
}

async fn subscriber(ep: &str, topic: &'static str) -> Socket {
    let sub = connect(SocketType::Sub, SocketOptions::default(), ep).await;
    sub.subscribe(b(topic)).unwrap();
    sub
}

#[tokio::test]
async fn xpub_passes_up_the_first_subscription_per_topic_and_the_last_cancel() {
    let (xpub, ep) = bind(SocketType::Xpub, SocketOptions::default()).await;
    let one = subscriber(&ep, "news").await;
    assert_eq!(recv(&xpub).await, [b("\x01news")]);
    let two = subscriber(&ep, "news").await;
    nothing(&xpub).await;
    two.unsubscribe(b("news")).unwrap();
    nothing(&xpub).await;
    one.unsubscribe(b("news")).unwrap();
    assert_eq!(recv(&xpub).await, [b("\x00news")]);
}

#[tokio::test]
async fn xpub_verbose_passes_every_subscription_and_verboser_every_cancel() {
    for verboser in [false, true] {
        let (xpub, ep) = bind(
            SocketType::Xpub,
            SocketOptions {
                xpub_verbose: !verboser,
                xpub_verboser: verboser,
                ..Default::default()
            },
        )
        .await;
        let one = subscriber(&ep, "t").await;
        let _two = subscriber(&ep, "t").await;
        assert_eq!(recv(&xpub).await, [b("\x01t")]);
        assert_eq!(recv(&xpub).await, [b("\x01t")], "verbose: the second too");
        one.unsubscribe(b("t")).unwrap();
        if verboser {
            assert_eq!(recv(&xpub).await, [b("\x00t")]);
        } else {
            nothing(&xpub).await;
        }
    }
}

#[tokio::test]
async fn xpub_welcome_message_reaches_each_subscriber_as_it_joins() {
    let (_xpub, ep) = bind(
        SocketType::Xpub,
        SocketOptions {
            xpub_welcome_msg: Some(b("hello")),
            ..Default::default()
        },
    )
    .await;
    let sub = subscriber(&ep, "hello").await;
    assert_eq!(recv(&sub).await, [b("hello")]);
}

#[tokio::test]
async fn invert_matching_delivers_what_does_not_match() {
    let (publisher, ep) = bind(
        SocketType::Pub,
        SocketOptions {
            invert_matching: true,
            ..Default::default()
        },
    )
    .await;
    let sub = Socket::with_options(
        SocketType::Sub,
        SocketOptions {
            invert_matching: true,
            ..Default::default()
        },
    );
    sub.connect(&ep).await.unwrap();
    sub.subscribe(b("skip")).unwrap();
    publisher
        .wait_for_subscribers(1, b"other", T)
        .await
        .unwrap();
    publisher.send(["skip this"]).await.unwrap();
    publisher.send(["other"]).await.unwrap();
    assert_eq!(recv(&sub).await, [b("other")]);
}

#[tokio::test]
async fn xpub_nodrop_waits_for_room_instead_of_dropping() {
    let (xpub, ep) = bind(
        SocketType::Xpub,
        SocketOptions {
            xpub_nodrop: true,
            sndhwm: 2,
            sndtimeo: Some(Duration::from_millis(300)),
            ..Default::default()
        },
    )
    .await;
    // A subscriber that never reads, with the smallest queues: the publisher's pipe fills.
    let sub = Socket::with_options(
        SocketType::Sub,
        SocketOptions {
            rcvhwm: 1,
            ..Default::default()
        },
    );
    sub.connect(&ep).await.unwrap();
    sub.subscribe(b("")).unwrap();
    assert_eq!(recv(&xpub).await, [b("\x01")]);
    let big = Bytes::from(vec![7u8; 1 << 20]);
    let mut timed_out = false;
    for _ in 0..64 {
        match xpub.send(big.clone()).await {
            Ok(()) => {}
            Err(SocketError::Timeout) => {
                timed_out = true;
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(timed_out, "a full subscriber makes a NODROP publisher wait");
}

#[tokio::test]
async fn pull_reads_its_peers_in_turn() {
    let (pull, ep) = bind(
        SocketType::Pull,
        SocketOptions {
            rcvhwm: 10_000,
            ..Default::default()
        },
    )
    .await;
    let busy = connect(SocketType::Push, SocketOptions::default(), &ep).await;
    let quiet = connect(SocketType::Push, SocketOptions::default(), &ep).await;
    for _ in 0..500 {
        busy.send(["busy"]).await.unwrap();
    }
    tokio::time::sleep(SETTLE).await;
    quiet.send(["quiet"]).await.unwrap();
    tokio::time::sleep(SETTLE).await;
    // The quiet peer's one message does not wait behind the busy peer's backlog.
    let mut position = None;
    for i in 0..501 {
        if recv(&pull).await == [b("quiet")] {
            position = Some(i);
            break;
        }
    }
    let position = position.expect("the quiet peer's message arrives");
    assert!(position <= 2, "fair queueing: it came {position}th");
}

#[tokio::test]
async fn readiness_says_when_recv_and_send_would_not_wait() {
    let (pull, ep) = bind(SocketType::Pull, SocketOptions::default()).await;
    let push = Socket::with_options(
        SocketType::Push,
        SocketOptions {
            sndhwm: 1,
            ..Default::default()
        },
    );
    assert!(!push.can_send(), "no peer yet");
    push.connect(&ep).await.unwrap();
    tokio::time::timeout(T, push.writable())
        .await
        .expect("writable once a peer joined");
    assert!(!pull.has_message());
    assert!(!pull.can_send(), "PULL never sends");
    let waiter = tokio::time::timeout(T, pull.readable());
    push.send(["x"]).await.unwrap();
    waiter.await.expect("readable once a message arrived");
    assert!(pull.has_message());
    assert_eq!(recv(&pull).await, [b("x")]);
    assert!(!pull.has_message());
}

#[tokio::test]
async fn sockets_that_never_receive_say_so_at_once() {
    for t in [SocketType::Pub, SocketType::Push] {
        let s = Socket::new(t);
        let r = tokio::time::timeout(T, s.recv()).await.expect("no wait");
        assert!(
            matches!(r, Err(SocketError::Unsupported { .. })),
            "{t:?}: {r:?}"
        );
    }
}

#[tokio::test]
async fn what_a_departed_peer_sent_is_still_read() {
    for (server_type, client_type) in [
        (SocketType::Router, SocketType::Dealer),
        (SocketType::Pair, SocketType::Pair),
    ] {
        let (server, ep) = bind(server_type, SocketOptions::default()).await;
        let client = connect(client_type, named("gone"), &ep).await;
        server.wait_for_peers(1, T).await.unwrap();
        client.send(["one"]).await.unwrap();
        client.send(["two"]).await.unwrap();
        // Both arrived, and the peer left before the application read them.
        tokio::time::timeout(T, async {
            while !server.has_message() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap();
        tokio::time::sleep(SETTLE).await;
        client.close(Duration::from_secs(1)).await;
        tokio::time::timeout(T, async {
            while server.peer_count() > 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap();
        let expect = |body: &'static str| match server_type {
            SocketType::Router => vec![b("gone"), b(body)],
            _ => vec![b(body)],
        };
        assert_eq!(recv(&server).await, expect("one"), "{server_type:?}");
        assert_eq!(recv(&server).await, expect("two"), "{server_type:?}");
    }
}

#[tokio::test]
async fn req_and_rep_readiness_follow_their_turns() {
    let (rep, ep) = bind(SocketType::Rep, SocketOptions::default()).await;
    let req = connect(SocketType::Req, SocketOptions::default(), &ep).await;
    assert!(req.can_send() && !rep.can_send(), "REQ speaks first");
    req.send(["q"]).await.unwrap();
    assert!(!req.can_send(), "REQ awaits its reply");
    tokio::time::timeout(T, rep.readable()).await.unwrap();
    assert!(rep.has_message());
    assert_eq!(recv(&rep).await, [b("q")]);
    assert!(rep.can_send() && !rep.has_message(), "REP owes the reply");
    rep.send(["a"]).await.unwrap();
    tokio::time::timeout(T, req.readable()).await.unwrap();
    assert_eq!(recv(&req).await, [b("a")]);
    assert!(req.can_send());
}

#[tokio::test]
async fn conflate_keeps_the_newest_message_only() {
    let conflated = || SocketOptions {
        conflate: true,
        ..Default::default()
    };
    let (publisher, ep) = bind(SocketType::Pub, conflated()).await;
    let sub = Socket::with_options(SocketType::Sub, conflated());
    sub.connect(&ep).await.unwrap();
    sub.subscribe(b("")).unwrap();
    publisher.wait_for_subscribers(1, b"", T).await.unwrap();
    for i in 0..100u8 {
        publisher.send(vec![Bytes::from(vec![i])]).await.unwrap();
    }
    tokio::time::sleep(SETTLE).await;
    assert_eq!(recv(&sub).await, [Bytes::from(vec![99u8])]);
    nothing(&sub).await;
}

#[tokio::test]
async fn a_dropped_socket_lingers_to_flush_what_it_queued() {
    let (pull, ep) = bind(SocketType::Pull, SocketOptions::default()).await;
    let push = connect(
        SocketType::Push,
        SocketOptions {
            linger: Duration::from_secs(5),
            ..Default::default()
        },
        &ep,
    )
    .await;
    let body = Bytes::from(vec![1u8; 64 << 10]);
    for _ in 0..500 {
        push.send(body.clone()).await.unwrap();
    }
    drop(push);
    for i in 0..500 {
        tokio::time::timeout(T, pull.recv())
            .await
            .unwrap_or_else(|_| panic!("message {i} of 500 was lost"))
            .unwrap();
    }
}

#[tokio::test]
async fn a_new_request_drops_replies_still_queued_for_the_old_one() {
    let (router, ep) = bind(SocketType::Router, SocketOptions::default()).await;
    let req = connect(SocketType::Req, SocketOptions::default(), &ep).await;
    req.send(["q1"]).await.unwrap();
    let mut request = recv(&router).await;
    // The peer answers twice; the second answer is queued when REQ has its reply.
    *request.last_mut().unwrap() = b("r1");
    router.send(request.clone()).await.unwrap();
    router.send(request.clone()).await.unwrap();
    assert_eq!(recv(&req).await, [b("r1")]);
    tokio::time::sleep(SETTLE).await;
    req.send(["q2"]).await.unwrap();
    let mut second = recv(&router).await;
    *second.last_mut().unwrap() = b("r2");
    router.send(second).await.unwrap();
    assert_eq!(recv(&req).await, [b("r2")], "not the stale duplicate of r1");
}

#[tokio::test]
async fn a_pub_encodes_once_yet_every_subscriber_gets_its_own_messages_in_order() {
    // Three NULL subscribers over TCP (the message is encoded once for them), one over inproc
    // (which takes parts), with different subscriptions; messages of one, two and three parts,
    // and one large enough to travel as parts to everyone.
    let publisher = Socket::new(SocketType::Pub);
    let ep = publisher.bind("tcp://127.0.0.1:*").await.unwrap();
    publisher.bind("inproc://encode-once").await.unwrap();
    let mut subs = Vec::new();
    for (endpoint, topic) in [
        (ep.as_str(), ""),
        (ep.as_str(), "a"),
        (ep.as_str(), ""),
        ("inproc://encode-once", ""),
    ] {
        let sub = Socket::new(SocketType::Sub);
        sub.subscribe(Bytes::from(topic.to_owned())).unwrap();
        sub.connect(endpoint).await.unwrap();
        subs.push((sub, topic));
    }
    publisher.wait_for_subscribers(4, b"a", T).await.unwrap();
    let big = Bytes::from(vec![9u8; 20 << 10]);
    let sent: Vec<Vec<Bytes>> = vec![
        vec![b("a1")],
        vec![b("b"), b("body")],
        vec![b("a"), b(""), b("three")],
        vec![b("a"), big.clone()],
        vec![b("bb")],
    ];
    for round in 0..50 {
        for m in &sent {
            publisher.send(m.clone()).await.unwrap();
        }
        if round == 0 {
            // Each subscriber's first round, checked whole before the rest pile up.
            for (sub, topic) in &subs {
                for m in sent.iter().filter(|m| m[0].starts_with(topic.as_bytes())) {
                    assert_eq!(&recv(sub).await, m, "topic {topic:?}");
                }
            }
        }
    }
    for (sub, topic) in &subs {
        for _ in 1..50 {
            for m in sent.iter().filter(|m| m[0].starts_with(topic.as_bytes())) {
                assert_eq!(&recv(sub).await, m, "topic {topic:?}");
            }
        }
        nothing(sub).await;
    }
}
