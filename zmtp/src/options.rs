//! Socket options, named after libzmq's where one exists.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use zmtp_core::{Heartbeat, Limits, MechanismConfig, Metadata};
use zmtp_mechanisms::NullConfig;
use zmtp_zap::Authenticator;

use crate::error::SocketError;

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
    /// Octets of one peer's messages queued for `recv` before its connection stops reading,
    /// whatever `rcvhwm` allows (default 8 MiB; 0: no bound but `rcvhwm`). Not a libzmq
    /// option: with a bound in messages alone, a peer whose messages the application reads
    /// slowly could make it hold `rcvhwm` times `limits.max_message_size`. A message is taken
    /// whenever the peer's queue holds less than this, so one of any size allowed still
    /// arrives; reading resumes once the queue is half empty, in messages and in octets. Of
    /// the same size as `limits.buffer_pool` by default, so that the large bodies waiting are
    /// about as many as the pool can take back, and the next ones land in memory already
    /// mapped.
    pub rcvhwm_octets: usize,
    /// Size limits (`ZMQ_MAXMSGSIZE` is `limits.max_message_size`).
    pub limits: Limits,
    /// `ZMQ_HANDSHAKE_IVL` (default 30 s; `None` disables).
    pub handshake_ivl: Option<Duration>,
    /// `ZMQ_HEARTBEAT_IVL`, `ZMQ_HEARTBEAT_TTL`, `ZMQ_HEARTBEAT_TIMEOUT`.
    pub heartbeat: Heartbeat,
    /// `ZMQ_RECONNECT_IVL` (default 100 ms): the wait before a new connect attempt. Each wait
    /// is the current interval plus a random jitter, uniform in `[0, reconnect_ivl)`, so that
    /// many clients that lost one server do not come back in lockstep (libzmq 4.3.4's
    /// `get_new_reconnect_ivl`; 4.3.5 keeps the jitter only without `reconnect_ivl_max`, here
    /// it stays with the backoff too). The CONNECT_RETRIED event carries the wait used, in ms.
    pub reconnect_ivl: Duration,
    /// `ZMQ_RECONNECT_IVL_MAX`: upper bound of the exponential backoff (default: no backoff).
    /// The current interval doubles after each failed attempt up to this; the jitter comes on
    /// top, so one wait is below `reconnect_ivl_max + reconnect_ivl`. Must not be below
    /// `reconnect_ivl` (libzmq ignores such a value; here [`validate`](Self::validate)
    /// refuses it).
    pub reconnect_ivl_max: Option<Duration>,
    /// `ZMQ_CONNECT_TIMEOUT`: a TCP connect attempt (to one address) that has not completed
    /// after this long is abandoned (monitor: CLOSED) and retried after the reconnect
    /// interval (CONNECT_RETRIED), as libzmq's `tcp_connecter.cpp`. `None` (libzmq's 0, the
    /// default) leaves it to the OS.
    pub connect_timeout: Option<Duration>,
    /// `ZMQ_TCP_KEEPALIVE` (SO_KEEPALIVE) on every TCP connection, accepted and connected:
    /// `None` leaves the OS default (libzmq's -1, the default), `Some(false)` turns it off,
    /// `Some(true)` on, with the three options below.
    pub tcp_keepalive: Option<bool>,
    /// `ZMQ_TCP_KEEPALIVE_IDLE` (TCP_KEEPIDLE, TCP_KEEPALIVE on macOS): idle time before the
    /// first probe. Whole seconds, as libzmq's int. Applied only with `tcp_keepalive =
    /// Some(true)`; `None` leaves the OS default.
    pub tcp_keepalive_idle: Option<Duration>,
    /// `ZMQ_TCP_KEEPALIVE_INTVL` (TCP_KEEPINTVL): time between probes. Whole seconds; applied
    /// only with `tcp_keepalive = Some(true)`.
    pub tcp_keepalive_intvl: Option<Duration>,
    /// `ZMQ_TCP_KEEPALIVE_CNT` (TCP_KEEPCNT): unanswered probes before the connection is
    /// dropped. Applied only with `tcp_keepalive = Some(true)`; not on Windows, which has no
    /// such setting (libzmq ignores it there too).
    pub tcp_keepalive_cnt: Option<u32>,
    /// `ZMQ_SNDBUF` (SO_SNDBUF) in bytes, on every TCP connection (`None`: the OS default,
    /// libzmq's -1). Set on the listener before it binds, as libzmq's `tcp_open_socket`, so
    /// that accepted connections inherit it. Linux doubles the value it is given.
    pub sndbuf: Option<usize>,
    /// `ZMQ_RCVBUF` (SO_RCVBUF) in bytes, as [`sndbuf`](Self::sndbuf).
    pub rcvbuf: Option<usize>,
    /// `ZMQ_BACKLOG`: connections the OS queues for a TCP or IPC listener before they are
    /// accepted (`listen(2)`; default 100, as libzmq). The OS may cap it (Linux: at
    /// `net.core.somaxconn`).
    pub backlog: u32,
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
            rcvhwm_octets: Limits::default().buffer_pool,
            limits: Limits::default(),
            handshake_ivl: Some(Duration::from_secs(30)),
            heartbeat: Heartbeat::default(),
            reconnect_ivl: Duration::from_millis(100),
            reconnect_ivl_max: None,
            connect_timeout: None,
            tcp_keepalive: None,
            tcp_keepalive_idle: None,
            tcp_keepalive_intvl: None,
            tcp_keepalive_cnt: None,
            sndbuf: None,
            rcvbuf: None,
            backlog: 100,
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

/// Largest TCP_KEEPIDLE and TCP_KEEPINTVL Linux accepts (`MAX_TCP_KEEPIDLE`, seconds);
/// elsewhere libzmq's bound, an int.
#[cfg(any(target_os = "linux", target_os = "android"))]
const MAX_KEEPALIVE_SECS: u64 = 32_767;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const MAX_KEEPALIVE_SECS: u64 = i32::MAX as u64;
/// Largest TCP_KEEPCNT Linux accepts (`MAX_TCP_KEEPCNT`).
#[cfg(any(target_os = "linux", target_os = "android"))]
const MAX_KEEPALIVE_CNT: u32 = 127;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const MAX_KEEPALIVE_CNT: u32 = i32::MAX as u32;
/// libzmq's intervals are an int of milliseconds.
const MAX_IVL: Duration = Duration::from_millis(i32::MAX as u64);
/// ZMTP 3.1 PING: "TTL ... 16-bit ... in deciseconds", so at most 65535 of them (libzmq's
/// ZMQ_HEARTBEAT_TTL maximum, 6553599 ms, rounded down).
const MAX_HEARTBEAT_TTL: Duration = Duration::from_millis(65_535 * 100 + 99);

impl SocketOptions {
    /// Checks every option with a range; the first value out of it is a
    /// [`SocketError::Config`] naming the option. `bind` and `connect` call this (and
    /// [`Socket::try_with_options`](crate::Socket::try_with_options)), so a bad value fails
    /// at its first use instead of being adjusted.
    pub fn validate(&self) -> Result<(), SocketError> {
        // ZMQ_ROUTING_ID: "at least one byte and at most 255 bytes long. Identities starting
        // with a zero byte are reserved" (zmq_setsockopt(3)). Empty here means unset.
        if self.routing_id.len() > 255 {
            return bad("routing_id (ZMQ_ROUTING_ID)", "is longer than 255 octets");
        }
        if self.routing_id.first() == Some(&0) {
            return bad(
                "routing_id (ZMQ_ROUTING_ID)",
                "starts with a zero octet, which is reserved for ids a ROUTER makes up",
            );
        }
        // RFC 27 (ZAP) 'Domain': a string of at most 255 octets.
        if self.zap_domain.as_ref().is_some_and(|d| d.len() > 255) {
            return bad("zap_domain (ZMQ_ZAP_DOMAIN)", "is longer than 255 octets");
        }
        if self.heartbeat.ttl.is_some_and(|t| t > MAX_HEARTBEAT_TTL) {
            return bad(
                "heartbeat.ttl (ZMQ_HEARTBEAT_TTL)",
                "exceeds 6553.599 s: PING carries it as 16-bit deciseconds",
            );
        }
        if self.reconnect_ivl > MAX_IVL {
            return bad("reconnect_ivl (ZMQ_RECONNECT_IVL)", "exceeds i32::MAX ms");
        }
        if let Some(max) = self.reconnect_ivl_max {
            if max > MAX_IVL {
                return bad(
                    "reconnect_ivl_max (ZMQ_RECONNECT_IVL_MAX)",
                    "exceeds i32::MAX ms",
                );
            }
            if max < self.reconnect_ivl {
                return bad(
                    "reconnect_ivl_max (ZMQ_RECONNECT_IVL_MAX)",
                    "is below reconnect_ivl (use None for no backoff)",
                );
            }
        }
        if let Some(t) = self.connect_timeout {
            if t.is_zero() {
                return bad(
                    "connect_timeout (ZMQ_CONNECT_TIMEOUT)",
                    "is zero (use None to leave connects to the OS)",
                );
            }
            if t > MAX_IVL {
                return bad(
                    "connect_timeout (ZMQ_CONNECT_TIMEOUT)",
                    "exceeds i32::MAX ms",
                );
            }
        }
        for (name, value) in [
            (
                "tcp_keepalive_idle (ZMQ_TCP_KEEPALIVE_IDLE)",
                self.tcp_keepalive_idle,
            ),
            (
                "tcp_keepalive_intvl (ZMQ_TCP_KEEPALIVE_INTVL)",
                self.tcp_keepalive_intvl,
            ),
        ] {
            let Some(d) = value else { continue };
            if d.subsec_nanos() != 0 || d.is_zero() {
                return bad(name, "must be a whole, positive number of seconds");
            }
            if d.as_secs() > MAX_KEEPALIVE_SECS {
                return bad(name, &format!("exceeds {MAX_KEEPALIVE_SECS} s"));
            }
        }
        if let Some(n) = self.tcp_keepalive_cnt {
            if n == 0 || n > MAX_KEEPALIVE_CNT {
                return bad(
                    "tcp_keepalive_cnt (ZMQ_TCP_KEEPALIVE_CNT)",
                    &format!("must be in 1..={MAX_KEEPALIVE_CNT}"),
                );
            }
        }
        for (name, value) in [
            ("sndbuf (ZMQ_SNDBUF)", self.sndbuf),
            ("rcvbuf (ZMQ_RCVBUF)", self.rcvbuf),
        ] {
            if value.is_some_and(|n| n > i32::MAX as usize) {
                return bad(name, "exceeds i32::MAX bytes");
            }
        }
        if self.backlog == 0 || self.backlog > i32::MAX as u32 {
            return bad("backlog (ZMQ_BACKLOG)", "must be in 1..=i32::MAX");
        }
        if self.max_handshakes == 0 {
            return bad("max_handshakes", "must be at least 1");
        }
        if self.max_handshakes_per_address == 0 {
            return bad(
                "max_handshakes_per_address",
                "must be at least 1 (0 would refuse every TCP peer)",
            );
        }
        Ok(())
    }
}

fn bad(option: &str, problem: &str) -> Result<(), SocketError> {
    Err(SocketError::Config(format!("{option} {problem}")))
}
