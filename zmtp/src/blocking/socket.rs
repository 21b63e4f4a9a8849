//! A blocking socket: the zmq crate's calls over an async [`crate::Socket`] made at the first
//! bind or connect.

use std::cell::{Cell, OnceCell, RefCell};
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use zmtp_core::{Metadata, SocketType};

use super::context::Context;
use super::error::Error;
use super::message::Message;
use super::options::{self, Config};
use super::poll::{PollEvents, PollItem};
use super::{DONTWAIT, SNDMORE};
use crate::{SocketError, SocketOptions};

/// A blocking ZeroMQ socket, made by [`Context::socket`]. `Send` but not `Sync`, like the zmq
/// crate's: one thread at a time uses it.
///
/// Options are set with libzmq-named setters, each checked as it is set. The async socket
/// underneath is made from them when the socket is first used (bind, connect, send, receive,
/// proxy); after that only SNDTIMEO, RCVTIMEO, LINGER and subscriptions change, and the other
/// setters fail with [`Error::SetAfterConnect`].
///
/// Dropping the socket closes it in the background, letting queued messages go out for up to
/// LINGER (default -1: until they are sent); the context's last handle waits for that.
#[derive(Debug)]
pub struct Socket {
    context: Context,
    socket_type: SocketType,
    config: RefCell<Config>,
    /// Made from `config` when first needed; never replaced.
    socket: OnceCell<crate::Socket>,
    /// Milliseconds, libzmq's way (-1 = for ever); applied here around each call.
    sndtimeo: Cell<i32>,
    rcvtimeo: Cell<i32>,
    linger: Cell<i32>,
    /// Parts sent with SNDMORE, waiting for the last part of their message.
    outgoing: RefCell<Vec<Bytes>>,
    incoming: RefCell<Incoming>,
    last_endpoint: RefCell<String>,
}

/// The message being received part by part (or taken early by the poller).
#[derive(Debug, Default)]
struct Incoming {
    message: Option<crate::Message>,
    /// The next part of `message` to hand out.
    next: usize,
    /// `message`'s properties, shared by its frames once one was asked for.
    properties: Option<Arc<Metadata>>,
    /// `ZMQ_RCVMORE`: whether the last part handed out has more after it.
    more: bool,
}

impl Incoming {
    fn has_part(&self) -> bool {
        self.message.is_some()
    }

    fn store(&mut self, message: crate::Message) {
        debug_assert!(self.message.is_none());
        self.next = 0;
        self.properties = None;
        // Every pattern delivers at least one part; an empty message reads as one empty frame.
        self.message = Some(if message.is_empty() {
            crate::Message::new(vec![Bytes::new()])
        } else {
            message
        });
    }

    /// The next part, and whether more follow; with the message's properties if asked.
    fn take(&mut self, with_properties: bool) -> Option<Message> {
        let message = self.message.as_ref()?;
        let data = message.parts()[self.next].clone();
        self.next += 1;
        let more = self.next < message.len();
        let properties = if with_properties {
            if self.properties.is_none() {
                self.properties = message.properties().cloned().map(Arc::new);
            }
            self.properties.clone()
        } else {
            None
        };
        if !more {
            self.message = None;
        }
        self.more = more;
        Some(Message::received(data, more, properties))
    }

    /// The parts not yet handed out: the whole message, properties and all, if none was.
    fn take_rest(&mut self) -> Option<crate::Message> {
        let message = self.message.take()?;
        self.more = false;
        match self.next {
            0 => Some(message),
            next => Some(crate::Message::new(message.into_parts().split_off(next))),
        }
    }
}

/// How long an operation may wait.
enum Wait {
    /// Not at all (DONTWAIT, or a zero timeout).
    No,
    For(Duration),
    Forever,
}

impl Wait {
    fn new(dontwait: bool, timeout_ms: i32) -> Wait {
        match timeout_ms {
            _ if dontwait => Wait::No,
            0 => Wait::No,
            ms if ms > 0 => Wait::For(Duration::from_millis(ms as u64)),
            _ => Wait::Forever,
        }
    }
}

/// Whether the poller may see this socket become readable while it waits.
pub(crate) enum Readiness {
    Ready,
    /// Not yet; `readable()`/`writable()` will say when.
    Waiting,
    /// Not until the application does something (a REP owing its reply, a socket not yet
    /// bound or connected): nothing to wait for.
    Stuck,
}

impl Socket {
    pub(crate) fn new(context: Context, socket_type: SocketType, options: SocketOptions) -> Socket {
        let mut options = options;
        // The blocking layer applies the timeouts itself, so that they can change at any time.
        let sndtimeo = options::to_millis(options.sndtimeo.take(), -1);
        let rcvtimeo = options::to_millis(options.rcvtimeo.take(), -1);
        Socket {
            context,
            socket_type,
            config: RefCell::new(Config::new(socket_type, options)),
            socket: OnceCell::new(),
            sndtimeo: Cell::new(sndtimeo),
            rcvtimeo: Cell::new(rcvtimeo),
            linger: Cell::new(-1),
            outgoing: RefCell::new(Vec::new()),
            incoming: RefCell::new(Incoming::default()),
            last_endpoint: RefCell::new(String::new()),
        }
    }

    /// The async socket, made from the options set so far when first needed.
    pub(crate) fn async_socket(&self) -> Result<&crate::Socket, Error> {
        if let Some(socket) = self.socket.get() {
            return Ok(socket);
        }
        let config = self.config.borrow();
        let socket = crate::Socket::with_options(self.socket_type, config.build()?);
        for (topic, subscribe) in &config.subscriptions {
            if *subscribe {
                socket.subscribe(topic.clone())?;
            } else {
                socket.unsubscribe(topic.clone())?;
            }
        }
        Ok(self.socket.get_or_init(|| socket))
    }

    /// The async socket if it exists.
    pub(crate) fn existing(&self) -> Option<&crate::Socket> {
        self.socket.get()
    }

    pub(crate) fn context(&self) -> &Context {
        &self.context
    }

    /// Changes an option that shapes connections, refused once the async socket exists.
    pub(crate) fn configure<R>(
        &self,
        option: &'static str,
        change: impl FnOnce(&mut Config) -> Result<R, Error>,
    ) -> Result<R, Error> {
        if self.socket.get().is_some() {
            return Err(Error::SetAfterConnect { option });
        }
        change(&mut self.config.borrow_mut())
    }

    /// Reads the options (those set, or those the async socket was made with).
    pub(crate) fn config(&self) -> std::cell::Ref<'_, Config> {
        self.config.borrow()
    }

    pub(crate) fn sndtimeo_cell(&self) -> &Cell<i32> {
        &self.sndtimeo
    }

    pub(crate) fn rcvtimeo_cell(&self) -> &Cell<i32> {
        &self.rcvtimeo
    }

    pub(crate) fn linger_cell(&self) -> &Cell<i32> {
        &self.linger
    }

    /// Runs an async operation for at most `wait`. The first poll happens here, without the
    /// runtime's `block_on`: most sends and receives need no waiting.
    fn run<T>(
        &self,
        operation: impl Future<Output = Result<T, SocketError>>,
        wait: Wait,
    ) -> Result<T, Error> {
        let mut operation = pin!(operation);
        if let Some(done) = self.context.poll_once(operation.as_mut()) {
            return done.map_err(Error::from);
        }
        match wait {
            Wait::No => Err(Error::WouldBlock),
            Wait::For(limit) => self
                .context
                // The timer is made inside the runtime, which it needs.
                .block_on(async { tokio::time::timeout(limit, operation).await })
                .map_err(|_| Error::Timeout)?
                .map_err(Error::from),
            Wait::Forever => self.context.block_on(operation).map_err(Error::from),
        }
    }

    /// Accepts connections on `endpoint` (`zmq_bind`): `tcp://host:port` (`*` for any
    /// address or a free port) or `ipc://path`. [`get_last_endpoint`](Self::get_last_endpoint)
    /// then says which port was taken.
    pub fn bind(&self, endpoint: &str) -> Result<(), Error> {
        let socket = self.async_socket()?;
        let bound = self.context.block_on(socket.bind(endpoint))?;
        *self.last_endpoint.borrow_mut() = bound;
        Ok(())
    }

    /// Connects to `endpoint` in the background, reconnecting when the connection is lost
    /// (`zmq_connect`): returns before the peer answers.
    pub fn connect(&self, endpoint: &str) -> Result<(), Error> {
        let socket = self.async_socket()?;
        self.context.block_on(socket.connect(endpoint))?;
        *self.last_endpoint.borrow_mut() = endpoint.to_owned();
        Ok(())
    }

    /// Stops listening on `endpoint` and closes the connections accepted through it
    /// (`zmq_unbind`): the endpoint [`get_last_endpoint`](Self::get_last_endpoint) gave for a
    /// `*` bind.
    pub fn unbind(&self, endpoint: &str) -> Result<(), Error> {
        let socket = self.async_socket()?;
        self.context.block_on(socket.unbind(endpoint))?;
        Ok(())
    }

    /// Stops connecting to `endpoint` and closes that connection (`zmq_disconnect`).
    pub fn disconnect(&self, endpoint: &str) -> Result<(), Error> {
        let socket = self.async_socket()?;
        self.context.block_on(socket.disconnect(endpoint))?;
        Ok(())
    }

    /// `ZMQ_LAST_ENDPOINT`: the endpoint last bound (with the real port when `*` or 0 was
    /// asked for) or connected; empty before either. The inner `Err` of the zmq crate's
    /// signature (an endpoint that is not UTF-8) never happens here.
    pub fn get_last_endpoint(&self) -> Result<Result<String, Vec<u8>>, Error> {
        Ok(Ok(self.last_endpoint.borrow().clone()))
    }

    /// `ZMQ_TYPE`.
    pub fn get_socket_type(&self) -> Result<SocketType, Error> {
        Ok(self.socket_type)
    }

    /// Sends one part (`zmq_send`). With [`SNDMORE`] the part waits here for the rest of its
    /// message, which goes out whole with the first part sent without it; with [`DONTWAIT`]
    /// that last send fails with [`Error::WouldBlock`] instead of waiting. Waits for at most
    /// SNDTIMEO otherwise ([`Error::Timeout`]). When the last part fails, the whole message is
    /// discarded, so a retry starts from its first part, as after libzmq's `EAGAIN`.
    pub fn send<T: Into<Message>>(&self, data: T, flags: i32) -> Result<(), Error> {
        let (more, dontwait) = send_flags(flags)?;
        let part = data.into().into_bytes();
        let parts = {
            let mut outgoing = self.outgoing.borrow_mut();
            outgoing.push(part);
            if more {
                return Ok(());
            }
            std::mem::take(&mut *outgoing)
        };
        self.send_parts(parts, dontwait)
    }

    /// Sends every part of `parts` as one message (the last without SNDMORE unless `flags`
    /// has it, as in the zmq crate).
    pub fn send_multipart<I, T>(&self, parts: I, flags: i32) -> Result<(), Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<Message>,
    {
        let (more, dontwait) = send_flags(flags)?;
        let parts = {
            let mut outgoing = self.outgoing.borrow_mut();
            outgoing.extend(parts.into_iter().map(|p| p.into().into_bytes()));
            if more {
                return Ok(());
            }
            std::mem::take(&mut *outgoing)
        };
        if parts.is_empty() {
            return Ok(());
        }
        self.send_parts(parts, dontwait)
    }

    fn send_parts(&self, parts: Vec<Bytes>, dontwait: bool) -> Result<(), Error> {
        let socket = self.async_socket()?;
        let wait = Wait::new(dontwait, self.sndtimeo.get());
        self.run(socket.send(crate::Message::new(parts)), wait)
    }

    /// The next whole message from the async socket, waiting as the flags and RCVTIMEO say.
    fn fetch(&self, dontwait: bool) -> Result<crate::Message, Error> {
        let socket = self.async_socket()?;
        let wait = Wait::new(dontwait, self.rcvtimeo.get());
        self.run(socket.recv(), wait)
    }

    fn recv_part(&self, flags: i32, with_properties: bool) -> Result<Message, Error> {
        let dontwait = recv_flags(flags)?;
        if let Some(part) = self.incoming.borrow_mut().take(with_properties) {
            return Ok(part);
        }
        let message = self.fetch(dontwait)?;
        let mut incoming = self.incoming.borrow_mut();
        incoming.store(message);
        Ok(incoming
            .take(with_properties)
            .unwrap_or_else(|| Message::received(Bytes::new(), false, None)))
    }

    /// Receives one part into `message` (`zmq_msg_recv`); [`get_rcvmore`](Self::get_rcvmore)
    /// or [`Message::get_more`] says whether more parts of the same message follow (they are
    /// already here: only the first part of a message waits). With [`DONTWAIT`], fails with
    /// [`Error::WouldBlock`] when nothing is queued; otherwise waits for at most RCVTIMEO.
    pub fn recv(&self, message: &mut Message, flags: i32) -> Result<(), Error> {
        *message = self.recv_part(flags, true)?;
        Ok(())
    }

    /// Receives one part as a new [`Message`], with its connection's properties.
    pub fn recv_msg(&self, flags: i32) -> Result<Message, Error> {
        self.recv_part(flags, true)
    }

    /// Receives one part as bytes.
    pub fn recv_bytes(&self, flags: i32) -> Result<Vec<u8>, Error> {
        self.recv_part(flags, false).map(|m| m.to_vec())
    }

    /// Receives one part as text; the inner `Err` holds a part that is not UTF-8.
    pub fn recv_string(&self, flags: i32) -> Result<Result<String, Vec<u8>>, Error> {
        self.recv_bytes(flags)
            .map(|bytes| String::from_utf8(bytes).map_err(|e| e.into_bytes()))
    }

    /// Receives one part into `buffer` (`zmq_recv`), truncating it; returns the part's full
    /// length, which is larger than `buffer` when it was truncated.
    pub fn recv_into(&self, buffer: &mut [u8], flags: i32) -> Result<usize, Error> {
        let part = self.recv_part(flags, false)?;
        let n = part.len().min(buffer.len());
        buffer[..n].copy_from_slice(&part[..n]);
        Ok(part.len())
    }

    /// Receives a whole message, every part; after single-part receives, the parts of that
    /// message not yet taken.
    pub fn recv_multipart(&self, flags: i32) -> Result<Vec<Vec<u8>>, Error> {
        let dontwait = recv_flags(flags)?;
        let rest = self.incoming.borrow_mut().take_rest();
        let message = match rest {
            Some(message) => message,
            None => self.fetch(dontwait)?,
        };
        Ok(message.parts().iter().map(|p| p.to_vec()).collect())
    }

    /// Receives a whole message as the async API has it: its parts as [`Bytes`] (no copy) and
    /// its connection's properties. After single-part receives, the parts not yet taken
    /// (without the properties).
    pub fn recv_message(&self, flags: i32) -> Result<crate::Message, Error> {
        let dontwait = recv_flags(flags)?;
        let rest = self.incoming.borrow_mut().take_rest();
        match rest {
            Some(message) => Ok(message),
            None => self.fetch(dontwait),
        }
    }

    /// The parts of a message received in part and not yet taken (the proxy forwards them).
    pub(crate) fn take_rest(&self) -> Option<crate::Message> {
        self.incoming.borrow_mut().take_rest()
    }

    /// `ZMQ_RCVMORE`: whether the part last received has more parts after it.
    pub fn get_rcvmore(&self) -> Result<bool, Error> {
        Ok(self.incoming.borrow().more)
    }

    /// `ZMQ_EVENTS`: [`POLLIN`](super::POLLIN) when a receive would not wait,
    /// [`POLLOUT`](super::POLLOUT) when a send would not.
    pub fn get_events(&self) -> Result<PollEvents, Error> {
        let mut events = PollEvents::empty();
        if matches!(self.readable_now(), Readiness::Ready) {
            events |= PollEvents::POLLIN;
        }
        if matches!(self.writable_now(), Readiness::Ready) {
            events |= PollEvents::POLLOUT;
        }
        Ok(events)
    }

    /// An item for [`poll`](super::poll) watching `events` on this socket.
    pub fn as_poll_item(&self, events: PollEvents) -> PollItem<'_> {
        PollItem::new(self, events)
    }

    /// Waits for `events` on this socket alone, for at most `timeout_ms` (-1: for ever);
    /// returns 1 if one happened, 0 if not.
    pub fn poll(&self, events: PollEvents, timeout_ms: i64) -> Result<usize, Error> {
        super::poll(&mut [self.as_poll_item(events)], timeout_ms)
    }

    /// Whether a receive would find a part now (`ZMQ_POLLIN`). A message the async socket has
    /// queued is taken here, so that one its pattern drops (a SUB message no subscription
    /// matches, a stale REQ reply) does not count.
    pub(crate) fn readable_now(&self) -> Readiness {
        if self.incoming.borrow().has_part() {
            return Readiness::Ready;
        }
        let Some(socket) = self.socket.get() else {
            return Readiness::Stuck;
        };
        if !socket.has_message() {
            return Readiness::Waiting;
        }
        match self.context.poll_once(socket.recv()) {
            Some(Ok(message)) => {
                self.incoming.borrow_mut().store(message);
                Readiness::Ready
            }
            // The pattern refuses to receive now (a REP owing its reply): only a send helps.
            Some(Err(_)) => Readiness::Stuck,
            // Every queued message was dropped by the pattern.
            None => Readiness::Waiting,
        }
    }

    /// Whether a send would not wait (`ZMQ_POLLOUT`).
    pub(crate) fn writable_now(&self) -> Readiness {
        match self.socket.get() {
            None => Readiness::Stuck,
            Some(socket) if socket.can_send() => Readiness::Ready,
            Some(_) => Readiness::Waiting,
        }
    }
}

/// `(SNDMORE, DONTWAIT)`, refusing other bits.
fn send_flags(flags: i32) -> Result<(bool, bool), Error> {
    if flags & !(DONTWAIT | SNDMORE) != 0 {
        return Err(Error::InvalidFlags(flags));
    }
    Ok((flags & SNDMORE != 0, flags & DONTWAIT != 0))
}

/// DONTWAIT, refusing other bits.
fn recv_flags(flags: i32) -> Result<bool, Error> {
    if flags & !DONTWAIT != 0 {
        return Err(Error::InvalidFlags(flags));
    }
    Ok(flags & DONTWAIT != 0)
}

impl Drop for Socket {
    fn drop(&mut self) {
        if let Some(socket) = self.socket.take() {
            // -1: for ever, as far as tokio's timer reaches (it caps deadlines at ~2 years).
            let linger = options::millis_or_forever("ZMQ_LINGER", self.linger.get())
                .ok()
                .flatten()
                .unwrap_or(Duration::from_secs(86_400 * 365 * 30));
            self.context.linger(socket, linger);
        }
    }
}
