//! `inproc://name`: sockets of one process joined without encoding or a stream, as libzmq does.
//!
//! A bound name is an entry in a process-wide registry. A connect finds it (or waits for it:
//! bind and connect may come in either order) and then runs a *bridge*: a task that joins each
//! socket as the other's peer, through the same `SocketLink` a network connection uses, and
//! moves whole batches of messages from one side's pipe into the other side's inbox. So the
//! patterns, high-water marks, subscriptions and fair queueing are the ones every transport
//! has; only the encoding is gone. While one side's inbox is full, that direction waits for
//! room and the other goes on.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, LazyLock, Mutex};

use bytes::Bytes;
use tokio::sync::Notify;
use zmtp_core::wire::metadata;
use zmtp_core::{Error, Metadata, PeerInfo, SocketType};

use crate::connection::{Registration, SocketLink};
use crate::error::SocketError;
use crate::pipe::{Delivery, Outgoing, Parts};
use crate::socket::Shared;

/// Bound names, and a wake-up for connects waiting for one.
struct Registry {
    bound: Mutex<HashMap<String, Arc<Shared>>>,
    changed: Notify,
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| Registry {
    bound: Mutex::new(HashMap::new()),
    changed: Notify::new(),
});

fn bound() -> std::sync::MutexGuard<'static, HashMap<String, Arc<Shared>>> {
    REGISTRY.bound.lock().unwrap_or_else(|e| e.into_inner())
}

/// Messages moved per side per turn, so that one busy direction cannot starve the other.
const BATCH: usize = 256;

/// Binds `name` for `shared` until the socket closes. A name in use is refused (libzmq's
/// EADDRINUSE).
pub(crate) fn bind(shared: &Arc<Shared>, name: &str, endpoint: &str) -> Result<(), SocketError> {
    {
        let mut map = bound();
        if map.contains_key(name) {
            return Err(SocketError::Io {
                endpoint: endpoint.to_owned(),
                source: std::io::ErrorKind::AddrInUse.into(),
            });
        }
        map.insert(name.to_owned(), shared.clone());
    }
    REGISTRY.changed.notify_waiters();
    let shared2 = shared.clone();
    let name = name.to_owned();
    shared.tasks.spawn(async move {
        shared2.shutdown.cancelled().await;
        let mut map = bound();
        if map.get(&name).is_some_and(|s| Arc::ptr_eq(s, &shared2)) {
            map.remove(&name);
        }
    });
    Ok(())
}

/// Connects `shared` to `name` in the background: waits for the name to be bound, bridges
/// the two sockets until either closes, and connects again when the name is bound anew.
pub(crate) fn connect(shared: &Arc<Shared>, name: &str) {
    let ours = shared.clone();
    let name = name.to_owned();
    shared.tasks.spawn(async move {
        loop {
            let Some(theirs) = wait_for_binding(&ours, &name).await else {
                return;
            };
            let end = bridge(ours.clone(), theirs).await;
            tracing::debug!(endpoint = %format!("inproc://{name}"), error = %end, "inproc link ended");
            if ours.shutdown.is_cancelled() {
                return;
            }
            tokio::select! {
                _ = ours.shutdown.cancelled() => return,
                _ = tokio::time::sleep(ours.options.reconnect_ivl) => {}
            }
        }
    });
}

async fn wait_for_binding(ours: &Arc<Shared>, name: &str) -> Option<Arc<Shared>> {
    loop {
        let changed = REGISTRY.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let found = bound()
            .get(name)
            .filter(|s| !s.shutdown.is_cancelled())
            .cloned();
        if let Some(theirs) = found {
            return Some(theirs);
        }
        tokio::select! {
            _ = ours.shutdown.cancelled() => return None,
            _ = &mut changed => {}
        }
    }
}

/// What a socket's peer on the other end of a bridge looks like to it.
fn peer_info(of: &Shared) -> PeerInfo {
    let config = of.session_config();
    let mut properties = Metadata::new();
    let _ = properties.push(
        metadata::SOCKET_TYPE,
        Bytes::from_static(of.socket_type.as_str().as_bytes()),
    );
    if of.socket_type.sends_identity() && !config.routing_id.is_empty() {
        let _ = properties.push(metadata::IDENTITY, config.routing_id.clone());
    }
    PeerInfo {
        socket_type: of.socket_type,
        routing_id: if of.socket_type.sends_identity() {
            config.routing_id.clone()
        } else {
            Bytes::new()
        },
        minor_version: 1,
        properties: Arc::new(properties),
        user_id: None,
        // Nothing is framed between two sockets of one process: messages cross as parts.
        frames_unchanged: false,
    }
}

/// One direction of a bridge: what `from` sends its peer, on its way into `to`'s inbox.
struct Direction<'a> {
    from: &'a Registration,
    to: &'a dyn SocketLink,
    to_reg: &'a Registration,
    /// Whether `to` hands messages to its application (PUB and PUSH never receive).
    delivers: bool,
    held: VecDeque<Parts>,
    /// What one take moved out of `from`'s pipe, on its way into `held`.
    taken: VecDeque<Outgoing>,
    /// `to`'s inbox was full: `held` waits for `to_reg.room`.
    stalled: bool,
}

impl Direction<'_> {
    /// Moves one batch; the link that freed room in `from`'s pipe is told so.
    fn pump(&mut self, from_link: &dyn SocketLink) {
        if !self.stalled {
            if self.from.out.take(BATCH, &mut self.taken) {
                from_link.room_freed();
            }
            self.held
                .extend(self.taken.drain(..).filter_map(Outgoing::into_parts));
            if !self.delivers {
                self.held.clear();
            }
        }
        if !self.held.is_empty() {
            self.stalled = self.to.deliver(self.to_reg.id, &mut self.held) == Delivery::Full;
        } else {
            self.stalled = false;
        }
    }
}

/// Our subscription changes (and those we had when we joined) reach the other side's pattern,
/// and what it makes of them (XPUB notices) its inbox.
fn subscriptions(
    topics: impl IntoIterator<Item = (Bytes, bool)>,
    to: &dyn SocketLink,
    to_reg: &Registration,
) -> Result<(), Error> {
    let mut notices = VecDeque::new();
    for (topic, subscribe) in topics {
        if let Some(notice) = to.peer_subscription(to_reg.id, topic, subscribe)? {
            notices.push_back(notice);
        }
    }
    if !notices.is_empty() {
        // Notices beyond the inbox's bound are dropped, as a network peer's would wait: they
        // are few (one per subscription change) and bounded by the subscription limits.
        to.deliver(to_reg.id, &mut notices);
    }
    Ok(())
}

/// Joins two sockets as each other's peer and moves messages both ways until one closes.
async fn bridge(a: Arc<Shared>, b: Arc<Shared>) -> Error {
    if !a.socket_type.is_compatible_with(b.socket_type) {
        return zmtp_core::ProtocolError::IncompatibleSocketType {
            ours: a.socket_type.as_str(),
            peer: b.socket_type.as_str().to_owned(),
        }
        .into();
    }
    let Some(reg_a) = a.join(peer_info(&b)) else {
        return Error::Io("socket already has its peer".into());
    };
    let Some(reg_b) = b.join(peer_info(&a)) else {
        reg_a.out.close();
        a.leave(reg_a.id);
        return Error::Io("socket already has its peer".into());
    };
    let end = run_bridge(&*a, &reg_a, &*b, &reg_b).await;
    reg_a.out.close();
    reg_b.out.close();
    a.leave(reg_a.id);
    b.leave(reg_b.id);
    end
}

async fn run_bridge(
    a: &dyn SocketLink,
    reg_a: &Registration,
    b: &dyn SocketLink,
    reg_b: &Registration,
) -> Error {
    let receives = |t: SocketType| !matches!(t, SocketType::Pub | SocketType::Push);
    let replay_a = reg_a.replay.iter().map(|t| (t.clone(), true));
    if let Err(e) = subscriptions(replay_a, b, reg_b) {
        return e;
    }
    let replay_b = reg_b.replay.iter().map(|t| (t.clone(), true));
    if let Err(e) = subscriptions(replay_b, a, reg_a) {
        return e;
    }
    let mut ab = Direction {
        from: reg_a,
        to: b,
        to_reg: reg_b,
        delivers: receives(b.socket_type()),
        held: VecDeque::new(),
        taken: VecDeque::new(),
        stalled: false,
    };
    let mut ba = Direction {
        from: reg_b,
        to: a,
        to_reg: reg_a,
        delivers: receives(a.socket_type()),
        held: VecDeque::new(),
        taken: VecDeque::new(),
        stalled: false,
    };
    loop {
        tokio::select! {
            _ = a.shutdown().cancelled() => {
                // Closing: what was already queued on our side still reaches the other.
                ab.pump(a);
                return Error::Io("socket closed".into());
            }
            _ = b.shutdown().cancelled() => return Error::Io("peer socket closed".into()),
            _ = reg_a.close.cancelled() => return Error::Io("routing id handed over".into()),
            _ = reg_b.close.cancelled() => return Error::Io("routing id handed over".into()),
            _ = reg_a.out.readable(), if !ab.stalled => ab.pump(a),
            _ = reg_b.room.notified(), if ab.stalled => ab.pump(a),
            _ = reg_b.out.readable(), if !ba.stalled => ba.pump(b),
            _ = reg_a.room.notified(), if ba.stalled => ba.pump(b),
            _ = reg_a.subscription_changes.ready.notified() => {
                if let Err(e) = subscriptions(reg_a.subscription_changes.take(), b, reg_b) {
                    return e;
                }
            }
            _ = reg_b.subscription_changes.ready.notified() => {
                if let Err(e) = subscriptions(reg_b.subscription_changes.take(), a, reg_a) {
                    return e;
                }
            }
        }
    }
}
