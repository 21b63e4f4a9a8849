//! A ZAP (RFC 27) handler backed by a Rust closure.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::{Context, SocketType, ZmqError};

/// The inproc endpoint libzmq sends ZAP requests to, in each context.
pub const ZAP_ENDPOINT: &str = "inproc://zeromq.zap.01";

/// How often the handler thread looks at its stop flag, in milliseconds.
const POLL_MS: i32 = 50;

/// A ZAP request as libzmq sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZapRequest {
    /// Protocol version, "1.0".
    pub version: String,
    /// Opaque request id, echoed in the reply.
    pub request_id: Vec<u8>,
    /// The server socket's `ZMQ_ZAP_DOMAIN`.
    pub domain: String,
    /// The peer's IP address.
    pub address: String,
    /// The server socket's routing id (often empty).
    pub identity: Vec<u8>,
    /// "NULL", "PLAIN" or "CURVE".
    pub mechanism: String,
    /// Mechanism credentials: none for NULL, username and password for
    /// PLAIN, the client's 32-byte long-term public key for CURVE.
    pub credentials: Vec<Vec<u8>>,
}

impl ZapRequest {
    fn parse(frames: &[Vec<u8>]) -> Option<ZapRequest> {
        if frames.len() < 6 {
            return None;
        }
        let text = |i: usize| String::from_utf8_lossy(&frames[i]).into_owned();
        Some(ZapRequest {
            version: text(0),
            request_id: frames[1].clone(),
            domain: text(2),
            address: text(3),
            identity: frames[4].clone(),
            mechanism: text(5),
            credentials: frames[6..].to_vec(),
        })
    }

    /// Username and password of a PLAIN request.
    pub fn plain_credentials(&self) -> Option<(&[u8], &[u8])> {
        match (self.mechanism.as_str(), self.credentials.as_slice()) {
            ("PLAIN", [user, password]) => Some((user, password)),
            _ => None,
        }
    }

    /// The client's long-term public key of a CURVE request.
    pub fn curve_public_key(&self) -> Option<[u8; 32]> {
        match (self.mechanism.as_str(), self.credentials.as_slice()) {
            ("CURVE", [key]) => key.as_slice().try_into().ok(),
            _ => None,
        }
    }
}

/// The handler's answer; sent as the six frames of an RFC 27 reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ZapReply {
    /// "200", "300", "400" or "500" (sent as is, so invalid codes can be
    /// tried too).
    pub status_code: String,
    /// Free text.
    pub status_text: String,
    /// The user id libzmq attaches to messages as "User-Id".
    pub user_id: String,
    /// ZMTP-encoded metadata (see [`zap_metadata`]); each property becomes a
    /// message property.
    pub metadata: Vec<u8>,
}

impl ZapReply {
    /// "200 OK" for `user_id`.
    pub fn allow(user_id: &str) -> Self {
        ZapReply {
            status_code: "200".into(),
            status_text: "OK".into(),
            user_id: user_id.into(),
            metadata: Vec::new(),
        }
    }

    /// "400" with the given text.
    pub fn deny(text: &str) -> Self {
        ZapReply {
            status_code: "400".into(),
            status_text: text.into(),
            ..ZapReply::default()
        }
    }

    /// This reply with `metadata` (ZMTP-encoded, see [`zap_metadata`]).
    pub fn with_metadata(mut self, metadata: Vec<u8>) -> Self {
        self.metadata = metadata;
        self
    }
}

/// Encodes properties the way ZMTP metadata is written: a one-byte name
/// length, the name, a four-byte big-endian value length, the value.
///
/// # Panics
/// If a name is empty or longer than 255 bytes.
pub fn zap_metadata<N: AsRef<str>, V: AsRef<[u8]>>(properties: &[(N, V)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in properties {
        let name = name.as_ref().as_bytes();
        let value = value.as_ref();
        let name_len = u8::try_from(name.len()).expect("property name longer than 255 bytes");
        assert!(name_len > 0, "empty property name");
        out.push(name_len);
        out.extend_from_slice(name);
        let value_len = u32::try_from(value.len()).expect("property value too long");
        out.extend_from_slice(&value_len.to_be_bytes());
        out.extend_from_slice(value);
    }
    out
}

/// A ZAP handler: a REP socket bound to [`ZAP_ENDPOINT`] in one context,
/// served by a background thread that calls a closure for each request.
/// Dropping it stops the thread (within about 50 ms) and unbinds.
pub struct ZapHandler {
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<ZapRequest>>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ZapHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZapHandler")
            .field("requests", &self.requests().len())
            .finish_non_exhaustive()
    }
}

impl ZapHandler {
    /// Binds the ZAP endpoint in `ctx` (so it is ready before this returns)
    /// and starts serving requests with `handler`. A handler that panics is
    /// answered with "500". Fails with `EADDRINUSE` if the context already
    /// has a ZAP handler.
    pub fn start<F>(ctx: &Context, handler: F) -> Result<ZapHandler, ZmqError>
    where
        F: Fn(&ZapRequest) -> ZapReply + Send + 'static,
    {
        let socket = ctx.socket(SocketType::Rep)?;
        socket.set_linger(0)?;
        socket.set_rcvtimeo(POLL_MS)?;
        socket.set_sndtimeo(1000)?;
        socket.bind(ZAP_ENDPOINT)?;

        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let stop = Arc::clone(&stop);
            let log = Arc::clone(&log);
            std::thread::Builder::new()
                .name("libzmq-ffi-zap".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let frames = match socket.recv_multipart() {
                            Ok(frames) => frames,
                            Err(e) if e.is_timeout() => continue,
                            Err(_) => break,
                        };
                        let reply = match ZapRequest::parse(&frames) {
                            Some(request) => {
                                let reply = catch_unwind(AssertUnwindSafe(|| handler(&request)))
                                    .unwrap_or_else(|_| ZapReply {
                                        status_code: "500".into(),
                                        status_text: "ZAP handler panicked".into(),
                                        ..ZapReply::default()
                                    });
                                log.lock().unwrap_or_else(|p| p.into_inner()).push(request);
                                reply
                            }
                            None => ZapReply {
                                status_code: "500".into(),
                                status_text: "malformed ZAP request".into(),
                                ..ZapReply::default()
                            },
                        };
                        let request_id = frames.get(1).cloned().unwrap_or_default();
                        let sent = socket.send_multipart(&[
                            b"1.0".as_slice(),
                            &request_id,
                            reply.status_code.as_bytes(),
                            reply.status_text.as_bytes(),
                            reply.user_id.as_bytes(),
                            &reply.metadata,
                        ]);
                        if sent.is_err() {
                            break;
                        }
                    }
                    // Closing is asynchronous; unbinding frees the endpoint
                    // at once, so a new handler can bind right after drop.
                    let _ = socket.unbind(ZAP_ENDPOINT);
                })
                .expect("spawn the ZAP handler thread")
        };
        Ok(ZapHandler {
            stop,
            log,
            thread: Some(thread),
        })
    }

    /// The requests handled so far, oldest first.
    pub fn requests(&self) -> Vec<ZapRequest> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for ZapHandler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
