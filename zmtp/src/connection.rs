//! One task per connection: it owns the stream halves, a read buffer and the sans-IO `Session`,
//! and moves bytes, messages, deadlines and ZAP answers between them.
//!
//! Reading and writing proceed concurrently inside one `select!` (both futures are cancel-safe),
//! so two peers writing large messages at each other never deadlock. Outgoing messages are only
//! taken from the socket while the write backlog is small: the per-peer channel bound is the
//! send high-water mark; the shared incoming channel bound is the receive high-water mark.
//!
//! What a peer can make this task hold is bounded:
//! - the read buffer grows with the octets that arrived (starting at [`READ_START`]), never with
//!   a length the peer announced;
//! - bytes the session wants to write are taken from it only once the previous ones were
//!   written, so replies the peer provokes (PONGs) stay in the session, where a newer PING
//!   replaces the PONG still owed: a peer that sends PINGs and never reads costs one PONG, not
//!   one per PING. Reads are not paused while writes are blocked, which would deadlock two peers
//!   sending large messages to each other; nothing a read produces can pile up instead;
//! - messages from peers of a socket that never receives (PUB, PUSH) are dropped on arrival;
//! - an accepted connection holds a handshake slot (`admission.rs`) until its handshake ends,
//!   and gives it up, closing, when a newer connection takes its place.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use zmtp_core::{AuthResult, Error, Event, MonitorEvent, Session, SocketType, ZapFailure};

use crate::admission::Slot;
use crate::peers::{Outgoing, PeerId};
use crate::socket::{Incoming, Shared};

/// Stop taking messages from the socket while this many octets wait to be written.
const WRITE_BACKLOG: usize = 4 << 20;
/// Messages taken from the socket per wake-up, to batch small writes.
const SEND_BATCH: usize = 256;
/// Spare room first offered to a read: enough for a greeting and a handshake command.
const READ_START: usize = 512;
/// Most spare room offered to one read; the buffer grows beyond it only as frames arrive.
const READ_CHUNK: usize = 64 << 10;
/// How long a last-gasp flush (an ERROR command) may take.
const LAST_GASP: Duration = Duration::from_secs(1);

/// How a connection ended.
#[derive(Debug)]
pub(crate) struct ConnectionEnd {
    pub(crate) error: Error,
    pub(crate) handshake_done: bool,
}

struct Registered {
    id: PeerId,
    /// Fixed for the connection's life: looked up once, not per message.
    routing_id: Bytes,
    rx: mpsc::Receiver<Outgoing>,
}

pub(crate) async fn run<R, W>(
    shared: Arc<Shared>,
    mut rd: R,
    mut wr: W,
    peer_address: String,
    endpoint: String,
    mut slot: Option<Slot>,
) -> ConnectionEnd
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
{
    let mut session = Session::new(shared.session_config.clone(), peer_address, Instant::now());
    let evicted = slot.as_ref().map(|s| s.evicted.clone());
    // Whether this socket hands received messages to the application at all.
    let delivers = !matches!(shared.socket_type, SocketType::Pub | SocketType::Push);
    let mut rbuf = BytesMut::new();
    let mut read_room = READ_START;
    let mut pending: VecDeque<Bytes> = VecDeque::new();
    let mut pending_len = 0usize;
    let mut registered: Option<Registered> = None;
    let mut auth_rx: Option<oneshot::Receiver<AuthResult>> = None;
    let mut handshake_done = false;

    let error = loop {
        // Drain the session's outputs.
        let mut closing: Option<Error> = None;
        while let Some(ev) = session.poll_event() {
            match ev {
                Event::Ready(info) => {
                    handshake_done = true;
                    if let Some(slot) = slot.take() {
                        slot.release();
                    }
                    shared
                        .monitor
                        .emit(MonitorEvent::HandshakeSucceeded, 0, &endpoint);
                    match shared.register_peer(info) {
                        Some((id, routing_id, rx)) => {
                            registered = Some(Registered { id, routing_id, rx })
                        }
                        // The socket takes no more peers (PAIR has one at most).
                        None => {
                            closing = Some(Error::Io("socket already has its peer".into()));
                            break;
                        }
                    }
                }
                Event::Message(parts) => {
                    // PUB and PUSH never receive: what their peers send is dropped here, or it
                    // would sit in the incoming queue until the socket closed.
                    if !delivers {
                        continue;
                    }
                    let Some(reg) = &registered else { continue };
                    let routing_id = reg.routing_id.clone();
                    let properties = session
                        .peer()
                        .map(|p| p.properties.clone())
                        .unwrap_or_default();
                    let incoming = Incoming {
                        peer: reg.id,
                        routing_id,
                        parts,
                        properties,
                    };
                    // Back-pressure: while the socket's queue is full we stop reading.
                    let sent = tokio::select! {
                        r = shared.incoming.send(incoming) => r.is_ok(),
                        _ = shared.shutdown.cancelled() => false,
                    };
                    if !sent {
                        closing = Some(Error::Io("socket closed".into()));
                        break;
                    }
                }
                Event::Subscribe(topic) => {
                    if let Some(reg) = &registered {
                        if let Err(e) = shared.peer_subscription(reg.id, topic, true) {
                            closing = Some(e);
                            break;
                        }
                    }
                }
                Event::Cancel(topic) => {
                    if let Some(reg) = &registered {
                        // A cancel never fails: it can only free what the peer held.
                        let _ = shared.peer_subscription(reg.id, topic, false);
                    }
                }
                Event::AuthRequest(req) => {
                    let (tx, rx) = oneshot::channel();
                    auth_rx = Some(rx);
                    match shared.options.authenticator.clone() {
                        Some(auth) => {
                            let timeout = shared.options.zap_timeout;
                            shared.tasks.spawn(async move {
                                let reply = tokio::time::timeout(timeout, auth.authenticate(req))
                                    .await
                                    .unwrap_or(Err(ZapFailure::Unspecified));
                                let _ = tx.send(reply);
                            });
                        }
                        // No handler: fail closed, as libzmq does for PLAIN.
                        None => {
                            let _ = tx.send(Err(ZapFailure::Unspecified));
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some(e) = closing {
            break e;
        }
        // Take the session's bytes once the previous ones are written: until then they wait
        // in the session, where a PONG owed is replaced rather than repeated.
        if pending.is_empty() {
            while pending_len < WRITE_BACKLOG {
                let Some(chunk) = session.poll_transmit() else {
                    break;
                };
                pending_len += chunk.len();
                pending.push_back(chunk);
            }
        }
        if let Some(e) = session.error() {
            break e.clone();
        }

        let deadline = session.poll_timeout();
        let backlog = pending_len + session.pending_transmit();
        let can_take = registered.is_some() && backlog < WRITE_BACKLOG;
        // Offer a read as much spare room as the last one filled, doubled (up to READ_CHUNK):
        // the buffer follows the traffic that really arrives.
        if rbuf.capacity() - rbuf.len() < read_room {
            rbuf.reserve(read_room);
        }
        tokio::select! {
            _ = shared.shutdown.cancelled() => {
                // Closing with linger: what the socket already queued for this peer goes out.
                if let Some(reg) = registered.as_mut() {
                    if shared.linger_deadline().is_some() {
                        while let Ok(out) = reg.rx.try_recv() {
                            apply_outgoing(&mut session, out);
                        }
                    }
                }
                break Error::Io("socket closed".into());
            }
            r = rd.read_buf(&mut rbuf) => match r {
                Ok(0) => break session.handle_eof(),
                Ok(n) => {
                    if n >= read_room {
                        read_room = (read_room * 2).min(READ_CHUNK);
                    }
                    let _ = session.handle_input(&mut rbuf, Instant::now());
                    if rbuf.is_empty() && rbuf.capacity() > READ_CHUNK {
                        // A large frame was handed up: do not keep its room for the next one.
                        rbuf = BytesMut::new();
                    }
                }
                Err(e) => break Error::Io(e.to_string()),
            },
            _ = cancelled(&evicted), if !handshake_done && evicted.is_some() => {
                break Error::Io("handshake slot taken by a newer connection".into());
            },
            r = write_front(&mut wr, &mut pending), if !pending.is_empty() => match r {
                Ok(n) => pending_len -= n,
                Err(e) => break Error::Io(e.to_string()),
            },
            msg = recv_outgoing(&mut registered), if can_take => {
                if let Some(out) = msg {
                    apply_outgoing(&mut session, out);
                    // Batch whatever else is already queued.
                    if let Some(reg) = registered.as_mut() {
                        for _ in 0..SEND_BATCH {
                            match reg.rx.try_recv() {
                                Ok(out) => apply_outgoing(&mut session, out),
                                Err(_) => break,
                            }
                        }
                    }
                }
            },
            _ = sleep_until(deadline), if deadline.is_some() => {
                let _ = session.handle_timeout(Instant::now());
            },
            reply = wait_auth(&mut auth_rx), if auth_rx.is_some() => {
                auth_rx = None;
                let _ = session.handle_auth_reply(reply, Instant::now());
            },
        }
    };

    // Last gasp: whatever the session queued before failing (an ERROR command), or what a
    // lingering close left to write, still goes out.
    while let Some(chunk) = session.poll_transmit() {
        pending.push_back(chunk);
    }
    if !pending.is_empty() {
        let budget = match shared.linger_deadline() {
            Some(until) => until.saturating_duration_since(tokio::time::Instant::now()),
            None => LAST_GASP,
        };
        let _ = tokio::time::timeout(budget, async {
            for chunk in pending {
                wr.write_all(&chunk).await?;
            }
            wr.flush().await
        })
        .await;
    }
    let _ = wr.shutdown().await;
    if let Some(reg) = registered {
        shared.unregister_peer(reg.id);
    }
    ConnectionEnd {
        error,
        handshake_done,
    }
}

fn apply_outgoing(session: &mut Session, out: Outgoing) {
    let r = match out {
        Outgoing::Message(parts) => session.send_message(parts),
        Outgoing::Subscription { topic, subscribe } => session.send_subscription(&topic, subscribe),
    };
    if let Err(e) = r {
        tracing::debug!(error = %e, "dropping outgoing message");
    }
}

async fn write_front<W: AsyncWrite + Unpin>(
    wr: &mut W,
    pending: &mut VecDeque<Bytes>,
) -> std::io::Result<usize> {
    let front = pending.front_mut().expect("guarded by !pending.is_empty()");
    let n = wr.write(front).await?;
    if n == 0 {
        return Err(std::io::ErrorKind::WriteZero.into());
    }
    if n == front.len() {
        pending.pop_front();
    } else {
        let _ = front.split_to(n);
    }
    Ok(n)
}

async fn recv_outgoing(registered: &mut Option<Registered>) -> Option<Outgoing> {
    match registered {
        Some(reg) => reg.rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn cancelled(token: &Option<tokio_util::sync::CancellationToken>) {
    match token {
        Some(t) => t.cancelled().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

async fn wait_auth(rx: &mut Option<oneshot::Receiver<AuthResult>>) -> AuthResult {
    match rx {
        Some(rx) => rx.await.unwrap_or(Err(ZapFailure::Unspecified)),
        None => std::future::pending().await,
    }
}
