//! The 64-octet ZMTP 3.x greeting (RFC 23 §"Version Negotiation", RFC 37).
//!
//! ```text
//! greeting  = signature version mechanism as-server filler
//! signature = %xFF padding %x7F          ; 10 octets
//! version   = %x03 %x01                  ; major, minor
//! mechanism = 20OCTET                    ; NUL-padded name
//! as-server = %x00 | %x01
//! filler    = 31%x00
//! ```
//!
//! [`GreetingDecoder`] consumes the peer's greeting one octet at a time if need be, and decides as
//! early as the octets allow: a ZMTP 1.0 peer is recognised at octet 1 or 10, an old major version
//! at octet 11.

use bytes::{Buf, BufMut, BytesMut};

use crate::error::ProtocolError;

/// Length of a ZMTP 3.x greeting.
pub const GREETING_LEN: usize = 64;

/// The major and minor version we announce: 3.1.
pub const OUR_VERSION: (u8, u8) = (3, 1);

/// A security mechanism name: 1-20 octets of `A-Z 0-9 - _ . +`, NUL-padded to 20 on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MechanismName([u8; 20]);

impl MechanismName {
    /// The NULL mechanism.
    pub const NULL: MechanismName = MechanismName::from_static("NULL");
    /// The PLAIN mechanism.
    pub const PLAIN: MechanismName = MechanismName::from_static("PLAIN");
    /// The CURVE mechanism.
    pub const CURVE: MechanismName = MechanismName::from_static("CURVE");

    /// Builds a name at compile time. Panics (at compile time in const contexts) on a name that
    /// is empty, longer than 20 octets or has characters outside `A-Z 0-9 - _ . +`.
    pub const fn from_static(name: &str) -> MechanismName {
        match Self::new(name) {
            Some(n) => n,
            None => panic!("invalid mechanism name"),
        }
    }

    /// Builds a name, or `None` if it is empty, longer than 20 octets or has characters outside
    /// the RFC 23 set (upper-case letters, digits, `-`, `_`, `.`, `+`).
    pub const fn new(name: &str) -> Option<MechanismName> {
        let bytes = name.as_bytes();
        if bytes.is_empty() || bytes.len() > 20 {
            return None;
        }
        let mut out = [0u8; 20];
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            let ok = c.is_ascii_uppercase()
                || c.is_ascii_digit()
                || c == b'-'
                || c == b'_'
                || c == b'.'
                || c == b'+';
            if !ok {
                return None;
            }
            out[i] = c;
            i += 1;
        }
        Some(MechanismName(out))
    }

    /// The 20 octets as they go on the wire.
    pub fn as_wire(&self) -> &[u8; 20] {
        &self.0
    }

    /// The name without its NUL padding (lossy for bytes that are not UTF-8).
    pub fn as_str_lossy(&self) -> String {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(20);
        String::from_utf8_lossy(&self.0[..end]).into_owned()
    }
}

impl std::fmt::Debug for MechanismName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MechanismName({:?})", self.as_str_lossy())
    }
}

impl std::fmt::Display for MechanismName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.as_str_lossy())
    }
}

/// A decoded greeting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Greeting {
    /// Major version: 3 or higher for every greeting we accept (a later major is read as 3.x,
    /// as libzmq does).
    pub major: u8,
    /// Minor version: 0 for ZMTP 3.0, 1 for 3.1; higher minors are treated as 3.1.
    pub minor: u8,
    /// The 20 mechanism octets exactly as received.
    pub mechanism: [u8; 20],
    /// The as-server octet. libzmq always sends 0 and ignores it (roles come from options).
    pub as_server: bool,
}

impl Greeting {
    /// The greeting we send for `mechanism`.
    pub fn ours(mechanism: MechanismName, as_server: bool) -> Greeting {
        Greeting {
            major: OUR_VERSION.0,
            minor: OUR_VERSION.1,
            mechanism: *mechanism.as_wire(),
            as_server,
        }
    }

    /// Writes the 64 octets. Padding is zero and octet 9 is `0x7F`.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u8(0xFF);
        out.put_bytes(0, 8);
        out.put_u8(0x7F);
        out.put_u8(self.major);
        out.put_u8(self.minor);
        out.put_slice(&self.mechanism);
        out.put_u8(u8::from(self.as_server));
        out.put_bytes(0, 31);
    }

    /// Whether the peer speaks ZMTP 3.1 or later (PING/PONG, SUBSCRIBE/CANCEL commands).
    pub fn is_3_1(&self) -> bool {
        self.minor >= 1
    }
}

/// Incremental greeting decoder; survives any split of the 64 octets.
#[derive(Debug)]
pub struct GreetingDecoder {
    buf: [u8; GREETING_LEN],
    have: usize,
}

impl Default for GreetingDecoder {
    fn default() -> Self {
        GreetingDecoder {
            buf: [0; GREETING_LEN],
            have: 0,
        }
    }
}

impl GreetingDecoder {
    /// A decoder that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many octets have been consumed so far.
    pub fn consumed(&self) -> usize {
        self.have
    }

    /// Consumes greeting octets from the front of `src` (never more than the greeting's 64) and
    /// returns the greeting once complete. Bytes after the greeting are left in `src`.
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Greeting>, ProtocolError> {
        while self.have < GREETING_LEN && src.has_remaining() {
            let b = src.get_u8();
            let at = self.have;
            self.buf[at] = b;
            self.have += 1;
            match at {
                // RFC 23: "signature = %xFF padding %x7F". A first octet other than 0xFF is a
                // ZMTP 1.0 length prefix.
                0 if b != 0xFF => return Err(ProtocolError::BadSignature),
                // Padding (octets 1-8) is never validated: libzmq puts the routing-id length
                // there. Octet 9 needs bit 0 set, or the peer is ZMTP 1.0.
                9 if b & 0x01 == 0 => return Err(ProtocolError::BadSignature),
                // Octet 11 (index 10) is the major version: the decision point.
                10 if b < 3 => return Err(ProtocolError::UnsupportedVersion { major: b }),
                _ => {}
            }
        }
        if self.have < GREETING_LEN {
            return Ok(None);
        }
        let mut mechanism = [0u8; 20];
        mechanism.copy_from_slice(&self.buf[12..32]);
        Ok(Some(Greeting {
            major: self.buf[10],
            minor: self.buf[11],
            mechanism,
            // The as-server octet is informational here; roles come from configuration.
            as_server: self.buf[32] == 1,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn libzmq_style_greeting(minor: u8, mechanism: &str) -> Vec<u8> {
        // libzmq puts non-zero padding in octets 1-8 (routing-id length + 1, big-endian).
        let mut g = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, minor];
        let mut m = [0u8; 20];
        m[..mechanism.len()].copy_from_slice(mechanism.as_bytes());
        g.extend_from_slice(&m);
        g.push(0);
        g.extend_from_slice(&[0u8; 31]);
        g
    }

    #[test]
    fn our_greeting_is_byte_exact() {
        let mut out = BytesMut::new();
        Greeting::ours(MechanismName::NULL, false).encode(&mut out);
        let mut expected = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0x7F, 3, 1];
        expected.extend_from_slice(b"NULL");
        expected.extend_from_slice(&[0u8; 16]);
        expected.push(0);
        expected.extend_from_slice(&[0u8; 31]);
        assert_eq!(&out[..], &expected[..]);
        assert_eq!(out.len(), GREETING_LEN);
    }

    #[test]
    fn greeting_decodes_in_every_split() {
        let wire = libzmq_style_greeting(1, "CURVE");
        for split in 0..=wire.len() {
            let mut d = GreetingDecoder::new();
            let mut a = BytesMut::from(&wire[..split]);
            let first = d.decode(&mut a).unwrap();
            assert!(a.is_empty());
            let mut b = BytesMut::from(&wire[split..]);
            b.extend_from_slice(b"tail");
            let g = match first {
                Some(g) => g,
                None => d.decode(&mut b).unwrap().expect("complete"),
            };
            assert_eq!((g.major, g.minor), (3, 1));
            assert_eq!(&g.mechanism[..5], b"CURVE");
            assert!(g.mechanism[5..].iter().all(|&b| b == 0));
            if split < wire.len() {
                assert_eq!(&b[..], b"tail", "bytes after the greeting stay buffered");
            }
        }
    }

    #[test]
    fn greeting_decodes_one_byte_at_a_time() {
        let wire = libzmq_style_greeting(0, "NULL");
        let mut d = GreetingDecoder::new();
        let mut result = None;
        for (i, &b) in wire.iter().enumerate() {
            let mut one = BytesMut::from(&[b][..]);
            let r = d.decode(&mut one).unwrap();
            if i + 1 < wire.len() {
                assert!(r.is_none());
            } else {
                result = r;
            }
        }
        let g = result.unwrap();
        assert!(!g.is_3_1());
    }

    #[test]
    fn zmtp_1_0_is_refused_at_first_octet() {
        let mut d = GreetingDecoder::new();
        let mut src = BytesMut::from(&[0x05u8, 0x00, b'h', b'i'][..]);
        assert_eq!(d.decode(&mut src), Err(ProtocolError::BadSignature));
        assert_eq!(d.consumed(), 1);
    }

    #[test]
    fn octet_nine_without_bit_zero_is_refused() {
        let mut wire = libzmq_style_greeting(1, "NULL");
        wire[9] = 0x7E;
        let mut d = GreetingDecoder::new();
        assert_eq!(
            d.decode(&mut BytesMut::from(&wire[..])),
            Err(ProtocolError::BadSignature)
        );
        assert_eq!(d.consumed(), 10);
    }

    #[test]
    fn zmtp_2_is_refused_at_octet_eleven() {
        let mut wire = libzmq_style_greeting(1, "NULL");
        wire[10] = 1; // ZMTP 2.0 announces major revision 1
        let mut d = GreetingDecoder::new();
        assert_eq!(
            d.decode(&mut BytesMut::from(&wire[..])),
            Err(ProtocolError::UnsupportedVersion { major: 1 })
        );
        assert_eq!(d.consumed(), 11);
    }

    #[test]
    fn later_minor_versions_are_accepted() {
        let mut d = GreetingDecoder::new();
        let g = d
            .decode(&mut BytesMut::from(&libzmq_style_greeting(7, "NULL")[..]))
            .unwrap()
            .unwrap();
        assert!(g.is_3_1());
    }

    #[test]
    fn padding_is_not_validated() {
        let mut wire = libzmq_style_greeting(1, "NULL");
        wire[1..9].copy_from_slice(&[0xAA; 8]);
        wire[33..].fill(0x55);
        let mut d = GreetingDecoder::new();
        assert!(d.decode(&mut BytesMut::from(&wire[..])).unwrap().is_some());
    }

    #[test]
    fn mechanism_names_are_validated() {
        assert!(MechanismName::new("CURVE").is_some());
        assert!(MechanismName::new("").is_none());
        assert!(MechanismName::new("curve").is_none());
        assert!(MechanismName::new("ABCDEFGHIJKLMNOPQRSTU").is_none());
        assert_eq!(MechanismName::PLAIN.as_str_lossy(), "PLAIN");
    }
}
