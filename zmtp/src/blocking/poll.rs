//! `zmq_poll` over blocking sockets: readiness from the async sockets' `readable()` and
//! `writable()`, awaited together on the context's runtime (no busy polling).

use std::future::{poll_fn, Future};
use std::ops::{BitAnd, BitOr, BitOrAssign};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use super::error::Error;
use super::socket::{Readiness, Socket};

/// The events a [`PollItem`] asks for and reports (`ZMQ_POLLIN`, …), as the zmq crate's
/// `PollEvents`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PollEvents(i16);

impl PollEvents {
    /// A receive would not wait (`ZMQ_POLLIN`).
    pub const POLLIN: PollEvents = PollEvents(1);
    /// A send would not wait (`ZMQ_POLLOUT`).
    pub const POLLOUT: PollEvents = PollEvents(2);
    /// Accepted for the zmq crate's sake; never reported (libzmq reports it for file
    /// descriptors only).
    pub const POLLERR: PollEvents = PollEvents(4);

    /// No events.
    pub const fn empty() -> PollEvents {
        PollEvents(0)
    }

    /// libzmq's bits.
    pub const fn bits(self) -> i16 {
        self.0
    }

    /// Whether no event is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every event of `other` is set.
    pub const fn contains(self, other: PollEvents) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any event of `other` is set.
    pub const fn intersects(self, other: PollEvents) -> bool {
        self.0 & other.0 != 0
    }
}

impl BitOr for PollEvents {
    type Output = PollEvents;
    fn bitor(self, other: PollEvents) -> PollEvents {
        PollEvents(self.0 | other.0)
    }
}

impl BitOrAssign for PollEvents {
    fn bitor_assign(&mut self, other: PollEvents) {
        self.0 |= other.0;
    }
}

impl BitAnd for PollEvents {
    type Output = PollEvents;
    fn bitand(self, other: PollEvents) -> PollEvents {
        PollEvents(self.0 & other.0)
    }
}

/// One socket and the events to wait for on it; [`poll`] fills in which happened. Made by
/// [`Socket::as_poll_item`].
#[derive(Debug)]
pub struct PollItem<'a> {
    socket: &'a Socket,
    events: PollEvents,
    revents: PollEvents,
}

impl<'a> PollItem<'a> {
    pub(crate) fn new(socket: &'a Socket, events: PollEvents) -> PollItem<'a> {
        PollItem {
            socket,
            events,
            revents: PollEvents::empty(),
        }
    }

    /// Changes the events to wait for.
    pub fn set_events(&mut self, events: PollEvents) {
        self.events = events;
    }

    /// The events the last [`poll`] found.
    pub fn get_revents(&self) -> PollEvents {
        self.revents
    }

    /// Whether the last [`poll`] found the socket readable.
    pub fn is_readable(&self) -> bool {
        self.revents.contains(PollEvents::POLLIN)
    }

    /// Whether the last [`poll`] found the socket writable.
    pub fn is_writable(&self) -> bool {
        self.revents.contains(PollEvents::POLLOUT)
    }

    /// Always `false` (see [`PollEvents::POLLERR`]).
    pub fn is_error(&self) -> bool {
        self.revents.contains(PollEvents::POLLERR)
    }

    /// Whether this item watches `socket`.
    pub fn has_socket(&self, socket: &Socket) -> bool {
        std::ptr::eq(self.socket, socket)
    }

    /// Looks at the socket now: fills in `revents`; says what to wait for if nothing is ready.
    fn check(&mut self, waits: &mut Vec<Pin<Box<dyn Future<Output = ()> + 'a>>>) {
        self.revents = PollEvents::empty();
        let socket: &'a Socket = self.socket;
        if self.events.contains(PollEvents::POLLIN) {
            match socket.readable_now() {
                Readiness::Ready => self.revents |= PollEvents::POLLIN,
                Readiness::Waiting => {
                    if let Some(s) = socket.existing() {
                        waits.push(Box::pin(s.readable()));
                    }
                }
                Readiness::Stuck => {}
            }
        }
        if self.events.contains(PollEvents::POLLOUT) {
            match socket.writable_now() {
                Readiness::Ready => self.revents |= PollEvents::POLLOUT,
                Readiness::Waiting => {
                    if let Some(s) = socket.existing() {
                        waits.push(Box::pin(s.writable()));
                    }
                }
                Readiness::Stuck => {}
            }
        }
    }
}

/// Waits until at least one item's events happen, or `timeout_ms` passes (`zmq_poll`): -1
/// waits for ever, 0 only looks. Returns how many items have events, each item's
/// [`get_revents`](PollItem::get_revents) saying which; 0 when the time ran out.
///
/// POLLIN is exact: a message the socket's pattern would drop (a SUB message no
/// subscription matches, a stale REQ reply) does not count, because the poller takes the
/// message it saw and the next receive returns it. A socket that cannot become ready while
/// the poller waits (not yet bound or connected, a REP owing its reply) is not waited on.
pub fn poll(items: &mut [PollItem<'_>], timeout_ms: i64) -> Result<usize, Error> {
    let deadline = match timeout_ms {
        -1 => None,
        ms if ms >= 0 => Some(tokio::time::Instant::now() + Duration::from_millis(ms as u64)),
        ms => {
            return Err(Error::OutOfRange {
                option: "poll timeout",
                value: ms,
                expected: "-1 (for ever) or 0 or more milliseconds",
            })
        }
    };
    let Some(context) = items.first().map(|item| item.socket.context().clone()) else {
        // libzmq sleeps for the timeout when given no items.
        return match timeout_ms {
            -1 => Err(Error::OutOfRange {
                option: "poll timeout",
                value: -1,
                expected: "a finite timeout when polling no items",
            }),
            ms => {
                std::thread::sleep(Duration::from_millis(ms as u64));
                Ok(0)
            }
        };
    };
    loop {
        let mut waits = Vec::new();
        for item in items.iter_mut() {
            item.check(&mut waits);
        }
        let ready = items.iter().filter(|i| !i.revents.is_empty()).count();
        if ready > 0 || timeout_ms == 0 {
            return Ok(ready);
        }
        // Whichever comes first: an item's readiness (then look again: a wake-up is a hint,
        // another receiver may have been first) or the deadline.
        let any = poll_fn(|cx| {
            for wait in waits.iter_mut() {
                if wait.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(());
                }
            }
            Poll::Pending
        });
        let woken = context.block_on(async {
            match deadline {
                Some(deadline) => tokio::time::timeout_at(deadline, any).await.is_ok(),
                None => {
                    any.await;
                    true
                }
            }
        });
        if !woken {
            for item in items.iter_mut() {
                item.revents = PollEvents::empty();
            }
            return Ok(0);
        }
    }
}
