//! CURVE: ZMTP-CURVE (RFC 25) over CurveZMQ (RFC 26), byte-exact with libzmq 4.3.5.
//!
//! ```text
//! client                                             server
//!   HELLO    C', Box[64 zeros](C'->S)         ──►      opens with s: the client knows S
//!            ◄──   WELCOME  Box[S' + cookie](S->C')    cookie = Box[C' + s'](cookie key)
//!   INITIATE cookie, Box[C + vouch + metadata](C'->S') ──►  vouch = Box[C' + S](C->S')
//!            ◄──   READY    Box[metadata](S'->C')
//!   MESSAGE  Box[flags + payload](C'<->S')    ◄─►      (codec.rs)
//! ```
//!
//! - `keys.rs`: [`CurvePublicKey`], [`CurveSecretKey`], [`CurveKeyPair`] (raw or Z85, checked
//!   when built).
//! - `client.rs`, `server.rs`: the handshake steps, one type each.
//! - `codec.rs`: the MESSAGE boxes of the traffic phase.
//! - `nonce.rs`: nonce prefixes and per-direction counters; `cookie.rs`: the server's rotating
//!   cookie keys.
//! - `crypto.rs`: the only code that names a crypto crate, behind two object-safe traits. A
//!   fixed-randomness provider is reached only through `*_for_testing_only` constructors
//!   (`crypto_testing.rs`); a MAC-less one only with the `fuzzing` cargo feature.
//!
//! Errors carry libzmq's protocol codes: a command of the wrong size is `MalformedCommand`, of
//! the wrong name `UnexpectedCommand`, a box that will not open (or a weak key: an all-zero X25519
//! result) `Cryptographic`, a vouch for other keys `KeyExchange`, a short nonce not above the
//! last `InvalidSequence`, and an ERROR from the server `PeerRefused`.

mod client;
mod codec;
mod cookie;
mod crypto;
#[cfg(feature = "fuzzing")]
mod crypto_fuzzing;
mod crypto_testing;
mod keys;
mod nonce;
mod server;
#[cfg(test)]
mod x25519_count;

pub use client::CurveClientConfig;
pub use crypto_testing::CurveTestEphemerals;
pub use keys::{CurveKeyPair, CurvePublicKey, CurveSecretKey};
pub use server::CurveServerConfig;

/// HELLO's exact size, name included.
pub(crate) const HELLO_LEN: usize = 200;
/// WELCOME's exact size.
pub(crate) const WELCOME_LEN: usize = 168;
/// INITIATE's size with no metadata.
pub(crate) const INITIATE_MIN_LEN: usize = 257;
/// READY's size with no metadata.
pub(crate) const READY_MIN_LEN: usize = 30;
/// Octets a MESSAGE body adds to the payload it carries.
pub const MESSAGE_OVERHEAD: usize = codec::OVERHEAD;
