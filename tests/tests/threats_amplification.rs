//! Threat: an unauthenticated peer makes a server send more octets than the peer itself sent, to
//! turn the server into an amplifier or to exhaust its bandwidth with cheap requests.
//! Defence: CURVE's HELLO (200 octets) is padded to be larger than WELCOME (168) and a HELLO whose
//! box does not open gets no answer at all, while PLAIN and ZAP-checked NULL servers send nothing
//! but their greeting until ZAP has answered, so before authentication completes a server never
//! sends more than it has received (NULL without authentication, which has no "before", sends its
//! own READY unasked, and that is measured and bounded below).

mod threats_common;

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use threats_common::{
    client_keys, curve_configs, feed, feed_with, keypair, server_keys, session, split_stream,
    take_output, GREETING_LEN,
};
use zmtp_core::{
    AuthReply, Error, Event, Metadata, ProtocolError, Session, SessionConfig, SocketType,
};
use zmtp_mechanisms::{CurveClientConfig, NullConfig, PlainClientConfig, PlainServerConfig};

/// How the server's ZAP handler answers, when it is asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Zap {
    Allow,
    Deny,
}

/// What a metered handshake measured: after each octet the server received, how much it had
/// received and sent so far, and whether its peer was authenticated by then.
#[derive(Debug, Default)]
struct Meter {
    /// (received, sent) after each octet, while the peer was not yet authenticated.
    before_auth: Vec<(usize, usize)>,
    /// Totals at the end.
    received: usize,
    sent: usize,
    /// Whether ZAP was asked.
    asked: bool,
    server_ready: bool,
    server_error: Option<Error>,
    /// Every octet the server sent.
    server_wire: Vec<u8>,
}

/// Runs a handshake with the client's octets handed to the server one at a time, noting after
/// each what the server has sent in all (its greeting included, which it sends to whoever
/// connects). ZAP is answered as `zap` says, after the server's output so far has been noted.
fn metered(client: SessionConfig, server: SessionConfig, zap: Zap) -> Meter {
    let now = Instant::now();
    let mut c = session(&Arc::new(client), now);
    let mut s = session(&Arc::new(server), now);
    let mut m = Meter::default();
    let mut authenticated = false;
    let mut to_client = take_output(&mut s);
    m.server_wire.extend_from_slice(&to_client);
    let mut sent = to_client.len();
    let mut received = 0;
    let mut inbox = BytesMut::new();
    for _ in 0..20 {
        if !to_client.is_empty() && c.error().is_none() {
            let _ = feed(&mut c, &to_client, now);
        }
        to_client.clear();
        let from_client = take_output(&mut c);
        if from_client.is_empty() {
            break;
        }
        for &octet in &from_client {
            if s.error().is_some() {
                break;
            }
            let (events, _) = feed_with(&mut s, &mut inbox, &[octet], now);
            received += 1;
            let out = take_output(&mut s);
            sent += out.len();
            m.server_wire.extend_from_slice(&out);
            to_client.extend_from_slice(&out);
            // The vouch (CURVE without ZAP) or the ZAP answer completes authentication.
            if !authenticated && !s.is_ready() {
                m.before_auth.push((received, sent));
            }
            for ev in events {
                if let Event::AuthRequest(_) = ev {
                    m.asked = true;
                    let reply = match zap {
                        Zap::Allow => AuthReply::allow("user"),
                        Zap::Deny => AuthReply::deny("no"),
                    };
                    authenticated = true;
                    let _ = s.handle_auth_reply(Ok(reply), now);
                    let out = take_output(&mut s);
                    sent += out.len();
                    m.server_wire.extend_from_slice(&out);
                    to_client.extend_from_slice(&out);
                }
            }
        }
    }
    m.received = received;
    m.sent = sent;
    m.server_ready = s.is_ready();
    m.server_error = s.error().cloned();
    m
}

/// Before authentication: only the greeting until the peer's greeting is in, then never more
/// than received.
fn assert_no_amplification(what: &str, m: &Meter) {
    assert!(!m.before_auth.is_empty(), "{what}: nothing measured");
    for &(received, sent) in &m.before_auth {
        if received < GREETING_LEN {
            assert_eq!(
                sent, GREETING_LEN,
                "{what}: only the greeting at {received}"
            );
        } else {
            assert!(
                sent <= received,
                "{what}: {sent} octets sent for {received} received before authentication"
            );
        }
    }
}

fn server_commands(m: &Meter) -> Vec<(String, usize)> {
    split_stream(&m.server_wire)
        .iter()
        .map(|f| (f.name().unwrap_or_default(), f.body.len()))
        .collect()
}

fn curve(types: (SocketType, SocketType), zap: bool) -> (SessionConfig, SessionConfig) {
    let (c, mut s) = curve_configs(&client_keys(), &server_keys(), types);
    if zap {
        s.zap_domain = Some("amplification".into());
    }
    (c, s)
}

fn plain(user: &[u8], password: &[u8]) -> (SessionConfig, SessionConfig) {
    (
        SessionConfig::new(
            SocketType::Dealer,
            Arc::new(PlainClientConfig::new(user, password).unwrap()),
        ),
        SessionConfig::new(SocketType::Router, Arc::new(PlainServerConfig::new())),
    )
}

fn null(zap: bool) -> (SessionConfig, SessionConfig) {
    let mut s = SessionConfig::new(SocketType::Router, Arc::new(NullConfig::new()));
    if zap {
        s.zap_domain = Some("amplification".into());
    }
    (
        SessionConfig::new(SocketType::Dealer, Arc::new(NullConfig::new())),
        s,
    )
}

#[test]
fn hello_is_200_octets_and_welcome_168() {
    let (c, s) = curve((SocketType::Dealer, SocketType::Router), false);
    let m = metered(c, s, Zap::Allow);
    assert!(m.server_ready);
    let cmds = server_commands(&m);
    assert_eq!(cmds[0], ("WELCOME".to_owned(), 168));
    // The client's HELLO, as the server received it.
    let (c, _) = curve((SocketType::Dealer, SocketType::Router), false);
    let mut client = session(&Arc::new(c), Instant::now());
    let g = take_output(&mut client);
    let server_greeting = {
        let (_, s) = curve((SocketType::Dealer, SocketType::Router), false);
        take_output(&mut session(&Arc::new(s), Instant::now()))
    };
    assert_eq!(feed(&mut client, &server_greeting, Instant::now()).1, None);
    let hello = take_output(&mut client);
    let frames = split_stream(&[g, hello].concat());
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].name().as_deref(), Some("HELLO"));
    assert_eq!(frames[0].body.len(), 200);
    assert!(
        frames[0].body.len() > cmds[0].1,
        "HELLO is larger than WELCOME"
    );
    // 72 of HELLO's octets are the anti-amplification padding (zeros).
    assert!(frames[0].body[8..80].iter().all(|&b| b == 0));
}

#[test]
fn curve_servers_never_send_more_than_they_received_before_authentication() {
    for zap in [None, Some(Zap::Allow), Some(Zap::Deny)] {
        let what = format!("CURVE, ZAP {zap:?}");
        let (c, s) = curve((SocketType::Dealer, SocketType::Router), zap.is_some());
        let m = metered(c, s, zap.unwrap_or(Zap::Allow));
        assert_no_amplification(&what, &m);
        assert_eq!(m.asked, zap.is_some(), "{what}");
        // The handshake as a whole, refused or not: less out than in.
        assert!(
            m.sent < m.received,
            "{what}: {} out, {} in",
            m.sent,
            m.received
        );
        let names: Vec<String> = server_commands(&m).into_iter().map(|c| c.0).collect();
        match zap {
            Some(Zap::Deny) => {
                assert_eq!(names, ["WELCOME", "ERROR"], "{what}");
                assert!(matches!(m.server_error, Some(Error::AuthFailed { .. })));
            }
            _ => {
                assert_eq!(names, ["WELCOME", "READY"], "{what}");
                assert!(m.server_ready);
            }
        }
    }
}

#[test]
fn plain_servers_send_only_their_greeting_until_zap_answers() {
    // The smallest HELLO there is (one-octet user name and password) against the server's
    // largest pre-authentication answer.
    for (user, password) in [(&b"u"[..], &b"p"[..]), (b"admin", b"secret")] {
        for zap in [Zap::Allow, Zap::Deny] {
            let what = format!("PLAIN {user:?} {zap:?}");
            let (c, s) = plain(user, password);
            let m = metered(c, s, zap);
            assert!(m.asked, "{what}");
            assert_no_amplification(&what, &m);
            // Until ZAP answered, the greeting was all.
            let last = m.before_auth.last().unwrap();
            assert_eq!(last.1, GREETING_LEN, "{what}");
            let names: Vec<String> = server_commands(&m).into_iter().map(|c| c.0).collect();
            match zap {
                Zap::Allow => {
                    assert_eq!(names, ["WELCOME", "READY"], "{what}");
                    assert!(m.sent <= m.received, "{what}: {} > {}", m.sent, m.received);
                }
                Zap::Deny => {
                    // libzmq's "^RROR" form by default: not a well-formed command name, so
                    // the frame is looked at whole.
                    assert_eq!(names.len(), 1, "{what}: {names:?}");
                    assert!(m.sent <= m.received, "{what}: {} > {}", m.sent, m.received);
                }
            }
        }
    }
}

#[test]
fn null_with_zap_sends_only_its_greeting_until_zap_answers() {
    for zap in [Zap::Allow, Zap::Deny] {
        let what = format!("NULL with a ZAP domain, {zap:?}");
        let (c, s) = null(true);
        let m = metered(c, s, zap);
        assert!(m.asked, "{what}");
        assert_no_amplification(&what, &m);
        for &(_, sent) in &m.before_auth {
            assert_eq!(sent, GREETING_LEN, "{what}");
        }
        let names: Vec<String> = server_commands(&m).into_iter().map(|c| c.0).collect();
        let expected = match zap {
            Zap::Allow => "READY",
            Zap::Deny => "ERROR",
        };
        assert_eq!(names, [expected], "{what}");
    }
}

#[test]
fn null_without_authentication_answers_a_bare_greeting_with_its_ready() {
    // Documented non-defence: NULL without ZAP authenticates nobody, so there is no "before
    // authentication". Its READY goes out as soon as the peer's greeting is in, so a peer that
    // sends only 64 octets gets 64 plus the server's READY back. The excess is the server's own
    // READY (its socket type, identity and metadata), which the peer does not choose.
    let (c, s) = null(false);
    let m = metered(c, s, Zap::Allow);
    assert!(!m.asked);
    let ready = split_stream(&m.server_wire)[0].clone();
    assert_eq!(ready.name().as_deref(), Some("READY"));
    let ready_len = ready.range().len();
    let at_greeting = m.before_auth[GREETING_LEN - 1];
    assert_eq!(at_greeting, (GREETING_LEN, GREETING_LEN + ready_len));
    for &(received, sent) in &m.before_auth {
        assert!(sent <= received.max(GREETING_LEN) + ready_len);
    }
    // Over the whole handshake, with the same kind of metadata, the two sides are even.
    assert!(m.server_ready);
    assert_eq!(m.sent, m.received);
    // A server with a large metadata block is a larger amplifier, by exactly that block.
    let (c, mut s) = null(false);
    s.metadata = Metadata::new()
        .with("X-Banner", Bytes::from(vec![b'x'; 1000]))
        .unwrap();
    let m = metered(c, s, Zap::Allow);
    let big = split_stream(&m.server_wire)[0].range().len();
    assert_eq!(
        big,
        ready_len + 1 + 8 + 4 + 1000 + 7,
        "9-octet header once over 255"
    );
    assert_eq!(m.before_auth[GREETING_LEN - 1].1, GREETING_LEN + big);
}

// ---- Bogus HELLOs: no WELCOME, no ERROR, nothing ----

/// A server session that has taken a real client's greeting; returns it with that client's
/// real HELLO frame.
fn server_and_hello() -> (Session, Vec<u8>, Instant) {
    static CONFIGS: OnceLock<(SessionConfig, SessionConfig)> = OnceLock::new();
    let (c, s) = CONFIGS
        .get_or_init(|| curve((SocketType::Dealer, SocketType::Router), false))
        .clone();
    let now = Instant::now();
    let mut client = session(&Arc::new(c), now);
    let mut server = session(&Arc::new(s), now);
    let cg = take_output(&mut client);
    let sg = take_output(&mut server);
    assert_eq!(feed(&mut server, &cg, now).1, None);
    assert_eq!(feed(&mut client, &sg, now).1, None);
    let hello = take_output(&mut client);
    assert_eq!(hello.len(), 202);
    (server, hello, now)
}

fn after_hello(edit: impl FnOnce(&mut Vec<u8>)) -> (Vec<u8>, Option<Error>) {
    let (mut server, mut hello, now) = server_and_hello();
    edit(&mut hello);
    let (_, error) = feed(&mut server, &hello, now);
    (take_output(&mut server), error)
}

#[test]
fn a_bogus_hello_gets_nothing_back() {
    let malformed = Some(Error::Protocol(ProtocolError::MalformedCommand(
        zmtp_core::error::MalformedKind::Hello,
    )));
    let crypto = Some(Error::Protocol(ProtocolError::Cryptographic));
    type Edit = Box<dyn FnOnce(&mut Vec<u8>)>;
    let cases: Vec<(&str, Edit, Option<Error>)> = vec![
        (
            "a box of random octets",
            Box::new(|h| {
                for (i, b) in h[2 + 120..].iter_mut().enumerate() {
                    *b = (i as u8).wrapping_mul(151).wrapping_add(7);
                }
            }),
            crypto.clone(),
        ),
        (
            "an all-zero client transient key",
            Box::new(|h| h[2 + 80..2 + 112].fill(0)),
            crypto.clone(),
        ),
        (
            "another transient key",
            Box::new(|h| h[2 + 80..2 + 112].copy_from_slice(keypair(0x77).public.as_bytes())),
            crypto.clone(),
        ),
        ("version 2.0", Box::new(|h| h[2 + 6] = 2), malformed.clone()),
        (
            "padding that is not zero",
            Box::new(|h| h[2 + 9] = 0xFF),
            malformed.clone(),
        ),
        (
            "one octet short (the padding cut)",
            Box::new(|h| {
                h.remove(2 + 9);
                h[1] = 199;
            }),
            malformed.clone(),
        ),
        (
            "one octet long",
            Box::new(|h| {
                h.push(0);
                h[1] = 201;
            }),
            malformed.clone(),
        ),
        (
            "nonce 0",
            Box::new(|h| h[2 + 112..2 + 120].fill(0)),
            Some(Error::Protocol(ProtocolError::InvalidSequence)),
        ),
    ];
    for (what, edit, expected) in cases {
        let (out, error) = after_hello(edit);
        assert_eq!(error, expected, "{what}");
        assert_eq!(out, Vec::<u8>::new(), "{what}: the server answered");
    }

    // A HELLO sealed for another server's key.
    let other = CurveClientConfig::new(client_keys().secret.clone(), keypair(0x99).public);
    let (mut server, _, now) = server_and_hello();
    let mut impostor_client = session(
        &Arc::new(SessionConfig::new(SocketType::Dealer, Arc::new(other))),
        now,
    );
    let _ = take_output(&mut impostor_client);
    let sg = {
        let (_, s) = curve((SocketType::Dealer, SocketType::Router), false);
        take_output(&mut session(&Arc::new(s), now))
    };
    assert_eq!(feed(&mut impostor_client, &sg, now).1, None);
    let hello = take_output(&mut impostor_client);
    let (_, error) = feed(&mut server, &hello, now);
    assert_eq!(error, crypto);
    assert!(
        take_output(&mut server).is_empty(),
        "no WELCOME for another key"
    );

    // Control: the unedited HELLO does get its WELCOME.
    let (out, error) = after_hello(|_| ());
    assert_eq!(error, None);
    let frames = split_stream(&[vec![0u8; GREETING_LEN], out].concat());
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].name().as_deref(), Some("WELCOME"));
}

#[test]
fn a_replayed_hello_is_answered_with_less_than_it_carries() {
    // The server cannot tell a replayed HELLO from a fresh one (it keeps no state before
    // INITIATE), so it answers every copy; each answer is 32 octets smaller than the copy.
    static CONFIG: OnceLock<SessionConfig> = OnceLock::new();
    let s = CONFIG.get_or_init(|| {
        let (_, s) = curve((SocketType::Dealer, SocketType::Router), false);
        s
    });
    let (_, hello, now) = server_and_hello();
    let mut total_in = 0;
    let mut total_out = 0;
    for _ in 0..5 {
        let mut server = session(&Arc::new(s.clone()), now);
        let greeting = take_output(&mut server);
        let mut bytes = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 1];
        bytes.extend_from_slice(b"CURVE");
        bytes.resize(GREETING_LEN, 0);
        bytes.extend_from_slice(&hello);
        let (_, error) = feed(&mut server, &bytes, now);
        assert_eq!(error, None);
        let out = take_output(&mut server);
        assert_eq!(out.len(), 170);
        total_in += bytes.len();
        total_out += greeting.len() + out.len();
    }
    assert_eq!(total_out + 5 * 32, total_in);
}

#[test]
fn a_zap_refusal_is_answered_with_a_status_not_an_echo() {
    // The refusal's size does not grow with what the client sent: the ERROR carries the
    // three-digit status only, whatever the client's metadata or credentials.
    let mut sizes = Vec::new();
    for user in [&b"u"[..], &[b'u'; 255][..]] {
        let (c, s) = plain(user, &[b'p'; 255]);
        let m = metered(c, s, Zap::Deny);
        assert!(matches!(
            m.server_error,
            Some(Error::AuthFailed { status: 400, .. })
        ));
        sizes.push(m.sent);
    }
    assert_eq!(sizes[0], sizes[1]);
    let (mut c, s) = curve((SocketType::Dealer, SocketType::Router), true);
    c.metadata = Metadata::new()
        .with("X-Big", Bytes::from(vec![0u8; 4000]))
        .unwrap();
    let m = metered(c, s, Zap::Deny);
    let cmds = server_commands(&m);
    assert_eq!(cmds[1], ("ERROR".to_owned(), 6 + 1 + 3));
    assert!(m.sent * 10 < m.received, "{} vs {}", m.sent, m.received);
}
