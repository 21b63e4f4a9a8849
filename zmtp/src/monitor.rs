//! Socket monitor events, with libzmq's names and values.

use tokio::sync::mpsc;
pub use zmtp_core::MonitorEvent;

/// One event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketEvent {
    /// What happened.
    pub event: MonitorEvent,
    /// libzmq's value: the socket's file descriptor for CONNECTED, ACCEPTED, LISTENING, CLOSED
    /// and DISCONNECTED (0 on inproc, which has none); the errno for BIND_FAILED and
    /// ACCEPT_FAILED; the reconnect interval in ms for CONNECT_RETRIED; a protocol error code
    /// or a ZAP status for the handshake failures; otherwise 0.
    pub value: u32,
    /// The endpoint concerned (`tcp://ip:port`).
    pub endpoint: String,
}

/// Fan-out to the monitor, if any. Events are dropped when the monitor falls behind.
#[derive(Debug, Default)]
pub(crate) struct MonitorSink {
    tx: std::sync::Mutex<Option<mpsc::Sender<SocketEvent>>>,
}

impl MonitorSink {
    /// A new monitor; the one before it, if any, gets MONITOR_STOPPED and no more events (as
    /// libzmq's `zmq_socket_monitor` replaces the previous monitor).
    pub(crate) fn attach(&self, capacity: usize) -> mpsc::Receiver<SocketEvent> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let old = self
            .tx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(tx);
        if let Some(old) = old {
            let _ = old.try_send(stopped());
        }
        rx
    }

    /// The socket closed: the monitor gets MONITOR_STOPPED, then its channel ends.
    pub(crate) fn stop(&self) {
        let old = self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(old) = old {
            let _ = old.try_send(stopped());
        }
    }

    pub(crate) fn emit(&self, event: MonitorEvent, value: u32, endpoint: &str) {
        let guard = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = guard.as_ref() {
            let _ = tx.try_send(SocketEvent {
                event,
                value,
                endpoint: endpoint.to_owned(),
            });
        }
    }
}

fn stopped() -> SocketEvent {
    SocketEvent {
        event: MonitorEvent::MonitorStopped,
        value: 0,
        endpoint: String::new(),
    }
}
