//! What every networking sub-command shares: endpoints, socket options, monitor output, exits.

use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use clap::Args;
use zmtp::mechanisms::{CurvePublicKey, CurveSecretKey};
use zmtp::{Heartbeat, MonitorEvent, Socket, SocketEvent, SocketOptions, SocketType};

/// Exit status: usage or configuration error.
pub const EXIT_USAGE: u8 = 2;
/// Exit status: timed out.
pub const EXIT_TIMEOUT: u8 = 3;
/// Exit status: the peer refused us.
pub const EXIT_REFUSED: u8 = 4;

/// A failure that ends the command with a one-line reason and an exit status.
#[derive(Debug)]
pub struct Failure {
    pub status: u8,
    pub reason: String,
}

impl Failure {
    pub fn usage(reason: impl Into<String>) -> Failure {
        Failure {
            status: EXIT_USAGE,
            reason: reason.into(),
        }
    }

    pub fn timeout(reason: impl Into<String>) -> Failure {
        Failure {
            status: EXIT_TIMEOUT,
            reason: reason.into(),
        }
    }

    pub fn refused(reason: impl Into<String>) -> Failure {
        Failure {
            status: EXIT_REFUSED,
            reason: reason.into(),
        }
    }

    pub fn other(reason: impl Into<String>) -> Failure {
        Failure {
            status: 1,
            reason: reason.into(),
        }
    }

    pub fn exit(self) -> ExitCode {
        eprintln!("zmtp: {}", self.reason);
        ExitCode::from(self.status)
    }
}

/// Options shared by `send` and `recv`.
#[derive(Args, Debug, Clone)]
pub struct SocketArgs {
    /// Bind to ENDPOINT (repeatable), e.g. tcp://127.0.0.1:5555 or tcp://*:5555.
    #[arg(long, value_name = "ENDPOINT")]
    pub bind: Vec<String>,
    /// Connect to ENDPOINT (repeatable).
    #[arg(long, value_name = "ENDPOINT")]
    pub connect: Vec<String>,
    /// Socket type: PUSH, PULL, PUB, SUB, XPUB, XSUB, REQ, REP, DEALER, ROUTER, PAIR
    /// (case-insensitive).
    #[arg(long = "type", value_name = "TYPE", value_parser = parse_socket_type)]
    pub socket_type: SocketType,
    /// Give up after this many milliseconds (send: waiting for a peer, for PUB/XPUB a subscribed
    /// one; recv: between messages).
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<u64>,
    /// Print socket events to stderr as JSON lines.
    #[arg(long)]
    pub monitor: bool,
    /// ZMQ_HANDSHAKE_IVL in milliseconds (0 disables).
    #[arg(long, value_name = "MS")]
    pub handshake_ivl: Option<u64>,
    /// ZMQ_HEARTBEAT_IVL in milliseconds.
    #[arg(long, value_name = "MS")]
    pub heartbeat_ivl: Option<u64>,
    /// ZMQ_HEARTBEAT_TTL in milliseconds.
    #[arg(long, value_name = "MS")]
    pub heartbeat_ttl: Option<u64>,
    /// ZMQ_HEARTBEAT_TIMEOUT in milliseconds.
    #[arg(long, value_name = "MS")]
    pub heartbeat_timeout: Option<u64>,
    /// ZMQ_MAXMSGSIZE: largest message accepted, in bytes.
    #[arg(long, value_name = "BYTES")]
    pub maxmsgsize: Option<u64>,
    /// ZMQ_SNDHWM in messages.
    #[arg(long, value_name = "N")]
    pub sndhwm: Option<usize>,
    /// ZMQ_RCVHWM in messages.
    #[arg(long, value_name = "N")]
    pub rcvhwm: Option<usize>,
    /// Octets one peer may have waiting to be read before its connection stops reading
    /// (default 8 MiB; 0: only --rcvhwm bounds it).
    #[arg(long, value_name = "BYTES")]
    pub rcvhwm_octets: Option<usize>,
    /// ZMQ_ROUTING_ID (text).
    #[arg(long, value_name = "ID")]
    pub routing_id: Option<String>,
    /// ZMQ_ROUTER_MANDATORY: a ROUTER send to an unknown routing id fails.
    #[arg(long)]
    pub router_mandatory: bool,
    /// ZMQ_ROUTER_HANDOVER: a ROUTER peer reusing a routing id takes it over.
    #[arg(long)]
    pub router_handover: bool,
    /// ZMQ_PROBE_ROUTER: ROUTER/DEALER send an empty message to each peer as it joins.
    #[arg(long)]
    pub probe_router: bool,
    /// ZMQ_REQ_CORRELATE: REQ matches replies to requests by a request id.
    #[arg(long)]
    pub req_correlate: bool,
    /// ZMQ_REQ_RELAXED: REQ may send again before the reply came.
    #[arg(long)]
    pub req_relaxed: bool,
    /// ZMQ_XPUB_VERBOSE: XPUB passes every subscription up.
    #[arg(long)]
    pub xpub_verbose: bool,
    /// ZMQ_XPUB_VERBOSER: XPUB passes every subscription and cancel up.
    #[arg(long)]
    pub xpub_verboser: bool,
    /// ZMQ_XPUB_NODROP: PUB/XPUB wait for a full subscriber instead of dropping.
    #[arg(long)]
    pub xpub_nodrop: bool,
    /// ZMQ_XPUB_WELCOME_MSG (text): sent to each XPUB peer as it joins.
    #[arg(long, value_name = "TEXT")]
    pub xpub_welcome_msg: Option<String>,
    /// ZMQ_INVERT_MATCHING: PUB/XPUB/SUB deliver what does not match the subscriptions.
    #[arg(long)]
    pub invert_matching: bool,
    /// ZMQ_SNDTIMEO in milliseconds: how long one send may wait.
    #[arg(long, value_name = "MS")]
    pub sndtimeo: Option<u64>,
    /// ZMQ_RCVTIMEO in milliseconds: how long one receive may wait.
    #[arg(long, value_name = "MS")]
    pub rcvtimeo: Option<u64>,
    /// ZMQ_TCP_KEEPALIVE: 1 on, 0 off, -1 the OS default.
    #[arg(long, value_name = "N", allow_hyphen_values = true,
          value_parser = clap::value_parser!(i8).range(-1..=1))]
    pub tcp_keepalive: Option<i8>,
    /// ZMQ_BACKLOG: connections a listener queues before accepting (default 100).
    #[arg(long, value_name = "N")]
    pub backlog: Option<u32>,
    /// ZMQ_CONNECT_TIMEOUT in milliseconds (0 leaves it to the OS).
    #[arg(long, value_name = "MS")]
    pub connect_timeout_ms: Option<u64>,
}

/// A CURVE key flag's value must be 40 characters. Key flags accept values that start with `-`
/// (a Z85 character), so this check is also what stops a missing key from swallowing the next
/// flag: `--curve-serverkey --type` is an invalid value, said so.
fn key_text(s: &str) -> Result<&str, String> {
    let n = s.chars().count();
    if n != 40 {
        return Err(format!("a CURVE key is 40 Z85 characters, not {n}"));
    }
    Ok(s)
}

/// A secret-key flag's value, decoded once, as the command line is read.
pub fn parse_secret_key(s: &str) -> Result<CurveSecretKey, String> {
    CurveSecretKey::from_z85(key_text(s)?).map_err(|e| e.to_string())
}

/// A public-key flag's value, decoded once, as the command line is read.
pub fn parse_public_key(s: &str) -> Result<CurvePublicKey, String> {
    CurvePublicKey::from_z85(key_text(s)?).map_err(|e| e.to_string())
}

fn parse_socket_type(s: &str) -> Result<SocketType, String> {
    s.parse::<SocketType>().map_err(|e| e.to_string())
}

impl SocketArgs {
    pub fn options(&self) -> Result<SocketOptions, Failure> {
        if self.bind.is_empty() && self.connect.is_empty() {
            return Err(Failure::usage(
                "give at least one --bind or --connect endpoint",
            ));
        }
        let mut o = SocketOptions::default();
        if let Some(ms) = self.handshake_ivl {
            o.handshake_ivl = (ms > 0).then(|| Duration::from_millis(ms));
        }
        let ms = |v: Option<u64>| v.filter(|&m| m > 0).map(Duration::from_millis);
        o.heartbeat = Heartbeat {
            interval: ms(self.heartbeat_ivl),
            ttl: ms(self.heartbeat_ttl),
            timeout: ms(self.heartbeat_timeout),
        };
        if let Some(max) = self.maxmsgsize {
            o.limits.max_message_size = max;
            o.limits.max_frame_size = max;
        }
        if let Some(n) = self.sndhwm {
            o.sndhwm = n;
        }
        if let Some(n) = self.rcvhwm {
            o.rcvhwm = n;
        }
        if let Some(n) = self.rcvhwm_octets {
            o.rcvhwm_octets = n;
        }
        if let Some(id) = &self.routing_id {
            o.routing_id = Bytes::copy_from_slice(id.as_bytes());
        }
        o.router_mandatory = self.router_mandatory;
        o.router_handover = self.router_handover;
        o.probe_router = self.probe_router;
        o.req_correlate = self.req_correlate;
        o.req_relaxed = self.req_relaxed;
        o.xpub_verbose = self.xpub_verbose;
        o.xpub_verboser = self.xpub_verboser;
        o.xpub_nodrop = self.xpub_nodrop;
        o.xpub_welcome_msg = self
            .xpub_welcome_msg
            .as_ref()
            .map(|m| Bytes::copy_from_slice(m.as_bytes()));
        o.invert_matching = self.invert_matching;
        o.sndtimeo = self.sndtimeo.map(Duration::from_millis);
        o.rcvtimeo = self.rcvtimeo.map(Duration::from_millis);
        o.tcp_keepalive = match self.tcp_keepalive {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        };
        if let Some(n) = self.backlog {
            o.backlog = n;
        }
        o.connect_timeout = ms(self.connect_timeout_ms);
        o.validate().map_err(|e| Failure::usage(e.to_string()))?;
        Ok(o)
    }

    pub fn timeout(&self) -> Option<Duration> {
        self.timeout_ms.map(Duration::from_millis)
    }

    /// Binds and connects every endpoint.
    pub async fn attach(&self, socket: &Socket) -> Result<(), Failure> {
        for ep in &self.bind {
            socket
                .bind(ep)
                .await
                .map_err(|e| Failure::usage(format!("cannot bind {ep}: {e}")))?;
        }
        for ep in &self.connect {
            socket
                .connect(ep)
                .await
                .map_err(|e| Failure::usage(format!("cannot connect {ep}: {e}")))?;
        }
        Ok(())
    }
}

/// Renders a monitor event as the JSON line `--monitor` prints.
pub fn event_json(ev: &SocketEvent) -> String {
    serde_json::json!({
        "event": ev.event.name(),
        "value": ev.value,
        "endpoint": ev.endpoint,
    })
    .to_string()
}

/// Whether an event means the peer refused us, with the reason to print.
pub fn refusal(ev: &SocketEvent) -> Option<String> {
    match ev.event {
        MonitorEvent::HandshakeFailedAuth => Some(format!(
            "{}: the peer refused us (authentication failed, ZAP status {})",
            ev.endpoint, ev.value
        )),
        MonitorEvent::HandshakeFailedProtocol => Some(format!(
            "{}: handshake failed (protocol error {:#x})",
            ev.endpoint, ev.value
        )),
        _ => None,
    }
}

/// A frame for one-line output: UTF-8 text when printable, else `0x` and hex.
pub fn frame_text(frame: &[u8]) -> String {
    match std::str::from_utf8(frame) {
        Ok(s) if !s.chars().any(|c| c.is_control()) => s.to_owned(),
        _ => format!("0x{}", hex::encode(frame)),
    }
}

/// A frame for JSON output: a string when valid UTF-8, else `{"hex": "..."}`.
pub fn frame_json(frame: &[u8]) -> serde_json::Value {
    match std::str::from_utf8(frame) {
        Ok(s) => serde_json::Value::String(s.to_owned()),
        Err(_) => serde_json::json!({ "hex": hex::encode(frame) }),
    }
}
