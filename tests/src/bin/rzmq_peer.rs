//! The interop peer over rzmq: the protocol of `tests/interop/STACKS.md`, configuration on
//! stdin, JSON lines on stdout.
//!
//! What rzmq 0.5 offers and this peer therefore supports: the socket types PUSH, PULL, REQ,
//! REP, DEALER, ROUTER, PUB and SUB (no XPUB, XSUB or PAIR), and the mechanisms NULL, PLAIN
//! and CURVE (its Noise_XX is rzmq-only and not part of the protocol). rzmq has no ZAP:
//! - a PLAIN server admits the one username/password pair set on the socket
//!   (PLAIN_USERNAME/PLAIN_PASSWORD next to PLAIN_SERVER) and rejects everything else, or every
//!   client when no pair is set. A server asked to admit several users cannot be built and is
//!   refused with an error line.
//! - a CURVE server admits every client that knows its public key; it has no way to admit only
//!   a list of client keys. Given such a list, the peer says so on stderr and runs the server
//!   that exists, which admits everyone.
//!
//! rzmq's DEALER and ROUTER insert and strip an empty delimiter frame of their own by default
//! (AUTO_DELIMITER), which libzmq's do not; the peer turns that off so that frames travel as
//! the script gives them.
//!
//! rzmq's close does not linger for a connection still being set up: messages queued on a
//! `connect` whose handshake has not completed yet are dropped (libzmq keeps connecting for
//! LINGER). The peer watches the socket's monitor and, before closing, waits for the first
//! handshake (within the same one second) when it has sent anything.
//!
//! rzmq's REQ sends single-frame requests only (it refuses `send_multipart`, and `send` clears
//! MORE): a multipart request is refused with an error line.

// Shared with the other peers; each uses only part of it.
#[allow(dead_code)]
mod common;

use std::time::Duration;

use rzmq::socket::SocketEvent;
use rzmq::socket::{
    AUTO_DELIMITER, CURVE_PUBLIC_KEY, CURVE_SECRET_KEY, CURVE_SERVER, CURVE_SERVER_KEY,
    LAST_ENDPOINT, LINGER, PLAIN_PASSWORD, PLAIN_SERVER, PLAIN_USERNAME, SUBSCRIBE,
};
use rzmq::{Context, Msg, MsgFlags, Socket, SocketType};
use serde_json::json;
use tokio::sync::watch;

use common::{bounded, emit, fail, note, Attach, Config, Endpoint, Mechanism};

/// How long closing may wait for queued messages, as the protocol asks.
const LINGER_MS: i32 = 1000;

struct Peer {
    socket: Socket,
    kind: &'static str,
}

impl Endpoint for Peer {
    async fn send(&mut self, mut frames: Vec<Vec<u8>>) -> Result<(), String> {
        if self.kind == "REQ" {
            // rzmq's REQ refuses send_multipart, and its send() clears MORE and makes every
            // frame a request of its own.
            if frames.len() != 1 {
                return Err(format!(
                    "rzmq 0.5 REQ sends single-frame requests only, not {} frames",
                    frames.len()
                ));
            }
            let request = Msg::from_vec(frames.remove(0));
            return self
                .socket
                .send(request)
                .await
                .map_err(|e| format!("REQ send: {e}"));
        }
        let last = frames.len().saturating_sub(1);
        let msgs: Vec<Msg> = frames
            .into_iter()
            .enumerate()
            .map(|(i, f)| {
                let mut m = Msg::from_vec(f);
                if i < last {
                    m.set_flags(m.flags() | MsgFlags::MORE);
                }
                m
            })
            .collect();
        self.socket
            .send_multipart(msgs)
            .await
            .map_err(|e| format!("{} send: {e}", self.kind))
    }

    async fn recv(&mut self) -> Result<Vec<Vec<u8>>, String> {
        if matches!(self.kind, "PUSH" | "PUB") {
            // Not a transient error: waiting on would only end in the timeout.
            fail(format!("{} cannot receive", self.kind));
        }
        let msgs = self
            .socket
            .recv_multipart()
            .await
            .map_err(|e| format!("{} recv: {e}", self.kind))?;
        Ok(msgs
            .iter()
            .map(|m| m.data().unwrap_or_default().to_vec())
            .collect())
    }
}

fn socket_type(name: &str) -> Result<(SocketType, &'static str), String> {
    Ok(match name {
        "PUSH" => (SocketType::Push, "PUSH"),
        "PULL" => (SocketType::Pull, "PULL"),
        "REQ" => (SocketType::Req, "REQ"),
        "REP" => (SocketType::Rep, "REP"),
        "DEALER" => (SocketType::Dealer, "DEALER"),
        "ROUTER" => (SocketType::Router, "ROUTER"),
        "PUB" => (SocketType::Pub, "PUB"),
        "SUB" => (SocketType::Sub, "SUB"),
        "XPUB" | "XSUB" | "PAIR" => return Err(format!("rzmq 0.5 has no {name} socket")),
        other => return Err(format!("unknown socket type {other:?}")),
    })
}

async fn set(socket: &Socket, name: &str, option: i32, value: &[u8]) -> Result<(), String> {
    socket
        .set_option_raw(option, value)
        .await
        .map_err(|e| format!("option {name}: {e}"))
}

async fn set_bool(socket: &Socket, name: &str, option: i32, value: bool) -> Result<(), String> {
    set(socket, name, option, &i32::from(value).to_ne_bytes()).await
}

async fn configure_mechanism(socket: &Socket, mechanism: &Mechanism) -> Result<(), String> {
    match mechanism {
        Mechanism::Null => {}
        Mechanism::PlainServer { users } => {
            if users.len() > 1 {
                return Err(format!(
                    "rzmq 0.5 has no ZAP: a PLAIN server admits one username/password pair, \
                     not the {} users asked for",
                    users.len()
                ));
            }
            set_bool(socket, "PLAIN_SERVER", PLAIN_SERVER, true).await?;
            match users.first() {
                Some((user, password)) => {
                    set(socket, "PLAIN_USERNAME", PLAIN_USERNAME, user.as_bytes()).await?;
                    set(
                        socket,
                        "PLAIN_PASSWORD",
                        PLAIN_PASSWORD,
                        password.as_bytes(),
                    )
                    .await?;
                }
                // rzmq's PLAIN server with no pair set rejects every client, as asked.
                None => note("PLAIN server with no users: rzmq rejects every client"),
            }
        }
        Mechanism::PlainClient { username, password } => {
            set(
                socket,
                "PLAIN_USERNAME",
                PLAIN_USERNAME,
                username.as_bytes(),
            )
            .await?;
            set(
                socket,
                "PLAIN_PASSWORD",
                PLAIN_PASSWORD,
                password.as_bytes(),
            )
            .await?;
        }
        Mechanism::CurveServer {
            secret_key,
            public_key,
            clients,
        } => {
            if let Some(keys) = clients {
                // No ZAP and no allow-list option: the server below admits every client.
                note(format!(
                    "rzmq 0.5 has no ZAP and no CURVE client allow list: the {} listed client \
                     keys are not enforced, every client with the server key is admitted",
                    keys.len()
                ));
            }
            set_bool(socket, "CURVE_SERVER", CURVE_SERVER, true).await?;
            set(socket, "CURVE_SECRET_KEY", CURVE_SECRET_KEY, secret_key).await?;
            set(socket, "CURVE_PUBLIC_KEY", CURVE_PUBLIC_KEY, public_key).await?;
        }
        Mechanism::CurveClient {
            server_key,
            secret_key,
            public_key,
        } => {
            set(socket, "CURVE_SERVER_KEY", CURVE_SERVER_KEY, server_key).await?;
            set(socket, "CURVE_SECRET_KEY", CURVE_SECRET_KEY, secret_key).await?;
            set(socket, "CURVE_PUBLIC_KEY", CURVE_PUBLIC_KEY, public_key).await?;
        }
    }
    Ok(())
}

/// Follows the socket's monitor: handshake failures and disconnections go to stderr, and the
/// returned flag turns true on the first completed handshake.
async fn watch_handshakes(socket: &Socket) -> Result<watch::Receiver<bool>, String> {
    let monitor = socket
        .monitor_default()
        .await
        .map_err(|e| format!("monitor: {e}"))?;
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        while let Ok(event) = monitor.recv().await {
            match event {
                SocketEvent::HandshakeSucceeded { .. } => {
                    tx.send_replace(true);
                }
                SocketEvent::HandshakeFailed {
                    endpoint,
                    error_msg,
                } => note(format!("handshake with {endpoint} failed: {error_msg}")),
                SocketEvent::Disconnected { endpoint } => note(format!("{endpoint} disconnected")),
                _ => {}
            }
        }
    });
    Ok(rx)
}

async fn run(config: Config) -> Result<(), String> {
    let timeout = config.timeout;
    let (ty, kind) = socket_type(&config.socket_type)?;
    let ctx = Context::new().map_err(|e| format!("context: {e}"))?;
    let socket = ctx.socket(ty).map_err(|e| format!("socket: {e}"))?;
    set(&socket, "LINGER", LINGER, &LINGER_MS.to_ne_bytes()).await?;
    if matches!(ty, SocketType::Dealer | SocketType::Router) {
        set_bool(&socket, "AUTO_DELIMITER", AUTO_DELIMITER, false).await?;
    }
    configure_mechanism(&socket, &config.mechanism).await?;
    if ty == SocketType::Sub {
        for prefix in &config.subscribe {
            set(&socket, "SUBSCRIBE", SUBSCRIBE, prefix).await?;
        }
    }
    // The monitor has to exist before the bind or connect.
    let mut handshaken = watch_handshakes(&socket).await?;
    match &config.attach {
        Attach::Bind(ep) => {
            bounded("bind", timeout, socket.bind(ep)).await?;
            let last = bounded("LAST_ENDPOINT", timeout, socket.get_option(LAST_ENDPOINT)).await?;
            let last = String::from_utf8_lossy(&last)
                .trim_end_matches('\0')
                .to_owned();
            let bound = if last.is_empty() { ep.clone() } else { last };
            emit(json!({ "bound": bound }));
        }
        // Returns at once; the connection and handshake happen in the background.
        Attach::Connect(ep) => bounded("connect", timeout, socket.connect(ep)).await?,
    }
    emit(json!({ "ready": true }));
    let mut peer = Peer { socket, kind };
    common::run_script(&mut peer, &config).await?;
    emit(json!({ "done": true }));
    let linger = Duration::from_millis(LINGER_MS as u64);
    let sent = config
        .script
        .iter()
        .any(|op| matches!(op, common::Op::Send(_) | common::Op::Echo { .. }));
    if sent && matches!(config.attach, Attach::Connect(_)) && !*handshaken.borrow() {
        // rzmq would drop what is queued for a connection that is not up yet.
        if tokio::time::timeout(linger, handshaken.wait_for(|up| *up))
            .await
            .is_err()
        {
            note("close: no handshake completed; queued messages are dropped");
        }
    }
    // LINGER bounds how long the close waits for queued messages; the margin covers the
    // context's own shutdown.
    let grace = linger + Duration::from_secs(1);
    if let Err(e) = bounded("close", grace, peer.socket.close()).await {
        note(e);
    }
    if let Err(e) = bounded("term", grace, ctx.term()).await {
        note(e);
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    let config = common::read_config();
    if let Err(e) = run(config).await {
        fail(e);
    }
    // Whatever the stack left running is abandoned, not awaited.
    std::process::exit(0);
}
