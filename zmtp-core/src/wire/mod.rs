//! Wire formats: the greeting, frames, commands and metadata. Pure functions and resumable
//! decoders over `bytes` buffers; nothing here does I/O.

pub mod command;
pub mod frame;
pub mod greeting;
pub mod metadata;
pub mod pool;
