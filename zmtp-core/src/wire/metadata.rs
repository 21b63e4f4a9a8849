//! Metadata: the property list carried by READY and INITIATE (RFC 23 §"The NULL Security
//! Mechanism", RFC 37) and by ZAP replies (RFC 27).
//!
//! ```text
//! metadata      = *property
//! property      = name value
//! name          = OCTET 1*255name-char        ; octet = length of name
//! name-char     = ALPHA | DIGIT | "-" | "_" | "." | "+"
//! value         = 4OCTET *OCTET               ; u32 big-endian length
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{Error, Limit, ProtocolError, UserError};

/// The property naming the sender's socket type.
pub const SOCKET_TYPE: &str = "Socket-Type";
/// The property carrying the sender's routing id.
pub const IDENTITY: &str = "Identity";
/// The property set from the ZAP reply's user id.
pub const USER_ID: &str = "User-Id";
/// The property holding the peer's IP address.
pub const PEER_ADDRESS: &str = "Peer-Address";

/// One property. Names are kept as sent; lookups ignore ASCII case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Property {
    /// The name (1-255 octets of `name-char`).
    pub name: String,
    /// The value (any octets).
    pub value: Bytes,
}

/// An ordered list of properties. The first property with a given name wins on lookup.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    properties: Vec<Property>,
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'+')
}

/// Whether `name` is a valid property name (1-255 octets of `name-char`).
pub fn valid_property_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && name.bytes().all(is_name_char)
}

impl Metadata {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a property. The name must be 1-255 octets of `A-Z a-z 0-9 - _ . +`.
    pub fn push(&mut self, name: &str, value: impl Into<Bytes>) -> Result<(), UserError> {
        if !valid_property_name(name) {
            return Err(UserError::BadName(name.to_owned()));
        }
        self.properties.push(Property {
            name: name.to_owned(),
            value: value.into(),
        });
        Ok(())
    }

    /// Builder form of [`Metadata::push`].
    pub fn with(mut self, name: &str, value: impl Into<Bytes>) -> Result<Self, UserError> {
        self.push(name, value)?;
        Ok(self)
    }

    /// The first value whose name matches `name` ignoring ASCII case.
    pub fn get(&self, name: &str) -> Option<&Bytes> {
        self.properties
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| &p.value)
    }

    /// The first value for `name` as UTF-8, if it is valid UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// All properties in order.
    pub fn iter(&self) -> impl Iterator<Item = &Property> {
        self.properties.iter()
    }

    /// Number of properties.
    pub fn len(&self) -> usize {
        self.properties.len()
    }

    /// Whether there are no properties.
    pub fn is_empty(&self) -> bool {
        self.properties.is_empty()
    }

    /// Appends every property of `other` after ours (ours win on lookup).
    pub fn extend(&mut self, other: &Metadata) {
        self.properties.extend(other.properties.iter().cloned());
    }

    /// Keeps only the properties for which `keep` returns true.
    pub fn retain(&mut self, mut keep: impl FnMut(&Property) -> bool) {
        self.properties.retain(|p| keep(p));
    }

    /// Octets this list takes on the wire.
    pub fn encoded_len(&self) -> usize {
        self.properties
            .iter()
            .map(|p| 1 + p.name.len() + 4 + p.value.len())
            .sum()
    }

    /// Writes the wire form.
    pub fn encode(&self, out: &mut impl BufMut) {
        for p in &self.properties {
            // Names were validated to 1-255 octets on the way in.
            out.put_u8(p.name.len() as u8);
            out.put_slice(p.name.as_bytes());
            out.put_u32(p.value.len() as u32);
            out.put_slice(&p.value);
        }
    }

    /// The wire form as bytes.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.encoded_len());
        self.encode(&mut out);
        out.freeze()
    }

    /// Parses a whole metadata block. Truncation, trailing octets, an empty or invalid name and
    /// a value longer than what remains are `InvalidMetadata`; more than `max_properties`
    /// properties is a limit error. Values are sliced from `src` without copying.
    pub fn decode(mut src: Bytes, max_properties: usize) -> Result<Metadata, Error> {
        let mut properties = Vec::new();
        while src.has_remaining() {
            if properties.len() == max_properties {
                return Err(Error::LimitExceeded {
                    what: Limit::MetadataProperties,
                    limit: max_properties as u64,
                    actual: max_properties as u64 + 1,
                });
            }
            let name_len = usize::from(src.get_u8());
            if name_len == 0 || src.remaining() < name_len {
                return Err(ProtocolError::InvalidMetadata.into());
            }
            let name = src.split_to(name_len);
            if !name.iter().all(|&c| is_name_char(c)) {
                return Err(ProtocolError::InvalidMetadata.into());
            }
            if src.remaining() < 4 {
                return Err(ProtocolError::InvalidMetadata.into());
            }
            let value_len = src.get_u32() as usize;
            if src.remaining() < value_len {
                return Err(ProtocolError::InvalidMetadata.into());
            }
            let value = src.split_to(value_len);
            properties.push(Property {
                // name-char is ASCII, so this cannot fail.
                name: String::from_utf8_lossy(&name).into_owned(),
                value,
            });
        }
        Ok(Metadata { properties })
    }
}

impl<'a> IntoIterator for &'a Metadata {
    type Item = &'a Property;
    type IntoIter = std::slice::Iter<'a, Property>;
    fn into_iter(self) -> Self::IntoIter {
        self.properties.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_byte_exact() {
        let m = Metadata::new()
            .with(SOCKET_TYPE, &b"DEALER"[..])
            .unwrap()
            .with(IDENTITY, Bytes::new())
            .unwrap();
        // The same octets as the INITIATE metadata plaintext in the CurveZMQ vectors.
        let expected = b"\x0bSocket-Type\x00\x00\x00\x06DEALER\x08Identity\x00\x00\x00\x00";
        assert_eq!(&m.to_bytes()[..], &expected[..]);
        assert_eq!(m.encoded_len(), expected.len());
        assert_eq!(Metadata::decode(m.to_bytes(), 16).unwrap(), m);
    }

    #[test]
    fn lookup_ignores_case_and_first_wins() {
        let m = Metadata::new()
            .with("User-Id", &b"alice"[..])
            .unwrap()
            .with("user-id", &b"mallory"[..])
            .unwrap();
        assert_eq!(m.get_str("USER-ID"), Some("alice"));
    }

    #[test]
    fn every_truncation_is_invalid_metadata() {
        let wire = Metadata::new()
            .with("Socket-Type", &b"ROUTER"[..])
            .unwrap()
            .to_bytes();
        for cut in 1..wire.len() {
            let err = Metadata::decode(wire.slice(..cut), 16).unwrap_err();
            assert_eq!(
                err,
                Error::Protocol(ProtocolError::InvalidMetadata),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn empty_name_and_bad_chars_are_refused() {
        assert!(Metadata::decode(Bytes::from_static(b"\x00\x00\x00\x00\x00"), 4).is_err());
        assert!(Metadata::decode(Bytes::from_static(b"\x02a b\x00\x00\x00\x00"), 4).is_err());
        assert!(Metadata::new().with("a b", Bytes::new()).is_err());
    }

    #[test]
    fn huge_value_length_is_refused_without_allocating() {
        let err = Metadata::decode(Bytes::from_static(b"\x01a\xff\xff\xff\xffxyz"), 4).unwrap_err();
        assert_eq!(err, Error::Protocol(ProtocolError::InvalidMetadata));
    }

    #[test]
    fn property_count_is_bounded() {
        let mut m = Metadata::new();
        for i in 0..5 {
            m.push(&format!("p{i}"), Bytes::new()).unwrap();
        }
        assert!(matches!(
            Metadata::decode(m.to_bytes(), 4),
            Err(Error::LimitExceeded {
                what: Limit::MetadataProperties,
                ..
            })
        ));
        assert_eq!(Metadata::decode(m.to_bytes(), 5).unwrap().len(), 5);
    }
}
