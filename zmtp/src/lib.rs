//! Pure-Rust ZeroMQ sockets over tokio: ZMTP 3.x with NULL, PLAIN and CURVE security.
//!
//! ```text
//! Socket (pattern policy) ──► per-peer pipes ──► connection tasks ──► TCP / IPC
//!        ▲                                         │  (zmtp_core::Session:
//!        └──── inbox (a queue per peer) ◄──────────┘   greeting, handshake, frames)
//! ```
//!
//! Each connection runs in its own task, driving the sans-IO `zmtp_core::Session`. Sockets route
//! messages between the application and their connections as their type demands (round robin,
//! routing ids, envelopes, subscriptions). Queue bounds are the high-water marks; messages cross
//! them in batches, so the hot path pays a lock per message and a wake-up per batch. A PUB
//! (or XPUB) sending a small message to several NULL or PLAIN peers encodes it once: each
//! pipe holds a reference to the same wire bytes, and each connection writes them from there.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod admission;
pub mod blocking;
mod connection;
pub mod endpoint;
mod endpoint_set;
mod error;
pub mod fuzzing;
mod inproc;
mod message;
pub mod monitor;
mod options;
mod pattern;
mod peers;
mod pipe;
mod socket;
mod tcp;
mod zap_remote;

pub use blocking::proxy::{proxy, proxy_steerable, proxy_with_capture};
pub use endpoint::Endpoint;
pub use error::SocketError;
pub use message::Message;
pub use monitor::{MonitorEvent, SocketEvent};
pub use options::SocketOptions;
pub use socket::Socket;
pub use zap_remote::{
    serve_zap, ZapProxy, DEFAULT_PROXY_TIMEOUT, MAX_BRIDGE_HOPS, SERVE_IN_FLIGHT,
};
pub use zmtp_core::{self as core, Heartbeat, Limits, Metadata, SocketType};
pub use zmtp_mechanisms as mechanisms;
pub use zmtp_zap as zap;

/// The README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeExamples;
