//! A connection's life as the monitor reports it: the events libzmq emits, with their numeric
//! codes, at the moments it emits them, and the timeouts that end a connection.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use zmtp::{Heartbeat, MonitorEvent, Socket, SocketEvent, SocketOptions, SocketType};

const T: Duration = Duration::from_secs(5);

/// Waits for `want`, returning the events seen before it.
async fn until(rx: &mut mpsc::Receiver<SocketEvent>, want: MonitorEvent) -> Vec<SocketEvent> {
    let mut seen = Vec::new();
    let found = tokio::time::timeout(T, async {
        while let Some(e) = rx.recv().await {
            if e.event == want {
                return Some(e);
            }
            seen.push(e);
        }
        None
    })
    .await;
    match found {
        Ok(Some(e)) => {
            seen.push(e);
            seen
        }
        _ => panic!("no {want:?} within {T:?}; saw {seen:?}"),
    }
}

fn null_greeting() -> [u8; 64] {
    let mut g = [0u8; 64];
    g[0] = 0xFF;
    g[9] = 0x7F;
    g[10] = 3;
    g[11] = 1;
    g[12..16].copy_from_slice(b"NULL");
    g
}

fn ready(socket_type: &[u8]) -> Vec<u8> {
    let mut body = b"\x05READY\x0bSocket-Type".to_vec();
    body.extend_from_slice(&(socket_type.len() as u32).to_be_bytes());
    body.extend_from_slice(socket_type);
    let mut frame = vec![0x04, body.len() as u8];
    frame.extend_from_slice(&body);
    frame
}

#[test]
fn event_codes_are_libzmqs() {
    // zmq.h, libzmq 4.3.5.
    let codes = [
        (MonitorEvent::Connected, 0x0001),
        (MonitorEvent::ConnectDelayed, 0x0002),
        (MonitorEvent::ConnectRetried, 0x0004),
        (MonitorEvent::Listening, 0x0008),
        (MonitorEvent::BindFailed, 0x0010),
        (MonitorEvent::Accepted, 0x0020),
        (MonitorEvent::AcceptFailed, 0x0040),
        (MonitorEvent::Closed, 0x0080),
        (MonitorEvent::CloseFailed, 0x0100),
        (MonitorEvent::Disconnected, 0x0200),
        (MonitorEvent::MonitorStopped, 0x0400),
        (MonitorEvent::HandshakeFailedNoDetail, 0x0800),
        (MonitorEvent::HandshakeSucceeded, 0x1000),
        (MonitorEvent::HandshakeFailedProtocol, 0x2000),
        (MonitorEvent::HandshakeFailedAuth, 0x4000),
    ];
    for (event, code) in codes {
        assert_eq!(event as u16, code, "{event:?}");
    }
}

#[tokio::test]
async fn a_clients_life_connect_retry_handshake_disconnect() {
    // Nothing listens yet: the connect is delayed and retried, with the interval as value.
    let probe = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let ep = format!("tcp://127.0.0.1:{port}");
    let client = Socket::with_options(
        SocketType::Dealer,
        SocketOptions {
            reconnect_ivl: Duration::from_millis(50),
            ..Default::default()
        },
    );
    let mut events = client.monitor(64);
    client.connect(&ep).await.unwrap();
    let seen = until(&mut events, MonitorEvent::ConnectRetried).await;
    assert!(seen.iter().any(|e| e.event == MonitorEvent::ConnectDelayed));
    let retried = seen.last().unwrap();
    assert!(
        (50..100).contains(&retried.value),
        "CONNECT_RETRIED carries the interval in ms: 50 plus a jitter below 50, got {}",
        retried.value
    );
    assert_eq!(retried.endpoint, ep);

    let server = Socket::new(SocketType::Router);
    let mut server_events = server.monitor(64);
    server.bind(&ep).await.unwrap();
    until(&mut server_events, MonitorEvent::Listening).await;
    until(&mut events, MonitorEvent::Connected).await;
    until(&mut events, MonitorEvent::HandshakeSucceeded).await;
    until(&mut server_events, MonitorEvent::Accepted).await;
    until(&mut server_events, MonitorEvent::HandshakeSucceeded).await;
    // The server goes away: the client sees its connection end, and tries again.
    server.close(Duration::ZERO).await;
    until(&mut events, MonitorEvent::Disconnected).await;
    until(&mut events, MonitorEvent::ConnectRetried).await;
}

#[tokio::test]
async fn a_bind_that_fails_says_so() {
    let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ep = format!("tcp://{}", taken.local_addr().unwrap());
    let s = Socket::new(SocketType::Pull);
    let mut events = s.monitor(8);
    assert!(s.bind(&ep).await.is_err());
    let e = tokio::time::timeout(T, events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.event, MonitorEvent::BindFailed);
    assert_eq!(e.endpoint, ep);
    // Its value is the errno, as libzmq's (EADDRINUSE here).
    let errno = std::net::TcpListener::bind(taken.local_addr().unwrap())
        .unwrap_err()
        .raw_os_error()
        .unwrap();
    assert_eq!(e.value, errno as u32);
}

/// Whether `fd` is an open socket of this process.
#[cfg(target_os = "linux")]
fn is_socket(fd: u32) -> bool {
    std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"))
}

/// LISTENING, ACCEPTED, CONNECTED, DISCONNECTED and CLOSED carry the socket's file descriptor,
/// as libzmq's do (they used to carry 0).
#[cfg(target_os = "linux")]
#[tokio::test]
async fn event_values_are_the_sockets_descriptors() {
    let server = Socket::new(SocketType::Pull);
    let mut server_events = server.monitor(64);
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let listening = until(&mut server_events, MonitorEvent::Listening)
        .await
        .pop()
        .unwrap();
    assert!(is_socket(listening.value), "{listening:?}");

    let client = Socket::new(SocketType::Push);
    let mut client_events = client.monitor(64);
    client.connect(&ep).await.unwrap();
    let connected = until(&mut client_events, MonitorEvent::Connected)
        .await
        .pop()
        .unwrap();
    let accepted = until(&mut server_events, MonitorEvent::Accepted)
        .await
        .pop()
        .unwrap();
    assert!(is_socket(connected.value), "{connected:?}");
    assert!(is_socket(accepted.value), "{accepted:?}");
    let distinct = [listening.value, accepted.value, connected.value];
    assert!(
        distinct[0] != distinct[1] && distinct[1] != distinct[2] && distinct[0] != distinct[2],
        "{distinct:?}"
    );
    until(&mut client_events, MonitorEvent::HandshakeSucceeded).await;

    // The server stops listening: CLOSED names the listener; the client's connection ends with
    // the descriptor it was connected on.
    server.unbind(&ep).await.unwrap();
    let closed = until(&mut server_events, MonitorEvent::Closed)
        .await
        .pop()
        .unwrap();
    assert_eq!(closed.value, listening.value);
    let disconnected = until(&mut client_events, MonitorEvent::Disconnected)
        .await
        .pop()
        .unwrap();
    assert_eq!(disconnected.value, connected.value);
}

#[tokio::test]
async fn a_silent_peer_times_out_the_heartbeat() {
    // A peer that completes the handshake and then never answers a PING.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ep = format!("tcp://{}", listener.local_addr().unwrap());
    let silent = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        s.write_all(&null_greeting()).await.unwrap();
        s.write_all(&ready(b"ROUTER")).await.unwrap();
        // Read (and ignore) whatever comes, PINGs included, until the client hangs up.
        let mut sink = vec![0u8; 4096];
        while matches!(s.read(&mut sink).await, Ok(n) if n > 0) {}
    });
    let client = Socket::with_options(
        SocketType::Dealer,
        SocketOptions {
            heartbeat: Heartbeat {
                interval: Some(Duration::from_millis(50)),
                ttl: None,
                timeout: Some(Duration::from_millis(200)),
            },
            reconnect_ivl: Duration::from_secs(30),
            ..Default::default()
        },
    );
    let mut events = client.monitor(64);
    client.connect(&ep).await.unwrap();
    let started = tokio::time::Instant::now();
    until(&mut events, MonitorEvent::HandshakeSucceeded).await;
    until(&mut events, MonitorEvent::Disconnected).await;
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "not before the heartbeat timeout"
    );
    assert_eq!(client.peer_count(), 0);
    tokio::time::timeout(T, silent)
        .await
        .expect("the client hung up")
        .unwrap();
}

#[tokio::test]
async fn a_handshake_that_never_finishes_times_out_at_the_socket() {
    let server = Socket::with_options(
        SocketType::Router,
        SocketOptions {
            handshake_ivl: Some(Duration::from_millis(200)),
            ..Default::default()
        },
    );
    let mut events = server.monitor(64);
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    // A client that connects and says nothing.
    let mut idle = TcpStream::connect(ep.trim_start_matches("tcp://"))
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    until(&mut events, MonitorEvent::Accepted).await;
    let seen = until(&mut events, MonitorEvent::Disconnected).await;
    assert!(
        seen.iter()
            .any(|e| e.event == MonitorEvent::HandshakeFailedNoDetail),
        "a handshake timeout is HANDSHAKE_FAILED_NO_DETAIL, as in libzmq: {seen:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(150));
    // The server closed the stream (after its greeting).
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(T, idle.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the server hung up");
    assert_eq!(server.handshakes_in_progress(), 0);
}

#[tokio::test]
async fn what_was_queued_for_a_peer_survives_its_restart() {
    let probe = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ep = format!("tcp://{}", probe.local_addr().unwrap());
    drop(probe);
    let small_inbox = || SocketOptions {
        rcvhwm: 1,
        ..Default::default()
    };
    let first = Socket::with_options(SocketType::Pull, small_inbox());
    first.bind(&ep).await.unwrap();
    let push = Socket::with_options(
        SocketType::Push,
        SocketOptions {
            sndhwm: 100,
            sndtimeo: Some(Duration::from_millis(300)),
            reconnect_ivl: Duration::from_millis(50),
            ..Default::default()
        },
    );
    push.connect(&ep).await.unwrap();
    push.wait_for_peers(1, T).await.unwrap();
    // The peer does not read: its inbox, both stream buffers, the connection's backlog and
    // at last the pipe fill, until a send times out.
    let body = bytes::Bytes::from(vec![7u8; 64 << 10]);
    let mut sent = 0u32;
    loop {
        let seq = bytes::Bytes::copy_from_slice(&sent.to_be_bytes());
        match push.send(vec![seq, body.clone()]).await {
            Ok(()) => sent += 1,
            Err(zmtp::SocketError::Timeout) => break,
            Err(e) => panic!("{e}"),
        }
        assert!(sent < 20_000, "nothing holds the sender back");
    }
    // The peer goes away with what it had taken; a new one takes its address.
    first.close(Duration::ZERO).await;
    let second = Socket::with_options(SocketType::Pull, small_inbox());
    tokio::time::timeout(T, async {
        while second.bind(&ep).await.is_err() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the address is free again");
    // What was still queued for the peer arrives, in order, once each.
    let mut got = Vec::new();
    while let Ok(Ok(m)) = tokio::time::timeout(Duration::from_millis(700), second.recv()).await {
        let seq: [u8; 4] = m.parts()[0][..].try_into().unwrap();
        got.push(u32::from_be_bytes(seq));
    }
    assert!(
        got.len() >= 100,
        "the {} queued messages were lost: {} arrived of {sent} sent",
        100,
        got.len()
    );
    assert!(got.windows(2).all(|w| w[0] < w[1]), "in order, none twice");
    assert_eq!(
        got.last().copied(),
        Some(sent - 1),
        "up to the last one sent"
    );
}

#[tokio::test]
async fn the_monitor_hears_it_stopped_when_replaced_or_when_the_socket_closes() {
    let s = Socket::new(SocketType::Pull);
    let mut first = s.monitor(8);
    let mut second = s.monitor(8);
    let e = tokio::time::timeout(T, first.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.event, MonitorEvent::MonitorStopped);
    assert!(first.recv().await.is_none(), "then nothing more");
    let ep = s.bind("tcp://127.0.0.1:*").await.unwrap();
    until(&mut second, MonitorEvent::Listening).await;
    s.close(Duration::from_millis(100)).await;
    // The listener's CLOSED comes first, then MONITOR_STOPPED, then the end.
    let seen = until(&mut second, MonitorEvent::MonitorStopped).await;
    assert!(
        seen.iter()
            .any(|e| e.event == MonitorEvent::Closed && e.endpoint == ep),
        "{seen:?}"
    );
    assert!(second.recv().await.is_none());
}
