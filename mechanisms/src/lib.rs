//! ZMTP security mechanisms, each a plug-in behind `zmtp_core`'s mechanism traits.
//!
//! ```text
//! MechanismConfig::start ──► handshake state machine ──► Established { codec, peer metadata }
//!        (per socket)          (per connection)             (traffic phase)
//! ```
//!
//! - [`NullConfig`]: RFC 23's NULL mechanism, with optional ZAP.
//! - [`PlainClientConfig`], [`PlainServerConfig`]: RFC 24's PLAIN (clear-text user name and
//!   password, checked by ZAP on the server).
//! - [`CurveClientConfig`], [`CurveServerConfig`]: RFC 25/26's CURVE (CurveZMQ), whose traffic
//!   phase seals every frame in a MESSAGE box.
//!
//! Configuration mistakes (a key of the wrong length, an empty user name) are refused when the
//! configuration is built, with a [`ConfigError`]; nothing is checked for the first time in the
//! middle of a handshake except what the peer sends.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod curve;
#[doc(hidden)]
pub mod fuzzing;
mod null;
mod plain;
mod plain_client;
mod plain_server;
mod verdict;

pub use curve::{
    CurveClientConfig, CurveKeyPair, CurvePublicKey, CurveSecretKey, CurveServerConfig,
    CurveTestEphemerals,
};
pub use null::NullConfig;
pub use plain::{PlainErrorForm, DEFAULT_PLAIN_ERROR_FORM};
pub use plain_client::PlainClientConfig;
pub use plain_server::PlainServerConfig;

/// A mechanism configuration value was refused when it was set (never at handshake time).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A PLAIN user name must be 1 to 255 octets.
    #[error("PLAIN user name must be 1 to 255 octets, not {len}")]
    UsernameLength {
        /// The length given.
        len: usize,
    },
    /// A PLAIN password must be 1 to 255 octets.
    #[error("PLAIN password must be 1 to 255 octets, not {len}")]
    PasswordLength {
        /// The length given.
        len: usize,
    },
    /// A CURVE key must be 32 raw octets or 40 Z85 characters (41 with a trailing NUL).
    #[error("CURVE key must be 32 octets or 40 Z85 characters, not {len}")]
    KeyLength {
        /// The length given.
        len: usize,
    },
    /// A 40-character CURVE key is not valid Z85.
    #[error("CURVE key is not valid Z85")]
    KeyEncoding,
    /// An all-zero CURVE key (an unset key, and a small-order point) is refused.
    #[error("CURVE key is all zeros")]
    ZeroKey,
    /// The system random number generator failed while generating a key.
    #[error("random number generator failed")]
    Random,
}

impl From<ConfigError> for zmtp_core::Error {
    fn from(e: ConfigError) -> Self {
        zmtp_core::UserError::Config(e.to_string()).into()
    }
}

/// Helpers every handshake step uses to check what arrived.
mod step {
    use zmtp_core::wire::command::parse_error_reason;
    use zmtp_core::{Command, Error, ProtocolError};

    /// Requires `cmd` to be `expected`. A client passes `peer_may_refuse`: an ERROR from the
    /// server then becomes [`Error::PeerRefused`] with its reason.
    pub(crate) fn require(
        cmd: &Command,
        expected: &'static str,
        peer_may_refuse: bool,
    ) -> Result<(), Error> {
        if cmd.is(expected) {
            return Ok(());
        }
        if peer_may_refuse && cmd.is("ERROR") {
            return Err(Error::PeerRefused {
                reason: parse_error_reason(cmd.data.clone())?,
            });
        }
        Err(ProtocolError::UnexpectedCommand {
            expected,
            got: cmd.name_lossy(),
        }
        .into())
    }

    /// The error for a command that arrives after the handshake step that could take it.
    pub(crate) fn nothing_expected(cmd: &Command) -> Error {
        ProtocolError::UnexpectedCommand {
            expected: "nothing",
            got: cmd.name_lossy(),
        }
        .into()
    }
}
