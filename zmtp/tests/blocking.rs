//! The blocking API, used the way a program written for the zmq crate uses it.
//!
//! Every test runs inside [`bounded`], so that a hang fails the test instead of stalling the
//! run, and every receive that could wait has a RCVTIMEO.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use zmtp::blocking as zmq;
use zmtp::blocking::Error;
use zmtp::mechanisms::CurveKeyPair;

/// The longest any test may take.
const TEST_LIMIT: Duration = Duration::from_secs(30);
/// RCVTIMEO for receives that should succeed.
const RCVTIMEO_MS: i32 = 5000;

/// Runs `test` on its own thread and fails if it takes longer than [`TEST_LIMIT`] (the thread
/// is then abandoned).
fn bounded(test: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    let runner = thread::spawn(move || {
        test();
        let _ = done.send(());
    });
    match finished.recv_timeout(TEST_LIMIT) {
        Ok(()) => runner.join().unwrap(),
        // The test panicked: join to report its panic.
        Err(mpsc::RecvTimeoutError::Disconnected) => runner.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("test did not finish in {TEST_LIMIT:?}"),
    }
}

/// A socket bound to a free loopback port, and its endpoint.
fn bound(ctx: &zmq::Context, kind: zmq::SocketType) -> (zmq::Socket, String) {
    let socket = ctx.socket(kind).unwrap();
    socket.set_rcvtimeo(RCVTIMEO_MS).unwrap();
    socket.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = socket.get_last_endpoint().unwrap().unwrap();
    (socket, endpoint)
}

fn connected(ctx: &zmq::Context, kind: zmq::SocketType, endpoint: &str) -> zmq::Socket {
    let socket = ctx.socket(kind).unwrap();
    socket.set_rcvtimeo(RCVTIMEO_MS).unwrap();
    socket.connect(endpoint).unwrap();
    socket
}

/// Runs `work` on a thread; the receiver yields its result.
fn spawn<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> mpsc::Receiver<T> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(work());
    });
    rx
}

#[test]
fn req_rep_over_tcp() {
    bounded(|| {
        let ctx = zmq::Context::new();
        let (responder, endpoint) = bound(&ctx, zmq::REP);
        assert!(endpoint.starts_with("tcp://127.0.0.1:"));
        assert!(!endpoint.ends_with(":0"), "the real port: {endpoint}");
        let server = spawn(move || {
            for _ in 0..3 {
                let request = responder.recv_string(0).unwrap().unwrap();
                responder
                    .send(format!("{request} World").as_str(), 0)
                    .unwrap();
            }
        });
        let requester = connected(&ctx, zmq::REQ, &endpoint);
        for n in 0..3 {
            requester.send(format!("Hello {n}"), 0).unwrap();
            // REQ must receive before it sends again: the pattern's error (libzmq's EFSM).
            assert!(matches!(
                requester.send("too soon", 0),
                Err(Error::Socket(zmtp::SocketError::Pattern(_)))
            ));
            let reply = requester.recv_msg(0).unwrap();
            assert_eq!(reply.as_str(), Some(format!("Hello {n} World").as_str()));
            assert!(!reply.get_more());
            assert_eq!(reply.gets("Socket-Type"), Some("REP"));
        }
        server.recv_timeout(TEST_LIMIT).unwrap();
    });
}

#[test]
fn push_pull_multipart_with_sndmore() {
    bounded(|| {
        let ctx = zmq::Context::new();
        let (pull, endpoint) = bound(&ctx, zmq::PULL);
        let push = connected(&ctx, zmq::PUSH, &endpoint);
        push.send("a", zmq::SNDMORE).unwrap();
        push.send(b"b", zmq::SNDMORE).unwrap();
        push.send(vec![b'c'], 0).unwrap();
        push.send_multipart(["x", "y"], 0).unwrap();
        push.send_multipart([b"p".to_vec()], zmq::SNDMORE).unwrap();
        push.send("q", 0).unwrap();

        // libzmq's way: a part at a time, RCVMORE saying whether more follow.
        let mut parts = Vec::new();
        loop {
            parts.push(pull.recv_bytes(0).unwrap());
            if !pull.get_rcvmore().unwrap() {
                break;
            }
        }
        assert_eq!(parts, [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        assert_eq!(
            pull.recv_multipart(0).unwrap(),
            [b"x".to_vec(), b"y".to_vec()]
        );
        // Half a message by parts, the rest with recv_multipart.
        let mut first = zmq::Message::new();
        pull.recv(&mut first, 0).unwrap();
        assert_eq!(&first[..], b"p");
        assert!(first.get_more());
        assert_eq!(pull.recv_multipart(0).unwrap(), [b"q".to_vec()]);
        assert!(!pull.get_rcvmore().unwrap());
    });
}

#[test]
fn pub_sub_with_set_subscribe() {
    bounded(|| {
        let ctx = zmq::Context::new();
        let (publisher, endpoint) = bound(&ctx, zmq::PUB);
        let subscriber = ctx.socket(zmq::SUB).unwrap();
        subscriber.set_subscribe(b"weather").unwrap();
        subscriber.set_rcvtimeo(50).unwrap();
        subscriber.connect(&endpoint).unwrap();
        // The subscription reaches the publisher some time after the connection: publish
        // until it arrives (ZeroMQ's slow joiner).
        let start = Instant::now();
        let got = loop {
            assert!(start.elapsed() < Duration::from_secs(10), "no message");
            publisher.send("sports 1-0", 0).unwrap();
            publisher.send("weather sunny", 0).unwrap();
            match subscriber.recv_string(0) {
                Ok(text) => break text.unwrap(),
                Err(e) if e.is_again() => continue,
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(got, "weather sunny");
        // A subscription added later, while connected.
        subscriber.set_subscribe(b"sports").unwrap();
        subscriber.set_unsubscribe(b"weather").unwrap();
        let start = Instant::now();
        loop {
            assert!(start.elapsed() < Duration::from_secs(10), "no sports");
            publisher.send("sports 2-0", 0).unwrap();
            match subscriber.recv_string(0) {
                Ok(text) if text.as_deref() == Ok("sports 2-0") => break,
                Ok(_) => continue,
                Err(e) if e.is_again() => continue,
                Err(e) => panic!("{e}"),
            }
        }
    });
}

#[test]
fn dontwait_on_an_empty_socket_would_block_at_once() {
    bounded(|| {
        let ctx = zmq::Context::new();
        let (pull, _) = bound(&ctx, zmq::PULL);
        let start = Instant::now();
        assert!(matches!(
            pull.recv_bytes(zmq::DONTWAIT),
            Err(Error::WouldBlock)
        ));
        assert!(matches!(
            pull.recv_multipart(zmq::DONTWAIT),
            Err(Error::WouldBlock)
        ));
        // A PUSH with no peer cannot send either; RCVTIMEO/SNDTIMEO 0 is the same as DONTWAIT.
        let push = ctx.socket(zmq::PUSH).unwrap();
        push.connect("tcp://127.0.0.1:1").unwrap();
        assert!(matches!(
            push.send("x", zmq::DONTWAIT),
            Err(Error::WouldBlock)
        ));
        push.set_sndtimeo(0).unwrap();
        let err = push.send("x", 0).unwrap_err();
        assert!(matches!(err, Error::WouldBlock) && err.is_again());
        assert!(start.elapsed() < Duration::from_millis(500), "not at once");
        push.set_linger(0).unwrap();
    });
}

#[test]
fn rcvtimeo_and_sndtimeo_give_timeout() {
    bounded(|| {
        let ctx = zmq::Context::new();
        let (pull, _) = bound(&ctx, zmq::PULL);
        pull.set_rcvtimeo(150).unwrap();
        assert_eq!(pull.get_rcvtimeo().unwrap(), 150);
        let start = Instant::now();
        assert!(matches!(pull.recv_bytes(0), Err(Error::Timeout)));
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(140), "{waited:?}");
        assert!(waited < Duration::from_secs(3), "{waited:?}");

        let push = ctx.socket(zmq::PUSH).unwrap();
        push.set_sndtimeo(100).unwrap();
        push.set_linger(0).unwrap();
        push.connect("tcp://127.0.0.1:1").unwrap();
        let start = Instant::now();
        assert!(matches!(push.send("x", 0), Err(Error::Timeout)));
        assert!(start.elapsed() >= Duration::from_millis(90));
    });
}

#[test]
fn bad_option_values_give_typed_errors() {
    bounded(|| {
        let ctx = zmq::Context::new();
        let dealer = ctx.socket(zmq::DEALER).unwrap();
        assert!(matches!(
            dealer.set_sndhwm(-1),
            Err(Error::OutOfRange {
                option: "ZMQ_SNDHWM",
                value: -1,
                ..
            })
        ));
        assert!(matches!(
            dealer.set_linger(-2),
            Err(Error::OutOfRange {
                option: "ZMQ_LINGER",
                ..
            })
        ));
        assert!(matches!(
            dealer.set_rcvtimeo(-5),
            Err(Error::OutOfRange { .. })
        ));
        assert!(matches!(
            dealer.set_heartbeat_ttl(6_553_600),
            Err(Error::OutOfRange { .. })
        ));
        assert!(matches!(
            dealer.set_reconnect_ivl(-1),
            Err(Error::OutOfRange { .. })
        ));
        assert!(matches!(
            dealer.set_identity(b""),
            Err(Error::InvalidValue {
                option: "ZMQ_ROUTING_ID",
                ..
            })
        ));
        assert!(matches!(
            dealer.set_routing_id(&[1u8; 256]),
            Err(Error::InvalidValue { .. })
        ));
        assert!(matches!(
            dealer.set_curve_serverkey(&[7u8; 31]),
            Err(Error::Credential {
                option: "ZMQ_CURVE_SERVERKEY",
                ..
            })
        ));
        assert!(matches!(
            dealer.set_router_mandatory(true),
            Err(Error::WrongSocketType {
                option: "ZMQ_ROUTER_MANDATORY",
                socket_type: zmq::SocketType::Dealer,
            })
        ));
        assert!(matches!(
            dealer.set_subscribe(b"x"),
            Err(Error::WrongSocketType { .. })
        ));
        assert!(matches!(
            dealer.send("x", 0x40),
            Err(Error::InvalidFlags(0x40))
        ));
        assert!(matches!(
            dealer.recv_bytes(zmq::SNDMORE),
            Err(Error::InvalidFlags(_))
        ));
        // Nothing was adjusted: the defaults stand.
        assert_eq!(dealer.get_sndhwm().unwrap(), 1000);
        assert_eq!(dealer.get_linger().unwrap(), -1);
        // Good values are taken and read back.
        dealer.set_sndhwm(0).unwrap();
        dealer.set_identity(b"me").unwrap();
        dealer.set_maxmsgsize(-1).unwrap();
        dealer.set_heartbeat_ivl(250).unwrap();
        assert_eq!(dealer.get_sndhwm().unwrap(), 0);
        assert_eq!(dealer.get_identity().unwrap(), b"me");
        assert_eq!(dealer.get_maxmsgsize().unwrap(), -1);
        assert_eq!(dealer.get_heartbeat_ivl().unwrap(), 250);
        assert_eq!(dealer.get_socket_type().unwrap(), zmq::DEALER);

        // Security options that make no mechanism fail at the first bind, by name.
        let server = ctx.socket(zmq::REP).unwrap();
        server.set_curve_server(true).unwrap();
        assert!(matches!(
            server.bind("tcp://127.0.0.1:*"),
            Err(Error::IncompleteSecurity {
                needs: "ZMQ_CURVE_SECRETKEY"
            })
        ));
    });
}

#[test]
fn options_after_bind_give_typed_errors() {
    bounded(|| {
        let ctx = zmq::Context::new();
        let (router, _) = bound(&ctx, zmq::ROUTER);
        assert!(matches!(
            router.set_sndhwm(10),
            Err(Error::SetAfterConnect {
                option: "ZMQ_SNDHWM"
            })
        ));
        assert!(matches!(
            router.set_router_mandatory(true),
            Err(Error::SetAfterConnect { .. })
        ));
        assert!(matches!(
            router.set_curve_server(true),
            Err(Error::SetAfterConnect { .. })
        ));
        assert_eq!(router.get_sndhwm().unwrap(), 1000);
        // These apply to every call, so they change at any time.
        router.set_sndtimeo(10).unwrap();
        router.set_rcvtimeo(10).unwrap();
        router.set_linger(0).unwrap();
        assert_eq!(router.get_linger().unwrap(), 0);
    });
}

#[test]
fn poller_reports_exactly_the_socket_with_a_message() {
    bounded(|| {
        let ctx = zmq::Context::new();
        let (quiet, _) = bound(&ctx, zmq::PULL);
        let (busy, endpoint) = bound(&ctx, zmq::PULL);
        let push = connected(&ctx, zmq::PUSH, &endpoint);
        push.send("ping", 0).unwrap();
        let mut items = [
            quiet.as_poll_item(zmq::POLLIN),
            busy.as_poll_item(zmq::POLLIN),
        ];
        assert_eq!(zmq::poll(&mut items, 5000).unwrap(), 1);
        assert!(!items[0].is_readable());
        assert!(items[1].is_readable());
        assert!(items[1].has_socket(&busy));
        assert_eq!(items[1].get_revents(), zmq::POLLIN);
        // The message the poller saw is the one received.
        assert_eq!(busy.recv_bytes(zmq::DONTWAIT).unwrap(), b"ping");
        assert_eq!(zmq::poll(&mut items, 0).unwrap(), 0);
        assert_eq!(busy.get_events().unwrap(), zmq::PollEvents::empty());
    });
}

#[test]
fn poller_reports_pollout_on_a_push_with_a_peer() {
    bounded(|| {
        let ctx = zmq::Context::new();
        let lonely = ctx.socket(zmq::PUSH).unwrap();
        lonely.set_linger(0).unwrap();
        lonely.connect("tcp://127.0.0.1:1").unwrap();
        assert_eq!(lonely.poll(zmq::POLLOUT, 0).unwrap(), 0);

        let (_pull, endpoint) = bound(&ctx, zmq::PULL);
        let push = connected(&ctx, zmq::PUSH, &endpoint);
        let mut items = [
            push.as_poll_item(zmq::POLLOUT),
            lonely.as_poll_item(zmq::POLLOUT),
        ];
        assert_eq!(zmq::poll(&mut items, 5000).unwrap(), 1);
        assert!(items[0].is_writable());
        assert!(!items[0].is_readable());
        assert!(!items[1].is_writable());
        push.send("now", zmq::DONTWAIT).unwrap();
    });
}

#[test]
fn poll_timeout_returns_zero_after_about_the_timeout() {
    bounded(|| {
        let ctx = zmq::Context::new();
        let (a, _) = bound(&ctx, zmq::PULL);
        let (b, _) = bound(&ctx, zmq::SUB);
        let mut items = [a.as_poll_item(zmq::POLLIN), b.as_poll_item(zmq::POLLIN)];
        let start = Instant::now();
        assert_eq!(zmq::poll(&mut items, 200).unwrap(), 0);
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(190), "{waited:?}");
        assert!(waited < Duration::from_secs(3), "{waited:?}");
        assert!(!items[0].is_readable() && !items[1].is_readable());
        assert!(matches!(
            zmq::poll(&mut items, -2),
            Err(Error::OutOfRange { .. })
        ));
    });
}

#[test]
fn poller_does_not_count_a_request_a_rep_cannot_take_yet() {
    bounded(|| {
        let ctx = zmq::Context::new();
        let (rep, endpoint) = bound(&ctx, zmq::REP);
        let first = connected(&ctx, zmq::REQ, &endpoint);
        let second = connected(&ctx, zmq::REQ, &endpoint);
        first.send("one", 0).unwrap();
        second.send("two", 0).unwrap();
        let one = rep.recv_bytes(0).unwrap();
        // The other request is queued, but the REP owes a reply (libzmq: no POLLIN).
        let start = Instant::now();
        assert_eq!(rep.poll(zmq::POLLIN, 200).unwrap(), 0);
        assert!(start.elapsed() >= Duration::from_millis(190));
        rep.send(one, 0).unwrap();
        assert_eq!(rep.poll(zmq::POLLIN, 5000).unwrap(), 1);
        let two = rep.recv_bytes(zmq::DONTWAIT).unwrap();
        rep.send(two, 0).unwrap();
        let mut replies = [first.recv_bytes(0).unwrap(), second.recv_bytes(0).unwrap()];
        replies.sort();
        assert_eq!(replies, [b"one".to_vec(), b"two".to_vec()]);
    });
}

#[test]
fn a_failed_last_part_discards_the_whole_message() {
    bounded(|| {
        let ctx = zmq::Context::new();
        let (push, endpoint) = bound(&ctx, zmq::PUSH);
        push.send("stale", zmq::SNDMORE).unwrap();
        assert!(matches!(
            push.send("end", zmq::DONTWAIT),
            Err(Error::WouldBlock)
        ));
        let pull = connected(&ctx, zmq::PULL, &endpoint);
        push.send_multipart(["fresh", "message"], 0).unwrap();
        assert_eq!(
            pull.recv_multipart(0).unwrap(),
            [b"fresh".to_vec(), b"message".to_vec()]
        );
    });
}

#[test]
fn req_through_a_router_dealer_proxy_to_rep() {
    bounded(|| {
        let ctx = zmq::Context::new();
        let (frontend, front_endpoint) = bound(&ctx, zmq::ROUTER);
        let (backend, back_endpoint) = bound(&ctx, zmq::DEALER);
        // The proxy runs until a socket fails; this thread is left to the end of the run.
        thread::spawn(move || zmq::proxy(&frontend, &backend));

        let worker = connected(&ctx, zmq::REP, &back_endpoint);
        let server = spawn(move || {
            for _ in 0..5 {
                let request = worker.recv_bytes(0).unwrap();
                worker.send([&request[..], b" done"].concat(), 0).unwrap();
            }
        });
        let client = connected(&ctx, zmq::REQ, &front_endpoint);
        for n in 0..5 {
            client.send(format!("job {n}"), 0).unwrap();
            assert_eq!(
                client.recv_string(0).unwrap().unwrap(),
                format!("job {n} done")
            );
        }
        server.recv_timeout(TEST_LIMIT).unwrap();
    });
}

#[test]
fn capture_receives_a_copy_of_each_message_forwarded() {
    bounded(|| {
        let ctx = zmq::Context::new();
        let (frontend, front_endpoint) = bound(&ctx, zmq::ROUTER);
        let (backend, back_endpoint) = bound(&ctx, zmq::DEALER);
        let (tap, tap_endpoint) = bound(&ctx, zmq::PULL);
        let capture = connected(&ctx, zmq::PUSH, &tap_endpoint);
        thread::spawn(move || zmq::proxy_with_capture(&frontend, &backend, &capture));

        let worker = connected(&ctx, zmq::REP, &back_endpoint);
        let server = spawn(move || {
            let request = worker.recv_bytes(0).unwrap();
            assert_eq!(request, b"hello");
            worker.send("world", 0).unwrap();
        });
        let client = connected(&ctx, zmq::REQ, &front_endpoint);
        client.send("hello", 0).unwrap();
        assert_eq!(client.recv_bytes(0).unwrap(), b"world");
        server.recv_timeout(TEST_LIMIT).unwrap();

        // Both directions, as the proxy's sockets saw them: [routing id, delimiter, body].
        let request = tap.recv_multipart(0).unwrap();
        let reply = tap.recv_multipart(0).unwrap();
        assert_eq!(request.len(), 3, "{request:?}");
        assert_eq!(request[1..], [Vec::new(), b"hello".to_vec()]);
        assert_eq!(reply[0], request[0]);
        assert_eq!(reply[1..], [Vec::new(), b"world".to_vec()]);
    });
}

#[test]
fn steerable_proxy_pauses_resumes_reports_and_terminates() {
    bounded(|| {
        let ctx = zmq::Context::new();
        let (frontend, front_endpoint) = bound(&ctx, zmq::PULL);
        let (backend, back_endpoint) = bound(&ctx, zmq::PUSH);
        let (control, control_endpoint) = bound(&ctx, zmq::REP);
        let proxy = spawn(move || zmq::proxy_steerable(&frontend, &backend, &control));

        let source = connected(&ctx, zmq::PUSH, &front_endpoint);
        let sink = connected(&ctx, zmq::PULL, &back_endpoint);
        let steer = connected(&ctx, zmq::REQ, &control_endpoint);
        let command = |word: &str| {
            steer.send(word, 0).unwrap();
            steer.recv_multipart(0).unwrap()
        };

        source.send("one", 0).unwrap();
        assert_eq!(sink.recv_bytes(0).unwrap(), b"one");

        assert_eq!(command("PAUSE"), [Vec::<u8>::new()]);
        source.send("two", 0).unwrap();
        sink.set_rcvtimeo(300).unwrap();
        assert!(matches!(sink.recv_bytes(0), Err(Error::Timeout)));

        assert_eq!(command("RESUME"), [Vec::<u8>::new()]);
        sink.set_rcvtimeo(RCVTIMEO_MS).unwrap();
        assert_eq!(sink.recv_bytes(0).unwrap(), b"two");

        let stats = command("STATISTICS");
        assert_eq!(stats.len(), 8);
        let counter = |i: usize| u64::from_ne_bytes(stats[i][..].try_into().unwrap());
        // Frontend: 2 parts (6 octets) in, nothing out; backend: nothing in, 2 parts out.
        assert_eq!(
            (counter(0), counter(1), counter(2), counter(3)),
            (2, 6, 0, 0)
        );
        assert_eq!(
            (counter(4), counter(5), counter(6), counter(7)),
            (0, 0, 2, 6)
        );

        assert_eq!(command("TERMINATE"), [Vec::<u8>::new()]);
        let outcome = proxy.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(outcome.is_ok(), "{outcome:?}");
    });
}

#[test]
fn curve_req_rep_with_keys_set_as_in_libzmq() {
    bounded(|| {
        let ctx = zmq::Context::new();
        let server_keys = CurveKeyPair::generate().unwrap();
        let client_keys = CurveKeyPair::generate().unwrap();

        let server = ctx.socket(zmq::REP).unwrap();
        server.set_curve_server(true).unwrap();
        server
            .set_curve_secretkey(server_keys.secret.to_z85().as_bytes())
            .unwrap();
        server.set_rcvtimeo(RCVTIMEO_MS).unwrap();
        assert!(server.is_curve_server().unwrap());
        server.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = server.get_last_endpoint().unwrap().unwrap();

        let client = ctx.socket(zmq::REQ).unwrap();
        client
            .set_curve_serverkey(server_keys.public.as_bytes())
            .unwrap();
        client
            .set_curve_secretkey(client_keys.secret.expose())
            .unwrap();
        client
            .set_curve_publickey(client_keys.public.to_z85().as_bytes())
            .unwrap();
        // A public key that is not the secret key's is refused.
        assert!(matches!(
            client.set_curve_publickey(server_keys.public.as_bytes()),
            Err(Error::InvalidValue { .. })
        ));
        assert_eq!(
            client.get_curve_publickey().unwrap(),
            client_keys.public.as_bytes()
        );
        client.set_rcvtimeo(RCVTIMEO_MS).unwrap();
        client.connect(&endpoint).unwrap();

        client.send("secret", 0).unwrap();
        assert_eq!(server.recv_bytes(0).unwrap(), b"secret");
        server.send("sealed", 0).unwrap();
        assert_eq!(client.recv_bytes(0).unwrap(), b"sealed");
    });
}

#[test]
fn dropped_socket_lingers_until_its_messages_are_sent() {
    bounded(|| {
        let receiver_ctx = zmq::Context::new();
        let (pull, endpoint) = bound(&receiver_ctx, zmq::PULL);
        {
            let ctx = zmq::Context::new();
            let push = ctx.socket(zmq::PUSH).unwrap();
            push.connect(&endpoint).unwrap();
            for n in 0..200 {
                push.send(format!("{n}"), 0).unwrap();
            }
            // Socket, then context: the context's drop waits for the socket to linger.
        }
        for n in 0..200 {
            assert_eq!(pull.recv_string(0).unwrap().unwrap(), format!("{n}"));
        }
    });
}

#[test]
fn context_is_a_shared_handle_across_threads() {
    fn send_sync<T: Send + Sync + Clone>() {}
    fn send<T: Send>() {}
    send_sync::<zmq::Context>();
    send::<zmq::Socket>();
    bounded(|| {
        let ctx = zmq::Context::new();
        let (pull, endpoint) = bound(&ctx, zmq::PULL);
        let senders: Vec<_> = (0..3)
            .map(|n| {
                let ctx = ctx.clone();
                let endpoint = endpoint.clone();
                spawn(move || {
                    let push = ctx.socket(zmq::PUSH).unwrap();
                    push.connect(&endpoint).unwrap();
                    push.send(format!("from {n}"), 0).unwrap();
                })
            })
            .collect();
        drop(ctx);
        let mut got: Vec<_> = (0..3)
            .map(|_| pull.recv_string(0).unwrap().unwrap())
            .collect();
        got.sort();
        assert_eq!(got, ["from 0", "from 1", "from 2"]);
        for sender in senders {
            sender.recv_timeout(TEST_LIMIT).unwrap();
        }
    });
}

/// Measures the runtime layouts the context could use: run with
/// `cargo test --release -p zmtp --test blocking -- --ignored --nocapture runtime_layout`.
#[test]
#[ignore = "a measurement, not a check"]
fn runtime_layout() {
    const ROUND_TRIPS: u32 = 5_000;
    const MESSAGES: u32 = 200_000;
    for threads in [1, 2] {
        let ctx = zmq::Context::with_io_threads(threads).unwrap();
        let (rep, endpoint) = bound(&ctx, zmq::REP);
        let echo = spawn(move || {
            for _ in 0..ROUND_TRIPS {
                let m = rep.recv_msg(0).unwrap();
                rep.send(m, 0).unwrap();
            }
        });
        let req = connected(&ctx, zmq::REQ, &endpoint);
        req.send("warm", 0).unwrap();
        req.recv_bytes(0).unwrap();
        let start = Instant::now();
        for _ in 1..ROUND_TRIPS {
            req.send("ping", 0).unwrap();
            req.recv_bytes(0).unwrap();
        }
        let rtt = start.elapsed() / (ROUND_TRIPS - 1);
        echo.recv().unwrap();

        let (pull, endpoint) = bound(&ctx, zmq::PULL);
        let push = connected(&ctx, zmq::PUSH, &endpoint);
        let payload = [0u8; 64];
        let start = Instant::now();
        let sender = spawn(move || {
            for _ in 0..MESSAGES {
                push.send(payload, 0).unwrap();
            }
        });
        for _ in 0..MESSAGES {
            pull.recv_bytes(0).unwrap();
        }
        let rate = f64::from(MESSAGES) / start.elapsed().as_secs_f64();
        sender.recv().unwrap();
        println!(
            "{threads} worker(s): round trip {:.1} µs, {:.0} msg/s",
            rtt.as_secs_f64() * 1e6,
            rate
        );
    }
}

#[test]
fn inproc_unbind_and_disconnect() {
    bounded(|| {
        let ctx = zmq::Context::new();
        let rep = ctx.socket(zmq::REP).unwrap();
        rep.set_rcvtimeo(RCVTIMEO_MS).unwrap();
        rep.bind("inproc://blocking-test").unwrap();
        let req = ctx.socket(zmq::REQ).unwrap();
        req.set_rcvtimeo(RCVTIMEO_MS).unwrap();
        req.connect("inproc://blocking-test").unwrap();
        req.send("ping", 0).unwrap();
        assert_eq!(rep.recv_string(0).unwrap().unwrap(), "ping");
        rep.send("pong", 0).unwrap();
        assert_eq!(req.recv_string(0).unwrap().unwrap(), "pong");

        let (pull, endpoint) = bound(&ctx, zmq::PULL);
        let push = connected(&ctx, zmq::PUSH, &endpoint);
        push.send("before", 0).unwrap();
        assert_eq!(pull.recv_string(0).unwrap().unwrap(), "before");
        push.disconnect(&endpoint).unwrap();
        assert!(
            push.disconnect(&endpoint).is_err(),
            "not connected any more"
        );
        pull.unbind(&endpoint).unwrap();
        assert!(pull.unbind(&endpoint).is_err(), "not bound any more");
    });
}

#[test]
fn tcp_options_read_back_and_refuse_bad_values() {
    bounded(|| {
        let ctx = zmq::Context::new();
        let push = ctx.socket(zmq::PUSH).unwrap();
        push.set_tcp_keepalive(1).unwrap();
        push.set_tcp_keepalive_idle(30).unwrap();
        push.set_tcp_keepalive_intvl(5).unwrap();
        push.set_tcp_keepalive_cnt(4).unwrap();
        push.set_sndbuf(1 << 20).unwrap();
        push.set_rcvbuf(1 << 20).unwrap();
        push.set_connect_timeout(2000).unwrap();
        assert_eq!(push.get_tcp_keepalive().unwrap(), 1);
        assert_eq!(push.get_tcp_keepalive_idle().unwrap(), 30);
        assert_eq!(push.get_tcp_keepalive_intvl().unwrap(), 5);
        assert_eq!(push.get_tcp_keepalive_cnt().unwrap(), 4);
        assert_eq!(push.get_sndbuf().unwrap(), 1 << 20);
        assert_eq!(push.get_rcvbuf().unwrap(), 1 << 20);
        assert_eq!(push.get_connect_timeout().unwrap(), 2000);
        for bad in [
            push.set_tcp_keepalive(2),
            push.set_tcp_keepalive_idle(0),
            push.set_tcp_keepalive_cnt(-2),
            push.set_sndbuf(0),
            push.set_backlog(0),
            push.set_connect_timeout(-1),
        ] {
            assert!(matches!(bad, Err(Error::OutOfRange { .. })), "{bad:?}");
        }
        let (pull, endpoint) = bound(&ctx, zmq::PULL);
        pull.set_backlog(10).unwrap_err(); // bound already: too late
        push.connect(&endpoint).unwrap();
        push.send("tuned", 0).unwrap();
        assert_eq!(pull.recv_string(0).unwrap().unwrap(), "tuned");
        assert!(matches!(
            push.set_sndbuf(4096),
            Err(Error::SetAfterConnect { .. })
        ));
    });
}
