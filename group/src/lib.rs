//! Group keys for PUB/SUB fan-out: the publisher seals each message once and the same ciphertext
//! goes to every subscriber, over NULL or CURVE connections, so the publisher's cost per message
//! does not grow with its audience.
//!
//! - [`wire`]: the sealed message (XChaCha20-Poly1305 with the clear header and topic as
//!   associated data, optionally an Ed25519 publisher signature) and the clear one.
//! - [`Keyring`] and [`Sealer`]: epoch keys, replay windows, trusted publishers (sans-IO).
//! - [`Coordinator`] and [`Member`]: the key service. A member authenticates over CURVE; the
//!   coordinator's ZAP authenticator (the same [`zmtp::zap::Policy`], certificate directories
//!   included) decides membership, and each epoch key is boxed to the member's long-term key.
//!   Keys rotate on a timer, on demand, and when a member leaves, goes silent or is revoked.
//! - [`GroupPublisher`] and [`GroupSubscriber`]: the data path over ordinary zmtp sockets.
//! - [`keyfile`]: a publisher's Ed25519 keys in files (public and secret), as the CLI writes them.
//!
//! Signatures are on by default ([`ReceiverConfig::require_signature`]): with a shared key
//! alone, any member could seal a message that others would take as the publisher's. The wire
//! format, the key service and the threat model are specified in `rfcs/group-keys.md`.
//!
//! This crate uses only `zmtp`'s public API.

#![forbid(unsafe_code)]

pub mod control;
mod coordinator;
mod error;
pub mod keyfile;
mod keyring;
mod member;
mod pubsub;
pub mod replay;
pub mod wire;

pub use coordinator::{Coordinator, CoordinatorConfig};
pub use ed25519_dalek::{SigningKey, VerifyingKey};
pub use error::{GroupError, OpenError, SealError};
pub use keyring::{Keyring, Opened, ReceiverConfig, SealInfo, Sealer};
pub use member::{Member, MemberConfig};
pub use pubsub::{GroupPublisher, GroupSubscriber};
pub use wire::{EpochKey, GroupId, Limits};

/// A fresh random Ed25519 signing key for a publisher (its verifying key goes in the
/// coordinator's [`CoordinatorConfig::publishers`]).
pub fn generate_signing_key() -> SigningKey {
    SigningKey::generate(&mut rand_core::OsRng)
}
