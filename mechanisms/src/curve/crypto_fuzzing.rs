//! A provider for fuzz targets (cargo feature `fuzzing`): boxes are the identity and every tag
//! is accepted, so a fuzzer can reach the code behind each MAC check. Never enabled in a build
//! that talks to a real peer.

use zmtp_core::Error;

use super::crypto::{CurveCrypto, LongNonce, PrecomputedBox, Tag};
use super::keys::{CurveKeyPair, CurvePublicKey, CurveSecretKey};

/// Plaintext in, plaintext out; tags are zero and never checked.
#[derive(Debug)]
pub(crate) struct NullBox;

impl PrecomputedBox for NullBox {
    fn seal(&self, _nonce: &[u8; 24], _buf: &mut [u8]) -> Result<Tag, Error> {
        Ok([0; 16])
    }

    fn open(&self, _nonce: &[u8; 24], _buf: &mut [u8], _tag: &Tag) -> Result<(), Error> {
        Ok(())
    }
}

/// Fixed keys and nonces, [`NullBox`] everywhere, no weak-key check.
#[derive(Debug)]
pub(crate) struct NullCrypto;

impl CurveCrypto for NullCrypto {
    fn transient_key_pair(&self) -> Result<CurveKeyPair, Error> {
        Ok(CurveKeyPair::from_secret(CurveSecretKey::from_generated(
            &[0x11; 32],
        )))
    }

    fn long_nonce(&self, _purpose: LongNonce) -> Result<[u8; 16], Error> {
        Ok([0x22; 16])
    }

    fn cookie_box(&self) -> Result<Box<dyn PrecomputedBox>, Error> {
        Ok(Box::new(NullBox))
    }

    fn agree(
        &self,
        _peer: &CurvePublicKey,
        _ours: &CurveSecretKey,
    ) -> Result<Box<dyn PrecomputedBox>, Error> {
        Ok(Box::new(NullBox))
    }
}
