//! The PLAIN client (RFC 24).
//!
//! ```text
//! start ──(send HELLO)──► ExpectWelcome ──WELCOME / (send INITIATE)──► ExpectReady ──READY──► Ready
//!                              │                                           │
//!                              └────────── ERROR (or libzmq's ^RROR) ──────┴──► PeerRefused
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use zeroize::Zeroizing;
use zmtp_core::error::MalformedKind;
use zmtp_core::{
    AuthRequest, AuthResult, Command, Error, Established, HandshakeContext, IdentityCodec,
    Mechanism, MechanismConfig, MechanismName, Metadata, ProtocolError, UserError,
};

use crate::plain::{encode_hello, encode_initiate, parse_libzmq_error};
use crate::step::{nothing_expected, require};
use crate::ConfigError;

/// The client side of PLAIN: a user name and a password, sent in clear text.
///
/// The password is wiped from memory when the last clone of the configuration is dropped, and
/// `Debug` never prints it. The HELLO command that carries it is wiped when the session drops
/// it; the copies the session and the socket make on its way to the wire are theirs.
#[derive(Clone)]
pub struct PlainClientConfig {
    credentials: Arc<Credentials>,
}

struct Credentials {
    username: Vec<u8>,
    password: Zeroizing<Vec<u8>>,
}

impl PlainClientConfig {
    /// A PLAIN client that authenticates as `username` with `password`, each 1 to 255 octets
    /// (libzmq's `ZMQ_PLAIN_USERNAME`/`ZMQ_PLAIN_PASSWORD` limits; the wire also allows empty
    /// values, which our server accepts from other clients).
    pub fn new(
        username: impl AsRef<[u8]>,
        password: impl AsRef<[u8]>,
    ) -> Result<PlainClientConfig, ConfigError> {
        let (username, password) = (username.as_ref(), password.as_ref());
        if username.is_empty() || username.len() > 255 {
            return Err(ConfigError::UsernameLength {
                len: username.len(),
            });
        }
        if password.is_empty() || password.len() > 255 {
            return Err(ConfigError::PasswordLength {
                len: password.len(),
            });
        }
        Ok(PlainClientConfig {
            credentials: Arc::new(Credentials {
                username: username.to_vec(),
                password: Zeroizing::new(password.to_vec()),
            }),
        })
    }

    /// The user name.
    pub fn username(&self) -> &[u8] {
        &self.credentials.username
    }
}

impl fmt::Debug for PlainClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainClientConfig")
            .field(
                "username",
                &String::from_utf8_lossy(&self.credentials.username),
            )
            .field("password", &"<redacted>")
            .finish()
    }
}

impl MechanismConfig for PlainClientConfig {
    fn name(&self) -> MechanismName {
        MechanismName::PLAIN
    }

    fn as_server(&self) -> bool {
        false
    }

    fn start(&self, ctx: HandshakeContext) -> Result<Box<dyn Mechanism>, Error> {
        Ok(Box::new(PlainClient::new(self, &ctx)))
    }
}

/// HELLO is sent; the server's WELCOME (or ERROR) is next.
#[derive(Debug)]
struct ExpectWelcome {
    /// Our INITIATE, ready to go.
    initiate: Bytes,
}

/// INITIATE is sent; the server's READY (or ERROR) is next.
#[derive(Debug)]
struct ExpectReady;

/// The handshake is complete.
#[derive(Debug)]
struct Ready {
    peer: Metadata,
}

#[derive(Debug)]
enum State {
    ExpectWelcome(ExpectWelcome),
    ExpectReady(ExpectReady),
    Ready(Ready),
    Failed(Error),
}

struct PlainClient {
    max_properties: usize,
    /// Command bodies to send. The first one holds the password: never printed.
    outbox: VecDeque<Bytes>,
    state: State,
}

impl fmt::Debug for PlainClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainClient")
            .field("state", &self.state)
            .field("outbox", &format_args!("<{} commands>", self.outbox.len()))
            .finish()
    }
}

impl PlainClient {
    fn new(config: &PlainClientConfig, ctx: &HandshakeContext) -> PlainClient {
        let creds = &config.credentials;
        PlainClient {
            max_properties: ctx.max_properties,
            outbox: VecDeque::from([encode_hello(&creds.username, &creds.password)]),
            state: State::ExpectWelcome(ExpectWelcome {
                initiate: encode_initiate(&ctx.local_metadata),
            }),
        }
    }
}

impl ExpectWelcome {
    fn handle(self, cmd: Command) -> Result<(State, Bytes), Error> {
        require(&cmd, "WELCOME", true)?;
        // RFC 24: WELCOME carries nothing after its name (libzmq: MALFORMED_COMMAND_WELCOME).
        if !cmd.data.is_empty() {
            return Err(ProtocolError::MalformedCommand(MalformedKind::Welcome).into());
        }
        Ok((State::ExpectReady(ExpectReady), self.initiate))
    }
}

impl ExpectReady {
    fn handle(self, cmd: Command, max_properties: usize) -> Result<State, Error> {
        require(&cmd, "READY", true)?;
        let peer = Metadata::decode(cmd.data, max_properties)?;
        Ok(State::Ready(Ready { peer }))
    }
}

impl Mechanism for PlainClient {
    /// Takes a whole command body, before the generic command parser sees it, so that libzmq's
    /// misspelt ERROR (`^RROR`, see [`crate::PlainErrorForm`]) is read as the refusal it is.
    ///
    /// The generic parser would fail on that body: its first octet, 0x5E, claims a 94-octet
    /// name.
    fn handle_command_body(&mut self, body: Bytes, now: Instant) -> Result<(), Error> {
        if let Some(reason) = parse_libzmq_error(&body) {
            return match &self.state {
                State::ExpectWelcome(_) | State::ExpectReady(_) => {
                    let err = match reason {
                        Ok(reason) => Error::PeerRefused { reason },
                        Err(e) => e,
                    };
                    self.state = State::Failed(err.clone());
                    Err(err)
                }
                State::Failed(e) => Err(e.clone()),
                State::Ready(_) => Err(ProtocolError::UnexpectedCommand {
                    expected: "nothing",
                    got: "^RROR".into(),
                }
                .into()),
            };
        }
        match Command::parse(body) {
            Ok(cmd) => self.handle_command(cmd, now),
            Err(e) => {
                let err = Error::from(e);
                self.state = State::Failed(err.clone());
                Err(err)
            }
        }
    }

    fn handle_command(&mut self, cmd: Command, _now: Instant) -> Result<(), Error> {
        let state = std::mem::replace(
            &mut self.state,
            State::Failed(Error::Io("PLAIN step interrupted".into())),
        );
        let result = match state {
            State::ExpectWelcome(step) => step.handle(cmd).map(|(next, initiate)| {
                self.outbox.push_back(initiate);
                next
            }),
            State::ExpectReady(step) => step.handle(cmd, self.max_properties),
            State::Ready(_) => Err(nothing_expected(&cmd)),
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
        None
    }

    fn handle_auth_reply(&mut self, _reply: AuthResult) -> Result<(), Error> {
        Err(UserError::NoAuthPending.into())
    }

    fn is_ready(&self) -> bool {
        matches!(self.state, State::Ready(_))
    }

    fn into_established(self: Box<Self>) -> Result<Established, Error> {
        match self.state {
            State::Ready(Ready { peer }) => Ok(Established {
                codec: Box::new(IdentityCodec),
                peer_metadata: peer,
                auth: None,
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

    fn client() -> PlainClient {
        let config = PlainClientConfig::new("admin", "secret").unwrap();
        let ctx = HandshakeContext {
            socket_type: zmtp_core::SocketType::Dealer,
            local_metadata: Metadata::new().with("Socket-Type", &b"DEALER"[..]).unwrap(),
            peer_greeting: Greeting::ours(MechanismName::PLAIN, true),
            zap_domain: None,
            max_properties: 16,
            now: Instant::now(),
        };
        let m = PlainClient::new(&config, &ctx);
        assert_eq!(
            m.outbox.front().map(|b| &b[..]),
            Some(&b"\x05HELLO\x05admin\x06secret"[..])
        );
        m
    }

    #[test]
    fn libzmq_misspelt_error_is_a_refusal_in_both_waiting_states() {
        let now = Instant::now();
        let mut m = client();
        let err = m
            .handle_command_body(Bytes::from_static(b"\x5eRROR\x03400"), now)
            .unwrap_err();
        assert_eq!(
            err,
            Error::PeerRefused {
                reason: "400".into()
            }
        );

        let mut m = client();
        m.handle_command_body(Bytes::from_static(b"\x07WELCOME"), now)
            .unwrap();
        let err = m
            .handle_command_body(Bytes::from_static(b"\x5eRROR\x03500"), now)
            .unwrap_err();
        assert_eq!(
            err,
            Error::PeerRefused {
                reason: "500".into()
            }
        );
        // Sticky.
        assert_eq!(
            m.handle_command_body(Bytes::from_static(b"\x05READY"), now),
            Err(err)
        );
    }

    #[test]
    fn proper_error_is_a_refusal_too() {
        let mut m = client();
        let err = m
            .handle_command_body(Bytes::from_static(b"\x05ERROR\x03400"), Instant::now())
            .unwrap_err();
        assert_eq!(
            err,
            Error::PeerRefused {
                reason: "400".into()
            }
        );
    }

    #[test]
    fn debug_never_prints_the_password() {
        let config = PlainClientConfig::new("admin", "hunter2-secret").unwrap();
        let m = client();
        for text in [format!("{config:?}"), format!("{m:?}")] {
            assert!(!text.contains("hunter2"), "{text}");
            assert!(!text.contains("secret"), "{text}");
        }
    }

    #[test]
    fn config_lengths_are_checked() {
        assert_eq!(
            PlainClientConfig::new("", "p").unwrap_err(),
            ConfigError::UsernameLength { len: 0 }
        );
        assert_eq!(
            PlainClientConfig::new("u", vec![0u8; 256]).unwrap_err(),
            ConfigError::PasswordLength { len: 256 }
        );
        assert!(PlainClientConfig::new(vec![b'u'; 255], vec![b'p'; 255]).is_ok());
    }
}
