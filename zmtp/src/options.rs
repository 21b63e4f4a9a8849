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
    /// `ZMQ_ROUTER_MANDATORY`: a ROUTER send to an unknown peer fails instead of being dropped.
    pub router_mandatory: bool,
    /// Most accepted connections still in the handshake, over all of this socket's listeners
    /// (libzmq has no such bound). When a new connection would exceed it, the **oldest**
    /// connection still in the handshake is closed to make room. Default: 1024.
    pub max_handshakes: usize,
    /// Most accepted connections still in the handshake from one source IP address. A
    /// connection beyond it is closed at once (the **newest** is refused). Unix-domain
    /// connections have no address and count only in [`max_handshakes`](Self::max_handshakes).
    /// Default: 64.
    pub max_handshakes_per_address: usize,
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
            sndtimeo: None,
            rcvtimeo: None,
            max_handshakes: 1024,
            max_handshakes_per_address: 64,
        }
    }
}
