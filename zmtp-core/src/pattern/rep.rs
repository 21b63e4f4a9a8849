//! REP (RFC 28).

use bytes::Bytes;

use crate::Parts;

use super::{require_parts, PatternError, Route};

/// Where REP is in its receive/send alternation.
#[derive(Clone, Debug, PartialEq, Eq)]
enum RepState<K> {
    /// Free to receive a request; nothing to reply to.
    Idle,
    /// A request from `peer` was handed up; its reply goes back under `envelope` (every hop
    /// up to and including the empty delimiter).
    Replying { peer: K, envelope: Parts },
}

/// The REP policy: receive one request, send one reply, under the request's envelope.
///
/// Call order: [`recv`](Self::recv) for each message from a peer until one is a request (it
/// returns `Some`), then [`send`](Self::send) the reply, which answers [`Route::Peer`] with
/// the peer the request came from.
#[derive(Debug)]
pub struct Rep<K> {
    state: RepState<K>,
}

impl<K: Copy + Eq + std::hash::Hash + Ord + std::fmt::Debug> Default for Rep<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Copy + Eq + std::hash::Hash + Ord + std::fmt::Debug> Rep<K> {
    /// A REP waiting for its first request.
    pub fn new() -> Self {
        Rep {
            state: RepState::Idle,
        }
    }

    /// The peer the owed reply goes to, if one is owed.
    pub fn replying_to(&self) -> Option<K> {
        match self.state {
            RepState::Replying { peer, .. } => Some(peer),
            RepState::Idle => None,
        }
    }

    /// Whether a receive makes sense now: [`PatternError::ReplyOwed`] while the previous
    /// request is unanswered (libzmq's `rep.cpp` returns `EFSM` for it).
    pub fn check_recv(&self) -> Result<(), PatternError> {
        match self.state {
            RepState::Idle => Ok(()),
            RepState::Replying { .. } => Err(PatternError::ReplyOwed),
        }
    }

    /// A message from `peer`: `Some(body)` when it is a request. The envelope (any number of
    /// hops, then the empty delimiter) is split off and kept for the reply (RFC 28: REP "SHALL
    /// remove and store the address envelope, including the delimiter"). A message without a
    /// delimiter, or with nothing after it, is dropped (`None`), as libzmq does.
    pub fn recv(&mut self, peer: K, mut message: Parts) -> Result<Option<Parts>, PatternError> {
        self.check_recv()?;
        let Some(delimiter) = message.iter().position(Bytes::is_empty) else {
            return Ok(None);
        };
        if delimiter + 1 == message.len() {
            return Ok(None);
        }
        let body = message.drain(delimiter + 1..).collect();
        self.state = RepState::Replying {
            peer,
            envelope: message,
        };
        Ok(Some(body))
    }

    /// Frames the reply: the stored envelope, then `message`, for the peer that asked (RFC 28:
    /// REP "SHALL prepend the address envelope and delimiter" and "SHALL deliver this message
    /// back to the originating peer"). If that peer is gone, the socket drops it. Fails before
    /// a request was received, and for an empty message (then the reply is still owed).
    pub fn send(&mut self, message: Parts) -> Result<(Route<K>, Parts), PatternError> {
        require_parts(&message)?;
        match std::mem::replace(&mut self.state, RepState::Idle) {
            RepState::Idle => Err(PatternError::NoRequestReceived),
            RepState::Replying { peer, mut envelope } => {
                envelope.extend(message);
                Ok((Route::Peer(peer), envelope))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(parts: &[&'static [u8]]) -> Parts {
        parts.iter().map(|p| Bytes::from_static(p)).collect()
    }

    #[test]
    fn three_hops_of_envelope_come_back_on_the_reply() {
        let mut rep = Rep::<u32>::new();
        let request = msg(&[b"hop1", b"hop2", b"hop3", b"", b"question", b"more"]);
        assert_eq!(
            rep.recv(5, request).unwrap(),
            Some(msg(&[b"question", b"more"]))
        );
        assert_eq!(rep.replying_to(), Some(5));
        let (route, framed) = rep.send(msg(&[b"answer"])).unwrap();
        assert_eq!(route, Route::Peer(5));
        assert_eq!(framed, msg(&[b"hop1", b"hop2", b"hop3", b"", b"answer"]));
    }

    #[test]
    fn a_direct_req_has_just_the_delimiter() {
        let mut rep = Rep::<u32>::new();
        assert_eq!(rep.recv(1, msg(&[b"", b"q"])).unwrap(), Some(msg(&[b"q"])));
        assert_eq!(rep.send(msg(&[b"a"])).unwrap().1, msg(&[b"", b"a"]));
    }

    #[test]
    fn the_fsm_is_enforced_both_ways() {
        let mut rep = Rep::<u32>::new();
        assert_eq!(rep.send(msg(&[b"a"])), Err(PatternError::NoRequestReceived));
        rep.recv(1, msg(&[b"", b"q1"])).unwrap();
        assert_eq!(
            rep.recv(2, msg(&[b"", b"q2"])),
            Err(PatternError::ReplyOwed)
        );
        assert_eq!(rep.check_recv(), Err(PatternError::ReplyOwed));
        assert_eq!(rep.send(Parts::new()), Err(PatternError::EmptyMessage));
        assert_eq!(rep.replying_to(), Some(1), "an empty reply leaves it owed");
        rep.send(msg(&[b"a1"])).unwrap();
        assert_eq!(
            rep.send(msg(&[b"again"])),
            Err(PatternError::NoRequestReceived),
            "one reply per request"
        );
        assert!(rep.check_recv().is_ok());
    }

    #[test]
    fn requests_without_a_delimiter_or_a_body_are_dropped() {
        let mut rep = Rep::<u32>::new();
        assert_eq!(rep.recv(1, msg(&[b"hop", b"q"])).unwrap(), None);
        assert_eq!(rep.recv(1, msg(&[b"hop", b""])).unwrap(), None);
        assert_eq!(rep.recv(1, msg(&[b""])).unwrap(), None);
        assert_eq!(rep.replying_to(), None, "still free to take a request");
        assert_eq!(rep.recv(1, msg(&[b"", b""])).unwrap(), Some(msg(&[b""])));
    }
}
