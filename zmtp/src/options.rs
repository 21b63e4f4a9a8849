//! Socket options, named after libzmq's where one exists.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use zmtp_core::{Heartbeat, Limits, MechanismConfig, Metadata};
use zmtp_mechanisms::NullConfig;
use zmtp_zap::Authenticator;

/// Options of one socket. Set them before `bind`/`connect`; each connection takes a snapshot.
#[derive(Clone, Debug)]
pub struct SocketOptions {
    /// Security mechanism (default NULL).
    pub mechanism: Arc<dyn MechanismConfig>,
    /// `ZMQ_ROUTING_ID`: sent as Identity by REQ, DEALER and ROUTER.
    pub routing_id: Bytes,
    /// `ZMQ_SNDHWM`: messages queued per peer before `send` waits (default 1000).
    pub sndhwm: usize,
    /// `ZMQ_RCVHWM`: messages queued for `recv` before connections stop reading (default 1000).
    pub rcvhwm: usize,
    /// Size limits (`ZMQ_MAXMSGSIZE` is `limits.max_message_size`).
    pub limits: Limits,
    /// `ZMQ_HANDSHAKE_IVL` (default 30 s; `None` disables).
    pub handshake_ivl: Option<Duration>,
    /// `ZMQ_HEARTBEAT_IVL`, `ZMQ_HEARTBEAT_TTL`, `ZMQ_HEARTBEAT_TIMEOUT`.
    pub heartbeat: Heartbeat,
    /// `ZMQ_RECONNECT_IVL` (default 100 ms).
    pub reconnect_ivl: Duration,
    /// `ZMQ_RECONNECT_IVL_MAX`: upper bound of the exponential backoff (default: no backoff).
    pub reconnect_ivl_max: Option<Duration>,
    /// `ZMQ_ZAP_DOMAIN`.
    pub zap_domain: Option<String>,
    /// Who answers ZAP requests.
    ///
    /// When peers are authenticated (differences from libzmq marked):
    /// - PLAIN servers always ask, and refuse every client when no authenticator is set;
    /// - CURVE and NULL ask when an authenticator is set or `zap_domain` is set (libzmq: CURVE
    ///   asks when a handler exists; NULL only with a domain);
    /// - a socket with a `zap_domain` but no authenticator refuses every peer (libzmq accepts
    ///   them unless `ZMQ_ZAP_ENFORCE_DOMAIN` is set): a domain means authentication was wanted.
    ///   [`SocketOptions::zap_enforce_domain`] `= false` restores libzmq's behaviour;
    /// - a CURVE server with neither admits any client whose keys complete the handshake, as
    ///   libzmq does: the server key is then the only secret.
    pub authenticator: Option<Arc<dyn Authenticator>>,
    /// How long a ZAP answer may take before the handshake fails (default 10 s).
    pub zap_timeout: Duration,
    /// `ZMQ_ZAP_ENFORCE_DOMAIN`, but on by default (libzmq: off): with a `zap_domain` and no
    /// `authenticator`, NULL and CURVE peers are refused (`true`) or admitted without asking
    /// anyone (`false`, libzmq's default). PLAIN servers refuse everyone without an
    /// authenticator either way.
    pub zap_enforce_domain: bool,
    /// `ZMQ_METADATA`: extra properties announced to peers.
    pub metadata: Metadata,
    /// `ZMQ_SNDTIMEO`: how long [`Socket::send`](crate::Socket::send) may wait (for a peer, or
    /// for room under the high-water mark) before failing with
    /// [`SocketError::Timeout`](crate::SocketError::Timeout). `None` waits for ever (libzmq's
    /// -1, the default); `Some(Duration::ZERO)` fails at once instead of waiting (libzmq's 0).
    pub sndtimeo: Option<Duration>,
    /// `ZMQ_RCVTIMEO`: how long [`Socket::recv`](crate::Socket::recv) may wait for a message
    /// before failing with [`SocketError::Timeout`](crate::SocketError::Timeout). `None` waits
    /// for ever (the default); `Some(Duration::ZERO)` only takes a message already queued.
    pub rcvtimeo: Option<Duration>,
    /// `ZMQ_LINGER` for a dropped socket: its connections go on writing what is already queued
    /// for up to this long, in the background, then end. Default: zero (a drop ends them at
    /// once; libzmq's default is to wait for ever, which a value dropped in async code cannot
    /// do — [`crate::Socket::close`] waits, with a linger of its own).
    pub linger: Duration,
    /// `ZMQ_CONFLATE`: keep only the newest message in each queue (per peer, both ways); the
    /// high-water marks no longer apply. For single-part messages, as in libzmq.
    pub conflate: bool,
    /// `ZMQ_ROUTER_MANDATORY`: a ROUTER send to an unknown peer fails instead of being dropped,
    /// and one to a peer at its high-water mark waits (for at most SNDTIMEO) instead.
    pub router_mandatory: bool,
    /// `ZMQ_ROUTER_HANDOVER`: a ROUTER peer announcing a routing id already in use takes it
    /// over, and the old connection is closed. Without it, the newcomer is refused (closed).
    pub router_handover: bool,
    /// `ZMQ_PROBE_ROUTER` (ROUTER, DEALER): send an empty message to each peer as it joins, so
    /// that a ROUTER on the other side learns our routing id at once.
    pub probe_router: bool,
    /// `ZMQ_REQ_CORRELATE`: REQ puts a request id before the delimiter and takes only the
    /// reply that echoes it.
    pub req_correlate: bool,
    /// `ZMQ_REQ_RELAXED`: REQ may send a new request before the reply came; the old one is
    /// abandoned (use with `req_correlate`, so that its late reply is recognised and dropped).
    pub req_relaxed: bool,
    /// `ZMQ_XPUB_VERBOSE`: XPUB passes every subscription up, not only the first per topic.
    pub xpub_verbose: bool,
    /// `ZMQ_XPUB_VERBOSER`: XPUB passes every subscription and every cancel up.
    pub xpub_verboser: bool,
    /// `ZMQ_XPUB_MANUAL`: XPUB passes every subscription up and applies none itself; the
    /// application subscribes the peer it last heard from with [`crate::Socket::subscribe`].
    pub xpub_manual: bool,
    /// `ZMQ_XPUB_MANUAL_LAST_VALUE`: with `xpub_manual`, the next message after a subscription
    /// goes only to the peer that subscribed.
    pub xpub_manual_last_value: bool,
    /// `ZMQ_XPUB_WELCOME_MSG`: XPUB sends this message to each peer as it joins.
    pub xpub_welcome_msg: Option<Bytes>,
    /// `ZMQ_XPUB_NODROP`: a PUB/XPUB send waits while a matching peer is at its high-water
    /// mark (for at most SNDTIMEO) instead of dropping the message for that peer.
    pub xpub_nodrop: bool,
    /// `ZMQ_INVERT_MATCHING` (PUB, XPUB, SUB): a message goes to the peers whose subscriptions
    /// do **not** match it.
    pub invert_matching: bool,
    /// Most accepted connections still in the handshake, over all of this socket's listeners
    /// (libzmq has no such bound). When a new connection would exceed it, the **oldest**
    /// connection still in the handshake is closed to make room. Default: 1024.
    pub max_handshakes: usize,
    /// Most accepted connections still in the handshake from one source IP address. A
    /// connection beyond it is closed at once (the **newest** is refused). Unix-domain
    /// connections have no address and count only in [`max_handshakes`](Self::max_handshakes).
    /// Default: 64.
    pub max_handshakes_per_address: usize,
    /// `ZMQ_IPV6` (default off, as libzmq). On: `tcp://*:port` binds `[::]` dual-stack
    /// (IPV6_V6ONLY off: IPv4 peers arrive as IPv4-mapped addresses) and host names resolve to
    /// their IPv6 addresses first, then their IPv4 ones. Off: `*` is `0.0.0.0`, names resolve
    /// to IPv4 addresses only, and an explicit `[::]` listener takes IPv6 peers only.
    ///
    /// Deliberate deviation: a numeric IPv6 address (`tcp://[::1]:5555`) binds and connects
    /// with this off too; libzmq refuses it then, but it leaves nothing to choose.
    pub ipv6: bool,
}

impl Default for SocketOptions {
    fn default() -> Self {
        SocketOptions {
            mechanism: Arc::new(NullConfig::new()),
            routing_id: Bytes::new(),
            sndhwm: 1000,
            rcvhwm: 1000,
            limits: Limits::default(),
            handshake_ivl: Some(Duration::from_secs(30)),
            heartbeat: Heartbeat::default(),
            reconnect_ivl: Duration::from_millis(100),
            reconnect_ivl_max: None,
            zap_domain: None,
            authenticator: None,
            zap_timeout: Duration::from_secs(10),
            zap_enforce_domain: true,
            metadata: Metadata::new(),
            router_mandatory: false,
            router_handover: false,
            probe_router: false,
            req_correlate: false,
            req_relaxed: false,
            xpub_verbose: false,
            xpub_verboser: false,
            xpub_manual: false,
            xpub_manual_last_value: false,
            xpub_welcome_msg: None,
            xpub_nodrop: false,
            invert_matching: false,
            sndtimeo: None,
            rcvtimeo: None,
            linger: Duration::ZERO,
            conflate: false,
            max_handshakes: 1024,
            max_handshakes_per_address: 64,
            ipv6: false,
        }
    }
}
