//! The cryptography CURVE needs, behind two small object-safe traits. The handshake and the
//! MESSAGE codec call only these; this file and `keys.rs` are the only places that name a crypto
//! crate.
//!
//! - [`CurveCrypto`] is the per-socket provider: fresh transient key pairs, long nonces, cookie
//!   keys, and the X25519 agreement that yields a [`PrecomputedBox`].
//! - [`PrecomputedBox`] seals and opens NaCl boxes with a key agreed once (libsodium's
//!   `crypto_box_beforenm`/`_afternm`), or with a cookie key (`crypto_secretbox`): the same
//!   XSalsa20-Poly1305 construction either way, computed by our `salsa-simd` crate (its Salsa20
//!   keystream on the fastest of its portable, AVX2 and AVX-512 backends this CPU has).
//!
//! **X25519 budget.** Each of [`CurveCrypto::transient_key_pair`] and [`CurveCrypto::agree`] costs
//! [`SystemCrypto`] exactly one X25519 scalar multiplication (a base-point one for the pair), and
//! nothing else in a handshake does one: a handshake costs each side four (see
//! `x25519_count.rs`). The all-zero check and the box key come from the same shared secret.
//!
//! Three providers exist: [`SystemCrypto`] (the only one production constructors use), the
//! fixed-ephemeral provider reached only through `*_for_testing_only` constructors, and a
//! MAC-less provider behind the `fuzzing` cargo feature.

use std::fmt;

use curve25519_dalek::montgomery::MontgomeryPoint;
use rand_core::{OsRng, RngCore};
use salsa_simd::{hsalsa20, XSalsa20Poly1305Key};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;
use zmtp_core::{Error, ProtocolError};

use super::keys::{CurveKeyPair, CurvePublicKey, CurveSecretKey};

/// A Poly1305 tag: the first 16 octets of every NaCl box on the wire.
pub(crate) type Tag = [u8; 16];

/// Which long nonce a provider is asked for (a fixed provider answers each differently).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LongNonce {
    /// WELCOME's 16 octets after `WELCOME-`.
    Welcome,
    /// The cookie's 16 octets after `COOKIE--`.
    Cookie,
    /// The vouch's 16 octets after `VOUCH---`.
    Vouch,
}

/// Randomness and key agreement for one socket's CURVE connections.
pub(crate) trait CurveCrypto: Send + Sync + fmt::Debug {
    /// A fresh transient key pair (c' and C', or s' and S'): one base-point X25519.
    fn transient_key_pair(&self) -> Result<CurveKeyPair, Error>;
    /// 16 unpredictable octets for a long nonce.
    fn long_nonce(&self, purpose: LongNonce) -> Result<[u8; 16], Error>;
    /// A box under a fresh cookie key.
    fn cookie_box(&self) -> Result<Box<dyn PrecomputedBox>, Error>;
    /// X25519 between `peer` and `ours` (one scalar multiplication), ready to seal and open. An
    /// all-zero shared secret (the peer sent a small-order point) is `Cryptographic`, as
    /// libsodium refuses it.
    fn agree(
        &self,
        peer: &CurvePublicKey,
        ours: &CurveSecretKey,
    ) -> Result<Box<dyn PrecomputedBox>, Error>;
}

/// An XSalsa20-Poly1305 key in use: detached seal and open in place. An implementation holds key
/// material and must wipe it when dropped ([`SystemCrypto`]'s boxes hold a
/// `salsa_simd::XSalsa20Poly1305Key`, whose `Drop` zeroizes it).
pub(crate) trait PrecomputedBox: Send + Sync + fmt::Debug {
    /// Encrypts `buf` in place and returns its tag.
    fn seal(&self, nonce: &[u8; 24], buf: &mut [u8]) -> Result<Tag, Error>;
    /// Checks `tag` and decrypts `buf` in place. On failure `buf` is left as it was and the
    /// error is `Cryptographic`.
    fn open(&self, nonce: &[u8; 24], buf: &mut [u8], tag: &Tag) -> Result<(), Error>;
}

fn cryptographic() -> Error {
    ProtocolError::Cryptographic.into()
}

/// Fills `buf` from the operating system's generator.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<(), Error> {
    OsRng
        .try_fill_bytes(buf)
        .map_err(|_| Error::Io("the system random number generator failed".into()))
}

#[cfg(test)]
thread_local! {
    /// X25519 multiplications done on this thread (tests count them per handshake).
    static X25519_DONE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How many X25519 multiplications this thread has done so far (tests only).
#[cfg(test)]
pub(crate) fn x25519_done() -> usize {
    X25519_DONE.with(|n| n.get())
}

fn count_x25519() {
    #[cfg(test)]
    X25519_DONE.with(|n| n.set(n.get() + 1));
}

/// X25519(`ours`, `peer`) with RFC 7748's clamped (unreduced) scalar, exactly as libsodium's
/// `crypto_scalarmult` computes it. The result is wiped on drop.
fn x25519(peer: &CurvePublicKey, ours: &CurveSecretKey) -> Zeroizing<MontgomeryPoint> {
    count_x25519();
    // Unavoidable copy: `mul_clamped` takes the secret by value and builds a `Scalar` from it
    // inside curve25519-dalek, which does not wipe it (its API offers no by-reference form).
    Zeroizing::new(MontgomeryPoint(*peer.as_bytes()).mul_clamped(*ours.expose()))
}

/// X25519(`secret`, 9): the public key of `secret`.
pub(crate) fn x25519_base(secret: &[u8; 32]) -> [u8; 32] {
    count_x25519();
    // Unavoidable copy, as in `x25519`: curve25519-dalek takes the secret by value.
    MontgomeryPoint::mul_base_clamped(*secret).to_bytes()
}

/// An XSalsa20-Poly1305 key (salsa-simd) as a [`PrecomputedBox`].
struct SalsaBox(XSalsa20Poly1305Key);

impl fmt::Debug for SalsaBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrecomputedBox(<redacted>)")
    }
}

impl PrecomputedBox for SalsaBox {
    fn seal(&self, nonce: &[u8; 24], buf: &mut [u8]) -> Result<Tag, Error> {
        Ok(self.0.seal_in_place_detached(nonce, buf))
    }

    fn open(&self, nonce: &[u8; 24], buf: &mut [u8], tag: &Tag) -> Result<(), Error> {
        // The MAC is checked (in constant time) before a byte of `buf` changes.
        self.0
            .open_in_place_detached(nonce, buf, tag)
            .map_err(|_| cryptographic())
    }
}

/// Builds a cookie box from a 32-octet key.
pub(crate) fn cookie_box_from_key(key: &[u8; 32]) -> Box<dyn PrecomputedBox> {
    Box::new(SalsaBox(XSalsa20Poly1305Key::new(key)))
}

/// Agrees a box key the way libsodium's `crypto_box_beforenm` does: one X25519, refused when the
/// shared secret is all zeros (RustCrypto's `crypto_box` does not check; libsodium does), then
/// HSalsa20 of it with a zero nonce as the XSalsa20-Poly1305 key.
pub(crate) fn agree_box(
    peer: &CurvePublicKey,
    ours: &CurveSecretKey,
) -> Result<Box<dyn PrecomputedBox>, Error> {
    let shared = x25519(peer, ours);
    if bool::from(shared.0.ct_eq(&[0u8; 32])) {
        return Err(cryptographic());
    }
    // HSalsa20 returns its key by value; it goes straight into wiped memory.
    let key = Zeroizing::new(hsalsa20(&shared.0, &[0u8; 16]));
    // Every box after this is symmetric; the box keeps its own copy of the key and wipes it.
    Ok(Box::new(SalsaBox(XSalsa20Poly1305Key::new(&key))))
}

/// The operating system's randomness and salsa-simd's XSalsa20-Poly1305.
#[derive(Debug, Default)]
pub(crate) struct SystemCrypto;

impl CurveCrypto for SystemCrypto {
    fn transient_key_pair(&self) -> Result<CurveKeyPair, Error> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        fill_random(&mut bytes[..])?;
        Ok(CurveKeyPair::from_secret(CurveSecretKey::from_generated(
            &bytes,
        )))
    }

    fn long_nonce(&self, _purpose: LongNonce) -> Result<[u8; 16], Error> {
        let mut nonce = [0u8; 16];
        fill_random(&mut nonce)?;
        Ok(nonce)
    }

    fn cookie_box(&self) -> Result<Box<dyn PrecomputedBox>, Error> {
        let mut key = Zeroizing::new([0u8; 32]);
        fill_random(&mut key[..])?;
        Ok(cookie_box_from_key(&key))
    }

    fn agree(
        &self,
        peer: &CurvePublicKey,
        ours: &CurveSecretKey,
    ) -> Result<Box<dyn PrecomputedBox>, Error> {
        agree_box(peer, ours)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_order_points_give_a_zero_secret_and_are_refused() {
        let ours = CurveSecretKey::from_generated(&[7u8; 32]);
        // 0 and 1 are small-order u-coordinates; so is this order-8 point.
        let order8 =
            hex::decode("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")
                .unwrap();
        for bytes in [
            [0u8; 32],
            {
                let mut one = [0u8; 32];
                one[0] = 1;
                one
            },
            order8.try_into().unwrap(),
        ] {
            let peer = CurvePublicKey::from_wire(bytes);
            assert_eq!(
                SystemCrypto.agree(&peer, &ours).unwrap_err(),
                Error::Protocol(ProtocolError::Cryptographic)
            );
        }
    }

    #[test]
    fn seal_then_open_and_tamper() {
        let a = CurveSecretKey::from_generated(&[1u8; 32]);
        let b = CurveSecretKey::from_generated(&[2u8; 32]);
        let ab = SystemCrypto.agree(&b.public_key(), &a).unwrap();
        let ba = SystemCrypto.agree(&a.public_key(), &b).unwrap();
        let nonce = [9u8; 24];
        let mut buf = *b"attack at dawn";
        let tag = ab.seal(&nonce, &mut buf).unwrap();
        let sealed = buf;
        let mut bad = tag;
        bad[3] ^= 1;
        assert!(ba.open(&nonce, &mut buf, &bad).is_err());
        assert_eq!(buf, sealed, "a failed open leaves the buffer alone");
        ba.open(&nonce, &mut buf, &tag).unwrap();
        assert_eq!(&buf, b"attack at dawn");
        assert_eq!(format!("{ab:?}"), "PrecomputedBox(<redacted>)");
    }

    /// The boxes and the box key are byte for byte those of RustCrypto's crypto_secretbox (what
    /// this file used before salsa-simd): `Kdf` for HSalsa20, `XSalsa20Poly1305` for the boxes.
    #[test]
    fn boxes_match_crypto_secretbox() {
        use crypto_secretbox::aead::generic_array::GenericArray;
        use crypto_secretbox::aead::{AeadInPlace, KeyInit};
        use crypto_secretbox::{Kdf, XSalsa20Poly1305};

        let a = CurveSecretKey::from_generated(&[3u8; 32]);
        let b = CurveSecretKey::from_generated(&[4u8; 32]);
        let shared = x25519(&b.public_key(), &a);
        let key = <XSalsa20Poly1305 as Kdf>::kdf(
            GenericArray::from_slice(&shared.0),
            &GenericArray::default(),
        );
        assert_eq!(key[..], hsalsa20(&shared.0, &[0u8; 16])[..]);
        let reference = XSalsa20Poly1305::new(&key);
        let ours = agree_box(&b.public_key(), &a).unwrap();
        let cookie_key = [0x77u8; 32];
        let cookie_reference = XSalsa20Poly1305::new(GenericArray::from_slice(&cookie_key));
        let cookie = cookie_box_from_key(&cookie_key);
        for len in [0usize, 1, 32, 33, 64, 200, 1500, 70_000] {
            let message: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            let nonce = [len as u8; 24];
            for (ours, reference) in [(&ours, &reference), (&cookie, &cookie_reference)] {
                let mut expected = message.clone();
                let expected_tag = reference
                    .encrypt_in_place_detached(GenericArray::from_slice(&nonce), b"", &mut expected)
                    .unwrap();
                let mut buf = message.clone();
                let tag = ours.seal(&nonce, &mut buf).unwrap();
                assert_eq!(tag[..], expected_tag[..], "{len} octets");
                assert!(buf == expected, "{len} octets");
                ours.open(&nonce, &mut buf, &tag).unwrap();
                assert!(buf == message);
            }
        }
    }
}
