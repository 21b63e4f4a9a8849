//! Multipart messages and the connection properties they carry.

use std::sync::Arc;

use bytes::Bytes;
use zmtp_core::Metadata;

/// A multipart message. Received messages carry their connection's properties (Peer-Address,
/// User-Id and ZAP metadata, Socket-Type, Identity, …).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    parts: Vec<Bytes>,
    properties: Option<Arc<Metadata>>,
}

impl Message {
    /// A message from its parts.
    pub fn new(parts: Vec<Bytes>) -> Message {
        Message {
            parts,
            properties: None,
        }
    }

    pub(crate) fn with_properties(parts: Vec<Bytes>, properties: Arc<Metadata>) -> Message {
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
        Message::new(vec![part])
    }
}

impl From<&str> for Message {
    fn from(part: &str) -> Self {
        Message::new(vec![Bytes::copy_from_slice(part.as_bytes())])
    }
}

impl From<Vec<u8>> for Message {
    fn from(part: Vec<u8>) -> Self {
        Message::new(vec![Bytes::from(part)])
    }
}

impl<const N: usize> From<[&str; N]> for Message {
    fn from(parts: [&str; N]) -> Self {
        Message::new(
            parts
                .iter()
                .map(|p| Bytes::copy_from_slice(p.as_bytes()))
                .collect(),
        )
    }
}

impl From<Vec<Vec<u8>>> for Message {
    fn from(parts: Vec<Vec<u8>>) -> Self {
        Message::new(parts.into_iter().map(Bytes::from).collect())
    }
}
