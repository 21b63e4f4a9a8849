//! One frame of a message, as the zmq crate's `Message` is.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use bytes::Bytes;
use zmtp_core::Metadata;

/// One frame (part) of a message: what [`Socket::send`](super::Socket::send) takes and
/// [`Socket::recv_msg`](super::Socket::recv_msg) returns. Derefs to its bytes.
///
/// A received frame knows whether more frames of the same message follow
/// ([`get_more`](Message::get_more)) and carries its connection's properties
/// ([`gets`](Message::gets)). The whole multipart message is [`crate::Message`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Message {
    data: Bytes,
    more: bool,
    properties: Option<Arc<Metadata>>,
}

impl Message {
    /// An empty frame.
    pub fn new() -> Message {
        Message::default()
    }

    /// A received frame.
    pub(crate) fn received(data: Bytes, more: bool, properties: Option<Arc<Metadata>>) -> Message {
        Message {
            data,
            more,
            properties,
        }
    }

    /// The frame as UTF-8, if it is.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.data).ok()
    }

    /// Whether more frames of the same message follow this received one (`ZMQ_MORE`).
    pub fn get_more(&self) -> bool {
        self.more
    }

    /// A property of the connection the frame came from (`zmq_msg_gets`): "Peer-Address",
    /// "Socket-Type", "User-Id", ZAP metadata, …
    pub fn gets(&self, property: &str) -> Option<&str> {
        self.properties.as_ref()?.get_str(property)
    }

    /// The bytes, without copying.
    pub fn into_bytes(self) -> Bytes {
        self.data
    }
}

impl Deref for Message {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.data
    }
}

impl AsRef<[u8]> for Message {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("data", &self.data)
            .field("more", &self.more)
            .finish_non_exhaustive()
    }
}

impl From<Bytes> for Message {
    fn from(data: Bytes) -> Message {
        Message {
            data,
            ..Message::default()
        }
    }
}

impl From<Vec<u8>> for Message {
    fn from(data: Vec<u8>) -> Message {
        Message::from(Bytes::from(data))
    }
}

impl From<&Vec<u8>> for Message {
    fn from(data: &Vec<u8>) -> Message {
        Message::from(Bytes::copy_from_slice(data))
    }
}

impl From<&[u8]> for Message {
    fn from(data: &[u8]) -> Message {
        Message::from(Bytes::copy_from_slice(data))
    }
}

impl<const N: usize> From<&[u8; N]> for Message {
    fn from(data: &[u8; N]) -> Message {
        Message::from(Bytes::copy_from_slice(data))
    }
}

impl<const N: usize> From<[u8; N]> for Message {
    fn from(data: [u8; N]) -> Message {
        Message::from(Bytes::copy_from_slice(&data))
    }
}

impl From<&str> for Message {
    fn from(data: &str) -> Message {
        Message::from(Bytes::copy_from_slice(data.as_bytes()))
    }
}

impl From<String> for Message {
    fn from(data: String) -> Message {
        Message::from(Bytes::from(data))
    }
}

impl From<&String> for Message {
    fn from(data: &String) -> Message {
        Message::from(data.as_str())
    }
}

impl From<&Message> for Message {
    fn from(message: &Message) -> Message {
        Message::from(message.data.clone())
    }
}

impl From<Message> for Bytes {
    fn from(message: Message) -> Bytes {
        message.data
    }
}
