//! Large bodies (`POOL_AT` octets and more) are received into buffers of their own, opened in
//! place (CURVE), and their memory is reused once the application drops the message, within
//! `Limits::recv_buffer_pool`.

use std::sync::Arc;

use bytes::Bytes;
use zmtp_core::testing::{Delivery, Pair};
use zmtp_core::wire::frame::POOL_AT;
use zmtp_core::{Error, Event, ProtocolError, SessionConfig, SocketType};
use zmtp_mechanisms::{CurveClientConfig, CurveKeyPair, CurveServerConfig, NullConfig};

const MIB: usize = 1 << 20;

fn null_pair(pool: usize) -> Pair {
    let client = SessionConfig::new(SocketType::Push, Arc::new(NullConfig::new()));
    let mut server = SessionConfig::new(SocketType::Pull, Arc::new(NullConfig::new()));
    server.limits.recv_buffer_pool = pool;
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
    server.limits.recv_buffer_pool = pool;
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
    got.expect("a message")
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
            assert!(p.server.session.idle_receive_buffers() >= MIB, "{name}");
            let second = one_message(&mut p, vec![Bytes::from_static(b"id"), pattern(MIB, 2)]);
            assert_eq!(second[1], pattern(MIB, 2), "{name} {delivery:?}");
            assert_eq!(
                second[1].as_ptr(),
                at,
                "{name} {delivery:?}: the same buffer"
            );
            assert_eq!(p.server.session.idle_receive_buffers(), 0, "{name}");
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
fn idle_receive_buffers_never_exceed_the_bound() {
    for bound in [0, 3 * MIB] {
        for (name, mut p) in pairs(bound) {
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
            let idle = p.server.session.idle_receive_buffers();
            assert!(idle <= bound, "{name}: {idle} idle over a bound of {bound}");
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
