//! The connected peers of one socket, and the round-robin and routing-id lookups over them.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use bytes::{BufMut, Bytes, BytesMut};
use tokio::sync::{mpsc, Notify};
use zmtp_core::pattern::{SubscriptionIndex, SubscriptionMode};
use zmtp_core::{Error, Limits, PeerInfo};

/// What a socket asks a connection task to send.
#[derive(Debug)]
pub(crate) enum Outgoing {
    Message(Vec<Bytes>),
}

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
    pub(crate) tx: mpsc::Sender<Outgoing>,
    pub(crate) subscription_changes: Arc<SubscriptionQueue>,
    pub(crate) routing_id: Bytes,
    #[allow(dead_code)]
    pub(crate) info: PeerInfo,
}

#[derive(Debug)]
pub(crate) struct Peers {
    next_id: PeerId,
    entries: HashMap<PeerId, PeerEntry>,
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
            entries: HashMap::new(),
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
        tx: mpsc::Sender<Outgoing>,
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
                tx,
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

    /// Senders in round-robin order, starting with the next peer due.
    pub(crate) fn round_robin(&self) -> Vec<(PeerId, mpsc::Sender<Outgoing>)> {
        let n = self.order.len();
        (0..n)
            .map(|i| self.order[(self.rr + i) % n])
            .filter_map(|id| self.entries.get(&id).map(|e| (id, e.tx.clone())))
            .collect()
    }

    /// Moves the round-robin cursor past `id`.
    pub(crate) fn advance_past(&mut self, id: PeerId) {
        if let Some(pos) = self.order.iter().position(|&p| p == id) {
            self.rr = (pos + 1) % self.order.len().max(1);
        }
    }

    pub(crate) fn by_routing_id(&self, routing_id: &[u8]) -> Option<mpsc::Sender<Outgoing>> {
        let id = self.by_routing_id.get(routing_id)?;
        self.entries.get(id).map(|e| e.tx.clone())
    }

    pub(crate) fn sender(&self, id: PeerId) -> Option<mpsc::Sender<Outgoing>> {
        self.entries.get(&id).map(|e| e.tx.clone())
    }

    /// Senders of the peers with a subscription that prefixes `topic`: a lookup per distinct
    /// subscription length, never a scan of every subscription.
    pub(crate) fn subscribers(&mut self, topic: &[u8]) -> Vec<mpsc::Sender<Outgoing>> {
        let mut matched = std::mem::take(&mut self.matched);
        matched.clear();
        self.subscriptions.matching(topic, &mut matched);
        let senders = matched
            .iter()
            .filter_map(|id| self.entries.get(id).map(|e| e.tx.clone()))
            .collect();
        self.matched = matched;
        senders
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

    pub(crate) fn all(&self) -> Vec<mpsc::Sender<Outgoing>> {
        self.order
            .iter()
            .filter_map(|id| self.entries.get(id).map(|e| e.tx.clone()))
            .collect()
    }
}
