//! CURVE keys on the API: 32 raw octets or 40 Z85 characters (RFC 32), checked when they are set.

use std::fmt;
use std::str::FromStr;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::ConfigError;

/// Parses the forms libzmq's `zmq_setsockopt` takes for a key: 32 raw octets, 40 Z85
/// characters, or 41 with a trailing NUL.
fn key_from_option_bytes(bytes: &[u8]) -> Result<Zeroizing<[u8; 32]>, ConfigError> {
    match bytes.len() {
        32 => {
            let mut key = Zeroizing::new([0u8; 32]);
            key.copy_from_slice(bytes);
            Ok(key)
        }
        40 => decode_z85(bytes),
        41 if bytes[40] == 0 => decode_z85(&bytes[..40]),
        len => Err(ConfigError::KeyLength { len }),
    }
}

/// Decodes 40 Z85 characters straight into wiped memory (`z85_codec::decode_key` would return
/// the octets by value, a copy nobody wipes).
fn decode_z85(text: &[u8]) -> Result<Zeroizing<[u8; 32]>, ConfigError> {
    if text.len() != 40 {
        return Err(ConfigError::KeyLength { len: text.len() });
    }
    let mut key = Zeroizing::new([0u8; 32]);
    // On failure part of `key` may be written; it is wiped when dropped. (The decoder's
    // per-group arithmetic passes through a few registers or stack words we cannot reach.)
    z85_codec::decode_into(text, &mut key[..]).map_err(|_| ConfigError::KeyEncoding)?;
    Ok(key)
}

fn key_from_z85(text: &str) -> Result<Zeroizing<[u8; 32]>, ConfigError> {
    match text.len() {
        40 | 41 => key_from_option_bytes(text.as_bytes()),
        len => Err(ConfigError::KeyLength { len }),
    }
}

fn refuse_zero(key: &[u8; 32]) -> Result<(), ConfigError> {
    if bool::from(key.ct_eq(&[0u8; 32])) {
        return Err(ConfigError::ZeroKey);
    }
    Ok(())
}

/// A CURVE public key (a Curve25519 u-coordinate). Not secret: `Debug` and `Display` show Z85.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CurvePublicKey([u8; 32]);

impl CurvePublicKey {
    /// A key from its 32 octets. The all-zero key is refused.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<CurvePublicKey, ConfigError> {
        refuse_zero(&bytes)?;
        Ok(CurvePublicKey(bytes))
    }

    /// A key as libzmq's socket options take it: 32 raw octets, 40 Z85 characters, or 41 with a
    /// trailing NUL.
    pub fn from_option_bytes(bytes: &[u8]) -> Result<CurvePublicKey, ConfigError> {
        CurvePublicKey::from_bytes(*key_from_option_bytes(bytes)?)
    }

    /// A key from 40 Z85 characters (or 41 with a trailing NUL).
    pub fn from_z85(text: &str) -> Result<CurvePublicKey, ConfigError> {
        CurvePublicKey::from_bytes(*key_from_z85(text)?)
    }

    /// A key as a peer sent it, unchecked: a weak key is caught by the key agreement.
    pub(crate) fn from_wire(bytes: [u8; 32]) -> CurvePublicKey {
        CurvePublicKey(bytes)
    }

    /// The 32 octets.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 40-character Z85 text.
    pub fn to_z85(&self) -> String {
        z85_codec::encode_key(&self.0)
    }

    /// Constant-time equality (for comparisons inside the handshake).
    pub(crate) fn ct_eq(&self, other: &[u8]) -> bool {
        other.len() == 32 && bool::from(self.0.ct_eq(other))
    }
}

impl fmt::Debug for CurvePublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CurvePublicKey({})", self.to_z85())
    }
}

impl fmt::Display for CurvePublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_z85())
    }
}

impl FromStr for CurvePublicKey {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CurvePublicKey::from_z85(s)
    }
}

/// A CURVE secret key. Wiped from memory on drop; `Debug` never prints it.
///
/// The octets live in one heap allocation, so moving a key (into a configuration, out of a
/// function) moves a pointer and leaves no copy of the secret behind; a clone is a second
/// allocation, wiped on its own drop.
#[derive(Clone)]
pub struct CurveSecretKey(Box<Zeroizing<[u8; 32]>>);

impl CurveSecretKey {
    /// A copy of `bytes` in its own wiped allocation.
    fn boxed(bytes: &[u8; 32]) -> CurveSecretKey {
        let mut key = Box::new(Zeroizing::new([0u8; 32]));
        key.copy_from_slice(bytes);
        CurveSecretKey(key)
    }

    /// A key from its 32 octets. The all-zero key is refused. The argument is a copy this
    /// function wipes once the key holds it; the caller's own copy is the caller's to wipe
    /// ([`CurveSecretKey::from_option_bytes`] borrows instead).
    pub fn from_bytes(mut bytes: [u8; 32]) -> Result<CurveSecretKey, ConfigError> {
        let key = CurveSecretKey::boxed(&bytes);
        bytes.zeroize();
        refuse_zero(key.expose())?;
        Ok(key)
    }

    /// A key as libzmq's socket options take it: 32 raw octets, 40 Z85 characters, or 41 with a
    /// trailing NUL.
    pub fn from_option_bytes(bytes: &[u8]) -> Result<CurveSecretKey, ConfigError> {
        let key = key_from_option_bytes(bytes)?;
        refuse_zero(&key)?;
        Ok(CurveSecretKey::boxed(&key))
    }

    /// A key from 40 Z85 characters (or 41 with a trailing NUL).
    pub fn from_z85(text: &str) -> Result<CurveSecretKey, ConfigError> {
        let key = key_from_z85(text)?;
        refuse_zero(&key)?;
        Ok(CurveSecretKey::boxed(&key))
    }

    /// A key from a generator or a cookie, copied from the caller's buffer (which the caller
    /// wipes).
    pub(crate) fn from_generated(bytes: &[u8; 32]) -> CurveSecretKey {
        CurveSecretKey::boxed(bytes)
    }

    /// The public key: X25519(secret, 9), with the secret clamped as RFC 7748 says.
    pub fn public_key(&self) -> CurvePublicKey {
        CurvePublicKey(super::crypto::x25519_base(&self.0))
    }

    /// The secret octets. Handle with care.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 40-character Z85 text, in memory that is wiped on drop.
    pub fn to_z85(&self) -> Zeroizing<String> {
        // Encoded into wiped memory, then into a string whose capacity never needs to grow (a
        // reallocation would leave the old buffer behind unwiped).
        let mut text = Zeroizing::new([0u8; 40]);
        let written = z85_codec::encode_into(&self.0[..], &mut text[..]).unwrap_or_default();
        debug_assert_eq!(written, 40);
        let mut out = Zeroizing::new(String::with_capacity(40));
        out.extend(text.iter().map(|&b| char::from(b)));
        out
    }
}

impl fmt::Debug for CurveSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CurveSecretKey(<redacted>)")
    }
}

/// A long-term key pair (libzmq's `zmq_curve_keypair`).
#[derive(Clone, Debug)]
pub struct CurveKeyPair {
    /// The public half, to hand to peers.
    pub public: CurvePublicKey,
    /// The secret half.
    pub secret: CurveSecretKey,
}

impl CurveKeyPair {
    /// A fresh key pair from the operating system's random number generator.
    pub fn generate() -> Result<CurveKeyPair, ConfigError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        super::crypto::fill_random(&mut bytes[..]).map_err(|_| ConfigError::Random)?;
        let secret = CurveSecretKey::from_generated(&bytes);
        Ok(CurveKeyPair {
            public: secret.public_key(),
            secret,
        })
    }

    /// The pair for `secret`.
    pub fn from_secret(secret: CurveSecretKey) -> CurveKeyPair {
        CurveKeyPair {
            public: secret.public_key(),
            secret,
        }
    }
}
