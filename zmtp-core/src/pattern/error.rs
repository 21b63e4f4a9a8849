//! What a socket's pattern refuses to do, one variant per cause.

use std::fmt;

use bytes::Bytes;

use crate::SocketType;

/// A socket operation, for [`PatternError::Unsupported`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Sending a message.
    Send,
    /// Receiving a message.
    Receive,
    /// Changing subscriptions.
    Subscribe,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Send => "send",
            Operation::Receive => "receive",
            Operation::Subscribe => "subscribe",
        })
    }
}

/// The application (or the socket driving a policy) asked for something the pattern forbids.
/// Never caused by a peer: what a peer gets wrong is dropped, not reported.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// REQ: a request was sent and its reply not yet received (RFC 28: REQ "SHALL send and
    /// then receive exactly one message at a time"). libzmq: `EFSM`. Not raised with
    /// `relaxed`, which abandons the old request instead.
    #[error("REQ is awaiting a reply and cannot send another request")]
    AwaitingReply,
    /// REQ: receive without a request in flight (before the first send, or after the reply was
    /// taken). libzmq: `EFSM`.
    #[error("REQ has no request in flight, so there is no reply to receive")]
    NoRequestSent,
    /// REP: send before a request was received (or a second reply to one request).
    /// libzmq: `EFSM`.
    #[error("REP has received no request to reply to")]
    NoRequestReceived,
    /// REP: receive while the reply to the previous request is still owed (RFC 28: REP "SHALL
    /// receive and then send exactly one message at a time"). libzmq: `EFSM`.
    #[error("REP owes a reply to the previous request")]
    ReplyOwed,
    /// A message with no parts: every pattern needs at least one frame.
    #[error("a message needs at least one part")]
    EmptyMessage,
    /// ROUTER: a message needs a routing id frame followed by at least one body frame
    /// (libzmq silently drops a lone routing id frame; we say so).
    #[error("a ROUTER message needs a routing id frame and a body")]
    MissingRoutingId,
    /// ROUTER with `mandatory`: no peer has this routing id. libzmq: `EHOSTUNREACH`.
    #[error("no peer with routing id {routing_id:?}")]
    HostUnreachable {
        /// The routing id the message asked for.
        routing_id: Bytes,
    },
    /// The socket type never does this (PUSH and PUB receive nothing, PULL and SUB send
    /// nothing, only SUB/XSUB subscribe). libzmq: `ENOTSUP`.
    #[error("{socket_type:?} sockets cannot {operation}")]
    Unsupported {
        /// The socket type.
        socket_type: SocketType,
        /// What was asked of it.
        operation: Operation,
    },
    /// XPUB manual mode: a subscription for "the last peer that subscribed" when there is none
    /// (no notification read yet, or that peer left). libzmq ignores it silently.
    #[error("no subscriber to apply a manual subscription to")]
    NoLastSubscriber,
    /// The socket confirmed where a message went ([`Req::sent_to`](super::Req::sent_to))
    /// without a message waiting for that confirmation. A bug in the socket, not the app.
    #[error("no message is waiting to be placed")]
    NoPendingSend,
    /// Our own subscriptions (SUB/XSUB, XPUB manual mode) went over a configured limit: the
    /// [`Error::LimitExceeded`](crate::Error::LimitExceeded) that
    /// [`SubscriptionIndex`](super::SubscriptionIndex) reported.
    #[error("subscription refused: {0}")]
    SubscriptionLimit(#[source] crate::Error),
}

impl PatternError {
    /// The `errno` name libzmq reports for the same situation.
    pub fn libzmq_errno(&self) -> &'static str {
        match self {
            PatternError::AwaitingReply
            | PatternError::NoRequestSent
            | PatternError::NoRequestReceived
            | PatternError::ReplyOwed => "EFSM",
            PatternError::HostUnreachable { .. } => "EHOSTUNREACH",
            PatternError::Unsupported { .. } => "ENOTSUP",
            PatternError::EmptyMessage
            | PatternError::MissingRoutingId
            | PatternError::NoLastSubscriber
            | PatternError::NoPendingSend
            | PatternError::SubscriptionLimit(_) => "EINVAL",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_fsm_error_maps_to_efsm() {
        assert_eq!(PatternError::AwaitingReply.libzmq_errno(), "EFSM");
        assert_eq!(PatternError::ReplyOwed.libzmq_errno(), "EFSM");
        assert_eq!(
            PatternError::HostUnreachable {
                routing_id: Bytes::from_static(b"A")
            }
            .libzmq_errno(),
            "EHOSTUNREACH"
        );
    }
}
