//! TCP over IPv6 and dual-stack listeners (`SocketOptions::ipv6`, libzmq's ZMQ_IPV6), strict
//! endpoint errors through the socket API, source addresses, and `unbind`/`disconnect`
//! (zmq_unbind(3), zmq_disconnect(3)) with the monitor events libzmq emits for them.

use std::time::Duration;

use tokio::sync::mpsc;
use zmtp::endpoint::EndpointErrorKind;
use zmtp::{MonitorEvent, Socket, SocketError, SocketEvent, SocketOptions, SocketType};

/// How long anything expected may take.
const T: Duration = Duration::from_secs(5);
/// A short reconnect interval, so that "no reconnect" can be watched over several of them.
const IVL: Duration = Duration::from_millis(50);

/// Whether this machine has an IPv6 loopback; says so plainly when it has not.
fn has_ipv6_loopback(test: &str) -> bool {
    match std::net::TcpListener::bind("[::1]:0") {
        Ok(_) => true,
        Err(e) => {
            eprintln!("SKIPPED {test}: this machine has no IPv6 loopback ([::1]: {e})");
            false
        }
    }
}

fn options(ipv6: bool) -> SocketOptions {
    SocketOptions {
        ipv6,
        reconnect_ivl: IVL,
        ..Default::default()
    }
}

fn socket(socket_type: SocketType, ipv6: bool) -> Socket {
    Socket::with_options(socket_type, options(ipv6))
}

async fn recv_text(s: &Socket) -> String {
    let msg = tokio::time::timeout(T, s.recv())
        .await
        .expect("a message in time")
        .expect("recv");
    String::from_utf8(msg.parts().concat()).unwrap()
}

async fn send(s: &Socket, text: &str) {
    tokio::time::timeout(T, s.send([text]))
        .await
        .expect("sent in time")
        .expect("send");
}

/// Waits, bounded by [`T`], until `cond` holds.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + T;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {T:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits for `event`, returning it and the events before it.
async fn until(
    rx: &mut mpsc::Receiver<SocketEvent>,
    event: MonitorEvent,
) -> (SocketEvent, Vec<SocketEvent>) {
    let mut before = Vec::new();
    let found = tokio::time::timeout(T, async {
        while let Some(e) = rx.recv().await {
            if e.event == event {
                return Some(e);
            }
            before.push(e);
        }
        None
    })
    .await;
    match found {
        Ok(Some(e)) => (e, before),
        _ => panic!("no {event:?} within {T:?}; saw {before:?}"),
    }
}

/// Waits for CONNECT_RETRIED and checks that no CONNECTED came before it: the connect was
/// refused, and is tried again.
async fn refused_then_retried(rx: &mut mpsc::Receiver<SocketEvent>) {
    let (_, before) = until(rx, MonitorEvent::ConnectRetried).await;
    assert!(
        before.iter().all(|e| e.event != MonitorEvent::Connected),
        "{before:?}"
    );
}

/// What the monitor holds now.
fn drain(rx: &mut mpsc::Receiver<SocketEvent>) -> Vec<MonitorEvent> {
    std::iter::from_fn(|| rx.try_recv().ok())
        .map(|e| e.event)
        .collect()
}

fn port_of(endpoint: &str) -> u16 {
    endpoint.rsplit(':').next().unwrap().parse().unwrap()
}

/// A port nobody listens on (bound and released).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn endpoint_reason(r: Result<impl std::fmt::Debug, SocketError>) -> EndpointErrorKind {
    match r {
        Err(SocketError::Endpoint(e)) => e.reason,
        other => panic!("expected an endpoint error, got {other:?}"),
    }
}

// ---- IPv6 ----

#[tokio::test]
async fn ipv6_loopback_round_trip_both_directions() {
    if !has_ipv6_loopback("ipv6_loopback_round_trip_both_directions") {
        return;
    }
    // The option is off: a numeric IPv6 address needs no option (see SocketOptions::ipv6).
    for (binder_type, connecter_type) in [
        (SocketType::Pair, SocketType::Pair),
        (SocketType::Router, SocketType::Dealer),
    ] {
        let server = socket(binder_type, false);
        let ep = server.bind("tcp://[::1]:*").await.unwrap();
        assert!(ep.starts_with("tcp://[::1]:"), "{ep}");
        assert_ne!(port_of(&ep), 0, "{ep} reports the real port");
        let client = socket(connecter_type, false);
        client.connect(&ep).await.unwrap();
        server.wait_for_peers(1, T).await.unwrap();
        client.wait_for_peers(1, T).await.unwrap();

        send(&client, "to the binder").await;
        let msg = tokio::time::timeout(T, server.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(msg.parts().last().unwrap().as_ref(), b"to the binder");
        // The reply goes back over the same IPv6 connection.
        let reply: Vec<bytes::Bytes> = match binder_type {
            SocketType::Router => vec![msg.parts()[0].clone(), "to the connecter".into()],
            _ => vec!["to the connecter".into()],
        };
        tokio::time::timeout(T, server.send(reply))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(recv_text(&client).await, "to the connecter");
    }
}

#[tokio::test]
async fn ipv6_connecter_may_be_the_binder_too() {
    if !has_ipv6_loopback("ipv6_connecter_may_be_the_binder_too") {
        return;
    }
    // PUSH binds and PULL connects, then the other way round.
    let push = socket(SocketType::Push, false);
    let ep = push.bind("tcp://[::1]:0").await.unwrap();
    let pull = socket(SocketType::Pull, false);
    pull.connect(&ep).await.unwrap();
    send(&push, "bound push").await;
    assert_eq!(recv_text(&pull).await, "bound push");

    let pull = socket(SocketType::Pull, false);
    let ep = pull.bind("tcp://[::1]:*").await.unwrap();
    let push = socket(SocketType::Push, false);
    push.connect(&ep).await.unwrap();
    send(&push, "bound pull").await;
    assert_eq!(recv_text(&pull).await, "bound pull");
}

#[tokio::test]
async fn with_ipv6_a_wildcard_bind_is_dual_stack() {
    if !has_ipv6_loopback("with_ipv6_a_wildcard_bind_is_dual_stack") {
        return;
    }
    let server = socket(SocketType::Pull, true);
    let ep = server.bind("tcp://*:*").await.unwrap();
    assert!(ep.starts_with("tcp://[::]:"), "{ep}");
    let port = port_of(&ep);
    assert_ne!(port, 0);

    let over_v4 = socket(SocketType::Push, false);
    over_v4
        .connect(&format!("tcp://127.0.0.1:{port}"))
        .await
        .unwrap();
    let over_v6 = socket(SocketType::Push, true);
    over_v6
        .connect(&format!("tcp://[::1]:{port}"))
        .await
        .unwrap();
    server.wait_for_peers(2, T).await.unwrap();
    send(&over_v4, "v4").await;
    send(&over_v6, "v6").await;
    let mut got = vec![recv_text(&server).await, recv_text(&server).await];
    got.sort();
    assert_eq!(got, ["v4", "v6"]);
}

/// A connect to a port nobody listens on, from that same port, joins the socket to itself
/// (TCP's simultaneous open): it used to be reported as CONNECTED and to hold the port, so the
/// peer that then tried to bind it failed (a flaky interop test showed it, with an ephemeral
/// port the kernel happened to pick). Now it is closed and retried as a refusal, and the port
/// stays free for the listener.
#[tokio::test]
async fn a_connect_that_meets_itself_is_refused_and_the_port_stays_free() {
    let port = free_port();
    let client = socket(SocketType::Sub, false);
    client.subscribe(bytes::Bytes::new()).unwrap();
    let mut events = client.monitor(64);
    client
        .connect(&format!("tcp://127.0.0.1:{port};127.0.0.1:{port}"))
        .await
        .unwrap();
    refused_then_retried(&mut events).await;
    client.close(Duration::ZERO).await;
    // The port is free: a listener binds it.
    let server = socket(SocketType::Pub, false);
    server
        .bind(&format!("tcp://127.0.0.1:{port}"))
        .await
        .unwrap();
}

#[tokio::test]
async fn without_ipv6_a_wildcard_bind_is_ipv4_only() {
    let server = socket(SocketType::Pull, false);
    let ep = server.bind("tcp://*:*").await.unwrap();
    assert!(ep.starts_with("tcp://0.0.0.0:"), "{ep}");
    let port = port_of(&ep);

    let over_v4 = socket(SocketType::Push, false);
    over_v4
        .connect(&format!("tcp://127.0.0.1:{port}"))
        .await
        .unwrap();
    server.wait_for_peers(1, T).await.unwrap();
    send(&over_v4, "v4").await;
    assert_eq!(recv_text(&server).await, "v4");

    if !has_ipv6_loopback("without_ipv6_a_wildcard_bind_is_ipv4_only (the IPv6 half)") {
        return;
    }
    let over_v6 = socket(SocketType::Push, true);
    let mut events = over_v6.monitor(64);
    over_v6
        .connect(&format!("tcp://[::1]:{port}"))
        .await
        .unwrap();
    // Refused, and retried: nobody listens on [::1] at that port.
    refused_then_retried(&mut events).await;
    assert_eq!(server.peer_count(), 1);
}

#[tokio::test]
async fn an_explicit_ipv6_wildcard_without_the_option_takes_ipv6_peers_only() {
    if !has_ipv6_loopback("an_explicit_ipv6_wildcard_without_the_option_takes_ipv6_peers_only") {
        return;
    }
    let server = socket(SocketType::Pull, false);
    let ep = server.bind("tcp://[::]:*").await.unwrap();
    assert!(ep.starts_with("tcp://[::]:"), "{ep}");
    let port = port_of(&ep);
    let over_v6 = socket(SocketType::Push, false);
    over_v6
        .connect(&format!("tcp://[::1]:{port}"))
        .await
        .unwrap();
    server.wait_for_peers(1, T).await.unwrap();

    let over_v4 = socket(SocketType::Push, false);
    let mut events = over_v4.monitor(64);
    over_v4
        .connect(&format!("tcp://127.0.0.1:{port}"))
        .await
        .unwrap();
    refused_then_retried(&mut events).await;
}

#[tokio::test]
async fn a_host_name_resolves_by_the_option() {
    // `localhost` has an IPv4 address on every machine; with the option off only that one is
    // used, with it on too (after any IPv6 address, which a server on 127.0.0.1 refuses).
    for ipv6 in [false, true] {
        let server = socket(SocketType::Pull, ipv6);
        let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
        let client = socket(SocketType::Push, ipv6);
        client
            .connect(&format!("tcp://localhost:{}", port_of(&ep)))
            .await
            .unwrap();
        send(&client, "by name").await;
        assert_eq!(recv_text(&server).await, "by name");
    }
}

#[tokio::test]
async fn a_connect_may_name_its_source_address() {
    // zmq_tcp(7): `tcp://192.168.1.17:5555;192.168.1.1:5555`. A bare listener shows the port
    // the connection came from.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let to = listener.local_addr().unwrap();
    let source_port = free_port();
    let client = socket(SocketType::Dealer, false);
    client
        .connect(&format!("tcp://127.0.0.1:{source_port};{to}"))
        .await
        .unwrap();
    let (_stream, from) = tokio::time::timeout(T, listener.accept())
        .await
        .expect("a connection in time")
        .unwrap();
    assert_eq!(
        from,
        std::net::SocketAddr::from(([127, 0, 0, 1], source_port))
    );

    // `*:*` as the source (any address, any port), through a real server.
    let server = Socket::new(SocketType::Router);
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let client = socket(SocketType::Dealer, false);
    client
        .connect(&format!("tcp://*:*;{}", &ep["tcp://".len()..]))
        .await
        .unwrap();
    send(&client, "from anywhere").await;
    let msg = tokio::time::timeout(T, server.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(msg.parts()[1].as_ref(), b"from anywhere");
}

// ---- Strict endpoints through the API ----

#[tokio::test]
async fn bad_endpoints_fail_with_their_reason() {
    let s = Socket::new(SocketType::Pull);
    use EndpointErrorKind as K;
    assert_eq!(
        endpoint_reason(s.bind("tcp://::1:5555").await),
        K::UnbracketedIpv6
    );
    assert_eq!(
        endpoint_reason(s.bind("tcp://[127.0.0.1]:5555").await),
        K::NotIpv6InBrackets
    );
    assert_eq!(
        endpoint_reason(s.bind("tcp://10.0.0.1:0;127.0.0.1:*").await),
        K::SourceOnBind
    );
    assert_eq!(
        endpoint_reason(s.connect("tcp://*:5555").await),
        K::WildcardOnConnect
    );
    assert_eq!(
        endpoint_reason(s.connect("tcp://127.0.0.1:*").await),
        K::WildcardOnConnect
    );
    assert_eq!(
        endpoint_reason(s.connect("tcp://eth1:0;server1:5555").await),
        K::SourceNotNumeric
    );
    assert_eq!(
        endpoint_reason(s.connect("tcp://:5555").await),
        K::EmptyHost
    );
    assert_eq!(
        endpoint_reason(s.unbind("tcp://[::1:5555").await),
        K::UnclosedBracket
    );
    assert_eq!(
        endpoint_reason(s.disconnect("nope").await),
        K::MissingTransport
    );
    // A bind to an address this machine does not have fails as I/O, with BIND_FAILED.
    let mut events = s.monitor(8);
    assert!(matches!(
        s.bind("tcp://192.0.2.1:*").await,
        Err(SocketError::Io { .. })
    ));
    until(&mut events, MonitorEvent::BindFailed).await;
}

// ---- unbind ----

#[tokio::test]
async fn unbind_closes_the_listener_and_its_connections() {
    let server = socket(SocketType::Pull, false);
    let mut events = server.monitor(256);
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let a = socket(SocketType::Push, false);
    let b = socket(SocketType::Push, false);
    let mut a_events = a.monitor(256);
    a.connect(&ep).await.unwrap();
    b.connect(&ep).await.unwrap();
    server.wait_for_peers(2, T).await.unwrap();
    send(&a, "before").await;
    assert_eq!(recv_text(&server).await, "before");

    server.unbind(&ep).await.unwrap();
    // Returned once the listener is closed and its connections have left.
    assert_eq!(server.peer_count(), 0);
    let (closed, before) = until(&mut events, MonitorEvent::Closed).await;
    assert_eq!(closed.endpoint, ep);
    // libzmq ends the accepted sessions without DISCONNECTED (it emits that for failures).
    let mut seen: Vec<MonitorEvent> = before.iter().map(|e| e.event).collect();
    seen.extend(drain(&mut events));
    assert!(!seen.contains(&MonitorEvent::Disconnected), "{seen:?}");
    // The peers lost their connection, and their reconnects are refused.
    until(&mut a_events, MonitorEvent::Disconnected).await;
    until(&mut a_events, MonitorEvent::ConnectDelayed).await;
    let c = socket(SocketType::Push, false);
    let mut c_events = c.monitor(64);
    c.connect(&ep).await.unwrap();
    refused_then_retried(&mut c_events).await;
    tokio::time::sleep(IVL * 4).await;
    assert_eq!(server.peer_count(), 0);
    let after = drain(&mut events);
    assert!(!after.contains(&MonitorEvent::Accepted), "{after:?}");

    // It is gone: a second unbind finds nothing.
    assert!(matches!(
        server.unbind(&ep).await,
        Err(SocketError::NotBound { endpoint }) if endpoint == ep
    ));

    // The same port binds again at once, and the waiting peers come back.
    assert_eq!(server.bind(&ep).await.unwrap(), ep);
    server.wait_for_peers(3, T).await.unwrap();
    send(&c, "after").await;
    assert_eq!(recv_text(&server).await, "after");
}

#[tokio::test]
async fn unbind_ends_only_its_own_listener() {
    let server = socket(SocketType::Pull, false);
    let one = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let two = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let a = socket(SocketType::Push, false);
    let b = socket(SocketType::Push, false);
    a.connect(&one).await.unwrap();
    b.connect(&two).await.unwrap();
    server.wait_for_peers(2, T).await.unwrap();
    server.unbind(&one).await.unwrap();
    assert_eq!(server.peer_count(), 1);
    send(&b, "still here").await;
    assert_eq!(recv_text(&server).await, "still here");
}

#[tokio::test]
async fn unbind_takes_the_returned_endpoint_or_one_that_resolves_to_it() {
    // A wildcard port: only the endpoint bind returned names the listener (zmq_unbind(3)).
    let server = socket(SocketType::Pull, false);
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    assert!(matches!(
        server.unbind("tcp://127.0.0.1:*").await,
        Err(SocketError::NotBound { .. })
    ));
    // A name that resolves to the bound address does (libzmq's resolve_tcp_addr).
    server
        .unbind(&format!("tcp://localhost:{}", port_of(&ep)))
        .await
        .unwrap();

    // A wildcard host: `tcp://*:port` is ENOENT in libzmq too; the returned endpoint works.
    let ep = server.bind("tcp://*:*").await.unwrap();
    let port = port_of(&ep);
    assert!(matches!(
        server.unbind(&format!("tcp://*:{port}")).await,
        Err(SocketError::NotBound { .. })
    ));
    server
        .unbind(&format!("tcp://0.0.0.0:{port}"))
        .await
        .unwrap();

    // A fixed port given by the user: that very string works too.
    let port = free_port();
    let asked = format!("tcp://127.0.0.1:{port}");
    assert_eq!(server.bind(&asked).await.unwrap(), asked);
    server.unbind(&asked).await.unwrap();
}

#[cfg(unix)]
#[tokio::test]
async fn unbind_of_an_ipc_endpoint_removes_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sock");
    let ep = format!("ipc://{}", path.display());
    let server = socket(SocketType::Pull, false);
    let mut events = server.monitor(64);
    server.bind(&ep).await.unwrap();
    let client = socket(SocketType::Push, false);
    client.connect(&ep).await.unwrap();
    server.wait_for_peers(1, T).await.unwrap();
    server.unbind(&ep).await.unwrap();
    assert_eq!(server.peer_count(), 0);
    assert!(!path.exists());
    let (closed, _) = until(&mut events, MonitorEvent::Closed).await;
    assert_eq!(closed.endpoint, ep);
    server.bind(&ep).await.unwrap();
    server.wait_for_peers(1, T).await.unwrap();
}

// ---- disconnect ----

#[tokio::test]
async fn disconnect_closes_the_connection_and_stops_reconnecting() {
    let server = socket(SocketType::Pull, false);
    let mut server_events = server.monitor(256);
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let client = socket(SocketType::Push, false);
    let mut events = client.monitor(256);
    client.connect(&ep).await.unwrap();
    client.wait_for_peers(1, T).await.unwrap();
    server.wait_for_peers(1, T).await.unwrap();
    until(&mut server_events, MonitorEvent::HandshakeSucceeded).await;
    let _ = drain(&mut events);

    client.disconnect(&ep).await.unwrap();
    assert_eq!(client.peer_count(), 0);
    // The server sees its peer go.
    until(&mut server_events, MonitorEvent::Disconnected).await;
    eventually("the server's peer gone", || server.peer_count() == 0).await;
    // Several reconnect intervals later: no new connection, no retry.
    tokio::time::sleep(IVL * 6).await;
    assert_eq!(server.peer_count(), 0);
    let server_after = drain(&mut server_events);
    assert!(
        !server_after.contains(&MonitorEvent::Accepted),
        "{server_after:?}"
    );
    let client_after = drain(&mut events);
    for unwanted in [
        MonitorEvent::Disconnected, // libzmq: none for a connection it ends itself
        MonitorEvent::ConnectRetried,
        MonitorEvent::Connected,
    ] {
        assert!(!client_after.contains(&unwanted), "{client_after:?}");
    }
    assert!(matches!(
        client.disconnect(&ep).await,
        Err(SocketError::NotConnected { endpoint }) if endpoint == ep
    ));
    // The socket itself goes on: connect again.
    client.connect(&ep).await.unwrap();
    server.wait_for_peers(1, T).await.unwrap();
}

#[tokio::test]
async fn disconnect_while_retrying_stops_the_retries() {
    let port = free_port();
    let ep = format!("tcp://127.0.0.1:{port}");
    let client = socket(SocketType::Push, false);
    let mut events = client.monitor(256);
    client.connect(&ep).await.unwrap();
    until(&mut events, MonitorEvent::ConnectRetried).await;
    client.disconnect(&ep).await.unwrap();
    // Now something listens there; the disconnected client must not come.
    let server = socket(SocketType::Pull, false);
    let mut server_events = server.monitor(64);
    assert_eq!(server.bind(&ep).await.unwrap(), ep);
    tokio::time::sleep(IVL * 6).await;
    assert_eq!(server.peer_count(), 0);
    let seen = drain(&mut server_events);
    assert!(!seen.contains(&MonitorEvent::Accepted), "{seen:?}");
    let seen = drain(&mut events);
    assert!(!seen.contains(&MonitorEvent::Connected), "{seen:?}");
}

#[tokio::test]
async fn disconnect_ends_every_connect_to_that_endpoint_and_no_other() {
    let server = socket(SocketType::Pull, false);
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let other = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let client = socket(SocketType::Push, false);
    client.connect(&ep).await.unwrap();
    client.connect(&ep).await.unwrap();
    client.connect(&other).await.unwrap();
    client.wait_for_peers(3, T).await.unwrap();
    // Another spelling of the same endpoint names it too.
    client
        .disconnect(&format!("tcp://localhost:{}", port_of(&ep)))
        .await
        .unwrap();
    assert_eq!(client.peer_count(), 1);
    eventually("the server keeps one peer", || server.peer_count() == 1).await;
}

#[tokio::test]
async fn unknown_endpoints_give_typed_errors() {
    let s = socket(SocketType::Pull, false);
    let bound = s.bind("tcp://127.0.0.1:*").await.unwrap();
    let peer = socket(SocketType::Push, false);
    let connected = peer.bind("tcp://127.0.0.1:*").await.unwrap();
    s.connect(&connected).await.unwrap();

    assert!(matches!(
        s.unbind("tcp://127.0.0.1:1").await,
        Err(SocketError::NotBound { endpoint }) if endpoint == "tcp://127.0.0.1:1"
    ));
    assert!(matches!(
        s.disconnect("tcp://127.0.0.1:1").await,
        Err(SocketError::NotConnected { endpoint }) if endpoint == "tcp://127.0.0.1:1"
    ));
    // Bound and connected endpoints are not interchangeable (zmq_unbind(3), NOTE).
    assert!(matches!(
        s.unbind(&connected).await,
        Err(SocketError::NotBound { .. })
    ));
    assert!(matches!(
        s.disconnect(&bound).await,
        Err(SocketError::NotConnected { .. })
    ));
    assert!(matches!(
        s.unbind("inproc://x").await,
        Err(SocketError::TransportUnsupported {
            operation: "unbind",
            ..
        })
    ));
    assert!(matches!(
        s.disconnect("ipc:///nonexistent/x").await,
        Err(SocketError::NotConnected { .. })
    ));
    let text = SocketError::NotBound {
        endpoint: "tcp://h:1".into(),
    }
    .to_string();
    assert!(text.contains("tcp://h:1"), "{text}");
}
