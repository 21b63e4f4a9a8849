//! The CURVE client (RFC 25, RFC 26 §"Client side").
//!
//! ```text
//! start ──(send HELLO)──► ExpectWelcome ──WELCOME / (send INITIATE)──► ExpectReady ──READY──► Ready
//!                              │                                           │
//!                              └──────────────────── ERROR ────────────────┴──► PeerRefused
//! ```
//!
//! Keys: C/c long-term (ours), S the server's long-term public key (configured), C'/c' our
//! transient pair (new for every connection), S' the server's transient key (from WELCOME).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use zeroize::Zeroizing;
use zmtp_core::error::MalformedKind;
use zmtp_core::{
    AuthRequest, AuthResult, Command, Error, Established, HandshakeContext, Mechanism,
    MechanismConfig, MechanismName, Metadata, ProtocolError, UserError,
};

use super::codec::CurveCodec;
use super::crypto::{CurveCrypto, LongNonce, PrecomputedBox, SystemCrypto, Tag};
use super::crypto_testing::{CurveTestEphemerals, FixedCrypto};
use super::keys::{CurveKeyPair, CurvePublicKey, CurveSecretKey};
use super::nonce::{self, ReceiveWindow, SendCounter};
use super::{HELLO_LEN, INITIATE_MIN_LEN, READY_MIN_LEN, WELCOME_LEN};
use crate::step::{nothing_expected, require};

/// The client side of CURVE: our long-term key pair and the server's public key.
///
/// The server is authenticated by its key (a server without the matching secret cannot open
/// HELLO); we prove our own key to it in INITIATE's vouch. Cloning shares the keys.
#[derive(Clone, Debug)]
pub struct CurveClientConfig {
    keys: Arc<ClientKeys>,
}

#[derive(Debug)]
struct ClientKeys {
    public: CurvePublicKey,
    secret: CurveSecretKey,
    server: CurvePublicKey,
    crypto: Arc<dyn CurveCrypto>,
}

impl CurveClientConfig {
    /// A client with long-term secret key `secret` (its public key is derived) that will only
    /// talk to the server whose public key is `server`.
    pub fn new(secret: CurveSecretKey, server: CurvePublicKey) -> CurveClientConfig {
        CurveClientConfig::with_crypto(secret, server, Arc::new(SystemCrypto))
    }

    /// **Testing only.** A client whose transient key and vouch nonce are the fixed values in
    /// `ephemerals`, so its HELLO and INITIATE are reproducible byte for byte. Every connection
    /// made with it reuses the same transient key: it has no forward secrecy.
    pub fn with_fixed_ephemerals_for_testing_only(
        secret: CurveSecretKey,
        server: CurvePublicKey,
        ephemerals: CurveTestEphemerals,
    ) -> CurveClientConfig {
        CurveClientConfig::with_crypto(secret, server, Arc::new(FixedCrypto(ephemerals)))
    }

    /// **Fuzzing only** (cargo feature `fuzzing`): boxes are not encrypted and MACs are not
    /// checked, so a fuzzer can reach every handshake step.
    #[cfg(feature = "fuzzing")]
    pub fn with_null_crypto_for_fuzzing(
        secret: CurveSecretKey,
        server: CurvePublicKey,
    ) -> CurveClientConfig {
        CurveClientConfig::with_crypto(secret, server, Arc::new(super::crypto_fuzzing::NullCrypto))
    }

    pub(crate) fn with_crypto(
        secret: CurveSecretKey,
        server: CurvePublicKey,
        crypto: Arc<dyn CurveCrypto>,
    ) -> CurveClientConfig {
        CurveClientConfig {
            keys: Arc::new(ClientKeys {
                public: secret.public_key(),
                secret,
                server,
                crypto,
            }),
        }
    }

    /// Our long-term public key (what the server's ZAP handler sees).
    pub fn public_key(&self) -> &CurvePublicKey {
        &self.keys.public
    }

    /// The server's long-term public key.
    pub fn server_key(&self) -> &CurvePublicKey {
        &self.keys.server
    }
}

impl MechanismConfig for CurveClientConfig {
    fn name(&self) -> MechanismName {
        MechanismName::CURVE
    }

    fn as_server(&self) -> bool {
        false
    }

    fn start(&self, ctx: HandshakeContext) -> Result<Box<dyn Mechanism>, Error> {
        let keys = Arc::clone(&self.keys);
        let (hello, expect_welcome) = ExpectWelcome::start(&keys)?;
        Ok(Box::new(CurveClient {
            keys,
            local_metadata: ctx.local_metadata,
            max_properties: ctx.max_properties,
            outbox: VecDeque::from([hello]),
            state: State::ExpectWelcome(expect_welcome),
        }))
    }
}

/// HELLO is sent; the server's WELCOME (or ERROR) is next.
#[derive(Debug)]
struct ExpectWelcome {
    /// c'.
    transient: CurveSecretKey,
    /// C'.
    transient_public: CurvePublicKey,
    /// The C'/S agreement: sealed HELLO's signature, opens WELCOME.
    hello_key: Box<dyn PrecomputedBox>,
    sent: SendCounter,
}

/// INITIATE is sent; the server's READY (or ERROR) is next.
#[derive(Debug)]
struct ExpectReady {
    /// The C'/S' agreement, for READY and every MESSAGE.
    session: Box<dyn PrecomputedBox>,
    sent: SendCounter,
    received: ReceiveWindow,
}

/// The handshake is complete.
#[derive(Debug)]
struct Ready {
    codec: CurveCodec,
    peer: Metadata,
}

#[derive(Debug)]
enum State {
    ExpectWelcome(ExpectWelcome),
    ExpectReady(ExpectReady),
    Ready(Ready),
    Failed(Error),
}

#[derive(Debug)]
struct CurveClient {
    keys: Arc<ClientKeys>,
    local_metadata: Metadata,
    max_properties: usize,
    outbox: VecDeque<Bytes>,
    state: State,
}

fn tag_at(bytes: &[u8], at: usize) -> Tag {
    let mut tag = [0u8; 16];
    tag.copy_from_slice(&bytes[at..at + 16]);
    tag
}

impl ExpectWelcome {
    /// Makes c', agrees C'/S and builds HELLO:
    /// `%d5 "HELLO" %x01 %x00 72%x00 C' nonce(8) Box[64 × %x00](C'->S)`.
    fn start(keys: &ClientKeys) -> Result<(Bytes, ExpectWelcome), Error> {
        let CurveKeyPair {
            public: transient_public,
            secret: transient,
        } = keys.crypto.transient_key_pair()?;
        // A weak server key is refused here, before anything is sent.
        let hello_key = keys.crypto.agree(&keys.server, &transient)?;
        let mut sent = SendCounter::new();
        let n = sent.take()?;
        let mut hello = BytesMut::with_capacity(HELLO_LEN);
        hello.put_slice(b"\x05HELLO");
        hello.put_slice(&[1, 0]);
        // RFC 26: anti-amplification padding, so HELLO is larger than WELCOME.
        hello.put_bytes(0, 72);
        hello.put_slice(transient_public.as_bytes());
        hello.put_u64(n);
        let tag_at_offset = hello.len();
        hello.put_bytes(0, 16 + 64);
        let tag = hello_key.seal(
            &nonce::short(nonce::HELLO, n),
            &mut hello[tag_at_offset + 16..],
        )?;
        hello[tag_at_offset..tag_at_offset + 16].copy_from_slice(&tag);
        debug_assert_eq!(hello.len(), HELLO_LEN);
        Ok((
            hello.freeze(),
            ExpectWelcome {
                transient,
                transient_public,
                hello_key,
                sent,
            },
        ))
    }

    /// WELCOME = `%d7 "WELCOME" nonce(16) Box[S' + cookie](S->C')`; answers with
    /// INITIATE = `%d8 "INITIATE" cookie(96) nonce(8) Box[C + vouch + metadata](C'->S')`.
    fn handle(
        mut self,
        cmd: Command,
        keys: &ClientKeys,
        metadata: &Metadata,
    ) -> Result<(State, Bytes), Error> {
        require(&cmd, "WELCOME", true)?;
        let data = &cmd.data;
        if data.len() + 8 != WELCOME_LEN {
            return Err(ProtocolError::MalformedCommand(MalformedKind::Welcome).into());
        }
        let mut welcome_nonce = [0u8; 16];
        welcome_nonce.copy_from_slice(&data[..16]);
        let mut welcome = Zeroizing::new([0u8; 128]);
        welcome.copy_from_slice(&data[32..160]);
        self.hello_key.open(
            &nonce::long(nonce::WELCOME, &welcome_nonce),
            &mut welcome[..],
            &tag_at(data, 16),
        )?;
        let mut server_transient = [0u8; 32];
        server_transient.copy_from_slice(&welcome[..32]);
        let server_transient = CurvePublicKey::from_wire(server_transient);
        let cookie = &welcome[32..128];
        let session = keys.crypto.agree(&server_transient, &self.transient)?;

        // The vouch: Box[C' + S](C->S'), proof that the holder of c sent this C'.
        let vouch_nonce = keys.crypto.long_nonce(LongNonce::Vouch)?;
        let vouch_key = keys.crypto.agree(&server_transient, &keys.secret)?;
        let mut vouch = [0u8; 64];
        vouch[..32].copy_from_slice(self.transient_public.as_bytes());
        vouch[32..].copy_from_slice(keys.server.as_bytes());
        let vouch_tag = vouch_key.seal(&nonce::long(nonce::VOUCH, &vouch_nonce), &mut vouch)?;

        let n = self.sent.take()?;
        let mut initiate = BytesMut::with_capacity(INITIATE_MIN_LEN + metadata.encoded_len());
        initiate.put_slice(b"\x08INITIATE");
        initiate.put_slice(cookie);
        initiate.put_u64(n);
        let tag_offset = initiate.len();
        initiate.put_bytes(0, 16);
        initiate.put_slice(keys.public.as_bytes());
        initiate.put_slice(&vouch_nonce);
        initiate.put_slice(&vouch_tag);
        initiate.put_slice(&vouch);
        metadata.encode(&mut initiate);
        let tag = session.seal(
            &nonce::short(nonce::INITIATE, n),
            &mut initiate[tag_offset + 16..],
        )?;
        initiate[tag_offset..tag_offset + 16].copy_from_slice(&tag);
        Ok((
            State::ExpectReady(ExpectReady {
                session,
                sent: self.sent,
                received: ReceiveWindow::new(),
            }),
            initiate.freeze(),
        ))
    }
}

impl ExpectReady {
    /// READY = `%d5 "READY" nonce(8) Box[metadata](S'->C')`.
    fn handle(mut self, cmd: Command, max_properties: usize) -> Result<State, Error> {
        require(&cmd, "READY", true)?;
        let data = &cmd.data;
        if data.len() + 6 < READY_MIN_LEN {
            return Err(ProtocolError::MalformedCommand(MalformedKind::Ready).into());
        }
        let n = nonce::read_short(&data[..8]);
        self.received.check(n)?;
        let mut metadata = BytesMut::from(&data[24..]);
        self.session.open(
            &nonce::short(nonce::READY, n),
            &mut metadata,
            &tag_at(data, 8),
        )?;
        let peer = Metadata::decode(metadata.freeze(), max_properties)?;
        self.received.commit(n);
        Ok(State::Ready(Ready {
            codec: CurveCodec::client(self.session, self.sent, self.received),
            peer,
        }))
    }
}

impl Mechanism for CurveClient {
    fn handle_command(&mut self, cmd: Command, _now: Instant) -> Result<(), Error> {
        let state = std::mem::replace(
            &mut self.state,
            State::Failed(Error::Io("CURVE step interrupted".into())),
        );
        let result = match state {
            State::ExpectWelcome(step) => {
                step.handle(cmd, &self.keys, &self.local_metadata)
                    .map(|(next, initiate)| {
                        self.outbox.push_back(initiate);
                        next
                    })
            }
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
            State::Ready(Ready { codec, peer }) => Ok(Established {
                codec: Box::new(codec),
                peer_metadata: peer,
                auth: None,
            }),
            State::Failed(e) => Err(e),
            _ => Err(UserError::NotReady.into()),
        }
    }
}
