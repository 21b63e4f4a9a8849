//! The endpoints a socket bound and connected, each with what ends it: libzmq's `_endpoints`
//! map, which `zmq_unbind` and `zmq_disconnect` look in.
//!
//! Each `bind` and `connect` gets an [`Attachment`]: a stop token (a child of the socket's
//! shutdown token) and a task tracker. Its accept or reconnect loop and every connection it
//! made run under the tracker; the loop selects on the token, and its connections see the
//! token as their socket's shutdown through an [`EndpointLink`]. Cancelling it ends that
//! endpoint's work and nothing else; the tracker tells when its listener is closed and its
//! connections are gone.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use zmtp_core::{
    AuthRequest, AuthResult, Error, MonitorEvent, PeerInfo, SessionConfig, SocketType,
};

use crate::connection::{Registration, SocketLink};
use crate::endpoint::{Endpoint, TcpHost};
use crate::peers::PeerId;
use crate::pipe::{Delivery, OutPipe, Parts};
use crate::socket::Shared;

/// One bind or connect: what stops it, and its tasks.
#[derive(Debug)]
pub(crate) struct Attachment {
    pub(crate) stop: CancellationToken,
    tasks: TaskTracker,
}

impl Attachment {
    pub(crate) fn new(shared: &Shared) -> Attachment {
        Attachment {
            stop: shared.shutdown.child_token(),
            tasks: TaskTracker::new(),
        }
    }

    /// The tracker to spawn this endpoint's tasks under (with [`spawn`]).
    pub(crate) fn tracker(&self) -> TaskTracker {
        self.tasks.clone()
    }

    /// Stops the endpoint and waits until its listener is closed and its connections ended.
    /// Each connection ends at once, save a last-gasp write bounded by the connection task.
    pub(crate) async fn end(self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// What one connect keeps between its connections: the id and pipe of its peer, so that what
/// was queued for it and not yet written goes out on the next connection (libzmq keeps a
/// connecting socket's pipe across reconnects).
pub(crate) type Carry = Arc<Mutex<Option<(PeerId, Arc<OutPipe>)>>>;

/// The socket as the connections of one endpoint see it. A connect passes its [`Carry`]; an
/// accepted connection has none (its pipe ends with it, as in libzmq).
pub(crate) fn link(
    shared: &Arc<Shared>,
    stop: &CancellationToken,
    carry: Option<Carry>,
) -> Arc<dyn SocketLink> {
    Arc::new(EndpointLink {
        shared: shared.clone(),
        stop: stop.clone(),
        carry,
    })
}

/// Runs `task` under the socket's tracker (which `close` waits for) and the endpoint's.
pub(crate) fn spawn<F>(shared: &Shared, endpoint: &TaskTracker, task: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    shared.tasks.spawn(endpoint.track_future(task));
}

/// Which of the two lists: `unbind` looks only at binds and `disconnect` only at connects
/// (libzmq keeps one map, but its docs say the two "should not be used interchangeably").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Bound,
    Connected,
}

/// Bound endpoints under the endpoint `bind` returned; connected ones under the string given to
/// `connect`. A key may hold several (libzmq's map is a multimap: connecting twice to one
/// endpoint makes two, and one `disconnect` ends both).
#[derive(Debug, Default)]
pub(crate) struct EndpointSet {
    bound: Mutex<HashMap<String, Vec<Attachment>>>,
    connected: Mutex<HashMap<String, Vec<Attachment>>>,
}

impl EndpointSet {
    fn side(&self, side: Side) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Attachment>>> {
        match side {
            Side::Bound => &self.bound,
            Side::Connected => &self.connected,
        }
        .lock()
        .unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn insert(&self, side: Side, key: String, attachment: Attachment) {
        self.side(side).entry(key).or_default().push(attachment);
    }

    /// Removes and returns every attachment whose key is one of `names`, or parses to an
    /// endpoint that prints as one of them.
    fn take(&self, side: Side, names: &[String]) -> Vec<Attachment> {
        let mut map = self.side(side);
        let keys: Vec<String> = map
            .keys()
            .filter(|key| {
                names.contains(key)
                    || key
                        .parse::<Endpoint>()
                        .is_ok_and(|e| names.contains(&e.to_string()))
            })
            .cloned()
            .collect();
        keys.iter()
            .filter_map(|key| map.remove(key))
            .flatten()
            .collect()
    }

    /// Removes and returns what `endpoint` names on `side`: the attachments filed under it or
    /// under its normal spelling, else under the addresses its host resolves to, as libzmq's
    /// `socket_base_t::resolve_tcp_addr` tries ("The address passed by the user might not match
    /// in the TCP case ... so try to resolve before giving up").
    ///
    /// A `*` port names no listener and resolves to nothing, so after binding `tcp://h:*` only
    /// the endpoint `bind` returned unbinds it, as zmq_unbind(3) says ("the caller should use
    /// real endpoint obtained from the ZMQ_LAST_ENDPOINT socket option"). A `*` host is left
    /// unresolved too: libzmq resolves the user's form as a connect address first, where `*`
    /// fails, so its `zmq_unbind("tcp://*:5555")` is ENOENT; here as well.
    pub(crate) async fn take_named(
        &self,
        side: Side,
        endpoint: &str,
        parsed: &Endpoint,
        ipv6: bool,
    ) -> Vec<Attachment> {
        let found = self.take(side, &[endpoint.to_owned(), parsed.to_string()]);
        if !found.is_empty() {
            return found;
        }
        let Endpoint::Tcp {
            host: host @ (TcpHost::Ip(_) | TcpHost::Name(_)),
            port,
            source: None,
        } = parsed
        else {
            return found;
        };
        if *port == 0 {
            return found;
        }
        let Ok(addrs) = crate::tcp::resolve(host, *port, ipv6).await else {
            return found;
        };
        let names: Vec<String> = addrs
            .into_iter()
            .map(|a| {
                Endpoint::Tcp {
                    host: TcpHost::Ip(a.ip()),
                    port: a.port(),
                    source: None,
                }
                .to_string()
            })
            .collect();
        self.take(side, &names)
    }
}

/// The socket's link, save that "the socket closes" means "this endpoint stops".
struct EndpointLink {
    shared: Arc<Shared>,
    stop: CancellationToken,
    carry: Option<Carry>,
}

impl SocketLink for EndpointLink {
    fn socket_type(&self) -> SocketType {
        SocketLink::socket_type(&*self.shared)
    }
    fn session_config(&self) -> &Arc<SessionConfig> {
        SocketLink::session_config(&*self.shared)
    }
    fn emit(&self, event: MonitorEvent, value: u32, endpoint: &str) {
        SocketLink::emit(&*self.shared, event, value, endpoint)
    }
    /// Cancelled by `unbind`/`disconnect` of this endpoint, and when the socket closes.
    fn shutdown(&self) -> &CancellationToken {
        &self.stop
    }
    fn linger_deadline(&self) -> Option<tokio::time::Instant> {
        SocketLink::linger_deadline(&*self.shared)
    }
    fn authenticate(&self, request: AuthRequest) -> oneshot::Receiver<AuthResult> {
        SocketLink::authenticate(&*self.shared, request)
    }
    fn join(&self, info: PeerInfo) -> Option<Registration> {
        let Some(carry) = &self.carry else {
            return SocketLink::join(&*self.shared, info);
        };
        let reuse = carry.lock().unwrap_or_else(|e| e.into_inner()).take();
        let kept = reuse.clone();
        let reg = self.shared.join_reusing(info, reuse);
        if reg.is_none() {
            // Refused (a PAIR that has its peer): the pipe waits for the next connection.
            *carry.lock().unwrap_or_else(|e| e.into_inner()) = kept;
        }
        reg
    }
    fn leave(&self, peer: PeerId) {
        let out = self.shared.leave_keeping(peer);
        match (&self.carry, out) {
            // Kept only while the endpoint lives: a disconnect or close drops what is queued.
            (Some(carry), Some(out)) if !self.stop.is_cancelled() => {
                *carry.lock().unwrap_or_else(|e| e.into_inner()) = Some((peer, out));
            }
            (_, Some(out)) => out.close(),
            (_, None) => {}
        }
    }
    fn deliver(&self, peer: PeerId, batch: &mut std::collections::VecDeque<Parts>) -> Delivery {
        SocketLink::deliver(&*self.shared, peer, batch)
    }
    fn peer_subscription(
        &self,
        peer: PeerId,
        topic: Bytes,
        subscribe: bool,
    ) -> Result<Option<Parts>, Error> {
        SocketLink::peer_subscription(&*self.shared, peer, topic, subscribe)
    }
    fn room_freed(&self) {
        SocketLink::room_freed(&*self.shared)
    }
}
