//! The CURVE server (RFC 25, RFC 26 §"Server side").
//!
//! ```text
//! start ──► ExpectHello ──HELLO / (send WELCOME)──► ExpectInitiate ──INITIATE──┬─ no ZAP domain ─► (send READY) Ready
//!                                                                              └─ ZAP domain ──► AwaitAuth
//!                                          AwaitAuth ──200 / (send READY)──► Ready
//!                                                    ├─300──► close, no ERROR
//!                                                    └─400/500 / (send ERROR)──► close
//! ```
//!
//! An INITIATE whose Socket-Type cannot talk to ours fails with `IncompatibleSocketType` before
//! READY is queued or ZAP is asked, as in libzmq: the client gets no READY.
//!
//! Between HELLO and a valid INITIATE the server holds no secret for the connection: s' and C'
//! travel in the cookie, sealed with the socket's rotating cookie key (`cookie.rs`). What it
//! does keep is public: C' and the cookie's nonce, so that an INITIATE replayed from another
//! connection (whose cookie is still within its key's lifetime) is refused.
//!
//! **ZAP policy (for now).** When the session authenticates peers (`HandshakeContext::zap_domain`
//! is `Some`: a domain is set, or an authenticator is installed), every client's long-term public
//! key goes to ZAP (credentials = the raw 32 octets) and its answer decides. Otherwise any client
//! that proves its key in a valid vouch is accepted: libzmq's behaviour with
//! `ZMQ_ZAP_ENFORCE_DOMAIN` off and no handler (the "Stonehouse" pattern: encryption without
//! authorisation). The ZAP work will refine this.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;
use zmtp_core::error::MalformedKind;
use zmtp_core::{
    check_peer_socket_type, AuthOutcome, AuthRequest, AuthResult, Command, Error, Established,
    HandshakeContext, Mechanism, MechanismConfig, MechanismName, Metadata, ProtocolError,
    SocketType, UserError,
};

use super::codec::CurveCodec;
use super::cookie::{CookieJar, DEFAULT_ROTATION};
use super::crypto::{CurveCrypto, LongNonce, PrecomputedBox, SystemCrypto, Tag};
use super::crypto_testing::{CurveTestEphemerals, FixedCrypto};
use super::keys::{CurvePublicKey, CurveSecretKey};
use super::nonce::{self, ReceiveWindow, SendCounter};
use super::{HELLO_LEN, INITIATE_MIN_LEN, READY_MIN_LEN, WELCOME_LEN};
use crate::step::{nothing_expected, require};
use crate::verdict::{judge, Verdict};

/// The server side of CURVE: our long-term key pair and the socket's cookie keys.
/// Cloning shares the keys and the cookie keys.
#[derive(Clone, Debug)]
pub struct CurveServerConfig {
    keys: Arc<ServerKeys>,
}

#[derive(Debug)]
struct ServerKeys {
    public: CurvePublicKey,
    secret: CurveSecretKey,
    crypto: Arc<dyn CurveCrypto>,
    cookies: CookieJar,
}

impl CurveServerConfig {
    /// A server with long-term secret key `secret` (its public key, which clients must be
    /// configured with, is derived).
    pub fn new(secret: CurveSecretKey) -> CurveServerConfig {
        CurveServerConfig::with_crypto(secret, Arc::new(SystemCrypto), DEFAULT_ROTATION)
    }

    /// **Testing only.** A server whose transient key, cookie key, cookie nonce and WELCOME
    /// nonce are the fixed values in `ephemerals`, so its WELCOME and READY are reproducible
    /// byte for byte. Every connection reuses them: no forward secrecy, no replay protection.
    pub fn with_fixed_ephemerals_for_testing_only(
        secret: CurveSecretKey,
        ephemerals: CurveTestEphemerals,
    ) -> CurveServerConfig {
        CurveServerConfig::with_crypto(secret, Arc::new(FixedCrypto(ephemerals)), DEFAULT_ROTATION)
    }

    /// **Fuzzing only** (cargo feature `fuzzing`): boxes are not encrypted and MACs are not
    /// checked, so a fuzzer can reach every handshake step.
    #[cfg(feature = "fuzzing")]
    pub fn with_null_crypto_for_fuzzing(secret: CurveSecretKey) -> CurveServerConfig {
        CurveServerConfig::with_crypto(
            secret,
            Arc::new(super::crypto_fuzzing::NullCrypto),
            DEFAULT_ROTATION,
        )
    }

    /// How long one cookie key seals new cookies (default 60 s, at least 1 s). A cookie stays
    /// valid for between one and two of these periods, which bounds the time a client may take
    /// between WELCOME and INITIATE. Starts a fresh set of cookie keys.
    pub fn with_cookie_rotation(self, every: Duration) -> CurveServerConfig {
        let every = every.max(Duration::from_secs(1));
        CurveServerConfig::with_crypto(
            self.keys.secret.clone(),
            Arc::clone(&self.keys.crypto),
            every,
        )
    }

    pub(crate) fn with_crypto(
        secret: CurveSecretKey,
        crypto: Arc<dyn CurveCrypto>,
        rotation: Duration,
    ) -> CurveServerConfig {
        CurveServerConfig {
            keys: Arc::new(ServerKeys {
                public: secret.public_key(),
                secret,
                cookies: CookieJar::new(Arc::clone(&crypto), rotation),
                crypto,
            }),
        }
    }

    /// Our long-term public key.
    pub fn public_key(&self) -> &CurvePublicKey {
        &self.keys.public
    }

    /// How long one cookie key seals new cookies.
    pub fn cookie_rotation(&self) -> Duration {
        self.keys.cookies.rotation()
    }
}

impl MechanismConfig for CurveServerConfig {
    fn name(&self) -> MechanismName {
        MechanismName::CURVE
    }

    fn as_server(&self) -> bool {
        true
    }

    /// Demotes and wipes cookie keys on time even when no HELLO arrives (RFC 26: "The server
    /// MUST discard from its memory the cookie key after a short interval"): no key lives more
    /// than two rotations. With no key held, asks to be called again a rotation later.
    fn housekeeping(&self, now: Instant) -> Option<Instant> {
        self.keys.cookies.housekeeping(now)
    }

    fn start(&self, ctx: HandshakeContext) -> Result<Box<dyn Mechanism>, Error> {
        Ok(Box::new(CurveServer {
            keys: Arc::clone(&self.keys),
            socket_type: ctx.socket_type,
            ask_zap: ctx.zap_domain.is_some(),
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

/// WELCOME is sent. Only public values are kept: s' is in the cookie.
#[derive(Debug)]
struct ExpectInitiate {
    /// C', from HELLO.
    client_transient: CurvePublicKey,
    /// The nonce of the cookie we handed to this connection.
    cookie_nonce: [u8; 16],
    received: ReceiveWindow,
}

/// A valid INITIATE arrived; ZAP was asked about the client's key.
#[derive(Debug)]
struct AwaitAuth {
    session: Box<dyn PrecomputedBox>,
    received: ReceiveWindow,
    peer: Metadata,
}

/// READY is sent; the handshake is complete.
#[derive(Debug)]
struct Ready {
    codec: CurveCodec,
    peer: Metadata,
    auth: Option<AuthOutcome>,
}

#[derive(Debug)]
enum State {
    ExpectHello(ExpectHello),
    ExpectInitiate(ExpectInitiate),
    AwaitAuth(AwaitAuth),
    Ready(Ready),
    Failed(Error),
}

#[derive(Debug)]
struct CurveServer {
    keys: Arc<ServerKeys>,
    /// Ours: the client's Socket-Type in INITIATE must be compatible before READY or ZAP.
    socket_type: SocketType,
    ask_zap: bool,
    local_metadata: Metadata,
    max_properties: usize,
    outbox: VecDeque<Bytes>,
    auth_request: Option<AuthRequest>,
    state: State,
}

fn tag_at(bytes: &[u8], at: usize) -> Tag {
    let mut tag = [0u8; 16];
    tag.copy_from_slice(&bytes[at..at + 16]);
    tag
}

fn key_at(bytes: &[u8], at: usize) -> CurvePublicKey {
    let mut key = [0u8; 32];
    key.copy_from_slice(&bytes[at..at + 32]);
    CurvePublicKey::from_wire(key)
}

fn malformed(kind: MalformedKind) -> Error {
    ProtocolError::MalformedCommand(kind).into()
}

fn cryptographic() -> Error {
    ProtocolError::Cryptographic.into()
}

/// The INITIATE's content once its boxes are open and checked.
struct Initiated {
    session: Box<dyn PrecomputedBox>,
    received: ReceiveWindow,
    client_key: CurvePublicKey,
    peer: Metadata,
}

impl ExpectHello {
    /// HELLO = `%d5 "HELLO" %x01 %x00 72%x00 C' nonce(8) Box[64 × %x00](C'->S)`; answers with
    /// WELCOME = `%d7 "WELCOME" nonce(16) Box[S' + cookie](S->C')`,
    /// cookie = `nonce(16) Box[C' + s'](K)`.
    fn handle(
        self,
        cmd: Command,
        keys: &ServerKeys,
        now: Instant,
    ) -> Result<(State, Bytes), Error> {
        require(&cmd, "HELLO", false)?;
        let data = &cmd.data;
        if data.len() + 6 != HELLO_LEN {
            return Err(malformed(MalformedKind::Hello));
        }
        // RFC 26: version 1.0 (libzmq: MALFORMED_COMMAND_HELLO otherwise).
        if data[..2] != [1, 0] {
            return Err(malformed(MalformedKind::Hello));
        }
        // RFC 26 grammar: `hello-padding = 72%x00`. libzmq does not look at the padding, but it
        // only ever sends zeros, so holding peers to the grammar costs no interop.
        if data[2..74].iter().any(|&b| b != 0) {
            return Err(malformed(MalformedKind::Hello));
        }
        let client_transient = key_at(data, 74);
        let n = nonce::read_short(&data[106..114]);
        let mut received = ReceiveWindow::new();
        received.check(n)?;
        // Refuses a weak C' before any box is opened with it.
        let hello_key = keys.crypto.agree(&client_transient, &keys.secret)?;
        let mut signature = [0u8; 64];
        signature.copy_from_slice(&data[130..194]);
        // A client that used another server key fails here (libzmq: CRYPTOGRAPHIC).
        hello_key.open(
            &nonce::short(nonce::HELLO, n),
            &mut signature,
            &tag_at(data, 114),
        )?;
        // RFC 26: the signature box "SHALL contain 64 zero octets".
        if signature.iter().any(|&b| b != 0) {
            return Err(cryptographic());
        }
        received.commit(n);

        let transient = keys.crypto.transient_key_pair()?;
        let cookie_nonce = keys.crypto.long_nonce(LongNonce::Cookie)?;
        let mut cookie = Zeroizing::new([0u8; 64]);
        cookie[..32].copy_from_slice(client_transient.as_bytes());
        cookie[32..].copy_from_slice(transient.secret.expose());
        let cookie_tag = keys.cookies.seal(
            now,
            &nonce::long(nonce::COOKIE, &cookie_nonce),
            &mut cookie[..],
        )?;

        let welcome_nonce = keys.crypto.long_nonce(LongNonce::Welcome)?;
        let mut welcome = Zeroizing::new([0u8; 128]);
        welcome[..32].copy_from_slice(transient.public.as_bytes());
        welcome[32..48].copy_from_slice(&cookie_nonce);
        welcome[48..64].copy_from_slice(&cookie_tag);
        welcome[64..].copy_from_slice(&cookie[..]);
        let welcome_tag = hello_key.seal(
            &nonce::long(nonce::WELCOME, &welcome_nonce),
            &mut welcome[..],
        )?;
        let mut out = BytesMut::with_capacity(WELCOME_LEN);
        out.put_slice(b"\x07WELCOME");
        out.put_slice(&welcome_nonce);
        out.put_slice(&welcome_tag);
        out.put_slice(&welcome[..]);
        debug_assert_eq!(out.len(), WELCOME_LEN);
        Ok((
            State::ExpectInitiate(ExpectInitiate {
                client_transient,
                cookie_nonce,
                received,
            }),
            out.freeze(),
        ))
    }
}

impl ExpectInitiate {
    /// INITIATE = `%d8 "INITIATE" cookie(96) nonce(8) Box[C + vouch + metadata](C'->S')`,
    /// vouch = `nonce(16) Box[C' + S](C->S')`. The metadata's Socket-Type must be compatible
    /// with `ours` (libzmq checks it as it reads INITIATE, before ZAP and READY).
    fn handle(
        mut self,
        cmd: Command,
        keys: &ServerKeys,
        ours: SocketType,
        max_properties: usize,
        now: Instant,
    ) -> Result<Initiated, Error> {
        require(&cmd, "INITIATE", false)?;
        let data = &cmd.data;
        if data.len() + 9 < INITIATE_MIN_LEN {
            return Err(malformed(MalformedKind::Initiate));
        }
        // The cookie must be the one this connection was given (a cookie from another
        // connection would otherwise open for as long as its key lives).
        if !bool::from(data[..16].ct_eq(&self.cookie_nonce)) {
            return Err(cryptographic());
        }
        let mut cookie = Zeroizing::new([0u8; 64]);
        cookie.copy_from_slice(&data[32..96]);
        keys.cookies.open(
            now,
            &nonce::long(nonce::COOKIE, &self.cookie_nonce),
            &mut cookie[..],
            &tag_at(data, 16),
        )?;
        if !self.client_transient.ct_eq(&cookie[..32]) {
            return Err(cryptographic());
        }
        // s', straight from the opened cookie (wiped when it drops) into the key's own memory.
        let transient = CurveSecretKey::from_generated(
            cookie[32..]
                .try_into()
                .expect("a cookie holds 32 octets of s'"),
        );

        let n = nonce::read_short(&data[96..104]);
        self.received.check(n)?;
        let session = keys.crypto.agree(&self.client_transient, &transient)?;
        let mut plain = BytesMut::from(&data[120..]);
        session.open(
            &nonce::short(nonce::INITIATE, n),
            &mut plain,
            &tag_at(data, 104),
        )?;

        let client_key = key_at(&plain, 0);
        let mut vouch_nonce = [0u8; 16];
        vouch_nonce.copy_from_slice(&plain[32..48]);
        let mut vouch = [0u8; 64];
        vouch.copy_from_slice(&plain[64..128]);
        // Refuses a weak C, then proves the client holds c.
        let vouch_key = keys.crypto.agree(&client_key, &transient)?;
        vouch_key.open(
            &nonce::long(nonce::VOUCH, &vouch_nonce),
            &mut vouch,
            &tag_at(&plain, 48),
        )?;
        // RFC 26: the vouch is Box[C' + S](C->S'). It must name this connection's C' (libzmq:
        // KEY_EXCHANGE) and us (libzmq does not check S; a client that used another S could not
        // have opened WELCOME, so checking it costs no interop).
        let names_c_prime = self.client_transient.ct_eq(&vouch[..32]);
        let names_us = keys.public.ct_eq(&vouch[32..]);
        if !(names_c_prime & names_us) {
            return Err(ProtocolError::KeyExchange.into());
        }
        let peer = Metadata::decode(plain.freeze().slice(128..), max_properties)?;
        check_peer_socket_type(ours, &peer)?;
        self.received.commit(n);
        Ok(Initiated {
            session,
            received: self.received,
            client_key,
            peer,
        })
    }
}

/// READY = `%d5 "READY" nonce(8) Box[metadata](S'->C')`, our first short nonce.
fn encode_ready(
    session: &dyn PrecomputedBox,
    sent: &mut SendCounter,
    metadata: &Metadata,
) -> Result<Bytes, Error> {
    let n = sent.take()?;
    let mut out = BytesMut::with_capacity(READY_MIN_LEN + metadata.encoded_len());
    out.put_slice(b"\x05READY");
    out.put_u64(n);
    out.put_bytes(0, 16);
    metadata.encode(&mut out);
    let tag = session.seal(&nonce::short(nonce::READY, n), &mut out[READY_MIN_LEN..])?;
    out[14..READY_MIN_LEN].copy_from_slice(&tag);
    Ok(out.freeze())
}

impl CurveServer {
    /// Sends READY and completes the handshake.
    fn ready(
        &mut self,
        session: Box<dyn PrecomputedBox>,
        received: ReceiveWindow,
        peer: Metadata,
        auth: Option<AuthOutcome>,
    ) -> Result<State, Error> {
        let mut sent = SendCounter::new();
        let ready = encode_ready(&*session, &mut sent, &self.local_metadata)?;
        self.outbox.push_back(ready);
        Ok(State::Ready(Ready {
            codec: CurveCodec::server(session, sent, received),
            peer,
            auth,
        }))
    }

    fn step(&mut self, state: State, cmd: Command, now: Instant) -> Result<State, Error> {
        match state {
            State::ExpectHello(step) => {
                let (next, welcome) = step.handle(cmd, &self.keys, now)?;
                self.outbox.push_back(welcome);
                Ok(next)
            }
            State::ExpectInitiate(step) => {
                let initiated =
                    step.handle(cmd, &self.keys, self.socket_type, self.max_properties, now)?;
                if self.ask_zap {
                    self.auth_request = Some(AuthRequest {
                        domain: String::new(),
                        address: String::new(),
                        identity: Bytes::new(),
                        mechanism: MechanismName::CURVE,
                        credentials: vec![Bytes::copy_from_slice(initiated.client_key.as_bytes())],
                    });
                    Ok(State::AwaitAuth(AwaitAuth {
                        session: initiated.session,
                        received: initiated.received,
                        peer: initiated.peer,
                    }))
                } else {
                    self.ready(initiated.session, initiated.received, initiated.peer, None)
                }
            }
            State::AwaitAuth(_) | State::Ready(_) => Err(nothing_expected(&cmd)),
            State::Failed(e) => Err(e),
        }
    }
}

impl Mechanism for CurveServer {
    fn handle_command(&mut self, cmd: Command, now: Instant) -> Result<(), Error> {
        let state = std::mem::replace(
            &mut self.state,
            State::Failed(Error::Io("CURVE step interrupted".into())),
        );
        match self.step(state, cmd, now) {
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
        let State::AwaitAuth(waiting) = std::mem::replace(
            &mut self.state,
            State::Failed(Error::Io("CURVE step interrupted".into())),
        ) else {
            unreachable!("checked above")
        };
        let result = match judge(reply) {
            Verdict::Allow(auth) => {
                self.ready(waiting.session, waiting.received, waiting.peer, Some(auth))
            }
            Verdict::Refuse {
                error,
                error_command,
            } => {
                // libzmq's CURVE server spells ERROR correctly; it goes out as a last gasp.
                self.outbox.extend(error_command);
                Err(error)
            }
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

    fn is_ready(&self) -> bool {
        matches!(self.state, State::Ready(_))
    }

    fn into_established(self: Box<Self>) -> Result<Established, Error> {
        match self.state {
            State::Ready(Ready { codec, peer, auth }) => Ok(Established {
                codec: Box::new(codec),
                peer_metadata: peer,
                auth,
            }),
            State::Failed(e) => Err(e),
            _ => Err(UserError::NotReady.into()),
        }
    }
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
