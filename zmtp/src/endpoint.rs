//! Endpoints in libzmq's syntax (zmq_tcp(7), zmq_ipc(7), zmq_inproc(7)): `tcp://host:port`,
//! `tcp://source;host:port` (connect only), `ipc://path`, `inproc://name`.
//!
//! A TCP host is `*` (every interface, bind only), a numeric IPv4 address, an IPv6 address in
//! brackets (`[::1]`), or a DNS name. The parse is strict where libzmq's is loose: libzmq trims
//! a pair of brackets wherever it finds one and lets getaddrinfo judge the rest
//! (`ip_resolver.cpp`: "TODO Should we validate that the brackets are present if 'addr'
//! contains ':' ?"). Here an IPv6 address must be bracketed, a bracketed host must be an IPv6
//! address, and a name holds only letters, digits, `-`, `_` and `.`, so that a mistyped
//! endpoint fails here with its reason rather than later as a failed lookup.
//!
//! Which addresses `*` and a name stand for depends on the socket's
//! [`ipv6`](crate::SocketOptions::ipv6) option, so they are resolved when the socket binds or
//! connects, not here.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// A parsed endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// `tcp://[source;]host:port`.
    Tcp {
        /// Where to bind or connect.
        host: TcpHost,
        /// Port (0 for `*`: an ephemeral port, bind only).
        port: u16,
        /// `source;`: the local address a connection is made from (connect only).
        source: Option<TcpSource>,
    },
    /// `ipc://path` (a Unix domain socket).
    Ipc(std::path::PathBuf),
    /// `inproc://name`: sockets of this process, joined without encoding.
    Inproc(String),
}

/// The host of a `tcp://` endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TcpHost {
    /// `*`: every interface (bind only). `0.0.0.0`, or `[::]` dual-stack with
    /// [`SocketOptions::ipv6`](crate::SocketOptions::ipv6).
    Any,
    /// A numeric IPv4 address, or an IPv6 address written in brackets.
    Ip(IpAddr),
    /// A DNS name, resolved at bind or connect time.
    Name(String),
}

/// The `source` of `tcp://source;host:port`: where a connection comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TcpSource {
    /// The local address; `None` for `*` (any address of the peer's family).
    pub ip: Option<IpAddr>,
    /// The local port; 0 for `*` (any).
    pub port: u16,
}

/// An endpoint string that does not parse, or that the operation cannot take.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid endpoint {endpoint:?}: {reason}")]
pub struct EndpointError {
    /// The input.
    pub endpoint: String,
    /// Why.
    pub reason: EndpointErrorKind,
}

/// Why an endpoint was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointErrorKind {
    /// No `://`.
    #[error("expected transport://address")]
    MissingTransport,
    /// A transport other than tcp, ipc and inproc.
    #[error("unsupported transport (tcp, ipc and inproc are supported)")]
    UnsupportedTransport,
    /// A TCP address without `:port`.
    #[error("expected host:port")]
    MissingPort,
    /// A port that is not 0-65535 or `*`.
    #[error("port must be 0-65535 or *")]
    InvalidPort,
    /// `tcp://:port`.
    #[error("empty host (* means every interface)")]
    EmptyHost,
    /// An IPv6 address without brackets (`tcp://::1:5555`).
    #[error("an IPv6 address must be in brackets, as in tcp://[::1]:5555")]
    UnbracketedIpv6,
    /// Brackets around something that is not an IPv6 address (`tcp://[127.0.0.1]:5555`).
    #[error("a bracketed host must be an IPv6 address")]
    NotIpv6InBrackets,
    /// A `[` without its `]`.
    #[error("unclosed '[' in host")]
    UnclosedBracket,
    /// `[fe80::1%eth0]`: libzmq takes zone ids; this crate does not yet.
    #[error("IPv6 zone ids (%...) are not supported")]
    Ipv6ZoneId,
    /// A host name with characters no DNS name has.
    #[error("a host name may hold only letters, digits, '-', '_' and '.'")]
    InvalidHostName,
    /// `tcp://a;b;c`.
    #[error("more than one source address (';')")]
    SeveralSources,
    /// A source address without `:port` (libzmq requires one too; `:0` or `:*` for any).
    #[error("a source address needs a port (:0 or :* for any)")]
    SourceWithoutPort,
    /// A source that is a name (libzmq: an interface name such as `eth1`).
    #[error(
        "a source address must be * or a numeric IP address (interface names are not supported)"
    )]
    SourceNotNumeric,
    /// `bind` of an endpoint with a source address.
    #[error("a source address (source;host:port) is only for connect")]
    SourceOnBind,
    /// `connect` to `*` or to port 0/`*`.
    #[error("connect needs a host and a port: * and port 0 are only for bind")]
    WildcardOnConnect,
    /// `ipc://`.
    #[error("empty ipc path")]
    EmptyIpcPath,
    /// `inproc://`.
    #[error("empty inproc name")]
    EmptyInprocName,
}

impl EndpointError {
    pub(crate) fn new(endpoint: &str, reason: EndpointErrorKind) -> Self {
        EndpointError {
            endpoint: endpoint.to_owned(),
            reason,
        }
    }
}

impl FromStr for Endpoint {
    type Err = EndpointError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s).map_err(|reason| EndpointError::new(s, reason))
    }
}

fn parse(s: &str) -> Result<Endpoint, EndpointErrorKind> {
    use EndpointErrorKind as K;
    let (scheme, rest) = s.split_once("://").ok_or(K::MissingTransport)?;
    match scheme {
        "tcp" => parse_tcp(rest),
        "ipc" if rest.is_empty() => Err(K::EmptyIpcPath),
        "ipc" => Ok(Endpoint::Ipc(rest.into())),
        "inproc" if rest.is_empty() => Err(K::EmptyInprocName),
        "inproc" => Ok(Endpoint::Inproc(rest.to_owned())),
        _ => Err(K::UnsupportedTransport),
    }
}

/// `[source;]host:port`. libzmq splits at the last ';' (`tcp_address.cpp`, `strrchr`); a
/// second one would be left inside the source, where it cannot parse, so it is refused here.
fn parse_tcp(rest: &str) -> Result<Endpoint, EndpointErrorKind> {
    use EndpointErrorKind as K;
    let (source, address) = match rest.split_once(';') {
        None => (None, rest),
        Some((_, address)) if address.contains(';') => return Err(K::SeveralSources),
        Some((source, address)) => (Some(parse_source(source)?), address),
    };
    let (host, port) = split_host_port(address)?;
    Ok(Endpoint::Tcp {
        host: parse_host(host)?,
        port: parse_port(port)?,
        source,
    })
}

/// libzmq resolves a source as a bindable address without DNS (`tcp_address.cpp`:
/// `bindable (true)`, `allow_dns (false)`, `allow_nic_name (true)`, `expect_port (true)`).
/// Interface names are left out here: they need the OS's interface list.
fn parse_source(source: &str) -> Result<TcpSource, EndpointErrorKind> {
    use EndpointErrorKind as K;
    let (host, port) = split_host_port(source).map_err(|e| match e {
        K::MissingPort => K::SourceWithoutPort,
        e => e,
    })?;
    let ip = match parse_host(host)? {
        TcpHost::Any => None,
        TcpHost::Ip(ip) => Some(ip),
        TcpHost::Name(_) => return Err(K::SourceNotNumeric),
    };
    Ok(TcpSource {
        ip,
        port: parse_port(port)?,
    })
}

/// Splits at the port's ':': the one after `]` for a bracketed host, else the last one.
fn split_host_port(address: &str) -> Result<(&str, &str), EndpointErrorKind> {
    use EndpointErrorKind as K;
    if address.starts_with('[') {
        let close = address.find(']').ok_or(K::UnclosedBracket)?;
        let (host, after) = address.split_at(close + 1);
        let port = after.strip_prefix(':').ok_or(K::MissingPort)?;
        Ok((host, port))
    } else {
        address.rsplit_once(':').ok_or(K::MissingPort)
    }
}

fn parse_host(host: &str) -> Result<TcpHost, EndpointErrorKind> {
    use EndpointErrorKind as K;
    if host.is_empty() {
        return Err(K::EmptyHost);
    }
    if host == "*" {
        return Ok(TcpHost::Any);
    }
    if let Some(inner) = host.strip_prefix('[') {
        // `split_host_port` cut the host after its ']'.
        let inner = inner.strip_suffix(']').ok_or(K::UnclosedBracket)?;
        if inner.contains('%') {
            return Err(K::Ipv6ZoneId);
        }
        return inner
            .parse::<Ipv6Addr>()
            .map(|v6| TcpHost::Ip(IpAddr::V6(v6)))
            .map_err(|_| K::NotIpv6InBrackets);
    }
    if host.contains(':') {
        return Err(K::UnbracketedIpv6);
    }
    if let Ok(v4) = host.parse::<Ipv4Addr>() {
        return Ok(TcpHost::Ip(IpAddr::V4(v4)));
    }
    let name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    // RFC 1035 section 2.3.4: a name is at most 255 octets (253 characters as text).
    if host.len() > 253 || !host.chars().all(name_char) {
        return Err(K::InvalidHostName);
    }
    Ok(TcpHost::Name(host.to_owned()))
}

/// `*` and `0` ask for an ephemeral port, as in libzmq; otherwise decimal digits only (Rust's
/// integer parse would also take a leading `+`).
fn parse_port(port: &str) -> Result<u16, EndpointErrorKind> {
    match port {
        "*" => Ok(0),
        p if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            p.parse().map_err(|_| EndpointErrorKind::InvalidPort)
        }
        _ => Err(EndpointErrorKind::InvalidPort),
    }
}

impl fmt::Display for TcpHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TcpHost::Any => f.write_str("*"),
            TcpHost::Ip(IpAddr::V4(v4)) => write!(f, "{v4}"),
            TcpHost::Ip(IpAddr::V6(v6)) => write!(f, "[{v6}]"),
            TcpHost::Name(name) => f.write_str(name),
        }
    }
}

impl fmt::Display for TcpSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = match self.ip {
            None => TcpHost::Any,
            Some(ip) => TcpHost::Ip(ip),
        };
        write!(f, "{host}:{}", self.port)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp {
                host,
                port,
                source: Some(source),
            } => write!(f, "tcp://{source};{host}:{port}"),
            Endpoint::Tcp { host, port, .. } => write!(f, "tcp://{host}:{port}"),
            Endpoint::Ipc(p) => write!(f, "ipc://{}", p.display()),
            Endpoint::Inproc(name) => write!(f, "inproc://{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use EndpointErrorKind as K;

    fn tcp(host: TcpHost, port: u16) -> Endpoint {
        Endpoint::Tcp {
            host,
            port,
            source: None,
        }
    }

    fn reason(s: &str) -> EndpointErrorKind {
        s.parse::<Endpoint>().unwrap_err().reason
    }

    #[test]
    fn parses_libzmq_forms() {
        assert_eq!(
            "tcp://127.0.0.1:*".parse::<Endpoint>().unwrap(),
            tcp(TcpHost::Ip(Ipv4Addr::LOCALHOST.into()), 0)
        );
        assert_eq!(
            "tcp://*:5555".parse::<Endpoint>().unwrap(),
            tcp(TcpHost::Any, 5555)
        );
        assert_eq!(
            "tcp://server1:5555".parse::<Endpoint>().unwrap(),
            tcp(TcpHost::Name("server1".into()), 5555)
        );
        assert_eq!(
            "tcp://h:0".parse::<Endpoint>().unwrap(),
            tcp(TcpHost::Name("h".into()), 0)
        );
        assert_eq!(
            "inproc://a/b".parse::<Endpoint>().unwrap(),
            Endpoint::Inproc("a/b".into())
        );
        assert_eq!(
            "ipc:///tmp/x".parse::<Endpoint>().unwrap(),
            Endpoint::Ipc("/tmp/x".into())
        );
    }

    #[test]
    fn parses_bracketed_ipv6() {
        assert_eq!(
            "tcp://[::1]:80".parse::<Endpoint>().unwrap(),
            tcp(TcpHost::Ip(Ipv6Addr::LOCALHOST.into()), 80)
        );
        assert_eq!(
            "tcp://[::]:*".parse::<Endpoint>().unwrap(),
            tcp(TcpHost::Ip(Ipv6Addr::UNSPECIFIED.into()), 0)
        );
        let mapped = "tcp://[::ffff:127.0.0.1]:1".parse::<Endpoint>().unwrap();
        assert_eq!(
            mapped,
            tcp(TcpHost::Ip(Ipv4Addr::LOCALHOST.to_ipv6_mapped().into()), 1)
        );
    }

    #[test]
    fn displays_round_trip() {
        for s in [
            "tcp://[::1]:80",
            "tcp://[fe80::1:2]:5555",
            "tcp://127.0.0.1:1",
            "tcp://*:5555",
            "tcp://name.example:9",
            "tcp://10.0.0.1:0;server:5555",
            "tcp://[::1]:7;[::1]:5555",
            "tcp://*:0;10.0.0.2:5555",
            "inproc://x",
            "ipc:///tmp/s",
        ] {
            assert_eq!(s.parse::<Endpoint>().unwrap().to_string(), s);
        }
        // Spelling is normalised: the same address prints one way.
        assert_eq!(
            "tcp://[0:0::1]:80".parse::<Endpoint>().unwrap().to_string(),
            "tcp://[::1]:80"
        );
        assert_eq!(
            "tcp://h:*".parse::<Endpoint>().unwrap().to_string(),
            "tcp://h:0"
        );
    }

    #[test]
    fn an_ipv6_address_must_be_bracketed() {
        assert_eq!(reason("tcp://::1:5555"), K::UnbracketedIpv6);
        assert_eq!(reason("tcp://fe80::1:80"), K::UnbracketedIpv6);
        // Without a port, the last ':' is taken for one and the host still holds ':'.
        assert_eq!(reason("tcp://::1"), K::UnbracketedIpv6);
    }

    #[test]
    fn a_bracketed_host_must_be_ipv6() {
        assert_eq!(reason("tcp://[127.0.0.1]:80"), K::NotIpv6InBrackets);
        assert_eq!(reason("tcp://[localhost]:80"), K::NotIpv6InBrackets);
        assert_eq!(reason("tcp://[]:80"), K::NotIpv6InBrackets);
        assert_eq!(reason("tcp://[:::1]:80"), K::NotIpv6InBrackets);
        assert_eq!(reason("tcp://[::1:80"), K::UnclosedBracket);
        assert_eq!(reason("tcp://[::1]"), K::MissingPort);
        assert_eq!(reason("tcp://[::1]80"), K::MissingPort);
        assert_eq!(reason("tcp://[::1]x:80"), K::MissingPort);
        assert_eq!(reason("tcp://[fe80::1%eth0]:80"), K::Ipv6ZoneId);
        assert_eq!(reason("tcp://[fe80::1%2]:80"), K::Ipv6ZoneId);
    }

    #[test]
    fn refuses_bad_hosts_and_ports() {
        assert_eq!(reason("udp://x:1"), K::UnsupportedTransport);
        assert_eq!(reason("tcp:/x:1"), K::MissingTransport);
        assert_eq!(reason("tcp://host"), K::MissingPort);
        assert_eq!(reason("tcp://h:99999"), K::InvalidPort);
        assert_eq!(reason("tcp://h:+80"), K::InvalidPort);
        assert_eq!(reason("tcp://h:-1"), K::InvalidPort);
        assert_eq!(reason("tcp://h:"), K::InvalidPort);
        assert_eq!(reason("tcp://h:http"), K::InvalidPort);
        assert_eq!(reason("tcp://:5555"), K::EmptyHost);
        assert_eq!(reason("tcp://a b:1"), K::InvalidHostName);
        assert_eq!(reason("tcp://a]b:1"), K::InvalidHostName);
        assert_eq!(reason("tcp://h/x:1"), K::InvalidHostName);
        assert_eq!(
            reason(&format!("tcp://{}:1", "a".repeat(254))),
            K::InvalidHostName
        );
        assert_eq!(reason("inproc://"), K::EmptyInprocName);
        assert_eq!(reason("ipc://"), K::EmptyIpcPath);
    }

    #[test]
    fn parses_source_addresses() {
        assert_eq!(
            "tcp://192.168.1.17:5555;192.168.1.1:5555"
                .parse::<Endpoint>()
                .unwrap(),
            Endpoint::Tcp {
                host: TcpHost::Ip(Ipv4Addr::new(192, 168, 1, 1).into()),
                port: 5555,
                source: Some(TcpSource {
                    ip: Some(Ipv4Addr::new(192, 168, 1, 17).into()),
                    port: 5555
                }),
            }
        );
        assert_eq!(
            "tcp://*:*;server1:5555".parse::<Endpoint>().unwrap(),
            Endpoint::Tcp {
                host: TcpHost::Name("server1".into()),
                port: 5555,
                source: Some(TcpSource { ip: None, port: 0 }),
            }
        );
        // zmq_tcp(7)'s `tcp://eth1:0;server1:5555` names an interface: refused, with why.
        assert_eq!(reason("tcp://eth1:0;server1:5555"), K::SourceNotNumeric);
        assert_eq!(reason("tcp://10.0.0.1;server1:5555"), K::SourceWithoutPort);
        assert_eq!(reason("tcp://a:1;b:2;c:3"), K::SeveralSources);
        assert_eq!(reason("tcp://::1:0;[::1]:5555"), K::UnbracketedIpv6);
        assert_eq!(reason("tcp://10.0.0.1:x;h:5555"), K::InvalidPort);
        assert_eq!(reason("tcp://;h:5555"), K::SourceWithoutPort);
    }

    #[test]
    fn errors_say_what_and_why() {
        let e = "tcp://::1:5555".parse::<Endpoint>().unwrap_err();
        assert_eq!(e.endpoint, "tcp://::1:5555");
        assert_eq!(
            e.to_string(),
            "invalid endpoint \"tcp://::1:5555\": an IPv6 address must be in brackets, as in \
             tcp://[::1]:5555"
        );
    }
}
