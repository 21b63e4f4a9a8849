//! JeroMQ 0.3.6 (Debian's `libjeromq-java`) speaks ZMTP 2.0 only: its greeting is the 10-octet
//! signature, then revision `01` and its socket type (12 octets, RFC 15), sent in two steps.
//! We speak ZMTP 3.x only and refuse it, whatever our mechanism, in both directions: nothing is
//! delivered either way, our socket keeps serving 3.x peers, a connect of ours goes on retrying
//! at its reconnect interval, and the JeroMQ process ends on its own. libzmq 4.3.5 instead
//! speaks ZMTP 2.0 to such a peer when it has no mechanism (DEV-ZMTP-19); the last tests here
//! measure that. A raw TCP peer announcing major version 2, 1 (ZMTP 2.0) or nothing at all
//! (ZMTP 1.0) is refused by a CURVE server the same way, never downgraded.
//!
//! The peer is `tests/interop/JeromqPeer.java`, installed and compiled by
//! `scripts/setup-jeromq`; it takes its part on the command line and prints JSON lines.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, ChildStdout, Command};
use tokio::sync::mpsc;
use zmtp::core::{AuthReply, AuthRequest};
use zmtp::mechanisms::{
    CurveClientConfig, CurveKeyPair, CurveServerConfig, PlainClientConfig, PlainServerConfig,
};
use zmtp::zap::FnAuthenticator;
use zmtp::{MonitorEvent, Socket, SocketEvent, SocketOptions, SocketType};
use zmtp_core::wire::greeting::GreetingDecoder;
use zmtp_core::{Error, ProtocolError};
use zmtp_tests::pyzmq::Peer;
use zmtp_tests::{recv, repo_root};

/// The JeroMQ peer's whole budget: it has to end by then on its own.
const BUDGET_MS: u64 = 3000;
/// What starting a JVM and stopping it may add to the budget.
const JVM_SLACK: Duration = Duration::from_secs(5);
/// No test here may run longer than this.
const TEST_LIMIT: Duration = Duration::from_secs(60);
/// libzmq's `ZMQ_PROTOCOL_ERROR_ZMTP_UNSPECIFIED`: what a version refusal reports.
const ZMTP_UNSPECIFIED: u32 = 0x1000_0000;

/// The wrapper that runs the JeroMQ peer, set up on first use by the project's own script.
fn jeromq() -> PathBuf {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| {
        let out = std::process::Command::new(repo_root().join("scripts/setup-jeromq"))
            .output()
            .expect("scripts/setup-jeromq runs");
        assert!(
            out.status.success(),
            "scripts/setup-jeromq failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        PathBuf::from(stdout.lines().last().expect("wrapper path").trim())
    })
    .clone()
}

/// A running JeroMQ peer and the lines it printed so far.
struct Jeromq {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    started: Instant,
    seen: Vec<Value>,
}

impl Jeromq {
    fn spawn(socket_type: &str, side: &str, endpoint: &str, actions: &[&str]) -> Jeromq {
        let mut command = Command::new(jeromq());
        command
            .args([socket_type, side, endpoint, &BUDGET_MS.to_string()])
            .args(actions)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("the JeroMQ peer starts");
        let stdout = child.stdout.take().expect("piped");
        Jeromq {
            child,
            lines: BufReader::new(stdout).lines(),
            started: Instant::now(),
            seen: Vec::new(),
        }
    }

    /// The next line; `None` once the peer closed its output.
    async fn next(&mut self) -> Option<Value> {
        let limit = Duration::from_millis(BUDGET_MS) + JVM_SLACK;
        let line = tokio::time::timeout(limit, self.lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("JeroMQ silent for {limit:?}; seen {:?}", self.seen))
            .expect("stdout readable")?;
        let value: Value = serde_json::from_str(&line)
            .unwrap_or_else(|_| panic!("JeroMQ printed a line that is not JSON: {line}"));
        self.seen.push(value.clone());
        Some(value)
    }

    /// The endpoint it bound.
    async fn bound(&mut self) -> String {
        while let Some(line) = self.next().await {
            if let Some(ep) = line["bound"].as_str() {
                return ep.to_owned();
            }
            assert!(
                line.get("error").is_none(),
                "JeroMQ failed: {:?}",
                self.seen
            );
        }
        panic!("JeroMQ exited without binding: {:?}", self.seen);
    }

    /// Reads to the end, waits for the process and checks that it ended on its own within its
    /// budget (plus the JVM's start) and received nothing. Returns every line.
    async fn finish(mut self) -> Vec<Value> {
        while self.next().await.is_some() {}
        let status = tokio::time::timeout(JVM_SLACK, self.child.wait())
            .await
            .expect("JeroMQ exits once its output is closed")
            .expect("wait");
        let took = self.started.elapsed();
        assert!(
            took < Duration::from_millis(BUDGET_MS) + JVM_SLACK,
            "JeroMQ took {took:?}"
        );
        assert!(
            !self.seen.iter().any(|l| l.get("recv").is_some()),
            "JeroMQ received something: {:?}",
            self.seen
        );
        assert!(
            !self.seen.iter().any(|l| l["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("watchdog"))),
            "JeroMQ had to be stopped by its watchdog: {:?}",
            self.seen
        );
        // Status 1: it reported an error (a receive that timed out); 0: its script ran out.
        assert!(
            matches!(status.code(), Some(0 | 1)),
            "JeroMQ exit status {status:?}"
        );
        self.seen
    }
}

/// How many lines carry monitor event `name`.
fn count_events(lines: &[Value], name: &str) -> usize {
    lines.iter().filter(|l| l["event"] == name).count()
}

/// Every event the monitor has queued now.
fn drain(monitor: &mut mpsc::Receiver<SocketEvent>) -> Vec<SocketEvent> {
    let mut events = Vec::new();
    while let Ok(ev) = monitor.try_recv() {
        events.push(ev);
    }
    events
}

fn count(events: &[SocketEvent], wanted: MonitorEvent) -> usize {
    events.iter().filter(|e| e.event == wanted).count()
}

async fn bounded<F: std::future::Future<Output = ()>>(test: F) {
    tokio::time::timeout(TEST_LIMIT, test)
        .await
        .expect("the test ran past its limit");
}

/// Our side's mechanism, with the options a 3.x client needs to pass it.
#[derive(Clone)]
enum Security {
    Null,
    Curve(Arc<CurveKeyPair>),
    Plain,
}

impl Security {
    fn curve() -> Security {
        Security::Curve(Arc::new(CurveKeyPair::generate().expect("keys")))
    }

    fn server(&self) -> SocketOptions {
        match self {
            Security::Null => SocketOptions::default(),
            Security::Curve(keys) => SocketOptions {
                mechanism: Arc::new(CurveServerConfig::new(keys.secret.clone())),
                ..Default::default()
            },
            Security::Plain => SocketOptions {
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
            },
        }
    }

    fn client(&self) -> SocketOptions {
        match self {
            Security::Null => SocketOptions::default(),
            Security::Curve(server) => {
                let mine = CurveKeyPair::generate().expect("keys");
                SocketOptions {
                    mechanism: Arc::new(CurveClientConfig::new(mine.secret, server.public)),
                    ..Default::default()
                }
            }
            Security::Plain => SocketOptions {
                mechanism: Arc::new(PlainClientConfig::new(b"admin", b"secret").expect("creds")),
                ..Default::default()
            },
        }
    }
}

/// Our handshake failures in `events` are all refusals of the old peer: a version refusal
/// (HANDSHAKE_FAILED_PROTOCOL, ZMTP_UNSPECIFIED) when its revision octet reached us, or the
/// peer's own close when it gave up on our greeting first; never a success.
fn assert_refused(events: &[SocketEvent], attempts: usize) {
    assert_eq!(
        count(events, MonitorEvent::HandshakeSucceeded),
        0,
        "a handshake succeeded: {events:?}"
    );
    for e in events {
        if e.event == MonitorEvent::HandshakeFailedProtocol {
            assert_eq!(e.value, ZMTP_UNSPECIFIED, "{events:?}");
        }
    }
    let failed = count(events, MonitorEvent::HandshakeFailedProtocol)
        + count(events, MonitorEvent::HandshakeFailedNoDetail);
    assert!(
        attempts > 0 && failed >= attempts.saturating_sub(1),
        "{attempts} connections, {failed} handshake failures: {events:?}"
    );
}

/// JeroMQ connects to our bound `ours` and sends; it is refused, we receive nothing, and a 3.x
/// client of the same security is served afterwards.
///
/// Which side gives up first depends on our mechanism's name. JeroMQ reads our 64-octet
/// greeting as its 12-octet one followed by a ZMTP 2.0 frame, whose flags octet is the name's
/// first letter. `N` (NULL) and `C` (CURVE) have the long-size bit set and a size over 2^31,
/// which JeroMQ refuses at once, closing before its revision octet has left: we see the peer
/// close (HANDSHAKE_FAILED_NO_DETAIL). `P` (PLAIN) announces a short frame of 76 octets, so
/// JeroMQ waits for more and sends the rest of its greeting meanwhile: we refuse its revision
/// (HANDSHAKE_FAILED_PROTOCOL, ZMTP_UNSPECIFIED), `version_refused`.
async fn jeromq_connects(
    ours: SocketType,
    theirs: &str,
    actions: &[&str],
    security: Security,
    version_refused: bool,
) {
    let server = Socket::with_options(ours, security.server());
    let mut monitor = server.monitor(4096);
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let peer = Jeromq::spawn(theirs, "connect", &ep, actions);
    let lines = peer.finish().await;
    let events = drain(&mut monitor);
    let accepted = count(&events, MonitorEvent::Accepted);
    assert_refused(&events, accepted);
    let typed = count(&events, MonitorEvent::HandshakeFailedProtocol);
    if version_refused {
        assert!(typed >= 1, "no version refusal: {events:?}");
    } else {
        assert_eq!(typed, 0, "JeroMQ was expected to close first: {events:?}");
    }
    assert!(
        count_events(&lines, "CONNECTED") >= 1 && count_events(&lines, "DISCONNECTED") >= 1,
        "JeroMQ was connected and then disconnected: {lines:?}"
    );
    assert_eq!(server.peer_count(), 0);
    assert!(!server.has_message(), "something was delivered");

    // The same socket still serves a 3.x peer.
    let client_type = if ours == SocketType::Router {
        SocketType::Dealer
    } else {
        SocketType::Push
    };
    let client = Socket::with_options(client_type, security.client());
    client.connect(&ep).await.unwrap();
    client.send("after the old peer").await.unwrap();
    let msg = recv(&server).await;
    assert_eq!(
        msg.parts().last(),
        Some(&Bytes::from_static(b"after the old peer"))
    );
    assert_eq!(
        count(&drain(&mut monitor), MonitorEvent::HandshakeSucceeded),
        1
    );
}

#[tokio::test]
async fn jeromq_push_to_our_null_pull_is_refused() {
    bounded(jeromq_connects(
        SocketType::Pull,
        "PUSH",
        &["send:3", "wait"],
        Security::Null,
        false,
    ))
    .await;
}

#[tokio::test]
async fn jeromq_dealer_to_our_null_router_is_refused() {
    bounded(jeromq_connects(
        SocketType::Router,
        "DEALER",
        &["send:3", "recv:1"],
        Security::Null,
        false,
    ))
    .await;
}

#[tokio::test]
async fn jeromq_push_to_our_curve_server_is_refused() {
    bounded(jeromq_connects(
        SocketType::Pull,
        "PUSH",
        &["send:3", "wait"],
        Security::curve(),
        false,
    ))
    .await;
}

#[tokio::test]
async fn jeromq_dealer_to_our_curve_router_is_refused() {
    bounded(jeromq_connects(
        SocketType::Router,
        "DEALER",
        &["send:3", "recv:1"],
        Security::curve(),
        false,
    ))
    .await;
}

#[tokio::test]
async fn jeromq_push_to_our_plain_server_is_refused() {
    bounded(jeromq_connects(
        SocketType::Pull,
        "PUSH",
        &["send:3", "wait"],
        Security::Plain,
        true,
    ))
    .await;
}

#[tokio::test]
async fn jeromq_dealer_to_our_plain_router_is_refused() {
    bounded(jeromq_connects(
        SocketType::Router,
        "DEALER",
        &["send:3", "recv:1"],
        Security::Plain,
        true,
    ))
    .await;
}

/// We connect to a bound JeroMQ socket: every attempt is refused, nothing reaches JeroMQ, and
/// the attempts come at the reconnect interval, not in a busy loop.
async fn we_connect(ours: SocketType, theirs: &str, options: SocketOptions) {
    let mut peer = Jeromq::spawn(theirs, "bind", "tcp://127.0.0.1:*", &["recv:1"]);
    let ep = peer.bound().await;
    let client = Socket::with_options(
        ours,
        SocketOptions {
            sndtimeo: Some(Duration::from_millis(300)),
            ..options
        },
    );
    let mut monitor = client.monitor(4096);
    client.connect(&ep).await.unwrap();
    // Our send waits for a peer that never joins.
    let sent = client.send("for the old peer").await;
    assert!(
        matches!(sent, Err(zmtp::SocketError::Timeout)),
        "send to a refused peer: {sent:?}"
    );
    let window = Duration::from_millis(2000);
    tokio::time::sleep(window.saturating_sub(Duration::from_millis(300))).await;
    let events = drain(&mut monitor);
    let attempts = count(&events, MonitorEvent::Connected);
    assert_refused(&events, attempts);
    // The default reconnect interval is 100 ms plus up to 100 ms of jitter: about 10 to 20
    // attempts in two seconds. A busy loop would make hundreds.
    assert!(
        (2..=40).contains(&attempts),
        "{attempts} connection attempts in {window:?}: {events:?}"
    );
    for e in &events {
        if e.event == MonitorEvent::ConnectRetried {
            assert!(e.value >= 100, "a reconnect wait of {} ms", e.value);
        }
    }
    assert_eq!(client.peer_count(), 0);
    let lines = peer.finish().await;
    assert!(
        count_events(&lines, "ACCEPTED") >= 2,
        "JeroMQ saw our attempts: {lines:?}"
    );
    assert!(
        lines.iter().any(|l| l["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("recv timed out"))),
        "JeroMQ's receive ran out of time: {lines:?}"
    );
}

#[tokio::test]
async fn our_null_push_to_jeromq_pull_is_refused_and_retried_calmly() {
    bounded(we_connect(
        SocketType::Push,
        "PULL",
        SocketOptions::default(),
    ))
    .await;
}

#[tokio::test]
async fn our_null_dealer_to_jeromq_router_is_refused_and_retried_calmly() {
    bounded(we_connect(
        SocketType::Dealer,
        "ROUTER",
        SocketOptions::default(),
    ))
    .await;
}

#[tokio::test]
async fn our_curve_client_to_jeromq_pull_is_refused_and_retried_calmly() {
    let server = CurveKeyPair::generate().unwrap();
    let options = Security::Curve(Arc::new(server)).client();
    bounded(we_connect(SocketType::Push, "PULL", options)).await;
}

#[tokio::test]
async fn our_curve_dealer_to_jeromq_router_is_refused_and_retried_calmly() {
    let server = CurveKeyPair::generate().unwrap();
    let options = Security::Curve(Arc::new(server)).client();
    bounded(we_connect(SocketType::Dealer, "ROUTER", options)).await;
}

/// What JeroMQ sends, recorded by a listener that answers with our signature only: the
/// ZMTP 2.0 greeting, which our decoder refuses at octet 11 with a typed error.
#[tokio::test]
async fn jeromq_sends_the_zmtp_2_0_greeting_and_our_decoder_refuses_it() {
    bounded(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ep = format!("tcp://{}", listener.local_addr().unwrap());
        let peer = Jeromq::spawn("PUSH", "connect", &ep, &["wait"]);
        let (mut s, _) = listener.accept().await.unwrap();
        let mut first = [0u8; 10];
        s.read_exact(&mut first).await.unwrap();
        // The signature: 0xFF, the identity frame's size plus one in 8 octets, 0x7F.
        assert_eq!(first, [0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F]);
        // Nothing more until it has seen a versioned peer's signature.
        let mut more = [0u8; 1];
        let early = tokio::time::timeout(Duration::from_millis(300), s.read(&mut more)).await;
        assert!(early.is_err(), "JeroMQ sent more before our signature");
        s.write_all(&[0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F])
            .await
            .unwrap();
        let mut rest = [0u8; 2];
        s.read_exact(&mut rest).await.unwrap();
        // Revision 1 (ZMTP 2.0) and socket type 8 (PUSH); no mechanism, no 3.x greeting.
        assert_eq!(rest, [0x01, 0x08]);
        let mut wire = bytes::BytesMut::from(&first[..]);
        wire.extend_from_slice(&rest);
        assert_eq!(
            GreetingDecoder::new().decode(&mut wire),
            Err(ProtocolError::UnsupportedVersion { major: 1 })
        );
        assert_eq!(
            Error::from(ProtocolError::UnsupportedVersion { major: 1 }).handshake_event(),
            (MonitorEvent::HandshakeFailedProtocol, ZMTP_UNSPECIFIED)
        );
        drop(s);
        drop(listener);
        peer.finish().await;
    })
    .await;
}

/// Our greeting arrives whole, as we send it: JeroMQ takes octets 12 on for a ZMTP 2.0 frame
/// (`N` of NULL: a long frame over 2^31 octets) and closes the connection without sending its
/// revision octet, at most its signature. Its own refusal of us, which is what our side sees
/// (HANDSHAKE_FAILED_NO_DETAIL) when it connects to us with NULL or CURVE.
#[tokio::test]
async fn jeromq_closes_on_our_whole_greeting_before_sending_its_revision() {
    bounded(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ep = format!("tcp://{}", listener.local_addr().unwrap());
        let peer = Jeromq::spawn("PUSH", "connect", &ep, &["wait"]);
        let (mut s, _) = listener.accept().await.unwrap();
        let mut ours = bytes::BytesMut::new();
        zmtp_core::Greeting::ours(zmtp_core::MechanismName::NULL, false).encode(&mut ours);
        s.write_all(&ours).await.unwrap();
        let mut got = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut got)).await;
        assert!(read.is_ok(), "JeroMQ kept the connection open");
        assert!(
            got.len() <= 10,
            "JeroMQ sent more than its signature: {got:02x?}"
        );
        assert_eq!(
            got[..],
            [0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F][..got.len()],
            "a prefix of its signature"
        );
        drop(s);
        drop(listener);
        peer.finish().await;
    })
    .await;
}

/// A raw peer sends `greeting` to our CURVE server: we answer with our greeting and nothing
/// else, close, report a version refusal, deliver nothing, and still serve a CURVE client.
async fn raw_old_greeting_to_curve_server(greeting: &[u8]) {
    let security = Security::curve();
    let server = Socket::with_options(SocketType::Pull, security.server());
    let mut monitor = server.monitor(256);
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let mut raw = TcpStream::connect(ep.trim_start_matches("tcp://"))
        .await
        .unwrap();
    raw.write_all(greeting).await.unwrap();
    // A frame after the greeting, as a 2.0 or 1.0 peer would send its identity and a message.
    let _ = raw
        .write_all(&[0x00, 0x00, 0x00, 0x05, b'h', b'e', b'l', b'l', b'o'])
        .await;
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "our server did not close the connection");
    assert!(got.len() <= 64, "more than our greeting: {got:02x?}");
    assert_eq!(
        &got[..got.len().min(10)],
        &[0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0x7F][..got.len().min(10)]
    );
    if got.len() == 64 {
        assert_eq!((got[10], got[11]), (3, 1));
        assert_eq!(&got[12..17], b"CURVE");
    }
    let failed = zmtp_tests::event(&mut monitor, MonitorEvent::HandshakeFailedProtocol).await;
    assert_eq!(failed, ZMTP_UNSPECIFIED);
    let events = drain(&mut monitor);
    assert_eq!(count(&events, MonitorEvent::HandshakeSucceeded), 0);
    assert!(!server.has_message());
    assert_eq!(server.peer_count(), 0);

    let client = Socket::with_options(SocketType::Push, security.client());
    client.connect(&ep).await.unwrap();
    client.send("a 3.x client").await.unwrap();
    assert_eq!(recv(&server).await.parts()[0], "a 3.x client");
}

/// The 64-octet form with major version `major`, mechanism NULL.
fn greeting_with_major(major: u8) -> Vec<u8> {
    let mut g = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, major, 0];
    g.extend_from_slice(b"NULL");
    g.resize(64, 0);
    g
}

#[tokio::test]
async fn a_raw_major_2_greeting_to_our_curve_server_is_refused_not_downgraded() {
    bounded(raw_old_greeting_to_curve_server(&greeting_with_major(2))).await;
}

#[tokio::test]
async fn a_raw_zmtp_2_0_greeting_to_our_curve_server_is_refused_not_downgraded() {
    // Signature, revision 1, socket type PUSH: what JeroMQ 0.3.6 sends.
    bounded(raw_old_greeting_to_curve_server(&[
        0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 0x01, 0x08,
    ]))
    .await;
}

#[tokio::test]
async fn a_raw_zmtp_1_0_identity_to_our_curve_server_is_refused_not_downgraded() {
    // ZMTP 1.0 has no greeting: its first octets are the identity frame (length 1, flags 0).
    bounded(raw_old_greeting_to_curve_server(&[0x01, 0x00])).await;
}

/// libzmq 4.3.5 with no mechanism speaks ZMTP 2.0 to JeroMQ: the messages arrive (the
/// difference DEV-ZMTP-19 records).
#[tokio::test]
async fn libzmq_null_pull_accepts_jeromq_push() {
    bounded(async {
        let mut lz = Peer::spawn(&json!({
            "type": "PULL",
            "bind": "tcp://127.0.0.1:*",
            "script": [{ "op": "recv", "count": 2 }],
        }));
        let ep = lz.bound().await;
        let peer = Jeromq::spawn("PUSH", "connect", &ep, &["send:2", "wait"]);
        let (first, _) = lz.received().await;
        assert_eq!(first, vec![b"jeromq-0".to_vec()]);
        let (second, _) = lz.received().await;
        assert_eq!(second, vec![b"jeromq-1".to_vec()]);
        lz.done().await;
        peer.finish().await;
    })
    .await;
}

/// libzmq 4.3.5 as a CURVE server refuses JeroMQ, as we do: it closes each connection.
#[tokio::test]
async fn libzmq_curve_pull_refuses_jeromq_push() {
    bounded(async {
        let keys = CurveKeyPair::generate().unwrap();
        let mut lz = Peer::spawn(&json!({
            "type": "PULL",
            "bind": "tcp://127.0.0.1:*",
            "monitor": true,
            "timeout_ms": 2500,
            "options": {
                "curve_server": 1,
                "curve_secretkey": keys.secret.to_z85().as_str(),
                "curve_publickey": keys.public.to_z85(),
            },
            "script": [{ "op": "recv", "count": 1 }],
        }));
        let ep = lz.bound().await;
        let peer = Jeromq::spawn("PUSH", "connect", &ep, &["send:2", "wait"]);
        let mut lines = Vec::new();
        loop {
            let line = lz.next().await;
            lines.push(line.clone());
            if line.get("error").is_some() || line.get("done").is_some() {
                break;
            }
        }
        assert!(
            !lines.iter().any(|l| l.get("recv").is_some()),
            "libzmq received: {lines:?}"
        );
        assert!(count_events(&lines, "ACCEPTED") >= 1, "{lines:?}");
        assert!(count_events(&lines, "DISCONNECTED") >= 1, "{lines:?}");
        assert_eq!(count_events(&lines, "HANDSHAKE_SUCCEEDED"), 0, "{lines:?}");
        peer.finish().await;
    })
    .await;
}
