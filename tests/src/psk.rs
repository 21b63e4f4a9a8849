//! `X-PSK`: a test-only fourth mechanism, built on nothing but the public traits of `zmtp-core`,
//! to prove that a mechanism can plug in from outside. It is in the spirit of corosync's
//! `encrypt_and_sign`: both sides hold one pre-shared 32-octet key; every frame is sealed with
//! it (XSalsa20-Poly1305) and carries its own counter. Not a design for production: there is no
//! forward secrecy and a leaked key opens all past traffic.
//!
//! ```text
//! C → S  HELLO   salt(16) ‖ box_K(nonce = "C" ‖ salt ‖ 0, metadata)
//! S → C  HELLO   salt(16) ‖ box_K(nonce = "S" ‖ salt ‖ 0, metadata)     (after ZAP, if asked)
//! then   data frame = counter(8, from 1, strictly increasing) ‖ box_K(nonce = side ‖ salt ‖ counter,
//!                     flags(1) ‖ payload)
//! ```
//!
//! The server asks ZAP with mechanism `X-PSK` and the key id as its one credential.

use std::fmt;
use std::time::Instant;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use rand_core::{OsRng, RngCore};
use zmtp_core::wire::command::encode_error;
use zmtp_core::wire::frame::Frame;
use zmtp_core::{
    AuthOutcome, AuthRequest, AuthResult, AuthStatus, Command, Error, Established,
    HandshakeContext, Mechanism, MechanismConfig, MechanismName, MessageCodec, Metadata,
    ProtocolError, TransmitQueue,
};

/// The mechanism's name on the wire.
pub const NAME: MechanismName = MechanismName::from_static("X-PSK");

const SALT: usize = 16;
const TAG: usize = 16;

/// Configuration: the shared key, its id (sent to ZAP), and the role.
#[derive(Clone)]
pub struct PskConfig {
    key: [u8; 32],
    key_id: Bytes,
    server: bool,
}

impl fmt::Debug for PskConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PskConfig")
            .field("key_id", &self.key_id)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl PskConfig {
    /// A client holding `key`.
    pub fn client(key: [u8; 32]) -> PskConfig {
        PskConfig {
            key,
            key_id: Bytes::new(),
            server: false,
        }
    }

    /// A server holding `key`, named `key_id` in its ZAP requests.
    pub fn server(key: [u8; 32], key_id: &str) -> PskConfig {
        PskConfig {
            key,
            key_id: Bytes::copy_from_slice(key_id.as_bytes()),
            server: true,
        }
    }
}

fn nonce(side: u8, salt: &[u8; SALT], counter: u64) -> [u8; 24] {
    let mut n = [0u8; 24];
    n[0] = side;
    n[1..17].copy_from_slice(salt);
    n[17..24].copy_from_slice(&counter.to_be_bytes()[1..]);
    n
}

fn cryptographic() -> Error {
    ProtocolError::Cryptographic.into()
}

fn seal(cipher: &XSalsa20Poly1305, nonce: &[u8; 24], out: &mut BytesMut, at: usize) {
    let tag = cipher
        .encrypt_in_place_detached(nonce.into(), b"", &mut out[at..])
        .expect("sealing cannot fail for in-memory buffers");
    out.put_slice(&tag);
}

fn open(cipher: &XSalsa20Poly1305, nonce: &[u8; 24], sealed: &mut BytesMut) -> Result<(), Error> {
    if sealed.len() < TAG {
        return Err(cryptographic());
    }
    let tag = sealed.split_off(sealed.len() - TAG);
    cipher
        .decrypt_in_place_detached(nonce.into(), b"", sealed, tag[..].into())
        .map_err(|_| cryptographic())
}

impl MechanismConfig for PskConfig {
    fn name(&self) -> MechanismName {
        NAME
    }

    fn as_server(&self) -> bool {
        self.server
    }

    fn start(&self, ctx: HandshakeContext) -> Result<Box<dyn Mechanism>, Error> {
        let mut salt = [0u8; SALT];
        OsRng.fill_bytes(&mut salt);
        let cipher = XSalsa20Poly1305::new((&self.key).into());
        let side = if self.server { b'S' } else { b'C' };
        let mut hello = BytesMut::new();
        hello.put_u8(5);
        hello.put_slice(b"HELLO");
        hello.put_slice(&salt);
        let at = hello.len();
        ctx.local_metadata.encode(&mut hello);
        seal(&cipher, &nonce(side, &salt, 0), &mut hello, at);
        let mut m = PskMechanism {
            cipher,
            server: self.server,
            salt,
            max_properties: ctx.max_properties,
            hello: Some(hello.freeze()),
            outbox: Vec::new(),
            auth_request: None,
            auth: None,
            waiting_for_zap: false,
            peer: None,
            failed: false,
        };
        if self.server {
            // The server speaks after the client's HELLO (and ZAP's answer, if it asks).
            if ctx.zap_domain.is_some() {
                m.auth_request = Some(AuthRequest {
                    domain: String::new(),
                    address: String::new(),
                    identity: Bytes::new(),
                    mechanism: NAME,
                    credentials: vec![self.key_id.clone()],
                });
            }
        } else {
            m.outbox.extend(m.hello.take());
        }
        Ok(Box::new(m))
    }
}

struct PskMechanism {
    cipher: XSalsa20Poly1305,
    server: bool,
    salt: [u8; SALT],
    max_properties: usize,
    hello: Option<Bytes>,
    outbox: Vec<Bytes>,
    auth_request: Option<AuthRequest>,
    auth: Option<AuthOutcome>,
    waiting_for_zap: bool,
    peer: Option<([u8; SALT], Metadata)>,
    failed: bool,
}

impl fmt::Debug for PskMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PskMechanism")
            .field("server", &self.server)
            .field("ready", &self.is_ready())
            .finish_non_exhaustive()
    }
}

impl PskMechanism {
    fn server_may_answer(&mut self) {
        if self.server
            && self.peer.is_some()
            && !self.waiting_for_zap
            && self.auth_request.is_none()
        {
            self.outbox.extend(self.hello.take());
        }
    }
}

impl Mechanism for PskMechanism {
    fn handle_command(&mut self, command: Command, _now: Instant) -> Result<(), Error> {
        if self.failed || self.peer.is_some() || !command.is("HELLO") {
            self.failed = true;
            return Err(ProtocolError::UnexpectedCommand {
                expected: if self.peer.is_some() {
                    "nothing"
                } else {
                    "HELLO"
                },
                got: command.name_lossy(),
            }
            .into());
        }
        let mut data = command.data;
        if data.len() < SALT + TAG {
            self.failed = true;
            return Err(cryptographic());
        }
        let mut salt = [0u8; SALT];
        data.copy_to_slice(&mut salt);
        let mut sealed = BytesMut::from(&data[..]);
        let side = if self.server { b'C' } else { b'S' };
        open(&self.cipher, &nonce(side, &salt, 0), &mut sealed).inspect_err(|_| {
            self.failed = true;
        })?;
        let metadata = Metadata::decode(sealed.freeze(), self.max_properties)?;
        self.peer = Some((salt, metadata));
        self.server_may_answer();
        Ok(())
    }

    fn poll_command(&mut self) -> Option<Bytes> {
        (!self.outbox.is_empty()).then(|| self.outbox.remove(0))
    }

    fn poll_auth_request(&mut self) -> Option<AuthRequest> {
        // Asked once the client has proven it holds the key.
        if self.peer.is_some() {
            let req = self.auth_request.take();
            self.waiting_for_zap |= req.is_some();
            req
        } else {
            None
        }
    }

    fn handle_auth_reply(&mut self, reply: AuthResult) -> Result<(), Error> {
        self.waiting_for_zap = false;
        match reply {
            Ok(r) if r.status == AuthStatus::Success => {
                self.auth = Some(AuthOutcome {
                    user_id: r.user_id,
                    metadata: r.metadata,
                });
                self.server_may_answer();
                Ok(())
            }
            Ok(r) => {
                self.failed = true;
                if r.status != AuthStatus::TemporaryFailure {
                    self.outbox.push(encode_error(r.status.as_str()));
                }
                Err(Error::AuthFailed {
                    status: r.status.code(),
                    text: r.status_text,
                })
            }
            Err(failure) => {
                self.failed = true;
                Err(ProtocolError::Zap(failure).into())
            }
        }
    }

    fn is_ready(&self) -> bool {
        !self.failed
            && self.peer.is_some()
            && self.hello.is_none()
            && !self.waiting_for_zap
            && self.auth_request.is_none()
    }

    fn into_established(self: Box<Self>) -> Result<Established, Error> {
        let (peer_salt, peer_metadata) = self.peer.ok_or_else(cryptographic)?;
        let (ours, theirs) = if self.server {
            (b'S', b'C')
        } else {
            (b'C', b'S')
        };
        Ok(Established {
            codec: Box::new(PskCodec {
                cipher: self.cipher,
                send: (ours, self.salt, 0),
                receive: (theirs, peer_salt, 0),
            }),
            peer_metadata,
            auth: self.auth,
        })
    }
}

/// Traffic: every frame sealed, with its counter in front.
struct PskCodec {
    cipher: XSalsa20Poly1305,
    send: (u8, [u8; SALT], u64),
    receive: (u8, [u8; SALT], u64),
}

impl fmt::Debug for PskCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PskCodec")
            .field("sent", &self.send.2)
            .field("received", &self.receive.2)
            .finish_non_exhaustive()
    }
}

impl MessageCodec for PskCodec {
    fn seal(&mut self, frame: Frame, out: &mut TransmitQueue) -> Result<(), Error> {
        self.send.2 += 1;
        let counter = self.send.2;
        let mut body = BytesMut::with_capacity(8 + 1 + frame.body.len() + TAG);
        body.put_u64(counter);
        body.put_u8(u8::from(frame.more) | u8::from(frame.command) << 1);
        body.put_slice(&frame.body);
        seal(
            &self.cipher,
            &nonce(self.send.0, &self.send.1, counter),
            &mut body,
            8,
        );
        out.put_frame(false, false, body.freeze());
        Ok(())
    }

    fn open(&mut self, frame: Frame) -> Result<Frame, Error> {
        let mut body = BytesMut::from(&frame.body[..]);
        if body.len() < 8 + 1 + TAG {
            return Err(cryptographic());
        }
        let counter = body.get_u64();
        if counter <= self.receive.2 || counter >= 1 << 56 {
            return Err(ProtocolError::InvalidSequence.into());
        }
        open(
            &self.cipher,
            &nonce(self.receive.0, &self.receive.1, counter),
            &mut body,
        )?;
        self.receive.2 = counter;
        let flags = body.get_u8();
        Ok(Frame {
            more: flags & 1 != 0,
            command: flags & 2 != 0,
            body: body.freeze(),
        })
    }

    fn overhead(&self) -> u64 {
        (8 + 1 + TAG) as u64
    }
}
