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
}
