//! What a CURVE handshake costs on this machine, and its X25519 steps beside libsodium's (built
//! from source by `libsodium-sys-stable`) in the same run:
//!
//! - `x25519/variable_base`: one X25519 with a peer's key, as `crypto.rs` `x25519` computes it
//!   (curve25519-dalek's clamped Montgomery ladder into wiped memory), against libsodium's
//!   `crypto_scalarmult`. No public API does exactly one (`CurveCrypto::agree` adds HSalsa20 and
//!   the box key schedule, and is crate-private), so the call is repeated here; the set-up checks
//!   that it agrees with libsodium and with the other side's agreement.
//! - `x25519/base`: one base-point X25519, [`CurveSecretKey::public_key`], against libsodium's
//!   `crypto_scalarmult_base`; `x25519/keypair` adds the system generator's 32 octets
//!   ([`CurveKeyPair::generate`], what each side does for its transient key).
//! - `handshake/whole`: a client and a server `Session` in memory, from `Session::new` (which
//!   queues the greeting) through HELLO, WELCOME, INITIATE and READY until both are ready. No
//!   sockets and no ZAP; one server configuration serves every connection, so its cookie key is
//!   made by the first HELLO and reused until it rotates, and the housekeeping timer runs when
//!   it asks to, as a socket's would. Time is the real clock, as a socket passes it in.
//! - `handshake/client`, `handshake/server`: the same handshakes, each reporting only the time
//!   spent inside one side's calls (`Session::new`, `handle_input`, `poll_transmit`,
//!   `poll_event`, and the server's housekeeping). Each side does four X25519s.
//!
//! `cargo bench -p zmtp-mechanisms --bench handshake`

// Only for the libsodium FFI calls below; the library itself forbids unsafe code (lib.rs).
#![allow(unsafe_code)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use curve25519_dalek::montgomery::MontgomeryPoint;
use zeroize::Zeroizing;
use zmtp_core::{MechanismConfig, Session, SessionConfig, SocketType};
use zmtp_mechanisms::{CurveClientConfig, CurveKeyPair, CurveSecretKey, CurveServerConfig};

/// The body of `crypto.rs` `x25519`, without its test-only counter.
fn ours_scalarmult(peer: &[u8; 32], secret: &CurveSecretKey) -> Zeroizing<MontgomeryPoint> {
    Zeroizing::new(MontgomeryPoint(*peer).mul_clamped(*secret.expose()))
}

fn sodium_init() {
    // SAFETY: `sodium_init` may be called any number of times, from any thread.
    assert!(unsafe { libsodium_sys::sodium_init() } >= 0);
}

fn sodium_scalarmult(peer: &[u8; 32], secret: &[u8; 32]) -> [u8; 32] {
    let mut shared = [0u8; 32];
    // SAFETY: libsodium is initialised (`sodium_init`); the three pointers are to 32-octet
    // arrays, the sizes the function reads and writes.
    let rc = unsafe {
        libsodium_sys::crypto_scalarmult(shared.as_mut_ptr(), secret.as_ptr(), peer.as_ptr())
    };
    assert_eq!(rc, 0, "a non-zero shared secret");
    shared
}

fn sodium_scalarmult_base(secret: &[u8; 32]) -> [u8; 32] {
    let mut public = [0u8; 32];
    // SAFETY: as in `sodium_scalarmult`: two 32-octet arrays.
    let rc = unsafe { libsodium_sys::crypto_scalarmult_base(public.as_mut_ptr(), secret.as_ptr()) };
    assert_eq!(rc, 0);
    public
}

fn x25519(c: &mut Criterion) {
    sodium_init();
    let a = CurveKeyPair::generate().unwrap();
    let b = CurveKeyPair::generate().unwrap();
    let peer = *b.public.as_bytes();

    let shared = ours_scalarmult(&peer, &a.secret);
    assert_eq!(shared.0, ours_scalarmult(a.public.as_bytes(), &b.secret).0);
    assert_eq!(shared.0, sodium_scalarmult(&peer, a.secret.expose()));
    assert_eq!(
        a.public.as_bytes(),
        &sodium_scalarmult_base(a.secret.expose())
    );

    let mut group = c.benchmark_group("x25519");
    trim(&mut group);
    group.bench_function(BenchmarkId::new("variable_base", "ours"), |bench| {
        bench.iter(|| ours_scalarmult(black_box(&peer), black_box(&a.secret)))
    });
    group.bench_function(BenchmarkId::new("variable_base", "libsodium"), |bench| {
        bench.iter(|| sodium_scalarmult(black_box(&peer), black_box(a.secret.expose())))
    });
    group.bench_function(BenchmarkId::new("base", "ours"), |bench| {
        bench.iter(|| black_box(&a.secret).public_key())
    });
    group.bench_function(BenchmarkId::new("base", "libsodium"), |bench| {
        bench.iter(|| sodium_scalarmult_base(black_box(a.secret.expose())))
    });
    group.bench_function(BenchmarkId::new("keypair", "ours"), |bench| {
        bench.iter(|| CurveKeyPair::generate().unwrap())
    });
    group.finish();
}

/// A client socket and a server socket: long-term keys and configurations shared by every
/// connection, and the server's housekeeping timer.
struct Sockets {
    client: Arc<SessionConfig>,
    server: Arc<SessionConfig>,
    server_mechanism: Arc<CurveServerConfig>,
    housekeeping_due: Option<Instant>,
}

impl Sockets {
    fn new() -> Sockets {
        let server_mechanism = Arc::new(CurveServerConfig::new(
            CurveKeyPair::generate().unwrap().secret,
        ));
        let client_mechanism = CurveClientConfig::new(
            CurveKeyPair::generate().unwrap().secret,
            *server_mechanism.public_key(),
        );
        let client = SessionConfig::new(SocketType::Dealer, Arc::new(client_mechanism));
        let server = SessionConfig::new(SocketType::Router, server_mechanism.clone());
        let now = Instant::now();
        Sockets {
            client: Arc::new(client),
            server: Arc::new(server),
            housekeeping_due: server_mechanism.housekeeping(now),
            server_mechanism,
        }
    }

    /// One connection's handshake at the real clock's `now`. With `split`, adds the time spent
    /// in the client's calls to `split[0]` and in the server's to `split[1]`.
    fn handshake(&mut self, mut split: Option<&mut [Duration; 2]>) {
        const CLIENT: usize = 0;
        const SERVER: usize = 1;
        let mut on = |side: usize, f: &mut dyn FnMut()| match split.as_deref_mut() {
            Some(spent) => {
                let start = Instant::now();
                f();
                spent[side] += start.elapsed();
            }
            None => f(),
        };

        let now = Instant::now();
        if self.housekeeping_due.is_some_and(|due| due <= now) {
            on(SERVER, &mut || {
                self.housekeeping_due = self.server_mechanism.housekeeping(now);
            });
        }
        let mut client = None;
        let mut server = None;
        on(CLIENT, &mut || {
            client = Some(Session::new(self.client.clone(), "127.0.0.1:5555", now))
        });
        on(SERVER, &mut || {
            server = Some(Session::new(self.server.clone(), "127.0.0.1:40000", now))
        });
        let (mut client, mut server) = (client.unwrap(), server.unwrap());

        let mut to_server = BytesMut::new();
        let mut to_client = BytesMut::new();
        loop {
            on(CLIENT, &mut || {
                while let Some(chunk) = client.poll_transmit() {
                    to_server.extend_from_slice(&chunk);
                }
            });
            on(SERVER, &mut || {
                while let Some(chunk) = server.poll_transmit() {
                    to_client.extend_from_slice(&chunk);
                }
            });
            if to_server.is_empty() && to_client.is_empty() {
                break;
            }
            on(SERVER, &mut || {
                server.handle_input(&mut to_server, now).unwrap();
                while server.poll_event().is_some() {}
            });
            on(CLIENT, &mut || {
                client.handle_input(&mut to_client, now).unwrap();
                while client.poll_event().is_some() {}
            });
        }
        assert!(client.is_ready() && server.is_ready());
        black_box((client, server));
    }
}

fn handshake(c: &mut Criterion) {
    let mut sockets = Sockets::new();
    let mut group = c.benchmark_group("handshake");
    trim(&mut group);
    group.bench_function("whole", |bench| bench.iter(|| sockets.handshake(None)));
    for (side, name) in [(0, "client"), (1, "server")] {
        group.bench_function(name, |bench| {
            bench.iter_custom(|iters| {
                let mut spent = [Duration::ZERO; 2];
                for _ in 0..iters {
                    sockets.handshake(Some(&mut spent));
                }
                spent[side]
            })
        });
    }
    group.finish();
}

/// Criterion's defaults trimmed so the whole run stays well under a minute.
fn trim(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
}

criterion_group!(benches, x25519, handshake);
criterion_main!(benches);
