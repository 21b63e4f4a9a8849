//! Socket-pattern policies that need no I/O, shared by every driver.
//!
//! A socket owns one policy and the set of its peers, each named by a key `K` the socket picks
//! (any `Copy + Eq + Hash + Ord + Debug` value, such as a connection counter). Data flow:
//!
//! ```text
//! application send(msg) ──► policy.send(msg) ──► (Route, framed msg) ──► socket picks peer(s)
//!                                                   │                        │
//!                             policy.sent_to(peer) ◄┘ (REQ only)             ▼ Session::send_message
//! peer message ──► policy.recv(peer, msg) ──► Some(msg for the application) | None (dropped)
//! peer joins/leaves ──► policy.join(..) / policy.leave(peer) ──► what to tell that peer or the app
//! ```
//!
//! Policies never wait: "no peer with room" and high-water marks are the socket's business;
//! the policy only says where a message goes ([`Route`]) and what it looks like on the wire.
//! Misuse of a socket's state machine (libzmq's `EFSM`, `ENOTSUP`, `EHOSTUNREACH`) is a typed
//! [`PatternError`]; a malformed message from a peer is dropped (`Ok(None)`), as RFC 28 asks.
//!
//! | family | type | RFC |
//! |---|---|---|
//! | REQ | [`Req`] | 28 |
//! | REP | [`Rep`] | 28 |
//! | DEALER | [`Dealer`] | 28 |
//! | ROUTER | [`Router`] | 28 |
//! | PUB, XPUB | [`Publisher`] | 29 |
//! | SUB, XSUB | [`Subscriber`] | 29 |
//! | PUSH, PULL | [`Push`], [`Pull`] | 30 |
//! | PAIR | [`Pair`] | 31 |
//!
//! Topic matching goes through [`SubscriptionIndex`]: one hash lookup per distinct subscription
//! length, never a scan of every subscription.

mod error;
mod passthrough;
mod publish;
mod rep;
mod req;
mod router;
mod subscribe;
mod subscriptions;

use bytes::Bytes;

pub use error::{Operation, PatternError};
pub use passthrough::{Dealer, Pair, Pull, Push};
pub use publish::{Publisher, PublisherOptions, XpubVerbosity};
pub use rep::Rep;
pub use req::{Req, ReqOptions};
pub use router::{Join, Router, RouterOptions};
pub use subscribe::{Subscriber, SubscriberOptions};
pub use subscriptions::{SubscriptionIndex, SubscriptionMode};

/// Where the socket sends a message a policy has framed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Route<K> {
    /// The next peer in turn that has room in its queue; wait (or fail) when none has
    /// (PUSH, DEALER, REQ, PAIR: RFC 28/30/31 "route outgoing messages to available peers using
    /// a round-robin strategy"). REQ needs to hear which peer took it: [`Req::sent_to`].
    RoundRobin,
    /// Exactly this peer (REP's reply, ROUTER's addressed message). If it is gone or full, the
    /// message is dropped (RFC 28: ROUTER and REP "SHALL NOT block on sending"), or the send
    /// fails for a ROUTER with [`Router::mandatory`].
    Peer(K),
    /// Every peer [`Publisher::subscribers`] names for the message's first frame (PUB, XPUB).
    /// A full queue drops the message for that peer, unless [`Publisher::nodrop`] is set.
    Subscribers,
    /// Every peer (XSUB's messages upstream).
    All,
    /// Every peer, as a subscription change: hand it to `Session::send_subscription`, which
    /// picks a SUBSCRIBE/CANCEL command (ZMTP 3.1) or a `\x01`/`\x00` message (3.0). The message
    /// returned with this route is empty.
    Subscription(SubscriptionChange),
    /// Nobody: the policy decided to discard the message (ROUTER without `mandatory` and an
    /// unknown routing id; a cancel XSUB need not forward).
    Drop,
}

/// One change to a socket's own subscriptions, to tell its peers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionChange {
    /// The topic (a prefix of the first frame of the messages it selects).
    pub topic: Bytes,
    /// `true` to subscribe, `false` to cancel.
    pub subscribe: bool,
}

impl SubscriptionChange {
    /// The ZMTP 3.0 message form: one frame, `\x01topic` to subscribe, `\x00topic` to cancel
    /// (also what XPUB hands its application).
    pub fn to_message_frame(&self) -> Bytes {
        notification_frame(&self.topic, self.subscribe)
    }
}

/// `\x01topic` or `\x00topic`.
fn notification_frame(topic: &[u8], subscribe: bool) -> Bytes {
    let mut frame = Vec::with_capacity(topic.len() + 1);
    frame.push(u8::from(subscribe));
    frame.extend_from_slice(topic);
    Bytes::from(frame)
}

/// Refuses a message with no parts (every pattern needs at least one frame).
fn require_parts(message: &[Bytes]) -> Result<(), PatternError> {
    if message.is_empty() {
        return Err(PatternError::EmptyMessage);
    }
    Ok(())
}
