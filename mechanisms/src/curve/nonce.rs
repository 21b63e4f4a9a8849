//! CurveZMQ nonces (RFC 26 §"Nonces"): a fixed prefix plus either an 8-octet big-endian counter
//! (short nonce) or 16 random octets (long nonce), 24 octets in all.

use zmtp_core::{Error, ProtocolError};

/// HELLO's signature box.
pub(crate) const HELLO: &[u8; 16] = b"CurveZMQHELLO---";
/// WELCOME's box (long nonce).
pub(crate) const WELCOME: &[u8; 8] = b"WELCOME-";
/// The cookie box (long nonce).
pub(crate) const COOKIE: &[u8; 8] = b"COOKIE--";
/// INITIATE's box.
pub(crate) const INITIATE: &[u8; 16] = b"CurveZMQINITIATE";
/// The vouch box inside INITIATE (long nonce).
pub(crate) const VOUCH: &[u8; 8] = b"VOUCH---";
/// READY's box.
pub(crate) const READY: &[u8; 16] = b"CurveZMQREADY---";
/// MESSAGE boxes from the client. libzmq uses per-direction prefixes, not RFC 26's grammar-line
/// `CurveZMQMESSAGE-`; interop wins.
pub(crate) const MESSAGE_FROM_CLIENT: &[u8; 16] = b"CurveZMQMESSAGEC";
/// MESSAGE boxes from the server.
pub(crate) const MESSAGE_FROM_SERVER: &[u8; 16] = b"CurveZMQMESSAGES";

/// A prefix and a short nonce.
pub(crate) fn short(prefix: &[u8; 16], n: u64) -> [u8; 24] {
    let mut nonce = [0u8; 24];
    nonce[..16].copy_from_slice(prefix);
    nonce[16..].copy_from_slice(&n.to_be_bytes());
    nonce
}

/// A prefix and a long nonce.
pub(crate) fn long(prefix: &[u8; 8], n: &[u8; 16]) -> [u8; 24] {
    let mut nonce = [0u8; 24];
    nonce[..8].copy_from_slice(prefix);
    nonce[8..].copy_from_slice(n);
    nonce
}

/// Our short nonces, one per command sent, from 1 up. RFC 26: "The client SHALL NOT send more
/// than 2^64-1 commands in one connection": after `u64::MAX` the counter refuses rather than
/// wrapping into a nonce already used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SendCounter {
    next: Option<u64>,
}

impl SendCounter {
    /// A counter whose first nonce is 1.
    pub(crate) fn new() -> SendCounter {
        SendCounter { next: Some(1) }
    }

    /// The next nonce, or `InvalidSequence` once all 2^64-1 are used.
    pub(crate) fn take(&mut self) -> Result<u64, Error> {
        let n = self.next.ok_or(ProtocolError::InvalidSequence)?;
        self.next = n.checked_add(1);
        Ok(n)
    }

    #[cfg(test)]
    pub(crate) fn starting_at(n: u64) -> SendCounter {
        SendCounter { next: Some(n) }
    }
}

/// The peer's short nonces. RFC 26: the receiver "SHALL disconnect clients that reuse a short
/// nonce"; libzmq (`check_validity`) refuses any nonce not above the last one it saw, handshake
/// commands included, and so do we. Gaps are allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct ReceiveWindow {
    last: u64,
}

impl ReceiveWindow {
    /// Nothing seen yet: the first nonce must be at least 1.
    pub(crate) fn new() -> ReceiveWindow {
        ReceiveWindow::default()
    }

    /// Checks that `n` is above every nonce seen. Call [`ReceiveWindow::commit`] only once the
    /// box under `n` has opened.
    pub(crate) fn check(&self, n: u64) -> Result<(), Error> {
        if n <= self.last {
            return Err(ProtocolError::InvalidSequence.into());
        }
        Ok(())
    }

    /// Records `n` as seen.
    pub(crate) fn commit(&mut self, n: u64) {
        debug_assert!(n > self.last);
        self.last = n;
    }
}

/// Reads the big-endian short nonce from the first 8 octets of `bytes`.
pub(crate) fn read_short(bytes: &[u8]) -> u64 {
    let mut n = [0u8; 8];
    n.copy_from_slice(&bytes[..8]);
    u64::from_be_bytes(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_prefix_then_big_endian() {
        let n = short(READY, 1);
        assert_eq!(&n[..16], b"CurveZMQREADY---");
        assert_eq!(&n[16..], &[0, 0, 0, 0, 0, 0, 0, 1]);
        let n = long(VOUCH, &[0xAB; 16]);
        assert_eq!(&n[..8], b"VOUCH---");
        assert_eq!(&n[8..], &[0xAB; 16]);
    }

    #[test]
    fn send_counter_never_wraps() {
        let mut c = SendCounter::new();
        assert_eq!(c.take().unwrap(), 1);
        assert_eq!(c.take().unwrap(), 2);
        let mut c = SendCounter::starting_at(u64::MAX);
        assert_eq!(c.take().unwrap(), u64::MAX);
        assert_eq!(
            c.take(),
            Err(Error::Protocol(ProtocolError::InvalidSequence))
        );
        assert_eq!(
            c.take(),
            Err(Error::Protocol(ProtocolError::InvalidSequence))
        );
    }

    #[test]
    fn receive_window_rejects_replays_and_allows_gaps() {
        let mut w = ReceiveWindow::new();
        assert!(w.check(0).is_err());
        w.check(1).unwrap();
        w.commit(1);
        assert!(w.check(1).is_err());
        w.check(5).unwrap();
        w.commit(5);
        assert!(w.check(3).is_err());
        w.check(6).unwrap();
    }
}
