//! The connected peers of one socket, and the round-robin and routing-id lookups over them.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use bytes::{BufMut, Bytes, BytesMut};
use tokio::sync::Notify;
use zmtp_core::pattern::{SubscriptionIndex, SubscriptionMode};
use zmtp_core::{Error, Limits, PeerInfo};

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

#[derive(Debug)]
pub(crate) struct PeerEntry {
    pub(crate) out: Arc<OutPipe>,
    pub(crate) subscription_changes: Arc<SubscriptionQueue>,
    pub(crate) routing_id: Bytes,
    #[allow(dead_code)]
    pub(crate) info: PeerInfo,
}

#[derive(Debug)]
pub(crate) struct Peers {
    next_id: PeerId,
    entries: PeerMap<PeerEntry>,
    order: Vec<PeerId>,
    rr: usize,
    by_routing_id: HashMap<Bytes, PeerId>,
    next_generated_id: u32,
    /// What the peers of a PUB/XPUB subscribed to (a set per peer, as libzmq keeps it), bounded
    /// per peer by `Limits::max_subscriptions` and `max_subscription_octets`.
    subscriptions: SubscriptionIndex<PeerId>,
    /// Scratch space for matching, reused so that publishing allocates nothing.
    matched: Vec<PeerId>,
}

impl Peers {
    pub(crate) fn new(limits: &Limits) -> Self {
        Peers {
            subscriptions: SubscriptionIndex::new(
                SubscriptionMode::Set,
                limits.max_subscriptions,
                limits.max_subscription_octets,
            ),
            matched: Vec::new(),
            next_id: 1,
            entries: PeerMap::default(),
            order: Vec::new(),
            rr: 0,
            by_routing_id: HashMap::new(),
            // libzmq starts its generated routing ids at a random value; any start works.
            next_generated_id: 0x5A5A_0000,
        }
    }
}

impl Peers {
    /// A peer subscribed (`Ok(true)` when the topic is new for it) or went over its limits.
    pub(crate) fn subscribe(&mut self, id: PeerId, topic: &[u8]) -> Result<bool, Error> {
        if !self.entries.contains_key(&id) {
            return Ok(false);
        }
        self.subscriptions.subscribe(id, topic)
    }

    /// A peer cancelled; true when it no longer subscribes to `topic`.
    pub(crate) fn cancel(&mut self, id: PeerId, topic: &[u8]) -> bool {
        self.subscriptions.cancel(id, topic)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Adds a peer. Its routing id is the one it announced when that is non-empty and unused,
    /// otherwise a generated 5-octet id (`0x00` + u32), as libzmq's ROUTER does.
    pub(crate) fn insert(
        &mut self,
        out: Arc<OutPipe>,
        subscription_changes: Arc<SubscriptionQueue>,
        info: PeerInfo,
    ) -> (PeerId, Bytes) {
        let id = self.next_id;
        self.next_id += 1;
        let routing_id =
            if !info.routing_id.is_empty() && !self.by_routing_id.contains_key(&info.routing_id) {
                info.routing_id.clone()
            } else {
                loop {
                    let mut b = BytesMut::with_capacity(5);
                    b.put_u8(0);
                    b.put_u32(self.next_generated_id);
                    self.next_generated_id = self.next_generated_id.wrapping_add(1);
                    let candidate = b.freeze();
                    if !self.by_routing_id.contains_key(&candidate) {
                        break candidate;
                    }
                }
            };
        self.by_routing_id.insert(routing_id.clone(), id);
        self.entries.insert(
            id,
            PeerEntry {
                out,
                subscription_changes,
                routing_id: routing_id.clone(),
                info,
            },
        );
        self.order.push(id);
        (id, routing_id)
    }

    pub(crate) fn remove(&mut self, id: PeerId) {
        if let Some(entry) = self.entries.remove(&id) {
            self.by_routing_id.remove(&entry.routing_id);
            self.order.retain(|&p| p != id);
            self.subscriptions.remove(id);
        }
    }

    /// Queues a message for the next peer in turn that has room (libzmq's load balancing:
    /// a full peer is skipped, not waited for). Gives the message back when none has room.
    pub(crate) fn push_round_robin(&mut self, mut parts: Parts) -> Result<PeerId, Parts> {
        let n = self.order.len();
        for i in 0..n {
            let at = (self.rr + i) % n;
            let id = self.order[at];
            let Some(entry) = self.entries.get(&id) else {
                continue;
            };
            match entry.out.try_push(parts) {
                Ok(()) => {
                    self.rr = (at + 1) % n;
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

    pub(crate) fn by_routing_id(&self, routing_id: &[u8]) -> Option<PeerId> {
        self.by_routing_id.get(routing_id).copied()
    }

    /// Queues a message for every peer with a subscription that prefixes `topic` (a lookup
    /// per distinct subscription length, never a scan of every subscription), dropping it for a
    /// peer at its high-water mark, as PUB does.
    pub(crate) fn publish(&mut self, parts: &Parts) {
        let mut matched = std::mem::take(&mut self.matched);
        matched.clear();
        self.subscriptions.matching(&parts[0], &mut matched);
        for id in &matched {
            if let Some(entry) = self.entries.get(id) {
                let _ = entry.out.try_push(parts.clone());
            }
        }
        self.matched = matched;
    }

    /// Queues a message for every peer, dropping it for a peer at its high-water mark.
    pub(crate) fn push_all(&self, parts: &Parts) {
        for id in &self.order {
            if let Some(entry) = self.entries.get(id) {
                let _ = entry.out.try_push(parts.clone());
            }
        }
    }

    /// How many peers hold a subscription that prefixes `topic`.
    pub(crate) fn subscribed_to(&mut self, topic: &[u8]) -> usize {
        let mut matched = std::mem::take(&mut self.matched);
        matched.clear();
        self.subscriptions.matching(topic, &mut matched);
        let n = matched.len();
        self.matched = matched;
        n
    }

    /// Every peer's queue of our subscription changes.
    pub(crate) fn subscription_queues(&self) -> Vec<Arc<SubscriptionQueue>> {
        self.entries
            .values()
            .map(|e| e.subscription_changes.clone())
            .collect()
    }
}
