//! CURVE keys on the API: 32 raw octets or 40 Z85 characters (RFC 32), checked when they are set.

use std::fmt;
use std::str::FromStr;

use curve25519_dalek::montgomery::MontgomeryPoint;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::ConfigError;

// TEMPORARY: the workspace's `z85-codec` crate is still a placeholder. Until it exports
// `decode_key`/`encode_key`, this minimal RFC 32 codec for 32-octet keys stands in; then delete
// this module (and nothing else changes: the calls below use the same names).
mod z85_codec {
    /// RFC 32's alphabet: digit value = index.
    const ALPHABET: &[u8; 85] =
        b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

    /// 40 characters: each 4 octets (big-endian) become 5 base-85 digits, most significant first.
    pub(super) fn encode_key(key: &[u8; 32]) -> String {
        let mut out = String::with_capacity(40);
        for c in key.chunks_exact(4) {
            let mut value = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
            let mut digits = [0u8; 5];
            for d in digits.iter_mut().rev() {
                *d = ALPHABET[(value % 85) as usize];
                value /= 85;
            }
            out.extend(digits.iter().map(|&d| char::from(d)));
        }
        out
    }

    /// The inverse; refuses a length other than 40, a character outside the alphabet, and a
    /// 5-digit group above 2^32-1 (RFC 32).
    pub(super) fn decode_key(text: &str) -> Result<[u8; 32], ()> {
        let text = text.as_bytes();
        if text.len() != 40 {
            return Err(());
        }
        let mut key = [0u8; 32];
        for (group, out) in text.chunks_exact(5).zip(key.chunks_exact_mut(4)) {
            let mut value: u64 = 0;
            for &c in group {
                let digit = ALPHABET.iter().position(|&a| a == c).ok_or(())?;
                value = value * 85 + digit as u64;
            }
            let value = u32::try_from(value).map_err(|_| ())?;
            out.copy_from_slice(&value.to_be_bytes());
        }
        Ok(key)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn rfc_32_key_vectors() {
            for (hex_key, z85) in [
                (
                    "567d7b361dc9c682ac0693bf0b2afe9c60eeeeb5a0e8bd758376d4d573cdd612",
                    "r^/rM9M=rMToK)63O8dCvd9D<PY<7iGlC+{BiSnG",
                ),
                (
                    "4E6F87E2FB6EB22A1EF5E257B75D79124949565F0B8B36A878A4F03111C96E0B",
                    "ph+{E}!&X?9}!I]W{sm(nL8@&3Yu{wC+<*-5Y[[#",
                ),
            ] {
                let key: [u8; 32] = hex::decode(hex_key).unwrap().try_into().unwrap();
                assert_eq!(encode_key(&key), z85);
                assert_eq!(decode_key(z85), Ok(key));
            }
            assert_eq!(decode_key(&"%nSc0".repeat(8)), Ok([0xFF; 32]));
            assert!(decode_key(&"%nSc1".repeat(8)).is_err());
            assert!(decode_key(&"abc\"d".repeat(8)).is_err());
            assert!(decode_key("HelloWorld").is_err());
        }
    }
}

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

fn decode_z85(text: &[u8]) -> Result<Zeroizing<[u8; 32]>, ConfigError> {
    let text = std::str::from_utf8(text).map_err(|_| ConfigError::KeyEncoding)?;
    z85_codec::decode_key(text)
        .map(Zeroizing::new)
        .map_err(|_| ConfigError::KeyEncoding)
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
#[derive(Clone)]
pub struct CurveSecretKey(Zeroizing<[u8; 32]>);

impl CurveSecretKey {
    /// A key from its 32 octets. The all-zero key is refused.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<CurveSecretKey, ConfigError> {
        let key = Zeroizing::new(bytes);
        refuse_zero(&key)?;
        Ok(CurveSecretKey(key))
    }

    /// A key as libzmq's socket options take it: 32 raw octets, 40 Z85 characters, or 41 with a
    /// trailing NUL.
    pub fn from_option_bytes(bytes: &[u8]) -> Result<CurveSecretKey, ConfigError> {
        let key = key_from_option_bytes(bytes)?;
        refuse_zero(&key)?;
        Ok(CurveSecretKey(key))
    }

    /// A key from 40 Z85 characters (or 41 with a trailing NUL).
    pub fn from_z85(text: &str) -> Result<CurveSecretKey, ConfigError> {
        let key = key_from_z85(text)?;
        refuse_zero(&key)?;
        Ok(CurveSecretKey(key))
    }

    /// A key from a generator or a cookie (already held in wiped memory).
    pub(crate) fn from_generated(bytes: Zeroizing<[u8; 32]>) -> CurveSecretKey {
        CurveSecretKey(bytes)
    }

    /// The public key: X25519(secret, 9), with the secret clamped as RFC 7748 says.
    pub fn public_key(&self) -> CurvePublicKey {
        CurvePublicKey(MontgomeryPoint::mul_base_clamped(*self.0).to_bytes())
    }

    /// The secret octets. Handle with care.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 40-character Z85 text, in memory that is wiped on drop.
    pub fn to_z85(&self) -> Zeroizing<String> {
        Zeroizing::new(z85_codec::encode_key(&self.0))
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
        let secret = CurveSecretKey(bytes);
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
