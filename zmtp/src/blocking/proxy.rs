//! `zmq_proxy` and `zmq_proxy_steerable` over async sockets (the blocking ones run these on
//! their context).
//!
//! ```text
//!  frontend ──recv──► capture (a copy) ──► backend.send
//!  backend  ──recv──► capture (a copy) ──► frontend.send
//!  control  ──recv──► PAUSE | RESUME | TERMINATE | STATISTICS
//! ```

use std::future::{pending, Future};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use zmtp_core::SocketType;

use crate::{Message, Socket, SocketError};

/// Messages a proxy takes in one go from a side before it looks at the others again.
const BATCH: usize = 64;

/// Forwards messages between `frontend` and `backend`, both ways, until one of them fails
/// (libzmq's `zmq_proxy`): the queue device (ROUTER ↔ DEALER), the forwarder (XSUB ↔ XPUB,
/// subscriptions going up), the streamer (PULL → PUSH). A send waits while the other side is
/// at its high-water mark, holding back that direction (and the other meanwhile), as libzmq's
/// proxy does.
pub async fn proxy(frontend: &Socket, backend: &Socket) -> Result<(), SocketError> {
    run(frontend, backend, None, None).await
}

/// [`proxy`], also sending a copy of every message forwarded either way to `capture` before
/// forwarding it (a PUB, PUSH or PAIR, usually).
pub async fn proxy_with_capture(
    frontend: &Socket,
    backend: &Socket,
    capture: &Socket,
) -> Result<(), SocketError> {
    run(frontend, backend, Some(capture), None).await
}

/// [`proxy`] steered by the messages that arrive on `control` (libzmq's
/// `zmq_proxy_steerable`):
/// - `PAUSE`: stop forwarding (messages wait in the sockets' queues);
/// - `RESUME`: forward again;
/// - `TERMINATE`: return `Ok(())`;
/// - `STATISTICS`: reply with eight 64-bit counters in native byte order (frontend: parts
///   received, octets received, parts sent, octets sent; then the same for the backend; each
///   part of a multipart message counts).
///
/// A REP control socket replies to every command (an empty message, or the counters), as
/// libzmq's does; other types reply only to `STATISTICS`, and only if they can send. The
/// command is the message's last part, so a DEALER or ROUTER control socket works too (its
/// reply goes back with the envelope it came with). An unknown command is ignored (REP: an
/// empty reply).
pub async fn proxy_steerable(
    frontend: &Socket,
    backend: &Socket,
    capture: Option<&Socket>,
    control: &Socket,
) -> Result<(), SocketError> {
    run(frontend, backend, capture, Some(control)).await
}

/// Counters of one side, as `STATISTICS` reports them.
#[derive(Clone, Copy, Debug, Default)]
struct Counters {
    parts_in: u64,
    bytes_in: u64,
    parts_out: u64,
    bytes_out: u64,
}

/// Whether the proxy forwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Forwarding,
    Paused,
}

/// What a control message asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Command {
    Pause,
    Resume,
    Terminate,
    Statistics,
    Unknown,
}

impl Command {
    fn parse(word: &[u8]) -> Command {
        match word {
            b"PAUSE" => Command::Pause,
            b"RESUME" => Command::Resume,
            b"TERMINATE" => Command::Terminate,
            b"STATISTICS" => Command::Statistics,
            _ => Command::Unknown,
        }
    }
}

/// Which socket woke the proxy.
enum Side {
    Frontend,
    Backend,
    Control,
}

pub(crate) async fn run(
    frontend: &Socket,
    backend: &Socket,
    capture: Option<&Socket>,
    control: Option<&Socket>,
) -> Result<(), SocketError> {
    let mut state = State::Forwarding;
    let mut front = Counters::default();
    let mut back = Counters::default();
    loop {
        let forwarding = state == State::Forwarding;
        let side = tokio::select! {
            _ = frontend.readable(), if forwarding => Side::Frontend,
            _ = backend.readable(), if forwarding => Side::Backend,
            _ = readable(control) => Side::Control,
        };
        match side {
            Side::Frontend => forward(frontend, backend, capture, &mut front, &mut back).await?,
            Side::Backend => forward(backend, frontend, capture, &mut back, &mut front).await?,
            Side::Control => {
                let Some(control) = control else { continue };
                let Some(message) = now_or_never(control.recv()).transpose()? else {
                    continue;
                };
                let command = Command::parse(message.parts().last().map_or(&[][..], |p| p));
                match command {
                    Command::Pause => state = State::Paused,
                    Command::Resume => state = State::Forwarding,
                    Command::Unknown => {
                        tracing::warn!(command = ?message.parts().last(), "proxy: unknown control command ignored");
                    }
                    Command::Terminate | Command::Statistics => {}
                }
                reply(control, message, command, &front, &back).await?;
                if command == Command::Terminate {
                    return Ok(());
                }
            }
        }
    }
}

/// Waits for a control message; for ever without a control socket.
async fn readable(control: Option<&Socket>) {
    match control {
        Some(control) => control.readable().await,
        None => pending().await,
    }
}

/// Forwards what `from` has queued (up to [`BATCH`] messages) to `to`, copying each to
/// `capture` first.
async fn forward(
    from: &Socket,
    to: &Socket,
    capture: Option<&Socket>,
    from_counters: &mut Counters,
    to_counters: &mut Counters,
) -> Result<(), SocketError> {
    for _ in 0..BATCH {
        // Taken without waiting: a message the pattern drops leaves nothing to take.
        let Some(message) = now_or_never(from.recv()).transpose()? else {
            return Ok(());
        };
        let parts = message.len() as u64;
        let octets: u64 = message.parts().iter().map(|p| p.len() as u64).sum();
        from_counters.parts_in += parts;
        from_counters.bytes_in += octets;
        if let Some(capture) = capture {
            capture.send(message.clone()).await?;
        }
        to.send(message).await?;
        to_counters.parts_out += parts;
        to_counters.bytes_out += octets;
    }
    Ok(())
}

/// Answers a control command as libzmq does.
async fn reply(
    control: &Socket,
    message: Message,
    command: Command,
    front: &Counters,
    back: &Counters,
) -> Result<(), SocketError> {
    let is_rep = control.socket_type() == SocketType::Rep;
    let can_send = !matches!(
        control.socket_type(),
        SocketType::Sub | SocketType::Pull | SocketType::Xsub
    );
    let body: Vec<Bytes> = match command {
        Command::Statistics if can_send => [front, back]
            .iter()
            .flat_map(|c| [c.parts_in, c.bytes_in, c.parts_out, c.bytes_out])
            .map(|n| Bytes::copy_from_slice(&n.to_ne_bytes()))
            .collect(),
        _ if is_rep => vec![Bytes::new()],
        _ => return Ok(()),
    };
    // The envelope the command came with (a ROUTER's routing id, a REQ's delimiter behind a
    // DEALER) goes back in front of the answer; REP keeps its envelope itself.
    let mut parts = message.into_parts();
    parts.pop();
    parts.extend(body);
    control.send(parts).await
}

/// The future's output if it needs no waiting.
fn now_or_never<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}
