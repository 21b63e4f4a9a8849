//! RFC 27 over a ZMTP socket, both ways.
//!
//! - [`ZapProxy`] is an [`Authenticator`] that asks an external ZAP handler (one written with
//!   pyzmq's `zmq.auth`, czmq's zauth or libzmq, listening on `tcp://…` or `ipc://…` with a REP or
//!   ROUTER socket) and validates its replies exactly as a libzmq server would.
//! - [`serve_zap`] answers RFC 27 requests arriving on a socket with any [`Authenticator`], so
//!   our handlers can serve other processes (REQ or DEALER clients, [`ZapProxy`] among them,
//!   and libzmq servers through a ROUTER-DEALER bridge from their in-process ZAP endpoint).
//!
//! ```text
//! our server ──► ZapProxy ══ DEALER ═══ tcp ═══► REP/ROUTER ──► external handler
//! REQ/DEALER ══════ tcp ══════► ROUTER ──► serve_zap ──► Policy / closure / service
//! ```

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::Mutex as AsyncMutex;
use zmtp_core::{AuthReply, AuthRequest, AuthResult, AuthStatus, SocketType, ZapFailure};
use zmtp_zap::wire::{self, RequestError};
use zmtp_zap::Authenticator;

use crate::{Message, Socket, SocketError, SocketOptions};

/// An authenticator that forwards each request to an external RFC 27 handler over a DEALER
/// socket. Requests go one at a time, as each libzmq session's do, so every reply is checked
/// against the one request it answers. A request that was given up (its own timeout, or the
/// server's `zap_timeout`) is remembered, and a late reply to it is skipped instead of being
/// taken for the answer to the next request.
///
/// Security: requests carry PLAIN passwords in clear. Reach the handler over `ipc://`, or over
/// TCP with CURVE (`connect_with`), unless the network between the two is trusted.
#[derive(Debug)]
pub struct ZapProxy {
    socket: Socket,
    next_id: AsyncMutex<u64>,
    abandoned: Arc<Mutex<VecDeque<u64>>>,
    timeout: Duration,
}

/// Default time one request may take in the proxy itself.
pub const DEFAULT_PROXY_TIMEOUT: Duration = Duration::from_secs(10);

/// Abandoned request ids remembered (the oldest are forgotten first).
const MAX_ABANDONED: usize = 1024;

/// Marks a request abandoned unless it completed.
struct Pending {
    id: u64,
    done: bool,
    abandoned: Arc<Mutex<VecDeque<u64>>>,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.done {
            let mut a = self.abandoned.lock().unwrap_or_else(|e| e.into_inner());
            if a.len() == MAX_ABANDONED {
                a.pop_front();
            }
            a.push_back(self.id);
        }
    }
}

impl ZapProxy {
    /// Connects to a handler at `endpoint` (reconnecting as sockets do).
    pub async fn connect(endpoint: &str) -> Result<ZapProxy, SocketError> {
        ZapProxy::connect_with(endpoint, SocketOptions::default()).await
    }

    /// Connects with socket options (e.g. CURVE to the handler).
    pub async fn connect_with(
        endpoint: &str,
        options: SocketOptions,
    ) -> Result<ZapProxy, SocketError> {
        let socket = Socket::with_options(SocketType::Dealer, options);
        socket.connect(endpoint).await?;
        Ok(ZapProxy {
            socket,
            next_id: AsyncMutex::new(0),
            abandoned: Arc::default(),
            timeout: DEFAULT_PROXY_TIMEOUT,
        })
    }

    /// How long one request may take here (default 10 s), whoever calls the proxy.
    pub fn with_timeout(mut self, timeout: Duration) -> ZapProxy {
        self.timeout = timeout;
        self
    }

    fn was_abandoned(&self, id: u64) -> bool {
        let mut a = self.abandoned.lock().unwrap_or_else(|e| e.into_inner());
        match a.iter().position(|&x| x == id) {
            Some(i) => {
                a.remove(i);
                true
            }
            None => false,
        }
    }

    async fn ask(&self, request: &AuthRequest) -> AuthResult {
        let mut next_id = self.next_id.lock().await;
        *next_id += 1;
        let mut pending = Pending {
            id: *next_id,
            done: false,
            abandoned: self.abandoned.clone(),
        };
        let id = pending.id.to_string();
        let exchange = async {
            let frames = wire::encode_request(id.as_bytes(), request);
            self.socket
                .send(frames)
                .await
                .map_err(|_| ZapFailure::Unspecified)?;
            loop {
                let reply = self
                    .socket
                    .recv()
                    .await
                    .map_err(|_| ZapFailure::Unspecified)?;
                let parts = reply.parts();
                let earlier = parts
                    .get(2)
                    .and_then(|f| std::str::from_utf8(f).ok())
                    .and_then(|s| s.parse::<u64>().ok().filter(|n| n.to_string() == s))
                    .filter(|&n| n != pending.id);
                if earlier.is_some_and(|n| self.was_abandoned(n)) {
                    continue;
                }
                return wire::parse_reply(parts, id.as_bytes());
            }
        };
        let result = tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or(Err(ZapFailure::Unspecified));
        // A reply that arrived (valid or not) settles the request; a timeout leaves it pending.
        pending.done = !matches!(result, Err(ZapFailure::Unspecified));
        result
    }
}

#[async_trait]
impl Authenticator for ZapProxy {
    async fn authenticate(&self, request: AuthRequest) -> AuthResult {
        self.ask(&request).await
    }
}

/// Most requests `serve_zap` works on at once; more wait in the socket's queue.
pub const SERVE_IN_FLIGHT: usize = 64;

/// Most ROUTER-DEALER bridges a request may have crossed on its way to [`serve_zap`].
pub const MAX_BRIDGE_HOPS: usize = 8;

/// Answers RFC 27 requests arriving on `socket` (a ROUTER, bound or connected by the caller)
/// with `handler`, until the socket is closed. Requests may come straight from a REQ or DEALER,
/// or through up to [`MAX_BRIDGE_HOPS`] ROUTER-DEALER bridges (a libzmq process forwarding its
/// `inproc://zeromq.zap.01` to us, for one); the reply retraces the route. Up to
/// [`SERVE_IN_FLIGHT`] requests are answered concurrently; one the handler has not answered
/// within [`DEFAULT_PROXY_TIMEOUT`] gets 500. A request that does not parse but has an id gets a
/// 500 reply saying why; one without even that is dropped.
pub async fn serve_zap(
    socket: Arc<Socket>,
    handler: Arc<dyn Authenticator>,
) -> Result<(), SocketError> {
    if socket.socket_type() != SocketType::Router {
        return Err(SocketError::Config(
            "serve_zap needs a ROUTER socket".into(),
        ));
    }
    let in_flight = Arc::new(tokio::sync::Semaphore::new(SERVE_IN_FLIGHT));
    loop {
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return Ok(());
        };
        let msg = match socket.recv().await {
            Ok(m) => m,
            Err(SocketError::Closed) => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut parts = msg.into_parts();
        if parts.is_empty() {
            continue;
        }
        // The ROUTER's routing id, then the routing frames of any ROUTER-DEALER bridge between
        // the asking server and us (how a libzmq server, whose ZAP endpoint is in-process,
        // reaches a handler in another process), up to the empty delimiter. All of them go
        // back in front of the reply.
        let hops = parts
            .iter()
            .take(MAX_BRIDGE_HOPS + 2)
            .position(|p| p.is_empty())
            .filter(|&d| d >= 1)
            .unwrap_or(1);
        let envelope: Vec<Bytes> = parts.drain(..hops).collect();
        let handler = handler.clone();
        let socket = socket.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let reply = match wire::parse_request(&parts) {
                Ok(req) => {
                    let answer = tokio::time::timeout(
                        DEFAULT_PROXY_TIMEOUT,
                        handler.authenticate(req.request),
                    )
                    .await
                    .unwrap_or(Err(ZapFailure::Unspecified));
                    let answer = match answer {
                        Ok(reply) => reply,
                        Err(e) => AuthReply {
                            status: AuthStatus::InternalError,
                            status_text: format!("handler failed: {e}"),
                            user_id: String::new(),
                            metadata: Default::default(),
                        },
                    };
                    Some(wire::encode_reply(&req.id, &answer))
                }
                Err((why, Some(id))) => Some(wire::encode_reply(&id, &internal_error(&why))),
                Err((why, None)) => {
                    tracing::debug!("unanswerable ZAP request dropped: {why}");
                    None
                }
            };
            if let Some(frames) = reply {
                let mut out = envelope;
                out.extend(frames);
                let _ = socket.send(Message::new(out)).await;
            }
        });
    }
}

fn internal_error(why: &RequestError) -> AuthReply {
    AuthReply {
        status: AuthStatus::InternalError,
        status_text: why.to_string(),
        user_id: String::new(),
        metadata: Default::default(),
    }
}
