//! How many X25519 multiplications one CURVE handshake costs each side, counted twice: at the
//! [`CurveCrypto`] seam (a counting wrapper around [`SystemCrypto`]), and by the thread's count of
//! multiplications actually done (`crypto::x25519_done`), which also catches one done outside
//! the seam (a stray `CurveSecretKey::public_key`, say).
//!
//! Server, 4 per handshake (it was 7: every agreement did its X25519 twice, once for the
//! all-zero check and again inside RustCrypto's `SalsaBox::new`):
//! 1. HELLO: X25519(s, C'). Opens HELLO's signature box; the same box seals WELCOME.
//! 2. The transient pair: X25519(s', 9) gives S', which WELCOME carries.
//! 3. INITIATE: X25519(s', C'), s' from the cookie. Opens INITIATE's box; the same box then seals
//!    READY and is the traffic key. It cannot be done at HELLO without keeping a per-connection
//!    secret until INITIATE, which the cookie exists to avoid.
//! 4. INITIATE: X25519(s', C). Opens the vouch, the proof that the client holds c.
//!
//! Client, 4 per handshake (it was 7, for the same reason):
//! 1. The transient pair: X25519(c', 9) gives C', which HELLO carries.
//! 2. X25519(c', S). Seals HELLO's signature box; the same box opens WELCOME.
//! 3. X25519(c', S'). Seals INITIATE; the same box opens READY and is the traffic key.
//! 4. X25519(c, S'). Seals the vouch.
//!
//! Each of the three agreements per side is a different pair of keys, and each key pair's public
//! half has to be derived once, so four is the least either side can do. The long-term public
//! keys (S from s, C from c) are derived once per configuration, not per handshake; the traffic
//! phase does none.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use zmtp_core::{
    Command, Error, Frame, Greeting, HandshakeContext, MechanismConfig, MechanismName,
    MessageCodec, Metadata, SocketType, TransmitQueue,
};

use super::crypto::{x25519_done, CurveCrypto, LongNonce, PrecomputedBox, SystemCrypto};
use super::keys::{CurveKeyPair, CurvePublicKey, CurveSecretKey};
use super::{CurveClientConfig, CurveServerConfig};
use crate::curve::cookie::DEFAULT_ROTATION;

/// What one side asked of its provider, and what the thread did while that side ran.
#[derive(Debug, Default)]
struct Tally {
    key_pairs: AtomicUsize,
    agreements: AtomicUsize,
    /// Multiplications done while this side's code ran (from the thread's count).
    done: AtomicUsize,
}

/// [`SystemCrypto`], counting the calls that cost an X25519.
#[derive(Debug)]
struct CountingCrypto(Arc<Tally>);

impl CurveCrypto for CountingCrypto {
    fn transient_key_pair(&self) -> Result<CurveKeyPair, Error> {
        self.0.key_pairs.fetch_add(1, Ordering::Relaxed);
        SystemCrypto.transient_key_pair()
    }

    fn long_nonce(&self, purpose: LongNonce) -> Result<[u8; 16], Error> {
        SystemCrypto.long_nonce(purpose)
    }

    fn cookie_box(&self) -> Result<Box<dyn PrecomputedBox>, Error> {
        SystemCrypto.cookie_box()
    }

    fn agree(
        &self,
        peer: &CurvePublicKey,
        ours: &CurveSecretKey,
    ) -> Result<Box<dyn PrecomputedBox>, Error> {
        self.0.agreements.fetch_add(1, Ordering::Relaxed);
        SystemCrypto.agree(peer, ours)
    }
}

/// Runs `f`, adding the multiplications it did to `tally`.
fn on<T>(tally: &Tally, f: impl FnOnce() -> T) -> T {
    let before = x25519_done();
    let out = f();
    tally
        .done
        .fetch_add(x25519_done() - before, Ordering::Relaxed);
    out
}

fn ctx(ours: SocketType, peer_as_server: bool) -> HandshakeContext {
    HandshakeContext {
        socket_type: ours,
        local_metadata: Metadata::new()
            .with("Socket-Type", ours.as_str().as_bytes().to_vec())
            .unwrap(),
        peer_greeting: Greeting::ours(MechanismName::CURVE, peer_as_server),
        zap_domain: None,
        max_properties: 16,
        now: Instant::now(),
    }
}

fn command(body: Bytes) -> Command {
    Command::parse(body).unwrap()
}

/// One MESSAGE from `from` to `to`.
fn carry(
    from: &mut dyn MessageCodec,
    from_tally: &Tally,
    to: &mut dyn MessageCodec,
    to_tally: &Tally,
) {
    let frame = Frame {
        more: false,
        command: false,
        body: Bytes::from_static(b"hi"),
    };
    let mut q = TransmitQueue::new();
    on(from_tally, || from.seal(frame.clone(), &mut q).unwrap());
    // The wire frame's two header octets, then the MESSAGE body.
    let body = q.pop().unwrap().slice(2..);
    let opened = on(to_tally, || {
        to.open(Frame {
            more: false,
            command: false,
            body,
        })
        .unwrap()
    });
    assert_eq!(opened.body, frame.body);
}

/// One real handshake and one message each way; returns (server, client) tallies.
fn handshake() -> (Arc<Tally>, Arc<Tally>) {
    let server_tally = Arc::new(Tally::default());
    let client_tally = Arc::new(Tally::default());
    let server_keys = CurveKeyPair::generate().unwrap();
    let client_keys = CurveKeyPair::generate().unwrap();
    // Building a configuration derives its long-term public key: not part of a handshake.
    let server_config = CurveServerConfig::with_crypto(
        server_keys.secret,
        Arc::new(CountingCrypto(Arc::clone(&server_tally))),
        DEFAULT_ROTATION,
    );
    let client_config = CurveClientConfig::with_crypto(
        client_keys.secret,
        server_keys.public,
        Arc::new(CountingCrypto(Arc::clone(&client_tally))),
    );
    let now = Instant::now();
    let (s, c) = (&*server_tally, &*client_tally);

    let mut client = on(c, || {
        client_config.start(ctx(SocketType::Dealer, true)).unwrap()
    });
    let mut server = on(s, || {
        server_config.start(ctx(SocketType::Router, false)).unwrap()
    });
    let hello = client.poll_command().unwrap();
    on(s, || server.handle_command(command(hello), now).unwrap());
    let welcome = server.poll_command().unwrap();
    on(c, || client.handle_command(command(welcome), now).unwrap());
    let initiate = client.poll_command().unwrap();
    on(s, || server.handle_command(command(initiate), now).unwrap());
    let ready = server.poll_command().unwrap();
    on(c, || client.handle_command(command(ready), now).unwrap());
    assert!(client.is_ready() && server.is_ready());

    let mut client = on(c, || client.into_established().unwrap().codec);
    let mut server = on(s, || server.into_established().unwrap().codec);
    carry(&mut *client, c, &mut *server, s);
    carry(&mut *server, s, &mut *client, c);
    (server_tally, client_tally)
}

#[test]
fn a_server_handshake_costs_four_x25519() {
    let (server, _) = handshake();
    // See the file's comment: one transient pair (S') and three agreements (C'·s for HELLO and
    // WELCOME, C'·s' for INITIATE, READY and traffic, C·s' for the vouch).
    assert_eq!(server.key_pairs.load(Ordering::Relaxed), 1);
    assert_eq!(server.agreements.load(Ordering::Relaxed), 3);
    assert_eq!(
        server.done.load(Ordering::Relaxed),
        4,
        "one X25519 per seam call"
    );
}

#[test]
fn a_client_handshake_costs_four_x25519() {
    let (_, client) = handshake();
    // One transient pair (C') and three agreements (S·c' for HELLO and WELCOME, S'·c' for
    // INITIATE, READY and traffic, S'·c for the vouch).
    assert_eq!(client.key_pairs.load(Ordering::Relaxed), 1);
    assert_eq!(client.agreements.load(Ordering::Relaxed), 3);
    assert_eq!(
        client.done.load(Ordering::Relaxed),
        4,
        "one X25519 per seam call"
    );
}
