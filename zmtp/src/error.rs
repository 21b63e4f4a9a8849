//! Errors of the socket API.

use crate::endpoint::EndpointError;

/// What a socket operation can fail with.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// The endpoint does not parse.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// Binding or another socket-level I/O operation failed.
    #[error("{endpoint}: {source}")]
    Io {
        /// The endpoint concerned.
        endpoint: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// This socket type cannot do that (e.g. `send` on PULL).
    #[error("{socket_type} sockets cannot {operation}")]
    Unsupported {
        /// The socket type.
        socket_type: &'static str,
        /// The operation.
        operation: &'static str,
    },
    /// A message that the pattern cannot route (e.g. a ROUTER message without a routing id).
    #[error("cannot route message: {0}")]
    Unroutable(&'static str),
    /// The socket's pattern refuses this now: REQ sending again before the reply, receiving
    /// before sending, REP receiving while it owes a reply (libzmq's `EFSM`), and the like.
    #[error(transparent)]
    Pattern(#[from] zmtp_core::pattern::PatternError),
    /// `ZMQ_ROUTER_MANDATORY`: no peer has that routing id.
    #[error("no peer with that routing id")]
    HostUnreachable,
    /// The socket was closed.
    #[error("socket closed")]
    Closed,
    /// A configuration value is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A timed operation ran out of time.
    #[error("timed out")]
    Timeout,
    /// `unbind` of an endpoint this socket has not bound (libzmq's `ENOENT`). After a bind
    /// with a `*` host or port, only the endpoint `bind` returned names it (zmq_unbind(3)).
    #[error("{endpoint} is not bound (after a * bind, unbind the endpoint bind returned)")]
    NotBound {
        /// The endpoint asked for.
        endpoint: String,
    },
    /// `disconnect` of an endpoint this socket has not connected (libzmq's `ENOENT`).
    #[error("{endpoint} is not connected")]
    NotConnected {
        /// The endpoint asked for.
        endpoint: String,
    },
    /// An operation this transport does not offer yet (`unbind`/`disconnect` of `inproc://`).
    #[error("{operation} is not supported for {endpoint}")]
    TransportUnsupported {
        /// The endpoint asked for.
        endpoint: String,
        /// The operation.
        operation: &'static str,
    },
}
