//! Authentication as plain data (RFC 27 fields). A server-side mechanism that wants its peer
//! checked emits an [`AuthRequest`]; whoever drives the session asks a ZAP handler and feeds the
//! [`AuthReply`] (or the way the exchange failed) back. The core never waits on its own.

use std::fmt;

use bytes::Bytes;

use crate::error::ZapFailure;
use crate::wire::greeting::MechanismName;
use crate::wire::metadata::Metadata;

/// A request to authenticate a peer.
#[derive(Clone)]
pub struct AuthRequest {
    /// ZAP domain (empty when none is configured).
    pub domain: String,
    /// The peer's IP address, without the port.
    pub address: String,
    /// Our own socket's routing id (what libzmq sends in this frame).
    pub identity: Bytes,
    /// The mechanism asking.
    pub mechanism: MechanismName,
    /// Mechanism credentials: none (NULL), username and password (PLAIN), the 32-octet client
    /// public key (CURVE).
    pub credentials: Vec<Bytes>,
}

impl fmt::Debug for AuthRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Credentials may hold a password: never print them.
        f.debug_struct("AuthRequest")
            .field("domain", &self.domain)
            .field("address", &self.address)
            .field("identity", &self.identity)
            .field("mechanism", &self.mechanism)
            .field(
                "credentials",
                &format_args!("<{} redacted>", self.credentials.len()),
            )
            .finish()
    }
}

/// A ZAP status code (RFC 27: exactly 200, 300, 400 or 500).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthStatus {
    /// 200: the peer is allowed.
    Success,
    /// 300: try again later (the server closes without ERROR).
    TemporaryFailure,
    /// 400: refused.
    Failure,
    /// 500: the handler failed.
    InternalError,
}

impl AuthStatus {
    /// The numeric code.
    pub fn code(self) -> u16 {
        match self {
            AuthStatus::Success => 200,
            AuthStatus::TemporaryFailure => 300,
            AuthStatus::Failure => 400,
            AuthStatus::InternalError => 500,
        }
    }

    /// Parses the three-octet status frame exactly.
    pub fn from_wire(s: &[u8]) -> Option<AuthStatus> {
        match s {
            b"200" => Some(AuthStatus::Success),
            b"300" => Some(AuthStatus::TemporaryFailure),
            b"400" => Some(AuthStatus::Failure),
            b"500" => Some(AuthStatus::InternalError),
            _ => None,
        }
    }

    /// The three-octet status frame.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthStatus::Success => "200",
            AuthStatus::TemporaryFailure => "300",
            AuthStatus::Failure => "400",
            AuthStatus::InternalError => "500",
        }
    }
}

/// A handler's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthReply {
    /// The verdict.
    pub status: AuthStatus,
    /// Human-readable text.
    pub status_text: String,
    /// The authenticated user id (becomes the `User-Id` property).
    pub user_id: String,
    /// Metadata attached to every message from this peer.
    pub metadata: Metadata,
}

impl AuthReply {
    /// A 200 reply for `user_id`.
    pub fn allow(user_id: impl Into<String>) -> AuthReply {
        AuthReply {
            status: AuthStatus::Success,
            status_text: "OK".into(),
            user_id: user_id.into(),
            metadata: Metadata::new(),
        }
    }

    /// A 400 reply.
    pub fn deny(text: impl Into<String>) -> AuthReply {
        AuthReply {
            status: AuthStatus::Failure,
            status_text: text.into(),
            user_id: String::new(),
            metadata: Metadata::new(),
        }
    }
}

/// The outcome of an authentication, kept for the connection's lifetime.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthOutcome {
    /// The user id from the handler.
    pub user_id: String,
    /// Metadata from the handler.
    pub metadata: Metadata,
}

/// What the driver feeds back: a validated reply, or how the ZAP exchange failed.
pub type AuthResult = Result<AuthReply, ZapFailure>;
