//! Socket monitoring through `zmq_socket_monitor`.

use std::time::{Duration, Instant};

use crate::{Socket, ZmqError};

/// One monitor event as libzmq 4.3.5 publishes it (version 1 format): a
/// 6-byte frame with the event number (u16) and value (u32) in native byte
/// order, then a frame with the endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// One of the `Event::*` constants.
    pub event: u16,
    /// Event-specific: an fd, errno, ZAP status code, reconnect interval,
    /// or a `PROTOCOL_ERROR_*` code.
    pub value: u32,
    /// The endpoint the event is about.
    pub endpoint: String,
}

#[allow(missing_docs)]
impl Event {
    pub const CONNECTED: u16 = 0x0001;
    pub const CONNECT_DELAYED: u16 = 0x0002;
    pub const CONNECT_RETRIED: u16 = 0x0004;
    pub const LISTENING: u16 = 0x0008;
    pub const BIND_FAILED: u16 = 0x0010;
    pub const ACCEPTED: u16 = 0x0020;
    pub const ACCEPT_FAILED: u16 = 0x0040;
    pub const CLOSED: u16 = 0x0080;
    pub const CLOSE_FAILED: u16 = 0x0100;
    pub const DISCONNECTED: u16 = 0x0200;
    pub const MONITOR_STOPPED: u16 = 0x0400;
    /// Value: an errno.
    pub const HANDSHAKE_FAILED_NO_DETAIL: u16 = 0x0800;
    pub const HANDSHAKE_SUCCEEDED: u16 = 0x1000;
    /// Value: one of the `PROTOCOL_ERROR_*` codes.
    pub const HANDSHAKE_FAILED_PROTOCOL: u16 = 0x2000;
    /// Value: the ZAP status code (300, 400, 500).
    pub const HANDSHAKE_FAILED_AUTH: u16 = 0x4000;
    pub const ALL: u16 = 0xFFFF;

    pub const PROTOCOL_ERROR_ZMTP_UNSPECIFIED: u32 = 0x1000_0000;
    pub const PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND: u32 = 0x1000_0001;
    pub const PROTOCOL_ERROR_ZMTP_INVALID_SEQUENCE: u32 = 0x1000_0002;
    pub const PROTOCOL_ERROR_ZMTP_KEY_EXCHANGE: u32 = 0x1000_0003;
    pub const PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_UNSPECIFIED: u32 = 0x1000_0011;
    pub const PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_MESSAGE: u32 = 0x1000_0012;
    pub const PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_HELLO: u32 = 0x1000_0013;
    pub const PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_INITIATE: u32 = 0x1000_0014;
    pub const PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_ERROR: u32 = 0x1000_0015;
    pub const PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_READY: u32 = 0x1000_0016;
    pub const PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_WELCOME: u32 = 0x1000_0017;
    pub const PROTOCOL_ERROR_ZMTP_INVALID_METADATA: u32 = 0x1000_0018;
    pub const PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC: u32 = 0x1100_0001;
    pub const PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH: u32 = 0x1100_0002;
    pub const PROTOCOL_ERROR_ZAP_UNSPECIFIED: u32 = 0x2000_0000;
    pub const PROTOCOL_ERROR_ZAP_MALFORMED_REPLY: u32 = 0x2000_0001;
    pub const PROTOCOL_ERROR_ZAP_BAD_REQUEST_ID: u32 = 0x2000_0002;
    pub const PROTOCOL_ERROR_ZAP_BAD_VERSION: u32 = 0x2000_0003;
    pub const PROTOCOL_ERROR_ZAP_INVALID_STATUS_CODE: u32 = 0x2000_0004;
    pub const PROTOCOL_ERROR_ZAP_INVALID_METADATA: u32 = 0x2000_0005;

    /// libzmq's name for an event number (without the `ZMQ_EVENT_` prefix).
    pub fn name_of(event: u16) -> &'static str {
        match event {
            Self::CONNECTED => "CONNECTED",
            Self::CONNECT_DELAYED => "CONNECT_DELAYED",
            Self::CONNECT_RETRIED => "CONNECT_RETRIED",
            Self::LISTENING => "LISTENING",
            Self::BIND_FAILED => "BIND_FAILED",
            Self::ACCEPTED => "ACCEPTED",
            Self::ACCEPT_FAILED => "ACCEPT_FAILED",
            Self::CLOSED => "CLOSED",
            Self::CLOSE_FAILED => "CLOSE_FAILED",
            Self::DISCONNECTED => "DISCONNECTED",
            Self::MONITOR_STOPPED => "MONITOR_STOPPED",
            Self::HANDSHAKE_FAILED_NO_DETAIL => "HANDSHAKE_FAILED_NO_DETAIL",
            Self::HANDSHAKE_SUCCEEDED => "HANDSHAKE_SUCCEEDED",
            Self::HANDSHAKE_FAILED_PROTOCOL => "HANDSHAKE_FAILED_PROTOCOL",
            Self::HANDSHAKE_FAILED_AUTH => "HANDSHAKE_FAILED_AUTH",
            _ => "UNKNOWN",
        }
    }

    /// libzmq's name for this event.
    pub fn name(&self) -> &'static str {
        Self::name_of(self.event)
    }

    fn parse(frames: &[Vec<u8>]) -> Option<Event> {
        let [head, endpoint] = frames else {
            return None;
        };
        let head: &[u8; 6] = head.as_slice().try_into().ok()?;
        Some(Event {
            event: u16::from_ne_bytes([head[0], head[1]]),
            value: u32::from_ne_bytes([head[2], head[3], head[4], head[5]]),
            endpoint: String::from_utf8_lossy(endpoint).into_owned(),
        })
    }
}

/// The receiving end of a socket monitor (a PAIR socket connected to the
/// monitor's inproc endpoint). Made by [`Socket::monitor`].
#[derive(Debug)]
pub struct Monitor {
    pair: Socket,
    endpoint: String,
}

impl Monitor {
    pub(crate) fn new(pair: Socket, endpoint: String) -> Self {
        Monitor { pair, endpoint }
    }

    /// The inproc endpoint libzmq publishes the events on.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The next event, waiting at most `timeout_ms` (-1: forever); `None`
    /// on timeout (or if the monitor is broken).
    pub fn recv_event(&self, timeout_ms: i32) -> Option<Event> {
        self.try_recv_event(timeout_ms).ok().flatten()
    }

    /// Like [`Monitor::recv_event`] but reporting errors: `Ok(None)` on
    /// timeout or on a frame sequence that is not an event.
    pub fn try_recv_event(&self, timeout_ms: i32) -> Result<Option<Event>, ZmqError> {
        self.pair.set_rcvtimeo(timeout_ms)?;
        match self.pair.recv_multipart() {
            Ok(frames) => Ok(Event::parse(&frames)),
            Err(e) if e.is_timeout() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Skips events until one whose number is in `mask`, waiting at most
    /// `timeout_ms` in all; `None` if none came in time.
    pub fn wait_for(&self, mask: u16, timeout_ms: u64) -> Option<Event> {
        let deadline = Instant::now() + Duration::from_millis(timeout_ms);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let left_ms = i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX);
            let event = self.recv_event(left_ms)?;
            if event.event & mask != 0 {
                return Some(event);
            }
        }
    }

    /// Every event that arrives within `timeout_ms` of the previous one.
    pub fn drain(&self, timeout_ms: i32) -> Vec<Event> {
        std::iter::from_fn(|| self.recv_event(timeout_ms)).collect()
    }
}
