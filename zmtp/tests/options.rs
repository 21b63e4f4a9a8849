//! TCP options reach the OS socket, CONNECT_TIMEOUT abandons a connect that hangs, reconnect
//! waits are jittered within their bounds, and every option with a range is validated.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use zmtp::{Heartbeat, MonitorEvent, Socket, SocketError, SocketEvent, SocketOptions, SocketType};

const T: Duration = Duration::from_secs(5);

async fn next_event(rx: &mut mpsc::Receiver<SocketEvent>) -> SocketEvent {
    tokio::time::timeout(T, rx.recv())
        .await
        .expect("an event within 5 s")
        .expect("monitor open")
}

/// The keepalive timer Linux shows for the IPv4 connection `local` → `remote` in
/// /proc/net/tcp: `(tr, tm->when)`, tr 2 being the keepalive timer and `when` in 1/100 s.
#[cfg(target_os = "linux")]
fn proc_timer(local: SocketAddr, remote: SocketAddr) -> Option<(u8, u64)> {
    fn hex(a: SocketAddr) -> String {
        let SocketAddr::V4(a) = a else {
            return String::new();
        };
        let ip = u32::from_ne_bytes(a.ip().octets());
        format!("{ip:08X}:{:04X}", a.port())
    }
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let (l, r) = (hex(local), hex(remote));
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.get(1) != Some(&l.as_str()) || f.get(2) != Some(&r.as_str()) {
            return None;
        }
        let (tr, when) = f.get(5)?.split_once(':')?;
        Some((tr.parse().ok()?, u64::from_str_radix(when, 16).ok()?))
    })
}

/// Keepalive with a 91 s idle time on both our connected and our accepted streams, seen from
/// outside through the kernel's connection table (a peer cannot read our socket options).
#[cfg(target_os = "linux")]
#[tokio::test]
async fn keepalive_reaches_connected_and_accepted_streams() {
    let keepalive = SocketOptions {
        tcp_keepalive: Some(true),
        tcp_keepalive_idle: Some(Duration::from_secs(91)),
        tcp_keepalive_intvl: Some(Duration::from_secs(5)),
        tcp_keepalive_cnt: Some(3),
        ..SocketOptions::default()
    };
    // Connected side: our DEALER to a raw listener.
    let raw = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = raw.local_addr().unwrap();
    let client = Socket::try_with_options(SocketType::Dealer, keepalive.clone()).unwrap();
    client.connect(&format!("tcp://{addr}")).await.unwrap();
    let (peer, from) = tokio::task::spawn_blocking(move || raw.accept().unwrap())
        .await
        .unwrap();
    // Accepted side: our ROUTER accepting a raw client.
    let server = Socket::try_with_options(SocketType::Router, keepalive).unwrap();
    let bound = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let bound: SocketAddr = bound.trim_start_matches("tcp://").parse().unwrap();
    let raw_client = std::net::TcpStream::connect(bound).unwrap();
    let raw_local = raw_client.local_addr().unwrap();
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let ours = [proc_timer(from, addr), proc_timer(bound, raw_local)];
        let ok = ours
            .iter()
            .all(|t| matches!(t, Some((2, when)) if (8_000..=9_100).contains(when)));
        if ok {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "keepalive timers (tr, when): {ours:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The raw ends did not ask for keepalive: no timer 2 there.
    assert_ne!(proc_timer(addr, from).map(|t| t.0), Some(2));
    drop((peer, raw_client));
}

/// A listener that never accepts and whose queue is full drops new SYNs (Linux, with
/// `tcp_abort_on_overflow` at its default 0), so a connect to it hangs: a blackhole that needs
/// no network (10.255.255.1 fails at once on a machine without a route to it).
fn blackhole() -> (socket2::Socket, SocketAddr, Vec<std::net::TcpStream>) {
    use socket2::{Domain, Socket as Raw, Type};
    let listener = Raw::new(Domain::IPV4, Type::STREAM, None).unwrap();
    listener
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..16 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Ok(s) => fillers.push(s),
            Err(_) => return (listener, addr, fillers),
        }
    }
    panic!("the listen queue never filled");
}

#[tokio::test]
async fn connect_timeout_abandons_a_hanging_connect_and_retries() {
    let (_listener, addr, _fillers) = blackhole();
    let client = Socket::try_with_options(
        SocketType::Dealer,
        SocketOptions {
            connect_timeout: Some(Duration::from_millis(200)),
            reconnect_ivl: Duration::from_millis(50),
            ..SocketOptions::default()
        },
    )
    .unwrap();
    let mut events = client.monitor(64);
    let started = tokio::time::Instant::now();
    client.connect(&format!("tcp://{addr}")).await.unwrap();
    // As libzmq's connect timer: CONNECT_DELAYED, CLOSED, CONNECT_RETRIED, twice over.
    for _ in 0..2 {
        let seen: Vec<MonitorEvent> = [
            next_event(&mut events).await,
            next_event(&mut events).await,
            next_event(&mut events).await,
        ]
        .iter()
        .map(|e| e.event)
        .collect();
        assert_eq!(
            seen,
            [
                MonitorEvent::ConnectDelayed,
                MonitorEvent::Closed,
                MonitorEvent::ConnectRetried
            ]
        );
    }
    // Two 200 ms attempts and one wait of 50-100 ms, far less than the OS's SYN retries.
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[tokio::test]
async fn reconnect_waits_are_jittered_within_their_bounds() {
    // A port nobody listens on: each attempt is refused at once.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    let ivl = 20u32;
    let max = 80u32;
    let client = Socket::try_with_options(
        SocketType::Dealer,
        SocketOptions {
            reconnect_ivl: Duration::from_millis(ivl.into()),
            reconnect_ivl_max: Some(Duration::from_millis(max.into())),
            ..SocketOptions::default()
        },
    )
    .unwrap();
    let mut events = client.monitor(256);
    client.connect(&format!("tcp://{addr}")).await.unwrap();
    let mut waits = Vec::new();
    while waits.len() < 12 {
        let e = next_event(&mut events).await;
        if e.event == MonitorEvent::ConnectRetried {
            waits.push(e.value);
        }
    }
    // Wait n is the current interval (20, 40, 80, 80, ...) plus a jitter in [0, 20) ms; the
    // event value is whole milliseconds of the wait used.
    let mut current = ivl;
    for (n, &w) in waits.iter().enumerate() {
        assert!(
            (current..current + ivl).contains(&w),
            "wait {n} was {w} ms, outside [{current}, {}): {waits:?}",
            current + ivl
        );
        current = (current * 2).min(max);
    }
    let capped = &waits[3..];
    assert!(
        capped.iter().any(|&w| w != capped[0]),
        "nine capped waits all equal: no jitter? {waits:?}"
    );
}

#[tokio::test]
async fn buffer_sizes_and_backlog_are_accepted_and_used() {
    // Read back on the OS sockets in `tcp.rs`'s unit tests; here the whole path binds,
    // connects and talks with them set.
    let options = SocketOptions {
        sndbuf: Some(32 * 1024),
        rcvbuf: Some(48 * 1024),
        backlog: 4,
        tcp_keepalive: Some(false),
        ..SocketOptions::default()
    };
    let server = Socket::try_with_options(SocketType::Pull, options.clone()).unwrap();
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let client = Socket::try_with_options(SocketType::Push, options.clone()).unwrap();
    client.connect(&ep).await.unwrap();
    tokio::time::timeout(T, client.send(["over tuned sockets"]))
        .await
        .unwrap()
        .unwrap();
    let msg = tokio::time::timeout(T, server.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(msg.parts()[0], "over tuned sockets");
    #[cfg(unix)]
    {
        let dir = tempfile::tempdir().unwrap();
        let ipc = format!("ipc://{}", dir.path().join("s").display());
        let server = Socket::try_with_options(SocketType::Pull, options.clone()).unwrap();
        server.bind(&ipc).await.unwrap();
        let client = Socket::try_with_options(SocketType::Push, options).unwrap();
        client.connect(&ipc).await.unwrap();
        tokio::time::timeout(T, client.send(["over ipc"]))
            .await
            .unwrap()
            .unwrap();
        let msg = tokio::time::timeout(T, server.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(msg.parts()[0], "over ipc");
    }
}

/// Each bad value is refused by `validate`, `try_with_options`, `bind` and `connect`, with a
/// message naming the option.
#[tokio::test]
async fn out_of_range_options_are_refused_naming_the_option() {
    let d = SocketOptions::default;
    let secs = Duration::from_secs;
    let cases: Vec<(&str, SocketOptions)> = vec![
        (
            "routing_id",
            SocketOptions {
                routing_id: Bytes::from(vec![b'a'; 256]),
                ..d()
            },
        ),
        (
            "routing_id",
            SocketOptions {
                routing_id: Bytes::from_static(b"\0abc"),
                ..d()
            },
        ),
        (
            "zap_domain",
            SocketOptions {
                zap_domain: Some("d".repeat(256)),
                ..d()
            },
        ),
        (
            "heartbeat.ttl",
            SocketOptions {
                heartbeat: Heartbeat {
                    interval: Some(secs(1)),
                    ttl: Some(Duration::from_millis(6_553_600)),
                    timeout: None,
                },
                ..d()
            },
        ),
        (
            "reconnect_ivl_max",
            SocketOptions {
                reconnect_ivl: Duration::from_millis(100),
                reconnect_ivl_max: Some(Duration::from_millis(50)),
                ..d()
            },
        ),
        (
            "reconnect_ivl",
            SocketOptions {
                reconnect_ivl: secs(3_000_000),
                ..d()
            },
        ),
        (
            "connect_timeout",
            SocketOptions {
                connect_timeout: Some(Duration::ZERO),
                ..d()
            },
        ),
        (
            "tcp_keepalive_idle",
            SocketOptions {
                tcp_keepalive_idle: Some(Duration::ZERO),
                ..d()
            },
        ),
        (
            "tcp_keepalive_idle",
            SocketOptions {
                tcp_keepalive_idle: Some(Duration::from_millis(1500)),
                ..d()
            },
        ),
        (
            "tcp_keepalive_intvl",
            SocketOptions {
                tcp_keepalive_intvl: Some(secs(u64::from(u32::MAX))),
                ..d()
            },
        ),
        (
            "tcp_keepalive_cnt",
            SocketOptions {
                tcp_keepalive_cnt: Some(0),
                ..d()
            },
        ),
        (
            "sndbuf",
            SocketOptions {
                sndbuf: Some(i32::MAX as usize + 1),
                ..d()
            },
        ),
        (
            "rcvbuf",
            SocketOptions {
                rcvbuf: Some(usize::MAX),
                ..d()
            },
        ),
        ("backlog", SocketOptions { backlog: 0, ..d() }),
        (
            "backlog",
            SocketOptions {
                backlog: u32::MAX,
                ..d()
            },
        ),
        (
            "max_handshakes",
            SocketOptions {
                max_handshakes: 0,
                ..d()
            },
        ),
        (
            "max_handshakes_per_address",
            SocketOptions {
                max_handshakes_per_address: 0,
                ..d()
            },
        ),
    ];
    let named = |e: SocketError, option: &str| match e {
        SocketError::Config(m) => assert!(m.starts_with(option), "{option}: {m}"),
        other => panic!("{option}: {other:?}"),
    };
    for (option, bad) in cases {
        named(bad.validate().unwrap_err(), option);
        named(
            Socket::try_with_options(SocketType::Dealer, bad.clone()).unwrap_err(),
            option,
        );
        let socket = Socket::with_options(SocketType::Dealer, bad);
        named(socket.bind("tcp://127.0.0.1:*").await.unwrap_err(), option);
        named(
            socket.connect("tcp://127.0.0.1:9").await.unwrap_err(),
            option,
        );
    }
    // The edges that are allowed.
    let fine = SocketOptions {
        routing_id: Bytes::from(vec![b'a'; 255]),
        zap_domain: Some("d".repeat(255)),
        heartbeat: Heartbeat {
            interval: Some(secs(1)),
            ttl: Some(Duration::from_millis(6_553_599)),
            timeout: None,
        },
        reconnect_ivl_max: Some(Duration::from_millis(100)),
        tcp_keepalive_idle: Some(secs(1)),
        tcp_keepalive_cnt: Some(1),
        sndbuf: Some(i32::MAX as usize),
        backlog: 1,
        ..d()
    };
    fine.validate().unwrap();
    SocketOptions::default().validate().unwrap();
}
