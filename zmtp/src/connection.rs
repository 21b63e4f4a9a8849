//! One task per connection: it owns the stream halves, a read buffer and the sans-IO `Session`,
//! and moves bytes, messages, deadlines and ZAP answers between them. It reaches its socket only
//! through [`SocketLink`], the few calls a connection needs, so it can be run and tested alone.
//!
//! Reading and writing proceed concurrently inside one `select!` (both futures are cancel-safe),
//! so two peers writing large messages at each other never deadlock.
//!
//! The hot path moves batches, never single messages: when the socket queued messages for
//! this peer, the task takes all of them (up to the write backlog) in one go, the session
//! encodes small frames into one buffer and chains large payloads, and the buffers go out in one
//! vectored write. Every message one read decoded is handed up in one go, so the application
//! is woken once per read, not per message. Outgoing messages are only taken while the write
//! backlog is small: the per-peer pipe bound is the send high-water mark, the per-peer inbox
//! bound the receive high-water mark. While the inbox is full, the messages it has no room for
//! wait here and reads pause, and nothing else does: writes, the application's messages,
//! heartbeats and timeouts go on. Reads continue only up to one chunk held back, and the peer
//! is not timed out for a silence we caused by not reading. Decoded messages waiting here never
//! exceed one chunk's worth. Our own subscriptions reach the peer through the session directly
//! when it joins, and through a queue of their own afterwards, so a peer at its high-water mark
//! never misses one.
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
use std::io::IoSlice;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{oneshot, Notify};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use zmtp_core::{
    AuthRequest, AuthResult, Error, Event, MonitorEvent, PeerInfo, Session, SessionConfig,
    SocketType, ZapFailure,
};

use crate::admission::Slot;
use crate::peers::{PeerId, SubscriptionQueue};
use crate::pipe::{Delivery, OutPipe, Outgoing, Parts};

/// Stop taking messages from the socket while this many octets wait to be written.
const WRITE_BACKLOG: usize = 4 << 20;
/// Messages taken from the socket's pipe under one lock.
const TAKE_BATCH: usize = 256;
/// Buffers handed to one vectored write.
const MAX_IOVECS: usize = 64;
/// Spare room first offered to a read: enough for a greeting and a handshake command.
const READ_START: usize = 512;
/// Most spare room offered to one read; the buffer grows beyond it only as frames arrive.
const READ_CHUNK: usize = 64 << 10;
/// How long a last-gasp flush (an ERROR command) may take.
const LAST_GASP: Duration = Duration::from_secs(1);

/// What a connection may ask of its socket: all of it, so the socket's own state stays its own.
pub(crate) trait SocketLink: Send + Sync + 'static {
    fn socket_type(&self) -> SocketType;
    fn session_config(&self) -> &Arc<SessionConfig>;
    /// Reports a monitor event for `endpoint`.
    fn emit(&self, event: MonitorEvent, value: u32, endpoint: &str);
    /// Cancelled when the socket closes.
    fn shutdown(&self) -> &CancellationToken;
    /// Set when the socket closes with linger: until when queued messages may still go out.
    fn linger_deadline(&self) -> Option<tokio::time::Instant>;
    /// Asks the socket's ZAP handler (with its timeout); no handler answers a refusal.
    fn authenticate(&self, request: AuthRequest) -> oneshot::Receiver<AuthResult>;
    /// The peer's handshake completed; `None` when the socket takes no more peers.
    fn join(&self, info: PeerInfo) -> Option<Registration>;
    /// The connection of a joined peer ended; the socket closes its pipe (or keeps it for the
    /// next connection to the same endpoint).
    fn leave(&self, peer: PeerId);
    /// Hands received messages to the socket; what does not fit stays in `batch`.
    fn deliver(&self, peer: PeerId, batch: &mut VecDeque<Parts>) -> Delivery;
    /// The peer subscribed or cancelled (PUB/XPUB). Returns what the application is to receive
    /// about it (XPUB), or the error that ends the connection (a limit).
    fn peer_subscription(
        &self,
        peer: PeerId,
        topic: Bytes,
        subscribe: bool,
    ) -> Result<Option<Parts>, Error>;
    /// The peer's pipe was full and has room again.
    fn room_freed(&self);
}

/// What a connection gets when its peer joins the socket.
#[derive(Debug)]
pub(crate) struct Registration {
    pub(crate) id: PeerId,
    /// Messages for this peer (bound = SNDHWM).
    pub(crate) out: Arc<OutPipe>,
    /// Notified when the peer's inbox has room again after a `Delivery::Full`.
    pub(crate) room: Arc<Notify>,
    /// Cancelled when the socket closes this peer (another took over its routing id).
    pub(crate) close: CancellationToken,
    /// Our subscription changes for this peer.
    pub(crate) subscription_changes: Arc<SubscriptionQueue>,
    /// Our subscriptions at the moment it joined, to send it first.
    pub(crate) replay: Vec<Bytes>,
}

/// How a connection ended.
#[derive(Debug)]
pub(crate) struct ConnectionEnd {
    pub(crate) error: Error,
    pub(crate) handshake_done: bool,
}

/// Runs one connection to its end, inside a tracing span that names it (endpoint, peer
/// address, mechanism, socket type), so that every event it logs says which connection it is.
pub(crate) async fn run<R, W>(
    link: Arc<dyn SocketLink>,
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
        mechanism = %link.session_config().mechanism.name().as_str_lossy(),
        socket_type = link.socket_type().as_str(),
    );
    drive(link, rd, wr, peer_address, endpoint, slot)
        .instrument(span)
        .await
}

async fn drive<R, W>(
    link: Arc<dyn SocketLink>,
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
    let mut session = Session::new(link.session_config().clone(), peer_address, Instant::now());
    let evicted = slot.as_ref().map(|s| s.evicted.clone());
    // Whether this socket hands received messages to the application at all.
    let delivers = !matches!(link.socket_type(), SocketType::Pub | SocketType::Push);
    let mut rbuf = BytesMut::new();
    let mut read_room = READ_START;
    let mut pending: VecDeque<Bytes> = VecDeque::new();
    let mut pending_len = 0usize;
    let mut registered: Option<Registration> = None;
    let mut auth_rx: Option<oneshot::Receiver<AuthResult>> = None;
    let mut handshake_done = false;
    // Messages decoded and not yet handed to the socket.
    let mut inbound: VecDeque<Parts> = VecDeque::new();
    // Messages taken from the socket's pipe, on their way into the session.
    let mut taken: VecDeque<Outgoing> = VecDeque::new();
    let fan_out = matches!(link.socket_type(), SocketType::Pub | SocketType::Xpub);
    // The socket's inbox for this peer was full: what it had no room for waits in `inbound`,
    // events stay in the session and reads pause; writes, outgoing messages and timers go on.
    let mut stalled = false;
    // Octets read while stalled and not yet passed to the session (they still show liveness).
    let mut unprocessed = false;
    // The peer closed its end; what it sent before is delivered first.
    let mut peer_eof = false;

    let error = loop {
        if stalled {
            stalled = hand_up(&*link, &registered, &mut inbound);
        }
        // Drain the session's outputs.
        let mut closing: Option<Error> = None;
        // While stalled, events stay in the session.
        while let Some(ev) = (!stalled).then(|| session.poll_event()).flatten() {
            match ev {
                Event::Ready(info) => {
                    handshake_done = true;
                    if let Some(slot) = slot.take() {
                        slot.release();
                    }
                    link.emit(MonitorEvent::HandshakeSucceeded, 0, &endpoint);
                    match link.join(info) {
                        Some(reg) => {
                            // Our own subscriptions go to the new peer first, straight into the
                            // session: however many there are, none is lost to a full queue.
                            for topic in &reg.replay {
                                let _ = session.send_subscription(topic, true);
                            }
                            registered = Some(reg);
                        }
                        // The socket takes no more peers (PAIR has one at most).
                        None => {
                            closing = Some(Error::Io("socket already has its peer".into()));
                            break;
                        }
                    }
                }
                // PUB and PUSH never receive: what their peers send is dropped here, or it
                // would sit in the socket's inbox until it closed.
                Event::Message(parts) if delivers && registered.is_some() => {
                    inbound.push_back(parts);
                }
                Event::Subscribe(topic) => {
                    if let Some(reg) = &registered {
                        match link.peer_subscription(reg.id, topic, true) {
                            Ok(notice) => inbound.extend(notice),
                            Err(e) => {
                                closing = Some(e);
                                break;
                            }
                        }
                    }
                }
                Event::Cancel(topic) => {
                    if let Some(reg) = &registered {
                        // A cancel never fails: it can only free what the peer held.
                        if let Ok(notice) = link.peer_subscription(reg.id, topic, false) {
                            inbound.extend(notice);
                        }
                    }
                }
                Event::AuthRequest(req) => auth_rx = Some(link.authenticate(req)),
                _ => {}
            }
        }
        if let Some(e) = closing {
            break e;
        }
        // Everything one read decoded goes up in one batch. Back-pressure: while the
        // socket's inbox for this peer is full, the rest waits here and reads pause (see
        // `stalled`); nothing else does.
        if !stalled && !inbound.is_empty() {
            stalled = hand_up(&*link, &registered, &mut inbound);
        }
        // Octets read while stalled go to the session only once every event it already had was
        // taken (the loop above ran dry without stalling): never more than one read chunk of
        // decoded messages waits here, however slowly the application reads.
        if !stalled && unprocessed {
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
        if peer_eof && !stalled && !unprocessed {
            break session.handle_eof();
        }

        if stalled {
            // We are the ones not reading: silence proves nothing about the peer, so its
            // heartbeat deadlines wait until we read again.
            session.handle_traffic_seen();
        }
        let deadline = session.poll_timeout();
        // While stalled, keep reading only up to one chunk: enough to see that the peer is alive
        // (heartbeats), never an unbounded backlog.
        let can_read = !peer_eof && (!stalled || rbuf.len() < READ_CHUNK);
        let backlog = pending_len + session.pending_transmit();
        let can_take = registered.is_some() && backlog < WRITE_BACKLOG;
        // Offer a read as much spare room as the last one filled, doubled (up to READ_CHUNK):
        // the buffer follows the traffic that really arrives.
        if rbuf.capacity() - rbuf.len() < read_room {
            rbuf.reserve(read_room);
        }
        tokio::select! {
            _ = link.shutdown().cancelled() => {
                // Closing with linger: what the socket already queued for this peer goes out.
                if let Some(reg) = &registered {
                    if link.linger_deadline().is_some() {
                        reg.out.take(usize::MAX, &mut taken);
                        for item in taken.drain(..) {
                            send_outgoing(&mut session, item);
                        }
                    }
                }
                break Error::Io("socket closed".into());
            }
            // A large body arriving is read straight into its own buffer (no copy); the rest
            // into `rbuf`. While stalled, reads stay in `rbuf`, bounded by `can_read`.
            r = read_some(&mut rd, &mut session, &mut rbuf, stalled), if can_read => match r {
                Ok(0) if stalled || unprocessed => peer_eof = true,
                Ok(0) => break session.handle_eof(),
                Ok(_) if stalled => {
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
            _ = changes_ready(&registered) => {
                if let Some(reg) = &registered {
                    for (topic, subscribe) in reg.subscription_changes.take() {
                        let _ = session.send_subscription(&topic, subscribe);
                    }
                }
            },
            _ = room_ready(&registered), if stalled => {},
            _ = closed_by_socket(&registered) => {
                break Error::Io("routing id handed over to a newer connection".into());
            },
            _ = cancelled(&evicted), if !handshake_done && evicted.is_some() => {
                break Error::Io("handshake slot taken by a newer connection".into());
            },
            r = write_some(&mut wr, &mut pending), if !pending.is_empty() => match r {
                Ok(n) => pending_len -= n,
                Err(e) => break Error::Io(e.to_string()),
            },
            _ = outgoing_ready(&registered, !taken.is_empty()), if can_take => {
                if let Some(reg) = &registered {
                    if fan_out {
                        // Every message a PUB sends wakes all its connections at once: letting
                        // the others (and the publisher) run first means this take, and the
                        // write after it, carry what arrived meanwhile rather than one message.
                        tokio::task::yield_now().await;
                    }
                    take_outgoing(&*link, reg, &mut session, &mut taken, pending_len);
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
        let budget = match link.linger_deadline() {
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
    // The socket decides what becomes of the pipe: closed, or kept for the next connection
    // to the same endpoint.
    if let Some(reg) = registered {
        link.leave(reg.id);
    }
    ConnectionEnd {
        error,
        handshake_done,
    }
}

/// One read: into the body of the large frame the session is receiving when there is one (and
/// we are not stalled), else into `rbuf`.
async fn read_some<R: AsyncRead + Unpin>(
    rd: &mut R,
    session: &mut Session,
    rbuf: &mut BytesMut,
    stalled: bool,
) -> std::io::Result<usize> {
    match (!stalled).then(|| session.body_room()).flatten() {
        Some(mut room) => rd.read_buf(&mut room).await,
        None => rd.read_buf(rbuf).await,
    }
}

/// Hands `inbound` to the socket; true when the peer's inbox is full (stalled).
fn hand_up(
    link: &dyn SocketLink,
    registered: &Option<Registration>,
    inbound: &mut VecDeque<Parts>,
) -> bool {
    match registered {
        Some(reg) => link.deliver(reg.id, inbound) == Delivery::Full,
        None => {
            inbound.clear();
            false
        }
    }
}

/// Moves what the socket queued for this peer into the session, in batches under one lock
/// each, until the pipe is empty or the write backlog is reached. The backlog is checked after
/// every message, not every batch: a batch of large messages would otherwise be encoded (for
/// CURVE, sealed into a buffer each) all at once, far past the backlog. What a batch brought
/// beyond it stays in `taken`, first in line for the next call.
fn take_outgoing(
    link: &dyn SocketLink,
    reg: &Registration,
    session: &mut Session,
    taken: &mut VecDeque<Outgoing>,
    written_backlog: usize,
) {
    loop {
        while let Some(item) = taken.pop_front() {
            send_outgoing(session, item);
            if written_backlog + session.pending_transmit() >= WRITE_BACKLOG {
                return;
            }
        }
        if reg.out.take(TAKE_BATCH, taken) {
            link.room_freed();
        }
        if taken.is_empty() {
            return;
        }
    }
}

fn send_outgoing(session: &mut Session, item: Outgoing) {
    let sent = match item {
        Outgoing::Parts(parts) => session.send_message(parts),
        // Only a peer whose frames go out unchanged is given these; were it ever another, the
        // parts go the usual way rather than the bytes as they are.
        Outgoing::Encoded(wire) if session.peer().is_some_and(|p| p.frames_unchanged) => {
            session.send_encoded(wire)
        }
        encoded => match encoded.into_parts() {
            Some(parts) => session.send_message(parts),
            None => {
                tracing::debug!("dropping an encoded message that does not split into parts");
                return;
            }
        },
    };
    if let Err(e) = sent {
        tracing::debug!(error = %e, "dropping outgoing message");
    }
}

/// Writes the front of `pending`, several buffers at once; returns the octets written.
async fn write_some<W: AsyncWrite + Unpin>(
    wr: &mut W,
    pending: &mut VecDeque<Bytes>,
) -> std::io::Result<usize> {
    let n = if pending.len() == 1 || !wr.is_write_vectored() {
        wr.write(&pending[0]).await?
    } else {
        let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
        let k = pending.len().min(MAX_IOVECS);
        for (slice, chunk) in slices.iter_mut().zip(pending.iter()) {
            *slice = IoSlice::new(chunk);
        }
        wr.write_vectored(&slices[..k]).await?
    };
    if n == 0 {
        return Err(std::io::ErrorKind::WriteZero.into());
    }
    let mut left = n;
    while left > 0 {
        let front = pending.front_mut().expect("wrote no more than was pending");
        if left >= front.len() {
            left -= front.len();
            pending.pop_front();
        } else {
            let _ = front.split_to(left);
            left = 0;
        }
    }
    Ok(n)
}

/// Resolves once there is something to take: messages a batch brought beyond the write
/// backlog (`left_over`, at once) or a message in the pipe.
async fn outgoing_ready(registered: &Option<Registration>, left_over: bool) {
    match registered {
        Some(_) if left_over => {}
        Some(reg) => reg.out.readable().await,
        None => std::future::pending().await,
    }
}

async fn changes_ready(registered: &Option<Registration>) {
    match registered {
        Some(reg) => reg.subscription_changes.ready.notified().await,
        None => std::future::pending().await,
    }
}

async fn closed_by_socket(registered: &Option<Registration>) {
    match registered {
        Some(reg) => reg.close.cancelled().await,
        None => std::future::pending().await,
    }
}

async fn room_ready(registered: &Option<Registration>) {
    match registered {
        Some(reg) => reg.room.notified().await,
        None => std::future::pending().await,
    }
}

async fn cancelled(token: &Option<CancellationToken>) {
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

    /// The body of message `i` of `len` octets: no two messages, and no two offsets in one, the
    /// same for long.
    fn body(i: usize, len: usize) -> Vec<u8> {
        (0..len).map(|k| (k * 31 + i * 7) as u8).collect()
    }

    #[tokio::test]
    async fn every_size_around_the_read_and_pool_boundaries_arrives_whole_however_it_is_cut() {
        // The read buffer starts at READ_START, doubles up to READ_CHUNK as reads fill it, and
        // bodies from POOL_AT go to buffers of their own: sizes on each side of every one of
        // those, after and between small messages, written in pieces that split headers and
        // bodies anywhere.
        let pool_at = zmtp_core::wire::frame::POOL_AT;
        let mut sizes = vec![0, 1, 255, 256, 257];
        for edge in [
            READ_START,
            4096,
            8192,
            16384,
            32768,
            READ_CHUNK,
            pool_at,
            2 * READ_CHUNK,
        ] {
            sizes.extend([edge - 1, edge, edge + 1]);
        }
        sizes.extend([200_000, 3, 70_000, 1, 65_000, 9000]);
        for piece in [1usize, 7, 1000, 65_536] {
            let socket = Socket::new(SocketType::Pull);
            let (ours, theirs) = tokio::io::duplex(1 << 16);
            let (rd, wr) = tokio::io::split(ours);
            let shared = socket.shared().clone();
            let task = tokio::spawn(run(shared, rd, wr, "peer".into(), "duplex".into(), None));
            let (mut prd, mut pwr) = tokio::io::split(theirs);
            // Our greeting and READY are read and dropped, so that nothing blocks on them.
            let drain = tokio::spawn(async move {
                let mut sink = [0u8; 1024];
                while prd.read(&mut sink).await.is_ok_and(|n| n > 0) {}
            });
            let mut wire = greeting().to_vec();
            wire.extend_from_slice(&ready(b"PUSH"));
            for (i, &len) in sizes.iter().enumerate() {
                let mut frame = BytesMut::new();
                zmtp_core::wire::frame::encode_header(false, false, len, &mut frame);
                wire.extend_from_slice(&frame);
                wire.extend_from_slice(&body(i, len));
            }
            let writer = tokio::spawn(async move {
                for chunk in wire.chunks(piece) {
                    pwr.write_all(chunk).await.unwrap();
                }
                pwr
            });
            for (i, &len) in sizes.iter().enumerate() {
                let msg = tokio::time::timeout(T, socket.recv())
                    .await
                    .unwrap_or_else(|_| panic!("message {i} ({len} B) in pieces of {piece}"))
                    .unwrap();
                assert_eq!(msg.parts().len(), 1);
                assert!(
                    msg.parts()[0] == body(i, len),
                    "message {i} ({len} B) in pieces of {piece} arrived changed"
                );
            }
            let _pwr = writer.await.unwrap();
            assert!(!task.is_finished(), "the connection is still up");
            task.abort();
            drain.abort();
        }
    }
}
