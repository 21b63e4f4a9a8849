//! CURVE handshakes and traffic over the in-memory session pair.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use zmtp_core::error::MalformedKind;
use zmtp_core::testing::{Delivery, Pair};
use zmtp_core::{
    AuthReply, AuthStatus, Error, Event, Limit, Metadata, MonitorEvent, ProtocolError, Session,
    SessionConfig, SocketType, ZapFailure,
};
use zmtp_mechanisms::{
    ConfigError, CurveClientConfig, CurveKeyPair, CurvePublicKey, CurveSecretKey, CurveServerConfig,
};

// keys.txt: the zmq_curve man-page pairs.
const SERVER_SECRET: &str = "8E0BDD697628B91D8F245587EE95C5B04D48963F79259877B49CD9063AEAD3B7";
const CLIENT_SECRET: &str = "7BB864B489AFA3671FBE69101F94B38972F24816DFB01B51656B3FEC8DFD0888";
const CLIENT_PUBLIC: &str = "BB88471D65E2659B30C55A5321CEBB5AAB2B70A398645C26DCA2B2FCB43FC518";

fn secret(hex_text: &str) -> CurveSecretKey {
    CurveSecretKey::from_option_bytes(&hex::decode(hex_text).unwrap()).unwrap()
}

fn server_mechanism() -> CurveServerConfig {
    CurveServerConfig::new(secret(SERVER_SECRET))
}

fn client_mechanism(server: &CurveServerConfig) -> CurveClientConfig {
    CurveClientConfig::new(secret(CLIENT_SECRET), *server.public_key())
}

fn configs(socket_types: (SocketType, SocketType)) -> (SessionConfig, SessionConfig) {
    let server = server_mechanism();
    let client = SessionConfig::new(socket_types.0, Arc::new(client_mechanism(&server)));
    let mut server = SessionConfig::new(socket_types.1, Arc::new(server));
    server.routing_id = Bytes::from_static(b"srv");
    (client, server)
}

fn pair() -> Pair {
    let (c, s) = configs((SocketType::Dealer, SocketType::Router));
    Pair::new(c, s)
}

fn zap_pair() -> Pair {
    let (c, mut s) = configs((SocketType::Dealer, SocketType::Router));
    s.zap_domain = Some("global".into());
    Pair::new(c, s)
}

/// Moves everything `from` has queued into `to`, at `now`.
fn shuttle(from: &mut Session, to: &mut Session, now: Instant) -> Result<usize, Error> {
    let mut bytes = BytesMut::new();
    while let Some(chunk) = from.poll_transmit() {
        bytes.extend_from_slice(&chunk);
    }
    let n = bytes.len();
    to.handle_input(&mut bytes, now)?;
    Ok(n)
}

/// Greetings both ways, HELLO, WELCOME: the client's INITIATE is then queued.
fn greetings_hello_welcome(c: &mut Session, s: &mut Session, now: Instant) {
    shuttle(c, s, now).unwrap(); // greeting
    shuttle(s, c, now).unwrap(); // greeting; the client queues HELLO
    shuttle(c, s, now).unwrap(); // HELLO
    shuttle(s, c, now).unwrap(); // WELCOME; the client queues INITIATE
}

fn take_output(session: &mut Session) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = session.poll_transmit() {
        out.extend_from_slice(&chunk);
    }
    out
}

#[test]
fn curve_handshake_and_messages_both_ways() {
    for delivery in [
        Delivery::Whole,
        Delivery::ByteByByte,
        Delivery::Reads(1000),
        Delivery::Reads(64 << 10),
    ] {
        let mut p = pair();
        p.delivery = delivery;
        assert!(p.handshake(), "{delivery:?}");
        // No ZAP domain: any client with valid keys, and no request.
        assert!(p.server.auth_requests.is_empty());
        let peer = p.server.session.peer().unwrap();
        assert_eq!(peer.socket_type, SocketType::Dealer);
        assert_eq!(peer.user_id, None);

        let big = Bytes::from(vec![0xA5u8; 1 << 20]);
        p.client
            .session
            .send_message(vec![Bytes::from_static(b"a"), Bytes::new(), big.clone()])
            .unwrap();
        p.server.session.send_message(vec![big.clone()]).unwrap();
        p.server
            .session
            .send_message(vec![Bytes::from_static(b"x"), Bytes::from_static(b"y")])
            .unwrap();
        p.step();
        assert_eq!(
            p.server.messages(),
            vec![vec![Bytes::from_static(b"a"), Bytes::new(), big.clone()]]
        );
        assert_eq!(
            p.client.messages(),
            vec![
                vec![big.clone()],
                vec![Bytes::from_static(b"x"), Bytes::from_static(b"y")]
            ]
        );
        assert!(p.client.error.is_none() && p.server.error.is_none());
    }
}

#[test]
fn every_message_is_an_outer_data_frame_with_flags_zero() {
    let mut p = pair();
    assert!(p.handshake());
    p.client
        .session
        .send_message(vec![Bytes::from_static(b"one"), Bytes::from_static(b"two")])
        .unwrap();
    let wire = take_output(&mut p.client.session);
    // Two frames: 0x00, size 33+3, "\x07MESSAGE", nonce 3 then 4.
    assert_eq!(wire.len(), 2 * (2 + 33 + 3));
    for (i, frame) in wire.chunks(38).enumerate() {
        assert_eq!(frame[0], 0x00, "no MORE, no COMMAND on the outer frame");
        assert_eq!(usize::from(frame[1]), 36);
        assert_eq!(&frame[2..10], b"\x07MESSAGE");
        assert_eq!(&frame[10..18], &(3 + i as u64).to_be_bytes());
    }
    let mut inbox = BytesMut::from(&wire[..]);
    p.server.session.handle_input(&mut inbox, p.now).unwrap();
    let Some(Event::Message(parts)) = p.server.session.poll_event() else {
        panic!("a message")
    };
    assert_eq!(parts.len(), 2);
}

#[test]
fn commands_travel_inside_the_box() {
    let (mut c, mut s) = configs((SocketType::Sub, SocketType::Pub));
    c.heartbeat.interval = Some(Duration::from_secs(1));
    s.heartbeat.interval = Some(Duration::from_secs(1));
    let mut p = Pair::new(c, s);
    assert!(p.handshake());
    p.client.session.send_subscription(b"news", true).unwrap();
    p.step();
    assert!(p
        .server
        .events
        .iter()
        .any(|e| matches!(e, Event::Subscribe(t) if &t[..] == b"news")));
    // PING and PONG cross encrypted and keep both sides alive.
    for _ in 0..3 {
        p.advance(Duration::from_secs(1));
    }
    assert!(p.client.error.is_none() && p.server.error.is_none());
}

#[test]
fn frame_limits_account_for_the_box() {
    let (c, mut s) = configs((SocketType::Push, SocketType::Pull));
    s.limits.max_frame_size = 100;
    let mut p = Pair::new(c, s);
    assert!(p.handshake());
    p.client
        .session
        .send_message(vec![Bytes::from(vec![1u8; 100])])
        .unwrap();
    p.step();
    assert_eq!(p.server.messages().len(), 1);
    assert!(p.server.error.is_none());
    p.client
        .session
        .send_message(vec![Bytes::from(vec![1u8; 101])])
        .unwrap();
    p.step();
    assert!(matches!(
        p.server.error,
        Some(Error::LimitExceeded {
            what: Limit::FrameSize,
            ..
        })
    ));
}

#[test]
fn zap_is_asked_with_the_raw_client_key_when_a_domain_is_set() {
    let mut p = zap_pair();
    p.server.authenticator = Some(Box::new(|req| {
        assert_eq!(req.mechanism, zmtp_core::MechanismName::CURVE);
        assert_eq!(req.domain, "global");
        assert_eq!(&req.identity[..], b"srv");
        assert_eq!(
            req.credentials,
            vec![Bytes::from(hex::decode(CLIENT_PUBLIC).unwrap())]
        );
        let mut r = AuthReply::allow("client-1");
        r.metadata = Metadata::new().with("Tier", &b"gold"[..]).unwrap();
        Ok(r)
    }));
    assert!(p.handshake());
    let peer = p.server.session.peer().unwrap();
    assert_eq!(peer.user_id.as_deref(), Some("client-1"));
    assert_eq!(peer.properties.get_str("Tier"), Some("gold"));
}

#[test]
fn zap_refusals() {
    for (status, client_sees) in [
        (AuthStatus::Failure, Some("400")),
        (AuthStatus::InternalError, Some("500")),
        (AuthStatus::TemporaryFailure, None),
    ] {
        let mut p = zap_pair();
        p.server.authenticator = Some(Box::new(move |_| {
            let mut r = AuthReply::deny("no");
            r.status = status;
            Ok(r)
        }));
        assert!(!p.handshake());
        assert!(
            matches!(p.server.error, Some(Error::AuthFailed { status: s, .. }) if s == status.code())
        );
        match client_sees {
            Some(reason) => {
                let err = p.client.error.clone().unwrap();
                assert_eq!(
                    err,
                    Error::PeerRefused {
                        reason: reason.into()
                    }
                );
                assert_eq!(
                    err.handshake_event(),
                    (MonitorEvent::HandshakeFailedAuth, u32::from(status.code()))
                );
            }
            None => assert_eq!(p.client.error, None, "300 closes without ERROR"),
        }
    }
}

#[test]
fn zap_failure_closes_without_error_command() {
    let mut p = zap_pair();
    p.server.authenticator = Some(Box::new(|_| Err(ZapFailure::MalformedReply)));
    assert!(!p.handshake());
    assert_eq!(
        p.server.error.as_ref().unwrap().handshake_event(),
        (MonitorEvent::HandshakeFailedProtocol, 0x2000_0001)
    );
    assert_eq!(p.client.error, None);
}

#[test]
fn wrong_server_key_fails_at_hello() {
    let server = server_mechanism();
    let other = CurveKeyPair::generate().unwrap();
    let client = CurveClientConfig::new(secret(CLIENT_SECRET), other.public);
    let mut p = Pair::new(
        SessionConfig::new(SocketType::Dealer, Arc::new(client)),
        SessionConfig::new(SocketType::Router, Arc::new(server)),
    );
    assert!(!p.handshake());
    assert_eq!(
        p.server.error,
        Some(Error::Protocol(ProtocolError::Cryptographic))
    );
    assert_eq!(
        p.server.error.as_ref().unwrap().handshake_event(),
        (MonitorEvent::HandshakeFailedProtocol, 0x1100_0001)
    );
}

#[test]
fn replayed_and_reordered_messages_are_invalid_sequence() {
    let mut p = pair();
    assert!(p.handshake());
    p.client
        .session
        .send_message(vec![Bytes::from_static(b"first")])
        .unwrap();
    let first = take_output(&mut p.client.session);
    p.client
        .session
        .send_message(vec![Bytes::from_static(b"second")])
        .unwrap();
    let second = take_output(&mut p.client.session);

    // Replay: the same MESSAGE twice.
    let mut q = pair();
    assert!(q.handshake());
    q.client
        .session
        .send_message(vec![Bytes::from_static(b"m")])
        .unwrap();
    let m = take_output(&mut q.client.session);
    q.inject_into_server(&m).unwrap();
    assert_eq!(
        q.inject_into_server(&m).unwrap_err(),
        Error::Protocol(ProtocolError::InvalidSequence)
    );
    assert_eq!(
        q.server.session.error(),
        Some(&Error::Protocol(ProtocolError::InvalidSequence))
    );

    // Out of order: nonce 4 then nonce 3.
    p.inject_into_server(&second).unwrap();
    assert_eq!(
        p.inject_into_server(&first).unwrap_err(),
        Error::Protocol(ProtocolError::InvalidSequence)
    );
}

#[test]
fn a_tampered_message_is_cryptographic() {
    let mut p = pair();
    assert!(p.handshake());
    p.client
        .session
        .send_message(vec![Bytes::from_static(b"payload")])
        .unwrap();
    let mut m = take_output(&mut p.client.session);
    let last = m.len() - 1;
    m[last] ^= 1;
    assert_eq!(
        p.inject_into_server(&m).unwrap_err(),
        Error::Protocol(ProtocolError::Cryptographic)
    );
}

#[test]
fn zero_keys_are_refused_at_construction() {
    assert_eq!(
        CurveSecretKey::from_bytes([0; 32]).unwrap_err(),
        ConfigError::ZeroKey
    );
    assert_eq!(
        CurvePublicKey::from_bytes([0; 32]).unwrap_err(),
        ConfigError::ZeroKey
    );
    assert_eq!(
        CurvePublicKey::from_option_bytes(&[0; 32]).unwrap_err(),
        ConfigError::ZeroKey
    );
    assert_eq!(
        CurvePublicKey::from_option_bytes(&[1; 31]).unwrap_err(),
        ConfigError::KeyLength { len: 31 }
    );
    assert!(format!("{:?}", secret(SERVER_SECRET)).contains("redacted"));
    assert!(!format!("{:?}", secret(SERVER_SECRET)).contains("8E0B"));
}

fn server_greeting() -> Vec<u8> {
    let mut g = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 1];
    g.extend_from_slice(b"CURVE\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
    g.extend_from_slice(&[0u8; 32]);
    g
}

/// A real client's greeting and HELLO, for editing.
fn real_hello() -> Vec<u8> {
    let p = pair();
    let mut client = p.client.session;
    assert_eq!(
        take_output(&mut client).len(),
        64,
        "only the greeting at first"
    );
    let mut inbox = BytesMut::from(&server_greeting()[..]);
    client.handle_input(&mut inbox, p.now).unwrap();
    take_output(&mut client)
}

fn hello_with(edit: impl FnOnce(&mut Vec<u8>)) -> Result<(), Error> {
    let mut hello = real_hello();
    assert_eq!(&hello[..2], &[0x04, 200]);
    edit(&mut hello);
    let mut p = pair();
    let mut bytes = server_greeting();
    bytes.extend_from_slice(&hello);
    p.inject_into_server(&bytes)
}

#[test]
fn hello_checks() {
    hello_with(|_| ()).unwrap();
    // All-zero client transient key: refused before any box is opened.
    assert_eq!(
        hello_with(|h| h[2 + 80..2 + 112].fill(0)),
        Err(Error::Protocol(ProtocolError::Cryptographic))
    );
    // Version 1.1.
    assert_eq!(
        hello_with(|h| h[2 + 7] = 1),
        Err(Error::Protocol(ProtocolError::MalformedCommand(
            MalformedKind::Hello
        )))
    );
    // Non-zero padding.
    assert_eq!(
        hello_with(|h| h[2 + 40] = 1),
        Err(Error::Protocol(ProtocolError::MalformedCommand(
            MalformedKind::Hello
        )))
    );
    // One octet short.
    assert_eq!(
        hello_with(|h| {
            h.pop();
            h[1] = 199;
        }),
        Err(Error::Protocol(ProtocolError::MalformedCommand(
            MalformedKind::Hello
        )))
    );
    // Nonce 0 is never above the last seen.
    assert_eq!(
        hello_with(|h| h[2 + 112..2 + 120].fill(0)),
        Err(Error::Protocol(ProtocolError::InvalidSequence))
    );
    // Another command where HELLO belongs.
    let mut p = pair();
    let mut bytes = server_greeting();
    bytes.extend_from_slice(b"\x04\x06\x05READY");
    assert_eq!(
        p.inject_into_server(&bytes),
        Err(Error::Protocol(ProtocolError::UnexpectedCommand {
            expected: "HELLO",
            got: "READY".into()
        }))
    );
}

#[test]
fn a_welcome_of_the_wrong_size_is_malformed() {
    let mut p = pair();
    let mut bytes = server_greeting();
    bytes.extend_from_slice(b"\x04\x09\x07WELCOME!");
    let mut inbox = BytesMut::from(&bytes[..]);
    assert_eq!(
        p.client.session.handle_input(&mut inbox, p.now),
        Err(Error::Protocol(ProtocolError::MalformedCommand(
            MalformedKind::Welcome
        )))
    );
}

#[test]
fn an_expired_cookie_is_refused() {
    let server = server_mechanism().with_cookie_rotation(Duration::from_secs(1));
    let client = client_mechanism(&server);
    let now = Instant::now();
    let mut c = Session::new(
        Arc::new(SessionConfig::new(SocketType::Dealer, Arc::new(client))),
        "127.0.0.1:5555",
        now,
    );
    let mut s = Session::new(
        Arc::new(SessionConfig::new(SocketType::Router, Arc::new(server))),
        "127.0.0.1:40000",
        now,
    );
    greetings_hello_welcome(&mut c, &mut s, now);
    let later = now + Duration::from_secs(2);
    assert_eq!(
        shuttle(&mut c, &mut s, later),
        Err(Error::Protocol(ProtocolError::Cryptographic))
    );
}

#[test]
fn a_cookie_is_accepted_within_its_lifetime() {
    let server = server_mechanism().with_cookie_rotation(Duration::from_secs(1));
    let client = client_mechanism(&server);
    let now = Instant::now();
    let mut c = Session::new(
        Arc::new(SessionConfig::new(SocketType::Dealer, Arc::new(client))),
        "127.0.0.1:5555",
        now,
    );
    let mut s = Session::new(
        Arc::new(SessionConfig::new(SocketType::Router, Arc::new(server))),
        "127.0.0.1:40000",
        now,
    );
    greetings_hello_welcome(&mut c, &mut s, now);
    shuttle(&mut c, &mut s, now + Duration::from_millis(1900)).unwrap();
    shuttle(&mut s, &mut c, now + Duration::from_millis(1900)).unwrap();
    assert!(c.is_ready() && s.is_ready());
}

#[test]
fn an_initiate_from_another_connection_is_refused() {
    // Two connections to one server: the second client's INITIATE carries its own cookie; the
    // first connection must not accept it even though the cookie key is the same.
    let server = Arc::new(SessionConfig::new(
        SocketType::Router,
        Arc::new(server_mechanism()),
    ));
    let (client, _) = configs((SocketType::Dealer, SocketType::Router));
    let client = Arc::new(client);
    let now = Instant::now();
    let mut c1 = Session::new(Arc::clone(&client), "a", now);
    let mut s1 = Session::new(Arc::clone(&server), "b", now);
    let mut c2 = Session::new(Arc::clone(&client), "c", now);
    let mut s2 = Session::new(Arc::clone(&server), "d", now);
    greetings_hello_welcome(&mut c1, &mut s1, now);
    let _initiate1 = take_output(&mut c1);
    greetings_hello_welcome(&mut c2, &mut s2, now);
    let initiate2 = take_output(&mut c2);
    let mut inbox = BytesMut::from(&initiate2[..]);
    assert_eq!(
        s1.handle_input(&mut inbox, now),
        Err(Error::Protocol(ProtocolError::Cryptographic))
    );
}

#[test]
fn the_server_waits_for_zap_then_sends_ready() {
    let mut p = zap_pair();
    assert!(!p.handshake());
    assert_eq!(p.server.auth_requests.len(), 1);
    let now = p.now;
    p.server
        .session
        .handle_auth_reply(Ok(AuthReply::allow("late")), now)
        .unwrap();
    assert!(p.handshake());
}

#[test]
fn debug_output_never_shows_secrets() {
    let server = server_mechanism();
    let client = client_mechanism(&server);
    let mut p = pair();
    assert!(p.handshake());
    for text in [
        format!("{server:?}"),
        format!("{client:?}"),
        format!("{:?}", p.server.session),
        format!("{:?}", p.client.session),
        format!("{:?}", CurveKeyPair::generate().unwrap()),
    ] {
        for secret_hex in [SERVER_SECRET, CLIENT_SECRET] {
            assert!(
                !text
                    .to_ascii_lowercase()
                    .contains(&secret_hex.to_ascii_lowercase()[..16]),
                "{text}"
            );
        }
        assert!(!text.contains("expose"));
    }
    assert!(format!("{client:?}").contains("<redacted>"));
}

#[test]
fn an_incompatible_client_gets_no_ready_and_zap_is_not_asked() {
    // PUB cannot talk to PUSH (RFC 23). The server learns the client's type from INITIATE and
    // fails there, before it queues READY and before it asks ZAP, as libzmq does.
    for zap in [false, true] {
        let (c, mut s) = configs((SocketType::Pub, SocketType::Push));
        if zap {
            s.zap_domain = Some("global".into());
        }
        let mut p = Pair::new(c, s);
        p.server.authenticator = Some(Box::new(|_| Ok(AuthReply::allow("anyone"))));
        p.server.transmitted = Some(Vec::new());
        assert!(!p.handshake());
        assert_eq!(p.server.commands_sent(), ["WELCOME"], "zap {zap}");
        assert_eq!(
            p.server.error,
            Some(Error::Protocol(ProtocolError::IncompatibleSocketType {
                ours: "PUSH",
                peer: "PUB".into()
            }))
        );
        assert!(p.server.auth_requests.is_empty(), "ZAP is not asked");
        assert!(!p.client.saw_ready() && !p.client.session.is_ready());
    }
    // The same server with a compatible client: WELCOME, then READY.
    let (c, s) = configs((SocketType::Pull, SocketType::Push));
    let mut p = Pair::new(c, s);
    p.server.transmitted = Some(Vec::new());
    assert!(p.handshake());
    assert_eq!(p.server.commands_sent(), ["WELCOME", "READY"]);
}

#[test]
fn curve_takes_parts_never_bytes_encoded_in_advance() {
    // CURVE boxes every frame: a message framed once for plain peers must not go out as it is.
    let mut p = pair();
    assert!(p.handshake());
    assert!(!p.client.session.peer().unwrap().frames_unchanged);
    assert!(!p.server.session.peer().unwrap().frames_unchanged);
    let wire = zmtp_core::wire::frame::encode_message(&[Bytes::from_static(b"x")]);
    assert!(matches!(
        p.client.session.send_encoded(wire),
        Err(Error::User(zmtp_core::UserError::NotFramesUnchanged))
    ));
    assert!(
        take_output(&mut p.client.session).is_empty(),
        "nothing was queued"
    );
}
