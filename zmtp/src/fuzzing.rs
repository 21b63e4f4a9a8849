//! Entry point for the fuzz target `socket_ops` and for replaying its corpus in ordinary tests:
//! fuzz bytes become a sequence of operations on a connected pair of real sockets (over `ipc://`,
//! so millions of runs leave no TCP ports in TIME_WAIT).
//!
//! Layout: octet 0 picks the pattern (PUSH→PULL, PAIR↔PAIR, DEALER→ROUTER, REQ↔REP, PUB→SUB,
//! XPUB↔XSUB, DEALER↔DEALER); each following octet is an operation, some of which take the next
//! octets as operands (see `Op`). Checked besides "no panic, no hang": a message that arrives
//! is one that was sent, in order, from the same side, with its parts intact.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use zmtp_core::SocketType;

use crate::{Message, Socket, SocketOptions};

const PATTERNS: [(SocketType, SocketType); 7] = [
    (SocketType::Push, SocketType::Pull),
    (SocketType::Pair, SocketType::Pair),
    (SocketType::Dealer, SocketType::Router),
    (SocketType::Req, SocketType::Rep),
    (SocketType::Pub, SocketType::Sub),
    (SocketType::Xpub, SocketType::Xsub),
    (SocketType::Dealer, SocketType::Dealer),
];

const SHORT: Duration = Duration::from_millis(5);

/// Most operations taken from one input.
const MAX_OPS: usize = 128;

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    /// A message: octet n = parts (1-4), then per part a length octet (0-63) and the octets.
    fn message(&mut self) -> Vec<Bytes> {
        let parts = 1 + usize::from(self.byte().unwrap_or(0) % 4);
        (0..parts)
            .map(|_| {
                let len = usize::from(self.byte().unwrap_or(0) % 64).min(self.0.len());
                let (part, rest) = self.0.split_at(len);
                self.0 = rest;
                Bytes::copy_from_slice(part)
            })
            .collect()
    }
}

/// What one side has sent that the other has not yet received.
#[derive(Default)]
struct InFlight(VecDeque<Vec<Bytes>>);

impl InFlight {
    /// A received message must be the oldest one still in flight, or a later one when
    /// intermediate ones may be dropped (PUB/SUB filtering, a full queue); never an invention.
    fn arrived(&mut self, parts: &[Bytes], may_skip: bool) {
        while let Some(front) = self.0.pop_front() {
            if front == parts {
                return;
            }
            assert!(
                may_skip,
                "out of order or corrupted: got {parts:?}, expected {front:?}"
            );
        }
        panic!("a message nobody sent arrived: {parts:?}");
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Runs the operations in `data`; see the module docs.
pub fn socket_ops(data: &[u8]) {
    run_counted(data);
}

/// Runs the operations and returns how many messages arrived.
fn run_counted(data: &[u8]) -> usize {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
    }
    let path = std::env::temp_dir().join(format!(
        "zmtp-fuzz-{}-{}.sock",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let arrived = RUNTIME.with(|rt| rt.block_on(run(data, &path)));
    let _ = std::fs::remove_file(&path);
    arrived
}

fn options() -> SocketOptions {
    SocketOptions {
        sndhwm: 4,
        rcvhwm: 4,
        reconnect_ivl: Duration::from_millis(1),
        ..Default::default()
    }
}

async fn recv(socket: &Socket) -> Option<Message> {
    tokio::time::timeout(SHORT, socket.recv()).await.ok()?.ok()
}

async fn run(data: &[u8], path: &std::path::Path) -> usize {
    let mut input = Input(data);
    let Some(pattern) = input.byte() else {
        return 0;
    };
    let mut arrived = 0;
    let (ta, tb) = PATTERNS[usize::from(pattern) % PATTERNS.len()];
    let a = Socket::with_options(ta, options());
    let endpoint = format!("ipc://{}", path.display());
    let endpoint = a.bind(&endpoint).await.expect("bind ipc");
    let b = Socket::with_options(tb, options());
    b.connect(&endpoint).await.expect("connect ipc");
    if tb == SocketType::Sub {
        b.subscribe(Bytes::new()).expect("subscribe");
    }
    if a.wait_for_peers(1, Duration::from_secs(5)).await.is_err() {
        panic!("the pair did not connect");
    }
    // Messages sent from a to b and from b to a, not yet received.
    let mut a_to_b = InFlight::default();
    let mut b_to_a = InFlight::default();
    let skips = matches!(ta, SocketType::Pub | SocketType::Xpub);
    // Bounded, so one input stays well under the fuzzer's per-input time limit.
    for _ in 0..MAX_OPS {
        let Some(op) = input.byte() else {
            break;
        };
        match op % 8 {
            0 | 7 => {
                let parts = input.message();
                if let Ok(Ok(())) = tokio::time::timeout(SHORT, a.send(parts.clone())).await {
                    a_to_b.0.push_back(parts);
                }
            }
            1 => {
                let mut parts = input.message();
                // ROUTER's first part is the routing id: address a's only peer.
                if tb == SocketType::Router {
                    continue;
                }
                if tb == SocketType::Xsub {
                    // XSUB sends subscriptions upstream as data: keep them well-formed.
                    parts = vec![Bytes::from_static(b"\x01")];
                }
                if let Ok(Ok(())) = tokio::time::timeout(SHORT, b.send(parts.clone())).await {
                    b_to_a.0.push_back(parts);
                }
            }
            2 => {
                if let Some(m) = recv(&b).await {
                    let parts = m.parts();
                    let parts = if tb == SocketType::Router {
                        assert!(!parts.is_empty(), "ROUTER message without routing id");
                        &parts[1..]
                    } else {
                        parts
                    };
                    a_to_b.arrived(parts, skips);
                    arrived += 1;
                }
            }
            3 => {
                if let Some(m) = recv(&a).await {
                    if ta == SocketType::Xpub {
                        continue; // subscription messages, not data
                    }
                    b_to_a.arrived(m.parts(), false);
                    arrived += 1;
                }
            }
            4 => {
                let prefix = input.message().swap_remove(0);
                let _ = b.subscribe(prefix.clone());
                if op & 0x80 != 0 {
                    let _ = b.unsubscribe(prefix);
                }
            }
            5 => tokio::task::yield_now().await,
            _ => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
    a.close(Duration::ZERO).await;
    b.close(Duration::ZERO).await;
    arrived
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_pattern_runs() {
        for pattern in 0..7u8 {
            // Settle (subscriptions travel), then three rounds of: a sends "hi", b receives,
            // b sends "x", a receives.
            let mut ops = vec![pattern, 6, 6, 6];
            for _ in 0..3 {
                ops.extend_from_slice(&[0, 0, 2, b'h', b'i', 2, 1, 0, 1, b'x', 3]);
            }
            let arrived = super::run_counted(&ops);
            // XSUB never subscribed, so XPUB sends it nothing.
            let expected = if pattern == 5 { 0 } else { 3 };
            assert!(
                arrived >= expected,
                "pattern {pattern}: {arrived} messages arrived"
            );
        }
        assert_eq!(super::run_counted(&[]), 0);
    }
}
