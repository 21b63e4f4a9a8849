//! The sans-IO core of ZMTP 3.x, the ZeroMQ wire protocol.
//!
//! Data flow for one connection:
//!
//! ```text
//! bytes read ──► Session::handle_input ──► greeting decoder ──► frame decoder
//!                                             │                    │
//!                                             ▼                    ▼
//!                                  Mechanism (handshake) ──► MessageCodec (traffic)
//!                                             │                    │
//!             Session::poll_transmit ◄── commands, frames    events ──► Session::poll_event
//! ```
//!
//! The core never touches a socket, never reads the clock (time is passed in as `now`) and never
//! spawns a task: a driver (the `zmtp` crate runs one tokio task per connection) feeds it bytes
//! and deadlines and writes what it produces. Security mechanisms plug in through
//! [`mechanism::MechanismConfig`]; authentication (ZAP) is modelled as data
//! ([`auth::AuthRequest`] out, [`auth::AuthReply`] in). Every peer-supplied length is checked
//! against a [`Limits`] bound before anything is allocated.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod limits;
pub mod mechanism;
pub mod pattern;
pub mod session;
pub mod socket_type;
pub mod testing;
pub mod transmit;
pub mod wire;

pub use auth::{AuthOutcome, AuthReply, AuthRequest, AuthResult, AuthStatus};
pub use error::{Error, Initiator, Limit, MonitorEvent, ProtocolError, UserError, ZapFailure};
pub use limits::Limits;
pub use mechanism::{
    check_peer_socket_type, Established, HandshakeContext, IdentityCodec, Mechanism,
    MechanismConfig, MessageCodec, Opened,
};
pub use session::{Event, Heartbeat, Parts, PeerInfo, Session, SessionConfig};
pub use socket_type::SocketType;
pub use transmit::TransmitQueue;
pub use wire::command::Command;
pub use wire::frame::Frame;
pub use wire::greeting::{Greeting, MechanismName};
pub use wire::metadata::Metadata;
