//! placeholder
extern crate libsodium_sys;
