//! What the blocking API fails with: the async socket's errors, plus the causes only a
//! blocking, option-by-option API has.

use zmtp_core::SocketType;
use zmtp_mechanisms::ConfigError;

use crate::SocketError;

/// What a blocking socket operation can fail with.
///
/// libzmq reports all of these through `errno`; each variant names the errno it stands for.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// [`DONTWAIT`](super::DONTWAIT), or a zero SNDTIMEO/RCVTIMEO: the operation would have had
    /// to wait (libzmq's `EAGAIN` in non-blocking mode). Nothing was sent or received.
    #[error("the operation would block")]
    WouldBlock,
    /// SNDTIMEO or RCVTIMEO ran out (libzmq's `EAGAIN` after a timeout). Nothing was sent or
    /// received.
    #[error("timed out")]
    Timeout,
    /// An option value outside the range libzmq accepts for it (`EINVAL`).
    #[error("{option} = {value} is out of range (expected {expected})")]
    OutOfRange {
        /// The option, by its libzmq name.
        option: &'static str,
        /// The value given.
        value: i64,
        /// What the option accepts.
        expected: &'static str,
    },
    /// A value that is not a number and is malformed: a routing id or ZAP domain of the wrong
    /// length, a public key that does not belong to the secret key (`EINVAL`).
    #[error("invalid {option}: {reason}")]
    InvalidValue {
        /// The option, by its libzmq name.
        option: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A CURVE key or PLAIN credential the mechanism refuses (`EINVAL`).
    #[error("invalid {option}: {source}")]
    Credential {
        /// The option, by its libzmq name.
        option: &'static str,
        /// Why the mechanism refused it.
        #[source]
        source: ConfigError,
    },
    /// The option does not apply to this socket type (libzmq's `EINVAL`, e.g.
    /// `ZMQ_ROUTER_MANDATORY` on a DEALER).
    #[error("{option} does not apply to {socket_type:?} sockets")]
    WrongSocketType {
        /// The option, by its libzmq name.
        option: &'static str,
        /// The socket's type.
        socket_type: SocketType,
    },
    /// The option shapes connections and the socket already binds or connects: it must be set
    /// before the first `bind`/`connect` (libzmq applies it to later connections instead).
    #[error("{option} must be set before the first bind or connect")]
    SetAfterConnect {
        /// The option, by its libzmq name.
        option: &'static str,
    },
    /// The security options set so far do not make a mechanism; found at the first
    /// `bind`/`connect` (e.g. `ZMQ_CURVE_SERVER` without `ZMQ_CURVE_SECRETKEY`).
    #[error("security options incomplete: {needs} is not set")]
    IncompleteSecurity {
        /// The option still missing.
        needs: &'static str,
    },
    /// Send or receive flags other than [`DONTWAIT`](super::DONTWAIT) and
    /// [`SNDMORE`](super::SNDMORE) (`EINVAL`).
    #[error("unknown flags {0:#x}")]
    InvalidFlags(i32),
    /// The runtime could not be started (threads or the I/O driver).
    #[error("cannot start the runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// What the async socket reports: endpoints, I/O, routing, the pattern's state machine
    /// (libzmq's `EFSM`), a closed socket.
    #[error(transparent)]
    Socket(#[from] SocketError),
}

impl Error {
    /// Whether libzmq would report this as `EAGAIN` ([`WouldBlock`](Error::WouldBlock) or
    /// [`Timeout`](Error::Timeout)): the zmq crate's `Err(zmq::Error::EAGAIN)` arm becomes
    /// `Err(e) if e.is_again()`.
    pub fn is_again(&self) -> bool {
        matches!(self, Error::WouldBlock | Error::Timeout)
    }
}
