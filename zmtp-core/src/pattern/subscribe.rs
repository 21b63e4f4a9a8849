//! SUB and XSUB (RFC 29): our own subscriptions, what peers hear of them, and the filter on
//! what arrives.

use std::marker::PhantomData;

use bytes::Bytes;

use crate::Parts;

use super::{
    require_parts, Operation, PatternError, Route, SubscriptionChange, SubscriptionIndex,
    SubscriptionMode,
};
use crate::{Limits, SocketType};

/// SUB/XSUB options, named after libzmq's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubscriberOptions {
    /// `ZMQ_INVERT_MATCHING` (SUB): deliver the messages that match *no* subscription. XSUB
    /// does not filter, so it ignores this (as libzmq does).
    pub invert_matching: bool,
    /// `ZMQ_XSUB_VERBOSE_UNSUBSCRIBE` (libzmq draft): forward every cancel, not only the one
    /// that drops a topic's count to zero.
    pub verbose_unsubscribe: bool,
    /// Distinct topics we may subscribe to.
    pub max_subscriptions: usize,
    /// Octets of topics we may subscribe to.
    pub max_subscription_octets: u64,
}

impl SubscriberOptions {
    /// libzmq's defaults, with the subscription bounds from `limits`.
    pub fn new(limits: &Limits) -> Self {
        SubscriberOptions {
            invert_matching: false,
            verbose_unsubscribe: false,
            max_subscriptions: limits.max_subscriptions,
            max_subscription_octets: limits.max_subscription_octets,
        }
    }
}

/// The SUB/XSUB policy.
///
/// Call order: the application's [`subscribe`](Self::subscribe) /
/// [`unsubscribe`](Self::unsubscribe) (or, on XSUB, a `\x01topic` / `\x00topic` message through
/// [`send`](Self::send)) give the change to tell every peer; a peer that joins hears
/// [`replay`](Self::replay); each message from a peer goes through [`recv`](Self::recv).
/// Whether a change travels as a SUBSCRIBE/CANCEL command or a ZMTP 3.0 message is
/// `Session::send_subscription`'s business.
#[derive(Debug)]
pub struct Subscriber<K> {
    socket_type: SocketType,
    options: SubscriberOptions,
    /// Counted: libzmq's SUB needs one cancel per subscribe.
    own: SubscriptionIndex<()>,
    peer: PhantomData<K>,
}

impl<K: Copy + Eq + std::hash::Hash + Ord + std::fmt::Debug> Subscriber<K> {
    /// A SUB: delivers only matching messages; sends nothing.
    pub fn new_sub(options: SubscriberOptions) -> Self {
        Self::new(SocketType::Sub, options)
    }

    /// An XSUB: delivers everything; sends subscription changes and messages upstream.
    pub fn new_xsub(options: SubscriberOptions) -> Self {
        Self::new(SocketType::Xsub, options)
    }

    fn new(socket_type: SocketType, options: SubscriberOptions) -> Self {
        Subscriber {
            socket_type,
            own: SubscriptionIndex::new(
                SubscriptionMode::Counted,
                options.max_subscriptions,
                options.max_subscription_octets,
            ),
            options,
            peer: PhantomData,
        }
    }

    /// How many distinct topics we subscribe to (`ZMQ_TOPICS_COUNT`).
    pub fn topic_count(&self) -> usize {
        self.own.len()
    }

    /// Subscribes to `topic` (empty: everything). Every subscribe is forwarded, repeats
    /// included: libzmq's `xsub.cpp` leaves de-duplication to the XPUB side, where
    /// `ZMQ_XPUB_VERBOSE` needs to see them.
    pub fn subscribe(&mut self, topic: &[u8]) -> Result<SubscriptionChange, PatternError> {
        self.own
            .subscribe((), topic)
            .map_err(PatternError::SubscriptionLimit)?;
        Ok(SubscriptionChange {
            topic: Bytes::copy_from_slice(topic),
            subscribe: true,
        })
    }

    /// Removes one subscription to `topic`. The cancel is forwarded only when none is left
    /// (or always, with `verbose_unsubscribe`); cancelling what we never subscribed to is
    /// forwarded only with `verbose_unsubscribe`, as in libzmq.
    pub fn unsubscribe(&mut self, topic: &[u8]) -> Option<SubscriptionChange> {
        let last = self.own.cancel((), topic);
        (last || self.options.verbose_unsubscribe).then(|| SubscriptionChange {
            topic: Bytes::copy_from_slice(topic),
            subscribe: false,
        })
    }

    /// What a peer that just joined must hear: a subscribe per distinct topic (libzmq's
    /// `xsub.cpp` replays its subscriptions on attach and on a hiccup).
    pub fn replay(&self) -> impl Iterator<Item = SubscriptionChange> + '_ {
        self.own.topics().map(|topic| SubscriptionChange {
            topic: topic.clone(),
            subscribe: true,
        })
    }

    /// XSUB: a one-frame `\x01topic` / `\x00topic` message is a subscription change
    /// ([`Route::Subscription`], or [`Route::Drop`] for a cancel not worth forwarding); any
    /// other message goes upstream to every peer ([`Route::All`]; RFC 29: XSUB "SHALL send all
    /// messages to all connected publishers"). SUB sends nothing.
    pub fn send(&mut self, message: Parts) -> Result<(Route<K>, Parts), PatternError> {
        if self.socket_type == SocketType::Sub {
            return Err(PatternError::Unsupported {
                socket_type: SocketType::Sub,
                operation: Operation::Send,
            });
        }
        require_parts(&message)?;
        // libzmq looks at every frame of a multipart message; the session hands us whole
        // messages, and only a one-frame message is a subscription (as the session reads them).
        let change = match (&message[..], message[0].first()) {
            ([frame], Some(1)) => Some(self.subscribe(&frame[1..])?),
            ([frame], Some(0)) => match self.unsubscribe(&frame[1..]) {
                Some(change) => Some(change),
                None => return Ok((Route::Drop, Parts::new())),
            },
            _ => None,
        };
        Ok(match change {
            Some(change) => (Route::Subscription(change), Parts::new()),
            None => (Route::All, message),
        })
    }

    /// A message from a peer: SUB delivers it when its first frame starts with one of our
    /// subscriptions (or, with `invert_matching`, with none of them) and drops it otherwise;
    /// XSUB delivers everything (libzmq turns filtering on for SUB only).
    pub fn recv(&self, _peer: K, message: Parts) -> Result<Option<Parts>, PatternError> {
        if self.socket_type == SocketType::Xsub {
            return Ok(Some(message));
        }
        let Some(topic) = message.first() else {
            return Ok(None);
        };
        let matches = self.own.wants((), topic);
        Ok((matches != self.options.invert_matching).then_some(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smallvec::smallvec;

    fn options() -> SubscriberOptions {
        SubscriberOptions::new(&Limits::default())
    }

    fn one(frame: &'static [u8]) -> Parts {
        smallvec![Bytes::from_static(frame)]
    }

    fn change(topic: &'static [u8], subscribe: bool) -> SubscriptionChange {
        SubscriptionChange {
            topic: Bytes::from_static(topic),
            subscribe,
        }
    }

    #[test]
    fn sub_filters_by_prefix_of_the_first_frame() {
        let mut s = Subscriber::<u32>::new_sub(options());
        assert_eq!(
            s.recv(1, one(b"weather")).unwrap(),
            None,
            "nothing subscribed"
        );
        s.subscribe(b"wea").unwrap();
        assert_eq!(s.recv(1, one(b"weather")).unwrap(), Some(one(b"weather")));
        let later_frames = smallvec![Bytes::from_static(b"sport"), Bytes::from_static(b"wea")];
        assert_eq!(
            s.recv(1, later_frames).unwrap(),
            None,
            "only the first frame"
        );
        s.subscribe(b"").unwrap();
        assert!(
            s.recv(1, one(b"sport")).unwrap().is_some(),
            "empty matches all"
        );
    }

    #[test]
    fn sub_invert_matching_delivers_what_matches_nothing() {
        let mut o = options();
        o.invert_matching = true;
        let mut s = Subscriber::<u32>::new_sub(o);
        s.subscribe(b"A").unwrap();
        assert_eq!(s.recv(1, one(b"Apple")).unwrap(), None);
        assert_eq!(s.recv(1, one(b"Banana")).unwrap(), Some(one(b"Banana")));
    }

    #[test]
    fn subscriptions_are_counted_and_only_the_last_cancel_goes_out() {
        let mut s = Subscriber::<u32>::new_sub(options());
        assert_eq!(s.subscribe(b"A").unwrap(), change(b"A", true));
        assert_eq!(
            s.subscribe(b"A").unwrap(),
            change(b"A", true),
            "repeats forwarded"
        );
        assert_eq!(s.unsubscribe(b"A"), None);
        assert!(
            s.recv(1, one(b"A")).unwrap().is_some(),
            "still subscribed once"
        );
        assert_eq!(s.unsubscribe(b"A"), Some(change(b"A", false)));
        assert_eq!(s.unsubscribe(b"A"), None, "never subscribed: not forwarded");
        assert_eq!(s.recv(1, one(b"A")).unwrap(), None);

        let mut o = options();
        o.verbose_unsubscribe = true;
        let mut v = Subscriber::<u32>::new_xsub(o);
        v.subscribe(b"A").unwrap();
        v.subscribe(b"A").unwrap();
        assert_eq!(v.unsubscribe(b"A"), Some(change(b"A", false)));
    }

    #[test]
    fn a_new_peer_hears_each_topic_once() {
        let mut s = Subscriber::<u32>::new_sub(options());
        s.subscribe(b"A").unwrap();
        s.subscribe(b"A").unwrap();
        s.subscribe(b"B").unwrap();
        let mut replay: Vec<_> = s.replay().collect();
        replay.sort_by(|a, b| a.topic.cmp(&b.topic));
        assert_eq!(replay, vec![change(b"A", true), change(b"B", true)]);
        assert_eq!(s.topic_count(), 2);
    }

    #[test]
    fn xsub_sends_changes_and_passes_everything_else() {
        let mut x = Subscriber::<u32>::new_xsub(options());
        assert_eq!(
            x.send(one(b"\x01A")).unwrap(),
            (Route::Subscription(change(b"A", true)), Parts::new())
        );
        assert!(
            x.recv(1, one(b"unrelated")).unwrap().is_some(),
            "XSUB does not filter"
        );
        assert_eq!(x.send(one(b"\x00B")).unwrap(), (Route::Drop, Parts::new()));
        assert_eq!(
            x.send(one(b"\x00A")).unwrap(),
            (Route::Subscription(change(b"A", false)), Parts::new())
        );
        let data = smallvec![Bytes::from_static(b"\x01A"), Bytes::from_static(b"x")];
        assert_eq!(x.send(data.clone()).unwrap(), (Route::All, data));
        assert_eq!(x.send(one(b"")).unwrap(), (Route::All, one(b"")));
        assert_eq!(x.send(Parts::new()), Err(PatternError::EmptyMessage));
    }

    #[test]
    fn sub_cannot_send_and_limits_hold() {
        let mut o = options();
        o.max_subscriptions = 1;
        let mut s = Subscriber::<u32>::new_sub(o);
        assert!(matches!(
            s.send(one(b"\x01A")),
            Err(PatternError::Unsupported {
                socket_type: SocketType::Sub,
                operation: Operation::Send
            })
        ));
        s.subscribe(b"A").unwrap();
        assert!(matches!(
            s.subscribe(b"B"),
            Err(PatternError::SubscriptionLimit(_))
        ));
    }
}
