//! XSalsa20-Poly1305 — NaCl's `crypto_secretbox` — sealing and opening in place with a detached
//! 16-octet tag, with the Salsa20 keystream computed by the fastest backend the CPU offers.
//!
//! # The construction
//!
//! For a 32-octet key `k` and a 24-octet nonce `n`: the subkey is `HSalsa20(k, n[0..16])`; the
//! stream is Salsa20/20 under the subkey with `n[16..24]` as its nonce, from block counter 0. The
//! first 32 octets of block 0 are the Poly1305 one-time key; the message is XORed with the stream
//! from octet 32 of block 0 on, and the tag is Poly1305 of the ciphertext under the one-time key.
//! This is byte for byte what `crypto_secretbox_detached` and `crypto_secretbox_open_detached`
//! compute (the tests compare every backend with RustCrypto's `crypto_secretbox`).
//!
//! Because the message starts at octet 32 of block 0, octet 32 of the message is octet 0 of block
//! 1: blocks 0 to `k` are computed first (block 0 alone by the portable code; for the SIMD
//! backends blocks 0 and 1 together when the message fits in 96 octets, else blocks 0 to 7 in
//! one AVX2 batch, which covers a message of up to 480 octets), giving the
//! one-time key and the first octets of stream, and the rest of the message is block-aligned from
//! counter `k + 1` on, which is all a backend's bulk code ever sees.
//!
//! # Backends
//!
//! | [`Backend`] | Keystream | Needs |
//! |---|---|---|
//! | `Portable` | one 64-octet block at a time on `u32` words | nothing |
//! | `Avx2` | 8 blocks at a time, one state word of 8 counters per 256-bit register | `avx2` |
//! | `Avx512` | 16 blocks at a time in 512-bit registers, native rotations; Poly1305 eight blocks at a time with IFMA when `avx512ifma` is there too | `avx512f` and `avx2` |
//!
//! The SIMD backends hand a tail shorter than three blocks to the portable code, and a longer
//! tail to one more SIMD batch computed over a zeroed stack buffer (wiped after use); `Avx512`
//! hands anything shorter than 16 blocks to `Avx2`. A key uses [`Backend::selected`] unless made
//! with [`XSalsa20Poly1305Key::with_backend`]:
//!
//! - Without the environment variable `ZMTP_SALSA_BACKEND`, [`Backend::detect`]: the fastest
//!   backend whose CPU features `is_x86_feature_detected!` reports.
//! - With `ZMTP_SALSA_BACKEND=portable`, `avx2` or `avx512`, that backend if it is available.
//!   Any other value, or a backend this CPU lacks, gives [`Backend::detect`]'s choice, silently:
//!   the variable is a tuning and testing knob, never a reason to fail or to log. It is read once
//!   per process.
//!
//! Every SIMD function re-checks its CPU feature (a cached load) before it runs, so even a
//! mistaken [`Backend`] value could never execute an instruction the CPU lacks.
//!
//! # Poly1305
//!
//! The MAC is our own scalar Poly1305 (`src/poly1305.rs`: three 44-bit limbs, 128-bit products,
//! a masked final reduction). RustCrypto's `poly1305` 0.8 was the first choice (it picks an AVX2
//! backend at run time through `cpufeatures`, and it is what `crypto_secretbox` uses), but on the
//! benchmark machine its AVX2 state costs about 1.6 µs per tag whatever the length (0.5 µs to set
//! up, the rest to finish), which alone is three times libsodium's whole 64-octet box; the scalar
//! code is under 0.1 µs there. For long messages the `Avx512` backend, on a CPU with
//! `avx512ifma`, hashes the leading 128-octet groups (from 256 octets on) eight blocks at a time
//! with 52-bit multiply-adds (`avx512.rs`, `poly1305_groups`): about 7.5 µs per 64 KiB against
//! 51 µs scalar and 28 µs for RustCrypto's AVX2 code on the benchmark machine. The other backends
//! use the scalar code, except that for messages of 8 KiB and more every SIMD backend without
//! IFMA hands the MAC to RustCrypto's `poly1305` (its AVX2 code costs ~1.6 µs to set up, then
//! about half our scalar time per octet: 28 µs against 51 µs per 64 KiB). The tests check both of
//! our paths against `poly1305` (and RFC 8439's example). Tags are compared with `subtle`.
//!
//! # Safety
//!
//! Unsafe code is denied in the crate and allowed only in `avx2.rs` and `avx512.rs`, for calling
//! `#[target_feature]` functions after run-time detection (each safe entry point runs
//! `is_x86_feature_detected!` itself), for unaligned loads and stores on bounds-checked slices,
//! and for volatile whole-register stores that wipe 32-aligned keystream scratch. Every unsafe
//! block says why it is sound.
//!
//! # Tests
//!
//! Specification vectors for the quarter-round and the Salsa20 hash, NaCl's HSalsa20 (`core1`,
//! `core2`) and secretbox vectors, RFC 8439's Poly1305 example; HSalsa20 against
//! `crypto_secretbox::Kdf`; both Poly1305 paths against RustCrypto's `poly1305`; each SIMD
//! keystream against the portable one across the 32-bit counter carry; every available backend
//! against `crypto_secretbox::XSalsa20Poly1305` over random keys, nonces, lengths 0..=4096 and
//! misaligned buffers (property tests), every length to 3200 and long messages to 70000 octets,
//! with tampered tags, ciphertexts and nonces refused and the buffer left alone; each backend run
//! by name; the `ZMTP_SALSA_BACKEND` parser. The fuzz target `fuzz/fuzz_targets/salsa_backends.rs`
//! drives `fuzzing::backends_agree` (with the `fuzzing` feature), and
//! `tests/tests/fuzz_corpora.rs` replays its corpus.

use std::fmt;
use std::sync::OnceLock;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

mod poly1305;
mod portable;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;

pub use portable::{hsalsa20, salsa20_core};

/// The environment variable that can force a [`Backend`] (see [`Backend::selected`]).
pub const BACKEND_ENV: &str = "ZMTP_SALSA_BACKEND";

/// Who computes the Salsa20 keystream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// One block at a time on `u32` words; runs everywhere.
    Portable,
    /// Eight blocks at a time with AVX2 (x86_64).
    Avx2,
    /// Sixteen blocks at a time with AVX-512F (x86_64).
    Avx512,
}

impl Backend {
    /// Every backend, slowest first.
    pub const ALL: [Backend; 3] = [Backend::Portable, Backend::Avx2, Backend::Avx512];

    /// Whether this CPU can run the backend (detected at run time).
    pub fn is_available(self) -> bool {
        match self {
            Backend::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Backend::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Backend::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx2")
            }
            #[cfg(not(target_arch = "x86_64"))]
            Backend::Avx2 | Backend::Avx512 => false,
        }
    }

    /// The backends this CPU can run, slowest first (`Portable` always).
    pub fn available() -> Vec<Backend> {
        Backend::ALL
            .into_iter()
            .filter(|b| b.is_available())
            .collect()
    }

    /// The fastest backend this CPU can run.
    pub fn detect() -> Backend {
        Backend::ALL
            .into_iter()
            .rev()
            .find(|b| b.is_available())
            .unwrap_or(Backend::Portable)
    }

    /// The backend named by a `ZMTP_SALSA_BACKEND` value: `portable`, `avx2` or `avx512` (ASCII
    /// case and surrounding white space ignored); `None` for anything else.
    pub fn parse(name: &str) -> Option<Backend> {
        let name = name.trim();
        Backend::ALL
            .into_iter()
            .find(|b| b.name().eq_ignore_ascii_case(name))
    }

    /// The rule for an optional `ZMTP_SALSA_BACKEND` value: the named backend if it parses and
    /// is available, else [`Backend::detect`].
    pub fn choose(forced: Option<&str>) -> Backend {
        forced
            .and_then(Backend::parse)
            .filter(|b| b.is_available())
            .unwrap_or_else(Backend::detect)
    }

    /// The process-wide default: [`Backend::choose`] applied to `ZMTP_SALSA_BACKEND`, read once.
    pub fn selected() -> Backend {
        static SELECTED: OnceLock<Backend> = OnceLock::new();
        *SELECTED.get_or_init(|| Backend::choose(std::env::var(BACKEND_ENV).ok().as_deref()))
    }

    /// The backend's name, as `ZMTP_SALSA_BACKEND` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Portable => "portable",
            Backend::Avx2 => "avx2",
            Backend::Avx512 => "avx512",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// [`XSalsa20Poly1305Key::with_backend`] was asked for a backend this CPU cannot run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackendUnavailable(pub Backend);

impl fmt::Display for BackendUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the {} Salsa20 backend is not available on this CPU",
            self.0
        )
    }
}

impl std::error::Error for BackendUnavailable {}

/// The tag did not match: the box was not sealed with this key and nonce, or was altered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenError;

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("XSalsa20-Poly1305 authentication failed")
    }
}

impl std::error::Error for OpenError {}

/// A 32-octet XSalsa20-Poly1305 key and the backend that runs it. The key is wiped on drop and
/// never printed.
#[derive(Clone)]
pub struct XSalsa20Poly1305Key {
    key: [u8; 32],
    backend: Backend,
}

impl fmt::Debug for XSalsa20Poly1305Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XSalsa20Poly1305Key")
            .field("key", &"<redacted>")
            .field("backend", &self.backend)
            .finish()
    }
}

impl Drop for XSalsa20Poly1305Key {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl XSalsa20Poly1305Key {
    /// A key run by [`Backend::selected`].
    pub fn new(key: &[u8; 32]) -> Self {
        XSalsa20Poly1305Key {
            key: *key,
            backend: Backend::selected(),
        }
    }

    /// A key run by `backend`, if this CPU can run it (for tests and benchmarks).
    pub fn with_backend(key: &[u8; 32], backend: Backend) -> Result<Self, BackendUnavailable> {
        if !backend.is_available() {
            return Err(BackendUnavailable(backend));
        }
        Ok(XSalsa20Poly1305Key { key: *key, backend })
    }

    /// The backend this key runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Encrypts `buf` in place under `nonce` and returns the Poly1305 tag (libsodium's
    /// `crypto_secretbox_detached`).
    pub fn seal_in_place_detached(&self, nonce: &[u8; 24], buf: &mut [u8]) -> [u8; 16] {
        let stream = Stream::new(&self.key, nonce, self.backend, buf.len());
        stream.xor(self.backend, buf);
        stream.tag(buf, self.backend)
    }

    /// Checks `tag` against `buf` under `nonce` in constant time, then decrypts `buf` in place
    /// (libsodium's `crypto_secretbox_open_detached`). On failure `buf` is unchanged.
    pub fn open_in_place_detached(
        &self,
        nonce: &[u8; 24],
        buf: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), OpenError> {
        let stream = Stream::new(&self.key, nonce, self.backend, buf.len());
        let expected = Zeroizing::new(stream.tag(buf, self.backend));
        if !bool::from(expected.ct_eq(tag)) {
            return Err(OpenError);
        }
        stream.xor(self.backend, buf);
        Ok(())
    }
}

/// From this length on, a SIMD backend without IFMA uses RustCrypto's Poly1305 (AVX2 when the
/// CPU has it): about 1.6 µs of setup then 0.42 ns per octet, against 0.78 ns per octet for our
/// scalar code, on the benchmark machine.
const RUSTCRYPTO_POLY1305_MIN: usize = 8192;

#[cfg(target_arch = "x86_64")]
fn has_ifma() -> bool {
    avx512::has_ifma()
}

#[cfg(not(target_arch = "x86_64"))]
fn has_ifma() -> bool {
    false
}

/// Octets of keystream computed up front: eight blocks, one AVX2 batch.
const PREFIX_MAX: usize = 8 * portable::BLOCK;

/// One message's keystream: the Salsa20 state under the subkey, and its first `blocks` blocks
/// (the one-time key, then the stream the message starts with): block 0 alone with the portable
/// code; with the SIMD backends blocks 0 and 1 side by side in AVX2 registers for a message of up
/// to 96 octets (in the time of one portable block), else blocks 0 to 7 in one AVX2 batch (all a
/// message of up to 480 octets needs). Both are wiped on drop.
struct Stream {
    state: [u32; 16],
    prefix: Prefix,
    blocks: usize,
}

/// 32-aligned so that the AVX2 code can wipe it a register at a time.
#[repr(C, align(32))]
struct Prefix([u8; PREFIX_MAX]);

impl Stream {
    fn new(key: &[u8; 32], nonce: &[u8; 24], backend: Backend, len: usize) -> Self {
        let (prefix, tail) = nonce.split_at(16);
        let prefix: &[u8; 16] = prefix.try_into().expect("16 octets");
        let tail: &[u8; 8] = tail.try_into().expect("8 octets");
        let subkey = Zeroizing::new(hsalsa20(key, prefix));
        let mut stream = Stream {
            state: portable::state(&subkey, tail),
            prefix: Prefix([0u8; PREFIX_MAX]),
            blocks: 1,
        };
        #[cfg(target_arch = "x86_64")]
        if backend != Backend::Portable {
            let two: &mut [u8; 128] = (&mut stream.prefix.0[..128]).try_into().expect("128");
            if len <= 96 && avx2::two_blocks(&stream.state, 0, two) {
                stream.blocks = 2;
                return stream;
            }
            if len > 96 && avx2::prefix(&stream.state, &mut stream.prefix.0) {
                stream.blocks = 8;
                return stream;
            }
        }
        let _ = (backend, len);
        let block0: &mut [u8; 64] = (&mut stream.prefix.0[..64]).try_into().expect("64 octets");
        portable::block(&stream.state, 0, block0);
        stream
    }

    /// XORs `buf` with the stream from octet 32 of block 0 on.
    fn xor(&self, backend: Backend, buf: &mut [u8]) {
        let ready = &self.prefix.0[32..self.blocks * portable::BLOCK];
        let (head, rest) = buf.split_at_mut(buf.len().min(ready.len()));
        for (b, k) in head.iter_mut().zip(ready) {
            *b ^= k;
        }
        xor_stream(backend, &self.state, self.blocks as u64, rest);
    }

    /// Poly1305 of `ciphertext` under the one-time key: ours (scalar, or IFMA for `Avx512`), or
    /// for a long message on a SIMD backend without IFMA, RustCrypto's (its AVX2 code wins from
    /// a few KiB on, see the crate docs).
    fn tag(&self, ciphertext: &[u8], backend: Backend) -> [u8; 16] {
        let otk: &[u8; 32] = self.prefix.0[..32].try_into().expect("32 octets");
        if ciphertext.len() >= RUSTCRYPTO_POLY1305_MIN
            && backend != Backend::Portable
            && !(backend == Backend::Avx512 && has_ifma())
        {
            use ::poly1305::universal_hash::KeyInit;
            return ::poly1305::Poly1305::new(otk.into())
                .compute_unpadded(ciphertext)
                .into();
        }
        poly1305::Poly1305::new(otk).compute(ciphertext, backend == Backend::Avx512)
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.state.zeroize();
        #[cfg(target_arch = "x86_64")]
        if self.blocks > 1 {
            return avx2::wipe(&mut self.prefix.0);
        }
        self.prefix.0[..self.blocks * portable::BLOCK].zeroize();
    }
}

/// XORs `buf` (block-aligned) with the stream of `state` from block `counter` on.
fn xor_stream(backend: Backend, state: &[u32; 16], counter: u64, buf: &mut [u8]) {
    if buf.is_empty() {
        return;
    }
    match backend {
        Backend::Portable => portable::xor_blocks(state, counter, buf),
        #[cfg(target_arch = "x86_64")]
        Backend::Avx2 => avx2::xor_blocks(state, counter, buf),
        #[cfg(target_arch = "x86_64")]
        Backend::Avx512 => avx512::xor_blocks(state, counter, buf),
        #[cfg(not(target_arch = "x86_64"))]
        Backend::Avx2 | Backend::Avx512 => portable::xor_blocks(state, counter, buf),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values_parse() {
        assert_eq!(Backend::parse("portable"), Some(Backend::Portable));
        assert_eq!(Backend::parse("AVX2"), Some(Backend::Avx2));
        assert_eq!(Backend::parse(" avx512\n"), Some(Backend::Avx512));
        assert_eq!(Backend::parse("avx"), None);
        assert_eq!(Backend::parse(""), None);
        assert_eq!(Backend::choose(None), Backend::detect());
        assert_eq!(Backend::choose(Some("nonsense")), Backend::detect());
        assert_eq!(Backend::choose(Some("portable")), Backend::Portable);
        for b in Backend::ALL {
            let expected = if b.is_available() {
                b
            } else {
                Backend::detect()
            };
            assert_eq!(Backend::choose(Some(b.name())), expected);
            assert_eq!(Backend::parse(&b.to_string()), Some(b));
        }
        assert!(Backend::available().contains(&Backend::selected()));
        assert_eq!(Backend::available()[0], Backend::Portable);
    }

    /// `scripts/test` runs the CURVE tests again with `ZMTP_SALSA_BACKEND` set to each backend;
    /// this shows the variable reached the process and was obeyed (a backend the CPU lacks gives
    /// the detected one).
    #[test]
    fn curve_boxes_use_the_backend_forced() {
        let forced = std::env::var(BACKEND_ENV).ok();
        let expected = Backend::choose(forced.as_deref());
        assert_eq!(
            Backend::selected(),
            expected,
            "ZMTP_SALSA_BACKEND={forced:?}"
        );
        let key = XSalsa20Poly1305Key::new(&[7; 32]);
        assert_eq!(key.backend(), expected);
        eprintln!("backend in use: {expected}");
    }

    #[test]
    fn debug_is_redacted() {
        let key = XSalsa20Poly1305Key::with_backend(&[0x42; 32], Backend::Portable).unwrap();
        let shown = format!("{key:?}");
        assert!(
            shown.contains("<redacted>") && !shown.contains("66"),
            "{shown}"
        );
    }
}
