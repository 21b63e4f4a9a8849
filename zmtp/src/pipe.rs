//! The queues between a socket and its connections, built for batches.
//!
//! ```text
//!  Socket::send ──► OutPipe (one per peer, bound = SNDHWM) ──► connection task
//!  Socket::recv ◄── Inbox: one queue per peer (bound = RCVHWM), fair-queued ◄── connection tasks
//! ```
//!
//! Both sides move whole batches under one lock and wake the other side only when it is
//! waiting: a connection drains everything its socket queued in one go, and hands up every
//! message one read decoded in one go. The application pays a lock per message, never a
//! wake-up. Each queue holds at most its high-water mark in messages (0 means no limit, as in
//! libzmq, and is the application's choice, never a default).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::Notify;
use zmtp_core::Metadata;

use crate::peers::PeerId;

/// A multipart message on its way through a pipe (one or two frames need no allocation).
pub(crate) use zmtp_core::Parts;

/// Hashes peer ids: the socket's own counter, never a value a peer chooses, so a multiply
/// spreads them well enough and costs a fraction of SipHash (one lookup per message).
#[derive(Debug, Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A map keyed by peer id.
pub(crate) type PeerMap<V> = HashMap<PeerId, V, BuildHasherDefault<IdHasher>>;

fn bound(hwm: usize) -> usize {
    if hwm == 0 {
        usize::MAX
    } else {
        hwm
    }
}

/// A message on its way to one connection.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outgoing {
    /// Its frames, for the connection's session to frame (and, with CURVE, box).
    Parts(Parts),
    /// The message already framed for the wire (`zmtp_core::wire::frame::encode_message`):
    /// a PUB encodes a small message once for all its peers whose frames go out unchanged
    /// (NULL, PLAIN), and each of them takes one reference to the same bytes.
    Encoded(Bytes),
}

impl Outgoing {
    /// The message's parts, whichever form it travels in. `None` only for encoded bytes that
    /// are not whole data frames, which this crate never makes (`encode_message` only).
    pub(crate) fn into_parts(self) -> Option<Parts> {
        match self {
            Outgoing::Parts(parts) => Some(parts),
            Outgoing::Encoded(wire) => zmtp_core::wire::frame::split_message(&wire),
        }
    }
}

/// How a queued frame stands in its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    /// More frames of its message follow.
    More,
    /// The last (or only) frame of its message.
    Last,
    /// A whole message framed for the wire ([`Outgoing::Encoded`]).
    Encoded,
}

/// Messages kept as a run of frames rather than one `Vec` each: a message's vector is freed by
/// the thread that pushed it and the one popped is made by the thread that pops it, so the
/// allocator never hands memory across threads (which, with glibc, costs more than all the
/// rest of a small message's journey).
#[derive(Debug, Default)]
struct FrameQueue {
    /// Each frame, and how it stands in its message.
    frames: VecDeque<(Bytes, Tag)>,
    messages: usize,
    /// Octets of the frames queued (their bodies, as the application sees them).
    octets: usize,
    /// Keep only the newest message.
    conflate: bool,
}

impl FrameQueue {
    fn push(&mut self, mut parts: Parts) {
        if parts.is_empty() {
            return;
        }
        if self.conflate {
            self.clear();
        }
        // Plain pushes: `extend` over a mapped iterator costs several times as much per frame.
        if parts.len() == 1 {
            if let Some(only) = parts.pop() {
                self.octets += only.len();
                self.frames.push_back((only, Tag::Last));
            }
            if !parts.spilled() {
                // Empty and inline: nothing to free, and the call to its drop (not inlined
                // here) is a measurable part of a small message's cost.
                std::mem::forget(parts);
            }
        } else {
            self.frames.reserve(parts.len());
            let mut left = parts.len();
            for part in parts {
                left -= 1;
                let tag = if left > 0 { Tag::More } else { Tag::Last };
                self.octets += part.len();
                self.frames.push_back((part, tag));
            }
        }
        self.messages += 1;
    }

    fn push_encoded(&mut self, wire: Bytes) {
        if self.conflate {
            self.clear();
        }
        self.octets += wire.len();
        self.frames.push_back((wire, Tag::Encoded));
        self.messages += 1;
    }

    /// The next message as parts (an inbox never holds encoded ones).
    fn pop(&mut self) -> Option<Parts> {
        if self.messages == 0 {
            return None;
        }
        self.messages -= 1;
        let mut parts = Parts::new();
        while let Some((part, tag)) = self.frames.pop_front() {
            self.octets -= part.len();
            parts.push(part);
            if tag != Tag::More {
                break;
            }
        }
        Some(parts)
    }

    fn pop_outgoing(&mut self) -> Option<Outgoing> {
        if let Some((_, Tag::Encoded)) = self.frames.front() {
            // Pushed whole and on its own, never in the middle of a message.
            self.messages -= 1;
            return self.frames.pop_front().map(|(wire, _)| {
                self.octets -= wire.len();
                Outgoing::Encoded(wire)
            });
        }
        self.pop().map(Outgoing::Parts)
    }

    fn len(&self) -> usize {
        self.messages
    }

    fn is_empty(&self) -> bool {
        self.messages == 0
    }

    fn clear(&mut self) {
        self.frames.clear();
        self.messages = 0;
        self.octets = 0;
    }
}

/// [`OutPipe::queued`] once the pipe is closed.
const CLOSED: usize = usize::MAX;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Messages from a socket to one connection.
#[derive(Debug)]
pub(crate) struct OutPipe {
    state: Mutex<OutState>,
    bound: usize,
    /// How many messages are queued, written under `state`'s lock, or `CLOSED`: lets
    /// [`OutPipe::has_room`] answer without the lock (a PUB with `XPUB_NODROP` asks every
    /// subscriber's pipe before each message).
    queued: AtomicUsize,
    /// Wakes the connection task, when it waits, as messages arrive.
    readable: Notify,
}

#[derive(Debug, Default)]
struct OutState {
    queue: FrameQueue,
    reader_waiting: bool,
    /// The connection ended: nothing more is taken.
    closed: bool,
}

/// Why a message was not queued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PushError {
    /// The queue is at its high-water mark.
    Full,
    /// The connection ended.
    Closed,
}

impl OutPipe {
    /// A pipe holding at most `hwm` messages (0: no limit).
    /// With `conflate` (ZMQ_CONFLATE), a new message replaces the one queued.
    pub(crate) fn new(hwm: usize, conflate: bool) -> Arc<OutPipe> {
        let mut state = OutState::default();
        state.queue.conflate = conflate;
        Arc::new(OutPipe {
            state: Mutex::new(state),
            bound: if conflate { usize::MAX } else { bound(hwm) },
            queued: AtomicUsize::new(0),
            readable: Notify::new(),
        })
    }

    /// Queues a message, or gives it back when the pipe is full or closed.
    pub(crate) fn try_push(&self, parts: Parts) -> Result<(), (PushError, Parts)> {
        match self.admit() {
            Ok(mut state) => {
                state.queue.push(parts);
                self.pushed(state);
                Ok(())
            }
            Err(e) => Err((e, parts)),
        }
    }

    /// Queues a message encoded in advance (see [`Outgoing::Encoded`]), or says why not.
    pub(crate) fn try_push_encoded(&self, wire: Bytes) -> Result<(), PushError> {
        let mut state = self.admit()?;
        state.queue.push_encoded(wire);
        self.pushed(state);
        Ok(())
    }

    /// The locked state when one more message may be queued.
    fn admit(&self) -> Result<MutexGuard<'_, OutState>, PushError> {
        let state = lock(&self.state);
        if state.closed {
            Err(PushError::Closed)
        } else if state.queue.len() >= self.bound {
            Err(PushError::Full)
        } else {
            Ok(state)
        }
    }

    /// After a push: publishes the count, lets go of the lock, and wakes the connection if it
    /// waits.
    fn pushed(&self, mut state: MutexGuard<'_, OutState>) {
        self.queued.store(state.queue.len(), Ordering::Release);
        let wake = std::mem::take(&mut state.reader_waiting);
        drop(state);
        if wake {
            self.readable.notify_one();
        }
    }

    /// Whether one more message would fit. Without the lock: the count read may be a moment
    /// old, which errs only towards "full" for the one pushing (only pushes raise it), and a
    /// take that frees room stores the count before its caller announces the room.
    pub(crate) fn has_room(&self) -> bool {
        let queued = self.queued.load(Ordering::Acquire);
        queued != CLOSED && queued < self.bound
    }

    /// Moves up to `max` messages into `out`. Returns whether the pipe was full before, so that
    /// the caller can tell senders waiting for room.
    pub(crate) fn take(&self, max: usize, out: &mut VecDeque<Outgoing>) -> bool {
        let mut state = lock(&self.state);
        let was_full = state.queue.len() >= self.bound;
        for _ in 0..max {
            let Some(parts) = state.queue.pop_outgoing() else {
                break;
            };
            out.push_back(parts);
        }
        if !state.closed {
            self.queued.store(state.queue.len(), Ordering::Release);
        }
        was_full
    }

    /// Resolves once a message is queued (or at once if one is).
    pub(crate) async fn readable(&self) {
        loop {
            {
                let mut state = lock(&self.state);
                if !state.queue.is_empty() {
                    return;
                }
                state.reader_waiting = true;
            }
            // A notification sent between the check and this await is kept as a permit.
            self.readable.notified().await;
        }
    }

    /// The connection ended: later pushes fail, and what was queued is dropped.
    pub(crate) fn close(&self) {
        let mut state = lock(&self.state);
        state.closed = true;
        state.queue.clear();
        self.queued.store(CLOSED, Ordering::Release);
    }
}

/// Messages from every connection of a socket, one queue per peer, read in turn (fair
/// queueing, as libzmq's `fq`: a peer that sends a lot cannot starve the others).
#[derive(Debug)]
pub(crate) struct Inbox {
    state: Mutex<InboxState>,
    conflate: bool,
    bound: usize,
    /// Octets one peer's queue may hold before its connection stops delivering (see
    /// [`Inbox::new`]).
    octet_bound: usize,
    /// Wakes a waiting receiver.
    readable: Notify,
}

#[derive(Debug, Default)]
struct InboxState {
    peers: PeerMap<PeerQueue>,
    /// Peers with messages queued, in the order they are read.
    active: VecDeque<PeerId>,
    /// Receivers waiting in [`Inbox::recv`].
    waiters: usize,
}

#[derive(Debug)]
struct PeerQueue {
    queue: FrameQueue,
    /// The routing id the peer had (ROUTER frames its messages with it, also once it left).
    routing_id: Bytes,
    properties: Arc<Metadata>,
    /// Tells the connection that it may deliver again.
    room: Arc<Notify>,
    writer_waiting: bool,
    /// The connection ended; the queue goes once it is read empty.
    detached: bool,
}

/// A message taken from the inbox, with where it came from.
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) peer: PeerId,
    pub(crate) routing_id: Bytes,
    pub(crate) parts: Parts,
    pub(crate) properties: Arc<Metadata>,
}

/// What became of a batch handed to the inbox.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// All of it was queued.
    Done,
    /// The peer's queue is full: what is left stays with the caller, who waits for its room
    /// notification.
    Full,
}

impl Inbox {
    /// An inbox holding at most `hwm` messages per peer (0: no limit), and taking no more
    /// from a peer whose queue holds `octets` octets or more (0: no limit): one message is
    /// always taken while the queue is below that, so the bound is on the octets waiting
    /// before a message, never on the size of one. With `conflate` (ZMQ_CONFLATE), each peer's
    /// queue keeps only its newest message.
    pub(crate) fn new(hwm: usize, octets: usize, conflate: bool) -> Inbox {
        Inbox {
            state: Mutex::new(InboxState::default()),
            conflate,
            bound: if conflate { usize::MAX } else { bound(hwm) },
            octet_bound: if conflate { usize::MAX } else { bound(octets) },
            readable: Notify::new(),
        }
    }

    /// Opens a queue for a peer; returns the notification its connection waits on when full.
    pub(crate) fn attach(
        &self,
        peer: PeerId,
        routing_id: Bytes,
        properties: Arc<Metadata>,
    ) -> Arc<Notify> {
        let mut state = lock(&self.state);
        // The same peer on a new connection (a connect keeps its peer's id across reconnects):
        // what the last connection delivered and was not read yet stays, in order.
        if let Some(q) = state.peers.get_mut(&peer) {
            q.detached = false;
            q.routing_id = routing_id;
            q.properties = properties;
            return q.room.clone();
        }
        let room = Arc::new(Notify::new());
        state.peers.insert(
            peer,
            PeerQueue {
                queue: FrameQueue {
                    conflate: self.conflate,
                    ..FrameQueue::default()
                },
                routing_id,
                properties,
                room: room.clone(),
                writer_waiting: false,
                detached: false,
            },
        );
        room
    }

    /// The peer's connection ended: what it delivered is still read, then its queue goes.
    pub(crate) fn detach(&self, peer: PeerId) {
        let mut state = lock(&self.state);
        if let Some(q) = state.peers.get_mut(&peer) {
            if q.queue.is_empty() {
                state.peers.remove(&peer);
            } else {
                q.detached = true;
            }
        }
    }

    /// Moves as much of `batch` into the peer's queue as fits.
    pub(crate) fn deliver(&self, peer: PeerId, batch: &mut VecDeque<Parts>) -> Delivery {
        self.deliver_within(peer, batch, self.bound, self.octet_bound)
    }

    /// Queues all of `batch`, past the high-water mark if need be: for what the socket itself
    /// tells the application about a peer (XPUB's cancellations when it leaves), which is
    /// bounded by the peer's subscription limits and must not be lost to a full queue.
    pub(crate) fn deliver_all(&self, peer: PeerId, batch: &mut VecDeque<Parts>) {
        self.deliver_within(peer, batch, usize::MAX, usize::MAX);
    }

    fn deliver_within(
        &self,
        peer: PeerId,
        batch: &mut VecDeque<Parts>,
        bound: usize,
        octet_bound: usize,
    ) -> Delivery {
        let mut state = lock(&self.state);
        let Some(q) = state.peers.get_mut(&peer) else {
            // Not attached (the socket is closing): nothing will read it.
            batch.clear();
            return Delivery::Done;
        };
        let was_empty = q.queue.is_empty();
        let room = bound.saturating_sub(q.queue.len());
        let mut n = 0;
        while n < room && q.queue.octets < octet_bound {
            let Some(parts) = batch.pop_front() else {
                break;
            };
            q.queue.push(parts);
            n += 1;
        }
        let full = !batch.is_empty();
        q.writer_waiting |= full;
        if was_empty && n > 0 {
            state.active.push_back(peer);
        }
        let wake = n > 0 && state.waiters > 0;
        drop(state);
        if wake {
            self.readable.notify_one();
        }
        if full {
            Delivery::Full
        } else {
            Delivery::Done
        }
    }

    /// Takes the next message, from the next peer in turn.
    pub(crate) fn try_recv(&self) -> Option<Received> {
        self.pop(&mut lock(&self.state))
    }

    fn pop(&self, state: &mut InboxState) -> Option<Received> {
        while let Some(peer) = state.active.pop_front() {
            let Some(q) = state.peers.get_mut(&peer) else {
                continue;
            };
            let Some(parts) = q.queue.pop() else {
                continue;
            };
            let received = Received {
                peer,
                routing_id: q.routing_id.clone(),
                parts,
                properties: q.properties.clone(),
            };
            // Wake a stalled connection once half its queue is free (in messages and in
            // octets), not per message.
            if q.writer_waiting
                && q.queue.len() <= self.bound / 2
                && q.queue.octets <= self.octet_bound / 2
            {
                q.writer_waiting = false;
                q.room.notify_one();
            }
            if !q.queue.is_empty() {
                state.active.push_back(peer);
            } else if q.detached {
                state.peers.remove(&peer);
            }
            if state.waiters > 0 && !state.active.is_empty() {
                // Another receiver waits too: pass the turn on.
                self.readable.notify_one();
            }
            return Some(received);
        }
        None
    }

    /// Takes the next message, waiting for one. Cancel-safe: a message is only taken by a
    /// call that returns it.
    pub(crate) async fn recv(&self) -> Received {
        loop {
            // Made before the check: a wake sent after it is kept as a permit.
            let notified = self.readable.notified();
            {
                let mut state = lock(&self.state);
                if let Some(r) = self.pop(&mut state) {
                    return r;
                }
                state.waiters += 1;
            }
            let _waiting = Waiting(self);
            notified.await;
        }
    }

    /// Resolves once a message is queued (at once if one is), without taking it: for pollers.
    pub(crate) async fn readable(&self) {
        loop {
            let notified = self.readable.notified();
            {
                let mut state = lock(&self.state);
                if !state.active.is_empty() {
                    return;
                }
                state.waiters += 1;
            }
            let _waiting = Waiting(self);
            notified.await;
            // Woken without taking anything: a receiver waiting too gets its turn.
            let state = lock(&self.state);
            if state.waiters > 1 && !state.active.is_empty() {
                self.readable.notify_one();
            }
        }
    }

    /// Whether a message is queued.
    pub(crate) fn has_message(&self) -> bool {
        !lock(&self.state).active.is_empty()
    }

    /// Drops every message queued, from every peer (a REQ starting a new request: replies to
    /// earlier ones are stale, as libzmq discards them).
    pub(crate) fn discard_all(&self) {
        let mut state = lock(&self.state);
        let state = &mut *state;
        for q in state.peers.values_mut() {
            q.queue.clear();
            if q.writer_waiting {
                q.writer_waiting = false;
                q.room.notify_one();
            }
        }
        state.active.clear();
        state.peers.retain(|_, q| !q.detached);
    }

    /// Messages queued across peers (for tests: it walks every queue).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        lock(&self.state)
            .peers
            .values()
            .map(|q| q.queue.len())
            .sum()
    }
}

/// Counts a receiver as waiting until it stops (woken or cancelled).
struct Waiting<'a>(&'a Inbox);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        lock(&self.0.state).waiters -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(b: u8) -> Parts {
        smallvec::smallvec![Bytes::from(vec![b])]
    }

    #[test]
    fn one_and_two_part_messages_cross_a_queue_without_an_allocation_of_their_own() {
        let mut q = FrameQueue::default();
        q.push(smallvec::smallvec![Bytes::from_static(b"a")]);
        q.push(smallvec::smallvec![Bytes::new(), Bytes::from_static(b"b")]);
        q.push((0..3u8).map(|i| Bytes::from(vec![i])).collect());
        let one = q.pop().unwrap();
        assert_eq!(&one[..], [Bytes::from_static(b"a")]);
        assert!(!one.spilled());
        let two = q.pop().unwrap();
        assert_eq!(&two[..], [Bytes::new(), Bytes::from_static(b"b")]);
        assert!(!two.spilled());
        let three = q.pop().unwrap();
        assert_eq!(three.len(), 3);
        assert_eq!(three[2], Bytes::from_static(&[2]));
        assert!(q.pop().is_none());
        assert!(q.frames.is_empty());
    }

    #[test]
    fn an_out_pipe_refuses_past_its_mark_and_says_when_it_was_full() {
        let pipe = OutPipe::new(2, false);
        pipe.try_push(msg(1)).unwrap();
        pipe.try_push(msg(2)).unwrap();
        assert_eq!(pipe.try_push(msg(3)).unwrap_err().0, PushError::Full);
        let mut out = VecDeque::new();
        assert!(pipe.take(1, &mut out), "it was full");
        assert_eq!(out.len(), 1);
        assert!(!pipe.take(10, &mut out));
        assert_eq!(out, [Outgoing::Parts(msg(1)), Outgoing::Parts(msg(2))]);
        pipe.close();
        assert_eq!(pipe.try_push(msg(4)).unwrap_err().0, PushError::Closed);
    }

    #[test]
    fn multipart_messages_come_out_whole_and_count_once() {
        let pipe = OutPipe::new(2, false);
        let three: Parts = smallvec::smallvec![
            Bytes::from_static(b"a"),
            Bytes::from_static(b"b"),
            Bytes::from_static(b"c"),
        ];
        pipe.try_push(three.clone()).unwrap();
        pipe.try_push(msg(1)).unwrap();
        assert_eq!(pipe.try_push(msg(2)).unwrap_err().0, PushError::Full);
        let mut out = VecDeque::new();
        pipe.take(10, &mut out);
        assert_eq!(
            out,
            [Outgoing::Parts(three.clone()), Outgoing::Parts(msg(1))]
        );
        let inbox = Inbox::new(10, 0, false);
        inbox.attach(1, Bytes::new(), Arc::default());
        let mut batch: VecDeque<Parts> = [three.clone(), msg(4), three.clone()].into();
        inbox.deliver(1, &mut batch);
        assert_eq!(inbox.len(), 3);
        let got: Vec<Parts> = std::iter::from_fn(|| inbox.try_recv())
            .map(|r| r.parts)
            .collect();
        assert_eq!(got, [three.clone(), msg(4), three]);
    }

    #[test]
    fn encoded_messages_keep_their_place_count_once_and_split_back() {
        let pipe = OutPipe::new(3, false);
        let two: Parts = smallvec::smallvec![Bytes::from_static(b"t"), Bytes::from_static(b"v")];
        let wire = zmtp_core::wire::frame::encode_message(&two);
        pipe.try_push(msg(1)).unwrap();
        pipe.try_push_encoded(wire.clone()).unwrap();
        pipe.try_push(two.clone()).unwrap();
        assert_eq!(pipe.try_push_encoded(wire.clone()), Err(PushError::Full));
        let mut out = VecDeque::new();
        assert!(pipe.take(10, &mut out), "it was full");
        assert_eq!(
            out,
            [
                Outgoing::Parts(msg(1)),
                Outgoing::Encoded(wire.clone()),
                Outgoing::Parts(two.clone()),
            ]
        );
        // A connection that cannot send it as it is gets the parts back, sharing the buffer.
        let back = out.remove(1).unwrap().into_parts().unwrap();
        assert_eq!(back, two);
        assert!(wire.as_ptr_range().contains(&back[1].as_ptr()));
        // Conflate keeps the newest, whichever form either is in.
        let conflated = OutPipe::new(1, true);
        conflated.try_push(msg(1)).unwrap();
        conflated.try_push_encoded(wire.clone()).unwrap();
        conflated.take(10, &mut out);
        assert_eq!(out.pop_back(), Some(Outgoing::Encoded(wire.clone())));
        pipe.close();
        assert_eq!(pipe.try_push_encoded(wire), Err(PushError::Closed));
    }

    #[test]
    fn conflate_keeps_only_the_newest_message_each_way() {
        let pipe = OutPipe::new(1, true);
        for i in 0..5 {
            pipe.try_push(msg(i)).unwrap();
        }
        let mut out = VecDeque::new();
        pipe.take(10, &mut out);
        assert_eq!(out, [Outgoing::Parts(msg(4))]);
        let inbox = Inbox::new(1, 0, true);
        inbox.attach(1, Bytes::new(), Arc::default());
        let mut batch: VecDeque<Parts> = (0..5).map(msg).collect();
        assert_eq!(inbox.deliver(1, &mut batch), Delivery::Done, "never full");
        let mut more: VecDeque<Parts> = [msg(9)].into();
        inbox.deliver(1, &mut more);
        assert_eq!(inbox.len(), 1);
        assert_eq!(inbox.try_recv().unwrap().parts, msg(9));
        assert!(inbox.try_recv().is_none());
    }

    #[test]
    fn discard_all_empties_every_queue_and_frees_a_stalled_writer() {
        let inbox = Inbox::new(2, 0, false);
        let room = inbox.attach(1, Bytes::new(), Arc::default());
        inbox.attach(2, Bytes::new(), Arc::default());
        let mut full: VecDeque<Parts> = (0..3).map(msg).collect();
        assert_eq!(inbox.deliver(1, &mut full), Delivery::Full);
        let mut other: VecDeque<Parts> = [msg(9)].into();
        inbox.deliver(2, &mut other);
        inbox.discard_all();
        assert_eq!(inbox.len(), 0);
        assert!(inbox.try_recv().is_none());
        let n = room.notified();
        tokio::pin!(n);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(
            n.as_mut().poll(&mut cx).is_ready(),
            "the stalled connection may deliver"
        );
        assert_eq!(inbox.deliver(1, &mut full), Delivery::Done);
        assert_eq!(inbox.try_recv().unwrap().parts, msg(2));
    }

    #[test]
    fn a_peer_queue_stops_at_its_octet_bound_yet_always_takes_one_message() {
        let big = |i: u8, n: usize| -> Parts { smallvec::smallvec![Bytes::from(vec![i; n])] };
        let inbox = Inbox::new(1000, 100, false);
        let room = inbox.attach(1, Bytes::new(), Arc::default());
        // 40 + 40 + 40: the third is taken (80 < 100 before it), the fourth is not.
        let mut batch: VecDeque<Parts> = (0..5).map(|i| big(i, 40)).collect();
        assert_eq!(inbox.deliver(1, &mut batch), Delivery::Full);
        assert_eq!((inbox.len(), batch.len()), (3, 2));
        // One message larger than the whole bound still arrives into an empty queue.
        let other = Inbox::new(1000, 100, false);
        other.attach(7, Bytes::new(), Arc::default());
        let mut huge: VecDeque<Parts> = [big(9, 1000), big(10, 1)].into();
        assert_eq!(other.deliver(7, &mut huge), Delivery::Full);
        assert_eq!(other.try_recv().unwrap().parts, big(9, 1000));
        assert_eq!(other.deliver(7, &mut huge), Delivery::Done);
        // Multipart messages count every part.
        let inbox2 = Inbox::new(1000, 100, false);
        inbox2.attach(3, Bytes::new(), Arc::default());
        let two: Parts = smallvec::smallvec![Bytes::from(vec![1; 60]), Bytes::from(vec![2; 60])];
        let mut pair: VecDeque<Parts> = [two.clone(), two.clone()].into();
        assert_eq!(inbox2.deliver(3, &mut pair), Delivery::Full);
        assert_eq!(inbox2.len(), 1);
        // The stalled connection hears of room once the queue is half empty in octets (at most
        // 50 left), not at the first message read.
        let n = room.notified();
        tokio::pin!(n);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert_eq!(inbox.try_recv().unwrap().parts, big(0, 40));
        assert!(
            n.as_mut().poll(&mut cx).is_pending(),
            "80 octets still queued"
        );
        assert_eq!(inbox.try_recv().unwrap().parts, big(1, 40));
        assert!(n.as_mut().poll(&mut cx).is_ready(), "40 octets left");
        assert_eq!(inbox.deliver(1, &mut batch), Delivery::Done);
        let order: Vec<Parts> = std::iter::from_fn(|| inbox.try_recv().map(|r| r.parts)).collect();
        assert_eq!(order, [big(2, 40), big(3, 40), big(4, 40)]);
    }

    #[test]
    fn xpub_notices_are_queued_past_the_mark() {
        let inbox = Inbox::new(1, 0, false);
        inbox.attach(1, Bytes::new(), Arc::default());
        let mut batch: VecDeque<Parts> = (0..5).map(msg).collect();
        inbox.deliver_all(1, &mut batch);
        assert!(batch.is_empty());
        assert_eq!(inbox.len(), 5);
    }

    #[test]
    fn zero_means_no_limit() {
        let pipe = OutPipe::new(0, false);
        for i in 0..5000u32 {
            pipe.try_push(smallvec::smallvec![Bytes::from(i.to_be_bytes().to_vec())])
                .unwrap();
        }
        let inbox = Inbox::new(0, 0, false);
        inbox.attach(1, Bytes::new(), Arc::default());
        let mut batch: VecDeque<Parts> = (0..5000).map(|_| msg(0)).collect();
        assert_eq!(inbox.deliver(1, &mut batch), Delivery::Done);
        assert_eq!(inbox.len(), 5000);
    }

    #[test]
    fn the_inbox_reads_peers_in_turn() {
        let inbox = Inbox::new(100, 0, false);
        inbox.attach(1, Bytes::new(), Arc::default());
        inbox.attach(2, Bytes::new(), Arc::default());
        let mut one: VecDeque<Parts> = [msg(1), msg(1), msg(1)].into();
        let mut two: VecDeque<Parts> = [msg(2), msg(2)].into();
        inbox.deliver(1, &mut one);
        inbox.deliver(2, &mut two);
        let order: Vec<u8> = std::iter::from_fn(|| inbox.try_recv())
            .map(|r| r.parts[0][0])
            .collect();
        assert_eq!(order, [1, 2, 1, 2, 1]);
    }

    #[test]
    fn a_full_peer_queue_keeps_the_rest_and_wakes_its_connection_at_half() {
        let inbox = Inbox::new(4, 0, false);
        let room = inbox.attach(1, Bytes::new(), Arc::default());
        let mut batch: VecDeque<Parts> = (0..6).map(msg).collect();
        assert_eq!(inbox.deliver(1, &mut batch), Delivery::Full);
        assert_eq!(batch, [msg(4), msg(5)]);
        let woken = || {
            let n = room.notified();
            tokio::pin!(n);
            // A stored permit makes the future ready at its first poll.
            let waker = futures_noop_waker();
            let mut cx = std::task::Context::from_waker(&waker);
            n.as_mut().poll(&mut cx).is_ready()
        };
        inbox.try_recv().unwrap();
        assert!(!woken(), "three left: not yet");
        inbox.try_recv().unwrap();
        assert!(
            woken(),
            "two left of four: the connection may deliver again"
        );
        assert_eq!(inbox.deliver(1, &mut batch), Delivery::Done);
        let rest: Vec<u8> = std::iter::from_fn(|| inbox.try_recv())
            .map(|r| r.parts[0][0])
            .collect();
        assert_eq!(rest, [2, 3, 4, 5], "nothing lost, nothing reordered");
    }

    #[test]
    fn a_detached_peer_is_read_to_the_end() {
        let inbox = Inbox::new(10, 0, false);
        inbox.attach(7, Bytes::new(), Arc::default());
        let mut batch: VecDeque<Parts> = [msg(1), msg(2)].into();
        inbox.deliver(7, &mut batch);
        inbox.detach(7);
        let r = inbox.try_recv().unwrap();
        assert_eq!(r.peer, 7);
        assert!(inbox.try_recv().is_some());
        assert!(inbox.try_recv().is_none());
        let mut late: VecDeque<Parts> = [msg(3)].into();
        inbox.deliver(7, &mut late);
        assert!(inbox.try_recv().is_none(), "gone once read empty");
    }

    #[tokio::test]
    async fn a_waiting_receiver_is_woken_by_a_delivery() {
        let inbox = Arc::new(Inbox::new(10, 0, false));
        inbox.attach(1, Bytes::new(), Arc::default());
        let reader = {
            let inbox = inbox.clone();
            tokio::spawn(async move { inbox.recv().await.parts })
        };
        tokio::task::yield_now().await;
        let mut batch: VecDeque<Parts> = [msg(9)].into();
        inbox.deliver(1, &mut batch);
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), reader)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, msg(9));
    }

    #[tokio::test]
    async fn two_waiting_receivers_both_get_a_message() {
        let inbox = Arc::new(Inbox::new(10, 0, false));
        inbox.attach(1, Bytes::new(), Arc::default());
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let inbox = inbox.clone();
                tokio::spawn(async move { inbox.recv().await.parts })
            })
            .collect();
        tokio::task::yield_now().await;
        let mut batch: VecDeque<Parts> = [msg(1), msg(2)].into();
        inbox.deliver(1, &mut batch);
        for r in readers {
            tokio::time::timeout(std::time::Duration::from_secs(5), r)
                .await
                .expect("the turn is passed on")
                .unwrap();
        }
    }

    fn futures_noop_waker() -> std::task::Waker {
        std::task::Waker::noop().clone()
    }

    use std::future::Future;
}
