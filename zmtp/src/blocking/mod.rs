//! A blocking API shaped like the `zmq` crate's, over the same async sockets.
//!
//! ```text
//!  thread ── Socket::send / recv_bytes / poll ──► block_on ──► zmtp::Socket (async)
//!                                                               │ connection tasks
//!  Context ── tokio runtime, 1 worker thread (libzmq's I/O thread) ◄┘
//! ```
//!
//! A [`Context`] owns a small tokio runtime; each [`Socket`] made from it wraps an async
//! [`crate::Socket`] whose connections run on that runtime's worker while the calling thread
//! waits in `block_on` (a send or receive that needs no waiting does not even do that: it is
//! polled once in place). Everything here goes through the async socket's public API.
//!
//! # Porting from the zmq crate
//!
//! Rename `zmq::` to `zmtp::blocking::`; the calls are the same:
//!
//! ```no_run
//! use zmtp::blocking as zmq;
//!
//! fn main() -> zmq::Result<()> {
//!     let ctx = zmq::Context::new();
//!     let server = ctx.socket(zmq::REP)?;
//!     server.set_rcvhwm(100)?;
//!     server.bind("tcp://127.0.0.1:*")?;
//!     let endpoint = server.get_last_endpoint()?.unwrap();
//!
//!     let client = ctx.socket(zmq::REQ)?;
//!     client.set_rcvtimeo(1000)?;
//!     client.connect(&endpoint)?;
//!     client.send("hello", zmq::SNDMORE)?;
//!     client.send("world", 0)?;
//!
//!     let request = server.recv_multipart(0)?;
//!     assert_eq!(request, [b"hello".to_vec(), b"world".to_vec()]);
//!     server.send("hi", 0)?;
//!
//!     let mut items = [client.as_poll_item(zmq::POLLIN)];
//!     if zmq::poll(&mut items, 1000)? == 1 && items[0].is_readable() {
//!         println!("{}", client.recv_string(0)?.unwrap());
//!     }
//!     Ok(())
//! }
//! ```
//!
//! # What differs from the zmq crate and libzmq
//!
//! - **Options that shape connections must be set before the socket is first used.** The
//!   async socket takes its options when it is made, and that happens at the first `bind`,
//!   `connect`, send, receive or proxy. Afterwards those setters fail with
//!   [`Error::SetAfterConnect`] (libzmq would apply them to later connections). SNDTIMEO,
//!   RCVTIMEO, LINGER, SUBSCRIBE and UNSUBSCRIBE change at any time.
//! - **Values are checked when set**, never adjusted: a negative high-water mark, a routing id
//!   of 0 or 256 octets, a 31-octet CURVE key, an option for another socket type
//!   (`ZMQ_ROUTER_MANDATORY` on a DEALER) fail at the setter with a typed [`Error`].
//!   libzmq's `ZMQ_RECONNECT_IVL = -1` (never reconnect) is not supported and refused.
//! - **Errors are one typed enum**, [`Error`], not errno values: `EAGAIN` is
//!   [`Error::WouldBlock`] (DONTWAIT or a zero timeout) or [`Error::Timeout`] (SNDTIMEO or
//!   RCVTIMEO ran out); [`Error::is_again`] covers both. `EFSM`, `EHOSTUNREACH` and the like
//!   come from the async socket inside [`Error::Socket`].
//! - **SNDMORE parts wait here** until the last part, and the message goes out whole. So a
//!   send waits (or fails with DONTWAIT) only at the last part, and when it fails the whole
//!   message is discarded: a retry starts again from the first part, as after libzmq's
//!   `EAGAIN` on a first part.
//! - **Receiving is one part at a time with RCVMORE, as in libzmq**: [`Socket::recv_bytes`],
//!   [`Socket::recv_msg`] and [`Socket::recv_string`] return one part, and
//!   [`Socket::get_rcvmore`] says whether more follow; the whole message arrived together, so
//!   only its first part can wait. [`Socket::recv_multipart`] returns a whole message (or what
//!   is left of one).
//! - **The poller's POLLIN is exact** ([`poll`] takes the message it saw, and the next
//!   receive returns it); POLLOUT is the async socket's `can_send`, which follows REQ's and
//!   REP's turns as libzmq's does. POLLERR is never reported, and file descriptors cannot be
//!   polled.
//! - **[`Message`] is one frame**; the whole multipart message with its properties is
//!   [`crate::Message`] ([`Socket::recv_message`]). Sending takes anything `Into<Message>`:
//!   `&str`, `String`, `&[u8]`, `&[u8; N]`, `Vec<u8>`, `Bytes`, a received `Message`.
//! - **Security**: libzmq's ZAP handler bound at `inproc://zeromq.zap.01` is replaced by
//!   [`Socket::set_authenticator`] (a PLAIN server without one refuses every client).
//!   `ZMQ_ZAP_ENFORCE_DOMAIN` is on by default here. The getters for the CURVE secret key and
//!   the PLAIN password do not exist.
//! - **Not provided**: `monitor` (use [`crate::Socket::monitor`] on the async socket), the
//!   STREAM socket type, and options this crate does not have (`ZMQ_TOS`, `ZMQ_AFFINITY`,
//!   `ZMQ_RATE`, …): a port that sets them does not compile, rather than silently ignoring
//!   them. Context options other than the number of I/O threads are absent too. `inproc://`
//!   endpoints are process-wide, not per context.
//! - **Sockets are `Send` but not `Sync`**, as the zmq crate's; the [`Context`] is both.
//!   Calls block: do not make them from async code (use [`crate::Socket`] there).
//! - **Proxies**: [`proxy_steerable`] takes `(frontend, backend, control)` and
//!   [`proxy_steerable_with_capture`] adds the capture, as the zmq crate names them; the
//!   commands are libzmq's (see [`crate::proxy_steerable`]). A proxy waits without SNDTIMEO or
//!   RCVTIMEO. Without a control socket it runs until a socket fails (there is no context
//!   termination to stop it).
//! - **Defaults that differ**: `ZMQ_MAXMSGSIZE` is 256 MiB (libzmq: unlimited, -1), and
//!   `ZMQ_LINGER` is -1 as in libzmq, so a context's last handle waits until what its
//!   sockets queued is sent (set LINGER to bound that).
//!
//! # The runtime
//!
//! A multi-thread tokio runtime with one worker: the connections need a thread that keeps
//! running while the application's threads sit in `block_on` or do their own work
//! (heartbeats, reconnects, accepting), which a bare current-thread runtime would not give.
//! Measured on two cores over loopback TCP, release build, with the `#[ignore]`d test
//! `runtime_layout` in `tests/blocking.rs` (the third row with a temporary build that drove a
//! current-thread runtime from a thread of its own); medians of six interleaved runs:
//!
//! | layout | REQ/REP round trip | PUSH → PULL, 64-octet messages |
//! |---|---|---|
//! | multi-thread, 1 worker (this) | 92 µs | 2.08 M msg/s |
//! | multi-thread, 2 workers | 97 µs | 2.16 M msg/s |
//! | current-thread + its own thread | 87 µs | 2.13 M msg/s |
//!
//! The machine was busy with other builds (load about 3 on 2 cores), and the spread between
//! runs of one layout (round trips from 28 to 156 µs) is larger than any difference between
//! layouts: none is measurably better, so the context keeps libzmq's one I/O thread on
//! tokio's stock scheduler. [`Context::with_io_threads`] gives more.

mod context;
mod error;
mod message;
mod options;
mod poll;
pub(crate) mod proxy;
mod socket;
mod sockopt;

pub use context::Context;
pub use error::Error;
pub use message::Message;
pub use poll::{poll, PollEvents, PollItem};
pub use socket::Socket;
pub use zmtp_core::SocketType;

/// The result of a blocking call, as `zmq::Result`.
pub type Result<T> = std::result::Result<T, Error>;

/// Send or receive flag: fail with [`Error::WouldBlock`] instead of waiting (`ZMQ_DONTWAIT`).
pub const DONTWAIT: i32 = 1;
/// Send flag: more parts of this message follow (`ZMQ_SNDMORE`).
pub const SNDMORE: i32 = 2;

/// [`PollEvents::POLLIN`].
pub const POLLIN: PollEvents = PollEvents::POLLIN;
/// [`PollEvents::POLLOUT`].
pub const POLLOUT: PollEvents = PollEvents::POLLOUT;
/// [`PollEvents::POLLERR`].
pub const POLLERR: PollEvents = PollEvents::POLLERR;

/// `ZMQ_PAIR`.
pub const PAIR: SocketType = SocketType::Pair;
/// `ZMQ_PUB`.
pub const PUB: SocketType = SocketType::Pub;
/// `ZMQ_SUB`.
pub const SUB: SocketType = SocketType::Sub;
/// `ZMQ_REQ`.
pub const REQ: SocketType = SocketType::Req;
/// `ZMQ_REP`.
pub const REP: SocketType = SocketType::Rep;
/// `ZMQ_DEALER`.
pub const DEALER: SocketType = SocketType::Dealer;
/// `ZMQ_ROUTER`.
pub const ROUTER: SocketType = SocketType::Router;
/// `ZMQ_PULL`.
pub const PULL: SocketType = SocketType::Pull;
/// `ZMQ_PUSH`.
pub const PUSH: SocketType = SocketType::Push;
/// `ZMQ_XPUB`.
pub const XPUB: SocketType = SocketType::Xpub;
/// `ZMQ_XSUB`.
pub const XSUB: SocketType = SocketType::Xsub;

/// Forwards messages between `frontend` and `backend` on the calling thread until one of
/// them fails (`zmq_proxy`; see [`crate::proxy`]).
pub fn proxy(frontend: &Socket, backend: &Socket) -> Result<()> {
    run_proxy(frontend, backend, None, None)
}

/// [`proxy`], sending a copy of every message forwarded either way to `capture`.
pub fn proxy_with_capture(frontend: &Socket, backend: &Socket, capture: &Socket) -> Result<()> {
    run_proxy(frontend, backend, Some(capture), None)
}

/// [`proxy`] steered by PAUSE, RESUME, TERMINATE and STATISTICS on `control` (see
/// [`crate::proxy_steerable`]); returns `Ok(())` on TERMINATE.
pub fn proxy_steerable(frontend: &Socket, backend: &Socket, control: &Socket) -> Result<()> {
    run_proxy(frontend, backend, None, Some(control))
}

/// [`proxy_steerable`] with a capture socket (libzmq's four-socket `zmq_proxy_steerable`).
pub fn proxy_steerable_with_capture(
    frontend: &Socket,
    backend: &Socket,
    capture: &Socket,
    control: &Socket,
) -> Result<()> {
    run_proxy(frontend, backend, Some(capture), Some(control))
}

fn run_proxy(
    frontend: &Socket,
    backend: &Socket,
    capture: Option<&Socket>,
    control: Option<&Socket>,
) -> Result<()> {
    let front = frontend.async_socket()?;
    let back = backend.async_socket()?;
    let capture = capture.map(Socket::async_socket).transpose()?;
    let control = control.map(Socket::async_socket).transpose()?;
    // What the application left half-received (or the poller took) goes first.
    let leftovers = [(frontend.take_rest(), back), (backend.take_rest(), front)];
    frontend.context().block_on(async {
        for (message, to) in leftovers {
            let Some(message) = message else { continue };
            if let Some(capture) = capture {
                capture.send(message.clone()).await?;
            }
            to.send(message).await?;
        }
        proxy::run(front, back, capture, control).await
    })?;
    Ok(())
}
