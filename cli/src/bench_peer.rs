//! `zmtp bench --processes`: each side of a case in its own process, as deployed.
//!
//! The measuring side (the receiver, the REQ client's partner, the handshake server) runs in
//! the `zmtp bench` process and binds; the other side is a child process (`zmtp bench-peer`,
//! hidden from the help) that connects. The child reads the CURVE keys from its stdin (never its
//! command line), says `ready` once its handshake is done and, for throughput, waits for `go`,
//! so that only the traffic itself is timed. Our side runs on a current-thread runtime in each
//! process: one core per process, and no wake-up crosses threads.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Args, ValueEnum};
use zmtp::mechanisms::{CurveClientConfig, CurveKeyPair, CurveSecretKey};
use zmtp::{Socket, SocketOptions, SocketType};

use crate::bench::{Case, Plan, Security};
use crate::common::Failure;

/// Which implementation a side runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Implementation {
    /// This crate's sockets.
    Ours,
    /// libzmq, through the in-process bindings (needs `--features libzmq`).
    Libzmq,
    /// No ZMTP at all: blocking reads and writes of the bare payload on a TCP stream (the
    /// round-trip case only), the floor the machine sets under both.
    Tcp,
}

/// The case a child runs, in a form that fits on a command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CaseKind {
    /// PUSH: send `--count` messages of `--size` octets.
    Throughput,
    /// REP: answer `--count` requests.
    Latency,
    /// DEALER: `--count` connections, each closed once its handshake is done.
    Handshakes,
}

/// The connecting side of one benchmark case (run by `zmtp bench --processes`).
#[derive(Args, Debug)]
pub struct PeerArgs {
    #[arg(long, value_enum)]
    implementation: Implementation,
    #[arg(long, value_enum)]
    case: CaseKind,
    #[arg(long)]
    curve: bool,
    #[arg(long, default_value_t = 0)]
    size: usize,
    #[arg(long)]
    count: usize,
    #[arg(long)]
    endpoint: String,
}

const TIMEOUT: Duration = Duration::from_secs(30);

fn fail(what: &str) -> impl Fn(zmtp::SocketError) -> Failure + '_ {
    move |e| Failure::other(format!("{what}: {e}"))
}

fn io_fail(what: &str) -> impl Fn(std::io::Error) -> Failure + '_ {
    move |e| Failure::other(format!("{what}: {e}"))
}

/// The keys a child needs, as one line: server public, client secret (Z85).
fn key_line(keys: &(CurveKeyPair, CurveKeyPair)) -> String {
    format!("{} {}\n", keys.0.public.to_z85(), &*keys.1.secret.to_z85())
}

fn current_thread() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::other(format!("cannot start runtime: {e}")))
}

/// The parent's end of a child: its pipes and the process.
struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    fn spawn(
        implementation: Implementation,
        case: CaseKind,
        security: Security,
        size: usize,
        count: usize,
        endpoint: &str,
        keys: &(CurveKeyPair, CurveKeyPair),
    ) -> Result<Peer, Failure> {
        let exe = std::env::current_exe().map_err(io_fail("own executable"))?;
        let mut cmd = Command::new(exe);
        cmd.arg("bench-peer")
            .arg("--implementation")
            .arg(
                implementation
                    .to_possible_value()
                    .expect("no skipped variants")
                    .get_name(),
            )
            .arg("--case")
            .arg(
                case.to_possible_value()
                    .expect("no skipped variants")
                    .get_name(),
            )
            .arg("--size")
            .arg(size.to_string())
            .arg("--count")
            .arg(count.to_string())
            .arg("--endpoint")
            .arg(endpoint);
        if security == Security::Curve {
            cmd.arg("--curve");
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(io_fail("start bench-peer"))?;
        let mut stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        stdin
            .write_all(key_line(keys).as_bytes())
            .map_err(io_fail("write keys"))?;
        Ok(Peer {
            child,
            stdin,
            stdout,
        })
    }

    fn line(&mut self) -> Result<String, Failure> {
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .map_err(io_fail("read bench-peer"))?;
        if line.is_empty() {
            return Err(Failure::other("bench-peer ended early"));
        }
        Ok(line.trim().to_owned())
    }

    fn expect(&mut self, want: &str) -> Result<(), Failure> {
        let got = self.line()?;
        if got == want {
            Ok(())
        } else {
            Err(Failure::other(format!(
                "bench-peer said {got:?}, not {want:?}"
            )))
        }
    }

    fn tell(&mut self, word: &str) -> Result<(), Failure> {
        self.stdin
            .write_all(format!("{word}\n").as_bytes())
            .and_then(|()| self.stdin.flush())
            .map_err(io_fail("write bench-peer"))
    }

    fn finish(mut self) -> Result<(), Failure> {
        let status = self.child.wait().map_err(io_fail("wait bench-peer"))?;
        if status.success() {
            Ok(())
        } else {
            Err(Failure::other(format!("bench-peer failed: {status}")))
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // A child still running after a failure is not left behind.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The in-process cases' options, and a receive timeout so that a lost peer fails the case.
fn options(security: Security, keys: &(CurveKeyPair, CurveKeyPair), server: bool) -> SocketOptions {
    SocketOptions {
        rcvtimeo: Some(TIMEOUT),
        ..crate::bench::our_options(security, keys, server)
    }
}

/// Runs one case of ours with each side in its own process; returns the case's metric.
pub fn ours(
    case: Case,
    security: Security,
    plan: &Plan,
    keys: &(CurveKeyPair, CurveKeyPair),
) -> Result<f64, Failure> {
    current_thread()?.block_on(async {
        match case {
            Case::Throughput { size } => {
                let pull = Socket::with_options(SocketType::Pull, options(security, keys, true));
                let ep = pull.bind("tcp://127.0.0.1:*").await.map_err(fail("bind"))?;
                let count = (plan.bytes / size).max(1);
                let mut peer = Peer::spawn(
                    Implementation::Ours,
                    CaseKind::Throughput,
                    security,
                    size,
                    count,
                    &ep,
                    keys,
                )?;
                pull.wait_for_peers(1, TIMEOUT)
                    .await
                    .map_err(fail("handshake"))?;
                let mut peer =
                    tokio::task::spawn_blocking(move || peer.expect("ready").map(|()| peer))
                        .await
                        .map_err(|e| Failure::other(e.to_string()))??;
                let start = Instant::now();
                peer.tell("go")?;
                for _ in 0..count {
                    pull.recv().await.map_err(fail("recv"))?;
                }
                let rate = (count * size) as f64 / start.elapsed().as_secs_f64() / 1e6;
                peer.tell("done")?;
                tokio::task::spawn_blocking(move || peer.finish())
                    .await
                    .map_err(|e| Failure::other(e.to_string()))??;
                Ok(rate)
            }
            Case::Latency { size } => {
                let req = Socket::with_options(SocketType::Req, options(security, keys, true));
                let ep = req.bind("tcp://127.0.0.1:*").await.map_err(fail("bind"))?;
                let mut peer = Peer::spawn(
                    Implementation::Ours,
                    CaseKind::Latency,
                    security,
                    size,
                    plan.round_trips + 1,
                    &ep,
                    keys,
                )?;
                req.wait_for_peers(1, TIMEOUT)
                    .await
                    .map_err(fail("handshake"))?;
                let payload = Bytes::from(vec![1u8; size]);
                // One warm-up exchange.
                req.send(payload.clone()).await.map_err(fail("send"))?;
                req.recv().await.map_err(fail("recv"))?;
                let start = Instant::now();
                for _ in 0..plan.round_trips {
                    req.send(payload.clone()).await.map_err(fail("send"))?;
                    req.recv().await.map_err(fail("recv"))?;
                }
                let us = start.elapsed().as_secs_f64() * 1e6 / plan.round_trips as f64;
                peer.tell("done")?;
                tokio::task::spawn_blocking(move || peer.finish())
                    .await
                    .map_err(|e| Failure::other(e.to_string()))??;
                Ok(us)
            }
            Case::Handshakes => {
                let server =
                    Socket::with_options(SocketType::Router, options(security, keys, true));
                let ep = server
                    .bind("tcp://127.0.0.1:*")
                    .await
                    .map_err(fail("bind"))?;
                let peer = Peer::spawn(
                    Implementation::Ours,
                    CaseKind::Handshakes,
                    security,
                    0,
                    plan.handshakes,
                    &ep,
                    keys,
                )?;
                handshake_result(peer).await
            }
        }
    })
}

/// The rate a handshake child reports, read without blocking our server's runtime.
async fn handshake_result(mut peer: Peer) -> Result<f64, Failure> {
    tokio::task::spawn_blocking(move || {
        let line = peer.line()?;
        let rate = line
            .strip_prefix("rate ")
            .and_then(|r| r.parse::<f64>().ok())
            .ok_or_else(|| Failure::other(format!("bench-peer said {line:?}")))?;
        peer.finish()?;
        Ok(rate)
    })
    .await
    .map_err(|e| Failure::other(e.to_string()))?
}

/// The child: reads its keys, connects, runs its side of the case.
pub fn peer(args: PeerArgs) -> Result<(), Failure> {
    let mut stdin = std::io::stdin().lock();
    let mut line = String::new();
    stdin.read_line(&mut line).map_err(io_fail("read keys"))?;
    let mut words = line.split_whitespace();
    let (Some(server_public), Some(client_secret)) = (words.next(), words.next()) else {
        return Err(Failure::usage("bench-peer reads two keys from stdin"));
    };
    let server_public = crate::common::parse_public_key(server_public).map_err(Failure::usage)?;
    let client_secret = crate::common::parse_secret_key(client_secret).map_err(Failure::usage)?;
    drop(stdin);
    match args.implementation {
        Implementation::Ours => peer_ours(&args, server_public, client_secret),
        Implementation::Tcp => peer_tcp(&args),
        #[cfg(feature = "libzmq")]
        Implementation::Libzmq => reference::peer(&args, server_public, client_secret),
        #[cfg(not(feature = "libzmq"))]
        Implementation::Libzmq => Err(Failure::usage(
            "built without libzmq: cargo build --release -p zmtp-cli --features libzmq",
        )),
    }
}

/// The plain-TCP child: echoes `--count` payloads of `--size` octets back as they come.
fn peer_tcp(args: &PeerArgs) -> Result<(), Failure> {
    use std::io::Read;
    if args.case != CaseKind::Latency {
        return Err(Failure::usage(
            "the tcp implementation runs only the latency case",
        ));
    }
    let addr = args
        .endpoint
        .strip_prefix("tcp://")
        .ok_or_else(|| Failure::usage("the tcp implementation needs a tcp:// endpoint"))?;
    let mut stream = plain(std::net::TcpStream::connect(addr).map_err(io_fail("connect"))?)?;
    let mut buf = vec![0u8; args.size.max(1)];
    for _ in 0..args.count {
        stream.read_exact(&mut buf).map_err(io_fail("read"))?;
        stream.write_all(&buf).map_err(io_fail("write"))?;
    }
    Ok(())
}

/// A plain-TCP stream set up alike on both sides: no Nagle delay, blocking reads that give up
/// after the case's timeout.
fn plain(stream: std::net::TcpStream) -> Result<std::net::TcpStream, Failure> {
    stream.set_nodelay(true).map_err(io_fail("nodelay"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .map_err(io_fail("read timeout"))?;
    Ok(stream)
}

/// The machine's floor under a round trip between two processes: a payload of `size` octets
/// written to another process and read back over plain TCP on loopback, with blocking calls
/// and no ZMTP, `round_trips` times (after one warm-up). Each way, the process that waits is
/// asleep and must be woken, as any implementation's that does not spin. Microseconds per
/// round trip.
pub fn tcp_round_trip(
    size: usize,
    round_trips: usize,
    keys: &(CurveKeyPair, CurveKeyPair),
) -> Result<f64, Failure> {
    use std::io::Read;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(io_fail("bind"))?;
    let addr = listener.local_addr().map_err(io_fail("bind"))?;
    let count = round_trips + 1;
    // The child reads keys first, as every bench-peer does; it uses none.
    let peer = Peer::spawn(
        Implementation::Tcp,
        CaseKind::Latency,
        Security::Null,
        size,
        count,
        &format!("tcp://{addr}"),
        keys,
    )?;
    // Accepted without blocking, so that a child that never connects fails the case rather
    // than hangs it.
    listener
        .set_nonblocking(true)
        .map_err(io_fail("listener"))?;
    let waited = Instant::now();
    let stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if waited.elapsed() >= TIMEOUT {
                    return Err(Failure::timeout("the plain-TCP bench-peer never connected"));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(io_fail("accept")(e)),
        }
    };
    stream.set_nonblocking(false).map_err(io_fail("accept"))?;
    let mut stream = plain(stream)?;
    let payload = vec![1u8; size.max(1)];
    let mut back = vec![0u8; payload.len()];
    let mut exchange = || -> Result<(), Failure> {
        stream.write_all(&payload).map_err(io_fail("write"))?;
        stream.read_exact(&mut back).map_err(io_fail("read"))
    };
    exchange()?;
    let start = Instant::now();
    for _ in 0..round_trips {
        exchange()?;
    }
    let us = start.elapsed().as_secs_f64() * 1e6 / round_trips.max(1) as f64;
    peer.finish()?;
    Ok(us)
}

fn say(line: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(io_fail("write stdout"))
}

/// Waits for the parent's word: `go` to start, `done` once it has everything (a side that
/// ended sooner could take unsent messages with it).
fn wait_for(word: &'static str) -> Result<(), Failure> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(io_fail("read stdin"))?;
    if line.trim() == word {
        Ok(())
    } else {
        Err(Failure::other(format!("expected {word}, got {line:?}")))
    }
}

fn peer_ours(
    args: &PeerArgs,
    server_public: zmtp::mechanisms::CurvePublicKey,
    client_secret: CurveSecretKey,
) -> Result<(), Failure> {
    let client_options = || {
        let mut o = SocketOptions {
            sndhwm: 10_000,
            rcvhwm: 10_000,
            ..Default::default()
        };
        if args.curve {
            o.mechanism = Arc::new(CurveClientConfig::new(client_secret.clone(), server_public));
        }
        o
    };
    current_thread()?.block_on(async {
        match args.case {
            CaseKind::Throughput => {
                let push = Socket::with_options(SocketType::Push, client_options());
                push.connect(&args.endpoint)
                    .await
                    .map_err(fail("connect"))?;
                push.wait_for_peers(1, TIMEOUT)
                    .await
                    .map_err(fail("handshake"))?;
                say("ready")?;
                tokio::task::spawn_blocking(|| wait_for("go"))
                    .await
                    .map_err(|e| Failure::other(e.to_string()))??;
                let payload = Bytes::from(vec![0xABu8; args.size]);
                for _ in 0..args.count {
                    push.send(payload.clone()).await.map_err(fail("send"))?;
                }
                tokio::task::spawn_blocking(|| wait_for("done"))
                    .await
                    .map_err(|e| Failure::other(e.to_string()))??;
                push.close(Duration::ZERO).await;
                Ok(())
            }
            CaseKind::Latency => {
                let rep = Socket::with_options(SocketType::Rep, client_options());
                rep.connect(&args.endpoint).await.map_err(fail("connect"))?;
                for _ in 0..args.count {
                    let m = rep.recv().await.map_err(fail("recv"))?;
                    rep.send(m).await.map_err(fail("send"))?;
                }
                tokio::task::spawn_blocking(|| wait_for("done"))
                    .await
                    .map_err(|e| Failure::other(e.to_string()))??;
                rep.close(Duration::ZERO).await;
                Ok(())
            }
            CaseKind::Handshakes => {
                let start = Instant::now();
                for _ in 0..args.count {
                    let client = Socket::with_options(SocketType::Dealer, client_options());
                    client
                        .connect(&args.endpoint)
                        .await
                        .map_err(fail("connect"))?;
                    client
                        .wait_for_peers(1, TIMEOUT)
                        .await
                        .map_err(fail("handshake"))?;
                    client.close(Duration::ZERO).await;
                }
                say(&format!(
                    "rate {}",
                    args.count as f64 / start.elapsed().as_secs_f64()
                ))
            }
        }
    })
}

#[cfg(feature = "libzmq")]
pub(crate) mod reference {
    //! The same cases on libzmq, each side in its own process.

    use std::time::Instant;

    use libzmq_ffi::{Context, Event, SocketType};
    use zmtp::mechanisms::{CurveKeyPair, CurvePublicKey, CurveSecretKey};

    use super::{handshake_blocking, say, wait_for, CaseKind, Implementation, Peer, PeerArgs};
    use crate::bench::{Case, Plan, Security};
    use crate::common::Failure;

    fn fail(what: &'static str) -> impl Fn(libzmq_ffi::ZmqError) -> Failure {
        move |e| Failure::other(format!("libzmq {what}: {e}"))
    }

    fn hwm(sock: &libzmq_ffi::Socket) -> Result<(), Failure> {
        sock.set_rcvtimeo(30_000).map_err(fail("option"))?;
        sock.set_sndhwm(10_000).map_err(fail("option"))?;
        sock.set_rcvhwm(10_000).map_err(fail("option"))
    }

    fn server(
        sock: &libzmq_ffi::Socket,
        security: Security,
        secret: &[u8; 32],
    ) -> Result<(), Failure> {
        if security == Security::Curve {
            sock.set_curve_server(true).map_err(fail("option"))?;
            sock.set_curve_secretkey(secret).map_err(fail("option"))?;
        }
        hwm(sock)
    }

    fn client(
        sock: &libzmq_ffi::Socket,
        curve: bool,
        server_public: &CurvePublicKey,
        client_secret: &CurveSecretKey,
    ) -> Result<(), Failure> {
        if curve {
            sock.set_curve_serverkey(server_public.as_bytes())
                .map_err(fail("option"))?;
            sock.set_curve_publickey(client_secret.public_key().as_bytes())
                .map_err(fail("option"))?;
            sock.set_curve_secretkey(client_secret.expose())
                .map_err(fail("option"))?;
        }
        hwm(sock)
    }

    /// The measuring side, in this process.
    pub(crate) fn run(
        case: Case,
        security: Security,
        plan: &Plan,
        keys: &(CurveKeyPair, CurveKeyPair),
    ) -> Result<f64, Failure> {
        let ctx = Context::new().map_err(fail("context"))?;
        let secret = keys.0.secret.expose();
        match case {
            Case::Throughput { size } => {
                let pull = ctx.socket(SocketType::Pull).map_err(fail("socket"))?;
                server(&pull, security, secret)?;
                pull.bind("tcp://127.0.0.1:*").map_err(fail("bind"))?;
                let ep = pull.last_endpoint().map_err(fail("endpoint"))?;
                let count = (plan.bytes / size).max(1);
                let mut peer = Peer::spawn(
                    Implementation::Libzmq,
                    CaseKind::Throughput,
                    security,
                    size,
                    count,
                    &ep,
                    keys,
                )?;
                peer.expect("ready")?;
                let start = Instant::now();
                peer.tell("go")?;
                for _ in 0..count {
                    pull.recv_multipart().map_err(fail("recv"))?;
                }
                let rate = (count * size) as f64 / start.elapsed().as_secs_f64() / 1e6;
                peer.tell("done")?;
                peer.finish()?;
                Ok(rate)
            }
            Case::Latency { size } => {
                let req = ctx.socket(SocketType::Req).map_err(fail("socket"))?;
                server(&req, security, secret)?;
                req.bind("tcp://127.0.0.1:*").map_err(fail("bind"))?;
                let ep = req.last_endpoint().map_err(fail("endpoint"))?;
                let mut peer = Peer::spawn(
                    Implementation::Libzmq,
                    CaseKind::Latency,
                    security,
                    size,
                    plan.round_trips + 1,
                    &ep,
                    keys,
                )?;
                let payload = vec![1u8; size];
                req.send(&payload).map_err(fail("send"))?;
                req.recv_multipart().map_err(fail("recv"))?;
                let start = Instant::now();
                for _ in 0..plan.round_trips {
                    req.send(&payload).map_err(fail("send"))?;
                    req.recv_multipart().map_err(fail("recv"))?;
                }
                let us = start.elapsed().as_secs_f64() * 1e6 / plan.round_trips as f64;
                peer.tell("done")?;
                peer.finish()?;
                Ok(us)
            }
            Case::Handshakes => {
                let router = ctx.socket(SocketType::Router).map_err(fail("socket"))?;
                server(&router, security, secret)?;
                router.bind("tcp://127.0.0.1:*").map_err(fail("bind"))?;
                let ep = router.last_endpoint().map_err(fail("endpoint"))?;
                let peer = Peer::spawn(
                    Implementation::Libzmq,
                    CaseKind::Handshakes,
                    security,
                    0,
                    plan.handshakes,
                    &ep,
                    keys,
                )?;
                handshake_blocking(peer)
            }
        }
    }

    /// The connecting side, in a child process.
    pub(crate) fn peer(
        args: &PeerArgs,
        server_public: CurvePublicKey,
        client_secret: CurveSecretKey,
    ) -> Result<(), Failure> {
        let ctx = Context::new().map_err(fail("context"))?;
        let socket = |kind| -> Result<libzmq_ffi::Socket, Failure> {
            let s = ctx.socket(kind).map_err(fail("socket"))?;
            client(&s, args.curve, &server_public, &client_secret)?;
            Ok(s)
        };
        match args.case {
            CaseKind::Throughput => {
                let push = socket(SocketType::Push)?;
                let monitor = push
                    .monitor(Event::HANDSHAKE_SUCCEEDED)
                    .map_err(fail("monitor"))?;
                push.connect(&args.endpoint).map_err(fail("connect"))?;
                monitor
                    .wait_for(Event::HANDSHAKE_SUCCEEDED, 30_000)
                    .ok_or_else(|| Failure::other("libzmq handshake timed out"))?;
                say("ready")?;
                wait_for("go")?;
                let payload = vec![0xABu8; args.size];
                for _ in 0..args.count {
                    push.send(&payload).map_err(fail("send"))?;
                }
                wait_for("done")
            }
            CaseKind::Latency => {
                let rep = socket(SocketType::Rep)?;
                rep.connect(&args.endpoint).map_err(fail("connect"))?;
                for _ in 0..args.count {
                    let m = rep.recv_multipart().map_err(fail("recv"))?;
                    rep.send_multipart(&m).map_err(fail("send"))?;
                }
                wait_for("done")
            }
            CaseKind::Handshakes => {
                let start = Instant::now();
                for _ in 0..args.count {
                    let dealer = socket(SocketType::Dealer)?;
                    let monitor = dealer
                        .monitor(Event::HANDSHAKE_SUCCEEDED)
                        .map_err(fail("monitor"))?;
                    dealer.connect(&args.endpoint).map_err(fail("connect"))?;
                    monitor
                        .wait_for(Event::HANDSHAKE_SUCCEEDED, 30_000)
                        .ok_or_else(|| Failure::other("libzmq handshake timed out"))?;
                }
                say(&format!(
                    "rate {}",
                    args.count as f64 / start.elapsed().as_secs_f64()
                ))
            }
        }
    }
}

/// The rate a handshake child reports (for a server that runs on its own threads).
#[cfg(feature = "libzmq")]
fn handshake_blocking(mut peer: Peer) -> Result<f64, Failure> {
    let line = peer.line()?;
    let rate = line
        .strip_prefix("rate ")
        .and_then(|r| r.parse::<f64>().ok())
        .ok_or_else(|| Failure::other(format!("bench-peer said {line:?}")))?;
    peer.finish()?;
    Ok(rate)
}
