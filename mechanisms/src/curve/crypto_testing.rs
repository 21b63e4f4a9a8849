//! A provider whose "random" values are fixed, so a handshake can be replayed byte for byte
//! against known answers. Reached only through the `*_for_testing_only` constructors: a server
//! that reuses its transient key and nonces gives away the forward secrecy CURVE exists for.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};
use zmtp_core::Error;

use super::crypto::{agree_box, cookie_box_from_key, CurveCrypto, LongNonce, PrecomputedBox};
use super::keys::{CurveKeyPair, CurvePublicKey, CurveSecretKey};

/// The values a real provider would draw at random, pinned for tests. **Never use outside
/// tests**: every connection made with them shares its transient key and nonces.
///
/// A client uses `transient_secret` (c') and `vouch_nonce`; a server uses `transient_secret` (s'),
/// `cookie_key`, `welcome_nonce` and `cookie_nonce`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct CurveTestEphemerals {
    /// The transient secret key: c' for a client, s' for a server.
    pub transient_secret: [u8; 32],
    /// The server's cookie key.
    pub cookie_key: [u8; 32],
    /// WELCOME's long nonce (after `WELCOME-`).
    pub welcome_nonce: [u8; 16],
    /// The cookie's long nonce (after `COOKIE--`).
    pub cookie_nonce: [u8; 16],
    /// The vouch's long nonce (after `VOUCH---`).
    pub vouch_nonce: [u8; 16],
}

impl fmt::Debug for CurveTestEphemerals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CurveTestEphemerals(<redacted>)")
    }
}

/// Real boxes, fixed randomness.
pub(crate) struct FixedCrypto(pub(crate) CurveTestEphemerals);

impl fmt::Debug for FixedCrypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FixedCrypto(<testing only>)")
    }
}

impl CurveCrypto for FixedCrypto {
    fn transient_key_pair(&self) -> Result<CurveKeyPair, Error> {
        Ok(CurveKeyPair::from_secret(CurveSecretKey::from_generated(
            &self.0.transient_secret,
        )))
    }

    fn long_nonce(&self, purpose: LongNonce) -> Result<[u8; 16], Error> {
        Ok(match purpose {
            LongNonce::Welcome => self.0.welcome_nonce,
            LongNonce::Cookie => self.0.cookie_nonce,
            LongNonce::Vouch => self.0.vouch_nonce,
        })
    }

    fn cookie_box(&self) -> Result<Box<dyn PrecomputedBox>, Error> {
        Ok(cookie_box_from_key(&self.0.cookie_key))
    }

    fn agree(
        &self,
        peer: &CurvePublicKey,
        ours: &CurveSecretKey,
    ) -> Result<Box<dyn PrecomputedBox>, Error> {
        agree_box(peer, ours)
    }
}
