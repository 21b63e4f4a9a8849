//! The PLAIN server (RFC 24).
//!
//! ```text
//! start ──► ExpectHello ──HELLO / (ask ZAP)──► AwaitAuth ──200 / (send WELCOME)──► ExpectInitiate
//!                                                 │                                     │ INITIATE
//!                                                 ├─300──► close, no ERROR               ▼
//!                                                 └─400/500 / (send ERROR)──► close   (send READY)
//!                                                                                        Ready
//! ```
//!
//! An INITIATE whose Socket-Type cannot talk to ours fails with `IncompatibleSocketType` instead
//! of READY.
//!
//! Like libzmq, a PLAIN server always asks ZAP: the credentials mean nothing otherwise. Whoever
//! drives the session answers the [`AuthRequest`] (credentials = user name, password); a driver
//! without a handler should answer `Err(ZapFailure::Unspecified)`, which closes the connection.

use std::collections::VecDeque;
use std::fmt;
use std::time::Instant;

use bytes::{Buf, Bytes};
use zeroize::Zeroizing;
use zmtp_core::error::MalformedKind;
use zmtp_core::wire::command::encode_ready;
use zmtp_core::{
    check_peer_socket_type, AuthOutcome, AuthRequest, AuthResult, Command, Error, Established,
    HandshakeContext, IdentityCodec, Mechanism, MechanismConfig, MechanismName, Metadata,
    ProtocolError, SocketType, UserError,
};

use crate::plain::{
    encode_error, wiped_on_drop, PlainErrorForm, DEFAULT_PLAIN_ERROR_FORM, WELCOME,
};
use crate::step::{nothing_expected, require};
use crate::verdict::{judge, Verdict};

/// The server side of PLAIN. Every client's user name and password go to ZAP.
#[derive(Clone, Debug)]
pub struct PlainServerConfig {
    error_form: PlainErrorForm,
}

impl Default for PlainServerConfig {
    fn default() -> Self {
        PlainServerConfig {
            error_form: DEFAULT_PLAIN_ERROR_FORM,
        }
    }
}

impl PlainServerConfig {
    /// A PLAIN server that sends refusals in [`DEFAULT_PLAIN_ERROR_FORM`].
    pub fn new() -> PlainServerConfig {
        PlainServerConfig::default()
    }

    /// Chooses how ERROR is spelt to refused clients (see [`PlainErrorForm`]).
    pub fn with_error_form(mut self, form: PlainErrorForm) -> PlainServerConfig {
        self.error_form = form;
        self
    }

    /// How ERROR is spelt.
    pub fn error_form(&self) -> PlainErrorForm {
        self.error_form
    }
}

impl MechanismConfig for PlainServerConfig {
    fn name(&self) -> MechanismName {
        MechanismName::PLAIN
    }

    fn as_server(&self) -> bool {
        true
    }

    fn start(&self, ctx: HandshakeContext) -> Result<Box<dyn Mechanism>, Error> {
        Ok(Box::new(PlainServer {
            error_form: self.error_form,
            socket_type: ctx.socket_type,
            local_metadata: ctx.local_metadata,
            max_properties: ctx.max_properties,
            outbox: VecDeque::new(),
            auth_request: None,
            state: State::ExpectHello(ExpectHello),
        }))
    }
}

/// Waiting for the client's HELLO.
#[derive(Debug)]
struct ExpectHello;

/// ZAP was asked about the client's credentials.
#[derive(Debug)]
struct AwaitAuth;

/// WELCOME is sent; the client's INITIATE is next.
#[derive(Debug)]
struct ExpectInitiate {
    auth: AuthOutcome,
}

/// READY is sent; the handshake is complete.
#[derive(Debug)]
struct Ready {
    peer: Metadata,
    auth: AuthOutcome,
}

#[derive(Debug)]
enum State {
    ExpectHello(ExpectHello),
    AwaitAuth(AwaitAuth),
    ExpectInitiate(ExpectInitiate),
    Ready(Ready),
    Failed(Error),
}

struct PlainServer {
    error_form: PlainErrorForm,
    /// Ours: the client's Socket-Type in INITIATE must be compatible before READY is queued.
    socket_type: SocketType,
    local_metadata: Metadata,
    max_properties: usize,
    outbox: VecDeque<Bytes>,
    /// Holds the client's password until the session takes it: never printed.
    auth_request: Option<AuthRequest>,
    state: State,
}

impl fmt::Debug for PlainServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainServer")
            .field("state", &self.state)
            .field("error_form", &self.error_form)
            .field("outbox", &format_args!("<{} commands>", self.outbox.len()))
            .field("auth_request", &self.auth_request)
            .finish()
    }
}

/// One length-prefixed field of HELLO (RFC 24: `OCTET 0*255OCTET`).
fn take_field(data: &mut Bytes) -> Result<Bytes, Error> {
    let malformed = || ProtocolError::MalformedCommand(MalformedKind::Hello);
    if !data.has_remaining() {
        return Err(malformed().into());
    }
    let len = usize::from(data.get_u8());
    if data.remaining() < len {
        return Err(malformed().into());
    }
    Ok(data.split_to(len))
}

impl ExpectHello {
    fn handle(self, cmd: Command) -> Result<(State, AuthRequest), Error> {
        require(&cmd, "HELLO", false)?;
        let mut data = cmd.data;
        // Empty user names and passwords are valid on the wire; ZAP decides what they mean.
        let username = take_field(&mut data)?;
        let password = take_field(&mut data)?;
        // RFC 24 grammar ends HELLO at the password; libzmq refuses anything after it.
        if data.has_remaining() {
            return Err(ProtocolError::MalformedCommand(MalformedKind::Hello).into());
        }
        // The password goes on to ZAP in a buffer of its own that is wiped when the last
        // reference to it is dropped, rather than as a slice that keeps the whole HELLO alive.
        // The HELLO itself is a slice of the session's receive buffer, which is the session's
        // (and the socket's) to manage: `Bytes` cannot be written to.
        let password = wiped_on_drop(Zeroizing::new(password.to_vec()));
        let request = AuthRequest {
            domain: String::new(),
            address: String::new(),
            identity: Bytes::new(),
            mechanism: MechanismName::PLAIN,
            credentials: vec![username, password],
        };
        Ok((State::AwaitAuth(AwaitAuth), request))
    }
}

impl ExpectInitiate {
    /// INITIATE = `%d8 "INITIATE" metadata`. An incompatible Socket-Type fails here, so no
    /// READY goes out (libzmq checks it as it reads INITIATE).
    fn handle(self, cmd: Command, ours: SocketType, max_properties: usize) -> Result<State, Error> {
        require(&cmd, "INITIATE", false)?;
        let peer = Metadata::decode(cmd.data, max_properties)?;
        check_peer_socket_type(ours, &peer)?;
        Ok(State::Ready(Ready {
            peer,
            auth: self.auth,
        }))
    }
}

impl Mechanism for PlainServer {
    fn handle_command(&mut self, cmd: Command, _now: Instant) -> Result<(), Error> {
        let state = std::mem::replace(
            &mut self.state,
            State::Failed(Error::Io("PLAIN step interrupted".into())),
        );
        let result = match state {
            State::ExpectHello(step) => step.handle(cmd).map(|(next, request)| {
                self.auth_request = Some(request);
                next
            }),
            State::ExpectInitiate(step) => {
                let next = step.handle(cmd, self.socket_type, self.max_properties);
                if next.is_ok() {
                    self.outbox.push_back(encode_ready(&self.local_metadata));
                }
                next
            }
            State::AwaitAuth(_) | State::Ready(_) => Err(nothing_expected(&cmd)),
            State::Failed(e) => Err(e),
        };
        match result {
            Ok(next) => {
                self.state = next;
                Ok(())
            }
            Err(e) => {
                self.state = State::Failed(e.clone());
                Err(e)
            }
        }
    }

    fn poll_command(&mut self) -> Option<Bytes> {
        self.outbox.pop_front()
    }

    fn poll_auth_request(&mut self) -> Option<AuthRequest> {
        self.auth_request.take()
    }

    fn handle_auth_reply(&mut self, reply: AuthResult) -> Result<(), Error> {
        if !matches!(self.state, State::AwaitAuth(_)) {
            return Err(UserError::NoAuthPending.into());
        }
        match judge(reply) {
            Verdict::Allow(auth) => {
                self.outbox.push_back(Bytes::from_static(WELCOME));
                self.state = State::ExpectInitiate(ExpectInitiate { auth });
                Ok(())
            }
            Verdict::Refuse {
                error,
                error_command,
            } => {
                // The ERROR goes out as a last gasp before the session closes (none for 300).
                if error_command.is_some() {
                    if let Error::AuthFailed { status, .. } = &error {
                        self.outbox
                            .push_back(encode_error(self.error_form, &status.to_string()));
                    }
                }
                self.state = State::Failed(error.clone());
                Err(error)
            }
        }
    }

    fn is_ready(&self) -> bool {
        matches!(self.state, State::Ready(_))
    }

    fn into_established(self: Box<Self>) -> Result<Established, Error> {
        match self.state {
            State::Ready(Ready { peer, auth }) => Ok(Established {
                codec: Box::new(IdentityCodec),
                peer_metadata: peer,
                auth: Some(auth),
            }),
            State::Failed(e) => Err(e),
            _ => Err(UserError::NotReady.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zmtp_core::Greeting;

    #[test]
    fn the_password_goes_to_zap_in_a_buffer_of_its_own() {
        let mut server = PlainServerConfig::new()
            .start(HandshakeContext {
                socket_type: SocketType::Router,
                local_metadata: Metadata::new().with("Socket-Type", &b"ROUTER"[..]).unwrap(),
                peer_greeting: Greeting::ours(MechanismName::PLAIN, false),
                zap_domain: None,
                max_properties: 16,
                now: Instant::now(),
            })
            .unwrap();
        let hello = Bytes::from_static(b"\x05HELLO\x05admin\x07hunter2");
        server
            .handle_command(Command::parse(hello.clone()).unwrap(), Instant::now())
            .unwrap();
        let request = server.poll_auth_request().unwrap();
        let password = &request.credentials[1];
        assert_eq!(&password[..], b"hunter2");
        // Not a slice of the HELLO (which would keep the whole command alive, unwiped).
        let hello_range = hello.as_ptr_range();
        assert!(!hello_range.contains(&password.as_ptr()));
        assert!(!format!("{request:?}").contains("hunter2"));
    }
}
