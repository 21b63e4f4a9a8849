//! Threat: a client passes itself off as another, by claiming a long-term public key it has no
//! secret for, or by announcing a User-Id (or Peer-Address) of its choosing in its metadata.
//! Defence: a CURVE server takes the client's key only from inside the vouch, which opens only for
//! the holder of that key's secret, and hands ZAP nothing else, and a connection's User-Id comes
//! only from ZAP (its Peer-Address only from the socket), never from what the peer announces.

mod threats_common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use threats_common::{
    client_keys, feed_with, keypair, nacl, server_keys, session, split_stream, take_output,
    GREETING_LEN,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zmtp::zap::{AllowAll, Policy, ZapService};
use zmtp::{MonitorEvent, Socket, SocketEvent, SocketOptions};
use zmtp_core::{
    AuthReply, Error, Event, Metadata, ProtocolError, Session, SessionConfig, SocketType,
};
use zmtp_mechanisms::{CurveClientConfig, CurveKeyPair, CurveServerConfig};

// ---- An attacker's own CURVE client, written from RFC 26 with the attacker's NaCl helpers ----

/// What the hand-made client puts in its INITIATE.
#[derive(Clone, Copy, Debug)]
enum Claim {
    /// Its own key, vouched for with its own secret: an honest client (the control).
    Own,
    /// The victim's public key, vouched for with the attacker's own long-term secret.
    VictimSignedWithOwnSecret,
    /// The victim's public key, vouched for with the attacker's transient secret.
    VictimSignedWithTransient,
    /// The victim's public key, with a vouch box of random octets.
    VictimRandomVouch,
}

/// A CURVE client that builds every command itself: transient key from `seed`, long-term key
/// `own`, claiming what `claim` says, to the server whose long-term public key is `server`.
struct Handmade {
    transient: CurveKeyPair,
    own: CurveKeyPair,
    victim: [u8; 32],
    server: [u8; 32],
    claim: Claim,
    inbox: BytesMut,
    sent_initiate: bool,
    session_key: Option<[u8; 32]>,
}

impl Handmade {
    fn new(claim: Claim, own: CurveKeyPair, victim: [u8; 32], server: [u8; 32]) -> Handmade {
        Handmade {
            transient: keypair(0xE1),
            own,
            victim,
            server,
            claim,
            inbox: BytesMut::new(),
            sent_initiate: false,
            session_key: None,
        }
    }

    /// Greeting (client, CURVE) and HELLO.
    fn start(&self) -> Vec<u8> {
        let mut out = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 1];
        out.extend_from_slice(b"CURVE");
        out.resize(GREETING_LEN, 0);
        let key = nacl::box_key(self.transient.secret.expose(), &self.server);
        let short = 1u64.to_be_bytes();
        let signature = nacl::seal(&key, &nacl::nonce(b"CurveZMQHELLO---", &short), &[0; 64]);
        let mut hello = b"\x05HELLO\x01\x00".to_vec();
        hello.extend_from_slice(&[0; 72]);
        hello.extend_from_slice(self.transient.public.as_bytes());
        hello.extend_from_slice(&short);
        hello.extend_from_slice(&signature);
        assert_eq!(hello.len(), 200);
        out.extend_from_slice(&[0x04, 200]);
        out.extend_from_slice(&hello);
        out
    }

    /// Takes the server's octets; returns the INITIATE once WELCOME is in.
    fn handle(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.inbox.extend_from_slice(bytes);
        if self.sent_initiate || self.inbox.len() < GREETING_LEN + 170 {
            return Vec::new();
        }
        let frames = split_stream(&self.inbox[..GREETING_LEN + 170]);
        let welcome = &frames[0].body;
        assert_eq!(frames[0].name().as_deref(), Some("WELCOME"));
        let hello_key = nacl::box_key(self.transient.secret.expose(), &self.server);
        let plain = nacl::open(
            &hello_key,
            &nacl::nonce(b"WELCOME-", &welcome[8..24]),
            &welcome[24..40],
            &welcome[40..168],
        )
        .expect("the real server's WELCOME opens");
        let s_prime: [u8; 32] = plain[..32].try_into().unwrap();
        let cookie = &plain[32..128];
        let session_key = nacl::box_key(self.transient.secret.expose(), &s_prime);
        self.session_key = Some(session_key);

        let claimed = match self.claim {
            Claim::Own => *self.own.public.as_bytes(),
            _ => self.victim,
        };
        let vouch_nonce = [0x4Bu8; 16];
        let mut vouched = self.transient.public.as_bytes().to_vec();
        vouched.extend_from_slice(&self.server);
        let vouch_nonce24 = nacl::nonce(b"VOUCH---", &vouch_nonce);
        let vouch = match self.claim {
            Claim::Own | Claim::VictimSignedWithOwnSecret => nacl::seal(
                &nacl::box_key(self.own.secret.expose(), &s_prime),
                &vouch_nonce24,
                &vouched,
            ),
            Claim::VictimSignedWithTransient => nacl::seal(
                &nacl::box_key(self.transient.secret.expose(), &s_prime),
                &vouch_nonce24,
                &vouched,
            ),
            Claim::VictimRandomVouch => (0..80u8).map(|i| i.wrapping_mul(73) ^ 0x5C).collect(),
        };
        let mut plain = claimed.to_vec();
        plain.extend_from_slice(&vouch_nonce);
        plain.extend_from_slice(&vouch);
        plain.extend_from_slice(
            &Metadata::new()
                .with("Socket-Type", &b"DEALER"[..])
                .unwrap()
                .to_bytes(),
        );
        let short = 2u64.to_be_bytes();
        let sealed = nacl::seal(
            &session_key,
            &nacl::nonce(b"CurveZMQINITIATE", &short),
            &plain,
        );
        let mut body = b"\x08INITIATE".to_vec();
        body.extend_from_slice(cookie);
        body.extend_from_slice(&short);
        body.extend_from_slice(&sealed);
        let mut wire = vec![0x06];
        wire.extend_from_slice(&(body.len() as u64).to_be_bytes());
        wire.extend_from_slice(&body);
        self.sent_initiate = true;
        wire
    }

    /// A one-part MESSAGE with short nonce 3, once the handshake is done.
    fn message(&self, payload: &[u8]) -> Vec<u8> {
        let key = self.session_key.expect("after WELCOME");
        let mut plain = vec![0x00];
        plain.extend_from_slice(payload);
        let short = 3u64.to_be_bytes();
        let sealed = nacl::seal(&key, &nacl::nonce(b"CurveZMQMESSAGEC", &short), &plain);
        let mut body = b"\x07MESSAGE".to_vec();
        body.extend_from_slice(&short);
        body.extend_from_slice(&sealed);
        let mut wire = vec![0x00, body.len() as u8];
        wire.extend_from_slice(&body);
        wire
    }
}

fn victim() -> CurveKeyPair {
    client_keys()
}

fn attacker() -> CurveKeyPair {
    keypair(0xAD)
}

/// A CURVE server session that authenticates through `answer`, which records every request.
struct Server {
    session: Session,
    inbox: BytesMut,
    asked: Vec<Vec<Bytes>>,
    events: Vec<Event>,
    error: Option<Error>,
    now: Instant,
}

impl Server {
    fn new() -> Server {
        let mut config = SessionConfig::new(
            SocketType::Router,
            Arc::new(CurveServerConfig::new(server_keys().secret.clone())),
        );
        config.zap_domain = Some("identity".into());
        let now = Instant::now();
        Server {
            session: session(&Arc::new(config), now),
            inbox: BytesMut::new(),
            asked: Vec::new(),
            events: Vec::new(),
            error: None,
            now,
        }
    }

    /// Takes the client's octets; answers ZAP by naming the key it was given; returns the
    /// server's octets.
    fn handle(&mut self, bytes: &[u8]) -> Vec<u8> {
        if self.error.is_none() {
            let (events, error) = feed_with(&mut self.session, &mut self.inbox, bytes, self.now);
            self.error = error;
            for ev in events {
                if let Event::AuthRequest(req) = &ev {
                    self.asked.push(req.credentials.clone());
                    let key: [u8; 32] = req.credentials[0][..].try_into().unwrap();
                    let reply = AuthReply::allow(z85_codec::encode_key(&key));
                    if let Err(e) = self.session.handle_auth_reply(Ok(reply), self.now) {
                        self.error.get_or_insert(e);
                    }
                    while let Some(ev) = self.session.poll_event() {
                        self.events.push(ev);
                    }
                }
                self.events.push(ev);
            }
        }
        take_output(&mut self.session)
    }
}

/// Runs the hand-made client against a fresh server session; then, if it got in, a message.
fn impersonate(claim: Claim) -> Server {
    let mut client = Handmade::new(
        claim,
        attacker(),
        *victim().public.as_bytes(),
        *server_keys().public.as_bytes(),
    );
    let mut server = Server::new();
    let to_client = server.handle(&client.start());
    let initiate = client.handle(&to_client);
    assert!(!initiate.is_empty(), "{claim:?}: no INITIATE");
    let _ready = server.handle(&initiate);
    if server.session.is_ready() {
        let _ = server.handle(&client.message(b"hello from the hand-made client"));
    }
    server
}

#[test]
fn control_the_hand_made_client_gets_in_with_its_own_key() {
    let server = impersonate(Claim::Own);
    assert_eq!(server.error, None);
    assert!(server.session.is_ready());
    // ZAP was asked about exactly the key the vouch proved.
    assert_eq!(
        server.asked,
        vec![vec![Bytes::copy_from_slice(attacker().public.as_bytes())]]
    );
    let peer = server.session.peer().unwrap();
    assert_eq!(
        peer.user_id.as_deref(),
        Some(attacker().public.to_z85().as_str())
    );
    assert!(server.events.iter().any(|e| matches!(
        e,
        Event::Message(m) if m[..] == [Bytes::from_static(b"hello from the hand-made client")]
    )));
}

#[test]
fn a_client_holding_only_the_victims_public_key_cannot_claim_it() {
    for claim in [
        Claim::VictimSignedWithOwnSecret,
        Claim::VictimSignedWithTransient,
        Claim::VictimRandomVouch,
    ] {
        let server = impersonate(claim);
        assert_eq!(
            server.error,
            Some(Error::Protocol(ProtocolError::Cryptographic)),
            "{claim:?}"
        );
        assert!(!server.session.is_ready(), "{claim:?}");
        // The claimed key never reached ZAP: the server hands over only what a vouch proved.
        assert!(
            server.asked.is_empty(),
            "{claim:?}: ZAP was asked {:?}",
            server.asked
        );
        assert!(server.session.peer().is_none());
        assert!(
            !server.events.iter().any(|e| matches!(e, Event::Message(_))),
            "{claim:?}"
        );
    }
}

#[test]
fn the_server_learns_the_client_key_only_from_the_vouch() {
    // A real client: its key is in no command in clear, and ZAP hears it exactly once, after
    // the INITIATE has opened.
    let mut config = SessionConfig::new(
        SocketType::Dealer,
        Arc::new(CurveClientConfig::new(
            victim().secret.clone(),
            server_keys().public,
        )),
    );
    config.metadata = Metadata::new().with("X-Tag", &b"v"[..]).unwrap();
    let now = Instant::now();
    let mut client = session(&Arc::new(config), now);
    let mut server = Server::new();
    let mut wire = Vec::new();
    let mut to_server = take_output(&mut client);
    let mut inbox = BytesMut::new();
    for _ in 0..4 {
        wire.extend_from_slice(&to_server);
        let asked_before = server.asked.len();
        let back = server.handle(&to_server);
        if server.asked.len() > asked_before {
            // ZAP was asked while the server took this batch: the one with the INITIATE.
            let batch = [vec![0u8; GREETING_LEN], to_server.clone()].concat();
            let names: Vec<String> = split_stream(&batch)
                .iter()
                .map(|f| f.name().unwrap_or_default())
                .collect();
            assert_eq!(names, ["INITIATE"]);
        }
        let _ = feed_with(&mut client, &mut inbox, &back, now);
        to_server = take_output(&mut client);
        if to_server.is_empty() {
            break;
        }
    }
    assert!(server.session.is_ready() && client.is_ready());
    assert_eq!(
        server.asked,
        vec![vec![Bytes::copy_from_slice(victim().public.as_bytes())]]
    );
    assert!(!threats_common::contains(&wire, victim().public.as_bytes()));
}

#[test]
fn a_null_peer_cannot_announce_its_own_user_id_or_peer_address() {
    // Session level, NULL without ZAP: nothing authenticated the peer, so no User-Id at all.
    let announced = Metadata::new()
        .with("User-Id", &b"root"[..])
        .unwrap()
        .with("user-id", &b"root-lower-case"[..])
        .unwrap()
        .with("Peer-Address", &b"10.6.6.6"[..])
        .unwrap()
        .with("X-Client", &b"yes"[..])
        .unwrap();
    let mut client = SessionConfig::new(
        SocketType::Dealer,
        Arc::new(zmtp_mechanisms::NullConfig::new()),
    );
    client.metadata = announced.clone();
    let server = SessionConfig::new(
        SocketType::Router,
        Arc::new(zmtp_mechanisms::NullConfig::new()),
    );
    for zap in [false, true] {
        let mut s = server.clone();
        if zap {
            s.zap_domain = Some("null".into());
        }
        let mut p = zmtp_core::testing::Pair::new(client.clone(), s);
        p.server.authenticator = Some(Box::new(|_| Ok(AuthReply::allow("zap-said-so"))));
        assert!(p.handshake(), "zap {zap}");
        let peer = p.server.session.peer().unwrap();
        let props = &peer.properties;
        // The peer's own properties do arrive (so the test would see an announced User-Id).
        assert_eq!(props.get_str("X-Client"), Some("yes"));
        assert_eq!(
            props.get_str("Peer-Address"),
            Some("127.0.0.1"),
            "zap {zap}"
        );
        if zap {
            assert_eq!(peer.user_id.as_deref(), Some("zap-said-so"));
            assert_eq!(props.get_str("User-Id"), Some("zap-said-so"));
        } else {
            assert_eq!(peer.user_id, None);
            assert_eq!(
                props.get_str("User-Id"),
                None,
                "an announced User-Id shows through"
            );
        }
        for p in props.iter() {
            if p.name.eq_ignore_ascii_case("User-Id") {
                assert_ne!(&p.value[..], b"root", "zap {zap}: {props:?}");
                assert_ne!(&p.value[..], b"root-lower-case", "zap {zap}: {props:?}");
            }
            if p.name.eq_ignore_ascii_case("Peer-Address") {
                assert_eq!(&p.value[..], b"127.0.0.1", "zap {zap}: {props:?}");
            }
        }
    }
}

// ---- Over real sockets ----

const T: Duration = Duration::from_secs(5);

async fn recv(socket: &Socket) -> zmtp::Message {
    tokio::time::timeout(T, socket.recv())
        .await
        .expect("a message in time")
        .expect("recv")
}

fn curve_client(keys: &CurveKeyPair, metadata: Metadata) -> Socket {
    Socket::with_options(
        SocketType::Dealer,
        SocketOptions {
            mechanism: Arc::new(CurveClientConfig::new(
                keys.secret.clone(),
                server_keys().public,
            )),
            metadata,
            ..Default::default()
        },
    )
}

#[tokio::test]
async fn over_sockets_user_id_is_the_z85_of_each_authenticated_client_key() {
    let (alice, bob) = (victim(), keypair(0xB0));
    let policy = Policy::new()
        .curve_key("*", &alice.public, Metadata::new())
        .curve_key("*", &bob.public, Metadata::new());
    let (zap, _service) = ZapService::new().spawn(Arc::new(policy));
    let server = Socket::with_options(
        SocketType::Router,
        SocketOptions {
            mechanism: Arc::new(CurveServerConfig::new(server_keys().secret.clone())),
            authenticator: Some(Arc::new(zap)),
            ..Default::default()
        },
    );
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    // Each announces the other's identity, and a Peer-Address, in its own metadata.
    let claim = |other: &CurveKeyPair| {
        Metadata::new()
            .with("User-Id", other.public.to_z85().into_bytes())
            .unwrap()
            .with("Peer-Address", &b"10.6.6.6"[..])
            .unwrap()
    };
    let a = curve_client(&alice, claim(&bob));
    let b = curve_client(&bob, claim(&alice));
    a.connect(&ep).await.unwrap();
    b.connect(&ep).await.unwrap();
    for round in 0..3 {
        a.send(format!("alice {round}").as_str()).await.unwrap();
        b.send(format!("bob {round}").as_str()).await.unwrap();
    }
    let mut seen = 0;
    while seen < 6 {
        let msg = recv(&server).await;
        let body = std::str::from_utf8(&msg.parts()[1]).unwrap().to_owned();
        let sender = if body.starts_with("alice") {
            &alice
        } else {
            &bob
        };
        assert_eq!(
            msg.property("User-Id"),
            Some(sender.public.to_z85().as_str()),
            "{body}"
        );
        assert_eq!(msg.property("Peer-Address"), Some("127.0.0.1"), "{body}");
        seen += 1;
    }
}

#[tokio::test]
async fn over_sockets_a_raw_tcp_client_claiming_a_listed_key_is_refused() {
    // The policy admits the victim's key only. The attacker speaks CURVE himself over TCP,
    // claiming that key with a vouch of his own making.
    let policy = Policy::new().curve_key("*", &victim().public, Metadata::new());
    let (zap, _service) = ZapService::new().spawn(Arc::new(policy));
    let server = Socket::with_options(
        SocketType::Router,
        SocketOptions {
            mechanism: Arc::new(CurveServerConfig::new(server_keys().secret.clone())),
            authenticator: Some(Arc::new(zap)),
            ..Default::default()
        },
    );
    let mut monitor = server.monitor(64);
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    for claim in [Claim::VictimSignedWithOwnSecret, Claim::Own] {
        let mut client = Handmade::new(
            claim,
            attacker(),
            *victim().public.as_bytes(),
            *server_keys().public.as_bytes(),
        );
        let mut tcp = TcpStream::connect(ep.trim_start_matches("tcp://"))
            .await
            .unwrap();
        tcp.write_all(&client.start()).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let mut initiate = Vec::new();
        while initiate.is_empty() {
            let n = tokio::time::timeout(T, tcp.read(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "{claim:?}: the server hung up before WELCOME");
            initiate = client.handle(&buf[..n]);
        }
        tcp.write_all(&initiate).await.unwrap();
        let _ = tcp.write_all(&client.message(b"as the victim")).await;
        let expected = match claim {
            // The vouch does not open: CRYPTOGRAPHIC, before ZAP is asked.
            Claim::VictimSignedWithOwnSecret => {
                (MonitorEvent::HandshakeFailedProtocol, 0x1100_0001)
            }
            // His own key is valid but not listed: ZAP refuses it.
            _ => (MonitorEvent::HandshakeFailedAuth, 400),
        };
        let ev = next_failure(&mut monitor).await;
        assert_eq!((ev.event, ev.value), expected, "{claim:?}");
        let got = tokio::time::timeout(Duration::from_millis(300), server.recv()).await;
        assert!(got.is_err(), "{claim:?}: delivered {got:?}");
    }
}

async fn next_failure(monitor: &mut tokio::sync::mpsc::Receiver<SocketEvent>) -> SocketEvent {
    loop {
        let ev = tokio::time::timeout(T, monitor.recv())
            .await
            .expect("an event in time")
            .expect("monitor open");
        assert_ne!(ev.event, MonitorEvent::HandshakeSucceeded);
        if matches!(
            ev.event,
            MonitorEvent::HandshakeFailedProtocol
                | MonitorEvent::HandshakeFailedAuth
                | MonitorEvent::HandshakeFailedNoDetail
        ) {
            return ev;
        }
    }
}

#[tokio::test]
async fn over_sockets_a_null_peer_announcing_a_user_id_does_not_get_it() {
    // NULL, no ZAP: nothing authenticates the client, so its messages carry no User-Id at all,
    // whatever it announced (in any letter case), and their Peer-Address is the real one.
    let server = Socket::new(SocketType::Pull);
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let client = Socket::with_options(
        SocketType::Push,
        SocketOptions {
            metadata: Metadata::new()
                .with("User-Id", &b"root"[..])
                .unwrap()
                .with("USER-ID", &b"ROOT"[..])
                .unwrap()
                .with("Peer-Address", &b"10.6.6.6"[..])
                .unwrap()
                .with("X-Client", &b"yes"[..])
                .unwrap(),
            ..Default::default()
        },
    );
    client.connect(&ep).await.unwrap();
    client.send("hi").await.unwrap();
    let msg = recv(&server).await;
    assert_eq!(msg.property("X-Client"), Some("yes"), "metadata does flow");
    assert_eq!(msg.property("User-Id"), None);
    assert_eq!(msg.property("Peer-Address"), Some("127.0.0.1"));

    // NULL with ZAP (admitting everyone with an empty user id): ZAP's User-Id, not the peer's.
    let server = Socket::with_options(
        SocketType::Pull,
        SocketOptions {
            zap_domain: Some("null".into()),
            authenticator: Some(Arc::new(AllowAll)),
            ..Default::default()
        },
    );
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let client = Socket::with_options(
        SocketType::Push,
        SocketOptions {
            metadata: Metadata::new().with("User-Id", &b"root"[..]).unwrap(),
            ..Default::default()
        },
    );
    client.connect(&ep).await.unwrap();
    client.send("hi").await.unwrap();
    let msg = recv(&server).await;
    assert_eq!(msg.property("User-Id"), Some(""));
}

#[tokio::test]
async fn over_sockets_a_server_announcing_a_user_id_does_not_name_itself_to_the_client() {
    // The client authenticates nobody through ZAP, so what it receives carries no User-Id,
    // even from a CURVE server (whose key the client did check) that announces one.
    let server = Socket::with_options(
        SocketType::Router,
        SocketOptions {
            mechanism: Arc::new(CurveServerConfig::new(server_keys().secret.clone())),
            metadata: Metadata::new().with("User-Id", &b"the-bank"[..]).unwrap(),
            ..Default::default()
        },
    );
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let client = curve_client(&victim(), Metadata::new());
    client.connect(&ep).await.unwrap();
    client.send("ping").await.unwrap();
    let msg = recv(&server).await;
    let rid = msg.parts()[0].clone();
    server
        .send(vec![rid, Bytes::from_static(b"pong")])
        .await
        .unwrap();
    let reply = recv(&client).await;
    assert_eq!(reply.parts(), &[Bytes::from_static(b"pong")]);
    assert_eq!(reply.property("User-Id"), None);
}
