//! Multipart messages and the connection properties they carry.

use std::sync::Arc;

use bytes::Bytes;
use zmtp_core::{Metadata, Parts};

/// A multipart message. Received messages carry their connection's properties (Peer-Address,
/// User-Id and ZAP metadata, Socket-Type, Identity, …).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    // One or two parts are kept inline: the common message allocates nothing of its own.
    parts: Parts,
    properties: Option<Arc<Metadata>>,
}

impl Message {
    /// A message from its parts.
    pub fn new(parts: Vec<Bytes>) -> Message {
        Message {
            parts: Parts::from_vec(parts),
            properties: None,
        }
    }

    /// A message of one part.
    pub fn single(part: impl Into<Bytes>) -> Message {
        Message {
            parts: smallvec::smallvec![part.into()],
            properties: None,
        }
    }

    pub(crate) fn with_properties(parts: Parts, properties: Arc<Metadata>) -> Message {
        Message {
            parts,
            properties: Some(properties),
        }
    }

    /// The parts.
    pub fn parts(&self) -> &[Bytes] {
        &self.parts
    }

    /// Takes the parts.
    pub fn into_parts(self) -> Vec<Bytes> {
        self.parts.into_vec()
    }

    /// Takes the parts as they are kept (no allocation for one or two).
    pub(crate) fn into_frames(self) -> Parts {
        self.parts
    }

    /// Number of parts.
    pub fn len(&self) -> usize {
        self.parts.len()
    }

    /// Whether there are no parts.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Adds a part at the end.
    pub fn push(&mut self, part: impl Into<Bytes>) {
        self.parts.push(part.into());
    }

    /// Adds a part at the front (e.g. a routing id).
    pub fn push_front(&mut self, part: impl Into<Bytes>) {
        self.parts.insert(0, part.into());
    }

    /// A connection property as UTF-8 (`zmq_msg_gets`): "Peer-Address", "User-Id", …
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.as_ref()?.get_str(name)
    }

    /// All connection properties, in lookup order.
    pub fn properties(&self) -> Option<&Metadata> {
        self.properties.as_deref()
    }
}

impl From<Vec<Bytes>> for Message {
    fn from(parts: Vec<Bytes>) -> Self {
        Message::new(parts)
    }
}

impl From<Bytes> for Message {
    fn from(part: Bytes) -> Self {
        Message::single(part)
    }
}

impl From<&str> for Message {
    fn from(part: &str) -> Self {
        Message::single(Bytes::copy_from_slice(part.as_bytes()))
    }
}

impl From<Vec<u8>> for Message {
    fn from(part: Vec<u8>) -> Self {
        Message::single(part)
    }
}

impl<const N: usize> From<[&str; N]> for Message {
    fn from(parts: [&str; N]) -> Self {
        parts
            .iter()
            .map(|p| Bytes::copy_from_slice(p.as_bytes()))
            .collect()
    }
}

impl From<Vec<Vec<u8>>> for Message {
    fn from(parts: Vec<Vec<u8>>) -> Self {
        parts.into_iter().map(Bytes::from).collect()
    }
}

impl FromIterator<Bytes> for Message {
    fn from_iter<I: IntoIterator<Item = Bytes>>(parts: I) -> Self {
        Message {
            parts: parts.into_iter().collect(),
            properties: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_or_two_parts_are_kept_inline_and_more_spill() {
        assert!(!Message::from("x").parts.spilled());
        assert!(!Message::from(Bytes::from_static(b"x")).parts.spilled());
        assert!(!Message::from(["", "body"]).parts.spilled());
        let three = Message::from(["a", "b", "c"]);
        assert!(three.parts.spilled());
        assert_eq!(
            three.into_parts(),
            vec![Bytes::from("a"), "b".into(), "c".into()]
        );
    }

    #[test]
    fn parts_keep_their_order_however_they_are_built() {
        let mut m = Message::new(vec![Bytes::from("b")]);
        m.push("c");
        m.push_front("a");
        assert_eq!(m.parts(), ["a", "b", "c"].map(Bytes::from));
        let collected: Message = m.parts().iter().cloned().collect();
        assert_eq!(collected, m);
    }
}
