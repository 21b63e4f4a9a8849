//! One ZMTP connection: greeting → handshake → traffic, sans-IO.
//!
//! The driver owns the socket and the clock. After every input or command it drains the outputs:
//!
//! 1. inputs: [`Session::handle_input`] (bytes read), [`Session::handle_timeout`] (the deadline
//!    from `poll_timeout` passed), [`Session::handle_auth_reply`] (a ZAP answer);
//! 2. commands: [`Session::send_message`], [`Session::send_subscription`];
//! 3. outputs: [`Session::poll_transmit`] until `None` (bytes to write, in order),
//!    [`Session::poll_event`] until `None`, then [`Session::poll_timeout`] for the next deadline.
//!
//! Errors are sticky: after the first fatal error every input returns a clone of it, and any
//! last-gasp bytes (an ERROR command) are still available from `poll_transmit`.

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::auth::{AuthRequest, AuthResult};
use crate::error::{Error, Limit, ProtocolError, UserError};
use crate::limits::Limits;
use crate::mechanism::{HandshakeContext, Mechanism, MechanismConfig, MessageCodec};
use crate::socket_type::SocketType;
use crate::transmit::TransmitQueue;
use crate::wire::command::{self, Command, Ping};
use crate::wire::frame::{Frame, FrameDecoder, FrameLimits, RawBody};
use crate::wire::greeting::{Greeting, GreetingDecoder};
use crate::wire::metadata::{self, Metadata};
use crate::wire::pool::BodyPool;

/// Heartbeat settings (RFC 37; libzmq's `ZMQ_HEARTBEAT_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Heartbeat {
    /// Send a PING after this long without sending one. `None` disables heartbeats.
    pub interval: Option<Duration>,
    /// The TTL we ask the peer to apply (sent in PING, rounded down to deciseconds).
    pub ttl: Option<Duration>,
    /// How long to wait for any traffic after a PING (default: the interval).
    pub timeout: Option<Duration>,
}

/// Everything a session needs to know about its socket. Shared by all its connections.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Our socket type.
    pub socket_type: SocketType,
    /// Our routing id (sent as `Identity` by REQ, DEALER and ROUTER).
    pub routing_id: Bytes,
    /// The security mechanism.
    pub mechanism: Arc<dyn MechanismConfig>,
    /// Size limits.
    pub limits: Limits,
    /// Maximum handshake duration (libzmq's `ZMQ_HANDSHAKE_IVL`, default 30 s). `None`: no limit.
    pub handshake_timeout: Option<Duration>,
    /// Heartbeats.
    pub heartbeat: Heartbeat,
    /// ZAP domain.
    pub zap_domain: Option<String>,
    /// Authenticate peers through ZAP even without a domain (the driver sets this when the
    /// socket has an authenticator). A domain alone also turns authentication on.
    pub authenticate: bool,
    /// Extra properties announced in READY/INITIATE (libzmq's `ZMQ_METADATA`).
    pub metadata: Metadata,
    /// The large-body buffers of this configuration's sessions (see [`SessionConfig::buffers`]).
    buffers: BufferCell,
}

/// Made on first use, from the limits the configuration has by then. A clone of a
/// configuration starts without one, so it gets buffers (and a bound) of its own.
#[derive(Debug, Default)]
struct BufferCell(OnceLock<BodyPool>);

impl Clone for BufferCell {
    fn clone(&self) -> Self {
        BufferCell::default()
    }
}

impl SessionConfig {
    /// A configuration with libzmq's defaults for `socket_type` and `mechanism`.
    pub fn new(socket_type: SocketType, mechanism: Arc<dyn MechanismConfig>) -> SessionConfig {
        SessionConfig {
            socket_type,
            routing_id: Bytes::new(),
            mechanism,
            limits: Limits::default(),
            handshake_timeout: Some(Duration::from_secs(30)),
            heartbeat: Heartbeat::default(),
            zap_domain: None,
            authenticate: false,
            metadata: Metadata::new(),
            buffers: BufferCell::default(),
        }
    }

    /// The pool of large-body buffers that every session of this configuration (every
    /// connection of the socket) shares, bounded by `limits.buffer_pool` as it was when the
    /// first session started.
    pub fn buffers(&self) -> &BodyPool {
        self.buffers
            .0
            .get_or_init(|| BodyPool::new(self.limits.buffer_pool))
    }

    /// The domain mechanisms see: `Some` (possibly empty) when peers are authenticated.
    fn handshake_zap_domain(&self) -> Option<String> {
        if self.authenticate || self.zap_domain.is_some() {
            Some(self.zap_domain.clone().unwrap_or_default())
        } else {
            None
        }
    }

    fn local_metadata(&self) -> Metadata {
        let mut m = Metadata::new();
        // libzmq matches these names exactly and wants the type in upper case.
        m.push(
            metadata::SOCKET_TYPE,
            Bytes::from_static(self.socket_type.as_str().as_bytes()),
        )
        .expect("valid name");
        if self.socket_type.sends_identity() {
            m.push(metadata::IDENTITY, self.routing_id.clone())
                .expect("valid name");
        }
        m.extend(&self.metadata);
        m
    }
}

/// What is known about the peer once the handshake is complete.
#[derive(Clone, Debug)]
pub struct PeerInfo {
    /// The peer's socket type.
    pub socket_type: SocketType,
    /// The peer's routing id (its `Identity` property; empty when none was sent).
    pub routing_id: Bytes,
    /// The peer's minor ZMTP version (0 or 1).
    pub minor_version: u8,
    /// The properties every message from this peer carries: Peer-Address, then ZAP's User-Id
    /// and metadata, then the peer's own properties. Lookups take the first match, so a peer can
    /// never shadow what authentication established.
    pub properties: Arc<Metadata>,
    /// The authenticated user id, when ZAP was consulted.
    pub user_id: Option<String>,
    /// Messages to this peer go on the wire as framed, unchanged by the mechanism (NULL,
    /// PLAIN): a message encoded once ([`wire::frame::encode_message`]) can be handed to
    /// [`Session::send_encoded`] of every such peer.
    ///
    /// [`wire::frame::encode_message`]: crate::wire::frame::encode_message
    pub frames_unchanged: bool,
}

/// A multipart message's frames. Up to two are kept inline (a body alone, or an envelope
/// delimiter or routing id and a body), so the common message costs no allocation of its own on
/// its way between the wire and the application; longer messages spill to the heap.
pub type Parts = smallvec::SmallVec<[Bytes; 2]>;

/// Outputs for the application.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// The handshake completed.
    Ready(PeerInfo),
    /// A whole multipart message.
    Message(Parts),
    /// The peer subscribed to a topic (SUBSCRIBE command, or a `\x01topic` message for 3.0).
    Subscribe(Bytes),
    /// The peer cancelled a subscription.
    Cancel(Bytes),
    /// The mechanism wants the peer authenticated: answer with `handle_auth_reply`.
    AuthRequest(AuthRequest),
}

#[derive(Debug)]
enum Phase {
    Greeting(GreetingDecoder),
    Handshake(Box<Handshake>),
    Traffic(Box<Traffic>),
    Failed(Error),
}

#[derive(Debug)]
struct Handshake {
    greeting: Greeting,
    mechanism: Box<dyn Mechanism>,
    frames: FrameDecoder,
    auth_pending: bool,
}

#[derive(Debug)]
struct Traffic {
    peer: PeerInfo,
    codec: Box<dyn MessageCodec>,
    frames: FrameDecoder,
    parts: Parts,
    message_bytes: u64,
    next_ping: Option<Instant>,
    pong_deadline: Option<Instant>,
    ttl_deadline: Option<Instant>,
    /// The context of the PONG we owe, sealed only when the transmit queue has drained: a peer
    /// that sends PINGs and never reads gets one PONG outstanding, not one per PING (libzmq
    /// keeps a single pending PONG the same way).
    pong_due: Option<Bytes>,
}

/// One connection's protocol state.
#[derive(Debug)]
pub struct Session {
    config: Arc<SessionConfig>,
    peer_address: String,
    phase: Phase,
    tx: TransmitQueue,
    events: VecDeque<Event>,
    handshake_deadline: Option<Instant>,
}

impl Session {
    /// Starts a connection. Our greeting is queued at once, in full: libzmq waits for our first
    /// octets before sending the rest of its own, so we never wait for the peer's.
    pub fn new(config: Arc<SessionConfig>, peer_address: impl Into<String>, now: Instant) -> Self {
        let mut tx = TransmitQueue::with_buffers(config.buffers().clone());
        let mut greeting = BytesMut::with_capacity(64);
        Greeting::ours(config.mechanism.name(), config.mechanism.as_server()).encode(&mut greeting);
        tx.put_slice(&greeting);
        Session {
            handshake_deadline: config.handshake_timeout.map(|t| now + t),
            config,
            peer_address: peer_address.into(),
            phase: Phase::Greeting(GreetingDecoder::new()),
            tx,
            events: VecDeque::new(),
        }
    }

    /// The sticky error, if the session has failed.
    pub fn error(&self) -> Option<&Error> {
        match &self.phase {
            Phase::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the handshake is complete and messages flow.
    pub fn is_ready(&self) -> bool {
        matches!(self.phase, Phase::Traffic(_))
    }

    /// The peer, once ready.
    pub fn peer(&self) -> Option<&PeerInfo> {
        match &self.phase {
            Phase::Traffic(t) => Some(&t.peer),
            _ => None,
        }
    }

    /// Feeds bytes read from the peer. Consumes what it can and leaves a partial frame in `src`.
    pub fn handle_input(&mut self, src: &mut BytesMut, now: Instant) -> Result<(), Error> {
        let result = self.process_input(src, now);
        self.fail_on(result)
    }

    /// Where the next read may go instead of the read buffer: while a large frame body is
    /// arriving, its own buffer, limited to what it still lacks (see
    /// [`FrameDecoder::body_room`]). Read into it, then call [`Session::handle_input`] as after
    /// any read. `None`: read into the buffer given to `handle_input`.
    pub fn body_room(&mut self) -> Option<bytes::buf::Limit<&mut Vec<u8>>> {
        match &mut self.phase {
            Phase::Traffic(t) => t.frames.body_room(),
            _ => None,
        }
    }

    /// Octets of idle large-body buffers kept for reuse by this session's socket (all sessions
    /// of its configuration), bounded by [`Limits::buffer_pool`].
    pub fn idle_buffer_octets(&self) -> usize {
        self.config.buffers().idle_octets()
    }

    /// The peer closed its end.
    pub fn handle_eof(&mut self) -> Error {
        if let Phase::Failed(e) = &self.phase {
            return e.clone();
        }
        let err = Error::PeerClosed;
        self.phase = Phase::Failed(err.clone());
        err
    }

    /// The deadline from [`Session::poll_timeout`] has passed (or any time; it is idempotent).
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), Error> {
        let result = self.process_timeout(now);
        self.fail_on(result)
    }

    /// The answer to an [`Event::AuthRequest`].
    pub fn handle_auth_reply(&mut self, reply: AuthResult, now: Instant) -> Result<(), Error> {
        let result = match &mut self.phase {
            Phase::Failed(e) => return Err(e.clone()),
            Phase::Handshake(hs) if hs.auth_pending => {
                hs.auth_pending = false;
                hs.mechanism.handle_auth_reply(reply)
            }
            _ => Err(UserError::NoAuthPending.into()),
        };
        let result = result.and_then(|()| self.after_mechanism_step(now));
        self.fail_on(result)
    }

    /// Queues a multipart message (a `Vec<Bytes>`, [`Parts`], an array, …).
    pub fn send_message<P>(&mut self, parts: P) -> Result<(), Error>
    where
        P: IntoIterator<Item = Bytes>,
        P::IntoIter: ExactSizeIterator,
    {
        let parts = parts.into_iter();
        let Phase::Traffic(t) = &mut self.phase else {
            return Err(match &self.phase {
                Phase::Failed(e) => e.clone(),
                _ => UserError::NotReady.into(),
            });
        };
        if parts.len() == 0 {
            return Err(UserError::EmptyMessage.into());
        }
        let last = parts.len() - 1;
        for (i, part) in parts.enumerate() {
            t.codec.seal(Frame::data(part, i < last), &mut self.tx)?;
        }
        Ok(())
    }

    /// Queues a message already framed for the wire by [`wire::frame::encode_message`]: the
    /// same bytes for every peer whose [`PeerInfo::frames_unchanged`] holds, so a publisher
    /// encodes a message once however many peers it goes to. Refused
    /// ([`UserError::NotFramesUnchanged`]) when this peer's mechanism transforms frames.
    ///
    /// [`wire::frame::encode_message`]: crate::wire::frame::encode_message
    pub fn send_encoded(&mut self, wire: Bytes) -> Result<(), Error> {
        let Phase::Traffic(t) = &mut self.phase else {
            return Err(match &self.phase {
                Phase::Failed(e) => e.clone(),
                _ => UserError::NotReady.into(),
            });
        };
        if !t.codec.frames_unchanged() {
            return Err(UserError::NotFramesUnchanged.into());
        }
        if wire.is_empty() {
            return Err(UserError::EmptyMessage.into());
        }
        // Small ones are copied into the write buffer like any frame (chaining each as a
        // buffer of its own measured slower with a multi-thread runtime), large ones chained.
        self.tx.put_bytes(wire);
        Ok(())
    }

    /// Queues a subscription (`subscribe = true`) or cancellation: a SUBSCRIBE/CANCEL command to
    /// a ZMTP 3.1 peer, a `\x01topic`/`\x00topic` message to a 3.0 peer, as libzmq does.
    pub fn send_subscription(&mut self, topic: &[u8], subscribe: bool) -> Result<(), Error> {
        let Phase::Traffic(t) = &mut self.phase else {
            return Err(match &self.phase {
                Phase::Failed(e) => e.clone(),
                _ => UserError::NotReady.into(),
            });
        };
        let frame = if t.peer.minor_version >= 1 {
            let name = if subscribe { "SUBSCRIBE" } else { "CANCEL" };
            Frame::command(Command::encode(name, topic))
        } else {
            let mut body = BytesMut::with_capacity(1 + topic.len());
            body.extend_from_slice(&[u8::from(subscribe)]);
            body.extend_from_slice(topic);
            Frame::data(body.freeze(), false)
        };
        t.codec.seal(frame, &mut self.tx)
    }

    /// The next bytes to write to the peer.
    ///
    /// A PONG owed to the peer is sealed only once everything queued before it was taken, so a
    /// driver that stops calling this while its own write backlog is full holds at most one PONG
    /// however many PINGs arrive meanwhile.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        if self.tx.is_empty() {
            if let Phase::Traffic(t) = &mut self.phase {
                if let Some(context) = t.pong_due.take() {
                    let sealed = t
                        .codec
                        .seal(Frame::command(command::encode_pong(&context)), &mut self.tx);
                    if let Err(e) = sealed {
                        self.phase = Phase::Failed(e);
                    }
                }
            }
        }
        self.tx.pop()
    }

    /// Whether a PONG is owed and not yet sealed.
    pub fn pong_due(&self) -> bool {
        matches!(&self.phase, Phase::Traffic(t) if t.pong_due.is_some())
    }

    /// Octets waiting in [`Session::poll_transmit`].
    pub fn pending_transmit(&self) -> usize {
        self.tx.len()
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Session::handle_timeout`] must next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Greeting(_) | Phase::Handshake(_) => self.handshake_deadline,
            Phase::Traffic(t) => [t.next_ping, t.pong_deadline, t.ttl_deadline]
                .into_iter()
                .flatten()
                .min(),
            Phase::Failed(_) => None,
        }
    }

    fn fail_on(&mut self, result: Result<(), Error>) -> Result<(), Error> {
        if let Err(e) = &result {
            if !matches!(self.phase, Phase::Failed(_)) {
                // Last gasp: an ERROR the mechanism queued before failing still goes out.
                if let Phase::Handshake(hs) = &mut self.phase {
                    while let Some(cmd) = hs.mechanism.poll_command() {
                        self.tx.put_frame(false, true, cmd);
                    }
                }
                self.phase = Phase::Failed(e.clone());
            }
        }
        result
    }

    /// Octets arrived that the driver holds back without passing them in yet (while the
    /// application's queue is full, say): they still count as a sign of life for heartbeats
    /// (RFC 37), so a peer is not timed out for traffic we chose not to read.
    pub fn handle_traffic_seen(&mut self) {
        if let Phase::Traffic(t) = &mut self.phase {
            t.pong_deadline = None;
            t.ttl_deadline = None;
        }
    }

    fn process_input(&mut self, src: &mut BytesMut, now: Instant) -> Result<(), Error> {
        let into_body = match &mut self.phase {
            Phase::Traffic(t) => t.frames.take_progress(),
            _ => false,
        };
        if !src.is_empty() || into_body {
            // RFC 37: any traffic counts as a sign of life.
            self.handle_traffic_seen();
        }
        loop {
            match &mut self.phase {
                Phase::Failed(e) => return Err(e.clone()),
                Phase::Greeting(decoder) => {
                    let Some(greeting) = decoder.decode(src)? else {
                        return Ok(());
                    };
                    self.start_handshake(greeting, now)?;
                }
                Phase::Handshake(hs) => {
                    let limits = FrameLimits {
                        max_data: 0,
                        max_command: self.config.limits.max_command_size,
                        data_limit_is_message: false,
                        commands_only: true,
                    };
                    let Some(frame) = hs.frames.decode(src, limits)? else {
                        return Ok(());
                    };
                    hs.mechanism.handle_command_body(frame.body, now)?;
                    self.after_mechanism_step(now)?;
                }
                Phase::Traffic(t) => {
                    let limits = &self.config.limits;
                    let budget = limits.max_message_size.saturating_sub(t.message_bytes);
                    let (max_data, data_limit_is_message) = if budget < limits.max_frame_size {
                        (budget, true)
                    } else {
                        (limits.max_frame_size, false)
                    };
                    let overhead = t.codec.overhead();
                    let frame_limits = FrameLimits {
                        max_data: max_data.saturating_add(overhead),
                        max_command: limits.max_command_size.saturating_add(overhead),
                        data_limit_is_message,
                        commands_only: false,
                    };
                    let pool = self.config.buffers();
                    let Some(wire) = t.frames.decode_raw(src, frame_limits, Some(pool))? else {
                        return Ok(());
                    };
                    let frame = match wire.body {
                        RawBody::Shared(body) => t.codec.open(Frame {
                            more: wire.more,
                            command: wire.command,
                            body,
                        })?,
                        RawBody::Own(mut buf) => {
                            match t.codec.open_in_place(wire.more, wire.command, &mut buf)? {
                                Some(o) => Frame {
                                    more: o.more,
                                    command: o.command,
                                    body: pool.lend(buf, o.start),
                                },
                                None => t.codec.open(Frame {
                                    more: wire.more,
                                    command: wire.command,
                                    body: pool.lend(buf, 0),
                                })?,
                            }
                        }
                    };
                    Self::handle_traffic_frame(&self.config, t, frame, &mut self.events, now)?;
                }
            }
        }
    }

    fn start_handshake(&mut self, greeting: Greeting, now: Instant) -> Result<(), Error> {
        let ours = self.config.mechanism.name();
        // RFC 23: the mechanism names must match exactly (all 20 octets). libzmq closes without
        // ERROR on a mismatch, and so do we.
        if &greeting.mechanism != ours.as_wire() {
            let end = greeting
                .mechanism
                .iter()
                .position(|&b| b == 0)
                .unwrap_or(20);
            return Err(ProtocolError::MechanismMismatch {
                ours: ours.as_str_lossy(),
                theirs: String::from_utf8_lossy(&greeting.mechanism[..end]).into_owned(),
            }
            .into());
        }
        let mechanism = self.config.mechanism.start(HandshakeContext {
            socket_type: self.config.socket_type,
            local_metadata: self.config.local_metadata(),
            peer_greeting: greeting,
            zap_domain: self.config.handshake_zap_domain(),
            max_properties: self.config.limits.max_properties,
            now,
        })?;
        self.phase = Phase::Handshake(Box::new(Handshake {
            greeting,
            mechanism,
            frames: FrameDecoder::new(),
            auth_pending: false,
        }));
        self.after_mechanism_step(now)
    }

    /// Drains the mechanism's outputs and moves to the traffic phase once it is ready.
    fn after_mechanism_step(&mut self, now: Instant) -> Result<(), Error> {
        let Phase::Handshake(hs) = &mut self.phase else {
            return Ok(());
        };
        while let Some(cmd) = hs.mechanism.poll_command() {
            self.tx.put_frame(false, true, cmd);
        }
        if let Some(mut req) = hs.mechanism.poll_auth_request() {
            req.domain = self.config.zap_domain.clone().unwrap_or_default();
            req.address = peer_ip(&self.peer_address).to_owned();
            req.identity = self.config.routing_id.clone();
            hs.auth_pending = true;
            self.events.push_back(Event::AuthRequest(req));
        }
        if !hs.mechanism.is_ready() {
            return Ok(());
        }
        let Phase::Handshake(hs) = std::mem::replace(
            &mut self.phase,
            Phase::Failed(Error::Io("handshake interrupted".into())),
        ) else {
            unreachable!("checked above")
        };
        // Whatever happens next, the phase ends as Traffic or as Failed with the real cause.
        match self.establish(*hs, now) {
            Ok(traffic) => {
                self.events.push_back(Event::Ready(traffic.peer.clone()));
                self.phase = Phase::Traffic(Box::new(traffic));
                Ok(())
            }
            Err(e) => {
                self.phase = Phase::Failed(e.clone());
                Err(e)
            }
        }
    }

    /// Turns a ready handshake into the traffic phase, checking the peer's socket type.
    fn establish(&self, hs: Handshake, now: Instant) -> Result<Traffic, Error> {
        let greeting = hs.greeting;
        let established = hs.mechanism.into_established()?;
        let peer_meta = established.peer_metadata;
        // RFC 23: "Socket-Type" is required, and an incompatible peer is closed.
        let peer_type =
            crate::mechanism::check_peer_socket_type(self.config.socket_type, &peer_meta)?;
        let routing_id = peer_meta
            .get(metadata::IDENTITY)
            .cloned()
            .unwrap_or_default();
        // Peer-Address first, then what ZAP established, then the peer's own: first match wins.
        let mut properties = Metadata::new();
        properties
            .push(
                metadata::PEER_ADDRESS,
                Bytes::copy_from_slice(peer_ip(&self.peer_address).as_bytes()),
            )
            .expect("valid name");
        let mut user_id = None;
        if let Some(auth) = &established.auth {
            properties
                .push(
                    metadata::USER_ID,
                    Bytes::copy_from_slice(auth.user_id.as_bytes()),
                )
                .expect("valid name");
            properties.extend(&auth.metadata);
            user_id = Some(auth.user_id.clone());
        }
        // What only we can know is never taken from the peer: a peer announcing its own
        // `User-Id` (or `Peer-Address`) would otherwise pass for an authenticated one on a socket
        // that did not ask ZAP. Its other properties stay reachable under their own names.
        let mut announced = peer_meta;
        announced.retain(|p| !is_local_only_property(&p.name));
        properties.extend(&announced);
        let peer = PeerInfo {
            socket_type: peer_type,
            routing_id,
            minor_version: greeting.minor.min(1),
            properties: Arc::new(properties),
            user_id,
            frames_unchanged: established.codec.frames_unchanged(),
        };
        Ok(Traffic {
            peer,
            codec: established.codec,
            frames: FrameDecoder::new(),
            parts: Parts::new(),
            message_bytes: 0,
            next_ping: self.config.heartbeat.interval.map(|i| now + i),
            pong_deadline: None,
            ttl_deadline: None,
            pong_due: None,
        })
    }

    fn handle_traffic_frame(
        config: &SessionConfig,
        t: &mut Traffic,
        frame: Frame,
        events: &mut VecDeque<Event>,
        now: Instant,
    ) -> Result<(), Error> {
        if frame.command {
            // Commands never reach the socket's message flow.
            let cmd = Command::parse(frame.body)?;
            if cmd.is("PING") {
                let ping = Ping::parse(cmd.data)?;
                // A newer PING replaces the PONG still owed (see `poll_transmit`).
                t.pong_due = Some(ping.context);
                if ping.ttl_deciseconds > 0 {
                    t.ttl_deadline =
                        Some(now + Duration::from_millis(u64::from(ping.ttl_deciseconds) * 100));
                }
            } else if cmd.is("PONG") {
                // Liveness was already noted when the bytes arrived.
            } else if cmd.is("SUBSCRIBE") && config.socket_type.accepts_subscriptions() {
                events.push_back(Event::Subscribe(cmd.data));
            } else if cmd.is("CANCEL") && config.socket_type.accepts_subscriptions() {
                events.push_back(Event::Cancel(cmd.data));
            } else if cmd.is("ERROR") {
                let reason = command::parse_error_reason(cmd.data)?;
                return Err(Error::PeerRefused { reason });
            } else {
                // Unknown commands are ignored, for forward compatibility.
                tracing::debug!(command = %cmd.name_lossy(), "ignoring unknown command");
            }
            return Ok(());
        }
        let limits = &config.limits;
        if t.parts.len() >= limits.max_message_parts {
            return Err(Error::LimitExceeded {
                what: Limit::MessageParts,
                limit: limits.max_message_parts as u64,
                actual: t.parts.len() as u64 + 1,
            });
        }
        t.message_bytes += frame.body.len() as u64;
        if t.message_bytes > limits.max_message_size {
            return Err(Error::LimitExceeded {
                what: Limit::MessageSize,
                limit: limits.max_message_size,
                actual: t.message_bytes,
            });
        }
        t.parts.push(frame.body);
        if frame.more {
            return Ok(());
        }
        let parts = std::mem::take(&mut t.parts);
        t.message_bytes = 0;
        // ZMTP 3.0 subscriptions travel as messages whose first octet is 1 or 0.
        if config.socket_type.accepts_subscriptions() && parts.len() == 1 {
            let mut body = parts.into_iter().next().expect("one part");
            return match body.first() {
                Some(1) => {
                    events.push_back(Event::Subscribe(body.split_off(1)));
                    Ok(())
                }
                Some(0) => {
                    events.push_back(Event::Cancel(body.split_off(1)));
                    Ok(())
                }
                _ => {
                    events.push_back(Event::Message(smallvec::smallvec![body]));
                    Ok(())
                }
            };
        }
        events.push_back(Event::Message(parts));
        Ok(())
    }

    fn process_timeout(&mut self, now: Instant) -> Result<(), Error> {
        match &mut self.phase {
            Phase::Failed(e) => Err(e.clone()),
            Phase::Greeting(_) | Phase::Handshake(_) => match self.handshake_deadline {
                Some(d) if now >= d => Err(Error::HandshakeTimeout),
                _ => Ok(()),
            },
            Phase::Traffic(t) => {
                if t.pong_deadline.is_some_and(|d| now >= d)
                    || t.ttl_deadline.is_some_and(|d| now >= d)
                {
                    return Err(Error::HeartbeatTimeout);
                }
                let hb = self.config.heartbeat;
                if let (Some(due), Some(interval)) = (t.next_ping, hb.interval) {
                    if now >= due {
                        let ttl = hb
                            .ttl
                            .map(|d| u16::try_from(d.as_millis() / 100).unwrap_or(u16::MAX))
                            .unwrap_or(0);
                        let ping = Ping {
                            ttl_deciseconds: ttl,
                            context: Bytes::new(),
                        };
                        t.codec.seal(Frame::command(ping.encode()), &mut self.tx)?;
                        t.next_ping = Some(now + interval);
                        if t.pong_deadline.is_none() {
                            t.pong_deadline = Some(now + hb.timeout.unwrap_or(interval));
                        }
                    }
                }
                Ok(())
            }
        }
    }
}

/// Properties that only the local side establishes (ZMTP property names ignore case).
fn is_local_only_property(name: &str) -> bool {
    name.eq_ignore_ascii_case(metadata::USER_ID)
        || name.eq_ignore_ascii_case(metadata::PEER_ADDRESS)
}

/// The IP part of `ip:port` or `[v6]:port`, as ZAP wants it.
fn peer_ip(address: &str) -> &str {
    if let Some(rest) = address.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match address.rsplit_once(':') {
        Some((ip, port)) if !ip.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => ip,
        _ => address,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_ip_strips_ports() {
        assert_eq!(peer_ip("127.0.0.1:5555"), "127.0.0.1");
        assert_eq!(peer_ip("[::1]:80"), "::1");
        assert_eq!(peer_ip("::1"), "::1");
        assert_eq!(peer_ip("unix-socket"), "unix-socket");
    }
}
