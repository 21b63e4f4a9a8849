//! ROUTER (RFC 28): routing ids, peer admission and addressed sends.

use std::collections::HashMap;
use std::hash::Hash;

use bytes::{BufMut, Bytes, BytesMut};

use crate::Parts;

use super::{require_parts, PatternError, Route};

/// ROUTER's options, named after libzmq's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouterOptions {
    /// `ZMQ_ROUTER_MANDATORY`: a message for an unknown routing id fails with
    /// [`PatternError::HostUnreachable`] (and a full peer should fail the send rather than drop
    /// it: see [`Router::mandatory`]) instead of being dropped.
    pub mandatory: bool,
    /// `ZMQ_ROUTER_HANDOVER`: a peer announcing a routing id already in use takes it over, and
    /// the peer that held it is to be closed.
    pub handover: bool,
    /// `ZMQ_PROBE_ROUTER`: send an empty message to each peer when it joins.
    pub probe_router: bool,
    /// The first generated routing id's number (ids are `0x00` + a big-endian u32, counting
    /// up). libzmq starts at a random value; the core takes no randomness of its own.
    pub first_generated_id: u32,
}

/// How [`Router::join`] admitted a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Join<K> {
    /// The peer is known by `routing_id` from now on (the one it announced, or a generated
    /// one when it announced none). With `probe`, send it one empty frame first.
    Accepted {
        /// Its routing id.
        routing_id: Bytes,
        /// Whether to send it an empty probe message (`ZMQ_PROBE_ROUTER`).
        probe: bool,
    },
    /// With `handover`: the peer takes over `routing_id` from `evicted`, which the socket
    /// should close (its later messages are no longer delivered and nothing reaches it).
    HandedOver {
        /// Its routing id, no longer `evicted`'s.
        routing_id: Bytes,
        /// The peer that held the routing id, to be closed.
        evicted: K,
        /// Whether to send the new peer an empty probe message.
        probe: bool,
    },
    /// The announced routing id is in use and `handover` is off: the peer is not admitted.
    /// libzmq keeps such a connection open but ignores it; the socket should close it.
    Refused {
        /// The routing id it announced.
        routing_id: Bytes,
    },
}

/// The ROUTER policy: who is known by which routing id.
///
/// Call order: [`join`](Self::join) once a peer's handshake is done (its announced
/// `Routing-Id` property, possibly empty), [`leave`](Self::leave) when it goes; in between,
/// [`recv`](Self::recv) for each of its messages and [`send`](Self::send) for the
/// application's. The policy owns the map from routing ids to peers, since admission
/// (duplicates, handover) decides it.
#[derive(Debug)]
pub struct Router<K> {
    options: RouterOptions,
    next_generated_id: u32,
    peers: HashMap<Bytes, K>,
    routing_ids: HashMap<K, Bytes>,
}

impl<K: Copy + Eq + Hash + Ord + std::fmt::Debug> Router<K> {
    /// A ROUTER with no peers.
    pub fn new(options: RouterOptions) -> Self {
        Router {
            options,
            next_generated_id: options.first_generated_id,
            peers: HashMap::new(),
            routing_ids: HashMap::new(),
        }
    }

    /// Whether `ZMQ_ROUTER_MANDATORY` is set: the socket then fails a send to a peer whose
    /// queue is full (libzmq: `EAGAIN`) instead of dropping it (RFC 28: "SHALL either silently
    /// drop the message, or return an error, depending on configuration").
    pub fn mandatory(&self) -> bool {
        self.options.mandatory
    }

    /// Admits `peer`, which announced `announced` as its routing id (empty: none). Mirrors
    /// libzmq's `router.cpp` `identify_peer`.
    pub fn join(&mut self, peer: K, announced: &[u8]) -> Join<K> {
        let probe = self.options.probe_router;
        if announced.is_empty() {
            let routing_id = self.generate_id();
            self.insert(peer, routing_id.clone());
            return Join::Accepted { routing_id, probe };
        }
        let routing_id = Bytes::copy_from_slice(announced);
        match self.peers.get(&routing_id).copied() {
            None => {
                self.insert(peer, routing_id.clone());
                Join::Accepted { routing_id, probe }
            }
            Some(_) if !self.options.handover => Join::Refused { routing_id },
            Some(evicted) => {
                // libzmq gives the old peer a generated id until it is closed; we forget it at
                // once, since nothing may be routed to it any more.
                self.routing_ids.remove(&evicted);
                self.insert(peer, routing_id.clone());
                Join::HandedOver {
                    routing_id,
                    evicted,
                    probe,
                }
            }
        }
    }

    /// `peer` went away; its routing id is free again. A peer already evicted by a handover,
    /// or never admitted, changes nothing.
    pub fn leave(&mut self, peer: K) {
        if let Some(routing_id) = self.routing_ids.remove(&peer) {
            self.peers.remove(&routing_id);
        }
    }

    /// The routing id of an admitted peer.
    pub fn routing_id(&self, peer: K) -> Option<&Bytes> {
        self.routing_ids.get(&peer)
    }

    /// The admitted peer known by `routing_id`.
    pub fn peer(&self, routing_id: &[u8]) -> Option<K> {
        self.peers.get(routing_id).copied()
    }

    /// Addresses a message: its first frame is the routing id and is removed (RFC 28: ROUTER
    /// "SHALL remove the first frame from each outgoing message and use this as the identity").
    /// An unknown id is [`PatternError::HostUnreachable`] with `mandatory`, otherwise
    /// [`Route::Drop`].
    pub fn send(&mut self, mut message: Parts) -> Result<(Route<K>, Parts), PatternError> {
        require_parts(&message)?;
        if message.len() < 2 {
            return Err(PatternError::MissingRoutingId);
        }
        let routing_id = message.remove(0);
        match self.peers.get(&routing_id) {
            Some(&peer) => Ok((Route::Peer(peer), message)),
            None if self.options.mandatory => Err(PatternError::HostUnreachable { routing_id }),
            None => Ok((Route::Drop, message)),
        }
    }

    /// A message from `peer`, with its routing id prepended (RFC 28: ROUTER "SHALL prefix each
    /// incoming message with a frame containing the identity of the originating double
    /// queue"). `None` for a peer that is not admitted (refused or evicted).
    pub fn recv(&self, peer: K, mut message: Parts) -> Option<Parts> {
        let routing_id = self.routing_ids.get(&peer)?;
        message.insert(0, routing_id.clone());
        Some(message)
    }

    fn insert(&mut self, peer: K, routing_id: Bytes) {
        if let Some(old) = self.routing_ids.insert(peer, routing_id.clone()) {
            // The same peer joining twice keeps only its newest id.
            self.peers.remove(&old);
        }
        self.peers.insert(routing_id, peer);
    }

    /// `0x00` + a big-endian u32, as libzmq generates. Unlike libzmq we skip an id a peer
    /// already announced for itself (an announced id may start with `0x00` too).
    fn generate_id(&mut self) -> Bytes {
        loop {
            let mut id = BytesMut::with_capacity(5);
            id.put_u8(0);
            id.put_u32(self.next_generated_id);
            self.next_generated_id = self.next_generated_id.wrapping_add(1);
            let id = id.freeze();
            if !self.peers.contains_key(&id) {
                return id;
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

    fn router(mandatory: bool, handover: bool) -> Router<u32> {
        Router::new(RouterOptions {
            mandatory,
            handover,
            probe_router: false,
            first_generated_id: 0x0102_0304,
        })
    }

    fn accepted(join: Join<u32>) -> Bytes {
        match join {
            Join::Accepted { routing_id, .. } => routing_id,
            other => panic!("expected Accepted, got {other:?}"),
        }
    }

    #[test]
    fn send_routes_by_first_frame_and_recv_prepends_it() {
        let mut r = router(false, false);
        assert_eq!(&accepted(r.join(1, b"alice"))[..], b"alice");
        assert_eq!(
            r.send(msg(&[b"alice", b"hi", b"there"])).unwrap(),
            (Route::Peer(1), msg(&[b"hi", b"there"]))
        );
        assert_eq!(r.recv(1, msg(&[b"yo"])), Some(msg(&[b"alice", b"yo"])));
        assert_eq!(r.recv(9, msg(&[b"yo"])), None, "not admitted");
        assert_eq!(
            r.send(msg(&[b"alice"])),
            Err(PatternError::MissingRoutingId)
        );
        assert_eq!(r.send(Parts::new()), Err(PatternError::EmptyMessage));
    }

    #[test]
    fn unknown_ids_drop_or_fail_with_mandatory() {
        let mut lax = router(false, false);
        assert_eq!(lax.send(msg(&[b"nobody", b"x"])).unwrap().0, Route::Drop);
        let mut strict = router(true, false);
        assert_eq!(
            strict.send(msg(&[b"nobody", b"x"])),
            Err(PatternError::HostUnreachable {
                routing_id: Bytes::from_static(b"nobody")
            })
        );
        assert!(strict.mandatory());
    }

    #[test]
    fn empty_announcements_get_generated_ids_counting_up() {
        let mut r = router(false, false);
        assert_eq!(&accepted(r.join(1, b""))[..], &[0, 1, 2, 3, 4]);
        assert_eq!(&accepted(r.join(2, b""))[..], &[0, 1, 2, 3, 5]);
        // An announced id that looks generated is skipped by the generator.
        assert_eq!(&accepted(r.join(3, &[0, 1, 2, 3, 6]))[..], &[0, 1, 2, 3, 6]);
        assert_eq!(&accepted(r.join(4, b""))[..], &[0, 1, 2, 3, 7]);
        assert_eq!(r.peer(&[0, 1, 2, 3, 5]), Some(2));
    }

    #[test]
    fn a_duplicate_id_is_refused_without_handover() {
        let mut r = router(false, false);
        accepted(r.join(1, b"dup"));
        assert_eq!(
            r.join(2, b"dup"),
            Join::Refused {
                routing_id: Bytes::from_static(b"dup")
            }
        );
        assert_eq!(r.send(msg(&[b"dup", b"x"])).unwrap().0, Route::Peer(1));
        assert_eq!(r.recv(2, msg(&[b"x"])), None);
        // Once the holder leaves, the id is free again.
        r.leave(1);
        accepted(r.join(2, b"dup"));
        assert_eq!(r.peer(b"dup"), Some(2));
    }

    #[test]
    fn handover_evicts_the_old_holder() {
        let mut r = router(false, true);
        accepted(r.join(1, b"dup"));
        assert_eq!(
            r.join(2, b"dup"),
            Join::HandedOver {
                routing_id: Bytes::from_static(b"dup"),
                evicted: 1,
                probe: false
            }
        );
        assert_eq!(r.send(msg(&[b"dup", b"x"])).unwrap().0, Route::Peer(2));
        assert_eq!(
            r.recv(1, msg(&[b"late"])),
            None,
            "the evicted peer is silent"
        );
        // The evicted peer's disconnect must not free the id its successor holds.
        r.leave(1);
        assert_eq!(r.peer(b"dup"), Some(2));
        assert_eq!(r.routing_id(2).map(|b| &b[..]), Some(&b"dup"[..]));
    }

    #[test]
    fn probe_router_asks_for_an_empty_message_on_join() {
        let mut r = Router::<u32>::new(RouterOptions {
            probe_router: true,
            ..RouterOptions::default()
        });
        assert!(matches!(
            r.join(1, b"a"),
            Join::Accepted { probe: true, .. }
        ));
        assert!(matches!(r.join(2, b""), Join::Accepted { probe: true, .. }));
    }
}
