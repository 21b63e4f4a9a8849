//! Socket-pattern policies that need no I/O, shared by every driver.
//!
//! So far: [`SubscriptionIndex`], the topic matching of PUB/XPUB (per peer, bounded by
//! [`Limits`](crate::Limits)) and SUB/XSUB (our own subscriptions).

mod subscriptions;

pub use subscriptions::{SubscriptionIndex, SubscriptionMode};
