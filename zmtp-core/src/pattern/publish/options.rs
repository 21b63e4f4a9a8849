//! PUB/XPUB options.

use bytes::Bytes;

use crate::Limits;

/// Which peer subscriptions XPUB hands its application (as `\x01topic` / `\x00topic`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum XpubVerbosity {
    /// libzmq's default: only the first subscription to a topic across all peers, and the
    /// cancel (or disconnect) that leaves nobody subscribed to it.
    #[default]
    Deduplicated,
    /// `ZMQ_XPUB_VERBOSE`: every subscribe, cancels as in the default.
    Subscribes,
    /// `ZMQ_XPUB_VERBOSER`: every subscribe and every cancel.
    SubscribesAndCancels,
}

/// PUB/XPUB options, named after libzmq's. Verbosity, `manual` and `manual_last_value` only
/// matter to XPUB, the only one with an application that hears subscriptions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublisherOptions {
    /// Which subscriptions XPUB passes up.
    pub verbosity: XpubVerbosity,
    /// `ZMQ_XPUB_MANUAL`: peers' subscriptions are not applied; every subscribe and cancel is
    /// passed up, and the application applies what it wants with
    /// [`Publisher::subscribe_last`](super::Publisher::subscribe_last) /
    /// [`Publisher::cancel_last`](super::Publisher::cancel_last).
    pub manual: bool,
    /// `ZMQ_XPUB_MANUAL_LAST_VALUE`: with `manual`, the first message sent after a
    /// notification was read goes only to the peer that sent it (if it matches).
    pub manual_last_value: bool,
    /// `ZMQ_XPUB_WELCOME_MSG`: a one-frame message sent to each peer that joins.
    pub welcome_msg: Option<Bytes>,
    /// `ZMQ_XPUB_NODROP`: the socket blocks or fails (`EAGAIN`) when a matching peer is full,
    /// instead of dropping the message for it. The policy only carries the flag.
    pub nodrop: bool,
    /// `ZMQ_INVERT_MATCHING`: deliver to the peers whose subscriptions do *not* match.
    pub invert_matching: bool,
    /// Distinct topics one peer may subscribe to.
    pub max_subscriptions: usize,
    /// Octets of topics one peer may subscribe to.
    pub max_subscription_octets: u64,
}

impl PublisherOptions {
    /// libzmq's defaults, with the per-peer subscription bounds from `limits`.
    pub fn new(limits: &Limits) -> Self {
        PublisherOptions {
            verbosity: XpubVerbosity::Deduplicated,
            manual: false,
            manual_last_value: false,
            welcome_msg: None,
            nodrop: false,
            invert_matching: false,
            max_subscriptions: limits.max_subscriptions,
            max_subscription_octets: limits.max_subscription_octets,
        }
    }
}
