//! RFC 27 over a ZMTP socket, both ways.
//!
//! - [`ZapProxy`] is an [`Authenticator`] that asks an external ZAP handler (one written with
//!   pyzmq's `zmq.auth`, czmq's zauth or libzmq, listening on `tcp://…` or `ipc://…` with a REP or
//!   ROUTER socket) and validates its replies exactly as a libzmq server would.
//! - [`serve_zap`] answers RFC 27 requests arriving on a socket with any [`Authenticator`], so
//!   our handlers can serve other processes (REQ or DEALER clients, [`ZapProxy`] among them).
//!
//! ```text
//! our server ──► ZapProxy ══ DEALER ═══ tcp ═══► REP/ROUTER ──► external handler
//! REQ/DEALER ══════ tcp ══════► ROUTER ──► serve_zap ──► Policy / closure / service
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::Mutex as AsyncMutex;
use zmtp_core::{AuthReply, AuthRequest, AuthResult, AuthStatus, SocketType, ZapFailure};
use zmtp_zap::wire::{self, RequestError};
use zmtp_zap::Authenticator;

use crate::{Message, Socket, SocketError, SocketOptions};

/// An authenticator that forwards each request to an external RFC 27 handler over a DEALER
/// socket. Requests go one at a time, as each libzmq session's do, so every reply is checked
/// against the one request it answers; a late reply to a request that already timed out is
/// recognised by its id and skipped.
///
/// The time a request may take is the server socket's `zap_timeout`.
#[derive(Debug)]
pub struct ZapProxy {
    socket: Socket,
    state: AsyncMutex<u64>,
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
            state: AsyncMutex::new(0),
        })
    }

    async fn ask(&self, request: &AuthRequest) -> AuthResult {
        let mut last_id = self.state.lock().await;
        *last_id += 1;
        let this = *last_id;
        let id = this.to_string();
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
            // A reply to an earlier request of ours that timed out: skip it.
            let stale = parts
                .get(2)
                .and_then(|f| std::str::from_utf8(f).ok())
                .and_then(|s| s.parse::<u64>().ok().filter(|n| n.to_string() == s))
                .is_some_and(|old| (1..this).contains(&old));
            if stale {
                continue;
            }
            return wire::parse_reply(parts, id.as_bytes());
        }
    }
}

#[async_trait]
impl Authenticator for ZapProxy {
    async fn authenticate(&self, request: AuthRequest) -> AuthResult {
        self.ask(&request).await
    }
}

/// Answers RFC 27 requests arriving on `socket` (a ROUTER, bound or connected by the caller)
/// with `handler`, until the socket is closed. Requests are answered concurrently. A request
/// that does not parse but has an id gets a 500 reply saying why; one without even that is
/// dropped.
pub async fn serve_zap(
    socket: Arc<Socket>,
    handler: Arc<dyn Authenticator>,
) -> Result<(), SocketError> {
    if socket.socket_type() != SocketType::Router {
        return Err(SocketError::Config(
            "serve_zap needs a ROUTER socket".into(),
        ));
    }
    loop {
        let msg = match socket.recv().await {
            Ok(m) => m,
            Err(SocketError::Closed) => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut parts = msg.into_parts();
        if parts.is_empty() {
            continue;
        }
        let routing_id = parts.remove(0);
        let handler = handler.clone();
        let socket = socket.clone();
        tokio::spawn(async move {
            let reply = match wire::parse_request(&parts) {
                Ok(req) => {
                    let answer = match handler.authenticate(req.request).await {
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
                let mut out: Vec<Bytes> = Vec::with_capacity(frames.len() + 1);
                out.push(routing_id);
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
