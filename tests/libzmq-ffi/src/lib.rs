//! Minimal, blocking Rust bindings to libzmq 4.3.5, built from source with
//! CURVE support (libsodium), for use as a reference peer in zmtp's tests and
//! benchmarks.
//!
//! Everything is compiled by `cargo build`: `libsodium-sys-stable` builds
//! libsodium and this crate's build script builds libzmq (sources vendored in
//! `zeromq-src`) against it; both are linked statically.
//!
//! The API is deliberately small:
//!
//! * [`Context`] and [`Socket`] with the options the tests need, plus
//!   [`Socket::set_int_option`] / [`Socket::set_bytes_option`] escape hatches
//!   (codes in [`opt`]);
//! * multipart send/receive, and [`Message::property`] over `zmq_msg_gets`
//!   for "User-Id", "Socket-Type", "Peer-Address", "Identity" and ZAP metadata;
//! * socket monitoring ([`Monitor`], [`Event`]);
//! * a ZAP handler running a Rust closure ([`ZapHandler`]);
//! * utility oracles: [`version`], [`has_capability`], [`z85_encode`],
//!   [`z85_decode`], [`curve_keypair`], [`curve_public`].
//!
//! Sockets get `ZMQ_LINGER = 0` before they are closed and contexts are
//! created with `ZMQ_BLOCKY = 0`, so dropping never waits for unsent
//! messages. A socket keeps its context alive, so the context is terminated
//! only after its last socket has been closed.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod monitor;
mod sys;
mod zap;

pub use monitor::{Event, Monitor};
pub use zap::{zap_metadata, ZapHandler, ZapReply, ZapRequest, ZAP_ENDPOINT};

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// `EAGAIN`: a receive or send timed out (`ZMQ_RCVTIMEO` / `ZMQ_SNDTIMEO`).
pub const EAGAIN: i32 = libc::EAGAIN;
/// `EINVAL`: invalid argument (unknown option, bad endpoint, bad Z85, ...).
pub const EINVAL: i32 = libc::EINVAL;
/// `EINTR`: interrupted by a signal.
pub const EINTR: i32 = libc::EINTR;
/// `EFSM`: the operation is not valid in the socket's current state.
pub const EFSM: i32 = sys::ZMQ_HAUSNUMERO + 51;
/// `ENOCOMPATPROTO`: the endpoint's protocol does not suit the socket type.
pub const ENOCOMPATPROTO: i32 = sys::ZMQ_HAUSNUMERO + 52;
/// `ETERM`: the context was terminated.
pub const ETERM: i32 = sys::ZMQ_HAUSNUMERO + 53;

/// Socket option codes from `zmq.h` (stable API of libzmq 4.3.5), for
/// [`Socket::set_int_option`], [`Socket::set_bytes_option`] and the getters.
pub mod opt {
    #![allow(missing_docs)]
    pub const AFFINITY: i32 = 4;
    pub const ROUTING_ID: i32 = 5;
    pub const SUBSCRIBE: i32 = 6;
    pub const UNSUBSCRIBE: i32 = 7;
    pub const RATE: i32 = 8;
    pub const RECOVERY_IVL: i32 = 9;
    pub const SNDBUF: i32 = 11;
    pub const RCVBUF: i32 = 12;
    pub const RCVMORE: i32 = 13;
    pub const FD: i32 = 14;
    pub const EVENTS: i32 = 15;
    pub const TYPE: i32 = 16;
    pub const LINGER: i32 = 17;
    pub const RECONNECT_IVL: i32 = 18;
    pub const BACKLOG: i32 = 19;
    pub const RECONNECT_IVL_MAX: i32 = 21;
    pub const MAXMSGSIZE: i32 = 22;
    pub const SNDHWM: i32 = 23;
    pub const RCVHWM: i32 = 24;
    pub const MULTICAST_HOPS: i32 = 25;
    pub const RCVTIMEO: i32 = 27;
    pub const SNDTIMEO: i32 = 28;
    pub const LAST_ENDPOINT: i32 = 32;
    pub const ROUTER_MANDATORY: i32 = 33;
    pub const TCP_KEEPALIVE: i32 = 34;
    pub const IMMEDIATE: i32 = 39;
    pub const XPUB_VERBOSE: i32 = 40;
    pub const ROUTER_RAW: i32 = 41;
    pub const IPV6: i32 = 42;
    pub const MECHANISM: i32 = 43;
    pub const PLAIN_SERVER: i32 = 44;
    pub const PLAIN_USERNAME: i32 = 45;
    pub const PLAIN_PASSWORD: i32 = 46;
    pub const CURVE_SERVER: i32 = 47;
    pub const CURVE_PUBLICKEY: i32 = 48;
    pub const CURVE_SECRETKEY: i32 = 49;
    pub const CURVE_SERVERKEY: i32 = 50;
    pub const PROBE_ROUTER: i32 = 51;
    pub const REQ_CORRELATE: i32 = 52;
    pub const REQ_RELAXED: i32 = 53;
    pub const CONFLATE: i32 = 54;
    pub const ZAP_DOMAIN: i32 = 55;
    pub const ROUTER_HANDOVER: i32 = 56;
    pub const TOS: i32 = 57;
    pub const CONNECT_ROUTING_ID: i32 = 61;
    pub const HANDSHAKE_IVL: i32 = 66;
    pub const SOCKS_PROXY: i32 = 68;
    pub const XPUB_NODROP: i32 = 69;
    pub const BLOCKY: i32 = 70;
    pub const XPUB_MANUAL: i32 = 71;
    pub const XPUB_WELCOME_MSG: i32 = 72;
    pub const STREAM_NOTIFY: i32 = 73;
    pub const INVERT_MATCHING: i32 = 74;
    pub const HEARTBEAT_IVL: i32 = 75;
    pub const HEARTBEAT_TTL: i32 = 76;
    pub const HEARTBEAT_TIMEOUT: i32 = 77;
    pub const XPUB_VERBOSER: i32 = 78;
    pub const CONNECT_TIMEOUT: i32 = 79;
    pub const TCP_MAXRT: i32 = 80;
    pub const THREAD_SAFE: i32 = 81;
    pub const MULTICAST_MAXTPDU: i32 = 84;
    pub const USE_FD: i32 = 89;
    pub const BINDTODEVICE: i32 = 92;
    // Numbered in the DRAFT part of zmq.h, but libzmq 4.3.5 handles these in
    // every build (its internal zmq_draft.h defines them), so they work here
    // although this build has no DRAFT API.
    pub const ZAP_ENFORCE_DOMAIN: i32 = 93;
    pub const LOOPBACK_FASTPATH: i32 = 94;
    /// Application metadata for the READY command, as "X-Name:value".
    pub const METADATA: i32 = 95;
    pub const MULTICAST_LOOP: i32 = 96;

    /// Values of the `MECHANISM` option.
    pub const MECHANISM_NULL: i32 = 0;
    pub const MECHANISM_PLAIN: i32 = 1;
    pub const MECHANISM_CURVE: i32 = 2;
}

/// An error reported by libzmq: its `errno` and `zmq_strerror` text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZmqError {
    /// The error number (`zmq_errno()`).
    pub errno: i32,
    /// `zmq_strerror(errno)`.
    pub message: String,
}

impl ZmqError {
    /// The error for an error number, with libzmq's text for it.
    pub fn from_errno(errno: i32) -> Self {
        // SAFETY: zmq_strerror accepts any number and returns a pointer to a
        // static NUL-terminated string (never NULL).
        let text = unsafe { CStr::from_ptr(sys::zmq_strerror(errno)) };
        Self {
            errno,
            message: text.to_string_lossy().into_owned(),
        }
    }

    /// The error libzmq reported for the call that just failed on this thread.
    pub(crate) fn last() -> Self {
        // SAFETY: zmq_errno only reads the calling thread's errno.
        Self::from_errno(unsafe { sys::zmq_errno() })
    }

    /// True for `EAGAIN`, which is what a timed-out send or receive reports.
    pub fn is_timeout(&self) -> bool {
        self.errno == EAGAIN
    }
}

impl fmt::Display for ZmqError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (errno {})", self.message, self.errno)
    }
}

impl std::error::Error for ZmqError {}

/// Maps a libzmq return code (-1 on failure) to a `Result`.
fn check(rc: c_int) -> Result<c_int, ZmqError> {
    if rc == -1 {
        Err(ZmqError::last())
    } else {
        Ok(rc)
    }
}

/// A string argument for libzmq; an interior NUL is reported as `EINVAL`.
fn c_string(s: &str) -> Result<CString, ZmqError> {
    CString::new(s).map_err(|_| ZmqError::from_errno(EINVAL))
}

/// The version of the linked libzmq, `(major, minor, patch)`.
pub fn version() -> (i32, i32, i32) {
    let (mut major, mut minor, mut patch) = (0, 0, 0);
    // SAFETY: the three pointers are valid, writable ints.
    unsafe { sys::zmq_version(&mut major, &mut minor, &mut patch) };
    (major, minor, patch)
}

/// Whether the linked libzmq has a capability (`zmq_has`): "curve", "ipc",
/// "pgm", "tipc", "norm", "gssapi", "draft", ...
pub fn has_capability(capability: &str) -> bool {
    let Ok(name) = CString::new(capability) else {
        return false;
    };
    // SAFETY: `name` is a valid NUL-terminated string that outlives the call.
    unsafe { sys::zmq_has(name.as_ptr()) == 1 }
}

/// Z85-encodes `data` with libzmq's encoder; the length must be a multiple
/// of 4 (`EINVAL` otherwise).
pub fn z85_encode(data: &[u8]) -> Result<String, ZmqError> {
    if !data.len().is_multiple_of(4) {
        return Err(ZmqError::from_errno(EINVAL));
    }
    let mut out = vec![0u8; data.len() / 4 * 5 + 1];
    // SAFETY: `out` has room for 5 characters per 4 input bytes plus the NUL
    // terminator, which is exactly what zmq_z85_encode writes; `data` is valid
    // for `data.len()` bytes.
    let rc = unsafe { sys::zmq_z85_encode(out.as_mut_ptr().cast(), data.as_ptr(), data.len()) };
    if rc.is_null() {
        return Err(ZmqError::last());
    }
    out.pop(); // the NUL terminator
    Ok(String::from_utf8(out).expect("Z85 output is ASCII"))
}

/// Z85-decodes `text` with libzmq's decoder; the length must be a non-zero
/// multiple of 5 and every character from the Z85 alphabet (`EINVAL`
/// otherwise).
pub fn z85_decode(text: &str) -> Result<Vec<u8>, ZmqError> {
    let input = c_string(text)?;
    let mut out = vec![0u8; text.len() / 5 * 4 + 1];
    // SAFETY: `input` is NUL-terminated; zmq_z85_decode writes at most
    // 4 bytes per 5 input characters, and `out` has that much room.
    let rc = unsafe { sys::zmq_z85_decode(out.as_mut_ptr(), input.as_ptr()) };
    if rc.is_null() {
        return Err(ZmqError::last());
    }
    out.truncate(text.len() / 5 * 4);
    Ok(out)
}

/// A CURVE key pair from `zmq_curve_keypair`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurveKeyPair {
    /// The 32-byte public key.
    pub public: [u8; 32],
    /// The 32-byte secret key.
    pub secret: [u8; 32],
}

/// Generates a fresh CURVE key pair with libzmq (libsodium underneath).
pub fn curve_keypair() -> Result<CurveKeyPair, ZmqError> {
    let mut public_z85 = [0 as c_char; 41];
    let mut secret_z85 = [0 as c_char; 41];
    // SAFETY: each buffer has the 41 bytes (40 Z85 characters + NUL) that
    // zmq_curve_keypair writes.
    check(unsafe { sys::zmq_curve_keypair(public_z85.as_mut_ptr(), secret_z85.as_mut_ptr()) })?;
    Ok(CurveKeyPair {
        public: decode_key(&public_z85)?,
        secret: decode_key(&secret_z85)?,
    })
}

/// Derives the CURVE public key of a secret key with `zmq_curve_public`.
pub fn curve_public(secret: &[u8; 32]) -> Result<[u8; 32], ZmqError> {
    let secret_z85 = c_string(&z85_encode(secret)?)?;
    let mut public_z85 = [0 as c_char; 41];
    // SAFETY: `public_z85` has room for 40 characters and the NUL;
    // `secret_z85` is a NUL-terminated 40-character Z85 string.
    check(unsafe { sys::zmq_curve_public(public_z85.as_mut_ptr(), secret_z85.as_ptr()) })?;
    decode_key(&public_z85)
}

fn decode_key(z85: &[c_char; 41]) -> Result<[u8; 32], ZmqError> {
    // SAFETY: libzmq NUL-terminated the buffer, which lies within the array.
    let text = unsafe { CStr::from_ptr(z85.as_ptr()) };
    let bytes = z85_decode(&text.to_string_lossy())?;
    bytes.try_into().map_err(|_| ZmqError::from_errno(EINVAL))
}

/// Owns a libzmq context; terminated when the last [`Context`] clone and the
/// last socket made from it are gone.
struct CtxHandle {
    raw: *mut c_void,
}

// SAFETY: libzmq contexts are thread safe; every zmq_ctx_* call may be made
// from any thread.
unsafe impl Send for CtxHandle {}
// SAFETY: as above, concurrent zmq_socket calls on one context are allowed.
unsafe impl Sync for CtxHandle {}

impl Drop for CtxHandle {
    fn drop(&mut self) {
        loop {
            // SAFETY: `raw` came from zmq_ctx_new and is terminated only here,
            // once; all sockets holding this handle are already closed.
            let rc = unsafe { sys::zmq_ctx_term(self.raw) };
            // SAFETY: zmq_errno only reads this thread's errno.
            if rc == 0 || unsafe { sys::zmq_errno() } != EINTR {
                break;
            }
        }
    }
}

/// A libzmq context. Cloning shares the same context.
#[derive(Clone)]
pub struct Context {
    handle: Arc<CtxHandle>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("raw", &self.handle.raw)
            .finish()
    }
}

impl Context {
    /// Creates a context (one I/O thread, `ZMQ_BLOCKY` off).
    pub fn new() -> Result<Self, ZmqError> {
        // SAFETY: zmq_ctx_new has no preconditions; NULL means failure.
        let raw = unsafe { sys::zmq_ctx_new() };
        if raw.is_null() {
            return Err(ZmqError::last());
        }
        let handle = Arc::new(CtxHandle { raw });
        // SAFETY: `raw` is a live context.
        check(unsafe { sys::zmq_ctx_set(raw, sys::ZMQ_BLOCKY, 0) })?;
        Ok(Self { handle })
    }

    /// Creates a socket of the given type in this context.
    pub fn socket(&self, kind: SocketType) -> Result<Socket, ZmqError> {
        Socket::open(&self.handle, kind)
    }
}

/// Socket types of the stable API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum SocketType {
    /// `ZMQ_PAIR`
    Pair = 0,
    /// `ZMQ_PUB`
    Pub = 1,
    /// `ZMQ_SUB`
    Sub = 2,
    /// `ZMQ_REQ`
    Req = 3,
    /// `ZMQ_REP`
    Rep = 4,
    /// `ZMQ_DEALER`
    Dealer = 5,
    /// `ZMQ_ROUTER`
    Router = 6,
    /// `ZMQ_PULL`
    Pull = 7,
    /// `ZMQ_PUSH`
    Push = 8,
    /// `ZMQ_XPUB`
    Xpub = 9,
    /// `ZMQ_XSUB`
    Xsub = 10,
    /// `ZMQ_STREAM` (raw TCP)
    Stream = 11,
}

impl SocketType {
    /// The name ZMTP uses for this type in the "Socket-Type" property.
    pub fn name(self) -> &'static str {
        match self {
            SocketType::Pair => "PAIR",
            SocketType::Pub => "PUB",
            SocketType::Sub => "SUB",
            SocketType::Req => "REQ",
            SocketType::Rep => "REP",
            SocketType::Dealer => "DEALER",
            SocketType::Router => "ROUTER",
            SocketType::Pull => "PULL",
            SocketType::Push => "PUSH",
            SocketType::Xpub => "XPUB",
            SocketType::Xsub => "XSUB",
            SocketType::Stream => "STREAM",
        }
    }
}

/// A libzmq socket. Blocking; use [`Socket::set_rcvtimeo`] and
/// [`Socket::set_sndtimeo`] to bound waits. Closed with linger 0 on drop.
pub struct Socket {
    raw: *mut c_void,
    kind: SocketType,
    ctx: Arc<CtxHandle>,
}

// SAFETY: a libzmq socket may be migrated between threads as long as it is
// used by one thread at a time; `Socket` is not `Sync` and all its methods
// take `&self` on a single owner, so that holds.
unsafe impl Send for Socket {}

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Socket")
            .field("kind", &self.kind)
            .field("raw", &self.raw)
            .finish()
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        let linger: c_int = 0;
        // SAFETY: `raw` is a live socket owned by `self`; the option value
        // points at an int of the stated size. zmq_close is called once and
        // the pointer is never used afterwards.
        unsafe {
            sys::zmq_setsockopt(
                self.raw,
                opt::LINGER,
                (&linger as *const c_int).cast(),
                std::mem::size_of::<c_int>(),
            );
            sys::zmq_close(self.raw);
        }
    }
}

static MONITOR_COUNTER: AtomicUsize = AtomicUsize::new(0);

impl Socket {
    fn open(ctx: &Arc<CtxHandle>, kind: SocketType) -> Result<Socket, ZmqError> {
        // SAFETY: `ctx.raw` is a live context (kept alive by the Arc).
        let raw = unsafe { sys::zmq_socket(ctx.raw, kind as c_int) };
        if raw.is_null() {
            return Err(ZmqError::last());
        }
        Ok(Socket {
            raw,
            kind,
            ctx: Arc::clone(ctx),
        })
    }

    /// The type this socket was created with.
    pub fn socket_type(&self) -> SocketType {
        self.kind
    }

    fn endpoint_call(
        &self,
        f: unsafe extern "C" fn(*mut c_void, *const c_char) -> c_int,
        endpoint: &str,
    ) -> Result<(), ZmqError> {
        let endpoint = c_string(endpoint)?;
        // SAFETY: `f` is one of zmq_bind/connect/unbind/disconnect, called on a
        // live socket with a NUL-terminated endpoint that outlives the call.
        check(unsafe { f(self.raw, endpoint.as_ptr()) }).map(drop)
    }

    /// Binds to an endpoint, e.g. `tcp://127.0.0.1:*` (see
    /// [`Socket::last_endpoint`] for the port picked).
    pub fn bind(&self, endpoint: &str) -> Result<(), ZmqError> {
        self.endpoint_call(sys::zmq_bind, endpoint)
    }

    /// Connects to an endpoint.
    pub fn connect(&self, endpoint: &str) -> Result<(), ZmqError> {
        self.endpoint_call(sys::zmq_connect, endpoint)
    }

    /// Stops listening on a bound endpoint.
    pub fn unbind(&self, endpoint: &str) -> Result<(), ZmqError> {
        self.endpoint_call(sys::zmq_unbind, endpoint)
    }

    /// Drops a connection made with [`Socket::connect`].
    pub fn disconnect(&self, endpoint: &str) -> Result<(), ZmqError> {
        self.endpoint_call(sys::zmq_disconnect, endpoint)
    }

    /// The endpoint last bound or connected (`ZMQ_LAST_ENDPOINT`), with the
    /// real port when bound to `*`.
    pub fn last_endpoint(&self) -> Result<String, ZmqError> {
        let mut bytes = self.get_bytes_option(opt::LAST_ENDPOINT, 1024)?;
        if let Some(nul) = bytes.iter().position(|&b| b == 0) {
            bytes.truncate(nul);
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Sends one message made of `parts` (at least one), each part a frame.
    pub fn send_multipart<T: AsRef<[u8]>>(&self, parts: &[T]) -> Result<(), ZmqError> {
        assert!(!parts.is_empty(), "a message has at least one part");
        let last = parts.len() - 1;
        for (i, part) in parts.iter().enumerate() {
            let flags = if i == last { 0 } else { sys::ZMQ_SNDMORE };
            self.send_frame(part.as_ref(), flags)?;
        }
        Ok(())
    }

    /// Sends a single-part message.
    pub fn send(&self, data: &[u8]) -> Result<(), ZmqError> {
        self.send_frame(data, 0)
    }

    /// Sends a single-part message without waiting (`ZMQ_DONTWAIT`);
    /// `EAGAIN` if it cannot be queued now.
    pub fn try_send(&self, data: &[u8]) -> Result<(), ZmqError> {
        self.send_frame(data, sys::ZMQ_DONTWAIT)
    }

    fn send_frame(&self, data: &[u8], flags: c_int) -> Result<(), ZmqError> {
        loop {
            // SAFETY: live socket; `data` is valid for `data.len()` bytes and
            // zmq_send copies it before returning.
            let rc = unsafe { sys::zmq_send(self.raw, data.as_ptr().cast(), data.len(), flags) };
            match check(rc) {
                Ok(_) => return Ok(()),
                Err(e) if e.errno == EINTR => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Receives one whole message; `EAGAIN` when `ZMQ_RCVTIMEO` expires.
    pub fn recv_multipart(&self) -> Result<Vec<Vec<u8>>, ZmqError> {
        self.recv_message().map(Message::into_parts)
    }

    /// Receives one whole message and keeps its last frame so that its
    /// properties can be read with [`Message::property`].
    pub fn recv_message(&self) -> Result<Message, ZmqError> {
        let mut parts = Vec::new();
        loop {
            let mut frame = RawMsg::new()?;
            loop {
                // SAFETY: live socket; `frame` is an initialised zmq_msg_t.
                let rc = unsafe { sys::zmq_msg_recv(frame.as_mut_ptr(), self.raw, 0) };
                match check(rc) {
                    Ok(_) => break,
                    Err(e) if e.errno == EINTR => continue,
                    Err(e) => return Err(e),
                }
            }
            parts.push(frame.data().to_vec());
            if !frame.more() {
                return Ok(Message { parts, last: frame });
            }
        }
    }

    /// Sets an `int` option by code (see [`opt`]).
    pub fn set_int_option(&self, option: i32, value: i32) -> Result<(), ZmqError> {
        self.set_raw(
            option,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>(),
        )
    }

    /// Sets an `int64_t` option by code (see [`opt`]).
    pub fn set_i64_option(&self, option: i32, value: i64) -> Result<(), ZmqError> {
        self.set_raw(
            option,
            (&value as *const i64).cast(),
            std::mem::size_of::<i64>(),
        )
    }

    /// Sets a binary or string option by code (see [`opt`]).
    pub fn set_bytes_option(&self, option: i32, value: &[u8]) -> Result<(), ZmqError> {
        self.set_raw(option, value.as_ptr().cast(), value.len())
    }

    fn set_raw(&self, option: i32, value: *const c_void, len: usize) -> Result<(), ZmqError> {
        // SAFETY: live socket; every caller passes a pointer valid for `len`
        // bytes, which libzmq copies before returning.
        check(unsafe { sys::zmq_setsockopt(self.raw, option, value, len) }).map(drop)
    }

    /// Reads an `int` option by code.
    pub fn get_int_option(&self, option: i32) -> Result<i32, ZmqError> {
        let mut value: i32 = 0;
        let mut len = std::mem::size_of::<i32>();
        // SAFETY: live socket; `value` is writable for `len` bytes and `len`
        // is a valid in/out size.
        check(unsafe {
            sys::zmq_getsockopt(self.raw, option, (&mut value as *mut i32).cast(), &mut len)
        })?;
        Ok(value)
    }

    /// Reads an `int64_t` option by code.
    pub fn get_i64_option(&self, option: i32) -> Result<i64, ZmqError> {
        let mut value: i64 = 0;
        let mut len = std::mem::size_of::<i64>();
        // SAFETY: as in `get_int_option`, for an 8-byte value.
        check(unsafe {
            sys::zmq_getsockopt(self.raw, option, (&mut value as *mut i64).cast(), &mut len)
        })?;
        Ok(value)
    }

    /// Reads a binary or string option by code, into at most `capacity` bytes.
    pub fn get_bytes_option(&self, option: i32, capacity: usize) -> Result<Vec<u8>, ZmqError> {
        let mut buf = vec![0u8; capacity];
        let mut len = capacity;
        // SAFETY: live socket; `buf` is writable for `len` bytes and libzmq
        // writes back the number of bytes it stored.
        check(unsafe { sys::zmq_getsockopt(self.raw, option, buf.as_mut_ptr().cast(), &mut len) })?;
        buf.truncate(len);
        Ok(buf)
    }

    /// `ZMQ_RCVTIMEO` in milliseconds (-1: wait forever).
    pub fn set_rcvtimeo(&self, ms: i32) -> Result<(), ZmqError> {
        self.set_int_option(opt::RCVTIMEO, ms)
    }

    /// `ZMQ_SNDTIMEO` in milliseconds (-1: wait forever).
    pub fn set_sndtimeo(&self, ms: i32) -> Result<(), ZmqError> {
        self.set_int_option(opt::SNDTIMEO, ms)
    }

    /// `ZMQ_LINGER` in milliseconds (forced to 0 again on drop).
    pub fn set_linger(&self, ms: i32) -> Result<(), ZmqError> {
        self.set_int_option(opt::LINGER, ms)
    }

    /// `ZMQ_ROUTING_ID` (sent as the "Identity" property).
    pub fn set_routing_id(&self, id: &[u8]) -> Result<(), ZmqError> {
        self.set_bytes_option(opt::ROUTING_ID, id)
    }

    /// `ZMQ_SUBSCRIBE` (SUB sockets).
    pub fn set_subscribe(&self, prefix: &[u8]) -> Result<(), ZmqError> {
        self.set_bytes_option(opt::SUBSCRIBE, prefix)
    }

    /// `ZMQ_UNSUBSCRIBE` (SUB sockets).
    pub fn set_unsubscribe(&self, prefix: &[u8]) -> Result<(), ZmqError> {
        self.set_bytes_option(opt::UNSUBSCRIBE, prefix)
    }

    /// `ZMQ_HEARTBEAT_IVL` in milliseconds (0: no PINGs).
    pub fn set_heartbeat_ivl(&self, ms: i32) -> Result<(), ZmqError> {
        self.set_int_option(opt::HEARTBEAT_IVL, ms)
    }

    /// `ZMQ_HEARTBEAT_TTL` in milliseconds (sent in PINGs, 100 ms units).
    pub fn set_heartbeat_ttl(&self, ms: i32) -> Result<(), ZmqError> {
        self.set_int_option(opt::HEARTBEAT_TTL, ms)
    }

    /// `ZMQ_HEARTBEAT_TIMEOUT` in milliseconds.
    pub fn set_heartbeat_timeout(&self, ms: i32) -> Result<(), ZmqError> {
        self.set_int_option(opt::HEARTBEAT_TIMEOUT, ms)
    }

    /// `ZMQ_HANDSHAKE_IVL` in milliseconds (0: no handshake deadline).
    pub fn set_handshake_ivl(&self, ms: i32) -> Result<(), ZmqError> {
        self.set_int_option(opt::HANDSHAKE_IVL, ms)
    }

    /// `ZMQ_RECONNECT_IVL` in milliseconds (-1: never reconnect).
    pub fn set_reconnect_ivl(&self, ms: i32) -> Result<(), ZmqError> {
        self.set_int_option(opt::RECONNECT_IVL, ms)
    }

    /// `ZMQ_MAXMSGSIZE` in bytes (-1: no limit).
    pub fn set_maxmsgsize(&self, bytes: i64) -> Result<(), ZmqError> {
        self.set_i64_option(opt::MAXMSGSIZE, bytes)
    }

    /// `ZMQ_SNDHWM` in messages.
    pub fn set_sndhwm(&self, messages: i32) -> Result<(), ZmqError> {
        self.set_int_option(opt::SNDHWM, messages)
    }

    /// `ZMQ_RCVHWM` in messages.
    pub fn set_rcvhwm(&self, messages: i32) -> Result<(), ZmqError> {
        self.set_int_option(opt::RCVHWM, messages)
    }

    /// `ZMQ_IMMEDIATE`: queue only on completed connections.
    pub fn set_immediate(&self, on: bool) -> Result<(), ZmqError> {
        self.set_int_option(opt::IMMEDIATE, on.into())
    }

    /// `ZMQ_ROUTER_MANDATORY`: fail sends to unknown routing ids.
    pub fn set_router_mandatory(&self, on: bool) -> Result<(), ZmqError> {
        self.set_int_option(opt::ROUTER_MANDATORY, on.into())
    }

    /// `ZMQ_CURVE_SERVER`: act as CURVE server (needs a secret key).
    pub fn set_curve_server(&self, on: bool) -> Result<(), ZmqError> {
        self.set_int_option(opt::CURVE_SERVER, on.into())
    }

    /// `ZMQ_CURVE_PUBLICKEY`: this socket's long-term public key.
    pub fn set_curve_publickey(&self, key: &[u8; 32]) -> Result<(), ZmqError> {
        self.set_bytes_option(opt::CURVE_PUBLICKEY, key)
    }

    /// `ZMQ_CURVE_SECRETKEY`: this socket's long-term secret key.
    pub fn set_curve_secretkey(&self, key: &[u8; 32]) -> Result<(), ZmqError> {
        self.set_bytes_option(opt::CURVE_SECRETKEY, key)
    }

    /// `ZMQ_CURVE_SERVERKEY`: the server's long-term public key (makes this
    /// socket a CURVE client).
    pub fn set_curve_serverkey(&self, key: &[u8; 32]) -> Result<(), ZmqError> {
        self.set_bytes_option(opt::CURVE_SERVERKEY, key)
    }

    /// `ZMQ_PLAIN_SERVER`: act as PLAIN server.
    pub fn set_plain_server(&self, on: bool) -> Result<(), ZmqError> {
        self.set_int_option(opt::PLAIN_SERVER, on.into())
    }

    /// `ZMQ_PLAIN_USERNAME` (makes this socket a PLAIN client).
    pub fn set_plain_username(&self, username: &[u8]) -> Result<(), ZmqError> {
        self.set_bytes_option(opt::PLAIN_USERNAME, username)
    }

    /// `ZMQ_PLAIN_PASSWORD` (makes this socket a PLAIN client).
    pub fn set_plain_password(&self, password: &[u8]) -> Result<(), ZmqError> {
        self.set_bytes_option(opt::PLAIN_PASSWORD, password)
    }

    /// `ZMQ_ZAP_DOMAIN`. With the NULL mechanism, libzmq asks the ZAP handler
    /// only when a domain is set.
    pub fn set_zap_domain(&self, domain: &[u8]) -> Result<(), ZmqError> {
        self.set_bytes_option(opt::ZAP_DOMAIN, domain)
    }

    /// `ZMQ_ZAP_ENFORCE_DOMAIN` (option 93): when on, a socket that needs
    /// ZAP (PLAIN/CURVE server, or NULL with a ZAP domain) refuses peers while
    /// no handler is bound, instead of letting them in. Listed among the
    /// DRAFT options in zmq.h, yet accepted by every libzmq 4.3.5 build.
    pub fn set_zap_enforce_domain(&self, on: bool) -> Result<(), ZmqError> {
        self.set_int_option(opt::ZAP_ENFORCE_DOMAIN, on.into())
    }

    /// Starts monitoring this socket for the events in `events` (a mask of
    /// [`Event`] constants, e.g. [`Event::ALL`]), and returns the receiving
    /// end. Call it before `bind`/`connect` to see every event.
    pub fn monitor(&self, events: u16) -> Result<Monitor, ZmqError> {
        let n = MONITOR_COUNTER.fetch_add(1, Ordering::Relaxed);
        let endpoint = format!("inproc://libzmq-ffi.monitor.{}.{n}", std::process::id());
        let c_endpoint = c_string(&endpoint)?;
        // SAFETY: live socket; the endpoint is NUL-terminated and outlives
        // the call (libzmq copies it).
        check(unsafe {
            sys::zmq_socket_monitor(self.raw, c_endpoint.as_ptr(), c_int::from(events))
        })?;
        let pair = Socket::open(&self.ctx, SocketType::Pair)?;
        pair.connect(&endpoint)?;
        Ok(Monitor::new(pair, endpoint))
    }
}

/// An owned, initialised `zmq_msg_t`, closed on drop.
struct RawMsg {
    msg: Box<sys::zmq_msg_t>,
}

// SAFETY: a received zmq_msg_t owns its data and holds its metadata through
// an atomic reference count, so it can be moved to and closed on another
// thread.
unsafe impl Send for RawMsg {}
// SAFETY: shared access only reads the message (size, data, more, gets).
unsafe impl Sync for RawMsg {}

impl RawMsg {
    fn new() -> Result<Self, ZmqError> {
        let mut msg = Box::new(sys::zmq_msg_t {
            bytes: [0; 64],
            align: [],
        });
        // SAFETY: `msg` points at 64 writable, pointer-aligned bytes.
        check(unsafe { sys::zmq_msg_init(&mut *msg) })?;
        Ok(Self { msg })
    }

    fn as_mut_ptr(&mut self) -> *mut sys::zmq_msg_t {
        &mut *self.msg
    }

    fn data(&mut self) -> &[u8] {
        // SAFETY: the message is initialised; size and data describe its
        // payload, which stays valid while `self` is borrowed.
        unsafe {
            let len = sys::zmq_msg_size(&*self.msg);
            if len == 0 {
                return &[];
            }
            let data = sys::zmq_msg_data(self.as_mut_ptr());
            std::slice::from_raw_parts(data.cast::<u8>(), len)
        }
    }

    fn more(&self) -> bool {
        // SAFETY: the message is initialised.
        unsafe { sys::zmq_msg_more(&*self.msg) == 1 }
    }

    fn gets(&self, property: &str) -> Option<String> {
        let name = CString::new(property).ok()?;
        // SAFETY: the message is initialised and `name` is NUL-terminated;
        // the returned string (if any) belongs to the message's metadata,
        // which lives as long as the message, and is copied at once.
        unsafe {
            let value = sys::zmq_msg_gets(&*self.msg, name.as_ptr());
            if value.is_null() {
                None
            } else {
                Some(CStr::from_ptr(value).to_string_lossy().into_owned())
            }
        }
    }
}

impl Drop for RawMsg {
    fn drop(&mut self) {
        // SAFETY: the message was initialised and is closed exactly once.
        unsafe { sys::zmq_msg_close(&mut *self.msg) };
    }
}

/// A received message: its frames, and the connection properties attached to
/// it by libzmq.
pub struct Message {
    parts: Vec<Vec<u8>>,
    last: RawMsg,
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("parts", &self.parts)
            .finish_non_exhaustive()
    }
}

impl Message {
    /// The frames of the message.
    pub fn parts(&self) -> &[Vec<u8>] {
        &self.parts
    }

    /// Takes the frames.
    pub fn into_parts(self) -> Vec<Vec<u8>> {
        self.parts
    }

    /// A property of the message via `zmq_msg_gets` on its last frame:
    /// "Socket-Type", "Identity" / "Routing-Id", "Peer-Address", "User-Id",
    /// or any metadata name the ZAP handler or the peer's READY supplied.
    /// `None` when the property is absent. Values are C strings, so a value
    /// is cut at its first NUL byte.
    pub fn property(&self, name: &str) -> Option<String> {
        self.last.gets(name)
    }
}
