//! Forged messages: a peer sends well-framed but hostile traffic (random flags and lengths,
//! unknown and malformed commands, empty and oversized parts, envelopes a REP cannot route,
//! subscriptions to a socket that takes none) hoping to fault the library or hand the
//! application something malformed. Every such input ends that one connection with a typed
//! error or is dropped by the pattern, no task panics, and the socket keeps serving others.

mod hostile;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hostile::*;
use tokio::io::AsyncWriteExt;
use zmtp::{Socket, SocketType};

/// A small deterministic generator (xorshift), so a failure names its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// One hostile frame sequence, after a valid handshake.
fn forged(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..1 + rng.below(8) {
        match rng.below(9) {
            // Random flags (reserved bits included) and a short body.
            0 => {
                let flags = rng.next() as u8;
                let len = rng.below(40) as usize;
                let body = rng.bytes(len);
                out.push(flags);
                out.push(body.len() as u8);
                out.extend_from_slice(&body);
            }
            // A long header announcing more than the limit.
            1 => {
                out.push(0x02);
                out.extend_from_slice(&u64::MAX.to_be_bytes());
            }
            // Unknown command, and commands with malformed bodies.
            2 => out.extend_from_slice(&command_frame(&command("XYZZY", &rng.bytes(10)))),
            3 => out.extend_from_slice(&command_frame(b"\x09PI")),
            4 => out.extend_from_slice(&command_frame(&command("PING", b"\x00"))),
            5 => out.extend_from_slice(&command_frame(&command("ERROR", b"\x40short"))),
            // A second READY after the handshake, subscriptions where none are taken.
            6 => out.extend_from_slice(&ready(&[("Socket-Type", b"DEALER")])),
            7 => out.extend_from_slice(&command_frame(&command("SUBSCRIBE", &rng.bytes(5)))),
            // Multipart messages with empty parts and no delimiter, or only delimiters.
            _ => {
                let parts = 1 + rng.below(5);
                for i in 0..parts {
                    let len = rng.below(3) as usize;
                    out.extend_from_slice(&data_frame(&rng.bytes(len), i + 1 < parts));
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_traffic_never_faults_the_library_or_reaches_the_application_malformed() {
    // Count panics anywhere in the process (a connection task that panics is a fault even
    // though tokio would contain it).
    let panics = Arc::new(AtomicUsize::new(0));
    let p = panics.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        p.fetch_add(1, Ordering::SeqCst);
        previous(info);
    }));

    for (server_type, attacker_type) in [
        (SocketType::Rep, "REQ"),
        (SocketType::Router, "DEALER"),
        (SocketType::Pull, "PUSH"),
        (SocketType::Pub, "SUB"),
        (SocketType::Sub, "PUB"),
        (SocketType::Pair, "PAIR"),
    ] {
        let server = Socket::new(server_type);
        let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
        if server_type == SocketType::Sub {
            server.subscribe(bytes::Bytes::new()).unwrap();
        }
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ server_type as u64);
        for _ in 0..150 {
            let mut a = connect_from(None, addr_of(&ep)).await.unwrap();
            handshake(&mut a, attacker_type).await;
            let _ = a.write_all(&forged(&mut rng)).await;
            drop(a);
        }
        // Whatever reached the application is a whole, well-formed message for its pattern.
        while let Ok(Ok(msg)) = tokio::time::timeout(Duration::from_millis(50), server.recv()).await
        {
            assert!(
                !msg.is_empty(),
                "{server_type:?} delivered an empty message"
            );
            if server_type == SocketType::Router {
                assert!(
                    !msg.parts()[0].is_empty(),
                    "a ROUTER message has its routing id"
                );
            }
            if server_type == SocketType::Rep {
                // REP answers each request before it takes the next (the asker is gone: the
                // reply is dropped).
                server.send(["reply"]).await.unwrap();
            }
        }
        // The socket still serves a legitimate peer.
        let peer_type = match server_type {
            SocketType::Rep => SocketType::Req,
            SocketType::Router => SocketType::Dealer,
            SocketType::Pull => SocketType::Push,
            SocketType::Pub => SocketType::Sub,
            SocketType::Sub => SocketType::Pub,
            _ => SocketType::Pair,
        };
        let deadline = tokio::time::Instant::now() + T;
        while server_type == SocketType::Pair
            && server.peer_count() > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let good = Socket::new(peer_type);
        good.connect(&ep).await.unwrap();
        match server_type {
            SocketType::Pub => {
                good.subscribe(bytes::Bytes::new()).unwrap();
                server.wait_for_subscribers(1, b"", T).await.unwrap();
                server.send(["fine"]).await.unwrap();
                let msg = tokio::time::timeout(T, good.recv()).await.unwrap().unwrap();
                assert_eq!(msg.parts()[0].as_ref(), b"fine");
            }
            SocketType::Sub => {
                // A publisher's messages reach the subscriber once its subscription arrives.
                good.wait_for_subscribers(1, b"fine", T).await.unwrap();
                good.send(["fine"]).await.unwrap();
                let msg = tokio::time::timeout(T, server.recv())
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(msg.parts()[0].as_ref(), b"fine");
            }
            _ => {
                good.send(["fine"]).await.unwrap();
                let msg = tokio::time::timeout(T, server.recv())
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(msg.parts().last().unwrap().as_ref(), b"fine");
            }
        }
    }
    assert_eq!(panics.load(Ordering::SeqCst), 0, "no task panicked");
}
