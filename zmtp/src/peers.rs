//! The connected peers of one socket: their pipes, in round-robin order. Which peer a message
//! goes to is the pattern's business (`pattern.rs`); this only moves it there.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use zmtp_core::transmit::CHAIN_THRESHOLD;
use zmtp_core::wire::frame::{encode_message, encoded_len};

use crate::pipe::{OutPipe, Parts, PeerMap, PushError};

/// Our own subscription changes (SUB/XSUB) on their way to one peer. Apart from the message
/// queue, so that a peer at its high-water mark still hears every change: its length is bounded
/// by what the application itself subscribes and cancels, not by anything a peer sends.
#[derive(Debug, Default)]
pub(crate) struct SubscriptionQueue {
    pending: Mutex<VecDeque<(Bytes, bool)>>,
    pub(crate) ready: Notify,
}

impl SubscriptionQueue {
    pub(crate) fn push(&self, topic: Bytes, subscribe: bool) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back((topic, subscribe));
        self.ready.notify_one();
    }

    pub(crate) fn take(&self) -> VecDeque<(Bytes, bool)> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

pub(crate) type PeerId = u64;

/// Messages shorter than this on the wire are encoded once for all the peers of a fan-out
/// ([`Peers::push_each`]). Larger bodies are never copied on their way out (the session chains
/// them), so encoding those once would add a copy rather than save one.
const ENCODE_ONCE_BELOW: usize = CHAIN_THRESHOLD;

#[derive(Debug)]
pub(crate) struct PeerEntry {
    pub(crate) out: Arc<OutPipe>,
    pub(crate) subscription_changes: Arc<SubscriptionQueue>,
    /// Cancelled to close the peer's connection (a ROUTER_HANDOVER eviction).
    pub(crate) close: CancellationToken,
    /// The peer's session sends frames unchanged (NULL, PLAIN over a stream), so it can take a
    /// message encoded once for every such peer.
    pub(crate) frames_unchanged: bool,
}

#[derive(Debug)]
pub(crate) struct Peers {
    next_id: PeerId,
    entries: PeerMap<PeerEntry>,
    order: Vec<PeerId>,
    rr: usize,
}

impl Default for Peers {
    fn default() -> Self {
        Peers {
            next_id: 1,
            entries: PeerMap::default(),
            order: Vec::new(),
            rr: 0,
        }
    }
}

impl Peers {
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// A fresh id for a peer about to be inserted.
    pub(crate) fn next_id(&mut self) -> PeerId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub(crate) fn insert(&mut self, id: PeerId, entry: PeerEntry) {
        self.entries.insert(id, entry);
        self.order.push(id);
    }

    pub(crate) fn remove(&mut self, id: PeerId) -> Option<PeerEntry> {
        let entry = self.entries.remove(&id)?;
        self.order.retain(|&p| p != id);
        Some(entry)
    }

    /// Closes a peer's connection.
    pub(crate) fn close(&self, id: PeerId) {
        if let Some(entry) = self.entries.get(&id) {
            entry.close.cancel();
        }
    }

    /// Queues a message for the next peer in turn that has room (libzmq's load balancing:
    /// a full peer is skipped, not waited for). Gives the message back when none has room.
    pub(crate) fn push_round_robin(&mut self, mut parts: Parts) -> Result<PeerId, Parts> {
        let n = self.order.len();
        // `rr` may point past the end after a peer left.
        let mut at = if self.rr < n { self.rr } else { 0 };
        for _ in 0..n {
            let id = self.order[at];
            at = if at + 1 == n { 0 } else { at + 1 };
            let Some(entry) = self.entries.get(&id) else {
                continue;
            };
            match entry.out.try_push(parts) {
                Ok(()) => {
                    self.rr = at;
                    return Ok(id);
                }
                Err((_, back)) => parts = back,
            }
        }
        Err(parts)
    }

    /// Queues a message for one peer; `None` when it is gone.
    pub(crate) fn push_to(
        &self,
        id: PeerId,
        parts: Parts,
    ) -> Option<Result<(), (PushError, Parts)>> {
        Some(self.entries.get(&id)?.out.try_push(parts))
    }

    /// Whether some peer has room for a message.
    pub(crate) fn any_has_room(&self) -> bool {
        self.entries.values().any(|e| e.out.has_room())
    }

    /// Whether every one of these peers has room for a message.
    pub(crate) fn all_have_room(&self, ids: &[PeerId]) -> bool {
        ids.iter()
            .all(|id| self.entries.get(id).is_none_or(|e| e.out.has_room()))
    }

    /// Queues a message for each of these peers, dropping it for a peer at its high-water
    /// mark, as PUB does.
    ///
    /// A small message going to several peers whose frames go out unchanged is encoded here,
    /// once: each of them then queues one reference to the same bytes, and its connection
    /// copies them out as they are, instead of every connection framing the parts again.
    pub(crate) fn push_each(&self, ids: &[PeerId], parts: &Parts) {
        let mut encoded = None;
        let share = ids.len() >= 2 && encoded_len(parts) < ENCODE_ONCE_BELOW;
        for id in ids {
            if let Some(entry) = self.entries.get(id) {
                if share && entry.frames_unchanged {
                    let wire = encoded.get_or_insert_with(|| encode_message(parts));
                    let _ = entry.out.try_push_encoded(wire.clone());
                } else {
                    let _ = entry.out.try_push(parts.clone());
                }
            }
        }
    }

    /// Queues a message for every peer, dropping it for a peer at its high-water mark.
    pub(crate) fn push_all(&self, parts: &Parts) {
        for id in &self.order {
            if let Some(entry) = self.entries.get(id) {
                let _ = entry.out.try_push(parts.clone());
            }
        }
    }

    /// Every peer's queue of our subscription changes.
    pub(crate) fn subscription_queues(&self) -> impl Iterator<Item = &Arc<SubscriptionQueue>> {
        self.entries.values().map(|e| &e.subscription_changes)
    }
}
