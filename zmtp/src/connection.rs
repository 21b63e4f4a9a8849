//! One task per connection: it owns the stream halves, a read buffer and the sans-IO `Session`,
//! and moves bytes, messages, deadlines and ZAP answers between them.
//!
//! Reading and writing proceed concurrently inside one `select!` (both futures are cancel-safe),
//! so two peers writing large messages at each other never deadlock. Outgoing messages are only
//! taken from the socket while the write backlog is small: the per-peer channel bound is the
//! send high-water mark; the shared incoming channel bound is the receive high-water mark.
//! While that channel is full, the message it has no room for waits here and reads pause, and
//! nothing else does: writes, the application's messages, heartbeats and timeouts go on. Reads
//! continue only up to one chunk held back, and the peer is not timed out for a silence we
//! caused by not reading. Decoded messages waiting in the session never exceed one chunk's worth. Our own
//! subscriptions reach the peer through the session directly when it joins, and through a queue
//! of their own afterwards, so a peer at its high-water mark never misses one.
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
use tracing::Instrument;
use zmtp_core::{AuthResult, Error, Event, MonitorEvent, Session, SocketType, ZapFailure};

use crate::admission::Slot;
use crate::peers::{Outgoing, PeerId, SubscriptionQueue};
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

/// Runs one connection to its end, inside a tracing span that names it (endpoint, peer
/// address, mechanism, socket type), so that every event it logs says which connection it is.
pub(crate) async fn run<R, W>(
    shared: Arc<Shared>,
    rd: R,
    wr: W,
    peer_address: String,
    endpoint: String,
    slot: Option<Slot>,
) -> ConnectionEnd
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
{
    let span = tracing::debug_span!(
        "connection",
        endpoint = %endpoint,
        peer = %peer_address,
        mechanism = %shared.options.mechanism.name().as_str_lossy(),
        socket_type = shared.socket_type.as_str(),
    );
    drive(shared, rd, wr, peer_address, endpoint, slot)
        .instrument(span)
        .await
}

async fn drive<R, W>(
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
    // Our own subscription changes for this peer, once it joined (SUB/XSUB).
    let mut subscription_changes: Option<Arc<SubscriptionQueue>> = None;
    let mut auth_rx: Option<oneshot::Receiver<AuthResult>> = None;
    let mut handshake_done = false;
    // A message the socket's queue (RCVHWM) had no room for. While one waits, events stay in
    // the session and reads pause; writes, outgoing messages and timers go on.
    let mut stalled: Option<Incoming> = None;
    // Octets read while stalled and not yet passed to the session (they still show liveness).
    let mut unprocessed = false;
    // The peer closed its end; what it sent before is delivered first.
    let mut peer_eof = false;

    let error = loop {
        // Drain the session's outputs.
        let mut closing: Option<Error> = None;
        while stalled.is_none() {
            let Some(ev) = session.poll_event() else {
                break;
            };
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
                        Some(reg) => {
                            // Our own subscriptions go to the new peer first, straight into the
                            // session: however many there are, none is lost to a full queue.
                            for topic in &reg.replay {
                                let _ = session.send_subscription(topic, true);
                            }
                            subscription_changes = Some(reg.subscription_changes);
                            registered = Some(Registered {
                                id: reg.id,
                                routing_id: reg.routing_id,
                                rx: reg.rx,
                            })
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
                    // Back-pressure: while the socket's queue is full, this message waits and
                    // reads pause (see `stalled`); nothing else does.
                    match shared.incoming.try_send(incoming) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(incoming)) => stalled = Some(incoming),
                        Err(mpsc::error::TrySendError::Closed(_)) => {
                            closing = Some(Error::Io("socket closed".into()));
                            break;
                        }
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
        // Octets read while stalled go to the session only once every event it already had was
        // taken (the loop above ran dry without stalling): never more than one read chunk of
        // decoded messages waits in the session, however slowly the application reads.
        if stalled.is_none() && unprocessed {
            unprocessed = false;
            let _ = session.handle_input(&mut rbuf, Instant::now());
            continue;
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
        if peer_eof && stalled.is_none() && !unprocessed {
            break session.handle_eof();
        }

        if stalled.is_some() {
            // We are the ones not reading: silence proves nothing about the peer, so its
            // heartbeat deadlines wait until we read again.
            session.handle_traffic_seen();
        }
        let deadline = session.poll_timeout();
        // While stalled, keep reading only up to one chunk: enough to see that the peer is alive
        // (heartbeats), never an unbounded backlog.
        let can_read = !peer_eof && (stalled.is_none() || rbuf.len() < READ_CHUNK);
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
            r = rd.read_buf(&mut rbuf), if can_read => match r {
                Ok(0) if stalled.is_some() || unprocessed => peer_eof = true,
                Ok(0) => break session.handle_eof(),
                Ok(_) if stalled.is_some() => {
                    session.handle_traffic_seen();
                    unprocessed = true;
                }
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
            _ = changes_ready(&subscription_changes) => {
                if let Some(queue) = &subscription_changes {
                    for (topic, subscribe) in queue.take() {
                        let _ = session.send_subscription(&topic, subscribe);
                    }
                }
            },
            permit = shared.incoming.reserve(), if stalled.is_some() => match permit {
                Ok(permit) => {
                    if let Some(incoming) = stalled.take() {
                        permit.send(incoming);
                    }
                }
                Err(_) => break Error::Io("socket closed".into()),
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

async fn changes_ready(queue: &Option<Arc<SubscriptionQueue>>) {
    match queue {
        Some(queue) => queue.ready.notified().await,
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

#[cfg(test)]
mod tests {
    //! The driver over an in-memory stream, with the peer's side written by hand.

    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf};

    use super::*;
    use crate::{Heartbeat, Socket, SocketOptions};

    const T: Duration = Duration::from_secs(5);

    fn greeting() -> [u8; 64] {
        let mut g = [0u8; 64];
        g[0] = 0xFF;
        g[9] = 0x7F;
        g[10] = 3;
        g[11] = 1;
        g[12..16].copy_from_slice(b"NULL");
        g
    }

    fn ready(socket_type: &[u8]) -> Vec<u8> {
        let mut body = b"\x05READY\x0bSocket-Type".to_vec();
        body.extend_from_slice(&(socket_type.len() as u32).to_be_bytes());
        body.extend_from_slice(socket_type);
        let mut frame = vec![0x04, body.len() as u8];
        frame.extend_from_slice(&body);
        frame
    }

    /// Reads frames until `want` data frames whose body is `body` have arrived; returns how many
    /// PINGs came meanwhile.
    async fn read_until(rd: &mut ReadHalf<DuplexStream>, body: &[u8], want: usize) -> usize {
        let (mut seen, mut pings) = (0, 0);
        while seen < want {
            let mut head = [0u8; 2];
            rd.read_exact(&mut head).await.unwrap();
            assert_eq!(head[0] & 0x02, 0, "short frames only in this test");
            let mut frame = vec![0u8; usize::from(head[1])];
            rd.read_exact(&mut frame).await.unwrap();
            if head[0] & 0x04 != 0 {
                pings += usize::from(frame.starts_with(b"\x04PING"));
            } else if frame == body {
                seen += 1;
            }
        }
        pings
    }

    /// A DEALER whose application does not read (RCVHWM 1), a ROUTER peer by hand.
    async fn stalled_dealer() -> (
        Socket,
        tokio::task::JoinHandle<ConnectionEnd>,
        ReadHalf<DuplexStream>,
        WriteHalf<DuplexStream>,
    ) {
        let socket = Socket::with_options(
            SocketType::Dealer,
            SocketOptions {
                rcvhwm: 1,
                heartbeat: Heartbeat {
                    interval: Some(Duration::from_millis(50)),
                    ttl: None,
                    timeout: Some(Duration::from_millis(200)),
                },
                ..Default::default()
            },
        );
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        let (rd, wr) = tokio::io::split(ours);
        let shared = socket.shared().clone();
        let task = tokio::spawn(run(shared, rd, wr, "peer".into(), "duplex".into(), None));
        let (mut prd, mut pwr) = tokio::io::split(theirs);
        pwr.write_all(&greeting()).await.unwrap();
        pwr.write_all(&ready(b"ROUTER")).await.unwrap();
        let mut ours_greeting = [0u8; 64];
        prd.read_exact(&mut ours_greeting).await.unwrap();
        socket.wait_for_peers(1, T).await.unwrap();
        (socket, task, prd, pwr)
    }

    #[tokio::test]
    async fn a_full_receive_queue_pauses_reads_and_nothing_else() {
        let (socket, task, mut prd, mut pwr) = stalled_dealer().await;
        // The peer sends a numbered message every 10 ms into a receive queue of 1: the
        // connection holds one back and reads on only to see that the peer is alive.
        let writer = tokio::spawn(async move {
            for i in 0..=255u8 {
                if pwr.write_all(&[0x00, 1, i]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            pwr
        });
        tokio::time::sleep(Duration::from_millis(400)).await;
        // Writes go on: what the application sends reaches the peer, heartbeats keep going out,
        // and the peer's traffic, unread, counts as a sign of life (our heartbeat timeout of
        // 200 ms has passed twice over, with no PONG ever sent).
        for _ in 0..3 {
            tokio::time::timeout(T, socket.send(["out"]))
                .await
                .expect("the peer is still there")
                .unwrap();
        }
        let pings = tokio::time::timeout(T, read_until(&mut prd, b"out", 3))
            .await
            .expect("sends are written while the receive queue is full");
        assert!(pings >= 1, "heartbeat PINGs go out while stalled");
        assert!(!task.is_finished(), "the connection is alive");
        // Nothing was lost: the application gets the messages in order, from the first.
        for i in 0..30u8 {
            let msg = tokio::time::timeout(T, socket.recv())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(msg.parts(), [Bytes::from(vec![i])]);
        }
        writer.abort();
    }

    #[tokio::test]
    async fn a_slow_reader_holds_a_bounded_backlog_however_fast_the_peer_writes() {
        let (socket, task, _prd, mut pwr) = stalled_dealer().await;
        // The peer writes as fast as it can; the application takes one message per millisecond.
        // Each message taken must let in about one message more, never a whole chunk more:
        // the octets the peer gets to write stay bounded.
        let written = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let w = written.clone();
        let writer = tokio::spawn(async move {
            let batch: Vec<u8> = (0..1024).flat_map(|_| [0x00u8, 1, 7]).collect();
            while pwr.write_all(&batch).await.is_ok() {
                w.fetch_add(batch.len(), std::sync::atomic::Ordering::Relaxed);
            }
        });
        let started = tokio::time::Instant::now();
        let mut taken = 0usize;
        while started.elapsed() < Duration::from_secs(1) {
            tokio::time::timeout(T, socket.recv())
                .await
                .unwrap()
                .unwrap();
            taken += 1;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let written = written.load(std::sync::atomic::Ordering::Relaxed);
        // What was taken, plus the stream's buffer, one read chunk held back and one decoded.
        let bound = taken * 3 + (1 << 16) + 3 * READ_CHUNK + 4096;
        assert!(
            written <= bound,
            "the peer wrote {written} octets while {taken} messages were taken (bound {bound})"
        );
        assert!(!task.is_finished());
        writer.abort();
    }

    #[tokio::test]
    async fn what_a_peer_sent_before_closing_is_delivered_even_when_the_queue_was_full() {
        let (socket, task, _prd, mut pwr) = stalled_dealer().await;
        for i in 0..20u8 {
            pwr.write_all(&[0x00, 1, i]).await.unwrap();
        }
        pwr.shutdown().await.unwrap();
        drop(pwr);
        tokio::time::sleep(Duration::from_millis(100)).await;
        for i in 0..20u8 {
            let msg = tokio::time::timeout(T, socket.recv())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(msg.parts(), [Bytes::from(vec![i])]);
        }
        let end = tokio::time::timeout(T, task).await.unwrap().unwrap();
        assert_eq!(end.error, Error::PeerClosed);
    }
}
