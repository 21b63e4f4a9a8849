//! ZMTP security mechanisms, each a plug-in behind `zmtp_core`'s mechanism traits.
//!
//! ```text
//! MechanismConfig::start ──► handshake state machine ──► Established { codec, peer metadata }
//!        (per socket)          (per connection)             (traffic phase)
//! ```
//!
//! - [`NullConfig`]: RFC 23's NULL mechanism, with optional ZAP.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[doc(hidden)]
pub mod fuzzing;
mod null;
mod verdict;

pub use null::NullConfig;
