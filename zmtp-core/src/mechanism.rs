//! The security mechanism plug-in traits.
//!
//! A [`MechanismConfig`] is shared by every connection of a socket and starts one [`Mechanism`]
//! per connection once the peer's greeting has been read. The mechanism is a handshake state
//! machine: the session feeds it each handshake command ([`Mechanism::handle_command`]) and
//! drains what it wants to send ([`Mechanism::poll_command`]) and whether it wants the peer
//! authenticated ([`Mechanism::poll_auth_request`]). When [`Mechanism::is_ready`] turns true the
//! session consumes it with [`Mechanism::into_established`], which yields the
//! [`MessageCodec`] for the traffic phase and what was learned about the peer.
//!
//! A mechanism that fails with an error the peer should hear about (an authentication refusal)
//! queues the ERROR command before returning the error; the session sends it as a last gasp.

use std::fmt;
use std::time::Instant;

use bytes::Bytes;

use crate::auth::{AuthOutcome, AuthRequest, AuthResult};
use crate::error::{Error, ProtocolError};
use crate::socket_type::SocketType;
use crate::transmit::TransmitQueue;
use crate::wire::command::Command;
use crate::wire::frame::Frame;
use crate::wire::greeting::{Greeting, MechanismName};
use crate::wire::metadata::{self, Metadata};

/// What a mechanism learns when it starts.
#[derive(Clone, Debug)]
pub struct HandshakeContext {
    /// Our own socket type (the Socket-Type in `local_metadata`). A mechanism that reads the
    /// peer's properties before it sends READY checks them against it with
    /// [`check_peer_socket_type`], so that an incompatible peer gets no READY.
    pub socket_type: SocketType,
    /// Properties to send to the peer (Socket-Type, Identity, user metadata).
    pub local_metadata: Metadata,
    /// The peer's greeting.
    pub peer_greeting: Greeting,
    /// `Some` when the socket authenticates its peers through ZAP: the configured domain, or
    /// the empty domain when only an authenticator is configured. `None`: no authentication
    /// (PLAIN servers ask regardless, and then fail closed without a handler).
    pub zap_domain: Option<String>,
    /// Bound on the number of properties accepted from the peer.
    pub max_properties: usize,
    /// When the handshake started.
    pub now: Instant,
}

/// RFC 23: the peer's `Socket-Type` must be present, known and compatible with `ours`. Returns
/// the peer's type, or `IncompatibleSocketType` naming what it announced (`<missing>` when
/// nothing).
///
/// The session checks this when a handshake completes. A server mechanism that reads the
/// client's properties before answering (PLAIN and CURVE read them in INITIATE) checks it
/// there too, before it queues READY or asks ZAP, as libzmq does: an incompatible client then
/// gets no READY at all.
pub fn check_peer_socket_type(ours: SocketType, peer: &Metadata) -> Result<SocketType, Error> {
    let peer_type = peer
        .get(metadata::SOCKET_TYPE)
        .and_then(|t| SocketType::from_wire(t))
        .ok_or_else(|| ProtocolError::IncompatibleSocketType {
            ours: ours.as_str(),
            peer: peer
                .get_str(metadata::SOCKET_TYPE)
                .unwrap_or("<missing>")
                .to_owned(),
        })?;
    if !ours.is_compatible_with(peer_type) {
        return Err(ProtocolError::IncompatibleSocketType {
            ours: ours.as_str(),
            peer: peer_type.as_str().to_owned(),
        }
        .into());
    }
    Ok(peer_type)
}

/// Starts mechanisms; one per socket, shared by its connections.
pub trait MechanismConfig: Send + Sync + fmt::Debug {
    /// The name announced in the greeting.
    fn name(&self) -> MechanismName;
    /// Whether we act as the server of this mechanism (announced in the greeting).
    fn as_server(&self) -> bool;
    /// Starts the handshake for one connection.
    fn start(&self, ctx: HandshakeContext) -> Result<Box<dyn Mechanism>, Error>;
    /// Performs the maintenance that is due at `now` (dropping expired keys, say) and returns
    /// when it wants to be called next; `None`: never. The socket calls it from a timer, so that
    /// an idle socket does not keep what it should have discarded; calling it early or more
    /// often is harmless. The default has nothing to do.
    fn housekeeping(&self, now: Instant) -> Option<Instant> {
        let _ = now;
        None
    }
}

/// One connection's handshake.
pub trait Mechanism: Send + fmt::Debug {
    /// Handles one handshake command from the peer.
    fn handle_command(&mut self, command: Command, now: Instant) -> Result<(), Error>;
    /// Handles one handshake command body exactly as it arrived. The session calls this; the
    /// default parses the name and calls [`Mechanism::handle_command`]. Override it to accept a
    /// body that is not a well-formed command (libzmq's PLAIN `^RROR`, for one).
    fn handle_command_body(&mut self, body: Bytes, now: Instant) -> Result<(), Error> {
        let command = Command::parse(body)?;
        self.handle_command(command, now)
    }
    /// The next command body to send, if any. Drained after every input.
    #[must_use]
    fn poll_command(&mut self) -> Option<Bytes>;
    /// A pending request to authenticate the peer, if any. Returned once.
    #[must_use]
    fn poll_auth_request(&mut self) -> Option<AuthRequest>;
    /// The answer to the request from [`Mechanism::poll_auth_request`].
    fn handle_auth_reply(&mut self, reply: AuthResult) -> Result<(), Error>;
    /// Whether the handshake is complete.
    fn is_ready(&self) -> bool;
    /// Consumes a ready mechanism.
    fn into_established(self: Box<Self>) -> Result<Established, Error>;
}

/// What a completed handshake leaves behind.
#[derive(Debug)]
pub struct Established {
    /// The traffic-phase codec.
    pub codec: Box<dyn MessageCodec>,
    /// The peer's properties from READY or INITIATE.
    pub peer_metadata: Metadata,
    /// The ZAP verdict, when the peer was authenticated.
    pub auth: Option<AuthOutcome>,
}

/// Traffic-phase framing: the identity for NULL and PLAIN, MESSAGE boxes for CURVE.
pub trait MessageCodec: Send + fmt::Debug {
    /// Queues one frame (data or command) for the peer.
    fn seal(&mut self, frame: Frame, out: &mut TransmitQueue) -> Result<(), Error>;
    /// Opens one wire frame into the frame it carries.
    fn open(&mut self, frame: Frame) -> Result<Frame, Error>;
    /// Opens one wire frame whose body is a buffer the codec may overwrite (a large body
    /// received into a buffer of its own): decrypts in place and says where the frame it carries
    /// starts in `body`. `Ok(None)` means this codec does not open in place; `body` must then be
    /// left as it was, and [`MessageCodec::open`] is called instead (the default).
    fn open_in_place(
        &mut self,
        more: bool,
        command: bool,
        body: &mut [u8],
    ) -> Result<Option<Opened>, Error> {
        let _ = (more, command, body);
        Ok(None)
    }
    /// How many octets a wire frame may carry beyond its plaintext (for frame limits).
    fn overhead(&self) -> u64 {
        0
    }
    /// Whether frames go on the wire exactly as given (NULL, PLAIN): then one encoding of a
    /// message serves every connection such a codec drives ([`Session::send_encoded`]).
    ///
    /// [`Session::send_encoded`]: crate::Session::send_encoded
    fn frames_unchanged(&self) -> bool {
        false
    }
}

/// Where [`MessageCodec::open_in_place`] left the frame it opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opened {
    /// MORE flag of the frame carried.
    pub more: bool,
    /// COMMAND flag of the frame carried.
    pub command: bool,
    /// Where its body starts in the buffer (it runs to the end).
    pub start: usize,
}

/// Frames pass through unchanged (NULL, PLAIN).
#[derive(Debug, Default, Clone, Copy)]
pub struct IdentityCodec;

impl MessageCodec for IdentityCodec {
    fn seal(&mut self, frame: Frame, out: &mut TransmitQueue) -> Result<(), Error> {
        out.put_frame(frame.more, frame.command, frame.body);
        Ok(())
    }

    fn open(&mut self, frame: Frame) -> Result<Frame, Error> {
        Ok(frame)
    }

    fn frames_unchanged(&self) -> bool {
        true
    }

    fn open_in_place(
        &mut self,
        more: bool,
        command: bool,
        _body: &mut [u8],
    ) -> Result<Option<Opened>, Error> {
        Ok(Some(Opened {
            more,
            command,
            start: 0,
        }))
    }
}
