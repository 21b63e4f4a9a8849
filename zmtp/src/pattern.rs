//! The socket's pattern: one of `zmtp_core::pattern`'s sans-IO policies, chosen by socket type
//! and configured from the socket's options. The socket asks it where each message goes and
//! what the application gets; the policy never waits and never touches a queue.

use bytes::Bytes;
use zmtp_core::pattern::{
    Dealer, Join, Pair, PatternError, Publisher, PublisherOptions, Pull, Push, Rep, Req,
    ReqOptions, Route, Router, RouterOptions, Subscriber, SubscriberOptions, SubscriptionChange,
    XpubVerbosity,
};
use zmtp_core::{Error, SocketType};

use crate::error::SocketError;
use crate::options::SocketOptions;
use crate::peers::PeerId;
use crate::pipe::Parts;

/// One socket type's policy. (One per socket, so the size of the largest variant is no
/// concern.)
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Pattern {
    /// The policy, and whether REQ_RELAXED is set.
    Req(Req<PeerId>, bool),
    Rep(Rep<PeerId>),
    Dealer(Dealer),
    Router(Router<PeerId>),
    Publisher(Publisher<PeerId>),
    Subscriber(Subscriber<PeerId>),
    Push(Push),
    Pull(Pull),
    Pair(Pair<PeerId>),
}

/// A peer the pattern admitted.
#[derive(Debug)]
pub(crate) struct Admitted {
    /// The routing id the peer is known by (ROUTER; empty elsewhere).
    pub(crate) routing_id: Bytes,
    /// A message to send the peer first (a PROBE_ROUTER probe, an XPUB welcome message).
    pub(crate) first: Option<Parts>,
    /// A peer whose routing id this one took (ROUTER_HANDOVER): its connection is closed.
    pub(crate) evicted: Option<PeerId>,
}

/// The socket error for what a pattern refused.
pub(crate) fn refusal(e: PatternError) -> SocketError {
    match e {
        PatternError::HostUnreachable { .. } => SocketError::HostUnreachable,
        PatternError::Unsupported {
            socket_type,
            operation,
        } => SocketError::Unsupported {
            socket_type: socket_type.as_str(),
            operation: match operation {
                zmtp_core::pattern::Operation::Send => "send",
                zmtp_core::pattern::Operation::Receive => "receive",
                _ => "subscribe",
            },
        },
        e => SocketError::Pattern(e),
    }
}

impl Pattern {
    pub(crate) fn new(socket_type: SocketType, options: &SocketOptions) -> Pattern {
        let limits = &options.limits;
        match socket_type {
            SocketType::Req => Pattern::Req(
                Req::new(ReqOptions {
                    correlate: options.req_correlate,
                    relaxed: options.req_relaxed,
                    // Any start works: the peer echoes the id back untouched.
                    first_request_id: 0x2545_F491,
                }),
                options.req_relaxed,
            ),
            SocketType::Rep => Pattern::Rep(Rep::new()),
            SocketType::Dealer => Pattern::Dealer(Dealer::new(options.probe_router)),
            SocketType::Router => Pattern::Router(Router::new(RouterOptions {
                mandatory: options.router_mandatory,
                handover: options.router_handover,
                probe_router: options.probe_router,
                // libzmq starts its generated routing ids at a random value; any start works.
                first_generated_id: 0x5A5A_0000,
            })),
            SocketType::Pub | SocketType::Xpub => {
                let mut o = PublisherOptions::new(limits);
                o.verbosity = if options.xpub_verboser {
                    XpubVerbosity::SubscribesAndCancels
                } else if options.xpub_verbose {
                    XpubVerbosity::Subscribes
                } else {
                    XpubVerbosity::Deduplicated
                };
                o.manual = options.xpub_manual;
                o.manual_last_value = options.xpub_manual_last_value;
                o.welcome_msg = options.xpub_welcome_msg.clone();
                o.nodrop = options.xpub_nodrop;
                o.invert_matching = options.invert_matching;
                Pattern::Publisher(if socket_type == SocketType::Pub {
                    Publisher::new_pub(o)
                } else {
                    Publisher::new_xpub(o)
                })
            }
            SocketType::Sub | SocketType::Xsub => {
                let mut o = SubscriberOptions::new(limits);
                // The application's own subscriptions are its business: bounded only by memory.
                o.max_subscriptions = usize::MAX;
                o.max_subscription_octets = u64::MAX;
                o.invert_matching = options.invert_matching;
                Pattern::Subscriber(if socket_type == SocketType::Sub {
                    Subscriber::new_sub(o)
                } else {
                    Subscriber::new_xsub(o)
                })
            }
            SocketType::Push => Pattern::Push(Push),
            SocketType::Pull => Pattern::Pull(Pull),
            // PAIR, and any type added later, behaves as PAIR until it has a policy of its own.
            _ => Pattern::Pair(Pair::new()),
        }
    }

    /// Where a message goes, and the message as the wire carries it.
    pub(crate) fn send(&mut self, parts: Parts) -> Result<(Route<PeerId>, Parts), PatternError> {
        match self {
            Pattern::Req(p, _) => p.send(parts),
            Pattern::Rep(p) => p.send(parts),
            Pattern::Dealer(p) => p.send(parts),
            Pattern::Router(p) => p.send(parts),
            Pattern::Publisher(p) => p.send(parts),
            Pattern::Subscriber(p) => p.send(parts),
            Pattern::Push(p) => p.send(parts),
            Pattern::Pull(p) => p.send(parts),
            Pattern::Pair(p) => p.send(parts),
        }
    }

    /// A round-robin message went to `peer` (REQ waits for that peer's reply).
    pub(crate) fn sent_to(&mut self, peer: PeerId) {
        if let Pattern::Req(p, _) = self {
            let _ = p.sent_to(peer);
        }
    }

    /// Whether a receive makes sense now (REQ before sending, REP owing a reply: libzmq's
    /// EFSM).
    pub(crate) fn check_recv(&self) -> Result<(), PatternError> {
        let never = |socket_type| PatternError::Unsupported {
            socket_type,
            operation: zmtp_core::pattern::Operation::Receive,
        };
        match self {
            Pattern::Req(p, _) => p.check_recv(),
            Pattern::Rep(p) => p.check_recv(),
            // Sockets that never receive say so at once rather than wait for ever.
            Pattern::Push(_) => Err(never(SocketType::Push)),
            _ => Ok(()),
        }
    }

    /// Whether a send is the pattern's turn (REQ: no reply awaited, unless relaxed; REP: a
    /// request to answer).
    pub(crate) fn may_send(&self) -> bool {
        match self {
            Pattern::Req(p, relaxed) => p.awaiting().is_none() || *relaxed,
            Pattern::Rep(p) => p.replying_to().is_some(),
            Pattern::Pull(_) => false,
            _ => true,
        }
    }

    /// Whether a receive is the pattern's turn (REQ: a reply awaited; REP: no reply owed).
    pub(crate) fn may_recv(&self) -> bool {
        match self {
            Pattern::Req(..) | Pattern::Rep(_) => self.check_recv().is_ok(),
            Pattern::Push(_) => false,
            _ => true,
        }
    }

    /// What the application gets of a message from `peer` (known by `routing_id` when it
    /// joined); `None` when it is dropped.
    pub(crate) fn recv(
        &mut self,
        peer: PeerId,
        routing_id: &Bytes,
        parts: Parts,
    ) -> Result<Option<Parts>, PatternError> {
        match self {
            // What a peer delivered before it left is still read, as in libzmq: ROUTER frames it
            // with the routing id the peer had, and PAIR (whose inbox only ever holds messages
            // from the peer it admitted) passes it on, whoever holds the pair now.
            Pattern::Router(p) => {
                let mut framed = parts;
                framed.insert(0, p.routing_id(peer).unwrap_or(routing_id).clone());
                Ok(Some(framed))
            }
            Pattern::Pair(_) => Ok(Some(parts)),
            Pattern::Req(p, _) => p.recv(peer, parts),
            Pattern::Rep(p) => p.recv(peer, parts),
            Pattern::Dealer(p) => p.recv(peer, parts),
            Pattern::Publisher(p) => p.recv(peer, parts),
            Pattern::Subscriber(p) => p.recv(peer, parts),
            Pattern::Push(p) => p.recv(peer, parts),
            Pattern::Pull(p) => p.recv(peer, parts),
        }
    }

    /// A peer completed its handshake, announcing `announced` as its routing id. `None`: the
    /// socket does not take it (a second PAIR peer, a ROUTER routing id in use).
    pub(crate) fn join(&mut self, peer: PeerId, announced: &[u8]) -> Option<Admitted> {
        let mut admitted = Admitted {
            routing_id: Bytes::new(),
            first: None,
            evicted: None,
        };
        match self {
            Pattern::Router(p) => {
                let probe = match p.join(peer, announced) {
                    Join::Accepted { routing_id, probe } => {
                        admitted.routing_id = routing_id;
                        probe
                    }
                    Join::HandedOver {
                        routing_id,
                        evicted,
                        probe,
                    } => {
                        admitted.routing_id = routing_id;
                        admitted.evicted = Some(evicted);
                        probe
                    }
                    Join::Refused { .. } => return None,
                };
                admitted.first = probe.then(|| smallvec::smallvec![Bytes::new()]);
            }
            Pattern::Dealer(p) => admitted.first = p.join(),
            Pattern::Publisher(p) => admitted.first = p.join(peer),
            Pattern::Pair(p) => return p.join(peer).then_some(admitted),
            _ => {}
        }
        Some(admitted)
    }

    /// A peer left; returns what the application is to hear of it (XPUB cancellations).
    pub(crate) fn leave(&mut self, peer: PeerId) -> Vec<Bytes> {
        match self {
            Pattern::Router(p) => p.leave(peer),
            Pattern::Pair(p) => p.leave(peer),
            Pattern::Publisher(p) => return p.leave(peer),
            _ => {}
        }
        Vec::new()
    }

    /// A peer subscribed or cancelled. Returns the notification for the application (XPUB),
    /// or the limit the peer went over.
    pub(crate) fn peer_subscription(
        &mut self,
        peer: PeerId,
        topic: &[u8],
        subscribe: bool,
    ) -> Result<Option<Bytes>, Error> {
        match self {
            Pattern::Publisher(p) if subscribe => p.handle_subscribe(peer, topic),
            Pattern::Publisher(p) => Ok(p.handle_cancel(peer, topic)),
            // Other types ignore subscriptions, as libzmq does.
            _ => Ok(None),
        }
    }

    /// The peers a published message with this first frame goes to.
    pub(crate) fn subscribers(&self, topic: &[u8], out: &mut Vec<PeerId>) {
        if let Pattern::Publisher(p) = self {
            p.subscribers(topic, out);
        }
    }

    /// XPUB_NODROP: wait for room rather than drop.
    pub(crate) fn nodrop(&self) -> bool {
        matches!(self, Pattern::Publisher(p) if p.nodrop())
    }

    /// The application subscribes (SUB/XSUB), or, on an XPUB_MANUAL socket, subscribes the
    /// peer whose subscription it last received.
    pub(crate) fn subscribe(
        &mut self,
        topic: &[u8],
    ) -> Result<Option<SubscriptionChange>, PatternError> {
        match self {
            Pattern::Subscriber(p) => p.subscribe(topic).map(Some),
            Pattern::Publisher(p) => p.subscribe_last(topic).map(|()| None),
            _ => Err(PatternError::Unsupported {
                socket_type: self.socket_type(),
                operation: zmtp_core::pattern::Operation::Subscribe,
            }),
        }
    }

    /// The application cancels one subscription (see [`Pattern::subscribe`]).
    pub(crate) fn unsubscribe(
        &mut self,
        topic: &[u8],
    ) -> Result<Option<SubscriptionChange>, PatternError> {
        match self {
            Pattern::Subscriber(p) => Ok(p.unsubscribe(topic)),
            Pattern::Publisher(p) => p.cancel_last(topic).map(|()| None),
            _ => Err(PatternError::Unsupported {
                socket_type: self.socket_type(),
                operation: zmtp_core::pattern::Operation::Subscribe,
            }),
        }
    }

    /// Our subscriptions, for a peer that just joined (SUB/XSUB).
    pub(crate) fn replay(&self) -> Vec<Bytes> {
        match self {
            Pattern::Subscriber(p) => p.replay().map(|c| c.topic).collect(),
            _ => Vec::new(),
        }
    }

    fn socket_type(&self) -> SocketType {
        match self {
            Pattern::Req(..) => SocketType::Req,
            Pattern::Rep(_) => SocketType::Rep,
            Pattern::Dealer(_) => SocketType::Dealer,
            Pattern::Router(_) => SocketType::Router,
            Pattern::Publisher(_) => SocketType::Xpub,
            Pattern::Subscriber(_) => SocketType::Xsub,
            Pattern::Push(_) => SocketType::Push,
            Pattern::Pull(_) => SocketType::Pull,
            Pattern::Pair(_) => SocketType::Pair,
        }
    }
}
