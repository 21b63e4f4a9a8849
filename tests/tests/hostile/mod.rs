//! A raw attacker for the denial-of-service tests: ZMTP spoken by hand over plain TCP, so that it
//! can do what no well-behaved stack does (never read, announce lengths it never sends, flood).

#![allow(dead_code)] // each test file uses its own subset

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// How long anything expected may take.
pub const T: Duration = Duration::from_secs(10);

/// A NULL greeting, ZMTP 3.1, as client.
pub fn null_greeting() -> [u8; 64] {
    let mut g = [0u8; 64];
    g[0] = 0xFF;
    g[9] = 0x7F;
    g[10] = 3;
    g[11] = 1;
    g[12..16].copy_from_slice(b"NULL");
    g
}

/// A command frame around `body` (short or long form).
pub fn command_frame(body: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(body.len() + 9);
    if body.len() <= 255 {
        f.extend_from_slice(&[0x04, body.len() as u8]);
    } else {
        f.push(0x06);
        f.extend_from_slice(&(body.len() as u64).to_be_bytes());
    }
    f.extend_from_slice(body);
    f
}

/// A command body: name and data.
pub fn command(name: &str, data: &[u8]) -> Vec<u8> {
    let mut b = vec![name.len() as u8];
    b.extend_from_slice(name.as_bytes());
    b.extend_from_slice(data);
    b
}

/// READY with the given properties.
pub fn ready(properties: &[(&str, &[u8])]) -> Vec<u8> {
    let mut data = Vec::new();
    for (name, value) in properties {
        data.push(name.len() as u8);
        data.extend_from_slice(name.as_bytes());
        data.extend_from_slice(&(value.len() as u32).to_be_bytes());
        data.extend_from_slice(value);
    }
    command_frame(&command("READY", &data))
}

/// A data frame (short or long form).
pub fn data_frame(body: &[u8], more: bool) -> Vec<u8> {
    let mut f = Vec::with_capacity(body.len() + 9);
    let more = u8::from(more);
    if body.len() <= 255 {
        f.extend_from_slice(&[more, body.len() as u8]);
    } else {
        f.push(0x02 | more);
        f.extend_from_slice(&(body.len() as u64).to_be_bytes());
    }
    f.extend_from_slice(body);
    f
}

/// Connects from `source` (any 127.x.y.z address works on Linux loopback) with a small receive
/// buffer, so that a peer we never read from blocks quickly. A source with a fixed port binds
/// at once; port 0 makes the kernel search for a free port, which slows down as thousands of
/// sockets are bound.
pub async fn connect_from(
    source: Option<SocketAddr>,
    to: SocketAddr,
) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(4096)?;
    if let Some(addr) = source {
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
    }
    socket.connect(to).await
}

/// Greeting and READY as a NULL peer of `socket_type`; reads the server's greeting and READY.
pub async fn handshake(stream: &mut TcpStream, socket_type: &str) {
    stream.write_all(&null_greeting()).await.unwrap();
    stream
        .write_all(&ready(&[("Socket-Type", socket_type.as_bytes())]))
        .await
        .unwrap();
    let mut greeting = [0u8; 64];
    tokio::time::timeout(T, stream.read_exact(&mut greeting))
        .await
        .expect("server greeting in time")
        .unwrap();
    let mut head = [0u8; 2];
    tokio::time::timeout(T, stream.read_exact(&mut head))
        .await
        .expect("server READY in time")
        .unwrap();
    assert_eq!(head[0], 0x04, "READY is a short command");
    let mut body = vec![0u8; usize::from(head[1])];
    stream.read_exact(&mut body).await.unwrap();
    assert!(body.starts_with(b"\x05READY"));
}

/// Whether the peer closed `stream` within `wait` (reads and discards until EOF or an error).
pub async fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut sink = [0u8; 4096];
    tokio::time::timeout(wait, async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// How many of `streams` the peer closes within `wait`, all watched at once.
pub async fn count_closed(streams: Vec<TcpStream>, wait: Duration) -> usize {
    let checks: Vec<_> = streams
        .into_iter()
        .map(|mut s| tokio::spawn(async move { closed_within(&mut s, wait).await }))
        .collect();
    let mut closed = 0;
    for c in checks {
        closed += usize::from(c.await.unwrap_or(false));
    }
    closed
}

/// `tcp://127.0.0.1:port` → the socket address.
pub fn addr_of(endpoint: &str) -> SocketAddr {
    endpoint
        .strip_prefix("tcp://")
        .expect("a tcp endpoint")
        .parse()
        .expect("ip:port")
}
