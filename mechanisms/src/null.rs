//! The NULL mechanism (RFC 23 §"The NULL Security Mechanism").
//!
//! Each side sends READY with its properties and waits for the peer's. A side with a ZAP domain
//! asks ZAP before sending READY (as libzmq does), and on a refusal sends ERROR instead.
//!
//! ```text
//!            ┌──────── ZAP domain set ────────┐
//!   start ───┤                                ▼
//!            │                           AwaitAuth ──200──► (send READY)
//!            └──── (send READY) ──► AwaitReady ◄─────────────────┘
//!                                        │ READY
//!                                        ▼
//!                                      Ready
//! ```

use std::time::Instant;

use bytes::Bytes;
use zmtp_core::wire::command::{encode_ready, parse_error_reason};
use zmtp_core::{
    check_peer_socket_type, AuthOutcome, AuthRequest, AuthResult, Command, Error, Established,
    HandshakeContext, IdentityCodec, Mechanism, MechanismConfig, MechanismName, Metadata,
    ProtocolError, SocketType,
};

use crate::verdict::{judge, Verdict};

/// Configuration of the NULL mechanism.
#[derive(Clone, Debug, Default)]
pub struct NullConfig {
    _private: (),
}

impl NullConfig {
    /// NULL: no security. When the socket has a ZAP domain, this side asks ZAP about each peer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl MechanismConfig for NullConfig {
    fn name(&self) -> MechanismName {
        MechanismName::NULL
    }

    fn as_server(&self) -> bool {
        false
    }

    fn start(&self, ctx: HandshakeContext) -> Result<Box<dyn Mechanism>, Error> {
        let ready = encode_ready(&ctx.local_metadata);
        let mut m = NullMechanism {
            socket_type: ctx.socket_type,
            max_properties: ctx.max_properties,
            outbox: Vec::new(),
            auth_request: None,
            state: State::AwaitReady { auth: None },
        };
        if ctx.zap_domain.is_some() {
            m.auth_request = Some(AuthRequest {
                domain: String::new(),
                address: String::new(),
                identity: Bytes::new(),
                mechanism: MechanismName::NULL,
                credentials: Vec::new(),
            });
            m.state = State::AwaitAuth { ready, peer: None };
        } else {
            m.outbox.push(ready);
        }
        Ok(Box::new(m))
    }
}

#[derive(Debug)]
enum State {
    /// ZAP asked; our READY waits for the verdict. The peer's READY may already be here.
    AwaitAuth {
        ready: Bytes,
        peer: Option<Metadata>,
    },
    /// Our READY is sent; waiting for the peer's.
    AwaitReady { auth: Option<AuthOutcome> },
    /// Both READYs exchanged.
    Ready {
        peer: Metadata,
        auth: Option<AuthOutcome>,
    },
    /// A step failed; nothing more is accepted.
    Failed,
}

#[derive(Debug)]
struct NullMechanism {
    /// Ours: the peer's READY must announce a compatible Socket-Type.
    socket_type: SocketType,
    max_properties: usize,
    outbox: Vec<Bytes>,
    auth_request: Option<AuthRequest>,
    state: State,
}

impl NullMechanism {
    fn read_peer_command(&self, cmd: Command) -> Result<Metadata, Error> {
        if cmd.is("READY") {
            // Checked as it arrives (as libzmq does), not only once the handshake completes: a
            // side still waiting for ZAP then never sends its own READY to an incompatible peer.
            let peer = Metadata::decode(cmd.data, self.max_properties)?;
            check_peer_socket_type(self.socket_type, &peer)?;
            Ok(peer)
        } else if cmd.is("ERROR") {
            Err(Error::PeerRefused {
                reason: parse_error_reason(cmd.data)?,
            })
        } else {
            Err(ProtocolError::UnexpectedCommand {
                expected: "READY",
                got: cmd.name_lossy(),
            }
            .into())
        }
    }
}

impl Mechanism for NullMechanism {
    fn handle_command(&mut self, cmd: Command, _now: Instant) -> Result<(), Error> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        self.state = match state {
            State::AwaitAuth { ready, peer: None } => State::AwaitAuth {
                ready,
                peer: Some(self.read_peer_command(cmd)?),
            },
            State::AwaitReady { auth } => State::Ready {
                peer: self.read_peer_command(cmd)?,
                auth,
            },
            State::AwaitAuth { peer: Some(_), .. } | State::Ready { .. } | State::Failed => {
                return Err(ProtocolError::UnexpectedCommand {
                    expected: "nothing",
                    got: cmd.name_lossy(),
                }
                .into())
            }
        };
        Ok(())
    }

    fn poll_command(&mut self) -> Option<Bytes> {
        (!self.outbox.is_empty()).then(|| self.outbox.remove(0))
    }

    fn poll_auth_request(&mut self) -> Option<AuthRequest> {
        self.auth_request.take()
    }

    fn handle_auth_reply(&mut self, reply: AuthResult) -> Result<(), Error> {
        let State::AwaitAuth { ready, peer } = std::mem::replace(&mut self.state, State::Failed)
        else {
            return Err(zmtp_core::UserError::NoAuthPending.into());
        };
        match judge(reply) {
            Verdict::Allow(outcome) => {
                self.outbox.push(ready);
                self.state = match peer {
                    Some(peer) => State::Ready {
                        peer,
                        auth: Some(outcome),
                    },
                    None => State::AwaitReady {
                        auth: Some(outcome),
                    },
                };
                Ok(())
            }
            Verdict::Refuse {
                error,
                error_command,
            } => {
                self.outbox.extend(error_command);
                Err(error)
            }
        }
    }

    fn is_ready(&self) -> bool {
        matches!(self.state, State::Ready { .. })
    }

    fn into_established(self: Box<Self>) -> Result<Established, Error> {
        match self.state {
            State::Ready { peer, auth } => Ok(Established {
                codec: Box::new(IdentityCodec),
                peer_metadata: peer,
                auth,
            }),
            _ => Err(zmtp_core::UserError::NotReady.into()),
        }
    }
}
