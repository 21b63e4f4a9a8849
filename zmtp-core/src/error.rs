//! Typed errors. Each distinct cause has its own variant, and each maps to the code libzmq reports
//! in its socket monitor (`zmq.h`: `ZMQ_PROTOCOL_ERROR_*`, `ZMQ_EVENT_*`).

use std::fmt;

/// Who caused a connection to fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Initiator {
    /// The remote peer sent something we refuse, or refused us.
    Peer,
    /// Our own side (a local policy, a limit, a timeout or the application).
    Local,
}

/// A fatal connection error. Errors are sticky: once a [`crate::Session`] has failed, every later
/// call returns a clone of the same error.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The peer broke the ZMTP protocol (or one of its mechanism protocols).
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// A peer-supplied size exceeded one of our configured limits.
    #[error("{what} of {actual} bytes exceeds the limit of {limit}")]
    LimitExceeded {
        /// Which limit.
        what: Limit,
        /// The configured limit.
        limit: u64,
        /// What the peer announced.
        actual: u64,
    },
    /// Our ZAP handler refused the peer (status 300, 400 or 500).
    #[error("authentication failed: ZAP status {status} ({text})")]
    AuthFailed {
        /// The ZAP status code: 300, 400 or 500.
        status: u16,
        /// The handler's status text.
        text: String,
    },
    /// The peer refused us with an ERROR command during the handshake.
    #[error("peer refused the handshake: {reason:?}")]
    PeerRefused {
        /// The reason the peer gave (libzmq servers send the 3-digit ZAP status).
        reason: String,
    },
    /// The handshake did not finish within the configured time.
    #[error("handshake timed out")]
    HandshakeTimeout,
    /// The peer stopped answering heartbeats (no traffic within the heartbeat timeout or TTL).
    #[error("heartbeat timed out")]
    HeartbeatTimeout,
    /// The peer closed the connection.
    #[error("connection closed by peer")]
    PeerClosed,
    /// The application misused the API.
    #[error("usage error: {0}")]
    User(#[from] UserError),
    /// An I/O failure reported by the driver.
    #[error("I/O error: {0}")]
    Io(String),
}

impl Error {
    /// Who initiated this failure.
    pub fn initiator(&self) -> Initiator {
        match self {
            Error::Protocol(_) | Error::PeerRefused { .. } | Error::PeerClosed => Initiator::Peer,
            Error::LimitExceeded { .. } => Initiator::Peer,
            Error::AuthFailed { .. }
            | Error::HandshakeTimeout
            | Error::HeartbeatTimeout
            | Error::User(_)
            | Error::Io(_) => Initiator::Local,
        }
    }

    /// The libzmq monitor event this failure produces during a handshake, with its value.
    pub fn handshake_event(&self) -> (MonitorEvent, u32) {
        match self {
            Error::Protocol(p) => (MonitorEvent::HandshakeFailedProtocol, p.code()),
            Error::AuthFailed { status, .. } => {
                (MonitorEvent::HandshakeFailedAuth, u32::from(*status))
            }
            Error::PeerRefused { reason } => match parse_zap_status(reason) {
                Some(status) => (MonitorEvent::HandshakeFailedAuth, u32::from(status)),
                None => (MonitorEvent::HandshakeFailedNoDetail, 0),
            },
            _ => (MonitorEvent::HandshakeFailedNoDetail, 0),
        }
    }
}

/// libzmq clients turn an ERROR reason of the form `[345]00` into an authentication failure with
/// that status, and anything else into a plain disconnect.
pub fn parse_zap_status(reason: &str) -> Option<u16> {
    match reason {
        "300" => Some(300),
        "400" => Some(400),
        "500" => Some(500),
        _ => None,
    }
}

/// Which configured limit a peer exceeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// One frame's body.
    FrameSize,
    /// A whole multipart message.
    MessageSize,
    /// The number of parts in one message.
    MessageParts,
    /// One command's body.
    CommandSize,
    /// The number of metadata properties.
    MetadataProperties,
    /// The number of topics one peer subscribes to.
    Subscriptions,
    /// The octets of all topics one peer subscribes to.
    SubscriptionOctets,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::FrameSize => "frame",
            Limit::MessageSize => "message",
            Limit::MessageParts => "message part count",
            Limit::CommandSize => "command",
            Limit::MetadataProperties => "metadata property count",
            Limit::Subscriptions => "subscription count",
            Limit::SubscriptionOctets => "subscription total",
        })
    }
}

/// A command name, kept for error reports.
pub type CommandName = String;

/// The ways a peer can break the protocol, each with libzmq's protocol error code.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The greeting does not start with `0xFF`, or octet 9 lacks bit 0: a ZMTP 1.0 peer.
    #[error("peer speaks ZMTP 1.0 (no 3.x greeting signature)")]
    BadSignature,
    /// The peer announced a major version below 3.
    #[error("peer announced ZMTP {major}.x; only 3.x is supported")]
    UnsupportedVersion {
        /// The announced major version.
        major: u8,
    },
    /// The peer's mechanism name differs from ours.
    #[error("mechanism mismatch: we use {ours:?}, the peer {theirs:?}")]
    MechanismMismatch {
        /// Our mechanism name.
        ours: String,
        /// The peer's mechanism name.
        theirs: String,
    },
    /// A frame had reserved flag bits set.
    #[error("frame flags {flags:#04x} have reserved bits set")]
    ReservedFlags {
        /// The flags octet.
        flags: u8,
    },
    /// A command frame carried the MORE flag.
    #[error("command frame has the MORE flag set")]
    CommandWithMore,
    /// A data frame arrived before the handshake completed.
    #[error("data frame during the handshake")]
    DataDuringHandshake,
    /// A command's body is shorter than its name.
    #[error("truncated command")]
    TruncatedCommand,
    /// A command other than the one the state machine expects.
    #[error("expected {expected}, got {got:?}")]
    UnexpectedCommand {
        /// What the handshake step expected.
        expected: &'static str,
        /// What arrived.
        got: CommandName,
    },
    /// A command with the right name but the wrong structure.
    #[error("malformed {0} command")]
    MalformedCommand(MalformedKind),
    /// A CURVE nonce was not greater than the last one seen.
    #[error("nonce out of sequence")]
    InvalidSequence,
    /// A CURVE key exchange failed (e.g. the vouch names another key).
    #[error("key exchange failed")]
    KeyExchange,
    /// A box did not open, or a key or shared secret is weak.
    #[error("cryptographic failure")]
    Cryptographic,
    /// A metadata block is truncated, has trailing bytes or an invalid name.
    #[error("invalid metadata")]
    InvalidMetadata,
    /// The peer's Socket-Type is missing or cannot talk to ours.
    #[error("peer socket type {peer:?} is incompatible with {ours}")]
    IncompatibleSocketType {
        /// Our socket type.
        ours: &'static str,
        /// What the peer announced.
        peer: String,
    },
    /// A ZAP reply failed validation.
    #[error("ZAP: {0}")]
    Zap(ZapFailure),
}

/// Which command was malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MalformedKind {
    /// Unspecified command.
    Unspecified,
    /// MESSAGE (CURVE traffic box).
    Message,
    /// HELLO.
    Hello,
    /// INITIATE.
    Initiate,
    /// ERROR.
    Error,
    /// READY.
    Ready,
    /// WELCOME.
    Welcome,
    /// PING or PONG.
    Ping,
}

impl fmt::Display for MalformedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MalformedKind::Unspecified => "",
            MalformedKind::Message => "MESSAGE",
            MalformedKind::Hello => "HELLO",
            MalformedKind::Initiate => "INITIATE",
            MalformedKind::Error => "ERROR",
            MalformedKind::Ready => "READY",
            MalformedKind::Welcome => "WELCOME",
            MalformedKind::Ping => "PING",
        })
    }
}

/// How a ZAP exchange failed, with libzmq's codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ZapFailure {
    /// No handler answered, or another failure without detail.
    #[error("no handler or unspecified failure")]
    Unspecified,
    /// The reply had the wrong number or shape of frames.
    #[error("malformed reply")]
    MalformedReply,
    /// The reply's request id does not match the request.
    #[error("bad request id")]
    BadRequestId,
    /// The reply's version is not "1.0".
    #[error("bad version")]
    BadVersion,
    /// The status is not one of 200, 300, 400, 500.
    #[error("invalid status code")]
    InvalidStatusCode,
    /// The metadata frame does not parse.
    #[error("invalid metadata")]
    InvalidMetadata,
}

impl ProtocolError {
    /// libzmq's `ZMQ_PROTOCOL_ERROR_*` code for this error.
    pub fn code(&self) -> u32 {
        use ProtocolError as P;
        match self {
            P::UnexpectedCommand { .. } | P::DataDuringHandshake => 0x1000_0001,
            P::InvalidSequence => 0x1000_0002,
            P::KeyExchange => 0x1000_0003,
            P::MalformedCommand(kind) => match kind {
                MalformedKind::Unspecified | MalformedKind::Ping => 0x1000_0011,
                MalformedKind::Message => 0x1000_0012,
                MalformedKind::Hello => 0x1000_0013,
                MalformedKind::Initiate => 0x1000_0014,
                MalformedKind::Error => 0x1000_0015,
                MalformedKind::Ready => 0x1000_0016,
                MalformedKind::Welcome => 0x1000_0017,
            },
            P::TruncatedCommand => 0x1000_0011,
            P::InvalidMetadata => 0x1000_0018,
            P::Cryptographic => 0x1100_0001,
            P::MechanismMismatch { .. } => 0x1100_0002,
            P::Zap(z) => match z {
                ZapFailure::Unspecified => 0x2000_0000,
                ZapFailure::MalformedReply => 0x2000_0001,
                ZapFailure::BadRequestId => 0x2000_0002,
                ZapFailure::BadVersion => 0x2000_0003,
                ZapFailure::InvalidStatusCode => 0x2000_0004,
                ZapFailure::InvalidMetadata => 0x2000_0005,
            },
            P::BadSignature
            | P::UnsupportedVersion { .. }
            | P::ReservedFlags { .. }
            | P::CommandWithMore
            | P::IncompatibleSocketType { .. } => 0x1000_0000,
        }
    }
}

/// Misuse of the API by the application (never caused by the peer).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    /// A message was sent before the handshake completed.
    #[error("the connection is not ready for messages")]
    NotReady,
    /// A message with no parts.
    #[error("a message needs at least one part")]
    EmptyMessage,
    /// A command name longer than 255 octets, or a property name outside 1-255 octets.
    #[error("name must be 1 to 255 octets: {0:?}")]
    BadName(String),
    /// An auth reply arrived while none was pending.
    #[error("no authentication request is pending")]
    NoAuthPending,
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A message encoded in advance was given to a connection whose mechanism transforms
    /// frames (CURVE): it needs the message's parts instead.
    #[error("this connection's mechanism transforms frames: it takes parts, not encoded bytes")]
    NotFramesUnchanged,
}

/// libzmq's socket monitor events (`ZMQ_EVENT_*`), with their numeric values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MonitorEvent {
    /// Connection established (connecting side).
    Connected = 0x0001,
    /// Connect is pending.
    ConnectDelayed = 0x0002,
    /// A reconnect is scheduled.
    ConnectRetried = 0x0004,
    /// Bound and listening.
    Listening = 0x0008,
    /// Bind failed.
    BindFailed = 0x0010,
    /// A connection was accepted.
    Accepted = 0x0020,
    /// Accept failed.
    AcceptFailed = 0x0040,
    /// The listener was closed.
    Closed = 0x0080,
    /// Close failed.
    CloseFailed = 0x0100,
    /// A session ended.
    Disconnected = 0x0200,
    /// The monitor was stopped.
    MonitorStopped = 0x0400,
    /// Handshake failed without a more precise reason.
    HandshakeFailedNoDetail = 0x0800,
    /// Handshake completed.
    HandshakeSucceeded = 0x1000,
    /// Handshake failed with a protocol error (value = protocol error code).
    HandshakeFailedProtocol = 0x2000,
    /// Handshake failed authentication (value = ZAP status).
    HandshakeFailedAuth = 0x4000,
}

impl MonitorEvent {
    /// The numeric value libzmq uses.
    pub fn value(self) -> u16 {
        self as u16
    }

    /// libzmq's name without the `ZMQ_EVENT_` prefix.
    pub fn name(self) -> &'static str {
        use MonitorEvent as M;
        match self {
            M::Connected => "CONNECTED",
            M::ConnectDelayed => "CONNECT_DELAYED",
            M::ConnectRetried => "CONNECT_RETRIED",
            M::Listening => "LISTENING",
            M::BindFailed => "BIND_FAILED",
            M::Accepted => "ACCEPTED",
            M::AcceptFailed => "ACCEPT_FAILED",
            M::Closed => "CLOSED",
            M::CloseFailed => "CLOSE_FAILED",
            M::Disconnected => "DISCONNECTED",
            M::MonitorStopped => "MONITOR_STOPPED",
            M::HandshakeFailedNoDetail => "HANDSHAKE_FAILED_NO_DETAIL",
            M::HandshakeSucceeded => "HANDSHAKE_SUCCEEDED",
            M::HandshakeFailedProtocol => "HANDSHAKE_FAILED_PROTOCOL",
            M::HandshakeFailedAuth => "HANDSHAKE_FAILED_AUTH",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_codes_match_libzmq() {
        assert_eq!(ProtocolError::Cryptographic.code(), 0x1100_0001);
        assert_eq!(
            ProtocolError::MechanismMismatch {
                ours: "NULL".into(),
                theirs: "PLAIN".into()
            }
            .code(),
            0x1100_0002
        );
        assert_eq!(
            ProtocolError::MalformedCommand(MalformedKind::Hello).code(),
            0x1000_0013
        );
        assert_eq!(
            ProtocolError::MalformedCommand(MalformedKind::Welcome).code(),
            0x1000_0017
        );
        assert_eq!(ProtocolError::InvalidMetadata.code(), 0x1000_0018);
        assert_eq!(
            ProtocolError::Zap(ZapFailure::InvalidMetadata).code(),
            0x2000_0005
        );
    }

    #[test]
    fn peer_refusal_with_zap_status_is_an_auth_failure() {
        let e = Error::PeerRefused {
            reason: "400".into(),
        };
        assert_eq!(
            e.handshake_event(),
            (MonitorEvent::HandshakeFailedAuth, 400)
        );
        let e = Error::PeerRefused {
            reason: "go away".into(),
        };
        assert_eq!(
            e.handshake_event(),
            (MonitorEvent::HandshakeFailedNoDetail, 0)
        );
    }
}
