//! REQ (RFC 28, with libzmq's `ZMQ_REQ_CORRELATE` and `ZMQ_REQ_RELAXED`).

use bytes::Bytes;

use crate::Parts;

use super::{require_parts, PatternError, Route};

/// REQ's options, named after libzmq's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReqOptions {
    /// `ZMQ_REQ_CORRELATE`: each request starts with a 4-octet request id frame (before the
    /// empty delimiter), and only a reply echoing the current id is accepted.
    pub correlate: bool,
    /// `ZMQ_REQ_RELAXED`: sending while a reply is awaited abandons the old request instead of
    /// failing with [`PatternError::AwaitingReply`]. libzmq recommends it with `correlate`,
    /// which is what tells a late reply to the abandoned request from the new one's.
    pub relaxed: bool,
    /// The request id before the first request (ids count up from here). libzmq starts at a
    /// random value; the core takes no randomness of its own, so the socket passes one in.
    pub first_request_id: u32,
}

/// Where REQ is in its send/receive alternation; each step holds only what is valid in it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ReqState<K> {
    /// Free to send; nothing to receive.
    Idle,
    /// A request was framed; the socket has yet to say which peer took it.
    Placing { request_id: Option<u32> },
    /// Waiting for `peer` to answer the request (with `request_id` when correlating).
    Awaiting { peer: K, request_id: Option<u32> },
}

/// The REQ policy: strict send/receive alternation over round-robin peers.
///
/// Call order for one request:
/// 1. [`send`](Self::send) frames the request and answers [`Route::RoundRobin`];
/// 2. the socket places it with one peer and calls [`sent_to`](Self::sent_to) with it;
/// 3. every message from a peer goes through [`recv`](Self::recv) until one is the reply.
///
/// libzmq (`req.cpp`) also discards every message already queued when a new request starts,
/// so that an old reply from the peer asked next cannot pass for the new one; the socket should
/// empty its receive queue at step 1 to match. With `correlate` the request id catches those
/// anyway.
#[derive(Debug)]
pub struct Req<K> {
    options: ReqOptions,
    last_request_id: u32,
    state: ReqState<K>,
}

impl<K: Copy + Eq + std::hash::Hash + Ord + std::fmt::Debug> Req<K> {
    /// A REQ with no request in flight.
    pub fn new(options: ReqOptions) -> Self {
        Req {
            options,
            last_request_id: options.first_request_id,
            state: ReqState::Idle,
        }
    }

    /// The peer whose reply we await, if a request is in flight.
    pub fn awaiting(&self) -> Option<K> {
        match self.state {
            ReqState::Awaiting { peer, .. } => Some(peer),
            _ => None,
        }
    }

    /// Frames a request: `[request id,] empty delimiter, body...`. Fails while a reply is
    /// awaited (unless `relaxed`) and for an empty message; then nothing changes.
    pub fn send(&mut self, message: Parts) -> Result<(Route<K>, Parts), PatternError> {
        require_parts(&message)?;
        if matches!(self.state, ReqState::Awaiting { .. }) && !self.options.relaxed {
            return Err(PatternError::AwaitingReply);
        }
        // RFC 28: REQ "SHALL prefix the outgoing message with an empty delimiter frame". libzmq's
        // correlate mode puts the request id before it.
        let mut framed = Parts::with_capacity(message.len() + 2);
        let request_id = self.options.correlate.then(|| {
            self.last_request_id = self.last_request_id.wrapping_add(1);
            // The peer echoes the id untouched, so its byte order is ours to choose (libzmq
            // writes it in host order).
            framed.push(Bytes::copy_from_slice(&self.last_request_id.to_be_bytes()));
            self.last_request_id
        });
        framed.push(Bytes::new());
        framed.extend(message);
        // Relaxed: whatever was awaited is abandoned here; its reply no longer matches.
        self.state = ReqState::Placing { request_id };
        Ok((Route::RoundRobin, framed))
    }

    /// The socket placed the request framed by the last [`send`](Self::send) with `peer`:
    /// only that peer's reply counts now (RFC 28: REQ "SHALL accept an incoming message only
    /// from the last peer that it sent a request to").
    pub fn sent_to(&mut self, peer: K) -> Result<(), PatternError> {
        match self.state {
            ReqState::Placing { request_id } => {
                self.state = ReqState::Awaiting { peer, request_id };
                Ok(())
            }
            _ => Err(PatternError::NoPendingSend),
        }
    }

    /// Whether a receive makes sense now: [`PatternError::NoRequestSent`] unless a request is
    /// in flight (the socket checks this before it waits for a message).
    pub fn check_recv(&self) -> Result<(), PatternError> {
        match self.state {
            ReqState::Awaiting { .. } => Ok(()),
            _ => Err(PatternError::NoRequestSent),
        }
    }

    /// A message from `peer`: `Some(body)` when it is the reply (envelope stripped; the next
    /// send is allowed again), `None` when it is dropped: another peer, a stale request id, or
    /// a malformed envelope (RFC 28: REQ "SHALL discard silently any messages received from
    /// other peers").
    pub fn recv(&mut self, peer: K, mut message: Parts) -> Result<Option<Parts>, PatternError> {
        self.check_recv()?;
        let ReqState::Awaiting {
            peer: asked,
            request_id,
        } = self.state
        else {
            return Err(PatternError::NoRequestSent);
        };
        if peer != asked {
            return Ok(None);
        }
        let mut delimiter = 0;
        if let Some(id) = request_id {
            match message.first() {
                Some(frame) if frame[..] == id.to_be_bytes() => delimiter = 1,
                _ => return Ok(None),
            }
        }
        // libzmq (`req.cpp`) wants the delimiter empty and followed by at least one frame.
        if message.len() <= delimiter + 1 || !message[delimiter].is_empty() {
            return Ok(None);
        }
        self.state = ReqState::Idle;
        message.drain(..=delimiter);
        Ok(Some(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smallvec::smallvec;

    fn msg(parts: &[&'static [u8]]) -> Parts {
        parts.iter().map(|p| Bytes::from_static(p)).collect()
    }

    fn req(correlate: bool, relaxed: bool) -> Req<u32> {
        Req::new(ReqOptions {
            correlate,
            relaxed,
            first_request_id: 41,
        })
    }

    #[test]
    fn strict_alternation_and_the_delimiter() {
        let mut r = req(false, false);
        assert_eq!(r.check_recv(), Err(PatternError::NoRequestSent));
        assert_eq!(
            r.recv(1, msg(&[b"", b"x"])),
            Err(PatternError::NoRequestSent)
        );
        let (route, framed) = r.send(msg(&[b"hello"])).unwrap();
        assert_eq!(route, Route::RoundRobin);
        assert_eq!(framed, msg(&[b"", b"hello"]));
        r.sent_to(7).unwrap();
        assert_eq!(r.awaiting(), Some(7));
        assert_eq!(r.send(msg(&[b"again"])), Err(PatternError::AwaitingReply));
        assert_eq!(
            r.recv(7, msg(&[b"", b"world"])).unwrap(),
            Some(msg(&[b"world"]))
        );
        assert_eq!(r.check_recv(), Err(PatternError::NoRequestSent));
        assert!(r.send(msg(&[b"next"])).is_ok());
    }

    #[test]
    fn a_reply_from_another_peer_is_dropped() {
        let mut r = req(false, false);
        r.send(msg(&[b"q"])).unwrap();
        r.sent_to(1).unwrap();
        assert_eq!(r.recv(2, msg(&[b"", b"imposter"])).unwrap(), None);
        assert_eq!(r.awaiting(), Some(1), "still waiting for peer 1");
        assert_eq!(r.recv(1, msg(&[b"", b"a"])).unwrap(), Some(msg(&[b"a"])));
    }

    #[test]
    fn malformed_replies_are_dropped() {
        let mut r = req(false, false);
        r.send(msg(&[b"q"])).unwrap();
        r.sent_to(1).unwrap();
        assert_eq!(r.recv(1, msg(&[b"no delimiter"])).unwrap(), None);
        assert_eq!(r.recv(1, msg(&[b"x", b"body"])).unwrap(), None);
        assert_eq!(r.recv(1, msg(&[b""])).unwrap(), None, "nothing after it");
        assert_eq!(r.recv(1, msg(&[b"", b""])).unwrap(), Some(msg(&[b""])));
    }

    #[test]
    fn correlated_requests_carry_an_id_and_stale_ids_are_dropped() {
        let mut r = req(true, false);
        let (_, framed) = r.send(msg(&[b"q1"])).unwrap();
        assert_eq!(framed.len(), 3);
        assert_eq!(
            &framed[0][..],
            &42u32.to_be_bytes(),
            "ids count from the start"
        );
        assert!(framed[1].is_empty(), "request id first, then the delimiter");
        r.sent_to(1).unwrap();
        let stale = smallvec![
            Bytes::copy_from_slice(&41u32.to_be_bytes()),
            Bytes::new(),
            "old".into(),
        ];
        assert_eq!(r.recv(1, stale).unwrap(), None);
        assert_eq!(r.recv(1, msg(&[b"", b"no id"])).unwrap(), None);
        let good = smallvec![framed[0].clone(), Bytes::new(), "a1".into()];
        assert_eq!(r.recv(1, good).unwrap(), Some(msg(&[b"a1"])));
    }

    #[test]
    fn relaxed_abandons_the_old_request_and_drops_its_late_reply() {
        let mut r = req(true, true);
        let (_, first) = r.send(msg(&[b"q1"])).unwrap();
        r.sent_to(1).unwrap();
        let (_, second) = r.send(msg(&[b"q2"])).unwrap();
        assert_eq!(
            r.check_recv(),
            Err(PatternError::NoRequestSent),
            "not yet placed"
        );
        r.sent_to(1).unwrap();
        let late = smallvec![first[0].clone(), Bytes::new(), "a1".into()];
        assert_eq!(r.recv(1, late).unwrap(), None);
        let fresh = smallvec![second[0].clone(), Bytes::new(), "a2".into()];
        assert_eq!(r.recv(1, fresh).unwrap(), Some(msg(&[b"a2"])));

        // Without correlate, relaxed still drops the old peer's reply once another was asked.
        let mut r = req(false, true);
        r.send(msg(&[b"q1"])).unwrap();
        r.sent_to(1).unwrap();
        r.send(msg(&[b"q2"])).unwrap();
        r.sent_to(2).unwrap();
        assert_eq!(r.recv(1, msg(&[b"", b"a1"])).unwrap(), None);
        assert_eq!(r.recv(2, msg(&[b"", b"a2"])).unwrap(), Some(msg(&[b"a2"])));
    }

    #[test]
    fn misuse_changes_nothing() {
        let mut r = req(false, false);
        assert_eq!(r.send(Parts::new()), Err(PatternError::EmptyMessage));
        assert_eq!(r.sent_to(1), Err(PatternError::NoPendingSend));
        // A request the socket never placed can be replaced by the next one.
        r.send(msg(&[b"q1"])).unwrap();
        r.send(msg(&[b"q2"])).unwrap();
        r.sent_to(3).unwrap();
        assert_eq!(r.sent_to(3), Err(PatternError::NoPendingSend));
    }
}
