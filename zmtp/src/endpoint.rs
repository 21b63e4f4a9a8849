//! Endpoints in libzmq's syntax: `tcp://host:port` (`*` as host or port binds any), `ipc://path`.

use std::fmt;
use std::str::FromStr;

/// A parsed endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// `tcp://host:port`; host may be a name, an IPv4 address or `[v6]`.
    Tcp {
        /// Host (`0.0.0.0` for `*`).
        host: String,
        /// Port (0 for `*`).
        port: u16,
    },
    /// `ipc://path` (a Unix domain socket).
    Ipc(std::path::PathBuf),
    /// `inproc://name`: sockets of this process, joined without encoding.
    Inproc(String),
}

/// An endpoint string that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid endpoint {endpoint:?}: {reason}")]
pub struct EndpointError {
    /// The input.
    pub endpoint: String,
    /// Why.
    pub reason: &'static str,
}

impl FromStr for Endpoint {
    type Err = EndpointError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| EndpointError {
            endpoint: s.to_owned(),
            reason,
        };
        let (scheme, rest) = s
            .split_once("://")
            .ok_or(err("expected transport://address"))?;
        match scheme {
            "tcp" => {
                let (host, port) = rest.rsplit_once(':').ok_or(err("expected host:port"))?;
                let port = match port {
                    "*" | "0" => 0,
                    p => p.parse().map_err(|_| err("port must be 0-65535 or *"))?,
                };
                let host = match host {
                    "*" | "" => "0.0.0.0".to_owned(),
                    h => h.trim_start_matches('[').trim_end_matches(']').to_owned(),
                };
                Ok(Endpoint::Tcp { host, port })
            }
            "ipc" => {
                if rest.is_empty() {
                    return Err(err("empty ipc path"));
                }
                Ok(Endpoint::Ipc(rest.into()))
            }
            "inproc" => {
                if rest.is_empty() {
                    return Err(err("empty inproc name"));
                }
                Ok(Endpoint::Inproc(rest.to_owned()))
            }
            _ => Err(err(
                "unsupported transport (tcp, ipc and inproc are supported)",
            )),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp { host, port } if host.contains(':') => {
                write!(f, "tcp://[{host}]:{port}")
            }
            Endpoint::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
            Endpoint::Ipc(p) => write!(f, "ipc://{}", p.display()),
            Endpoint::Inproc(name) => write!(f, "inproc://{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_libzmq_forms() {
        assert_eq!(
            "tcp://127.0.0.1:*".parse::<Endpoint>().unwrap(),
            Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port: 0
            }
        );
        assert_eq!(
            "tcp://*:5555".parse::<Endpoint>().unwrap().to_string(),
            "tcp://0.0.0.0:5555"
        );
        assert_eq!(
            "tcp://[::1]:80".parse::<Endpoint>().unwrap().to_string(),
            "tcp://[::1]:80"
        );
        assert_eq!(
            "inproc://a/b".parse::<Endpoint>().unwrap(),
            Endpoint::Inproc("a/b".into())
        );
        assert!("inproc://".parse::<Endpoint>().is_err());
        assert!("udp://x:1".parse::<Endpoint>().is_err());
        assert!("tcp://host".parse::<Endpoint>().is_err());
        assert!("tcp://h:99999".parse::<Endpoint>().is_err());
    }
}
