//! ZMTP 3.0 and 3.1 peers. libzmq 4.3.5 always announces 3.1; to meet a libzmq that announces
//! 3.0, a relay rewrites the minor version octet (octet 11) of its greeting. We must then speak
//! 3.0 to it (subscriptions as `\x01topic` messages) and still answer its PINGs, since libzmq
//! sends them to any 3.x peer.

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use zmtp::{Socket, SocketOptions, SocketType};
use zmtp_tests::pyzmq::{hex_frames, Peer};
use zmtp_tests::recv;

/// Listens on a free port and relays each connection to `upstream`, setting octet 11 of what
/// `upstream` sends (its greeting's minor version) to `minor`.
async fn relay(upstream: String, minor: u8) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((ours, _)) = listener.accept().await {
            let theirs = TcpStream::connect(upstream.trim_start_matches("tcp://"))
                .await
                .unwrap();
            let (mut our_rd, mut our_wr) = ours.into_split();
            let (mut their_rd, mut their_wr) = theirs.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut our_rd, &mut their_wr).await;
            });
            tokio::spawn(async move {
                let mut seen = 0usize;
                let mut buf = vec![0u8; 64 << 10];
                loop {
                    let n = match their_rd.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if (seen..seen + n).contains(&11) {
                        buf[11 - seen] = minor;
                    }
                    seen += n;
                    if our_wr.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    format!("tcp://{addr}")
}

/// Our SUB against a libzmq XPUB (heartbeats on) that announces `minor`: the subscription
/// arrives in the form that version uses, the published message arrives, and the connection
/// survives libzmq's PINGs.
async fn sub_against_libzmq(minor: Option<u8>) {
    let mut peer = Peer::spawn(&json!({
        "type": "XPUB",
        "bind": "tcp://127.0.0.1:*",
        "monitor": true,
        "options": { "heartbeat_ivl": 100, "heartbeat_timeout": 400 },
        "script": [
            { "op": "recv" },
            { "op": "sleep", "ms": 1200 },
            { "op": "send", "frames": hex_frames(&[b"weather", b"sunny"]) },
        ],
        "linger_ms": 500,
    }));
    let ep = peer.bound().await;
    let ep = match minor {
        Some(m) => relay(ep, m).await,
        None => ep,
    };
    let sub = Socket::with_options(SocketType::Sub, SocketOptions::default());
    sub.subscribe("weather").unwrap();
    sub.connect(&ep).await.unwrap();
    // libzmq's XPUB hands the subscription up as a message in either case.
    let (frames, _) = peer.received().await;
    assert_eq!(frames, vec![b"\x01weather".to_vec()]);
    let msg = recv(&sub).await;
    assert_eq!(msg.parts()[0], "weather");
    assert_eq!(msg.parts()[1], "sunny");
    let seen = peer.done().await;
    assert!(
        !seen.iter().any(|l| l["event"] == "DISCONNECTED"),
        "the connection must survive heartbeats: {seen:?}"
    );
}

#[tokio::test]
async fn libzmq_announcing_3_1() {
    sub_against_libzmq(None).await;
}

#[tokio::test]
async fn libzmq_announcing_3_0() {
    sub_against_libzmq(Some(0)).await;
}

#[tokio::test]
async fn the_relay_really_rewrites_the_version() {
    // A plain TCP peer behind the relay: what we read has octet 11 replaced.
    let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = format!("tcp://{}", upstream.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut s, _) = upstream.accept().await.unwrap();
        let mut greeting = [0u8; 64];
        greeting[0] = 0xff;
        greeting[9] = 0x7f;
        greeting[10] = 3;
        greeting[11] = 1;
        s.write_all(&greeting).await.unwrap();
        let mut sink = [0u8; 1];
        let _ = s.read(&mut sink).await;
    });
    let ep = relay(up, 0).await;
    let mut c = TcpStream::connect(ep.trim_start_matches("tcp://"))
        .await
        .unwrap();
    let mut got = [0u8; 64];
    c.read_exact(&mut got).await.unwrap();
    assert_eq!((got[10], got[11]), (3, 0));
}
