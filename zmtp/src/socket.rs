//! Sockets: a socket type's routing policy over the set of its connections.
//!
//! ```text
//!  Socket::send ──► pattern (round robin / routing id / subscriptions) ──► per-peer pipe
//!                                                                          (bound = SNDHWM)
//!  Socket::recv ◄── pattern (envelopes, filters) ◄── inbox, fair-queued ◄── connection tasks
//!                                                     (bound = RCVHWM per peer)
//! ```
//!
//! Connection tasks see the socket only through [`SocketLink`], implemented here by `Shared`.

use std::future::{poll_fn, Future};
use std::path::PathBuf;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use zmtp_core::pattern::Route;
use zmtp_core::{
    AuthRequest, AuthResult, Error, MonitorEvent, PeerInfo, SessionConfig, SocketType, ZapFailure,
};

use crate::admission::{Admission, Slot};
use crate::connection::{self, ConnectionEnd, Registration, SocketLink};
use crate::endpoint::{Endpoint, EndpointError, EndpointErrorKind, TcpHost};
use crate::endpoint_set::{self, Attachment, EndpointSet, Side};
use crate::error::SocketError;
use crate::message::Message;
use crate::monitor::{MonitorSink, SocketEvent};
use crate::options::SocketOptions;
use crate::pattern::{refusal, Pattern};
use crate::peers::{PeerEntry, PeerId, Peers, SubscriptionQueue};
use crate::pipe::{Delivery, Inbox, OutPipe, Parts, PushError, Received};
use crate::tcp;

/// Runs a send or a receive for at most `limit` (then [`SocketError::Timeout`]). One that
/// needs no waiting is done at its first poll, before the clock is read or a timer armed: with a
/// timeout set, that would otherwise cost more than the rest of a small message's way. So a
/// zero timeout still does whatever needs no waiting.
async fn within<T>(
    limit: Option<Duration>,
    operation: impl Future<Output = Result<T, SocketError>>,
) -> Result<T, SocketError> {
    let mut operation = pin!(operation);
    let Some(limit) = limit else {
        return operation.await;
    };
    if let Poll::Ready(done) = poll_fn(|cx| Poll::Ready(operation.as_mut().poll(cx))).await {
        return done;
    }
    tokio::time::timeout(limit, operation)
        .await
        .unwrap_or(Err(SocketError::Timeout))
}

/// State shared by a socket and its tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) socket_type: SocketType,
    pub(crate) options: SocketOptions,
    pub(crate) session_config: Arc<SessionConfig>,
    /// The pattern and the peers it routes between, under one lock (held briefly, never
    /// across an await).
    pub(crate) state: Mutex<State>,
    pub(crate) peers_changed: Notify,
    /// What the connections received, per peer (bound = RCVHWM each).
    pub(crate) inbox: Inbox,
    pub(crate) monitor: MonitorSink,
    pub(crate) shutdown: CancellationToken,
    pub(crate) tasks: TaskTracker,
    /// Accepted connections still in the handshake.
    pub(crate) admission: Admission,
    /// Whether the mechanism's housekeeping timer runs (started by the first bind or connect).
    pub(crate) housekeeping: std::sync::atomic::AtomicBool,
    /// Set by `close`: until when connections may keep flushing queued messages.
    pub(crate) linger_until: Mutex<Option<tokio::time::Instant>>,
}

impl Shared {
    pub(crate) fn linger_deadline(&self) -> Option<tokio::time::Instant> {
        *self.linger_until.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What the socket's lock guards.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) pattern: Pattern,
    pub(crate) peers: Peers,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a peer as [`SocketLink::join`] does; with `reuse`, under the id and with the
    /// pipe an earlier connection to the same endpoint had, so that what was queued for it and
    /// not yet written goes to this connection (libzmq keeps a connecting socket's pipe across
    /// reconnects), and a REQ still awaiting that peer's reply takes it from this one.
    pub(crate) fn join_reusing(
        &self,
        info: PeerInfo,
        reuse: Option<(PeerId, Arc<OutPipe>)>,
    ) -> Option<Registration> {
        let subscription_changes = Arc::new(SubscriptionQueue::default());
        let close = CancellationToken::new();
        let mut guard = self.state();
        let state = &mut *guard;
        let (id, out) = match reuse {
            Some((id, out)) => (id, out),
            None => (
                state.peers.next_id(),
                OutPipe::new(self.options.sndhwm, self.options.conflate),
            ),
        };
        let admitted = state.pattern.join(id, &info.routing_id)?;
        if let Some(evicted) = admitted.evicted {
            state.peers.close(evicted);
        }
        // Taken under the lock, so that a subscription made meanwhile reaches the new peer
        // either in this list or through its queue, never neither.
        let replay = state.pattern.replay();
        if let Some(first) = admitted.first {
            let _ = out.try_push(first);
        }
        state.peers.insert(
            id,
            PeerEntry {
                out: out.clone(),
                subscription_changes: subscription_changes.clone(),
                close: close.clone(),
                frames_unchanged: info.frames_unchanged,
            },
        );
        let room = self
            .inbox
            .attach(id, admitted.routing_id.clone(), info.properties.clone());
        drop(guard);
        self.peers_changed.notify_waiters();
        Some(Registration {
            id,
            out,
            room,
            close,
            subscription_changes,
            replay,
        })
    }

    /// A peer left; returns its pipe, still open, for the caller to close or keep.
    pub(crate) fn leave_keeping(&self, id: PeerId) -> Option<Arc<OutPipe>> {
        let (entry, notices) = {
            let mut state = self.state();
            (state.peers.remove(id), state.pattern.leave(id))
        };
        // XPUB: the application hears which topics nobody wants any more.
        if !notices.is_empty() {
            let mut batch = notices
                .into_iter()
                .map(|n| smallvec::smallvec![n])
                .collect();
            self.inbox.deliver_all(id, &mut batch);
        }
        self.inbox.detach(id);
        self.peers_changed.notify_waiters();
        entry.map(|e| e.out)
    }

    /// Moves a message into one peer's pipe. With `wait`, waits while the pipe is full
    /// (for at most the socket's send timeout, applied by the caller); without, drops it there.
    /// `Ok(false)`: the peer is gone.
    async fn push_to(&self, id: PeerId, parts: Parts, wait: bool) -> Result<bool, SocketError> {
        let mut parts = Some(parts);
        self.until_changed(|shared| {
            // The message is back in `parts` after every try that did not place it.
            let attempt = parts.take()?;
            match shared.state().peers.push_to(id, attempt) {
                None | Some(Err((PushError::Closed, _))) => Some(false),
                Some(Ok(())) => Some(true),
                Some(Err((PushError::Full, _))) if !wait => Some(true),
                Some(Err((PushError::Full, back))) => {
                    parts = Some(back);
                    None
                }
            }
        })
        .await
    }

    /// Tries `attempt` until it gives an answer, waiting between tries for a peer to join or
    /// leave or for room to be freed. The wake-up is registered before each try, so a change
    /// between a try and the wait is never missed.
    async fn until_changed<T>(
        &self,
        mut attempt: impl FnMut(&Shared) -> Option<T>,
    ) -> Result<T, SocketError> {
        loop {
            let changed = self.peers_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(answer) = attempt(self) {
                return Ok(answer);
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return Err(SocketError::Closed),
                _ = &mut changed => {}
            }
        }
    }
}

impl SocketLink for Shared {
    fn socket_type(&self) -> SocketType {
        self.socket_type
    }

    fn session_config(&self) -> &Arc<SessionConfig> {
        &self.session_config
    }

    fn emit(&self, event: MonitorEvent, value: u32, endpoint: &str) {
        self.monitor.emit(event, value, endpoint);
    }

    fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    fn linger_deadline(&self) -> Option<tokio::time::Instant> {
        Shared::linger_deadline(self)
    }

    fn authenticate(&self, request: AuthRequest) -> oneshot::Receiver<AuthResult> {
        let (tx, rx) = oneshot::channel();
        match self.options.authenticator.clone() {
            Some(auth) => {
                let timeout = self.options.zap_timeout;
                self.tasks.spawn(async move {
                    let reply = tokio::time::timeout(timeout, auth.authenticate(request))
                        .await
                        .unwrap_or(Err(ZapFailure::Unspecified));
                    let _ = tx.send(reply);
                });
            }
            // No handler: fail closed, as libzmq does for PLAIN.
            None => {
                let _ = tx.send(Err(ZapFailure::Unspecified));
            }
        }
        rx
    }

    /// Registers a peer whose handshake completed, as its pattern admits it; `None` when it
    /// does not (a second PAIR peer, a ROUTER routing id in use without ROUTER_HANDOVER).
    /// Also returns our own subscriptions (SUB/XSUB), for the connection to send the new peer
    /// first.
    fn join(&self, info: PeerInfo) -> Option<Registration> {
        self.join_reusing(info, None)
    }

    fn leave(&self, id: PeerId) {
        if let Some(out) = self.leave_keeping(id) {
            out.close();
        }
    }

    fn deliver(&self, peer: PeerId, batch: &mut std::collections::VecDeque<Parts>) -> Delivery {
        self.inbox.deliver(peer, batch)
    }

    /// A peer subscribed or cancelled (PUB/XPUB). A subscription beyond the peer's limits
    /// (`Limits::max_subscriptions`, `max_subscription_octets`) is refused with the error that
    /// ends its connection.
    fn peer_subscription(
        &self,
        id: PeerId,
        topic: Bytes,
        subscribe: bool,
    ) -> Result<Option<Parts>, Error> {
        let notice = self
            .state()
            .pattern
            .peer_subscription(id, &topic, subscribe)?;
        self.peers_changed.notify_waiters();
        // XPUB hands subscriptions to the application as `\x01topic` / `\x00topic`.
        Ok(notice.map(|n| smallvec::smallvec![n]))
    }

    fn room_freed(&self) {
        self.peers_changed.notify_waiters();
    }
}

/// An asynchronous ZeroMQ socket.
///
/// ```no_run
/// # async fn demo() -> Result<(), zmtp::SocketError> {
/// use zmtp::{Socket, SocketType};
/// let server = Socket::new(SocketType::Router);
/// let endpoint = server.bind("tcp://127.0.0.1:*").await?;
/// let client = Socket::new(SocketType::Dealer);
/// client.connect(&endpoint).await?;
/// client.send(["hello"]).await?;
/// let msg = server.recv().await?; // [routing id, "hello"]
/// server.send(vec![msg.parts()[0].clone(), "world".into()]).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Socket {
    shared: Arc<Shared>,
    /// What `bind` and `connect` started, for `unbind` and `disconnect` to end.
    endpoints: EndpointSet,
}

impl Socket {
    /// A socket with default options (NULL security). Needs a tokio runtime when it binds or
    /// connects.
    pub fn new(socket_type: SocketType) -> Socket {
        Socket::with_options(socket_type, SocketOptions::default())
    }

    /// A socket with the given options, checked with [`SocketOptions::validate`] now.
    pub fn try_with_options(
        socket_type: SocketType,
        options: SocketOptions,
    ) -> Result<Socket, SocketError> {
        options.validate()?;
        Ok(Socket::with_options(socket_type, options))
    }

    /// A socket with the given options. They are checked ([`SocketOptions::validate`]) by
    /// the first `bind` or `connect`; [`try_with_options`](Self::try_with_options) checks
    /// them at once.
    pub fn with_options(socket_type: SocketType, options: SocketOptions) -> Socket {
        let mut config = SessionConfig::new(socket_type, options.mechanism.clone());
        config.routing_id = options.routing_id.clone();
        config.limits = options.limits.clone();
        config.handshake_timeout = options.handshake_ivl;
        config.heartbeat = options.heartbeat;
        config.authenticate = options.authenticator.is_some();
        // Without enforcement, a domain alone does not make NULL or CURVE ask (libzmq's way).
        config.zap_domain = if config.authenticate || options.zap_enforce_domain {
            options.zap_domain.clone()
        } else {
            None
        };
        config.metadata = options.metadata.clone();
        let inbox = Inbox::new(options.rcvhwm, options.rcvhwm_octets, options.conflate);
        let pattern = Pattern::new(socket_type, &options);
        Socket {
            shared: Arc::new(Shared {
                socket_type,
                session_config: Arc::new(config),
                options,
                state: Mutex::new(State {
                    pattern,
                    peers: Peers::default(),
                }),
                peers_changed: Notify::new(),
                inbox,
                monitor: MonitorSink::default(),
                shutdown: CancellationToken::new(),
                tasks: TaskTracker::new(),
                admission: Admission::default(),
                housekeeping: std::sync::atomic::AtomicBool::new(false),
                linger_until: Mutex::new(None),
            }),
            endpoints: EndpointSet::default(),
        }
    }

    /// The state its connection tasks share (driver tests run a connection by hand).
    #[cfg(test)]
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The socket type.
    pub fn socket_type(&self) -> SocketType {
        self.shared.socket_type
    }

    /// The options the socket was built with.
    pub fn options(&self) -> &SocketOptions {
        &self.shared.options
    }

    /// Starts delivering monitor events (libzmq's `zmq_socket_monitor`). Events are dropped when
    /// the receiver falls `capacity` behind.
    pub fn monitor(&self, capacity: usize) -> mpsc::Receiver<SocketEvent> {
        self.shared.monitor.attach(capacity)
    }

    /// Number of peers whose handshake completed and that are still connected.
    pub fn peer_count(&self) -> usize {
        self.shared.state().peers.len()
    }

    /// Accepted connections whose handshake is still in progress (bounded by
    /// [`SocketOptions::max_handshakes`]).
    pub fn handshakes_in_progress(&self) -> usize {
        self.shared.admission.in_handshake()
    }

    /// Waits until at least `n` peers are connected, or `timeout` passes.
    pub async fn wait_for_peers(&self, n: usize, timeout: Duration) -> Result<(), SocketError> {
        tokio::time::timeout(timeout, async {
            loop {
                let changed = self.shared.peers_changed.notified();
                if self.peer_count() >= n {
                    return;
                }
                changed.await;
            }
        })
        .await
        .map_err(|_| SocketError::Timeout)
    }

    /// PUB/XPUB: waits until at least `n` peers hold a subscription that `topic` matches (that
    /// is a prefix of it: the empty topic matches only subscriptions to everything), or
    /// `timeout` passes.
    ///
    /// A subscriber's SUBSCRIBE commands arrive just after its handshake, so a publisher that
    /// sends as soon as [`wait_for_peers`](Self::wait_for_peers) returns usually loses the
    /// first messages (ZeroMQ's "slow joiner"); this waits for the subscriptions themselves.
    /// Pass the first frame of the first message to be published: a subscription to some other
    /// topic would not receive it.
    pub async fn wait_for_subscribers(
        &self,
        n: usize,
        topic: &[u8],
        timeout: Duration,
    ) -> Result<(), SocketError> {
        if !matches!(self.shared.socket_type, SocketType::Pub | SocketType::Xpub) {
            return Err(SocketError::Unsupported {
                socket_type: self.shared.socket_type.as_str(),
                operation: "wait_for_subscribers",
            });
        }
        tokio::time::timeout(timeout, async {
            loop {
                let changed = self.shared.peers_changed.notified();
                let mut matched = Vec::new();
                self.shared.state().pattern.subscribers(topic, &mut matched);
                if matched.len() >= n {
                    return;
                }
                changed.await;
            }
        })
        .await
        .map_err(|_| SocketError::Timeout)
    }

    /// Binds and accepts connections in the background. Returns the bound endpoint, with the
    /// real port when `*` or 0 was asked for.
    pub async fn bind(&self, endpoint: &str) -> Result<String, SocketError> {
        self.shared.options.validate()?;
        self.start_housekeeping();
        match endpoint.parse::<Endpoint>()? {
            Endpoint::Tcp {
                source: Some(_), ..
            } => Err(EndpointError::new(endpoint, EndpointErrorKind::SourceOnBind).into()),
            Endpoint::Tcp {
                host,
                port,
                source: None,
            } => self.bind_tcp(endpoint, &host, port).await,
            Endpoint::Ipc(path) => self.bind_ipc(endpoint, path).await,
            Endpoint::Inproc(name) => {
                crate::inproc::bind(&self.shared, &name, endpoint)?;
                Ok(endpoint.to_owned())
            }
        }
    }

    /// Runs the mechanism's maintenance on the times it asks for (a CURVE server drops and
    /// wipes expired cookie keys even when no client comes), until the socket closes.
    fn start_housekeeping(&self) {
        use std::sync::atomic::Ordering;
        if self.shared.housekeeping.swap(true, Ordering::AcqRel) {
            return;
        }
        let shared = self.shared.clone();
        self.shared.tasks.spawn(async move {
            let mechanism = shared.options.mechanism.clone();
            while let Some(next) = mechanism.housekeeping(std::time::Instant::now()) {
                tokio::select! {
                    _ = shared.shutdown.cancelled() => return,
                    _ = tokio::time::sleep_until(tokio::time::Instant::from_std(next)) => {}
                }
            }
        });
    }

    /// `*` and host names resolve as [`SocketOptions::ipv6`] says (see `tcp::resolve`); the
    /// first address that binds is used. The bound endpoint names the real address and port
    /// (`tcp://[::]:5555` for a dual-stack `*`), as libzmq's ZMQ_LAST_ENDPOINT.
    async fn bind_tcp(
        &self,
        asked: &str,
        host: &TcpHost,
        port: u16,
    ) -> Result<String, SocketError> {
        let shared = &self.shared;
        let io_err = |source| SocketError::Io {
            endpoint: asked.to_owned(),
            source,
        };
        let ipv6 = shared.options.ipv6;
        let listening = async {
            let mut last = None;
            for addr in tcp::resolve(host, port, ipv6).await? {
                match tcp::listen(addr, &shared.options) {
                    Ok(listener) => return Ok(listener),
                    Err(e) => last = Some(e),
                }
            }
            Err(last.unwrap_or_else(|| std::io::ErrorKind::AddrNotAvailable.into()))
        };
        let listener = match listening.await {
            Ok(l) => l,
            Err(source) => {
                shared
                    .monitor
                    .emit(MonitorEvent::BindFailed, errno_value(&source), asked);
                return Err(io_err(source));
            }
        };
        let local = listener.local_addr().map_err(io_err)?;
        let bound = Endpoint::Tcp {
            host: TcpHost::Ip(local.ip()),
            port: local.port(),
            source: None,
        }
        .to_string();
        let listener_fd = fd_value(&listener);
        shared
            .monitor
            .emit(MonitorEvent::Listening, listener_fd, &bound);
        let attachment = Attachment::new(shared);
        let stop = attachment.stop.clone();
        let tracker = attachment.tracker();
        let shared2 = shared.clone();
        let bound2 = bound.clone();
        let tracker2 = tracker.clone();
        endpoint_set::spawn(shared, &tracker, async move {
            loop {
                let accepted = tokio::select! {
                    _ = stop.cancelled() => break,
                    a = listener.accept() => a,
                };
                match accepted {
                    Ok((stream, peer)) => {
                        let Some(slot) = admit(&shared2, Some(peer.ip()), &bound2) else {
                            drop(stream);
                            continue;
                        };
                        // libzmq's `tcp_listener_t::accept`: a socket that cannot be tuned is
                        // closed, without ACCEPTED.
                        if let Err(e) = tcp::tune(&stream, &shared2.options) {
                            tracing::debug!(endpoint = %bound2, error = %e, "accepted socket not tuned");
                            continue;
                        }
                        let fd = fd_value(&stream);
                        shared2.monitor.emit(MonitorEvent::Accepted, fd, &bound2);
                        let (rd, wr) = stream.into_split();
                        // libzmq's listener owns the sessions it accepted (`launch_child`), so
                        // `zmq_unbind` ends them with it: they see its stop as their shutdown.
                        let link = endpoint_set::link(&shared2, &stop, None);
                        let s = shared2.clone();
                        let ep = bound2.clone();
                        let stop2 = stop.clone();
                        endpoint_set::spawn(&shared2, &tracker2, async move {
                            let end = connection::run(
                                link,
                                rd,
                                wr,
                                peer.to_string(),
                                ep.clone(),
                                Some(slot),
                            )
                            .await;
                            // Ended by unbind or close: libzmq terminates such a connection
                            // without DISCONNECTED (only `stream_engine_base_t::error` emits it).
                            if !stop2.is_cancelled() {
                                report_end(&s, &end, &ep, fd);
                            }
                        });
                    }
                    Err(e) => {
                        shared2
                            .monitor
                            .emit(MonitorEvent::AcceptFailed, errno_value(&e), &bound2);
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            // The port is free again before anyone hears it was closed.
            drop(listener);
            shared2
                .monitor
                .emit(MonitorEvent::Closed, listener_fd, &bound2);
        });
        self.endpoints
            .insert(Side::Bound, bound.clone(), attachment);
        Ok(bound)
    }

    #[cfg(unix)]
    async fn bind_ipc(&self, asked: &str, path: PathBuf) -> Result<String, SocketError> {
        let shared = &self.shared;
        let io_err = |source| SocketError::Io {
            endpoint: asked.to_owned(),
            source,
        };
        // libzmq removes a stale socket file before binding; so do we.
        let _ = std::fs::remove_file(&path);
        let listener = tcp::listen_ipc(&path, &shared.options).map_err(io_err)?;
        let bound = asked.to_owned();
        let listener_fd = fd_value(&listener);
        shared
            .monitor
            .emit(MonitorEvent::Listening, listener_fd, &bound);
        let attachment = Attachment::new(shared);
        let stop = attachment.stop.clone();
        let tracker = attachment.tracker();
        let tracker2 = tracker.clone();
        let shared2 = shared.clone();
        let bound2 = bound.clone();
        endpoint_set::spawn(shared, &tracker, async move {
            loop {
                let accepted = tokio::select! {
                    _ = stop.cancelled() => break,
                    a = listener.accept() => a,
                };
                if let Ok((stream, _)) = accepted {
                    let Some(slot) = admit(&shared2, None, &bound2) else {
                        continue;
                    };
                    let fd = fd_value(&stream);
                    shared2.monitor.emit(MonitorEvent::Accepted, fd, &bound2);
                    let (rd, wr) = stream.into_split();
                    let link = endpoint_set::link(&shared2, &stop, None);
                    let s = shared2.clone();
                    let ep = bound2.clone();
                    let stop2 = stop.clone();
                    endpoint_set::spawn(&shared2, &tracker2, async move {
                        let end =
                            connection::run(link, rd, wr, String::new(), ep.clone(), Some(slot))
                                .await;
                        if !stop2.is_cancelled() {
                            report_end(&s, &end, &ep, fd);
                        }
                    });
                }
            }
            drop(listener);
            let _ = std::fs::remove_file(&path);
            // libzmq's `stream_listener_base_t::close` emits CLOSED for every listener.
            shared2
                .monitor
                .emit(MonitorEvent::Closed, listener_fd, &bound2);
        });
        self.endpoints
            .insert(Side::Bound, bound.clone(), attachment);
        Ok(bound)
    }

    #[cfg(not(unix))]
    async fn bind_ipc(&self, _asked: &str, _path: PathBuf) -> Result<String, SocketError> {
        Err(SocketError::Config("ipc:// needs a Unix platform".into()))
    }

    /// Connects in the background, reconnecting after a lost connection (with backoff up to
    /// `reconnect_ivl_max`). A connection the peer refused (ERROR, failed authentication or a
    /// protocol error) is not retried with the same credentials.
    pub async fn connect(&self, endpoint: &str) -> Result<(), SocketError> {
        self.shared.options.validate()?;
        let parsed: Endpoint = endpoint.parse()?;
        if let Endpoint::Tcp { host, port, .. } = &parsed {
            // libzmq refuses `*` for a connect's host and port (`ip_resolver.cpp`: a `*` port
            // only when bindable). Port 0 too here: libzmq would try to reach it for ever.
            if *host == TcpHost::Any || *port == 0 {
                let reason = EndpointErrorKind::WildcardOnConnect;
                return Err(EndpointError::new(endpoint, reason).into());
            }
        }
        self.start_housekeeping();
        if let Endpoint::Inproc(name) = &parsed {
            crate::inproc::connect(&self.shared, name);
            return Ok(());
        }
        let attachment = Attachment::new(&self.shared);
        let stop = attachment.stop.clone();
        let shared = self.shared.clone();
        let ep = endpoint.to_owned();
        endpoint_set::spawn(&self.shared, &attachment.tracker(), async move {
            let mut backoff = Backoff::new(&shared.options);
            // The peer's pipe between connections: what was queued survives a reconnect.
            let carry = endpoint_set::Carry::default();
            loop {
                // The connection task watches for shutdown itself (to linger), so only the
                // connect phase inside `connect_once` is raced against it.
                if stop.is_cancelled() {
                    return;
                }
                let outcome = connect_once(&shared, &stop, &parsed, &ep, &carry).await;
                // Disconnected or closed: no retry, and nothing more to report.
                if stop.is_cancelled() {
                    return;
                }
                match outcome {
                    Some(end) if !should_retry(&end.error) => {
                        tracing::info!(endpoint = %ep, error = %end.error, "not reconnecting");
                        return;
                    }
                    Some(end) if end.handshake_done => backoff.reset(),
                    _ => {}
                }
                // As libzmq's `add_reconnect_timer`: the event carries the wait itself.
                let delay = backoff.next_delay();
                let ms = u32::try_from(delay.as_millis()).unwrap_or(u32::MAX);
                shared.monitor.emit(MonitorEvent::ConnectRetried, ms, &ep);
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        });
        self.endpoints
            .insert(Side::Connected, endpoint.to_owned(), attachment);
        Ok(())
    }

    /// Stops listening on `endpoint` and closes the connections accepted through it
    /// (zmq_unbind(3); libzmq's listener owns the sessions it accepted and ends them with
    /// itself). Returns once the listener is closed, so the address can be bound again, and
    /// those connections have left the socket.
    ///
    /// `endpoint` is the one [`bind`](Self::bind) returned, or any that resolves to the same
    /// address and port (`tcp://localhost:5555` for `tcp://127.0.0.1:5555`), as libzmq's
    /// `resolve_tcp_addr`. After a bind with a `*` host or port only the returned endpoint
    /// names it, as zmq_unbind(3) says; any other fails with [`SocketError::NotBound`]
    /// (libzmq's ENOENT).
    ///
    /// Monitor events as libzmq's: CLOSED for the listener; none for the connections it
    /// ends (libzmq emits DISCONNECTED only for a connection that failed). Messages still queued
    /// for those peers are dropped (this crate has no ZMQ_LINGER outside `close`); what they
    /// sent before stays readable, as zmq_unbind(3) allows.
    pub async fn unbind(&self, endpoint: &str) -> Result<(), SocketError> {
        let parsed: Endpoint = endpoint.parse()?;
        if let Endpoint::Inproc(_) = parsed {
            return Err(SocketError::TransportUnsupported {
                endpoint: endpoint.to_owned(),
                operation: "unbind",
            });
        }
        let ipv6 = self.shared.options.ipv6;
        let found = (self.endpoints)
            .take_named(Side::Bound, endpoint, &parsed, ipv6)
            .await;
        if found.is_empty() {
            return Err(SocketError::NotBound {
                endpoint: endpoint.to_owned(),
            });
        }
        for attachment in found {
            attachment.end().await;
        }
        Ok(())
    }

    /// Stops connecting to `endpoint`: ends its reconnect loop and closes its connection
    /// (zmq_disconnect(3)). Returns once the connection has left the socket. `endpoint` is the
    /// string given to [`connect`](Self::connect), or one that parses or resolves to the same
    /// (libzmq's `resolve_tcp_addr`); every connect to it ends. Otherwise
    /// [`SocketError::NotConnected`] (libzmq's ENOENT).
    ///
    /// Monitor events as libzmq's: CLOSED if a connect attempt was in flight (libzmq's
    /// connecter closes its socket), none for an established connection. Messages still queued
    /// for that peer are dropped, as with a zero ZMQ_LINGER.
    pub async fn disconnect(&self, endpoint: &str) -> Result<(), SocketError> {
        let parsed: Endpoint = endpoint.parse()?;
        if let Endpoint::Inproc(_) = parsed {
            return Err(SocketError::TransportUnsupported {
                endpoint: endpoint.to_owned(),
                operation: "disconnect",
            });
        }
        let ipv6 = self.shared.options.ipv6;
        let found = (self.endpoints)
            .take_named(Side::Connected, endpoint, &parsed, ipv6)
            .await;
        if found.is_empty() {
            return Err(SocketError::NotConnected {
                endpoint: endpoint.to_owned(),
            });
        }
        for attachment in found {
            attachment.end().await;
        }
        Ok(())
    }

    /// Sends a message according to the socket type. Waits while the chosen peer's queue is at
    /// its high-water mark, and (for PUSH, DEALER, PAIR, REQ) while no peer is connected, for at
    /// most [`SocketOptions::sndtimeo`] (then [`SocketError::Timeout`], with nothing sent).
    pub async fn send(&self, message: impl Into<Message>) -> Result<(), SocketError> {
        let message = message.into();
        match self.shared.options.sndtimeo {
            None => self.send_now(message).await,
            limit => within(limit, self.send_now(message)).await,
        }
    }

    async fn send_now(&self, message: Message) -> Result<(), SocketError> {
        let shared = &self.shared;
        let parts = message.into_frames();
        let (route, parts) = match shared.socket_type {
            // Nothing to decide: the common case takes no pattern lock.
            SocketType::Push | SocketType::Dealer if !parts.is_empty() => {
                (Route::RoundRobin, parts)
            }
            _ => shared.state().pattern.send(parts).map_err(refusal)?,
        };
        if shared.socket_type == SocketType::Req {
            // A new request: replies still queued answer earlier ones (a relaxed REQ's
            // abandoned request, a peer that answered twice), and libzmq drops them too.
            shared.inbox.discard_all();
        }
        match route {
            Route::RoundRobin => {
                let peer = self.send_round_robin(parts).await?;
                if shared.socket_type == SocketType::Req {
                    shared.state().pattern.sent_to(peer);
                    // Pollers see REQ's turn change.
                    shared.peers_changed.notify_waiters();
                }
                Ok(())
            }
            Route::Peer(peer) => {
                if shared.socket_type == SocketType::Rep {
                    // Pollers see REP's turn change.
                    shared.peers_changed.notify_waiters();
                }
                // ROUTER_MANDATORY and XPUB_NODROP wait for room; otherwise a peer at its
                // high-water mark misses the message, as in libzmq (REP replies included).
                let mandatory =
                    shared.options.router_mandatory && shared.socket_type == SocketType::Router;
                let wait = mandatory || shared.options.xpub_nodrop;
                match shared.push_to(peer, parts, wait).await? {
                    false if mandatory => Err(SocketError::HostUnreachable),
                    _ => Ok(()),
                }
            }
            Route::Subscribers => self.publish(parts).await,
            Route::All => {
                shared.state().peers.push_all(&parts);
                Ok(())
            }
            Route::Subscription(change) => {
                self.tell_peers(change.topic, change.subscribe);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// PUB/XPUB: the message goes to every matching peer with room, or, with XPUB_NODROP, waits
    /// until every matching peer has room.
    async fn publish(&self, parts: Parts) -> Result<(), SocketError> {
        let mut matched = Vec::new();
        self.shared
            .until_changed(|shared| {
                let state = shared.state();
                matched.clear();
                state.pattern.subscribers(&parts[0], &mut matched);
                let go = !state.pattern.nodrop() || state.peers.all_have_room(&matched);
                go.then(|| state.peers.push_each(&matched, &parts))
            })
            .await
    }

    async fn send_round_robin(&self, parts: Parts) -> Result<PeerId, SocketError> {
        let shared = &self.shared;
        // The common case takes one lock and no wake-up registration.
        let mut parts = match shared.state().peers.push_round_robin(parts) {
            Ok(id) => return Ok(id),
            Err(back) => Some(back),
        };
        shared
            .until_changed(|shared| {
                let attempt = parts.take()?;
                match shared.state().peers.push_round_robin(attempt) {
                    Ok(id) => Some(id),
                    Err(back) => {
                        parts = Some(back);
                        None
                    }
                }
            })
            .await
    }

    /// Receives the next message according to the socket type. ROUTER messages start with the
    /// sender's routing id; REQ and REP strip their envelopes. Waits for at most
    /// [`SocketOptions::rcvtimeo`] (then [`SocketError::Timeout`]).
    pub async fn recv(&self) -> Result<Message, SocketError> {
        match self.shared.options.rcvtimeo {
            None => self.recv_now().await,
            limit => within(limit, self.recv_now()).await,
        }
    }

    async fn recv_now(&self) -> Result<Message, SocketError> {
        let shared = &self.shared;
        // Sockets that never receive say so at once rather than wait for ever.
        if matches!(shared.socket_type, SocketType::Push | SocketType::Pub) {
            return Err(SocketError::Unsupported {
                socket_type: shared.socket_type.as_str(),
                operation: "receive",
            });
        }
        // Types with nothing to decide on receipt take no pattern lock.
        let passthrough = matches!(shared.socket_type, SocketType::Pull | SocketType::Dealer);
        if !passthrough {
            shared.state().pattern.check_recv().map_err(refusal)?;
        }
        loop {
            // The common case takes one lock and registers no wake-up.
            let received = match shared.inbox.try_recv() {
                Some(r) => r,
                None => tokio::select! {
                    _ = shared.shutdown.cancelled() => return Err(SocketError::Closed),
                    r = shared.inbox.recv() => r,
                },
            };
            let Received {
                peer,
                routing_id,
                parts,
                properties,
            } = received;
            let parts = if passthrough {
                parts
            } else {
                // `None`: the pattern drops it (a reply from a peer not asked, a SUB message
                // no subscription matches, a malformed envelope).
                let mut state = shared.state();
                match state
                    .pattern
                    .recv(peer, &routing_id, parts)
                    .map_err(refusal)?
                {
                    Some(parts) => parts,
                    None => continue,
                }
            };
            if matches!(shared.socket_type, SocketType::Req | SocketType::Rep) {
                // Pollers see the turn change.
                shared.peers_changed.notify_waiters();
            }
            return Ok(Message::with_properties(parts, properties));
        }
    }

    /// Whether a message waits to be received (`ZMQ_POLLIN`), and the pattern would take one
    /// now (not a REQ before its request, nor a REP that owes a reply). A SUB or REQ may still
    /// drop it (no subscription matches, not the awaited reply), so a `recv` after `true` can
    /// wait.
    pub fn has_message(&self) -> bool {
        self.shared.inbox.has_message() && self.shared.state().pattern.may_recv()
    }

    /// Waits until [`has_message`](Self::has_message) would say so.
    pub async fn readable(&self) {
        loop {
            // The pattern's state changes with our own sends (REQ/REP), which notify this.
            let changed = self.shared.peers_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.has_message() {
                return;
            }
            if self.shared.state().pattern.may_recv() {
                tokio::select! {
                    _ = self.shared.inbox.readable() => {}
                    _ = &mut changed => {}
                }
            } else {
                changed.await;
            }
        }
    }

    /// Whether a `send` would not wait (`ZMQ_POLLOUT`): the pattern would send now (not a REQ
    /// awaiting its reply without REQ_RELAXED, nor a REP with no request to answer) and some
    /// peer has room for the next message (PUB, XPUB, XSUB and ROUTER never wait).
    pub fn can_send(&self) -> bool {
        let state = self.shared.state();
        if !state.pattern.may_send() {
            return false;
        }
        match self.shared.socket_type {
            SocketType::Pub | SocketType::Xpub | SocketType::Xsub | SocketType::Router => true,
            SocketType::Pull | SocketType::Sub => false,
            SocketType::Rep => true,
            _ => state.peers.any_has_room(),
        }
    }

    /// Waits until [`can_send`](Self::can_send) would say so (for ever on PULL and SUB).
    pub async fn writable(&self) {
        loop {
            let changed = self.shared.peers_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.can_send() {
                return;
            }
            changed.await;
        }
    }

    /// SUB/XSUB: subscribe to messages whose first frame starts with `topic` (empty = all).
    /// On an XPUB with `xpub_manual`: subscribe the peer whose subscription was last received.
    pub fn subscribe(&self, topic: impl Into<Bytes>) -> Result<(), SocketError> {
        let topic = topic.into();
        let change = self
            .shared
            .state()
            .pattern
            .subscribe(&topic)
            .map_err(refusal)?;
        if let Some(change) = change {
            self.tell_peers(change.topic, true);
        }
        self.shared.peers_changed.notify_waiters();
        Ok(())
    }

    /// SUB/XSUB: remove one subscription to `topic` (XPUB with `xpub_manual`: cancel it for the
    /// peer last heard from).
    pub fn unsubscribe(&self, topic: impl Into<Bytes>) -> Result<(), SocketError> {
        let topic = topic.into();
        let change = self
            .shared
            .state()
            .pattern
            .unsubscribe(&topic)
            .map_err(refusal)?;
        if let Some(change) = change {
            self.tell_peers(change.topic, false);
        }
        self.shared.peers_changed.notify_waiters();
        Ok(())
    }

    /// Our subscription change goes to every peer, through its own queue.
    fn tell_peers(&self, topic: Bytes, subscribe: bool) {
        for queue in self.shared.state().peers.subscription_queues() {
            queue.push(topic.clone(), subscribe);
        }
    }

    /// Closes the socket (libzmq's `ZMQ_LINGER`): stops listening and connecting, lets every
    /// connection write the messages already queued for it for up to `linger`, then ends them.
    /// Dropping a socket instead ends its connections at once.
    pub async fn close(self, linger: Duration) {
        *self
            .shared
            .linger_until
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(tokio::time::Instant::now() + linger);
        self.shared.shutdown.cancel();
        self.shared.tasks.close();
        let _ = tokio::time::timeout(linger, self.shared.tasks.wait()).await;
        self.shared.monitor.stop();
    }
}

impl Drop for Socket {
    /// Ends the socket's connections; with [`SocketOptions::linger`], they first write what is
    /// already queued for up to that long, in the background.
    fn drop(&mut self) {
        let linger = self.shared.options.linger;
        if !linger.is_zero() {
            let mut until = self
                .shared
                .linger_until
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if until.is_none() {
                *until = Some(tokio::time::Instant::now() + linger);
            }
        }
        self.shared.shutdown.cancel();
        // The monitor hears MONITOR_STOPPED once the tasks reported their last events.
        let shared = self.shared.clone();
        shared.tasks.close();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    shared.tasks.wait().await;
                    shared.monitor.stop();
                });
            }
            Err(_) => shared.monitor.stop(),
        }
    }
}

/// One connect attempt and, when it succeeds, the connection to its end. `stop` is the
/// connect's own token (a child of the socket's shutdown): `disconnect` cancels it.
async fn connect_once(
    shared: &Arc<Shared>,
    stop: &CancellationToken,
    endpoint: &Endpoint,
    ep: &str,
    carry: &endpoint_set::Carry,
) -> Option<ConnectionEnd> {
    match endpoint {
        Endpoint::Tcp { host, port, source } => {
            let connecting = async {
                let addrs = tcp::resolve(host, *port, shared.options.ipv6).await?;
                tcp::connect(&addrs, source.as_ref(), &shared.options).await
            };
            let connected = tokio::select! {
                _ = stop.cancelled() => {
                    closed_while_connecting(shared, ep);
                    return None;
                }
                c = connecting => c,
            };
            match connected {
                Ok(stream) => {
                    let peer = stream
                        .peer_addr()
                        .map(|a| a.to_string())
                        .unwrap_or_default();
                    let fd = fd_value(&stream);
                    shared.monitor.emit(MonitorEvent::Connected, fd, ep);
                    let (rd, wr) = stream.into_split();
                    let link = endpoint_set::link(shared, stop, Some(carry.clone()));
                    let end = connection::run(link, rd, wr, peer, ep.to_owned(), None).await;
                    // Ended by disconnect or close: no DISCONNECTED, as libzmq.
                    if !stop.is_cancelled() {
                        report_end(shared, &end, ep, fd);
                    }
                    Some(end)
                }
                Err(e) => {
                    tracing::debug!(endpoint = %ep, error = %e, "connect failed");
                    shared.monitor.emit(MonitorEvent::ConnectDelayed, 0, ep);
                    // libzmq's connect timer closes the socket it was connecting (CLOSED)
                    // before it arms the reconnect timer (`tcp_connecter_t::timer_event`).
                    if let tcp::ConnectError::TimedOut(_) = e {
                        shared.monitor.emit(MonitorEvent::Closed, 0, ep);
                    }
                    None
                }
            }
        }
        #[cfg(unix)]
        Endpoint::Ipc(path) => match tokio::select! {
            _ = stop.cancelled() => {
                closed_while_connecting(shared, ep);
                return None;
            }
            c = tokio::net::UnixStream::connect(path) => c,
        } {
            Ok(stream) => {
                let fd = fd_value(&stream);
                shared.monitor.emit(MonitorEvent::Connected, fd, ep);
                let (rd, wr) = stream.into_split();
                let link = endpoint_set::link(shared, stop, Some(carry.clone()));
                let end = connection::run(link, rd, wr, String::new(), ep.to_owned(), None).await;
                if !stop.is_cancelled() {
                    report_end(shared, &end, ep, fd);
                }
                Some(end)
            }
            Err(_) => {
                shared.monitor.emit(MonitorEvent::ConnectDelayed, 0, ep);
                None
            }
        },
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// The waits between connect attempts, as libzmq 4.3.4's `get_new_reconnect_ivl`: the current
/// interval plus a jitter uniform in `[0, reconnect_ivl)`; the current interval starts at
/// `reconnect_ivl` and, with `reconnect_ivl_max`, doubles after each wait up to it.
#[derive(Debug)]
struct Backoff {
    base: Duration,
    max: Option<Duration>,
    current: Duration,
}

impl Backoff {
    fn new(options: &SocketOptions) -> Backoff {
        Backoff {
            base: options.reconnect_ivl,
            max: options.reconnect_ivl_max,
            current: options.reconnect_ivl,
        }
    }

    /// A connection completed its handshake: the next loss waits the base interval again.
    fn reset(&mut self) {
        self.current = self.base;
    }

    fn next_delay(&mut self) -> Duration {
        let delay = self.current + jitter(self.base);
        if let Some(max) = self.max {
            self.current = self.current.saturating_mul(2).min(max);
        }
        delay
    }
}

/// Uniform in `[0, below)` (zero for zero), from the OS generator. The modulo's bias is below
/// 2^-32 for any interval `validate` admits.
fn jitter(below: Duration) -> Duration {
    use rand_core::RngCore;
    let nanos = u64::try_from(below.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(rand_core::OsRng.next_u64() % nanos)
}

/// `disconnect` during a connect attempt: libzmq's connecter closes the socket it was
/// connecting and emits CLOSED (`stream_connecter_base_t::close`). Not on socket close, whose
/// teardown reports nothing per connection here.
fn closed_while_connecting(shared: &Shared, ep: &str) {
    if !shared.shutdown.is_cancelled() {
        shared.monitor.emit(MonitorEvent::Closed, 0, ep);
    }
}

/// Whether a client should reconnect after this failure.
///
/// Not after the peer refused us (an ERROR command: libzmq servers send one for a ZAP denial)
/// or our own authenticator refused the peer: the same credentials would be refused again. Every
/// other failure (transport errors, timeouts, a protocol or MAC failure, a limit) may be the
/// work of one injected packet or a peer restarting, which a new connection cures, so it is
/// retried with the usual backoff. Refusing to retry after those, as this did before, let one
/// forged frame cut a client off for good.
fn should_retry(error: &Error) -> bool {
    !matches!(error, Error::PeerRefused { .. } | Error::AuthFailed { .. })
}

/// Takes a handshake slot for a connection accepted from `address`, or refuses it.
fn admit(shared: &Shared, address: Option<std::net::IpAddr>, endpoint: &str) -> Option<Slot> {
    let options = &shared.options;
    match shared.admission.admit(
        address,
        options.max_handshakes,
        options.max_handshakes_per_address,
    ) {
        Ok(slot) => Some(slot),
        Err(refusal) => {
            tracing::debug!(
                endpoint,
                ?address,
                ?refusal,
                "connection refused: handshake limit"
            );
            None
        }
    }
}

/// libzmq's monitor value for a socket: its file descriptor (a SOCKET handle on Windows),
/// which CONNECTED, ACCEPTED, LISTENING, CLOSED and DISCONNECTED carry.
#[cfg(unix)]
fn fd_value<T: std::os::fd::AsRawFd>(socket: &T) -> u32 {
    socket.as_raw_fd() as u32
}

#[cfg(windows)]
fn fd_value<T: std::os::windows::io::AsRawSocket>(socket: &T) -> u32 {
    socket.as_raw_socket() as u32
}

/// libzmq's monitor value for a failure: its errno (BIND_FAILED, ACCEPT_FAILED).
fn errno_value(error: &std::io::Error) -> u32 {
    error.raw_os_error().map_or(0, |n| n as u32)
}

/// A connection on the socket `fd` ended: DISCONNECTED with that descriptor, after the
/// handshake failure event if it never completed.
fn report_end(shared: &Shared, end: &ConnectionEnd, endpoint: &str, fd: u32) {
    if shared.shutdown.is_cancelled() {
        return;
    }
    if end.handshake_done {
        shared
            .monitor
            .emit(MonitorEvent::Disconnected, fd, endpoint);
    } else {
        let (event, value) = end.error.handshake_event();
        shared.monitor.emit(event, value, endpoint);
        shared
            .monitor
            .emit(MonitorEvent::Disconnected, fd, endpoint);
    }
    tracing::debug!(endpoint, error = %end.error, "connection ended");
}
