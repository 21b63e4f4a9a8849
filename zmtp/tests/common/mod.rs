//! Helpers shared by the socket integration tests.

#![allow(dead_code)] // each test file uses its own subset

use std::sync::Arc;
use std::time::Duration;

use zmtp::mechanisms::PlainClientConfig;
use zmtp::{MonitorEvent, Socket, SocketEvent, SocketOptions};

/// How long any expected event or message may take.
pub const T: Duration = Duration::from_secs(5);

/// Waits for `event`, skipping others; panics after [`T`].
pub async fn expect_event(
    monitor: &mut tokio::sync::mpsc::Receiver<SocketEvent>,
    event: MonitorEvent,
) -> SocketEvent {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let ev = tokio::time::timeout_at(deadline, monitor.recv())
            .await
            .unwrap_or_else(|_| panic!("no {event:?} within {T:?}"))
            .expect("monitor open");
        if ev.event == event {
            return ev;
        }
    }
}

/// The next message; panics after [`T`].
pub async fn recv(socket: &Socket) -> zmtp::Message {
    tokio::time::timeout(T, socket.recv())
        .await
        .expect("a message in time")
        .expect("recv")
}

/// A PLAIN client's options.
pub fn plain_client(user: &str, pass: &str) -> SocketOptions {
    SocketOptions {
        mechanism: Arc::new(PlainClientConfig::new(user.as_bytes(), pass.as_bytes()).unwrap()),
        ..Default::default()
    }
}
