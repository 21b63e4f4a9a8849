//! Tampering: every octet of every handshake command, in both directions, is altered in turn on
//! an otherwise honest PLAIN or CURVE handshake. Each run must end in a typed error on at least
//! one side (a stalled handshake ends in `HandshakeTimeout`), never in a panic, and never with
//! both sides ready, unless the octet is one the protocol legitimately does not protect (listed
//! and explained where it is allowed).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use zmtp_core::{
    AuthReply, AuthRequest, AuthResult, Error, Event, Session, SessionConfig, SocketType,
};
use zmtp_mechanisms::{
    CurveClientConfig, CurveKeyPair, CurveServerConfig, PlainClientConfig, PlainServerConfig,
};

#[derive(Clone, Copy, Debug)]
struct Tamper {
    from_client: bool,
    /// Offset in that side's output stream (the greeting is octets 0-63).
    offset: usize,
    mask: u8,
}

#[derive(Debug)]
struct Outcome {
    ready: [bool; 2],
    errors: [Option<Error>; 2],
    /// Octets each side sent: [client, server].
    sent: [usize; 2],
}

fn answer(req: &AuthRequest) -> AuthResult {
    // PLAIN: only admin/secret; CURVE: any key (the key was proven by the vouch).
    if req.credentials.len() == 2
        && req.credentials != [Bytes::from_static(b"admin"), Bytes::from_static(b"secret")]
    {
        return Ok(AuthReply::deny("bad credentials"));
    }
    Ok(AuthReply::allow("user"))
}

/// Runs one handshake over two sessions, altering one octet on the way when asked.
fn exchange(
    client: &Arc<SessionConfig>,
    server: &Arc<SessionConfig>,
    tamper: Option<Tamper>,
) -> Outcome {
    let now = Instant::now();
    let mut sides = [
        Session::new(Arc::clone(client), "127.0.0.1:5555", now),
        Session::new(Arc::clone(server), "127.0.0.1:40000", now),
    ];
    let mut inboxes = [BytesMut::new(), BytesMut::new()];
    let mut errors: [Option<Error>; 2] = [None, None];
    let mut sent = [0usize; 2];
    for _ in 0..100 {
        let mut moved = false;
        for from in 0..2 {
            let to = 1 - from;
            let mut bytes = Vec::new();
            while let Some(chunk) = sides[from].poll_transmit() {
                bytes.extend_from_slice(&chunk);
            }
            if bytes.is_empty() {
                continue;
            }
            moved = true;
            if let Some(t) = tamper {
                if t.from_client == (from == 0)
                    && (sent[from]..sent[from] + bytes.len()).contains(&t.offset)
                {
                    bytes[t.offset - sent[from]] ^= t.mask;
                }
            }
            sent[from] += bytes.len();
            if errors[to].is_some() {
                continue;
            }
            inboxes[to].extend_from_slice(&bytes);
            if let Err(e) = sides[to].handle_input(&mut inboxes[to], now) {
                errors[to] = Some(e);
            }
            while let Some(event) = sides[to].poll_event() {
                if let Event::AuthRequest(req) = event {
                    if let Err(e) = sides[to].handle_auth_reply(answer(&req), now) {
                        errors[to].get_or_insert(e);
                    }
                }
            }
        }
        if !moved {
            break;
        }
    }
    let ready = [sides[0].is_ready(), sides[1].is_ready()];
    if errors.iter().all(Option::is_none) && !(ready[0] && ready[1]) {
        // A stall (a size octet now claims more than will ever come): the handshake timer ends it.
        let later = now + Duration::from_secs(31);
        for (side, error) in sides.iter_mut().zip(errors.iter_mut()) {
            if let Err(e) = side.handle_timeout(later) {
                error.get_or_insert(e);
            }
        }
    }
    Outcome {
        ready,
        errors,
        sent,
    }
}

/// What each flip did, for the report on failure.
fn kind(e: &Error) -> String {
    fn first_word(text: String) -> String {
        text.split(|c: char| !c.is_alphanumeric())
            .next()
            .unwrap_or_default()
            .to_owned()
    }
    match e {
        Error::Protocol(p) => format!("Protocol::{}", first_word(format!("{p:?}"))),
        other => first_word(format!("{other:?}")),
    }
}

/// Flips every handshake octet in both directions with `mask`. Returns the flips that let
/// both sides become ready, as (from_client, offset).
fn sweep(client: SessionConfig, server: SessionConfig, mask: u8) -> Vec<(bool, usize)> {
    let (client, server) = (Arc::new(client), Arc::new(server));
    let honest = exchange(&client, &server, None);
    assert!(honest.ready[0] && honest.ready[1], "{honest:?}");
    let mut accepted = Vec::new();
    let mut kinds = BTreeMap::<String, usize>::new();
    for (from_client, len) in [(true, honest.sent[0]), (false, honest.sent[1])] {
        // Octets 0-63 are the greeting; everything after it is handshake commands.
        for offset in 64..len {
            let t = Tamper {
                from_client,
                offset,
                mask,
            };
            let out = exchange(&client, &server, Some(t));
            if out.ready[0] && out.ready[1] {
                accepted.push((from_client, offset));
                continue;
            }
            let first = out
                .errors
                .iter()
                .flatten()
                .next()
                .unwrap_or_else(|| panic!("{t:?}: no error and not ready: {out:?}"));
            assert!(
                !matches!(first, Error::Io(_)),
                "{t:?}: an untyped error: {first:?}"
            );
            *kinds.entry(kind(first)).or_default() += 1;
        }
    }
    eprintln!("mask {mask:#04x}: {kinds:?}, accepted {accepted:?}");
    accepted
}

fn plain_configs() -> (SessionConfig, SessionConfig) {
    (
        SessionConfig::new(
            SocketType::Dealer,
            Arc::new(PlainClientConfig::new("admin", "secret").unwrap()),
        ),
        SessionConfig::new(SocketType::Router, Arc::new(PlainServerConfig::new())),
    )
}

fn curve_configs(zap: bool) -> (SessionConfig, SessionConfig) {
    let server = CurveServerConfig::new(CurveKeyPair::generate().unwrap().secret);
    let client = CurveClientConfig::new(
        CurveKeyPair::generate().unwrap().secret,
        *server.public_key(),
    );
    let mut s = SessionConfig::new(SocketType::Router, Arc::new(server));
    if zap {
        s.zap_domain = Some("d".into());
    }
    (SessionConfig::new(SocketType::Dealer, Arc::new(client)), s)
}

#[test]
fn plain_every_flipped_octet_fails() {
    let (c, s) = plain_configs();
    assert_eq!(sweep(c, s, 0xFF), vec![]);
}

#[test]
fn plain_single_bit_flips_fail_except_in_an_unchecked_property_name() {
    // PLAIN has no integrity protection. Flipping bit 0 of the octets of the property name
    // "Identity" gives names such as "Hdentity" or "Identitx": still valid names, of a property
    // nobody checks, so both sides become ready. The client's INITIATE and the server's READY
    // each carry one "Identity" name; nothing else is accepted.
    let (c, s) = plain_configs();
    let accepted = sweep(c, s, 0x01);
    let client_initiate_at = 64 + 2 + "\x05HELLO\x05admin\x06secret".len();
    let server_ready_at = 64 + 2 + "\x07WELCOME".len();
    // Frame header, name, then Socket-Type property (1 + 11 + 4 + value), then Identity's
    // length octet; the 8 name octets follow.
    let identity_name = |command_at: usize, name: &str, socket_type: &str| {
        let at = command_at + 2 + 1 + name.len() + 1 + 11 + 4 + socket_type.len() + 1;
        at..at + 8
    };
    let mut expected: Vec<(bool, usize)> = Vec::new();
    expected.extend(identity_name(client_initiate_at, "INITIATE", "DEALER").map(|o| (true, o)));
    expected.extend(identity_name(server_ready_at, "READY", "ROUTER").map(|o| (false, o)));
    assert_eq!(accepted, expected);
}

#[test]
fn curve_every_flipped_octet_fails() {
    for mask in [0xFF, 0x01] {
        let (c, s) = curve_configs(false);
        assert_eq!(sweep(c, s, mask), vec![], "mask {mask:#04x}");
    }
}

#[test]
fn curve_with_zap_every_flipped_octet_fails() {
    let (c, s) = curve_configs(true);
    assert_eq!(sweep(c, s, 0x80), vec![]);
}
