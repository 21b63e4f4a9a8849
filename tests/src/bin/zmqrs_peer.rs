//! The interop peer over zmq.rs (the `zeromq` crate): the protocol of
//! `tests/interop/STACKS.md`, configuration on stdin, JSON lines on stdout.
//!
//! What zmq.rs 0.7 offers and this peer therefore supports: the NULL mechanism only (its
//! greeting always announces NULL; there is no PLAIN or CURVE), and the socket types PUSH,
//! PULL, REQ, REP, DEALER, ROUTER, PUB, SUB, XPUB and XSUB (no PAIR). Anything else is
//! refused with an error line naming the limitation.
//!
//! Where zmq.rs differs from libzmq in a way the protocol would notice, the peer papers over
//! it the way libzmq behaves:
//! - a send with no peer attached fails at once ("Not connected to peers") instead of waiting
//!   for one, so the peer retries it until the timeout;
//! - `connect` completes only once the handshake with a listening peer has, so it is bounded
//!   by the timeout too (and `ready` follows the handshake, not the call);
//! - SUB and XSUB subscribe with a `&str`, so a prefix that is not UTF-8 cannot be expressed.

// Shared with the other peers; each uses only part of it.
#[allow(dead_code)]
mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;
use zeromq::prelude::*;
use zeromq::{
    DealerSocket, PubSocket, PullSocket, PushSocket, RepSocket, ReqSocket, RouterSocket,
    SocketOptions, SubSocket, XPubSocket, XSubSocket, ZmqError, ZmqMessage,
};

use common::{bounded, emit, fail, note, Attach, Config, Endpoint, Mechanism};

/// One zmq.rs socket of any type it implements.
enum Sock {
    Push(PushSocket),
    Pull(PullSocket),
    Req(ReqSocket),
    Rep(RepSocket),
    Dealer(DealerSocket),
    Router(RouterSocket),
    Pub(PubSocket),
    Sub(SubSocket),
    XPub(XPubSocket),
    XSub(XSubSocket),
}

/// Runs the same expression on whichever socket `$sock` holds.
macro_rules! each {
    ($sock:expr, $s:ident => $body:expr) => {
        match $sock {
            Sock::Push($s) => $body,
            Sock::Pull($s) => $body,
            Sock::Req($s) => $body,
            Sock::Rep($s) => $body,
            Sock::Dealer($s) => $body,
            Sock::Router($s) => $body,
            Sock::Pub($s) => $body,
            Sock::Sub($s) => $body,
            Sock::XPub($s) => $body,
            Sock::XSub($s) => $body,
        }
    };
}

impl Sock {
    fn new(name: &str, options: impl Fn() -> SocketOptions) -> Result<Sock, String> {
        Ok(match name {
            "PUSH" => Sock::Push(PushSocket::with_options(options())),
            "PULL" => Sock::Pull(PullSocket::with_options(options())),
            "REQ" => Sock::Req(ReqSocket::with_options(options())),
            "REP" => Sock::Rep(RepSocket::with_options(options())),
            "DEALER" => Sock::Dealer(DealerSocket::with_options(options())),
            "ROUTER" => Sock::Router(RouterSocket::with_options(options())),
            "PUB" => Sock::Pub(PubSocket::with_options(options())),
            "SUB" => Sock::Sub(SubSocket::with_options(options())),
            "XPUB" => Sock::XPub(XPubSocket::with_options(options())),
            "XSUB" => Sock::XSub(XSubSocket::with_options(options())),
            "PAIR" => return Err("zmq.rs 0.7 has no PAIR socket".into()),
            other => return Err(format!("unknown socket type {other:?}")),
        })
    }

    fn kind(&self) -> &'static str {
        match self {
            Sock::Push(_) => "PUSH",
            Sock::Pull(_) => "PULL",
            Sock::Req(_) => "REQ",
            Sock::Rep(_) => "REP",
            Sock::Dealer(_) => "DEALER",
            Sock::Router(_) => "ROUTER",
            Sock::Pub(_) => "PUB",
            Sock::Sub(_) => "SUB",
            Sock::XPub(_) => "XPUB",
            Sock::XSub(_) => "XSUB",
        }
    }

    /// Sends sit in a queue that a writer task drains (rather than being written by `send`).
    fn queues_sends(&self) -> bool {
        matches!(
            self,
            Sock::Push(_) | Sock::Dealer(_) | Sock::Router(_) | Sock::Pub(_) | Sock::XPub(_)
        )
    }

    async fn subscribe(&mut self, prefix: &[u8]) -> Result<(), String> {
        let text = std::str::from_utf8(prefix).map_err(|_| {
            format!(
                "zmq.rs 0.7 subscribes with a &str only: prefix {} is not UTF-8",
                hex::encode(prefix)
            )
        })?;
        let result = match self {
            Sock::Sub(s) => s.subscribe(text).await,
            Sock::XSub(s) => s.subscribe(text).await,
            _ => return Ok(()),
        };
        result.map_err(|e| format!("subscribe {}: {e}", hex::encode(prefix)))
    }

    async fn try_send(&mut self, message: ZmqMessage) -> Result<(), ZmqError> {
        match self {
            Sock::Push(s) => s.send(message).await,
            Sock::Req(s) => s.send(message).await,
            Sock::Rep(s) => s.send(message).await,
            Sock::Dealer(s) => s.send(message).await,
            Sock::Router(s) => s.send(message).await,
            Sock::Pub(s) => s.send(message).await,
            Sock::XPub(s) => s.send(message).await,
            Sock::XSub(s) => s.send(message).await,
            Sock::Pull(_) | Sock::Sub(_) => Err(ZmqError::Other("this socket type cannot send")),
        }
    }
}

/// How long to wait between retries of a send that found no peer.
const NO_PEER_RETRY: Duration = Duration::from_millis(20);

impl Endpoint for Sock {
    async fn send(&mut self, frames: Vec<Vec<u8>>) -> Result<(), String> {
        let frames: Vec<Bytes> = frames.into_iter().map(Bytes::from).collect();
        let mut message = ZmqMessage::try_from(frames).map_err(|e| e.to_string())?;
        loop {
            match self.try_send(message).await {
                Ok(()) => return Ok(()),
                // libzmq would block until a peer is attached; zmq.rs hands the message back.
                Err(ZmqError::ReturnToSender {
                    reason,
                    message: back,
                }) if reason.starts_with("Not connected") => {
                    message = back;
                    tokio::time::sleep(NO_PEER_RETRY).await;
                }
                Err(e) => return Err(format!("{} send: {e}", self.kind())),
            }
        }
    }

    async fn recv(&mut self) -> Result<Vec<Vec<u8>>, String> {
        let kind = self.kind();
        let message = match self {
            Sock::Pull(s) => s.recv().await,
            Sock::Req(s) => s.recv().await,
            Sock::Rep(s) => s.recv().await,
            Sock::Dealer(s) => s.recv().await,
            Sock::Router(s) => s.recv().await,
            Sock::Sub(s) => s.recv().await,
            Sock::XPub(s) => s.recv().await,
            Sock::XSub(s) => s.recv().await,
            Sock::Push(_) | Sock::Pub(_) => {
                // Not a transient error: waiting on would only end in the timeout.
                fail(format!("{kind} cannot receive"));
            }
        };
        let message = message.map_err(|e| format!("{kind} recv: {e}"))?;
        Ok(message.into_vec().into_iter().map(|f| f.to_vec()).collect())
    }
}

async fn run(config: Config) -> Result<(), String> {
    if !matches!(config.mechanism, Mechanism::Null) {
        return Err(format!(
            "zmq.rs 0.7 implements only the NULL mechanism, not {}",
            config.mechanism.name()
        ));
    }
    let timeout = config.timeout;
    let mut sock = Sock::new(&config.socket_type, || {
        let mut options = SocketOptions::default();
        options.connect_timeout(timeout);
        options
    })?;
    // Subscriptions made before the connection are remembered and sent on the handshake.
    for prefix in &config.subscribe {
        sock.subscribe(prefix).await?;
    }
    match &config.attach {
        Attach::Bind(ep) => {
            let bound = bounded("bind", timeout, each!(&mut sock, s => s.bind(ep))).await?;
            emit(json!({ "bound": bound.to_string() }));
        }
        Attach::Connect(ep) => {
            // zmq.rs returns from connect only after the handshake (it retries a refused
            // connection meanwhile), so a peer that never listens ends here.
            bounded(
                "connect (zmq.rs waits for the handshake)",
                timeout,
                each!(&mut sock, s => s.connect(ep)),
            )
            .await?;
        }
    }
    emit(json!({ "ready": true }));
    common::run_script(&mut sock, &config).await?;
    emit(json!({ "done": true }));
    close(sock, &config).await;
    Ok(())
}

/// Closes the socket, leaving the writer tasks up to one second to flush what is queued.
async fn close(mut sock: Sock, config: &Config) {
    let linger = Duration::from_secs(1);
    let start = Instant::now();
    let sent = config
        .script
        .iter()
        .any(|op| matches!(op, common::Op::Send(_) | common::Op::Echo { .. }));
    let queued = sent && sock.queues_sends();
    if queued && matches!(sock, Sock::Pub(_) | Sock::XPub(_)) {
        // PUB hands a message to a fan-out task before the per-subscriber writers, and
        // closing drops the subscribers at once: give that task its turn first.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let errors: Vec<ZmqError> = tokio::time::timeout(linger, each!(&mut sock, s => s.unbind_all()))
        .await
        .unwrap_or_default();
    for e in errors {
        note(format!("close: {e}"));
    }
    // Dropping the socket closes the writer queues; their tasks drain them and end.
    drop(sock);
    if queued {
        let metrics = tokio::runtime::Handle::current().metrics();
        while metrics.num_alive_tasks() > 0 && start.elapsed() < linger {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if metrics.num_alive_tasks() > 0 {
            note(format!(
                "close: {} tasks still running after {} ms",
                metrics.num_alive_tasks(),
                linger.as_millis()
            ));
        }
    }
}

#[tokio::main]
async fn main() {
    let config = common::read_config();
    if let Err(e) = run(config).await {
        fail(e);
    }
    // Whatever the stack left running is abandoned, not awaited.
    std::process::exit(0);
}
