//! TCP listeners and outgoing connections as libzmq makes them: what `*` and host names stand
//! for under `ZMQ_IPV6` ([`SocketOptions::ipv6`](crate::SocketOptions::ipv6)), dual-stack
//! listeners, connections from a source address (`tcp://source;host:port`), and the socket
//! options libzmq sets on them (`tcp.cpp`: `tcp_open_socket`, `tune_tcp_socket`,
//! `tune_tcp_keepalives`).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::endpoint::{TcpHost, TcpSource};
use crate::options::SocketOptions;

/// The addresses `host:port` stands for, best first.
///
/// As libzmq's `ip_resolver.cpp`: `*` is `0.0.0.0`, or `::` with `ipv6`; a name resolves to
/// IPv4 addresses only, or with `ipv6` to IPv6 ones too (libzmq asks getaddrinfo for AF_INET6
/// with AI_V4MAPPED and takes the first answer; here the IPv6 answers come first, then the IPv4
/// ones, and a connect tries each in turn). Deliberate deviation: a numeric IPv6 address is
/// used even without `ipv6` (libzmq refuses it then): it leaves nothing to choose.
pub(crate) async fn resolve(host: &TcpHost, port: u16, ipv6: bool) -> io::Result<Vec<SocketAddr>> {
    match host {
        TcpHost::Any if ipv6 => Ok(vec![(Ipv6Addr::UNSPECIFIED, port).into()]),
        TcpHost::Any => Ok(vec![(Ipv4Addr::UNSPECIFIED, port).into()]),
        TcpHost::Ip(ip) => Ok(vec![SocketAddr::new(*ip, port)]),
        TcpHost::Name(name) => {
            let mut addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), port))
                .await?
                .filter(|a| ipv6 || a.is_ipv4())
                .collect();
            // Stable: the resolver's order within each family is kept.
            addrs.sort_by_key(|a| a.is_ipv4());
            addrs.dedup();
            if addrs.is_empty() {
                let family = if ipv6 { "IP" } else { "IPv4" };
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{name} has no {family} address"),
                ));
            }
            Ok(addrs)
        }
    }
}

/// A listener on `addr`. An IPv6 listener takes IPv4 connections too (IPV6_V6ONLY off) when
/// `ipv6` is set, as libzmq's `enable_ipv4_mapping` does, and only IPv6 ones otherwise.
/// SNDBUF and RCVBUF are set before the bind, as libzmq's `tcp_open_socket` does, so that the
/// connections it accepts inherit them; it listens with `options.backlog`.
pub(crate) fn listen(addr: SocketAddr, options: &SocketOptions) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(!options.ipv6)?;
    }
    set_buffers(&SockRef::from(&socket), options)?;
    // As tokio's `TcpListener::bind` and libzmq's `tcp_listener.cpp`: a port whose old
    // connections linger in TIME_WAIT can be bound again (on Windows the option means
    // something else, and neither sets it there).
    #[cfg(not(windows))]
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog(options))?;
    TcpListener::from_std(socket.into())
}

/// `listen(2)` takes an int; `SocketOptions::validate` keeps the option within it.
fn backlog(options: &SocketOptions) -> i32 {
    i32::try_from(options.backlog).unwrap_or(i32::MAX)
}

/// A Unix-domain listener on `path` with `options.backlog` (tokio's `UnixListener::bind`
/// always asks for 1024), as libzmq's `ipc_listener.cpp`.
#[cfg(unix)]
pub(crate) fn listen_ipc(
    path: &std::path::Path,
    options: &SocketOptions,
) -> io::Result<tokio::net::UnixListener> {
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    socket.bind(&socket2::SockAddr::unix(path)?)?;
    socket.listen(backlog(options))?;
    tokio::net::UnixListener::from_std(socket.into())
}

/// SO_SNDBUF and SO_RCVBUF when set (libzmq: when not -1).
fn set_buffers(socket: &SockRef<'_>, options: &SocketOptions) -> io::Result<()> {
    if let Some(n) = options.sndbuf {
        socket.set_send_buffer_size(n)?;
    }
    if let Some(n) = options.rcvbuf {
        socket.set_recv_buffer_size(n)?;
    }
    Ok(())
}

/// What libzmq's `tune_tcp_socket` and `tune_tcp_keepalives` do to every connection, accepted
/// or connected: TCP_NODELAY, then the keepalive options. With `tcp_keepalive` unset nothing
/// else is touched (libzmq's -1); off, only SO_KEEPALIVE is cleared; on, the idle time,
/// interval and count that are set go with it.
pub(crate) fn tune(stream: &TcpStream, options: &SocketOptions) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let socket = SockRef::from(stream);
    match options.tcp_keepalive {
        None => Ok(()),
        Some(false) => socket.set_keepalive(false),
        Some(true) => socket.set_tcp_keepalive(&keepalive(options)),
    }
}

fn keepalive(options: &SocketOptions) -> TcpKeepalive {
    let mut params = TcpKeepalive::new();
    if let Some(idle) = options.tcp_keepalive_idle {
        params = params.with_time(idle);
    }
    #[cfg(any(
        target_os = "android",
        target_os = "freebsd",
        target_os = "illumos",
        target_os = "ios",
        target_os = "linux",
        target_os = "macos",
        target_os = "netbsd",
        target_os = "windows",
    ))]
    if let Some(intvl) = options.tcp_keepalive_intvl {
        params = params.with_interval(intvl);
    }
    // Windows has no probe count (libzmq's `SIO_KEEPALIVE_VALS` sets time and interval only).
    #[cfg(any(
        target_os = "android",
        target_os = "freebsd",
        target_os = "illumos",
        target_os = "ios",
        target_os = "linux",
        target_os = "macos",
        target_os = "netbsd",
    ))]
    if let Some(cnt) = options.tcp_keepalive_cnt {
        params = params.with_retries(cnt);
    }
    params
}

/// How a connect attempt failed.
#[derive(Debug)]
pub(crate) enum ConnectError {
    /// The OS reported an error (for the last address tried).
    Io(io::Error),
    /// `connect_timeout` ran out on the last address tried.
    TimedOut(Duration),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Io(e) => e.fmt(f),
            ConnectError::TimedOut(t) => write!(f, "connect timed out after {t:?}"),
        }
    }
}

impl From<io::Error> for ConnectError {
    fn from(e: io::Error) -> Self {
        ConnectError::Io(e)
    }
}

/// Connects to the first of `addrs` that answers, from `source` when given, with the
/// buffer sizes set before the connect (libzmq's `tcp_open_socket`) and the stream then tuned
/// (see [`tune`]). Each address gets `options.connect_timeout` (libzmq's connect timer runs
/// per `connect(2)`).
pub(crate) async fn connect(
    addrs: &[SocketAddr],
    source: Option<&TcpSource>,
    options: &SocketOptions,
) -> Result<TcpStream, ConnectError> {
    let mut last = None;
    for &addr in addrs {
        let attempt = async {
            let stream = connect_from(addr, source, options).await?;
            refuse_self_connection(&stream)?;
            tune(&stream, options)?;
            Ok::<_, io::Error>(stream)
        };
        let attempt = match options.connect_timeout {
            None => attempt.await.map_err(ConnectError::Io),
            Some(limit) => tokio::time::timeout(limit, attempt)
                .await
                .unwrap_or(Err(io::ErrorKind::TimedOut.into()))
                .map_err(|e| match e.kind() {
                    io::ErrorKind::TimedOut => ConnectError::TimedOut(limit),
                    _ => ConnectError::Io(e),
                }),
        };
        match attempt {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(last
        .unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address to connect").into()))
}

/// A connect to a local port nobody listens on can meet itself: when the kernel picks that same
/// port as the connection's own (or a source names it), TCP's simultaneous open joins the
/// socket to itself. Such a stream is closed at once and reported as refused, so that the
/// connect is retried and the port is free for the listener that is about to bind it; kept,
/// it held the port and talked ZMTP to itself.
fn refuse_self_connection(stream: &TcpStream) -> io::Result<()> {
    if stream.local_addr()? == stream.peer_addr()? {
        return Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "connected to itself: nobody listens on the port",
        ));
    }
    Ok(())
}

/// libzmq's `tcp_connecter.cpp`: the buffer sizes, then with a source SO_REUSEADDR and a bind
/// to it, then connect.
async fn connect_from(
    addr: SocketAddr,
    source: Option<&TcpSource>,
    options: &SocketOptions,
) -> io::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    set_buffers(&SockRef::from(&socket), options)?;
    let Some(source) = source else {
        return socket.connect(addr).await;
    };
    let ip = match source.ip {
        Some(ip) => ip,
        None if addr.is_ipv4() => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        None => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    if ip.is_ipv4() != addr.is_ipv4() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("source {ip} and peer {addr} are of different address families"),
        ));
    }
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::new(ip, source.port))?;
    socket.connect(addr).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_wildcard_and_names_follow_the_ipv6_option() {
        let any = |ipv6| resolve(&TcpHost::Any, 5, ipv6);
        assert_eq!(
            any(false).await.unwrap(),
            [SocketAddr::from(([0, 0, 0, 0], 5))]
        );
        assert_eq!(
            any(true).await.unwrap(),
            [SocketAddr::from((Ipv6Addr::UNSPECIFIED, 5))]
        );
        let localhost = TcpHost::Name("localhost".into());
        let v4_only = resolve(&localhost, 5, false).await.unwrap();
        assert!(v4_only.iter().all(SocketAddr::is_ipv4), "{v4_only:?}");
        let both = resolve(&localhost, 5, true).await.unwrap();
        // IPv6 answers (if the name has any) come first.
        let first_v4 = both.iter().position(SocketAddr::is_ipv4).unwrap();
        assert!(both[first_v4..].iter().all(SocketAddr::is_ipv4), "{both:?}");
        // A numeric IPv6 address is taken as it is, with or without the option.
        let v6 = TcpHost::Ip(Ipv6Addr::LOCALHOST.into());
        assert_eq!(
            resolve(&v6, 5, false).await.unwrap(),
            [SocketAddr::from((Ipv6Addr::LOCALHOST, 5))]
        );
    }

    #[tokio::test]
    async fn a_dual_stack_listener_takes_ipv4_peers() {
        if std::net::TcpListener::bind("[::1]:0").is_err() {
            eprintln!("SKIPPED: this machine has no IPv6 loopback");
            return;
        }
        let ipv6 = |ipv6| SocketOptions {
            ipv6,
            ..SocketOptions::default()
        };
        let dual = listen((Ipv6Addr::UNSPECIFIED, 0).into(), &ipv6(true)).unwrap();
        let port = dual.local_addr().unwrap().port();
        TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let (_, from) = dual.accept().await.unwrap();
        assert_eq!(
            from.ip(),
            IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped()),
            "an IPv4 peer arrives as an IPv4-mapped address"
        );
        let v6_only = listen((Ipv6Addr::UNSPECIFIED, 0).into(), &ipv6(false)).unwrap();
        let port = v6_only.local_addr().unwrap().port();
        assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());
    }

    #[tokio::test]
    async fn a_source_of_the_other_family_is_refused() {
        let source = TcpSource {
            ip: Some(Ipv6Addr::LOCALHOST.into()),
            port: 0,
        };
        let options = SocketOptions::default();
        let err = connect(
            &[SocketAddr::from(([127, 0, 0, 1], 1))],
            Some(&source),
            &options,
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, ConnectError::Io(e) if e.kind() == io::ErrorKind::InvalidInput),
            "{err:?}"
        );
    }

    fn tuned() -> SocketOptions {
        SocketOptions {
            tcp_keepalive: Some(true),
            tcp_keepalive_idle: Some(Duration::from_secs(91)),
            tcp_keepalive_intvl: Some(Duration::from_secs(7)),
            tcp_keepalive_cnt: Some(4),
            sndbuf: Some(64 * 1024),
            rcvbuf: Some(96 * 1024),
            ..SocketOptions::default()
        }
    }

    /// What the bind loop does to an accepted stream: buffers inherited from the listener,
    /// keepalive from `tune`. (A peer cannot see these, hence a crate-private test.)
    #[tokio::test]
    async fn accepted_streams_get_keepalive_and_inherit_buffer_sizes() {
        let options = tuned();
        let listener = listen(([127, 0, 0, 1], 0).into(), &options).unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = std::net::TcpStream::connect(addr).unwrap();
        let (stream, _) = tokio::time::timeout(Duration::from_secs(5), listener.accept())
            .await
            .unwrap()
            .unwrap();
        tune(&stream, &options).unwrap();
        let s = SockRef::from(&stream);
        assert!(stream.nodelay().unwrap());
        assert!(s.keepalive().unwrap());
        #[cfg(target_os = "linux")]
        {
            assert_eq!(s.tcp_keepalive_time().unwrap(), Duration::from_secs(91));
            assert_eq!(s.tcp_keepalive_interval().unwrap(), Duration::from_secs(7));
            assert_eq!(s.tcp_keepalive_retries().unwrap(), 4);
            // Linux doubles what it is given (socket(7)), and the listener's value is inherited.
            assert_eq!(s.send_buffer_size().unwrap(), 2 * 64 * 1024);
            assert_eq!(s.recv_buffer_size().unwrap(), 2 * 96 * 1024);
        }
    }

    #[tokio::test]
    async fn connected_streams_get_buffer_sizes_and_keepalive() {
        let raw = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = raw.local_addr().unwrap();
        let options = tuned();
        let stream = connect(&[addr], None, &options).await.unwrap();
        let s = SockRef::from(&stream);
        assert!(stream.nodelay().unwrap());
        assert!(s.keepalive().unwrap());
        #[cfg(target_os = "linux")]
        {
            assert_eq!(s.tcp_keepalive_time().unwrap(), Duration::from_secs(91));
            assert_eq!(s.tcp_keepalive_interval().unwrap(), Duration::from_secs(7));
            assert_eq!(s.tcp_keepalive_retries().unwrap(), 4);
            assert_eq!(s.send_buffer_size().unwrap(), 2 * 64 * 1024);
            assert_eq!(s.recv_buffer_size().unwrap(), 2 * 96 * 1024);
        }
    }

    /// Linux completes `backlog + 1` handshakes for a listener that never accepts and drops
    /// the SYNs after them, so the number of connects that complete shows the backlog.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_listener_queues_backlog_connections() {
        let options = SocketOptions {
            backlog: 2,
            ..SocketOptions::default()
        };
        let listener = listen(([127, 0, 0, 1], 0).into(), &options).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut done = Vec::new();
        for _ in 0..6 {
            match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                Ok(s) => done.push(s),
                Err(_) => break,
            }
        }
        assert_eq!(done.len(), 3, "backlog 2 holds 3 on Linux");
    }

    #[tokio::test]
    async fn keepalive_off_clears_it_and_unset_leaves_the_os_default() {
        let listener = listen(([127, 0, 0, 1], 0).into(), &SocketOptions::default()).unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = std::net::TcpStream::connect(addr).unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        let s = SockRef::from(&stream);
        s.set_keepalive(true).unwrap();
        tune(&stream, &SocketOptions::default()).unwrap();
        assert!(s.keepalive().unwrap(), "unset: left as it was");
        let off = SocketOptions {
            tcp_keepalive: Some(false),
            ..SocketOptions::default()
        };
        tune(&stream, &off).unwrap();
        assert!(!s.keepalive().unwrap());
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn an_ipc_listener_accepts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let options = SocketOptions {
            backlog: 3,
            ..SocketOptions::default()
        };
        let listener = listen_ipc(&path, &options).unwrap();
        let _client = tokio::net::UnixStream::connect(&path).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), listener.accept())
            .await
            .unwrap()
            .unwrap();
    }
}
