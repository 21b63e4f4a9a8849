//! Prefix matching of topics against subscriptions, without scanning every subscription.
//!
//! A message matches a subscription when the subscription is a prefix of its first frame. The
//! index keeps one hash map from topic to subscribers and the set of distinct topic lengths, so
//! matching a message looks up each prefix of the message whose length some subscription has:
//! at most `min(distinct lengths, first frame length + 1)` lookups, whatever the number of
//! subscriptions or subscribers. Each subscriber's share is bounded (count and octets) before
//! anything is stored, so a peer sending SUBSCRIBEs cannot grow the index past its limits.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::Hash;

use bytes::Bytes;

use crate::error::{Error, Limit};

/// How repeated subscriptions to one topic by one subscriber count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscriptionMode {
    /// A set per subscriber: subscribing twice is subscribing once, one cancel removes it (how
    /// libzmq's PUB/XPUB track each peer's subscriptions).
    Set,
    /// A count per subscriber: each subscribe needs its own cancel (how libzmq's SUB tracks the
    /// application's own subscriptions).
    Counted,
}

#[derive(Debug, Default)]
struct Usage {
    /// The subscriber's topics (sharing the index's copies), so that removing a subscriber
    /// visits only its own topics.
    topics: HashSet<Bytes>,
    octets: u64,
}

/// Subscriptions of many subscribers (`P` identifies one: a peer id, or `()` for a socket's own).
#[derive(Debug)]
pub struct SubscriptionIndex<P> {
    mode: SubscriptionMode,
    max_topics: usize,
    max_octets: u64,
    topics: HashMap<Bytes, HashMap<P, u32>>,
    /// Distinct topic length → how many topics have it.
    lengths: BTreeMap<usize, usize>,
    usage: HashMap<P, Usage>,
}

impl<P: Copy + Eq + Hash + Ord> SubscriptionIndex<P> {
    /// An empty index; each subscriber may hold at most `max_topics` distinct topics of at most
    /// `max_octets` octets in all.
    pub fn new(mode: SubscriptionMode, max_topics: usize, max_octets: u64) -> Self {
        SubscriptionIndex {
            mode,
            max_topics,
            max_octets,
            topics: HashMap::new(),
            lengths: BTreeMap::new(),
            usage: HashMap::new(),
        }
    }

    /// Adds `who`'s subscription to `topic`. Returns whether `who` is newly subscribed to it.
    /// A subscription beyond `who`'s limits is refused with [`Error::LimitExceeded`] and not
    /// stored.
    pub fn subscribe(&mut self, who: P, topic: &[u8]) -> Result<bool, Error> {
        if let Some(count) = self.topics.get_mut(topic).and_then(|s| s.get_mut(&who)) {
            if self.mode == SubscriptionMode::Counted {
                *count = count.saturating_add(1);
            }
            return Ok(false);
        }
        let (held, octets_held) = self
            .usage
            .get(&who)
            .map_or((0, 0), |u| (u.topics.len(), u.octets));
        if held >= self.max_topics {
            return Err(Error::LimitExceeded {
                what: Limit::Subscriptions,
                limit: self.max_topics as u64,
                actual: held as u64 + 1,
            });
        }
        let octets = octets_held + topic.len() as u64;
        if octets > self.max_octets {
            return Err(Error::LimitExceeded {
                what: Limit::SubscriptionOctets,
                limit: self.max_octets,
                actual: octets,
            });
        }
        let key = match self.topics.get_key_value(topic) {
            Some((key, _)) => key.clone(),
            None => {
                let key = Bytes::copy_from_slice(topic);
                *self.lengths.entry(topic.len()).or_insert(0) += 1;
                self.topics.insert(key.clone(), HashMap::new());
                key
            }
        };
        if let Some(subscribers) = self.topics.get_mut(&key) {
            subscribers.insert(who, 1);
        }
        let usage = self.usage.entry(who).or_default();
        usage.topics.insert(key);
        usage.octets = octets;
        Ok(true)
    }

    /// Removes one of `who`'s subscriptions to `topic`. Returns whether `who` no longer
    /// subscribes to it (false when it still does, or never did).
    pub fn cancel(&mut self, who: P, topic: &[u8]) -> bool {
        let Some(subscribers) = self.topics.get_mut(topic) else {
            return false;
        };
        let Some(count) = subscribers.get_mut(&who) else {
            return false;
        };
        if *count > 1 {
            *count -= 1;
            return false;
        }
        subscribers.remove(&who);
        if subscribers.is_empty() {
            self.topics.remove(topic);
            self.forget_length(topic.len());
        }
        if let Some(usage) = self.usage.get_mut(&who) {
            usage.topics.remove(topic);
            usage.octets -= topic.len() as u64;
            if usage.topics.is_empty() {
                self.usage.remove(&who);
            }
        }
        true
    }

    /// Removes every subscription of `who` (a peer went away), visiting only its own topics.
    pub fn remove(&mut self, who: P) {
        self.remove_with(who, |_, _| {});
    }

    /// Removes every subscription of `who` like [`remove`](Self::remove), and calls
    /// `removed(topic, last)` for each of its topics, where `last` says nobody subscribes to
    /// that topic any more (what XPUB needs to tell its application on a disconnect).
    pub fn remove_with(&mut self, who: P, mut removed: impl FnMut(&Bytes, bool)) {
        let Some(usage) = self.usage.remove(&who) else {
            return;
        };
        for topic in usage.topics {
            let emptied = self.topics.get_mut(&topic).is_some_and(|subscribers| {
                subscribers.remove(&who);
                subscribers.is_empty()
            });
            if emptied {
                self.topics.remove(&topic);
                self.forget_length(topic.len());
            }
            removed(&topic, emptied);
        }
    }

    fn forget_length(&mut self, len: usize) {
        if let Some(n) = self.lengths.get_mut(&len) {
            *n -= 1;
            if *n == 0 {
                self.lengths.remove(&len);
            }
        }
    }

    /// Appends to `out` every subscriber with a subscription that prefixes `message_topic`, each
    /// once, in no particular order (sorted when several prefixes matched, which is what
    /// de-duplicates them; the common case of one matching prefix skips the sort).
    pub fn matching(&self, message_topic: &[u8], out: &mut Vec<P>) {
        let start = out.len();
        let mut tables = 0;
        for &len in self.lengths.range(..=message_topic.len()).map(|(l, _)| l) {
            if let Some(subscribers) = self.topics.get(&message_topic[..len]) {
                out.extend(subscribers.keys().copied());
                tables += 1;
            }
        }
        if tables < 2 {
            // The keys of one map: each subscriber once already.
            return;
        }
        out[start..].sort_unstable();
        let mut kept = start;
        for i in start..out.len() {
            if kept == start || out[i] != out[kept - 1] {
                out[kept] = out[i];
                kept += 1;
            }
        }
        out.truncate(kept);
    }

    /// Whether `who` holds a subscription that prefixes `message_topic`.
    pub fn wants(&self, who: P, message_topic: &[u8]) -> bool {
        if !self.usage.contains_key(&who) {
            return false;
        }
        self.lengths.range(..=message_topic.len()).any(|(&len, _)| {
            self.topics
                .get(&message_topic[..len])
                .is_some_and(|s| s.contains_key(&who))
        })
    }

    /// Whether anyone subscribes to exactly `topic`.
    pub fn contains(&self, topic: &[u8]) -> bool {
        self.topics.contains_key(topic)
    }

    /// Every distinct topic someone subscribes to (for replaying subscriptions to a new peer).
    pub fn topics(&self) -> impl Iterator<Item = &Bytes> {
        self.topics.keys()
    }

    /// How many distinct topics `who` subscribes to.
    pub fn topics_of(&self, who: P) -> usize {
        self.usage.get(&who).map_or(0, |u| u.topics.len())
    }

    /// Number of distinct topics in the index.
    pub fn len(&self) -> usize {
        self.topics.len()
    }

    /// Whether nobody subscribes to anything.
    pub fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> SubscriptionIndex<u32> {
        SubscriptionIndex::new(SubscriptionMode::Set, 100, 1000)
    }

    fn matching(index: &SubscriptionIndex<u32>, topic: &[u8]) -> Vec<u32> {
        let mut out = Vec::new();
        index.matching(topic, &mut out);
        out
    }

    #[test]
    fn prefixes_match_and_each_subscriber_is_reported_once() {
        let mut ix = set();
        ix.subscribe(1, b"weather").unwrap();
        ix.subscribe(1, b"weather.paris").unwrap();
        ix.subscribe(2, b"").unwrap();
        ix.subscribe(3, b"sport").unwrap();
        assert_eq!(matching(&ix, b"weather.paris 12C"), vec![1, 2]);
        assert_eq!(matching(&ix, b"sport"), vec![2, 3]);
        assert_eq!(matching(&ix, b"spor"), vec![2]);
        assert_eq!(matching(&ix, b""), vec![2]);
        assert!(ix.wants(1, b"weather.london"));
        assert!(!ix.wants(3, b"weather"));
        // One prefix matched: its subscribers once each, in no particular order.
        let mut ix = set();
        for who in 0..50 {
            ix.subscribe(who, b"t").unwrap();
        }
        let mut got = matching(&ix, b"topic");
        got.sort_unstable();
        assert_eq!(got, (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn set_mode_deduplicates_and_counted_mode_counts() {
        let mut ix = set();
        assert!(ix.subscribe(1, b"a").unwrap());
        assert!(!ix.subscribe(1, b"a").unwrap());
        assert!(ix.cancel(1, b"a"));
        assert!(matching(&ix, b"a").is_empty());
        assert!(
            !ix.cancel(1, b"a"),
            "cancelling what is not there changes nothing"
        );

        let mut own = SubscriptionIndex::<()>::new(SubscriptionMode::Counted, 10, 100);
        own.subscribe((), b"a").unwrap();
        own.subscribe((), b"a").unwrap();
        assert!(!own.cancel((), b"a"));
        assert!(own.wants((), b"abc"));
        assert!(own.cancel((), b"a"));
        assert!(!own.wants((), b"abc"));
        assert!(own.is_empty());
    }

    #[test]
    fn limits_hold_per_subscriber_before_anything_is_stored() {
        let mut ix = SubscriptionIndex::new(SubscriptionMode::Set, 2, 10);
        ix.subscribe(1, b"a").unwrap();
        ix.subscribe(1, b"b").unwrap();
        assert_eq!(
            ix.subscribe(1, b"c"),
            Err(Error::LimitExceeded {
                what: Limit::Subscriptions,
                limit: 2,
                actual: 3
            })
        );
        assert!(!ix.contains(b"c"));
        // Another subscriber has its own allowance; octets are bounded too.
        ix.subscribe(2, b"c").unwrap();
        assert_eq!(
            ix.subscribe(2, b"0123456789"),
            Err(Error::LimitExceeded {
                what: Limit::SubscriptionOctets,
                limit: 10,
                actual: 11
            })
        );
        // A cancel frees the allowance.
        assert!(ix.cancel(1, b"a"));
        ix.subscribe(1, b"d").unwrap();
        assert_eq!(ix.topics_of(1), 2);
    }

    #[test]
    fn removing_a_subscriber_forgets_its_topics_and_lengths() {
        let mut ix = set();
        ix.subscribe(1, b"abc").unwrap();
        ix.subscribe(1, b"x").unwrap();
        ix.subscribe(2, b"x").unwrap();
        ix.remove(1);
        assert_eq!(matching(&ix, b"abcdef"), Vec::<u32>::new());
        assert_eq!(matching(&ix, b"xyz"), vec![2]);
        assert_eq!(ix.len(), 1);
        assert_eq!(ix.lengths.len(), 1);
        assert_eq!(ix.topics_of(1), 0);
    }

    #[test]
    fn matching_cost_follows_distinct_lengths_not_subscriptions() {
        // 50,000 subscriptions of one length: a message is matched with one lookup per distinct
        // length (here 1), not a scan of 50,000 topics.
        let mut ix = SubscriptionIndex::new(SubscriptionMode::Set, 100_000, 10 << 20);
        for i in 0..50_000u32 {
            ix.subscribe(7, format!("topic-{i:08}").as_bytes()).unwrap();
        }
        assert_eq!(ix.lengths.len(), 1);
        assert_eq!(matching(&ix, b"topic-00012345 payload"), vec![7]);
        assert!(matching(&ix, b"topic-99999999").is_empty());
    }
}
