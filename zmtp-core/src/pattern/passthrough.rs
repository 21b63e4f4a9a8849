//! The patterns that leave messages as they are: DEALER (RFC 28), PUSH and PULL (RFC 30), PAIR
//! (RFC 31). Each "SHALL not filter or modify outgoing or incoming messages in any way"; what
//! is left is which direction each supports and whom it talks to.

use bytes::Bytes;

use crate::Parts;

use super::{require_parts, Operation, PatternError, Route};
use crate::SocketType;

fn unsupported(socket_type: SocketType, operation: Operation) -> PatternError {
    PatternError::Unsupported {
        socket_type,
        operation,
    }
}

/// The DEALER policy: round-robin out, fair-queued in, nothing changed.
#[derive(Clone, Copy, Debug, Default)]
pub struct Dealer {
    probe_router: bool,
}

impl Dealer {
    /// A DEALER; with `probe_router` (`ZMQ_PROBE_ROUTER`) it greets each peer with an empty
    /// message when it joins.
    pub fn new(probe_router: bool) -> Self {
        Dealer { probe_router }
    }

    /// What to send a peer that just joined: the empty probe message, with `probe_router`.
    pub fn join(&self) -> Option<Parts> {
        self.probe_router.then(|| smallvec::smallvec![Bytes::new()])
    }

    /// Routes a message to the next peer with room (RFC 28: DEALER "SHALL route outgoing
    /// messages to available peers using a round-robin strategy").
    pub fn send<K>(&self, message: Parts) -> Result<(Route<K>, Parts), PatternError> {
        require_parts(&message)?;
        Ok((Route::RoundRobin, message))
    }

    /// A message from a peer, delivered as it is.
    pub fn recv<K>(&self, _peer: K, message: Parts) -> Result<Option<Parts>, PatternError> {
        Ok(Some(message))
    }
}

/// The PUSH policy: round-robin out; receives nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Push;

impl Push {
    /// Routes a message to the next peer with room (RFC 30).
    pub fn send<K>(&self, message: Parts) -> Result<(Route<K>, Parts), PatternError> {
        require_parts(&message)?;
        Ok((Route::RoundRobin, message))
    }

    /// PUSH never receives: [`PatternError::Unsupported`] (RFC 30: PUSH "SHALL only send
    /// messages"; libzmq: `ENOTSUP`). The socket discards what peers send it.
    pub fn recv<K>(&self, _peer: K, _message: Parts) -> Result<Option<Parts>, PatternError> {
        Err(unsupported(SocketType::Push, Operation::Receive))
    }
}

/// The PULL policy: fair-queued in; sends nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Pull;

impl Pull {
    /// PULL never sends: [`PatternError::Unsupported`] (RFC 30: PULL "SHALL only receive
    /// messages"; libzmq: `ENOTSUP`).
    pub fn send<K>(&self, _message: Parts) -> Result<(Route<K>, Parts), PatternError> {
        Err(unsupported(SocketType::Pull, Operation::Send))
    }

    /// A message from a peer, delivered as it is.
    pub fn recv<K>(&self, _peer: K, message: Parts) -> Result<Option<Parts>, PatternError> {
        Ok(Some(message))
    }
}

/// The PAIR policy: exactly one peer at a time.
#[derive(Debug)]
pub struct Pair<K> {
    peer: Option<K>,
}

impl<K: Copy + Eq + std::hash::Hash + Ord + std::fmt::Debug> Default for Pair<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Copy + Eq + std::hash::Hash + Ord + std::fmt::Debug> Pair<K> {
    /// A PAIR with no peer.
    pub fn new() -> Self {
        Pair { peer: None }
    }

    /// The peer, if one is admitted.
    pub fn peer(&self) -> Option<K> {
        self.peer
    }

    /// Admits `peer` if there is none yet; `false` means the socket should close it (libzmq's
    /// `pair.cpp`: a PAIR "can only be connected to a single peer" and terminates any other).
    pub fn join(&mut self, peer: K) -> bool {
        match self.peer {
            None => {
                self.peer = Some(peer);
                true
            }
            Some(current) => current == peer,
        }
    }

    /// `peer` went away; another may join.
    pub fn leave(&mut self, peer: K) {
        if self.peer == Some(peer) {
            self.peer = None;
        }
    }

    /// Routes a message to the peer, or waits for one (RFC 31: PAIR "SHALL block on sending, or
    /// return a suitable error, when it has no available peer"). Since only the admitted peer
    /// stays connected, the next peer with room is that one.
    pub fn send(&self, message: Parts) -> Result<(Route<K>, Parts), PatternError> {
        require_parts(&message)?;
        Ok((Route::RoundRobin, message))
    }

    /// A message from `peer`: delivered if it is the admitted one, dropped otherwise.
    pub fn recv(&self, peer: K, message: Parts) -> Result<Option<Parts>, PatternError> {
        Ok((self.peer == Some(peer)).then_some(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smallvec::smallvec;

    fn msg(parts: &[&'static [u8]]) -> Parts {
        parts.iter().map(|p| Bytes::from_static(p)).collect()
    }

    #[test]
    fn dealer_passes_through_and_probes_when_asked() {
        let d = Dealer::new(false);
        assert_eq!(d.join(), None);
        assert_eq!(
            d.send::<u32>(msg(&[b"a", b"b"])).unwrap(),
            (Route::RoundRobin, msg(&[b"a", b"b"]))
        );
        assert_eq!(d.recv(1u32, msg(&[b"x"])).unwrap(), Some(msg(&[b"x"])));
        assert_eq!(d.send::<u32>(Parts::new()), Err(PatternError::EmptyMessage));
        assert_eq!(Dealer::new(true).join(), Some(smallvec![Bytes::new()]));
    }

    #[test]
    fn push_cannot_receive_and_pull_cannot_send() {
        assert_eq!(
            Push.recv(1u32, msg(&[b"x"])),
            Err(PatternError::Unsupported {
                socket_type: SocketType::Push,
                operation: Operation::Receive
            })
        );
        assert_eq!(Push.send::<u32>(msg(&[b"x"])).unwrap().0, Route::RoundRobin);
        assert_eq!(
            Pull.send::<u32>(msg(&[b"x"])),
            Err(PatternError::Unsupported {
                socket_type: SocketType::Pull,
                operation: Operation::Send
            })
        );
        assert_eq!(Pull.recv(1u32, msg(&[b"x"])).unwrap(), Some(msg(&[b"x"])));
    }

    #[test]
    fn pair_admits_one_peer_at_a_time() {
        let mut p = Pair::<u32>::new();
        assert!(p.join(1));
        assert!(!p.join(2), "a second peer is refused");
        assert_eq!(p.recv(2, msg(&[b"x"])).unwrap(), None);
        assert_eq!(p.recv(1, msg(&[b"x"])).unwrap(), Some(msg(&[b"x"])));
        p.leave(2);
        assert_eq!(p.peer(), Some(1), "a refused peer leaving changes nothing");
        p.leave(1);
        assert!(p.join(2));
    }
}
