//! Large bodies (`POOL_AT` octets and more) are received into buffers of their own, opened in
//! place (CURVE), and their memory is reused once the application drops the message, within
//! `Limits::buffer_pool`, which one socket's connections share.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use zmtp_core::testing::{Delivery, Pair};
use zmtp_core::wire::frame::POOL_AT;
use zmtp_core::{Error, Event, ProtocolError, Session, SessionConfig, SocketType};
use zmtp_mechanisms::{CurveClientConfig, CurveKeyPair, CurveServerConfig, NullConfig};

const MIB: usize = 1 << 20;

fn null_pair(pool: usize) -> Pair {
    let client = SessionConfig::new(SocketType::Push, Arc::new(NullConfig::new()));
    let mut server = SessionConfig::new(SocketType::Pull, Arc::new(NullConfig::new()));
    server.limits.buffer_pool = pool;
    Pair::new(client, server)
}

fn curve_pair(pool: usize) -> Pair {
    let server_keys = CurveKeyPair::generate().unwrap();
    let server_mech = CurveServerConfig::new(server_keys.secret.clone());
    let client_mech = CurveClientConfig::new(
        CurveKeyPair::generate().unwrap().secret,
        *server_mech.public_key(),
    );
    let client = SessionConfig::new(SocketType::Push, Arc::new(client_mech));
    let mut server = SessionConfig::new(SocketType::Pull, Arc::new(server_mech));
    server.limits.buffer_pool = pool;
    Pair::new(client, server)
}

fn pairs(pool: usize) -> [(&'static str, Pair); 2] {
    [("NULL", null_pair(pool)), ("CURVE", curve_pair(pool))]
}

/// Sends `parts` from the client and takes the message the server received, leaving nothing
/// of it in the pair's event log (so dropping the result drops the message).
fn one_message(p: &mut Pair, parts: Vec<Bytes>) -> Vec<Bytes> {
    p.client.session.send_message(parts).unwrap();
    p.step();
    assert!(p.server.error.is_none(), "{:?}", p.server.error);
    let mut got = None;
    for ev in p.server.events.drain(..) {
        if let Event::Message(m) = ev {
            assert!(got.is_none(), "one message expected");
            got = Some(m);
        }
    }
    got.expect("a message").into_vec()
}

fn pattern(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn a_large_message_lands_in_the_memory_the_last_one_gave_back() {
    for delivery in [Delivery::Whole, Delivery::Reads(64 << 10)] {
        for (name, mut p) in pairs(4 * MIB) {
            p.delivery = delivery;
            assert!(p.handshake(), "{name}");
            let first = one_message(&mut p, vec![pattern(MIB, 1)]);
            assert_eq!(first, vec![pattern(MIB, 1)], "{name} {delivery:?}");
            let at = first[0].as_ptr();
            drop(first);
            assert!(p.server.session.idle_buffer_octets() >= MIB, "{name}");
            let second = one_message(&mut p, vec![Bytes::from_static(b"id"), pattern(MIB, 2)]);
            assert_eq!(second[1], pattern(MIB, 2), "{name} {delivery:?}");
            assert_eq!(
                second[1].as_ptr(),
                at,
                "{name} {delivery:?}: the same buffer"
            );
            assert_eq!(p.server.session.idle_buffer_octets(), 0, "{name}");
        }
    }
}

#[test]
fn a_message_the_application_keeps_is_never_overwritten() {
    for (name, mut p) in pairs(4 * MIB) {
        p.delivery = Delivery::Reads(64 << 10);
        assert!(p.handshake(), "{name}");
        let kept = one_message(&mut p, vec![pattern(POOL_AT, 5)]);
        let clone = kept[0].clone();
        drop(kept);
        for seed in 6..10 {
            let m = one_message(&mut p, vec![pattern(POOL_AT, seed)]);
            assert_eq!(m[0], pattern(POOL_AT, seed), "{name}");
            assert_ne!(
                m[0].as_ptr(),
                clone.as_ptr(),
                "{name}: a clone still holds it"
            );
        }
        assert_eq!(clone, pattern(POOL_AT, 5), "{name}");
    }
}

/// The attacker's test for the pool: a peer that sends many large messages at once leaves at
/// most the bound idle once they are dropped, and a bound of 0 keeps nothing.
#[test]
fn idle_buffers_never_exceed_the_bound() {
    for (bound, delivery) in [
        (0, Delivery::Whole),
        (3 * MIB, Delivery::Whole),
        (3 * MIB, Delivery::Reads(64 << 10)),
    ] {
        for (name, mut p) in pairs(bound) {
            p.delivery = delivery;
            assert!(p.handshake(), "{name}");
            for seed in 0..10 {
                p.client
                    .session
                    .send_message(vec![pattern(MIB, seed)])
                    .unwrap();
            }
            p.step();
            let messages = p.server.messages();
            assert_eq!(messages.len(), 10, "{name}");
            drop(messages);
            p.server.events.clear();
            let idle = p.server.session.idle_buffer_octets();
            assert!(
                idle <= bound,
                "{name} {delivery:?}: {idle} idle over a bound of {bound}"
            );
            if bound > 0 {
                assert!(idle >= 2 * MIB, "{name}: {idle}: buffers should be kept");
            }
        }
    }
}

#[test]
fn a_tampered_large_curve_message_is_refused_in_place() {
    let mut p = curve_pair(4 * MIB);
    p.client.transmitted = Some(Vec::new());
    assert!(p.handshake());
    let before = p.client.transmitted.as_ref().unwrap().len();
    // Queue the message but do not deliver it: take its wire bytes and flip one.
    p.client
        .session
        .send_message(vec![pattern(MIB, 3)])
        .unwrap();
    let mut wire = Vec::new();
    while let Some(chunk) = p.client.session.poll_transmit() {
        wire.extend_from_slice(&chunk);
    }
    assert_eq!(before, p.client.transmitted.as_ref().unwrap().len());
    let at = wire.len() / 2;
    wire[at] ^= 0x40;
    let err = p.inject_into_server(&wire).unwrap_err();
    assert!(
        matches!(err, Error::Protocol(ProtocolError::Cryptographic)),
        "{err:?}"
    );
    assert!(p.server.messages().is_empty());
}

/// Many connections to one socket share one bound: a peer that opens many connections and sends
/// a large message on each cannot make the socket keep more than the bound idle.
#[test]
fn every_connection_of_a_socket_shares_one_bound() {
    let mut server = SessionConfig::new(SocketType::Pull, Arc::new(NullConfig::new()));
    server.limits.buffer_pool = 3 * MIB;
    let server = Arc::new(server);
    let client = Arc::new(SessionConfig::new(
        SocketType::Push,
        Arc::new(NullConfig::new()),
    ));
    let now = Instant::now();
    let shuttle = |from: &mut Session, to: &mut Session| {
        let mut bytes = bytes::BytesMut::new();
        while let Some(chunk) = from.poll_transmit() {
            bytes.extend_from_slice(&chunk);
        }
        to.handle_input(&mut bytes, now).unwrap();
    };
    let mut kept = Vec::new();
    for seed in 0..8 {
        let mut c = Session::new(client.clone(), "127.0.0.1:40000", now);
        let mut s = Session::new(server.clone(), "127.0.0.1:5555", now);
        for _ in 0..3 {
            shuttle(&mut c, &mut s);
            shuttle(&mut s, &mut c);
        }
        assert!(c.is_ready() && s.is_ready());
        c.send_message(vec![pattern(2 * MIB, seed)]).unwrap();
        shuttle(&mut c, &mut s);
        while let Some(ev) = s.poll_event() {
            if let Event::Message(m) = ev {
                assert_eq!(m[0], pattern(2 * MIB, seed));
                kept.push(m);
            }
        }
    }
    assert_eq!(kept.len(), 8);
    drop(kept);
    let s = Session::new(server.clone(), "127.0.0.1:5555", now);
    let idle = s.idle_buffer_octets();
    assert!(idle <= 3 * MIB, "{idle} idle across 8 connections");
    assert!(idle >= 2 * MIB, "{idle}: one buffer at least is kept");
}

/// CURVE seals a large body into a buffer from the pool, which comes back once written.
#[test]
fn curve_seals_large_bodies_into_buffers_that_come_back_once_written() {
    let mut p = curve_pair(4 * MIB);
    assert!(p.handshake());
    assert_eq!(p.client.session.idle_buffer_octets(), 0);
    let m = one_message(&mut p, vec![pattern(MIB, 4)]);
    assert_eq!(m[0], pattern(MIB, 4));
    // The client's pool has the sealed body's buffer back (its default bound is 8 MiB).
    assert!(p.client.session.idle_buffer_octets() > MIB);
}
