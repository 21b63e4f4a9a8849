//! Typed refusals.

use thiserror::Error;

/// Why a message could not be sealed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SealError {
    /// More parts than [`Limits::max_parts`](crate::Limits).
    #[error("{parts} parts, at most {max} allowed")]
    TooManyParts {
        /// Parts given.
        parts: usize,
        /// The limit.
        max: usize,
    },
    /// Larger than [`Limits::max_size`](crate::Limits).
    #[error("{size} octets sealed, at most {max} allowed")]
    TooLarge {
        /// The envelope's size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// No epoch key yet (the publisher has not been given one).
    #[error("no epoch key yet")]
    NoKey,
    /// The sender's counter for this epoch is spent: the key must rotate first.
    #[error("the counter of epoch {epoch} is spent; rotate the key")]
    CounterSpent {
        /// The epoch.
        epoch: u64,
    },
    /// The AEAD refused (cannot happen for sizes within the limits).
    #[error("the cipher refused the message")]
    Cipher,
}

/// Why a received message was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenError {
    /// Too short for its own structure.
    #[error("truncated or malformed: {0}")]
    Truncated(&'static str),
    /// A version octet other than 1.
    #[error("unknown wire version {0}")]
    UnknownVersion(u8),
    /// A kind octet other than 0, 1 or 2.
    #[error("unknown message kind {0}")]
    UnknownKind(u8),
    /// Sealed for another group.
    #[error("sealed for another group")]
    WrongGroup,
    /// Sealed with an epoch key this member does not hold (too old, or not received yet).
    #[error("no key for epoch {epoch}")]
    UnknownEpoch {
        /// The epoch named in the header.
        epoch: u64,
    },
    /// The tag does not verify: altered, or sealed with another key.
    #[error("the message does not authenticate (altered or forged)")]
    Forged,
    /// The signature does not verify.
    #[error("the publisher signature does not verify")]
    BadSignature,
    /// Signed by a key that is not one of the group's publishers.
    #[error("signed by a key that is not a publisher of the group")]
    UntrustedSigner,
    /// Not signed, where the group requires signatures.
    #[error("not signed, and the group requires publisher signatures")]
    Unsigned,
    /// Sent in the clear, where the subscriber accepts only sealed messages.
    #[error("sent in the clear, and this subscriber accepts only sealed messages")]
    ClearRefused,
    /// A counter already seen from this sender in this epoch.
    #[error("replayed: counter {counter} of sender {sender:016x} was already seen")]
    Replayed {
        /// The sender id.
        sender: u64,
        /// The counter.
        counter: u64,
    },
    /// A counter older than the reordering window.
    #[error("counter {counter} of sender {sender:016x} is older than the window (oldest accepted {oldest})")]
    TooOld {
        /// The sender id.
        sender: u64,
        /// The counter.
        counter: u64,
        /// The oldest counter still accepted.
        oldest: u64,
    },
    /// More senders in one epoch than [`ReceiverConfig::max_senders`](crate::ReceiverConfig).
    #[error("more than {max} senders in one epoch")]
    TooManySenders {
        /// The limit.
        max: usize,
    },
    /// More parts than the limit.
    #[error("{parts} parts, at most {max} allowed")]
    TooManyParts {
        /// Parts claimed.
        parts: usize,
        /// The limit.
        max: usize,
    },
    /// Larger than the limit.
    #[error("{size} octets, at most {max} allowed")]
    TooLarge {
        /// The message's size.
        size: usize,
        /// The limit.
        max: usize,
    },
}

/// What the group layer's sockets and services report.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum GroupError {
    /// The socket underneath failed.
    #[error(transparent)]
    Socket(#[from] zmtp::SocketError),
    /// A received message was refused.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// A message could not be sealed.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// Connected to the coordinator, but no CURVE handshake completed in time. A coordinator
    /// silently drops a HELLO it cannot open, so this is what a wrong coordinator key looks
    /// like (or an endpoint that is not a coordinator at all).
    #[error(
        "connected to the coordinator, but no CURVE handshake completed within {waited:?} \
         (is the coordinator's public key the right one?)"
    )]
    HandshakeIncomplete {
        /// How long we waited.
        waited: std::time::Duration,
    },
    /// The coordinator refused a key.
    #[error("the coordinator denied the key: {0}")]
    Denied(String),
    /// No key for a message's epoch arrived in time.
    #[error("no key for epoch {epoch} arrived within {waited:?}")]
    KeyTimeout {
        /// The epoch.
        epoch: u64,
        /// How long we waited.
        waited: std::time::Duration,
    },
    /// The service's task has stopped.
    #[error("the group service has stopped")]
    Closed,
}
