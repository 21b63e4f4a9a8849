//! Threat: a man in the middle poses as the server to a client that has pinned the server's
//! public key, using a key of his own, or relays the handshake to the real server and tries to
//! splice his own connection or traffic into it.
//! Defence: only the holder of the pinned key's secret can open HELLO or seal a WELCOME the client
//! accepts, and every later command is bound to one connection's transient keys, so the client
//! fails the handshake with a typed error without revealing its long-term key or metadata, and
//! nothing is delivered to or from the impostor.

mod threats_common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use threats_common::{
    client_keys, contains, feed, keypair, nacl, server_keys, session, split_stream, take_output,
    Dir, Link, GREETING_LEN,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use zmtp::zap::FnAuthenticator;
use zmtp::{MonitorEvent, Socket, SocketEvent, SocketOptions};
use zmtp_core::testing::Pair;
use zmtp_core::{
    AuthReply, AuthRequest, Error, Metadata, ProtocolError, SessionConfig, SocketType,
};
use zmtp_mechanisms::{CurveClientConfig, CurveKeyPair, CurveServerConfig};

fn cryptographic() -> Option<Error> {
    Some(Error::Protocol(ProtocolError::Cryptographic))
}

/// The client's metadata: the impostor must never read it.
const SECRET_NOTE: &[u8] = b"note-for-the-real-server-only";

fn client_config(pinned: &CurveKeyPair) -> SessionConfig {
    let mut c = SessionConfig::new(
        SocketType::Dealer,
        Arc::new(CurveClientConfig::new(
            client_keys().secret.clone(),
            pinned.public,
        )),
    );
    c.metadata = Metadata::new().with("X-Note", SECRET_NOTE).unwrap();
    c
}

fn server_config(keys: &CurveKeyPair) -> SessionConfig {
    SessionConfig::new(
        SocketType::Router,
        Arc::new(CurveServerConfig::new(keys.secret.clone())),
    )
}

fn impostor_keys() -> CurveKeyPair {
    keypair(0x99)
}

#[test]
fn an_impostor_server_with_its_own_key_cannot_open_hello_and_learns_nothing() {
    let mut l = Link::new(Pair::new(
        client_config(&server_keys()),
        server_config(&impostor_keys()),
    ));
    assert!(!l.handshake());
    assert_eq!(
        l.pair.server.error,
        cryptographic(),
        "the impostor cannot open HELLO"
    );
    assert!(!l.pair.client.session.is_ready() && !l.pair.server.session.is_ready());
    // The client sent its greeting and HELLO, nothing more: no INITIATE, so neither its
    // long-term key nor its metadata ever left it.
    let names: Vec<String> = split_stream(&l.capture.c2s)
        .iter()
        .map(|f| f.name().unwrap_or_default())
        .collect();
    assert_eq!(names, ["HELLO"]);
    assert!(!contains(&l.capture.c2s, client_keys().public.as_bytes()));
    assert!(!contains(&l.capture.c2s, SECRET_NOTE));
    // The client is left waiting, and its handshake timer ends it with a typed error.
    l.advance(Duration::from_secs(31));
    assert_eq!(l.pair.client.error, Some(Error::HandshakeTimeout));
    assert!(l.pair.client.messages().is_empty() && l.pair.server.messages().is_empty());
}

/// A client session that has sent its HELLO to an impostor; returns it with C'.
fn client_after_hello(pinned: &CurveKeyPair) -> (zmtp_core::Session, [u8; 32], Instant) {
    let now = Instant::now();
    let mut client = session(&Arc::new(client_config(pinned)), now);
    let _greeting = take_output(&mut client);
    // Any CURVE server's greeting will do: it carries no key.
    let greeting = take_output(&mut session(
        &Arc::new(server_config(&impostor_keys())),
        now,
    ));
    assert_eq!(feed(&mut client, &greeting, now).1, None);
    let hello = take_output(&mut client);
    let frames = split_stream(&[vec![0u8; GREETING_LEN], hello].concat());
    assert_eq!(frames[0].name().as_deref(), Some("HELLO"));
    let c_prime: [u8; 32] = frames[0].body[80..112].try_into().unwrap();
    (client, c_prime, now)
}

/// A well-formed WELCOME for C', sealed with `server_secret` as RFC 26 says:
/// `%d7 "WELCOME" nonce(16) Box[S' + cookie](S->C')`.
fn forged_welcome(server_secret: &[u8; 32], c_prime: &[u8; 32]) -> Vec<u8> {
    let transient = keypair(0x98);
    let mut plain = transient.public.as_bytes().to_vec();
    plain.extend_from_slice(&[0x5A; 96]); // a cookie the client cannot check anyway
    let long_nonce = [0x17u8; 16];
    let key = nacl::box_key(server_secret, c_prime);
    let sealed = nacl::seal(&key, &nacl::nonce(b"WELCOME-", &long_nonce), &plain);
    let mut wire = vec![0x04, 168];
    wire.extend_from_slice(b"\x07WELCOME");
    wire.extend_from_slice(&long_nonce);
    wire.extend_from_slice(&sealed);
    assert_eq!(wire.len(), 170);
    wire
}

#[test]
fn a_welcome_sealed_with_the_impostors_key_is_refused() {
    let (mut client, c_prime, now) = client_after_hello(&server_keys());
    let welcome = forged_welcome(impostor_keys().secret.expose(), &c_prime);
    let (events, error) = feed(&mut client, &welcome, now);
    assert_eq!(error, cryptographic());
    assert!(events.is_empty() && !client.is_ready());
    assert!(
        take_output(&mut client).is_empty(),
        "no INITIATE for the impostor"
    );

    // Control: the same forgery with the pinned key's secret is accepted and answered with an
    // INITIATE, so the refusal above is the key's doing, not a malformed WELCOME.
    let (mut client, c_prime, now) = client_after_hello(&server_keys());
    let welcome = forged_welcome(server_keys().secret.expose(), &c_prime);
    let (_, error) = feed(&mut client, &welcome, now);
    assert_eq!(error, None);
    let initiate = take_output(&mut client);
    let frames = split_stream(&[vec![0u8; GREETING_LEN], initiate].concat());
    assert_eq!(frames[0].name().as_deref(), Some("INITIATE"));
}

#[test]
fn a_relaying_impostor_cannot_splice_connections_or_traffic() {
    // The impostor relays the victim's handshake to the real server (connection 1) and runs a
    // connection of his own to the same server with his own client keys (connection 2). He
    // then moves commands and messages from one connection to the other.
    let real = server_keys();
    let server = server_config(&real);
    let attacker_client = SessionConfig::new(
        SocketType::Dealer,
        Arc::new(CurveClientConfig::new(
            keypair(0xA7).secret.clone(),
            real.public,
        )),
    );
    let now = Instant::now();
    let new = |c: &SessionConfig| session(&Arc::new(c.clone()), now);
    // Both connections up to the point where each client has its INITIATE ready.
    let (mut v, mut s1) = (new(&client_config(&real)), new(&server));
    let (mut a, mut s2) = (new(&attacker_client), new(&server));
    let mut welcomes = Vec::new();
    for (c, s) in [(&mut v, &mut s1), (&mut a, &mut s2)] {
        for _ in 0..2 {
            let out = take_output(c);
            assert_eq!(feed(s, &out, now).1, None);
            let out = take_output(s);
            if out.len() == 170 {
                welcomes.push(out.clone());
            }
            assert_eq!(feed(c, &out, now).1, None);
        }
    }
    let initiate_v = take_output(&mut v);
    let initiate_a = take_output(&mut a);

    // His INITIATE on the victim's connection, the victim's on his: both refused.
    for (target, initiate) in [(&mut s1, &initiate_a), (&mut s2, &initiate_v)] {
        let (events, error) = feed(target, initiate, now);
        assert_eq!(error, cryptographic());
        assert!(events.is_empty() && !target.is_ready());
    }
    // His connection's WELCOME given to the victim: sealed to another C', refused.
    let mut v2 = new(&client_config(&real));
    let _ = take_output(&mut v2);
    let g = take_output(&mut new(&server));
    assert_eq!(feed(&mut v2, &g, now).1, None);
    let _hello = take_output(&mut v2);
    let (events, error) = feed(&mut v2, &welcomes[1], now);
    assert_eq!(error, cryptographic());
    assert!(events.is_empty());

    // Two honest relays, then messages moved across: refused, nothing delivered.
    let (c, s) = (client_config(&real), server.clone());
    let mut one = Pair::new(c, s.clone());
    let mut two = Pair::new(attacker_client, s);
    assert!(one.handshake() && two.handshake());
    one.client
        .session
        .send_message(vec![Bytes::from_static(b"victim")])
        .unwrap();
    two.client
        .session
        .send_message(vec![Bytes::from_static(b"attacker")])
        .unwrap();
    let from_victim = take_output(&mut one.client.session);
    let from_attacker = take_output(&mut two.client.session);
    let (events, error) = feed(&mut one.server.session, &from_attacker, one.now);
    assert_eq!(error, cryptographic());
    assert!(events.is_empty());
    let (events, error) = feed(&mut two.server.session, &from_victim, two.now);
    assert_eq!(error, cryptographic());
    assert!(events.is_empty());
}

#[test]
fn a_transparent_relay_authenticates_the_real_client_to_the_real_server() {
    // A relay that changes nothing gets a working session, but between the two real ends: the
    // server's ZAP sees the victim's key, never one the relay chose.
    let mut s = server_config(&server_keys());
    s.zap_domain = Some("mitm".into());
    let mut l = Link::new(Pair::new(client_config(&server_keys()), s));
    let seen_keys = Arc::new(Mutex::new(Vec::new()));
    let keys = Arc::clone(&seen_keys);
    l.pair.server.authenticator = Some(Box::new(move |req: &AuthRequest| {
        keys.lock().unwrap().push(req.credentials.clone());
        Ok(AuthReply::allow("victim"))
    }));
    assert!(l.handshake());
    assert_eq!(
        *seen_keys.lock().unwrap(),
        vec![vec![Bytes::copy_from_slice(
            client_keys().public.as_bytes()
        )]]
    );
    let peer = l.pair.server.session.peer().unwrap();
    assert_eq!(
        peer.properties.get_str("X-Note").map(str::as_bytes),
        Some(SECRET_NOTE)
    );
    assert!(!contains(
        l.capture.stream(Dir::ClientToServer),
        SECRET_NOTE
    ));
}

// ---- Over real sockets ----

const WINDOW: Duration = Duration::from_millis(600);

async fn events_within(
    monitor: &mut tokio::sync::mpsc::Receiver<SocketEvent>,
    window: Duration,
) -> Vec<SocketEvent> {
    let deadline = tokio::time::Instant::now() + window;
    let mut out = Vec::new();
    while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, monitor.recv()).await {
        out.push(ev);
    }
    out
}

fn curve_server_socket(keys: &CurveKeyPair, admit_everyone: bool) -> Socket {
    Socket::with_options(
        SocketType::Router,
        SocketOptions {
            mechanism: Arc::new(CurveServerConfig::new(keys.secret.clone())),
            authenticator: admit_everyone.then(|| {
                Arc::new(FnAuthenticator(|_: &AuthRequest| {
                    Ok(AuthReply::allow("anyone"))
                })) as Arc<dyn zmtp::zap::Authenticator>
            }),
            ..Default::default()
        },
    )
}

fn curve_client_socket(pinned: &CurveKeyPair) -> Socket {
    Socket::with_options(
        SocketType::Dealer,
        SocketOptions {
            mechanism: Arc::new(CurveClientConfig::new(
                client_keys().secret.clone(),
                pinned.public,
            )),
            metadata: Metadata::new().with("X-Note", SECRET_NOTE).unwrap(),
            ..Default::default()
        },
    )
}

/// A client pinned to `pinned` against a server holding `held`: nothing crosses, and both
/// monitors report failed handshakes.
async fn mismatched(pinned: &CurveKeyPair, held: &CurveKeyPair, admit_everyone: bool) {
    let server = curve_server_socket(held, admit_everyone);
    let mut server_monitor = server.monitor(256);
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let client = curve_client_socket(pinned);
    let mut client_monitor = client.monitor(256);
    client.connect(&ep).await.unwrap();
    // The DEALER queues the message for a peer that never completes its handshake.
    let _ = tokio::time::timeout(Duration::from_millis(100), client.send("for the server")).await;
    let (to_server, to_client) = tokio::join!(
        tokio::time::timeout(WINDOW, server.recv()),
        tokio::time::timeout(WINDOW, client.recv()),
    );
    assert!(to_server.is_err(), "the server received {to_server:?}");
    assert!(to_client.is_err(), "the client received {to_client:?}");
    let server_events = events_within(&mut server_monitor, Duration::from_millis(50)).await;
    let client_events = events_within(&mut client_monitor, Duration::from_millis(50)).await;
    for (who, events) in [("server", &server_events), ("client", &client_events)] {
        assert!(
            events
                .iter()
                .all(|e| e.event != MonitorEvent::HandshakeSucceeded),
            "{who}: {events:?}"
        );
    }
    // The server side cannot open HELLO: CRYPTOGRAPHIC, every time the client tries.
    assert!(
        server_events
            .iter()
            .any(|e| e.event == MonitorEvent::HandshakeFailedProtocol && e.value == 0x1100_0001),
        "{server_events:?}"
    );
    // The client sees the server hang up mid-handshake (no ERROR is sent for a bad box).
    let failures: Vec<&SocketEvent> = client_events
        .iter()
        .filter(|e| {
            matches!(
                e.event,
                MonitorEvent::HandshakeFailedNoDetail
                    | MonitorEvent::HandshakeFailedProtocol
                    | MonitorEvent::HandshakeFailedAuth
            )
        })
        .collect();
    assert!(!failures.is_empty(), "client monitor: {client_events:?}");
    assert!(
        failures
            .iter()
            .all(|e| e.event == MonitorEvent::HandshakeFailedNoDetail && e.value == 0),
        "{failures:?}"
    );
    assert_eq!(server.peer_count(), 0);
    assert_eq!(client.peer_count(), 0);
}

#[tokio::test]
async fn over_sockets_a_client_pinned_to_another_key_gets_nothing_through() {
    // The client was given the wrong server key (or an attacker swapped it in its config).
    mismatched(&impostor_keys(), &server_keys(), false).await;
}

#[tokio::test]
async fn over_sockets_an_impostor_server_gets_nothing_even_admitting_everyone() {
    // The impostor listens where the client connects and would admit any client key.
    mismatched(&server_keys(), &impostor_keys(), true).await;
}

/// A TCP relay between a client and `upstream`: records what it forwards client to server,
/// and flips `flip_at` (an octet offset in that stream) on the first connection it relays.
async fn relay(upstream: String, flip_at: Option<usize>) -> (String, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("tcp://{}", listener.local_addr().unwrap());
    let upstream = upstream.trim_start_matches("tcp://").to_owned();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        let mut first = true;
        while let Ok((inbound, _)) = listener.accept().await {
            let outbound = TcpStream::connect(&upstream).await.unwrap();
            let flip = if first { flip_at } else { None };
            first = false;
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let (mut ir, mut iw) = inbound.into_split();
                let (mut or, mut ow) = outbound.into_split();
                let up = async move {
                    let mut at = 0usize;
                    let mut buf = vec![0u8; 4096];
                    loop {
                        let n = match ir.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if let Some(f) = flip {
                            if (at..at + n).contains(&f) {
                                buf[f - at] ^= 0x01;
                            }
                        }
                        log.lock().unwrap().extend_from_slice(&buf[..n]);
                        at += n;
                        if ow.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = ow.shutdown().await;
                };
                let down = async move {
                    let _ = tokio::io::copy(&mut or, &mut iw).await;
                    let _ = iw.shutdown().await;
                };
                tokio::join!(up, down);
            });
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn over_sockets_a_relay_sees_only_ciphertext_and_an_altered_octet_loses_nothing_else() {
    let server = curve_server_socket(&server_keys(), true);
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();

    // An honest relay: the message arrives, authenticated; the relay saw no plaintext.
    let (via, seen) = relay(ep.clone(), None).await;
    let client = curve_client_socket(&server_keys());
    client.connect(&via).await.unwrap();
    client.send("payload-through-the-relay").await.unwrap();
    let msg = tokio::time::timeout(Duration::from_secs(5), server.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&msg.parts()[1][..], b"payload-through-the-relay");
    assert_eq!(msg.property("User-Id"), Some("anyone"));
    assert_eq!(msg.property("X-Note").map(str::as_bytes), Some(SECRET_NOTE));
    let wire = seen.lock().unwrap().clone();
    assert!(wire.len() > GREETING_LEN + 202);
    assert!(!contains(&wire, b"payload-through-the-relay"));
    assert!(!contains(&wire, SECRET_NOTE));
    assert!(!contains(&wire, client_keys().public.as_bytes()));
    drop(client);

    // A relay that flips one octet of the client's first MESSAGE box: that message is never
    // delivered; the client reconnects (through the relay, which now behaves) and what it
    // sends next arrives.
    let first_message_box = {
        // Greeting, HELLO (202), INITIATE (long frame), then the first MESSAGE frame.
        let frames = split_stream(&wire);
        assert_eq!(frames[1].name().as_deref(), Some("INITIATE"));
        frames[2].body_range().start + 8 + 8 + 16 // past name, nonce and tag
    };
    let (via, _) = relay(ep.clone(), Some(first_message_box)).await;
    let client = curve_client_socket(&server_keys());
    let mut monitor = client.monitor(64);
    client.connect(&via).await.unwrap();
    client.send("altered-on-the-way").await.unwrap();
    let got = tokio::time::timeout(WINDOW, server.recv()).await;
    assert!(got.is_err(), "the altered message was delivered: {got:?}");
    // The client's first connection ended after its handshake had succeeded.
    let evs = events_within(&mut monitor, Duration::from_millis(100)).await;
    assert!(
        evs.iter()
            .any(|e| e.event == MonitorEvent::HandshakeSucceeded),
        "{evs:?}"
    );
    client.send("after-the-reconnect").await.unwrap();
    let msg = tokio::time::timeout(Duration::from_secs(5), server.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&msg.parts()[1][..], b"after-the-reconnect");
    let nothing_more = tokio::time::timeout(Duration::from_millis(200), server.recv()).await;
    assert!(nothing_more.is_err(), "{nothing_more:?}");
}
