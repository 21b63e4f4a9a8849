//! TCP listeners and outgoing connections as libzmq makes them: what `*` and host names stand
//! for under `ZMQ_IPV6` ([`SocketOptions::ipv6`](crate::SocketOptions::ipv6)), dual-stack
//! listeners, and connections from a source address (`tcp://source;host:port`).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::endpoint::{TcpHost, TcpSource};

/// Pending connections a listener holds before accepting (tokio's `TcpListener::bind` uses the
/// same; libzmq's ZMQ_BACKLOG defaults to 100).
const BACKLOG: i32 = 1024;

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
pub(crate) fn listen(addr: SocketAddr, ipv6: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(!ipv6)?;
    }
    // As tokio's `TcpListener::bind` and libzmq's `tcp_listener.cpp`: a port whose old
    // connections linger in TIME_WAIT can be bound again (on Windows the option means
    // something else, and neither sets it there).
    #[cfg(not(windows))]
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    TcpListener::from_std(socket.into())
}

/// Connects to the first of `addrs` that answers, from `source` when given.
pub(crate) async fn connect(
    addrs: &[SocketAddr],
    source: Option<&TcpSource>,
) -> io::Result<TcpStream> {
    let mut last = None;
    for &addr in addrs {
        let attempt = match source {
            None => TcpStream::connect(addr).await,
            Some(source) => connect_from(addr, source).await,
        };
        match attempt {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address to connect")))
}

/// libzmq's `tcp_connecter.cpp`: SO_REUSEADDR, bind the source, then connect.
async fn connect_from(addr: SocketAddr, source: &TcpSource) -> io::Result<TcpStream> {
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
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
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
        let dual = listen((Ipv6Addr::UNSPECIFIED, 0).into(), true).unwrap();
        let port = dual.local_addr().unwrap().port();
        TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let (_, from) = dual.accept().await.unwrap();
        assert_eq!(
            from.ip(),
            IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped()),
            "an IPv4 peer arrives as an IPv4-mapped address"
        );
        let v6_only = listen((Ipv6Addr::UNSPECIFIED, 0).into(), false).unwrap();
        let port = v6_only.local_addr().unwrap().port();
        assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());
    }

    #[tokio::test]
    async fn a_source_of_the_other_family_is_refused() {
        let source = TcpSource {
            ip: Some(Ipv6Addr::LOCALHOST.into()),
            port: 0,
        };
        let err = connect(&[SocketAddr::from(([127, 0, 0, 1], 1))], Some(&source))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
