//! PUB and XPUB (RFC 29): peers' subscriptions, what XPUB tells its application about them,
//! and whom a message goes to.

use std::collections::BTreeSet;
use std::hash::Hash;

use bytes::Bytes;

use crate::Parts;

use super::{
    notification_frame, require_parts, Operation, PatternError, Route, SubscriptionIndex,
    SubscriptionMode,
};
use crate::{Error, SocketType};

mod options;
#[cfg(test)]
mod tests;

pub use options::{PublisherOptions, XpubVerbosity};

/// The PUB/XPUB policy.
///
/// Call order: [`join`](Self::join) when a peer is ready (send it the welcome message, if
/// any), [`handle_subscribe`](Self::handle_subscribe) / [`handle_cancel`](Self::handle_cancel)
/// as its SUBSCRIBE/CANCEL arrive (the session already turned ZMTP 3.0 `\x01`/`\x00` messages
/// into those), [`leave`](Self::leave) when it goes. To publish, [`send`](Self::send), then for
/// [`Route::Subscribers`] resolve the peers with [`subscribers`](Self::subscribers).
///
/// XPUB's notifications (`Some(frame)` from the handlers, the frames from `leave`) are
/// one-frame messages for the application: queue them with that peer's other messages, and
/// pass everything the application takes through [`recv`](Self::recv) (manual mode learns the
/// "last peer" there, as libzmq sets it when the application reads the notification).
#[derive(Debug)]
pub struct Publisher<K> {
    socket_type: SocketType,
    options: PublisherOptions,
    /// What each peer receives: its own subscriptions, or in manual mode what the application
    /// applied for it.
    subscriptions: SubscriptionIndex<K>,
    /// Manual mode: what each peer asked for, to cancel on its behalf when it leaves.
    requested: SubscriptionIndex<K>,
    peers: BTreeSet<K>,
    last_peer: Option<K>,
}

impl<K: Copy + Eq + Hash + Ord + std::fmt::Debug> Publisher<K> {
    /// A PUB: subscriptions are applied, never passed up; it receives nothing.
    pub fn new_pub(options: PublisherOptions) -> Self {
        Self::new(SocketType::Pub, options)
    }

    /// An XPUB: subscriptions are passed up as the options say; peers' other messages too.
    pub fn new_xpub(options: PublisherOptions) -> Self {
        Self::new(SocketType::Xpub, options)
    }

    fn new(socket_type: SocketType, options: PublisherOptions) -> Self {
        let index = || {
            SubscriptionIndex::new(
                SubscriptionMode::Set,
                options.max_subscriptions,
                options.max_subscription_octets,
            )
        };
        Publisher {
            socket_type,
            subscriptions: index(),
            requested: index(),
            options,
            peers: BTreeSet::new(),
            last_peer: None,
        }
    }

    fn is_xpub(&self) -> bool {
        self.socket_type == SocketType::Xpub
    }

    fn manual(&self) -> bool {
        self.is_xpub() && self.options.manual
    }

    /// `ZMQ_XPUB_NODROP`: whether the socket must block or fail rather than drop for a full peer.
    pub fn nodrop(&self) -> bool {
        self.options.nodrop
    }

    /// How many distinct topics are subscribed (`ZMQ_TOPICS_COUNT`).
    pub fn topic_count(&self) -> usize {
        self.subscriptions.len()
    }

    /// A peer joined; returns the welcome message to send it, if one is configured.
    pub fn join(&mut self, peer: K) -> Option<Parts> {
        self.peers.insert(peer);
        self.options
            .welcome_msg
            .as_ref()
            .filter(|m| !m.is_empty())
            .map(|m| smallvec::smallvec![m.clone()])
    }

    /// A peer left: its subscriptions go. Returns XPUB's `\x00topic` notifications (RFC 29:
    /// XPUB "SHALL, if the subscriber peer disconnects prematurely, generate a suitable
    /// unsubscribe request for the calling application"): the topics nobody wants any more,
    /// every topic of the peer with `SubscribesAndCancels`, every topic it asked for in manual
    /// mode.
    pub fn leave(&mut self, peer: K) -> Vec<Bytes> {
        self.peers.remove(&peer);
        if self.last_peer == Some(peer) {
            self.last_peer = None;
        }
        let mut cancelled = Vec::new();
        if self.manual() {
            self.requested.remove_with(peer, |topic, _| {
                cancelled.push(notification_frame(topic, false))
            });
            self.subscriptions.remove(peer);
        } else {
            let every = self.options.verbosity == XpubVerbosity::SubscribesAndCancels;
            let xpub = self.is_xpub();
            self.subscriptions.remove_with(peer, |topic, last| {
                if xpub && (last || every) {
                    cancelled.push(notification_frame(topic, false));
                }
            });
        }
        cancelled.sort_unstable();
        cancelled
    }

    /// `peer` subscribed to `topic`. Returns XPUB's `\x01topic` notification when the options
    /// want one; fails (nothing stored) when the peer goes over its limits, a peer fault the
    /// socket answers by closing that connection.
    pub fn handle_subscribe(&mut self, peer: K, topic: &[u8]) -> Result<Option<Bytes>, Error> {
        if !self.peers.contains(&peer) {
            return Ok(None);
        }
        if self.manual() {
            self.requested.subscribe(peer, topic)?;
            return Ok(Some(notification_frame(topic, true)));
        }
        let first = !self.subscriptions.contains(topic);
        self.subscriptions.subscribe(peer, topic)?;
        let notify = first || self.options.verbosity != XpubVerbosity::Deduplicated;
        Ok((self.is_xpub() && notify).then(|| notification_frame(topic, true)))
    }

    /// `peer` cancelled `topic`. Returns XPUB's `\x00topic` notification when the options want
    /// one. By default that is when nobody subscribes to the topic any more; libzmq also passes
    /// up a cancel of a topic the peer never subscribed to (even while others hold it), which
    /// we do not, as it would tell the application a wanted topic is unwanted.
    pub fn handle_cancel(&mut self, peer: K, topic: &[u8]) -> Option<Bytes> {
        if !self.peers.contains(&peer) {
            return None;
        }
        if self.manual() {
            self.requested.cancel(peer, topic);
            return Some(notification_frame(topic, false));
        }
        let gone = self.subscriptions.cancel(peer, topic) && !self.subscriptions.contains(topic);
        let notify = gone || self.options.verbosity == XpubVerbosity::SubscribesAndCancels;
        (self.is_xpub() && notify).then(|| notification_frame(topic, false))
    }

    /// A message for the application that came from `peer`: XPUB delivers it (a notification,
    /// or a message sent upstream by an XSUB); PUB receives nothing
    /// ([`PatternError::Unsupported`]). In manual mode a notification makes `peer` the one
    /// [`subscribe_last`](Self::subscribe_last) applies to (none if it has left).
    pub fn recv(&mut self, peer: K, message: Parts) -> Result<Option<Parts>, PatternError> {
        if !self.is_xpub() {
            return Err(PatternError::Unsupported {
                socket_type: self.socket_type,
                operation: Operation::Receive,
            });
        }
        // Upstream data is never one frame starting with 0 or 1: the session turned those into
        // subscribe/cancel events, so such a message here is one of our notifications.
        let notification = message.len() == 1 && matches!(message[0].first(), Some(0 | 1));
        if self.manual() && notification {
            self.last_peer = self.peers.contains(&peer).then_some(peer);
        }
        Ok(Some(message))
    }

    /// Manual mode: subscribes the last peer whose notification the application read to
    /// `topic` (libzmq: `ZMQ_SUBSCRIBE` on an XPUB with `ZMQ_XPUB_MANUAL`).
    pub fn subscribe_last(&mut self, topic: &[u8]) -> Result<(), PatternError> {
        let peer = self.last_for_manual()?;
        self.subscriptions
            .subscribe(peer, topic)
            .map(|_| ())
            .map_err(PatternError::SubscriptionLimit)
    }

    /// Manual mode: cancels the last peer's subscription to `topic` (`ZMQ_UNSUBSCRIBE`).
    pub fn cancel_last(&mut self, topic: &[u8]) -> Result<(), PatternError> {
        let peer = self.last_for_manual()?;
        self.subscriptions.cancel(peer, topic);
        Ok(())
    }

    fn last_for_manual(&self) -> Result<K, PatternError> {
        if !self.manual() {
            return Err(PatternError::Unsupported {
                socket_type: self.socket_type,
                operation: Operation::Subscribe,
            });
        }
        self.last_peer.ok_or(PatternError::NoLastSubscriber)
    }

    /// Publishes a message: [`Route::Subscribers`] (RFC 29: "SHALL perform a binary comparison
    /// of the subscription against the start of the first frame of the message"). With
    /// `manual_last_value` right after a notification was read: only that peer, if it matches.
    pub fn send(&mut self, message: Parts) -> Result<(Route<K>, Parts), PatternError> {
        require_parts(&message)?;
        if self.manual() && self.options.manual_last_value {
            if let Some(last) = self.last_peer.take() {
                let route = match self.subscriptions.wants(last, &message[0]) {
                    true => Route::Peer(last),
                    false => Route::Drop,
                };
                return Ok((route, message));
            }
        }
        Ok((Route::Subscribers, message))
    }

    /// Appends to `out` the peers a message whose first frame is `topic` goes to, each once (in
    /// no particular order): those with a matching subscription, or with `invert_matching` every
    /// joined peer without one (libzmq's `dist.cpp` `reverse_match`).
    pub fn subscribers(&self, topic: &[u8], out: &mut Vec<K>) {
        let start = out.len();
        self.subscriptions.matching(topic, out);
        if !self.options.invert_matching {
            return;
        }
        let matched = out.len();
        out[start..matched].sort_unstable();
        for &peer in &self.peers {
            if out[start..matched].binary_search(&peer).is_err() {
                out.push(peer);
            }
        }
        out.drain(start..matched);
    }
}
